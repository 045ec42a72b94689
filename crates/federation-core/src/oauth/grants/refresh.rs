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

/// Retries after losing a compare-and-swap to a concurrent refresh of the same family.
const MAX_CONFLICTS: u32 = 8;

/// How long one issuer may take to ask the upstream before another may try instead.
const UPSTREAM_REFRESH_LEASE: chrono::Duration = chrono::Duration::seconds(30);

/// The upstream call's own limit, well inside the lease.
const UPSTREAM_REFRESH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Polling while another request (in this process or another replica) holds the lease: short
/// at first, since an upstream refresh usually takes tens of milliseconds.
#[derive(Default)]
struct LeaseWait {
    polls: u32,
}

impl LeaseWait {
    /// Longer than a lease, so a waiter outlives a holder that died.
    const MAX_POLLS: u32 = 160;

    /// Waits a little; `false` once waiting longer is pointless.
    async fn pause(&mut self) -> bool {
        if self.polls >= Self::MAX_POLLS {
            return false;
        }
        let millis = (10u64 << self.polls.min(5)).min(250);
        self.polls += 1;
        tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
        true
    }
}

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

        let mut conflicts = 0;
        let mut lease_wait = LeaseWait::default();
        let mut connector_data: Option<Vec<u8>> = None;
        while conflicts < MAX_CONFLICTS {
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
                    // Ask the upstream at most once for concurrent refreshes, whichever
                    // replica they reach: take a lease on the family first.
                    let mut version = stored.version;
                    if connector.connector.refresh().is_some() {
                        if token
                            .upstream_refresh_until
                            .is_some_and(|until| until > now)
                        {
                            if lease_wait.pause().await {
                                continue;
                            }
                            return Err(OAuthError::new(
                                ErrorCode::ServerError,
                                "The identity provider is slow to answer; try again later.",
                            ));
                        }
                        let mut leased = token.clone();
                        leased.upstream_refresh_until = Some(now + UPSTREAM_REFRESH_LEASE);
                        match self.store.swap(version, &leased).await {
                            Ok(v) => version = v,
                            Err(e) if e.is_conflict() => {
                                conflicts += 1;
                                continue;
                            }
                            Err(e) if e.is_not_found() => {
                                return Err(OAuthError::invalid_grant(INVALID));
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                    let (claims, data) =
                        match self.refreshed_claims(token, &connector, &granted).await {
                            Ok(refreshed) => refreshed,
                            Err(e) => {
                                self.release_lease(token, version).await;
                                return Err(e);
                            }
                        };
                    connector_data = data;
                    let mut next = token.clone();
                    next.upstream_refresh_until = None;
                    next.claims = claims.clone();
                    // After the upstream answered: requests that waited for this lease judge
                    // the reuse interval from now, not from before a slow upstream call.
                    next.last_used = self.clock.now();
                    let secret = if policy.rotation {
                        let fresh = crate::ids::new_id()?;
                        next.obsolete_token_hash = Some(token.token_hash);
                        next.token_hash = TokenHash::of(&fresh);
                        next.successor_sealed = Some(seal::seal(&value.secret, &token.id, &fresh)?);
                        fresh
                    } else {
                        value.secret.clone()
                    };
                    (secret, claims, Some((version, next)))
                }
            };
            if let Some((version, next)) = write {
                match self.store.swap(version, &next).await {
                    Ok(_) => {}
                    // Another refresh of this family won the race: decide again on its result.
                    Err(e) if e.is_conflict() => {
                        conflicts += 1;
                        continue;
                    }
                    Err(e) if e.is_not_found() => return Err(OAuthError::invalid_grant(INVALID)),
                    Err(e) => return Err(e.into()),
                }
                self.touch_offline_session(&next, connector_data.take())
                    .await?;
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

    /// Gives up an upstream-refresh lease after a failed upstream call, so the next attempt
    /// need not wait for it to run out. Best effort: if the family changed meanwhile (revoked,
    /// or the lease already ran out and another replica took over), there is nothing to undo.
    async fn release_lease(&self, token: &RefreshToken, version: crate::storage::Version) {
        let mut released = token.clone();
        released.upstream_refresh_until = None;
        if let Err(e) = self.store.swap(version, &released).await
            && !e.is_conflict()
            && !e.is_not_found()
        {
            tracing::warn!(error = %e, "could not release an upstream-refresh lease; it runs out by itself");
        }
    }

    /// Asks the connector for the user's current identity; the user id must not change.
    async fn refreshed_claims(
        &self,
        token: &RefreshToken,
        connector: &super::super::OpenedConnector,
        granted: &[String],
    ) -> Result<(Claims, Option<Vec<u8>>), OAuthError> {
        let Some(refresher) = connector.connector.refresh() else {
            return Ok((token.claims.clone(), None));
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
        tracing::info!(
            target: "audit",
            event = "upstream_refresh",
            client_id = %token.client_id,
            connector_id = %token.connector_id,
            user_id = %token.claims.user_id,
            "asking the upstream identity provider to refresh"
        );
        // Bounded well inside the lease, so no other replica can take over while this call
        // is still in flight.
        let refreshed = tokio::time::timeout(
            UPSTREAM_REFRESH_TIMEOUT,
            refresher.refresh(Scopes::from_requested(granted), identity),
        )
        .await
        .map_err(|_| {
            OAuthError::server(crate::Error::Connector {
                connector_id: token.connector_id.clone(),
                message: format!(
                    "the upstream refresh took longer than {} s",
                    UPSTREAM_REFRESH_TIMEOUT.as_secs()
                ),
                source: None,
            })
        })?
        .map_err(|e| {
            if e.is_temporary() {
                // The upstream is down: the refresh token is not dead, the client retries.
                OAuthError::server(e)
            } else {
                OAuthError {
                    code: ErrorCode::InvalidGrant,
                    description: Some("The upstream identity provider refused the refresh.".into()),
                    internal: Some(e),
                }
            }
        })?;
        if refreshed.user_id != token.claims.user_id {
            return Err(OAuthError::invalid_grant(
                "The upstream identity provider returned another user.",
            ));
        }
        let mut claims = Claims::from(&refreshed);
        claims.auth_time = token.claims.auth_time;
        Ok((claims, refreshed.connector_data))
    }

    /// After a rotation was written: the session's `last_used`, and the connector's new state
    /// (only now, so that a refresh that lost its final write never replaces newer state).
    async fn touch_offline_session(
        &self,
        token: &RefreshToken,
        connector_data: Option<Vec<u8>>,
    ) -> crate::Result<()> {
        let key = OfflineSessions::key_for(&token.claims.user_id, &token.connector_id);
        match self
            .store
            .update::<OfflineSessions, _>(&key, |mut s| {
                if let Some(r) = s.refresh.get_mut(&token.id) {
                    r.last_used = token.last_used;
                }
                if connector_data.is_some() {
                    s.connector_data = connector_data.clone();
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
