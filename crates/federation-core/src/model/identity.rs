use serde::{Deserialize, Serialize};

/// OAuth 2.0 and Dex scope names.
pub mod scope {
    /// OpenID Connect (OIDC Core §3.1.2.1); required for an ID token.
    pub const OPENID: &str = "openid";
    /// Adds `email` and `email_verified` claims.
    pub const EMAIL: &str = "email";
    /// Adds `name` and `preferred_username` claims.
    pub const PROFILE: &str = "profile";
    /// Adds the `groups` claim (Dex).
    pub const GROUPS: &str = "groups";
    /// Asks for a refresh token (OIDC Core §11).
    pub const OFFLINE_ACCESS: &str = "offline_access";
    /// Adds `federated_claims` (connector id and upstream user id) (Dex).
    pub const FEDERATED_ID: &str = "federated:id";
    /// Prefix of cross-client scopes: `audience:server:client_id:<peer>` (Dex).
    pub const CROSS_CLIENT_PREFIX: &str = "audience:server:client_id:";
}

/// Which optional data a login asks the connector for (Dex `connector.Scopes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scopes {
    /// The client asked for `offline_access`: the connector should keep what it needs to
    /// refresh the identity later.
    #[serde(rename = "offlineAccess", default)]
    pub offline_access: bool,
    /// The client asked for `groups`: the connector should fetch group membership.
    #[serde(default)]
    pub groups: bool,
}

impl Scopes {
    /// The connector scopes implied by requested OAuth scopes.
    pub fn from_requested<S: AsRef<str>>(requested: &[S]) -> Self {
        let has = |name: &str| requested.iter().any(|s| s.as_ref() == name);
        Self {
            offline_access: has(scope::OFFLINE_ACCESS),
            groups: has(scope::GROUPS),
        }
    }
}

/// A user as an upstream identity provider describes them (Dex `connector.Identity`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Stable, unique id at the upstream; becomes part of `sub`. Never changes on refresh.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// Display name (`name` claim).
    pub username: String,
    /// `preferred_username` claim.
    #[serde(rename = "preferredUsername", default)]
    pub preferred_username: String,
    /// `email` claim.
    #[serde(default)]
    pub email: String,
    /// `email_verified` claim: only `true` where the upstream vouches for the address.
    #[serde(rename = "emailVerified", default)]
    pub email_verified: bool,
    /// `groups` claim.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Opaque state the connector needs to refresh this identity. Never shown to clients.
    #[serde(
        rename = "connectorData",
        default,
        with = "super::opaque_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    pub connector_data: Option<Vec<u8>>,
}

/// The user claims kept on requests, codes and refresh tokens (Dex `storage.Claims`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Upstream user id.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// `name` claim.
    pub username: String,
    /// `preferred_username` claim.
    #[serde(rename = "preferredUsername", default)]
    pub preferred_username: String,
    /// `email` claim.
    #[serde(default)]
    pub email: String,
    /// `email_verified` claim.
    #[serde(rename = "emailVerified", default)]
    pub email_verified: bool,
    /// `groups` claim.
    #[serde(default)]
    pub groups: Vec<String>,
    /// When the user authenticated at the upstream (`auth_time`, OIDC Core §2); kept across
    /// refreshes. `None` for identities that never logged in interactively (a client's own
    /// identity under client credentials, token exchange). Not in Dex's storage.
    #[serde(rename = "authTime", default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<&Identity> for Claims {
    fn from(identity: &Identity) -> Self {
        Self {
            user_id: identity.user_id.clone(),
            username: identity.username.clone(),
            preferred_username: identity.preferred_username.clone(),
            email: identity.email.clone(),
            email_verified: identity.email_verified,
            groups: identity.groups.clone(),
            auth_time: None,
        }
    }
}

impl Claims {
    /// The identity these claims describe, with the connector's opaque data attached; what a
    /// refreshing connector receives (Dex builds the same from a refresh token).
    pub fn to_identity(&self, connector_data: Option<Vec<u8>>) -> Identity {
        Identity {
            user_id: self.user_id.clone(),
            username: self.username.clone(),
            preferred_username: self.preferred_username.clone(),
            email: self.email.clone(),
            email_verified: self.email_verified,
            groups: self.groups.clone(),
            connector_data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_from_requested() {
        let s = Scopes::from_requested(&["openid", "groups"]);
        assert!(s.groups && !s.offline_access);
        let s = Scopes::from_requested(&["offline_access".to_string()]);
        assert!(s.offline_access && !s.groups);
    }

    #[test]
    fn identity_and_claims_convert_both_ways() {
        let identity = Identity {
            user_id: "u1".into(),
            username: "Jane".into(),
            preferred_username: "jane".into(),
            email: "jane@example.com".into(),
            email_verified: true,
            groups: vec!["admins".into()],
            connector_data: Some(b"{\"token\":1}".to_vec()),
        };
        let claims = Claims::from(&identity);
        assert_eq!(
            claims.to_identity(identity.connector_data.clone()),
            identity
        );
        let json = serde_json::to_value(&identity).unwrap();
        assert_eq!(json["userID"], "u1");
        assert_eq!(json["connectorData"], "eyJ0b2tlbiI6MX0=");
        assert_eq!(serde_json::from_value::<Identity>(json).unwrap(), identity);
    }
}
