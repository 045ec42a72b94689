//! Where engine errors become HTTP responses: the one place (STYLE.md, rustls' pattern).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use oxidex_core::oauth::{AuthorizeError, ErrorCode, OAuthError};

use crate::State;
use crate::pages::ErrorPage;

/// The HTTP status for an OAuth error at the token and userinfo endpoints (RFC 6749 §5.2,
/// RFC 6750 §3.1).
pub(crate) fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Seconds a client is asked to wait (`Retry-After`) when storage is unreachable.
const RETRY_AFTER_SECONDS: &str = "5";

/// Whether a failure is temporary (the storage backend or an upstream identity provider down,
/// unreachable, timing out): the request may succeed once it is back, so the answer is 503
/// with `Retry-After`, not 500.
fn storage_unavailable(internal: Option<&oxidex_core::Error>) -> bool {
    internal.is_some_and(oxidex_core::Error::is_temporary)
}

fn retry_later(response: &mut Response) {
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECONDS),
    );
}

/// An OAuth error as JSON (`{"error": ..., "error_description": ...}`), with
/// `Cache-Control: no-store` and the `WWW-Authenticate` challenges RFC 6749 §5.2 and
/// RFC 6750 §3 ask for. Internal detail is logged, never sent.
pub(crate) fn oauth_error(error: &OAuthError, bearer_realm: bool) -> Response {
    if let Some(internal) = &error.internal {
        tracing::error!(error = %internal, code = %error.code, "request failed");
    } else {
        tracing::info!(code = %error.code, description = ?error.description, "request refused");
    }
    let mut body = serde_json::Map::new();
    body.insert("error".into(), error.code.as_str().into());
    if let Some(d) = &error.description {
        body.insert("error_description".into(), d.as_ref().into());
    }
    let status = status_of(error.code);
    let mut response = (status, axum::Json(serde_json::Value::Object(body))).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if error.code == ErrorCode::InvalidClient {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"oxidex\""),
        );
    }
    if bearer_realm && error.code == ErrorCode::InvalidToken {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
    }
    if error.code == ErrorCode::ServerError && storage_unavailable(error.internal.as_ref()) {
        retry_later(&mut response);
    }
    response
}

/// An HTML error page.
pub(crate) fn page(state: &State, status: StatusCode, message: &str) -> Response {
    let page = ErrorPage::new(status, message);
    match state.pages.render_error(&page) {
        Ok(html) => {
            let mut response = (status, axum::response::Html(html)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "error page failed to render");
            (status, message.to_owned()).into_response()
        }
    }
}

/// A browser-flow error: an error page, or a redirect to the client.
pub(crate) fn authorize_error(state: &State, error: AuthorizeError) -> Response {
    match error {
        AuthorizeError::Display {
            status,
            message,
            internal,
        } => {
            let temporary = storage_unavailable(internal.as_ref());
            let status = if temporary { 503 } else { status };
            if let Some(e) = &internal {
                tracing::error!(error = %e, status, "login flow failed");
            } else {
                tracing::info!(status, message = %message, "login flow refused");
            }
            if temporary {
                let mut response = page(
                    state,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The service is temporarily unavailable. Please try again in a moment.",
                );
                retry_later(&mut response);
                return response;
            }
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            page(state, status, &message)
        }
        AuthorizeError::Redirect { url, error } => {
            tracing::info!(code = %error.code, "authorization request refused");
            crate::handlers::see_other(&url)
        }
        AuthorizeError::FormPost(posted) => {
            tracing::info!(code = %posted.error.code, "authorization request refused");
            crate::form_post::page(&state.issuer_path, &posted.action, &posted.params)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_endpoint_statuses_follow_rfc_6749() {
        assert_eq!(
            status_of(ErrorCode::InvalidClient),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(status_of(ErrorCode::InvalidToken), StatusCode::UNAUTHORIZED);
        // A denied device poll (RFC 8628 §3.5) is an ordinary 400 error response; only the
        // token-exchange handler turns `access_denied` into Dex's 401.
        assert_eq!(status_of(ErrorCode::AccessDenied), StatusCode::BAD_REQUEST);
        assert_eq!(
            status_of(ErrorCode::AuthorizationPending),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status_of(ErrorCode::ServerError),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
