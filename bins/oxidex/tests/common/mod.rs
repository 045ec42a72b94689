//! Helpers shared by the integration tests that run `oxidex` processes: the processes
//! themselves, ports, the openidconnect HTTP adapter, reading the login pages like a browser
//! does, and the JSON endpoints.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oxidex_core::model::Jwk;

pub(crate) mod oidc_provider;

/// The example client's redirect URI.
pub(crate) const REDIRECT: &str = "http://127.0.0.1:5555/callback";

/// The start of a config for [`Oxidex::start`]: the issuer at `{port}/dex`, SQLite in
/// `{dir}/oxidex.db`, HTTP on `{port}`. A block of config YAML, ending in a newline.
pub(crate) const SQLITE_ISSUER: &str = "issuer: http://127.0.0.1:{port}/dex
storage:
  type: sqlite3
  config:
    file: {dir}/oxidex.db
web:
  http: 127.0.0.1:{port}
";

/// The password DB with the one user the tests log in as: `admin@example.com`, password
/// `password` (what [`log_in`] types). A block of config YAML, ending in a newline.
pub(crate) const STATIC_PASSWORDS: &str = r#"enablePasswordDB: true
staticPasswords:
- email: admin@example.com
  hash: "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"
  username: admin
  userID: 08a8684b-db88-4b73-90a9-3cd1661f5466
"#;

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

/// A browser: a cookie jar, and redirects left to the test.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `Location` of a redirect.
pub(crate) fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// Follows redirects from `url` (relative ones on `base`) to the password form; its HTML.
pub(crate) async fn password_page(b: &reqwest::Client, base: &str, url: &str) -> String {
    let mut url = url.to_owned();
    let mut html = String::new();
    for _ in 0..5 {
        let r = b.get(&url).send().await.unwrap();
        if r.status().is_redirection() {
            let loc = location(&r);
            url = if loc.starts_with('/') {
                format!("{base}{loc}")
            } else {
                loc
            };
            continue;
        }
        assert_eq!(r.status(), 200, "{url}");
        html = r.text().await.unwrap();
        break;
    }
    assert!(html.contains("name=\"password\""), "password form expected");
    html
}

/// Submits the password form `html` (its action relative to `base`) as `login` with the
/// password of [`STATIC_PASSWORDS`]; the login must be accepted (303). Where it sends the
/// browser.
pub(crate) async fn log_in(
    b: &reqwest::Client,
    base: &str,
    html: &str,
    login: &str,
) -> Result<String, reqwest::Error> {
    let r = b
        .post(format!("{base}{}", action(html)))
        .form(&[
            ("login", login),
            ("password", "password"),
            ("csrf_token", hidden(html, "csrf_token").as_str()),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 303, "login accepted");
    Ok(location(&r))
}

/// Approves on the approval page `html` (its action relative to `base`).
pub(crate) async fn approve(
    b: &reqwest::Client,
    base: &str,
    html: &str,
) -> Result<reqwest::Response, reqwest::Error> {
    b.post(format!("{base}{}", action(html)))
        .form(&[
            ("approval", "approve"),
            ("req", hidden(html, "req").as_str()),
            ("hmac", hidden(html, "hmac").as_str()),
            ("csrf_token", hidden(html, "csrf_token").as_str()),
        ])
        .send()
        .await
}

/// POSTs `form` to `url`, with HTTP Basic `auth` if given; the status, the JSON body
/// (`Null` if there is none) and the headers.
pub(crate) async fn post_form(
    url: &str,
    auth: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
    let mut r = reqwest::Client::new().post(url);
    if let Some((id, secret)) = auth {
        r = r.basic_auth(id, Some(secret));
    }
    let r = r.form(form).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        headers,
    )
}

/// The key set `{issuer}/keys` publishes.
pub(crate) async fn keys(issuer: &str) -> Vec<Jwk> {
    let body: serde_json::Value = reqwest::get(format!("{issuer}/keys"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    serde_json::from_value(body["keys"].clone()).unwrap()
}

/// A child process, killed and reaped when dropped.
pub(crate) struct Process(pub(crate) Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Process {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Process {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// An `oxidex serve` process on a config of the test's own, in a temporary directory that
/// holds the config and the SQLite database; killed when dropped. Its log goes to the test's
/// stderr.
pub(crate) struct Oxidex {
    child: Process,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// `{base}/dex`, the issuer URL.
    pub(crate) issuer: String,
    /// `http://127.0.0.1:TELEMETRY`, the telemetry listener if the config puts it at
    /// `{telemetry}`.
    pub(crate) telemetry: String,
    config: PathBuf,
    /// Extra environment variables of the process ([`Oxidex::start_with_env`]).
    env: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Oxidex {
    /// Starts `oxidex serve` on `config`, a YAML body in which `{port}`, `{telemetry}` and
    /// `{dir}` are replaced by the listening port, a port for telemetry and the temporary
    /// directory; waits until it is healthy.
    pub(crate) async fn start(config: &str) -> Self {
        Self::start_with_env(config, &[]).await
    }

    /// [`Oxidex::start`], with extra environment variables `env` for the process (kept for
    /// [`Oxidex::restart`]).
    pub(crate) async fn start_with_env(config: &str, env: &[(&str, &str)]) -> Self {
        Self::start_on(free_port(), config, env).await
    }

    /// [`Oxidex::start_with_env`] on a port chosen beforehand (another server's config must
    /// name this one's URL before it starts).
    pub(crate) async fn start_on(port: u16, config: &str, env: &[(&str, &str)]) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let telemetry = free_port();
        let text = config
            .replace("{port}", &port.to_string())
            .replace("{telemetry}", &telemetry.to_string())
            .replace("{dir}", &dir.path().display().to_string());
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, text).unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let server = Self {
            child: Self::spawn(&path, &env),
            issuer: format!("{base}/dex"),
            base,
            telemetry: format!("http://127.0.0.1:{telemetry}"),
            config: path,
            env,
            _dir: dir,
        };
        server.wait_healthy().await;
        server
    }

    /// Starts the process again on the same config (so the same port and database), once
    /// the previous one has exited or been killed; waits until it is healthy.
    pub(crate) async fn restart(&mut self) {
        self.child = Self::spawn(&self.config, &self.env);
        self.wait_healthy().await;
    }

    /// The running process, to signal or wait for.
    pub(crate) fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The config file the process serves.
    pub(crate) fn config_path(&self) -> &std::path::Path {
        &self.config
    }

    fn spawn(config: &std::path::Path, env: &[(String, String)]) -> Process {
        Process(
            Command::new(env!("CARGO_BIN_EXE_oxidex"))
                .arg("serve")
                .arg(config)
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        )
    }

    async fn wait_healthy(&self) {
        for _ in 0..200 {
            if let Ok(r) = reqwest::get(format!("{}/healthz", self.issuer)).await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("oxidex serve did not become healthy");
    }

    /// The discovery document.
    pub(crate) async fn discovery(&self) -> serde_json::Value {
        reqwest::get(format!("{}/.well-known/openid-configuration", self.issuer))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// POSTs `form` to `{issuer}{path}`; see [`post_form`].
    pub(crate) async fn post(
        &self,
        path: &str,
        auth: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
        post_form(&format!("{}{path}", self.issuer), auth, form).await
    }
}

/// Makes a CA, a server certificate for 127.0.0.1 and a client certificate in `dir` with the
/// `openssl` CLI: `ca.pem`/`ca.key`, `server.pem`/`server.key`, `client.pem`/`client.key`.
pub(crate) fn make_certificates(dir: &std::path::Path) {
    let openssl = |args: &[&str]| {
        let ok = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "openssl {}", args.join(" "));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let base = ["req", "-x509", "-nodes", "-days", "1"];
    openssl(
        &[
            &base[..],
            &ec,
            &[
                "-subj",
                "/CN=oxidex test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]
        .concat(),
    );
    for (name, subject, extensions) in [
        (
            "server",
            "/CN=127.0.0.1",
            [
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "extendedKeyUsage=serverAuth",
            ],
        ),
        (
            "client",
            "/CN=oxidex-admin",
            [
                "subjectAltName=DNS:oxidex-admin",
                "extendedKeyUsage=clientAuth",
            ],
        ),
    ] {
        let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
        openssl(
            &[
                &base[..],
                &ec,
                &["-CA", "ca.pem", "-CAkey", "ca.key", "-subj", subject],
                &["-addext", "basicConstraints=critical,CA:FALSE"],
                &["-addext", extensions[0], "-addext", extensions[1]],
                &["-keyout", &key, "-out", &pem],
            ]
            .concat(),
        );
    }
}
