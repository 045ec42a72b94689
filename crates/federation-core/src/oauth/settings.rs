//! The issuer's protocol settings (from Dex's `oauth2` and `expiry` configuration).

use std::collections::BTreeSet;

use chrono::Duration;

use crate::model::PkceMethod;

/// Grant type names (RFC 6749 §4, RFC 8628, RFC 8693).
pub mod grant {
    /// `authorization_code`.
    pub const AUTHORIZATION_CODE: &str = "authorization_code";
    /// `refresh_token`.
    pub const REFRESH_TOKEN: &str = "refresh_token";
    /// `implicit`.
    pub const IMPLICIT: &str = "implicit";
    /// `password`.
    pub const PASSWORD: &str = "password";
    /// `client_credentials`.
    pub const CLIENT_CREDENTIALS: &str = "client_credentials";
    /// RFC 8628 device code.
    pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
    /// RFC 8693 token exchange.
    pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
}

/// Refresh-token policy (`expiry.refreshTokens`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Rotate the secret on every use (`disableRotation: false`, the default).
    pub rotation: bool,
    /// How long the previous secret stays valid after a rotation (`reuseInterval`; Dex's
    /// example configuration uses 3s, which is the default here).
    pub reuse_interval: Duration,
    /// Expire a token unused for this long (`validIfNotUsedFor`).
    pub valid_if_not_used_for: Option<Duration>,
    /// Expire a token family this long after login (`absoluteLifetime`).
    pub absolute_lifetime: Option<Duration>,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            rotation: true,
            reuse_interval: Duration::seconds(3),
            valid_if_not_used_for: None,
            absolute_lifetime: None,
        }
    }
}

/// PKCE policy (`oauth2.pkce`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkcePolicy {
    /// Require a code challenge on every authorization request.
    pub enforce: bool,
    /// Accepted methods (default S256 and plain, as in Dex).
    pub methods: Vec<PkceMethod>,
}

impl Default for PkcePolicy {
    fn default() -> Self {
        Self {
            enforce: false,
            methods: vec![PkceMethod::S256, PkceMethod::Plain],
        }
    }
}

/// Everything the engine needs to know about the issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The issuer URL exactly as configured (`iss`).
    pub issuer: String,
    /// Allowed response-type words (`oauth2.responseTypes`, flattened): `code`, `token`,
    /// `id_token`.
    pub response_types: BTreeSet<String>,
    /// Enabled grant types.
    pub grant_types: BTreeSet<String>,
    /// `expiry.idTokens` (also the access-token lifetime, as in Dex).
    pub id_token_lifetime: Duration,
    /// `expiry.authRequests`.
    pub auth_request_lifetime: Duration,
    /// Authorization-code lifetime (fixed at 30 minutes in Dex).
    pub code_lifetime: Duration,
    /// `expiry.deviceRequests`: how long a device code and its user code stay valid.
    pub device_request_lifetime: Duration,
    /// Refresh policy.
    pub refresh: RefreshPolicy,
    /// PKCE policy.
    pub pkce: PkcePolicy,
    /// `oauth2.skipApprovalScreen`.
    pub skip_approval: bool,
    /// `oauth2.alwaysShowLoginScreen`.
    pub always_show_login: bool,
    /// `oauth2.passwordConnector`: the connector the password grant uses.
    pub password_connector: Option<String>,
}

impl Settings {
    /// Dex's defaults for `issuer`: code flow, authorization_code + refresh_token grants, 24h
    /// tokens and requests.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            response_types: ["code".to_owned()].into(),
            grant_types: [grant::AUTHORIZATION_CODE, grant::REFRESH_TOKEN]
                .map(str::to_owned)
                .into(),
            id_token_lifetime: Duration::hours(24),
            auth_request_lifetime: Duration::hours(24),
            code_lifetime: Duration::minutes(30),
            device_request_lifetime: Duration::minutes(5),
            refresh: RefreshPolicy::default(),
            pkce: PkcePolicy::default(),
            skip_approval: false,
            always_show_login: false,
            password_connector: None,
        }
    }

    /// `issuer` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer.trim_end_matches('/'), path)
    }

    /// `true` if `grant_type` is enabled.
    pub fn grant_enabled(&self, grant_type: &str) -> bool {
        self.grant_types.contains(grant_type)
    }
}
