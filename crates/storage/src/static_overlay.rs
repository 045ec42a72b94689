//! Clients, passwords and connectors from the configuration file, laid over any backend
//! (Dex `storage/static.go`).
//!
//! Static records win on reads and in lists; creating, changing or deleting one fails with
//! [`Error::ReadOnly`]. Everything else passes through to the backend untouched, so an
//! operator can mix static clients from the config with clients created through the admin API.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oxidex_core::model::{Client, ConnectorRecord, Password};
use oxidex_core::storage::{
    Record, RecordData, RecordKind, Storage, StoredRecord, Version, validate_key,
};
use oxidex_core::{Error, Result};

/// A backend with read-only records from configuration on top.
#[derive(Debug)]
pub struct StaticOverlay {
    inner: Arc<dyn Storage>,
    records: BTreeMap<(RecordKind, String), Vec<u8>>,
}

impl StaticOverlay {
    /// `inner` with no static records yet.
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        Self {
            inner,
            records: BTreeMap::new(),
        }
    }

    /// Adds static clients (`staticClients`).
    pub fn with_clients(self, clients: impl IntoIterator<Item = Client>) -> Result<Self> {
        self.with_records(clients)
    }

    /// Adds static passwords (`staticPasswords`); e-mails match case-insensitively.
    pub fn with_passwords(self, passwords: impl IntoIterator<Item = Password>) -> Result<Self> {
        self.with_records(passwords)
    }

    /// Adds static connectors (`connectors`, and `local` when `enablePasswordDB` is set).
    pub fn with_connectors(
        self,
        connectors: impl IntoIterator<Item = ConnectorRecord>,
    ) -> Result<Self> {
        self.with_records(connectors)
    }

    /// Adds records of any family. Two static records with the same key are a configuration
    /// error ([`Error::AlreadyExists`] naming the key).
    pub fn with_records<R: Record>(mut self, records: impl IntoIterator<Item = R>) -> Result<Self> {
        for record in records {
            let key = record.key();
            validate_key(R::KIND, &key)?;
            let value = serde_json::to_vec(&record).map_err(|e| Error::Corrupt {
                kind: R::KIND,
                key: key.clone(),
                message: format!("cannot encode: {e}"),
            })?;
            if self.records.insert((R::KIND, key.clone()), value).is_some() {
                return Err(Error::AlreadyExists { kind: R::KIND, key });
            }
        }
        Ok(self)
    }

    fn is_static(&self, kind: RecordKind, key: &str) -> bool {
        self.records.contains_key(&(kind, key.to_owned()))
    }

    fn read_only(kind: RecordKind, key: &str) -> Error {
        Error::ReadOnly {
            kind,
            key: key.to_owned(),
        }
    }
}

#[async_trait]
impl Storage for StaticOverlay {
    async fn create(&self, kind: RecordKind, key: &str, data: RecordData) -> Result<Version> {
        if self.is_static(kind, key) {
            return Err(Self::read_only(kind, key));
        }
        self.inner.create(kind, key, data).await
    }

    async fn get(&self, kind: RecordKind, key: &str) -> Result<StoredRecord> {
        match self.records.get(&(kind, key.to_owned())) {
            Some(value) => Ok(StoredRecord {
                key: key.to_owned(),
                version: Version::STATIC,
                value: value.clone(),
            }),
            None => self.inner.get(kind, key).await,
        }
    }

    async fn list(&self, kind: RecordKind) -> Result<Vec<StoredRecord>> {
        let mut merged: BTreeMap<String, StoredRecord> = self
            .inner
            .list(kind)
            .await?
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect();
        for ((k, key), value) in &self.records {
            if *k == kind {
                merged.insert(
                    key.clone(),
                    StoredRecord {
                        key: key.clone(),
                        version: Version::STATIC,
                        value: value.clone(),
                    },
                );
            }
        }
        Ok(merged.into_values().collect())
    }

    async fn compare_and_swap(
        &self,
        kind: RecordKind,
        key: &str,
        expected: Version,
        data: RecordData,
    ) -> Result<Version> {
        if self.is_static(kind, key) {
            return Err(Self::read_only(kind, key));
        }
        self.inner.compare_and_swap(kind, key, expected, data).await
    }

    async fn delete(&self, kind: RecordKind, key: &str) -> Result<()> {
        if self.is_static(kind, key) {
            return Err(Self::read_only(kind, key));
        }
        self.inner.delete(kind, key).await
    }

    async fn delete_expired(&self, kind: RecordKind, now: DateTime<Utc>) -> Result<u64> {
        // Static records have no expiry.
        self.inner.delete_expired(kind, now).await
    }
}
