//! One integration-test binary for the storage crate: the conformance kit against every
//! backend here, and each backend's own behaviour.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot set up must fail loudly"
)]
mod memory {
    use oxidex_storage::MemoryStorage;
    oxidex_storage::storage_conformance_tests!(|| async { MemoryStorage::new() });
}

mod sqlite {
    use oxidex_storage::SqliteStorage;
    use oxidex_storage::conformance::Fixture;

    async fn fresh() -> Fixture {
        let dir = tempfile::tempdir().expect("temporary directory");
        let storage = SqliteStorage::open(dir.path().join("oxidex.db"))
            .await
            .expect("open SQLite");
        Fixture::with_guard(storage, dir)
    }

    oxidex_storage::storage_conformance_tests!(fresh);
}

mod sqlite_in_memory {
    use oxidex_storage::SqliteStorage;
    oxidex_storage::storage_conformance_tests!(|| async {
        SqliteStorage::open_in_memory().await.expect("open")
    });
}

mod static_overlay_conformance {
    use std::sync::Arc;

    use oxidex_storage::{MemoryStorage, StaticOverlay};

    // Records that are not static pass straight through: the overlay keeps the contract.
    oxidex_storage::storage_conformance_tests!(|| async {
        StaticOverlay::new(Arc::new(MemoryStorage::new()))
    });
}

#[cfg(feature = "etcd")]
mod etcd;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
mod services;
mod sqlite_files;
mod static_overlay;
