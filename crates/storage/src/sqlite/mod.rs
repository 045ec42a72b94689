//! The SQLite backend (`storage.type: sqlite3`): one file, WAL mode, bundled libsqlite3.
//!
//! Records live in one table keyed by (kind, key) with a per-row version for compare-and-swap
//! and an indexed expiry for garbage collection. Several processes may share the file: writes
//! are single statements serialised by SQLite's lock (with a busy timeout), and migrations run
//! under `BEGIN IMMEDIATE` (see [`migrations`]).
//!
//! Every failure to open names the file: a missing directory, a path that is not an SQLite
//! database, a location that cannot be written, a schema newer than this build.

mod migrations;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oxidex_core::storage::{RecordData, RecordKind, Storage, StoredRecord, Version};
use oxidex_core::{Error, Result};
use serde::Deserialize;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use self::migrations::MIGRATIONS;
use crate::sql_common::{micros, newer_schema, to_sql_version, version_of};

const BACKEND: &str = "sqlite3";

/// Dex's `storage.config` for `type: sqlite3`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SqliteConfig {
    /// Path of the database file, created if missing; `:memory:` for a private in-memory
    /// database.
    pub file: String,
}

/// The SQLite storage backend.
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    pool: SqlitePool,
    file: PathBuf,
}

/// How long a writer waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections per process. SQLite has one writer at a time; extra connections serve reads
/// concurrently in WAL mode.
const MAX_CONNECTIONS: u32 = 4;

impl SqliteStorage {
    /// Opens (creating if needed) the database described by Dex's config.
    pub async fn open_config(config: &SqliteConfig) -> Result<Self> {
        if config.file == ":memory:" {
            Self::open_in_memory().await
        } else {
            Self::open(&config.file).await
        }
    }

    /// Opens or creates the database file at `path` and brings its schema up to date.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let file = path.as_ref().to_path_buf();
        let display = file.display().to_string();
        if display.is_empty() {
            return Err(open_error(&file, "the `file` setting is empty"));
        }
        if let Some(dir) = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && !d.is_dir())
        {
            return Err(open_error(
                &file,
                format!("directory {} does not exist", dir.display()),
            ));
        }
        if file.is_dir() {
            return Err(open_error(&file, "it is a directory, not a file"));
        }
        let options = SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|e| classify_open_error(&file, e))?;
        let storage = Self { pool, file };
        storage.enable_wal().await?;
        storage.migrate().await?;
        Ok(storage)
    }

    /// Switches the file to WAL mode (a persistent property of the file). The switch needs an
    /// exclusive lock that SQLite's busy timeout does not wait for, so when several processes
    /// open a new file at once the losers retry here until the busy timeout has passed.
    async fn enable_wal(&self) -> Result<()> {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            let attempt: std::result::Result<String, sqlx::Error> =
                sqlx::query_scalar("PRAGMA journal_mode = WAL")
                    .fetch_one(&self.pool)
                    .await;
            match attempt {
                Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
                Ok(mode) => {
                    return Err(open_error(
                        &self.file,
                        format!(
                            "the file system does not support WAL mode (journal mode stayed {mode:?})"
                        ),
                    ));
                }
                Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Err(e) => return Err(classify_open_error(&self.file, e)),
            }
        }
    }

    /// A private in-memory database (one connection; gone when dropped).
    pub async fn open_in_memory() -> Result<Self> {
        let file = PathBuf::from(":memory:");
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|e| Error::backend(BACKEND, "invalid in-memory options", e))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|e| classify_open_error(&file, e))?;
        let storage = Self { pool, file };
        storage.migrate().await?;
        Ok(storage)
    }

    /// The database file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Closes every connection, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrate(&self) -> Result<()> {
        let file = &self.file;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| classify_open_error(file, e))?;
        let fail = |e: sqlx::Error| classify_open_error(file, e);

        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&mut *tx)
                .await
                .map_err(fail)?;
        let has = |name: &str| tables.iter().any(|t| t == name);
        if has("migrations") && !has("oxidex_migrations") {
            return Err(open_error(
                file,
                "it holds a Dex database; oxidex keeps its own schema, so point `storage.config.file` at a new file",
            ));
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS oxidex_migrations (
                version INTEGER PRIMARY KEY,
                description TEXT NOT NULL,
                applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
            )",
        )
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        let current: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM oxidex_migrations")
                .fetch_one(&mut *tx)
                .await
                .map_err(fail)?;
        if let Some(refusal) = newer_schema(current, MIGRATIONS) {
            return Err(open_error(file, format!("{refusal} or use another file")));
        }
        for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
            for statement in migration.statements {
                sqlx::query(*statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?;
            }
            sqlx::query("INSERT INTO oxidex_migrations (version, description) VALUES (?, ?)")
                .bind(migration.version)
                .bind(migration.description)
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
        }
        tx.commit().await.map_err(fail)
    }

    fn op_error(&self, what: &str, e: sqlx::Error) -> Error {
        Error::backend(BACKEND, format!("{what} in {}", self.file.display()), e)
    }
}

fn open_error(file: &Path, message: impl std::fmt::Display) -> Error {
    Error::Backend {
        backend: BACKEND,
        message: format!("cannot open database {}: {message}", file.display()),
        source: None,
    }
}

fn primary_code(e: &sqlx::Error) -> Option<i32> {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        .map(|c| c & 0xff)
}

/// SQLITE_BUSY or SQLITE_LOCKED.
fn is_busy(e: &sqlx::Error) -> bool {
    matches!(primary_code(e), Some(5 | 6))
}

/// Turns SQLite's result codes into messages that say what to fix.
fn classify_open_error(file: &Path, e: sqlx::Error) -> Error {
    let message = match primary_code(&e) {
        Some(26) => "it is not an SQLite database (or it is corrupt)".to_owned(),
        Some(11) => "the database file is corrupt".to_owned(),
        Some(14) => {
            "the file cannot be opened or created (check the path and permissions)".to_owned()
        }
        Some(8) => "the file is read-only (oxidex must be able to write it)".to_owned(),
        Some(10) => "disk I/O error".to_owned(),
        Some(5 | 6) => format!(
            "the database is locked by another process (waited up to {} s)",
            BUSY_TIMEOUT.as_secs()
        ),
        _ => e.to_string(),
    };
    Error::Backend {
        backend: BACKEND,
        message: format!("cannot open database {}: {message}", file.display()),
        source: Some(Box::new(e)),
    }
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn create(&self, kind: RecordKind, key: &str, data: RecordData) -> Result<Version> {
        let result: std::result::Result<i64, sqlx::Error> = sqlx::query_scalar(
            "INSERT INTO records (kind, key, version, expiry_us, value)
             VALUES (?1, ?2, (SELECT last + 1 FROM record_versions WHERE id = 1), ?3, ?4)
             RETURNING version",
        )
        .bind(kind.as_str())
        .bind(key)
        .bind(data.expiry.map(micros))
        .bind(&data.value)
        .fetch_one(&self.pool)
        .await;
        match result {
            Ok(v) => Ok(version_of(v)),
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
        let row = sqlx::query("SELECT version, value FROM records WHERE kind = ?1 AND key = ?2")
            .bind(kind.as_str())
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.op_error("get", e))?;
        let row = row.ok_or_else(|| Error::not_found(kind, key))?;
        Ok(StoredRecord {
            key: key.to_owned(),
            version: version_of(
                row.try_get("version")
                    .map_err(|e| self.op_error("get", e))?,
            ),
            value: row.try_get("value").map_err(|e| self.op_error("get", e))?,
        })
    }

    async fn list(&self, kind: RecordKind) -> Result<Vec<StoredRecord>> {
        let rows = sqlx::query("SELECT key, version, value FROM records WHERE kind = ?1")
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.op_error("list", e))?;
        rows.into_iter()
            .map(|row| {
                Ok(StoredRecord {
                    key: row.try_get("key")?,
                    version: version_of(row.try_get("version")?),
                    value: row.try_get("value")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(|e| self.op_error("list", e))
    }

    async fn compare_and_swap(
        &self,
        kind: RecordKind,
        key: &str,
        expected: Version,
        data: RecordData,
    ) -> Result<Version> {
        let swapped: Option<i64> = sqlx::query_scalar(
            "UPDATE records
             SET version = (SELECT last + 1 FROM record_versions WHERE id = 1),
                 expiry_us = ?3, value = ?4
             WHERE kind = ?1 AND key = ?2 AND version = ?5
             RETURNING version",
        )
        .bind(kind.as_str())
        .bind(key)
        .bind(data.expiry.map(micros))
        .bind(&data.value)
        .bind(to_sql_version(expected))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.op_error("update", e))?;
        if let Some(v) = swapped {
            return Ok(version_of(v));
        }
        // Nothing matched: either the row is gone or its version moved on.
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM records WHERE kind = ?1 AND key = ?2")
                .bind(kind.as_str())
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.op_error("update", e))?;
        Err(match exists {
            Some(_) => Error::conflict(kind, key),
            None => Error::not_found(kind, key),
        })
    }

    async fn delete(&self, kind: RecordKind, key: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM records WHERE kind = ?1 AND key = ?2")
            .bind(kind.as_str())
            .bind(key)
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
            "DELETE FROM records WHERE kind = ?1 AND expiry_us IS NOT NULL AND expiry_us < ?2",
        )
        .bind(kind.as_str())
        .bind(micros(now))
        .execute(&self.pool)
        .await
        .map_err(|e| self.op_error("garbage collection", e))?;
        Ok(done.rows_affected())
    }
}
