//! The token-exchange grant (RFC 8693 §2), as Dex serves it (`reference/dex.md` §1.8).
//!
//! A client trades a token from an upstream identity provider (`subject_token`) for a token
//! of this issuer. `connector_id` (a Dex extension) names the connector that verifies the
//! upstream token ([`TokenIdentityConnector`](crate::connector::TokenIdentityConnector)); the
//! user it vouches for gets a `sub` naming that connector, exactly as after a browser login.
//!
//! The response carries one token, in `access_token` whatever it is, with `issued_token_type`
//! saying which (RFC 8693 §2.2.1); never a refresh token or an `id_token` field.
//!
//! Checks, in order: client authentication; the connector (unknown → `invalid_request`
//! "Requested connector does not exist.", then the client's `allowedConnectors` and the
//! connector's `grantTypes` through the one policy check); `subject_token_type`;
//! `subject_token`; `requested_token_type`; the connector's token-identity capability; the
//! upstream token itself (refused → 401 `access_denied`, as Dex).
//!
//! Differences from Dex (`docs/deviations-from-dex.md`): an unsupported `subject_token_type`
//! or `requested_token_type` is `invalid_request` (RFC 8693 §2.2.2), not
//! `request_not_supported`, and `requested_token_type` is checked before the upstream token is
//! verified; an untrusted `audience:server:client_id:` peer is `invalid_scope`, not a server
//! error. `audience`, `resource` and `actor_token` are ignored, as in Dex.

use super::super::error::{ErrorCode, OAuthError};
use super::super::tokens::MintRequest;
use super::super::{Engine, grant, scopes};
use super::{TokenRequest, TokenResponse};
use crate::model::Claims;

/// RFC 8693 §3: an OpenID Connect ID token.
const TOKEN_TYPE_ID: &str = "urn:ietf:params:oauth:token-type:id_token";
/// RFC 8693 §3: an OAuth 2.0 access token.
const TOKEN_TYPE_ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";

const NO_SUCH_CONNECTOR: &str = "Requested connector does not exist.";

impl Engine {
    pub(super) async fn grant_token_exchange(
        &self,
        request: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.authenticate_client(request.client.as_ref()).await?;
        if client.public {
            // Anyone knows a public client's id: with it, anyone holding an upstream token
            // could mint tokens for that client (security.md UP-20; Dex allows it).
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "Public clients cannot exchange tokens.",
            ));
        }
        // Dex passes the scopes through unvalidated; cross-client audiences are checked when
        // the token is minted (`tokens::audience`).
        let granted = scopes::parse(request.param("scope"));

        let connector_id = request.param("connector_id");
        if self.connectors.get(connector_id).is_none() {
            return Err(OAuthError::invalid_request(NO_SUCH_CONNECTOR));
        }
        // The client's `allowedConnectors` and the connector's `grantTypes`.
        let connector = self.connector_for_grant(&client, connector_id, grant::TOKEN_EXCHANGE)?;

        let subject_token_type = request.param("subject_token_type");
        if subject_token_type != TOKEN_TYPE_ID && subject_token_type != TOKEN_TYPE_ACCESS {
            return Err(OAuthError::invalid_request("Invalid subject_token_type."));
        }
        let subject_token = request.param("subject_token");
        if subject_token.is_empty() {
            return Err(OAuthError::invalid_request("Missing subject_token."));
        }
        let requested_token_type = match request.param("requested_token_type") {
            "" | TOKEN_TYPE_ACCESS => TOKEN_TYPE_ACCESS,
            TOKEN_TYPE_ID => TOKEN_TYPE_ID,
            _ => {
                return Err(OAuthError::invalid_request("Invalid requested_token_type."));
            }
        };
        let Some(verifier) = connector.connector.token_identity() else {
            return Err(OAuthError::invalid_request(NO_SUCH_CONNECTOR));
        };

        let identity = match verifier
            .token_identity(subject_token_type, subject_token)
            .await
        {
            Ok(identity) => identity,
            Err(e) => {
                // The reason (from the connector) is logged by the HTTP layer; the subject
                // token itself is never logged.
                tracing::warn!(
                    target: "audit",
                    event = "token_exchange_refused",
                    client_id = %client.id,
                    connector_id = %connector_id,
                    subject_token_type = %subject_token_type,
                    "subject token refused"
                );
                return Err(OAuthError {
                    code: ErrorCode::AccessDenied,
                    description: Some("The subject token could not be verified.".into()),
                    internal: Some(e),
                });
            }
        };

        let claims = Claims::from(&identity);
        let id_token = requested_token_type == TOKEN_TYPE_ID;
        let minted = self
            .mint(
                self.clock.now(),
                &MintRequest {
                    client: &client,
                    claims: &claims,
                    scopes: &granted,
                    nonce: "",
                    connector_id,
                    code: None,
                    id_token,
                },
            )
            .await?;
        let token = if id_token {
            minted.id_token.ok_or_else(|| {
                OAuthError::server(crate::Error::Signing {
                    message: "an ID token was asked for but not minted".into(),
                })
            })?
        } else {
            minted.access_token
        };
        tracing::info!(
            target: "audit",
            event = "token_exchanged",
            client_id = %client.id,
            connector_id = %connector_id,
            user_id = %identity.user_id,
            subject_token_type = %subject_token_type,
            requested_token_type = %requested_token_type,
            "token exchange successful"
        );
        Ok(TokenResponse {
            access_token: token,
            token_type: "bearer".into(),
            expires_in: minted.expires_in,
            refresh_token: None,
            id_token: None,
            issued_token_type: Some(requested_token_type.to_owned()),
        })
    }
}
