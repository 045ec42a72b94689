use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Claims, Pkce};
use crate::secret::TokenHash;

/// A pending device authorization (Dex `storage.DeviceRequest`; RFC 8628 §3.1), keyed by the
/// user code the person types.
///
/// Unlike Dex, the client secret is not copied here: the token endpoint authenticates the
/// client itself when the device polls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRequest {
    /// The user code (normalised form), the storage key.
    #[serde(rename = "userCode")]
    pub user_code: String,
    /// Hash of the device code the device polls with.
    #[serde(rename = "deviceCodeHash")]
    pub device_code_hash: TokenHash,
    /// The requesting client.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// When the request lapses (`expiry.deviceRequests`, default 5 minutes).
    pub expiry: DateTime<Utc>,
    /// Hash of the value set in a cookie of the browser that entered the user code: only that
    /// browser can answer for the device at `/device/callback` (a login link sent by someone
    /// else cannot bind a victim's login to their device). Not in Dex.
    #[serde(
        rename = "browserBinding",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub browser_binding: Option<TokenHash>,
}

/// States of a device authorization (RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceTokenStatus {
    /// The user has not finished yet: `authorization_pending`.
    Pending,
    /// The user approved; tokens are minted at the next poll.
    Complete,
    /// The user refused: `access_denied`.
    Denied,
}

/// What a polling device is waiting for (Dex `storage.DeviceToken`), keyed by the hash of the
/// device code.
///
/// Dex stores the finished token response here until the device polls. oxidex stores the
/// granted claims instead and mints the tokens at the poll, so no bearer token is ever at rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceToken {
    /// Hash of the device code; the storage key.
    #[serde(rename = "deviceCodeHash")]
    pub device_code_hash: TokenHash,
    /// The client the device code was issued to: only it may poll (RFC 8628 §3.4).
    #[serde(rename = "clientID", default)]
    pub client_id: String,
    /// Where the authorization stands.
    pub status: DeviceTokenStatus,
    /// The granted claims, once complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Claims>,
    /// The granted scopes, once complete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The connector used, once complete.
    #[serde(
        rename = "connectorID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub connector_id: String,
    /// Opaque connector state, once complete.
    #[serde(
        rename = "connectorData",
        default,
        with = "super::opaque_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    pub connector_data: Option<Vec<u8>>,
    /// When the device code lapses.
    pub expiry: DateTime<Utc>,
    /// The last poll, for `slow_down` (RFC 8628 §3.5).
    #[serde(rename = "lastRequestTime")]
    pub last_request_time: DateTime<Utc>,
    /// The current minimum poll interval, in seconds.
    #[serde(rename = "pollIntervalSeconds")]
    pub poll_interval_seconds: u32,
    /// PKCE challenge from the device authorization request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce: Option<Pkce>,
}
