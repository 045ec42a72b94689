//! The token-exchange grant (RFC 8693) through the engine, against a connector that really
//! verifies upstream JWTs (`support/upstream.rs`). Each rule of the grant has a case that fails
//! if the rule breaks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod support;

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use chrono::Duration;
use oxidex_core::codec::Subject;
use oxidex_core::model::Client;
use oxidex_core::oauth::{
    ClientCredentials, ErrorCode, OAuthError, Settings, TokenRequest, TokenResponse, grant,
};
use oxidex_core::secret::ClientSecret;
use oxidex_core::signer::SigningAlgorithm;

use support::upstream::{self, ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, UpstreamConnector, UpstreamIdp};
use support::world::{ISSUER, Parts, app, claims, clients, creds, start};

/// The engine's world with an upstream provider and the connectors trusting it.
struct World {
    base: support::world::World,
    idp: UpstreamIdp,
    upstream: Arc<UpstreamConnector>,
}

impl std::ops::Deref for World {
    type Target = support::world::World;
    fn deref(&self) -> &Self::Target {
        &self.base
    }
}

async fn world_with(tweak: impl FnOnce(&mut Settings)) -> World {
    log();
    let mut clients = clients();
    clients.push(Client {
        id: "restricted".into(),
        secret: ClientSecret::new("restricted-secret"),
        allowed_connectors: vec!["plain".into()],
        ..Client::default()
    });
    let parts = Parts::new(clients).await;
    // The upstream signs with RS256, as most providers do; oxidex signs with ES256 here.
    let idp = UpstreamIdp::new(SigningAlgorithm::Rs256, parts.clock.clone());
    let (opened, upstream) = upstream::connectors(&idp, parts.clock.clone());
    let base = parts.engine(opened, |settings| {
        settings.grant_types.insert(grant::TOKEN_EXCHANGE.into());
        tweak(settings);
    });
    World {
        base,
        idp,
        upstream,
    }
}

async fn world() -> World {
    world_with(|_| {}).await
}

/// A token-exchange request; `extra` adds or (with an empty value) removes parameters.
fn exchange_request(
    subject_token: &str,
    extra: &[(&str, &str)],
    client: Option<ClientCredentials>,
) -> TokenRequest {
    let mut params: std::collections::BTreeMap<String, String> = [
        ("grant_type", grant::TOKEN_EXCHANGE),
        ("subject_token", subject_token),
        ("subject_token_type", ID_TOKEN_TYPE),
        ("connector_id", "upstream"),
        ("scope", "openid email profile groups federated:id"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in extra {
        if v.is_empty() {
            params.remove(*k);
        } else {
            params.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    TokenRequest { params, client }
}

async fn exchange(
    w: &World,
    subject_token: &str,
    extra: &[(&str, &str)],
) -> Result<TokenResponse, OAuthError> {
    w.engine
        .token(&exchange_request(subject_token, extra, app()))
        .await
}

fn refused(result: Result<TokenResponse, OAuthError>, code: ErrorCode) -> OAuthError {
    match result {
        Err(e) => {
            assert_eq!(e.code, code, "{e}");
            e
        }
        Ok(r) => panic!("expected {code}, got tokens {r:?}"),
    }
}

fn description(e: &OAuthError) -> &str {
    e.description.as_deref().unwrap_or_default()
}

fn sub(user: &str, connector: &str) -> String {
    Subject {
        user_id: user.into(),
        connector_id: connector.into(),
    }
    .encode()
}

#[tokio::test]
async fn id_token_for_access_token_by_default() {
    let w = world().await;
    let subject = w.idp.token("jane-upstream-id").await;
    let response = exchange(&w, &subject, &[]).await.unwrap();
    assert_eq!(response.token_type, "bearer");
    assert_eq!(
        response.issued_token_type.as_deref(),
        Some(ACCESS_TOKEN_TYPE)
    );
    assert_eq!(response.expires_in, 86_400);
    assert!(response.refresh_token.is_none(), "never a refresh token");
    assert!(response.id_token.is_none(), "a single token");

    let c = claims(&w, &response.access_token).await;
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["sub"], sub("jane-upstream-id", "upstream"));
    assert_eq!(c["aud"], "app");
    assert_eq!(c["iat"], start().timestamp());
    assert_eq!(c["exp"], start().timestamp() + 86_400);
    assert_eq!(c["email"], "jane@example.com");
    assert_eq!(c["email_verified"], true);
    assert_eq!(c["name"], "Jane Doe");
    assert_eq!(c["preferred_username"], "jane");
    assert_eq!(c["groups"], serde_json::json!(["admins", "devs"]));
    assert_eq!(
        c["federated_claims"],
        serde_json::json!({"connector_id": "upstream", "user_id": "jane-upstream-id"})
    );
    assert!(c.get("nonce").is_none());
    assert_eq!(w.upstream.seen(), [ID_TOKEN_TYPE]);

    // It is one of our access tokens: userinfo accepts it.
    let info = w.engine.userinfo(&response.access_token).await.unwrap();
    assert_eq!(info["sub"], c["sub"]);

    // Explicitly asking for an access token is the same.
    let response = exchange(&w, &subject, &[("requested_token_type", ACCESS_TOKEN_TYPE)])
        .await
        .unwrap();
    assert_eq!(
        response.issued_token_type.as_deref(),
        Some(ACCESS_TOKEN_TYPE)
    );
}

#[tokio::test]
async fn id_token_for_id_token() {
    let w = world().await;
    let subject = w.idp.token("jane-upstream-id").await;
    let response = exchange(&w, &subject, &[("requested_token_type", ID_TOKEN_TYPE)])
        .await
        .unwrap();
    assert_eq!(response.issued_token_type.as_deref(), Some(ID_TOKEN_TYPE));
    assert_eq!(response.token_type, "bearer");
    assert!(
        response.id_token.is_none(),
        "the ID token is in access_token"
    );
    assert!(response.refresh_token.is_none());
    let c = claims(&w, &response.access_token).await;
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["aud"], "app");
    assert_eq!(c["sub"], sub("jane-upstream-id", "upstream"));
    assert_eq!(c["email"], "jane@example.com");
    assert!(c.get("c_hash").is_none());
    assert!(c.get("nonce").is_none());
}

#[tokio::test]
async fn access_token_subject_type_is_passed_to_the_connector() {
    let w = world().await;
    let subject = w.idp.token("svc-42").await;
    let response = exchange(&w, &subject, &[("subject_token_type", ACCESS_TOKEN_TYPE)])
        .await
        .unwrap();
    assert_eq!(w.upstream.seen(), [ACCESS_TOKEN_TYPE]);
    let c = claims(&w, &response.access_token).await;
    assert_eq!(c["sub"], sub("svc-42", "upstream"));
}

#[tokio::test]
async fn public_clients_cannot_exchange_tokens() {
    // Dex lets a public client in with its id alone; anyone knows that id (security.md UP-20).
    let w = world().await;
    let subject = w.idp.token("jane").await;
    refused(
        w.engine
            .token(&exchange_request(&subject, &[], creds("kubectl", None)))
            .await,
        ErrorCode::UnauthorizedClient,
    );
}

#[tokio::test]
async fn upstream_token_must_be_for_this_connector_and_valid() {
    let w = world().await;
    // Addressed to some other client of the upstream: the audience check.
    let other_audience = w
        .idp
        .token_with("jane", |c| {
            c.insert("aud".into(), "someone-else".into());
        })
        .await;
    let e = refused(
        exchange(&w, &other_audience, &[]).await,
        ErrorCode::AccessDenied,
    );
    assert!(e.internal.is_some(), "the reason is kept for the log");
    let in_list = w
        .idp
        .token_with("jane", |c| {
            c.insert(
                "aud".into(),
                serde_json::json!(["someone-else", upstream::UPSTREAM_CLIENT_ID]),
            );
        })
        .await;
    exchange(&w, &in_list, &[]).await.unwrap();

    let wrong_issuer = w
        .idp
        .token_with("jane", |c| {
            c.insert("iss".into(), "https://evil.example".into());
        })
        .await;
    refused(
        exchange(&w, &wrong_issuer, &[]).await,
        ErrorCode::AccessDenied,
    );

    // Signed by another key.
    let impostor = UpstreamIdp::new(SigningAlgorithm::Es256, w.clock.clone());
    let forged = impostor.token("jane").await;
    refused(exchange(&w, &forged, &[]).await, ErrorCode::AccessDenied);

    // Tampered payload.
    let good = w.idp.token("jane").await;
    let evil_claims =
        oxidex_core::jose::b64url(serde_json::to_vec(&w.idp.claims("admin")).unwrap());
    let mut parts: Vec<&str> = good.split('.').collect();
    parts[1] = &evil_claims;
    refused(
        exchange(&w, &parts.join("."), &[]).await,
        ErrorCode::AccessDenied,
    );
    refused(
        exchange(&w, "not-a-jwt", &[]).await,
        ErrorCode::AccessDenied,
    );
}

#[tokio::test]
async fn expired_upstream_token_is_refused() {
    let w = world().await;
    let expired = w
        .idp
        .token_with("jane", |c| {
            c.insert("exp".into(), (start().timestamp() - 1).into());
        })
        .await;
    refused(exchange(&w, &expired, &[]).await, ErrorCode::AccessDenied);

    // A token that was good expires on the engine's clock.
    let good = w.idp.token("jane").await;
    exchange(&w, &good, &[]).await.unwrap();
    w.clock.advance(Duration::hours(1));
    refused(exchange(&w, &good, &[]).await, ErrorCode::AccessDenied);
}

#[tokio::test]
async fn connector_must_exist_and_vouch_for_tokens() {
    let w = world().await;
    let subject = w.idp.token("jane").await;
    for connector in ["nope", ""] {
        let e = refused(
            exchange(&w, &subject, &[("connector_id", connector)]).await,
            ErrorCode::InvalidRequest,
        );
        assert_eq!(description(&e), "Requested connector does not exist.");
    }
    // `plain` exists but cannot verify tokens: Dex gives the same answer.
    let e = refused(
        exchange(&w, &subject, &[("connector_id", "plain")]).await,
        ErrorCode::InvalidRequest,
    );
    assert_eq!(description(&e), "Requested connector does not exist.");
    assert!(w.upstream.seen().is_empty());
}

#[tokio::test]
async fn connector_grant_types_and_client_allowed_connectors_are_enforced() {
    let w = world().await;
    let subject = w.idp.token("jane").await;
    // `no-exchange` verifies tokens but its `grantTypes` leave out token exchange.
    let e = refused(
        exchange(&w, &subject, &[("connector_id", "no-exchange")]).await,
        ErrorCode::InvalidRequest,
    );
    assert!(description(&e).contains(grant::TOKEN_EXCHANGE), "{e}");

    // `restricted` may only use `plain` (GHSA-7qjx-gp9h-65qj: the ACL applies here too).
    refused(
        w.engine
            .token(&exchange_request(
                &subject,
                &[],
                creds("restricted", Some("restricted-secret")),
            ))
            .await,
        ErrorCode::InvalidGrant,
    );
    assert!(w.upstream.seen().is_empty(), "refused before verifying");
}

#[tokio::test]
async fn missing_parameters() {
    let w = world().await;
    let subject = w.idp.token("jane").await;
    let e = refused(
        exchange(&w, &subject, &[("subject_token", "")]).await,
        ErrorCode::InvalidRequest,
    );
    assert!(description(&e).contains("subject_token"), "{e}");
    let e = refused(
        exchange(&w, &subject, &[("subject_token_type", "")]).await,
        ErrorCode::InvalidRequest,
    );
    assert!(description(&e).contains("subject_token_type"), "{e}");
    assert!(w.upstream.seen().is_empty());
}

#[tokio::test]
async fn unsupported_token_types_are_invalid_request() {
    let w = world().await;
    let subject = w.idp.token("jane").await;
    for kind in [
        "urn:ietf:params:oauth:token-type:jwt",
        "urn:ietf:params:oauth:token-type:saml2",
        "urn:ietf:params:oauth:token-type:refresh_token",
        "id_token",
    ] {
        let e = refused(
            exchange(&w, &subject, &[("subject_token_type", kind)]).await,
            ErrorCode::InvalidRequest,
        );
        assert!(description(&e).contains("subject_token_type"), "{e}");
        let e = refused(
            exchange(&w, &subject, &[("requested_token_type", kind)]).await,
            ErrorCode::InvalidRequest,
        );
        assert!(description(&e).contains("requested_token_type"), "{e}");
    }
    assert!(
        w.upstream.seen().is_empty(),
        "nothing is sent upstream for a request that cannot succeed"
    );
}

#[tokio::test]
async fn grant_disabled_in_settings() {
    let w = world_with(|s| {
        s.grant_types.remove(grant::TOKEN_EXCHANGE);
    })
    .await;
    let subject = w.idp.token("jane").await;
    refused(
        exchange(&w, &subject, &[]).await,
        ErrorCode::UnsupportedGrantType,
    );
    assert!(w.upstream.seen().is_empty());
}

#[tokio::test]
async fn client_must_authenticate() {
    let w = world().await;
    let subject = w.idp.token("jane").await;
    for client in [
        None,
        creds("app", Some("wrong")),
        creds("app", None),
        creds("ghost", Some("x")),
    ] {
        refused(
            w.engine
                .token(&exchange_request(&subject, &[], client))
                .await,
            ErrorCode::InvalidClient,
        );
    }
    assert!(w.upstream.seen().is_empty(), "no upstream call before auth");
}

#[tokio::test]
async fn cross_client_audience_needs_the_peers_trust() {
    let w = world().await;
    let subject = w.idp.token("jane").await;
    let response = exchange(
        &w,
        &subject,
        &[("scope", "openid audience:server:client_id:kubernetes")],
    )
    .await
    .unwrap();
    let c = claims(&w, &response.access_token).await;
    assert_eq!(c["aud"], serde_json::json!(["kubernetes", "app"]));
    assert_eq!(c["azp"], "app");

    // `kubectl` does not trust `app`.
    refused(
        exchange(
            &w,
            &subject,
            &[("scope", "openid audience:server:client_id:kubectl")],
        )
        .await,
        ErrorCode::InvalidScope,
    );
    // Scopes decide claims; unknown ones pass through as in Dex.
    let response = exchange(&w, &subject, &[("scope", "openid something-else")])
        .await
        .unwrap();
    let c = claims(&w, &response.access_token).await;
    assert!(c.get("email").is_none() && c.get("groups").is_none());
}

/// Every event and span field emitted in this test binary, tagged with the emitting thread.
///
/// One global subscriber, installed by [`world_with`] before any test emits anything: a
/// scoped (`set_default`) subscriber races with other test threads over tracing's cached
/// callsite interest and can miss events.
fn log() -> &'static Mutex<Vec<(std::thread::ThreadId, String)>> {
    static LOG: OnceLock<Mutex<Vec<(std::thread::ThreadId, String)>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let _ = tracing::dispatcher::set_global_default(tracing::Dispatch::new(Capture));
        Mutex::new(Vec::new())
    })
}

/// What this thread has logged so far. `#[tokio::test]` runs each test on its own thread.
fn logged_here() -> Vec<String> {
    let me = std::thread::current().id();
    log()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|(thread, _)| *thread == me)
        .map(|(_, line)| line.clone())
        .collect()
}

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

struct Capture;

impl Capture {
    fn push(line: String) {
        log()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((std::thread::current().id(), line));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut line = format!("span={}", span.metadata().name());
        span.record(&mut Fields(&mut line));
        Self::push(line);
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut line = String::from("span-record");
        values.record(&mut Fields(&mut line));
        Self::push(line);
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = format!("target={}", event.metadata().target());
        event.record(&mut Fields(&mut line));
        Self::push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn audit_events_never_contain_the_subject_token() {
    let w = world().await;
    let good = w.idp.token("jane").await;
    exchange(&w, &good, &[]).await.unwrap();
    let bad = w
        .idp
        .token_with("jane", |c| {
            c.insert("aud".into(), "someone-else".into());
        })
        .await;
    refused(exchange(&w, &bad, &[]).await, ErrorCode::AccessDenied);

    let lines = logged_here();
    let exchanged: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("event=\"token_exchanged\""))
        .collect();
    assert_eq!(exchanged.len(), 1, "{lines:#?}");
    let line = exchanged[0];
    assert!(line.starts_with("target=audit"), "{line}");
    assert!(line.contains("client_id=app"), "{line}");
    assert!(line.contains("connector_id=upstream"), "{line}");
    assert!(line.contains("user_id=jane"), "{line}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("target=audit") && l.contains("token_exchange_refused")),
        "{lines:#?}"
    );
    for token in [&good, &bad] {
        // Neither the token nor its signature shows up anywhere.
        let signature = token.rsplit('.').next().unwrap();
        for l in &lines {
            assert!(!l.contains(signature), "subject token logged: {l}");
        }
    }
}
