//! The MySQL / MariaDB backend against a real server: the conformance kit, and the backend's
//! own promises (safe concurrent start-up, reopening, clear connection errors,
//! compare-and-swap across pools). Set `OXIDEX_TEST_MYSQL_URL` (e.g.
//! `mysql://root@127.0.0.1:3306/test`); each test creates its own database on that server
//! and drops it afterwards.

use std::str::FromStr;
use std::sync::Arc;

use oxidex_core::storage::{RecordData, RecordKind, Storage};
use oxidex_storage::conformance::Fixture;
use oxidex_storage::{MysqlConfig, MysqlStorage};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions};

use crate::services::{
    assert_connect_error, block_on_own_thread, check_cas_race_across_pools, check_keys_are_exact,
    service_url, unique_name, url_password,
};

const VAR: &str = "OXIDEX_TEST_MYSQL_URL";
const EXAMPLE: &str = "mysql://root@127.0.0.1:3306/test";

/// A database created for one test on the server of `OXIDEX_TEST_MYSQL_URL`, dropped when
/// this is dropped.
struct TempDatabase {
    url: String,
    admin: MySqlConnectOptions,
    name: String,
}

impl TempDatabase {
    /// `None` (the test skips) when the server is not configured.
    async fn create() -> Option<Self> {
        let url = service_url(VAR, EXAMPLE)?;
        let admin = MySqlConnectOptions::from_str(&url).expect("a MySQL URL");
        let name = unique_name("oxidex_t_");
        admin_statement(&admin, format!("CREATE DATABASE `{name}`")).await;
        Some(Self { url, admin, name })
    }

    fn options(&self) -> MySqlConnectOptions {
        self.admin.clone().database(&self.name)
    }

    async fn pool(&self) -> MySqlPool {
        MySqlPoolOptions::new()
            .max_connections(5)
            .connect_with(self.options())
            .await
            .expect("connect to the test database")
    }

    /// Dex's configuration keys for this database (TLS off: test servers are local).
    fn config(&self) -> MysqlConfig {
        let mut config = MysqlConfig::default();
        config.host = self.admin.get_host().to_owned();
        config.port = self.admin.get_port();
        config.user = self.admin.get_username().to_owned();
        config.password = url_password(&self.url).unwrap_or_default();
        config.database = self.name.clone();
        config.ssl.mode = "false".into();
        config
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        clean_up(
            &self.admin,
            format!("DROP DATABASE IF EXISTS `{}`", self.name),
        );
    }
}

/// Runs a clean-up statement from `Drop`, reporting (not panicking on) failure.
fn clean_up(admin: &MySqlConnectOptions, statement: String) {
    let admin = admin.clone();
    block_on_own_thread(move || async move {
        match admin.connect().await {
            Ok(mut conn) => {
                if let Err(e) = sqlx::query(AssertSqlSafe(statement))
                    .execute(&mut conn)
                    .await
                {
                    eprintln!("clean-up failed: {e}");
                }
            }
            Err(e) => eprintln!("clean-up cannot connect: {e}"),
        }
    });
}

/// Runs one statement as the URL's (administrative) user.
async fn admin_statement(admin: &MySqlConnectOptions, statement: String) {
    let mut conn = admin.connect().await.expect("connect to the test server");
    sqlx::query(AssertSqlSafe(statement))
        .execute(&mut conn)
        .await
        .expect("administrative statement");
}

async fn fresh() -> Fixture {
    let Some(db) = TempDatabase::create().await else {
        return Fixture::skip(format!("{VAR} is not set"));
    };
    let storage = MysqlStorage::from_pool(db.pool().await)
        .await
        .expect("open MySQL");
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
                MysqlStorage::open(&config).await
            } else {
                let pool = MySqlPoolOptions::new()
                    .max_connections(2)
                    .connect_with(options)
                    .await
                    .expect("pool");
                MysqlStorage::from_pool(pool).await
            }
        });
    }
    let mut opened = Vec::new();
    while let Some(started) = starts.join_next().await {
        opened.push(started.unwrap().expect("every concurrent start succeeds"));
    }
    assert_eq!(opened.len(), 5);
    let pool = db.pool().await;
    let (rows, latest): (i64, i64) = sqlx::query_as(
        "SELECT CAST(count(*) AS SIGNED), CAST(max(version) AS SIGNED) FROM oxidex_migrations",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(latest >= 1);
    assert_eq!(rows, latest, "each migration is recorded exactly once");
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
    let first = MysqlStorage::open(&config).await.unwrap();
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

    let second = MysqlStorage::open(&config).await.unwrap();
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
async fn version_table_stays_small() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let storage = MysqlStorage::open(&db.config()).await.unwrap();
    let mut version = storage
        .create(RecordKind::Client, "busy", data("0"))
        .await
        .unwrap();
    let mut seen = vec![version];
    for i in 1..600 {
        version = storage
            .compare_and_swap(RecordKind::Client, "busy", version, data(&i.to_string()))
            .await
            .unwrap();
        seen.push(version);
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "every write drew a new version");
    let pool = db.pool().await;
    let (rows, highest): (i64, i64) = sqlx::query_as(
        "SELECT CAST(count(*) AS SIGNED), CAST(max(id) AS SIGNED) FROM oxidex_record_versions",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(rows <= 300, "pruned to a few hundred rows, found {rows}");
    assert_eq!(
        u64::try_from(highest).unwrap(),
        version.get(),
        "the highest id is kept"
    );
    pool.close().await;
    storage.close().await;
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let config = db.config();
    MysqlStorage::open(&config).await.unwrap().close().await;
    let pool = db.pool().await;
    sqlx::query("INSERT INTO oxidex_migrations (version, description) VALUES (999, 'future')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let err = MysqlStorage::open(&config).await.unwrap_err().to_string();
    assert!(err.contains("999"), "{err}");
    assert!(err.contains("upgrade oxidex"), "{err}");
    assert!(
        err.contains(&db.name),
        "the message names the database: {err}"
    );
    // The refusal released the migration lock: another start is refused at once, not after
    // waiting for the lock.
    let again = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        MysqlStorage::from_pool(db.pool().await),
    )
    .await
    .expect("the migration lock was released");
    assert!(again.unwrap_err().to_string().contains("999"));
}

#[tokio::test]
async fn shares_a_database_with_dex() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let pool = db.pool().await;
    // What Dex's own schema leaves behind: its `migrations` table and record tables.
    for statement in [
        "CREATE TABLE migrations (num INTEGER NOT NULL, at DATETIME(3) NOT NULL)",
        "INSERT INTO migrations (num, at) VALUES (32, NOW())",
        "CREATE TABLE client (id VARCHAR(100) NOT NULL PRIMARY KEY, secret TEXT NOT NULL)",
        "INSERT INTO client (id, secret) VALUES ('dex-client', 'x')",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    let storage = MysqlStorage::from_pool(pool.clone()).await.unwrap();
    storage
        .create(RecordKind::Client, "dex-client", data("oxidex"))
        .await
        .unwrap();
    let dex_rows: i64 = sqlx::query_scalar("SELECT CAST(count(*) AS SIGNED) FROM client")
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
    let a = MysqlStorage::open(&db.config()).await.unwrap();
    let b = MysqlStorage::from_pool(db.pool().await).await.unwrap();
    check_cas_race_across_pools(Arc::new(a.clone()), Arc::new(b.clone())).await;
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn keys_are_exact_byte_strings() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let storage = MysqlStorage::open(&db.config()).await.unwrap();
    check_keys_are_exact(&storage).await;
    storage.close().await;
}

const PASSWORD: &str = "pw-Must-Not-Leak-7f3a";

#[tokio::test]
async fn refused_connection_names_the_address() {
    // Needs no server: nothing listens on port 1.
    let mut config = MysqlConfig::default();
    config.host = "127.0.0.1".into();
    config.port = 1;
    config.user = "oxidex".into();
    config.password = PASSWORD.into();
    config.database = "oxidex".into();
    config.ssl.mode = "false".into();
    let err = MysqlStorage::open(&config).await.unwrap_err();
    assert_connect_error(
        &err,
        &["127.0.0.1:1", "is the server running", "\"oxidex\""],
        PASSWORD,
    );
}

#[tokio::test]
async fn invalid_settings_are_refused_before_connecting() {
    let mut config = MysqlConfig::default();
    config.host = "127.0.0.1".into();
    config.port = 1;
    let err = MysqlStorage::open(&config).await.unwrap_err().to_string();
    assert!(err.contains("`database`"), "{err}");

    config.database = "oxidex".into();
    config.ssl.mode = "verify-full".into();
    let err = MysqlStorage::open(&config).await.unwrap_err().to_string();
    assert!(
        err.contains("ssl.mode") && err.contains("verify-full"),
        "{err}"
    );

    config.ssl.mode = "custom".into();
    let err = MysqlStorage::open(&config).await.unwrap_err().to_string();
    assert!(err.contains("ssl.caFile"), "{err}");

    config.ssl.mode = "true".into();
    config.ssl.key_file = "/client-key.pem".into();
    let err = MysqlStorage::open(&config).await.unwrap_err().to_string();
    assert!(err.contains("ssl.certFile"), "{err}");
}

#[tokio::test]
async fn missing_database_is_named() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let mut config = db.config();
    config.database = unique_name("oxidex_t_missing_");
    // A user with a password (that must not leak) and the right to that database, so the
    // server says it is missing rather than forbidden.
    let user = TempUser::create(&db.admin, &config.database, PASSWORD).await;
    config.user = user.name.clone();
    config.password = PASSWORD.into();
    let err = MysqlStorage::open(&config).await.unwrap_err();
    assert_connect_error(
        &err,
        &["does not exist", &config.database, "CREATE DATABASE"],
        PASSWORD,
    );
}

#[tokio::test]
async fn wrong_password_is_explained() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let user = TempUser::create(&db.admin, &db.name, "the-right-password").await;
    let mut config = db.config();
    config.user = user.name.clone();
    config.password = PASSWORD.into();
    let err = MysqlStorage::open(&config).await.unwrap_err();
    assert_connect_error(
        &err,
        &["authentication failed", &user.name, "`password`"],
        PASSWORD,
    );

    // With the right password the same user gets in.
    config.password = "the-right-password".into();
    MysqlStorage::open(&config).await.unwrap().close().await;
}

#[tokio::test]
async fn default_tls_mode_explains_itself() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    // No `ssl.mode`: Dex's default `true` (TLS, verified). A test server has no certificate a
    // system root signed (or no TLS at all), so this fails, and must say how to fix it.
    let mut config = db.config();
    config.ssl.mode.clear();
    let user = TempUser::create(&db.admin, &db.name, PASSWORD).await;
    config.user = user.name.clone();
    config.password = PASSWORD.into();
    let err = MysqlStorage::open(&config).await.unwrap_err();
    assert_connect_error(&err, &["ssl.mode", "\"true\""], PASSWORD);
    let message = err.to_string();
    assert!(
        message.contains("ssl.mode: \"false\"") || message.contains("ssl.caFile"),
        "{message}"
    );
}

/// A user with all privileges on one test database, dropped afterwards.
struct TempUser {
    admin: MySqlConnectOptions,
    name: String,
}

impl TempUser {
    /// A user allowed everything on `database` (which need not exist).
    async fn create(admin: &MySqlConnectOptions, database: &str, password: &str) -> Self {
        let name = unique_name("oxt_");
        admin_statement(
            admin,
            format!("CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"),
        )
        .await;
        admin_statement(
            admin,
            format!("GRANT ALL PRIVILEGES ON `{database}`.* TO '{name}'@'%'"),
        )
        .await;
        Self {
            admin: admin.clone(),
            name,
        }
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        clean_up(
            &self.admin,
            format!("DROP USER IF EXISTS '{}'@'%'", self.name),
        );
    }
}
