//! The device authorization grant's endpoints (RFC 8628; `reference/dex.md` §1.11):
//! `POST /device/code` (JSON), the user-code page `GET /device`, its form
//! `POST /device/auth/verify_code`, and the flow's redirect target `GET /device/callback`.
//! The device polls `/token` (`handlers/token.rs`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use oxidex_core::oauth::{
    ClientCredentials, DeviceAuthorizationRequest, DeviceCallback, DeviceOutcome, OAuthError,
    UserCodeCheck,
};

use super::token::basic_credentials;
use super::{html, see_other};
use crate::pages::{DevicePage, DeviceSuccessPage};
use crate::params::Params;
use crate::{State, csrf, errors};

/// `POST /device/code`: the device authorization request (RFC 8628 §3.1–3.2).
pub(crate) async fn code(
    AxumState(state): AxumState<Arc<State>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return errors::oauth_error(&OAuthError::invalid_request("method not allowed"), false);
    }
    let mut params = match Params::parse(&body) {
        Ok(p) => p,
        Err(e) => return errors::oauth_error(&OAuthError::invalid_request(e.to_string()), false),
    };
    let client = match client_credentials(&headers, &mut params) {
        Ok(c) => c,
        Err(e) => return errors::oauth_error(&e, false),
    };
    let request = DeviceAuthorizationRequest {
        client,
        scope: params.get("scope").to_owned(),
        code_challenge: params.get("code_challenge").to_owned(),
        code_challenge_method: params.get("code_challenge_method").to_owned(),
    };
    match state.engine.device_authorization(&request).await {
        Ok(response) => {
            let mut out = axum::Json(response).into_response();
            let h = out.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            out
        }
        Err(e) => errors::oauth_error(&e, false),
    }
}

/// Client credentials from HTTP Basic or the form, with `/token`'s rules (RFC 6749 §2.3: one
/// method per request).
fn client_credentials(
    headers: &HeaderMap,
    params: &mut Params,
) -> Result<Option<ClientCredentials>, OAuthError> {
    let basic = basic_credentials(headers)?;
    let form_id = params.take("client_id");
    let form_secret = params.take("client_secret");
    match (basic, form_id, form_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
            "Use either HTTP Basic or client_secret, not both.",
        )),
        (Some(basic), form_id, None) => {
            if form_id.is_some_and(|id| id != basic.id) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the credentials.",
                ));
            }
            Ok(Some(basic))
        }
        (None, Some(id), secret) => Ok(Some(ClientCredentials { id, secret })),
        (None, None, _) => Ok(None),
    }
}

/// `GET /device`: the user-code form; `?user_code=` pre-fills it (the user still has to
/// submit it, RFC 8628 §5.4).
pub(crate) async fn page(
    AxumState(state): AxumState<Arc<State>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return errors::page(&state, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    render_form(
        &state,
        &headers,
        StatusCode::OK,
        params.get("user_code"),
        false,
    )
}

/// `POST /device/auth/verify_code`: a live user code continues into `/auth` (303, never
/// 307); anything else shows the form again with "Invalid or expired user code." (400).
pub(crate) async fn verify_code(
    AxumState(state): AxumState<Arc<State>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match csrf::checked_form(&state, &headers, &body) {
        Ok(form) => form,
        Err(response) => return *response,
    };
    let user_code = form.get("user_code");
    match state.engine.verify_user_code(user_code).await {
        Ok(UserCodeCheck::Continue { location, binding }) => {
            let mut response = see_other(&location);
            let cookie = format!(
                "{BINDING_COOKIE}={binding}; Path={}/device; HttpOnly; SameSite=Lax{}",
                state.issuer_path,
                if state.https { "; Secure" } else { "" }
            );
            match HeaderValue::from_str(&cookie) {
                Ok(value) => {
                    response.headers_mut().append(header::SET_COOKIE, value);
                    response
                }
                Err(_) => errors::page(
                    &state,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal server error.",
                ),
            }
        }
        Ok(UserCodeCheck::Invalid) => {
            tracing::info!(target: "audit", event = "device_user_code_invalid", "invalid user code");
            render_form(&state, &headers, StatusCode::BAD_REQUEST, user_code, true)
        }
        Err(e) => errors::authorize_error(&state, e),
    }
}

/// `GET /device/callback?state=<user code>&code=..|error=..`: where the authorization flow
/// answers; records the answer for the polling device.
pub(crate) async fn callback(
    AxumState(state): AxumState<Arc<State>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return errors::page(&state, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let answer = if !params.get("error").is_empty() {
        DeviceCallback::Error(params.get("error"))
    } else if !params.get("code").is_empty() {
        DeviceCallback::Code(params.get("code"))
    } else {
        return errors::page(&state, StatusCode::BAD_REQUEST, "Required param: code.");
    };
    match state
        .engine
        .device_callback(
            params.get("state"),
            answer,
            &binding_cookie(&headers).unwrap_or_default(),
        )
        .await
    {
        Ok(DeviceOutcome::Approved { client_name }) => {
            match state
                .pages
                .render_device_success(&DeviceSuccessPage { client_name })
            {
                Ok(body) => html(StatusCode::OK, body),
                Err(e) => render_failed(&state, e),
            }
        }
        Ok(DeviceOutcome::Denied) => errors::page(
            &state,
            StatusCode::FORBIDDEN,
            "Access was denied. The device has not been authorized.",
        ),
        Err(e) => errors::authorize_error(&state, e),
    }
}

/// The cookie that binds a device request to the browser that entered its user code.
const BINDING_COOKIE: &str = "oxidex_device";

fn binding_cookie(headers: &HeaderMap) -> Option<String> {
    csrf::cookie_named(headers, BINDING_COOKIE)
}

/// The user-code form with a CSRF value (and the cookie, the first time).
fn render_form(
    state: &State,
    headers: &HeaderMap,
    status: StatusCode,
    user_code: &str,
    invalid: bool,
) -> Response {
    let (csrf_token, cookie) = match csrf::token(headers, &state.cookie_path, state.https) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "CSRF token");
            return errors::page(
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error.",
            );
        }
    };
    let page = DevicePage {
        post_url: format!("{}/device/auth/verify_code", state.issuer_path),
        user_code: user_code.to_owned(),
        invalid,
        csrf_token,
    };
    match state.pages.render_device(&page) {
        Ok(body) => {
            let mut response = html(status, body);
            if let Some(cookie) = cookie {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => render_failed(state, e),
    }
}

fn render_failed(state: &State, e: crate::pages::PagesError) -> Response {
    tracing::error!(error = %e, "page failed to render");
    errors::page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal server error.",
    )
}
