//! # oxidex-storage: storage backends for oxidex
//!
//! Implementations of [`oxidex_core::storage::Storage`]:
//!
//! | backend | type | feature | for |
//! |---|---|---|---|
//! | [`MemoryStorage`] | `memory` | always | tests, development, one process that may forget |
//! | [`SqliteStorage`] | `sqlite3` | `sqlite` (default) | one machine, or several processes on one file |
//! | `PostgresStorage` | `postgres` | `postgres` | replicas sharing a PostgreSQL database |
//! | `MysqlStorage` | `mysql` | `mysql` | replicas sharing a MySQL 5.7+ / MariaDB 10.4+ database |
//! | `EtcdStorage` | `etcd` | `etcd` (needs `protoc` to build) | replicas sharing an etcd v3 cluster |
//!
//! The configuration types of every backend ([`PostgresConfig`], [`MysqlConfig`],
//! [`EtcdConfig`]) are always compiled, so a configuration loader can read them whichever
//! backends a build includes.
//!
//! [`StaticOverlay`] lays the clients, passwords and connectors of a configuration file over any
//! backend, read-only (Dex `storage/static.go`).
//!
//! The [`conformance`] kit (feature `conformance`) proves that a backend keeps the storage
//! contract; every backend here passes it, and third-party backends can run it in a few lines.
//!
//! ```
//! use std::sync::Arc;
//! use oxidex_core::model::Client;
//! use oxidex_core::storage::Store;
//! use oxidex_storage::MemoryStorage;
//!
//! # tokio_test_block_on(async {
//! let store = Store::new(Arc::new(MemoryStorage::new()));
//! store.create(&Client { id: "example-app".into(), ..Client::default() }).await?;
//! let client = store.get::<Client>("example-app").await?;
//! assert_eq!(client.value.id, "example-app");
//! # Ok::<(), oxidex_core::Error>(())
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

#[cfg(feature = "etcd")]
mod etcd;
mod memory;
#[cfg(feature = "mysql")]
mod mysql;
mod network_config;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod sql_common;
#[cfg(feature = "sqlite")]
mod sqlite;
mod static_overlay;

#[cfg(feature = "conformance")]
pub mod conformance;

#[cfg(feature = "etcd")]
pub use etcd::EtcdStorage;
pub use memory::MemoryStorage;
#[cfg(feature = "mysql")]
pub use mysql::MysqlStorage;
pub use network_config::{
    EtcdConfig, EtcdSslConfig, MysqlConfig, NetworkDbConfig, PostgresConfig, SslConfig,
};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStorage;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteConfig, SqliteStorage};
pub use static_overlay::StaticOverlay;
