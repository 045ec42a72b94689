//! Versioned schema migrations for the PostgreSQL backend.
//!
//! Applied in one transaction that first takes a transaction-scoped advisory lock
//! ([`MIGRATION_LOCK`]): several processes starting against one database serialise there, the
//! later ones find the steps recorded in `oxidex_migrations` and apply nothing. PostgreSQL's
//! DDL is transactional, so a step that fails leaves no trace. A database whose version is
//! newer than this build knows is refused rather than written to.
//!
//! Every object is prefixed `oxidex_`, so the schema can share a database with Dex's tables
//! (whose history is in `migrations`).

use sqlx::{Connection, PgConnection};

use crate::sql_common::{Migration, newer_schema};

/// Key of the advisory lock held while migrating: "oxidexmg" in ASCII. Advisory locks are
/// per database, so unrelated databases on one server do not wait for each other.
const MIGRATION_LOCK: i64 = 0x6f78_6964_6578_6d67;

/// Every migration, in order. Append only; never edit a released step.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "records with per-row versions and expiry",
    statements: &[
        // One counter for the whole database: every write takes the next value, so a version
        // is never reused for a key even after it is deleted and created again. Sequences are
        // never rolled back, so concurrent writers can never draw the same value.
        "CREATE SEQUENCE oxidex_record_versions START WITH 1 NO CYCLE",
        // Keys are bytes (BYTEA): they compare exactly, case-sensitively, and do not depend
        // on the database's encoding or collation.
        "CREATE TABLE oxidex_records (
            kind TEXT NOT NULL,
            key BYTEA NOT NULL,
            version BIGINT NOT NULL,
            expiry_us BIGINT,
            value BYTEA NOT NULL,
            PRIMARY KEY (kind, key)
        )",
        "CREATE INDEX oxidex_records_expiry ON oxidex_records (kind, expiry_us)
            WHERE expiry_us IS NOT NULL",
    ],
}];

/// Why migrating failed: the database refused, or its schema is too new.
pub(super) enum MigrateError {
    /// A statement failed.
    Sql(sqlx::Error),
    /// The schema is newer than this build; the message says so.
    TooNew(String),
}

impl From<sqlx::Error> for MigrateError {
    fn from(e: sqlx::Error) -> Self {
        MigrateError::Sql(e)
    }
}

/// Brings the schema up to date (see the module documentation).
pub(super) async fn migrate(conn: &mut PgConnection) -> Result<(), MigrateError> {
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS oxidex_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .execute(&mut *tx)
    .await?;
    let current: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0)::BIGINT FROM oxidex_migrations")
            .fetch_one(&mut *tx)
            .await?;
    if let Some(refusal) = newer_schema(current, MIGRATIONS) {
        return Err(MigrateError::TooNew(refusal));
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        for statement in migration.statements {
            sqlx::query(*statement).execute(&mut *tx).await?;
        }
        sqlx::query("INSERT INTO oxidex_migrations (version, description) VALUES ($1, $2)")
            .bind(migration.version)
            .bind(migration.description)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
