//! The PostgreSQL backend against a real server: the conformance kit, and the backend's own
//! promises (safe concurrent start-up, reopening, clear connection errors, compare-and-swap
//! across pools). Set `OXIDEX_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); each test creates its own database on that
//! server and drops it afterwards.

use std::str::FromStr;
use std::sync::Arc;

use oxidex_core::storage::{RecordData, RecordKind, Storage};
use oxidex_storage::conformance::Fixture;
use oxidex_storage::{PostgresConfig, PostgresStorage};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions};

use crate::services::{
    assert_connect_error, block_on_own_thread, check_cas_race_across_pools, check_keys_are_exact,
    service_url, unique_name, url_password,
};

const VAR: &str = "OXIDEX_TEST_POSTGRES_URL";
const EXAMPLE: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database created for one test on the server of `OXIDEX_TEST_POSTGRES_URL`, dropped when
/// this is dropped.
struct TempDatabase {
    url: String,
    admin: PgConnectOptions,
    name: String,
}

impl TempDatabase {
    /// `None` (the test skips) when the server is not configured.
    async fn create() -> Option<Self> {
        let url = service_url(VAR, EXAMPLE)?;
        let admin = PgConnectOptions::from_str(&url).expect("a PostgreSQL URL");
        let name = unique_name("oxidex_t_");
        let mut conn = admin.connect().await.expect("connect to the test server");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("create a test database");
        Some(Self { url, admin, name })
    }

    fn options(&self) -> PgConnectOptions {
        self.admin.clone().database(&self.name)
    }

    async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(5)
            .connect_with(self.options())
            .await
            .expect("connect to the test database")
    }

    /// Dex's configuration keys for this database (TLS off: test servers are local).
    fn config(&self) -> PostgresConfig {
        let mut config = PostgresConfig::default();
        config.host = self.admin.get_host().to_owned();
        config.port = self.admin.get_port();
        config.user = self.admin.get_username().to_owned();
        config.password = url_password(&self.url).unwrap_or_default();
        config.database = self.name.clone();
        config.ssl.mode = "disable".into();
        config
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        block_on_own_thread(move || async move {
            let mut conn = match admin.connect().await {
                Ok(conn) => conn,
                Err(e) => return eprintln!("cannot drop test database {name}: {e}"),
            };
            // FORCE (PostgreSQL 13+) ends the test's own connections still closing.
            let forced = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            if sqlx::query(AssertSqlSafe(forced))
                .execute(&mut conn)
                .await
                .is_err()
            {
                let plain = format!("DROP DATABASE IF EXISTS \"{name}\"");
                if let Err(e) = sqlx::query(AssertSqlSafe(plain)).execute(&mut conn).await {
                    eprintln!("cannot drop test database {name}: {e}");
                }
            }
        });
    }
}

async fn fresh() -> Fixture {
    let Some(db) = TempDatabase::create().await else {
        return Fixture::skip(format!("{VAR} is not set"));
    };
    let storage = PostgresStorage::from_pool(db.pool().await)
        .await
        .expect("open PostgreSQL");
    Fixture::with_guard(storage, db)
}

oxidex_storage::storage_conformance_tests!(fresh);

fn data(value: &str) -> RecordData {
    RecordData {
        value: value.as_bytes().to_vec(),
        expiry: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_start_migrates_once() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let config = db.config();
    let mut starts = tokio::task::JoinSet::new();
    for i in 0..5 {
        let config = config.clone();
        let options = db.options();
        starts.spawn(async move {
            if i % 2 == 0 {
                PostgresStorage::open(&config).await
            } else {
                let pool = PgPoolOptions::new()
                    .max_connections(2)
                    .connect_with(options)
                    .await
                    .expect("pool");
                PostgresStorage::from_pool(pool).await
            }
        });
    }
    let mut opened = Vec::new();
    while let Some(started) = starts.join_next().await {
        opened.push(started.unwrap().expect("every concurrent start succeeds"));
    }
    assert_eq!(opened.len(), 5);
    let pool = db.pool().await;
    let (rows, latest): (i64, i64) =
        sqlx::query_as("SELECT count(*), max(version) FROM oxidex_migrations")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(latest >= 1);
    assert_eq!(rows, latest, "each migration is recorded exactly once");
    // Every opener works on the same schema.
    opened[0]
        .create(RecordKind::Client, "shared", data("v"))
        .await
        .unwrap();
    for storage in &opened {
        assert_eq!(
            storage
                .get(RecordKind::Client, "shared")
                .await
                .unwrap()
                .value,
            b"v"
        );
    }
    for storage in &opened {
        storage.close().await;
    }
    pool.close().await;
}

#[tokio::test]
async fn reopening_keeps_records_and_versions() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let config = db.config();
    let first = PostgresStorage::open(&config).await.unwrap();
    let v1 = first
        .create(RecordKind::Client, "kept", data("one"))
        .await
        .unwrap();
    first.delete(RecordKind::Client, "kept").await.unwrap();
    let v2 = first
        .create(RecordKind::Client, "kept", data("two"))
        .await
        .unwrap();
    assert_ne!(v1, v2, "a re-created record gets a new version");
    first.close().await;

    let second = PostgresStorage::open(&config).await.unwrap();
    let stored = second.get(RecordKind::Client, "kept").await.unwrap();
    assert_eq!(stored.value, b"two");
    assert_eq!(stored.version, v2);
    let v3 = second
        .compare_and_swap(RecordKind::Client, "kept", v2, data("three"))
        .await
        .unwrap();
    assert!(
        v3 != v1 && v3 != v2,
        "versions are never reused: {v1:?} {v2:?} {v3:?}"
    );
    second.close().await;
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let config = db.config();
    PostgresStorage::open(&config).await.unwrap().close().await;
    let pool = db.pool().await;
    sqlx::query("INSERT INTO oxidex_migrations (version, description) VALUES (999, 'future')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let err = PostgresStorage::open(&config)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("999"), "{err}");
    assert!(err.contains("upgrade oxidex"), "{err}");
    assert!(
        err.contains(&db.name),
        "the message names the database: {err}"
    );
}

#[tokio::test]
async fn shares_a_database_with_dex() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let pool = db.pool().await;
    // What Dex's own schema leaves behind: its `migrations` table and record tables.
    for statement in [
        "CREATE TABLE migrations (num INTEGER NOT NULL, at TIMESTAMPTZ NOT NULL)",
        "INSERT INTO migrations (num, at) VALUES (32, now())",
        "CREATE TABLE client (id TEXT NOT NULL PRIMARY KEY, secret TEXT NOT NULL)",
        "INSERT INTO client (id, secret) VALUES ('dex-client', 'x')",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    let storage = PostgresStorage::from_pool(pool.clone()).await.unwrap();
    storage
        .create(RecordKind::Client, "dex-client", data("oxidex"))
        .await
        .unwrap();
    let dex_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM client")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(dex_rows, 1, "Dex's tables are left alone");
    let dex_migrations: i32 = sqlx::query_scalar("SELECT max(num) FROM migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(dex_migrations, 32);
    storage.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_race_across_two_pools() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let a = PostgresStorage::open(&db.config()).await.unwrap();
    let b = PostgresStorage::from_pool(db.pool().await).await.unwrap();
    check_cas_race_across_pools(Arc::new(a.clone()), Arc::new(b.clone())).await;
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn keys_are_exact_byte_strings() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let storage = PostgresStorage::open(&db.config()).await.unwrap();
    check_keys_are_exact(&storage).await;
    storage.close().await;
}

const PASSWORD: &str = "pw-Must-Not-Leak-7f3a";

#[tokio::test]
async fn refused_connection_names_the_address() {
    // Needs no server: nothing listens on port 1.
    let mut config = PostgresConfig::default();
    config.host = "127.0.0.1".into();
    config.port = 1;
    config.user = "oxidex".into();
    config.password = PASSWORD.into();
    config.database = "oxidex".into();
    config.ssl.mode = "disable".into();
    let err = PostgresStorage::open(&config).await.unwrap_err();
    assert_connect_error(
        &err,
        &["127.0.0.1:1", "is the server running", "\"oxidex\""],
        PASSWORD,
    );

    // `host:port` in `host` wins, as in Dex.
    config.host = "127.0.0.1:2".into();
    let err = PostgresStorage::open(&config).await.unwrap_err();
    assert_connect_error(&err, &["127.0.0.1:2"], PASSWORD);
}

#[tokio::test]
async fn invalid_settings_are_refused_before_connecting() {
    let mut config = PostgresConfig::default();
    config.host = "127.0.0.1".into();
    config.port = 1;
    config.ssl.mode = "sometimes".into();
    let err = PostgresStorage::open(&config)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ssl.mode") && err.contains("sometimes"),
        "{err}"
    );

    config.ssl.mode = "verify-ca".into();
    config.ssl.cert_file = "/client.pem".into();
    let err = PostgresStorage::open(&config)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("ssl.keyFile"), "{err}");

    config.ssl.cert_file.clear();
    config.host = "db.example:notaport".into();
    let err = PostgresStorage::open(&config)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("db.example:notaport"), "{err}");
}

#[tokio::test]
async fn missing_database_is_named() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let mut config = db.config();
    config.database = unique_name("oxidex_t_missing_");
    if config.password.is_empty() {
        // Trust authentication ignores it; it is here to prove it never appears.
        config.password = PASSWORD.into();
    }
    let err = PostgresStorage::open(&config).await.unwrap_err();
    assert_connect_error(
        &err,
        &["does not exist", &config.database, "CREATE DATABASE"],
        &config.password,
    );
}

#[tokio::test]
async fn default_tls_mode_explains_itself() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    // No `ssl.mode`: Dex's default verify-full. A test server has no certificate a system
    // root signed (or no TLS at all), so this fails, and must say how to fix it.
    let mut config = db.config();
    config.ssl.mode.clear();
    if config.password.is_empty() {
        config.password = PASSWORD.into();
    }
    let err = PostgresStorage::open(&config).await.unwrap_err();
    assert_connect_error(&err, &["ssl.mode", "verify-full"], &config.password);
    let message = err.to_string();
    assert!(
        message.contains("ssl.mode: disable") || message.contains("ssl.caFile"),
        "{message}"
    );
}

// Authentication failures cannot be provoked on a server with `trust` authentication (the
// CI and development servers); the message for SQLSTATE 28P01 is covered by code review only.
