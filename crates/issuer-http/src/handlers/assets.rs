//! `/static/*`, `/theme/*`, `/robots.txt`.

use std::sync::Arc;

use axum::extract::{Path, State as AxumState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::State;

fn serve(state: &State, path: &str) -> Response {
    match state.pages.asset(path) {
        Some(asset) => {
            let mut response = asset.bytes.into_owned().into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=3600"),
            );
            response
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `/static/{*path}`.
pub(crate) async fn static_file(
    AxumState(state): AxumState<Arc<State>>,
    Path(path): Path<String>,
) -> Response {
    serve(&state, &format!("static/{path}"))
}

/// `/theme/{*path}`.
pub(crate) async fn theme_file(
    AxumState(state): AxumState<Arc<State>>,
    Path(path): Path<String>,
) -> Response {
    serve(&state, &format!("theme/{path}"))
}

/// `/robots.txt`.
pub(crate) async fn robots(AxumState(state): AxumState<Arc<State>>) -> Response {
    serve(&state, "robots.txt")
}
