//! Serving before the issuer exists: the listeners come up at once and answer 503 (readiness
//! false) while storage is unreachable, the issuer is assembled with retries and backoff, and
//! then installed in place, so a replica started before its database joins as soon as the
//! database does.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use oxidex_core::signer::Signer;
use oxidex_core::storage::Store;
use tower::ServiceExt;

use super::assemble::{AssembleError, Assembled, assemble};
use crate::config::Config;

/// The application the listeners serve: nothing until [`AppSlot::install`], then the issuer.
#[derive(Clone, Default)]
pub(crate) struct AppSlot {
    app: Arc<RwLock<Option<Router>>>,
}

impl AppSlot {
    /// A router that hands each request to the installed application, or answers 503.
    pub(crate) fn router(&self) -> Router {
        let slot = self.clone();
        Router::new().fallback(move |request: Request| {
            let slot = slot.clone();
            async move {
                let app = slot
                    .app
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                match app {
                    Some(app) => match app.oneshot(request).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    },
                    None => starting(),
                }
            }
        })
    }

    /// Serves `app` from now on.
    pub(crate) fn install(&self, app: Router) {
        *self.app.write().unwrap_or_else(PoisonError::into_inner) = Some(app);
    }
}

fn starting() -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        "oxidex is starting: its storage is not reachable yet\n",
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// What `/healthz/ready` checks: nothing until the issuer is assembled; until then, why not.
#[derive(Clone, Default)]
pub(crate) struct Readiness {
    state: Arc<RwLock<ReadyState>>,
}

#[derive(Clone, Default)]
enum ReadyState {
    #[default]
    Starting,
    Waiting(String),
    Serving(Store, Arc<dyn Signer>),
}

/// What readiness sees right now.
pub(crate) enum Probe {
    /// Not assembled yet; the last startup failure, if any.
    Starting(Option<String>),
    /// Assembled: check these.
    Serving(Store, Arc<dyn Signer>),
}

impl Readiness {
    pub(crate) fn probe(&self) -> Probe {
        match &*self.state.read().unwrap_or_else(PoisonError::into_inner) {
            ReadyState::Starting => Probe::Starting(None),
            ReadyState::Waiting(e) => Probe::Starting(Some(e.clone())),
            ReadyState::Serving(store, signer) => Probe::Serving(store.clone(), signer.clone()),
        }
    }

    fn set(&self, state: ReadyState) {
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = state;
    }
}

/// First pause after a failed start; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(15);

/// Assembles the issuer, retrying with backoff while storage is unreachable. Errors that a
/// retry cannot fix (a bad database file, a frontend directory that fails to load) end it.
pub(crate) async fn assemble_with_retry(
    config: &Config,
    readiness: &Readiness,
) -> Result<Assembled, String> {
    let mut pause = FIRST_BACKOFF;
    let mut attempt = 1u32;
    loop {
        match assemble(config).await {
            Ok(assembled) => {
                if attempt > 1 {
                    tracing::info!(attempt, "storage reachable; serving");
                }
                readiness.set(ReadyState::Serving(
                    assembled.store.clone(),
                    assembled.signer.clone(),
                ));
                return Ok(assembled);
            }
            Err(AssembleError::Fatal(message)) => return Err(message),
            Err(AssembleError::Unavailable(message)) => {
                tracing::error!(
                    attempt,
                    retry_in_ms = pause.as_millis() as u64,
                    error = %message,
                    "storage is not reachable; readiness stays false until it is"
                );
                readiness.set(ReadyState::Waiting(message));
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_BACKOFF);
                attempt += 1;
            }
        }
    }
}
