//! `oxidex`: the reference binary.
//!
//! Today it reports its version; `oxidex serve CONFIG` (reading a Dex configuration file
//! unchanged) and `oxidex config check CONFIG` arrive with the HTTP issuer.

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
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => print!("{}", version_text()),
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
}
