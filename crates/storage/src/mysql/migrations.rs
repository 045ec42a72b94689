//! Versioned schema migrations for the MySQL / MariaDB backend.
//!
//! MySQL commits every DDL statement on its own, so a transaction cannot make a migration
//! atomic or serialise processes. Instead the steps run while one connection holds the named
//! lock `GET_LOCK('oxidex_migrations_<hash of the database name>', ...)`: several processes
//! starting against one database wait there in turn, and the later ones find the steps
//! recorded in `oxidex_migrations` and apply nothing. (Named locks are server-wide, hence the
//! database name in the lock's; the hash keeps it under MySQL's 64-character limit.) Each
//! step is idempotent (`CREATE TABLE IF NOT EXISTS`, indexes declared inside the table), so a
//! process that dies half-way leaves a state the next start completes. A database whose version
//! is newer than this build knows is refused rather than written to.
//!
//! Every table is prefixed `oxidex_`, so the schema can share a database with Dex's tables
//! (whose history is in `migrations`).

use sqlx::MySqlConnection;

use crate::sql_common::{Migration, newer_schema};

/// Seconds to wait for another process's migration before giving up.
pub(super) const LOCK_WAIT_SECS: i64 = 60;

/// The named lock's name, per database (a macro so `concat!` can build the queries).
macro_rules! lock_name {
    () => {
        "CONCAT('oxidex_migrations_', LEFT(MD5(DATABASE()), 16))"
    };
}

/// Every migration, in order. Append only; never edit a released step.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "records with per-row versions and expiry",
    statements: &[
        // The version counter: an AUTO_INCREMENT table used as a sequence (MySQL has no
        // sequences; MariaDB's are not in MySQL). Each write inserts a row and takes the id
        // MySQL assigned to that insert, which no other insert ever gets, even in another
        // transaction or after a rollback, so a version is never reused for a key even after
        // it is deleted and created again. Old rows are pruned, always keeping the highest:
        // MySQL 5.7 recomputes the counter as MAX(id) + 1 when it restarts.
        "CREATE TABLE IF NOT EXISTS oxidex_record_versions (
            id BIGINT NOT NULL AUTO_INCREMENT,
            PRIMARY KEY (id)
        ) ENGINE = InnoDB",
        // Kinds and keys are VARBINARY: they compare byte for byte (case-sensitively, whatever
        // the server's collations), and a 512-byte key fits an InnoDB index on any row format
        // (32 + 512 bytes < 767).
        "CREATE TABLE IF NOT EXISTS oxidex_records (
            kind VARBINARY(32) NOT NULL,
            `key` VARBINARY(512) NOT NULL,
            version BIGINT NOT NULL,
            expiry_us BIGINT NULL,
            value LONGBLOB NOT NULL,
            PRIMARY KEY (kind, `key`),
            INDEX oxidex_records_expiry (kind, expiry_us)
        ) ENGINE = InnoDB",
    ],
}];

/// Why migrating failed.
pub(super) enum MigrateError {
    /// A statement failed.
    Sql(sqlx::Error),
    /// The connection has no database selected.
    NoDatabase,
    /// Another process held the migration lock for [`LOCK_WAIT_SECS`].
    LockTimeout,
    /// The schema is newer than this build; the message says so.
    TooNew(String),
}

impl From<sqlx::Error> for MigrateError {
    fn from(e: sqlx::Error) -> Self {
        MigrateError::Sql(e)
    }
}

/// Brings the schema up to date (see the module documentation). If this fails, the caller
/// must close the connection rather than reuse it: the lock may still be held.
pub(super) async fn migrate(conn: &mut MySqlConnection) -> Result<(), MigrateError> {
    let database: Option<String> = sqlx::query_scalar("SELECT DATABASE()")
        .fetch_one(&mut *conn)
        .await?;
    if database.is_none() {
        return Err(MigrateError::NoDatabase);
    }
    let locked: Option<i64> = sqlx::query_scalar(concat!("SELECT GET_LOCK(", lock_name!(), ", ?)"))
        .bind(LOCK_WAIT_SECS)
        .fetch_one(&mut *conn)
        .await?;
    if locked != Some(1) {
        return Err(MigrateError::LockTimeout);
    }
    let outcome = apply(conn).await;
    let released = sqlx::query(concat!("SELECT RELEASE_LOCK(", lock_name!(), ")"))
        .execute(&mut *conn)
        .await;
    outcome?;
    released?;
    Ok(())
}

async fn apply(conn: &mut MySqlConnection) -> Result<(), MigrateError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS oxidex_migrations (
            version BIGINT NOT NULL,
            description VARCHAR(255) NOT NULL,
            applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            PRIMARY KEY (version)
        ) ENGINE = InnoDB",
    )
    .execute(&mut *conn)
    .await?;
    let current: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(MAX(version), 0) AS SIGNED) FROM oxidex_migrations",
    )
    .fetch_one(&mut *conn)
    .await?;
    if let Some(refusal) = newer_schema(current, MIGRATIONS) {
        return Err(MigrateError::TooNew(refusal));
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        for statement in migration.statements {
            sqlx::query(*statement).execute(&mut *conn).await?;
        }
        sqlx::query("INSERT INTO oxidex_migrations (version, description) VALUES (?, ?)")
            .bind(migration.version)
            .bind(migration.description)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
