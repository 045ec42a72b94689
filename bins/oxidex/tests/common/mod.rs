//! Helpers shared by the integration tests that run `oxidex` processes: ports, the
//! openidconnect HTTP adapter, and reading the login pages like a browser does.
#![allow(dead_code, reason = "each test binary uses a different subset")]

/// The example client's redirect URI.
pub(crate) const REDIRECT: &str = "http://127.0.0.1:5555/callback";

/// A port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// openidconnect's HTTP client over reqwest 0.13, without following redirects (as its
/// documentation asks, against SSRF).
pub(crate) async fn http(
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?.to_vec();
    let mut out = http::Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

pub(crate) fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x3d;", "=")
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
}

pub(crate) fn attr_after(html: &str, marker: &str, attr: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in page"));
    let rest = &html[at..];
    let start = rest.find(&format!("{attr}=\"")).unwrap() + attr.len() + 2;
    unescape(&rest[start..start + rest[start..].find('"').unwrap()])
}

pub(crate) fn action(html: &str) -> String {
    attr_after(html, "<form", "action")
}

pub(crate) fn hidden(html: &str, name: &str) -> String {
    attr_after(html, &format!("name=\"{name}\""), "value")
}

/// A query parameter of `url`.
pub(crate) fn query(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
