//! Versioned schema migrations for the SQLite backend.
//!
//! Applied inside one `BEGIN IMMEDIATE` transaction, which takes SQLite's write lock before
//! reading the current version: several processes starting against one file serialise here,
//! and each migration runs exactly once. A database whose version is newer than this build
//! knows is refused rather than written to.

use crate::sql_common::Migration;

/// Every migration, in order. Append only; never edit a released step.
pub(super) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "records with per-row versions and expiry",
    statements: &[
        // One counter for the whole database: every write takes the next value, so a version
        // is never reused for a key even after it is deleted and created again.
        "CREATE TABLE record_versions (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last INTEGER NOT NULL
        )",
        "INSERT INTO record_versions (id, last) VALUES (1, 0)",
        "CREATE TABLE records (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            version INTEGER NOT NULL,
            expiry_us INTEGER,
            value BLOB NOT NULL,
            PRIMARY KEY (kind, key)
        )",
        "CREATE INDEX records_expiry ON records (kind, expiry_us) WHERE expiry_us IS NOT NULL",
        // The triggers run inside the writing statement, so taking a version and writing the
        // row are one atomic step without an explicit transaction.
        "CREATE TRIGGER records_version_on_insert AFTER INSERT ON records BEGIN
            UPDATE record_versions SET last = NEW.version WHERE id = 1;
        END",
        "CREATE TRIGGER records_version_on_update AFTER UPDATE OF version ON records BEGIN
            UPDATE record_versions SET last = NEW.version WHERE id = 1;
        END",
    ],
}];
