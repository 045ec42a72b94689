use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::Connector;
use crate::model::ConnectorRecord;
use crate::{Error, Result};

/// What a factory knows about the connector it opens, besides its configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OpenContext {
    /// The connector's id (appears in `sub` and in `/auth/{id}`).
    pub id: String,
}

impl OpenContext {
    /// Context for the connector `id`.
    pub fn new(id: impl Into<String>) -> Self {
        Self { id: id.into() }
    }
}

/// Opens connectors of one type from their JSON configuration (Dex `ConnectorConfig.Open`).
#[async_trait]
pub trait ConnectorFactory: Send + Sync {
    /// Parses `config` and returns a ready connector. Configuration mistakes are
    /// [`Error::ConnectorConfig`] naming the field.
    async fn open(&self, ctx: &OpenContext, config: serde_json::Value) -> Result<Connector>;

    /// Checks `config` without contacting the upstream (for `oxidex config check` and admin
    /// API validation): the same [`Error::ConnectorConfig`] errors as [`Self::open`] for
    /// mistakes, and warnings (insecure settings, deprecated fields) to show the operator.
    /// The default accepts anything; [`Self::open`] then reports mistakes.
    fn check(&self, ctx: &OpenContext, config: &serde_json::Value) -> Result<Vec<String>> {
        let _ = (ctx, config);
        Ok(Vec::new())
    }
}

/// Connector types by name (Dex `ConnectorsConfig`): `ldap`, `github`, `oidc`, ...
///
/// Hosts start from the registry `oxidex-connectors` fills, or from an empty one, and may add or
/// replace types with [`ConnectorRegistry::register`].
#[derive(Clone, Default)]
pub struct ConnectorRegistry {
    factories: BTreeMap<String, Arc<dyn ConnectorFactory>>,
}

impl std::fmt::Debug for ConnectorRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.factories.keys()).finish()
    }
}

impl ConnectorRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `factory` under `type_name`, returning the factory it replaces.
    pub fn register(
        &mut self,
        type_name: impl Into<String>,
        factory: Arc<dyn ConnectorFactory>,
    ) -> Option<Arc<dyn ConnectorFactory>> {
        self.factories.insert(type_name.into(), factory)
    }

    /// Makes `alias` open connectors with the factory of `target` (Dex maps
    /// `samlExperimental` to `saml`). Returns `false` if `target` is not registered.
    pub fn alias(&mut self, alias: impl Into<String>, target: &str) -> bool {
        match self.factories.get(target).cloned() {
            Some(factory) => {
                self.factories.insert(alias.into(), factory);
                true
            }
            None => false,
        }
    }

    /// The factory for `type_name`.
    pub fn get(&self, type_name: &str) -> Option<&Arc<dyn ConnectorFactory>> {
        self.factories.get(type_name)
    }

    /// Registered type names, sorted.
    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }

    /// Opens the connector a record describes; [`Error::UnknownConnectorType`] names the type
    /// and lists the known ones.
    pub async fn open(&self, record: &ConnectorRecord) -> Result<Connector> {
        let factory =
            self.get(&record.connector_type)
                .ok_or_else(|| Error::UnknownConnectorType {
                    type_name: record.connector_type.clone(),
                    known: self.types().collect::<Vec<_>>().join(", "),
                })?;
        factory
            .open(&OpenContext::new(record.id.clone()), record.config.clone())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::{PasswordConnector, PasswordLogin};
    use crate::model::Scopes;

    struct Static(String);

    #[async_trait]
    impl PasswordConnector for Static {
        fn prompt(&self) -> &str {
            &self.0
        }
        async fn login(&self, _: Scopes, _: &str, _: &str) -> Result<PasswordLogin> {
            Ok(PasswordLogin::InvalidCredentials)
        }
    }

    struct StaticFactory;

    #[async_trait]
    impl ConnectorFactory for StaticFactory {
        async fn open(&self, ctx: &OpenContext, config: serde_json::Value) -> Result<Connector> {
            let prompt = config
                .get("prompt")
                .and_then(|p| p.as_str())
                .ok_or_else(|| Error::ConnectorConfig {
                    connector_id: ctx.id.clone(),
                    message: "`prompt` is required".into(),
                })?;
            Ok(Connector::password(Static(prompt.to_owned())).build())
        }
    }

    fn record(connector_type: &str, config: serde_json::Value) -> ConnectorRecord {
        ConnectorRecord {
            id: "c1".into(),
            connector_type: connector_type.into(),
            name: "C1".into(),
            resource_version: String::new(),
            config,
            grant_types: vec![],
        }
    }

    #[tokio::test]
    async fn opens_registered_types_and_names_unknown_ones() {
        let mut registry = ConnectorRegistry::new();
        assert!(
            registry
                .register("static", Arc::new(StaticFactory))
                .is_none()
        );
        assert!(registry.alias("staticExperimental", "static"));
        assert!(!registry.alias("x", "missing"));
        assert_eq!(
            registry.types().collect::<Vec<_>>(),
            ["static", "staticExperimental"]
        );

        let c = registry
            .open(&record(
                "staticExperimental",
                serde_json::json!({"prompt": "Login"}),
            ))
            .await
            .unwrap();
        let crate::connector::LoginMethod::Password(p) = c.login() else {
            panic!("expected password");
        };
        assert_eq!(p.prompt(), "Login");

        let err = registry
            .open(&record("ldapp", serde_json::json!({})))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("\"ldapp\"") && text.contains("static"),
            "{text}"
        );

        let err = registry
            .open(&record("static", serde_json::json!({})))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("`prompt` is required"), "{err}");
    }
}
