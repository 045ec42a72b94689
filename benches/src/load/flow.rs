//! The operations themselves: GETs, token requests, and the browser side of an
//! authorization-code flow (redirects, cookies, the login and approval forms) done by hand.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use ring::rand::SecureRandom as _;
use url::Url;

use super::Context;
use super::html::{self, Form};

/// A flow that has not reached the redirect URI after this many requests is stuck.
const MAX_STEPS: usize = 16;

/// A token response's tokens the driver keeps.
#[derive(Debug, Clone)]
pub(crate) struct Tokens {
    /// The new refresh token, if the issuer gave one.
    pub(crate) refresh_token: Option<String>,
}

/// A cookie jar for one flow against one issuer: names and values, attributes ignored
/// (every cookie is sent back on every request of the flow), a cookie with `Max-Age=0` or a
/// negative one removed.
#[derive(Debug, Default, Clone)]
pub struct CookieJar(Vec<(String, String)>);

impl CookieJar {
    /// Takes in the `Set-Cookie` headers of a response.
    pub fn store(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            if let Ok(text) = value.to_str() {
                self.store_one(text);
            }
        }
    }

    /// Takes in one `Set-Cookie` value.
    pub fn store_one(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim(), value.trim().trim_matches('"'));
        if name.is_empty() {
            return;
        }
        let expired = parts.any(|attr| {
            attr.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("max-age")
                    && v.trim().parse::<i64>().is_ok_and(|age| age <= 0)
            })
        });
        self.0.retain(|(n, _)| n != name);
        if !expired {
            self.0.push((name.to_owned(), value.to_owned()));
        }
    }

    /// The `Cookie` header to send, if there are cookies.
    pub fn header(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let mut out = String::new();
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push_str("; ");
            }
            let _ = write!(out, "{name}={value}");
        }
        Some(out)
    }
}

/// A PKCE verifier and its S256 challenge (RFC 7636 §4.1, §4.2).
#[derive(Debug, Clone)]
pub struct Pkce {
    /// `code_verifier`: 32 random bytes, base64url (43 characters).
    pub verifier: String,
    /// `code_challenge`: base64url(SHA-256(verifier)).
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair.
    pub fn new() -> Result<Self, String> {
        let verifier = random_token()?;
        Ok(Self::from_verifier(verifier))
    }

    /// The pair for a given verifier.
    pub fn from_verifier(verifier: String) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        Self {
            challenge: URL_SAFE_NO_PAD.encode(digest.as_ref()),
            verifier,
        }
    }
}

/// 32 random bytes, base64url.
fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system random generator failed".to_owned())?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A reqwest error with its causes ("error sending request: connection refused").
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let _ = write!(text, ": {s}");
        source = s.source();
    }
    text
}

/// GETs `url`; it must answer 200 with a non-empty body that looks like JSON.
pub(crate) async fn get_json(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", describe(&e)))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("GET {url}: {}", describe(&e)))?;
    if status != StatusCode::OK {
        return Err(format!(
            "GET {url}: HTTP {status}: {}",
            html::snippet(&String::from_utf8_lossy(&body))
        ));
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(format!(
            "GET {url}: not a JSON object: {}",
            html::snippet(&String::from_utf8_lossy(&body))
        ));
    }
    Ok(())
}

/// POSTs `form` to the token endpoint, authenticating as the client (HTTP Basic, or
/// `client_id` in the form for a public client). The response must be 200 with an
/// `access_token`, and an `id_token` if `want_id_token`.
pub(crate) async fn token_request(
    context: &Context,
    client: &reqwest::Client,
    form: &[(&str, &str)],
    want_id_token: bool,
) -> Result<Tokens, String> {
    let o = &context.options;
    let url = &context.endpoints.token;
    let mut request = client.post(url);
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    if o.client_secret.is_empty() {
        fields.push(("client_id", &o.client_id));
    } else {
        request = request.basic_auth(&o.client_id, Some(&o.client_secret));
    }
    let response = request
        .form(&fields)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {}", describe(&e)))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| format!("POST {url}: {}", describe(&e)))?;
    let grant = form
        .iter()
        .find(|(k, _)| *k == "grant_type")
        .map_or("?", |(_, v)| *v);
    if status != StatusCode::OK {
        return Err(format!(
            "token endpoint ({grant}): HTTP {status}: {}",
            html::snippet(&body)
        ));
    }
    let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| {
        format!(
            "token endpoint ({grant}): not JSON ({e}): {}",
            html::snippet(&body)
        )
    })?;
    let text = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    if text("access_token").is_none() {
        return Err(format!(
            "token endpoint ({grant}): no access_token: {}",
            html::snippet(&body)
        ));
    }
    if want_id_token && text("id_token").is_none() {
        return Err(format!(
            "token endpoint ({grant}): no id_token: {}",
            html::snippet(&body)
        ));
    }
    Ok(Tokens {
        refresh_token: text("refresh_token"),
    })
}

/// One authorization-code flow asking for `scope` plus `offline_access`; its refresh token.
pub(crate) async fn first_refresh_token(
    context: &Context,
    client: &reqwest::Client,
) -> Result<String, String> {
    let scope = format!("{} offline_access", context.options.scope);
    auth_code(context, client, &scope)
        .await?
        .refresh_token
        .ok_or_else(|| "the code exchange gave no refresh token (offline_access)".to_owned())
}

/// The next request of a browser flow.
enum Step {
    Get(Url),
    Post(Url, Vec<(String, String)>),
}

/// A whole authorization-code flow with PKCE in a fresh cookie jar: the authorization
/// request, redirects, the connector link if the issuer shows a chooser, the login form,
/// the approval form if shown, the redirect to the client with the code, and the token
/// exchange.
pub(crate) async fn auth_code(
    context: &Context,
    client: &reqwest::Client,
    scope: &str,
) -> Result<Tokens, String> {
    let o = &context.options;
    let pkce = Pkce::new()?;
    let state = random_token()?;
    let nonce = random_token()?;
    let redirect = Url::parse(&o.redirect_uri)
        .map_err(|e| format!("redirect URI {:?}: {e}", o.redirect_uri))?;
    let mut url = Url::parse(&context.endpoints.authorization).map_err(|e| {
        format!(
            "authorization endpoint {:?}: {e}",
            context.endpoints.authorization
        )
    })?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", &o.client_id)
            .append_pair("redirect_uri", &o.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", scope)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256");
        if !o.connector.is_empty() {
            q.append_pair("connector_id", &o.connector);
        }
    }

    let mut jar = CookieJar::default();
    let mut step = Step::Get(url);
    let mut logged_in = false;
    let mut code = None;
    for _ in 0..MAX_STEPS {
        let (at, request) = match step {
            Step::Get(u) => (u.clone(), client.get(u)),
            Step::Post(u, form) => (u.clone(), client.post(u).form(&form)),
        };
        let request = match jar.header() {
            Some(cookies) => request.header(COOKIE, cookies),
            None => request,
        };
        let response = request
            .send()
            .await
            .map_err(|e| format!("{}: {}", at.path(), describe(&e)))?;
        jar.store(response.headers());
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| format!("{}: HTTP {status} without a Location", at.path()))?;
            let next = at
                .join(location)
                .map_err(|e| format!("{}: bad Location {location:?}: {e}", at.path()))?;
            if is_redirect_uri(&next, &redirect) {
                code = Some(code_from(&next, &state)?);
                break;
            }
            step = Step::Get(next);
            continue;
        }
        let body = response
            .text()
            .await
            .map_err(|e| format!("{}: {}", at.path(), describe(&e)))?;
        if status != StatusCode::OK {
            if logged_in && html::forms(&body).iter().any(Form::has_password) {
                return Err(format!(
                    "{}: HTTP {status}: the login form came back: credentials rejected",
                    at.path()
                ));
            }
            return Err(format!(
                "{}: HTTP {status}: {}",
                at.path(),
                html::snippet(&body)
            ));
        }
        step = next_step(&at, &body, o, &mut logged_in)?;
    }
    let Some(code) = code else {
        return Err(format!(
            "the flow did not reach the redirect URI in {MAX_STEPS} requests"
        ));
    };
    token_request(
        context,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &o.redirect_uri),
            ("code_verifier", &pkce.verifier),
        ],
        scope.split(' ').any(|s| s == "openid"),
    )
    .await
}

/// What a browser does on the page `body` shown at `at`: log in, approve, or follow the
/// link to the connector.
fn next_step(
    at: &Url,
    body: &str,
    o: &super::Options,
    logged_in: &mut bool,
) -> Result<Step, String> {
    let forms = html::forms(body);
    let target = |form: &Form| -> Result<Url, String> {
        match form.action.as_deref() {
            None | Some("") => Ok(at.clone()),
            Some(action) => at
                .join(action)
                .map_err(|e| format!("{}: bad form action {action:?}: {e}", at.path())),
        }
    };
    if let Some(form) = forms.iter().find(|f| f.has_password()) {
        if *logged_in {
            return Err(format!(
                "{}: the login form came back: credentials rejected",
                at.path()
            ));
        }
        *logged_in = true;
        let login = form
            .login_field()
            .ok_or_else(|| format!("{}: login form without a login field", at.path()))?;
        let password = form
            .password_field()
            .ok_or_else(|| format!("{}: login form without a password field", at.path()))?;
        let mut fields = form.hidden();
        fields.push((login.to_owned(), o.username.clone()));
        fields.push((password.to_owned(), o.password.clone()));
        return Ok(Step::Post(target(form)?, fields));
    }
    let approval = forms
        .iter()
        .find(|f| f.has("approval", "approve"))
        .or_else(|| forms.iter().find(|f| f.has_hidden("req")));
    if let Some(form) = approval {
        let mut fields: Vec<(String, String)> = form
            .hidden()
            .into_iter()
            .filter(|(name, _)| name != "approval")
            .collect();
        fields.push(("approval".to_owned(), "approve".to_owned()));
        return Ok(Step::Post(target(form)?, fields));
    }
    // A connector chooser: the link to our connector, or to the only one there is.
    let links: Vec<String> = html::links(body)
        .into_iter()
        .filter(|l| l.contains("/auth/"))
        .collect();
    let wanted = format!("/auth/{}", o.connector);
    let link = links
        .iter()
        .find(|l| !o.connector.is_empty() && l.contains(&wanted))
        .or_else(|| (links.len() == 1).then(|| &links[0]));
    if let Some(link) = link {
        let next = at
            .join(link)
            .map_err(|e| format!("{}: bad link {link:?}: {e}", at.path()))?;
        return Ok(Step::Get(next));
    }
    Err(format!(
        "{}: a page with no login, approval or connector form: {}",
        at.path(),
        html::snippet(body)
    ))
}

/// Whether `url` is the client's redirect URI (query aside).
fn is_redirect_uri(url: &Url, redirect: &Url) -> bool {
    url.scheme() == redirect.scheme()
        && url.host_str() == redirect.host_str()
        && url.port_or_known_default() == redirect.port_or_known_default()
        && url.path() == redirect.path()
}

/// The code of the redirect back to the client, after checking `state` (an `error` there
/// is the flow's failure).
fn code_from(url: &Url, state: &str) -> Result<String, String> {
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = param("error") {
        return Err(format!(
            "authorization error {error}: {}",
            param("error_description").unwrap_or_default()
        ));
    }
    if param("state").as_deref() != Some(state) {
        return Err(format!("redirect with a wrong state: {url}"));
    }
    param("code").ok_or_else(|| format!("redirect without a code: {url}"))
}
