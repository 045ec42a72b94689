use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Claims;
use crate::secret::TokenHash;

/// A refresh token (Dex `storage.RefreshToken`; RFC 6749 §6).
///
/// One record is one token *family*: rotation replaces the secret in place, keeping the id, so
/// revoking the family is deleting the record. Only hashes of the current and the previous
/// secret are kept. The token a client holds is [`crate::codec::RefreshTokenValue`]
/// `{ id, secret }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    /// Random id; not secret.
    pub id: String,
    /// Hash of the current secret.
    #[serde(rename = "tokenHash")]
    pub token_hash: TokenHash,
    /// Hash of the secret before the last rotation, honoured within `reuseInterval`.
    #[serde(
        rename = "obsoleteTokenHash",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub obsolete_token_hash: Option<TokenHash>,
    /// The current secret, encrypted under a key derived from the previous secret, so that a
    /// client retrying with the previous secret within `reuseInterval` gets the same current
    /// token back (as Dex does) while the database never holds a usable secret.
    #[serde(
        rename = "successorSealed",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub successor_sealed: Option<String>,
    /// When the family was created (for `absoluteLifetime`).
    #[serde(rename = "createdAt")]
    pub created_at: DateTime<Utc>,
    /// When it was last redeemed (for `validIfNotUsedFor` and `reuseInterval`).
    #[serde(rename = "lastUsed")]
    pub last_used: DateTime<Utc>,
    /// The client it was issued to.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// The connector the user logged in through.
    #[serde(rename = "connectorID")]
    pub connector_id: String,
    /// Legacy per-token connector state (current state lives on [`OfflineSessions`]).
    #[serde(
        rename = "connectorData",
        default,
        with = "super::opaque_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    pub connector_data: Option<Vec<u8>>,
    /// The user's claims as of the last refresh.
    pub claims: Claims,
    /// Scopes granted at login; a refresh may ask for a subset.
    pub scopes: Vec<String>,
    /// The login's `nonce`, echoed in refreshed ID tokens.
    #[serde(default)]
    pub nonce: String,
    /// While set and in the future, one issuer (of possibly several replicas) is asking the
    /// upstream identity provider to refresh this family; others wait for its answer instead
    /// of asking again, so concurrent refreshes reach the upstream at most once. A holder that
    /// dies leaves a lease that simply runs out.
    #[serde(
        rename = "upstreamRefreshUntil",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub upstream_refresh_until: Option<DateTime<Utc>>,
}

/// A reference from an offline session to one refresh-token family (Dex `RefreshTokenRef`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshTokenRef {
    /// The refresh token's id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Its client.
    #[serde(rename = "ClientID")]
    pub client_id: String,
    /// When it was created.
    #[serde(rename = "CreatedAt")]
    pub created_at: DateTime<Utc>,
    /// When it was last used.
    #[serde(rename = "LastUsed")]
    pub last_used: DateTime<Utc>,
}

/// A user's offline sessions at one connector (Dex `storage.OfflineSessions`).
///
/// Keyed by the pair (user id, connector id). Unlike Dex, which keeps one refresh token per
/// client (so a second login logs out the first device, Dex #981), `refresh` is keyed by
/// refresh-token id: each login keeps its own family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineSessions {
    /// Upstream user id.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// Connector id.
    #[serde(rename = "connID")]
    pub conn_id: String,
    /// Live refresh-token families, by refresh-token id.
    #[serde(default)]
    pub refresh: BTreeMap<String, RefreshTokenRef>,
    /// The connector's latest opaque state for this user, used when refreshing.
    #[serde(
        rename = "connectorData",
        default,
        with = "super::opaque_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    pub connector_data: Option<Vec<u8>>,
}

impl OfflineSessions {
    /// No sessions yet for `user_id` at `conn_id`.
    pub fn new(user_id: impl Into<String>, conn_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            conn_id: conn_id.into(),
            refresh: BTreeMap::new(),
            connector_data: None,
        }
    }
}
