//! `oxidex`: the reference binary.
//!
//! `oxidex serve CONFIG` serves the issuer a Dex configuration file describes (the file is
//! read unchanged); `oxidex config check CONFIG` validates one; `oxidex version` reports the
//! version.

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
        Command::Serve(args) => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("oxidex: cannot start the async runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            ExitCode::from(runtime.block_on(serve::run(args)))
        }
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
