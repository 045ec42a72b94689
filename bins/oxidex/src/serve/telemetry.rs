//! The telemetry listener (`telemetry.http`): Prometheus `/metrics` with Dex's metric names,
//! `/healthz/live`, `/healthz/ready`; and the request middleware that feeds it, gives every
//! request an id, and logs it.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use oxidex_core::model::Client;

use super::startup::{Probe, Readiness};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::Instrument;

/// Labels of Dex's HTTP metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    code: String,
    method: String,
    handler: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

/// The metrics and their registry.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<HttpLabels, Counter>,
    durations: Family<HttpLabels, Histogram>,
}

impl Metrics {
    pub(crate) fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = Family::<HttpLabels, Counter>::default();
        let durations = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 14))
        });
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
            })
            .set(1);
        registry.register(
            "http_requests",
            "Count of all HTTP requests.",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "A histogram of latencies for requests.",
            durations.clone(),
        );
        registry.register("dex_build_info", "Build information (oxidex).", build);
        Arc::new(Self {
            registry,
            requests,
            durations,
        })
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Middleware on the issuer's routes: request id, a span for the request's logs, metrics.
pub(crate) async fn observe(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = oxidex_core::ids::new_id().unwrap_or_default();
    let method = request.method().to_string();
    let handler = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %handler);
    let mut response = next.run(request).instrument(span.clone()).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let labels = HttpLabels {
        code: response.status().as_u16().to_string(),
        method,
        handler,
    };
    metrics.requests.get_or_create(&labels).inc();
    metrics
        .durations
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request done"
        );
    });
    response
}

#[derive(Clone)]
struct Health {
    metrics: Arc<Metrics>,
    readiness: Readiness,
}

/// The telemetry router.
pub(crate) fn router(metrics: Arc<Metrics>, readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz/live", get(|| async { "ok" }))
        .route("/healthz/ready", get(ready))
        .route("/healthz", get(ready))
        .with_state(Health { metrics, readiness })
}

async fn metrics_handler(State(h): State<Health>) -> Response {
    match h.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn ready(State(h): State<Health>) -> Response {
    let (storage, signer) = match h.readiness.probe() {
        Probe::Serving(store, signer) => (
            store
                .list::<Client>()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            signer
                .signing_key()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        ),
        Probe::Starting(last_error) => {
            let why = last_error.unwrap_or_else(|| "starting".to_owned());
            (Err(why), Err("starting".to_owned()))
        }
    };
    let ok = storage.is_ok() && signer.is_ok();
    let status = |r: &Result<(), String>| match r {
        Ok(()) => serde_json::json!({"message": "ok"}),
        Err(e) => serde_json::json!({"message": "failed", "error": e}),
    };
    let body = serde_json::json!({ "storage": status(&storage), "signer": status(&signer) });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}
