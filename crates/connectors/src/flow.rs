//! What the `oidc` and `oauth` connectors share: the redirect back from the provider (its
//! `error` answer, the `code`), the PKCE and nonce state kept between the two legs, the
//! token-endpoint error text, and user-info fetching.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oxidex_core::connector::{CallbackRequest, OpenContext};
use oxidex_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::http::{HttpError, UpstreamHttp};
use crate::tls::UpstreamTls;

/// What a connector keeps on the login request between the redirect and the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LoginState {
    /// The PKCE verifier.
    pub(crate) pkce: String,
    /// The nonce sent (OIDC only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) nonce: String,
}

impl LoginState {
    /// Fresh random state.
    pub(crate) fn new(with_nonce: bool) -> Result<Self> {
        let pkce = URL_SAFE_NO_PAD.encode(oxidex_core::ids::random_bytes::<32>()?);
        let nonce = if with_nonce {
            URL_SAFE_NO_PAD.encode(oxidex_core::ids::random_bytes::<16>()?)
        } else {
            String::new()
        };
        Ok(Self { pkce, nonce })
    }

    /// Stored form.
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Connector {
            connector_id: String::new(),
            message: format!("encoding login state: {e}"),
            source: None,
        })
    }

    /// Reads the stored form back.
    pub(crate) fn from_bytes(connector_id: &str, data: Option<&[u8]>) -> Result<Self> {
        data.and_then(|d| serde_json::from_slice(d).ok())
            .ok_or_else(|| upstream(connector_id, "the login request holds no PKCE state"))
    }
}

/// Dex's `connectorData` of the OAuth-based connectors: the upstream refresh token
/// (JSON `{"RefreshToken": base64}`, as Go encodes a `[]byte`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct RefreshData {
    #[serde(rename = "RefreshToken", default, with = "go_bytes")]
    pub(crate) refresh_token: Vec<u8>,
}

impl RefreshData {
    /// Encodes `refresh_token` (empty when the provider gave none).
    pub(crate) fn encode(refresh_token: &str) -> Option<Vec<u8>> {
        serde_json::to_vec(&RefreshData {
            refresh_token: refresh_token.as_bytes().to_vec(),
        })
        .ok()
    }

    /// The stored refresh token, if there is one.
    pub(crate) fn decode(data: Option<&[u8]>) -> Option<String> {
        let data: RefreshData = serde_json::from_slice(data?).ok()?;
        let token = String::from_utf8(data.refresh_token).ok()?;
        (!token.is_empty()).then_some(token)
    }
}

mod go_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = Option::<String>::deserialize(d)?.unwrap_or_default();
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// A configuration mistake of connector `ctx`.
pub(crate) fn config_error(ctx: &OpenContext) -> impl Fn(String) -> Error + '_ {
    |message| Error::ConnectorConfig {
        connector_id: ctx.id.clone(),
        message,
    }
}

/// What every HTTP-based connector does when it opens: log its configuration warnings and
/// build its HTTP client.
pub(crate) fn open_http(
    ctx: &OpenContext,
    tls: &UpstreamTls,
    warnings: Vec<String>,
) -> Result<UpstreamHttp> {
    for warning in warnings {
        tracing::warn!(connector_id = %ctx.id, "{warning}");
    }
    UpstreamHttp::new(tls).map_err(config_error(ctx))
}

/// An upstream failure for the operator's log.
pub(crate) fn upstream(connector_id: &str, message: impl Into<String>) -> Error {
    Error::Connector {
        connector_id: connector_id.to_owned(),
        message: message.into(),
        source: None,
    }
}

/// The `code` of the provider's redirect back, or the error the provider sent instead
/// (RFC 6749 §4.1.2.1). A user who declined at the provider is refused (403), not failed.
pub(crate) fn authorization_code(connector_id: &str, request: &CallbackRequest) -> Result<String> {
    if let Some(error) = request.query_param("error") {
        let description = request.query_param("error_description").unwrap_or("");
        let reason =
            format!("the provider answered the login with error {error:?} {description:?}");
        return Err(if error == "access_denied" {
            Error::LoginRefused {
                connector_id: connector_id.to_owned(),
                reason: reason.into(),
                user_message: "The identity provider did not let you log in.",
            }
        } else {
            upstream(connector_id, reason)
        });
    }
    match request.query_param("code") {
        Some(code) if !code.is_empty() => Ok(code.to_owned()),
        _ => Err(upstream(
            connector_id,
            "the provider's redirect back carries no `code`",
        )),
    }
}

/// How our client secret reaches the provider's token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthStyle {
    /// HTTP Basic (`client_secret_basic`).
    Basic,
    /// In the form body (`client_secret_post`).
    Body,
}

impl AuthStyle {
    pub(crate) fn oauth2(self) -> oauth2::AuthType {
        match self {
            AuthStyle::Basic => oauth2::AuthType::BasicAuth,
            AuthStyle::Body => oauth2::AuthType::RequestBody,
        }
    }
}

/// The client-authentication style: fixed by configuration, or learned the way Dex's
/// golang.org/x/oauth2 `AuthStyleAutoDetect` does: HTTP Basic first and, when the provider
/// answers `invalid_client`, the secret in the body; what worked is kept.
#[derive(Debug)]
pub(crate) struct ClientAuth {
    fixed: Option<AuthStyle>,
    /// 0: not known yet, 1: Basic works, 2: Body works.
    learned: std::sync::atomic::AtomicU8,
}

impl ClientAuth {
    /// `fixed: None` detects.
    pub(crate) fn new(fixed: Option<AuthStyle>) -> Self {
        Self {
            fixed,
            learned: std::sync::atomic::AtomicU8::new(0),
        }
    }

    /// The style to try first.
    pub(crate) fn first(&self) -> AuthStyle {
        match (
            self.fixed,
            self.learned.load(std::sync::atomic::Ordering::Relaxed),
        ) {
            (Some(style), _) => style,
            (None, 2) => AuthStyle::Body,
            _ => AuthStyle::Basic,
        }
    }

    /// The style to retry with after `failed` got `invalid_client`, if detecting.
    pub(crate) fn fallback(&self, failed: AuthStyle) -> Option<AuthStyle> {
        (self.fixed.is_none() && failed == AuthStyle::Basic).then_some(AuthStyle::Body)
    }

    /// Remembers the style that worked.
    pub(crate) fn learn(&self, worked: AuthStyle) {
        if self.fixed.is_none() {
            let value = if worked == AuthStyle::Body { 2 } else { 1 };
            self.learned
                .store(value, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// The `error` code of a token-endpoint refusal.
fn oauth_error_code<T: oauth2::ErrorResponse>(response: &T) -> String {
    serde_json::to_value(response)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

/// Whether a token-endpoint failure is the provider refusing our client authentication.
pub(crate) fn is_invalid_client<T: oauth2::ErrorResponse>(
    e: &oauth2::RequestTokenError<HttpError, T>,
) -> bool {
    matches!(e, oauth2::RequestTokenError::ServerResponse(r) if oauth_error_code(r) == "invalid_client")
}

/// An upstream that cannot be reached or answers with a server error: temporary.
pub(crate) fn unavailable(connector_id: &str, message: impl Into<String>) -> Error {
    Error::upstream_unavailable(connector_id, message)
}

/// A failed token-endpoint call: the OAuth error the provider answered (e.g.
/// `invalid_client` for a wrong secret, `invalid_grant` for a revoked refresh token), or
/// why no answer was usable (no connection: temporary). Never the body of a successful
/// response (it holds tokens).
pub(crate) fn token_error<T>(
    connector_id: &str,
    e: &oauth2::RequestTokenError<HttpError, T>,
) -> Error
where
    T: oauth2::ErrorResponse + std::fmt::Display + 'static,
{
    match e {
        oauth2::RequestTokenError::ServerResponse(r)
            if matches!(
                oauth_error_code(r).as_str(),
                "temporarily_unavailable" | "server_error"
            ) =>
        {
            unavailable(connector_id, format!("the token endpoint failed: {r}"))
        }
        oauth2::RequestTokenError::ServerResponse(r) => {
            upstream(connector_id, format!("the token endpoint refused: {r}"))
        }
        oauth2::RequestTokenError::Request(e) => {
            unavailable(connector_id, format!("the token endpoint failed: {e}"))
        }
        oauth2::RequestTokenError::Parse(e, _) => upstream(
            connector_id,
            format!("the token endpoint's answer is not a token response: {e}"),
        ),
        oauth2::RequestTokenError::Other(e) => {
            upstream(connector_id, format!("the token endpoint failed: {e}"))
        }
    }
}

/// `GET url` with `access_token`; the JSON object answered. No connection or a 5xx is
/// temporary; another status (a refused token) is not.
pub(crate) async fn user_info(
    connector_id: &str,
    http: &UpstreamHttp,
    url: &str,
    access_token: &str,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let response = http
        .get_bearer(url, access_token)
        .await
        .map_err(|e| unavailable(connector_id, format!("user-info request failed: {e}")))?;
    let status = response.status();
    if status.is_server_error() {
        return Err(unavailable(
            connector_id,
            format!("the user-info endpoint answered HTTP {status}"),
        ));
    }
    if !status.is_success() {
        return Err(upstream(
            connector_id,
            format!("the user-info endpoint answered HTTP {status}"),
        ));
    }
    parse_object(response.body(), "user-info response").map_err(|e| upstream(connector_id, e))
}

/// Parses a JSON object; `what` names it in the error.
pub(crate) fn parse_object(
    body: &[u8],
    what: &str,
) -> std::result::Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(format!("the {what} is not a JSON object")),
        Err(e) => Err(format!("the {what} is not JSON: {e}")),
    }
}

/// The claims of a JWT's payload, unverified: only for a token whose signature was already
/// checked, or one received straight from the provider's token endpoint over TLS.
pub(crate) fn jwt_payload(
    token: &str,
) -> std::result::Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWT (three dot-separated parts)".into());
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| format!("JWT payload is not base64url: {e}"))?;
    parse_object(&bytes, "JWT payload")
}

/// `field` must be an absolute http(s) URL.
pub(crate) fn check_http_url(field: &str, value: &str) -> Result<url::Url, String> {
    let url =
        url::Url::parse(value).map_err(|e| format!("`{field}` {value:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{field}` {value:?} must be an http or https URL"));
    }
    Ok(url)
}

/// A URL on this machine (where plain HTTP is acceptable).
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_data_matches_dex_encoding() {
        let bytes = RefreshData::encode("rt-1").unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"{"RefreshToken":"cnQtMQ=="}"#
        );
        assert_eq!(RefreshData::decode(Some(&bytes)).as_deref(), Some("rt-1"));
        assert_eq!(RefreshData::decode(Some(b"{\"RefreshToken\":null}")), None);
        assert_eq!(RefreshData::decode(Some(b"garbage")), None);
    }

    #[test]
    fn callback_errors() {
        let req = |q: &[(&str, &str)]| CallbackRequest {
            query: q.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            headers: vec![],
        };
        assert_eq!(
            authorization_code("c", &req(&[("code", "x")])).unwrap(),
            "x"
        );
        assert!(matches!(
            authorization_code("c", &req(&[("error", "access_denied")])).unwrap_err(),
            Error::LoginRefused { .. }
        ));
        assert!(matches!(
            authorization_code("c", &req(&[("error", "server_error")])).unwrap_err(),
            Error::Connector { .. }
        ));
        assert!(authorization_code("c", &req(&[])).is_err());
    }

    #[test]
    fn jwt_payloads() {
        let t = format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(br#"{"groups":["a"]}"#));
        assert_eq!(jwt_payload(&t).unwrap()["groups"][0], "a");
        assert!(jwt_payload("a.b").is_err());
        assert!(jwt_payload("a.!!.c").is_err());
        assert!(jwt_payload(&format!("a.{}.c", URL_SAFE_NO_PAD.encode(b"[1]"))).is_err());
    }
}
