//! The Dex configuration file: read it unchanged, resolve it, check it.
//!
//! ```text
//! text ──yaml──▶ node tree (lines, spellings) ──sections/lists──▶ Config ──check──▶ Loaded
//!                                     ▲ env: $VAR in storage/connector/signer config,
//!                                       idEnv, secretEnv, hashFromEnv, DEX_* flags
//! ```
//!
//! [`load_file`] and [`load_str`] return the [`Config`] with the warnings an operator should
//! see (development-only settings, unset environment variables, ignored settings), or every
//! problem found, each naming the key path and line ([`LoadError::Invalid`]). The library
//! prints nothing. The environment is an input ([`Environment`]), so a configuration loads
//! the same way in tests as in production.
//!
//! One module per job: `yaml` parses, `de` reads typed values from the tree,
//! `sections` and `lists` assemble the configuration, `env` expands variables and reads the
//! feature flags, `duration` parses Go durations, `hash` checks password hashes, `net` checks
//! URLs and addresses, `check` applies the rules, `files` looks for the files the
//! configuration names, `command` is `oxidex config check`.
//! `docs/configuration.md` is the operator's reference.

mod check;
pub mod command;
mod de;
mod duration;
mod env;
mod error;
mod files;
mod hash;
mod lists;
mod net;
mod schema;
mod sections;
mod yaml;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use duration::{DurationError, format_duration, parse_duration};
pub use env::{Environment, FeatureFlags};
pub use error::{ConfigError, KeyPath, LoadError, PathSegment};
pub use hash::DEX_EXAMPLE_HASH;
pub use schema::{
    ClientRemoteIp, Config, DEFAULT_AUTH_REQUESTS, DEFAULT_DEVICE_REQUESTS, DEFAULT_ID_TOKENS,
    DEFAULT_SIGNING_KEYS, Expiry, Frontend, Grpc, Headers, LocalSigner, Logger, Mfa,
    MfaAuthenticator, MfaKind, OAuth2, Pkce, RefreshTokens, SecretString, Sessions, Signer,
    SigningAlgorithm, StaticClient, Storage, Telemetry, TotpConfig, Web, WebAuthnConfig, grant,
};

/// A configuration that passed every check, with what the operator should be told about it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Things to tell the operator at start-up, in file order: development-only settings,
    /// unset environment variables, settings that have no effect. Each names the key.
    pub warnings: Vec<String>,
}

/// Reads and checks the Dex config file at `path` against `env`.
///
/// Besides what [`load_str`] checks, warns about files the configuration names (TLS
/// certificates and keys, the SQLite database's directory, `frontend.dir`) that do not exist.
pub fn load_file(path: &Path, env: &Environment) -> Result<Loaded, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load(
        &text,
        &path.display().to_string(),
        env,
        Some(&|p: &Path| p.exists()),
    )
}

/// Reads and checks config `text`; `source_name` names it in messages (usually the path).
/// Touches no files.
pub fn load_str(text: &str, source_name: &str, env: &Environment) -> Result<Loaded, LoadError> {
    load(text, source_name, env, None)
}

fn load(
    text: &str,
    source_name: &str,
    env: &Environment,
    file_exists: Option<&dyn Fn(&Path) -> bool>,
) -> Result<Loaded, LoadError> {
    let invalid = |errors| LoadError::Invalid {
        source_name: source_name.to_owned(),
        errors,
    };
    let mut flag_warnings = Vec::new();
    let flags = FeatureFlags::from_env(env, &mut flag_warnings);
    let root = yaml::parse(text).map_err(|e| invalid(vec![e]))?;
    let ctx = de::Ctx::default();
    let mut issues = error::Issues::default();
    let read = sections::read_config(&root, env, flags, &ctx, &mut issues);
    if let Some(read) = &read {
        check::check(&read.config, &read.failed, &mut issues);
    }
    let mut errors = std::mem::take(&mut issues.errors);
    errors.extend(ctx.take_unknown_keys());
    let errors = in_file_order(errors, &root);
    let read = match read {
        Some(read) if errors.is_empty() => read,
        _ => return Err(invalid(errors)),
    };
    if let Some(exists) = file_exists {
        files::check_files(&read.config, exists, &mut issues);
    }
    let mut notes = issues.warnings;
    notes.extend(ctx.take_case_notes());
    let warnings = flag_warnings
        .into_iter()
        .chain(in_file_order(notes, &root).iter().map(ToString::to_string))
        .collect();
    Ok(Loaded {
        config: read.config,
        warnings,
    })
}

/// Places problems without a line at the line of their key (or its closest parent) and sorts
/// them by line; problems with no place in the file come first.
fn in_file_order(mut problems: Vec<ConfigError>, root: &yaml::Node) -> Vec<ConfigError> {
    for problem in &mut problems {
        if problem.line.is_none() {
            problem.line = root.line_of(&problem.path);
        }
    }
    problems.sort_by_key(|p| p.line);
    problems
}
