//! What the issuer says about tokens it issued: userinfo (OIDC Core §5.3), revocation
//! (RFC 7009) and introspection (RFC 7662, in Dex's response shape).
//!
//! Access tokens are signed JWTs with a `jti`; revoking one lists its `jti` until it would
//! have expired ([`RevokedToken`]), and userinfo and introspection check that list. Revoking a
//! refresh token deletes its whole family, as reuse detection does.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::error::{ErrorCode, OAuthError};
use super::grants::TokenRequest;
use super::tokens::TokenClaims;
use super::{Engine, RefreshPolicy};
use crate::codec::{RefreshTokenValue, Subject};
use crate::jose::verify_compact;
use crate::model::{Client, RefreshToken, RevokedToken};
use crate::signer::SigningAlgorithm;

/// A token this issuer signed, checked.
struct OwnToken {
    claims: TokenClaims,
    raw: Value,
}

/// Whether a token that verified is still valid, or only was.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// Expired tokens count as invalid.
    Enforce,
    /// Expired tokens are accepted (revoking one is a harmless no-op).
    Ignore,
}

impl Engine {
    /// Verifies a JWT against this issuer's validation keys and `iss`, and (as asked) its
    /// expiry. `None` for anything that is not a valid token of ours.
    async fn own_token(&self, token: &str, expiry: Expiry) -> Result<Option<OwnToken>, OAuthError> {
        let keys = self.signer.validation_keys().await?;
        let Ok(verified) = verify_compact(token, &keys, &SigningAlgorithm::ALL) else {
            return Ok(None);
        };
        let (Ok(claims), Ok(raw)) = (
            serde_json::from_slice::<TokenClaims>(&verified.payload),
            serde_json::from_slice::<Value>(&verified.payload),
        ) else {
            return Ok(None);
        };
        if claims.iss != self.settings.issuer
            || (expiry == Expiry::Enforce && self.clock.now().timestamp() >= claims.exp)
        {
            return Ok(None);
        }
        Ok(Some(OwnToken { claims, raw }))
    }

    /// A valid, unexpired, unrevoked token of ours.
    async fn live_token(&self, token: &str) -> Result<Option<OwnToken>, OAuthError> {
        let Some(own) = self.own_token(token, Expiry::Enforce).await? else {
            return Ok(None);
        };
        if let Some(jti) = &own.claims.jti {
            match self.store.get::<RevokedToken>(jti).await {
                Ok(_) => return Ok(None),
                Err(e) if e.is_not_found() || e.kind() == crate::ErrorKind::Invalid => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(own))
    }

    /// `/userinfo`: the claims of a valid token this issuer signed (OIDC Core §5.3). Dex
    /// accepts its access tokens and ID tokens alike; a revoked access token is refused.
    pub async fn userinfo(&self, bearer: &str) -> Result<Value, OAuthError> {
        match self.live_token(bearer).await? {
            Some(own) => Ok(own.raw),
            None => Err(OAuthError::new(
                ErrorCode::InvalidToken,
                "Invalid bearer token.",
            )),
        }
    }

    /// `/token/revoke` (RFC 7009): the client must authenticate; a refresh token of this
    /// client revokes its whole family, an access token issued to it is refused from now on.
    /// Unknown, invalid or foreign tokens change nothing and are not an error (§2.2), so the
    /// answer never tells whether a token existed.
    pub async fn revoke(&self, request: &TokenRequest) -> Result<(), OAuthError> {
        let client = self.authenticate_client(request.client.as_ref()).await?;
        let token = request.param("token");
        if token.is_empty() {
            return Err(OAuthError::invalid_request("Required param: token."));
        }
        // The hint only orders the search (§2.1); both kinds are always tried.
        let access_first = request.param("token_type_hint") == "access_token";
        for access in [access_first, !access_first] {
            let revoked = if access {
                self.revoke_access_token(&client, token).await?
            } else {
                self.revoke_refresh_token(&client, token).await?
            };
            if revoked {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn revoke_refresh_token(&self, client: &Client, token: &str) -> Result<bool, OAuthError> {
        let Some(value) = RefreshTokenValue::decode(token).filter(|v| !v.id.is_empty()) else {
            return Ok(false);
        };
        let stored = match self.store.get::<RefreshToken>(&value.id).await {
            Ok(t) => t.value,
            Err(e) if e.is_not_found() || e.kind() == crate::ErrorKind::Invalid => {
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        };
        let genuine = stored.token_hash.matches(&value.secret)
            || stored
                .obsolete_token_hash
                .is_some_and(|h| h.matches(&value.secret));
        if !genuine {
            return Ok(false);
        }
        if stored.client_id != client.id {
            tracing::info!(
                target: "audit",
                event = "revocation_refused",
                client_id = %client.id,
                "a client tried to revoke another client's refresh token"
            );
            return Ok(true);
        }
        self.revoke_refresh_family(&stored.id).await?;
        tracing::info!(
            target: "audit",
            event = "refresh_token_revoked",
            client_id = %client.id,
            user_id = %stored.claims.user_id,
            "refresh token family revoked"
        );
        Ok(true)
    }

    async fn revoke_access_token(&self, client: &Client, token: &str) -> Result<bool, OAuthError> {
        let Some(own) = self.own_token(token, Expiry::Ignore).await? else {
            return Ok(false);
        };
        let issued_to_client =
            own.claims.aud.contains(&client.id) || own.claims.azp.as_deref() == Some(&client.id);
        let Some(jti) = own.claims.jti.filter(|_| issued_to_client) else {
            // Not this client's, or an ID token (nothing to revoke: it grants no access).
            return Ok(true);
        };
        let Some(expiry) = DateTime::<Utc>::from_timestamp(own.claims.exp, 0) else {
            return Ok(true);
        };
        if expiry <= self.clock.now() {
            return Ok(true);
        }
        match self.store.create(&RevokedToken { id: jti, expiry }).await {
            Ok(_) => {}
            Err(e) if e.kind() == crate::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(
            target: "audit",
            event = "access_token_revoked",
            client_id = %client.id,
            "access token revoked"
        );
        Ok(true)
    }

    /// `/token/introspect` (RFC 7662) with Dex's response shape (`reference/dex.md` §1.10).
    /// Unlike Dex, the caller must authenticate as a confidential client (RFC 7662 §2.1
    /// requires the endpoint to be protected; a public client's id proves nothing), and a
    /// token is only described to a client in its audience (or its `azp`): a resource server
    /// introspects the tokens issued for it (cross-client `audience:server:client_id:`).
    pub async fn introspect(&self, request: &TokenRequest) -> Result<Value, OAuthError> {
        let client = self.authenticate_client(request.client.as_ref()).await?;
        if client.public {
            // A public client's id is no secret: it would make the endpoint open to anyone.
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "Only confidential clients may introspect tokens.",
            ));
        }
        let token = request.param("token");
        if token.is_empty() {
            return Err(OAuthError::invalid_request("Required param: token."));
        }
        // A token is described only to a client it was issued to or for (in `aud`, or the
        // `azp`): resource servers are in the audience of the tokens meant for them
        // (security.md OA-41); to anyone else it is simply inactive.
        let looks_like_jwt = token.split('.').count() == 3;
        let answer = if looks_like_jwt {
            self.live_token(token)
                .await?
                .filter(|own| {
                    own.claims.aud.contains(&client.id)
                        || own.claims.azp.as_deref() == Some(client.id.as_str())
                })
                .map(|own| self.describe_access(own))
        } else {
            self.live_refresh(token, &client.id).await?
        };
        Ok(answer.unwrap_or_else(|| json!({ "active": false })))
    }

    fn describe_access(&self, own: OwnToken) -> Value {
        let c = &own.claims;
        let client_id = match c.aud.values().as_slice() {
            [one] => (*one).to_owned(),
            _ => c.azp.clone().unwrap_or_default(),
        };
        let mut ext = serde_json::Map::new();
        for name in [
            "azp",
            "email",
            "email_verified",
            "groups",
            "name",
            "preferred_username",
            "federated_claims",
        ] {
            if let Some(v) = own.raw.get(name) {
                ext.insert(name.to_owned(), v.clone());
            }
        }
        json!({
            "active": true,
            "client_id": client_id,
            "sub": c.sub,
            "exp": c.exp,
            "iat": c.iat,
            "nbf": c.iat,
            "username": c.preferred_username.clone().unwrap_or_default(),
            "aud": c.aud,
            "iss": c.iss,
            "jti": c.jti.clone().unwrap_or_default(),
            "token_type": "Bearer",
            "token_use": if c.jti.is_some() { "access_token" } else { "id_token" },
            "ext": ext,
        })
    }

    /// A refresh token that the refresh grant would accept now, described.
    async fn live_refresh(
        &self,
        token: &str,
        client_id: &str,
    ) -> Result<Option<Value>, OAuthError> {
        let Some(value) = RefreshTokenValue::decode(token).filter(|v| !v.id.is_empty()) else {
            return Ok(None);
        };
        let stored = match self.store.get::<RefreshToken>(&value.id).await {
            Ok(t) => t.value,
            Err(e) if e.is_not_found() || e.kind() == crate::ErrorKind::Invalid => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let now = self.clock.now();
        let policy: RefreshPolicy = self.settings.refresh;
        let current = stored.token_hash.matches(&value.secret);
        let previous_in_window = stored
            .obsolete_token_hash
            .is_some_and(|h| h.matches(&value.secret))
            && now <= stored.last_used + policy.reuse_interval;
        let expired = policy
            .absolute_lifetime
            .is_some_and(|life| now > stored.created_at + life)
            || policy
                .valid_if_not_used_for
                .is_some_and(|idle| now > stored.last_used + idle);
        if !(current || previous_in_window) || expired || stored.client_id != client_id {
            return Ok(None);
        }
        let iat = stored.created_at.timestamp();
        let exp = policy
            .absolute_lifetime
            .map_or(iat, |life| (stored.created_at + life).timestamp());
        let claims = &stored.claims;
        Ok(Some(json!({
            "active": true,
            "client_id": stored.client_id,
            "sub": Subject {
                user_id: claims.user_id.clone(),
                connector_id: stored.connector_id.clone(),
            }
            .encode(),
            "exp": exp,
            "iat": iat,
            "nbf": iat,
            "username": claims.preferred_username,
            "aud": stored.client_id,
            "iss": self.settings.issuer,
            "jti": stored.id,
            "token_type": "Bearer",
            "token_use": "refresh_token",
            "ext": {
                "email": claims.email,
                "email_verified": claims.email_verified,
                "groups": claims.groups,
                "name": claims.username,
                "preferred_username": claims.preferred_username,
            },
        })))
    }
}
