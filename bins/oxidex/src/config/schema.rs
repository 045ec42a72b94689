//! The typed configuration: every top-level key of a Dex config file (`reference/dex.md` §7.1).
//!
//! Field names on the serde side are Dex's. Sections read straight from YAML derive
//! `Deserialize`; sections whose shape depends on a `type` (storage, signer, connectors, MFA
//! authenticators) or that resolve environment indirections (static clients and passwords)
//! are assembled by the loader into the resolved types here.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use oxidex_core::model::{Client, ClientCredentialsClaims, ConnectorRecord, Password};
use oxidex_storage::{EtcdConfig, MysqlConfig, PostgresConfig, SqliteConfig};
use serde::Deserialize;

use super::duration;
use super::env::FeatureFlags;

/// Default `expiry.idTokens` (Dex: 24h).
pub const DEFAULT_ID_TOKENS: Duration = Duration::from_secs(24 * 3600);
/// Default `expiry.authRequests` (Dex: 24h).
pub const DEFAULT_AUTH_REQUESTS: Duration = Duration::from_secs(24 * 3600);
/// Default `expiry.deviceRequests` (Dex: 5m).
pub const DEFAULT_DEVICE_REQUESTS: Duration = Duration::from_secs(5 * 60);
/// Default signing-key rotation period (Dex `expiry.signingKeys`: 6h).
pub const DEFAULT_SIGNING_KEYS: Duration = Duration::from_secs(6 * 3600);

/// A Dex configuration file, read, resolved and checked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// `issuer`: the public URL of the server, exactly as clients must use it (`iss` claim).
    pub issuer: String,
    /// `storage`: where state is kept.
    pub storage: Storage,
    /// `web`: the HTTP(S) listener.
    pub web: Web,
    /// `grpc`: the admin API listener.
    pub grpc: Grpc,
    /// `telemetry`: the metrics and health listener.
    pub telemetry: Telemetry,
    /// `frontend`: pages and branding.
    pub frontend: Frontend,
    /// `logger`: log level and format.
    pub logger: Logger,
    /// `oauth2`: enabled flows and consent behaviour.
    pub oauth2: OAuth2,
    /// `expiry`: token and request lifetimes.
    pub expiry: Expiry,
    /// `signer`: how tokens are signed (defaults to local keys when absent).
    pub signer: Signer,
    /// `staticClients`, with `idEnv`/`secretEnv` resolved.
    pub static_clients: Vec<StaticClient>,
    /// `enablePasswordDB`: the `local` connector backed by the password table.
    pub enable_password_db: bool,
    /// `staticPasswords`, with `hashFromEnv` resolved and hashes as bcrypt text.
    pub static_passwords: Vec<Password>,
    /// `connectors`, followed by `{id: local, type: local, name: Email}` when
    /// `enablePasswordDB` is set (as Dex adds it).
    pub connectors: Vec<ConnectorRecord>,
    /// `sessions` (Dex master, behind `DEX_SESSIONS_ENABLED`), if present.
    pub sessions: Option<Sessions>,
    /// `mfa` (Dex master, behind `DEX_SESSIONS_ENABLED`), if present.
    pub mfa: Option<Mfa>,
    /// The `DEX_*` feature flags in effect when the file was loaded.
    pub feature_flags: FeatureFlags,
}

impl Config {
    /// The static clients as storage records.
    pub fn clients(&self) -> impl Iterator<Item = &Client> {
        self.static_clients.iter().map(|c| &c.client)
    }

    /// The grant types the token endpoint allows, as Dex's `serve` computes them: the
    /// configured `oauth2.grantTypes`, or Dex's command-line default, then narrowed to what
    /// the rest of the configuration makes possible (`implicit` needs a `token` response type,
    /// `password` needs `oauth2.passwordConnector`).
    pub fn allowed_grant_types(&self) -> Vec<String> {
        let configured: Vec<&str> = if self.oauth2.grant_types.is_empty() {
            let mut defaults = vec![
                grant::AUTHORIZATION_CODE,
                grant::IMPLICIT,
                grant::PASSWORD,
                grant::REFRESH_TOKEN,
                grant::DEVICE_CODE,
                grant::TOKEN_EXCHANGE,
            ];
            if self
                .feature_flags
                .client_credential_grant_enabled_by_default
            {
                defaults.push(grant::CLIENT_CREDENTIALS);
            }
            defaults
        } else {
            self.oauth2.grant_types.iter().map(String::as_str).collect()
        };
        let token_response = self
            .oauth2
            .effective_response_types()
            .iter()
            .any(|t| t.split(' ').any(|w| w == "token"));
        configured
            .into_iter()
            .filter(|g| *g != grant::IMPLICIT || token_response)
            .filter(|g| *g != grant::PASSWORD || !self.oauth2.password_connector.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// OAuth 2.0 grant type names (RFC 6749 §4, RFC 8628, RFC 8693).
pub mod grant {
    /// RFC 6749 §4.1.
    pub const AUTHORIZATION_CODE: &str = "authorization_code";
    /// RFC 6749 §4.2 (enabled through response types).
    pub const IMPLICIT: &str = "implicit";
    /// RFC 6749 §4.3.
    pub const PASSWORD: &str = "password";
    /// RFC 6749 §6.
    pub const REFRESH_TOKEN: &str = "refresh_token";
    /// RFC 6749 §4.4.
    pub const CLIENT_CREDENTIALS: &str = "client_credentials";
    /// RFC 8628.
    pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
    /// RFC 8693.
    pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
    /// Every grant type Dex knows.
    pub const ALL: [&str; 7] = [
        AUTHORIZATION_CODE,
        IMPLICIT,
        PASSWORD,
        REFRESH_TOKEN,
        CLIENT_CREDENTIALS,
        DEVICE_CODE,
        TOKEN_EXCHANGE,
    ];
}

/// `storage`: the backend and its settings (`reference/dex.md` §5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Storage {
    /// `type: memory` — lost on restart.
    Memory,
    /// `type: sqlite3` — one file.
    Sqlite3(SqliteConfig),
    /// `type: postgres` — a PostgreSQL database replicas share.
    Postgres(PostgresConfig),
    /// `type: mysql` — a MySQL or MariaDB database replicas share.
    Mysql(MysqlConfig),
    /// `type: etcd` — an etcd v3 cluster replicas share.
    Etcd(EtcdConfig),
}

impl Storage {
    /// Dex's name for the backend (`memory`, `sqlite3`, `postgres`, `mysql`, `etcd`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Storage::Memory => "memory",
            Storage::Sqlite3(_) => "sqlite3",
            Storage::Postgres(_) => "postgres",
            Storage::Mysql(_) => "mysql",
            Storage::Etcd(_) => "etcd",
        }
    }
}

/// `web`: the HTTP and HTTPS listeners.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Web {
    /// Plain-HTTP listen address (`host:port`).
    #[serde(default)]
    pub http: String,
    /// HTTPS listen address; needs `tlsCert` and `tlsKey`.
    #[serde(default)]
    pub https: String,
    /// PEM certificate chain for `https`.
    #[serde(default)]
    pub tls_cert: String,
    /// PEM private key for `https`.
    #[serde(default)]
    pub tls_key: String,
    /// Lowest TLS version: `1.2` (default) or `1.3`.
    #[serde(default)]
    pub tls_min_version: String,
    /// Highest TLS version: `1.2` or `1.3` (default).
    #[serde(default)]
    pub tls_max_version: String,
    /// Extra response headers.
    #[serde(default)]
    pub headers: Headers,
    /// CORS origins allowed to call the API from a browser (`*` for any).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Request headers allowed in CORS requests (Dex default: `Authorization`).
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    /// Where to read the client's IP address from behind proxies.
    #[serde(default, rename = "clientRemoteIP")]
    pub client_remote_ip: ClientRemoteIp,
}

/// `web.headers`: response headers, each sent only when set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Headers {
    /// `Content-Security-Policy`.
    #[serde(default, rename = "Content-Security-Policy")]
    pub content_security_policy: String,
    /// `X-Frame-Options`.
    #[serde(default, rename = "X-Frame-Options")]
    pub x_frame_options: String,
    /// `X-Content-Type-Options`.
    #[serde(default, rename = "X-Content-Type-Options")]
    pub x_content_type_options: String,
    /// `X-XSS-Protection`.
    #[serde(default, rename = "X-XSS-Protection")]
    pub x_xss_protection: String,
    /// `Strict-Transport-Security`.
    #[serde(default, rename = "Strict-Transport-Security")]
    pub strict_transport_security: String,
}

/// `web.clientRemoteIP`: the header carrying the client address, honoured only from
/// trusted proxies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct ClientRemoteIp {
    /// e.g. `X-Forwarded-For`.
    #[serde(default)]
    pub header: String,
    /// CIDR ranges of proxies whose header is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// `grpc`: the admin API (Dex `api/v2`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Grpc {
    /// Listen address; the API is off when empty.
    #[serde(default)]
    pub addr: String,
    /// PEM server certificate.
    #[serde(default)]
    pub tls_cert: String,
    /// PEM server key.
    #[serde(default)]
    pub tls_key: String,
    /// PEM CA that client certificates must chain to (mutual TLS).
    #[serde(default, rename = "tlsClientCA")]
    pub tls_client_ca: String,
    /// Lowest TLS version: `1.2` or `1.3`.
    #[serde(default)]
    pub tls_min_version: String,
    /// Highest TLS version: `1.2` or `1.3`.
    #[serde(default)]
    pub tls_max_version: String,
    /// Enable gRPC server reflection.
    #[serde(default)]
    pub reflection: bool,
}

/// `telemetry`: metrics and health checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Telemetry {
    /// Listen address for `/metrics` and `/healthz`.
    #[serde(default)]
    pub http: String,
    /// Serve profiling endpoints too.
    #[serde(default)]
    pub enable_profiling: bool,
}

/// `frontend`: the login pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Frontend {
    /// Directory with templates and static files overriding the built-in ones
    /// (`DEX_FRONTEND_DIR` when empty).
    #[serde(default)]
    pub dir: String,
    /// Logo URL (default `theme/logo.png`).
    #[serde(default, rename = "logoURL")]
    pub logo_url: String,
    /// Name shown on the pages (default `dex`).
    #[serde(default)]
    pub issuer: String,
    /// `light` (default) or `dark`; Dex's old `coreos`/`tectonic` mean `light`.
    #[serde(default)]
    pub theme: String,
    /// Values handed to templates.
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

/// `logger`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Logger {
    /// `debug`, `info` (default), `warn` or `error`.
    #[serde(default)]
    pub level: String,
    /// `text` (default) or `json`.
    #[serde(default)]
    pub format: String,
    /// Log attribute keys to drop (e.g. `email`).
    #[serde(default)]
    pub exclude_fields: Vec<String>,
}

/// `oauth2`: which flows are enabled and how consent works.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct OAuth2 {
    /// Allowed grant types (see [`Config::allowed_grant_types`] for the default).
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// Allowed response types (default `["code"]`).
    #[serde(default)]
    pub response_types: Vec<String>,
    /// Do not ask users to approve what a client receives.
    #[serde(default)]
    pub skip_approval_screen: bool,
    /// Show the connector chooser even with a single connector.
    #[serde(default)]
    pub always_show_login_screen: bool,
    /// The connector that checks passwords for the `password` grant.
    #[serde(default)]
    pub password_connector: String,
    /// PKCE policy.
    #[serde(default)]
    pub pkce: Pkce,
}

impl OAuth2 {
    /// `responseTypes`, or Dex's default `["code"]`.
    pub fn effective_response_types(&self) -> Vec<String> {
        if self.response_types.is_empty() {
            vec!["code".to_owned()]
        } else {
            self.response_types.clone()
        }
    }
}

/// `oauth2.pkce` (RFC 7636).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Pkce {
    /// Require a code challenge on every authorization request.
    #[serde(default)]
    pub enforce: bool,
    /// Accepted methods, a subset of `S256` and `plain` (default both).
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
}

/// `expiry`: lifetimes. Unset values take Dex's defaults through the accessors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Expiry {
    /// Device authorization requests (default 5m).
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub device_requests: Option<Duration>,
    /// Deprecated signing-key rotation period (default 6h), used when there is no `signer`.
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub signing_keys: Option<Duration>,
    /// ID and access tokens (default 24h).
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub id_tokens: Option<Duration>,
    /// Authorization requests (default 24h).
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub auth_requests: Option<Duration>,
    /// Refresh-token policy.
    #[serde(default)]
    pub refresh_tokens: RefreshTokens,
}

impl Expiry {
    /// `idTokens` or 24h.
    pub fn id_tokens(&self) -> Duration {
        self.id_tokens.unwrap_or(DEFAULT_ID_TOKENS)
    }

    /// `authRequests` or 24h.
    pub fn auth_requests(&self) -> Duration {
        self.auth_requests.unwrap_or(DEFAULT_AUTH_REQUESTS)
    }

    /// `deviceRequests` or 5m.
    pub fn device_requests(&self) -> Duration {
        self.device_requests.unwrap_or(DEFAULT_DEVICE_REQUESTS)
    }

    /// `signingKeys` or 6h.
    pub fn signing_keys(&self) -> Duration {
        self.signing_keys.unwrap_or(DEFAULT_SIGNING_KEYS)
    }
}

/// `expiry.refreshTokens`. Unset durations mean "no limit" / "no reuse window", as in Dex.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct RefreshTokens {
    /// Keep the same refresh token on every refresh.
    #[serde(default)]
    pub disable_rotation: bool,
    /// How long a just-rotated token may still be presented.
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub reuse_interval: Option<Duration>,
    /// Expire a token not used for this long.
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub valid_if_not_used_for: Option<Duration>,
    /// Expire a token this long after its login.
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub absolute_lifetime: Option<Duration>,
}

/// `signer`: how tokens are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signer {
    /// `type: local`: keys generated and rotated by the server, kept in storage.
    Local(LocalSigner),
}

/// The local signer's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalSigner {
    /// `keysRotationPeriod` (or the deprecated `expiry.signingKeys`, default 6h).
    pub keys_rotation_period: Duration,
    /// `algorithm`.
    pub algorithm: SigningAlgorithm,
}

/// JWS algorithm of the local signer (RFC 7518 §3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, RSA-2048 keys (default; what the Kubernetes API server
    /// accepts without extra flags).
    #[default]
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// EdDSA with Ed25519 (not in Dex).
    EdDSA,
}

impl SigningAlgorithm {
    /// The `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            SigningAlgorithm::RS256 => "RS256",
            SigningAlgorithm::ES256 => "ES256",
            SigningAlgorithm::EdDSA => "EdDSA",
        }
    }
}

/// A `staticClients` entry: the storage record plus the Dex master fields oxidex keeps but
/// does not act on yet (they need sessions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StaticClient {
    /// The client, with `idEnv`/`secretEnv` resolved.
    pub client: Client,
    /// `postLogoutRedirectURIs` (RP-initiated logout).
    pub post_logout_redirect_uris: Vec<String>,
    /// `backchannelLogoutURI` (OIDC back-channel logout).
    pub backchannel_logout_uri: String,
    /// `refreshTokenLifetime`: empty, `standalone` or `session`.
    pub refresh_token_lifetime: String,
    /// `mfaChain`: `None` means the default chain, `Some([])` none.
    pub mfa_chain: Option<Vec<String>>,
    /// `ssoSharedWith`: `None` means the default policy, `Some([])` no one, `["*"]` everyone.
    pub sso_shared_with: Option<Vec<String>>,
}

/// A `staticClients` entry as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ClientEntry {
    #[serde(default)]
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) id_env: String,
    #[serde(default)]
    pub(crate) secret: SecretString,
    #[serde(default)]
    pub(crate) secret_env: String,
    #[serde(default, rename = "redirectURIs")]
    pub(crate) redirect_uris: Vec<String>,
    #[serde(default, rename = "postLogoutRedirectURIs")]
    pub(crate) post_logout_redirect_uris: Vec<String>,
    #[serde(default, rename = "backchannelLogoutURI")]
    pub(crate) backchannel_logout_uri: String,
    #[serde(default)]
    pub(crate) refresh_token_lifetime: String,
    #[serde(default)]
    pub(crate) trusted_peers: Vec<String>,
    #[serde(default)]
    pub(crate) public: bool,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default, rename = "logoURL")]
    pub(crate) logo_url: String,
    #[serde(default)]
    pub(crate) allowed_connectors: Vec<String>,
    #[serde(default, rename = "mfaChain")]
    pub(crate) mfa_chain: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) sso_shared_with: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) client_credentials_claims: Option<ClientCredentialsClaims>,
}

/// A `staticPasswords` entry as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PasswordEntry {
    #[serde(default)]
    pub(crate) email: String,
    #[serde(default)]
    pub(crate) hash: String,
    #[serde(default)]
    pub(crate) hash_from_env: String,
    #[serde(default)]
    pub(crate) username: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) preferred_username: String,
    #[serde(default)]
    pub(crate) email_verified: Option<bool>,
    #[serde(default, rename = "userID")]
    pub(crate) user_id: String,
    #[serde(default)]
    pub(crate) groups: Vec<String>,
}

/// The local signer's `config` as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct LocalSignerEntry {
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub(crate) keys_rotation_period: Option<Duration>,
    #[serde(default)]
    pub(crate) algorithm: String,
}

/// `sessions` (Dex master, `DEX_SESSIONS_ENABLED`): browser sessions for SSO and logout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Sessions {
    /// Cookie name (default `dex_session`).
    #[serde(default)]
    pub cookie_name: String,
    /// Session lifetime from login (default 24h).
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub absolute_lifetime: Option<Duration>,
    /// Idle timeout (default 1h, at most `absoluteLifetime`).
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub valid_if_not_used_for: Option<Duration>,
    /// Whether "remember me" starts ticked (default true).
    #[serde(default)]
    pub remember_me_checked_by_default: Option<bool>,
    /// AES key (16, 24 or 32 bytes) encrypting the cookie; empty for none.
    #[serde(default)]
    pub cookie_encryption_key: SecretString,
    /// `none` (default) or `all`: SSO sharing for clients without `ssoSharedWith`.
    #[serde(default)]
    pub sso_shared_with_default: String,
}

impl Sessions {
    /// `cookieName` or `dex_session`.
    pub fn cookie_name(&self) -> &str {
        if self.cookie_name.is_empty() {
            "dex_session"
        } else {
            &self.cookie_name
        }
    }

    /// `absoluteLifetime` or 24h.
    pub fn absolute_lifetime(&self) -> Duration {
        self.absolute_lifetime
            .unwrap_or(Duration::from_secs(24 * 3600))
    }

    /// `validIfNotUsedFor` or 1h.
    pub fn valid_if_not_used_for(&self) -> Duration {
        self.valid_if_not_used_for
            .unwrap_or(Duration::from_secs(3600))
    }
}

/// `mfa` (Dex master, `DEX_SESSIONS_ENABLED`): second factors after the connector login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mfa {
    /// `authenticators`.
    pub authenticators: Vec<MfaAuthenticator>,
    /// `defaultMFAChain`: authenticator ids every client requires unless it sets `mfaChain`.
    pub default_mfa_chain: Vec<String>,
}

/// One `mfa.authenticators` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MfaAuthenticator {
    /// Referenced by `defaultMFAChain` and clients' `mfaChain`.
    pub id: String,
    /// Connector types it applies to; empty for all.
    pub connector_types: Vec<String>,
    /// The type and its settings.
    pub kind: MfaKind,
}

/// The kind of an MFA authenticator.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MfaKind {
    /// `type: TOTP` (RFC 6238).
    Totp(TotpConfig),
    /// `type: WebAuthn`.
    WebAuthn(WebAuthnConfig),
}

/// `config` of a TOTP authenticator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TotpConfig {
    /// Issuer shown in authenticator apps.
    #[serde(default)]
    pub issuer: String,
}

/// `config` of a WebAuthn authenticator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct WebAuthnConfig {
    /// Relying-party name shown by browsers.
    #[serde(default)]
    pub rp_display_name: String,
    /// Relying-party id (default: the issuer's host).
    #[serde(default, rename = "rpID")]
    pub rp_id: String,
    /// Allowed origins (default: the issuer's origin).
    #[serde(default)]
    pub rp_origins: Vec<String>,
    /// `none`, `indirect` or `direct`.
    #[serde(default)]
    pub attestation_preference: String,
    /// Ceremony timeout.
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub timeout: Option<Duration>,
    /// Parsed but unused by Dex.
    #[serde(default)]
    pub user_verification: String,
    /// Parsed but unused by Dex.
    #[serde(default)]
    pub authenticator_attachment: String,
}

/// A secret from the configuration: compared and used, never shown by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `true` when unset.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("<redacted>")
        }
    }
}
