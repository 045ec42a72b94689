//! The `ldap` connector against a real OpenLDAP server (`support/slapd.rs`): plain LDAP,
//! LDAPS and StartTLS with a custom CA, wrong passwords, filter injection, nested and cyclic
//! groups, refresh after directory changes, an Active Directory style layout, and servers
//! that refuse or never answer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

#[path = "support/slapd.rs"]
mod slapd;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use oxidex_core::Error;
use oxidex_core::connector::{
    Connector, LoginMethod, OpenContext, PasswordConnector, PasswordLogin,
};
use oxidex_core::model::{Identity, Scopes};
use serde_json::{Value, json};
use slapd::{READER_DN, READER_PW, Slapd};

const ALL: Scopes = Scopes {
    offline_access: true,
    groups: true,
};
const NONE: Scopes = Scopes {
    offline_access: false,
    groups: false,
};

/// An OpenLDAP config over plain LDAP: users by uid under ou=people, groupOfNames and
/// posixGroup groups, nested through `member`.
fn openldap(s: &Slapd) -> Value {
    json!({
        "host": s.ldap_host(),
        "insecureNoSSL": true,
        "bindDN": READER_DN,
        "bindPW": READER_PW,
        "usernamePrompt": "Username",
        "timeout": "5s",
        "userSearch": {
            "baseDN": "ou=people,dc=example,dc=org",
            "filter": "(objectClass=inetOrgPerson)",
            "username": "uid",
            "idAttr": "uid",
            "emailAttr": "mail",
            "nameAttr": "cn",
            "preferredUsernameAttr": "uid"
        },
        "groupSearch": {
            "baseDN": "ou=groups,dc=example,dc=org",
            "filter": "(|(objectClass=groupOfNames)(objectClass=posixGroup))",
            "userMatchers": [
                {"userAttr": "DN", "groupAttr": "member", "recursionGroupAttr": "member"},
                {"userAttr": "uid", "groupAttr": "memberUid"}
            ],
            "nameAttr": "cn"
        }
    })
}

async fn open(config: Value) -> Result<Connector, Error> {
    let registry = oxidex_connectors::registry();
    let factory = registry.get("ldap").expect("ldap registered").clone();
    factory.open(&OpenContext::new("ldap"), config).await
}

fn password(c: &Connector) -> Arc<dyn PasswordConnector> {
    match c.login() {
        LoginMethod::Password(p) => p.clone(),
        other => panic!("ldap must be a password connector, got {other:?}"),
    }
}

async fn login(
    c: &Connector,
    scopes: Scopes,
    user: &str,
    pw: &str,
) -> Result<PasswordLogin, Error> {
    password(c).login(scopes, user, pw).await
}

async fn identity(c: &Connector, scopes: Scopes, user: &str, pw: &str) -> Identity {
    match login(c, scopes, user, pw).await.unwrap() {
        PasswordLogin::Authenticated(i) => i,
        PasswordLogin::InvalidCredentials => panic!("{user} should log in"),
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn message(e: &Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(" / {s}"));
        source = s.source();
    }
    text
}

#[tokio::test]
async fn plain_ldap_login_identity_and_nested_groups() {
    let Some(s) = Slapd::start() else { return };
    let c = open(openldap(&s)).await.unwrap();
    assert!(c.refresh().is_some(), "ldap refreshes");
    assert_eq!(password(&c).prompt(), "Username");

    let jane = identity(&c, ALL, "jane", "jane-password").await;
    assert_eq!(jane.user_id, "jane");
    assert_eq!(jane.username, "Jane Doe");
    assert_eq!(jane.preferred_username, "jane");
    assert_eq!(jane.email, "jane@example.org");
    assert!(jane.email_verified, "Dex: always true");
    // developers ⊂ engineering ⊂ staff; cycle-a ⊂ cycle-b ⊂ cycle-a; posix-users by uid.
    assert_eq!(
        sorted(jane.groups.clone()),
        [
            "cycle-a",
            "cycle-b",
            "developers",
            "engineering",
            "posix-users",
            "staff"
        ]
    );
    let data: Value = serde_json::from_slice(jane.connector_data.as_deref().unwrap()).unwrap();
    assert_eq!(data["username"], "jane");
    assert_eq!(data["entry"]["DN"], "uid=jane,ou=people,dc=example,dc=org");

    // Without the scopes: no groups, no connector data.
    let plain = identity(&c, NONE, "jane", "jane-password").await;
    assert!(plain.groups.is_empty() && plain.connector_data.is_none());

    // Without recursion only the direct groups.
    let mut config = openldap(&s);
    config["groupSearch"]["userMatchers"] = json!([{"userAttr": "DN", "groupAttr": "member"}]);
    let direct = open(config).await.unwrap();
    let jane = identity(&direct, ALL, "jane", "jane-password").await;
    assert_eq!(sorted(jane.groups), ["cycle-a", "developers"]);

    // idAttr: DN and emailSuffix, deprecated single matcher.
    let mut config = openldap(&s);
    config["userSearch"]["idAttr"] = json!("DN");
    config["userSearch"]["emailSuffix"] = json!("corp.example");
    config["groupSearch"]
        .as_object_mut()
        .unwrap()
        .remove("userMatchers");
    config["groupSearch"]["userAttr"] = json!("uid");
    config["groupSearch"]["groupAttr"] = json!("memberUid");
    let registry = oxidex_connectors::registry();
    let warnings = registry
        .get("ldap")
        .unwrap()
        .check(&OpenContext::new("ldap"), &config)
        .unwrap();
    assert!(
        warnings.iter().any(|w| w.contains("deprecated")),
        "{warnings:?}"
    );
    let c = open(config).await.unwrap();
    let john = identity(&c, ALL, "john", "john-password").await;
    assert_eq!(john.user_id, "uid=john,ou=people,dc=example,dc=org");
    assert_eq!(john.email, "John Smith@corp.example");
    assert!(john.groups.is_empty());
    let jane = identity(&c, ALL, "jane", "jane-password").await;
    assert_eq!(jane.groups, ["posix-users"]);
}

#[tokio::test]
async fn ldaps_and_starttls_with_a_custom_ca() {
    let Some(s) = Slapd::start() else { return };
    let ca_data = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&s.ca).unwrap());
    let tls = |mut config: Value, host: String, extra: Value| {
        config["host"] = json!(host);
        config["insecureNoSSL"] = json!(false);
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        config
    };
    let cases = [
        (
            "LDAPS, rootCA file",
            s.ldaps_host(),
            json!({"rootCA": s.ca}),
        ),
        (
            "LDAPS, rootCAData",
            s.ldaps_host(),
            json!({"rootCAData": ca_data}),
        ),
        (
            "LDAPS, client certificate",
            s.ldaps_host(),
            json!({"rootCA": s.ca, "clientCert": s.client_cert, "clientKey": s.client_key}),
        ),
        (
            "LDAPS, insecureSkipVerify",
            s.ldaps_host(),
            json!({"insecureSkipVerify": true}),
        ),
        (
            "StartTLS, rootCA file",
            s.ldap_host(),
            json!({"startTLS": true, "rootCA": s.ca}),
        ),
        (
            "StartTLS, rootCAData",
            s.ldap_host(),
            json!({"startTLS": true, "rootCAData": ca_data}),
        ),
    ];
    for (name, host, extra) in cases {
        let c = open(tls(openldap(&s), host, extra))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let jane = match login(&c, ALL, "jane", "jane-password").await {
            Ok(PasswordLogin::Authenticated(i)) => i,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(jane.user_id, "jane", "{name}");
        assert!(jane.groups.contains(&"staff".to_owned()), "{name}");
        assert_eq!(
            login(&c, NONE, "jane", "wrong").await.unwrap(),
            PasswordLogin::InvalidCredentials,
            "{name}"
        );
    }
    // slapd saw TLS connections.
    assert!(
        s.log().contains("EXT oid=1.3.6.1.4.1.1466.20037"),
        "StartTLS requested"
    );
}

#[tokio::test]
async fn wrong_ca_is_a_clear_error() {
    let Some(s) = Slapd::start() else { return };
    for (host, start_tls) in [(s.ldaps_host(), false), (s.ldap_host(), true)] {
        let mut config = openldap(&s);
        config["host"] = json!(host);
        config["insecureNoSSL"] = json!(false);
        config["startTLS"] = json!(start_tls);
        config["rootCA"] = json!(s.wrong_ca);
        let c = open(config).await.unwrap();
        let err = login(&c, NONE, "jane", "jane-password").await.unwrap_err();
        let text = message(&err);
        eprintln!("wrong CA: {text}");
        assert!(
            text.contains(&host) && text.to_lowercase().contains("certificate"),
            "{text}"
        );
        assert!(!text.contains("jane-password"), "{text}");
    }
    // TLS against the plain port: a clear error too, not a hang.
    let mut config = openldap(&s);
    config["insecureNoSSL"] = json!(false);
    config["rootCA"] = json!(s.ca);
    let c = open(config).await.unwrap();
    let started = Instant::now();
    let err = login(&c, NONE, "jane", "jane-password").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(8), "{err}");
    assert!(message(&err).contains(&s.ldap_host()), "{err}");
}

#[tokio::test]
async fn wrong_password_unknown_user_and_empty_password() {
    let Some(s) = Slapd::start() else { return };
    let c = open(openldap(&s)).await.unwrap();
    for (user, pw) in [
        ("jane", "wrong"),
        ("jane", "JANE-PASSWORD"),
        ("nobody", "jane-password"),
        ("", "jane-password"),
    ] {
        assert_eq!(
            login(&c, ALL, user, pw).await.unwrap(),
            PasswordLogin::InvalidCredentials,
            "{user:?}/{pw:?}"
        );
    }
    // An empty password never reaches the server: an unauthenticated bind (RFC 4513 §5.1.2)
    // would succeed for any DN.
    let before = s.connections();
    for user in ["jane", "uid=jane,ou=people,dc=example,dc=org", "*"] {
        // A NUL would cut the password short in C-string back ends (security.md LD-01).
        for password in ["", "\0", "\0jane-password", "jane-password\0"] {
            assert_eq!(
                login(&c, ALL, user, password).await.unwrap(),
                PasswordLogin::InvalidCredentials,
                "{user:?}/{password:?}"
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        s.connections(),
        before,
        "no connection for an empty password or one with NUL"
    );
    // The log never holds a password.
    assert!(!s.log().contains("jane-password"));
}

#[tokio::test]
async fn filter_injection_never_authenticates() {
    let Some(s) = Slapd::start() else { return };
    let mut config = openldap(&s);
    config["userSearch"]["username"] = json!(["uid", "mail"]);
    let c = open(config).await.unwrap();
    // By mail through the OR filter.
    let jane = identity(&c, NONE, "jane@example.org", "jane-password").await;
    assert_eq!(jane.user_id, "jane");
    for hostile in [
        "*",
        "j*",
        "ja*e",
        "admin)(uid=*",
        "jane)(uid=*",
        "*)(|(uid=*",
        "jane)(|(objectClass=*)",
        "*)(objectClass=*))(|(uid=*",
        "\\",
        "jane\\",
        "jane\0",
        "\0",
        "(",
        ")",
        "jane)",
        "(uid=jane)",
        "uid=jane,ou=people,dc=example,dc=org",
    ] {
        for pw in ["jane-password", "john-password", "x"] {
            let result = login(&c, ALL, hostile, pw).await;
            assert!(
                matches!(result, Ok(PasswordLogin::InvalidCredentials)),
                "{hostile:?}/{pw}: {result:?}"
            );
        }
    }
}

#[tokio::test]
async fn special_characters_in_dn_and_username() {
    let Some(s) = Slapd::start() else { return };
    let c = open(openldap(&s)).await.unwrap();
    let anne = identity(&c, ALL, "a*n(n)e\\x", "anne-password").await;
    assert_eq!(anne.user_id, "a*n(n)e\\x");
    assert_eq!(anne.username, "Anne Smith, Jr. (ops)*");
    assert_eq!(
        anne.groups,
        ["special-group"],
        "member lookup by an escaped DN"
    );
    let data: Value = serde_json::from_slice(anne.connector_data.as_deref().unwrap()).unwrap();
    let refreshed = c
        .refresh()
        .unwrap()
        .refresh(ALL, anne.clone())
        .await
        .unwrap();
    assert_eq!(refreshed.groups, ["special-group"]);
    assert!(data["entry"]["DN"].as_str().unwrap().contains("Anne Smith"));
    for near in ["a*", "a\\2an(n)e\\x", "a*n(n)e\\"] {
        assert_eq!(
            login(&c, ALL, near, "anne-password").await.unwrap(),
            PasswordLogin::InvalidCredentials,
            "{near}"
        );
    }
}

#[tokio::test]
async fn multiple_matches_and_missing_attributes_are_refused() {
    let Some(s) = Slapd::start() else { return };
    let mut config = openldap(&s);
    config["userSearch"]["username"] = json!("mail");
    let c = open(config).await.unwrap();
    let err = login(&c, NONE, "twins@example.org", "twin-password")
        .await
        .unwrap_err();
    assert!(message(&err).contains("matched 2 entries"), "{err}");

    let c = open(openldap(&s)).await.unwrap();
    let err = login(&c, NONE, "nomail", "nomail-password")
        .await
        .unwrap_err();
    assert!(message(&err).contains("\"mail\""), "{err}");
    // Still a wrong password first: no attribute is read before the bind succeeds.
    assert_eq!(
        login(&c, NONE, "nomail", "wrong").await.unwrap(),
        PasswordLogin::InvalidCredentials
    );
}

#[tokio::test]
async fn refresh_rereads_groups_and_fails_for_a_deleted_user() {
    let Some(s) = Slapd::start() else { return };
    let c = open(openldap(&s)).await.unwrap();
    let refresher = c.refresh().unwrap().clone();
    let jane = identity(&c, ALL, "jane", "jane-password").await;
    assert!(jane.groups.contains(&"engineering".to_owned()));

    s.modify(
        "dn: cn=developers,ou=groups,dc=example,dc=org
changetype: modify
delete: member
member: uid=jane,ou=people,dc=example,dc=org
-
add: member
member: uid=john,ou=people,dc=example,dc=org

dn: cn=admins,ou=groups,dc=example,dc=org
changetype: modify
add: member
member: uid=jane,ou=people,dc=example,dc=org

dn: uid=jane,ou=people,dc=example,dc=org
changetype: modify
replace: mail
mail: jane.doe@example.org
",
    );
    let fresh = refresher.refresh(ALL, jane.clone()).await.unwrap();
    assert_eq!(fresh.user_id, "jane");
    assert_eq!(fresh.email, "jane.doe@example.org");
    assert_eq!(
        sorted(fresh.groups.clone()),
        ["admins", "cycle-a", "cycle-b", "posix-users", "staff"]
    );
    assert_eq!(
        fresh.connector_data, jane.connector_data,
        "kept for the next refresh"
    );
    let no_groups = refresher.refresh(NONE, jane.clone()).await.unwrap();
    assert!(no_groups.groups.is_empty());

    // Without connector data, or with garbage, refresh fails.
    let mut bare = jane.clone();
    bare.connector_data = None;
    assert!(refresher.refresh(ALL, bare).await.is_err());
    let mut garbage = jane.clone();
    garbage.connector_data = Some(b"not json".to_vec());
    assert!(refresher.refresh(ALL, garbage).await.is_err());

    // Another entry now answers to the username: refused.
    let mut moved = jane.clone();
    moved.connector_data = Some(
        serde_json::to_vec(
            &json!({"username": "jane", "entry": {"DN": "uid=jane,ou=old,dc=example,dc=org"}}),
        )
        .unwrap(),
    );
    let err = refresher.refresh(ALL, moved).await.unwrap_err();
    assert!(message(&err).contains("expected entry"), "{err}");

    s.modify(
        "dn: uid=jane,ou=people,dc=example,dc=org
changetype: delete
",
    );
    let err = refresher.refresh(ALL, jane).await.unwrap_err();
    assert!(message(&err).contains("no longer found"), "{err}");
}

#[tokio::test]
async fn active_directory_style() {
    let Some(s) = Slapd::start() else { return };
    let config = json!({
        "host": s.ldaps_host(),
        "rootCA": s.ca,
        "bindDN": READER_DN,
        "bindPW": READER_PW,
        "usernamePrompt": "Email Address",
        "userSearch": {
            "baseDN": "ou=users,ou=ad,dc=example,dc=org",
            "filter": "(objectClass=inetOrgPerson)",
            "username": "userPrincipalName",
            "idAttr": "DN",
            "emailAttr": "userPrincipalName",
            "nameAttr": "cn",
            "preferredUsernameAttr": "sAMAccountName"
        },
        "groupSearch": {
            "baseDN": "ou=groups,ou=ad,dc=example,dc=org",
            "filter": "(objectClass=groupOfNames)",
            "userMatchers": [
                {"userAttr": "memberOf", "groupAttr": "DN", "recursionGroupAttr": "member"}
            ],
            "nameAttr": "cn"
        }
    });
    let c = open(config).await.unwrap();
    assert_eq!(password(&c).prompt(), "Email Address");
    let alice = identity(&c, ALL, "alice@corp.example.org", "alice-password").await;
    assert_eq!(
        alice.user_id,
        "cn=Alice Adams,ou=users,ou=ad,dc=example,dc=org"
    );
    assert_eq!(alice.email, "alice@corp.example.org");
    assert_eq!(alice.preferred_username, "alice");
    assert_eq!(alice.username, "Alice Adams");
    // memberOf values outside the base DN and of deleted groups are ignored; ad-all holds
    // ad-devs.
    assert_eq!(
        sorted(alice.groups.clone()),
        ["ad-all", "ad-devs", "ad-vpn"]
    );
    // userPrincipalName matches case-insensitively, as in AD.
    let again = identity(&c, NONE, "ALICE@corp.example.org", "alice-password").await;
    assert_eq!(again.user_id, alice.user_id);
    let refreshed = c.refresh().unwrap().refresh(ALL, alice).await.unwrap();
    assert_eq!(sorted(refreshed.groups), ["ad-all", "ad-devs", "ad-vpn"]);
}

#[tokio::test]
async fn service_bind_failures_and_anonymous_binds() {
    let Some(s) = Slapd::start() else { return };
    let mut config = openldap(&s);
    config["bindPW"] = json!("wrong");
    let c = open(config).await.unwrap();
    let err = login(&c, NONE, "jane", "jane-password").await.unwrap_err();
    let text = message(&err);
    assert!(
        text.contains("bindDN") && text.contains(READER_DN),
        "{text}"
    );
    assert!(!text.contains("jane-password"));

    // Anonymous: the ACLs hide the directory from anonymous, so slapd answers noSuchObject
    // for the base DN: an error naming the search, not a silent "wrong password".
    let mut config = openldap(&s);
    config.as_object_mut().unwrap().remove("bindDN");
    config.as_object_mut().unwrap().remove("bindPW");
    let c = open(config).await.unwrap();
    let err = login(&c, NONE, "jane", "jane-password").await.unwrap_err();
    let text = message(&err);
    assert!(
        text.contains("ou=people,dc=example,dc=org") && text.contains("result 32"),
        "{text}"
    );
    assert!(
        s.log().contains("BIND dn=\"\" method=128"),
        "anonymous bind"
    );
}

#[tokio::test]
async fn unreachable_host_fails_fast_with_a_clear_message() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = json!({
        "host": format!("127.0.0.1:{port}"),
        "insecureNoSSL": true,
        "userSearch": {"baseDN": "dc=example,dc=org", "username": "uid", "idAttr": "uid", "emailAttr": "mail"}
    });
    let c = open(config).await.unwrap();
    let started = Instant::now();
    let err = login(&c, NONE, "jane", "pw").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let text = message(&err);
    eprintln!("closed port: {text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(
        matches!(err, Error::UpstreamUnavailable { .. }),
        "temporary, so a refresh is retried: {err:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_hits_the_timeout() {
    // Accepts TCP (the kernel completes the handshake for the backlog) but never speaks.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    for tls in [false, true] {
        let config = json!({
            "host": host,
            "insecureNoSSL": !tls,
            "insecureSkipVerify": tls,
            "timeout": "1s",
            "userSearch": {"baseDN": "dc=example,dc=org", "username": "uid", "idAttr": "uid", "emailAttr": "mail"}
        });
        let c = open(config).await.unwrap();
        let started = Instant::now();
        let err = login(&c, NONE, "jane", "pw").await.unwrap_err();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(4),
            "tls={tls}: {took:?}"
        );
        let text = message(&err);
        eprintln!("silent server: {text}");
        assert!(
            text.contains("no answer within 1s") && text.contains(&host),
            "{text}"
        );
    }
    drop(listener);
}

#[tokio::test]
async fn config_mistakes_are_refused_without_network() {
    let registry = oxidex_connectors::registry();
    let factory = registry.get("ldap").unwrap();
    let ctx = OpenContext::new("corp-ldap");
    let good = json!({
        "host": "ldap.invalid",
        "insecureNoSSL": true,
        "userSearch": {"baseDN": "dc=example,dc=org", "username": "uid", "idAttr": "uid", "emailAttr": "mail"}
    });
    let warnings = factory.check(&ctx, &good).unwrap();
    assert!(
        warnings.iter().any(|w| w.contains("insecureNoSSL")),
        "{warnings:?}"
    );
    let mut bad = good.clone();
    bad["userSearch"]["usernme"] = json!("uid");
    let err = factory.check(&ctx, &bad).unwrap_err();
    assert!(
        matches!(&err, Error::ConnectorConfig { connector_id, message } if connector_id == "corp-ldap" && message.contains("userSearch.usernme")),
        "{err:?}"
    );
    let mut bad = good.clone();
    bad["kerberos"] = json!({"enabled": true});
    let err = open(bad).await.unwrap_err();
    assert!(err.to_string().contains("not supported"), "{err}");
    let mut bad = good;
    bad["startTLS"] = json!(true);
    assert!(
        open(bad)
            .await
            .unwrap_err()
            .to_string()
            .contains("startTLS")
    );
}
