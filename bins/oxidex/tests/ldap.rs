//! The `ldap` connector through a real `oxidex serve` process against a real OpenLDAP server
//! (`crates/connectors/tests/support/slapd.rs`): a browser login through the password form to
//! an ID token with nested groups, a wrong password re-showing the form, the password grant,
//! refresh, and an error page (not a hang) once the directory is down.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

#[path = "../../../crates/connectors/tests/support/slapd.rs"]
mod slapd;

use std::time::{Duration, Instant};

use common::{Oxidex, REDIRECT, SQLITE_ISSUER, action, browser, hidden, location, password_page};
use serde_json::Value;
use slapd::{READER_DN, READER_PW, Slapd};

const SECRET: &str = "ZXhhbXBsZS1hcHAtc2VjcmV0";

/// SQLite, the example client, the password grant through `ldap`, a 1 s refresh reuse
/// interval, and the `ldap` connector
/// over LDAPS with the test CA, groups nested through `member`.
fn config(s: &Slapd) -> String {
    format!(
        r#"{SQLITE_ISSUER}oauth2:
  skipApprovalScreen: true
  passwordConnector: ldap
expiry:
  refreshTokens:
    reuseInterval: 1s
staticClients:
- id: example-app
  name: Example App
  secret: {SECRET}
  redirectURIs:
  - {REDIRECT}
connectors:
- type: ldap
  id: ldap
  name: OpenLDAP
  config:
    host: {host}
    rootCA: {ca}
    bindDN: {READER_DN}
    bindPW: {READER_PW}
    usernamePrompt: Directory login
    timeout: 3s
    userSearch:
      baseDN: ou=people,dc=example,dc=org
      filter: "(objectClass=inetOrgPerson)"
      username: uid
      idAttr: uid
      emailAttr: mail
      nameAttr: cn
      preferredUsernameAttr: uid
    groupSearch:
      baseDN: ou=groups,dc=example,dc=org
      filter: "(objectClass=groupOfNames)"
      userMatchers:
      - userAttr: DN
        groupAttr: member
        recursionGroupAttr: member
      nameAttr: cn
"#,
        host = s.ldaps_host(),
        ca = s.ca.display(),
    )
}

fn claims(id_token: &str) -> Value {
    let payload = id_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&oxidex_core::jose::b64url_decode(payload).unwrap()).unwrap()
}

fn groups(claims: &Value) -> Vec<String> {
    let mut g: Vec<String> = claims["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("no groups claim: {claims}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    g.sort();
    g
}

fn auth_url(server: &Oxidex) -> String {
    format!(
        "{}/auth?client_id=example-app&redirect_uri={}&response_type=code&scope={}&state=st4te",
        server.issuer,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(b"openid profile email groups offline_access")
            .collect::<String>(),
    )
}

/// Posts the password form `html`; the response.
async fn submit(
    b: &reqwest::Client,
    base: &str,
    html: &str,
    login: &str,
    password: &str,
) -> reqwest::Response {
    b.post(format!("{base}{}", action(html)))
        .form(&[
            ("login", login),
            ("password", password),
            ("csrf_token", hidden(html, "csrf_token").as_str()),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn ldap_logins_through_oxidex_serve() {
    let Some(mut s) = Slapd::start() else { return };
    let server = Oxidex::start(&config(&s)).await;
    let base = server.base.clone();
    let b = browser();

    // The password page of the ldap connector, with its prompt.
    let html = password_page(&b, &base, &auth_url(&server)).await;
    assert!(html.contains("Directory login"), "prompt shown");

    // A wrong password shows the form again with 401.
    let r = submit(&b, &base, &html, "jane", "wrong").await;
    assert_eq!(r.status(), 401);
    let again = r.text().await.unwrap();
    assert!(again.contains("name=\"password\""), "form re-shown");
    // A filter injection attempt is just a wrong login too.
    let r = submit(&b, &base, &again, "*)(uid=*", "jane-password").await;
    assert_eq!(r.status(), 401);
    let again = r.text().await.unwrap();

    // The right password: back to the client with a code.
    let r = submit(&b, &base, &again, "jane", "jane-password").await;
    assert_eq!(r.status(), 303);
    let mut loc = location(&r);
    for _ in 0..5 {
        if loc.starts_with(REDIRECT) {
            break;
        }
        let r = b.get(format!("{base}{loc}")).send().await.unwrap();
        assert!(r.status().is_redirection(), "{loc}: {}", r.status());
        loc = location(&r);
    }
    assert!(loc.starts_with(REDIRECT), "{loc}");
    assert_eq!(common::query(&loc, "state").as_deref(), Some("st4te"));
    let code = common::query(&loc, "code").unwrap();

    let (status, tokens, _) = server
        .post(
            "/token",
            Some(("example-app", SECRET)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["email"], "jane@example.org");
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["name"], "Jane Doe");
    assert_eq!(id["preferred_username"], "jane");
    assert_eq!(
        groups(&id),
        ["cycle-a", "cycle-b", "developers", "engineering", "staff"]
    );

    // Refresh asks the directory again: a group change shows up.
    s.modify(
        "dn: cn=admins,ou=groups,dc=example,dc=org
changetype: modify
add: member
member: uid=jane,ou=people,dc=example,dc=org
",
    );
    // Within refreshTokens.reuseInterval the upstream is not asked (Dex); wait it out.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, refreshed, _) = server
        .post(
            "/token",
            Some(("example-app", SECRET)),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    let id = claims(refreshed["id_token"].as_str().unwrap());
    assert!(groups(&id).contains(&"admins".to_owned()), "{id}");

    // The password grant through oauth2.passwordConnector: ldap.
    let (status, granted, _) = server
        .post(
            "/token",
            Some(("example-app", SECRET)),
            &[
                ("grant_type", "password"),
                ("username", "john"),
                ("password", "john-password"),
                ("scope", "openid email groups"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{granted}");
    let id = claims(granted["id_token"].as_str().unwrap());
    assert_eq!(id["email"], "john@example.org");
    assert_eq!(groups(&id), ["admins", "staff"]);
    let (status, refused, _) = server
        .post(
            "/token",
            Some(("example-app", SECRET)),
            &[
                ("grant_type", "password"),
                ("username", "john"),
                ("password", "wrong"),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_ne!(status, 200);
    assert_eq!(refused["error"], "invalid_grant", "{refused}");

    // The directory goes away: the login page still renders, the submission ends on an error
    // page quickly, and the refresh fails instead of hanging.
    s.stop();
    let b = browser();
    let html = password_page(&b, &base, &auth_url(&server)).await;
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(20),
        submit(&b, &base, &html, "jane", "jane-password"),
    )
    .await
    .expect("the login does not hang");
    assert!(started.elapsed() < Duration::from_secs(10));
    let status = r.status().as_u16();
    let page = r.text().await.unwrap();
    assert_eq!(status, 503, "temporarily unavailable page expected: {page}");
    assert!(page.contains("<html"), "{page}");
    assert!(!page.contains("name=\"password\""), "not the form again");
    assert!(
        !page.contains("127.0.0.1"),
        "no upstream details for users: {page}"
    );

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
    let (status, body, _) = tokio::time::timeout(
        Duration::from_secs(20),
        server.post(
            "/token",
            Some(("example-app", SECRET)),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        ),
    )
    .await
    .expect("the refresh does not hang");
    // The directory is down, not the grant: 503 server_error with Retry-After, so kubectl and
    // other clients keep the refresh token and retry.
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("server_error")),
        "{body}"
    );
}
