//! oxidex micro benchmarks live in `benches/`; run them with `cargo bench -p oxidex-benches`.
//! `cargo test -p oxidex-benches --benches` runs each once as a smoke test (what CI does).

/// The whole-flow load driver of the `oxidex-load` binary (see `docs/performance.md`).
#[path = "src/load/mod.rs"]
pub mod load;
