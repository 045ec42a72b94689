//! From a loaded Dex configuration to a running engine: storage with the static overlay, the
//! signer, the connectors, the protocol settings, the pages.

use std::collections::BTreeSet;
use std::sync::Arc;

use oxidex_core::clock::{Clock, SystemClock};
use oxidex_core::model::{ConnectorRecord, PkceMethod};
use oxidex_core::oauth::{
    ConnectorSet, Engine, OpenedConnector, PkcePolicy, RefreshPolicy, Settings,
};
use oxidex_core::signer::{LocalSigner, LocalSignerConfig, SigningAlgorithm};
use oxidex_core::storage::{Storage, Store};
use oxidex_issuer_http::local::{LOCAL, LocalConnectorFactory};
use oxidex_issuer_http::pages::{FrontendSettings, Pages};
use oxidex_issuer_http::{Issuer, WebSettings};
use oxidex_storage::{MemoryStorage, SqliteStorage, StaticOverlay};

use crate::config::{self, Config};

/// Everything `serve` runs.
pub(crate) struct Assembled {
    pub(crate) issuer: Issuer,
    /// The engine's live connector set (shared with it).
    pub(crate) connectors: ConnectorSet,
    /// What opens connectors from their records.
    pub(crate) registry: Arc<oxidex_core::connector::ConnectorRegistry>,
    pub(crate) store: Store,
    pub(crate) signer: Arc<LocalSigner>,
    pub(crate) clock: Arc<dyn Clock>,
}

fn chrono(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Why the issuer could not be assembled.
#[derive(Debug)]
pub(crate) enum AssembleError {
    /// A shared storage server is unreachable or failing: trying again later may work.
    Unavailable(String),
    /// Anything else: the configuration or a local file must be fixed.
    Fatal(String),
}

impl AssembleError {
    /// Classifies a failure that happened while talking to storage.
    fn storage(config: &Config, context: &str, error: &oxidex_core::Error) -> Self {
        let message = if context.is_empty() {
            error.to_string()
        } else {
            format!("{context}: {error}")
        };
        if is_networked(&config.storage) && error.kind() == oxidex_core::ErrorKind::Backend {
            AssembleError::Unavailable(message)
        } else {
            AssembleError::Fatal(message)
        }
    }
}

impl From<String> for AssembleError {
    fn from(message: String) -> Self {
        AssembleError::Fatal(message)
    }
}

/// Whether the backend is a server other processes share (and that may be down for a while).
fn is_networked(storage: &config::Storage) -> bool {
    !matches!(
        storage,
        config::Storage::Memory | config::Storage::Sqlite3(_)
    )
}

/// Opens the configured storage backend (without the static overlay).
pub(crate) async fn open_backend(
    storage: &config::Storage,
) -> oxidex_core::Result<Arc<dyn Storage>> {
    Ok(match storage {
        config::Storage::Memory => Arc::new(MemoryStorage::new()),
        config::Storage::Sqlite3(sqlite) => Arc::new(SqliteStorage::open_config(sqlite).await?),
        #[cfg(feature = "postgres")]
        config::Storage::Postgres(db) => Arc::new(oxidex_storage::PostgresStorage::open(db).await?),
        #[cfg(feature = "mysql")]
        config::Storage::Mysql(db) => Arc::new(oxidex_storage::MysqlStorage::open(db).await?),
        #[cfg(feature = "etcd")]
        config::Storage::Etcd(etcd) => Arc::new(oxidex_storage::EtcdStorage::open(etcd).await?),
        #[allow(unreachable_patterns, reason = "backends left out of this build")]
        other => {
            return Err(oxidex_core::Error::Backend {
                backend: other.type_name(),
                message: format!(
                    "this oxidex was built without the `{}` feature; rebuild with it",
                    other.type_name()
                ),
                source: None,
            });
        }
    })
}

/// Opens storage and builds the issuer. Errors name what failed.
pub(crate) async fn assemble(config: &Config) -> Result<Assembled, AssembleError> {
    let backend = open_backend(&config.storage)
        .await
        .map_err(|e| AssembleError::storage(config, "", &e))?;
    let overlay = StaticOverlay::new(backend)
        .with_clients(config.clients().cloned())
        .and_then(|o| o.with_passwords(config.static_passwords.iter().cloned()))
        .and_then(|o| o.with_connectors(config.connectors.iter().cloned()))
        .map_err(|e| format!("static configuration: {e}"))?;
    let store = Store::new(Arc::new(overlay));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);

    let (algorithm, rotation) = match &config.signer {
        config::Signer::Local(local) => (
            match local.algorithm {
                config::SigningAlgorithm::ES256 => SigningAlgorithm::Es256,
                config::SigningAlgorithm::EdDSA => SigningAlgorithm::EdDsa,
                _ => SigningAlgorithm::Rs256,
            },
            local.keys_rotation_period,
        ),
        #[allow(unreachable_patterns, reason = "more signer types will come")]
        _ => {
            return Err(AssembleError::Fatal(
                "only the local signer is built".into(),
            ));
        }
    };
    let signer = Arc::new(
        LocalSigner::open(
            store.clone(),
            clock.clone(),
            LocalSignerConfig {
                algorithm,
                rotation_period: chrono(rotation),
                id_token_lifetime: chrono(config.expiry.id_tokens()),
            },
        )
        .await
        .map_err(|e| AssembleError::storage(config, "signing keys", &e))?,
    );

    let mut registry = oxidex_connectors::registry();
    registry.register(LOCAL, LocalConnectorFactory::new(store.clone()));
    let records: Vec<ConnectorRecord> = store
        .list::<ConnectorRecord>()
        .await
        .map_err(|e| AssembleError::storage(config, "listing connectors", &e))?;
    let mut opened = Vec::new();
    for record in records {
        match registry.open(&record).await {
            Ok(connector) => opened.push(OpenedConnector { record, connector }),
            // Dex's DEX_CONTINUE_ON_CONNECTOR_FAILURE default: log and go on unless all fail.
            Err(e) => {
                tracing::error!(connector_id = %record.id, error = %e, "connector failed to open")
            }
        }
    }
    if opened.is_empty() {
        return Err(AssembleError::Fatal(
            "no connector could be opened; configure at least one connector or enablePasswordDB"
                .into(),
        ));
    }

    let settings = settings(config);
    if let Some(id) = &settings.password_connector
        && !opened.iter().any(|c| &c.record.id == id)
    {
        return Err(AssembleError::Fatal(format!(
            "oauth2.passwordConnector {id:?} names no connector"
        )));
    }
    let connectors = ConnectorSet::new(opened);
    let engine = Engine::new(
        settings,
        store.clone(),
        signer.clone(),
        clock.clone(),
        connectors.clone(),
    );
    let frontend = &config.frontend;
    let mut pages_settings = FrontendSettings::default();
    if !frontend.dir.is_empty() {
        pages_settings.dir = Some(frontend.dir.clone().into());
    }
    if !frontend.issuer.is_empty() {
        pages_settings.issuer_name = frontend.issuer.clone();
    }
    if !frontend.logo_url.is_empty() {
        pages_settings.logo_url = frontend.logo_url.clone();
    }
    if !frontend.theme.is_empty() {
        pages_settings.theme = frontend.theme.clone();
    }
    pages_settings.extra = frontend.extra.clone();
    let pages = Pages::new(pages_settings).map_err(|e| format!("frontend: {e}"))?;
    let h = &config.web.headers;
    let headers = [
        ("Content-Security-Policy", &h.content_security_policy),
        ("X-Frame-Options", &h.x_frame_options),
        ("X-Content-Type-Options", &h.x_content_type_options),
        ("X-XSS-Protection", &h.x_xss_protection),
        ("Strict-Transport-Security", &h.strict_transport_security),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k.to_owned(), v.clone()))
    .collect();
    let web = WebSettings {
        headers,
        allowed_origins: config.web.allowed_origins.clone(),
        allowed_headers: config.web.allowed_headers.clone(),
    };
    let issuer = Issuer::new(engine, pages, web).await.map_err(|e| match e {
        oxidex_issuer_http::BuildError::Core(e) => AssembleError::storage(config, "", &e),
        other => AssembleError::Fatal(other.to_string()),
    })?;
    Ok(Assembled {
        issuer,
        connectors,
        registry: Arc::new(registry),
        store,
        signer,
        clock,
    })
}

/// The engine's settings from `oauth2` and `expiry`.
pub(crate) fn settings(config: &Config) -> Settings {
    let mut settings = Settings::new(config.issuer.clone());
    settings.response_types = config
        .oauth2
        .effective_response_types()
        .iter()
        .flat_map(|t| t.split(' '))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect::<BTreeSet<_>>();
    settings.grant_types = config.allowed_grant_types().into_iter().collect();
    settings.id_token_lifetime = chrono(config.expiry.id_tokens());
    settings.auth_request_lifetime = chrono(config.expiry.auth_requests());
    settings.device_request_lifetime = chrono(config.expiry.device_requests());
    let refresh = &config.expiry.refresh_tokens;
    let defaults = RefreshPolicy::default();
    settings.refresh = RefreshPolicy {
        rotation: !refresh.disable_rotation,
        reuse_interval: refresh
            .reuse_interval
            .map(chrono)
            .unwrap_or(defaults.reuse_interval),
        valid_if_not_used_for: refresh.valid_if_not_used_for.map(chrono),
        absolute_lifetime: refresh.absolute_lifetime.map(chrono),
    };
    let methods: Vec<PkceMethod> = config
        .oauth2
        .pkce
        .code_challenge_methods_supported
        .iter()
        .filter_map(|m| match m.as_str() {
            "S256" => Some(PkceMethod::S256),
            "plain" => Some(PkceMethod::Plain),
            _ => None,
        })
        .collect();
    settings.pkce = PkcePolicy {
        enforce: config.oauth2.pkce.enforce,
        methods: if methods.is_empty() {
            PkcePolicy::default().methods
        } else {
            methods
        },
    };
    settings.skip_approval = config.oauth2.skip_approval_screen;
    settings.always_show_login = config.oauth2.always_show_login_screen;
    settings.password_connector = (!config.oauth2.password_connector.is_empty())
        .then(|| config.oauth2.password_connector.clone());
    settings
}
