//! The token endpoint (RFC 6749 §3.2, §4.1.3, §4.3, §6) and userinfo (OIDC Core §5.3).

mod client_credentials;
mod device;
mod refresh;
mod seal;
mod token_exchange;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{ErrorCode, OAuthError};
use super::tokens::MintRequest;
use super::{Engine, OpenedConnector, grant, pkce, scopes};
use crate::codec::RefreshTokenValue;
use crate::connector::{LoginMethod, PasswordLogin};
use crate::model::{
    AuthCode, Claims, Client, OfflineSessions, RefreshToken, RefreshTokenRef, Scopes, scope,
};
use crate::secret::TokenHash;

/// Client credentials from HTTP Basic (already URL-decoded, RFC 6749 §2.3.1) or the form.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// `client_id`.
    pub id: String,
    /// `client_secret`, if any was sent.
    pub secret: Option<String>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A parsed token request.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    /// Form parameters other than client credentials (each present at most once).
    pub params: BTreeMap<String, String>,
    /// The client's credentials, if it sent any.
    pub client: Option<ClientCredentials>,
}

impl TokenRequest {
    /// The form parameter `name`, or `""`.
    pub(in crate::oauth) fn param(&self, name: &str) -> &str {
        self.params
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// A successful token response (RFC 6749 §5.1), in Dex's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// A refresh token, when issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// An ID token, when issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Token exchange only (RFC 8693 §2.2.1): what `access_token` holds, e.g.
    /// `urn:ietf:params:oauth:token-type:id_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
}

impl TokenResponse {
    /// The response for freshly minted tokens (`token_type` is always `bearer`, as in Dex).
    fn new(minted: super::tokens::Minted, refresh_token: Option<String>) -> Self {
        Self {
            access_token: minted.access_token,
            token_type: "bearer".into(),
            expires_in: minted.expires_in,
            refresh_token,
            id_token: minted.id_token,
            issued_token_type: None,
        }
    }
}

const INVALID_CODE: &str = "Invalid or expired code parameter.";

/// An authorization code just marked redeemed (see `Engine::redeem_auth_code`).
pub(super) struct RedeemedCode {
    /// The code's record, `redeemed` set.
    pub(super) code: AuthCode,
    /// The record's version after the redemption.
    pub(super) version: crate::storage::Version,
    /// The connector the user logged in with.
    pub(super) connector: std::sync::Arc<OpenedConnector>,
}

impl Engine {
    /// Serves `/token` for the enabled grants.
    pub async fn token(&self, request: &TokenRequest) -> Result<TokenResponse, OAuthError> {
        let grant_type = request.param("grant_type");
        if grant_type.is_empty() {
            return Err(OAuthError::invalid_request("Required param: grant_type."));
        }
        if !self.settings.grant_enabled(grant_type) {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("Unsupported grant type {grant_type:?}."),
            ));
        }
        match grant_type {
            grant::AUTHORIZATION_CODE => self.grant_authorization_code(request).await,
            grant::REFRESH_TOKEN => self.grant_refresh_token(request).await,
            grant::PASSWORD => self.grant_password(request).await,
            grant::CLIENT_CREDENTIALS => self.grant_client_credentials(request).await,
            grant::DEVICE_CODE => self.grant_device_code(request).await,
            grant::TOKEN_EXCHANGE => self.grant_token_exchange(request).await,
            other => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("Unsupported grant type {other:?}."),
            )),
        }
    }

    /// Authenticates the client (RFC 6749 §2.3.1): a confidential client must present its
    /// secret (compared in constant time); a public client authenticates with its id alone.
    pub async fn authenticate_client(
        &self,
        credentials: Option<&ClientCredentials>,
    ) -> Result<Client, OAuthError> {
        let invalid = || OAuthError::new(ErrorCode::InvalidClient, "Invalid client credentials.");
        let credentials = credentials.ok_or_else(invalid)?;
        let client = match self.store.get::<Client>(&credentials.id).await {
            Ok(c) => c.value,
            Err(e) if e.is_not_found() || e.kind() == crate::ErrorKind::Invalid => {
                return Err(invalid());
            }
            Err(e) => return Err(e.into()),
        };
        let presented = credentials.secret.as_deref().unwrap_or_default();
        if client.public && client.secret.is_empty() {
            return Ok(client);
        }
        if client.secret.is_empty() || !client.secret.verify(presented) {
            return Err(invalid());
        }
        Ok(client)
    }

    fn connector_for_grant(
        &self,
        client: &Client,
        connector_id: &str,
        grant_type: &str,
    ) -> Result<std::sync::Arc<OpenedConnector>, OAuthError> {
        let connector = self.connectors.get(connector_id).ok_or_else(|| {
            OAuthError::invalid_grant("The connector that issued this grant no longer exists.")
        })?;
        if !client.allows_connector(connector_id) {
            return Err(OAuthError::invalid_grant(
                "The client may not use this connector.",
            ));
        }
        if !connector.allows_grant(grant_type) {
            return Err(OAuthError::invalid_request(format!(
                "The connector does not allow grant type {grant_type:?}."
            )));
        }
        Ok(connector)
    }

    /// `true` if a refresh token may be issued for this login.
    fn refresh_allowed(&self, connector: &OpenedConnector, granted: &[String]) -> bool {
        scopes::has(granted, scope::OFFLINE_ACCESS)
            && connector.connector.refresh().is_some()
            && connector.allows_grant(grant::REFRESH_TOKEN)
            && self.settings.grant_enabled(grant::REFRESH_TOKEN)
    }

    /// Redeems authorization code `code` for `client` (RFC 6749 §4.1.3): it must exist, belong
    /// to the client, be unredeemed and unexpired, pass PKCE, match `redirect_uri`, and its
    /// connector must allow `grant_type`. The compare-and-swap that marks it redeemed lets
    /// exactly one of concurrent redemptions through. Shared by the authorization-code grant
    /// and the device flow's callback.
    pub(super) async fn redeem_auth_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
        grant_type: &str,
    ) -> Result<RedeemedCode, OAuthError> {
        let key = TokenHash::of(code).to_key();
        let stored = match self.store.get::<AuthCode>(&key).await {
            Ok(c) => c,
            Err(e) if e.is_not_found() => return Err(OAuthError::invalid_grant(INVALID_CODE)),
            Err(e) => return Err(e.into()),
        };
        let now = self.clock.now();
        let auth_code = &stored.value;
        if auth_code.client_id != client.id {
            return Err(OAuthError::invalid_grant(INVALID_CODE));
        }
        if auth_code.redeemed {
            // RFC 6749 §4.1.2: a reused code SHOULD revoke the tokens issued from it.
            if let Some(id) = &auth_code.issued_refresh_token {
                self.revoke_refresh_family(id).await?;
            }
            return Err(OAuthError::invalid_grant(INVALID_CODE));
        }
        if now >= auth_code.expiry {
            return Err(OAuthError::invalid_grant(INVALID_CODE));
        }
        pkce::check(auth_code.pkce.as_ref(), code_verifier)?;
        if redirect_uri != auth_code.redirect_uri {
            return Err(OAuthError::invalid_request(
                "redirect_uri did not match URI from initial request.",
            ));
        }
        let connector = self.connector_for_grant(client, &auth_code.connector_id, grant_type)?;

        let mut redeemed = auth_code.clone();
        redeemed.redeemed = true;
        let version = match self.store.swap(stored.version, &redeemed).await {
            Ok(v) => v,
            Err(e) if e.is_conflict() || e.is_not_found() => {
                return Err(OAuthError::invalid_grant(INVALID_CODE));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(RedeemedCode {
            code: redeemed,
            version,
            connector,
        })
    }

    async fn grant_authorization_code(
        &self,
        request: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.authenticate_client(request.client.as_ref()).await?;
        let code = request.param("code");
        if code.is_empty() {
            return Err(OAuthError::invalid_request("Required param: code."));
        }
        let RedeemedCode {
            code: mut redeemed,
            version,
            connector,
        } = self
            .redeem_auth_code(
                &client,
                code,
                request.param("redirect_uri"),
                request.params.get("code_verifier").map(String::as_str),
                grant::AUTHORIZATION_CODE,
            )
            .await?;
        let now = self.clock.now();
        let auth_code = &redeemed.clone();

        let minted = self
            .mint(
                now,
                &MintRequest {
                    client: &client,
                    claims: &auth_code.claims,
                    scopes: &auth_code.scopes,
                    nonce: &auth_code.nonce,
                    connector_id: &auth_code.connector_id,
                    code: Some(code),
                    id_token: scopes::has(&auth_code.scopes, scope::OPENID),
                },
            )
            .await?;
        let refresh_token = if self.refresh_allowed(&connector, &auth_code.scopes) {
            let (id, token) = self
                .issue_refresh_token(
                    &client,
                    &auth_code.claims,
                    &auth_code.scopes,
                    &auth_code.nonce,
                    &auth_code.connector_id,
                )
                .await?;
            redeemed.issued_refresh_token = Some(id);
            // Record what the code issued, so that reusing the code revokes it.
            if let Err(e) = self.store.swap(version, &redeemed).await {
                return Err(OAuthError::server(e));
            }
            Some(token)
        } else {
            None
        };
        Ok(TokenResponse::new(minted, refresh_token))
    }

    async fn grant_password(&self, request: &TokenRequest) -> Result<TokenResponse, OAuthError> {
        let client = self.authenticate_client(request.client.as_ref()).await?;
        let connector_id = self.settings.password_connector.clone().ok_or_else(|| {
            OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "Password grant is not configured.",
            )
        })?;
        let granted = scopes::parse(request.param("scope"));
        if !scopes::has(&granted, scope::OPENID) {
            return Err(OAuthError::invalid_request(
                "Missing required scope(s) [\"openid\"].",
            ));
        }
        if let Some(bad) = granted.iter().find(|s| {
            !scopes::KNOWN.contains(&s.as_str()) && scopes::cross_client_peer(s).is_none()
        }) {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("Unrecognized scope(s) [{bad:?}]"),
            ));
        }
        let connector = self.connector_for_grant(&client, &connector_id, grant::PASSWORD)?;
        let LoginMethod::Password(password_connector) = connector.connector.login() else {
            return Err(OAuthError::invalid_request(
                "The password connector does not check passwords.",
            ));
        };
        let (username, password) = (request.param("username"), request.param("password"));
        let identity = match password_connector
            .login(Scopes::from_requested(&granted), username, password)
            .await
        {
            Ok(PasswordLogin::Authenticated(identity)) => identity,
            Ok(PasswordLogin::InvalidCredentials) => {
                return Err(OAuthError::invalid_grant("Invalid username or password."));
            }
            Err(e) => {
                return Err(OAuthError {
                    code: ErrorCode::InvalidRequest,
                    description: Some("Could not log in user.".into()),
                    internal: Some(e),
                });
            }
        };
        let now = self.clock.now();
        let mut claims = Claims::from(&identity);
        claims.auth_time = Some(now);
        let nonce = request.param("nonce").to_owned();
        let minted = self
            .mint(
                now,
                &MintRequest {
                    client: &client,
                    claims: &claims,
                    scopes: &granted,
                    nonce: &nonce,
                    connector_id: &connector_id,
                    code: None,
                    id_token: true,
                },
            )
            .await?;
        let refresh_token = if self.refresh_allowed(&connector, &granted) {
            if identity.connector_data.is_some() {
                self.remember_connector_data(
                    &identity.user_id,
                    &connector_id,
                    identity.connector_data.clone(),
                )
                .await?;
            }
            Some(
                self.issue_refresh_token(&client, &claims, &granted, &nonce, &connector_id)
                    .await?
                    .1,
            )
        } else {
            None
        };
        Ok(TokenResponse::new(minted, refresh_token))
    }

    /// Keeps the connector's latest state for refreshing this user's tokens.
    pub(super) async fn remember_connector_data(
        &self,
        user_id: &str,
        connector_id: &str,
        data: Option<Vec<u8>>,
    ) -> crate::Result<()> {
        let key = OfflineSessions::key_for(user_id, connector_id);
        self.store
            .upsert::<OfflineSessions, _>(&key, |current| {
                let mut session =
                    current.unwrap_or_else(|| OfflineSessions::new(user_id, connector_id));
                session.connector_data = data.clone();
                Ok(session)
            })
            .await
            .map(|_| ())
    }

    /// Creates a refresh-token family and links it from the user's offline sessions; returns
    /// its id and the token for the client.
    async fn issue_refresh_token(
        &self,
        client: &Client,
        claims: &Claims,
        granted: &[String],
        nonce: &str,
        connector_id: &str,
    ) -> Result<(String, String), OAuthError> {
        let now = self.clock.now();
        let value = RefreshTokenValue {
            id: crate::ids::new_id()?,
            secret: crate::ids::new_id()?,
        };
        self.store
            .create(&RefreshToken {
                id: value.id.clone(),
                token_hash: TokenHash::of(&value.secret),
                obsolete_token_hash: None,
                successor_sealed: None,
                created_at: now,
                last_used: now,
                client_id: client.id.clone(),
                connector_id: connector_id.to_owned(),
                connector_data: None,
                claims: claims.clone(),
                scopes: granted.to_vec(),
                nonce: nonce.to_owned(),
                upstream_refresh_until: None,
            })
            .await?;
        let key = OfflineSessions::key_for(&claims.user_id, connector_id);
        let reference = RefreshTokenRef {
            id: value.id.clone(),
            client_id: client.id.clone(),
            created_at: now,
            last_used: now,
        };
        self.store
            .upsert::<OfflineSessions, _>(&key, |current| {
                let mut session = current
                    .unwrap_or_else(|| OfflineSessions::new(claims.user_id.clone(), connector_id));
                session
                    .refresh
                    .insert(reference.id.clone(), reference.clone());
                Ok(session)
            })
            .await?;
        Ok((value.id.clone(), value.encode()))
    }

    /// Deletes a refresh-token family and its offline-session link. Already gone is fine.
    pub async fn revoke_refresh_family(&self, id: &str) -> crate::Result<()> {
        let token = match self.store.get::<RefreshToken>(id).await {
            Ok(t) => t.value,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        match self.store.delete::<RefreshToken>(id).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let key = OfflineSessions::key_for(&token.claims.user_id, &token.connector_id);
        match self
            .store
            .update::<OfflineSessions, _>(&key, |mut s| {
                s.refresh.remove(id);
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
