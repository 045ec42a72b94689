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

use std::time::Duration;

use oxidex_core::jose::verify_compact;
use oxidex_core::signer::SigningAlgorithm;

mod common;

use common::{
    Oxidex, SQLITE_ISSUER, STATIC_PASSWORDS, action, approve, browser, hidden, keys, location,
    log_in, password_page,
};

/// The config: device clients `tv` and `other-tv`, `example-app`, the password DB; `extra`
/// goes in at the top level.
fn config(extra: &str) -> String {
    format!(
        r#"{SQLITE_ISSUER}logger:
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
{STATIC_PASSWORDS}"#
    )
}

/// `POST /device/code`; the status and JSON body.
async fn device_code(server: &Oxidex, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let (status, body, headers) = server.post("/device/code", None, form).await;
    assert!(body.is_object(), "{status}: not a JSON object");
    if status == 200 {
        assert_eq!(headers["cache-control"], "no-store");
    }
    (status, body)
}

/// A device-code poll at `/token`; the status and JSON body.
async fn poll(server: &Oxidex, client_id: &str, code: &str) -> (u16, serde_json::Value) {
    let mut form = vec![("grant_type", "urn:ietf:params:oauth:grant-type:device_code")];
    if !client_id.is_empty() {
        form.push(("client_id", client_id));
    }
    if !code.is_empty() {
        form.push(("device_code", code));
    }
    let (status, body, _) = server.post("/token", None, &form).await;
    assert!(body.is_object(), "{status}: not a JSON object");
    (status, body)
}

fn error(body: &serde_json::Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

/// Submits the user-code form `html` with `typed`.
async fn submit_user_code(
    b: &reqwest::Client,
    server: &Oxidex,
    html: &str,
    typed: &str,
) -> reqwest::Response {
    b.post(format!("{}{}", server.base, action(html)))
        .form(&[
            ("user_code", typed),
            ("csrf_token", hidden(html, "csrf_token").as_str()),
        ])
        .send()
        .await
        .unwrap()
}

/// The browser: opens `verification_uri_complete`, submits `typed`, logs in, approves, and
/// returns the final page's status and HTML.
async fn browser_flow(server: &Oxidex, verification_uri: &str, typed: &str) -> (u16, String) {
    let b = browser();
    let r = b.get(verification_uri).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"user_code\""), "{html}");
    let r = submit_user_code(&b, server, &html, typed).await;
    assert_eq!(r.status(), 303, "verify_code answers 303");
    let url = format!("{}{}", server.base, location(&r));
    assert!(url.contains("/dex/auth?"), "{url}");
    assert!(!url.contains("client_secret"));
    // Chooser → connector → password form.
    let html = password_page(&b, &server.base, &url).await;
    let mut loc = log_in(&b, &server.base, &html, "admin@example.com")
        .await
        .unwrap();
    for _ in 0..5 {
        let r = b.get(format!("{}{loc}", server.base)).send().await.unwrap();
        if r.status().is_redirection() {
            loc = location(&r);
            continue;
        }
        let status = r.status().as_u16();
        let html = r.text().await.unwrap();
        if !html.contains("name=\"approval\"") {
            return (status, html);
        }
        let r = approve(&b, &server.base, &html).await.unwrap();
        assert_eq!(r.status(), 303);
        loc = location(&r);
        assert!(loc.starts_with("/dex/device/callback?"), "{loc}");
    }
    panic!("the browser never reached a page: {loc}");
}

#[tokio::test]
async fn device_flow_end_to_end() {
    let server = Oxidex::start(&config("")).await;

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
    let (status, html) = browser_flow(
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
        &keys(&server.issuer).await,
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
    let b = browser();
    let page = b
        .get(format!("{}/device", server.issuer))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = submit_user_code(&b, &server, &page, &user_code).await;
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
    let server = Oxidex::start(&config("")).await;

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
    let server = Oxidex::start(&config("expiry:\n  deviceRequests: 2s")).await;
    let (status, d) = device_code(&server, &[("client_id", "tv")]).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["expires_in"], 2);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, body) = poll(&server, "tv", d["device_code"].as_str().unwrap()).await;
    assert_eq!((status, error(&body)), (400, "expired_token"));
    let b = browser();
    let page = b
        .get(d["verification_uri_complete"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(d["user_code"].as_str().unwrap()), "prefilled");
    let r = submit_user_code(&b, &server, &page, d["user_code"].as_str().unwrap()).await;
    assert_eq!(r.status(), 400);
}
