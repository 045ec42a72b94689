//! # oxidex-storage: storage backends for oxidex
//!
//! Implementations of [`oxidex_core::storage::Storage`]:
//!
//! | backend | type | feature | for |
//! |---|---|---|---|
//! | [`MemoryStorage`] | `memory` | always | tests, development, one process that may forget |
//! | [`SqliteStorage`] | `sqlite3` | `sqlite` (default) | one machine, or several processes on one file |
//!
//! PostgreSQL, MySQL and etcd backends follow (each behind its own feature).
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

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;
mod static_overlay;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use memory::MemoryStorage;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteConfig, SqliteStorage};
pub use static_overlay::StaticOverlay;
