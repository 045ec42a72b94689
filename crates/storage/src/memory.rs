//! The in-memory backend: maps behind one mutex (Dex `storage/memory`).
//!
//! For tests, development and single-process deployments that accept losing everything on
//! restart (`storage.type: memory`). Fast and exact: every operation is atomic under the lock.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oxidex_core::storage::{RecordData, RecordKind, Storage, StoredRecord, Version};
use oxidex_core::{Error, Result};

/// Records held in process memory.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Source of versions: increases on every write, so a version is never reused for a key,
    /// even after the key is deleted and created again.
    last_version: u64,
    records: HashMap<RecordKind, BTreeMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    version: Version,
    value: Vec<u8>,
    expiry: Option<DateTime<Utc>>,
}

impl State {
    fn next_version(&mut self) -> Version {
        self.last_version += 1;
        Version::new(self.last_version)
    }
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A panic while holding the lock cannot leave a half-written entry (every mutation is a
        // single map operation), so a poisoned lock is still consistent.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut state)
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn create(&self, kind: RecordKind, key: &str, data: RecordData) -> Result<Version> {
        self.with_state(|state| {
            let version = state.next_version();
            let records = state.records.entry(kind).or_default();
            if records.contains_key(key) {
                return Err(Error::already_exists(kind, key));
            }
            records.insert(
                key.to_owned(),
                Entry {
                    version,
                    value: data.value,
                    expiry: data.expiry,
                },
            );
            Ok(version)
        })
    }

    async fn get(&self, kind: RecordKind, key: &str) -> Result<StoredRecord> {
        self.with_state(|state| {
            state
                .records
                .get(&kind)
                .and_then(|records| records.get(key))
                .map(|entry| StoredRecord {
                    key: key.to_owned(),
                    version: entry.version,
                    value: entry.value.clone(),
                })
                .ok_or_else(|| Error::not_found(kind, key))
        })
    }

    async fn list(&self, kind: RecordKind) -> Result<Vec<StoredRecord>> {
        Ok(self.with_state(|state| {
            state
                .records
                .get(&kind)
                .map(|records| {
                    records
                        .iter()
                        .map(|(key, entry)| StoredRecord {
                            key: key.clone(),
                            version: entry.version,
                            value: entry.value.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        }))
    }

    async fn compare_and_swap(
        &self,
        kind: RecordKind,
        key: &str,
        expected: Version,
        data: RecordData,
    ) -> Result<Version> {
        self.with_state(|state| {
            let version = state.next_version();
            let entry = state
                .records
                .get_mut(&kind)
                .and_then(|records| records.get_mut(key))
                .ok_or_else(|| Error::not_found(kind, key))?;
            if entry.version != expected {
                return Err(Error::conflict(kind, key));
            }
            *entry = Entry {
                version,
                value: data.value,
                expiry: data.expiry,
            };
            Ok(version)
        })
    }

    async fn delete(&self, kind: RecordKind, key: &str) -> Result<()> {
        self.with_state(|state| {
            state
                .records
                .get_mut(&kind)
                .and_then(|records| records.remove(key))
                .map(|_| ())
                .ok_or_else(|| Error::not_found(kind, key))
        })
    }

    async fn delete_expired(&self, kind: RecordKind, now: DateTime<Utc>) -> Result<u64> {
        Ok(self.with_state(|state| {
            let Some(records) = state.records.get_mut(&kind) else {
                return 0;
            };
            let before = records.len();
            records.retain(|_, entry| entry.expiry.is_none_or(|expiry| expiry >= now));
            (before - records.len()) as u64
        }))
    }
}
