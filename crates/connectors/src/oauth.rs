//! The `oauth` connector: any OAuth 2.0 provider that has a user-info endpoint answering JSON
//! (Dex `connector/oauth`). The code comes back to `/callback`, is exchanged at `tokenURL`
//! (with PKCE, which Dex does not send and providers that do not know it ignore), and
//! `userInfoURL` says who the user is; `claimMapping` names the fields. Groups come from
//! user-info and from the access token's payload when it is a JWT (as Dex reads them). No
//! refresh: Dex's generic OAuth2 connector has none, so logins through it get no refresh
//! tokens.
//!
//! See `docs/connectors/oauth.md` for every field.

use std::sync::Arc;

use async_trait::async_trait;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, TokenResponse, TokenUrl,
};
use oxidex_core::Result;
use oxidex_core::connector::claims::{ClaimLookup, ClaimMapping, EmailVerified, GroupRules};
use oxidex_core::connector::{
    CallbackConnector, CallbackLogin, CallbackRequest, Connector, ConnectorFactory,
    ConnectorRegistry, OpenContext,
};
use oxidex_core::model::{Identity, Scopes};
use serde::Deserialize;

use crate::flow::{self, LoginState, check_http_url, is_loopback};
use crate::http::UpstreamHttp;
use crate::tls::UpstreamTls;

/// Type name of the connector.
pub const OAUTH: &str = "oauth";

/// Registers the `oauth` type.
pub fn register(registry: &mut ConnectorRegistry) {
    registry.register(OAUTH, Arc::new(OAuthFactory));
}

/// The `oauth` connector's `config` block, as Dex reads it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OAuthConfig {
    /// Our client id at the provider.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// Our client secret (redacted in `Debug`).
    #[serde(default)]
    pub client_secret: oxidex_core::secret::ClientSecret,
    /// Our callback URL registered at the provider.
    #[serde(rename = "redirectURI")]
    pub redirect_uri: String,
    /// The provider's token endpoint.
    #[serde(rename = "tokenURL")]
    pub token_url: String,
    /// The provider's authorization endpoint.
    #[serde(rename = "authorizationURL")]
    pub authorization_url: String,
    /// The provider's user-info endpoint.
    #[serde(rename = "userInfoURL")]
    pub user_info_url: String,
    /// Scopes to ask for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Extra roots: PEM text, file paths or base64 PEM.
    #[serde(default, rename = "rootCAs")]
    pub root_cas: Vec<String>,
    /// Trust any TLS certificate. Tests only.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// User-info field holding the user id (default `id`); a string or a number.
    #[serde(default, rename = "userIDKey")]
    pub user_id_key: String,
    /// User-info field names.
    #[serde(default)]
    pub claim_mapping: OAuthClaimMapping,
}

/// `claimMapping` of the `oauth` connector (every key has Dex's default).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OAuthClaimMapping {
    /// Display name (default `user_name`).
    #[serde(default)]
    pub user_name_key: String,
    /// Preferred username (default `preferred_username`).
    #[serde(default)]
    pub preferred_username_key: String,
    /// Groups (default `groups`).
    #[serde(default)]
    pub groups_key: String,
    /// E-mail (default `email`).
    #[serde(default)]
    pub email_key: String,
    /// E-mail verified (default `email_verified`).
    #[serde(default)]
    pub email_verified_key: String,
}

fn or_default(value: &str, default: &str) -> String {
    if value.is_empty() {
        default.to_owned()
    } else {
        value.to_owned()
    }
}

/// A checked `oauth` configuration.
#[derive(Debug, Clone)]
struct Settings {
    client_id: String,
    client_secret: oxidex_core::secret::ClientSecret,
    redirect_uri: RedirectUrl,
    token_url: TokenUrl,
    auth_url: AuthUrl,
    user_info_url: String,
    scopes: Vec<String>,
    tls: UpstreamTls,
    mapping: ClaimMapping,
    groups: GroupRules,
}

impl OAuthConfig {
    fn settings(self) -> std::result::Result<(Settings, Vec<String>), String> {
        let mut warnings = Vec::new();
        for (field, value) in [
            ("clientID", &self.client_id),
            ("redirectURI", &self.redirect_uri),
            ("tokenURL", &self.token_url),
            ("authorizationURL", &self.authorization_url),
            ("userInfoURL", &self.user_info_url),
        ] {
            if value.trim().is_empty() {
                return Err(format!("`{field}` is required"));
            }
        }
        for (field, value) in [
            ("redirectURI", &self.redirect_uri),
            ("tokenURL", &self.token_url),
            ("authorizationURL", &self.authorization_url),
            ("userInfoURL", &self.user_info_url),
        ] {
            let url = check_http_url(field, value)?;
            if field != "redirectURI" && url.scheme() == "http" && !is_loopback(&url) {
                warnings.push(format!(
                    "`{field}` {value} is plain HTTP: codes and tokens cross the network \
                     unencrypted"
                ));
            }
        }
        if self.insecure_skip_verify {
            warnings.push(
                "`insecureSkipVerify` is set: any TLS certificate is trusted, so anyone on the \
                 network path can impersonate the provider"
                    .into(),
            );
        }
        let mut tls = UpstreamTls {
            system_roots: true,
            insecure_skip_verify: self.insecure_skip_verify,
            ..UpstreamTls::default()
        };
        for (i, root) in self.root_cas.iter().enumerate() {
            tls.add_root_reference(root, &format!("rootCAs[{i}]"))?;
        }
        let m = &self.claim_mapping;
        let mapping = ClaimMapping {
            user_id: ClaimLookup::key(or_default(&self.user_id_key, "id")).required(),
            user_id_numbers: true,
            username: ClaimLookup::key(or_default(&m.user_name_key, "user_name")),
            preferred_username: ClaimLookup::key(or_default(
                &m.preferred_username_key,
                "preferred_username",
            )),
            email: ClaimLookup::key(or_default(&m.email_key, "email")),
            email_verified: EmailVerified::Claim {
                key: or_default(&m.email_verified_key, "email_verified"),
                required: false,
                assume_when_missing: false,
                refuse_unverified: false,
            },
            groups: None,
        };
        let groups = GroupRules {
            keys: vec![or_default(&m.groups_key, "groups")],
            strict: false,
            ..GroupRules::default()
        };
        let settings = Settings {
            client_id: self.client_id,
            client_secret: self.client_secret,
            redirect_uri: RedirectUrl::new(self.redirect_uri)
                .map_err(|e| format!("`redirectURI`: {e}"))?,
            token_url: TokenUrl::new(self.token_url).map_err(|e| format!("`tokenURL`: {e}"))?,
            auth_url: AuthUrl::new(self.authorization_url)
                .map_err(|e| format!("`authorizationURL`: {e}"))?,
            user_info_url: self.user_info_url,
            scopes: self.scopes,
            tls,
            mapping,
            groups,
        };
        Ok((settings, warnings))
    }
}

/// An `oauth` connector.
#[derive(Debug)]
pub struct OAuthConnector {
    id: String,
    settings: Settings,
    http: UpstreamHttp,
    auth: flow::ClientAuth,
}

impl OAuthConnector {
    /// Groups from one source, or none if it has no usable groups field (Dex ignores those).
    fn groups_of(&self, claims: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
        self.settings.groups.apply(claims).unwrap_or_default()
    }
}

#[async_trait]
impl CallbackConnector for OAuthConnector {
    async fn login_url(
        &self,
        _scopes: Scopes,
        _callback_url: &str,
        state: &str,
    ) -> Result<CallbackLogin> {
        let s = &self.settings;
        let login = LoginState::new(false)?;
        let verifier = PkceCodeVerifier::new(login.pkce.clone());
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
        let mut url = s.auth_url.url().clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &s.client_id)
                .append_pair("redirect_uri", s.redirect_uri.as_str())
                .append_pair("response_type", "code")
                .append_pair("state", state)
                .append_pair("code_challenge", challenge.as_str())
                .append_pair("code_challenge_method", challenge.method().as_str());
            if !s.scopes.is_empty() {
                q.append_pair("scope", &s.scopes.join(" "));
            }
        }
        Ok(CallbackLogin {
            url: url.into(),
            connector_data: Some(login.to_bytes()?),
        })
    }

    async fn handle_callback(
        &self,
        scopes: Scopes,
        connector_data: Option<&[u8]>,
        request: &CallbackRequest,
    ) -> Result<Identity> {
        let code = flow::authorization_code(&self.id, request)?;
        let login = LoginState::from_bytes(&self.id, connector_data)?;
        let s = &self.settings;
        let mut style = self.auth.first();
        let token = loop {
            let mut client = BasicClient::new(ClientId::new(s.client_id.clone()))
                .set_auth_uri(s.auth_url.clone())
                .set_token_uri(s.token_url.clone())
                .set_redirect_uri(s.redirect_uri.clone())
                .set_auth_type(style.oauth2());
            if !s.client_secret.is_empty() {
                client = client
                    .set_client_secret(ClientSecret::new(s.client_secret.expose().to_owned()));
            }
            let answer = client
                .exchange_code(AuthorizationCode::new(code.clone()))
                .set_pkce_verifier(PkceCodeVerifier::new(login.pkce.clone()))
                .request_async(&self.http)
                .await;
            match answer {
                Ok(token) => {
                    self.auth.learn(style);
                    break token;
                }
                // Dex detects the style: Basic first, then the secret in the body.
                Err(e) if flow::is_invalid_client(&e) => match self.auth.fallback(style) {
                    Some(next) => style = next,
                    None => return Err(flow::token_error(&self.id, &e)),
                },
                Err(e) => return Err(flow::token_error(&self.id, &e)),
            }
        };
        let access_token = token.access_token().secret();
        let info = flow::user_info(&self.id, &self.http, &s.user_info_url, access_token).await?;
        let mut identity = s
            .mapping
            .map(&info, false)
            .map_err(|e| e.into_error(&self.id))?;
        if scopes.groups {
            let mut groups = self.groups_of(&info);
            // Dex also reads groups from the access token when it is a JWT; it came straight
            // from the token endpoint over TLS, so its payload is as trusted as user-info.
            if let Ok(payload) = flow::jwt_payload(access_token) {
                for g in self.groups_of(&payload) {
                    if !groups.contains(&g) {
                        groups.push(g);
                    }
                }
            }
            identity.groups = groups;
        }
        Ok(identity)
    }
}

/// Opens `oauth` connectors.
#[derive(Debug, Clone, Copy, Default)]
pub struct OAuthFactory;

impl OAuthFactory {
    fn settings(ctx: &OpenContext, config: &serde_json::Value) -> Result<(Settings, Vec<String>)> {
        serde_json::from_value::<OAuthConfig>(config.clone())
            .map_err(|e| e.to_string())
            .and_then(OAuthConfig::settings)
            .map_err(flow::config_error(ctx))
    }
}

#[async_trait]
impl ConnectorFactory for OAuthFactory {
    async fn open(&self, ctx: &OpenContext, config: serde_json::Value) -> Result<Connector> {
        let (settings, warnings) = Self::settings(ctx, &config)?;
        let http = flow::open_http(ctx, &settings.tls, warnings)?;
        Ok(Connector::callback(OAuthConnector {
            id: ctx.id.clone(),
            settings,
            http,
            auth: flow::ClientAuth::new(None),
        })
        .build())
    }

    fn check(&self, ctx: &OpenContext, config: &serde_json::Value) -> Result<Vec<String>> {
        Self::settings(ctx, config).map(|(_, warnings)| warnings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(v: serde_json::Value) -> Result<Vec<String>> {
        OAuthFactory.check(&OpenContext::new("o"), &v)
    }

    fn minimal() -> serde_json::Value {
        json!({
            "clientID": "c", "clientSecret": "s",
            "redirectURI": "https://dex.example.com/callback",
            "tokenURL": "https://idp.example.com/token",
            "authorizationURL": "https://idp.example.com/authorize",
            "userInfoURL": "https://idp.example.com/userinfo",
        })
    }

    #[test]
    fn configuration_is_checked_field_by_field() {
        assert!(check(minimal()).unwrap().is_empty());
        let mut v = minimal();
        v["userInfoURL"] = json!("");
        assert!(
            check(v)
                .unwrap_err()
                .to_string()
                .contains("`userInfoURL` is required")
        );
        let mut v = minimal();
        v["claimMapping"] = json!({"groupKey": "g"});
        assert!(
            check(v)
                .unwrap_err()
                .to_string()
                .contains("unknown field `groupKey`")
        );
        let mut v = minimal();
        v["tokenURL"] = json!("http://idp.example.com/token");
        assert_eq!(check(v).unwrap().len(), 1);
    }

    #[test]
    fn user_ids_and_fields_follow_dex_defaults() {
        let (s, _) = OAuthFactory::settings(&OpenContext::new("o"), &minimal()).unwrap();
        let info = json!({"id": 1234567, "user_name": "jane", "email": "j@x", "groups": ["a"]});
        let identity = s.mapping.map(info.as_object().unwrap(), false).unwrap();
        assert_eq!(identity.user_id, "1.234567e+06");
        assert_eq!(identity.username, "jane");
        assert!(!identity.email_verified);
        assert_eq!(s.groups.apply(info.as_object().unwrap()).unwrap(), ["a"]);
    }
}
