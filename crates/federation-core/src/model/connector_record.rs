use serde::{Deserialize, Serialize};

/// A configured upstream connector (Dex `storage.Connector`, and the `connectors` list of a
/// Dex config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
