//! The upstream provider's endpoints and keys: discovered on first use rather than when the
//! connector opens (so an issuer that is down at start-up does not take the connector out
//! until the next restart), kept for an hour, and the key set fetched again when an ID token
//! names a key we do not have (the provider rotated).

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use super::config::Settings;
use crate::http::UpstreamHttp;

/// How long discovered endpoints are used before asking again.
const DISCOVERY_LIFETIME: Duration = Duration::from_secs(3600);
/// At most one key-set fetch per this period when tokens name unknown keys.
const KEYS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// The parts of a discovery document the connector uses. Lenient on purpose: providers
/// differ in which optional fields they send, and Dex's go-oidc reads only these.
#[derive(Debug, Clone, Deserialize)]
pub struct DiscoveryDocument {
    /// `issuer`; must be the configured issuer (or its alias).
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: String,
    /// `token_endpoint`.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// `userinfo_endpoint`.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// `jwks_uri`.
    pub jwks_uri: String,
}

impl DiscoveryDocument {
    /// Parses a discovery document; the error says which field is wrong.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body).map_err(|e| format!("unusable discovery document: {e}"))
    }
}

/// Parses a JWK set, skipping nothing silently: an unparseable set is an error.
pub fn parse_key_set(body: &[u8]) -> Result<CoreJsonWebKeySet, String> {
    serde_json::from_slice(body).map_err(|e| format!("unusable key set: {e}"))
}

/// Endpoints and keys in use.
#[derive(Debug)]
pub(crate) struct Endpoints {
    pub(crate) auth_url: String,
    pub(crate) token_url: String,
    pub(crate) userinfo_url: Option<String>,
    jwks_url: String,
    pub(crate) keys: CoreJsonWebKeySet,
    fetched: Instant,
}

/// One connector's view of its provider.
#[derive(Debug)]
pub(crate) struct Provider {
    settings: Arc<Settings>,
    pub(crate) http: UpstreamHttp,
    current: RwLock<Option<Arc<Endpoints>>>,
    /// One discovery or key fetch at a time; the others wait and use its result.
    fetching: Mutex<Option<Instant>>,
}

impl Provider {
    pub(crate) fn new(settings: Arc<Settings>, http: UpstreamHttp) -> Self {
        Self {
            settings,
            http,
            current: RwLock::new(None),
            fetching: Mutex::new(None),
        }
    }

    /// The endpoints, discovering them if there are none yet or they are old. When a
    /// re-discovery fails, the previous endpoints stay in use (and the failure is logged).
    pub(crate) async fn endpoints(&self) -> Result<Arc<Endpoints>, String> {
        if let Some(e) = self.current.read().await.as_ref()
            && e.fetched.elapsed() < DISCOVERY_LIFETIME
        {
            return Ok(e.clone());
        }
        let _one_at_a_time = self.fetching.lock().await;
        let previous = self.current.read().await.clone();
        if let Some(e) = &previous
            && e.fetched.elapsed() < DISCOVERY_LIFETIME
        {
            return Ok(e.clone());
        }
        match self.discover().await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *self.current.write().await = Some(fresh.clone());
                Ok(fresh)
            }
            Err(e) => match previous {
                Some(old) => {
                    tracing::warn!(issuer = %self.settings.issuer, error = %e,
                        "re-discovery failed; using the endpoints discovered before");
                    Ok(old)
                }
                None => Err(e),
            },
        }
    }

    /// Fetches the key set again (the provider rotated), unless `seen` is already outdated
    /// or a fetch happened moments ago; the endpoints to verify with.
    pub(crate) async fn refetch_keys(
        &self,
        seen: &Arc<Endpoints>,
    ) -> Result<Arc<Endpoints>, String> {
        let mut last = self.fetching.lock().await;
        if let Some(current) = self.current.read().await.as_ref()
            && !Arc::ptr_eq(current, seen)
        {
            return Ok(current.clone());
        }
        if last.is_some_and(|t| t.elapsed() < KEYS_REFETCH_INTERVAL) {
            return Ok(seen.clone());
        }
        *last = Some(Instant::now());
        let keys = self.fetch_keys(&seen.jwks_url).await?;
        let fresh = Arc::new(Endpoints {
            auth_url: seen.auth_url.clone(),
            token_url: seen.token_url.clone(),
            userinfo_url: seen.userinfo_url.clone(),
            jwks_url: seen.jwks_url.clone(),
            keys,
            fetched: seen.fetched,
        });
        *self.current.write().await = Some(fresh.clone());
        Ok(fresh)
    }

    async fn discover(&self) -> Result<Endpoints, String> {
        let s = &self.settings;
        let url = format!(
            "{}/.well-known/openid-configuration",
            s.issuer.trim_end_matches('/')
        );
        let body = self.get(&url, "discovery").await?;
        let doc = DiscoveryDocument::parse(&body)?;
        let issuer_ok = doc.issuer == s.issuer || s.issuer_alias.as_deref() == Some(&doc.issuer);
        if !issuer_ok {
            return Err(format!(
                "the discovery document at {url} names issuer {:?}, not the configured {:?} \
                 (set `issuer` to exactly the provider's issuer, or `issuerAlias`)",
                doc.issuer, s.issuer
            ));
        }
        let o = &s.overrides;
        let pick = |over: &str, found: Option<String>| {
            if over.is_empty() {
                found
            } else {
                Some(over.to_owned())
            }
        };
        let token_url = pick(&o.token_url, doc.token_endpoint).ok_or_else(|| {
            format!("{url} has no token_endpoint; set providerDiscoveryOverrides.tokenURL")
        })?;
        let jwks_url = pick(&o.jwks_url, Some(doc.jwks_uri)).unwrap_or_default();
        let keys = self.fetch_keys(&jwks_url).await?;
        Ok(Endpoints {
            auth_url: pick(&o.auth_url, Some(doc.authorization_endpoint)).unwrap_or_default(),
            token_url,
            userinfo_url: pick(&o.user_info_url, doc.userinfo_endpoint),
            jwks_url,
            keys,
            fetched: Instant::now(),
        })
    }

    async fn fetch_keys(&self, url: &str) -> Result<CoreJsonWebKeySet, String> {
        let body = self.get(url, "key set").await?;
        parse_key_set(&body)
    }

    async fn get(&self, url: &str, what: &str) -> Result<Vec<u8>, String> {
        let request = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| format!("{what} URL {url:?}: {e}"))?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| format!("fetching the {what}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "fetching the {what}: {url} answered HTTP {}",
                response.status()
            ));
        }
        Ok(response.into_body())
    }
}
