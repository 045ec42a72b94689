use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Record, RecordData, RecordKind, Storage, StoredRecord, Version, Versioned};
use crate::model::SigningKeys;
use crate::{Error, Result};

/// How often [`Store::update`] retries a lost compare-and-swap before answering
/// [`Error::Conflict`]. Each retry means another writer succeeded, so progress is guaranteed;
/// the bound only stops a pathological livelock.
pub const MAX_UPDATE_ATTEMPTS: usize = 1000;

/// Typed access to a [`Storage`] backend: what the protocol engine, the admin API and
/// connectors' hosts use.
///
/// Cheap to clone. Records are encoded as JSON with Dex's field names.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Arc<dyn Storage>,
}

/// How many expired records one garbage collection removed (Dex `GCResult`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcResult {
    /// Authorization requests removed.
    pub auth_requests: u64,
    /// Authorization codes removed.
    pub auth_codes: u64,
    /// Device requests removed.
    pub device_requests: u64,
    /// Device tokens removed.
    pub device_tokens: u64,
    /// Entries for revoked access tokens that have expired by now.
    pub revoked_tokens: u64,
}

impl GcResult {
    /// Total records removed.
    pub fn total(&self) -> u64 {
        self.auth_requests
            + self.auth_codes
            + self.device_requests
            + self.device_tokens
            + self.revoked_tokens
    }
}

impl Store {
    /// Typed access to `backend`.
    pub fn new(backend: Arc<dyn Storage>) -> Self {
        Self { backend }
    }

    /// The backend underneath.
    pub fn backend(&self) -> &Arc<dyn Storage> {
        &self.backend
    }

    /// Adds a record; [`Error::AlreadyExists`] if its key is taken.
    pub async fn create<R: Record>(&self, record: &R) -> Result<Version> {
        let key = record.key();
        super::validate_key(R::KIND, &key)?;
        let data = encode(record)?;
        self.backend.create(R::KIND, &key, data).await
    }

    /// Reads a record with its version; [`Error::NotFound`] if absent.
    pub async fn get<R: Record>(&self, key: &str) -> Result<Versioned<R>> {
        let key = R::normalize_key(key);
        super::validate_key(R::KIND, &key)?;
        let stored = self.backend.get(R::KIND, &key).await?;
        decode(stored)
    }

    /// Every record of a family, ordered by key.
    pub async fn list<R: Record>(&self) -> Result<Vec<R>> {
        let mut stored = self.backend.list(R::KIND).await?;
        stored.sort_by(|a, b| a.key.cmp(&b.key));
        stored
            .into_iter()
            .map(|s| decode::<R>(s).map(|v| v.value))
            .collect()
    }

    /// Removes a record atomically; [`Error::NotFound`] if absent. Of concurrent deletes of the
    /// same record exactly one succeeds, which is what makes codes single-use.
    pub async fn delete<R: Record>(&self, key: &str) -> Result<()> {
        let key = R::normalize_key(key);
        super::validate_key(R::KIND, &key)?;
        self.backend.delete(R::KIND, &key).await
    }

    /// Replaces the record read at `current` with `new` (same key). [`Error::Conflict`] if
    /// someone wrote in between; nothing is written then.
    ///
    /// Use this when the new value needs async work between read and write (e.g. asking an
    /// upstream to refresh); use [`Store::update`] otherwise.
    pub async fn swap<R: Record>(&self, current: Version, new: &R) -> Result<Version> {
        let key = new.key();
        super::validate_key(R::KIND, &key)?;
        let data = encode(new)?;
        self.backend
            .compare_and_swap(R::KIND, &key, current, data)
            .await
    }

    /// Read-modify-write without lost updates: reads the record, applies `change`, and writes
    /// with compare-and-swap, rerunning `change` on the fresh value whenever another writer got
    /// there first (Dex's `Update*` contract: the updater may run more than once). An error from
    /// `change` aborts without writing. Returns the value written.
    pub async fn update<R, F>(&self, key: &str, mut change: F) -> Result<R>
    where
        R: Record,
        F: FnMut(R) -> Result<R> + Send,
    {
        let key = R::normalize_key(key).into_owned();
        super::validate_key(R::KIND, &key)?;
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let current = decode::<R>(self.backend.get(R::KIND, &key).await?)?;
            let new = change(current.value)?;
            ensure_same_key::<R>(&key, &new)?;
            match self
                .backend
                .compare_and_swap(R::KIND, &key, current.version, encode(&new)?)
                .await
            {
                Ok(_) => return Ok(new),
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict { kind: R::KIND, key })
    }

    /// Like [`Store::update`], but creates the record when absent: `change` receives `None`
    /// then. Creation races are retried like compare-and-swap races.
    pub async fn upsert<R, F>(&self, key: &str, mut change: F) -> Result<R>
    where
        R: Record,
        F: FnMut(Option<R>) -> Result<R> + Send,
    {
        let key_owned = R::normalize_key(key).into_owned();
        self.upsert_if::<R, _>(key, |current| change(current).map(Some))
            .await?
            .ok_or(Error::NotFound {
                kind: R::KIND,
                key: key_owned,
            })
    }

    /// The general read-modify-write: `change` sees the current record (or `None`) and returns
    /// the record to write, or `None` to leave things as they are without writing. Reruns on a
    /// lost race. Returns the record as stored afterwards.
    pub async fn upsert_if<R, F>(&self, key: &str, mut change: F) -> Result<Option<R>>
    where
        R: Record,
        F: FnMut(Option<R>) -> Result<Option<R>> + Send,
    {
        let key = R::normalize_key(key).into_owned();
        super::validate_key(R::KIND, &key)?;
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let stored = match self.backend.get(R::KIND, &key).await {
                Ok(stored) => Some(stored),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e),
            };
            let (version, value) = match &stored {
                Some(s) => (Some(s.version), Some(decode::<R>(s.clone())?.value)),
                None => (None, None),
            };
            let Some(new) = change(value)? else {
                // Left as it was: hand back what is stored, decoded afresh (records need not
                // be `Clone`).
                return stored.map(|s| decode::<R>(s).map(|v| v.value)).transpose();
            };
            ensure_same_key::<R>(&key, &new)?;
            let data = encode(&new)?;
            let written = match version {
                Some(version) => {
                    self.backend
                        .compare_and_swap(R::KIND, &key, version, data)
                        .await
                }
                None => self.backend.create(R::KIND, &key, data).await,
            };
            match written {
                Ok(_) => return Ok(Some(new)),
                Err(e) if e.is_conflict() || e.is_not_found() => continue,
                Err(e) if e.kind() == crate::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict { kind: R::KIND, key })
    }

    /// The issuer's key set; [`Error::NotFound`] before the first rotation.
    pub async fn get_keys(&self) -> Result<Versioned<SigningKeys>> {
        self.get::<SigningKeys>(SigningKeys::KEY).await
    }

    /// Changes the key set by compare-and-swap, creating it on first use (`change` then
    /// receives [`SigningKeys::default`]). Replicas racing to rotate see exactly one win; the
    /// others' `change` reruns on the winner's keys and can decide not to rotate.
    pub async fn update_keys<F>(&self, mut change: F) -> Result<SigningKeys>
    where
        F: FnMut(SigningKeys) -> Result<SigningKeys> + Send,
    {
        self.upsert::<SigningKeys, _>(SigningKeys::KEY, |current| {
            change(current.unwrap_or_default())
        })
        .await
    }

    /// Removes expired authorization requests, codes, device requests and device tokens
    /// (Dex `GarbageCollect`). Refresh tokens, sessions, clients and keys are never collected.
    pub async fn garbage_collect(&self, now: DateTime<Utc>) -> Result<GcResult> {
        let mut result = GcResult::default();
        for kind in RecordKind::COLLECTED {
            let removed = self.backend.delete_expired(kind, now).await?;
            match kind {
                RecordKind::AuthRequest => result.auth_requests = removed,
                RecordKind::AuthCode => result.auth_codes = removed,
                RecordKind::DeviceRequest => result.device_requests = removed,
                RecordKind::DeviceToken => result.device_tokens = removed,
                RecordKind::RevokedToken => result.revoked_tokens = removed,
                _ => {}
            }
        }
        Ok(result)
    }
}

fn ensure_same_key<R: Record>(key: &str, new: &R) -> Result<()> {
    if new.key() == key {
        Ok(())
    } else {
        Err(Error::InvalidKey {
            kind: R::KIND,
            reason: "an update must not change the record's key",
        })
    }
}

fn encode<R: Record>(record: &R) -> Result<RecordData> {
    let value = serde_json::to_vec(record).map_err(|e| Error::Corrupt {
        kind: R::KIND,
        key: record.key(),
        message: format!("cannot encode: {e}"),
    })?;
    Ok(RecordData {
        value,
        expiry: record.expiry(),
    })
}

fn decode<R: Record>(stored: StoredRecord) -> Result<Versioned<R>> {
    let value = serde_json::from_slice(&stored.value).map_err(|e| Error::Corrupt {
        kind: R::KIND,
        key: stored.key.clone(),
        message: e.to_string(),
    })?;
    Ok(Versioned {
        version: stored.version,
        value,
    })
}
