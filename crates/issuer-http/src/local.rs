//! The `local` connector: users from the password database (`staticPasswords` and passwords
//! created through the admin API; Dex `server/connectors/password.go`).
//!
//! bcrypt runs on the blocking pool, never on the async workers. Unknown users cost the same
//! bcrypt time as known ones (security.md §10 item 10), hashes outside cost 10–16 are refused
//! (Dex `checkCost`), and passwords over 72 bytes are refused rather than silently truncated.

use std::str::FromStr as _;
use std::sync::Arc;

use async_trait::async_trait;
use oxidex_core::connector::{
    Connector, ConnectorFactory, OpenContext, PasswordConnector, PasswordLogin, RefreshConnector,
};
use oxidex_core::model::{Identity, Password, Scopes};
use oxidex_core::storage::Store;
use oxidex_core::{Error, Result};

/// Type name of the local connector.
pub const LOCAL: &str = "local";

/// A bcrypt hash (cost 10) of a random value nobody knows, made once: what unknown users are
/// checked against so that they take as long as known ones.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let secret = oxidex_core::ids::new_id().unwrap_or_else(|_| "unguessable".into());
        bcrypt::hash(secret, 10).unwrap_or_default()
    })
}

/// Checks e-mail and password against the password database.
#[derive(Debug, Clone)]
pub struct LocalConnector {
    store: Store,
    id: String,
}

impl LocalConnector {
    /// A local connector with id `id` over `store`.
    pub fn new(store: Store, id: impl Into<String>) -> Self {
        Self {
            store,
            id: id.into(),
        }
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::Connector {
            connector_id: self.id.clone(),
            message: message.into(),
            source: None,
        }
    }

    fn identity(password: &Password) -> Identity {
        Identity {
            user_id: password.user_id.clone(),
            username: password.display_name().to_owned(),
            preferred_username: if password.preferred_username.is_empty() {
                password.username.clone()
            } else {
                password.preferred_username.clone()
            },
            email: password.email.clone(),
            email_verified: password.email_verified(),
            groups: password.groups.clone(),
            connector_data: None,
        }
    }
}

/// `true` if `hash` is bcrypt with a cost Dex accepts (10–16).
pub fn acceptable_cost(hash: &str) -> bool {
    bcrypt::HashParts::from_str(hash).is_ok_and(|parts| (10..=16).contains(&parts.get_cost()))
}

/// Runs one bcrypt check on the blocking pool, at most one per CPU at a time. The semaphore is
/// fair (first come, first served), so under a burst of logins each completes in turn at the
/// bcrypt rate, instead of all of them sharing the CPUs and finishing together, late.
async fn with_bcrypt_slot<T: Send + 'static>(
    check: impl FnOnce() -> T + Send + 'static,
) -> std::result::Result<T, String> {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from))
    });
    let _slot = slots.acquire().await.map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(check)
        .await
        .map_err(|e| e.to_string())
}

async fn bcrypt_verify(password: String, hash: String) -> Result<bool> {
    with_bcrypt_slot(move || {
        if password.len() > 72 {
            return Ok(false);
        }
        bcrypt::verify(password.as_bytes(), &hash).map_err(|e| Error::Connector {
            connector_id: LOCAL.into(),
            message: format!("stored password hash is not bcrypt: {e}"),
            source: None,
        })
    })
    .await
    .map_err(|e| Error::Connector {
        connector_id: LOCAL.into(),
        message: format!("password check did not finish: {e}"),
        source: None,
    })?
}

#[async_trait]
impl PasswordConnector for LocalConnector {
    fn prompt(&self) -> &str {
        "Email Address"
    }

    async fn login(&self, _: Scopes, username: &str, password: &str) -> Result<PasswordLogin> {
        if password.is_empty() || username.is_empty() {
            return Ok(PasswordLogin::InvalidCredentials);
        }
        let record = match self.store.get::<Password>(username).await {
            Ok(p) => Some(p.value),
            Err(e) if e.is_not_found() || e.kind() == oxidex_core::ErrorKind::Invalid => None,
            Err(e) => return Err(e),
        };
        let Some(record) = record else {
            // Same cost as a real check, result ignored.
            let password = password.to_owned();
            let _ = with_bcrypt_slot(move || {
                bcrypt::verify(password.as_bytes(), dummy_hash()).unwrap_or(false)
            })
            .await;
            return Ok(PasswordLogin::InvalidCredentials);
        };
        if !acceptable_cost(&record.hash) {
            return Err(self.error(format!(
                "the password hash of {:?} must be bcrypt with cost 10 to 16",
                record.email
            )));
        }
        if bcrypt_verify(password.to_owned(), record.hash.clone()).await? {
            Ok(PasswordLogin::Authenticated(Self::identity(&record)))
        } else {
            Ok(PasswordLogin::InvalidCredentials)
        }
    }
}

#[async_trait]
impl RefreshConnector for LocalConnector {
    async fn refresh(&self, _: Scopes, identity: Identity) -> Result<Identity> {
        let record = self
            .store
            .get::<Password>(&identity.email)
            .await
            .map_err(|e| {
                if e.is_not_found() {
                    self.error("the user no longer exists")
                } else {
                    e
                }
            })?
            .value;
        if record.user_id != identity.user_id {
            return Err(self.error("the user's id changed"));
        }
        Ok(Self::identity(&record))
    }
}

/// Opens `local` connectors over a store.
#[derive(Debug, Clone)]
pub struct LocalConnectorFactory {
    store: Store,
}

impl LocalConnectorFactory {
    /// A factory whose connectors read `store`.
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(Self { store })
    }
}

#[async_trait]
impl ConnectorFactory for LocalConnectorFactory {
    async fn open(&self, ctx: &OpenContext, _config: serde_json::Value) -> Result<Connector> {
        Ok(
            Connector::password(LocalConnector::new(self.store.clone(), ctx.id.clone()))
                .with_refresh()
                .build(),
        )
    }
}
