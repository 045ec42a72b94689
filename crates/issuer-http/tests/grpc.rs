//! The gRPC admin API over a real socket: tonic's server on 127.0.0.1:0 over a memory store
//! with static records laid on top, driven with the generated client. Every call of `api.Dex`
//! is exercised, with Dex's in-band booleans, and mutual TLS refuses a client without a
//! certificate.
#![cfg(feature = "grpc")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::process::{Command, Stdio};
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use chrono::DateTime;
use oxidex_core::clock::SystemClock;
use oxidex_core::codec::Subject;
use oxidex_core::model::{
    Claims, Client, ConnectorRecord, OfflineSessions, Password, RefreshToken, RefreshTokenRef,
};
use oxidex_core::oauth::{ConnectorSet, Engine, Settings, grant};
use oxidex_core::secret::{ClientSecret, TokenHash};
use oxidex_core::signer::{LocalSigner, LocalSignerConfig, SigningAlgorithm};
use oxidex_core::storage::Store;
use oxidex_issuer_http::grpc::proto::{
    self, CreateClientReq, CreateConnectorReq, CreatePasswordReq, DeleteClientReq,
    DeleteConnectorReq, DeletePasswordReq, DiscoveryReq, GetClientReq, ListClientReq,
    ListConnectorReq, ListPasswordReq, ListRefreshReq, RevokeRefreshReq, UpdateClientReq,
    UpdateConnectorReq, UpdatePasswordReq, VerifyPasswordReq, VersionReq,
};
use oxidex_issuer_http::grpc::{API_VERSION, AdminApi, AdminOptions, DexClient};
use oxidex_issuer_http::pages::{FrontendSettings, Pages};
use oxidex_issuer_http::{Issuer, WebSettings};
use oxidex_storage::{MemoryStorage, StaticOverlay};
use tonic::Code;
use tonic::transport::{Channel, Server};
use tower::ServiceExt as _;

const ISSUER: &str = "https://issuer.example/dex";
const STATIC_CLIENT: &str = "static-app";
const STATIC_EMAIL: &str = "admin@example.com";

/// A running admin API, the store under it and the engine it describes.
struct Served {
    client: DexClient<Channel>,
    store: Store,
    engine: Engine,
    _server: tokio::task::JoinHandle<()>,
}

/// The store: memory, with one static client, one static password and one static connector.
fn store() -> Store {
    let overlay = StaticOverlay::new(Arc::new(MemoryStorage::new()))
        .with_clients([Client {
            id: STATIC_CLIENT.into(),
            secret: ClientSecret::new("static secret"),
            redirect_uris: vec!["https://static.example/cb".into()],
            name: "Static".into(),
            ..Client::default()
        }])
        .unwrap()
        .with_passwords([Password {
            email: STATIC_EMAIL.into(),
            hash: bcrypt::hash("password", 10).unwrap(),
            username: "admin".into(),
            user_id: "static-user".into(),
            ..Password::default()
        }])
        .unwrap()
        .with_connectors([ConnectorRecord {
            id: "local".into(),
            connector_type: "local".into(),
            name: "Email".into(),
            resource_version: String::new(),
            config: serde_json::Value::Null,
            grant_types: vec![],
        }])
        .unwrap();
    Store::new(Arc::new(overlay))
}

async fn engine(store: Store) -> Engine {
    let clock = Arc::new(SystemClock);
    let config = LocalSignerConfig {
        algorithm: SigningAlgorithm::Es256,
        ..Default::default()
    };
    let signer = Arc::new(
        LocalSigner::open(store.clone(), clock.clone(), config)
            .await
            .unwrap(),
    );
    let mut settings = Settings::new(ISSUER);
    settings.grant_types.insert(grant::DEVICE_CODE.into());
    Engine::new(settings, store, signer, clock, ConnectorSet::new([]))
}

async fn serve(connectors_crud: bool) -> Served {
    let store = store();
    let engine = engine(store.clone()).await;
    let options = AdminOptions::default().with_connectors_crud(connectors_crud);
    let api = AdminApi::for_engine(&engine, options).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        Server::builder()
            .add_service(api.into_server())
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    let client = DexClient::connect(format!("http://{addr}")).await.unwrap();
    Served {
        client,
        store,
        engine,
        _server: server,
    }
}

fn hash(cost: u32) -> Vec<u8> {
    bcrypt::hash("s3cret", cost).unwrap().into_bytes()
}

fn new_client(id: &str, public: bool) -> CreateClientReq {
    CreateClientReq {
        client: Some(proto::Client {
            id: id.into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            public,
            name: "App".into(),
            ..proto::Client::default()
        }),
    }
}

/// Dex's id alphabet: a lowercase letter, then lowercase base32.
fn is_dex_id(id: &str) -> bool {
    id.len() == 25
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| matches!(c, 'a'..='z' | '2'..='7'))
}

#[tokio::test]
async fn clients() {
    let mut s = serve(false).await;
    let c = &mut s.client;

    // Generated id and secret, as Dex: id = NewID, secret = NewID + NewID.
    let created = c
        .create_client(new_client("", false))
        .await
        .unwrap()
        .into_inner();
    assert!(!created.already_exists);
    let made = created.client.unwrap();
    assert!(is_dex_id(&made.id), "{}", made.id);
    assert_eq!(made.secret.len(), 50);
    assert!(is_dex_id(&made.secret[..25]) && is_dex_id(&made.secret[25..]));

    // A public client gets no secret; a given secret is kept.
    let public = c
        .create_client(new_client("pub", true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(public.client.unwrap().secret, "");
    let mut given = new_client("given", false);
    given.client.as_mut().unwrap().secret = "my secret".into();
    let given = c.create_client(given).await.unwrap().into_inner();
    assert_eq!(given.client.unwrap().secret, "my secret");

    // Taken id: the boolean, no error.
    let again = c
        .create_client(new_client("pub", true))
        .await
        .unwrap()
        .into_inner();
    assert!(again.already_exists);
    assert!(again.client.is_none());
    let missing = c
        .create_client(CreateClientReq { client: None })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);

    // GetClient returns the secret; the store has it too.
    let got = c
        .get_client(GetClientReq {
            id: made.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .client
        .unwrap();
    assert_eq!(got, made);
    let stored = s.store.get::<Client>(&made.id).await.unwrap().value;
    assert!(stored.secret.verify(&made.secret));
    let absent = c
        .get_client(GetClientReq { id: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(absent.code(), Code::NotFound);

    // UpdateClient: non-empty fields replace, empty ones keep.
    let updated = c
        .update_client(UpdateClientReq {
            id: "given".into(),
            redirect_uris: vec!["https://new.example/cb".into()],
            name: "Renamed".into(),
            ..UpdateClientReq::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!updated.not_found);
    let after = s.store.get::<Client>("given").await.unwrap().value;
    assert_eq!(after.redirect_uris, ["https://new.example/cb"]);
    assert_eq!(after.name, "Renamed");
    assert!(after.secret.verify("my secret"), "secret untouched");
    let kept = c
        .update_client(UpdateClientReq {
            id: "given".into(),
            logo_url: "https://logo.example/x.png".into(),
            ..UpdateClientReq::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!kept.not_found);
    let after = s.store.get::<Client>("given").await.unwrap().value;
    assert_eq!(
        after.redirect_uris,
        ["https://new.example/cb"],
        "empty list keeps"
    );
    assert_eq!(after.name, "Renamed", "empty string keeps");
    assert_eq!(after.logo_url, "https://logo.example/x.png");
    let nobody = c
        .update_client(UpdateClientReq {
            id: "nope".into(),
            name: "x".into(),
            ..UpdateClientReq::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(nobody.not_found);

    // ListClients: static and stored, never a secret.
    let listed = c
        .list_clients(ListClientReq {})
        .await
        .unwrap()
        .into_inner()
        .clients;
    let ids: Vec<&str> = listed.iter().map(|c| c.id.as_str()).collect();
    for id in [made.id.as_str(), "given", "pub", STATIC_CLIENT] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let encoded = prost::Message::encode_to_vec(&proto::ListClientResp {
        clients: listed.clone(),
    });
    for secret in [made.secret.as_bytes(), b"my secret", b"static secret"] {
        assert!(
            !encoded.windows(secret.len()).any(|w| w == secret),
            "a secret is on the wire"
        );
    }

    // DeleteClient.
    let deleted = c
        .delete_client(DeleteClientReq { id: "pub".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(!deleted.not_found);
    let twice = c
        .delete_client(DeleteClientReq { id: "pub".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(twice.not_found);
}

#[tokio::test]
async fn static_records_are_read_only() {
    let mut s = serve(true).await;
    let c = &mut s.client;

    let update = c
        .update_client(UpdateClientReq {
            id: STATIC_CLIENT.into(),
            name: "Hijacked".into(),
            ..UpdateClientReq::default()
        })
        .await
        .unwrap_err();
    assert_eq!(update.code(), Code::FailedPrecondition);
    assert!(
        update.message().contains(STATIC_CLIENT),
        "{}",
        update.message()
    );
    let delete = c
        .delete_client(DeleteClientReq {
            id: STATIC_CLIENT.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(delete.code(), Code::FailedPrecondition);
    let create = c
        .create_client(new_client(STATIC_CLIENT, true))
        .await
        .unwrap_err();
    assert_eq!(create.code(), Code::FailedPrecondition);
    // Static clients can still be read, secret included, as in Dex.
    let got = c
        .get_client(GetClientReq {
            id: STATIC_CLIENT.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .client
        .unwrap();
    assert_eq!(got.secret, "static secret");

    let password = c
        .update_password(UpdatePasswordReq {
            email: STATIC_EMAIL.into(),
            new_username: "root".into(),
            ..UpdatePasswordReq::default()
        })
        .await
        .unwrap_err();
    assert_eq!(password.code(), Code::FailedPrecondition);
    assert!(
        password.message().contains(STATIC_EMAIL),
        "{}",
        password.message()
    );
    let password = c
        .delete_password(DeletePasswordReq {
            email: STATIC_EMAIL.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(password.code(), Code::FailedPrecondition);

    let connector = c
        .delete_connector(DeleteConnectorReq { id: "local".into() })
        .await
        .unwrap_err();
    assert_eq!(connector.code(), Code::FailedPrecondition);

    // Nothing changed.
    let still = s.store.get::<Client>(STATIC_CLIENT).await.unwrap().value;
    assert_eq!(still.name, "Static");
}

#[tokio::test]
async fn passwords() {
    let mut s = serve(false).await;
    let c = &mut s.client;
    let create = |email: &str, hash: Vec<u8>, user_id: &str| CreatePasswordReq {
        password: Some(proto::Password {
            email: email.into(),
            hash,
            username: "jane".into(),
            user_id: user_id.into(),
        }),
    };

    let made = c
        .create_password(create("Jane@Example.com", hash(10), "u-1"))
        .await
        .unwrap()
        .into_inner();
    assert!(!made.already_exists);
    // E-mails are case-insensitive keys.
    let again = c
        .create_password(create("jane@example.com", hash(10), "u-2"))
        .await
        .unwrap()
        .into_inner();
    assert!(again.already_exists);

    // Required fields and bcrypt costs (Dex: 10 ..= 16).
    for (req, what) in [
        (create("a@example.com", hash(10), ""), "user id"),
        (create("a@example.com", Vec::new(), "u"), "hash"),
        (create("", hash(10), "u"), "email"),
        (
            create("a@example.com", b"plain text".to_vec(), "u"),
            "not bcrypt",
        ),
        (create("a@example.com", hash(4), "u"), "cost 4"),
        (CreatePasswordReq { password: None }, "no password"),
    ] {
        let err = c.create_password(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{what}: {err:?}");
    }
    // A hash of cost 17 is refused without computing one (that would take seconds): the cost
    // is in the hash's text.
    let costly = bcrypt::hash("s3cret", 10)
        .unwrap()
        .replacen("$10$", "$17$", 1)
        .into_bytes();
    let err = c
        .create_password(create("b@example.com", costly.clone(), "u"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("17"), "{}", err.message());
    let err = c
        .create_password(create("b@example.com", hash(9), "u"))
        .await
        .unwrap_err();
    assert!(err.message().contains("minimum cost"), "{}", err.message());

    // VerifyPassword.
    let verify = |email: &str, password: &str| VerifyPasswordReq {
        email: email.into(),
        password: password.into(),
    };
    let ok = c
        .verify_password(verify("JANE@example.com", "s3cret"))
        .await
        .unwrap()
        .into_inner();
    assert!(ok.verified && !ok.not_found);
    let wrong = c
        .verify_password(verify("jane@example.com", "guess"))
        .await
        .unwrap()
        .into_inner();
    assert!(!wrong.verified && !wrong.not_found);
    let nobody = c
        .verify_password(verify("nobody@example.com", "s3cret"))
        .await
        .unwrap()
        .into_inner();
    assert!(!nobody.verified && nobody.not_found);
    let stat = c
        .verify_password(verify(STATIC_EMAIL, "password"))
        .await
        .unwrap()
        .into_inner();
    assert!(stat.verified, "static passwords verify too");
    let empty = c.verify_password(verify("jane@example.com", "")).await;
    assert_eq!(empty.unwrap_err().code(), Code::InvalidArgument);

    // UpdatePassword: new hash and username; cost checked; nothing to update refused.
    let updated = c
        .update_password(UpdatePasswordReq {
            email: "jane@example.com".into(),
            new_hash: bcrypt::hash("n3w", 10).unwrap().into_bytes(),
            new_username: "janet".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!updated.not_found);
    let after = s
        .store
        .get::<Password>("jane@example.com")
        .await
        .unwrap()
        .value;
    assert_eq!(after.username, "janet");
    assert_eq!(after.user_id, "u-1");
    assert!(
        c.verify_password(verify("jane@example.com", "n3w"))
            .await
            .unwrap()
            .into_inner()
            .verified
    );
    let weak = c
        .update_password(UpdatePasswordReq {
            email: "jane@example.com".into(),
            new_hash: hash(4),
            ..UpdatePasswordReq::default()
        })
        .await
        .unwrap_err();
    assert_eq!(weak.code(), Code::InvalidArgument);
    let nothing = c
        .update_password(UpdatePasswordReq {
            email: "jane@example.com".into(),
            ..UpdatePasswordReq::default()
        })
        .await
        .unwrap_err();
    assert_eq!(nothing.code(), Code::InvalidArgument);
    let missing = c
        .update_password(UpdatePasswordReq {
            email: "nobody@example.com".into(),
            new_username: "x".into(),
            ..UpdatePasswordReq::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(missing.not_found);

    // ListPasswords: hashes included (Dex), static ones too.
    let listed = c
        .list_passwords(ListPasswordReq {})
        .await
        .unwrap()
        .into_inner()
        .passwords;
    let jane = listed
        .iter()
        .find(|p| p.email.eq_ignore_ascii_case("jane@example.com"))
        .unwrap();
    assert_eq!(jane.hash, after.hash.as_bytes());
    assert_eq!(
        (jane.username.as_str(), jane.user_id.as_str()),
        ("janet", "u-1")
    );
    assert!(listed.iter().any(|p| p.email == STATIC_EMAIL));

    // DeletePassword.
    let deleted = c
        .delete_password(DeletePasswordReq {
            email: "Jane@Example.com".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!deleted.not_found);
    let twice = c
        .delete_password(DeletePasswordReq {
            email: "jane@example.com".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(twice.not_found);
}

fn connector(id: &str, config: &[u8]) -> CreateConnectorReq {
    CreateConnectorReq {
        connector: Some(proto::Connector {
            id: id.into(),
            r#type: "oidc".into(),
            name: "Upstream".into(),
            config: config.to_vec(),
        }),
    }
}

#[tokio::test]
async fn connectors_need_the_flag() {
    let mut s = serve(false).await;
    let c = &mut s.client;
    let create = c
        .create_connector(connector("up", br#"{"issuer":"https://up.example"}"#))
        .await
        .unwrap_err();
    assert_eq!(create.code(), Code::FailedPrecondition);
    assert!(
        create.message().contains("DEX_API_CONNECTORS_CRUD"),
        "{}",
        create.message()
    );
    let update = c
        .update_connector(UpdateConnectorReq {
            id: "up".into(),
            new_name: "x".into(),
            ..UpdateConnectorReq::default()
        })
        .await
        .unwrap_err();
    assert_eq!(update.code(), Code::FailedPrecondition);
    let delete = c
        .delete_connector(DeleteConnectorReq { id: "up".into() })
        .await
        .unwrap_err();
    assert_eq!(delete.code(), Code::FailedPrecondition);
    let list = c.list_connectors(ListConnectorReq {}).await.unwrap_err();
    assert_eq!(list.code(), Code::FailedPrecondition);
    assert!(
        s.store
            .get::<ConnectorRecord>("up")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn connectors_with_the_flag() {
    let mut s = serve(true).await;
    let c = &mut s.client;
    let config = br#"{"issuer":"https://up.example","clientID":"oxidex"}"#;

    let made = c
        .create_connector(connector("up", config))
        .await
        .unwrap()
        .into_inner();
    assert!(!made.already_exists);
    let stored = s.store.get::<ConnectorRecord>("up").await.unwrap().value;
    assert_eq!(stored.resource_version, "1");
    assert_eq!(stored.config["clientID"], "oxidex");
    let again = c
        .create_connector(connector("up", config))
        .await
        .unwrap()
        .into_inner();
    assert!(again.already_exists);

    // Validation: id, type, name, config required; config must be JSON.
    let mut no_type = connector("x", config);
    no_type.connector.as_mut().unwrap().r#type.clear();
    let mut no_name = connector("x", config);
    no_name.connector.as_mut().unwrap().name.clear();
    for (req, what) in [
        (connector("", config), "id"),
        (no_type, "type"),
        (no_name, "name"),
        (connector("x", b""), "config"),
        (connector("x", b"{not json"), "json"),
        (CreateConnectorReq { connector: None }, "none"),
    ] {
        let err = c.create_connector(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{what}: {err:?}");
    }

    // UpdateConnector bumps the resource version each time.
    let updated = c
        .update_connector(UpdateConnectorReq {
            id: "up".into(),
            new_name: "Renamed".into(),
            ..UpdateConnectorReq::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!updated.not_found);
    let stored = s.store.get::<ConnectorRecord>("up").await.unwrap().value;
    assert_eq!(
        (stored.name.as_str(), stored.resource_version.as_str()),
        ("Renamed", "2")
    );
    assert_eq!(stored.connector_type, "oidc", "empty new_type keeps");
    c.update_connector(UpdateConnectorReq {
        id: "up".into(),
        new_type: "github".into(),
        new_config: br#"{"clientID":"gh"}"#.to_vec(),
        ..UpdateConnectorReq::default()
    })
    .await
    .unwrap();
    let stored = s.store.get::<ConnectorRecord>("up").await.unwrap().value;
    assert_eq!(stored.resource_version, "3");
    assert_eq!(stored.connector_type, "github");
    assert_eq!(stored.config, serde_json::json!({"clientID": "gh"}));
    for req in [
        UpdateConnectorReq {
            id: "up".into(),
            ..UpdateConnectorReq::default()
        },
        UpdateConnectorReq {
            id: "up".into(),
            new_config: b"nope".to_vec(),
            ..UpdateConnectorReq::default()
        },
    ] {
        let err = c.update_connector(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
    }
    let missing = c
        .update_connector(UpdateConnectorReq {
            id: "nope".into(),
            new_name: "x".into(),
            ..UpdateConnectorReq::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(missing.not_found);

    // ListConnectors: stored and static.
    let listed = c
        .list_connectors(ListConnectorReq {})
        .await
        .unwrap()
        .into_inner()
        .connectors;
    let up = listed.iter().find(|c| c.id == "up").unwrap();
    assert_eq!(up.r#type, "github");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&up.config).unwrap(),
        serde_json::json!({"clientID": "gh"})
    );
    assert!(listed.iter().any(|c| c.id == "local"));

    // DeleteConnector.
    let deleted = c
        .delete_connector(DeleteConnectorReq { id: "up".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(!deleted.not_found);
    let twice = c
        .delete_connector(DeleteConnectorReq { id: "up".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(twice.not_found);
}

#[tokio::test]
async fn version_and_discovery() {
    let mut s = serve(false).await;
    let version = s
        .client
        .get_version(VersionReq {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.api, API_VERSION);
    assert_eq!(version.server, env!("CARGO_PKG_VERSION"));

    let d = s
        .client
        .get_discovery(DiscoveryReq {})
        .await
        .unwrap()
        .into_inner();
    // The HTTP document of the same engine.
    let pages = Pages::new(FrontendSettings::default()).unwrap();
    let app = Issuer::new(s.engine.clone(), pages, WebSettings::default())
        .await
        .unwrap()
        .app();
    let response = app
        .oneshot(
            Request::get("/dex/.well-known/openid-configuration")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let http: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let strings = |key: &str| -> Vec<String> { serde_json::from_value(http[key].clone()).unwrap() };
    assert_eq!(d.issuer, http["issuer"]);
    assert_eq!(d.issuer, ISSUER);
    assert_eq!(d.authorization_endpoint, http["authorization_endpoint"]);
    assert_eq!(d.token_endpoint, http["token_endpoint"]);
    assert_eq!(d.jwks_uri, http["jwks_uri"]);
    assert_eq!(d.userinfo_endpoint, http["userinfo_endpoint"]);
    assert_eq!(
        d.device_authorization_endpoint,
        http["device_authorization_endpoint"]
    );
    assert_eq!(
        d.device_authorization_endpoint,
        format!("{ISSUER}/device/code")
    );
    assert_eq!(d.introspection_endpoint, http["introspection_endpoint"]);
    assert_eq!(d.grant_types_supported, strings("grant_types_supported"));
    assert_eq!(
        d.response_types_supported,
        strings("response_types_supported")
    );
    assert_eq!(
        d.subject_types_supported,
        strings("subject_types_supported")
    );
    assert_eq!(
        d.id_token_signing_alg_values_supported,
        strings("id_token_signing_alg_values_supported")
    );
    assert_eq!(d.id_token_signing_alg_values_supported, ["ES256"]);
    assert_eq!(
        d.code_challenge_methods_supported,
        strings("code_challenge_methods_supported")
    );
    assert_eq!(d.scopes_supported, strings("scopes_supported"));
    assert_eq!(
        d.token_endpoint_auth_methods_supported,
        strings("token_endpoint_auth_methods_supported")
    );
    assert_eq!(d.claims_supported, strings("claims_supported"));
}

fn family(id: &str, client_id: &str, user_id: &str, created: i64) -> RefreshToken {
    let at = DateTime::from_timestamp(created, 0).unwrap();
    RefreshToken {
        id: id.into(),
        token_hash: TokenHash::of(&format!("secret of {id}")),
        obsolete_token_hash: None,
        successor_sealed: None,
        created_at: at,
        last_used: at + chrono::Duration::seconds(60),
        client_id: client_id.into(),
        connector_id: "ldap".into(),
        connector_data: None,
        claims: Claims {
            user_id: user_id.into(),
            ..Claims::default()
        },
        scopes: vec!["openid".into(), "offline_access".into()],
        nonce: String::new(),
        upstream_refresh_until: None,
    }
}

#[tokio::test]
async fn refresh_tokens() {
    let mut s = serve(false).await;
    let sub = Subject {
        user_id: "user-1".into(),
        connector_id: "ldap".into(),
    }
    .encode();

    // No session yet: an empty list, not an error.
    let empty = s
        .client
        .list_refresh(ListRefreshReq {
            user_id: sub.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(empty.refresh_tokens.is_empty());

    // Two logins of app-a (oxidex keeps a family per login), one of app-b.
    let mut sessions = OfflineSessions::new("user-1", "ldap");
    for (id, client, created) in [
        ("rt-a1", "app-a", 1_700_000_000),
        ("rt-a2", "app-a", 1_700_000_100),
        ("rt-b", "app-b", 1_700_000_200),
    ] {
        let token = family(id, client, "user-1", created);
        s.store.create(&token).await.unwrap();
        sessions.refresh.insert(
            id.into(),
            RefreshTokenRef {
                id: id.into(),
                client_id: client.into(),
                created_at: token.created_at,
                last_used: token.last_used,
            },
        );
    }
    s.store.create(&sessions).await.unwrap();

    let mut listed = s
        .client
        .list_refresh(ListRefreshReq {
            user_id: sub.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .refresh_tokens;
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].id, "rt-a1");
    assert_eq!(listed[0].client_id, "app-a");
    assert_eq!(listed[0].created_at, 1_700_000_000);
    assert_eq!(listed[0].last_used, 1_700_000_060);
    assert_eq!(listed[2].client_id, "app-b");

    // RevokeRefresh removes the refs and deletes the families of that client only.
    let revoked = s
        .client
        .revoke_refresh(RevokeRefreshReq {
            user_id: sub.clone(),
            client_id: "app-a".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!revoked.not_found);
    for id in ["rt-a1", "rt-a2"] {
        assert!(
            s.store
                .get::<RefreshToken>(id)
                .await
                .unwrap_err()
                .is_not_found(),
            "{id} deleted"
        );
    }
    assert!(s.store.get::<RefreshToken>("rt-b").await.is_ok());
    let key = OfflineSessions::key_for("user-1", "ldap");
    let left = s.store.get::<OfflineSessions>(&key).await.unwrap().value;
    assert_eq!(left.refresh.keys().collect::<Vec<_>>(), ["rt-b"]);
    let listed = s
        .client
        .list_refresh(ListRefreshReq {
            user_id: sub.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .refresh_tokens;
    assert_eq!(listed.len(), 1);

    // Again, or an unknown user: not_found.
    let again = s
        .client
        .revoke_refresh(RevokeRefreshReq {
            user_id: sub.clone(),
            client_id: "app-a".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(again.not_found);
    let stranger = Subject {
        user_id: "someone".into(),
        connector_id: "ldap".into(),
    }
    .encode();
    let unknown = s
        .client
        .revoke_refresh(RevokeRefreshReq {
            user_id: stranger,
            client_id: "app-b".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(unknown.not_found);

    // A user_id that is not an encoded `sub`.
    let bad = s
        .client
        .list_refresh(ListRefreshReq {
            user_id: "user-1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
}

/// Runs `openssl` with `args`; panics with its stderr when it fails.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_certificate() {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    // A CA, a server certificate for localhost and a client certificate, both from the CA.
    openssl(
        d,
        &[
            &["req", "-x509", "-nodes", "-days", "1"][..],
            &ec[..],
            &[
                "-subj",
                "/CN=test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ][..],
        ]
        .concat(),
    );
    for (name, cn, usage) in [
        ("server", "localhost", "serverAuth"),
        ("client", "admin", "clientAuth"),
    ] {
        let key = format!("{name}.key");
        let pem = format!("{name}.pem");
        let subj = format!("/CN={cn}");
        let eku = format!("extendedKeyUsage={usage}");
        openssl(
            d,
            &[
                &["req", "-x509", "-nodes", "-days", "1"][..],
                &ec[..],
                &[
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-subj",
                    &subj,
                    "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-addext",
                    "basicConstraints=critical,CA:FALSE",
                    "-addext",
                    &eku,
                    "-keyout",
                    &key,
                    "-out",
                    &pem,
                ][..],
            ]
            .concat(),
        );
    }
    let read = |name: &str| std::fs::read(d.join(name)).unwrap();

    let store = store();
    let engine = engine(store.clone()).await;
    let api = AdminApi::for_engine(&engine, AdminOptions::default())
        .await
        .unwrap();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(read("server.pem"), read("server.key")))
        .client_ca_root(Certificate::from_pem(read("ca.pem")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _server = tokio::spawn(async move {
        Server::builder()
            .tls_config(tls)
            .unwrap()
            .add_service(api.into_server())
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    let url = format!("https://localhost:{port}");
    let trust = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.pem")))
        .domain_name("localhost");

    // With the client certificate: served.
    let channel = Channel::from_shared(url.clone())
        .unwrap()
        .tls_config(
            trust
                .clone()
                .identity(Identity::from_pem(read("client.pem"), read("client.key"))),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
    let version = DexClient::new(channel)
        .get_version(VersionReq {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.api, API_VERSION);

    // Without: the handshake or the first call fails, never an answer.
    let refused = match Channel::from_shared(url)
        .unwrap()
        .tls_config(trust)
        .unwrap()
        .connect()
        .await
    {
        Err(_) => true,
        Ok(channel) => DexClient::new(channel)
            .get_version(VersionReq {})
            .await
            .is_err(),
    };
    assert!(refused, "a client without a certificate was served");
}
