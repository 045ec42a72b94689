use serde::{Deserialize, Serialize};

/// A configured upstream connector (Dex `storage.Connector`, and the `connectors` list of a
/// Dex config file).
///
/// `Debug` output names the configuration's keys but never its values, which hold upstream
/// secrets (`bindPW`, `clientSecret`, ...).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorRecord {
    /// Connector id: in URLs (`/auth/{id}`) and in every `sub` it issues.
    pub id: String,
    /// Type name in the [`ConnectorRegistry`](crate::connector::ConnectorRegistry), e.g. `ldap`.
    #[serde(rename = "type")]
    pub connector_type: String,
    /// Display name on the chooser page.
    pub name: String,
    /// Changes whenever the record changes; connectors are reopened when it does.
    #[serde(rename = "resourceVersion", default)]
    pub resource_version: String,
    /// The connector's own configuration, as JSON.
    #[serde(default)]
    pub config: serde_json::Value,
    /// Grant types this connector may be used with; empty means all (Dex `grantTypes`).
    #[serde(rename = "grantTypes", default, skip_serializing_if = "Vec::is_empty")]
    pub grant_types: Vec<String>,
}

impl std::fmt::Debug for ConnectorRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let config_keys: Vec<&str> = self
            .config
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        f.debug_struct("ConnectorRecord")
            .field("id", &self.id)
            .field("connector_type", &self.connector_type)
            .field("name", &self.name)
            .field("resource_version", &self.resource_version)
            .field("config_keys", &config_keys)
            .field("grant_types", &self.grant_types)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_configuration_values() {
        let record = ConnectorRecord {
            id: "ldap".into(),
            connector_type: "ldap".into(),
            name: "LDAP".into(),
            resource_version: String::new(),
            config: serde_json::json!({"bindDN": "cn=svc", "bindPW": "hunter2"}),
            grant_types: vec![],
        };
        let text = format!("{record:?}");
        assert!(text.contains("bindPW"), "{text}");
        assert!(
            !text.contains("hunter2") && !text.contains("cn=svc"),
            "{text}"
        );
    }
}
