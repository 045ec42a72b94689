//! Discovery, `/keys`, `/userinfo`, `/healthz`.

use std::sync::Arc;

use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use oxidex_core::model::Client;
use oxidex_core::oauth::{ErrorCode, OAuthError};

use crate::State;
use crate::errors;

/// `/.well-known/openid-configuration`: pre-serialized bytes.
pub(crate) async fn discovery(AxumState(state): AxumState<Arc<State>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        state.discovery.clone(),
    )
        .into_response()
}

/// `/keys`: the JSON Web Key Set (RFC 7517 §5), from bytes the signer serialized once per
/// key set.
pub(crate) async fn keys(AxumState(state): AxumState<Arc<State>>) -> Response {
    let signer = state.engine.signer();
    match signer.key_set_json().await {
        // `{"keys":[]}` is 11 bytes: anything longer holds a key.
        Ok(json) if json.len() > 11 => (
            [
                (
                    header::CACHE_CONTROL,
                    // Dex: until the next rotation (at least two minutes).
                    HeaderValue::from_str(&format!(
                        "max-age={}, must-revalidate",
                        signer.key_set_max_age().as_secs()
                    ))
                    .unwrap_or(HeaderValue::from_static("max-age=120, must-revalidate")),
                ),
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
            ],
            axum::body::Bytes::from_owner(json),
        )
            .into_response(),
        Ok(_) => errors::page(
            &state,
            StatusCode::INTERNAL_SERVER_ERROR,
            "No public keys found.",
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot list signing keys");
            errors::page(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error.",
            )
        }
    }
}

/// `/userinfo` (OIDC Core §5.3): `Authorization: Bearer <token>` (RFC 6750 §2.1).
pub(crate) async fn userinfo(
    AxumState(state): AxumState<Arc<State>>,
    headers: HeaderMap,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(bearer) = bearer.filter(|t| !t.is_empty()) else {
        // RFC 6750 §3.1: no credentials, no error code, just the challenge.
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    };
    match state.engine.userinfo(bearer).await {
        Ok(claims) => {
            let mut response = axum::Json(claims).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => errors::oauth_error(&e, true),
    }
}

/// `/healthz`: storage answers and a key can sign.
pub(crate) async fn healthz(AxumState(state): AxumState<Arc<State>>) -> Response {
    let storage = state.engine.store().list::<Client>().await;
    let signer = state.engine.signer().signing_key().await;
    match (storage, signer) {
        (Ok(_), Ok(_)) => (StatusCode::OK, "Health check passed").into_response(),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "health check failed");
            errors::oauth_error(
                &OAuthError::new(ErrorCode::ServerError, "Health check failed."),
                false,
            )
        }
    }
}
