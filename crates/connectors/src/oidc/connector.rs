//! The `oidc` connector's login, refresh and token-identity logic.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use openidconnect::core::{
    CoreClient, CoreIdToken, CoreIdTokenVerifier, CoreJwsSigningAlgorithm, CoreTokenResponse,
};
use openidconnect::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, TokenResponse, TokenUrl,
};
use oxidex_core::connector::{
    CallbackConnector, CallbackLogin, CallbackRequest, RefreshConnector, TokenIdentityConnector,
};
use oxidex_core::model::{Identity, Scopes};
use oxidex_core::{Error, Result};
use serde_json::{Map, Value};

use super::config::{PkceMethod, Settings};
use super::provider::{Endpoints, Provider};
use crate::flow::{self, LoginState, RefreshData, upstream};

/// RFC 8693 token type of an ID token.
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// RFC 8693 token type of an access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Signature algorithms accepted on upstream ID tokens: the asymmetric ones (go-oidc's set).
const ALGORITHMS: [CoreJwsSigningAlgorithm; 10] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// An `oidc` connector.
#[derive(Debug)]
pub struct OidcConnector {
    id: String,
    settings: Arc<Settings>,
    provider: Provider,
    auth: flow::ClientAuth,
}

/// How an ID token's nonce is checked.
#[derive(Clone, Copy)]
enum NonceCheck<'a> {
    /// Must equal the one sent at login.
    Equals(&'a str),
    /// Not checked (refresh, token exchange: no login request to bind to).
    Any,
}

impl OidcConnector {
    pub(crate) fn new(id: String, settings: Arc<Settings>, provider: Provider) -> Self {
        let auth = flow::ClientAuth::new(settings.secret_in_body.map(|body| {
            if body {
                flow::AuthStyle::Body
            } else {
                flow::AuthStyle::Basic
            }
        }));
        Self {
            id,
            settings,
            provider,
            auth,
        }
    }

    fn fail(&self, message: impl Into<String>) -> Error {
        upstream(&self.id, message)
    }

    async fn endpoints(&self) -> Result<Arc<Endpoints>> {
        self.provider.endpoints().await.map_err(|e| {
            flow::unavailable(
                &self.id,
                format!("cannot reach the provider {}: {e}", self.settings.issuer),
            )
        })
    }

    /// The token request to the provider, with our client credentials in the style that
    /// works (see [`flow::ClientAuth`]).
    async fn token_request(
        &self,
        endpoints: &Endpoints,
        grant: Grant<'_>,
    ) -> Result<CoreTokenResponse> {
        let mut style = self.auth.first();
        loop {
            match self.token_request_as(endpoints, &grant, style).await {
                Ok(response) => {
                    self.auth.learn(style);
                    return Ok(response);
                }
                Err(e) if flow::is_invalid_client(&e) => match self.auth.fallback(style) {
                    Some(next) => style = next,
                    None => return Err(flow::token_error(&self.id, &e)),
                },
                Err(e) => return Err(flow::token_error(&self.id, &e)),
            }
        }
    }

    async fn token_request_as(
        &self,
        endpoints: &Endpoints,
        grant: &Grant<'_>,
        style: flow::AuthStyle,
    ) -> std::result::Result<CoreTokenResponse, TokenRequestError> {
        let s = &self.settings;
        let invalid = |what: &str, e: openidconnect::url::ParseError| {
            oauth2::RequestTokenError::Other(format!("{what}: {e}"))
        };
        let token_url = TokenUrl::new(endpoints.token_url.clone())
            .map_err(|e| invalid("token endpoint URL", e))?;
        let issuer = IssuerUrl::new(s.issuer.clone()).map_err(|e| invalid("issuer URL", e))?;
        let redirect =
            RedirectUrl::new(s.redirect_uri.clone()).map_err(|e| invalid("redirectURI", e))?;
        let mut client = CoreClient::new(
            ClientId::new(s.client_id.clone()),
            issuer,
            endpoints.keys.clone(),
        )
        .set_token_uri(token_url)
        .set_redirect_uri(redirect)
        .set_auth_type(style.oauth2());
        if !s.client_secret.is_empty() {
            client =
                client.set_client_secret(ClientSecret::new(s.client_secret.expose().to_owned()));
        }
        let http = &self.provider.http;
        match grant {
            Grant::Code { code, verifier } => {
                client
                    .exchange_code(AuthorizationCode::new((*code).to_owned()))
                    .set_pkce_verifier(PkceCodeVerifier::new((*verifier).to_owned()))
                    .request_async(http)
                    .await
            }
            Grant::Refresh(token) => {
                let token = RefreshToken::new((*token).to_owned());
                client
                    .exchange_refresh_token(&token)
                    .request_async(http)
                    .await
            }
        }
    }

    /// Verifies `raw` (signature, issuer, audience unless `any_audience`, expiry, nonce) and
    /// returns its claims. An unknown key makes one fetch of the key set (the provider
    /// rotated) before giving up.
    async fn verified_claims(
        &self,
        endpoints: Arc<Endpoints>,
        raw: &str,
        nonce: NonceCheck<'_>,
        any_audience: bool,
    ) -> Result<Map<String, Value>> {
        let token = CoreIdToken::from_str(raw)
            .map_err(|e| self.fail(format!("the ID token is malformed: {e}")))?;
        let mut attempt = self.verify(&endpoints, &token, nonce, any_audience);
        if matches!(
            attempt,
            Err(
                openidconnect::ClaimsVerificationError::SignatureVerification(
                    openidconnect::SignatureVerificationError::NoMatchingKey
                )
            )
        ) {
            let fresh = self.provider.refetch_keys(&endpoints).await.map_err(|e| {
                flow::unavailable(&self.id, format!("re-fetching the provider's keys: {e}"))
            })?;
            attempt = self.verify(&fresh, &token, nonce, any_audience);
        }
        attempt.map_err(|e| self.fail(format!("the ID token was refused: {}", describe(&e))))?;
        let claims = flow::jwt_payload(raw).map_err(|e| self.fail(e))?;
        let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
        let s = &self.settings;
        if iss != s.issuer && s.issuer_alias.as_deref() != Some(iss) {
            return Err(self.fail(format!(
                "the ID token was refused: issuer {iss:?} is not {:?}",
                s.issuer
            )));
        }
        Ok(claims)
    }

    fn verify(
        &self,
        endpoints: &Endpoints,
        token: &CoreIdToken,
        nonce: NonceCheck<'_>,
        any_audience: bool,
    ) -> std::result::Result<(), openidconnect::ClaimsVerificationError> {
        let s = &self.settings;
        // The issuer is compared by us afterwards (it may be the configured alias).
        let placeholder = IssuerUrl::new(s.issuer.clone()).map_err(|e| {
            openidconnect::ClaimsVerificationError::Other(format!("issuer URL: {e}"))
        })?;
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(s.client_id.clone()),
            placeholder,
            endpoints.keys.clone(),
        )
        .require_issuer_match(false)
        .require_audience_match(!any_audience)
        .set_allowed_algs(ALGORITHMS);
        match nonce {
            NonceCheck::Equals(sent) => {
                let sent = Nonce::new(sent.to_owned());
                token.claims(&verifier, &sent).map(|_| ())
            }
            NonceCheck::Any => token
                .claims(&verifier, |_: Option<&Nonce>| Ok(()))
                .map(|_| ()),
        }
    }

    /// Claims from the tokens a token endpoint answered (ID token and, if configured,
    /// user-info), mapped to an identity. `previous` is the identity being refreshed: without
    /// a new ID token or user-info it is kept.
    async fn identity(
        &self,
        endpoints: Arc<Endpoints>,
        response: &CoreTokenResponse,
        nonce: NonceCheck<'_>,
        previous: Option<&Identity>,
        fallback_refresh_token: Option<&str>,
    ) -> Result<Identity> {
        let mut claims = match response.id_token() {
            Some(id_token) => Some(
                self.verified_claims(endpoints.clone(), &id_token.to_string(), nonce, false)
                    .await?,
            ),
            None if previous.is_some() => None,
            None => {
                return Err(self.fail(
                    "the token response has no id_token (is `openid` among the client's scopes \
                     at the provider?)",
                ));
            }
        };
        if self.settings.get_user_info {
            let info = self
                .user_info(&endpoints, response.access_token().secret())
                .await?;
            claims = Some(self.merge_user_info(claims, info)?);
        }
        let refresh_token = response
            .refresh_token()
            .map(|t| t.secret().as_str())
            .or(fallback_refresh_token)
            .unwrap_or("");
        let mut identity = match (claims, previous) {
            (Some(claims), _) => self.map_claims(&claims)?,
            (None, Some(previous)) => previous.clone(),
            (None, None) => return Err(self.fail("no claims")),
        };
        identity.connector_data = RefreshData::encode(refresh_token);
        Ok(identity)
    }

    async fn user_info(
        &self,
        endpoints: &Endpoints,
        access_token: &str,
    ) -> Result<Map<String, Value>> {
        let Some(url) = endpoints.userinfo_url.as_deref() else {
            return Err(self.fail(
                "`getUserInfo` is set but the provider has no userinfo_endpoint; set \
                 providerDiscoveryOverrides.userInfoURL",
            ));
        };
        flow::user_info(&self.id, &self.provider.http, url, access_token).await
    }

    /// User-info claims override the ID token's (Dex), but must be about the same subject
    /// (OIDC Core §5.3.2).
    fn merge_user_info(
        &self,
        claims: Option<Map<String, Value>>,
        info: Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        let Some(mut claims) = claims else {
            return Ok(info);
        };
        if info.get("sub") != claims.get("sub") {
            return Err(self.fail(
                "the user-info `sub` differs from the ID token's; refusing both (OIDC Core 5.3.2)",
            ));
        }
        claims.extend(info);
        Ok(claims)
    }

    fn map_claims(&self, claims: &Map<String, Value>) -> Result<Identity> {
        let identity = self
            .settings
            .mapping
            .map(claims, true)
            .map_err(|e| e.into_error(&self.id))?;
        let domains = &self.settings.hosted_domains;
        if !domains.is_empty() {
            let hd = claims.get("hd").and_then(Value::as_str).unwrap_or("");
            if !domains.iter().any(|d| d == hd) {
                return Err(Error::LoginRefused {
                    connector_id: self.id.clone(),
                    reason: format!(
                        "the user's domain (hd claim {hd:?}) is not one of hostedDomains ({})",
                        domains.join(", ")
                    )
                    .into(),
                    user_message: "Your account's domain may not log in here.",
                });
            }
        }
        Ok(identity)
    }
}

/// What `request_async` fails with.
type TokenRequestError = oauth2::RequestTokenError<
    crate::http::HttpError,
    oauth2::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
>;

enum Grant<'a> {
    Code { code: &'a str, verifier: &'a str },
    Refresh(&'a str),
}

/// The verification error with its cause (openidconnect's top-level text alone says only
/// "Signature verification failed").
fn describe(e: &openidconnect::ClaimsVerificationError) -> String {
    match e {
        openidconnect::ClaimsVerificationError::SignatureVerification(inner) => {
            format!("signature verification failed: {inner}")
        }
        other => other.to_string(),
    }
}

#[async_trait]
impl CallbackConnector for OidcConnector {
    async fn login_url(
        &self,
        scopes: Scopes,
        _callback_url: &str,
        state: &str,
    ) -> Result<CallbackLogin> {
        let endpoints = self.endpoints().await?;
        let s = &self.settings;
        let login = LoginState::new(true)?;
        let verifier = PkceCodeVerifier::new(login.pkce.clone());
        let (challenge, method) = match s.pkce {
            PkceMethod::S256 => (
                PkceCodeChallenge::from_code_verifier_sha256(&verifier)
                    .as_str()
                    .to_owned(),
                "S256",
            ),
            PkceMethod::Plain => (login.pkce.clone(), "plain"),
        };
        let mut url = AuthUrl::new(endpoints.auth_url.clone())
            .map_err(|e| self.fail(format!("authorization endpoint URL: {e}")))?
            .url()
            .clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &s.client_id)
                .append_pair("redirect_uri", &s.redirect_uri)
                .append_pair("response_type", "code")
                .append_pair("scope", &s.scopes.join(" "))
                .append_pair("state", state)
                .append_pair("nonce", &login.nonce)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", method);
            if !s.acr_values.is_empty() {
                q.append_pair("acr_values", &s.acr_values.join(" "));
            }
            match s.hosted_domains.as_slice() {
                [] => {}
                [one] => {
                    q.append_pair("hd", one);
                }
                _ => {
                    q.append_pair("hd", "*");
                }
            }
            if scopes.offline_access {
                q.append_pair("access_type", "offline");
                if !s.prompt_type.is_empty() {
                    q.append_pair("prompt", &s.prompt_type);
                }
            }
        }
        Ok(CallbackLogin {
            url: url.into(),
            connector_data: Some(login.to_bytes()?),
        })
    }

    async fn handle_callback(
        &self,
        _scopes: Scopes,
        connector_data: Option<&[u8]>,
        request: &CallbackRequest,
    ) -> Result<Identity> {
        let code = flow::authorization_code(&self.id, request)?;
        let login = LoginState::from_bytes(&self.id, connector_data)?;
        let endpoints = self.endpoints().await?;
        let response = self
            .token_request(
                &endpoints,
                Grant::Code {
                    code: &code,
                    verifier: &login.pkce,
                },
            )
            .await?;
        self.identity(
            endpoints,
            &response,
            NonceCheck::Equals(&login.nonce),
            None,
            None,
        )
        .await
    }
}

#[async_trait]
impl RefreshConnector for OidcConnector {
    async fn refresh(&self, _scopes: Scopes, identity: Identity) -> Result<Identity> {
        let Some(refresh_token) = RefreshData::decode(identity.connector_data.as_deref()) else {
            return Err(self.fail(
                "no upstream refresh token was kept for this user (add `offline_access` to the \
                 connector's `scopes` if the provider needs it)",
            ));
        };
        let endpoints = self.endpoints().await?;
        let response = self
            .token_request(&endpoints, Grant::Refresh(&refresh_token))
            .await?;
        self.identity(
            endpoints,
            &response,
            NonceCheck::Any,
            Some(&identity),
            Some(&refresh_token),
        )
        .await
    }
}

#[async_trait]
impl TokenIdentityConnector for OidcConnector {
    async fn token_identity(
        &self,
        subject_token_type: &str,
        subject_token: &str,
    ) -> Result<Identity> {
        let endpoints = self.endpoints().await?;
        let claims = match subject_token_type {
            // Dex verifies exchanged ID tokens without the client-id check: they were issued
            // to another client of the same provider.
            ID_TOKEN_TYPE => {
                self.verified_claims(endpoints, subject_token, NonceCheck::Any, true)
                    .await?
            }
            ACCESS_TOKEN_TYPE if self.settings.get_user_info => {
                self.user_info(&endpoints, subject_token).await?
            }
            ACCESS_TOKEN_TYPE => {
                return Err(
                    self.fail("access tokens can only be exchanged with `getUserInfo: true`")
                );
            }
            other => {
                return Err(self.fail(format!("subject_token_type {other:?} is not supported")));
            }
        };
        let mut identity = self.map_claims(&claims)?;
        identity.connector_data = None;
        Ok(identity)
    }
}
