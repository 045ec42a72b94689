//! An example third-party storage backend for oxidex.
//!
//! [`FlatKeyStorage`] keeps every record in one ordered map under flat string keys
//! (`<kind>/<key>`) with a single store-wide revision counter, the way a key-value store such
//! as etcd lays data out. It shows everything a backend author writes: the six operations of
//! [`Storage`], and one line in `tests/conformance.rs` that runs oxidex's conformance kit.
//!
//! ```
//! use std::sync::Arc;
//! use oxidex_core::model::Client;
//! use oxidex_core::storage::Store;
//! use oxidex_example_custom_storage::FlatKeyStorage;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = Store::new(Arc::new(FlatKeyStorage::default()));
//! store.create(&Client { id: "example-app".into(), ..Client::default() }).await?;
//! assert_eq!(store.list::<Client>().await?.len(), 1);
//! # Ok::<(), oxidex_core::Error>(())
//! # }).unwrap();
//! ```

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oxidex_core::storage::{RecordData, RecordKind, Storage, StoredRecord, Version};
use oxidex_core::{Error, Result};

/// Records under flat `<kind>/<key>` keys with one store-wide revision counter.
#[derive(Debug, Default)]
pub struct FlatKeyStorage {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Increases on every write; a record's version is the revision that last wrote it, so a
    /// version is never reused (the contract's rule for compare-and-swap after re-create).
    revision: u64,
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug)]
struct Entry {
    revision: u64,
    value: Vec<u8>,
    expiry: Option<DateTime<Utc>>,
}

fn prefix(kind: RecordKind) -> String {
    format!("{}/", kind.as_str())
}

fn flat_key(kind: RecordKind, key: &str) -> String {
    format!("{}/{key}", kind.as_str())
}

impl FlatKeyStorage {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every mutation below is one map operation, so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Storage for FlatKeyStorage {
    async fn create(&self, kind: RecordKind, key: &str, data: RecordData) -> Result<Version> {
        let mut inner = self.lock();
        let flat = flat_key(kind, key);
        if inner.entries.contains_key(&flat) {
            return Err(Error::already_exists(kind, key));
        }
        inner.revision += 1;
        let revision = inner.revision;
        inner.entries.insert(
            flat,
            Entry {
                revision,
                value: data.value,
                expiry: data.expiry,
            },
        );
        Ok(Version::new(revision))
    }

    async fn get(&self, kind: RecordKind, key: &str) -> Result<StoredRecord> {
        let inner = self.lock();
        let entry = inner
            .entries
            .get(&flat_key(kind, key))
            .ok_or_else(|| Error::not_found(kind, key))?;
        Ok(StoredRecord {
            key: key.to_owned(),
            version: Version::new(entry.revision),
            value: entry.value.clone(),
        })
    }

    async fn list(&self, kind: RecordKind) -> Result<Vec<StoredRecord>> {
        let inner = self.lock();
        let prefix = prefix(kind);
        Ok(inner
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, e)| StoredRecord {
                key: k[prefix.len()..].to_owned(),
                version: Version::new(e.revision),
                value: e.value.clone(),
            })
            .collect())
    }

    async fn compare_and_swap(
        &self,
        kind: RecordKind,
        key: &str,
        expected: Version,
        data: RecordData,
    ) -> Result<Version> {
        let mut inner = self.lock();
        let next = inner.revision + 1;
        let entry = inner
            .entries
            .get_mut(&flat_key(kind, key))
            .ok_or_else(|| Error::not_found(kind, key))?;
        if Version::new(entry.revision) != expected {
            return Err(Error::conflict(kind, key));
        }
        *entry = Entry {
            revision: next,
            value: data.value,
            expiry: data.expiry,
        };
        inner.revision = next;
        Ok(Version::new(next))
    }

    async fn delete(&self, kind: RecordKind, key: &str) -> Result<()> {
        self.lock()
            .entries
            .remove(&flat_key(kind, key))
            .map(|_| ())
            .ok_or_else(|| Error::not_found(kind, key))
    }

    async fn delete_expired(&self, kind: RecordKind, now: DateTime<Utc>) -> Result<u64> {
        let mut inner = self.lock();
        let prefix = prefix(kind);
        let expired: Vec<String> = inner
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, e)| e.expiry.is_some_and(|t| t < now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &expired {
            inner.entries.remove(k);
        }
        Ok(expired.len() as u64)
    }
}
