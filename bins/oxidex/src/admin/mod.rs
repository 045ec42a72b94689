//! `oxidex admin ...`: a command-line client for the admin API (`api.Dex` over gRPC) of a
//! running server.
//!
//! Each command is one RPC. Dex answers "not found" and "already exists" with booleans in the
//! response; here they become a message on stderr and exit code 1, like gRPC errors (whose
//! message names the status code). Usage errors exit 2 (clap's convention).
//!
//! Output is an aligned table (or `key  value` lines for one record) unless `--json` is given,
//! which prints JSON with the proto's field names. Client secrets and connector configurations
//! are printed only on request (`--show-secret`, `--show-config`); password hashes never are,
//! and passwords read with `--password-stdin` are hashed (or sent for verification) without
//! being echoed.

mod clients;
mod connect;
mod connectors;
mod misc;
mod output;
mod passwords;

use clap::{Args, Subcommand};
use tonic::transport::Channel;

use oxidex_issuer_http::grpc::DexClient;

pub(crate) use connect::Connection;

/// The API client all commands use.
type Api = DexClient<Channel>;

/// `oxidex admin`: the connection, the output format and the command.
#[derive(Debug, Args)]
#[command(after_long_help = connect::CONNECTION_HELP)]
pub(crate) struct AdminArgs {
    #[command(flatten)]
    connection: Connection,
    /// Print JSON (field names as in the proto) instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// OAuth 2.0 clients.
    #[command(subcommand)]
    Clients(clients::ClientsCommand),
    /// Users of the local password database (`enablePasswordDB`).
    #[command(subcommand)]
    Passwords(passwords::PasswordsCommand),
    /// Connectors kept in storage (the server needs `DEX_API_CONNECTORS_CRUD=true`).
    #[command(subcommand)]
    Connectors(connectors::ConnectorsCommand),
    /// A user's refresh tokens.
    #[command(subcommand)]
    Refresh(misc::RefreshCommand),
    /// The server's version and admin API version.
    Version,
    /// The server's OpenID Connect discovery document, as the admin API carries it.
    Discovery,
}

/// Why a command failed; decides the exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The command line (or a file or stdin it names) is wrong: exit 2.
    Usage(String),
    /// The server refused or could not be reached, or answered "not found"/"already exists":
    /// exit 1.
    Failed(String),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Failed(_) => 1,
        }
    }

    fn message(&self) -> &str {
        match self {
            Failure::Usage(m) | Failure::Failed(m) => m,
        }
    }
}

/// What a command prints: its JSON form and its human form are both at hand, the flag picks.
pub(crate) struct Out {
    json: bool,
}

impl Out {
    /// Prints `value` as JSON, or `text` (which ends in a newline, or is empty) as it is.
    fn print(&self, value: &serde_json::Value, text: impl FnOnce() -> String) {
        if self.json {
            println!("{}", output::json(value));
        } else {
            print!("{}", text());
        }
    }
}

/// Runs `oxidex admin ...`; the exit code.
pub(crate) async fn run(args: AdminArgs) -> u8 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let out = Out { json: args.json };
    match execute(args.connection, args.command, &out).await {
        Ok(()) => 0,
        Err(failure) => {
            eprintln!("oxidex admin: {}", failure.message());
            failure.exit_code()
        }
    }
}

async fn execute(connection: Connection, command: AdminCommand, out: &Out) -> Result<(), Failure> {
    let hint = connection.lacks_client_certificate();
    run_command(connection, command, out)
        .await
        .map_err(|failure| match failure {
            Failure::Failed(message) if hint && transport_failure(&message) => {
                Failure::Failed(format!("{message} ({CLIENT_CERT_HINT})"))
            }
            other => other,
        })
}

/// Added to transport failures over TLS without a client certificate.
const CLIENT_CERT_HINT: &str = "the server may require a client certificate (grpc.tlsClientCA): \
                                pass --client-cert and --client-key";

/// A failure that a server refusing the TLS client would cause.
fn transport_failure(message: &str) -> bool {
    [
        "cannot connect",
        "CANCELLED",
        "UNAVAILABLE",
        "UNKNOWN",
        "transport error",
    ]
    .iter()
    .any(|sign| message.contains(sign))
}

async fn run_command(
    connection: Connection,
    command: AdminCommand,
    out: &Out,
) -> Result<(), Failure> {
    // Everything read from the command line, files and stdin is checked before connecting.
    match command {
        AdminCommand::Clients(command) => {
            let mut api = connection.connect().await?;
            clients::run(&mut api, command, out).await
        }
        AdminCommand::Passwords(command) => {
            let prepared = passwords::prepare(command).await?;
            let mut api = connection.connect().await?;
            passwords::run(&mut api, prepared, out).await
        }
        AdminCommand::Connectors(command) => {
            let prepared = connectors::prepare(command)?;
            let mut api = connection.connect().await?;
            connectors::run(&mut api, prepared, out).await
        }
        AdminCommand::Refresh(command) => {
            let mut api = connection.connect().await?;
            misc::refresh(&mut api, command, out).await
        }
        AdminCommand::Version => {
            let mut api = connection.connect().await?;
            misc::version(&mut api, out).await
        }
        AdminCommand::Discovery => {
            let mut api = connection.connect().await?;
            misc::discovery(&mut api, out).await
        }
    }
}

/// A gRPC error as a failure: what was being done, the status code's name and the server's
/// message (and, for transport errors, their causes).
pub(crate) fn status_failure(what: &str, status: &tonic::Status) -> Failure {
    let mut message = format!("{what}: {}", connect::code_name(status.code()));
    if !status.message().is_empty() {
        message.push_str(": ");
        message.push_str(&output::clean(status.message()));
    }
    connect::append_causes(&mut message, status);
    Failure::Failed(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        admin: AdminArgs,
    }

    fn parse(args: &[&str]) -> Result<AdminArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("admin").chain(args.iter().copied())).map(|c| c.admin)
    }

    #[test]
    fn commands_parse() {
        for ok in [
            &["clients", "list"][..],
            &["--json", "clients", "get", "x", "--show-secret"],
            &[
                "clients",
                "create",
                "--id",
                "a",
                "--redirect-uri",
                "u1",
                "--redirect-uri",
                "u2",
            ],
            &["clients", "update", "a", "--name", "A"],
            &[
                "passwords",
                "add",
                "--email",
                "e",
                "--user-id",
                "u",
                "--password-stdin",
            ],
            &[
                "passwords",
                "add",
                "--email",
                "e",
                "--user-id",
                "u",
                "--hash",
                "$2a$10$x",
            ],
            &["passwords", "update", "e", "--username", "n"],
            &["passwords", "verify", "e", "--password-stdin"],
            &[
                "connectors",
                "create",
                "--id",
                "c",
                "--type",
                "t",
                "--name",
                "n",
                "--config",
                "{}",
            ],
            &["connectors", "update", "c", "--name", "n"],
            &["refresh", "list", "sub"],
            &["refresh", "revoke", "sub", "client"],
            &["--addr", "127.0.0.1:1", "version", "--json"],
            &["discovery"],
        ] {
            assert!(parse(ok).is_ok(), "{ok:?}: {:?}", parse(ok).err());
        }
    }

    #[test]
    fn usage_errors_are_refused_by_the_parser() {
        for bad in [
            &["clients", "update", "a"][..],
            &["clients", "create", "--public", "--secret", "s"],
            &["passwords", "add", "--email", "e", "--user-id", "u"],
            &[
                "passwords",
                "add",
                "--email",
                "e",
                "--user-id",
                "u",
                "--hash",
                "h",
                "--password-stdin",
            ],
            &["passwords", "update", "e"],
            &["passwords", "verify", "e"],
            &[
                "connectors",
                "create",
                "--id",
                "c",
                "--type",
                "t",
                "--name",
                "n",
            ],
            &["connectors", "update", "c"],
            &["refresh", "revoke", "sub"],
            // Connection settings come before the command.
            &["version", "--addr", "127.0.0.1:1"],
        ] {
            let err = parse(bad).err();
            assert!(err.is_some(), "{bad:?}");
            assert_eq!(err.map(|e| e.exit_code()), Some(2), "{bad:?}");
        }
    }
}
