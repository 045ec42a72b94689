//! Security headers on every response, on by default (security.md OA-43, OP-13; Dex only sends
//! them when configured), with `web.headers` from the configuration taking precedence.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// Headers added to every response unless the configuration sets them.
pub(crate) fn default_headers(https: bool) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            ),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    if https {
        headers.push((
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        ));
    }
    headers
}

/// Middleware: sets `headers` on the response where the handler did not.
pub(crate) async fn apply(
    headers: std::sync::Arc<Vec<(HeaderName, HeaderValue)>>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let out = response.headers_mut();
    for (name, value) in headers.iter() {
        if !out.contains_key(name) {
            out.insert(name.clone(), value.clone());
        }
    }
    response
}
