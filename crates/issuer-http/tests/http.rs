//! The issuer over a real socket on 127.0.0.1, driven like a browser and a relying party
//! (reqwest with a cookie jar), once at the root and once under `/dex`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

#[path = "../../federation-core/tests/support/mod.rs"]
mod support;

use std::sync::Arc;

use oxidex_core::clock::SystemClock;
use oxidex_core::connector::ConnectorFactory;
use oxidex_core::jose::verify_compact;
use oxidex_core::model::{Client, ConnectorRecord, Password};
use oxidex_core::oauth::{ConnectorSet, Engine, OpenedConnector, Settings, grant};
use oxidex_core::secret::ClientSecret;
use oxidex_core::signer::{LocalSigner, LocalSignerConfig, Signer, SigningAlgorithm};
use oxidex_core::storage::Store;
use oxidex_issuer_http::local::LocalConnectorFactory;
use oxidex_issuer_http::pages::{FrontendSettings, Pages};
use oxidex_issuer_http::{Issuer, WebSettings};
use oxidex_storage::{MemoryStorage, StaticOverlay};

use support::world::local_signer;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "http://127.0.0.1:5555/callback";

struct Running {
    base: String,
    issuer: String,
    signer: Arc<LocalSigner>,
    _server: tokio::task::JoinHandle<()>,
}

async fn serve(path: &str) -> Running {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let issuer = format!("{base}{path}");
    let hash = tokio::task::spawn_blocking(|| bcrypt::hash("password", 10).unwrap())
        .await
        .unwrap();
    let backend = Arc::new(MemoryStorage::new());
    let overlay = StaticOverlay::new(backend)
        .with_clients([Client {
            id: "example-app".into(),
            secret: ClientSecret::new("ZXhhbXBsZS1hcHAtc2VjcmV0"),
            redirect_uris: vec![REDIRECT.into()],
            name: "Example App".into(),
            ..Client::default()
        }])
        .unwrap()
        .with_passwords([Password {
            email: "admin@example.com".into(),
            hash,
            username: "admin".into(),
            user_id: "08a8684b-db88-4b73-90a9-3cd1661f5466".into(),
            ..Password::default()
        }])
        .unwrap();
    let store = Store::new(Arc::new(overlay));
    let clock = Arc::new(SystemClock);
    let signer = local_signer(&store, clock.clone(), SigningAlgorithm::Rs256).await;
    let record = ConnectorRecord {
        id: "local".into(),
        connector_type: "local".into(),
        name: "Email".into(),
        resource_version: String::new(),
        config: serde_json::Value::Null,
        grant_types: vec![],
    };
    let connector = LocalConnectorFactory::new(store.clone())
        .open(
            &oxidex_core::connector::OpenContext::new("local"),
            serde_json::Value::Null,
        )
        .await
        .unwrap();
    let mut settings = Settings::new(issuer.clone());
    settings.grant_types.insert(grant::PASSWORD.into());
    settings.password_connector = Some("local".into());
    let engine = Engine::new(
        settings,
        store,
        signer.clone(),
        clock,
        ConnectorSet::new([OpenedConnector { record, connector }]),
    );
    let pages = Pages::new(FrontendSettings::default()).unwrap();
    let app = Issuer::new(engine, pages, WebSettings::default())
        .await
        .unwrap()
        .app();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Running {
        base,
        issuer,
        signer,
        _server: server,
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on {}", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") {
        location.to_owned()
    } else {
        format!("{base}{location}")
    }
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {html}"));
    let rest = &html[at..];
    let value_at = rest.find("value=\"").unwrap() + 7;
    let value = &rest[value_at..];
    value[..value.find('"').unwrap()]
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

fn form_action(html: &str) -> String {
    let at = html.find("action=\"").unwrap() + 8;
    let rest = &html[at..];
    rest[..rest.find('"').unwrap()]
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
        .replace("&#x3d;", "=")
}

fn query(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Walks the browser flow and returns the authorization code.
async fn browser_login(r: &Running, scope: &str) -> String {
    let b = browser();
    let auth = format!(
        "{}/auth?{}",
        r.issuer,
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", "example-app")
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("response_type", "code")
            .append_pair("scope", scope)
            .append_pair("state", "st4te")
            .append_pair("nonce", "n0nce")
            .append_pair("code_challenge", CHALLENGE)
            .append_pair("code_challenge_method", "S256")
            .finish()
    );
    // One connector: straight to it, then to its password form.
    let resp = b.get(&auth).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let resp = b
        .get(absolute(&r.base, &location(&resp)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let form_url = absolute(&r.base, &location(&resp));
    let page = b.get(&form_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(headers["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    let csrf = hidden(&html, "csrf_token");
    let action = absolute(&r.base, &form_action(&html));

    // Without the CSRF value the post is refused.
    let refused = b
        .post(&action)
        .form(&[("login", "admin@example.com"), ("password", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    // Wrong password: the form again, 401.
    let wrong = b
        .post(&action)
        .form(&[
            ("login", "admin@example.com"),
            ("password", "nope"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = b
        .post(&action)
        .form(&[
            ("login", "ADMIN@example.com"),
            ("password", "password"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let resp = b
        .get(absolute(&r.base, &location(&ok)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "to approval");
    let approval = b
        .get(absolute(&r.base, &location(&resp)))
        .send()
        .await
        .unwrap();
    assert_eq!(approval.status(), 200);
    let html = approval.text().await.unwrap();
    assert!(html.contains("Example App"));
    let done = b
        .post(absolute(&r.base, &form_action(&html)))
        .form(&[
            ("approval", "approve"),
            ("req", &hidden(&html, "req")),
            ("hmac", &hidden(&html, "hmac")),
            ("csrf_token", &hidden(&html, "csrf_token")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let back = location(&done);
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(query(&back, "state").as_deref(), Some("st4te"));
    query(&back, "code").unwrap()
}

async fn exchange(r: &Running, code: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/token", r.issuer))
        .basic_auth("example-app", Some("ZXhhbXBsZS1hcHAtc2VjcmV0"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
}

async fn whole_flow(path: &str) {
    let r = serve(path).await;
    let discovery: serde_json::Value =
        reqwest::get(format!("{}/.well-known/openid-configuration", r.issuer))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(discovery["issuer"], r.issuer);
    assert_eq!(discovery["token_endpoint"], format!("{}/token", r.issuer));
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    let response = reqwest::get(format!("{}/keys", r.issuer)).await.unwrap();
    // Dex's caching rule: until the next rotation, at least two minutes, never longer than
    // the rotation period (6 h by default); the next key is already in the set.
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    let max_age: u64 = cache
        .strip_prefix("max-age=")
        .and_then(|rest| rest.strip_suffix(", must-revalidate"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{cache}"));
    assert!((120..=6 * 3600).contains(&max_age), "{cache}");
    assert_eq!(response.headers()["content-type"], "application/json");
    let keys: serde_json::Value = response.json().await.unwrap();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    assert!(
        keys["keys"][0].get("d").is_none(),
        "no private members published"
    );

    let code = browser_login(&r, "openid email profile offline_access").await;
    let response = exchange(&r, &code).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: serde_json::Value = response.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let keys: Vec<oxidex_core::model::Jwk> = serde_json::from_value(keys["keys"].clone()).unwrap();
    let verified = verify_compact(id_token, &keys, &[SigningAlgorithm::Rs256]).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&verified.payload).unwrap();
    assert_eq!(claims["iss"], r.issuer);
    assert_eq!(claims["aud"], "example-app");
    assert_eq!(claims["email"], "admin@example.com");
    assert_eq!(
        claims["sub"],
        "CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs"
    );
    assert_eq!(claims["nonce"], "n0nce");
    assert!(
        r.signer
            .validation_keys()
            .await
            .unwrap()
            .iter()
            .any(|k| Some(k.kid.as_str()) == verified.header.kid.as_deref())
    );

    // Userinfo with the access token; without one, a Bearer challenge.
    let info: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/userinfo", r.issuer))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["email"], "admin@example.com");
    let bare = reqwest::get(format!("{}/userinfo", r.issuer))
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
    assert_eq!(bare.headers()["www-authenticate"], "Bearer");

    // Refresh with client_secret_post.
    let token_url = format!("{}/token", r.issuer);
    let refresh = |token: String| {
        let token_url = token_url.clone();
        async move {
            reqwest::Client::new()
                .post(token_url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                    ("client_id", "example-app"),
                    ("client_secret", "ZXhhbXBsZS1hcHAtc2VjcmV0"),
                ])
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let refreshed = refresh(tokens["refresh_token"].as_str().unwrap().to_owned()).await;
    assert!(refreshed["id_token"].is_string(), "{refreshed}");

    // Code reuse: invalid_grant as JSON, and the refresh token it issued is revoked.
    let again = exchange(&r, &code).await;
    assert_eq!(again.status(), 400);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    let revoked = refresh(refreshed["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(revoked["error"], "invalid_grant", "{revoked}");
}

#[tokio::test]
async fn whole_flow_at_the_root() {
    whole_flow("").await;
}

#[tokio::test]
async fn whole_flow_under_a_path() {
    whole_flow("/dex").await;
}

#[tokio::test]
async fn token_endpoint_errors_are_rfc6749_json() {
    let r = serve("/dex").await;
    let c = reqwest::Client::new();
    let url = format!("{}/token", r.issuer);
    let send = |form: Vec<(&'static str, &'static str)>,
                basic: Option<(&'static str, &'static str)>| {
        let mut req = c.post(&url).form(&form);
        if let Some((u, p)) = basic {
            req = req.basic_auth(u, Some(p));
        }
        req.send()
    };
    let wrong_secret = send(
        vec![("grant_type", "authorization_code"), ("code", "x")],
        Some(("example-app", "nope")),
    )
    .await
    .unwrap();
    assert_eq!(wrong_secret.status(), 401);
    assert!(wrong_secret.headers().contains_key("www-authenticate"));
    assert_eq!(
        wrong_secret.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let duplicate = c
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&grant_type=password")
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status(), 400);
    assert_eq!(
        duplicate.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let unsupported = send(
        vec![("grant_type", "magic")],
        Some(("example-app", "ZXhhbXBsZS1hcHAtc2VjcmV0")),
    )
    .await
    .unwrap();
    assert_eq!(
        unsupported.json::<serde_json::Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let get = c.get(&url).send().await.unwrap();
    assert_eq!(get.status(), 400);
    let huge = c
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type={}", "a".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert!(huge.status().is_client_error(), "{}", huge.status());
    // Password grant.
    let ok: serde_json::Value = send(
        vec![
            ("grant_type", "password"),
            ("username", "admin@example.com"),
            ("password", "password"),
            ("scope", "openid email"),
        ],
        Some(("example-app", "ZXhhbXBsZS1hcHAtc2VjcmV0")),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(ok["id_token"].is_string(), "{ok}");
    let bad: serde_json::Value = send(
        vec![
            ("grant_type", "password"),
            ("username", "admin@example.com"),
            ("password", "x"),
            ("scope", "openid"),
        ],
        Some(("example-app", "ZXhhbXBsZS1hcHAtc2VjcmV0")),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(bad["error"], "invalid_grant");
}

#[tokio::test]
async fn authorization_errors_are_pages_or_redirects() {
    let r = serve("").await;
    let b = browser();
    let unknown = b
        .get(format!(
            "{}/auth?client_id=nobody&redirect_uri=x&response_type=code&scope=openid",
            r.issuer
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(
        unknown.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let bad_uri = b
        .get(format!("{}/auth?client_id=example-app&redirect_uri=https://evil.example/cb&response_type=code&scope=openid", r.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_uri.status(), 400);
    let no_openid = b
        .get(format!(
            "{}/auth?client_id=example-app&redirect_uri={}&response_type=code&scope=email&state=a%26b",
            r.issuer,
            url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(no_openid.status(), 303);
    let to = location(&no_openid);
    assert!(to.starts_with(REDIRECT));
    assert_eq!(query(&to, "error").as_deref(), Some("invalid_scope"));
    assert_eq!(query(&to, "state").as_deref(), Some("a&b"));
    let dup = b
        .get(format!("{}/auth?client_id=a&client_id=b", r.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), 400);
    // A forged approval is refused.
    let forged = b
        .get(format!("{}/approval?req=abc&hmac=def", r.issuer))
        .send()
        .await
        .unwrap();
    assert!(forged.status().is_client_error());
    // Assets and health.
    assert_eq!(
        b.get(format!("{}/healthz", r.issuer))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        b.get(format!("{}/theme/styles.css", r.issuer))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        b.get(format!("{}/static/..%2f..%2fCargo.toml", r.issuer))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

/// Two connectors (the password DB and Dex's `mockCallback`), CORS, and the callback path.
#[tokio::test]
async fn chooser_callback_connector_and_cors() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let issuer = format!("{base}/dex");
    let overlay = StaticOverlay::new(Arc::new(MemoryStorage::new()))
        .with_clients([Client {
            id: "example-app".into(),
            secret: ClientSecret::new("s3cr3t"),
            redirect_uris: vec![REDIRECT.into()],
            name: "Example <App>".into(),
            ..Client::default()
        }])
        .unwrap();
    let store = Store::new(Arc::new(overlay));
    let clock = Arc::new(SystemClock);
    let signer = Arc::new(
        LocalSigner::open(store.clone(), clock.clone(), LocalSignerConfig::default())
            .await
            .unwrap(),
    );
    let registry = oxidex_connectors::registry();
    let mut opened = Vec::new();
    for (id, kind, name) in [
        ("mock", "mockCallback", "Mock"),
        ("local", "local", "Email"),
    ] {
        let record = ConnectorRecord {
            id: id.into(),
            connector_type: kind.into(),
            name: name.into(),
            resource_version: String::new(),
            config: serde_json::Value::Null,
            grant_types: vec![],
        };
        let connector = if kind == "local" {
            LocalConnectorFactory::new(store.clone())
                .open(
                    &oxidex_core::connector::OpenContext::new(id),
                    serde_json::Value::Null,
                )
                .await
                .unwrap()
        } else {
            registry.open(&record).await.unwrap()
        };
        opened.push(OpenedConnector { record, connector });
    }
    let mut settings = Settings::new(issuer.clone());
    settings.skip_approval = true;
    let engine = Engine::new(settings, store, signer, clock, ConnectorSet::new(opened));
    let web = WebSettings {
        allowed_origins: vec!["https://console.example".into()],
        ..WebSettings::default()
    };
    let app = Issuer::new(
        engine,
        Pages::new(FrontendSettings::default()).unwrap(),
        web,
    )
    .await
    .unwrap()
    .app();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let b = browser();
    let auth = format!(
        "{issuer}/auth?client_id=example-app&redirect_uri={}&response_type=code&scope=openid%20groups&state=s1",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let chooser = b.get(&auth).send().await.unwrap();
    assert_eq!(chooser.status(), 200);
    let html = chooser.text().await.unwrap();
    assert!(html.contains("Mock") && html.contains("Email"), "{html}");
    // The mock connector: to the upstream (which is our own /callback), back, then the client.
    let start = b
        .get(format!(
            "{issuer}/auth/mock?{}",
            auth.split_once('?').unwrap().1
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let upstream = location(&start);
    assert!(
        upstream.starts_with(&format!("{issuer}/callback?state=")),
        "{upstream}"
    );
    let back = b.get(&upstream).send().await.unwrap();
    assert_eq!(back.status(), 303);
    let next = b
        .get(absolute(&base, &location(&back)))
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 303, "approval skipped");
    let to_client = location(&next);
    assert!(to_client.starts_with(REDIRECT) && query(&to_client, "code").is_some());
    assert_eq!(query(&to_client, "state").as_deref(), Some("s1"));
    // A callback with a made-up state is refused with a page.
    let forged = b
        .get(format!("{issuer}/callback?state=made-up"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);

    // CORS on discovery for the configured origin only.
    let c = reqwest::Client::new();
    let ok = c
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .header("origin", "https://console.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://console.example"
    );
    let other = c
        .get(format!("{issuer}/keys"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}
