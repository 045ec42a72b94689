//! The protocol engine end to end over real storage, without HTTP: each protocol rule has a
//! case that fails if the rule breaks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod support;

use std::sync::Arc;

use chrono::Duration;
use oxidex_core::clock::Clock;
use oxidex_core::codec::{RefreshTokenValue, Subject};
use oxidex_core::jose::{b64url, b64url_decode};
use oxidex_core::oauth::{
    AuthorizationResponse, AuthorizeError, AuthorizeParams, ClientCredentials, ErrorCode,
    LoginStart, Next, PasswordOutcome, Settings, TokenResponse, grant,
};

use support::world::{
    ISSUER, Parts, REDIRECT, VERIFIER, World, app, browser_login, claims, clients, params,
    query_param, start, token_request,
};

async fn world_with(tweak: impl FnOnce(&mut Settings)) -> World {
    let parts = Parts::new(clients()).await;
    let users = parts.users_connector("users", &[]);
    parts.engine([users], |settings| {
        settings.grant_types.insert(grant::PASSWORD.into());
        settings.password_connector = Some("users".into());
        tweak(settings);
    })
}

async fn world() -> World {
    world_with(|_| {}).await
}

/// Runs the browser flow through approval and returns the code.
async fn login(w: &World, p: &AuthorizeParams) -> String {
    let approved = browser_login(w, p, "users", true).await;
    assert_eq!(approved.client_name, "The App");
    let url = approved.url;
    assert!(url.starts_with(&format!("{REDIRECT}?code=")), "{url}");
    assert_eq!(query_param(&url, "state").as_deref(), Some("xyz state"));
    query_param(&url, "code").unwrap()
}

async fn redeem(w: &World, code: &str) -> Result<TokenResponse, oxidex_core::oauth::OAuthError> {
    w.engine
        .token(&token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
            app(),
        ))
        .await
}

#[tokio::test]
async fn code_flow_with_pkce_issues_dex_shaped_tokens() {
    let w = world().await;
    let code = login(
        &w,
        &params("openid email profile groups offline_access federated:id"),
    )
    .await;
    let response = redeem(&w, &code).await.unwrap();
    assert_eq!(response.token_type, "bearer");
    assert_eq!(response.expires_in, 86_400);
    assert!(response.refresh_token.is_some());
    let id = claims(&w, response.id_token.as_deref().unwrap()).await;
    assert_eq!(id["iss"], ISSUER);
    assert_eq!(
        id["sub"],
        Subject {
            user_id: "jane-id".into(),
            connector_id: "users".into()
        }
        .encode()
    );
    assert_eq!(id["aud"], "app");
    assert!(id.get("azp").is_none());
    assert_eq!(id["nonce"], "n-0S6");
    assert_eq!(id["email"], "jane@example.com");
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["groups"], serde_json::json!(["admins"]));
    assert_eq!(id["name"], "Jane Doe");
    assert_eq!(id["preferred_username"], "jane");
    assert_eq!(
        id["federated_claims"],
        serde_json::json!({"connector_id": "users", "user_id": "jane-id"})
    );
    assert_eq!(
        id["exp"].as_i64().unwrap() - id["iat"].as_i64().unwrap(),
        86_400
    );
    let half = |v: &str| {
        let d = ring::digest::digest(&ring::digest::SHA256, v.as_bytes());
        b64url(&d.as_ref()[..16])
    };
    assert_eq!(id["at_hash"], half(&response.access_token));
    assert_eq!(id["c_hash"], half(&code));

    // The access token carries the same user claims and works at userinfo.
    let info = w.engine.userinfo(&response.access_token).await.unwrap();
    assert_eq!(info["sub"], id["sub"]);
    assert_eq!(info["email"], "jane@example.com");
}

#[tokio::test]
async fn claims_follow_scopes() {
    let w = world().await;
    let code = login(&w, &params("openid")).await;
    let response = redeem(&w, &code).await.unwrap();
    assert!(
        response.refresh_token.is_none(),
        "no offline_access, no refresh token"
    );
    let id = claims(&w, response.id_token.as_deref().unwrap()).await;
    for absent in [
        "email",
        "email_verified",
        "groups",
        "name",
        "preferred_username",
        "federated_claims",
    ] {
        assert!(
            id.get(absent).is_none(),
            "{absent} present without its scope"
        );
    }
}

#[tokio::test]
async fn authorization_request_errors_follow_dex() {
    let w = world().await;
    let check_display = |r: Result<_, AuthorizeError>, status: u16| match r {
        Err(AuthorizeError::Display { status: s, .. }) => assert_eq!(s, status),
        other => panic!("expected a displayed {status}, got {other:?}"),
    };
    let mut p = params("openid");
    p.client_id = "nobody".into();
    check_display(w.engine.validate_authorize(&p).await, 404);
    let mut p = params("openid");
    p.redirect_uri = "https://evil.example/callback".into();
    check_display(w.engine.validate_authorize(&p).await, 400);
    let mut p = params("openid");
    p.redirect_uri = "https%3A%2F%2Fapp.example%2Fcallback".into();
    check_display(w.engine.validate_authorize(&p).await, 400);

    let redirected = |r: Result<_, AuthorizeError>, code: &str| match r {
        Err(AuthorizeError::Redirect { url, error }) => {
            assert_eq!(error.code.as_str(), code);
            assert!(url.starts_with(REDIRECT), "{url}");
            assert_eq!(query_param(&url, "error").as_deref(), Some(code));
            assert_eq!(query_param(&url, "state").as_deref(), Some("xyz state"));
        }
        other => panic!("expected redirect with {code}, got {other:?}"),
    };
    redirected(
        w.engine.validate_authorize(&params("email")).await,
        "invalid_scope",
    );
    redirected(
        w.engine.validate_authorize(&params("openid bogus")).await,
        "invalid_scope",
    );
    redirected(
        w.engine
            .validate_authorize(&params("openid audience:server:client_id:kubectl"))
            .await,
        "invalid_scope",
    );
    let mut p = params("openid");
    p.request = "eyJ...".into();
    redirected(
        w.engine.validate_authorize(&p).await,
        "request_not_supported",
    );
    let mut p = params("openid");
    p.response_type = "token".into();
    redirected(
        w.engine.validate_authorize(&p).await,
        "unsupported_response_type",
    );
    let mut p = params("openid");
    p.response_type = "code magic".into();
    redirected(w.engine.validate_authorize(&p).await, "invalid_request");
    let mut p = params("openid");
    p.response_type = "id_token".into();
    redirected(
        w.engine.validate_authorize(&p).await,
        "unsupported_response_type",
    );
    let mut p = params("openid");
    p.response_type = "".into();
    redirected(w.engine.validate_authorize(&p).await, "invalid_request");
    let mut p = params("openid");
    p.code_challenge_method = "S512".into();
    redirected(w.engine.validate_authorize(&p).await, "invalid_request");
    let mut p = params("openid");
    p.connector_id = "missing".into();
    redirected(w.engine.validate_authorize(&p).await, "invalid_request");
}

#[tokio::test]
async fn token_endpoint_refuses_bad_redemptions() {
    let w = world().await;
    let code = login(&w, &params("openid")).await;
    let bad = |pairs: &[(&str, &str)], client| token_request(pairs, client);
    // Wrong secret.
    let err = w
        .engine
        .token(&bad(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
            Some(ClientCredentials {
                id: "app".into(),
                secret: Some("nope".into()),
            }),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidClient);
    // No credentials at all.
    let err = w
        .engine
        .token(&bad(
            &[("grant_type", "authorization_code"), ("code", &code)],
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidClient);
    // Wrong redirect URI.
    let err = w
        .engine
        .token(&bad(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://app.example/other"),
                ("code_verifier", VERIFIER),
            ],
            app(),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidRequest);
    // Wrong verifier, and none.
    let err = w
        .engine
        .token(&bad(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &"x".repeat(43)),
            ],
            app(),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
    let err = w
        .engine
        .token(&bad(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
            app(),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
    // Unknown and disabled grants.
    let err = w
        .engine
        .token(&bad(&[("grant_type", "magic")], app()))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::UnsupportedGrantType);
    let err = w
        .engine
        .token(&bad(&[("grant_type", grant::DEVICE_CODE)], app()))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::UnsupportedGrantType);
    // The code still works after all that.
    redeem(&w, &code).await.unwrap();
}

#[tokio::test]
async fn expired_code_is_refused() {
    let w = world().await;
    let code = login(&w, &params("openid")).await;
    w.clock.advance(Duration::minutes(31));
    assert_eq!(
        redeem(&w, &code).await.unwrap_err().code,
        ErrorCode::InvalidGrant
    );
}

#[tokio::test]
async fn code_reuse_is_refused_and_revokes_the_refresh_token_it_issued() {
    let w = world().await;
    let code = login(&w, &params("openid offline_access")).await;
    let first = redeem(&w, &code).await.unwrap();
    let err = redeem(&w, &code).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
    let err = refresh(&w, first.refresh_token.as_deref().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::InvalidGrant,
        "family revoked by the code reuse"
    );
}

#[tokio::test]
async fn concurrent_redemptions_let_exactly_one_through() {
    let w = Arc::new(world().await);
    let code = login(&w, &params("openid")).await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (w, code) = (w.clone(), code.clone());
        tasks.push(tokio::spawn(async move { redeem(&w, &code).await.is_ok() }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 1);
}

async fn refresh(w: &World, token: &str) -> Result<TokenResponse, oxidex_core::oauth::OAuthError> {
    w.engine
        .token(&token_request(
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
            app(),
        ))
        .await
}

#[tokio::test]
async fn refresh_rotates_and_honours_the_reuse_interval() {
    let w = world().await;
    let code = login(&w, &params("openid groups offline_access")).await;
    let first = redeem(&w, &code).await.unwrap().refresh_token.unwrap();

    w.clock.advance(Duration::minutes(1));
    let second = refresh(&w, &first).await.unwrap();
    let second_token = second.refresh_token.clone().unwrap();
    assert_ne!(second_token, first, "rotated");
    let a = RefreshTokenValue::decode(&first).unwrap();
    let b = RefreshTokenValue::decode(&second_token).unwrap();
    assert_eq!(a.id, b.id, "same family");
    let id = claims(&w, second.id_token.as_deref().unwrap()).await;
    assert_eq!(
        id["groups"],
        serde_json::json!(["admins", "refreshed"]),
        "identity refreshed upstream"
    );
    assert_eq!(id["nonce"], "n-0S6", "nonce kept on refresh");

    // A retry with the previous token within the interval gets the same current token.
    w.clock.advance(Duration::seconds(2));
    let retry = refresh(&w, &first).await.unwrap();
    assert_eq!(retry.refresh_token.as_deref(), Some(second_token.as_str()));

    // Outside the interval, the previous token is a replay: the whole family is revoked.
    w.clock.advance(Duration::seconds(5));
    assert_eq!(
        refresh(&w, &first).await.unwrap_err().code,
        ErrorCode::InvalidGrant
    );
    assert_eq!(
        refresh(&w, &second_token).await.unwrap_err().code,
        ErrorCode::InvalidGrant,
        "current token revoked with its family"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_ask_the_upstream_once_and_rotate_once() {
    let w = Arc::new(world().await);
    let code = login(&w, &params("openid groups offline_access")).await;
    let first = redeem(&w, &code).await.unwrap().refresh_token.unwrap();
    w.clock.advance(Duration::minutes(1));

    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (w, first) = (w.clone(), first.clone());
        tasks.push(tokio::spawn(async move { refresh(&w, &first).await }));
    }
    let mut issued = std::collections::BTreeSet::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => {
                issued.insert(r.refresh_token.unwrap());
            }
            Err(e) => assert_eq!(e.code, ErrorCode::InvalidGrant, "{e:?}"),
        }
    }
    assert_eq!(
        w.users.refreshes.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the upstream is asked once"
    );
    assert_eq!(issued.len(), 1, "exactly one rotation: {issued:?}");
    assert!(!issued.contains(&first), "rotated");
}

#[tokio::test]
async fn a_failed_upstream_refresh_releases_its_lease() {
    let w = world().await;
    let code = login(&w, &params("openid offline_access")).await;
    let token = redeem(&w, &code).await.unwrap().refresh_token.unwrap();
    w.clock.advance(Duration::minutes(1));
    w.users
        .refuse_refresh
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        refresh(&w, &token).await.unwrap_err().code,
        ErrorCode::InvalidGrant
    );
    w.users
        .refuse_refresh
        .store(false, std::sync::atomic::Ordering::SeqCst);
    // No wait for a 30-second lease: the next attempt asks the upstream at once.
    let refreshed = tokio::time::timeout(std::time::Duration::from_secs(5), refresh(&w, &token))
        .await
        .expect("no lease left behind");
    assert!(refreshed.is_ok());
}

#[tokio::test]
async fn refresh_scope_narrowing_client_binding_and_upstream_refusal() {
    let w = world().await;
    let code = login(&w, &params("openid email offline_access")).await;
    let token = redeem(&w, &code).await.unwrap().refresh_token.unwrap();
    w.clock.advance(Duration::minutes(1));
    let err = w
        .engine
        .token(&token_request(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &token),
                ("scope", "openid groups"),
            ],
            app(),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidScope);
    let err = w
        .engine
        .token(&token_request(
            &[("grant_type", "refresh_token"), ("refresh_token", &token)],
            Some(ClientCredentials {
                id: "kubernetes".into(),
                secret: Some("k8s-secret".into()),
            }),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant, "another client's token");
    let narrowed = w
        .engine
        .token(&token_request(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &token),
                ("scope", "openid"),
            ],
            app(),
        ))
        .await
        .unwrap();
    let id = claims(&w, narrowed.id_token.as_deref().unwrap()).await;
    assert!(
        id.get("email").is_none(),
        "narrowed scope drops the email claim"
    );

    w.users
        .refuse_refresh
        .store(true, std::sync::atomic::Ordering::SeqCst);
    w.clock.advance(Duration::minutes(1));
    let err = refresh(&w, narrowed.refresh_token.as_deref().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::InvalidGrant,
        "upstream refusal is invalid_grant, not 500"
    );
    assert_eq!(
        refresh(&w, "garbage").await.unwrap_err().code,
        ErrorCode::InvalidGrant
    );
}

#[tokio::test]
async fn refresh_lifetimes() {
    let w = world_with(|s| {
        s.refresh.absolute_lifetime = Some(Duration::hours(10));
        s.refresh.valid_if_not_used_for = Some(Duration::hours(2));
    })
    .await;
    let code = login(&w, &params("openid offline_access")).await;
    let token = redeem(&w, &code).await.unwrap().refresh_token.unwrap();
    w.clock.advance(Duration::hours(3));
    assert_eq!(
        refresh(&w, &token).await.unwrap_err().code,
        ErrorCode::InvalidGrant,
        "idle"
    );

    let code = login(&w, &params("openid offline_access")).await;
    let mut token = redeem(&w, &code).await.unwrap().refresh_token.unwrap();
    for _ in 0..5 {
        w.clock.advance(Duration::minutes(110));
        token = refresh(&w, &token).await.unwrap().refresh_token.unwrap();
    }
    w.clock.advance(Duration::minutes(110));
    assert_eq!(
        refresh(&w, &token).await.unwrap_err().code,
        ErrorCode::InvalidGrant,
        "absolute"
    );
}

#[tokio::test]
async fn second_login_keeps_the_first_family() {
    let w = world().await;
    let one = redeem(&w, &login(&w, &params("openid offline_access")).await)
        .await
        .unwrap();
    let two = redeem(&w, &login(&w, &params("openid offline_access")).await)
        .await
        .unwrap();
    w.clock.advance(Duration::minutes(1));
    refresh(&w, one.refresh_token.as_deref().unwrap())
        .await
        .unwrap();
    refresh(&w, two.refresh_token.as_deref().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn password_grant() {
    let w = world().await;
    let ok = w
        .engine
        .token(&token_request(
            &[
                ("grant_type", "password"),
                ("username", "jane"),
                ("password", "secret"),
                ("scope", "openid email offline_access"),
                ("nonce", "abc"),
            ],
            app(),
        ))
        .await
        .unwrap();
    assert!(ok.refresh_token.is_some());
    let id = claims(&w, ok.id_token.as_deref().unwrap()).await;
    assert_eq!(id["email"], "jane@example.com");
    assert_eq!(id["nonce"], "abc");
    let err = w
        .engine
        .token(&token_request(
            &[
                ("grant_type", "password"),
                ("username", "jane"),
                ("password", "nope"),
                ("scope", "openid"),
            ],
            app(),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
    let err = w
        .engine
        .token(&token_request(
            &[
                ("grant_type", "password"),
                ("username", "jane"),
                ("password", "secret"),
                ("scope", "email"),
            ],
            app(),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidRequest, "openid required");
}

#[tokio::test]
async fn public_loopback_client_and_cross_client_audience() {
    let w = world().await;
    let mut p = params("openid");
    p.client_id = "kubectl".into();
    p.redirect_uri = "http://127.0.0.1:18000/callback".into();
    let validated = w.engine.validate_authorize(&p).await.unwrap();
    assert_eq!(validated.redirect_uri, "http://127.0.0.1:18000/callback");
    let mut p = params("openid");
    p.client_id = "kubectl".into();
    p.redirect_uri = "https://127.0.0.1:18000/callback".into();
    assert!(matches!(
        w.engine.validate_authorize(&p).await,
        Err(AuthorizeError::Display { status: 400, .. })
    ));

    // app may mint for kubernetes, which trusts it.
    let code = login(&w, &params("openid audience:server:client_id:kubernetes")).await;
    let response = redeem(&w, &code).await.unwrap();
    let id = claims(&w, response.id_token.as_deref().unwrap()).await;
    assert_eq!(id["aud"], serde_json::json!(["kubernetes", "app"]));
    assert_eq!(id["azp"], "app");
}

#[tokio::test]
async fn denied_approval_redirects_access_denied_and_macs_are_enforced() {
    let w = world().await;
    let validated = w
        .engine
        .validate_authorize(&params("openid"))
        .await
        .unwrap();
    let LoginStart::Password { state } = w.engine.begin_login(&validated, "users").await.unwrap()
    else {
        panic!();
    };
    // Before login there is no valid continue step, whatever MAC is presented.
    assert!(w.engine.continue_login(&state, "AAAA").await.is_err());
    let PasswordOutcome::LoggedIn(cont) = w
        .engine
        .password_login(&state, "users", "jane", "secret")
        .await
        .unwrap()
    else {
        panic!();
    };
    // The continue MAC does not authorise approval, and a MAC of another request is useless.
    assert!(matches!(
        w.engine.decide_approval(&cont.req, &cont.hmac, true).await,
        Err(AuthorizeError::Display { status: 401, .. })
    ));
    let Next::Approval(prompt) = w
        .engine
        .continue_login(&cont.req, &cont.hmac)
        .await
        .unwrap()
    else {
        panic!();
    };
    let AuthorizationResponse::Redirect(url) = w
        .engine
        .decide_approval(&prompt.req, &prompt.hmac, false)
        .await
        .unwrap()
    else {
        panic!();
    };
    assert_eq!(query_param(&url, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&url, "state").as_deref(), Some("xyz state"));
    // The request is gone: replaying approval fails.
    assert!(
        w.engine
            .decide_approval(&prompt.req, &prompt.hmac, true)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn skip_approval_and_implicit_hybrid_responses() {
    let w = world_with(|s| {
        s.skip_approval = true;
        s.response_types.insert("id_token".into());
        s.response_types.insert("token".into());
        s.grant_types.insert(grant::IMPLICIT.into());
    })
    .await;
    // With token enabled: alone it is still invalid, and implicit needs a nonce.
    let mut p = params("openid");
    p.response_type = "token".into();
    assert!(matches!(
        w.engine.validate_authorize(&p).await,
        Err(AuthorizeError::Redirect { error, .. }) if error.code == ErrorCode::InvalidRequest
    ));
    let mut p = params("openid");
    p.response_type = "id_token".into();
    p.nonce.clear();
    assert!(matches!(
        w.engine.validate_authorize(&p).await,
        Err(AuthorizeError::Redirect { error, .. }) if error.code == ErrorCode::InvalidRequest
    ));
    let mut p = params("openid");
    p.response_type = "code id_token token".into();
    let validated = w.engine.validate_authorize(&p).await.unwrap();
    let LoginStart::Password { state } = w.engine.begin_login(&validated, "users").await.unwrap()
    else {
        panic!();
    };
    let PasswordOutcome::LoggedIn(cont) = w
        .engine
        .password_login(&state, "users", "jane", "secret")
        .await
        .unwrap()
    else {
        panic!();
    };
    let Next::Respond(AuthorizationResponse::Redirect(url)) = w
        .engine
        .continue_login(&cont.req, &cont.hmac)
        .await
        .unwrap()
    else {
        panic!("approval skipped");
    };
    let fragment = url.split_once('#').unwrap().1;
    for key in [
        "code=",
        "access_token=",
        "token_type=bearer",
        "id_token=",
        "expires_in=",
    ] {
        assert!(fragment.contains(key), "{key} missing in {fragment}");
    }
    let id_token = query_param(&url, "id_token").unwrap();
    let code = query_param(&url, "code").unwrap();
    let id = claims(&w, &id_token).await;
    let c_hash =
        b64url(&ring::digest::digest(&ring::digest::SHA256, code.as_bytes()).as_ref()[..16]);
    assert_eq!(id["c_hash"], c_hash);
    assert!(b64url_decode(id["at_hash"].as_str().unwrap()).is_some());
}

#[tokio::test]
async fn userinfo_refuses_bad_and_expired_tokens() {
    let w = world().await;
    let code = login(&w, &params("openid")).await;
    let token = redeem(&w, &code).await.unwrap().access_token;
    assert_eq!(
        w.engine.userinfo("garbage").await.unwrap_err().code,
        ErrorCode::InvalidToken
    );
    let mut forged: Vec<&str> = token.split('.').collect();
    let payload = b64url(
        br#"{"iss":"https://issuer.example/dex","sub":"x","aud":"app","exp":9999999999,"iat":0}"#,
    );
    forged[1] = &payload;
    assert_eq!(
        w.engine.userinfo(&forged.join(".")).await.unwrap_err().code,
        ErrorCode::InvalidToken
    );
    w.clock.advance(Duration::hours(25));
    assert!(w.clock.now() > start());
    assert_eq!(
        w.engine.userinfo(&token).await.unwrap_err().code,
        ErrorCode::InvalidToken
    );
}
