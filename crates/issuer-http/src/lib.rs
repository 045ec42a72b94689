//! # oxidex-issuer-http: the HTTP face of oxidex
//!
//! [`Issuer`] turns a protocol [`Engine`] into an axum [`Router`] serving Dex's endpoints
//! (`reference/dex.md` §1.1):
//!
//! | path (under the issuer path) | what |
//! |---|---|
//! | `/.well-known/openid-configuration` | discovery, serialized once |
//! | `/keys` | the JSON Web Key Set |
//! | `/auth`, `/auth/{connector}`, `/auth/{connector}/login` | chooser, login start, password form |
//! | `/callback`, `/callback/{connector}` | upstream redirects back |
//! | `/approval` | consent (MAC-protected, CSRF-protected form) |
//! | `/token`, `/userinfo` | token endpoint and userinfo |
//! | `/token/revoke`, `/token/introspect` | revocation (RFC 7009), introspection (RFC 7662) |
//! | `/device/code`, `/device`, `/device/auth/verify_code`, `/device/callback` | the device flow (RFC 8628) |
//! | `/form_post.js` | submits `response_mode=form_post` pages |
//! | `/healthz`, `/static/*`, `/theme/*`, `/robots.txt` | health and assets |
//!
//! Embedding: build an [`Engine`], then `Issuer::new(engine, pages, web).await?.app()` gives a
//! router already nested at the issuer URL's path; or take [`Issuer::router`] and nest it
//! yourself. Engine errors become responses in one place (`errors.rs`); bad input gets RFC 6749
//! errors or an error page, never a panic. Security headers are on by default.
//!
//! With the `grpc` feature, the `grpc` module adds Dex's gRPC admin API (`api.Dex`) over the same store.
//!
//! ```
//! use std::sync::Arc;
//! use oxidex_core::clock::SystemClock;
//! use oxidex_core::model::{Client, ConnectorRecord};
//! use oxidex_core::oauth::{ConnectorSet, Engine, OpenedConnector, Settings};
//! use oxidex_core::signer::{LocalSigner, LocalSignerConfig, SigningAlgorithm};
//! use oxidex_core::storage::Store;
//! use oxidex_issuer_http::pages::{FrontendSettings, Pages};
//! use oxidex_issuer_http::{Issuer, WebSettings};
//!
//! # async fn demo() -> Result<axum::Router, Box<dyn std::error::Error>> {
//! let store = Store::new(Arc::new(oxidex_storage::MemoryStorage::new()));
//! store.create(&Client { id: "my-app".into(), public: true, ..Client::default() }).await?;
//! let clock = Arc::new(SystemClock);
//! let config = LocalSignerConfig { algorithm: SigningAlgorithm::Es256, ..Default::default() };
//! let signer = Arc::new(LocalSigner::open(store.clone(), clock.clone(), config).await?);
//! // Any connector type from the registry (here Dex's development connector).
//! let record = ConnectorRecord {
//!     id: "mock".into(),
//!     connector_type: "mockCallback".into(),
//!     name: "Mock".into(),
//!     resource_version: String::new(),
//!     config: serde_json::Value::Null,
//!     grant_types: vec![],
//! };
//! let connector = oxidex_connectors::registry().open(&record).await?;
//! let engine = Engine::new(
//!     Settings::new("https://auth.example.com/oidc"),
//!     store,
//!     signer,
//!     clock,
//!     ConnectorSet::new([OpenedConnector { record, connector }]),
//! );
//! let pages = Pages::new(FrontendSettings::default())?;
//! let issuer = Issuer::new(engine, pages, WebSettings::default()).await?;
//! // Serve it, or merge it into your own router: routes live under `/oidc`.
//! Ok(issuer.app())
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
//! ```

mod csrf;
mod discovery;
mod errors;
mod form_post;
#[cfg(feature = "grpc")]
pub mod grpc;
mod handlers;
pub mod local;
pub mod pages;
mod params;
mod security;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method};
use axum::routing::{any, get};
use oxidex_core::oauth::Engine;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::pages::Pages;

/// Settings of the web listener that shape responses (Dex's `web` section).
#[derive(Debug, Clone, Default)]
pub struct WebSettings {
    /// `web.headers`: extra response headers; they replace the defaults of the same name.
    pub headers: Vec<(String, String)>,
    /// `web.allowedOrigins`: CORS origins for discovery, keys, token and userinfo (`*` = any).
    pub allowed_origins: Vec<String>,
    /// `web.allowedHeaders`: CORS request headers (default `Authorization`).
    pub allowed_headers: Vec<String>,
}

/// Why the router could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The issuer URL is not an absolute URL.
    #[error("issuer {0:?} is not an absolute http(s) URL")]
    Issuer(String),
    /// A configured header is not a valid HTTP header.
    #[error("web.headers: {0}")]
    Header(String),
    /// The signer failed.
    #[error(transparent)]
    Core(#[from] oxidex_core::Error),
    /// The discovery document could not be encoded.
    #[error("discovery document: {0}")]
    Discovery(#[from] serde_json::Error),
}

/// Shared state of every handler.
pub(crate) struct State {
    pub(crate) engine: Engine,
    pub(crate) pages: Pages,
    pub(crate) discovery: axum::body::Bytes,
    /// The issuer URL's path without a trailing slash (`""` at the root).
    pub(crate) issuer_path: String,
    /// Cookie `Path`.
    pub(crate) cookie_path: String,
    /// The issuer is https: cookies get `Secure`, responses get HSTS.
    pub(crate) https: bool,
}

/// The issuer's HTTP service.
#[derive(Clone)]
pub struct Issuer {
    state: Arc<State>,
    headers: Arc<Vec<(HeaderName, HeaderValue)>>,
    web: WebSettings,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer_path", &self.state.issuer_path)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// Prepares the service: serializes discovery, resolves headers.
    pub async fn new(engine: Engine, pages: Pages, web: WebSettings) -> Result<Self, BuildError> {
        let issuer = engine.settings().issuer.clone();
        let parsed = url::Url::parse(&issuer).map_err(|_| BuildError::Issuer(issuer.clone()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(BuildError::Issuer(issuer));
        }
        let issuer_path = parsed.path().trim_end_matches('/').to_owned();
        let https = parsed.scheme() == "https";
        let algorithm = engine.signer().signing_key().await?.algorithm();
        let discovery = discovery::document(engine.settings(), algorithm)?;

        let mut headers = security::default_headers(https);
        for (name, value) in &web.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|e| BuildError::Header(format!("{name:?}: {e}")))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|e| BuildError::Header(format!("{name}: {e}")))?;
            headers.retain(|(n, _)| *n != name);
            headers.push((name, value));
        }
        let pages = pages.with_issuer_path(&issuer_path);
        Ok(Self {
            state: Arc::new(State {
                engine,
                pages,
                discovery: discovery.into(),
                cookie_path: if issuer_path.is_empty() {
                    "/".into()
                } else {
                    issuer_path.clone()
                },
                issuer_path,
                https,
            }),
            headers: Arc::new(headers),
            web,
        })
    }

    /// The issuer URL's path (`""` when the issuer is at the root).
    pub fn issuer_path(&self) -> &str {
        &self.state.issuer_path
    }

    /// The routes, relative to the issuer path, with state and layers applied.
    pub fn router(&self) -> Router {
        use handlers::{assets, auth, keys, token};
        let api = Router::new()
            .route("/.well-known/openid-configuration", any(keys::discovery))
            .route("/keys", any(keys::keys))
            .route("/token", any(token::token))
            .route("/token/revoke", any(token::revoke))
            .route("/token/introspect", any(token::introspect))
            .route("/device/code", any(handlers::device::code))
            .route("/userinfo", any(keys::userinfo));
        let api = match self.cors() {
            Some(cors) => api.layer(cors),
            None => api,
        };
        let pages = Router::new()
            .route("/auth", get(auth::auth).post(auth::auth))
            .route("/auth/{connector}", get(auth::auth_connector))
            .route(
                "/auth/{connector}/login",
                get(auth::password).post(auth::password),
            )
            .route("/callback", get(auth::callback))
            .route("/callback/{connector}", get(auth::callback_connector))
            .route("/approval", get(auth::approval).post(auth::approval))
            .route("/device", get(handlers::device::page))
            .route(
                "/device/auth/verify_code",
                axum::routing::post(handlers::device::verify_code),
            )
            .route("/device/callback", get(handlers::device::callback))
            .route("/form_post.js", get(form_post::script))
            .route("/healthz", any(keys::healthz))
            .route("/static/{*path}", get(assets::static_file))
            .route("/theme/{*path}", get(assets::theme_file))
            .route("/robots.txt", get(assets::robots));
        let headers = self.headers.clone();
        api.merge(pages)
            .layer(DefaultBodyLimit::max(params::MAX_BODY_LEN))
            .layer(axum::middleware::from_fn(move |req, next| {
                security::apply(headers.clone(), req, next)
            }))
            .with_state(self.state.clone())
    }

    /// The routes nested at the issuer path, ready to serve.
    pub fn app(&self) -> Router {
        if self.state.issuer_path.is_empty() {
            self.router()
        } else {
            Router::new().nest(&self.state.issuer_path, self.router())
        }
    }

    fn cors(&self) -> Option<CorsLayer> {
        if self.web.allowed_origins.is_empty() {
            return None;
        }
        let origins = if self.web.allowed_origins.iter().any(|o| o == "*") {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(
                self.web
                    .allowed_origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok()),
            )
        };
        let allowed_headers: Vec<HeaderName> = if self.web.allowed_headers.is_empty() {
            vec![axum::http::header::AUTHORIZATION]
        } else {
            self.web
                .allowed_headers
                .iter()
                .filter_map(|h| HeaderName::try_from(h.as_str()).ok())
                .collect()
        };
        Some(
            CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers(allowed_headers),
        )
    }
}
