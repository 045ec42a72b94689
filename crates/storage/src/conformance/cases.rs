//! The cases. Each takes a [`Store`] over a fresh, empty backend.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::panic::Location;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use oxidex_core::model::{
    AuthCode, AuthRequest, Claims, Client, ClientCredentialsClaims, ConnectorRecord, DeviceRequest,
    DeviceToken, DeviceTokenStatus, Jwk, OfflineSessions, Password, Pkce, PkceMethod, RefreshToken,
    RefreshTokenRef, RevokedToken, SigningKeys, VerificationKey,
};
use oxidex_core::secret::{ClientSecret, TokenHash};
use oxidex_core::storage::{RecordKind, Store, Versioned};
use oxidex_core::{Error, ErrorKind};

use super::{Case, CaseFuture};

/// A failed check inside a case.
#[derive(Debug)]
pub(crate) struct Check {
    pub(crate) location: String,
    pub(crate) message: String,
}

impl Check {
    #[track_caller]
    fn new(message: String) -> Self {
        let at = Location::caller();
        Self {
            location: format!("{}:{}", at.file(), at.line()),
            message,
        }
    }
}

impl From<Error> for Check {
    #[track_caller]
    fn from(e: Error) -> Self {
        Check::new(format!("unexpected storage error: {e}"))
    }
}

type CaseResult = Result<(), Check>;

#[track_caller]
fn ensure(condition: bool, what: impl FnOnce() -> String) -> CaseResult {
    if condition {
        Ok(())
    } else {
        Err(Check::new(what()))
    }
}

#[track_caller]
fn ensure_eq<T: PartialEq + Debug>(left: &T, right: &T, what: &str) -> CaseResult {
    if left == right {
        Ok(())
    } else {
        Err(Check::new(format!(
            "{what}:\n  got:      {left:?}\n  expected: {right:?}"
        )))
    }
}

#[track_caller]
fn expect_err<T: Debug>(result: oxidex_core::Result<T>, kind: ErrorKind, what: &str) -> CaseResult {
    match result {
        Err(e) if e.kind() == kind => Ok(()),
        Err(e) => Err(Check::new(format!(
            "{what}: expected {kind:?}, got error {e}"
        ))),
        Ok(v) => Err(Check::new(format!(
            "{what}: expected {kind:?}, got Ok({v:?})"
        ))),
    }
}

/// Defines the case table from the kit's one list of names.
#[doc(hidden)]
#[macro_export]
macro_rules! __storage_conformance_case_table {
    ($($name:ident),+ $(,)?) => {
        pub(crate) const CASES: &[Case] = &[
            $(Case { name: stringify!($name), run: |store| -> CaseFuture { Box::pin($name(store)) } }),+
        ];
    };
}

crate::__storage_conformance_case_list!(__storage_conformance_case_table {});

/// The names of every case, for harnesses that list them.
pub fn case_names() -> Vec<&'static str> {
    CASES.iter().map(|c| c.name).collect()
}

// ---------------------------------------------------------------------------------------------
// Sample records

/// A fixed instant with nanoseconds, so precision loss shows.
fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 15, 9, 26)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
        + Duration::nanoseconds(535_897_932)
}

fn claims(user: &str) -> Claims {
    Claims {
        user_id: user.into(),
        username: format!("{user} name"),
        preferred_username: user.into(),
        email: format!("{user}@example.com"),
        email_verified: true,
        groups: vec!["admins".into(), "développeurs".into()],
        auth_time: Some(base_time()),
    }
}

fn pkce() -> Pkce {
    Pkce {
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        code_challenge_method: PkceMethod::S256,
    }
}

fn client(id: &str) -> Client {
    Client {
        id: id.into(),
        secret: ClientSecret::new(format!("{id}-secret")),
        redirect_uris: vec![
            "https://app.example/callback".into(),
            "http://127.0.0.1:5555/cb".into(),
        ],
        trusted_peers: vec!["kubectl".into()],
        public: false,
        name: "Example App ✓".into(),
        logo_url: "https://app.example/logo.png".into(),
        allowed_connectors: vec!["local".into(), "ldap".into()],
        client_credentials_claims: Some(ClientCredentialsClaims {
            groups: vec!["robots".into()],
        }),
    }
}

fn auth_request(id: &str, expiry: DateTime<Utc>) -> AuthRequest {
    AuthRequest {
        id: id.into(),
        client_id: "example-app".into(),
        response_types: vec!["code".into()],
        scopes: vec!["openid".into(), "email".into(), "groups".into()],
        redirect_uri: "https://app.example/callback".into(),
        nonce: "n-0S6_WzA2Mj".into(),
        state: "af0ifjsldkj".into(),
        force_approval_prompt: true,
        expiry,
        logged_in: false,
        claims: Claims::default(),
        connector_id: String::new(),
        connector_data: None,
        pkce: Some(pkce()),
        hmac_key: Some(vec![7; 32]),
        response_mode: "form_post".into(),
        login_hint: "jane@example.com".into(),
    }
}

fn auth_code(code: &str, expiry: DateTime<Utc>) -> AuthCode {
    AuthCode {
        code_hash: TokenHash::of(code),
        client_id: "example-app".into(),
        redirect_uri: "https://app.example/callback".into(),
        nonce: "nonce".into(),
        scopes: vec!["openid".into(), "offline_access".into()],
        connector_id: "ldap".into(),
        connector_data: Some(br#"{"some":"data"}"#.to_vec()),
        claims: claims("jane"),
        expiry,
        pkce: Some(pkce()),
        redeemed: false,
        issued_refresh_token: None,
    }
}

fn refresh_token(id: &str, secret: &str) -> RefreshToken {
    RefreshToken {
        id: id.into(),
        token_hash: TokenHash::of(secret),
        obsolete_token_hash: None,
        successor_sealed: None,
        created_at: base_time(),
        last_used: base_time(),
        client_id: "example-app".into(),
        connector_id: "ldap".into(),
        connector_data: None,
        claims: claims("jane"),
        scopes: vec!["openid".into(), "offline_access".into()],
        nonce: "0".into(),
        upstream_refresh_until: None,
    }
}

fn password(email: &str) -> Password {
    Password {
        email: email.into(),
        hash: "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W".into(),
        username: "jane".into(),
        name: "Jane Doe".into(),
        preferred_username: "jdoe".into(),
        email_verified: Some(false),
        user_id: "08a8684b-db88-4b73-90a9-3cd1661f5466".into(),
        groups: vec!["team-a".into()],
    }
}

fn offline_sessions(user: &str, conn: &str) -> OfflineSessions {
    OfflineSessions {
        user_id: user.into(),
        conn_id: conn.into(),
        refresh: BTreeMap::new(),
        connector_data: Some(b"upstream-refresh-state".to_vec()),
    }
}

fn connector(id: &str) -> ConnectorRecord {
    ConnectorRecord {
        id: id.into(),
        connector_type: "ldap".into(),
        name: format!("LDAP {id}"),
        resource_version: "1".into(),
        config: serde_json::json!({
            "host": "ldap.example.com:636",
            "userSearch": {"baseDN": "ou=People,dc=example,dc=com", "username": ["uid", "mail"]},
        }),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
    }
}

fn device_request(user_code: &str, device_code: &str, expiry: DateTime<Utc>) -> DeviceRequest {
    DeviceRequest {
        user_code: user_code.into(),
        device_code_hash: TokenHash::of(device_code),
        client_id: "kubectl".into(),
        scopes: vec!["openid".into(), "groups".into()],
        expiry,
        browser_binding: Some(TokenHash::of("browser")),
    }
}

fn device_token(device_code: &str, expiry: DateTime<Utc>) -> DeviceToken {
    DeviceToken {
        device_code_hash: TokenHash::of(device_code),
        client_id: "kubectl".into(),
        status: DeviceTokenStatus::Pending,
        claims: None,
        scopes: vec![],
        connector_id: String::new(),
        connector_data: None,
        expiry,
        last_request_time: base_time(),
        poll_interval_seconds: 5,
        pkce: Some(pkce()),
    }
}

/// A P-256 test key made with `openssl ecparam -name prime256v1 -genkey`.
fn es256_key() -> Jwk {
    Jwk {
        kty: "EC".into(),
        kid: "es256-test".into(),
        alg: "ES256".into(),
        key_use: "sig".into(),
        crv: Some("P-256".into()),
        x: Some("cGapnXPM5tuE_jytMIG85NPg8ndVCr38c0G2b0wxmdk".into()),
        y: Some("Ey5lu20vnDShj6Y4vmi4kRBA2jEw_-2Q3jpRL7N208M".into()),
        d: Some("UOUzRhEndyQ4dHgv887Kkmw-WaCApswAB1vBeM0EfWg".into()),
        ..Jwk::default()
    }
}

fn rsa_key() -> Result<Jwk, Check> {
    serde_json::from_str(include_str!("testdata/rsa-2048.jwk.json"))
        .map_err(|e| Check::new(format!("bundled RSA test key: {e}")))
}

fn ed25519_public() -> Jwk {
    // RFC 8037 Appendix A.2's public key.
    Jwk {
        kty: "OKP".into(),
        kid: "ed25519-test".into(),
        alg: "EdDSA".into(),
        key_use: "sig".into(),
        crv: Some("Ed25519".into()),
        x: Some("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into()),
        ..Jwk::default()
    }
}

// ---------------------------------------------------------------------------------------------
// CRUD per record family (Dex AuthRequestCRUD, AuthCodeCRUD, ClientCRUD, ...)

async fn auth_request_crud(store: Store) -> CaseResult {
    let expiry = base_time() + Duration::hours(24);
    let first = auth_request("a1", expiry);
    let second = auth_request("a2", expiry);
    store.create(&first).await?;
    store.create(&second).await?;
    expect_err(
        store.create(&first).await,
        ErrorKind::AlreadyExists,
        "duplicate create",
    )?;

    let got = store.get::<AuthRequest>("a1").await?;
    ensure_eq(&got.value, &first, "auth request read back")?;

    let updated = store
        .update::<AuthRequest, _>("a1", |mut r| {
            r.logged_in = true;
            r.claims = claims("jane");
            r.connector_id = "ldap".into();
            r.connector_data = Some(b"opaque".to_vec());
            Ok(r)
        })
        .await?;
    let got = store.get::<AuthRequest>("a1").await?;
    ensure_eq(&got.value, &updated, "updated auth request")?;
    ensure(
        got.value.logged_in && got.value.claims.user_id == "jane",
        || "update did not persist".into(),
    )?;
    ensure_eq(&got.value.pkce, &Some(pkce()), "PKCE survives the update")?;

    store.delete::<AuthRequest>("a1").await?;
    expect_err(
        store.get::<AuthRequest>("a1").await,
        ErrorKind::NotFound,
        "get after delete",
    )?;
    expect_err(
        store.delete::<AuthRequest>("a1").await,
        ErrorKind::NotFound,
        "second delete",
    )?;
    ensure_eq(
        &store.get::<AuthRequest>("a2").await?.value,
        &second,
        "the other request is untouched",
    )?;
    store.delete::<AuthRequest>("a2").await?;
    expect_err(
        store.get::<AuthRequest>("a2").await,
        ErrorKind::NotFound,
        "get a2",
    )
}

async fn auth_code_crud(store: Store) -> CaseResult {
    let code = auth_code("the-code-value", base_time() + Duration::minutes(30));
    let key = code.code_hash.to_key();
    store.create(&code).await?;
    expect_err(
        store.create(&code).await,
        ErrorKind::AlreadyExists,
        "duplicate create",
    )?;
    let got = store.get::<AuthCode>(&key).await?;
    ensure_eq(&got.value, &code, "auth code read back")?;
    ensure(got.value.code_hash.matches("the-code-value"), || {
        "stored hash no longer matches the code".into()
    })?;
    store.delete::<AuthCode>(&key).await?;
    expect_err(
        store.get::<AuthCode>(&key).await,
        ErrorKind::NotFound,
        "get after delete",
    )?;
    expect_err(
        store.delete::<AuthCode>(&key).await,
        ErrorKind::NotFound,
        "second delete",
    )
}

async fn auth_code_delete_is_single_use(store: Store) -> CaseResult {
    // Redeeming a code is deleting it: of concurrent redemptions exactly one may win
    // (reference/security.md OA-19).
    let code = auth_code("race-me", base_time() + Duration::minutes(30));
    let key = code.code_hash.to_key();
    store.create(&code).await?;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(
            async move { store.delete::<AuthCode>(&key).await },
        ));
    }
    let mut won = 0;
    for task in tasks {
        match task.await {
            Ok(Ok(())) => won += 1,
            Ok(Err(e)) if e.is_not_found() => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(e) => return Err(Check::new(format!("task failed: {e}"))),
        }
    }
    ensure_eq(&won, &1, "concurrent deletes that succeeded")
}

async fn client_crud(store: Store) -> CaseResult {
    expect_err(
        store.delete::<Client>("example-app").await,
        ErrorKind::NotFound,
        "delete of a missing client",
    )?;
    expect_err(
        store.update::<Client, _>("example-app", Ok).await,
        ErrorKind::NotFound,
        "update of a missing client",
    )?;
    let c = client("example-app");
    store.create(&c).await?;
    expect_err(
        store.create(&c).await,
        ErrorKind::AlreadyExists,
        "duplicate create",
    )?;
    ensure_eq(
        &store.get::<Client>("example-app").await?.value,
        &c,
        "client read back (all fields)",
    )?;

    let mut expected = c.clone();
    expected.secret = ClientSecret::new("rotated");
    expected.redirect_uris = vec!["https://other.example/cb".into()];
    expected.public = true;
    expected.allowed_connectors.clear();
    expected.client_credentials_claims = None;
    let wanted = expected.clone();
    store
        .update::<Client, _>("example-app", move |_| Ok(wanted.clone()))
        .await?;
    let got = store.get::<Client>("example-app").await?.value;
    ensure_eq(&got, &expected, "updated client carries every field")?;
    ensure(got.secret.verify("rotated"), || "secret not updated".into())?;

    let listed = store.list::<Client>().await?;
    ensure_eq(&listed, &vec![expected], "list")?;
    store.delete::<Client>("example-app").await?;
    expect_err(
        store.get::<Client>("example-app").await,
        ErrorKind::NotFound,
        "get after delete",
    )
}

async fn refresh_token_crud(store: Store) -> CaseResult {
    let one = refresh_token("r1", "secret-1");
    let two = refresh_token("r2", "secret-2");
    store.create(&one).await?;
    expect_err(
        store.create(&one).await,
        ErrorKind::AlreadyExists,
        "duplicate create",
    )?;
    store.create(&two).await?;
    ensure_eq(
        &store.get::<RefreshToken>("r1").await?.value,
        &one,
        "r1 read back",
    )?;

    let later = base_time() + Duration::minutes(5);
    store
        .update::<RefreshToken, _>("r1", |mut t| {
            t.obsolete_token_hash = Some(t.token_hash);
            t.token_hash = TokenHash::of("secret-1b");
            t.last_used = later;
            Ok(t)
        })
        .await?;
    let got = store.get::<RefreshToken>("r1").await?.value;
    ensure(got.token_hash.matches("secret-1b"), || "new secret".into())?;
    ensure(
        got.obsolete_token_hash
            .is_some_and(|h| h.matches("secret-1")),
        || "obsolete secret kept".into(),
    )?;
    ensure_eq(&got.last_used, &later, "last used")?;
    // Dex #847: updating one token must not touch another.
    ensure_eq(
        &store.get::<RefreshToken>("r2").await?.value,
        &two,
        "r2 untouched",
    )?;

    let ids: Vec<String> = store
        .list::<RefreshToken>()
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    ensure_eq(&ids, &vec!["r1".to_owned(), "r2".to_owned()], "listed ids")?;
    store.delete::<RefreshToken>("r1").await?;
    expect_err(
        store.get::<RefreshToken>("r1").await,
        ErrorKind::NotFound,
        "get after delete",
    )?;
    ensure_eq(&store.list::<RefreshToken>().await?.len(), &1, "one left")
}

async fn password_crud(store: Store) -> CaseResult {
    let jane = password("Jane.Doe@Example.COM");
    store.create(&jane).await?;
    expect_err(
        store.create(&password("jane.doe@example.com")).await,
        ErrorKind::AlreadyExists,
        "duplicate create differing only in case",
    )?;
    for spelling in [
        "jane.doe@example.com",
        "JANE.DOE@EXAMPLE.COM",
        "Jane.Doe@Example.COM",
    ] {
        ensure_eq(
            &store.get::<Password>(spelling).await?.value,
            &jane,
            &format!("case-insensitive get of {spelling}"),
        )?;
    }
    store
        .update::<Password, _>("JANE.doe@example.com", |mut p| {
            p.hash = "$2a$10$updated".into();
            p.groups.push("team-b".into());
            p.email_verified = None;
            Ok(p)
        })
        .await?;
    let got = store.get::<Password>("jane.doe@example.com").await?.value;
    ensure_eq(&got.hash, &"$2a$10$updated".to_owned(), "updated hash")?;
    ensure_eq(
        &got.groups,
        &vec!["team-a".to_owned(), "team-b".to_owned()],
        "updated groups",
    )?;
    ensure(got.email_verified(), || {
        "emailVerified defaults to true when unset".into()
    })?;

    store.create(&password("alice@example.com")).await?;
    store.create(&password("zed@example.com")).await?;
    let emails: Vec<String> = store
        .list::<Password>()
        .await?
        .into_iter()
        .map(|p| p.email)
        .collect();
    ensure_eq(
        &emails,
        &vec![
            "alice@example.com".to_owned(),
            "Jane.Doe@Example.COM".to_owned(),
            "zed@example.com".to_owned(),
        ],
        "passwords listed in key order",
    )?;
    store.delete::<Password>("JANE.DOE@example.com").await?;
    expect_err(
        store.get::<Password>("jane.doe@example.com").await,
        ErrorKind::NotFound,
        "get after delete",
    )
}

async fn offline_sessions_crud(store: Store) -> CaseResult {
    let user = "CN=Jane Doe,OU=People:äö";
    let session = offline_sessions(user, "ldap");
    let key = OfflineSessions::key_for(user, "ldap");
    store.create(&session).await?;
    expect_err(
        store.create(&session).await,
        ErrorKind::AlreadyExists,
        "duplicate create",
    )?;
    ensure_eq(
        &store.get::<OfflineSessions>(&key).await?.value,
        &session,
        "read back",
    )?;
    // Same user at another connector is a different record.
    expect_err(
        store
            .get::<OfflineSessions>(&OfflineSessions::key_for(user, "github"))
            .await,
        ErrorKind::NotFound,
        "other connector",
    )?;

    let reference = RefreshTokenRef {
        id: "r1".into(),
        client_id: "example-app".into(),
        created_at: base_time(),
        last_used: base_time() + Duration::seconds(1),
    };
    let added = reference.clone();
    store
        .update::<OfflineSessions, _>(&key, move |mut s| {
            s.refresh.insert(added.id.clone(), added.clone());
            Ok(s)
        })
        .await?;
    let got = store.get::<OfflineSessions>(&key).await?.value;
    ensure_eq(
        &got.refresh.get("r1"),
        &Some(&reference),
        "refresh reference added",
    )?;
    store.delete::<OfflineSessions>(&key).await?;
    expect_err(
        store.get::<OfflineSessions>(&key).await,
        ErrorKind::NotFound,
        "get after delete",
    )
}

async fn connector_crud(store: Store) -> CaseResult {
    let one = connector("ldap-1");
    let two = connector("ldap-2");
    store.create(&one).await?;
    store.create(&two).await?;
    expect_err(
        store.create(&one).await,
        ErrorKind::AlreadyExists,
        "duplicate create",
    )?;
    ensure_eq(
        &store.get::<ConnectorRecord>("ldap-1").await?.value,
        &one,
        "read back",
    )?;
    store
        .update::<ConnectorRecord, _>("ldap-1", |mut c| {
            c.name = "Renamed".into();
            c.resource_version = "2".into();
            c.config = serde_json::json!({"host": "ldap2.example.com:636"});
            c.grant_types = vec!["password".into()];
            Ok(c)
        })
        .await?;
    let got = store.get::<ConnectorRecord>("ldap-1").await?.value;
    ensure_eq(&got.name, &"Renamed".to_owned(), "name")?;
    ensure_eq(
        &got.config,
        &serde_json::json!({"host": "ldap2.example.com:636"}),
        "config",
    )?;
    ensure_eq(
        &got.grant_types,
        &vec!["password".to_owned()],
        "grant types",
    )?;
    let listed = store.list::<ConnectorRecord>().await?;
    ensure_eq(&listed, &vec![got, two], "list")?;
    store.delete::<ConnectorRecord>("ldap-1").await?;
    expect_err(
        store.get::<ConnectorRecord>("ldap-1").await,
        ErrorKind::NotFound,
        "get after delete",
    )
}

async fn keys_crud(store: Store) -> CaseResult {
    expect_err(
        store.get_keys().await,
        ErrorKind::NotFound,
        "keys before first write",
    )?;
    let rsa = rsa_key()?;
    let es = es256_key();
    let first = SigningKeys {
        signing_key: Some(rsa.clone()),
        signing_key_pub: Some(rsa.public_key()),
        next_key: Some(es.clone()),
        verification_keys: vec![
            VerificationKey {
                public_key: es.public_key(),
                expiry: base_time() + Duration::hours(24),
            },
            VerificationKey {
                public_key: ed25519_public(),
                expiry: base_time() + Duration::hours(12),
            },
        ],
        next_rotation: base_time() + Duration::hours(6),
    };
    let wanted = first.clone();
    store
        .update_keys(move |current| {
            if current != SigningKeys::default() {
                return Err(Error::Signing {
                    message: "first update_keys must start from the default key set".into(),
                });
            }
            Ok(wanted.clone())
        })
        .await?;
    ensure_eq(
        &store.get_keys().await?.value,
        &first,
        "RSA keys with mixed verification keys",
    )?;

    let second = SigningKeys {
        signing_key: Some(es.clone()),
        signing_key_pub: Some(es.public_key()),
        next_key: None,
        verification_keys: vec![VerificationKey {
            public_key: rsa.public_key(),
            expiry: base_time() + Duration::hours(30),
        }],
        next_rotation: base_time() + Duration::hours(12),
    };
    let wanted = second.clone();
    let seen = first.clone();
    store
        .update_keys(move |current| {
            if current != seen {
                return Err(Error::Signing {
                    message: "update_keys did not see the stored keys".into(),
                });
            }
            Ok(wanted.clone())
        })
        .await?;
    ensure_eq(&store.get_keys().await?.value, &second, "ES256 keys")?;
    ensure_eq(
        &store.list::<SigningKeys>().await?.len(),
        &1,
        "a single key set",
    )
}

async fn keys_round_trip_usable(store: Store) -> CaseResult {
    // Stored private keys must come back able to sign, with public halves that verify.
    let rsa = rsa_key()?;
    let es = es256_key();
    let keys = SigningKeys {
        signing_key: Some(es.clone()),
        signing_key_pub: Some(es.public_key()),
        next_key: None,
        verification_keys: vec![VerificationKey {
            public_key: rsa.clone(),
            expiry: base_time(),
        }],
        next_rotation: base_time(),
    };
    let wanted = keys.clone();
    store.update_keys(move |_| Ok(wanted.clone())).await?;
    let stored = store.get_keys().await?.value;
    let message = b"eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJveGlkZXgifQ";

    let es_private = stored
        .signing_key
        .ok_or_else(|| Check::new("signing key missing".into()))?;
    let es_public = stored
        .signing_key_pub
        .ok_or_else(|| Check::new("public signing key missing".into()))?;
    let signature = es256_sign(&es_private, message)?;
    let point = ec_point(&es_public)?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &point)
        .verify(message, &signature)
        .map_err(|_| Check::new("ES256 signature by the stored key does not verify".into()))?;

    let rsa_stored = stored
        .verification_keys
        .first()
        .map(|k| k.public_key.clone())
        .ok_or_else(|| Check::new("verification key missing".into()))?;
    let signature = rs256_sign(&rsa_stored, message)?;
    let n = b64(rsa_stored.n.as_deref())?;
    let e = b64(rsa_stored.e.as_deref())?;
    ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            message,
            &signature,
        )
        .map_err(|_| Check::new("RS256 signature by the stored key does not verify".into()))
}

fn b64(value: Option<&str>) -> Result<Vec<u8>, Check> {
    let text = value.ok_or_else(|| Check::new("JWK member missing after round trip".into()))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| Check::new(format!("JWK member is not base64url: {e}")))
}

fn ec_point(jwk: &Jwk) -> Result<Vec<u8>, Check> {
    let mut point = vec![0x04];
    point.extend(b64(jwk.x.as_deref())?);
    point.extend(b64(jwk.y.as_deref())?);
    Ok(point)
}

fn es256_sign(jwk: &Jwk, message: &[u8]) -> Result<Vec<u8>, Check> {
    let rng = ring::rand::SystemRandom::new();
    let d = b64(jwk.d.as_deref())?;
    let pair = ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &d,
        &ec_point(jwk)?,
        &rng,
    )
    .map_err(|e| Check::new(format!("stored ES256 key rejected by ring: {e}")))?;
    pair.sign(&rng, message)
        .map(|s| s.as_ref().to_vec())
        .map_err(|e| Check::new(format!("ES256 signing failed: {e}")))
}

fn rs256_sign(jwk: &Jwk, message: &[u8]) -> Result<Vec<u8>, Check> {
    let n = b64(jwk.n.as_deref())?;
    let e = b64(jwk.e.as_deref())?;
    let d = b64(jwk.d.as_deref())?;
    let p = b64(jwk.p.as_deref())?;
    let q = b64(jwk.q.as_deref())?;
    let dp = b64(jwk.dp.as_deref())?;
    let dq = b64(jwk.dq.as_deref())?;
    let qi = b64(jwk.qi.as_deref())?;
    let pair = ring::rsa::KeyPair::from_components(&ring::rsa::KeyPairComponents {
        public_key: ring::rsa::PublicKeyComponents { n: &n, e: &e },
        d: &d,
        p: &p,
        q: &q,
        dP: &dp,
        dQ: &dq,
        qInv: &qi,
    })
    .map_err(|e| Check::new(format!("stored RSA key rejected by ring: {e}")))?;
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        message,
        &mut signature,
    )
    .map_err(|e| Check::new(format!("RS256 signing failed: {e}")))?;
    Ok(signature)
}

async fn device_request_crud(store: Store) -> CaseResult {
    let request = device_request(
        "WDJB-MJHT",
        "device-code-1",
        base_time() + Duration::minutes(5),
    );
    store.create(&request).await?;
    expect_err(
        store.create(&request).await,
        ErrorKind::AlreadyExists,
        "duplicate create",
    )?;
    ensure_eq(
        &store.get::<DeviceRequest>("WDJB-MJHT").await?.value,
        &request,
        "device request read back",
    )?;
    store.delete::<DeviceRequest>("WDJB-MJHT").await?;
    expect_err(
        store.get::<DeviceRequest>("WDJB-MJHT").await,
        ErrorKind::NotFound,
        "get after delete",
    )
}

async fn device_token_crud(store: Store) -> CaseResult {
    let token = device_token("device-code-1", base_time() + Duration::minutes(5));
    let key = token.device_code_hash.to_key();
    store.create(&token).await?;
    expect_err(
        store.create(&token).await,
        ErrorKind::AlreadyExists,
        "duplicate create",
    )?;
    ensure_eq(
        &store.get::<DeviceToken>(&key).await?.value,
        &token,
        "read back",
    )?;
    let polled = base_time() + Duration::seconds(7);
    store
        .update::<DeviceToken, _>(&key, |mut t| {
            t.status = DeviceTokenStatus::Complete;
            t.claims = Some(claims("jane"));
            t.scopes = vec!["openid".into()];
            t.connector_id = "ldap".into();
            t.last_request_time = polled;
            t.poll_interval_seconds = 10;
            Ok(t)
        })
        .await?;
    let got = store.get::<DeviceToken>(&key).await?.value;
    ensure_eq(&got.status, &DeviceTokenStatus::Complete, "status")?;
    ensure_eq(&got.claims, &Some(claims("jane")), "claims")?;
    ensure_eq(&got.last_request_time, &polled, "last request time")?;
    ensure_eq(&got.poll_interval_seconds, &10, "poll interval")?;
    ensure_eq(&got.pkce, &Some(pkce()), "PKCE")
}

// ---------------------------------------------------------------------------------------------
// Garbage collection and time (Dex GarbageCollection, TimezoneSupport)

fn zones() -> Vec<FixedOffset> {
    [0, -5 * 3600, -8 * 3600, 5 * 3600 + 1800, 14 * 3600]
        .into_iter()
        .filter_map(FixedOffset::east_opt)
        .collect()
}

async fn garbage_collection(store: Store) -> CaseResult {
    let expiry = base_time();
    let code = auth_code("gc-code", expiry);
    let token = device_token("gc-device", expiry);
    store.create(&auth_request("gc-request", expiry)).await?;
    store.create(&code).await?;
    store
        .create(&device_request("GCGC-GCGC", "gc-device", expiry))
        .await?;
    store.create(&token).await?;
    store
        .create(&RevokedToken {
            id: "gc-jti".into(),
            expiry,
        })
        .await?;
    // Never collected, whatever their timestamps.
    store.create(&refresh_token("gc-refresh", "s")).await?;
    store.create(&client("gc-client")).await?;
    store.create(&offline_sessions("u", "c")).await?;

    for zone in zones() {
        let before = (expiry - Duration::hours(1)).with_timezone(&zone);
        let result = store.garbage_collect(before.with_timezone(&Utc)).await?;
        ensure_eq(
            &result.total(),
            &0,
            &format!("GC an hour early in zone {zone}"),
        )?;
    }
    store.get::<AuthRequest>("gc-request").await?;

    let zone = FixedOffset::west_opt(8 * 3600).ok_or_else(|| Check::new("zone".into()))?;
    let after = (expiry + Duration::hours(1)).with_timezone(&zone);
    let result = store.garbage_collect(after.with_timezone(&Utc)).await?;
    ensure_eq(&result.auth_requests, &1, "auth requests collected")?;
    ensure_eq(&result.auth_codes, &1, "auth codes collected")?;
    ensure_eq(&result.device_requests, &1, "device requests collected")?;
    ensure_eq(&result.device_tokens, &1, "device tokens collected")?;
    ensure_eq(
        &result.revoked_tokens,
        &1,
        "revoked-token entries collected",
    )?;
    expect_err(
        store.get::<RevokedToken>("gc-jti").await,
        ErrorKind::NotFound,
        "revoked token",
    )?;
    expect_err(
        store.get::<AuthRequest>("gc-request").await,
        ErrorKind::NotFound,
        "request",
    )?;
    expect_err(
        store.get::<AuthCode>(&code.code_hash.to_key()).await,
        ErrorKind::NotFound,
        "code",
    )?;
    expect_err(
        store.get::<DeviceRequest>("GCGC-GCGC").await,
        ErrorKind::NotFound,
        "device req",
    )?;
    expect_err(
        store
            .get::<DeviceToken>(&token.device_code_hash.to_key())
            .await,
        ErrorKind::NotFound,
        "device token",
    )?;
    store.get::<RefreshToken>("gc-refresh").await?;
    store.get::<Client>("gc-client").await?;
    store
        .get::<OfflineSessions>(&OfflineSessions::key_for("u", "c"))
        .await?;
    ensure_eq(
        &store
            .garbage_collect(after.with_timezone(&Utc))
            .await?
            .total(),
        &0,
        "second GC finds nothing",
    )
}

async fn garbage_collection_boundary(store: Store) -> CaseResult {
    // Removed only when expiry is strictly before now, at sub-second precision.
    let expiry = base_time();
    store.create(&auth_request("edge", expiry)).await?;
    ensure_eq(
        &store.garbage_collect(expiry).await?.total(),
        &0,
        "GC at exactly the expiry",
    )?;
    ensure_eq(
        &store
            .garbage_collect(expiry - Duration::milliseconds(1))
            .await?
            .total(),
        &0,
        "GC a millisecond early",
    )?;
    ensure_eq(
        &store
            .garbage_collect(expiry + Duration::milliseconds(1))
            .await?
            .auth_requests,
        &1,
        "GC a millisecond late",
    )
}

async fn timezone_support(store: Store) -> CaseResult {
    for (i, zone) in zones().into_iter().enumerate() {
        let local = zone
            .with_ymd_and_hms(2026, 7, 1, 23, 30, 0)
            .single()
            .ok_or_else(|| Check::new("bad local time".into()))?
            + Duration::microseconds(123_456);
        let id = format!("tz-{i}");
        let request = auth_request(&id, local.with_timezone(&Utc));
        store.create(&request).await?;
        let got = store.get::<AuthRequest>(&id).await?.value;
        ensure_eq(
            &got.expiry,
            &local.with_timezone(&Utc),
            &format!("instant in {zone}"),
        )?;
        ensure_eq(
            &got.expiry.timestamp_micros(),
            &local.timestamp_micros(),
            "same instant",
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Compare-and-swap (Dex RunTransactionTests, RunConcurrencyTests)

async fn cas_conflict_exactly_one_wins(store: Store) -> CaseResult {
    store.create(&client("contested")).await?;
    let read: Versioned<Client> = store.get("contested").await?;

    let mut a = read.value.clone();
    a.name = "writer A".into();
    let mut b = read.value.clone();
    b.name = "writer B".into();
    let (ra, rb) = tokio::join!(store.swap(read.version, &a), store.swap(read.version, &b));
    let outcomes = [ra.is_ok(), rb.is_ok()];
    ensure_eq(
        &outcomes.iter().filter(|ok| **ok).count(),
        &1,
        "swaps that succeeded",
    )?;
    let loser = if outcomes[0] { rb } else { ra };
    expect_err(loser, ErrorKind::Conflict, "the losing swap")?;
    let winner = if outcomes[0] { a } else { b };
    ensure_eq(
        &store.get::<Client>("contested").await?.value,
        &winner,
        "stored value is the winner's",
    )?;

    // Same for the key set and for a refresh token, the records replicas fight over.
    store.update_keys(Ok).await?;
    let keys = store.get_keys().await?;
    let mut k1 = keys.value.clone();
    k1.next_rotation += Duration::hours(1);
    let mut k2 = keys.value.clone();
    k2.next_rotation += Duration::hours(2);
    store.swap(keys.version, &k1).await?;
    expect_err(
        store.swap(keys.version, &k2).await,
        ErrorKind::Conflict,
        "stale key swap",
    )?;
    ensure_eq(
        &store.get_keys().await?.value,
        &k1,
        "keys are the first writer's",
    )?;

    store.create(&refresh_token("contested", "s0")).await?;
    let token: Versioned<RefreshToken> = store.get("contested").await?;
    let mut t1 = token.value.clone();
    t1.token_hash = TokenHash::of("s1");
    let mut t2 = token.value.clone();
    t2.token_hash = TokenHash::of("s2");
    let v1 = store.swap(token.version, &t1).await?;
    expect_err(
        store.swap(token.version, &t2).await,
        ErrorKind::Conflict,
        "stale refresh swap",
    )?;
    ensure(v1 != token.version, || {
        "a swap must produce a new version".into()
    })?;
    ensure(
        store
            .get::<RefreshToken>("contested")
            .await?
            .value
            .token_hash
            .matches("s1"),
        || "refresh token holds the first writer's secret".into(),
    )
}

async fn cas_version_not_reused_after_recreate(store: Store) -> CaseResult {
    // A writer holding a version from before a delete must not overwrite the new record.
    store.create(&client("phoenix")).await?;
    let old = store.get::<Client>("phoenix").await?;
    store.delete::<Client>("phoenix").await?;
    let mut reborn = client("phoenix");
    reborn.name = "reborn".into();
    store.create(&reborn).await?;
    let mut stale = old.value.clone();
    stale.name = "stale writer".into();
    expect_err(
        store.swap(old.version, &stale).await,
        ErrorKind::Conflict,
        "swap with a version from before the delete",
    )?;
    ensure_eq(
        &store.get::<Client>("phoenix").await?.value.name,
        &"reborn".to_owned(),
        "new record intact",
    )
}

async fn cas_on_missing_record(store: Store) -> CaseResult {
    store.create(&client("gone")).await?;
    let read = store.get::<Client>("gone").await?;
    store.delete::<Client>("gone").await?;
    expect_err(
        store.swap(read.version, &read.value).await,
        ErrorKind::NotFound,
        "swap of a deleted record",
    )
}

async fn concurrent_refresh_rotations(store: Store) -> CaseResult {
    // Dex RefreshTokenParallelUpdate: 100 concurrent rotations, none lost.
    const N: u64 = 100;
    store.create(&refresh_token("hot", "s0")).await?;
    let mut tasks = Vec::new();
    for _ in 0..N {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .update::<RefreshToken, _>("hot", |mut t| {
                    let n: u64 = t.nonce.parse().unwrap_or(u64::MAX);
                    t.nonce = (n + 1).to_string();
                    t.obsolete_token_hash = Some(t.token_hash);
                    t.token_hash = TokenHash::of(&format!("s{}", n + 1));
                    Ok(t)
                })
                .await
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        let token = task
            .await
            .map_err(|e| Check::new(format!("task failed: {e}")))??;
        seen.push(token.nonce.parse::<u64>().unwrap_or(0));
    }
    seen.sort_unstable();
    ensure_eq(
        &seen,
        &(1..=N).collect::<Vec<_>>(),
        "values seen by the rotations",
    )?;
    let last = store.get::<RefreshToken>("hot").await?.value;
    ensure_eq(&last.nonce, &N.to_string(), "final counter")?;
    ensure(last.token_hash.matches(&format!("s{N}")), || {
        "final secret is the last rotation's".into()
    })
}

async fn concurrent_key_rotation_creates_once(store: Store) -> CaseResult {
    // Replicas starting together each try to install the first key set; the update function
    // reruns on the winner's keys and keeps them, so exactly one key set is ever written.
    let mut tasks = Vec::new();
    for replica in 0..8u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .update_keys(move |current| {
                    if current.signing_key.is_some() {
                        return Ok(current);
                    }
                    let mut key = es256_key();
                    key.kid = format!("replica-{replica}");
                    Ok(SigningKeys {
                        signing_key_pub: Some(key.public_key()),
                        next_key: None,
                        signing_key: Some(key),
                        verification_keys: vec![],
                        next_rotation: base_time() + Duration::hours(6),
                    })
                })
                .await
        }));
    }
    let mut kids = Vec::new();
    for task in tasks {
        let keys = task
            .await
            .map_err(|e| Check::new(format!("task failed: {e}")))??;
        kids.push(keys.signing_key.map(|k| k.kid).unwrap_or_default());
    }
    kids.dedup();
    ensure_eq(
        &kids.len(),
        &1,
        "distinct signing keys seen by the replicas",
    )?;
    let stored = store.get_keys().await?.value;
    ensure_eq(
        &stored.signing_key.map(|k| k.kid),
        &kids.pop(),
        "stored key is the one every replica saw",
    )
}

async fn update_error_aborts(store: Store) -> CaseResult {
    let original = client("steady");
    store.create(&original).await?;
    let before = store.get::<Client>("steady").await?;
    let result = store
        .update::<Client, _>("steady", |_| {
            Err(Error::Signing {
                message: "refused".into(),
            })
        })
        .await;
    expect_err(
        result,
        ErrorKind::Signing,
        "the updater's own error is returned",
    )?;
    let after = store.get::<Client>("steady").await?;
    ensure_eq(&after, &before, "nothing written (value and version)")
}

async fn update_cannot_change_key(store: Store) -> CaseResult {
    store.create(&client("fixed-id")).await?;
    let result = store
        .update::<Client, _>("fixed-id", |mut c| {
            c.id = "other-id".into();
            Ok(c)
        })
        .await;
    expect_err(result, ErrorKind::Invalid, "changing the key in an update")?;
    expect_err(
        store.get::<Client>("other-id").await,
        ErrorKind::NotFound,
        "no new record",
    )?;
    store.get::<Client>("fixed-id").await?;
    Ok(())
}

async fn kinds_are_separate(store: Store) -> CaseResult {
    store.create(&client("shared")).await?;
    store.create(&connector("shared")).await?;
    store.create(&refresh_token("shared", "s")).await?;
    store.delete::<Client>("shared").await?;
    store.get::<ConnectorRecord>("shared").await?;
    store.get::<RefreshToken>("shared").await?;
    ensure_eq(&store.list::<Client>().await?.len(), &0, "clients")?;
    ensure_eq(
        &store.list::<ConnectorRecord>().await?.len(),
        &1,
        "connectors",
    )
}

async fn empty_store_lists_nothing(store: Store) -> CaseResult {
    for kind in RecordKind::ALL {
        let listed = store.backend().list(kind).await?;
        ensure(listed.is_empty(), || {
            format!("fresh store lists {kind} records")
        })?;
    }
    ensure_eq(
        &store.garbage_collect(base_time()).await?.total(),
        &0,
        "GC of nothing",
    )
}

async fn bearer_values_not_stored(store: Store) -> CaseResult {
    // reference/security.md OP-05: a dump of the database yields nothing replayable.
    let code = "code-bearer-value-4f1d";
    let refresh_secret = "refresh-bearer-value-9a2c";
    let device_code = "device-bearer-value-77e0";
    store.create(&auth_code(code, base_time())).await?;
    store.create(&refresh_token("rt", refresh_secret)).await?;
    store
        .create(&device_request("ABCD-EFGH", device_code, base_time()))
        .await?;
    store
        .create(&device_token(device_code, base_time()))
        .await?;
    for kind in RecordKind::ALL {
        for record in store.backend().list(kind).await? {
            for secret in [code, refresh_secret, device_code] {
                let found = record
                    .value
                    .windows(secret.len())
                    .any(|w| w == secret.as_bytes())
                    || record.key.contains(secret);
                ensure(!found, || {
                    format!("{kind} record {} holds a bearer value", record.key)
                })?;
            }
        }
    }
    Ok(())
}

async fn large_and_unicode_values(store: Store) -> CaseResult {
    let mut big = connector("big-☃-コネクタ");
    big.config = serde_json::json!({
        "blob": "x".repeat(256 * 1024),
        "emoji": "🔐 clé ключ 鍵",
        "nul": "a\u{0}b",
    });
    store.create(&big).await?;
    ensure_eq(
        &store.get::<ConnectorRecord>("big-☃-コネクタ").await?.value,
        &big,
        "256 KiB unicode record",
    )?;
    let email = "ÉMILE.Ñúñez@Exämple.org";
    store.create(&password(email)).await?;
    ensure_eq(
        &store
            .get::<Password>(&email.to_lowercase())
            .await?
            .value
            .email,
        &email.to_owned(),
        "non-ASCII e-mail, case-insensitive",
    )
}

async fn invalid_keys_rejected(store: Store) -> CaseResult {
    expect_err(
        store.get::<Client>("").await,
        ErrorKind::Invalid,
        "empty key",
    )?;
    expect_err(
        store.get::<Client>("a\u{0}b").await,
        ErrorKind::Invalid,
        "NUL in key",
    )?;
    expect_err(
        store.create(&client(&"x".repeat(513))).await,
        ErrorKind::Invalid,
        "oversized key",
    )?;
    expect_err(
        store.delete::<Client>("\n").await,
        ErrorKind::Invalid,
        "control key",
    )?;
    ensure(store.list::<Client>().await?.is_empty(), || {
        "invalid keys reached the backend".into()
    })
}
