//! A scripted OpenID provider on 127.0.0.1 for failure injection: it answers discovery, its
//! key set, the token endpoint and user-info like a provider does, but what it answers is set
//! by the test (a token signed by the wrong key, an expired one, a refused client, a rotated
//! key). Real providers (oxidex itself, node `oidc-provider`) are driven in
//! `bins/oxidex/tests/upstream_oidc.rs`; no real provider misbehaves on request.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

pub(crate) const CLIENT_ID: &str = "oxidex";
pub(crate) const CLIENT_SECRET: &str = "upstream-secret";
pub(crate) const REDIRECT: &str = "https://dex.example.com/callback";

/// An ES256 key with its id.
pub(crate) struct SigningKey {
    pub(crate) kid: String,
    pair: EcdsaKeyPair,
}

impl SigningKey {
    pub(crate) fn generate(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        Self {
            kid: kid.into(),
            pair,
        }
    }

    pub(crate) fn jwk(&self) -> Value {
        let public = self.pair.public_key().as_ref();
        json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&public[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&public[33..65]),
        })
    }

    /// A compact JWS of `claims`, with header `kid` (which may differ from this key's).
    pub(crate) fn sign(&self, kid: &str, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

/// What the provider answers next; tests change it between steps.
pub(crate) struct Script {
    /// Claims of the next ID token (`iss`, `aud`, `exp`, `iat`, `nonce` are filled in unless
    /// present here).
    pub(crate) claims: Value,
    /// Sign with this key index of `keys` (the published ones) or with `rogue`.
    pub(crate) sign_with: Signer,
    /// Leave the ID token out of token responses.
    pub(crate) omit_id_token: bool,
    /// User-info answer.
    pub(crate) userinfo: Value,
    /// Refresh token handed out by the next token response.
    pub(crate) refresh_token: String,
    /// Refresh tokens the provider accepts.
    pub(crate) valid_refresh_tokens: Vec<String>,
    /// The nonce to put in the next ID token (the test copies it from the login URL).
    pub(crate) nonce: String,
    /// The PKCE challenge the code was issued for.
    pub(crate) code_challenge: String,
    /// Every form the token endpoint received, with its Authorization header.
    pub(crate) token_requests: Vec<(BTreeMap<String, String>, String)>,
    /// Number of key-set fetches.
    pub(crate) key_fetches: usize,
    /// Number of the published keys (from the start of `keys`).
    pub(crate) published: usize,
    /// Issuer to put in the discovery document instead of the real one.
    pub(crate) discovery_issuer: Option<String>,
    /// Accept the client secret only in the form body (`client_secret_post`).
    pub(crate) secret_in_body_only: bool,
    /// The token endpoint is down: 503 with an HTML body, as a load balancer answers.
    pub(crate) token_outage: bool,
}

/// Which key signs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signer {
    /// `keys[i]`, under its own kid.
    Key(usize),
    /// A key never published, under the kid of `keys[0]` (a forged signature).
    Rogue,
}

pub(crate) struct Provider {
    pub(crate) issuer: String,
    pub(crate) script: Arc<Mutex<Script>>,
    keys: Arc<Vec<SigningKey>>,
    rogue: Arc<SigningKey>,
    _server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct AppState {
    issuer: String,
    script: Arc<Mutex<Script>>,
    keys: Arc<Vec<SigningKey>>,
    rogue: Arc<SigningKey>,
}

impl Provider {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(Script {
            claims: json!({
                "sub": "user-1", "name": "Jane Doe", "email": "jane@example.com",
                "email_verified": true, "preferred_username": "jane",
                "groups": ["admins", {"name": "devs"}],
            }),
            sign_with: Signer::Key(0),
            omit_id_token: false,
            userinfo: json!({"sub": "user-1", "name": "Jane From Userinfo"}),
            refresh_token: "rt-1".into(),
            valid_refresh_tokens: vec!["rt-1".into()],
            nonce: String::new(),
            code_challenge: String::new(),
            token_requests: Vec::new(),
            key_fetches: 0,
            published: 1,
            discovery_issuer: None,
            secret_in_body_only: false,
            token_outage: false,
        }));
        let keys = Arc::new(vec![SigningKey::generate("k1"), SigningKey::generate("k2")]);
        let rogue = Arc::new(SigningKey::generate("rogue"));
        let state = AppState {
            issuer: issuer.clone(),
            script: script.clone(),
            keys: keys.clone(),
            rogue: rogue.clone(),
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/keys", get(jwks))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(state);
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            issuer,
            script,
            keys,
            rogue,
            _server: server,
        }
    }

    pub(crate) fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap()
    }

    /// An ID token as the provider would sign it now, for token-exchange tests.
    pub(crate) fn id_token(&self, claims: &Value) -> String {
        let state = AppState {
            issuer: self.issuer.clone(),
            script: self.script.clone(),
            keys: self.keys.clone(),
            rogue: self.rogue.clone(),
        };
        mint(&state, claims)
    }

    /// The connector configuration pointing at this provider.
    pub(crate) fn config(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "clientID": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "redirectURI": REDIRECT,
            "insecureEnableGroups": true,
            "scopes": ["profile", "email", "groups", "offline_access"],
        })
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "the provider stands for another machine, with its own clock"
)]
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn mint(state: &AppState, extra: &Value) -> String {
    let script = state.script.lock().unwrap();
    let mut claims = json!({
        "iss": state.issuer, "aud": CLIENT_ID, "iat": now(), "exp": now() + 600,
    });
    if !script.nonce.is_empty() {
        claims["nonce"] = json!(script.nonce);
    }
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    match script.sign_with {
        Signer::Key(i) => state.keys[i].sign(&state.keys[i].kid, &claims),
        Signer::Rogue => state.rogue.sign(&state.keys[0].kid, &claims),
    }
}

async fn discovery(State(s): State<AppState>) -> Json<Value> {
    let issuer = s
        .script
        .lock()
        .unwrap()
        .discovery_issuer
        .clone()
        .unwrap_or_else(|| s.issuer.clone());
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{}/auth", s.issuer),
        "token_endpoint": format!("{}/token", s.issuer),
        "userinfo_endpoint": format!("{}/userinfo", s.issuer),
        "jwks_uri": format!("{}/keys", s.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(s): State<AppState>) -> Json<Value> {
    let mut script = s.script.lock().unwrap();
    script.key_fetches += 1;
    let keys: Vec<Value> = s
        .keys
        .iter()
        .take(script.published)
        .map(SigningKey::jwk)
        .collect();
    Json(json!({ "keys": keys }))
}

fn oauth_error(status: StatusCode, code: &str) -> Response {
    (
        status,
        Json(json!({"error": code, "error_description": format!("scripted {code}")})),
    )
        .into_response()
}

async fn token(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (omit, refresh, claims, body_only, outage) = {
        let mut script = s.script.lock().unwrap();
        script.token_requests.push((form.clone(), auth.clone()));
        (
            script.omit_id_token,
            script.refresh_token.clone(),
            script.claims.clone(),
            script.secret_in_body_only,
            script.token_outage,
        )
    };
    if outage {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "<html>upstream temporarily down</html>",
        )
            .into_response();
    }
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let body_secret = form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
    if (auth != expected || body_only) && !body_secret {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let challenge = s.script.lock().unwrap().code_challenge.clone();
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
            if form.get("code").map(String::as_str) != Some("good-code")
                || URL_SAFE_NO_PAD.encode(digest.as_ref()) != challenge
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
        }
        Some("refresh_token") => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            let valid = s
                .script
                .lock()
                .unwrap()
                .valid_refresh_tokens
                .contains(&presented);
            if !valid {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
    let mut body = json!({
        "access_token": "at-1", "token_type": "Bearer", "expires_in": 600,
        "refresh_token": refresh,
    });
    if !omit {
        body["id_token"] = json!(mint(&s, &claims));
    }
    Json(body).into_response()
}

async fn userinfo(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer at-1") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(s.script.lock().unwrap().userinfo.clone()).into_response()
}
