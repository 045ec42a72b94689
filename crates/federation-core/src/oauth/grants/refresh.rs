//! The refresh-token grant (RFC 6749 §6) with Dex's policy (`reference/dex.md` §3) and
//! oxidex's hardening: reuse of a rotated token outside the reuse interval revokes the family,
//! and an upstream refusal is `invalid_grant`.

use super::super::error::{ErrorCode, OAuthError};
use super::super::tokens::MintRequest;
use super::super::{Engine, grant, scopes};
use super::{TokenRequest, TokenResponse, seal};
use crate::codec::RefreshTokenValue;
use crate::model::{Claims, OfflineSessions, RefreshToken, Scopes};
use crate::secret::TokenHash;

const INVALID: &str = "Refresh token is invalid or has already been claimed by another client.";

/// How the presented secret relates to the stored family.
enum Presented {
    /// The current secret.
    Current,
    /// The previous secret, within the reuse interval; the current one was opened from the
    /// sealed successor.
    Previous(String),
}

impl Engine {
    pub(super) async fn grant_refresh_token(
        &self,
        request: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.authenticate_client(request.client.as_ref()).await?;
        let value = RefreshTokenValue::decode(request.param("refresh_token"))
            .filter(|v| !v.id.is_empty() && !v.secret.is_empty())
            .ok_or_else(|| OAuthError::invalid_grant(INVALID))?;

        for _ in 0..8 {
            let stored = match self.store.get::<RefreshToken>(&value.id).await {
                Ok(t) => t,
                Err(e) if e.is_not_found() || e.kind() == crate::ErrorKind::Invalid => {
                    return Err(OAuthError::invalid_grant(INVALID));
                }
                Err(e) => return Err(e.into()),
            };
            let token = &stored.value;
            if token.client_id != client.id {
                return Err(OAuthError::invalid_grant(INVALID));
            }
            let now = self.clock.now();
            let policy = self.settings.refresh;
            let in_reuse_window = now <= token.last_used + policy.reuse_interval;
            let presented = if token.token_hash.matches(&value.secret) {
                Presented::Current
            } else if token
                .obsolete_token_hash
                .is_some_and(|h| h.matches(&value.secret))
            {
                let current = token
                    .successor_sealed
                    .as_deref()
                    .and_then(|sealed| seal::open(&value.secret, &token.id, sealed));
                match current {
                    Some(current) if in_reuse_window && policy.rotation => {
                        Presented::Previous(current)
                    }
                    _ => {
                        // A rotated-away secret outside the reuse window: someone holds a
                        // copy. Revoke the whole family (RFC 9700 §4.14.2).
                        self.revoke_refresh_family(&token.id).await?;
                        return Err(OAuthError::invalid_grant(
                            "Refresh token was already used; the token family is revoked.",
                        ));
                    }
                }
            } else {
                return Err(OAuthError::invalid_grant(INVALID));
            };
            if policy
                .absolute_lifetime
                .is_some_and(|life| now > token.created_at + life)
                || policy
                    .valid_if_not_used_for
                    .is_some_and(|idle| now > token.last_used + idle)
            {
                return Err(OAuthError::invalid_grant("Refresh token expired."));
            }

            let requested = scopes::parse(request.param("scope"));
            let granted = if requested.is_empty() {
                token.scopes.clone()
            } else {
                if let Some(extra) = requested.iter().find(|s| !token.scopes.contains(s)) {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        format!("Requested scope {extra:?} was not granted originally."),
                    ));
                }
                requested
            };
            let connector =
                self.connector_for_grant(&client, &token.connector_id, grant::REFRESH_TOKEN)?;

            // Within the reuse interval nothing changes and the upstream is not asked (Dex).
            let (secret_out, claims, write) = match presented {
                Presented::Previous(current) => (current, token.claims.clone(), None),
                Presented::Current if in_reuse_window => {
                    (value.secret.clone(), token.claims.clone(), None)
                }
                Presented::Current => {
                    let claims = self.refreshed_claims(token, connector, &granted).await?;
                    let mut next = token.clone();
                    next.claims = claims.clone();
                    next.last_used = now;
                    let secret = if policy.rotation {
                        let fresh = crate::ids::new_id()?;
                        next.obsolete_token_hash = Some(token.token_hash);
                        next.token_hash = TokenHash::of(&fresh);
                        next.successor_sealed = Some(seal::seal(&value.secret, &token.id, &fresh)?);
                        fresh
                    } else {
                        value.secret.clone()
                    };
                    (secret, claims, Some(next))
                }
            };
            if let Some(next) = write {
                match self.store.swap(stored.version, &next).await {
                    Ok(_) => {}
                    // Another refresh of this family won the race: decide again on its result.
                    Err(e) if e.is_conflict() => continue,
                    Err(e) if e.is_not_found() => return Err(OAuthError::invalid_grant(INVALID)),
                    Err(e) => return Err(e.into()),
                }
                self.touch_offline_session(&next, now).await?;
            }

            let minted = self
                .mint(
                    now,
                    &MintRequest {
                        client: &client,
                        claims: &claims,
                        scopes: &granted,
                        nonce: &token.nonce,
                        connector_id: &token.connector_id,
                        code: None,
                        id_token: true,
                    },
                )
                .await?;
            let refresh_token = Some(
                RefreshTokenValue {
                    id: token.id.clone(),
                    secret: secret_out,
                }
                .encode(),
            );
            return Ok(TokenResponse::new(minted, refresh_token));
        }
        Err(OAuthError::invalid_grant(INVALID))
    }

    /// Asks the connector for the user's current identity; the user id must not change.
    async fn refreshed_claims(
        &self,
        token: &RefreshToken,
        connector: &super::super::OpenedConnector,
        granted: &[String],
    ) -> Result<Claims, OAuthError> {
        let Some(refresher) = connector.connector.refresh() else {
            return Ok(token.claims.clone());
        };
        let key = OfflineSessions::key_for(&token.claims.user_id, &token.connector_id);
        let connector_data = match self.store.get::<OfflineSessions>(&key).await {
            Ok(s) => s
                .value
                .connector_data
                .or_else(|| token.connector_data.clone()),
            Err(e) if e.is_not_found() => token.connector_data.clone(),
            Err(e) => return Err(e.into()),
        };
        let identity = token.claims.to_identity(connector_data);
        let refreshed = refresher
            .refresh(Scopes::from_requested(granted), identity)
            .await
            .map_err(|e| OAuthError {
                code: ErrorCode::InvalidGrant,
                description: Some("The upstream identity provider refused the refresh.".into()),
                internal: Some(e),
            })?;
        if refreshed.user_id != token.claims.user_id {
            return Err(OAuthError::invalid_grant(
                "The upstream identity provider returned another user.",
            ));
        }
        if refreshed.connector_data.is_some() {
            let data = refreshed.connector_data.clone();
            match self
                .store
                .update::<OfflineSessions, _>(&key, |mut s| {
                    s.connector_data = data.clone();
                    Ok(s)
                })
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Claims::from(&refreshed))
    }

    async fn touch_offline_session(
        &self,
        token: &RefreshToken,
        now: chrono::DateTime<chrono::Utc>,
    ) -> crate::Result<()> {
        let key = OfflineSessions::key_for(&token.claims.user_id, &token.connector_id);
        match self
            .store
            .update::<OfflineSessions, _>(&key, |mut s| {
                if let Some(r) = s.refresh.get_mut(&token.id) {
                    r.last_used = now;
                }
                Ok(s)
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}
