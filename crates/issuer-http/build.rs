//! Generates the admin API's Rust code from `proto/api.proto` when the `grpc` feature is on.
//! protox parses the file in pure Rust, so no `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=proto/api.proto");
    #[cfg(feature = "grpc")]
    {
        let mut compiler = protox::Compiler::new(["proto"])?;
        compiler.include_imports(true).open_files(["api.proto"])?;
        // For server reflection (`grpc.reflection`).
        let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
        std::fs::write(
            out.join("api_descriptor.bin"),
            compiler.encode_file_descriptor_set(),
        )?;
        let descriptors = compiler.file_descriptor_set();
        tonic_prost_build::configure()
            .build_server(true)
            .build_client(true)
            .build_transport(true)
            .emit_rerun_if_changed(false)
            .compile_fds(descriptors)?;
    }
    Ok(())
}
