//! `oxidex serve` as a user runs it: a real process with a Dex config file, SQLite storage and
//! the `local` connector, and a maintained Rust OIDC client library (openidconnect) as the
//! relying party: discovery, code flow with PKCE, ID-token verification against `/keys`,
//! userinfo, refresh; then a restart on the same database keeps the keys, and SIGTERM stops it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};

mod common;

use common::{
    Oxidex, REDIRECT, SQLITE_ISSUER, STATIC_PASSWORDS, approve, browser, free_port, http, keys,
    location, log_in, password_page, query,
};

/// The config of the end-to-end runs: SQLite, telemetry, JSON logs, a local signer with
/// `algorithm`, `example-app` and the password DB.
fn config(algorithm: &str) -> String {
    format!(
        r#"{SQLITE_ISSUER}telemetry:
  http: 127.0.0.1:{{telemetry}}
logger:
  level: info
  format: json
signer:
  type: local
  config:
    keysRotationPeriod: 6h
    algorithm: {algorithm}
expiry:
  idTokens: 1h
staticClients:
- id: example-app
  name: Example App
  secret: ZXhhbXBsZS1hcHAtc2VjcmV0
  redirectURIs:
  - {REDIRECT}
{STATIC_PASSWORDS}"#
    )
}

/// Logs in through the pages like a browser and returns the redirect back to the client.
async fn browser_login(issuer_base: &str, auth_url: &str) -> String {
    browser_login_to(issuer_base, auth_url, REDIRECT).await
}

/// Like [`browser_login`], for a client whose redirect URI starts with `redirect`.
async fn browser_login_to(issuer_base: &str, auth_url: &str, redirect: &str) -> String {
    let b = browser();
    let html = password_page(&b, issuer_base, auth_url).await;
    let mut loc = log_in(&b, issuer_base, &html, "admin@example.com")
        .await
        .unwrap();
    for _ in 0..5 {
        if loc.starts_with(redirect) {
            return loc;
        }
        let r = b.get(format!("{issuer_base}{loc}")).send().await.unwrap();
        if r.status() == 200 {
            // The approval page.
            let html = r.text().await.unwrap();
            let r = approve(&b, issuer_base, &html).await.unwrap();
            loc = location(&r);
        } else {
            loc = location(&r);
        }
    }
    panic!("never came back to the client: {loc}");
}

async fn relying_party_flow(server: &Oxidex, alg: CoreJwsSigningAlgorithm) -> String {
    relying_party_tokens(server, alg).await.0
}

/// The flow; returns the ID token's `kid` and the ID token itself.
async fn relying_party_tokens(server: &Oxidex, alg: CoreJwsSigningAlgorithm) -> (String, String) {
    let provider =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.issuer.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        provider,
        ClientId::new("example-app".into()),
        Some(ClientSecret::new("ZXhhbXBsZS1hcHAtc2VjcmV0".into())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let base = server.issuer.trim_end_matches("/dex").to_owned();
    let back = browser_login(&base, auth_url.as_str()).await;
    assert_eq!(
        query(&back, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    let code = query(&back, "code").unwrap();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier().set_allowed_algs(vec![alg]);
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("ID token verifies against /keys");
    assert_eq!(claims.issuer().as_str(), server.issuer);
    assert_eq!(
        claims.subject().as_str(),
        "CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs"
    );
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("admin@example.com")
    );
    assert_eq!(claims.email_verified(), Some(true));
    let at_hash = claims.access_token_hash().expect("at_hash");
    assert_eq!(
        at_hash,
        &openidconnect::AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&verifier).unwrap(),
        )
        .unwrap()
    );

    let info: openidconnect::core::CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.email().map(|e| e.as_str()), Some("admin@example.com"));

    let refresh = tokens.refresh_token().expect("a refresh token");
    let refreshed = client
        .exchange_refresh_token(refresh)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    assert!(refreshed.refresh_token().is_some());
    (id_token.header_kid(), id_token.to_string())
}

trait Kid {
    fn header_kid(&self) -> String;
}

impl Kid for openidconnect::core::CoreIdToken {
    fn header_kid(&self) -> String {
        let text = self.to_string();
        let header = text.split('.').next().unwrap();
        let bytes = base64_url_decode(header);
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        json["kid"].as_str().unwrap().to_owned()
    }
}

fn base64_url_decode(s: &str) -> Vec<u8> {
    oxidex_core::jose::b64url_decode(s).unwrap()
}

async fn end_to_end(algorithm: &str, alg: CoreJwsSigningAlgorithm) {
    let mut server = Oxidex::start(&config(algorithm)).await;

    let discovery = server.discovery().await;
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!([algorithm])
    );
    let kid = relying_party_flow(&server, alg.clone()).await;

    let metrics = reqwest::get(format!("{}/metrics", server.telemetry))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert_eq!(
        reqwest::get(format!("{}/healthz/live", server.telemetry))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        reqwest::get(format!("{}/healthz/ready", server.telemetry))
            .await
            .unwrap()
            .status(),
        200
    );

    // SIGTERM: the process drains and exits 0.
    let pid = server.child_mut().id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = server.child_mut().try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(exited.expect("exits after SIGTERM").success());

    // Restart on the same database: the same signing key, and logins still work.
    server.restart().await;
    let again = relying_party_flow(&server, alg).await;
    assert_eq!(again, kid, "keys survive a restart");
}

#[tokio::test(flavor = "multi_thread")]
async fn rs256_end_to_end_with_an_oidc_client_library() {
    end_to_end("RS256", CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn es256_end_to_end_with_an_oidc_client_library() {
    end_to_end("ES256", CoreJwsSigningAlgorithm::EcdsaP256Sha256).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn eddsa_end_to_end_with_an_oidc_client_library() {
    // openidconnect checks `at_hash` with SHA-512 for Ed25519, as OIDC Core errata 2 says.
    end_to_end("EdDSA", CoreJwsSigningAlgorithm::EdDsa).await;
}

#[test]
fn config_check_refuses_a_typo_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "issuer: http://127.0.0.1:5556/dex\nstorage:\n  type: memory\nweb:\n  htp: 127.0.0.1:5556\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_oxidex"))
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("htp") && stderr.contains("line 5"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn https_listener_with_rustls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success(), "openssl req");
    let port = free_port();
    let config = format!(
        "issuer: https://127.0.0.1:{port}/dex\nstorage:\n  type: memory\nweb:\n  https: 127.0.0.1:{port}\n  tlsCert: {}\n  tlsKey: {}\nenablePasswordDB: true\n",
        cert.display(),
        key.display()
    );
    let path = dir.path().join("https.yaml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_oxidex"))
        .arg("serve")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let mut answer = None;
    let mut last_error = None;
    for _ in 0..100 {
        match client
            .get(format!(
                "https://127.0.0.1:{port}/dex/.well-known/openid-configuration"
            ))
            .send()
            .await
        {
            // 503 while the issuer is still being assembled behind the open listener.
            Ok(r) if r.status() == 503 => last_error = Some("503 while starting".into()),
            Ok(r) => {
                answer = Some(r);
                break;
            }
            Err(e) => last_error = Some(format!("{e:?}")),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let answer = answer.unwrap_or_else(|| panic!("https did not answer: {last_error:?}"));
    assert_eq!(answer.status(), 200);
    assert!(answer.headers().contains_key("strict-transport-security"));
    let doc: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(doc["issuer"], format!("https://127.0.0.1:{port}/dex"));
}

/// The config of the protocol rules: skipped approval, the password grant, a 3 s refresh
/// reuse interval, and the clients `example-app`, `kubectl` (public) and `kubernetes`
/// (trusting `example-app`).
fn rules_config() -> String {
    format!(
        r#"{SQLITE_ISSUER}oauth2:
  skipApprovalScreen: true
  passwordConnector: local
expiry:
  refreshTokens:
    reuseInterval: 3s
staticClients:
- id: example-app
  name: Example App
  secret: ZXhhbXBsZS1hcHAtc2VjcmV0
  redirectURIs:
  - {REDIRECT}
- id: kubectl
  name: kubectl
  public: true
- id: kubernetes
  name: Kubernetes
  secret: a3ViZXJuZXRlcy1zZWNyZXQ
  trustedPeers:
  - example-app
{STATIC_PASSWORDS}"#
    )
}

async fn rp(
    issuer: &str,
    id: &str,
    secret: Option<&str>,
    redirect: &str,
) -> CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
> {
    let provider =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.into()).unwrap(), &http)
            .await
            .unwrap();
    CoreClient::from_provider_metadata(
        provider,
        ClientId::new(id.into()),
        secret.map(|s| ClientSecret::new(s.into())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap())
}

fn error_code<E: std::fmt::Debug>(e: &E) -> String {
    format!("{e:?}")
}

/// The protocol rules of issue "A working, Dex-compatible OIDC issuer", each through the real
/// server with openidconnect as the relying party.
#[tokio::test(flavor = "multi_thread")]
async fn protocol_rules_through_the_server_with_an_oidc_client_library() {
    let server = Oxidex::start(&rules_config()).await;
    let base = server.issuer.trim_end_matches("/dex").to_owned();
    let app = rp(
        &server.issuer,
        "example-app",
        Some("ZXhhbXBsZS1hcHAtc2VjcmV0"),
        REDIRECT,
    )
    .await;

    let login = |scopes: &'static [&'static str]| {
        let app = &app;
        let base = &base;
        async move {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            let mut request = app
                .authorize_url(
                    CoreAuthenticationFlow::AuthorizationCode,
                    CsrfToken::new_random,
                    Nonce::new_random,
                )
                .set_pkce_challenge(challenge);
            for s in scopes {
                request = request.add_scope(Scope::new((*s).into()));
            }
            let (url, _, nonce) = request.url();
            let back = browser_login(base, url.as_str()).await;
            (
                AuthorizationCode::new(query(&back, "code").unwrap()),
                verifier,
                nonce,
            )
        }
    };

    // Wrong client secret: invalid_client; the code is still good afterwards.
    let (code, verifier, _) = login(&["email"]).await;
    let wrong = rp(&server.issuer, "example-app", Some("wrong"), REDIRECT).await;
    let err = wrong
        .exchange_code(code.clone())
        .unwrap()
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.secret().clone()))
        .request_async(&http)
        .await
        .unwrap_err();
    assert!(error_code(&err).contains("invalid_client"), "{err:?}");

    // Wrong redirect URI at the token endpoint: invalid_request.
    let err = app
        .exchange_code(code.clone())
        .unwrap()
        .set_redirect_uri(std::borrow::Cow::Owned(
            RedirectUrl::new("http://127.0.0.1:5555/other".into()).unwrap(),
        ))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.secret().clone()))
        .request_async(&http)
        .await
        .unwrap_err();
    assert!(error_code(&err).contains("invalid_request"), "{err:?}");

    // The right request works once; reusing the code is invalid_grant.
    app.exchange_code(code.clone())
        .unwrap()
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.secret().clone()))
        .request_async(&http)
        .await
        .expect("first redemption");
    let err = app
        .exchange_code(code)
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap_err();
    assert!(error_code(&err).contains("invalid_grant"), "{err:?}");

    // Refresh: rotation, reuse within the 3s interval returns the same token, reuse after it
    // revokes the family. (The interval is generous so a loaded machine cannot stall past it.)
    let (code, verifier, _) = login(&["offline_access"]).await;
    let tokens = app
        .exchange_code(code)
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let first = tokens.refresh_token().unwrap().clone();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let second = app
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    let second_token = second.refresh_token().unwrap().secret().clone();
    assert_ne!(&second_token, first.secret(), "rotated");
    let retry = app
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&http)
        .await
        .expect("within reuseInterval");
    assert_eq!(
        retry.refresh_token().unwrap().secret(),
        &second_token,
        "same current token"
    );
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let err = app
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap_err();
    assert!(error_code(&err).contains("invalid_grant"), "{err:?}");
    let err = app
        .exchange_refresh_token(&openidconnect::RefreshToken::new(second_token))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap_err();
    assert!(
        error_code(&err).contains("invalid_grant"),
        "family revoked: {err:?}"
    );

    // Password grant (oauth2.passwordConnector: local).
    let tokens = app
        .exchange_password(
            &openidconnect::ResourceOwnerUsername::new("admin@example.com".into()),
            &openidconnect::ResourceOwnerPassword::new("password".into()),
        )
        .unwrap()
        .add_scope(Scope::new("openid".into()))
        .request_async(&http)
        .await
        .expect("password grant");
    assert!(tokens.id_token().is_some());

    // Cross-client audience: kubernetes trusts example-app.
    let (code, verifier, nonce) = login(&["audience:server:client_id:kubernetes"]).await;
    let tokens = app
        .exchange_code(code)
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let verifier = app
        .id_token_verifier()
        .set_other_audience_verifier_fn(|aud| aud.as_str() == "kubernetes");
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&verifier, &nonce)
        .expect("verifies with both audiences");
    let audiences: Vec<&str> = claims.audiences().iter().map(|a| a.as_str()).collect();
    assert_eq!(audiences, ["kubernetes", "example-app"]);
    assert_eq!(
        claims.authorized_party().map(|a| a.as_str()),
        Some("example-app")
    );

    // A public client on a loopback port it never registered, without a secret.
    let loopback = "http://127.0.0.1:18000/callback";
    let kubectl = rp(&server.issuer, "kubectl", None, loopback).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = kubectl
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let back = browser_login_to(&base, url.as_str(), loopback).await;
    let tokens = kubectl
        .exchange_code(AuthorizationCode::new(query(&back, "code").unwrap()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("public client redemption");
    tokens
        .id_token()
        .unwrap()
        .claims(&kubectl.id_token_verifier(), &nonce)
        .expect("kubectl's token verifies");
}

/// The pages in a real browser: headless Chromium loads the chooser, password and approval
/// pages under the default Content-Security-Policy; the DOM must hold the form and Chromium
/// must report no CSP violation (no inline script or style slipped in) and no failed asset.
/// Needs Chromium: `.ci/run` installs it and sets `OXIDEX_CHROMIUM`.
#[tokio::test(flavor = "multi_thread")]
async fn pages_render_in_headless_chromium_under_the_csp() {
    let chromium = match std::env::var("OXIDEX_CHROMIUM") {
        Ok(path) => path,
        Err(_) if Path::new("/usr/bin/chromium").exists() => "/usr/bin/chromium".into(),
        Err(_) => {
            eprintln!(
                "SKIPPED pages_render_in_headless_chromium_under_the_csp: set OXIDEX_CHROMIUM or install Debian's chromium"
            );
            return;
        }
    };
    let server = Oxidex::start(&config("RS256")).await;
    let b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let auth = format!(
        "{}/auth?client_id=example-app&redirect_uri={}&response_type=code&scope=openid&state=x",
        server.issuer,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let first = b.get(&auth).send().await.unwrap();
    let connector = format!("{}{}", server.base, location(&first));
    let login = b.get(&connector).send().await.unwrap();
    let login_page = format!("{}{}", server.base, location(&login));

    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&login_page)
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        dom.contains("name=\"login\"") && dom.contains("name=\"password\""),
        "DOM: {dom}\nlog: {log}"
    );
    assert!(dom.contains("<html lang=\"en\""), "{dom}");
    for bad in [
        "Content Security Policy",
        "Refused to",
        "Failed to load resource",
    ] {
        assert!(!log.contains(bad), "Chromium reported {bad:?}:\n{log}");
    }
}

/// Key rotation while tokens are outstanding, through the server: with a 2 s rotation period
/// the key published in advance takes over, `/keys` keeps the retired key, and a token signed
/// before the rotation still verifies against what `/keys` serves after it.
#[tokio::test(flavor = "multi_thread")]
async fn key_rotation_while_tokens_are_outstanding() {
    let server =
        Oxidex::start(&config("ES256").replace("keysRotationPeriod: 6h", "keysRotationPeriod: 2s"))
            .await;
    let kids = || async {
        keys(&server.issuer)
            .await
            .into_iter()
            .map(|k| k.kid)
            .collect::<Vec<_>>()
    };
    let before = kids().await;
    let (old_kid, old_token) =
        relying_party_tokens(&server, CoreJwsSigningAlgorithm::EcdsaP256Sha256).await;
    assert_eq!(before[0], old_kid, "the first key signs");
    let next = before[1].clone();
    let mut rotated = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = kids().await;
        if now[0] != old_kid {
            assert_eq!(now[0], next, "the key published in advance now signs");
            assert!(now.contains(&old_kid), "the retired key is still published");
            rotated = true;
            break;
        }
    }
    assert!(rotated, "no rotation within 15 s");
    let new_kid = relying_party_flow(&server, CoreJwsSigningAlgorithm::EcdsaP256Sha256).await;
    assert_ne!(new_kid, old_kid);
    oxidex_core::jose::verify_compact(
        &old_token,
        &keys(&server.issuer).await,
        &[oxidex_core::signer::SigningAlgorithm::Es256],
    )
    .expect("a token signed before the rotation verifies against /keys after it");
}
