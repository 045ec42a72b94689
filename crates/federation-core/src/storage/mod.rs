//! The storage contract.
//!
//! Two layers, so that a backend is small and every backend behaves the same:
//!
//! * [`Storage`] is what a backend implements: six operations on opaque records addressed by
//!   ([`RecordKind`], key), with a [`Version`] per record for compare-and-swap. It is
//!   object-safe (`Arc<dyn Storage>`), async, and knows nothing about the model types.
//! * [`Store`] is what the rest of oxidex uses: typed create/get/list/delete/update for each
//!   record family ([`Record`]), JSON encoding, key normalisation (case-insensitive password
//!   e-mails), update loops that retry a lost compare-and-swap, and garbage collection.
//!
//! Why not one method per family, as Dex's `storage.Storage` has? Because then every backend
//! re-implements fifty methods and their subtle rules (atomic deletes, lost-update freedom,
//! expiry), and each can get them wrong differently. Here the rules live once, in [`Store`], and
//! the conformance kit in `oxidex-storage` proves a backend's six primitives.
//!
//! ## The contract a backend keeps
//!
//! * `create` fails with [`Error::AlreadyExists`] if the key exists, and never overwrites.
//! * `get` and `compare_and_swap` and `delete` fail with [`Error::NotFound`] if it does not.
//! * `compare_and_swap` writes only if the stored version still equals `expected`, and then
//!   returns a new version different from every version that key had before; otherwise it
//!   fails with [`Error::Conflict`] and writes nothing. Two writers that read the same version
//!   can therefore never both succeed.
//! * `delete` is atomic: of concurrent deletes of one key exactly one succeeds. (This is what
//!   makes an authorization code single-use.)
//! * `delete_expired` removes records whose `expiry` is strictly before `now` and returns how
//!   many it removed. Records without expiry are never collected.
//! * Expiry is an instant: the backend's time zone must not matter.
//!
//! [`Error::AlreadyExists`]: crate::Error::AlreadyExists
//! [`Error::NotFound`]: crate::Error::NotFound
//! [`Error::Conflict`]: crate::Error::Conflict

mod record;
mod store;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use record::Record;
pub use store::{GcResult, MAX_UPDATE_ATTEMPTS, Store};

use crate::{Error, Result};

/// The record families oxidex stores (Dex's storage types, `reference/dex.md` §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RecordKind {
    /// [`crate::model::AuthRequest`], by id.
    AuthRequest,
    /// [`crate::model::AuthCode`], by hash of the code.
    AuthCode,
    /// [`crate::model::Client`], by client id.
    Client,
    /// [`crate::model::RefreshToken`], by id.
    RefreshToken,
    /// [`crate::model::Password`], by lower-cased e-mail.
    Password,
    /// [`crate::model::OfflineSessions`], by encoded (user id, connector id).
    OfflineSessions,
    /// [`crate::model::ConnectorRecord`], by id.
    Connector,
    /// [`crate::model::SigningKeys`], a single record.
    Keys,
    /// [`crate::model::DeviceRequest`], by user code.
    DeviceRequest,
    /// [`crate::model::DeviceToken`], by hash of the device code.
    DeviceToken,
    /// [`crate::model::RevokedToken`], by the revoked access token's `jti`.
    RevokedToken,
}

impl RecordKind {
    /// Every kind, in a fixed order.
    pub const ALL: [RecordKind; 11] = [
        RecordKind::AuthRequest,
        RecordKind::AuthCode,
        RecordKind::Client,
        RecordKind::RefreshToken,
        RecordKind::Password,
        RecordKind::OfflineSessions,
        RecordKind::Connector,
        RecordKind::Keys,
        RecordKind::DeviceRequest,
        RecordKind::DeviceToken,
        RecordKind::RevokedToken,
    ];

    /// The kinds garbage collection removes once expired (Dex `GarbageCollect`, plus revoked
    /// access tokens).
    pub const COLLECTED: [RecordKind; 5] = [
        RecordKind::AuthRequest,
        RecordKind::AuthCode,
        RecordKind::DeviceRequest,
        RecordKind::DeviceToken,
        RecordKind::RevokedToken,
    ];

    /// A stable identifier, for table rows, key prefixes and logs (Dex's table names).
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordKind::AuthRequest => "auth_request",
            RecordKind::AuthCode => "auth_code",
            RecordKind::Client => "client",
            RecordKind::RefreshToken => "refresh_token",
            RecordKind::Password => "password",
            RecordKind::OfflineSessions => "offline_session",
            RecordKind::Connector => "connector",
            RecordKind::Keys => "keys",
            RecordKind::DeviceRequest => "device_request",
            RecordKind::DeviceToken => "device_token",
            RecordKind::RevokedToken => "revoked_token",
        }
    }

    /// The kind with that [`as_str`](RecordKind::as_str) identifier.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordKind::AuthRequest => "auth request",
            RecordKind::AuthCode => "auth code",
            RecordKind::Client => "client",
            RecordKind::RefreshToken => "refresh token",
            RecordKind::Password => "password",
            RecordKind::OfflineSessions => "offline sessions",
            RecordKind::Connector => "connector",
            RecordKind::Keys => "signing keys",
            RecordKind::DeviceRequest => "device request",
            RecordKind::DeviceToken => "device token",
            RecordKind::RevokedToken => "revoked access token",
        })
    }
}

/// A record's version, for compare-and-swap. Backends choose the numbers (a row counter, an
/// etcd mod revision); callers only pass them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(u64);

impl Version {
    /// The version of records that come from configuration and never change.
    pub const STATIC: Version = Version(0);

    /// Wraps a backend's version number.
    pub const fn new(n: u64) -> Self {
        Self(n)
    }

    /// The backend's version number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// A value together with the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The version to pass to a compare-and-swap.
    pub version: Version,
    /// The value.
    pub value: T,
}

/// What a backend is asked to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordData {
    /// The encoded record; opaque to the backend.
    pub value: Vec<u8>,
    /// When the record may be garbage collected, if ever.
    pub expiry: Option<DateTime<Utc>>,
}

/// What a backend returns from reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The record's key.
    pub key: String,
    /// Its current version.
    pub version: Version,
    /// The encoded record, exactly as written.
    pub value: Vec<u8>,
}

/// Longest key a backend must accept, in bytes.
pub const MAX_KEY_LEN: usize = 512;

/// Checks a key before it reaches a backend: 1 to [`MAX_KEY_LEN`] bytes, no control
/// characters. Keys come from clients (ids, user codes, e-mail addresses), so this runs before
/// any storage call (`reference/security.md` DEX-09, OP-14).
pub fn validate_key(kind: RecordKind, key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey {
            kind,
            reason: "empty",
        });
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::InvalidKey {
            kind,
            reason: "longer than 512 bytes",
        });
    }
    if key.chars().any(char::is_control) {
        return Err(Error::InvalidKey {
            kind,
            reason: "contains control characters",
        });
    }
    Ok(())
}

/// A storage backend: opaque versioned records with compare-and-swap.
///
/// See the [module documentation](self) for the contract, and run `oxidex-storage`'s
/// conformance kit to prove an implementation keeps it. Keys given to a backend have passed
/// [`validate_key`]; backends must still treat them as untrusted data (bind them as
/// parameters, never splice them into paths or queries).
#[async_trait]
pub trait Storage: Send + Sync + fmt::Debug {
    /// Adds a record; [`Error::AlreadyExists`] if the key is taken.
    async fn create(&self, kind: RecordKind, key: &str, data: RecordData) -> Result<Version>;

    /// Reads a record; [`Error::NotFound`] if absent.
    async fn get(&self, kind: RecordKind, key: &str) -> Result<StoredRecord>;

    /// Every record of a kind, in no particular order.
    async fn list(&self, kind: RecordKind) -> Result<Vec<StoredRecord>>;

    /// Replaces a record if its version is still `expected`; returns the new version.
    /// [`Error::Conflict`] if it changed, [`Error::NotFound`] if it is gone.
    async fn compare_and_swap(
        &self,
        kind: RecordKind,
        key: &str,
        expected: Version,
        data: RecordData,
    ) -> Result<Version>;

    /// Removes a record atomically; [`Error::NotFound`] if absent.
    async fn delete(&self, kind: RecordKind, key: &str) -> Result<()>;

    /// Removes records of `kind` whose expiry is before `now`; returns how many.
    async fn delete_expired(&self, kind: RecordKind, now: DateTime<Utc>) -> Result<u64>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for kind in RecordKind::ALL {
            assert_eq!(RecordKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(RecordKind::from_name("nope"), None);
    }

    #[test]
    fn keys_are_validated() {
        assert!(validate_key(RecordKind::Client, "example-app").is_ok());
        assert!(validate_key(RecordKind::Password, "Émile+tag@example.com").is_ok());
        for bad in ["", "a\0b", "line\nbreak", &"x".repeat(MAX_KEY_LEN + 1)] {
            let err = validate_key(RecordKind::Client, bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Invalid);
        }
    }
}
