//! `oxidex config check CONFIG`: load and check a config file without starting anything.

use std::io::Write;
use std::path::Path;

use super::{Config, Environment, Signer, Storage, format_duration, load_file};

/// Exit status for a configuration that loaded (with or without warnings).
pub const EXIT_OK: u8 = 0;
/// Exit status for a configuration that did not load (Dex exits 2 on errors too).
pub const EXIT_INVALID: u8 = 2;

/// Checks the config file at `path` against `env`. Prints a summary to `out`, and warnings
/// or every error to `err`; returns the exit status.
pub fn check(path: &Path, env: &Environment, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    // Output errors (a closed pipe) cannot be reported anywhere better; the exit status
    // still says whether the configuration is valid.
    match load_file(path, env) {
        Ok(loaded) => {
            let _ = out.write_all(summary(&path.display().to_string(), &loaded.config).as_bytes());
            let mut text = String::new();
            for warning in &loaded.warnings {
                text.push_str(&format!("warning: {warning}\n"));
            }
            let _ = err.write_all(text.as_bytes());
            EXIT_OK
        }
        Err(error) => {
            let _ = err.write_all(format!("error: {error}\n").as_bytes());
            EXIT_INVALID
        }
    }
}

/// A few lines saying what the configuration sets up.
pub fn summary(source_name: &str, config: &Config) -> String {
    let storage = match &config.storage {
        Storage::Memory => "memory".to_owned(),
        Storage::Sqlite3(sqlite) => format!("sqlite3 (file {})", sqlite.file),
        Storage::Postgres(db) | Storage::Mysql(db) => format!(
            "{} (database {} on {})",
            config.storage.type_name(),
            db.database,
            if db.host.is_empty() {
                "localhost"
            } else {
                &db.host
            }
        ),
        Storage::Etcd(etcd) => format!("etcd ({})", etcd.endpoints.join(", ")),
    };
    let listeners: Vec<String> = [("http", &config.web.http), ("https", &config.web.https)]
        .into_iter()
        .filter(|(_, addr)| !addr.is_empty())
        .map(|(scheme, addr)| format!("{scheme} {addr}"))
        .collect();
    let connectors: Vec<String> = config
        .connectors
        .iter()
        .map(|c| format!("{} ({})", c.id, c.connector_type))
        .collect();
    let Signer::Local(local) = &config.signer;
    let count =
        |n: usize, what: &str| format!("{n} static {what}{}", if n == 1 { "" } else { "s" });
    let mut text = format!("config OK: {source_name}\n");
    for (label, value) in [
        ("issuer", config.issuer.clone()),
        ("storage", storage),
        ("web", listeners.join(", ")),
        (
            "connectors",
            if connectors.is_empty() {
                "none".to_owned()
            } else {
                connectors.join(", ")
            },
        ),
        ("clients", count(config.static_clients.len(), "client")),
        (
            "passwords",
            count(config.static_passwords.len(), "password"),
        ),
        (
            "signer",
            format!(
                "local, {}, keys rotate every {}",
                local.algorithm.name(),
                format_duration(local.keys_rotation_period)
            ),
        ),
        (
            "id tokens",
            format!("valid {}", format_duration(config.expiry.id_tokens())),
        ),
    ] {
        text.push_str(&format!("  {label:<11} {value}\n"));
    }
    text
}
