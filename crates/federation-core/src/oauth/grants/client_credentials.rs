//! The client-credentials grant (RFC 6749 §4.4) as Dex has it (`reference/dex.md` §1.8): a
//! confidential client gets tokens about itself. `sub` encodes the client id with an empty
//! connector id; `profile` gives the client's name, `groups` its `clientCredentialsClaims`;
//! never a refresh token, an ID token only with `openid`.

use super::super::error::{ErrorCode, OAuthError};
use super::super::tokens::MintRequest;
use super::super::{Engine, scopes};
use super::{TokenRequest, TokenResponse};
use crate::model::{Claims, scope};

/// Scopes this grant accepts besides cross-client `audience:server:client_id:*`.
const ALLOWED: [&str; 4] = [scope::OPENID, scope::EMAIL, scope::PROFILE, scope::GROUPS];

impl Engine {
    pub(super) async fn grant_client_credentials(
        &self,
        request: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.authenticate_client(request.client.as_ref()).await?;
        if client.public {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "Public clients cannot use the client credentials grant.",
            ));
        }
        let granted = scopes::parse(request.param("scope"));
        if let Some(bad) = granted
            .iter()
            .find(|s| !ALLOWED.contains(&s.as_str()) && scopes::cross_client_peer(s).is_none())
        {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("Scope {bad:?} is not allowed with the client credentials grant."),
            ));
        }
        let name = if client.name.is_empty() {
            client.id.clone()
        } else {
            client.name.clone()
        };
        let claims = Claims {
            user_id: client.id.clone(),
            username: name.clone(),
            preferred_username: name,
            groups: client
                .client_credentials_claims
                .as_ref()
                .map(|c| c.groups.clone())
                .unwrap_or_default(),
            ..Claims::default()
        };
        let minted = self
            .mint(
                self.clock.now(),
                &MintRequest {
                    client: &client,
                    claims: &claims,
                    scopes: &granted,
                    nonce: request.param("nonce"),
                    connector_id: "",
                    code: None,
                    id_token: scopes::has(&granted, scope::OPENID),
                },
            )
            .await?;
        Ok(TokenResponse::new(minted, None))
    }
}
