//! ID and access tokens with Dex's claim set (`reference/dex.md` §2.6–2.8).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ErrorCode, OAuthError};
use super::scopes;
use crate::codec::Subject;
use crate::jose::{b64url, sign_compact};
use crate::model::{Claims, Client, scope};
use crate::signer::{Signer, SigningAlgorithm};
use crate::storage::Store;

/// `aud`: one client (a JSON string) or several (an array), as Dex marshals it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Every audience value.
    pub fn values(&self) -> Vec<&str> {
        match self {
            Audience::One(a) => vec![a.as_str()],
            Audience::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }

    /// `true` if `client_id` is one of the audiences.
    pub fn contains(&self, client_id: &str) -> bool {
        self.values().contains(&client_id)
    }
}

/// `federated_claims` (scope `federated:id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederatedClaims {
    /// The connector the user logged in through.
    pub connector_id: String,
    /// The user's id at that connector.
    pub user_id: String,
}

/// The claims of an ID or access token, in Dex's field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject ([`Subject::encode`]).
    pub sub: String,
    /// Audience.
    pub aud: Audience,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Authorized party, when there are several audiences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// The request's nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// A unique id (access tokens only): what revocation lists (RFC 7009), and what
    /// introspection reports as `jti` (RFC 7662).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// When the user logged in (OIDC Core §2), for logins through a browser or a password;
    /// kept across refreshes. Required by clients that send `max_age`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Access-token hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// Code hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c_hash: Option<String>,
    /// `email` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `email` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// `groups` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// `profile` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `profile` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// `federated:id` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated_claims: Option<FederatedClaims>,
}

/// The left half of the hash of `value`, base64url: `at_hash` and `c_hash` (OIDC Core
/// §3.1.3.6, §3.3.2.11): SHA-256 for RS256 and ES256, SHA-512 for EdDSA with Ed25519 (OIDC Core
/// errata set 2).
pub fn half_hash(algorithm: SigningAlgorithm, value: &str) -> String {
    let digest = match algorithm {
        SigningAlgorithm::Rs256 | SigningAlgorithm::Es256 => {
            ring::digest::digest(&ring::digest::SHA256, value.as_bytes())
        }
        SigningAlgorithm::EdDsa => ring::digest::digest(&ring::digest::SHA512, value.as_bytes()),
    };
    let bytes = digest.as_ref();
    b64url(&bytes[..bytes.len() / 2])
}

/// What to mint.
#[derive(Debug)]
pub struct MintRequest<'a> {
    /// The requesting client.
    pub client: &'a Client,
    /// The user.
    pub claims: &'a Claims,
    /// Granted scopes.
    pub scopes: &'a [String],
    /// Nonce to echo.
    pub nonce: &'a str,
    /// Connector the user came through (empty for client credentials).
    pub connector_id: &'a str,
    /// The authorization code, when minting for one (`c_hash`).
    pub code: Option<&'a str>,
    /// Whether to mint an ID token.
    pub id_token: bool,
}

/// Minted tokens.
#[derive(Debug, Clone)]
pub struct Minted {
    /// The access token (a signed JWT, as in Dex).
    pub access_token: String,
    /// The ID token, if asked for.
    pub id_token: Option<String>,
    /// When both expire.
    pub expiry: DateTime<Utc>,
    /// Seconds until expiry.
    pub expires_in: i64,
}

/// Mints an access token and, if asked, an ID token (Dex `newAccessToken`/`newIDToken`).
pub async fn mint(
    signer: &dyn Signer,
    store: &Store,
    issuer: &str,
    lifetime: Duration,
    now: DateTime<Utc>,
    req: &MintRequest<'_>,
) -> Result<Minted, OAuthError> {
    let key = signer.signing_key().await?;
    let algorithm = key.algorithm();
    let expiry = now + lifetime;
    let base = base_claims(store, issuer, now, expiry, req).await?;

    // Access tokens carry the same claims; Dex hashes a random value into at_hash so that every
    // access token is distinct.
    let mut access = base.clone();
    access.at_hash = Some(half_hash(algorithm, &crate::ids::new_id()?));
    access.jti = Some(crate::ids::new_id()?);
    let access_token = sign_json(key.as_ref(), &access).await?;

    let id_token = if req.id_token {
        let mut id = base;
        id.at_hash = Some(half_hash(algorithm, &access_token));
        id.c_hash = req.code.map(|code| half_hash(algorithm, code));
        Some(sign_json(key.as_ref(), &id).await?)
    } else {
        None
    };
    tracing::info!(
        target: "audit",
        event = "token_issued",
        client_id = %req.client.id,
        connector_id = %req.connector_id,
        user_id = %req.claims.user_id,
        id_token = req.id_token,
        "tokens issued"
    );
    Ok(Minted {
        access_token,
        id_token,
        expiry,
        expires_in: (expiry - now).num_seconds(),
    })
}

async fn sign_json(
    key: &dyn crate::signer::SigningKey,
    claims: &TokenClaims,
) -> Result<String, OAuthError> {
    let payload = serde_json::to_vec(claims).map_err(|e| {
        OAuthError::server(crate::Error::Signing {
            message: format!("cannot encode claims: {e}"),
        })
    })?;
    Ok(sign_compact(key, &payload).await?)
}

async fn base_claims(
    store: &Store,
    issuer: &str,
    now: DateTime<Utc>,
    expiry: DateTime<Utc>,
    req: &MintRequest<'_>,
) -> Result<TokenClaims, OAuthError> {
    let aud = audience(store, req.client, req.scopes).await?;
    let azp = match &aud {
        Audience::Many(_) => Some(req.client.id.clone()),
        Audience::One(_) => None,
    };
    let has = |name: &str| scopes::has(req.scopes, name);
    Ok(TokenClaims {
        iss: issuer.to_owned(),
        sub: Subject {
            user_id: req.claims.user_id.clone(),
            connector_id: req.connector_id.to_owned(),
        }
        .encode(),
        aud,
        exp: expiry.timestamp(),
        iat: now.timestamp(),
        azp,
        nonce: (!req.nonce.is_empty()).then(|| req.nonce.to_owned()),
        jti: None,
        auth_time: req.claims.auth_time.map(|t| t.timestamp()),
        at_hash: None,
        c_hash: None,
        email: has(scope::EMAIL).then(|| req.claims.email.clone()),
        email_verified: has(scope::EMAIL).then_some(req.claims.email_verified),
        groups: has(scope::GROUPS).then(|| req.claims.groups.clone()),
        name: has(scope::PROFILE).then(|| req.claims.username.clone()),
        preferred_username: has(scope::PROFILE).then(|| req.claims.preferred_username.clone()),
        federated_claims: has(scope::FEDERATED_ID).then(|| FederatedClaims {
            connector_id: req.connector_id.to_owned(),
            user_id: req.claims.user_id.clone(),
        }),
    })
}

/// `aud` for a client and its scopes: every trusted `audience:server:client_id:<peer>`, then
/// the client itself if not already listed (Dex §2.4). An untrusted or unknown peer is an
/// `invalid_scope` error.
pub async fn audience(
    store: &Store,
    client: &Client,
    requested: &[String],
) -> Result<Audience, OAuthError> {
    let mut aud: Vec<String> = Vec::new();
    for s in requested {
        let Some(peer) = scopes::cross_client_peer(s) else {
            continue;
        };
        if !peer_trusts(store, client, peer).await? {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("Client can't request scope(s) {s:?}"),
            ));
        }
        if !aud.iter().any(|a| a == peer) {
            aud.push(peer.to_owned());
        }
    }
    if aud.is_empty() {
        return Ok(Audience::One(client.id.clone()));
    }
    if !aud.contains(&client.id) {
        aud.push(client.id.clone());
    }
    Ok(if aud.len() == 1 {
        Audience::One(aud.remove(0))
    } else {
        Audience::Many(aud)
    })
}

/// `true` if `peer` lets `client` mint tokens for it.
pub async fn peer_trusts(store: &Store, client: &Client, peer: &str) -> Result<bool, OAuthError> {
    if peer == client.id {
        return Ok(true);
    }
    match store.get::<Client>(peer).await {
        Ok(p) => Ok(p.value.trusted_peers.contains(&client.id)),
        Err(e) if e.is_not_found() || e.kind() == crate::ErrorKind::Invalid => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_serializes_like_dex() {
        assert_eq!(
            serde_json::to_string(&Audience::One("a".into())).unwrap(),
            "\"a\""
        );
        assert_eq!(
            serde_json::to_string(&Audience::Many(vec!["a".into(), "b".into()])).unwrap(),
            "[\"a\",\"b\"]"
        );
        let parsed: Audience = serde_json::from_str("[\"x\"]").unwrap();
        assert!(parsed.contains("x"));
    }

    #[test]
    fn at_hash_vector() {
        // OIDC Core A.3 example: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
        // RS256 at_hash "77QmUPtjPfzWtF2AnpK9RQ".
        assert_eq!(
            half_hash(
                SigningAlgorithm::Rs256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
