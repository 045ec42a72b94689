//! Helpers shared by the SQL backends (SQLite, PostgreSQL, MySQL), written once.
//!
//! All three store a record's expiry as microseconds since the Unix epoch in a nullable
//! 64-bit integer column (an instant, so no database or session time zone can shift it) and a
//! version as a signed 64-bit integer from a database-wide counter that starts at 1.

use chrono::{DateTime, Utc};
use oxidex_core::storage::Version;

/// An expiry instant as stored: microseconds since the Unix epoch.
pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// A stored version number as a [`Version`].
pub(crate) fn version_of(v: i64) -> Version {
    // Versions come from a counter that starts at 1 and only increases.
    Version::new(u64::try_from(v).unwrap_or_default())
}

/// A [`Version`] as the signed column value; -1 (which no row holds) if it does not fit, so a
/// compare-and-swap with such a version simply finds no match.
pub(crate) fn to_sql_version(v: Version) -> i64 {
    i64::try_from(v.get()).unwrap_or(-1)
}

/// One schema step of a SQL backend's `oxidex_migrations` history.
pub(crate) struct Migration {
    /// Its number; steps apply in increasing order, each exactly once.
    pub(crate) version: i64,
    /// What it does, recorded with it.
    pub(crate) description: &'static str,
    /// The statements, run in order.
    pub(crate) statements: &'static [&'static str],
}

/// The schema version a list of migrations brings a database to.
pub(crate) fn latest_version(migrations: &[Migration]) -> i64 {
    migrations.last().map_or(0, |m| m.version)
}

/// Why a database whose schema is at `current` cannot be used by this build, if it cannot.
pub(crate) fn newer_schema(current: i64, migrations: &[Migration]) -> Option<String> {
    let latest = latest_version(migrations);
    (current > latest).then(|| {
        format!(
            "its schema version is {current}, newer than the {latest} this oxidex understands; upgrade oxidex"
        )
    })
}

/// The networked backends: connection settings and key columns.
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod network {
    use std::time::Duration;

    use oxidex_core::storage::{RecordKind, StoredRecord};
    use oxidex_core::{Error, Result};
    use sqlx::pool::PoolOptions;

    use crate::NetworkDbConfig;

    /// Where a networked backend connects: a TCP address or a Unix socket.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) enum Endpoint {
        /// Host name or address, and port.
        Tcp {
            /// Host name or address (IPv6 without brackets).
            host: String,
            /// TCP port.
            port: u16,
        },
        /// A Unix socket: the socket's directory (PostgreSQL) or file (MySQL).
        Socket(String),
    }

    impl std::fmt::Display for Endpoint {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Endpoint::Tcp { host, port } if host.contains(':') => {
                    write!(f, "[{host}]:{port}")
                }
                Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
                Endpoint::Socket(path) => write!(f, "Unix socket {path}"),
            }
        }
    }

    /// Resolves Dex's `host` and `port` keys: `host` may be `host:port` (or `[v6]:port`), in
    /// which case its port wins; otherwise `port`, or `default_port` when that is 0. A `host`
    /// starting with `/` is a Unix socket. An empty `host` means `default_host`.
    pub(crate) fn resolve_endpoint(
        backend: &'static str,
        host: &str,
        port: u16,
        default_host: &str,
        default_port: u16,
    ) -> Result<Endpoint> {
        let host = host.trim();
        if host.starts_with('/') {
            return Ok(Endpoint::Socket(host.to_owned()));
        }
        let fallback_port = if port == 0 { default_port } else { port };
        let (name, embedded) = split_host_port(host);
        let port = match embedded {
            Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                Error::Backend {
                    backend,
                    message: format!(
                        "invalid `host` {host:?}: {p:?} is not a port number (use `host: name` and `port: 1234`, or `host: name:1234`)"
                    ),
                    source: None,
                }
            })?,
            None => fallback_port,
        };
        let name = if name.is_empty() { default_host } else { name };
        Ok(Endpoint::Tcp {
            host: name.to_owned(),
            port,
        })
    }

    /// Go's `net.SplitHostPort`, leniently: `name:port` and `[v6]:port` split; a bare name or
    /// an unbracketed IPv6 address does not.
    fn split_host_port(host: &str) -> (&str, Option<&str>) {
        if let Some(rest) = host.strip_prefix('[')
            && let Some((name, after)) = rest.split_once(']')
        {
            return (name, after.strip_prefix(':'));
        }
        match host.split_once(':') {
            Some((name, port)) if !port.contains(':') => (name, Some(port)),
            _ => (host, None),
        }
    }

    /// Where a networked backend connects and as whom, for messages. Never holds the
    /// password.
    #[derive(Debug, Clone)]
    pub(crate) struct Target {
        /// Server address.
        pub(crate) endpoint: Endpoint,
        /// Database name (may be empty when the server picks one).
        pub(crate) database: String,
        /// User name.
        pub(crate) user: String,
    }

    impl std::fmt::Display for Target {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            if self.database.is_empty() {
                write!(f, "{}", self.endpoint)?;
            } else {
                write!(f, "database {:?} at {}", self.database, self.endpoint)?;
            }
            if !self.user.is_empty() {
                write!(f, " as user {:?}", self.user)?;
            }
            Ok(())
        }
    }

    /// The TLS setting in force, for messages.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct SslSetting<'a> {
        /// The mode in effect, spelt as in the configuration.
        pub(crate) mode: &'a str,
        /// `true` when `ssl.mode` was left out and the mode is Dex's default.
        pub(crate) defaulted: bool,
        /// The mode that turns TLS off, as written in YAML (`disable`, `"false"`).
        pub(crate) off: &'static str,
        /// `true` unless the mode turns TLS off.
        pub(crate) active: bool,
    }

    impl SslSetting<'_> {
        fn failed(&self, e: &dyn std::fmt::Display) -> String {
            format!(
                "TLS failed ({e}); {}: point `ssl.caFile` at the CA that signed the server's certificate (and connect by a name the certificate holds), set `ssl.certFile` and `ssl.keyFile` if the server wants a client certificate, or choose another `ssl.mode`",
                self.describe()
            )
        }

        fn describe(&self) -> String {
            if self.defaulted {
                format!(
                    "`ssl.mode` is not set, so it defaults to {:?} (as in Dex)",
                    self.mode
                )
            } else {
                format!("`ssl.mode` is {:?}", self.mode)
            }
        }
    }

    /// What to fix when connecting failed in a way every engine shares (network, TLS,
    /// timeouts); `None` for the engine's own errors.
    pub(crate) fn common_connect_problem(
        e: &sqlx::Error,
        target: &Target,
        ssl: SslSetting<'_>,
    ) -> Option<String> {
        let endpoint = &target.endpoint;
        Some(match e {
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                format!("connection refused: is the server running on {endpoint}?")
            }
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                format!("{io}: is the server running, with its socket at {endpoint}?")
            }
            // rustls reports a certificate it rejects as invalid data on the socket.
            sqlx::Error::Io(io) if ssl.active && io.kind() == std::io::ErrorKind::InvalidData => {
                ssl.failed(io)
            }
            sqlx::Error::Io(io) => {
                format!(
                    "{io}: is the server running on {endpoint}, and are `host` and `port` right?"
                )
            }
            sqlx::Error::Tls(tls) if tls.to_string().contains("does not support TLS") => format!(
                "the server does not offer TLS, but {}; enable TLS on the server, or set `ssl.mode: {}` to connect without it (only on a network you trust)",
                ssl.describe(),
                ssl.off
            ),
            sqlx::Error::Tls(tls) => ssl.failed(tls),
            sqlx::Error::PoolTimedOut => {
                format!("timed out: is the server running on {endpoint} and reachable?")
            }
            sqlx::Error::Configuration(c) => format!("invalid settings: {c}"),
            _ => return None,
        })
    }

    /// How long to wait for a connection: `connectionTimeout` seconds, or 30 s when unset.
    pub(crate) fn connect_timeout(config: &NetworkDbConfig) -> Duration {
        match config.connection_timeout {
            0 => DEFAULT_CONNECT_TIMEOUT,
            s => Duration::from_secs(s),
        }
    }

    /// The wait for a connection when `connectionTimeout` is unset.
    const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

    /// `maxOpenConns` when absent (Dex's default for both engines).
    const DEFAULT_MAX_OPEN: u32 = 5;

    /// The pool size standing in for `maxOpenConns: 0`, which means "no limit" in Go: the
    /// server's connection limit is then what stops growth (PostgreSQL's default is 100).
    const UNLIMITED_MAX_OPEN: u32 = 100;

    /// How long an idle connection is kept when `maxIdleConns` is 0.
    const IDLE_TIMEOUT_NONE_KEPT: Duration = Duration::from_secs(5);

    /// How long an idle connection is kept when `maxIdleConns` is above 0.
    const IDLE_TIMEOUT_KEPT: Duration = Duration::from_secs(10 * 60);

    /// The pool settings for Dex's connection keys.
    ///
    /// * `maxOpenConns` (absent: 5; 0: no limit in Go, here [`UNLIMITED_MAX_OPEN`]) is the
    ///   pool's size.
    /// * `maxIdleConns` (absent: `default_idle`): sqlx cannot cap idle connections by count,
    ///   so the nearest honest mapping is by time. 0 (keep none) closes a connection after 5 s
    ///   idle; any other value keeps idle connections (up to the pool's size) for 10 minutes.
    ///   No connection is opened before it is needed, as in Go.
    /// * `connMaxLifetime` seconds (0: never) retires old connections.
    /// * `connectionTimeout` seconds (0: 30 s) bounds the wait for a connection.
    pub(crate) fn pool_options<DB: sqlx::Database>(
        config: &NetworkDbConfig,
        default_idle: u32,
    ) -> PoolOptions<DB> {
        let max_open = match config.max_open_conns {
            None => DEFAULT_MAX_OPEN,
            Some(0) => UNLIMITED_MAX_OPEN,
            Some(n) => n,
        };
        let idle_timeout = match config.max_idle_conns.unwrap_or(default_idle) {
            0 => IDLE_TIMEOUT_NONE_KEPT,
            _ => IDLE_TIMEOUT_KEPT,
        };
        let lifetime = match config.conn_max_lifetime {
            0 => None,
            s => Some(Duration::from_secs(s)),
        };
        PoolOptions::new()
            .max_connections(max_open)
            .min_connections(0)
            .idle_timeout(idle_timeout)
            .max_lifetime(lifetime)
            .acquire_timeout(connect_timeout(config))
    }

    /// The `key`, `version` and `value` columns of a record row.
    pub(crate) fn record_columns<R>(row: &R) -> std::result::Result<RecordColumns, sqlx::Error>
    where
        R: sqlx::Row,
        for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        &'static str: sqlx::ColumnIndex<R>,
    {
        Ok((
            row.try_get("key")?,
            row.try_get("version")?,
            row.try_get("value")?,
        ))
    }

    /// A record row's key bytes, version and value.
    pub(crate) type RecordColumns = (Vec<u8>, i64, Vec<u8>);

    /// A stored row as a [`StoredRecord`]; keys are kept as bytes, so they are checked to be
    /// the UTF-8 that oxidex wrote.
    pub(crate) fn stored_record(
        kind: RecordKind,
        key: Vec<u8>,
        version: i64,
        value: Vec<u8>,
    ) -> Result<StoredRecord> {
        let key = String::from_utf8(key).map_err(|e| Error::Corrupt {
            kind,
            key: String::from_utf8_lossy(e.as_bytes()).into_owned(),
            message: "the stored key is not UTF-8".to_owned(),
        })?;
        Ok(StoredRecord {
            key,
            version: super::version_of(version),
            value,
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn tcp(host: &str, port: u16) -> Endpoint {
            Endpoint::Tcp {
                host: host.to_owned(),
                port,
            }
        }

        #[test]
        fn endpoints_follow_dex() {
            let r = |h: &str, p: u16| resolve_endpoint("test", h, p, "localhost", 5432).unwrap();
            assert_eq!(r("", 0), tcp("localhost", 5432));
            assert_eq!(r("db.example", 0), tcp("db.example", 5432));
            assert_eq!(r("db.example", 6000), tcp("db.example", 6000));
            assert_eq!(r("db.example:7000", 6000), tcp("db.example", 7000));
            assert_eq!(r("[::1]:7000", 0), tcp("::1", 7000));
            assert_eq!(r("::1", 0), tcp("::1", 5432));
            assert_eq!(
                r("/var/run/postgresql", 0),
                Endpoint::Socket("/var/run/postgresql".into())
            );
            assert_eq!(r("::1", 0).to_string(), "[::1]:5432");
            assert_eq!(r("db:1", 0).to_string(), "db:1");
            let err = resolve_endpoint("test", "db:notaport", 0, "localhost", 5432).unwrap_err();
            assert!(err.to_string().contains("db:notaport"), "{err}");
        }
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) use network::{
    Endpoint, SslSetting, Target, common_connect_problem, connect_timeout, pool_options,
    record_columns, resolve_endpoint, stored_record,
};
