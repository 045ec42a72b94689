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

/// An `oxidex serve` process on a config of the test's own, in a temporary directory that
/// holds the config and the SQLite database; killed when dropped.
pub(crate) struct Oxidex {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// `{base}/dex`, the issuer URL.
    pub(crate) issuer: String,
    _dir: tempfile::TempDir,
}

impl Drop for Oxidex {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Oxidex {
    /// Starts `oxidex serve` on `config`, a YAML body in which `{port}` and `{dir}` are
    /// replaced by the listening port and the temporary directory; waits until it is healthy.
    pub(crate) async fn start(config: &str) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let text = config
            .replace("{port}", &port.to_string())
            .replace("{dir}", &dir.path().display().to_string());
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, text).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_oxidex"))
            .arg("serve")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let server = Self {
            child,
            issuer: format!("{base}/dex"),
            base,
            _dir: dir,
        };
        for _ in 0..200 {
            if let Ok(r) = reqwest::get(format!("{}/healthz", server.issuer)).await
                && r.status() == 200
            {
                return server;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("oxidex serve did not become healthy");
    }
}
