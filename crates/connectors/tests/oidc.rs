//! The `oidc` connector against a scripted provider: every protocol check that must refuse a
//! login (signature, issuer, audience, expiry, nonce, e-mail rules, client authentication,
//! user-info subject), key rotation, refresh and token exchange. The whole flow against real
//! providers is in `bins/oxidex/tests/upstream_oidc.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod scripted_provider;

use oxidex_core::Error;
use oxidex_core::connector::{CallbackConnector, CallbackRequest, Connector, LoginMethod};
use oxidex_core::model::{ConnectorRecord, Identity, Scopes};
use scripted_provider::{Provider, Signer};
use serde_json::{Value, json};

async fn open(config: Value) -> Connector {
    oxidex_connectors::registry()
        .open(&ConnectorRecord {
            id: "upstream".into(),
            connector_type: "oidc".into(),
            name: "Upstream".into(),
            resource_version: String::new(),
            config,
            grant_types: vec![],
        })
        .await
        .unwrap()
}

fn callback(c: &Connector) -> &dyn CallbackConnector {
    match c.login() {
        LoginMethod::Callback(cb) => cb.as_ref(),
        other => panic!("callback connector expected, got {other:?}"),
    }
}

fn param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

const OFFLINE: Scopes = Scopes {
    offline_access: true,
    groups: true,
};

/// Runs a login: the redirect (its PKCE challenge and nonce handed to the provider), then
/// the callback with `good-code`.
async fn log_in(provider: &Provider, c: &Connector) -> Result<Identity, Error> {
    let cb = callback(c);
    let login = cb
        .login_url(OFFLINE, "ignored", "state-1")
        .await
        .expect("login URL");
    {
        let mut script = provider.script();
        script.nonce = param(&login.url, "nonce");
        script.code_challenge = param(&login.url, "code_challenge");
    }
    cb.handle_callback(
        OFFLINE,
        login.connector_data.as_deref(),
        &CallbackRequest {
            query: vec![
                ("code".into(), "good-code".into()),
                ("state".into(), "state-1".into()),
            ],
            headers: vec![],
        },
    )
    .await
}

/// Sets the provider up for one case.
type Arrange = Box<dyn Fn(&Provider)>;

fn operator_text(e: &Error) -> String {
    e.to_string()
}

#[tokio::test]
async fn login_sends_pkce_nonce_and_state_and_maps_the_verified_claims() {
    let p = Provider::start().await;
    let c = open(p.config()).await;
    let login = callback(&c)
        .login_url(OFFLINE, "ignored", "st&te")
        .await
        .unwrap();
    assert!(
        login.url.starts_with(&format!("{}/auth?", p.issuer)),
        "{}",
        login.url
    );
    assert_eq!(param(&login.url, "state"), "st&te");
    assert_eq!(param(&login.url, "client_id"), "oxidex");
    assert_eq!(
        param(&login.url, "redirect_uri"),
        scripted_provider::REDIRECT
    );
    assert_eq!(param(&login.url, "code_challenge_method"), "S256");
    assert_eq!(param(&login.url, "access_type"), "offline");
    assert_eq!(param(&login.url, "prompt"), "consent");
    assert_eq!(
        param(&login.url, "scope"),
        "openid profile email groups offline_access"
    );
    assert!(param(&login.url, "nonce").len() >= 20);

    let identity = log_in(&p, &c).await.unwrap();
    assert_eq!(identity.user_id, "user-1");
    assert_eq!(identity.username, "Jane Doe");
    assert_eq!(identity.preferred_username, "jane");
    assert_eq!(identity.email, "jane@example.com");
    assert!(identity.email_verified);
    assert_eq!(identity.groups, ["admins", "devs"]);
    assert_eq!(
        String::from_utf8(identity.connector_data.unwrap()).unwrap(),
        r#"{"RefreshToken":"cnQtMQ=="}"#,
        "Dex's connector data: the upstream refresh token"
    );
    // The secret went by HTTP Basic, with the verifier.
    let script = p.script();
    let (form, auth) = &script.token_requests[0];
    assert!(auth.starts_with("Basic "), "{auth}");
    assert!(!form.contains_key("client_secret"));
    assert!(form.contains_key("code_verifier"));
}

#[tokio::test]
async fn forged_expired_misaddressed_and_replayed_tokens_are_refused() {
    let p = Provider::start().await;
    let c = open(p.config()).await;
    let cases: Vec<(&str, Arrange, &str)> = vec![
        (
            "forged signature",
            Box::new(|p| p.script().sign_with = Signer::Rogue),
            "signature verification failed",
        ),
        (
            "expired (upstream clock behind)",
            Box::new(|p| {
                let mut s = p.script();
                s.claims["exp"] = json!(1_000_000_000);
                s.claims["iat"] = json!(999_999_000);
            }),
            "Expired",
        ),
        (
            "another client's token",
            Box::new(|p| p.script().claims["aud"] = json!("someone-else")),
            "audiences",
        ),
        (
            "another issuer",
            Box::new(|p| p.script().claims["iss"] = json!("https://evil.example.com")),
            "issuer",
        ),
        (
            "nonce of another login",
            Box::new(|p| p.script().claims["nonce"] = json!("replayed-nonce")),
            "nonce",
        ),
        (
            "no ID token",
            Box::new(|p| p.script().omit_id_token = true),
            "no id_token",
        ),
    ];
    for (what, arrange, expected) in cases {
        let fresh = Provider::start().await;
        arrange(&fresh);
        let c = open(fresh.config()).await;
        let err = log_in(&fresh, &c).await.expect_err(what);
        assert!(
            matches!(err, Error::Connector { .. }),
            "{what}: an upstream failure, got {err:?}"
        );
        let text = operator_text(&err);
        assert!(text.contains(expected), "{what}: {text}");
    }
    // The provider itself is fine: the same connector logs in.
    assert!(log_in(&p, &c).await.is_ok());
}

#[tokio::test]
async fn email_rules_refuse_unverified_and_missing_addresses() {
    let p = Provider::start().await;
    p.script().claims["email_verified"] = json!(false);
    let c = open(p.config()).await;
    let err = log_in(&p, &c).await.unwrap_err();
    let Error::LoginRefused {
        reason,
        user_message,
        ..
    } = &err
    else {
        panic!("refused expected, got {err:?}");
    };
    assert!(reason.contains("email_verified: false"), "{reason}");
    assert!(user_message.contains("not verified"), "{user_message}");

    let p = Provider::start().await;
    p.script().claims.as_object_mut().unwrap().remove("email");
    let c = open(p.config()).await;
    let err = log_in(&p, &c).await.unwrap_err();
    assert!(
        operator_text(&err).contains("missing \"email\" claim"),
        "{err}"
    );

    // insecureSkipEmailVerified: a missing email_verified counts as verified.
    let p = Provider::start().await;
    p.script()
        .claims
        .as_object_mut()
        .unwrap()
        .remove("email_verified");
    let mut config = p.config();
    config["insecureSkipEmailVerified"] = json!(true);
    let c = open(config).await;
    assert!(log_in(&p, &c).await.unwrap().email_verified);
}

#[tokio::test]
async fn a_wrong_client_secret_and_an_unreachable_provider_are_named() {
    let p = Provider::start().await;
    let mut config = p.config();
    config["clientSecret"] = json!("wrong");
    let c = open(config).await;
    let err = log_in(&p, &c).await.unwrap_err();
    assert!(operator_text(&err).contains("invalid_client"), "{err}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = p.config();
    config["issuer"] = json!(format!("http://127.0.0.1:{port}"));
    // Opening does not contact the provider: it may come up later.
    let c = open(config).await;
    let err = callback(&c)
        .login_url(OFFLINE, "ignored", "s")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UpstreamUnavailable { .. }),
        "temporary, so clients retry: {err:?}"
    );
    let text = operator_text(&err);
    assert!(
        text.contains("cannot reach the provider") && text.contains(&port.to_string()),
        "{text}"
    );

    let p = Provider::start().await;
    p.script().discovery_issuer = Some("https://other.example.com".into());
    let c = open(p.config()).await;
    let err = callback(&c)
        .login_url(OFFLINE, "ignored", "s")
        .await
        .unwrap_err();
    assert!(operator_text(&err).contains("issuerAlias"), "{err}");
}

#[tokio::test]
async fn a_rotated_provider_key_is_fetched_once() {
    let p = Provider::start().await;
    let c = open(p.config()).await;
    log_in(&p, &c).await.unwrap();
    assert_eq!(p.script().key_fetches, 1);
    {
        let mut s = p.script();
        s.published = 2;
        s.sign_with = Signer::Key(1);
    }
    log_in(&p, &c).await.unwrap();
    assert_eq!(
        p.script().key_fetches,
        2,
        "unknown kid: the key set is fetched again"
    );
}

#[tokio::test]
async fn groups_settings_filter_allow_and_rename() {
    let p = Provider::start().await;
    let mut config = p.config();
    config["allowedGroups"] = json!(["devs"]);
    config["claimModifications"] = json!({
        "modifyGroupNames": {"prefix": "up:"},
        "newGroupFromClaims": [{"claims": ["preferred_username"], "delimiter": "/", "prefix": "user"}],
    });
    let c = open(config).await;
    assert_eq!(
        log_in(&p, &c).await.unwrap().groups,
        ["up:devs", "user/jane"]
    );

    let mut config = p.config();
    config["allowedGroups"] = json!(["operators"]);
    let c = open(config).await;
    let err = log_in(&p, &c).await.unwrap_err();
    assert!(matches!(err, Error::LoginRefused { .. }), "{err:?}");

    // Without insecureEnableGroups no groups are read (Dex).
    let mut config = p.config();
    config["insecureEnableGroups"] = json!(false);
    let c = open(config).await;
    assert!(log_in(&p, &c).await.unwrap().groups.is_empty());
}

#[tokio::test]
async fn user_info_is_merged_only_for_the_same_subject() {
    let p = Provider::start().await;
    let mut config = p.config();
    config["getUserInfo"] = json!(true);
    let c = open(config).await;
    assert_eq!(log_in(&p, &c).await.unwrap().username, "Jane From Userinfo");
    p.script().userinfo = json!({"sub": "someone-else", "name": "Mallory"});
    let err = log_in(&p, &c).await.unwrap_err();
    assert!(operator_text(&err).contains("5.3.2"), "{err}");
}

#[tokio::test]
async fn hosted_domains_are_asked_for_and_enforced() {
    let p = Provider::start().await;
    let mut config = p.config();
    config["hostedDomains"] = json!(["example.com"]);
    let c = open(config).await;
    let login = callback(&c).login_url(OFFLINE, "", "s").await.unwrap();
    assert_eq!(param(&login.url, "hd"), "example.com");
    let err = log_in(&p, &c).await.unwrap_err();
    assert!(matches!(err, Error::LoginRefused { .. }), "{err:?}");
    p.script().claims["hd"] = json!("example.com");
    assert!(log_in(&p, &c).await.is_ok());
}

#[tokio::test]
async fn refresh_asks_the_provider_and_keeps_a_rotated_token() {
    let p = Provider::start().await;
    let c = open(p.config()).await;
    let identity = log_in(&p, &c).await.unwrap();
    {
        let mut s = p.script();
        s.refresh_token = "rt-2".into();
        s.claims["groups"] = json!(["admins"]);
        s.nonce.clear();
    }
    let refresher = c.refresh().unwrap();
    let refreshed = refresher.refresh(OFFLINE, identity).await.unwrap();
    assert_eq!(refreshed.groups, ["admins"], "groups read again");
    assert_eq!(
        String::from_utf8(refreshed.connector_data.clone().unwrap()).unwrap(),
        r#"{"RefreshToken":"cnQtMg=="}"#,
        "the rotated upstream refresh token is kept"
    );
    let (form, _) = p.script().token_requests.last().unwrap().clone();
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], "rt-1");

    // Without an ID token in the refresh answer, the identity is kept.
    p.script().omit_id_token = true;
    p.script().valid_refresh_tokens.push("rt-2".into());
    let kept = refresher.refresh(OFFLINE, refreshed.clone()).await.unwrap();
    assert_eq!(kept.user_id, "user-1");
    assert_eq!(kept.groups, ["admins"]);

    // The provider revoked the refresh token: the refresh fails (the engine answers
    // invalid_grant to our client).
    p.script().valid_refresh_tokens.clear();
    let err = refresher.refresh(OFFLINE, refreshed).await.unwrap_err();
    assert!(operator_text(&err).contains("invalid_grant"), "{err}");

    let err = refresher
        .refresh(OFFLINE, Identity::default())
        .await
        .unwrap_err();
    assert!(
        operator_text(&err).contains("no upstream refresh token"),
        "{err}"
    );
}

#[tokio::test]
async fn token_exchange_verifies_id_tokens_of_sibling_clients() {
    let p = Provider::start().await;
    let c = open(p.config()).await;
    let exchange = c.token_identity().unwrap();
    let sibling = p.id_token(&json!({
        "sub": "user-9", "name": "Sam", "aud": "kubectl", "email": "sam@example.com",
        "email_verified": true,
    }));
    let identity = exchange
        .token_identity(oxidex_connectors::oidc::ID_TOKEN_TYPE, &sibling)
        .await
        .unwrap();
    assert_eq!(identity.user_id, "user-9");

    p.script().sign_with = Signer::Rogue;
    let forged = p.id_token(&json!({"sub": "user-9", "name": "Sam", "aud": "kubectl"}));
    assert!(
        exchange
            .token_identity(oxidex_connectors::oidc::ID_TOKEN_TYPE, &forged)
            .await
            .is_err()
    );
    let err = exchange
        .token_identity(oxidex_connectors::oidc::ACCESS_TOKEN_TYPE, "at-1")
        .await
        .unwrap_err();
    assert!(operator_text(&err).contains("getUserInfo"), "{err}");
    let err = exchange
        .token_identity("urn:ietf:params:oauth:token-type:saml2", "x")
        .await
        .unwrap_err();
    assert!(operator_text(&err).contains("not supported"), "{err}");
}

#[tokio::test]
async fn the_provider_declining_is_a_refusal_not_a_failure() {
    let p = Provider::start().await;
    let c = open(p.config()).await;
    let cb = callback(&c);
    let login = cb.login_url(OFFLINE, "", "s").await.unwrap();
    let err = cb
        .handle_callback(
            OFFLINE,
            login.connector_data.as_deref(),
            &CallbackRequest {
                query: vec![
                    ("error".into(), "access_denied".into()),
                    ("state".into(), "s".into()),
                ],
                headers: vec![],
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LoginRefused { .. }), "{err:?}");
    assert!(
        p.script().token_requests.is_empty(),
        "no code, no token request"
    );
}

#[tokio::test]
async fn secrets_go_in_the_body_when_basic_auth_is_unsupported() {
    let p = Provider::start().await;
    let mut config = p.config();
    config["basicAuthUnsupported"] = json!(true);
    let c = open(config).await;
    log_in(&p, &c).await.unwrap();
    let (form, auth) = p.script().token_requests[0].clone();
    assert_eq!(form["client_secret"], scripted_provider::CLIENT_SECRET);
    assert!(auth.is_empty(), "{auth}");
}

#[tokio::test]
async fn client_authentication_is_detected_like_dex() {
    // The provider takes the secret only in the body; nothing configured: Basic is tried,
    // refused with invalid_client, then the body works and is remembered.
    let p = Provider::start().await;
    p.script().secret_in_body_only = true;
    let c = open(p.config()).await;
    log_in(&p, &c).await.unwrap();
    {
        let script = p.script();
        assert_eq!(script.token_requests.len(), 2);
        assert!(script.token_requests[0].1.starts_with("Basic "));
        assert_eq!(
            script.token_requests[1].0["client_secret"],
            scripted_provider::CLIENT_SECRET
        );
    }
    log_in(&p, &c).await.unwrap();
    assert_eq!(
        p.script().token_requests.len(),
        3,
        "the body style is remembered"
    );

    // basicAuthUnsupported: false fixes HTTP Basic: no second try.
    let p = Provider::start().await;
    p.script().secret_in_body_only = true;
    let mut config = p.config();
    config["basicAuthUnsupported"] = json!(false);
    let c = open(config).await;
    let err = log_in(&p, &c).await.unwrap_err();
    assert!(operator_text(&err).contains("invalid_client"), "{err}");
    assert_eq!(p.script().token_requests.len(), 1);
}

#[tokio::test]
async fn an_outage_at_the_token_endpoint_is_temporary() {
    let p = Provider::start().await;
    let c = open(p.config()).await;
    let identity = log_in(&p, &c).await.unwrap();
    p.script().token_outage = true;
    let err = c
        .refresh()
        .unwrap()
        .refresh(OFFLINE, identity)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UpstreamUnavailable { .. }),
        "a 503 is an outage, not a dead grant: {err:?}"
    );
    assert!(operator_text(&err).contains("503"), "{err}");
}
