//! The `oidc` and `oauth` connectors through whole browser logins against real upstream
//! providers: a second `oxidex serve` process (our own issuer as the upstream) and the npm
//! package `oidc-provider` (a certified OpenID Provider written by others). Each login goes
//! from our client through our `/auth`, the upstream's login page, back to our `/callback`,
//! to tokens; refresh asks the upstream again; upstream failures end on an error page.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::oidc_provider::OidcProvider;
use common::{
    Oxidex, REDIRECT, SQLITE_ISSUER, STATIC_PASSWORDS, action, browser, free_port, hidden, location,
};
use serde_json::{Value, json};

const CLIENT_SECRET: &str = "ZXhhbXBsZS1hcHAtc2VjcmV0";
const UPSTREAM_SECRET: &str = "downstream-secret";

/// An `oxidex serve` on `port` with `connectors` (a YAML list body) and the example client.
fn downstream_config(connectors: &str) -> String {
    format!(
        r#"{SQLITE_ISSUER}oauth2:
  skipApprovalScreen: true
staticClients:
- id: example-app
  name: Example App
  secret: {CLIENT_SECRET}
  redirectURIs: [{REDIRECT}]
connectors:
{connectors}"#
    )
}

/// Our issuer as the upstream: the password DB, a client for the downstream at `callback`.
async fn upstream_oxidex(callback: &str) -> Oxidex {
    Oxidex::start(&format!(
        r#"{SQLITE_ISSUER}oauth2:
  skipApprovalScreen: true
staticClients:
- id: downstream
  name: Downstream oxidex
  secret: {UPSTREAM_SECRET}
  redirectURIs: [{callback}]
{STATIC_PASSWORDS}"#
    ))
    .await
}

fn oidc_connector(issuer: &str, callback: &str, secret: &str) -> String {
    format!(
        r#"- type: oidc
  id: corp
  name: Corporate
  config:
    issuer: {issuer}
    clientID: downstream
    clientSecret: {secret}
    redirectURI: {callback}
    scopes: [profile, email, groups, offline_access]
    insecureEnableGroups: true
"#
    )
}

/// Where a browser flow ended.
#[derive(Debug)]
enum End {
    /// Redirected to our client's redirect URI (not followed).
    Client(String),
    /// A page that is not a login form.
    Page(u16, String),
}

fn absolute(current: &str, location: &str) -> String {
    url::Url::parse(current)
        .unwrap()
        .join(location)
        .unwrap()
        .to_string()
}

/// Follows a browser from `url` across our issuer and an upstream oxidex, logging in at the
/// password form with `admin@example.com` / `password` when it appears.
async fn browse(b: &reqwest::Client, url: &str) -> End {
    let mut url = url.to_owned();
    for _ in 0..20 {
        if url.starts_with(REDIRECT) {
            return End::Client(url);
        }
        let r = b.get(&url).send().await.unwrap();
        let status = r.status().as_u16();
        if r.status().is_redirection() {
            url = absolute(&url, &location(&r));
            continue;
        }
        let html = r.text().await.unwrap();
        if status == 200 && html.contains("name=\"password\"") {
            let r = b
                .post(absolute(&url, &action(&html)))
                .form(&[
                    ("login", "admin@example.com"),
                    ("password", "password"),
                    ("csrf_token", hidden(&html, "csrf_token").as_str()),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303, "upstream login accepted");
            url = absolute(&url, &location(&r));
            continue;
        }
        if status == 200 && html.contains("name=\"approval\"") {
            // The downstream asks with `prompt=consent` for offline access (Dex's
            // `promptType`), which shows the upstream's approval page even when it skips it
            // otherwise.
            let origin = absolute(&url, "/");
            let r = common::approve(b, origin.trim_end_matches('/'), &html)
                .await
                .unwrap();
            assert_eq!(r.status(), 303, "approval accepted");
            url = absolute(&url, &location(&r));
            continue;
        }
        return End::Page(status, html);
    }
    panic!("too many redirects");
}

fn auth_url(server: &Oxidex, scope: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", "example-app")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", scope)
        .append_pair("state", "client-state")
        .finish();
    format!("{}/auth?{query}", server.issuer)
}

fn claims_of(id_token: &str) -> Value {
    let payload = id_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Our `sub` for a user of `connector`: Dex's protobuf encoding of (user id, connector id).
fn sub_for(user_id: &str, connector: &str) -> String {
    let mut bytes = vec![0x0a, user_id.len() as u8];
    bytes.extend_from_slice(user_id.as_bytes());
    bytes.push(0x12);
    bytes.push(connector.len() as u8);
    bytes.extend_from_slice(connector.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Exchanges the code of `redirect` at `server`; the token response.
async fn redeem(server: &Oxidex, redirect: &str) -> Value {
    let code = common::query(redirect, "code").expect("a code");
    assert_eq!(
        common::query(redirect, "state").as_deref(),
        Some("client-state")
    );
    let (status, body, _) = server
        .post(
            "/token",
            Some(("example-app", CLIENT_SECRET)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn refresh(server: &Oxidex, refresh_token: &str) -> (u16, Value) {
    let (status, body, _) = server
        .post(
            "/token",
            Some(("example-app", CLIENT_SECRET)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await;
    (status, body)
}

#[tokio::test]
async fn oxidex_behind_oxidex_over_oidc_with_upstream_refresh() {
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/dex/callback");
    let mut up = upstream_oxidex(&callback).await;
    let down = Oxidex::start_on(
        port,
        &downstream_config(&oidc_connector(&up.issuer, &callback, UPSTREAM_SECRET)),
        &[],
    )
    .await;

    let b = browser();
    let End::Client(redirect) = browse(
        &b,
        &auth_url(&down, "openid profile email groups offline_access"),
    )
    .await
    else {
        panic!("the login must come back to the client");
    };
    let tokens = redeem(&down, &redirect).await;
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["iss"], down.issuer.as_str());
    assert_eq!(claims["email"], "admin@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "admin");
    // The upstream's `sub` is our user id; our `sub` wraps it with our connector id.
    let upstream_sub = sub_for("08a8684b-db88-4b73-90a9-3cd1661f5466", "local");
    assert_eq!(claims["sub"], sub_for(&upstream_sub, "corp").as_str());
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

    // A refresh asks the upstream: with the upstream down it fails, and once the upstream
    // is back (same database, so it still knows its refresh token) it works again.
    up.child_mut().kill().unwrap();
    up.child_mut().wait().unwrap();
    // Past Dex's reuse interval (3 s), within which a refresh answers without asking the
    // upstream.
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    let (status, body) = refresh(&down, &refresh_token).await;
    // Temporary: 503 `server_error` with Retry-After, so the client keeps its refresh token
    // and retries instead of sending the user through a new login.
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("server_error")),
        "{body}"
    );
    up.restart().await;
    let (status, body) = refresh(&down, &refresh_token).await;
    assert_eq!(status, 200, "{body}");
    let again = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(again["sub"], claims["sub"]);
    assert_eq!(again["email"], "admin@example.com");
}

#[tokio::test]
async fn upstream_failures_end_on_an_error_page_and_grant_nothing() {
    // A wrong client secret: the upstream login works, the code exchange is refused.
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/dex/callback");
    let up = upstream_oxidex(&callback).await;
    let down = Oxidex::start_on(
        port,
        &downstream_config(&oidc_connector(&up.issuer, &callback, "wrong-secret")),
        &[],
    )
    .await;
    let End::Page(status, html) = browse(&browser(), &auth_url(&down, "openid email")).await else {
        panic!("a wrong secret must not reach the client");
    };
    assert_eq!(status, 500);
    assert!(html.contains("Failed to authenticate."), "{html}");
    assert!(!html.contains("invalid_client"), "no internals on the page");

    // An unreachable upstream: the login start fails at once with a page.
    let closed = free_port();
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/dex/callback");
    let down = Oxidex::start_on(
        port,
        &downstream_config(&oidc_connector(
            &format!("http://127.0.0.1:{closed}/dex"),
            &callback,
            UPSTREAM_SECRET,
        )),
        &[],
    )
    .await;
    let started = std::time::Instant::now();
    let End::Page(status, html) = browse(&browser(), &auth_url(&down, "openid email")).await else {
        panic!("an unreachable upstream must not reach the client");
    };
    assert_eq!(status, 503, "the provider is down: temporary");
    assert!(html.contains("temporarily unavailable"), "{html}");
    assert!(
        !html.contains(&closed.to_string()),
        "no internals on the page"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[tokio::test]
async fn generic_oauth2_against_our_own_issuer() {
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/dex/callback");
    let up = upstream_oxidex(&callback).await;
    let connector = format!(
        r#"- type: oauth
  id: corp-oauth
  name: Corporate OAuth2
  config:
    clientID: downstream
    clientSecret: {UPSTREAM_SECRET}
    redirectURI: {callback}
    authorizationURL: {issuer}/auth
    tokenURL: {issuer}/token
    userInfoURL: {issuer}/userinfo
    scopes: [openid, profile, email]
    userIDKey: sub
    claimMapping:
      userNameKey: name
"#,
        issuer = up.issuer
    );
    let down = Oxidex::start_on(port, &downstream_config(&connector), &[]).await;
    let End::Client(redirect) = browse(
        &browser(),
        &auth_url(&down, "openid profile email offline_access"),
    )
    .await
    else {
        panic!("the login must come back to the client");
    };
    let tokens = redeem(&down, &redirect).await;
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["email"], "admin@example.com");
    assert_eq!(claims["name"], "admin");
    let upstream_sub = sub_for("08a8684b-db88-4b73-90a9-3cd1661f5466", "local");
    assert_eq!(claims["sub"], sub_for(&upstream_sub, "corp-oauth").as_str());
    assert!(
        tokens.get("refresh_token").is_none(),
        "Dex's oauth connector cannot refresh, so no refresh token: {tokens}"
    );
}

/// Accounts of the `oidc-provider` upstream.
fn provider_accounts() -> Value {
    json!({
        "jane": {
            "sub": "jane-1", "name": "Jane Doe", "email": "jane@example.com",
            "email_verified": true, "preferred_username": "jane",
            "groups": ["admins", "devs"],
        },
        "unverified": {
            "sub": "mallory-1", "name": "Mallory", "email": "mallory@example.com",
            "email_verified": false, "groups": ["admins"],
        },
    })
}

async fn node_provider(callback: &str) -> Option<OidcProvider> {
    OidcProvider::start(
        json!([{
            "client_id": "downstream",
            "client_secret": UPSTREAM_SECRET,
            "redirect_uris": [callback],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
        }]),
        provider_accounts(),
    )
    .await
}

/// From our `/auth` through `oidc-provider`'s login as `login` back to us; where we finally
/// send the browser.
async fn through_node_provider(
    down: &Oxidex,
    provider: &OidcProvider,
    login: &str,
    scope: &str,
) -> End {
    let b = browser();
    let mut url = auth_url(down, scope);
    // Our side up to the redirect to the provider.
    loop {
        let r = b.get(&url).send().await.unwrap();
        assert!(r.status().is_redirection(), "{url}: {}", r.status());
        url = absolute(&url, &location(&r));
        if url.starts_with(&provider.issuer) {
            break;
        }
    }
    let back = provider.log_in(&b, &url, login, "password").await;
    browse(&b, &back).await
}

#[tokio::test]
async fn oidc_against_the_oidc_provider_package() {
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/dex/callback");
    let Some(provider) = node_provider(&callback).await else {
        return;
    };
    let down = Oxidex::start_on(
        port,
        &downstream_config(&oidc_connector(
            &provider.issuer,
            &callback,
            UPSTREAM_SECRET,
        )),
        &[],
    )
    .await;
    let End::Client(redirect) = through_node_provider(
        &down,
        &provider,
        "jane",
        "openid profile email groups offline_access",
    )
    .await
    else {
        panic!("the login must come back to the client");
    };
    let tokens = redeem(&down, &redirect).await;
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], sub_for("jane-1", "corp").as_str());
    assert_eq!(claims["email"], "jane@example.com");
    assert_eq!(claims["name"], "Jane Doe");
    assert_eq!(claims["preferred_username"], "jane");
    assert_eq!(claims["groups"], json!(["admins", "devs"]));

    // Refresh goes to the provider with its refresh token.
    let (status, body) = refresh(&down, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims_of(body["id_token"].as_str().unwrap())["groups"],
        json!(["admins", "devs"])
    );

    // An address the provider says is unverified: refused with a page, no code.
    let End::Page(status, html) = through_node_provider(
        &down,
        &provider,
        "unverified",
        "openid profile email groups",
    )
    .await
    else {
        panic!("an unverified e-mail must not reach the client");
    };
    assert_eq!(status, 403);
    assert!(html.contains("not verified"), "{html}");
}

#[tokio::test]
async fn oauth_against_the_oidc_provider_package() {
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/dex/callback");
    let Some(provider) = node_provider(&callback).await else {
        return;
    };
    let connector = format!(
        r#"- type: oauth
  id: node-oauth
  name: Node OAuth2
  config:
    clientID: downstream
    clientSecret: {UPSTREAM_SECRET}
    redirectURI: {callback}
    authorizationURL: {issuer}/auth
    tokenURL: {issuer}/token
    userInfoURL: {issuer}/me
    scopes: [openid, profile, email, groups]
    userIDKey: sub
    claimMapping:
      userNameKey: name
"#,
        issuer = provider.issuer
    );
    let down = Oxidex::start_on(port, &downstream_config(&connector), &[]).await;
    let End::Client(redirect) =
        through_node_provider(&down, &provider, "jane", "openid profile email groups").await
    else {
        panic!("the login must come back to the client");
    };
    let tokens = redeem(&down, &redirect).await;
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], sub_for("jane-1", "node-oauth").as_str());
    assert_eq!(claims["email"], "jane@example.com");
    assert_eq!(claims["groups"], json!(["admins", "devs"]));
}
