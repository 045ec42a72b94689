//! Upstream connectors: how oxidex asks an identity provider who the user is.
//!
//! A connector is a plain struct that implements the capability traits it can:
//!
//! | trait | Dex interface | used by |
//! |---|---|---|
//! | [`PasswordConnector`] | `PasswordConnector` | login form, `password` grant (local, LDAP, Keystone, Crowd) |
//! | [`CallbackConnector`] | `CallbackConnector` | browser redirect to the upstream and back (OIDC, OAuth2, GitHub, ...) |
//! | [`SamlConnector`] | `SAMLConnector` | SAML 2.0 HTTP-POST binding |
//! | [`RefreshConnector`] | `RefreshConnector` | `refresh_token` grant re-checks the user upstream |
//! | [`TokenIdentityConnector`] | `TokenIdentityConnector` | RFC 8693 token exchange |
//!
//! Unlike Dex, whose `Connector` is an empty interface probed with type assertions, a
//! [`Connector`] value says what it can do: exactly one [`LoginMethod`] plus optional refresh
//! and token-identity capabilities. Connectors never touch storage; the opaque
//! `connector_data` they return travels from login to refresh and is never shown to clients.

pub mod claims;
mod registry;

use std::sync::Arc;

use async_trait::async_trait;

pub use registry::{ConnectorFactory, ConnectorRegistry, OpenContext};

use crate::Result;
use crate::model::{Identity, Scopes};

/// What a password check concluded (Dex returns `(Identity, validPassword, error)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordLogin {
    /// The credentials are valid.
    Authenticated(Identity),
    /// Unknown user or wrong password; the caller shows the form again or answers
    /// `invalid_grant`, without saying which.
    InvalidCredentials,
}

/// A connector that checks a username and password itself.
#[async_trait]
pub trait PasswordConnector: Send + Sync {
    /// Label of the username field, e.g. `Email Address` or `Username`.
    fn prompt(&self) -> &str;

    /// Checks credentials. Errors are for upstream failures, not for wrong passwords.
    async fn login(&self, scopes: Scopes, username: &str, password: &str) -> Result<PasswordLogin>;
}

/// Where to send the browser to log in upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackLogin {
    /// The upstream authorization URL.
    pub url: String,
    /// Opaque state to get back in [`CallbackConnector::handle_callback`] (e.g. a PKCE
    /// verifier); stored server-side on the authorization request.
    pub connector_data: Option<Vec<u8>>,
}

/// The parts of the upstream's redirect back to `/callback` that a connector may read.
/// Deliberately not an HTTP type: connectors stay independent of the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackRequest {
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Request headers (names lower-case), for connectors such as `authproxy`.
    pub headers: Vec<(String, String)>,
}

impl CallbackRequest {
    /// The first query parameter called `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A connector that redirects the browser to the upstream and handles the redirect back.
#[async_trait]
pub trait CallbackConnector: Send + Sync {
    /// The upstream URL to send the browser to. `state` must come back unchanged. Async so a
    /// connector can discover its provider's endpoints on first use.
    async fn login_url(
        &self,
        scopes: Scopes,
        callback_url: &str,
        state: &str,
    ) -> Result<CallbackLogin>;

    /// Turns the upstream's redirect into an identity.
    async fn handle_callback(
        &self,
        scopes: Scopes,
        connector_data: Option<&[u8]>,
        request: &CallbackRequest,
    ) -> Result<Identity>;
}

/// A SAML AuthnRequest to POST to the identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlPost {
    /// The IdP's single sign-on URL.
    pub sso_url: String,
    /// Base64 of the AuthnRequest XML.
    pub saml_request: String,
}

/// A SAML 2.0 connector using the HTTP-POST binding.
#[async_trait]
pub trait SamlConnector: Send + Sync {
    /// The AuthnRequest for a login with id `request_id`.
    fn post_data(&self, scopes: Scopes, request_id: &str) -> Result<SamlPost>;

    /// Verifies a `SAMLResponse` answering `in_response_to` and extracts the identity.
    async fn handle_post(
        &self,
        scopes: Scopes,
        saml_response: &str,
        in_response_to: &str,
    ) -> Result<Identity>;
}

/// A connector that can re-check a user when a refresh token is redeemed.
#[async_trait]
pub trait RefreshConnector: Send + Sync {
    /// Returns the user's current identity. The user id must not change; an error means the
    /// user can no longer be vouched for and the refresh fails.
    async fn refresh(&self, scopes: Scopes, identity: Identity) -> Result<Identity>;
}

/// A connector that can vouch for a user from an upstream token (RFC 8693 token exchange).
#[async_trait]
pub trait TokenIdentityConnector: Send + Sync {
    /// Verifies `subject_token` of type `subject_token_type` and returns its user.
    async fn token_identity(
        &self,
        subject_token_type: &str,
        subject_token: &str,
    ) -> Result<Identity>;
}

/// How a connector logs users in: exactly one of the three.
#[derive(Clone)]
pub enum LoginMethod {
    /// A login form posts credentials to the connector.
    Password(Arc<dyn PasswordConnector>),
    /// The browser goes to the upstream and comes back to `/callback`.
    Callback(Arc<dyn CallbackConnector>),
    /// The browser POSTs a SAML AuthnRequest and the IdP POSTs a response back.
    Saml(Arc<dyn SamlConnector>),
}

impl std::fmt::Debug for LoginMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LoginMethod::Password(_) => "Password",
            LoginMethod::Callback(_) => "Callback",
            LoginMethod::Saml(_) => "Saml",
        })
    }
}

/// An opened connector and the capabilities it has.
#[derive(Clone, Debug)]
pub struct Connector {
    login: LoginMethod,
    refresh: Option<Arc<dyn RefreshConnector>>,
    token_identity: Option<Arc<dyn TokenIdentityConnector>>,
}

impl std::fmt::Debug for dyn RefreshConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshConnector")
    }
}

impl std::fmt::Debug for dyn TokenIdentityConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenIdentityConnector")
    }
}

impl Connector {
    /// Starts describing a connector that logs users in with a password form.
    pub fn password<C: PasswordConnector + 'static>(connector: C) -> ConnectorBuilder<C> {
        let inner = Arc::new(connector);
        ConnectorBuilder::new(LoginMethod::Password(inner.clone()), inner)
    }

    /// Starts describing a connector that logs users in by redirect and callback.
    pub fn callback<C: CallbackConnector + 'static>(connector: C) -> ConnectorBuilder<C> {
        let inner = Arc::new(connector);
        ConnectorBuilder::new(LoginMethod::Callback(inner.clone()), inner)
    }

    /// Starts describing a SAML connector.
    pub fn saml<C: SamlConnector + 'static>(connector: C) -> ConnectorBuilder<C> {
        let inner = Arc::new(connector);
        ConnectorBuilder::new(LoginMethod::Saml(inner.clone()), inner)
    }

    /// How users log in.
    pub fn login(&self) -> &LoginMethod {
        &self.login
    }

    /// The refresh capability, if the connector has it. Without it no refresh tokens are
    /// issued for logins through this connector (Dex behaviour).
    pub fn refresh(&self) -> Option<&Arc<dyn RefreshConnector>> {
        self.refresh.as_ref()
    }

    /// The token-exchange capability, if the connector has it.
    pub fn token_identity(&self) -> Option<&Arc<dyn TokenIdentityConnector>> {
        self.token_identity.as_ref()
    }
}

/// Builds a [`Connector`] from one struct, adding each capability it implements.
pub struct ConnectorBuilder<C> {
    inner: Arc<C>,
    connector: Connector,
}

impl<C: Send + Sync + 'static> ConnectorBuilder<C> {
    fn new(login: LoginMethod, inner: Arc<C>) -> Self {
        Self {
            inner,
            connector: Connector {
                login,
                refresh: None,
                token_identity: None,
            },
        }
    }

    /// Declares that the connector can refresh identities.
    pub fn with_refresh(mut self) -> Self
    where
        C: RefreshConnector,
    {
        self.connector.refresh = Some(self.inner.clone());
        self
    }

    /// Declares that the connector can vouch for upstream tokens.
    pub fn with_token_identity(mut self) -> Self
    where
        C: TokenIdentityConnector,
    {
        self.connector.token_identity = Some(self.inner.clone());
        self
    }

    /// The finished connector.
    pub fn build(self) -> Connector {
        self.connector
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    #[async_trait]
    impl PasswordConnector for Fixed {
        fn prompt(&self) -> &str {
            "Username"
        }
        async fn login(&self, _: Scopes, username: &str, password: &str) -> Result<PasswordLogin> {
            Ok(if username == "jane" && password == "pw" {
                PasswordLogin::Authenticated(Identity {
                    user_id: "1".into(),
                    username: "jane".into(),
                    ..Identity::default()
                })
            } else {
                PasswordLogin::InvalidCredentials
            })
        }
    }

    #[async_trait]
    impl RefreshConnector for Fixed {
        async fn refresh(&self, _: Scopes, identity: Identity) -> Result<Identity> {
            Ok(identity)
        }
    }

    #[tokio::test]
    async fn builder_records_capabilities() {
        let c = Connector::password(Fixed).with_refresh().build();
        assert!(c.refresh().is_some());
        assert!(c.token_identity().is_none());
        let LoginMethod::Password(p) = c.login() else {
            panic!("expected a password connector");
        };
        assert_eq!(p.prompt(), "Username");
        assert!(matches!(
            p.login(Scopes::default(), "jane", "pw").await.unwrap(),
            PasswordLogin::Authenticated(_)
        ));
        assert_eq!(
            p.login(Scopes::default(), "jane", "nope").await.unwrap(),
            PasswordLogin::InvalidCredentials
        );
        let plain = Connector::password(Fixed).build();
        assert!(plain.refresh().is_none());
    }

    #[test]
    fn callback_request_lookups() {
        let r = CallbackRequest {
            query: vec![("code".into(), "abc".into()), ("state".into(), "s".into())],
            headers: vec![("x-remote-user".into(), "jane".into())],
        };
        assert_eq!(r.query_param("code"), Some("abc"));
        assert_eq!(r.query_param("missing"), None);
        assert_eq!(r.header("X-Remote-User"), Some("jane"));
    }
}
