//! `oxidex`: the reference binary.
//!
//! `oxidex serve CONFIG` serves the issuer a Dex configuration file describes (the file is
//! read unchanged); `oxidex config check CONFIG` validates one; `oxidex keys rotate CONFIG`
//! asks every replica sharing its storage to rotate the signing key; `oxidex version` reports
//! the version; `oxidex admin ...` manages a running server through its admin API (feature
//! `grpc`).

#[cfg(feature = "grpc")]
mod admin;
pub mod config;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A Dex-compatible OpenID Connect issuer that federates upstream identity providers.
#[derive(Debug, Parser)]
#[command(name = "oxidex", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the version, like `dex version`.
    Version,
    /// Serve the issuer described by a Dex config file, until SIGTERM or SIGINT.
    Serve(serve::ServeArgs),
    /// Work with Dex configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage the signing keys in the configured storage.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage a running server through its gRPC admin API (`grpc.addr`): clients, local
    /// passwords, connectors, refresh tokens.
    #[cfg(feature = "grpc")]
    Admin(admin::AdminArgs),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Mark the signing key as due, so every replica sharing this storage rotates it at its
    /// next check (SIGUSR1 makes `oxidex serve` check at once); exactly one new key results.
    Rotate {
        /// Path to the config file whose storage holds the keys.
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Load and check a Dex config file as `serve` would, without starting anything. Exits 0
    /// when it is valid (warnings go to stderr), 2 with every problem found otherwise.
    Check {
        /// Path to the config file.
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            print!("{}", version_text());
            ExitCode::SUCCESS
        }
        Command::Serve(args) => run_async(serve::run(args)),
        #[cfg(feature = "grpc")]
        Command::Admin(args) => run_async(admin::run(args)),
        Command::Keys(KeysCommand::Rotate { config: path }) => run_async(async move {
            let _ = rustls::crypto::ring::default_provider().install_default();
            serve::keys::rotate(&path).await
        }),
        Command::Config(ConfigCommand::Check { config: path }) => {
            ExitCode::from(config::command::check(
                &path,
                &config::Environment::from_process(),
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            ))
        }
    }
}

/// Runs `work` on a multi-threaded runtime; its result is the exit code.
fn run_async(work: impl std::future::Future<Output = u8>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => ExitCode::from(runtime.block_on(work)),
        Err(e) => {
            eprintln!("oxidex: cannot start the async runtime: {e}");
            ExitCode::from(1)
        }
    }
}

fn version_text() -> String {
    format!(
        "oxidex Version: {}\nOS/ARCH: {}/{}\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_the_crate_version() {
        assert!(
            version_text().starts_with(&format!("oxidex Version: {}", env!("CARGO_PKG_VERSION")))
        );
    }

    #[test]
    fn cli_parses() {
        Cli::try_parse_from(["oxidex", "version"]).unwrap();
        assert!(Cli::try_parse_from(["oxidex", "bogus"]).is_err());
    }

    #[test]
    fn config_check_parses() {
        let cli = Cli::try_parse_from(["oxidex", "config", "check", "dex.yaml"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Config(ConfigCommand::Check { config }) if config.as_path() == std::path::Path::new("dex.yaml")
        ));
        assert!(Cli::try_parse_from(["oxidex", "config", "check"]).is_err());
        assert!(Cli::try_parse_from(["oxidex", "config", "check", "a", "b"]).is_err());
    }
}
