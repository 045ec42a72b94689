//! `oxidex-load`: drives a running OpenID Connect issuer (oxidex, Dex) over HTTP and reports
//! requests per second and latency percentiles per scenario. See `docs/performance.md`.
//!
//! ```text
//! oxidex-load --issuer http://127.0.0.1:5556/dex --scenario auth-code --concurrency 32 --duration 10s
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use oxidex_benches::load::{self, Options, Scenario};

/// Drives an OpenID Connect issuer over HTTP: N workers repeat one operation for a while;
/// prints operations/s, p50/p90/p99/max latency and errors for each scenario.
#[derive(Debug, Parser)]
#[command(name = "oxidex-load", version)]
struct Args {
    /// The issuer URL (as in its discovery document).
    #[arg(long, default_value = "http://127.0.0.1:5556/dex")]
    issuer: String,
    /// Scenarios to run one after the other (comma-separated or repeated): discovery, keys,
    /// auth-code, refresh, password, client-credentials.
    #[arg(long, value_delimiter = ',', required = true)]
    scenario: Vec<Scenario>,
    /// Concurrent workers, each with its own connection.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// How long each scenario is measured (10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = load::parse_duration)]
    duration: Duration,
    /// How long each scenario runs before measuring starts.
    #[arg(long, default_value = "2s", value_parser = load::parse_duration)]
    warmup: Duration,
    /// Timeout of each HTTP request.
    #[arg(long, default_value = "60s", value_parser = load::parse_duration)]
    timeout: Duration,
    /// For discovery and keys: GET this URL instead of the issuer's (a baseline server).
    #[arg(long)]
    url: Option<String>,
    /// The client.
    #[arg(long, default_value = "example-app")]
    client_id: String,
    /// Its secret (empty for a public client).
    #[arg(long, default_value = "ZXhhbXBsZS1hcHAtc2VjcmV0")]
    client_secret: String,
    /// A redirect URI registered for the client (nothing needs to listen there).
    #[arg(long, default_value = "http://127.0.0.1:5555/callback")]
    redirect_uri: String,
    /// The login typed into the password form (and sent with the password grant).
    #[arg(long, default_value = "admin@example.com")]
    username: String,
    /// The password.
    #[arg(long, default_value = "password")]
    password: String,
    /// `connector_id` of the authorization request; empty to pick from the login page.
    #[arg(long, default_value = "local")]
    connector: String,
    /// Scopes of the authorization-code and password grants.
    #[arg(long, default_value = "openid email profile")]
    scope: String,
    /// Print one JSON object per scenario (one per line) instead of text.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // reqwest is built without a default TLS provider; https issuers need one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = Options {
        issuer: args.issuer,
        url: args.url,
        concurrency: args.concurrency,
        duration: args.duration,
        warmup: args.warmup,
        request_timeout: args.timeout,
        client_id: args.client_id,
        client_secret: args.client_secret,
        redirect_uri: args.redirect_uri,
        username: args.username,
        password: args.password,
        connector: args.connector,
        scope: args.scope,
    };
    let mut code = ExitCode::SUCCESS;
    for scenario in args.scenario {
        match load::run(scenario, &options).await {
            Ok(report) if args.json => println!("{}", report.to_json()),
            Ok(report) => println!("{report}"),
            Err(e) => {
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({"scenario": scenario.name(), "setup_error": e.0})
                    );
                }
                eprintln!("oxidex-load: {scenario}: {e}");
                code = ExitCode::FAILURE;
            }
        }
    }
    code
}
