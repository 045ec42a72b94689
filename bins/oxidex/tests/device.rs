//! The device authorization grant (RFC 8628) against a real `oxidex serve` process: a device
//! asks for codes, polls (`authorization_pending`, `slow_down`), the user types the code in a
//! browser, logs in through the password form and approves, and the device's next poll gets
//! tokens whose ID token verifies against `/keys`. Plus the refusals: another client's device
//! code, reuse after success, missing parameters, expiry.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oxidex_core::jose::verify_compact;
use oxidex_core::model::Jwk;
use oxidex_core::signer::SigningAlgorithm;

mod common;

use common::{action, free_port, hidden};

struct Server {
    child: Child,
    issuer: String,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, port: u16, extra: &str) -> std::path::PathBuf {
    let config = format!(
        r#"issuer: http://127.0.0.1:{port}/dex
storage:
  type: sqlite3
  config:
    file: {db}
web:
  http: 127.0.0.1:{port}
logger:
  level: info
oauth2:
  grantTypes: [authorization_code, refresh_token, "urn:ietf:params:oauth:grant-type:device_code"]
{extra}
staticClients:
- id: tv
  name: Smart TV
  public: true
- id: other-tv
  name: Other TV
  public: true
- id: example-app
  name: Example App
  secret: ZXhhbXBsZS1hcHAtc2VjcmV0
  redirectURIs:
  - http://127.0.0.1:5555/callback
enablePasswordDB: true
staticPasswords:
- email: admin@example.com
  hash: "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"
  username: admin
  userID: 08a8684b-db88-4b73-90a9-3cd1661f5466
"#,
        db = dir.join("oxidex.db").display()
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

async fn start(dir: &Path, extra: &str) -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = free_port();
    let config = write_config(dir, port, extra);
    let child = Command::new(env!("CARGO_BIN_EXE_oxidex"))
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        issuer: format!("http://127.0.0.1:{port}/dex"),
        base: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{}/healthz", server.issuer)).await
            && r.status() == 200
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("oxidex serve did not become healthy");
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `POST /device/code`; the status and JSON body.
async fn device_code(server: &Server, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let r = client()
        .post(format!("{}/device/code", server.issuer))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    if status == 200 {
        assert_eq!(r.headers()["cache-control"], "no-store");
    }
    (status, r.json().await.unwrap())
}

/// A device-code poll at `/token`; the status and JSON body.
async fn poll(server: &Server, client_id: &str, code: &str) -> (u16, serde_json::Value) {
    let mut form = vec![("grant_type", "urn:ietf:params:oauth:grant-type:device_code")];
    if !client_id.is_empty() {
        form.push(("client_id", client_id));
    }
    if !code.is_empty() {
        form.push(("device_code", code));
    }
    let r = client()
        .post(format!("{}/token", server.issuer))
        .form(&form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn error(body: &serde_json::Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

/// The browser: opens `verification_uri_complete`, submits `typed`, logs in, approves, and
/// returns the final page's status and HTML.
async fn browser(server: &Server, verification_uri: &str, typed: &str) -> (u16, String) {
    let b = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = b.get(verification_uri).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"user_code\""), "{html}");
    let r = b
        .post(format!("{}{}", server.base, action(&html)))
        .form(&[
            ("user_code", typed),
            ("csrf_token", hidden(&html, "csrf_token").as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "verify_code answers 303");
    let mut url = format!(
        "{}{}",
        server.base,
        r.headers()["location"].to_str().unwrap()
    );
    assert!(url.contains("/dex/auth?"), "{url}");
    assert!(!url.contains("client_secret"));
    // Chooser → connector → password form.
    let mut html = String::new();
    for _ in 0..5 {
        let r = b.get(&url).send().await.unwrap();
        if r.status().is_redirection() {
            url = format!(
                "{}{}",
                server.base,
                r.headers()["location"].to_str().unwrap()
            );
            continue;
        }
        assert_eq!(r.status(), 200, "{url}");
        html = r.text().await.unwrap();
        break;
    }
    assert!(html.contains("name=\"password\""), "password form expected");
    let r = b
        .post(format!("{}{}", server.base, action(&html)))
        .form(&[
            ("login", "admin@example.com"),
            ("password", "password"),
            ("csrf_token", hidden(&html, "csrf_token").as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let mut location = r.headers()["location"].to_str().unwrap().to_owned();
    for _ in 0..5 {
        let r = b
            .get(format!("{}{location}", server.base))
            .send()
            .await
            .unwrap();
        if r.status().is_redirection() {
            location = r.headers()["location"].to_str().unwrap().to_owned();
            continue;
        }
        let status = r.status().as_u16();
        let html = r.text().await.unwrap();
        if !html.contains("name=\"approval\"") {
            return (status, html);
        }
        let r = b
            .post(format!("{}{}", server.base, action(&html)))
            .form(&[
                ("approval", "approve"),
                ("req", hidden(&html, "req").as_str()),
                ("hmac", hidden(&html, "hmac").as_str()),
                ("csrf_token", hidden(&html, "csrf_token").as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        location = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with("/dex/device/callback?"), "{location}");
    }
    panic!("the browser never reached a page: {location}");
}

async fn keys(server: &Server) -> Vec<Jwk> {
    let set: serde_json::Value = reqwest::get(format!("{}/keys", server.issuer))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    serde_json::from_value(set["keys"].clone()).unwrap()
}

#[tokio::test]
async fn device_flow_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "").await;

    let (status, d) = device_code(
        &server,
        &[
            ("client_id", "tv"),
            ("scope", "openid email offline_access"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{d}");
    let device = d["device_code"].as_str().unwrap().to_owned();
    let user_code = d["user_code"].as_str().unwrap().to_owned();
    assert_eq!(user_code.len(), 9);
    assert_eq!(d["verification_uri"], format!("{}/device", server.issuer));
    assert_eq!(
        d["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", server.issuer)
    );
    assert_eq!(d["expires_in"], 300);
    assert_eq!(d["interval"], 5);

    // The device waits the interval, polls, then polls again too soon.
    tokio::time::sleep(Duration::from_millis(5100)).await;
    let (status, body) = poll(&server, "tv", &device).await;
    assert_eq!((status, error(&body)), (400, "authorization_pending"));
    let (status, body) = poll(&server, "tv", &device).await;
    assert_eq!((status, error(&body)), (400, "slow_down"));

    // Another client cannot use this device code.
    let (status, body) = poll(&server, "other-tv", &device).await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));

    // The user types the code in lower case, logs in and approves.
    let (status, html) = browser(
        &server,
        d["verification_uri_complete"].as_str().unwrap(),
        &user_code.to_lowercase(),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Smart TV has been authorized"), "{html}");

    // The next poll gets tokens; the ID token verifies against /keys.
    let (status, tokens) = poll(&server, "tv", &device).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "bearer");
    assert!(tokens["refresh_token"].is_string(), "offline_access");
    let verified = verify_compact(
        tokens["id_token"].as_str().unwrap(),
        &keys(&server).await,
        &[SigningAlgorithm::Rs256, SigningAlgorithm::Es256],
    )
    .expect("ID token verifies against /keys");
    let claims: serde_json::Value = serde_json::from_slice(&verified.payload).unwrap();
    assert_eq!(claims["iss"], server.issuer);
    assert_eq!(claims["aud"], "tv");
    assert_eq!(claims["email"], "admin@example.com");

    // Used up.
    let (status, body) = poll(&server, "tv", &device).await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
    // And the user code is gone.
    let b = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = b
        .get(format!("{}/device", server.issuer))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = b
        .post(format!("{}{}", server.base, action(&page)))
        .form(&[
            ("user_code", user_code.as_str()),
            ("csrf_token", hidden(&page, "csrf_token").as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Invalid or expired user code.")
    );
    // Without the CSRF value the form is refused.
    let r = b
        .post(format!("{}/device/auth/verify_code", server.issuer))
        .form(&[("user_code", user_code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn device_flow_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "").await;

    // Missing parameters.
    let (status, body) = device_code(&server, &[("scope", "openid")]).await;
    assert_eq!((status, error(&body)), (400, "invalid_request"));
    let (status, body) = poll(&server, "tv", "").await;
    assert_eq!((status, error(&body)), (400, "invalid_request"));
    let (status, body) = poll(&server, "", "whatever").await;
    assert_eq!((status, error(&body)), (401, "invalid_client"));
    // Unknown device code.
    let (status, body) = poll(&server, "tv", "not-a-device-code").await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
    // Unknown client; a confidential client without its secret; one that cannot use the
    // device callback.
    let (status, body) = device_code(&server, &[("client_id", "nobody")]).await;
    assert_eq!((status, error(&body)), (401, "invalid_client"));
    let (status, body) = device_code(&server, &[("client_id", "example-app")]).await;
    assert_eq!((status, error(&body)), (401, "invalid_client"));
    let (status, body) = device_code(
        &server,
        &[
            ("client_id", "example-app"),
            ("client_secret", "ZXhhbXBsZS1hcHAtc2VjcmV0"),
        ],
    )
    .await;
    assert_eq!((status, error(&body)), (400, "unauthorized_client"));
    // Bad scope.
    let (status, body) =
        device_code(&server, &[("client_id", "tv"), ("scope", "openid bogus")]).await;
    assert_eq!((status, error(&body)), (400, "invalid_scope"));
    // Only POST.
    let r = reqwest::get(format!("{}/device/code", server.issuer))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The callback without a code.
    let r = reqwest::get(format!("{}/device/callback?state=BCDF-GHJK", server.issuer))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = reqwest::get(format!(
        "{}/device/callback?state=BCDF-GHJK&code=nope",
        server.issuer
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn device_codes_expire() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "expiry:\n  deviceRequests: 2s").await;
    let (status, d) = device_code(&server, &[("client_id", "tv")]).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["expires_in"], 2);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, body) = poll(&server, "tv", d["device_code"].as_str().unwrap()).await;
    assert_eq!((status, error(&body)), (400, "expired_token"));
    let b = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = b
        .get(d["verification_uri_complete"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(d["user_code"].as_str().unwrap()), "prefilled");
    let r = b
        .post(format!("{}{}", server.base, action(&page)))
        .form(&[
            ("user_code", d["user_code"].as_str().unwrap()),
            ("csrf_token", hidden(&page, "csrf_token").as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
