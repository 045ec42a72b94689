use serde::{Deserialize, Serialize};

use crate::secret::ClientSecret;

/// An OAuth 2.0 client registered with the issuer (Dex `storage.Client`; RFC 6749 §2).
///
/// The serde field names are Dex's, so `staticClients` entries of a Dex config file
/// deserialize into this type (the `idEnv`/`secretEnv` indirections are resolved by the
/// configuration loader before that).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// The `client_id` (RFC 6749 §2.2).
    pub id: String,
    /// The `client_secret`; empty for public clients.
    #[serde(default)]
    pub secret: ClientSecret,
    /// Redirect URIs, matched exactly (Dex has no wildcards; RFC 6749 §3.1.2).
    #[serde(rename = "redirectURIs", default)]
    pub redirect_uris: Vec<String>,
    /// Clients allowed to mint tokens for this one with `audience:server:client_id:<id>`.
    #[serde(rename = "trustedPeers", default)]
    pub trusted_peers: Vec<String>,
    /// A public client (RFC 6749 §2.1): no secret, loopback and out-of-band redirects allowed
    /// when it has no registered redirect URIs.
    #[serde(default)]
    pub public: bool,
    /// Display name on the approval page.
    #[serde(default)]
    pub name: String,
    /// Logo shown on the approval page.
    #[serde(rename = "logoURL", default)]
    pub logo_url: String,
    /// Connectors this client may use; empty means all (Dex `allowedConnectors`).
    #[serde(
        rename = "allowedConnectors",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allowed_connectors: Vec<String>,
    /// Claims for tokens issued by the client-credentials grant (Dex `clientCredentialsClaims`).
    #[serde(
        rename = "clientCredentialsClaims",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_credentials_claims: Option<ClientCredentialsClaims>,
}

/// Claims a client receives about itself in the client-credentials grant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCredentialsClaims {
    /// `groups` claim for the client.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Client {
    /// `true` if the client may log in through `connector_id` (an empty allow-list allows all).
    pub fn allows_connector(&self, connector_id: &str) -> bool {
        self.allowed_connectors.is_empty()
            || self.allowed_connectors.iter().any(|c| c == connector_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dex_static_client() {
        let yaml_as_json = serde_json::json!({
            "id": "example-app",
            "redirectURIs": ["http://127.0.0.1:5555/callback"],
            "name": "Example App",
            "secret": "ZXhhbXBsZS1hcHAtc2VjcmV0",
        });
        let client: Client = serde_json::from_value(yaml_as_json).unwrap();
        assert_eq!(client.id, "example-app");
        assert!(client.secret.verify("ZXhhbXBsZS1hcHAtc2VjcmV0"));
        assert_eq!(client.redirect_uris, ["http://127.0.0.1:5555/callback"]);
        assert!(!client.public);
        assert!(client.allows_connector("anything"));
    }

    #[test]
    fn allowed_connectors_restrict() {
        let client = Client {
            allowed_connectors: vec!["ldap".into()],
            ..Client::default()
        };
        assert!(client.allows_connector("ldap"));
        assert!(!client.allows_connector("github"));
    }
}
