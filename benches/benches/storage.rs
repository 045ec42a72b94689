//! Storage operations per backend, through the typed `Store` (JSON encoding included):
//! the costs every authorization request, code redemption and refresh pays.
//!
//! Memory and SQLite always run. PostgreSQL, MySQL and etcd run when the servers the storage
//! tests use are named: `OXIDEX_TEST_POSTGRES_URL`, `OXIDEX_TEST_MYSQL_URL`,
//! `OXIDEX_TEST_ETCD_ENDPOINTS` (as `.ci/run` sets them). Each fixture starts from an empty
//! table (SQL: the URL's database, refresh tokens deleted first; etcd: a fresh namespace).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use divan::Bencher;
use oxidex_core::model::{Claims, RefreshToken};
use oxidex_core::secret::TokenHash;
use oxidex_core::storage::{Storage, Store};
use oxidex_storage::{
    EtcdConfig, EtcdStorage, MemoryStorage, MysqlStorage, NetworkDbConfig, PostgresStorage,
    SqliteStorage,
};

fn main() {
    divan::main();
}

#[derive(Debug, Clone, Copy)]
enum Backend {
    Memory,
    Sqlite,
    Postgres,
    Mysql,
    Etcd,
}

/// The backends this run can reach.
fn backends() -> Vec<Backend> {
    let set = |var: &str| std::env::var(var).is_ok_and(|v| !v.is_empty());
    let mut all = vec![Backend::Memory, Backend::Sqlite];
    if set("OXIDEX_TEST_POSTGRES_URL") {
        all.push(Backend::Postgres);
    }
    if set("OXIDEX_TEST_MYSQL_URL") {
        all.push(Backend::Mysql);
    }
    if set("OXIDEX_TEST_ETCD_ENDPOINTS") {
        all.push(Backend::Etcd);
    }
    all
}

/// Dex's `NetworkDB` settings from a `postgres://` or `mysql://` URL.
fn network_db(var: &str) -> NetworkDbConfig {
    let url = std::env::var(var).unwrap();
    let rest = url.split_once("://").unwrap().1;
    let (credentials, rest) = rest.rsplit_once('@').unwrap_or(("", rest));
    let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    let (host, database) = rest.split_once('/').unwrap_or((rest, ""));
    serde_json::from_value(serde_json::json!({
        "host": host,
        "user": user,
        "password": password,
        "database": database.split('?').next().unwrap_or_default(),
        "ssl": {"mode": if var.contains("POSTGRES") { "disable" } else { "false" }},
    }))
    .unwrap()
}

async fn empty(storage: Arc<dyn Storage>) -> Arc<dyn Storage> {
    let store = Store::new(storage.clone());
    for t in store.list::<RefreshToken>().await.unwrap() {
        let _ = store.delete::<RefreshToken>(&t.id).await;
    }
    storage
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    store: Store,
    _dir: tempfile::TempDir,
}

fn fixture(backend: Backend) -> Fixture {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = match backend {
        Backend::Memory => Arc::new(MemoryStorage::new()),
        Backend::Sqlite => Arc::new(
            runtime
                .block_on(SqliteStorage::open(dir.path().join("bench.db")))
                .unwrap(),
        ),
        Backend::Postgres => runtime.block_on(async {
            let config = network_db("OXIDEX_TEST_POSTGRES_URL");
            empty(Arc::new(PostgresStorage::open(&config).await.unwrap())).await
        }),
        Backend::Mysql => runtime.block_on(async {
            let config = network_db("OXIDEX_TEST_MYSQL_URL");
            empty(Arc::new(MysqlStorage::open(&config).await.unwrap())).await
        }),
        Backend::Etcd => runtime.block_on(async {
            let endpoints = std::env::var("OXIDEX_TEST_ETCD_ENDPOINTS").unwrap();
            let namespace = format!(
                "oxidex-bench-{}/",
                oxidex_core::ids::new_id().unwrap().to_lowercase()
            );
            let config: EtcdConfig = serde_json::from_value(serde_json::json!({
                "endpoints": endpoints.split(',').collect::<Vec<_>>(),
                "namespace": namespace,
            }))
            .unwrap();
            Arc::new(EtcdStorage::open(&config).await.unwrap()) as Arc<dyn Storage>
        }),
    };
    Fixture {
        runtime,
        store: Store::new(storage),
        _dir: dir,
    }
}

fn token(id: String) -> RefreshToken {
    let now = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
    RefreshToken {
        id,
        token_hash: TokenHash::of("secret"),
        obsolete_token_hash: None,
        successor_sealed: None,
        created_at: now,
        last_used: now,
        client_id: "example-app".into(),
        connector_id: "ldap".into(),
        connector_data: None,
        claims: Claims {
            user_id: "08a8684b-db88-4b73-90a9-3cd1661f5466".into(),
            username: "Jane Doe".into(),
            preferred_username: "jane".into(),
            email: "jane@example.com".into(),
            email_verified: true,
            groups: vec!["admins".into(), "developers".into()],
            auth_time: Some(now),
        },
        scopes: vec!["openid".into(), "email".into(), "offline_access".into()],
        nonce: "n-0S6_WzA2Mj".into(),
        upstream_refresh_until: None,
    }
}

#[divan::bench(args = backends())]
fn create_refresh_token(bencher: Bencher, backend: Backend) {
    let f = fixture(backend);
    let next = AtomicU64::new(0);
    bencher.bench_local(|| {
        let id = format!("rt-{}", next.fetch_add(1, Ordering::Relaxed));
        f.runtime.block_on(f.store.create(&token(id))).unwrap();
    });
}

#[divan::bench(args = backends())]
fn get_refresh_token(bencher: Bencher, backend: Backend) {
    let f = fixture(backend);
    f.runtime
        .block_on(f.store.create(&token("hot".into())))
        .unwrap();
    bencher.bench_local(|| {
        f.runtime
            .block_on(f.store.get::<RefreshToken>("hot"))
            .unwrap()
    });
}

#[divan::bench(args = backends())]
fn rotate_refresh_token(bencher: Bencher, backend: Backend) {
    let f = fixture(backend);
    f.runtime
        .block_on(f.store.create(&token("hot".into())))
        .unwrap();
    bencher.bench_local(|| {
        f.runtime
            .block_on(f.store.update::<RefreshToken, _>("hot", |mut t| {
                t.obsolete_token_hash = Some(t.token_hash);
                t.token_hash = TokenHash::of("next");
                Ok(t)
            }))
            .unwrap()
    });
}

#[divan::bench(args = backends())]
fn create_then_delete(bencher: Bencher, backend: Backend) {
    // An authorization code's whole life: issued, then redeemed (deleted).
    let f = fixture(backend);
    bencher.bench_local(|| {
        f.runtime.block_on(async {
            f.store.create(&token("code".into())).await.unwrap();
            f.store.delete::<RefreshToken>("code").await.unwrap();
        })
    });
}
