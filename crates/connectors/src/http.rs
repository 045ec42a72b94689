//! The HTTP client connectors use to talk to upstream providers: rustls over ring with the
//! connector's roots, no redirects followed (the `openidconnect` and `oauth2` crates ask for
//! this, against SSRF), bounded time and bounded response size. It plugs into both crates as
//! their `AsyncHttpClient`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::tls::UpstreamTls;

/// How long to wait for a TCP and TLS connection to an upstream.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one upstream request may take in all.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest upstream response read; bigger ones are refused (a user-info or token
/// response is a few kilobytes).
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// A request to an upstream, as `openidconnect`/`oauth2` build them.
pub type HttpRequest = http::Request<Vec<u8>>;
/// An upstream's response.
pub type HttpResponse = http::Response<Vec<u8>>;

/// An HTTP client for one connector.
#[derive(Debug, Clone)]
pub struct UpstreamHttp {
    client: reqwest::Client,
}

/// An upstream request that got no usable response.
#[derive(Debug, thiserror::Error)]
#[error("{method} {url}: {message}")]
pub struct HttpError {
    method: String,
    url: String,
    message: String,
}

impl UpstreamHttp {
    /// A client trusting what `tls` says.
    pub fn new(tls: &UpstreamTls) -> Result<Self, String> {
        let mut config = tls.client_config()?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("oxidex/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client setup: {e}"))?;
        Ok(Self { client })
    }

    /// Sends `request` and reads the whole response (at most [`MAX_RESPONSE_BYTES`]).
    pub async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let url = redacted_url(&parts.uri);
        let method = parts.method.to_string();
        let fail = |message: String| HttpError {
            method: method.clone(),
            url: url.clone(),
            message,
        };
        let mut response = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| fail(describe(&e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| fail(describe(&e)))? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(fail(format!(
                    "the response is larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let mut out = http::Response::new(body);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }

    /// `GET url` with a bearer token; the status and body.
    pub async fn get_bearer(&self, url: &str, token: &str) -> Result<HttpResponse, HttpError> {
        let request = http::Request::get(url)
            .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| HttpError {
                method: "GET".into(),
                url: url.to_owned(),
                message: format!("invalid request: {e}"),
            })?;
        self.execute(request).await
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for UpstreamHttp {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (method, url) = (request.method().to_string(), redacted_url(request.uri()));
            let response = self.execute(request).await?;
            // A server error is an outage, not an OAuth answer: reported as a failed request
            // (temporary), so a refresh during it is not mistaken for a dead grant.
            if response.status().is_server_error() {
                return Err(HttpError {
                    method,
                    url,
                    message: format!("answered HTTP {}", response.status()),
                });
            }
            Ok(response)
        })
    }
}

/// A URL without its query (which may hold a code or token) for log lines.
fn redacted_url(uri: &http::Uri) -> String {
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}{}", uri.path()),
        _ => uri.path().to_owned(),
    }
}

/// reqwest's error with its causes (the TLS or connection reason is in the chain).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_urls_drop_the_query() {
        let uri: http::Uri = "https://idp.example.com/token?code=secret".parse().unwrap();
        assert_eq!(redacted_url(&uri), "https://idp.example.com/token");
    }

    #[tokio::test]
    async fn an_unreachable_upstream_is_named_and_fails_fast() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let http = UpstreamHttp::new(&UpstreamTls {
            insecure_skip_verify: true,
            ..UpstreamTls::default()
        })
        .unwrap();
        let err = http
            .get_bearer(&format!("http://127.0.0.1:{port}/userinfo?x=1"), "t")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "GET http://127.0.0.1:{port}/userinfo: cannot connect"
            )),
            "{err}"
        );
    }
}
