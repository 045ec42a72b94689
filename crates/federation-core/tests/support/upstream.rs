//! A stand-in for an upstream OpenID provider and the connector that trusts it, for the
//! token-exchange tests (engine: `tests/token_exchange.rs`; HTTP: included by path from
//! `crates/issuer-http/tests/token_exchange.rs`).
//!
//! [`UpstreamIdp`] signs real JWTs with a key made for the test. [`UpstreamConnector`]
//! verifies them the way an OIDC connector must: signature against the upstream's public key,
//! `iss`, `exp` against the engine's clock, and `aud` containing the connector's own client id
//! (the upstream token's audience check), then maps the claims to an [`Identity`].

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use oxidex_core::clock::Clock;
use oxidex_core::connector::{
    CallbackConnector, CallbackLogin, CallbackRequest, Connector, TokenIdentityConnector,
};
use oxidex_core::jose::{sign_compact, verify_compact};
use oxidex_core::model::{ConnectorRecord, Identity, Jwk, Scopes};
use oxidex_core::oauth::OpenedConnector;
use oxidex_core::signer::{SigningAlgorithm, SigningKey, generate_jwk, signing_key_from_jwk};

/// The upstream provider's issuer URL.
pub(crate) const UPSTREAM_ISSUER: &str = "https://upstream.example";
/// Our client id at the upstream: upstream tokens must be addressed to it.
pub(crate) const UPSTREAM_CLIENT_ID: &str = "oxidex-at-upstream";
/// RFC 8693 token type of ID tokens.
pub(crate) const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// RFC 8693 token type of access tokens.
pub(crate) const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// An upstream provider with its own signing key.
pub(crate) struct UpstreamIdp {
    key: Arc<dyn SigningKey>,
    public: Jwk,
    clock: Arc<dyn Clock>,
}

impl UpstreamIdp {
    /// A provider signing with a fresh `algorithm` key; `clock` dates its tokens.
    pub(crate) fn new(algorithm: SigningAlgorithm, clock: Arc<dyn Clock>) -> Self {
        let jwk = generate_jwk(algorithm).unwrap();
        Self {
            key: signing_key_from_jwk(&jwk).unwrap(),
            public: jwk.public_key(),
            clock,
        }
    }

    /// The key set a connector trusting this provider holds.
    pub(crate) fn keys(&self) -> Vec<Jwk> {
        vec![self.public.clone()]
    }

    /// Signs arbitrary claims.
    pub(crate) async fn sign(&self, claims: &serde_json::Value) -> String {
        sign_compact(self.key.as_ref(), &serde_json::to_vec(claims).unwrap())
            .await
            .unwrap()
    }

    /// The claims of a good token for user `sub`, valid for an hour, addressed to us.
    pub(crate) fn claims(&self, sub: &str) -> serde_json::Value {
        let now = self.clock.now().timestamp();
        serde_json::json!({
            "iss": UPSTREAM_ISSUER,
            "sub": sub,
            "aud": UPSTREAM_CLIENT_ID,
            "iat": now,
            "exp": now + 3600,
            "name": "Jane Doe",
            "preferred_username": "jane",
            "email": "jane@example.com",
            "email_verified": true,
            "groups": ["admins", "devs"],
        })
    }

    /// A good token for user `sub`.
    pub(crate) async fn token(&self, sub: &str) -> String {
        self.sign(&self.claims(sub)).await
    }

    /// A good token with `change` applied to its claims first.
    pub(crate) async fn token_with(
        &self,
        sub: &str,
        change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> String {
        let mut claims = self.claims(sub);
        change(claims.as_object_mut().unwrap());
        self.sign(&claims).await
    }
}

/// The connector trusting an [`UpstreamIdp`].
pub(crate) struct UpstreamConnector {
    keys: Vec<Jwk>,
    clock: Arc<dyn Clock>,
    /// Subject token types it was asked to verify, in order.
    pub(crate) seen_types: Mutex<Vec<String>>,
}

impl UpstreamConnector {
    /// A connector trusting `idp`, reading time from `clock` (the engine's).
    pub(crate) fn new(idp: &UpstreamIdp, clock: Arc<dyn Clock>) -> Self {
        Self {
            keys: idp.keys(),
            clock,
            seen_types: Mutex::new(Vec::new()),
        }
    }

    /// The subject token types seen so far.
    pub(crate) fn seen(&self) -> Vec<String> {
        self.seen_types
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn refused(message: impl Into<String>) -> oxidex_core::Error {
    oxidex_core::Error::Connector {
        connector_id: "upstream".into(),
        message: message.into(),
        source: None,
    }
}

#[async_trait]
impl TokenIdentityConnector for UpstreamConnector {
    async fn token_identity(
        &self,
        subject_token_type: &str,
        subject_token: &str,
    ) -> oxidex_core::Result<Identity> {
        self.seen_types
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(subject_token_type.to_owned());
        let verified = verify_compact(
            subject_token,
            &self.keys,
            &[SigningAlgorithm::Rs256, SigningAlgorithm::Es256],
        )
        .map_err(|e| refused(format!("upstream token: {e}")))?;
        let claims: serde_json::Value = serde_json::from_slice(&verified.payload)
            .map_err(|_| refused("upstream token: claims are not JSON"))?;
        if claims["iss"] != UPSTREAM_ISSUER {
            return Err(refused("upstream token: wrong issuer"));
        }
        let exp = claims["exp"]
            .as_i64()
            .ok_or_else(|| refused("upstream token: no exp"))?;
        if self.clock.now().timestamp() >= exp {
            return Err(refused("upstream token: expired"));
        }
        let audience_ok = match &claims["aud"] {
            serde_json::Value::String(a) => a == UPSTREAM_CLIENT_ID,
            serde_json::Value::Array(all) => all.iter().any(|a| a == UPSTREAM_CLIENT_ID),
            _ => false,
        };
        if !audience_ok {
            return Err(refused("upstream token: not addressed to this connector"));
        }
        let text = |name: &str| claims[name].as_str().unwrap_or_default().to_owned();
        let user_id = text("sub");
        if user_id.is_empty() {
            return Err(refused("upstream token: no sub"));
        }
        Ok(Identity {
            user_id,
            username: text("name"),
            preferred_username: text("preferred_username"),
            email: text("email"),
            email_verified: claims["email_verified"].as_bool().unwrap_or(false),
            groups: claims["groups"]
                .as_array()
                .map(|g| {
                    g.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            connector_data: None,
        })
    }
}

/// Browser logins are not part of these tests; a connector needs a login method all the same.
#[async_trait]
impl CallbackConnector for UpstreamConnector {
    async fn login_url(&self, _: Scopes, _: &str, _: &str) -> oxidex_core::Result<CallbackLogin> {
        Err(refused("browser login is not used in these tests"))
    }

    async fn handle_callback(
        &self,
        _: Scopes,
        _: Option<&[u8]>,
        _: &CallbackRequest,
    ) -> oxidex_core::Result<Identity> {
        Err(refused("browser login is not used in these tests"))
    }
}

/// Shares one [`UpstreamConnector`] between the engine and the test.
pub(crate) struct Shared(pub(crate) Arc<UpstreamConnector>);

#[async_trait]
impl TokenIdentityConnector for Shared {
    async fn token_identity(&self, kind: &str, token: &str) -> oxidex_core::Result<Identity> {
        self.0.token_identity(kind, token).await
    }
}

#[async_trait]
impl CallbackConnector for Shared {
    async fn login_url(&self, s: Scopes, c: &str, st: &str) -> oxidex_core::Result<CallbackLogin> {
        self.0.login_url(s, c, st).await
    }

    async fn handle_callback(
        &self,
        s: Scopes,
        d: Option<&[u8]>,
        r: &CallbackRequest,
    ) -> oxidex_core::Result<Identity> {
        self.0.handle_callback(s, d, r).await
    }
}

/// A connector record.
pub(crate) fn record(id: &str, grant_types: &[&str]) -> ConnectorRecord {
    ConnectorRecord {
        id: id.into(),
        connector_type: "oidc".into(),
        name: id.into(),
        resource_version: String::new(),
        config: serde_json::Value::Null,
        grant_types: grant_types.iter().map(|g| (*g).to_owned()).collect(),
    }
}

/// Connectors `upstream` (token exchange), `no-exchange` (token identity, but `grantTypes`
/// without token exchange) and `plain` (no token identity), all trusting `idp`. Returns them
/// and the `upstream` connector for inspection.
pub(crate) fn connectors(
    idp: &UpstreamIdp,
    clock: Arc<dyn Clock>,
) -> (Vec<OpenedConnector>, Arc<UpstreamConnector>) {
    let upstream = Arc::new(UpstreamConnector::new(idp, clock.clone()));
    let exchange =
        |c: Arc<UpstreamConnector>| Connector::callback(Shared(c)).with_token_identity().build();
    let opened = vec![
        OpenedConnector {
            record: record("upstream", &[]),
            connector: exchange(upstream.clone()),
        },
        OpenedConnector {
            record: record("no-exchange", &["authorization_code"]),
            connector: exchange(Arc::new(UpstreamConnector::new(idp, clock.clone()))),
        },
        OpenedConnector {
            record: record("plain", &[]),
            connector: Connector::callback(UpstreamConnector::new(idp, clock)).build(),
        },
    ];
    (opened, upstream)
}
