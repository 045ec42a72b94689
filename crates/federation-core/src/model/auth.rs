use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Claims;
use crate::secret::TokenHash;

/// PKCE code-challenge methods (RFC 7636 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PkceMethod {
    /// `plain`: the challenge is the verifier.
    #[serde(rename = "plain")]
    Plain,
    /// `S256`: the challenge is `BASE64URL(SHA256(verifier))`.
    #[serde(rename = "S256")]
    S256,
}

/// A PKCE code challenge bound to an authorization request (RFC 7636 §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pkce {
    /// `code_challenge`.
    #[serde(rename = "codeChallenge")]
    pub code_challenge: String,
    /// `code_challenge_method`.
    #[serde(rename = "codeChallengeMethod")]
    pub code_challenge_method: PkceMethod,
}

/// An authorization request in progress, from `/auth` to the redirect back to the client
/// (Dex `storage.AuthRequest`; RFC 6749 §4.1.1).
///
/// `Debug` output leaves out the HMAC key and the connector's data.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    /// Random id ([`crate::ids::new_id`]); also the upstream `state`.
    pub id: String,
    /// The requesting client.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// Requested response types (`code`, `token`, `id_token`).
    #[serde(rename = "responseTypes")]
    pub response_types: Vec<String>,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// The validated redirect URI.
    #[serde(rename = "redirectURI")]
    pub redirect_uri: String,
    /// OIDC `nonce`, echoed in ID tokens.
    #[serde(default)]
    pub nonce: String,
    /// OAuth `state`, echoed to the client.
    #[serde(default)]
    pub state: String,
    /// Show the approval page even when approval is normally skipped.
    #[serde(rename = "forceApprovalPrompt", default)]
    pub force_approval_prompt: bool,
    /// When this request stops being usable.
    pub expiry: DateTime<Utc>,
    /// Set once the connector has authenticated the user.
    #[serde(rename = "loggedIn", default)]
    pub logged_in: bool,
    /// The user's claims, once logged in.
    #[serde(default)]
    pub claims: Claims,
    /// The connector used to log in.
    #[serde(rename = "connectorID", default)]
    pub connector_id: String,
    /// Opaque connector state (e.g. an upstream PKCE verifier); never shown to clients.
    #[serde(
        rename = "connectorData",
        default,
        with = "super::opaque_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    pub connector_data: Option<Vec<u8>>,
    /// PKCE challenge, if the client sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce: Option<Pkce>,
    /// Per-request key for the HMAC that binds `/approval` to the browser that logged in
    /// (Dex GHSA-vh7g-p26c-j2cw).
    #[serde(rename = "hmacKey", default, with = "super::opaque_bytes")]
    pub hmac_key: Option<Vec<u8>>,
    /// `response_mode` (`query`, `fragment`, `form_post`); empty means the response type's
    /// default. Not in Dex, which has no `response_mode`.
    #[serde(
        rename = "responseMode",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub response_mode: String,
    /// `login_hint`, shown pre-filled in the password form. Not in Dex.
    #[serde(
        rename = "loginHint",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub login_hint: String,
}

/// An issued authorization code awaiting redemption at `/token` (Dex `storage.AuthCode`;
/// RFC 6749 §4.1.2). Stored under the hash of the code: the code itself is never kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCode {
    /// SHA-256 of the code handed to the client; the storage key.
    #[serde(rename = "codeHash")]
    pub code_hash: TokenHash,
    /// The client the code was issued to.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// The redirect URI used in the authorization request; must match at redemption.
    #[serde(rename = "redirectURI")]
    pub redirect_uri: String,
    /// OIDC `nonce`.
    #[serde(default)]
    pub nonce: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The connector used to log in.
    #[serde(rename = "connectorID")]
    pub connector_id: String,
    /// Opaque connector state; never shown to clients.
    #[serde(
        rename = "connectorData",
        default,
        with = "super::opaque_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    pub connector_data: Option<Vec<u8>>,
    /// The user's claims.
    pub claims: Claims,
    /// Codes expire 30 minutes after issue, as in Dex.
    pub expiry: DateTime<Utc>,
    /// PKCE challenge to check against the `code_verifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce: Option<Pkce>,
    /// Set when the code is redeemed. The record stays until it expires so that a second
    /// redemption is recognised and revokes what the first issued (RFC 6749 §4.1.2).
    #[serde(default)]
    pub redeemed: bool,
    /// The refresh token issued when the code was redeemed, revoked if the code is reused.
    #[serde(
        rename = "issuedRefreshToken",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub issued_refresh_token: Option<String>,
}

impl std::fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthRequest")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("response_types", &self.response_types)
            .field("scopes", &self.scopes)
            .field("redirect_uri", &self.redirect_uri)
            .field("logged_in", &self.logged_in)
            .field("connector_id", &self.connector_id)
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}
