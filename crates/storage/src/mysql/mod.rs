//! The MySQL / MariaDB backend (`storage.type: mysql`): replicas share one database. Works
//! on MySQL 5.7+ and MariaDB 10.4+: no `RETURNING`, no sequences, no `CREATE INDEX IF NOT
//! EXISTS`.
//!
//! Records live in one table, `oxidex_records`, keyed by (kind, key), with a version for
//! compare-and-swap and an indexed expiry (microseconds since the epoch) for garbage
//! collection.
//!
//! ## Versions
//!
//! MySQL has no sequences, so `oxidex_record_versions` is an `AUTO_INCREMENT` table used as
//! one: every write first inserts a row there (its own autocommitted statement) and takes the
//! id MySQL assigned to that very insert, which the server returns with the statement's result
//! (`LAST_INSERT_ID()` of that connection). No two inserts ever receive the same id, even in
//! concurrent transactions, after a rollback, or across Galera nodes (which space ids by node),
//! so a version is never reused for a key, even after it is deleted and created again. Ids
//! drawn by writes that then fail are simply skipped. Every [`PRUNE_EVERY`]th id, rows below
//! it are deleted so the table stays small; the highest row is never deleted, because MySQL 5.7
//! recomputes the counter as `MAX(id) + 1` when it restarts.
//!
//! ## Writes
//!
//! * create is one `INSERT`; a duplicate-key error means the key was taken;
//! * compare-and-swap is one `UPDATE ... WHERE version = ?expected`. InnoDB's `UPDATE` locks
//!   the row and checks the condition against the latest committed row (not a snapshot), so of
//!   N swaps from the same version exactly one matches; for the others a follow-up read tells
//!   a conflict (the row is there with another version) from a missing record;
//! * delete is one `DELETE` whose affected-row count says whether this caller removed the row.
//!
//! Migrations run under a named lock (see [`migrations`]). Connection failures name the server,
//! database and user and say what to fix; the password is never part of a message.

mod migrations;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oxidex_core::storage::{RecordData, RecordKind, Storage, StoredRecord, Version};
use oxidex_core::{Error, Result};
use sqlx::mysql::{
    MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlPool, MySqlSslMode,
};
use sqlx::{ConnectOptions, Connection};

use self::migrations::{LOCK_WAIT_SECS, MigrateError, migrate};
use crate::MysqlConfig;
use crate::sql_common::{
    Endpoint, SslSetting, Target, common_connect_problem, connect_timeout, micros, pool_options,
    record_columns, resolve_endpoint, stored_record, to_sql_version, version_of,
};

const BACKEND: &str = "mysql";

/// MySQL's port when neither `host` nor `port` gives one.
const DEFAULT_PORT: u16 = 3306;

/// The host when `host` is empty (as with Dex's driver).
const DEFAULT_HOST: &str = "127.0.0.1";

/// `maxIdleConns` when absent (Dex's default for MySQL).
const DEFAULT_MAX_IDLE: u32 = 0;

/// How often the version table is pruned: when a drawn id is a multiple of this.
const PRUNE_EVERY: u64 = 256;

/// Attempts to draw a version when InnoDB picks the insert as a deadlock victim.
const VERSION_ATTEMPTS: usize = 3;

/// The MySQL / MariaDB storage backend. Cheap to clone (the pool is shared).
///
/// Open it with [`MysqlStorage::open`] from Dex's configuration keys, or hand it a pool of
/// your own with [`MysqlStorage::from_pool`]. Either way the schema is brought up to date
/// first. All tables it creates are named `oxidex_*`, so it can share a database with Dex.
#[derive(Debug, Clone)]
pub struct MysqlStorage {
    pool: MySqlPool,
    target: Target,
}

/// Dex's `ssl` keys resolved to sqlx settings.
struct Tls {
    mode: MySqlSslMode,
    name: String,
    defaulted: bool,
}

impl MysqlStorage {
    /// Connects as Dex's `storage.config` for `type: mysql` says and brings the schema up to
    /// date.
    ///
    /// * `host` is a name or address, `host:port` or `[v6]:port` (empty: `127.0.0.1`), or
    ///   the path of the server's Unix socket file (starting with `/`). `port` (default 3306)
    ///   applies when `host` has none.
    /// * `database` is required; `user` defaults to `root`.
    /// * `ssl.mode` follows Dex: `true` (the default: TLS, verifying the server's certificate
    ///   and name against the system's roots), `false` (no TLS), `skip-verify` (TLS without
    ///   verification), `preferred` (TLS if the server offers it, unverified), `custom`
    ///   (verify against `ssl.caFile`). As in Dex, setting any of `ssl.caFile`,
    ///   `ssl.certFile`, `ssl.keyFile` selects `custom`, whatever `ssl.mode` says. TLS does
    ///   not apply to Unix sockets, where `ssl.mode` is ignored.
    /// * `maxOpenConns` (default 5), `maxIdleConns` (default 0), `connMaxLifetime` and
    ///   `connectionTimeout` size the pool; see `docs/storage-mysql.md`.
    ///
    /// Fails with a message naming the server, database and user (never the password) and
    /// what to fix: the server not running, authentication, a missing database, TLS.
    pub async fn open(config: &MysqlConfig) -> Result<Self> {
        let endpoint = resolve_endpoint(
            BACKEND,
            &config.host,
            config.port,
            DEFAULT_HOST,
            DEFAULT_PORT,
        )?;
        if config.database.trim().is_empty() {
            return Err(config_error(
                "`database` is not set: name the database oxidex should use",
            ));
        }
        let tls = ssl_mode(config, &endpoint)?;
        let mut options = MySqlConnectOptions::new()
            .ssl_mode(tls.mode)
            .database(&config.database);
        options = match &endpoint {
            Endpoint::Tcp { host, port } => options.host(host).port(*port),
            Endpoint::Socket(path) => options.socket(path),
        };
        if !config.user.is_empty() {
            options = options.username(&config.user);
        }
        if !config.password.is_empty() {
            options = options.password(&config.password);
        }
        if !config.ssl.ca_file.is_empty() {
            options = options.ssl_ca(&config.ssl.ca_file);
        }
        if !config.ssl.cert_file.is_empty() {
            options = options
                .ssl_client_cert(&config.ssl.cert_file)
                .ssl_client_key(&config.ssl.key_file);
        }
        let target = Target {
            endpoint,
            database: config.database.clone(),
            user: options.get_username().to_owned(),
        };
        let ssl = SslSetting {
            mode: &tls.name,
            defaulted: tls.defaulted,
            off: "\"false\"",
            active: !matches!(tls.mode, MySqlSslMode::Disabled),
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
        // Closing also releases the migration lock if something went wrong while holding it.
        let _ = conn.close().await;
        migrated?;
        let pool = pool_options(config, DEFAULT_MAX_IDLE).connect_lazy_with(options);
        Ok(Self { pool, target })
    }

    /// Uses an existing pool (for tests and embedding) and brings its database's schema up to
    /// date. The pool's options must select a database.
    pub async fn from_pool(pool: MySqlPool) -> Result<Self> {
        let options = pool.connect_options();
        let endpoint = match options.get_socket() {
            Some(path) => Endpoint::Socket(path.display().to_string()),
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
            off: "\"false\"",
            active: !matches!(options.get_ssl_mode(), MySqlSslMode::Disabled),
        };
        let mut conn = pool
            .acquire()
            .await
            .map_err(|e| connect_error(&target, ssl, e))?;
        if let Err(e) = run_migrations(&mut conn, &target).await {
            // The migration lock may still be held by this connection: do not pool it.
            conn.close_on_drop();
            return Err(e);
        }
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

    /// Draws a new version (see the module documentation).
    async fn next_version(&self, conn: &mut MySqlConnection, what: &str) -> Result<i64> {
        let mut attempt = 0;
        let id = loop {
            attempt += 1;
            match sqlx::query("INSERT INTO oxidex_record_versions () VALUES ()")
                .execute(&mut *conn)
                .await
            {
                Ok(done) => break done.last_insert_id(),
                Err(e) if attempt < VERSION_ATTEMPTS && is_lock_conflict(&e) => continue,
                Err(e) => return Err(self.op_error(what, e)),
            }
        };
        if id % PRUNE_EVERY == 0 {
            // Best effort: a failed prune is retried at the next multiple, and never costs a
            // write. `id` itself stays, so the highest id is never deleted.
            let _ = sqlx::query("DELETE FROM oxidex_record_versions WHERE id < ?")
                .bind(id)
                .execute(&mut *conn)
                .await;
        }
        Ok(to_sql_version(Version::new(id)))
    }
}

/// The server's error number (e.g. 1045), if the database reported one.
fn error_number(e: &sqlx::Error) -> Option<u16> {
    e.as_database_error()
        .and_then(|d| d.try_downcast_ref::<MySqlDatabaseError>())
        .map(MySqlDatabaseError::number)
}

/// ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT.
fn is_lock_conflict(e: &sqlx::Error) -> bool {
    matches!(error_number(e), Some(1213 | 1205))
}

/// Dex's `ssl.mode` for MySQL (go-sql-driver's `tls` values).
fn ssl_mode(config: &MysqlConfig, endpoint: &Endpoint) -> Result<Tls> {
    let ssl = &config.ssl;
    let configured = ssl.mode.trim();
    let files = !ssl.ca_file.is_empty() || !ssl.cert_file.is_empty() || !ssl.key_file.is_empty();
    if ssl.cert_file.is_empty() != ssl.key_file.is_empty() {
        return Err(config_error(
            "`ssl.certFile` and `ssl.keyFile` must be set together",
        ));
    }
    let (name, defaulted) = match configured {
        // Dex switches to its custom TLS configuration whenever a file is given.
        _ if files => ("custom", configured.is_empty()),
        "" => ("true", true),
        other => (other, false),
    };
    let mode = match name.to_ascii_lowercase().as_str() {
        "true" | "1" => MySqlSslMode::VerifyIdentity,
        "false" | "0" => MySqlSslMode::Disabled,
        "skip-verify" => MySqlSslMode::Required,
        "preferred" => MySqlSslMode::Preferred,
        "custom" if files => MySqlSslMode::VerifyIdentity,
        "custom" => {
            return Err(config_error(
                "`ssl.mode: custom` needs `ssl.caFile` (and optionally `ssl.certFile` and `ssl.keyFile`)",
            ));
        }
        _ => {
            return Err(config_error(format!(
                "unknown `ssl.mode` {name:?}: use true, false, skip-verify, preferred or custom"
            )));
        }
    };
    let mode = if matches!(endpoint, Endpoint::Socket(_)) {
        MySqlSslMode::Disabled
    } else {
        mode
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
    let problem = common_connect_problem(&e, target, ssl).unwrap_or_else(|| {
        match error_number(&e) {
            // ER_ACCESS_DENIED_ERROR
            Some(1045) => format!(
                "authentication failed for user {:?}: check `user` and `password` ({e})",
                target.user
            ),
            // ER_DBACCESS_DENIED_ERROR
            Some(1044) => format!(
                "user {:?} may not use database {:?}: GRANT it access ({e})",
                target.user, target.database
            ),
            // ER_BAD_DB_ERROR
            Some(1049) => format!(
                "database {:?} does not exist: create it (CREATE DATABASE `{}`;) or fix `database`",
                target.database, target.database
            ),
            // ER_HOST_NOT_PRIVILEGED
            Some(1130) => format!(
                "the server does not let user {:?} connect from this host: {e}",
                target.user
            ),
            // ER_CON_COUNT_ERROR
            Some(1040) => format!(
                "the server has no free connections (lower `maxOpenConns` or raise max_connections): {e}"
            ),
            _ => e.to_string(),
        }
    });
    Error::backend(BACKEND, format!("cannot connect to {target}: {problem}"), e)
}

async fn run_migrations(conn: &mut MySqlConnection, target: &Target) -> Result<()> {
    migrate(conn).await.map_err(|e| {
        let refused = |message: String| Error::Backend {
            backend: BACKEND,
            message: format!("cannot use {target}: {message}"),
            source: None,
        };
        match e {
            MigrateError::TooNew(refusal) => refused(refusal),
            MigrateError::NoDatabase => {
                refused("no database is selected: set `database`".to_owned())
            }
            MigrateError::LockTimeout => refused(format!(
                "another process has been migrating its schema for over {LOCK_WAIT_SECS} s; try again, or look for a stuck oxidex"
            )),
            MigrateError::Sql(e) => {
                let hint = match error_number(&e) {
                    // ER_TABLEACCESS_DENIED_ERROR
                    Some(1142) => " (the first start needs CREATE, ALTER and INDEX on the database)",
                    _ => "",
                };
                Error::backend(
                    BACKEND,
                    format!("cannot migrate the schema of {target}{hint}"),
                    e,
                )
            }
        }
    })
}

#[async_trait]
impl Storage for MysqlStorage {
    async fn create(&self, kind: RecordKind, key: &str, data: RecordData) -> Result<Version> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| self.op_error("create", e))?;
        let version = self.next_version(&mut conn, "create").await?;
        let result = sqlx::query(
            "INSERT INTO oxidex_records (kind, `key`, version, expiry_us, value)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(kind.as_str().as_bytes())
        .bind(key.as_bytes())
        .bind(version)
        .bind(data.expiry.map(micros))
        .bind(&data.value)
        .execute(&mut *conn)
        .await;
        match result {
            Ok(_) => Ok(version_of(version)),
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                Err(Error::already_exists(kind, key))
            }
            Err(e) => Err(self.op_error("create", e)),
        }
    }

    async fn get(&self, kind: RecordKind, key: &str) -> Result<StoredRecord> {
        let row = sqlx::query(
            "SELECT `key`, version, value FROM oxidex_records WHERE kind = ? AND `key` = ?",
        )
        .bind(kind.as_str().as_bytes())
        .bind(key.as_bytes())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.op_error("get", e))?;
        let row = row.ok_or_else(|| Error::not_found(kind, key))?;
        let (key, version, value) = record_columns(&row).map_err(|e| self.op_error("get", e))?;
        stored_record(kind, key, version, value)
    }

    async fn list(&self, kind: RecordKind) -> Result<Vec<StoredRecord>> {
        let rows = sqlx::query("SELECT `key`, version, value FROM oxidex_records WHERE kind = ?")
            .bind(kind.as_str().as_bytes())
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
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| self.op_error("update", e))?;
        let version = self.next_version(&mut conn, "update").await?;
        let done = sqlx::query(
            "UPDATE oxidex_records SET version = ?, expiry_us = ?, value = ?
             WHERE kind = ? AND `key` = ? AND version = ?",
        )
        .bind(version)
        .bind(data.expiry.map(micros))
        .bind(&data.value)
        .bind(kind.as_str().as_bytes())
        .bind(key.as_bytes())
        .bind(to_sql_version(expected))
        .execute(&mut *conn)
        .await
        .map_err(|e| self.op_error("update", e))?;
        if done.rows_affected() > 0 {
            return Ok(version_of(version));
        }
        // Nothing matched: either the row is gone or its version moved on.
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM oxidex_records WHERE kind = ? AND `key` = ?")
                .bind(kind.as_str().as_bytes())
                .bind(key.as_bytes())
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| self.op_error("update", e))?;
        Err(match exists {
            Some(_) => Error::conflict(kind, key),
            None => Error::not_found(kind, key),
        })
    }

    async fn delete(&self, kind: RecordKind, key: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM oxidex_records WHERE kind = ? AND `key` = ?")
            .bind(kind.as_str().as_bytes())
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
             WHERE kind = ? AND expiry_us IS NOT NULL AND expiry_us < ?",
        )
        .bind(kind.as_str().as_bytes())
        .bind(micros(now))
        .execute(&self.pool)
        .await
        .map_err(|e| self.op_error("garbage collection", e))?;
        Ok(done.rows_affected())
    }
}
