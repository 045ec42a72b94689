//! The PostgreSQL backend (`storage.type: postgres`): replicas share one database.
//!
//! Records live in one table, `oxidex_records`, keyed by (kind, key) with a version for
//! compare-and-swap drawn from one database-wide sequence, and an indexed expiry (microseconds
//! since the epoch) for garbage collection. Every operation is a single statement:
//!
//! * create is `INSERT ... ON CONFLICT DO NOTHING RETURNING version`: no row back means the
//!   key was taken;
//! * compare-and-swap is `UPDATE ... WHERE version = $expected RETURNING version`. Under READ
//!   COMMITTED a second writer waits for the first's row lock and then re-checks the `WHERE`
//!   against the committed row, so of N swaps from the same version exactly one matches. The
//!   same statement reports whether the row exists, to tell a conflict from a missing record;
//! * delete is a `DELETE` whose affected-row count says whether this caller removed the row,
//!   so of concurrent deletes exactly one succeeds.
//!
//! Migrations run under an advisory lock (see [`migrations`]). Connection failures name the
//! server, database and user and say what to fix; the password is never part of a message.

mod migrations;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oxidex_core::storage::{RecordData, RecordKind, Storage, StoredRecord, Version};
use oxidex_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgSslMode};
use sqlx::{ConnectOptions, Connection, Row};

use self::migrations::{MigrateError, migrate};
use crate::PostgresConfig;
use crate::sql_common::{
    Endpoint, SslSetting, Target, common_connect_problem, connect_timeout, micros, pool_options,
    record_columns, resolve_endpoint, stored_record, to_sql_version, version_of,
};

const BACKEND: &str = "postgres";

/// PostgreSQL's port when neither `host` nor `port` gives one.
const DEFAULT_PORT: u16 = 5432;

/// The host when `host` is empty (as with Dex's driver).
const DEFAULT_HOST: &str = "localhost";

/// `maxIdleConns` when absent (Dex's default for PostgreSQL).
const DEFAULT_MAX_IDLE: u32 = 5;

/// `ssl.mode` when absent: Dex assumes the strictest mode.
const DEFAULT_SSL_MODE: &str = "verify-full";

/// The PostgreSQL storage backend. Cheap to clone (the pool is shared).
///
/// Open it with [`PostgresStorage::open`] from Dex's configuration keys, or hand it a pool of
/// your own with [`PostgresStorage::from_pool`]. Either way the schema is brought up to date
/// first. All objects it creates are named `oxidex_*`, so it can share a database with Dex.
#[derive(Debug, Clone)]
pub struct PostgresStorage {
    pool: PgPool,
    target: Target,
}

/// Dex's `ssl` keys resolved to sqlx settings.
struct Tls {
    mode: PgSslMode,
    name: String,
    defaulted: bool,
}

impl PostgresStorage {
    /// Connects as Dex's `storage.config` for `type: postgres` says and brings the schema up
    /// to date.
    ///
    /// * `host` is a name or address, `host:port`, `[v6]:port`, or a directory holding the
    ///   server's Unix socket (starting with `/`); empty means `localhost`. `port` (default
    ///   5432) applies when `host` has none.
    /// * `database` and `user` default, as in libpq, to the `PGDATABASE`/`PGUSER`
    ///   environment variables and then the operating system user; `password` to
    ///   `PGPASSWORD` (`~/.pgpass` is not read).
    /// * `ssl.mode` is `disable`, `require`, `verify-ca` or `verify-full` (the default, as in
    ///   Dex); `ssl.caFile` is the CA to verify the server against (otherwise the system's
    ///   roots), `ssl.certFile` and `ssl.keyFile` a client certificate. TLS does not apply to
    ///   Unix sockets, where `ssl.mode` is ignored.
    /// * `maxOpenConns` (default 5), `maxIdleConns` (default 5), `connMaxLifetime` and
    ///   `connectionTimeout` size the pool; see `docs/storage-postgres.md`.
    ///
    /// Fails with a message naming the server, database and user (never the password) and
    /// what to fix: the server not running, authentication, a missing database, TLS.
    pub async fn open(config: &PostgresConfig) -> Result<Self> {
        let endpoint = resolve_endpoint(
            BACKEND,
            &config.host,
            config.port,
            DEFAULT_HOST,
            DEFAULT_PORT,
        )?;
        let tls = ssl_mode(config, &endpoint)?;
        let mut options = PgConnectOptions::new_without_pgpass()
            .ssl_mode(tls.mode)
            .application_name("oxidex");
        options = match &endpoint {
            Endpoint::Tcp { host, port } => options.host(host).port(*port),
            // The socket file's name carries the port: `<dir>/.s.PGSQL.<port>`.
            Endpoint::Socket(dir) => options.socket(dir).port(match config.port {
                0 => DEFAULT_PORT,
                port => port,
            }),
        };
        if !config.user.is_empty() {
            options = options.username(&config.user);
        }
        if !config.password.is_empty() {
            options = options.password(&config.password);
        }
        if !config.database.is_empty() {
            options = options.database(&config.database);
        }
        if !config.ssl.ca_file.is_empty() {
            options = options.ssl_root_cert(&config.ssl.ca_file);
        }
        match (
            config.ssl.cert_file.is_empty(),
            config.ssl.key_file.is_empty(),
        ) {
            (false, false) => {
                options = options
                    .ssl_client_cert(&config.ssl.cert_file)
                    .ssl_client_key(&config.ssl.key_file);
            }
            (true, true) => {}
            _ => {
                return Err(config_error(
                    "`ssl.certFile` and `ssl.keyFile` must be set together",
                ));
            }
        }
        let target = Target {
            endpoint,
            database: options.get_database().unwrap_or_default().to_owned(),
            user: options.get_username().to_owned(),
        };
        let ssl = SslSetting {
            mode: &tls.name,
            defaulted: tls.defaulted,
            off: "disable",
            active: !matches!(tls.mode, PgSslMode::Disable),
        };

        // One connection first, outside the pool: the pool retries a refused connection until
        // its timeout and then reports only "timed out", while this reports what went wrong.
        let timeout = connect_timeout(config);
        let mut conn = match tokio::time::timeout(timeout, options.connect()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(connect_error(&target, ssl, e)),
            Err(_) => {
                return Err(connect_error(&target, ssl, sqlx::Error::PoolTimedOut));
            }
        };
        let migrated = run_migrations(&mut conn, &target).await;
        // Closing politely is best effort; the server cleans up either way.
        let _ = conn.close().await;
        migrated?;
        let pool = pool_options(config, DEFAULT_MAX_IDLE).connect_lazy_with(options);
        Ok(Self { pool, target })
    }

    /// Uses an existing pool (for tests and embedding) and brings its database's schema up to
    /// date.
    pub async fn from_pool(pool: PgPool) -> Result<Self> {
        let options = pool.connect_options();
        let endpoint = match options.get_socket() {
            Some(dir) => Endpoint::Socket(dir.display().to_string()),
            None if options.get_host().starts_with('/') => {
                Endpoint::Socket(options.get_host().to_owned())
            }
            None => Endpoint::Tcp {
                host: options.get_host().to_owned(),
                port: options.get_port(),
            },
        };
        let target = Target {
            endpoint,
            database: options.get_database().unwrap_or_default().to_owned(),
            user: options.get_username().to_owned(),
        };
        let ssl_name = format!("{:?}", options.get_ssl_mode()).to_lowercase();
        let ssl = SslSetting {
            mode: &ssl_name,
            defaulted: false,
            off: "disable",
            active: !matches!(options.get_ssl_mode(), PgSslMode::Disable),
        };
        let mut conn = pool
            .acquire()
            .await
            .map_err(|e| connect_error(&target, ssl, e))?;
        run_migrations(&mut conn, &target).await?;
        drop(conn);
        Ok(Self { pool, target })
    }

    /// Closes every connection, waiting for operations in progress to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn op_error(&self, what: &str, e: sqlx::Error) -> Error {
        Error::backend(BACKEND, format!("{what} in {}", self.target), e)
    }
}

/// Dex's `ssl.mode` for PostgreSQL (libpq's names).
fn ssl_mode(config: &PostgresConfig, endpoint: &Endpoint) -> Result<Tls> {
    let configured = config.ssl.mode.trim();
    let (name, defaulted) = if configured.is_empty() {
        (DEFAULT_SSL_MODE, true)
    } else {
        (configured, false)
    };
    let mode = match name.to_ascii_lowercase().as_str() {
        "disable" => PgSslMode::Disable,
        "require" => PgSslMode::Require,
        "verify-ca" => PgSslMode::VerifyCa,
        "verify-full" => PgSslMode::VerifyFull,
        _ => {
            return Err(config_error(format!(
                "unknown `ssl.mode` {name:?}: use disable, require, verify-ca or verify-full"
            )));
        }
    };
    let mode = match mode {
        // PostgreSQL never offers TLS on a Unix socket; libpq ignores the mode there too.
        _ if matches!(endpoint, Endpoint::Socket(_)) => PgSslMode::Disable,
        // libpq and lib/pq (Dex's driver): with a root CA file, `require` verifies the chain.
        PgSslMode::Require if !config.ssl.ca_file.is_empty() => PgSslMode::VerifyCa,
        mode => mode,
    };
    Ok(Tls {
        mode,
        name: name.to_owned(),
        defaulted,
    })
}

fn config_error(message: impl std::fmt::Display) -> Error {
    Error::Backend {
        backend: BACKEND,
        message: format!("invalid configuration: {message}"),
        source: None,
    }
}

/// Turns a failure to connect into a message that says what to fix.
fn connect_error(target: &Target, ssl: SslSetting<'_>, e: sqlx::Error) -> Error {
    let code = e
        .as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned());
    let problem = common_connect_problem(&e, target, ssl).unwrap_or_else(|| {
        match code.as_deref() {
            // invalid_password, invalid_authorization_specification
            Some("28P01" | "28000") => format!(
                "authentication failed for user {:?}: check `user` and `password`, and the server's pg_hba.conf ({e})",
                target.user
            ),
            // invalid_catalog_name
            Some("3D000") => format!(
                "database {:?} does not exist: create it (CREATE DATABASE {};) or fix `database`",
                target.database, target.database
            ),
            // insufficient_privilege
            Some("42501") => format!(
                "user {:?} lacks a privilege oxidex needs (CONNECT, and CREATE on the schema for the first start): {e}",
                target.user
            ),
            // too_many_connections
            Some("53300") => {
                format!("the server has no free connections (lower `maxOpenConns` or raise max_connections): {e}")
            }
            _ => e.to_string(),
        }
    });
    Error::backend(BACKEND, format!("cannot connect to {target}: {problem}"), e)
}

async fn run_migrations(conn: &mut PgConnection, target: &Target) -> Result<()> {
    migrate(conn).await.map_err(|e| match e {
        MigrateError::TooNew(refusal) => Error::Backend {
            backend: BACKEND,
            message: format!("cannot use {target}: {refusal}"),
            source: None,
        },
        MigrateError::Sql(e) => {
            let hint = match e.as_database_error().and_then(|d| d.code()).as_deref() {
                Some("42501") => " (the first start needs CREATE on the schema: GRANT CREATE ON SCHEMA public TO <user>)",
                _ => "",
            };
            Error::backend(
                BACKEND,
                format!("cannot migrate the schema of {target}{hint}"),
                e,
            )
        }
    })
}

#[async_trait]
impl Storage for PostgresStorage {
    async fn create(&self, kind: RecordKind, key: &str, data: RecordData) -> Result<Version> {
        let created: Option<i64> = sqlx::query_scalar(
            "INSERT INTO oxidex_records (kind, key, version, expiry_us, value)
             VALUES ($1, $2, nextval('oxidex_record_versions'), $3, $4)
             ON CONFLICT (kind, key) DO NOTHING
             RETURNING version",
        )
        .bind(kind.as_str())
        .bind(key.as_bytes())
        .bind(data.expiry.map(micros))
        .bind(&data.value)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.op_error("create", e))?;
        created
            .map(version_of)
            .ok_or_else(|| Error::already_exists(kind, key))
    }

    async fn get(&self, kind: RecordKind, key: &str) -> Result<StoredRecord> {
        let row = sqlx::query(
            "SELECT key, version, value FROM oxidex_records WHERE kind = $1 AND key = $2",
        )
        .bind(kind.as_str())
        .bind(key.as_bytes())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.op_error("get", e))?;
        let row = row.ok_or_else(|| Error::not_found(kind, key))?;
        let (key, version, value) = record_columns(&row).map_err(|e| self.op_error("get", e))?;
        stored_record(kind, key, version, value)
    }

    async fn list(&self, kind: RecordKind) -> Result<Vec<StoredRecord>> {
        let rows = sqlx::query("SELECT key, version, value FROM oxidex_records WHERE kind = $1")
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.op_error("list", e))?;
        rows.into_iter()
            .map(|row| {
                let (key, version, value) =
                    record_columns(&row).map_err(|e| self.op_error("list", e))?;
                stored_record(kind, key, version, value)
            })
            .collect()
    }

    async fn compare_and_swap(
        &self,
        kind: RecordKind,
        key: &str,
        expected: Version,
        data: RecordData,
    ) -> Result<Version> {
        // One statement: the swap, and (from the statement's snapshot) whether the row was
        // there at all, which tells a conflict from a missing record.
        let row = sqlx::query(
            "WITH swapped AS (
                UPDATE oxidex_records
                SET version = nextval('oxidex_record_versions'), expiry_us = $3, value = $4
                WHERE kind = $1 AND key = $2 AND version = $5
                RETURNING version
             )
             SELECT (SELECT version FROM swapped) AS version,
                    EXISTS (SELECT 1 FROM oxidex_records WHERE kind = $1 AND key = $2) AS present",
        )
        .bind(kind.as_str())
        .bind(key.as_bytes())
        .bind(data.expiry.map(micros))
        .bind(&data.value)
        .bind(to_sql_version(expected))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.op_error("update", e))?;
        let swapped: Option<i64> = row
            .try_get("version")
            .map_err(|e| self.op_error("update", e))?;
        let present: bool = row
            .try_get("present")
            .map_err(|e| self.op_error("update", e))?;
        match (swapped, present) {
            (Some(v), _) => Ok(version_of(v)),
            (None, true) => Err(Error::conflict(kind, key)),
            (None, false) => Err(Error::not_found(kind, key)),
        }
    }

    async fn delete(&self, kind: RecordKind, key: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM oxidex_records WHERE kind = $1 AND key = $2")
            .bind(kind.as_str())
            .bind(key.as_bytes())
            .execute(&self.pool)
            .await
            .map_err(|e| self.op_error("delete", e))?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found(kind, key));
        }
        Ok(())
    }

    async fn delete_expired(&self, kind: RecordKind, now: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM oxidex_records
             WHERE kind = $1 AND expiry_us IS NOT NULL AND expiry_us < $2",
        )
        .bind(kind.as_str())
        .bind(micros(now))
        .execute(&self.pool)
        .await
        .map_err(|e| self.op_error("garbage collection", e))?;
        Ok(done.rows_affected())
    }
}
