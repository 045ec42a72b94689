//! The records an issuer keeps, with the fields Dex keeps (`reference/dex.md` §5.2).
//!
//! Serialized with serde using Dex's JSON field names where Dex has them, so the same structs
//! read Dex configuration (`staticClients`, `staticPasswords`, `connectors`). Where a bearer
//! value would be stored, these types hold a [`TokenHash`](crate::secret::TokenHash) instead:
//! the type system makes it impossible to persist a usable code or refresh secret.
//!
//! Left out for now: Dex's unreleased session and MFA records (UserIdentity, AuthSession) and
//! the client fields that only they use.

mod auth;
mod client;
mod connector_record;
mod device;
mod identity;
mod keys;
mod password;
mod refresh;
mod revoked;

pub use auth::{AuthCode, AuthRequest, Pkce, PkceMethod};
pub use client::{Client, ClientCredentialsClaims};
pub use connector_record::ConnectorRecord;
pub use device::{DeviceRequest, DeviceToken, DeviceTokenStatus};
pub use identity::{Claims, Identity, Scopes, scope};
pub use keys::{Jwk, SigningKeys, VerificationKey};
pub use password::Password;
pub use refresh::{OfflineSessions, RefreshToken, RefreshTokenRef};
pub use revoked::RevokedToken;

/// Opaque connector state as base64 in JSON (Dex's `[]byte` fields marshal the same way).
pub(crate) mod opaque_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => serializer.serialize_some(&STANDARD.encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        text.map(|t| STANDARD.decode(t).map_err(serde::de::Error::custom))
            .transpose()
    }
}
