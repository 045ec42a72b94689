use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::RecordKind;
use crate::codec::Subject;
use crate::model::{
    AuthCode, AuthRequest, Client, ConnectorRecord, DeviceRequest, DeviceToken, OfflineSessions,
    Password, RefreshToken, RevokedToken, SigningKeys,
};

/// A model type that [`Store`](super::Store) can keep: its kind, its key, its expiry.
pub trait Record: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The family this type belongs to.
    const KIND: RecordKind;

    /// The storage key of this record (already normalised).
    fn key(&self) -> String;

    /// When garbage collection may remove it; `None` for records that live until deleted.
    fn expiry(&self) -> Option<DateTime<Utc>> {
        None
    }

    /// Turns a key given by a caller into the stored form (e.g. lower-cases e-mails).
    fn normalize_key(key: &str) -> Cow<'_, str> {
        Cow::Borrowed(key)
    }
}

impl Record for Client {
    const KIND: RecordKind = RecordKind::Client;
    fn key(&self) -> String {
        self.id.clone()
    }
}

impl Record for AuthRequest {
    const KIND: RecordKind = RecordKind::AuthRequest;
    fn key(&self) -> String {
        self.id.clone()
    }
    fn expiry(&self) -> Option<DateTime<Utc>> {
        Some(self.expiry)
    }
}

impl Record for AuthCode {
    const KIND: RecordKind = RecordKind::AuthCode;
    fn key(&self) -> String {
        self.code_hash.to_key()
    }
    fn expiry(&self) -> Option<DateTime<Utc>> {
        Some(self.expiry)
    }
}

impl Record for RefreshToken {
    const KIND: RecordKind = RecordKind::RefreshToken;
    fn key(&self) -> String {
        self.id.clone()
    }
}

impl Record for Password {
    const KIND: RecordKind = RecordKind::Password;
    fn key(&self) -> String {
        Password::key_for(&self.email)
    }
    fn normalize_key(key: &str) -> Cow<'_, str> {
        if key.chars().any(char::is_uppercase) {
            Cow::Owned(Password::key_for(key))
        } else {
            Cow::Borrowed(key)
        }
    }
}

impl OfflineSessions {
    /// The storage key for a user's sessions at a connector: the same encoding as the `sub`
    /// claim, which is also what Dex's admin API takes as `user_id`.
    pub fn key_for(user_id: &str, conn_id: &str) -> String {
        Subject {
            user_id: user_id.to_owned(),
            connector_id: conn_id.to_owned(),
        }
        .encode()
    }
}

impl Record for OfflineSessions {
    const KIND: RecordKind = RecordKind::OfflineSessions;
    fn key(&self) -> String {
        OfflineSessions::key_for(&self.user_id, &self.conn_id)
    }
}

impl Record for ConnectorRecord {
    const KIND: RecordKind = RecordKind::Connector;
    fn key(&self) -> String {
        self.id.clone()
    }
}

impl SigningKeys {
    /// The one key the key set is stored under (Dex's etcd key name).
    pub const KEY: &'static str = "openid-connect-keys";
}

impl Record for SigningKeys {
    const KIND: RecordKind = RecordKind::Keys;
    fn key(&self) -> String {
        Self::KEY.to_owned()
    }
}

impl Record for DeviceRequest {
    const KIND: RecordKind = RecordKind::DeviceRequest;
    fn key(&self) -> String {
        self.user_code.clone()
    }
    fn expiry(&self) -> Option<DateTime<Utc>> {
        Some(self.expiry)
    }
}

impl Record for RevokedToken {
    const KIND: RecordKind = RecordKind::RevokedToken;
    fn key(&self) -> String {
        self.id.clone()
    }
    fn expiry(&self) -> Option<DateTime<Utc>> {
        Some(self.expiry)
    }
}

impl Record for DeviceToken {
    const KIND: RecordKind = RecordKind::DeviceToken;
    fn key(&self) -> String {
        self.device_code_hash.to_key()
    }
    fn expiry(&self) -> Option<DateTime<Utc>> {
        Some(self.expiry)
    }
}
