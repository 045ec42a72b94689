//! Route handlers. Each parses its input, calls the engine, and renders the result; errors go
//! through [`crate::errors`].

pub(crate) mod assets;
pub(crate) mod auth;
pub(crate) mod device;
pub(crate) mod keys;
pub(crate) mod token;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `303 See Other` to `location` (RFC 9110 §15.4.4), as Dex answers after form posts.
pub(crate) fn see_other(location: &str) -> Response {
    redirect(StatusCode::SEE_OTHER, location)
}

/// `302 Found` to `location`.
pub(crate) fn found(location: &str) -> Response {
    redirect(StatusCode::FOUND, location)
}

fn redirect(status: StatusCode, location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = status.into_response();
            response.headers_mut().insert(header::LOCATION, value);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(_) => (StatusCode::BAD_REQUEST, "invalid redirect").into_response(),
    }
}

/// An HTML page with `Cache-Control: no-store` (pages in the login flow carry codes and MACs).
pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, axum::response::Html(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
