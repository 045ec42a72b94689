//! Dex's development connectors (`connector/mock/connectortest.go`): `mockCallback` logs in
//! anyone who follows the redirect, `mockPassword` accepts one configured username and
//! password. Both vouch for the same fixed user. Never use them in production.

use std::sync::Arc;

use async_trait::async_trait;
use oxidex_core::connector::{
    CallbackConnector, CallbackLogin, CallbackRequest, Connector, ConnectorFactory,
    ConnectorRegistry, OpenContext, PasswordConnector, PasswordLogin, RefreshConnector,
    TokenIdentityConnector,
};
use oxidex_core::model::{Identity, Scopes};
use oxidex_core::{Error, Result};
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// Type name of [`MockCallback`].
pub const MOCK_CALLBACK: &str = "mockCallback";
/// Type name of [`MockPassword`].
pub const MOCK_PASSWORD: &str = "mockPassword";

/// Registers both mock types.
pub fn register(registry: &mut ConnectorRegistry) {
    registry.register(MOCK_CALLBACK, Arc::new(MockCallbackFactory));
    registry.register(MOCK_PASSWORD, Arc::new(MockPasswordFactory));
}

/// The user both mocks vouch for (Dex's Kilgore Trout).
pub fn kilgore_trout(groups: bool) -> Identity {
    Identity {
        user_id: "0-385-28089-0".into(),
        username: "Kilgore Trout".into(),
        preferred_username: String::new(),
        email: "kilgore@kilgore.trout".into(),
        email_verified: true,
        groups: if groups {
            vec!["authors".into()]
        } else {
            Vec::new()
        },
        connector_data: None,
    }
}

/// `mockCallback`: redirects straight back to the callback and logs in Kilgore Trout.
#[derive(Debug, Clone, Copy, Default)]
pub struct MockCallback;

#[async_trait]
impl CallbackConnector for MockCallback {
    async fn login_url(&self, _: Scopes, callback_url: &str, state: &str) -> Result<CallbackLogin> {
        let mut url = url::Url::parse(callback_url).map_err(|e| Error::Connector {
            connector_id: MOCK_CALLBACK.into(),
            message: format!("invalid callback URL {callback_url:?}: {e}"),
            source: None,
        })?;
        url.query_pairs_mut().append_pair("state", state);
        Ok(CallbackLogin {
            url: url.into(),
            connector_data: None,
        })
    }

    async fn handle_callback(
        &self,
        scopes: Scopes,
        _: Option<&[u8]>,
        _: &CallbackRequest,
    ) -> Result<Identity> {
        Ok(kilgore_trout(scopes.groups))
    }
}

#[async_trait]
impl RefreshConnector for MockCallback {
    async fn refresh(&self, _: Scopes, identity: Identity) -> Result<Identity> {
        Ok(identity)
    }
}

#[async_trait]
impl TokenIdentityConnector for MockCallback {
    async fn token_identity(&self, _: &str, _: &str) -> Result<Identity> {
        Ok(kilgore_trout(true))
    }
}

struct MockCallbackFactory;

#[async_trait]
impl ConnectorFactory for MockCallbackFactory {
    async fn open(&self, ctx: &OpenContext, config: serde_json::Value) -> Result<Connector> {
        // Dex's mockCallback takes no configuration; anything but an empty object is a mistake.
        let empty = config.is_null() || config.as_object().is_some_and(|o| o.is_empty());
        if !empty {
            return Err(Error::ConnectorConfig {
                connector_id: ctx.id.clone(),
                message: "mockCallback takes no configuration".into(),
            });
        }
        Ok(Connector::callback(MockCallback)
            .with_refresh()
            .with_token_identity()
            .build())
    }
}

/// Configuration of `mockPassword`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockPasswordConfig {
    /// The one accepted username.
    pub username: String,
    /// Its password.
    pub password: String,
}

/// `mockPassword`: accepts exactly one username and password.
pub struct MockPassword {
    config: MockPasswordConfig,
}

impl std::fmt::Debug for MockPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockPassword")
            .field("username", &self.config.username)
            .finish_non_exhaustive()
    }
}

impl MockPassword {
    /// A connector accepting `config.username` with `config.password`.
    pub fn new(config: MockPasswordConfig) -> Self {
        Self { config }
    }
}

#[async_trait]
impl PasswordConnector for MockPassword {
    fn prompt(&self) -> &str {
        ""
    }

    async fn login(&self, _: Scopes, username: &str, password: &str) -> Result<PasswordLogin> {
        let user_ok = username.as_bytes().ct_eq(self.config.username.as_bytes());
        let password_ok = password.as_bytes().ct_eq(self.config.password.as_bytes());
        Ok(if bool::from(user_ok & password_ok) {
            PasswordLogin::Authenticated(kilgore_trout(false))
        } else {
            PasswordLogin::InvalidCredentials
        })
    }
}

#[async_trait]
impl RefreshConnector for MockPassword {
    async fn refresh(&self, _: Scopes, identity: Identity) -> Result<Identity> {
        Ok(identity)
    }
}

struct MockPasswordFactory;

#[async_trait]
impl ConnectorFactory for MockPasswordFactory {
    async fn open(&self, ctx: &OpenContext, config: serde_json::Value) -> Result<Connector> {
        let config: MockPasswordConfig =
            serde_json::from_value(config).map_err(|e| Error::ConnectorConfig {
                connector_id: ctx.id.clone(),
                message: e.to_string(),
            })?;
        if config.username.is_empty() || config.password.is_empty() {
            return Err(Error::ConnectorConfig {
                connector_id: ctx.id.clone(),
                message: "`username` and `password` must not be empty".into(),
            });
        }
        Ok(Connector::password(MockPassword::new(config))
            .with_refresh()
            .build())
    }
}

#[cfg(test)]
mod tests {
    use oxidex_core::connector::LoginMethod;
    use oxidex_core::model::ConnectorRecord;

    use super::*;

    fn record(connector_type: &str, config: serde_json::Value) -> ConnectorRecord {
        ConnectorRecord {
            id: "mock".into(),
            connector_type: connector_type.into(),
            name: "Mock".into(),
            resource_version: String::new(),
            config,
            grant_types: vec![],
        }
    }

    #[tokio::test]
    async fn mock_callback_redirects_back_with_state() {
        let registry = crate::registry();
        let connector = registry
            .open(&record(MOCK_CALLBACK, serde_json::Value::Null))
            .await
            .unwrap();
        assert!(connector.refresh().is_some() && connector.token_identity().is_some());
        let LoginMethod::Callback(cb) = connector.login() else {
            panic!("mockCallback must be a callback connector");
        };
        let login = cb
            .login_url(
                Scopes::default(),
                "https://issuer.example/dex/callback?x=1",
                "st&te",
            )
            .await
            .unwrap();
        assert_eq!(
            login.url,
            "https://issuer.example/dex/callback?x=1&state=st%26te"
        );
        let who = cb
            .handle_callback(
                Scopes {
                    groups: true,
                    offline_access: false,
                },
                None,
                &CallbackRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(who.user_id, "0-385-28089-0");
        assert_eq!(who.groups, ["authors"]);
        assert!(
            cb.login_url(Scopes::default(), "not a url", "s")
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn mock_password_checks_credentials_and_config() {
        let registry = crate::registry();
        let connector = registry
            .open(&record(
                MOCK_PASSWORD,
                serde_json::json!({"username": "admin", "password": "secret"}),
            ))
            .await
            .unwrap();
        let LoginMethod::Password(p) = connector.login() else {
            panic!("mockPassword must be a password connector");
        };
        assert!(matches!(
            p.login(Scopes::default(), "admin", "secret").await.unwrap(),
            PasswordLogin::Authenticated(_)
        ));
        for (u, pw) in [
            ("admin", "Secret"),
            ("admin", ""),
            ("", "secret"),
            ("x", "secret"),
        ] {
            assert_eq!(
                p.login(Scopes::default(), u, pw).await.unwrap(),
                PasswordLogin::InvalidCredentials
            );
        }

        let err = registry
            .open(&record(
                MOCK_PASSWORD,
                serde_json::json!({"username": "a", "pasword": "typo"}),
            ))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("pasword"), "{err}");
        let err = registry
            .open(&record(MOCK_CALLBACK, serde_json::json!({"x": 1})))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("no configuration"), "{err}");
    }
}
