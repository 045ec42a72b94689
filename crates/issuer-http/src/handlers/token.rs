//! `/token` (RFC 6749 §3.2): form parsing, client authentication from HTTP Basic or the form.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use oxidex_core::oauth::{ClientCredentials, ErrorCode, OAuthError, TokenRequest, grant};

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
    let request = match client_request(&method, &headers, &body) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    match state.engine.token(&request).await {
        Ok(tokens) => no_store(axum::Json(tokens).into_response()),
        Err(e) => {
            let mut response = errors::oauth_error(&e, false);
            // Dex answers a subject token its connector refused with 401 `access_denied`;
            // elsewhere (a denied device) `access_denied` is a 400 (RFC 6749 §5.2, RFC 8628).
            if e.code == ErrorCode::AccessDenied
                && request.params.get("grant_type").map(String::as_str)
                    == Some(grant::TOKEN_EXCHANGE)
            {
                *response.status_mut() = StatusCode::UNAUTHORIZED;
            }
            response
        }
    }
}

/// `POST /token/revoke` (RFC 7009): 200 with an empty body whenever the client authenticated
/// and sent a token, whether or not the token was known.
pub(crate) async fn revoke(
    AxumState(state): AxumState<Arc<State>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(&method, &headers, &body, async |request| {
        state.engine.revoke(request).await.map(|()| StatusCode::OK)
    })
    .await
}

/// `POST /token/introspect` (RFC 7662), client authentication required.
pub(crate) async fn introspect(
    AxumState(state): AxumState<Arc<State>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(&method, &headers, &body, async |request| {
        state.engine.introspect(request).await.map(axum::Json)
    })
    .await
}

/// The shape of the three endpoints: a client's form in, `serve`'s answer out (`no-store`),
/// errors as RFC 6749 JSON.
async fn answer<T: IntoResponse>(
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    serve: impl AsyncFnOnce(&TokenRequest) -> Result<T, OAuthError>,
) -> Response {
    let request = match client_request(method, headers, body) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    match serve(&request).await {
        Ok(answer) => no_store(answer.into_response()),
        Err(e) => errors::oauth_error(&e, false),
    }
}

fn no_store(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// A POSTed form with the client's credentials from HTTP Basic or the form (RFC 6749 §2.3.1;
/// one method per request), as the token, revocation and introspection endpoints take it.
pub(crate) fn client_request(
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TokenRequest, Box<Response>> {
    let refuse = |e: OAuthError| Box::new(errors::oauth_error(&e, false));
    if *method != Method::POST {
        return Err(refuse(OAuthError::invalid_request("method not allowed")));
    }
    let mut params =
        Params::parse(body).map_err(|e| refuse(OAuthError::invalid_request(e.to_string())))?;
    let basic = basic_credentials(headers).map_err(refuse)?;
    let form_id = params.take("client_id");
    let form_secret = params.take("client_secret");
    let client = match (basic, form_id, form_secret) {
        (Some(_), _, Some(_)) => {
            return Err(refuse(OAuthError::invalid_request(
                "Use either HTTP Basic or client_secret, not both.",
            )));
        }
        (Some(basic), form_id, None) => {
            if form_id.is_some_and(|id| id != basic.id) {
                return Err(refuse(OAuthError::invalid_request(
                    "client_id does not match the credentials.",
                )));
            }
            Some(basic)
        }
        (None, Some(id), secret) => Some(ClientCredentials { id, secret }),
        (None, None, _) => None,
    };
    Ok(TokenRequest {
        params: params.0,
        client,
    })
}

/// HTTP Basic client credentials, each part URL-decoded (RFC 6749 §2.3.1).
pub(crate) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<ClientCredentials>, OAuthError> {
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
