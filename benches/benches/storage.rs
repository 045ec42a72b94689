//! Storage operations per backend, through the typed `Store` (JSON encoding included):
//! the costs every authorization request, code redemption and refresh pays.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use divan::Bencher;
use oxidex_core::model::{Claims, RefreshToken};
use oxidex_core::secret::TokenHash;
use oxidex_core::storage::{Storage, Store};
use oxidex_storage::{MemoryStorage, SqliteStorage};

fn main() {
    divan::main();
}

#[derive(Debug, Clone, Copy)]
enum Backend {
    Memory,
    Sqlite,
}

const BACKENDS: [Backend; 2] = [Backend::Memory, Backend::Sqlite];

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
        },
        scopes: vec!["openid".into(), "email".into(), "offline_access".into()],
        nonce: "n-0S6_WzA2Mj".into(),
    }
}

#[divan::bench(args = BACKENDS)]
fn create_refresh_token(bencher: Bencher, backend: Backend) {
    let f = fixture(backend);
    let next = AtomicU64::new(0);
    bencher.bench_local(|| {
        let id = format!("rt-{}", next.fetch_add(1, Ordering::Relaxed));
        f.runtime.block_on(f.store.create(&token(id))).unwrap();
    });
}

#[divan::bench(args = BACKENDS)]
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

#[divan::bench(args = BACKENDS)]
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

#[divan::bench(args = BACKENDS)]
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
