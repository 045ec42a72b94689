//! [`LdapConnector`]: password login and refresh against an LDAP directory.

use async_trait::async_trait;
use oxidex_core::connector::{PasswordConnector, PasswordLogin, RefreshConnector};
use oxidex_core::model::{Identity, Scopes};
use oxidex_core::{Error, Result};
use serde::{Deserialize, Serialize};

use super::config::Settings;
use super::search::{self, UserLookup};
use super::session::{BindOutcome, Session};

/// An opened `ldap` connector.
pub struct LdapConnector {
    id: String,
    settings: Settings,
}

impl std::fmt::Debug for LdapConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConnector")
            .field("id", &self.id)
            .field("url", &self.settings.url)
            .finish_non_exhaustive()
    }
}

/// `connector_data` of an offline session. The shape is Dex's `refreshData` reduced to what
/// refresh reads (`entry.DN`), so sessions carried over from Dex refresh here and the other
/// way round.
#[derive(Debug, Serialize, Deserialize)]
struct RefreshData {
    username: String,
    entry: RefreshEntry,
}

#[derive(Debug, Serialize, Deserialize)]
struct RefreshEntry {
    #[serde(rename = "DN")]
    dn: String,
}

impl LdapConnector {
    pub(crate) fn new(id: String, settings: Settings) -> Self {
        Self { id, settings }
    }

    fn error(&self, message: String) -> Error {
        Error::Connector {
            connector_id: self.id.clone(),
            message,
            source: None,
        }
    }

    async fn login_inner(
        &self,
        scopes: Scopes,
        username: &str,
        password: &str,
    ) -> Result<PasswordLogin> {
        let mut session = Session::open(&self.settings, &self.id).await?;
        let user = match search::find_user(&mut session, &self.settings, &self.id, username).await?
        {
            UserLookup::Found(entry) => entry,
            UserLookup::NotFound => {
                session.close().await;
                return Ok(PasswordLogin::InvalidCredentials);
            }
        };
        match session.simple_bind(&user.dn, password).await? {
            BindOutcome::Ok => {}
            BindOutcome::Rejected(code, text) => {
                tracing::info!(connector = %self.id, user_dn = %user.dn, code, %text, "ldap: bind as the user refused: invalid password (or constraint violation)");
                session.close().await;
                return Ok(PasswordLogin::InvalidCredentials);
            }
        }
        let mut identity = search::identity(&self.settings, &self.id, &user)?;
        if scopes.groups && self.settings.group.is_some() {
            // Groups are searched as the service account, as Dex does.
            session.bind_service().await?;
            identity.groups = search::groups(&mut session, &self.settings, &self.id, &user).await?;
        }
        session.close().await;
        if scopes.offline_access {
            let data = RefreshData {
                username: username.to_owned(),
                entry: RefreshEntry { dn: user.dn },
            };
            identity.connector_data = Some(
                serde_json::to_vec(&data)
                    .map_err(|e| self.error(format!("encoding connector data: {e}")))?,
            );
        }
        Ok(PasswordLogin::Authenticated(identity))
    }

    async fn refresh_inner(&self, scopes: Scopes, identity: Identity) -> Result<Identity> {
        let raw = identity.connector_data.as_deref().ok_or_else(|| {
            self.error(
                "refresh without connector data (the login did not ask for offline_access)".into(),
            )
        })?;
        let data: RefreshData = serde_json::from_slice(raw)
            .map_err(|e| self.error(format!("unreadable connector data: {e}")))?;
        let mut session = Session::open(&self.settings, &self.id).await?;
        let user = match search::find_user(&mut session, &self.settings, &self.id, &data.username)
            .await?
        {
            UserLookup::Found(entry) => entry,
            UserLookup::NotFound => {
                session.close().await;
                return Err(self.error(format!(
                    "refresh: user {:?} no longer found (entry {:?} deleted or renamed?)",
                    data.username, data.entry.dn
                )));
            }
        };
        if user.dn != data.entry.dn
            && search::normalize_dn(&user.dn) != search::normalize_dn(&data.entry.dn)
        {
            session.close().await;
            return Err(self.error(format!(
                "refresh for username {:?}: expected entry {:?}, found {:?}",
                data.username, data.entry.dn, user.dn
            )));
        }
        let mut fresh = search::identity(&self.settings, &self.id, &user)?;
        if scopes.groups && self.settings.group.is_some() {
            fresh.groups = search::groups(&mut session, &self.settings, &self.id, &user).await?;
        }
        session.close().await;
        fresh.connector_data = identity.connector_data;
        Ok(fresh)
    }
}

#[async_trait]
impl PasswordConnector for LdapConnector {
    fn prompt(&self) -> &str {
        &self.settings.prompt
    }

    async fn login(&self, scopes: Scopes, username: &str, password: &str) -> Result<PasswordLogin> {
        // An empty password would make the user bind an "unauthenticated bind" (RFC 4513
        // §5.1.2) that many servers accept: log in as anyone (Dex commit 6e3e1741). Refuse it
        // before contacting the server at all.
        // A NUL cuts the password short in servers and pass-through back ends that use C
        // strings, which can also turn it into an unauthenticated bind (security.md LD-01).
        if password.is_empty() || password.contains('\0') {
            return Ok(PasswordLogin::InvalidCredentials);
        }
        // An empty username would only ever match an entry with an empty attribute value.
        if username.is_empty() {
            return Ok(PasswordLogin::InvalidCredentials);
        }
        self.login_inner(scopes, username, password).await
    }
}

#[async_trait]
impl RefreshConnector for LdapConnector {
    async fn refresh(&self, scopes: Scopes, identity: Identity) -> Result<Identity> {
        self.refresh_inner(scopes, identity).await
    }
}
