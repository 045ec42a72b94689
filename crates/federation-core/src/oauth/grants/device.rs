//! The device-code grant (RFC 8628 §3.4–3.5): the device polls `/token` with its device code
//! until the user has answered in the browser (`oauth/device.rs`).
//!
//! Differences from Dex (`docs/deviations-from-dex.md`): the client authenticates and the
//! device code must have been issued to it; an unknown device code is `invalid_grant` (Dex:
//! `invalid_request`); the tokens are minted here, once — the device token is deleted
//! atomically before minting, so of concurrent polls exactly one gets tokens and a later
//! poll gets `invalid_grant` (Dex returns the stored response again until it is collected).

use super::super::device::SLOW_DOWN_STEP_SECONDS;
use super::super::error::{ErrorCode, OAuthError};
use super::super::tokens::MintRequest;
use super::super::{Engine, grant, pkce, scopes};
use super::{TokenRequest, TokenResponse};
use crate::model::{DeviceToken, DeviceTokenStatus, scope};
use crate::secret::TokenHash;

const INVALID_DEVICE_CODE: &str = "Invalid device code.";

impl Engine {
    pub(super) async fn grant_device_code(
        &self,
        request: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let device_code = request.param("device_code");
        if device_code.is_empty() {
            return Err(OAuthError::invalid_request("Required param: device_code."));
        }
        let client = self.authenticate_client(request.client.as_ref()).await?;
        let key = TokenHash::of(device_code).to_key();
        let stored = match self.store.get::<DeviceToken>(&key).await {
            Ok(t) => t,
            Err(e) if e.is_not_found() => {
                return Err(OAuthError::invalid_grant(INVALID_DEVICE_CODE));
            }
            Err(e) => return Err(e.into()),
        };
        let token = &stored.value;
        // A device code only works for the client it was issued to (RFC 8628 §3.4; security.md
        // OA-55). Same answer as an unknown code: nothing is revealed.
        if token.client_id != client.id {
            return Err(OAuthError::invalid_grant(INVALID_DEVICE_CODE));
        }
        let now = self.clock.now();
        if now >= token.expiry {
            return Err(OAuthError::new(
                ErrorCode::ExpiredToken,
                "The device code has expired.",
            ));
        }
        match token.status {
            DeviceTokenStatus::Pending => {
                // RFC 8628 §3.5: a poll before the interval has passed is `slow_down`, and
                // the interval grows by 5 seconds; a poll in time resets it (as Dex does).
                let interval = chrono::Duration::seconds(i64::from(token.poll_interval_seconds));
                let too_fast = now < token.last_request_time + interval;
                let mut next = token.clone();
                next.last_request_time = now;
                next.poll_interval_seconds = if too_fast {
                    token
                        .poll_interval_seconds
                        .saturating_add(SLOW_DOWN_STEP_SECONDS)
                } else {
                    super::super::device::DEVICE_POLL_INTERVAL_SECONDS
                };
                match self.store.swap(stored.version, &next).await {
                    Ok(_) => {}
                    // Another poll or the user's answer got there first: this poll was one
                    // too many.
                    Err(e) if e.is_conflict() => {
                        return Err(OAuthError::new(
                            ErrorCode::SlowDown,
                            "Polling too frequently.",
                        ));
                    }
                    Err(e) if e.is_not_found() => {
                        return Err(OAuthError::invalid_grant(INVALID_DEVICE_CODE));
                    }
                    Err(e) => return Err(e.into()),
                }
                if too_fast {
                    Err(OAuthError::new(
                        ErrorCode::SlowDown,
                        "Polling too frequently.",
                    ))
                } else {
                    Err(OAuthError::new(
                        ErrorCode::AuthorizationPending,
                        "The user has not answered yet.",
                    ))
                }
            }
            DeviceTokenStatus::Denied => Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "The user denied the request.",
            )),
            DeviceTokenStatus::Complete => {
                pkce::check(
                    token.pkce.as_ref(),
                    request.params.get("code_verifier").map(String::as_str),
                )?;
                let Some(claims) = token.claims.as_ref() else {
                    return Err(OAuthError::invalid_grant(INVALID_DEVICE_CODE));
                };
                let connector =
                    self.connector_for_grant(&client, &token.connector_id, grant::DEVICE_CODE)?;
                // Single use: of concurrent polls exactly one deletes the record.
                match self.store.delete::<DeviceToken>(&key).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {
                        return Err(OAuthError::invalid_grant(INVALID_DEVICE_CODE));
                    }
                    Err(e) => return Err(e.into()),
                }
                let nonce = String::new();
                let minted = self
                    .mint(
                        now,
                        &MintRequest {
                            client: &client,
                            claims,
                            scopes: &token.scopes,
                            nonce: &nonce,
                            connector_id: &token.connector_id,
                            code: None,
                            id_token: scopes::has(&token.scopes, scope::OPENID),
                        },
                    )
                    .await?;
                let refresh_token = if self.refresh_allowed(&connector, &token.scopes) {
                    Some(
                        self.issue_refresh_token(
                            &client,
                            claims,
                            &token.scopes,
                            &nonce,
                            &token.connector_id,
                        )
                        .await?
                        .1,
                    )
                } else {
                    None
                };
                tracing::info!(
                    target: "audit",
                    event = "device_token_issued",
                    client_id = %client.id,
                    connector_id = %token.connector_id,
                    user_id = %claims.user_id,
                    refresh_token = refresh_token.is_some(),
                    "device code redeemed"
                );
                Ok(super::TokenResponse::new(minted, refresh_token))
            }
        }
    }
}
