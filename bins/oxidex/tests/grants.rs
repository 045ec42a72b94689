//! The grants and endpoints beyond the code flow, through HTTP against a real `oxidex serve`:
//! client credentials, revocation (RFC 7009), introspection (RFC 7662), `response_mode`
//! (`form_post`), `prompt`, `max_age`, `login_hint`, nonce rules for hybrid responses, the
//! per-client and per-connector policy, and what discovery advertises.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use common::{
    Oxidex, REDIRECT, SQLITE_ISSUER, STATIC_PASSWORDS, browser, keys, location, log_in, query,
};
use oxidex_core::signer::SigningAlgorithm;

const SECRET: &str = "ZXhhbXBsZS1hcHAtc2VjcmV0";

fn config(grants: &str) -> String {
    format!(
        r#"{SQLITE_ISSUER}oauth2:
  grantTypes: [{grants}]
  responseTypes: [code, token, id_token]
  passwordConnector: local
  skipApprovalScreen: true
staticClients:
- id: example-app
  name: Example App
  secret: {SECRET}
  redirectURIs: [{REDIRECT}]
  clientCredentialsClaims:
    groups: [robots]
- id: other-app
  name: Other App
  secret: other-secret
  redirectURIs: [{REDIRECT}]
- id: public-cli
  name: CLI
  public: true
  redirectURIs: [{REDIRECT}]
- id: mock-only
  name: Mock Only
  secret: mock-secret
  redirectURIs: [{REDIRECT}]
  allowedConnectors: [mock]
{STATIC_PASSWORDS}connectors:
- type: mockCallback
  id: mock
  name: Mock
  grantTypes: [authorization_code]
"#
    )
}

const ALL_GRANTS: &str =
    "authorization_code, refresh_token, implicit, password, client_credentials";

/// The end of a browser flow: where the issuer finally sent the browser, or the page it
/// showed instead (`form_post`, an error page).
#[derive(Debug)]
enum End {
    Redirect(String),
    Page(u16, String),
}

/// Follows a browser flow from `/auth?{params}`, logging in at the password form if one
/// appears (as `login`, if given).
async fn browse(server: &Oxidex, params: &str, login: Option<&str>) -> End {
    let b = browser();
    let mut url = format!("{}/auth?{params}", server.issuer);
    for _ in 0..10 {
        let r = b.get(&url).send().await.unwrap();
        let status = r.status().as_u16();
        if r.status().is_redirection() {
            let loc = location(&r);
            // Upstream connectors (mockCallback) come back to our own absolute URLs.
            url = if loc.starts_with('/') {
                format!("{}{loc}", server.base)
            } else if loc.starts_with(&server.base) {
                loc
            } else {
                return End::Redirect(loc);
            };
            continue;
        }
        let html = r.text().await.unwrap();
        if status != 200 || !html.contains("name=\"password\"") {
            return End::Page(status, html);
        }
        let loc = log_in(
            &b,
            &server.base,
            &html,
            login.unwrap_or("admin@example.com"),
        )
        .await
        .unwrap();
        url = format!("{}{loc}", server.base);
    }
    panic!("the flow did not end: {url}");
}

fn auth_params(extra: &str) -> String {
    format!(
        "client_id=example-app&redirect_uri={REDIRECT}&response_type=code\
         &scope=openid%20email%20profile%20offline_access&state=st&connector_id=local{extra}"
    )
}

/// Redeems `code` as `example-app` at `/token`.
async fn redeem(
    server: &Oxidex,
    code: &str,
) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
    server
        .post(
            "/token",
            Some(("example-app", SECRET)),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await
}

async fn code_flow_tokens(server: &Oxidex) -> serde_json::Value {
    let End::Redirect(back) = browse(server, &auth_params(""), None).await else {
        panic!("no redirect")
    };
    let code = query(&back, "code").unwrap();
    let (status, body, _) = redeem(server, &code).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn claims_of(server: &Oxidex, token: &str) -> serde_json::Value {
    let verified = oxidex_core::jose::verify_compact(
        token,
        &keys(&server.issuer).await,
        &[SigningAlgorithm::Rs256],
    )
    .expect("signed by the issuer");
    serde_json::from_slice(&verified.payload).unwrap()
}

async fn userinfo_status(server: &Oxidex, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/userinfo", server.issuer))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn client_credentials() {
    let server = Oxidex::start(&config(ALL_GRANTS)).await;
    let (status, body, headers) = server
        .post(
            "/token",
            Some(("example-app", SECRET)),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "openid profile groups"),
                ("nonce", "n1"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "bearer");
    assert!(body.get("refresh_token").is_none(), "never a refresh token");
    let id = claims_of(&server, body["id_token"].as_str().unwrap()).await;
    // Dex's sub: the client id with an empty connector id.
    assert_eq!(
        id["sub"],
        oxidex_core::codec::Subject {
            user_id: "example-app".into(),
            connector_id: String::new(),
        }
        .encode()
    );
    assert_eq!(id["aud"], "example-app");
    assert_eq!(id["name"], "Example App");
    assert_eq!(id["preferred_username"], "Example App");
    assert_eq!(id["groups"], serde_json::json!(["robots"]));
    assert_eq!(id["nonce"], "n1");
    assert!(id.get("auth_time").is_none(), "no user logged in");

    // Without openid: an access token only.
    let (status, body, _) = server
        .post(
            "/token",
            Some(("example-app", SECRET)),
            &[("grant_type", "client_credentials"), ("scope", "groups")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("id_token").is_none());
    assert_eq!(
        userinfo_status(&server, body["access_token"].as_str().unwrap()).await,
        200
    );

    for (scope, what) in [
        ("openid offline_access", "offline_access"),
        ("openid federated:id", "federated:id"),
        ("openid unknown", "unknown"),
    ] {
        let (status, body, _) = server
            .post(
                "/token",
                Some(("example-app", SECRET)),
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;
        assert_eq!(
            (status, &body["error"]),
            (400, &"invalid_scope".into()),
            "{what}: {body}"
        );
    }
    let (status, body, headers) = server
        .post(
            "/token",
            Some(("example-app", "wrong")),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!((status, &body["error"]), (401, &"invalid_client".into()));
    assert!(headers.contains_key("www-authenticate"));
    let (status, body, _) = server
        .post(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "public-cli"),
            ],
        )
        .await;
    assert_eq!(
        (status, &body["error"]),
        (400, &"unauthorized_client".into()),
        "public clients cannot: {body}"
    );

    // Not enabled (Dex's default list leaves it out): unsupported, and not advertised.
    let server = Oxidex::start(&config("authorization_code, refresh_token")).await;
    let (status, body, _) = server
        .post(
            "/token",
            Some(("example-app", SECRET)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(
        (status, &body["error"]),
        (400, &"unsupported_grant_type".into())
    );
    let doc = server.discovery().await;
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert!(doc.get("device_authorization_endpoint").is_none());
}

#[tokio::test]
async fn revocation_and_introspection() {
    let server = Oxidex::start(&config(ALL_GRANTS)).await;
    let tokens = code_flow_tokens(&server).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let app = Some(("example-app", SECRET));
    let other = Some(("other-app", "other-secret"));

    // Introspection needs an authenticated confidential client, and describes a token only
    // to a client in its audience (security.md OA-41).
    let (status, body, _) = server
        .post("/token/introspect", None, &[("token", access)])
        .await;
    assert_eq!((status, &body["error"]), (401, &"invalid_client".into()));
    let (status, body, _) = server
        .post(
            "/token/introspect",
            None,
            &[("token", access), ("client_id", "public-cli")],
        )
        .await;
    assert_eq!(
        (status, &body["error"]),
        (400, &"unauthorized_client".into()),
        "a public client's id proves nothing"
    );
    for token in [access, refresh] {
        let (status, body, _) = server
            .post("/token/introspect", other, &[("token", token)])
            .await;
        assert_eq!(
            (status, &body),
            (200, &serde_json::json!({"active": false})),
            "another client's token"
        );
    }
    let (status, body, headers) = server
        .post("/token/introspect", app, &[("token", access)])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    let claims = claims_of(&server, access).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], "example-app");
    assert_eq!(body["sub"], claims["sub"]);
    assert_eq!(body["iss"], server.issuer);
    assert_eq!(body["exp"], claims["exp"]);
    assert_eq!(body["nbf"], claims["iat"]);
    assert_eq!(body["username"], "admin");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["token_use"], "access_token");
    assert_eq!(body["jti"], claims["jti"]);
    assert_eq!(body["ext"]["email"], "admin@example.com");
    let (_, body, _) = server
        .post("/token/introspect", app, &[("token", refresh)])
        .await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_use"], "refresh_token");
    assert_eq!(body["client_id"], "example-app");
    assert_eq!(body["sub"], claims["sub"]);
    for garbage in ["not-a-token", "a.b.c", ""] {
        let (status, body, _) = server
            .post("/token/introspect", app, &[("token", garbage)])
            .await;
        if garbage.is_empty() {
            assert_eq!((status, &body["error"]), (400, &"invalid_request".into()));
        } else {
            assert_eq!(
                (status, &body),
                (200, &serde_json::json!({"active": false}))
            );
        }
    }

    // Revocation: client authentication required, token required.
    let (status, body, _) = server
        .post("/token/revoke", None, &[("token", access)])
        .await;
    assert_eq!((status, &body["error"]), (401, &"invalid_client".into()));
    let (status, body, _) = server.post("/token/revoke", app, &[]).await;
    assert_eq!((status, &body["error"]), (400, &"invalid_request".into()));
    let r = reqwest::get(format!("{}/token/revoke", server.issuer))
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "GET is not a revocation");

    // Another client's token: 200, and nothing happens.
    let (status, _, _) = server
        .post("/token/revoke", other, &[("token", access)])
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = server
        .post("/token/revoke", other, &[("token", refresh)])
        .await;
    assert_eq!(status, 200);
    assert_eq!(userinfo_status(&server, access).await, 200);

    // The client's own access token: userinfo and introspection refuse it from now on.
    let (status, _, headers) = server
        .post(
            "/token/revoke",
            app,
            &[("token", access), ("token_type_hint", "access_token")],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(userinfo_status(&server, access).await, 401);
    let (_, body, _) = server
        .post("/token/introspect", app, &[("token", access)])
        .await;
    assert_eq!(body, serde_json::json!({"active": false}));
    // Revoking twice, or an unknown token, is still 200 (RFC 7009 §2.2).
    let (status, _, _) = server
        .post("/token/revoke", app, &[("token", access)])
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = server
        .post("/token/revoke", app, &[("token", "nonsense")])
        .await;
    assert_eq!(status, 200);

    // The refresh token (a wrong hint is only a hint): the family is gone.
    let (status, _, _) = server
        .post(
            "/token/revoke",
            app,
            &[("token", refresh), ("token_type_hint", "access_token")],
        )
        .await;
    assert_eq!(status, 200);
    let (status, body, _) = server
        .post(
            "/token",
            app,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    assert_eq!((status, &body["error"]), (400, &"invalid_grant".into()));
    let (_, body, _) = server
        .post("/token/introspect", app, &[("token", refresh)])
        .await;
    assert_eq!(body, serde_json::json!({"active": false}));

    // Discovery advertises both endpoints.
    let doc = server.discovery().await;
    assert_eq!(
        doc["revocation_endpoint"],
        format!("{}/token/revoke", server.issuer)
    );
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{}/token/introspect", server.issuer)
    );
    assert_eq!(
        doc["response_modes_supported"],
        serde_json::json!(["query", "fragment", "form_post"])
    );
}

#[tokio::test]
async fn response_modes_prompt_max_age_and_login_hint() {
    let server = Oxidex::start(&config(ALL_GRANTS)).await;

    // form_post: a page whose form posts the code and state to the redirect URI.
    let End::Page(200, html) =
        browse(&server, &auth_params("&response_mode=form_post"), None).await
    else {
        panic!("a form_post page")
    };
    assert!(html.contains(&format!("action=\"{REDIRECT}\"")), "{html}");
    assert!(html.contains("name=\"state\" value=\"st\""), "{html}");
    assert!(html.contains("name=\"code\" value=\""), "{html}");
    assert!(html.contains("/dex/form_post.js"), "{html}");
    let js = reqwest::get(format!("{}/form_post.js", server.issuer))
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.text().await.unwrap().contains(".submit()"));

    // Errors go the way the answer would: here, posted.
    let End::Page(200, html) = browse(
        &server,
        &auth_params("&response_mode=form_post&prompt=none"),
        None,
    )
    .await
    else {
        panic!("a form_post error page")
    };
    assert!(
        html.contains("name=\"error\" value=\"login_required\""),
        "{html}"
    );

    // prompt=none: nobody can be logged in silently.
    let End::Redirect(back) = browse(&server, &auth_params("&prompt=none"), None).await else {
        panic!("redirect")
    };
    assert_eq!(query(&back, "error").as_deref(), Some("login_required"));
    assert_eq!(query(&back, "state").as_deref(), Some("st"));
    for (extra, why) in [
        ("&prompt=none%20login", "none with another value"),
        ("&prompt=bogus", "unknown prompt"),
        ("&max_age=-1", "negative max_age"),
        ("&max_age=soon", "max_age not a number"),
        ("&response_mode=web_message", "unknown response mode"),
    ] {
        let End::Redirect(back) = browse(&server, &auth_params(extra), None).await else {
            panic!("redirect for {why}")
        };
        assert_eq!(
            query(&back, "error").as_deref(),
            Some("invalid_request"),
            "{why}: {back}"
        );
    }

    // max_age: every login here is fresh, and the ID token says when it happened.
    let End::Redirect(back) = browse(&server, &auth_params("&max_age=0&prompt=login"), None).await
    else {
        panic!("redirect")
    };
    let code = query(&back, "code").unwrap();
    let (_, body, _) = redeem(&server, &code).await;
    let id = claims_of(&server, body["id_token"].as_str().unwrap()).await;
    let auth_time = id["auth_time"].as_i64().expect("auth_time");
    assert!((id["iat"].as_i64().unwrap() - auth_time).abs() <= 5, "{id}");
    // Kept across a refresh.
    let (_, refreshed, _) = server
        .post(
            "/token",
            Some(("example-app", SECRET)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    let again = claims_of(&server, refreshed["id_token"].as_str().unwrap()).await;
    assert_eq!(again["auth_time"], auth_time);

    // login_hint pre-fills the login field (HTML-escaped).
    let b = browser();
    let mut url = format!(
        "{}/auth?{}",
        server.issuer,
        auth_params("&login_hint=jane%22%3E%40example.com")
    );
    let html = loop {
        let r = b.get(&url).send().await.unwrap();
        if r.status().is_redirection() {
            url = format!("{}{}", server.base, location(&r));
            continue;
        }
        break r.text().await.unwrap();
    };
    assert!(
        html.contains("jane&quot;&gt;@example.com") || html.contains("jane&#34;&gt;@example.com"),
        "{html}"
    );

    // Hybrid: a response type with id_token needs a nonce (OIDC Core §3.3.2.11), and tokens
    // never travel in a query string.
    let hybrid = |extra: &str| {
        format!(
            "client_id=example-app&redirect_uri={REDIRECT}&response_type=code%20id_token\
             &scope=openid&state=h&connector_id=local{extra}"
        )
    };
    let End::Redirect(back) = browse(&server, &hybrid(""), None).await else {
        panic!("redirect")
    };
    let fragment = back.split_once('#').expect("errors in the fragment").1;
    assert!(fragment.contains("error=invalid_request"), "{back}");
    let End::Redirect(back) = browse(&server, &hybrid("&nonce=n&response_mode=query"), None).await
    else {
        panic!("redirect")
    };
    assert_eq!(
        query(&back, "error").as_deref(),
        Some("invalid_request"),
        "{back}"
    );
    let End::Redirect(back) = browse(&server, &hybrid("&nonce=n"), None).await else {
        panic!("redirect")
    };
    let fragment = back.split_once('#').expect("answer in the fragment").1;
    assert!(
        fragment.contains("code=") && fragment.contains("id_token="),
        "{back}"
    );
}

#[tokio::test]
async fn per_client_and_per_connector_policy() {
    let server = Oxidex::start(&config(ALL_GRANTS)).await;
    let mock_only = |connector: &str| {
        format!(
            "client_id=mock-only&redirect_uri={REDIRECT}&response_type=code&scope=openid\
             &state=p{connector}"
        )
    };
    // The chooser offers only the allowed connector (so goes straight to it).
    let b = browser();
    let r = b
        .get(format!("{}/auth?{}", server.issuer, mock_only("")))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.contains("/auth/mock"), "{loc}");
    // Asking for another connector is refused, at /auth and at /auth/{connector}.
    let End::Redirect(back) = browse(&server, &mock_only("&connector_id=local"), None).await else {
        panic!("redirect")
    };
    assert_eq!(query(&back, "error").as_deref(), Some("invalid_request"));
    let r = b
        .get(format!("{}/auth/local?{}", server.issuer, mock_only("")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // At /token: the password grant goes through `local`, which this client may not use.
    let (status, body, _) = server
        .post(
            "/token",
            Some(("mock-only", "mock-secret")),
            &[
                ("grant_type", "password"),
                ("username", "admin@example.com"),
                ("password", "password"),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(
        (status, &body["error"]),
        (400, &"invalid_grant".into()),
        "{body}"
    );

    // The mock connector allows authorization_code only: a login through it gets no refresh
    // token even with offline_access.
    let End::Redirect(back) = browse(
        &server,
        &format!(
            "client_id=example-app&redirect_uri={REDIRECT}&response_type=code\
             &scope=openid%20offline_access&state=m&connector_id=mock"
        ),
        None,
    )
    .await
    else {
        panic!("redirect")
    };
    let code = query(&back, "code").expect("code");
    let (status, body, _) = redeem(&server, &code).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    // And an implicit request through it is refused at /auth/{connector}.
    let End::Page(status, _) = browse(
        &server,
        &format!(
            "client_id=example-app&redirect_uri={REDIRECT}&response_type=id_token\
             &scope=openid&state=i&nonce=n&connector_id=mock"
        ),
        None,
    )
    .await
    else {
        panic!("an error page")
    };
    assert_eq!(status, 400);
}
