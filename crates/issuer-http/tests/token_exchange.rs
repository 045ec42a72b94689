//! The token-exchange grant over HTTP: an in-process [`Issuer`] driven through its axum
//! `Router` with `tower::ServiceExt::oneshot` (no socket), at the root and under `/dex`.
//! The upstream provider and its connector are shared with the engine tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

#[path = "../../federation-core/tests/support/mod.rs"]
mod support;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use oxidex_core::codec::Subject;
use oxidex_core::jose::verify_compact;
use oxidex_core::model::{Client, Jwk};
use oxidex_core::oauth::{Settings, grant};
use oxidex_core::secret::ClientSecret;
use oxidex_core::signer::SigningAlgorithm;
use oxidex_issuer_http::pages::{FrontendSettings, Pages};
use oxidex_issuer_http::{Issuer, WebSettings};
use tower::ServiceExt as _;

use support::upstream::{self, ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, UpstreamConnector, UpstreamIdp};
use support::world::Parts;

struct Served {
    app: Router,
    /// The issuer URL's path (`""` or `/dex`).
    path: String,
    issuer: String,
    idp: UpstreamIdp,
    upstream: Arc<UpstreamConnector>,
}

/// The issuer at `https://issuer.example{path}` with token exchange enabled.
async fn serve(path: &str) -> Served {
    serve_with(path, |settings| {
        settings.grant_types.insert(grant::TOKEN_EXCHANGE.into());
    })
    .await
}

/// The issuer at `https://issuer.example{path}`, its settings [`Settings::new`] changed by
/// `tweak`: client `app` (secret `app secret+`), oxidex signing with RS256, the upstream
/// with ES256, and the connectors of [`upstream::connectors`].
async fn serve_with(path: &str, tweak: impl FnOnce(&mut Settings)) -> Served {
    let issuer = format!("https://issuer.example{path}");
    let parts = Parts::signing_with(
        [Client {
            id: "app".into(),
            secret: ClientSecret::new("app secret+"),
            name: "The App".into(),
            ..Client::default()
        }],
        SigningAlgorithm::Rs256,
    )
    .await;
    let idp = UpstreamIdp::new(SigningAlgorithm::Es256, parts.clock.clone());
    let (opened, upstream) = upstream::connectors(&idp, parts.clock.clone());
    let engine = parts.engine_for(&issuer, opened, tweak).engine;
    let pages = Pages::new(FrontendSettings::default()).unwrap();
    let app = Issuer::new(engine, pages, WebSettings::default())
        .await
        .unwrap()
        .app();
    Served {
        app,
        path: path.to_owned(),
        issuer,
        idp,
        upstream,
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    json: serde_json::Value,
}

async fn call(s: &Served, request: Request<Body>) -> Answer {
    let response = s.app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {body:?}"));
    Answer {
        status,
        headers,
        json,
    }
}

fn basic(id: &str, secret: &str) -> String {
    // RFC 6749 §2.3.1: each part form-encoded, then Basic.
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// POSTs a token-exchange form; `extra` overrides (or with an empty value removes) fields.
async fn exchange(
    s: &Served,
    subject_token: &str,
    extra: &[(&str, &str)],
    authorization: Option<String>,
) -> Answer {
    let mut fields: Vec<(&str, &str)> = vec![
        ("grant_type", grant::TOKEN_EXCHANGE),
        ("subject_token", subject_token),
        ("subject_token_type", ID_TOKEN_TYPE),
        ("connector_id", "upstream"),
        ("scope", "openid email groups"),
    ];
    for (k, v) in extra {
        fields.retain(|(name, _)| name != k);
        if !v.is_empty() {
            fields.push((k, v));
        }
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut request = Request::post(format!("{}/token", s.path))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    call(s, request.body(Body::from(body)).unwrap()).await
}

async fn keys(s: &Served) -> Vec<Jwk> {
    let answer = call(
        s,
        Request::get(format!("{}/keys", s.path))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    serde_json::from_value(answer.json["keys"].clone()).unwrap()
}

async fn verified_claims(s: &Served, token: &str) -> serde_json::Value {
    let verified = verify_compact(token, &keys(s).await, &[SigningAlgorithm::Rs256]).unwrap();
    serde_json::from_slice(&verified.payload).unwrap()
}

fn assert_no_store(answer: &Answer) {
    assert_eq!(
        answer.headers.get(header::CACHE_CONTROL).unwrap(),
        "no-store"
    );
    assert_eq!(answer.headers.get(header::PRAGMA).unwrap(), "no-cache");
}

fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.json);
    assert_eq!(answer.json["error"], code, "{}", answer.json);
    assert_no_store(answer);
}

#[tokio::test]
async fn token_exchange_over_http() {
    for path in ["", "/dex"] {
        let s = serve(path).await;
        let subject = s.idp.token("jane-upstream-id").await;
        let sub = Subject {
            user_id: "jane-upstream-id".into(),
            connector_id: "upstream".into(),
        }
        .encode();

        // Access token (the default), client authenticated with HTTP Basic.
        let answer = exchange(&s, &subject, &[], Some(basic("app", "app secret+"))).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
        assert_no_store(&answer);
        let body = answer.json.as_object().unwrap();
        let mut fields: Vec<&str> = body.keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "access_token",
                "expires_in",
                "issued_token_type",
                "token_type"
            ],
            "exactly Dex's fields: no refresh_token, id_token or scope"
        );
        assert_eq!(body["issued_token_type"], ACCESS_TOKEN_TYPE);
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], 86_400);
        let claims = verified_claims(&s, body["access_token"].as_str().unwrap()).await;
        assert_eq!(claims["iss"], s.issuer);
        assert_eq!(claims["sub"], sub);
        assert_eq!(claims["aud"], "app");
        assert_eq!(claims["email"], "jane@example.com");

        // ID token, client authenticated in the form.
        let answer = exchange(
            &s,
            &subject,
            &[
                ("requested_token_type", ID_TOKEN_TYPE),
                ("client_id", "app"),
                ("client_secret", "app secret+"),
            ],
            None,
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
        assert_eq!(answer.json["issued_token_type"], ID_TOKEN_TYPE);
        assert!(answer.json.get("id_token").is_none());
        let claims = verified_claims(&s, answer.json["access_token"].as_str().unwrap()).await;
        assert_eq!(claims["sub"], sub);
        assert_eq!(claims["iss"], s.issuer);

        let app = || Some(basic("app", "app secret+"));
        // Upstream token addressed to someone else: Dex's 401 access_denied.
        let foreign = s
            .idp
            .token_with("jane", |c| {
                c.insert("aud".into(), "someone-else".into());
            })
            .await;
        let answer = exchange(&s, &foreign, &[], app()).await;
        assert_error(&answer, StatusCode::UNAUTHORIZED, "access_denied");
        assert!(
            !answer.json.to_string().contains("someone-else"),
            "the connector's reason is not sent"
        );

        let answer = exchange(&s, &subject, &[("connector_id", "nope")], app()).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(
            answer.json["error_description"],
            "Requested connector does not exist."
        );
        let answer = exchange(&s, &subject, &[("connector_id", "plain")], app()).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
        let answer = exchange(&s, &subject, &[("connector_id", "no-exchange")], app()).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");

        let answer = exchange(&s, &subject, &[("subject_token", "")], app()).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
        let answer = exchange(
            &s,
            &subject,
            &[(
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:saml2",
            )],
            app(),
        )
        .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
        let answer = exchange(
            &s,
            &subject,
            &[(
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token",
            )],
            app(),
        )
        .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");

        // Client authentication.
        let answer = exchange(&s, &subject, &[], None).await;
        assert_error(&answer, StatusCode::UNAUTHORIZED, "invalid_client");
        let answer = exchange(&s, &subject, &[], Some(basic("app", "wrong"))).await;
        assert_error(&answer, StatusCode::UNAUTHORIZED, "invalid_client");
    }
}

#[tokio::test]
async fn disabled_grant_is_unsupported_grant_type() {
    // Settings::new leaves token exchange off.
    let s = serve_with("", |_| {}).await;
    let subject = s.idp.token("jane").await;
    let answer = exchange(&s, &subject, &[], Some(basic("app", "app secret+"))).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "unsupported_grant_type");
    assert!(s.upstream.seen().is_empty());
}
