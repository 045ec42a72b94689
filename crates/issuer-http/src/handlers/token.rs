//! `/token` (RFC 6749 §3.2): form parsing, client authentication from HTTP Basic or the form.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use oxidex_core::oauth::{ClientCredentials, OAuthError, TokenRequest};

use crate::State;
use crate::errors;
use crate::params::Params;

/// `POST /token`.
pub(crate) async fn token(
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
    let basic = match basic_credentials(&headers) {
        Ok(c) => c,
        Err(e) => return errors::oauth_error(&e, false),
    };
    let form_id = params.take("client_id");
    let form_secret = params.take("client_secret");
    let client = match (basic, form_id, form_secret) {
        (Some(_), _, Some(_)) => {
            // RFC 6749 §2.3: one authentication method per request.
            return errors::oauth_error(
                &OAuthError::invalid_request("Use either HTTP Basic or client_secret, not both."),
                false,
            );
        }
        (Some(basic), form_id, None) => {
            if form_id.is_some_and(|id| id != basic.id) {
                return errors::oauth_error(
                    &OAuthError::invalid_request("client_id does not match the credentials."),
                    false,
                );
            }
            Some(basic)
        }
        (None, Some(id), secret) => Some(ClientCredentials { id, secret }),
        (None, None, _) => None,
    };
    let request = TokenRequest {
        params: params.0,
        client,
    };
    match state.engine.token(&request).await {
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

/// HTTP Basic client credentials, each part URL-decoded (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<ClientCredentials>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let invalid = || {
        OAuthError::new(
            oxidex_core::oauth::ErrorCode::InvalidClient,
            "Invalid client credentials.",
        )
    };
    let text = value.to_str().map_err(|_| invalid())?;
    let Some((scheme, encoded)) = text.split_once(' ') else {
        return Err(invalid());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some(ClientCredentials {
        id: unescape(id),
        secret: Some(unescape(secret)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_url_decoded() {
        let mut headers = HeaderMap::new();
        let raw = STANDARD.encode("my%20client:s%3Acret%2B");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {raw}")).unwrap(),
        );
        let creds = basic_credentials(&headers).unwrap().unwrap();
        assert_eq!(creds.id, "my client");
        assert_eq!(creds.secret.as_deref(), Some("s:cret+"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert!(basic_credentials(&headers).is_err());
        assert!(basic_credentials(&HeaderMap::new()).unwrap().is_none());
    }
}
