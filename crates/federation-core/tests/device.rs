//! The device authorization grant (RFC 8628) through the engine over real storage: the device
//! authorization request, the user code, the browser leg through the normal authorization
//! flow, the callback, and polling the token endpoint. Each rule has a case.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use oxidex_core::model::{Client, DeviceRequest, DeviceToken, DeviceTokenStatus};
use oxidex_core::oauth::{
    AuthorizeError, AuthorizeParams, DeviceAuthorization, DeviceAuthorizationRequest,
    DeviceCallback, DeviceOutcome, ErrorCode, OAuthError, Settings, TokenResponse, UserCodeCheck,
    grant, normalize_user_code,
};
use oxidex_core::secret::{ClientSecret, TokenHash};

use support::world::{
    CHALLENGE, ISSUER, Parts, VERIFIER, World, browser_login, claims, creds, query_param, start,
    token_request,
};

const CALLBACK: &str = "/dex/device/callback";

async fn world_with(tweak: impl FnOnce(&mut Settings)) -> World {
    let parts = Parts::new([
        // A public device client without redirect URIs (kubectl-like).
        Client {
            id: "tv".into(),
            public: true,
            name: "Smart TV".into(),
            ..Client::default()
        },
        Client {
            id: "other-tv".into(),
            public: true,
            ..Client::default()
        },
        // A confidential client registered for the device callback.
        Client {
            id: "cli".into(),
            secret: ClientSecret::new("cli-secret"),
            redirect_uris: vec![CALLBACK.into()],
            name: "CLI".into(),
            ..Client::default()
        },
        // A confidential web client that never registered the device callback.
        Client {
            id: "web".into(),
            secret: ClientSecret::new("web-secret"),
            redirect_uris: vec!["https://web.example/cb".into()],
            ..Client::default()
        },
        // Only allowed to use the connector that refuses the device grant.
        Client {
            id: "restricted".into(),
            public: true,
            allowed_connectors: vec!["no-device".into()],
            ..Client::default()
        },
    ])
    .await;
    let connectors = [
        parts.users_connector("users", &[]),
        parts.users_connector(
            "no-device",
            &[grant::AUTHORIZATION_CODE, grant::REFRESH_TOKEN],
        ),
    ];
    parts.engine(connectors, |settings| {
        settings.grant_types.insert(grant::DEVICE_CODE.into());
        tweak(settings);
    })
}

async fn world() -> World {
    world_with(|_| {}).await
}

fn device_request(client: &str, scope: &str) -> DeviceAuthorizationRequest {
    DeviceAuthorizationRequest {
        client: creds(client, None),
        scope: scope.into(),
        ..DeviceAuthorizationRequest::default()
    }
}

async fn authorize(w: &World, client: &str, scope: &str) -> DeviceAuthorization {
    w.engine
        .device_authorization(&device_request(client, scope))
        .await
        .unwrap()
}

/// Follows the user-code form into `/auth`: the authorization parameters, and the browser
/// binding the callback needs.
async fn continue_from_user_code(w: &World, typed: &str) -> (AuthorizeParams, String) {
    let UserCodeCheck::Continue {
        location: url,
        binding,
    } = w.engine.verify_user_code(typed).await.unwrap()
    else {
        panic!("user code {typed:?} should be accepted");
    };
    assert!(url.starts_with("/dex/auth?"), "{url}");
    let get = |n: &str| query_param(&url, n).unwrap_or_default();
    assert_eq!(get("client_secret"), "", "no secret in the browser URL");
    let params = AuthorizeParams {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        response_type: get("response_type"),
        scope: get("scope"),
        state: get("state"),
        ..AuthorizeParams::default()
    };
    (params, binding)
}

/// The browser binding for `user_code`, as entering it in the form gives.
async fn bind(w: &World, user_code: &str) -> String {
    continue_from_user_code(w, user_code).await.1
}

/// The whole browser side for `typed`: user code, login, approval, callback.
async fn complete(w: &World, typed: &str, approve: bool) -> Result<DeviceOutcome, AuthorizeError> {
    let (p, binding) = continue_from_user_code(w, typed).await;
    let url = browser_login(w, &p, "users", approve).await.url;
    assert!(url.starts_with(&format!("{CALLBACK}?")), "{url}");
    let state = query_param(&url, "state").unwrap();
    if let Some(error) = query_param(&url, "error") {
        w.engine
            .device_callback(&state, DeviceCallback::Error(&error), &binding)
            .await
    } else {
        let code = query_param(&url, "code").unwrap();
        w.engine
            .device_callback(&state, DeviceCallback::Code(&code), &binding)
            .await
    }
}

async fn poll(
    w: &World,
    client: &str,
    device_code: &str,
    verifier: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let mut pairs = vec![
        ("grant_type", grant::DEVICE_CODE),
        ("device_code", device_code),
    ];
    if let Some(v) = verifier {
        pairs.push(("code_verifier", v));
    }
    w.engine
        .token(&token_request(&pairs, creds(client, None)))
        .await
}

fn code_of<T: std::fmt::Debug>(r: Result<T, OAuthError>) -> ErrorCode {
    r.unwrap_err().code
}

fn advance(w: &World, seconds: i64) {
    w.clock.advance(Duration::seconds(seconds));
}

fn display_status<T: std::fmt::Debug>(r: Result<T, AuthorizeError>) -> u16 {
    match r.unwrap_err() {
        AuthorizeError::Display { status, .. } => status,
        other => panic!("expected an error page, got {other:?}"),
    }
}

#[tokio::test]
async fn device_authorization_response_and_storage() {
    let w = world_with(|s| s.device_request_lifetime = Duration::minutes(10)).await;
    let d = authorize(&w, "tv", "").await;
    assert_eq!(d.device_code.len(), 51);
    assert_eq!(d.user_code.len(), 9);
    assert_eq!(normalize_user_code(&d.user_code), Some(d.user_code.clone()));
    assert_eq!(d.verification_uri, "https://issuer.example/dex/device");
    assert_eq!(
        d.verification_uri_complete,
        format!(
            "https://issuer.example/dex/device?user_code={}",
            d.user_code
        )
    );
    assert_eq!(d.expires_in, 600);
    assert_eq!(d.interval, 5);

    let request = w
        .store
        .get::<DeviceRequest>(&d.user_code)
        .await
        .unwrap()
        .value;
    assert_eq!(request.client_id, "tv");
    assert_eq!(request.scopes, ["openid"], "scope defaults to openid");
    assert_eq!(request.device_code_hash, TokenHash::of(&d.device_code));
    // The device code is stored only hashed.
    assert!(
        w.store
            .get::<DeviceToken>(&d.device_code)
            .await
            .unwrap_err()
            .is_not_found()
    );
    let token = w
        .store
        .get::<DeviceToken>(&TokenHash::of(&d.device_code).to_key())
        .await
        .unwrap()
        .value;
    assert_eq!(token.status, DeviceTokenStatus::Pending);
    assert_eq!(token.client_id, "tv");
    assert_eq!(token.poll_interval_seconds, 5);
    assert_eq!(token.expiry, start() + Duration::minutes(10));
    let json = serde_json::to_string(&token).unwrap();
    assert!(!json.contains(&d.device_code));

    // Two requests never share codes.
    let again = authorize(&w, "tv", "openid").await;
    assert_ne!(again.device_code, d.device_code);
    assert_ne!(again.user_code, d.user_code);
}

#[tokio::test]
async fn device_authorization_checks_the_client_scopes_and_pkce() {
    let w = world().await;
    let refused = |r: DeviceAuthorizationRequest| {
        let engine = w.engine.clone();
        async move { engine.device_authorization(&r).await.unwrap_err().code }
    };
    // No client at all, unknown client, confidential client without or with a wrong secret.
    assert_eq!(
        refused(DeviceAuthorizationRequest::default()).await,
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        refused(device_request("nobody", "openid")).await,
        ErrorCode::InvalidClient
    );
    assert_eq!(
        refused(device_request("cli", "openid")).await,
        ErrorCode::InvalidClient
    );
    let mut wrong = device_request("cli", "openid");
    wrong.client = creds("cli", Some("nope"));
    assert_eq!(refused(wrong).await, ErrorCode::InvalidClient);
    let mut right = device_request("cli", "openid");
    right.client = creds("cli", Some("cli-secret"));
    assert!(w.engine.device_authorization(&right).await.is_ok());
    // A client that cannot receive the device callback.
    let mut web = device_request("web", "openid");
    web.client = creds("web", Some("web-secret"));
    assert_eq!(refused(web).await, ErrorCode::UnauthorizedClient);

    // Scopes are checked up front.
    assert_eq!(
        refused(device_request("tv", "email")).await,
        ErrorCode::InvalidScope
    );
    assert_eq!(
        refused(device_request("tv", "openid bogus")).await,
        ErrorCode::InvalidScope
    );
    assert_eq!(
        refused(device_request("tv", "openid audience:server:client_id:cli")).await,
        ErrorCode::InvalidScope,
        "cli does not trust tv"
    );

    // PKCE as at /auth.
    let mut pkce = device_request("tv", "openid");
    pkce.code_challenge = CHALLENGE.into();
    pkce.code_challenge_method = "S512".into();
    assert_eq!(refused(pkce.clone()).await, ErrorCode::InvalidRequest);
    pkce.code_challenge_method = "S256".into();
    pkce.code_challenge = "short".into();
    assert_eq!(refused(pkce).await, ErrorCode::InvalidRequest);

    // The grant must be enabled.
    let off = world_with(|s| {
        s.grant_types.remove(grant::DEVICE_CODE);
    })
    .await;
    assert_eq!(
        off.engine
            .device_authorization(&device_request("tv", "openid"))
            .await
            .unwrap_err()
            .code,
        ErrorCode::UnsupportedGrantType
    );

    // Enforced PKCE needs a challenge here; the browser leg is exempt.
    let enforced = world_with(|s| s.pkce.enforce = true).await;
    assert_eq!(
        enforced
            .engine
            .device_authorization(&device_request("tv", "openid"))
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidRequest
    );
    let mut with = device_request("tv", "openid");
    with.code_challenge = CHALLENGE.into();
    with.code_challenge_method = "S256".into();
    let d = enforced.engine.device_authorization(&with).await.unwrap();
    assert_eq!(
        complete(&enforced, &d.user_code, true).await.unwrap(),
        DeviceOutcome::Approved {
            client_name: "Smart TV".into()
        }
    );
    assert!(
        poll(&enforced, "tv", &d.device_code, Some(VERIFIER))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn user_codes_are_normalised_and_lead_into_the_authorization_flow() {
    let w = world().await;
    let d = authorize(&w, "tv", "openid groups offline_access").await;
    let bare = d.user_code.replace('-', "");
    for typed in [
        d.user_code.clone(),
        d.user_code.to_lowercase(),
        bare.clone(),
        bare.to_lowercase(),
        format!(" {} {} ", &bare[..4], &bare[4..]),
    ] {
        let (p, _) = continue_from_user_code(&w, &typed).await;
        assert_eq!(p.client_id, "tv");
        assert_eq!(p.state, d.user_code, "state is the normalised user code");
        assert_eq!(p.response_type, "code");
        assert_eq!(p.redirect_uri, CALLBACK);
        assert_eq!(p.scope, "openid groups offline_access");
    }
    for typed in [
        "",
        "BCDF-GHJ",
        "BCDF-GHJKL",
        "AEIO-UAEI",
        "BCDF-GHJ1",
        "../../x",
    ] {
        assert_eq!(
            w.engine.verify_user_code(typed).await.unwrap(),
            UserCodeCheck::Invalid,
            "{typed:?}"
        );
    }
    // A well-formed code nobody was given.
    let unknown = if d.user_code == "BCDF-GHJK" {
        "BCDF-GHJL"
    } else {
        "BCDF-GHJK"
    };
    assert_eq!(
        w.engine.verify_user_code(unknown).await.unwrap(),
        UserCodeCheck::Invalid
    );
    // Expired.
    advance(&w, 300);
    assert_eq!(
        w.engine.verify_user_code(&d.user_code).await.unwrap(),
        UserCodeCheck::Invalid
    );
}

#[tokio::test]
async fn polling_pending_slow_down_then_tokens_once() {
    let w = world().await;
    let d = authorize(&w, "tv", "openid email groups offline_access").await;
    let key = TokenHash::of(&d.device_code).to_key();
    let interval = || async {
        w.store
            .get::<DeviceToken>(&key)
            .await
            .unwrap()
            .value
            .poll_interval_seconds
    };

    // Right away: faster than the interval.
    assert_eq!(
        code_of(poll(&w, "tv", &d.device_code, None).await),
        ErrorCode::SlowDown
    );
    assert_eq!(interval().await, 10);
    advance(&w, 6);
    assert_eq!(
        code_of(poll(&w, "tv", &d.device_code, None).await),
        ErrorCode::SlowDown,
        "6 s is less than the grown 10 s"
    );
    assert_eq!(interval().await, 15);
    advance(&w, 15);
    assert_eq!(
        code_of(poll(&w, "tv", &d.device_code, None).await),
        ErrorCode::AuthorizationPending
    );
    assert_eq!(interval().await, 5, "a poll in time resets the interval");
    advance(&w, 5);
    assert_eq!(
        code_of(poll(&w, "tv", &d.device_code, None).await),
        ErrorCode::AuthorizationPending
    );

    // The user approves in the browser.
    assert_eq!(
        complete(&w, &d.user_code.to_lowercase(), true)
            .await
            .unwrap(),
        DeviceOutcome::Approved {
            client_name: "Smart TV".into()
        }
    );
    let stored = w.store.get::<DeviceToken>(&key).await.unwrap().value;
    assert_eq!(stored.status, DeviceTokenStatus::Complete);
    assert_eq!(stored.claims.as_ref().unwrap().user_id, "jane-id");
    assert_eq!(stored.connector_id, "users");
    // The user code is retired.
    assert!(
        w.store
            .get::<DeviceRequest>(&d.user_code)
            .await
            .unwrap_err()
            .is_not_found()
    );

    // A complete device gets its tokens even when polling early.
    advance(&w, 1);
    let tokens = poll(&w, "tv", &d.device_code, None).await.unwrap();
    assert_eq!(tokens.token_type, "bearer");
    assert!(tokens.refresh_token.is_some(), "offline_access was granted");
    let claims = claims(&w, &tokens.id_token.unwrap()).await;
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], "tv");
    assert_eq!(claims["email"], "jane@example.com");
    assert_eq!(claims["groups"], serde_json::json!(["admins"]));
    assert!(claims.get("c_hash").is_none());

    // The refresh token works with the refresh grant.
    let refresh_token = tokens.refresh_token.unwrap();
    assert!(
        w.engine
            .token(&token_request(
                &[
                    ("grant_type", grant::REFRESH_TOKEN),
                    ("refresh_token", &refresh_token),
                ],
                creds("tv", None),
            ))
            .await
            .is_ok()
    );

    // Single use.
    assert_eq!(
        code_of(poll(&w, "tv", &d.device_code, None).await),
        ErrorCode::InvalidGrant
    );
    assert!(
        w.store
            .get::<DeviceToken>(&key)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn no_refresh_token_without_offline_access() {
    let w = world().await;
    let d = authorize(&w, "tv", "openid").await;
    complete(&w, &d.user_code, true).await.unwrap();
    let tokens = poll(&w, "tv", &d.device_code, None).await.unwrap();
    assert!(tokens.refresh_token.is_none());
    assert!(tokens.id_token.is_some());
}

#[tokio::test]
async fn denial_answers_access_denied() {
    let w = world().await;
    let d = authorize(&w, "tv", "openid").await;
    assert_eq!(
        complete(&w, &d.user_code, false).await.unwrap(),
        DeviceOutcome::Denied
    );
    let key = TokenHash::of(&d.device_code).to_key();
    assert_eq!(
        w.store.get::<DeviceToken>(&key).await.unwrap().value.status,
        DeviceTokenStatus::Denied
    );
    assert_eq!(
        code_of(poll(&w, "tv", &d.device_code, None).await),
        ErrorCode::AccessDenied
    );
    advance(&w, 10);
    assert_eq!(
        code_of(poll(&w, "tv", &d.device_code, None).await),
        ErrorCode::AccessDenied
    );
    // The user code is used up.
    assert_eq!(
        w.engine.verify_user_code(&d.user_code).await.unwrap(),
        UserCodeCheck::Invalid
    );
}

#[tokio::test]
async fn other_callback_errors_leave_the_request_pending() {
    let w = world().await;
    let d = authorize(&w, "tv", "openid").await;
    let binding = bind(&w, &d.user_code).await;
    assert_eq!(
        display_status(
            w.engine
                .device_callback(
                    &d.user_code,
                    DeviceCallback::Error("invalid_scope"),
                    &binding
                )
                .await
        ),
        400
    );
    advance(&w, 5);
    assert_eq!(
        code_of(poll(&w, "tv", &d.device_code, None).await),
        ErrorCode::AuthorizationPending
    );
    // The user can still approve.
    complete(&w, &d.user_code, true).await.unwrap();
    assert!(poll(&w, "tv", &d.device_code, None).await.is_ok());
}

#[tokio::test]
async fn expiry_answers_expired_token() {
    let w = world().await;
    let d = authorize(&w, "tv", "openid").await;
    advance(&w, 299);
    assert_eq!(
        code_of(poll(&w, "tv", &d.device_code, None).await),
        ErrorCode::AuthorizationPending
    );
    advance(&w, 1);
    assert_eq!(
        code_of(poll(&w, "tv", &d.device_code, None).await),
        ErrorCode::ExpiredToken
    );
    assert_eq!(
        w.engine.verify_user_code(&d.user_code).await.unwrap(),
        UserCodeCheck::Invalid
    );
    // Once collected, the code is simply unknown.
    advance(&w, 1);
    w.store.garbage_collect(w.clock_now()).await.unwrap();
    assert_eq!(
        code_of(poll(&w, "tv", &d.device_code, None).await),
        ErrorCode::InvalidGrant
    );
}

impl World {
    fn clock_now(&self) -> DateTime<Utc> {
        use oxidex_core::clock::Clock;
        self.clock.now()
    }
}

#[tokio::test]
async fn token_request_errors_and_client_binding() {
    let w = world().await;
    let d = authorize(&w, "tv", "openid").await;
    advance(&w, 5);
    // Missing device_code.
    assert_eq!(
        code_of(
            w.engine
                .token(&token_request(
                    &[("grant_type", grant::DEVICE_CODE)],
                    creds("tv", None),
                ))
                .await
        ),
        ErrorCode::InvalidRequest
    );
    // No client.
    assert_eq!(
        code_of(
            w.engine
                .token(&token_request(
                    &[
                        ("grant_type", grant::DEVICE_CODE),
                        ("device_code", &d.device_code),
                    ],
                    None,
                ))
                .await
        ),
        ErrorCode::InvalidClient
    );
    // Unknown device code.
    assert_eq!(
        code_of(poll(&w, "tv", "not-a-device-code", None).await),
        ErrorCode::InvalidGrant
    );
    // Another client's device code, before and after approval.
    assert_eq!(
        code_of(poll(&w, "other-tv", &d.device_code, None).await),
        ErrorCode::InvalidGrant
    );
    complete(&w, &d.user_code, true).await.unwrap();
    assert_eq!(
        code_of(poll(&w, "other-tv", &d.device_code, None).await),
        ErrorCode::InvalidGrant
    );
    // The rightful client still gets its tokens.
    assert!(poll(&w, "tv", &d.device_code, None).await.is_ok());

    // A confidential client polls with its secret.
    let mut r = device_request("cli", "openid");
    r.client = creds("cli", Some("cli-secret"));
    let d = w.engine.device_authorization(&r).await.unwrap();
    complete(&w, &d.user_code, true).await.unwrap();
    assert_eq!(
        code_of(poll(&w, "cli", &d.device_code, None).await),
        ErrorCode::InvalidClient
    );
    assert!(
        w.engine
            .token(&token_request(
                &[
                    ("grant_type", grant::DEVICE_CODE),
                    ("device_code", &d.device_code),
                ],
                creds("cli", Some("cli-secret")),
            ))
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_polls_get_tokens_once() {
    let w = world().await;
    let d = authorize(&w, "tv", "openid offline_access").await;
    complete(&w, &d.user_code, true).await.unwrap();
    let w = Arc::new(w);
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (w, barrier, code) = (w.clone(), barrier.clone(), d.device_code.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                poll(&w, "tv", &code, None).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{results:?}");
    for r in results.iter().filter(|r| r.is_err()) {
        assert_eq!(r.as_ref().unwrap_err().code, ErrorCode::InvalidGrant);
    }
}

#[tokio::test]
async fn pkce_is_checked_at_the_poll() {
    let w = world().await;
    let mut r = device_request("tv", "openid");
    r.code_challenge = CHALLENGE.into();
    r.code_challenge_method = "S256".into();
    let d = w.engine.device_authorization(&r).await.unwrap();
    complete(&w, &d.user_code, true).await.unwrap();
    assert_eq!(
        code_of(poll(&w, "tv", &d.device_code, None).await),
        ErrorCode::InvalidGrant,
        "verifier missing"
    );
    assert_eq!(
        code_of(
            poll(
                &w,
                "tv",
                &d.device_code,
                Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK")
            )
            .await
        ),
        ErrorCode::InvalidGrant,
        "wrong verifier"
    );
    // A failed check does not use the device code up.
    assert!(poll(&w, "tv", &d.device_code, Some(VERIFIER)).await.is_ok());

    // A verifier without a challenge.
    let d = authorize(&w, "tv", "openid").await;
    complete(&w, &d.user_code, true).await.unwrap();
    assert_eq!(
        code_of(poll(&w, "tv", &d.device_code, Some(VERIFIER)).await),
        ErrorCode::InvalidRequest
    );
}

#[tokio::test]
async fn the_callback_binds_the_code_to_the_device_client_and_redirect() {
    let w = world().await;
    let d = authorize(&w, "tv", "openid").await;
    let binding = bind(&w, &d.user_code).await;

    // A code the same public client got for another redirect URI (loopback).
    let loopback = AuthorizeParams {
        client_id: "tv".into(),
        redirect_uri: "http://127.0.0.1:8000/cb".into(),
        response_type: "code".into(),
        scope: "openid".into(),
        state: d.user_code.clone(),
        ..AuthorizeParams::default()
    };
    let url = browser_login(&w, &loopback, "users", true).await.url;
    let code = query_param(&url, "code").unwrap();
    assert_eq!(
        display_status(
            w.engine
                .device_callback(&d.user_code, DeviceCallback::Code(&code), &binding)
                .await
        ),
        400
    );

    // A code another client got through its own device leg (Dex #4928).
    let theirs = authorize(&w, "other-tv", "openid").await;
    let (p, _) = continue_from_user_code(&w, &theirs.user_code).await;
    let url = browser_login(&w, &p, "users", true).await.url;
    let code = query_param(&url, "code").unwrap();
    assert_eq!(
        display_status(
            w.engine
                .device_callback(&d.user_code, DeviceCallback::Code(&code), &binding)
                .await
        ),
        400
    );
    advance(&w, 5);
    assert_eq!(
        code_of(poll(&w, "tv", &d.device_code, None).await),
        ErrorCode::AuthorizationPending,
        "nothing was recorded"
    );

    // A garbage code, and an unknown user code.
    assert_eq!(
        display_status(
            w.engine
                .device_callback(&d.user_code, DeviceCallback::Code("nope"), &binding)
                .await
        ),
        400
    );
    assert_eq!(
        display_status(
            w.engine
                .device_callback("BCDF-XXXX", DeviceCallback::Code("nope"), &binding)
                .await
        ),
        400
    );
}

#[tokio::test]
async fn a_second_completion_is_refused() {
    let w = world().await;
    let d = authorize(&w, "tv", "openid").await;
    // Two browser sessions for the same user code reach the approval page.
    let (p, binding) = continue_from_user_code(&w, &d.user_code).await;
    let first = browser_login(&w, &p, "users", true).await.url;
    let second = browser_login(&w, &p, "users", true).await.url;
    let code = |url: &str| query_param(url, "code").unwrap();
    w.engine
        .device_callback(&d.user_code, DeviceCallback::Code(&code(&first)), &binding)
        .await
        .unwrap();
    assert_eq!(
        display_status(
            w.engine
                .device_callback(&d.user_code, DeviceCallback::Code(&code(&second)), &binding)
                .await
        ),
        400
    );
    assert_eq!(
        display_status(
            w.engine
                .device_callback(
                    &d.user_code,
                    DeviceCallback::Error("access_denied"),
                    &binding
                )
                .await
        ),
        400,
        "a denial after approval changes nothing"
    );
    assert!(poll(&w, "tv", &d.device_code, None).await.is_ok());
    // The auth code itself is single-use too.
    assert_eq!(
        display_status(
            w.engine
                .device_callback(&d.user_code, DeviceCallback::Code(&code(&first)), &binding)
                .await
        ),
        400
    );
}

#[tokio::test]
async fn connector_policy_applies_to_the_device_grant() {
    let w = world().await;
    // The chooser hides connectors that refuse the device grant.
    let tv = w.store.get::<Client>("tv").await.unwrap().value;
    let ids: Vec<String> = w
        .engine
        .connectors_for(&tv, grant::DEVICE_CODE)
        .iter()
        .map(|c| c.record.id.clone())
        .collect();
    assert_eq!(ids, ["users"]);
    // Starting a login there is refused.
    let d = authorize(&w, "tv", "openid").await;
    let (p, _) = continue_from_user_code(&w, &d.user_code).await;
    let validated = w.engine.validate_authorize(&p).await.unwrap();
    assert_eq!(validated.grant_type(), grant::DEVICE_CODE);
    assert_eq!(
        display_status(w.engine.begin_login(&validated, "no-device").await),
        400
    );
    // A client limited to that connector has no way through.
    let d = authorize(&w, "restricted", "openid").await;
    let (p, _) = continue_from_user_code(&w, &d.user_code).await;
    let validated = w.engine.validate_authorize(&p).await.unwrap();
    assert!(
        w.engine
            .connectors_for(&validated.client, validated.grant_type())
            .is_empty()
    );
    assert_eq!(
        display_status(w.engine.begin_login(&validated, "users").await),
        403
    );
}

#[tokio::test]
async fn only_the_browser_that_entered_the_user_code_can_answer() {
    let w = world().await;
    let d = authorize(&w, "tv", "openid").await;
    // Someone sends the victim a ready-made login link for their own device's user code:
    // the victim never enters the code, so their browser has no binding.
    let phishing = AuthorizeParams {
        client_id: "tv".into(),
        redirect_uri: CALLBACK.into(),
        response_type: "code".into(),
        scope: "openid".into(),
        state: d.user_code.clone(),
        ..AuthorizeParams::default()
    };
    let validated = w.engine.validate_authorize(&phishing).await.unwrap();
    assert!(
        validated.force_approval,
        "the device flow always shows the approval page"
    );
    let url = browser_login(&w, &phishing, "users", true).await.url;
    let code = query_param(&url, "code").unwrap();
    for binding in ["", "guessed"] {
        assert_eq!(
            display_status(
                w.engine
                    .device_callback(&d.user_code, DeviceCallback::Code(&code), binding)
                    .await
            ),
            400
        );
        assert_eq!(
            display_status(
                w.engine
                    .device_callback(
                        &d.user_code,
                        DeviceCallback::Error("access_denied"),
                        binding
                    )
                    .await
            ),
            400,
            "nor can anyone else deny it"
        );
    }
    advance(&w, 5);
    assert_eq!(
        code_of(poll(&w, "tv", &d.device_code, None).await),
        ErrorCode::AuthorizationPending,
        "nothing was recorded"
    );
    // A browser that entered the code binds it; an older binding is replaced.
    let old = bind(&w, &d.user_code).await;
    let (p, current) = continue_from_user_code(&w, &d.user_code).await;
    let url = browser_login(&w, &p, "users", true).await.url;
    let code = query_param(&url, "code").unwrap();
    assert_eq!(
        display_status(
            w.engine
                .device_callback(&d.user_code, DeviceCallback::Code(&code), &old)
                .await
        ),
        400
    );
    let (p, current_again) = (p, current);
    let url = browser_login(&w, &p, "users", true).await.url;
    let code = query_param(&url, "code").unwrap();
    w.engine
        .device_callback(&d.user_code, DeviceCallback::Code(&code), &current_again)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_browser_leg_cannot_widen_the_device_scopes() {
    let w = world().await;
    let d = authorize(&w, "tv", "openid").await;
    let (mut p, binding) = continue_from_user_code(&w, &d.user_code).await;
    p.scope = "openid groups offline_access".into();
    let url = browser_login(&w, &p, "users", true).await.url;
    let code = query_param(&url, "code").unwrap();
    assert_eq!(
        display_status(
            w.engine
                .device_callback(&d.user_code, DeviceCallback::Code(&code), &binding)
                .await
        ),
        400
    );
}
