//! The protocol engine: OAuth 2.0 and OpenID Connect without HTTP types.
//!
//! [`Engine`] holds the settings, storage, signer, clock and opened connectors, and offers one
//! method per protocol step: validate an authorization request, start a login at a connector,
//! finish it (password form, upstream callback), continue to approval, answer the client, and
//! serve the token and userinfo endpoints. Inputs are plain parsed values; outputs are values
//! or errors the HTTP layer renders (`oxidex-issuer-http`). Time comes from the [`Clock`].
//!
//! Where oxidex deliberately differs from Dex (each documented in `docs/deviations-from-dex.md`):
//! reusing an authorization code revokes the refresh token it issued; reusing a rotated refresh
//! token outside the reuse interval revokes its family; an upstream refresh failure is
//! `invalid_grant`, not HTTP 500; each login gets its own refresh-token family; denying consent
//! redirects with `access_denied`.

mod authorize;
mod bearer;
mod device;
mod error;
pub mod flow_mac;
mod grants;
pub mod pkce;
pub mod redirect;
pub mod scopes;
mod settings;
pub mod tokens;

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

pub use authorize::{
    ApprovalPrompt, AuthorizationResponse, AuthorizeError, AuthorizeParams, Continue, LoginStart,
    Next, PasswordOutcome, PasswordPrompt, PostedError, ValidatedAuthorize,
};
pub use device::{
    DEVICE_POLL_INTERVAL_SECONDS, DeviceAuthorization, DeviceAuthorizationRequest, DeviceCallback,
    DeviceOutcome, SLOW_DOWN_STEP_SECONDS, USER_CODE_ALPHABET, UserCodeCheck, normalize_user_code,
};
pub use error::{ErrorCode, OAuthError};
pub use grants::{ClientCredentials, TokenRequest, TokenResponse};
pub use settings::{PkcePolicy, RefreshPolicy, Settings, grant};

use crate::clock::Clock;
use crate::connector::Connector;
use crate::model::ConnectorRecord;
use crate::signer::Signer;
use crate::storage::Store;

/// A connector opened from its record.
#[derive(Clone, Debug)]
pub struct OpenedConnector {
    /// Its configuration record (id, type, name, grant types).
    pub record: ConnectorRecord,
    /// Its capabilities.
    pub connector: Connector,
}

impl OpenedConnector {
    /// `true` if the connector may be used with `grant_type` (Dex `grantTypes`; empty = all).
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.record.grant_types.is_empty()
            || self.record.grant_types.iter().any(|g| g == grant_type)
    }
}

/// The opened connectors, by id. Clones share one live set: [`ConnectorSet::replace`] (after
/// a connector was created, changed or deleted through the admin API, on any replica) takes
/// effect for every request that starts afterwards; a request in flight keeps the connector it
/// looked up.
#[derive(Clone, Debug, Default)]
pub struct ConnectorSet {
    current: Arc<RwLock<Arc<ConnectorMap>>>,
}

type ConnectorMap = BTreeMap<String, Arc<OpenedConnector>>;

impl ConnectorSet {
    /// A set of opened connectors.
    pub fn new(connectors: impl IntoIterator<Item = OpenedConnector>) -> Self {
        let set = Self::default();
        set.replace(connectors.into_iter().map(Arc::new));
        set
    }

    fn snapshot(&self) -> Arc<ConnectorMap> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The connector with that id.
    pub fn get(&self, id: &str) -> Option<Arc<OpenedConnector>> {
        self.snapshot().get(id).cloned()
    }

    /// Every connector, ordered by id.
    pub fn list(&self) -> Vec<Arc<OpenedConnector>> {
        self.snapshot().values().cloned().collect()
    }

    /// Replaces the whole set (connectors reopened elsewhere are passed in as they are).
    pub fn replace(&self, connectors: impl IntoIterator<Item = Arc<OpenedConnector>>) {
        let map: ConnectorMap = connectors
            .into_iter()
            .map(|c| (c.record.id.clone(), c))
            .collect();
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(map);
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    /// `true` if there are none.
    pub fn is_empty(&self) -> bool {
        self.snapshot().is_empty()
    }
}

/// The protocol engine.
#[derive(Clone)]
pub struct Engine {
    settings: Arc<Settings>,
    store: Store,
    signer: Arc<dyn Signer>,
    clock: Arc<dyn Clock>,
    connectors: ConnectorSet,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("issuer", &self.settings.issuer)
            .field("connectors", &self.connectors.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Assembles an engine.
    pub fn new(
        settings: Settings,
        store: Store,
        signer: Arc<dyn Signer>,
        clock: Arc<dyn Clock>,
        connectors: ConnectorSet,
    ) -> Self {
        Self {
            settings: Arc::new(settings),
            store,
            signer,
            clock,
            connectors,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The storage.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The signer.
    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The connectors.
    pub fn connectors(&self) -> &ConnectorSet {
        &self.connectors
    }

    /// Mints tokens with this issuer's signer, issuer URL and token lifetime.
    async fn mint(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        request: &tokens::MintRequest<'_>,
    ) -> Result<tokens::Minted, OAuthError> {
        tokens::mint(
            self.signer.as_ref(),
            &self.store,
            &self.settings.issuer,
            self.settings.id_token_lifetime,
            now,
            request,
        )
        .await
    }
}
