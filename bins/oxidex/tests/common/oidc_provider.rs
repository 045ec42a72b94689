//! A real upstream OpenID Provider written by others for the `oidc` and `oauth` connector
//! tests: panva's certified `oidc-provider` (npm), run by `tests/upstream/oidc-provider/server.mjs`
//! with the clients and accounts a test gives, and a browser's walk through its login and
//! consent pages. See `tests/upstream/oidc-provider/README.md`.
//!
//! Needs `node` and `npm ci --prefix tests/upstream/oidc-provider`; without them
//! [`OidcProvider::start`] says `SKIPPED` and returns `None`, unless
//! `OXIDEX_TEST_REQUIRE_SERVICES=1` (as in CI), which makes it panic.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How long `node server.mjs` may take to print `READY`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How many requests [`OidcProvider::log_in`] makes at most before giving up.
const MAX_STEPS: usize = 20;

/// A running `oidc-provider` on `127.0.0.1`, killed on drop.
pub(crate) struct OidcProvider {
    /// The issuer, `http://127.0.0.1:{port}` (no trailing slash); discovery is at
    /// `{issuer}/.well-known/openid-configuration`.
    pub(crate) issuer: String,
    /// `node server.mjs CONFIG.json`.
    child: Child,
    /// Everything the server wrote to stderr so far.
    stderr: Arc<Mutex<String>>,
    /// Holds `CONFIG.json`; removed on drop.
    _tempdir: tempfile::TempDir,
}

/// `tests/upstream/oidc-provider` of this repository.
fn package_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/upstream/oidc-provider")
}

/// `Some(reason)` when the server cannot run here: no `node`, or no `node_modules`.
fn missing() -> Option<String> {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !node {
        return Some("`node` is not on PATH".to_owned());
    }
    let installed = package_dir().join("node_modules/oidc-provider/package.json");
    if !installed.is_file() {
        return Some(format!("{} does not exist", installed.display()));
    }
    None
}

impl OidcProvider {
    /// Starts `oidc-provider` with these clients (an array of oidc-provider client metadata:
    /// `client_id`, `client_secret`, `redirect_uris`, `grant_types`,
    /// `token_endpoint_auth_method`, `id_token_signed_response_alg`, ...) and accounts (an object
    /// from login name to claims: `sub`, `name`, `email`, `email_verified`,
    /// `preferred_username`, `groups`, ..., and optionally `password`), and waits until it
    /// listens.
    ///
    /// `None`, after a loud `SKIPPED` on stderr, when `node` or the npm packages are missing;
    /// with `OXIDEX_TEST_REQUIRE_SERVICES=1` that panics instead.
    pub(crate) async fn start(
        clients: serde_json::Value,
        accounts: serde_json::Value,
    ) -> Option<OidcProvider> {
        Self::start_with_ttl(clients, accounts, serde_json::Value::Null).await
    }

    /// [`OidcProvider::start`] with oidc-provider's `ttl` overrides: an object from model name
    /// (`AccessToken`, `AuthorizationCode`, `IdToken`, `RefreshToken`, `Grant`, `Session`,
    /// `Interaction`) to seconds; `null` for the defaults.
    pub(crate) async fn start_with_ttl(
        clients: serde_json::Value,
        accounts: serde_json::Value,
        ttl: serde_json::Value,
    ) -> Option<OidcProvider> {
        if let Some(why) = missing() {
            if std::env::var("OXIDEX_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!(
                    "OXIDEX_TEST_REQUIRE_SERVICES=1 but the upstream oidc-provider cannot run \
                     ({why}): install Node.js and run `npm ci --prefix tests/upstream/oidc-provider`"
                );
            }
            eprintln!(
                "\n*** SKIPPED: npm ci --prefix tests/upstream/oidc-provider \
                 (the upstream oidc-provider cannot run: {why}) ***\n"
            );
            return None;
        }

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let issuer = format!("http://127.0.0.1:{port}");
        let mut config = serde_json::json!({
            "port": port,
            "issuer": issuer,
            "clients": clients,
            "accounts": accounts,
        });
        if !ttl.is_null() {
            config["ttl"] = ttl;
        }
        let tempdir = tempfile::tempdir().unwrap();
        let config_path = tempdir.path().join("CONFIG.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();

        let mut child = Command::new("node")
            .arg("server.mjs")
            .arg(&config_path)
            .current_dir(package_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();

        let (lines, ready) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        // Keeps reading after READY: a closed pipe would kill the server at its next log line.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !line.starts_with("READY ") {
                    eprintln!("[oidc-provider] {line}");
                }
                let _ = lines.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                eprintln!("[oidc-provider] {line}");
                let mut sink = sink.lock().unwrap();
                sink.push_str(&line);
                sink.push('\n');
            }
        });

        let mut provider = OidcProvider {
            issuer,
            child,
            stderr,
            _tempdir: tempdir,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match ready.try_recv() {
                Ok(line) if line.starts_with("READY ") => break,
                Ok(_) => continue,
                Err(mpsc::TryRecvError::Empty | mpsc::TryRecvError::Disconnected) => {}
            }
            if let Some(status) = provider.child.try_wait().unwrap() {
                // Let the stderr reader catch up with what the process wrote before it exited.
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!(
                    "oidc-provider exited with {status} before READY; stderr:\n{}",
                    provider.stderr()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "oidc-provider did not print READY within {READY_TIMEOUT:?}; stderr:\n{}",
                    provider.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(provider)
    }

    /// Everything the server has written to stderr so far (warnings, refused logins, and the
    /// errors oidc-provider reports: `grant.error: invalid_grant ...`).
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// `true` if `url` is on this provider (same scheme, host and port as the issuer).
    fn owns(&self, url: &str) -> bool {
        let issuer = url::Url::parse(&self.issuer).unwrap();
        url::Url::parse(url).is_ok_and(|u| u.origin() == issuer.origin())
    }

    /// Walks a browser through a login at this provider: GETs `authorize_url` (the upstream
    /// authorization URL the relying party redirected to; a URL elsewhere that redirects here
    /// works too), follows the redirects, submits oidc-provider's login form with `login` and
    /// `password` and its consent form as a browser would, and returns the first redirect
    /// `Location` that leaves this provider (the relying party's `redirect_uri` with `code`,
    /// `state` and `iss`, or with `error` when the provider refused) without requesting it.
    ///
    /// `browser` must keep cookies and not follow redirects:
    /// `reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none())`.
    /// A browser that already has a session here skips the login page; one with a grant that
    /// covers the request (and no `prompt=consent`) skips the consent page too. Panics, with
    /// the page, at anything else: an error page, an unknown login or a wrong password (the
    /// server answers `401 Sign-in failed`), a page without a form.
    pub(crate) async fn log_in(
        &self,
        browser: &reqwest::Client,
        authorize_url: &str,
        login: &str,
        password: &str,
    ) -> String {
        let mut url = authorize_url.to_owned();
        let mut form: Option<Vec<(String, String)>> = None;
        let mut trail = Vec::new();
        for _ in 0..MAX_STEPS {
            let request = match form.take() {
                Some(fields) => {
                    trail.push(format!("POST {url}"));
                    browser.post(&url).form(&fields)
                }
                None => {
                    trail.push(format!("GET {url}"));
                    browser.get(&url)
                }
            };
            let response = request.send().await.unwrap();
            let status = response.status();
            let here = self.owns(&url);
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .unwrap_or_else(|| panic!("{status} without Location from {url}"))
                    .to_str()
                    .unwrap()
                    .to_owned();
                let next = url::Url::parse(&url)
                    .unwrap()
                    .join(&location)
                    .unwrap()
                    .to_string();
                if here && !self.owns(&next) {
                    return next;
                }
                url = next;
                continue;
            }
            let body = response.text().await.unwrap();
            if !status.is_success() || !here {
                panic!(
                    "unexpected {status} from {url} while logging in as {login}\n\
                     steps: {trail:#?}\npage:\n{body}"
                );
            }
            let Some(page) = Form::parse(&body) else {
                panic!("no form on the page at {url}\nsteps: {trail:#?}\npage:\n{body}");
            };
            let prompt = page
                .fields
                .iter()
                .find(|(name, _)| name == "prompt")
                .map(|(_, value)| value.as_str());
            let mut fields = page.fields.clone();
            match prompt {
                Some("login") => {
                    fields.retain(|(name, _)| name != "login" && name != "password");
                    fields.push(("login".to_owned(), login.to_owned()));
                    fields.push(("password".to_owned(), password.to_owned()));
                }
                Some("consent") => {}
                _ => panic!(
                    "neither oidc-provider's login nor its consent form at {url}\n\
                     steps: {trail:#?}\npage:\n{body}"
                ),
            }
            url = url::Url::parse(&url)
                .unwrap()
                .join(&page.action)
                .unwrap()
                .to_string();
            form = Some(fields);
        }
        panic!(
            "no redirect away from {} after {MAX_STEPS} steps: {trail:#?}",
            self.issuer
        );
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first `<form>` of a page: its `action` and the `<input>`s that have a `name` (hidden
/// ones with their `value`, the others empty).
#[derive(Debug, Clone)]
struct Form {
    /// The `action` attribute, unescaped (relative or absolute).
    action: String,
    /// `(name, value)` in page order.
    fields: Vec<(String, String)>,
}

impl Form {
    /// The first form of `html`, or `None` without one.
    fn parse(html: &str) -> Option<Form> {
        let start = html.find("<form")?;
        let tag_end = start + html[start..].find('>')?;
        let action = attribute(&html[start..tag_end], "action").unwrap_or_default();
        let end = tag_end
            + html[tag_end..]
                .find("</form>")
                .unwrap_or(html.len() - tag_end);
        let inner = &html[tag_end..end];
        let mut fields = Vec::new();
        let mut rest = inner;
        while let Some(at) = rest.find("<input") {
            let tag = &rest[at..];
            let close = tag.find('>').unwrap_or(tag.len());
            let tag = &tag[..close];
            if let Some(name) = attribute(tag, "name") {
                let value = if attribute(tag, "type").as_deref() == Some("hidden") {
                    attribute(tag, "value").unwrap_or_default()
                } else {
                    String::new()
                };
                fields.push((name, value));
            }
            rest = &rest[at + close..];
        }
        Some(Form { action, fields })
    }
}

/// The unescaped value of the double-quoted attribute `name` of the tag text `tag`.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let mut from = 0;
    while let Some(found) = tag[from..].find(&format!("{name}=\"")) {
        let at = from + found;
        let preceded_by_space = tag[..at].ends_with(char::is_whitespace);
        let value_start = at + name.len() + 2;
        if preceded_by_space {
            let len = tag[value_start..].find('"')?;
            return Some(unescape_html(&tag[value_start..value_start + len]));
        }
        from = value_start;
    }
    None
}

/// `&amp;`, `&quot;`, `&lt;`, `&gt;`, `&#NN;` and `&#xNN;` decoded.
fn unescape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp..];
        let Some(semi) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "lt" => Some('<'),
            "gt" => Some('>'),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
