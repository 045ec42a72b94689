//! Dex `storage/static.go` behaviour: static records win, are read-only, and passwords match
//! case-insensitively.

use std::sync::Arc;

use oxidex_core::ErrorKind;
use oxidex_core::model::{Client, ConnectorRecord, Password};
use oxidex_core::secret::ClientSecret;
use oxidex_core::storage::{Store, Version};
use oxidex_storage::{MemoryStorage, StaticOverlay};

fn client(id: &str, name: &str) -> Client {
    Client {
        id: id.into(),
        secret: ClientSecret::new("s"),
        name: name.into(),
        ..Client::default()
    }
}

fn password(email: &str) -> Password {
    Password {
        email: email.into(),
        hash: "$2a$10$x".into(),
        username: "admin".into(),
        user_id: "08a8684b".into(),
        ..Password::default()
    }
}

async fn overlay() -> (Store, Store) {
    let backend = Store::new(Arc::new(MemoryStorage::new()));
    backend
        .create(&client("example-app", "from the database"))
        .await
        .unwrap();
    backend
        .create(&client("dynamic", "created by the API"))
        .await
        .unwrap();
    let overlay = StaticOverlay::new(backend.backend().clone())
        .with_clients([client("example-app", "from the config")])
        .unwrap()
        .with_passwords([password("Admin@Example.com")])
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
    (Store::new(Arc::new(overlay)), backend)
}

#[tokio::test]
async fn static_records_win_on_get_and_list() {
    let (store, _) = overlay().await;
    let got = store.get::<Client>("example-app").await.unwrap();
    assert_eq!(got.value.name, "from the config");
    assert_eq!(got.version, Version::STATIC);
    let names: Vec<_> = store
        .list::<Client>()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["created by the API", "from the config"]);
    assert_eq!(
        store
            .get::<ConnectorRecord>("local")
            .await
            .unwrap()
            .value
            .name,
        "Email"
    );
}

#[tokio::test]
async fn static_records_are_read_only() {
    let (store, backend) = overlay().await;
    let err = store.create(&client("example-app", "x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReadOnly);
    assert!(err.to_string().contains("configuration file"), "{err}");
    let err = store
        .update::<Client, _>("example-app", |mut c| {
            c.name = "changed".into();
            Ok(c)
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReadOnly);
    let err = store.delete::<Client>("example-app").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReadOnly);
    let err = store
        .delete::<Password>("ADMIN@example.com")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReadOnly);
    // The shadowed database row is untouched.
    assert_eq!(
        backend
            .get::<Client>("example-app")
            .await
            .unwrap()
            .value
            .name,
        "from the database"
    );
}

#[tokio::test]
async fn dynamic_records_pass_through() {
    let (store, backend) = overlay().await;
    store
        .update::<Client, _>("dynamic", |mut c| {
            c.name = "renamed".into();
            Ok(c)
        })
        .await
        .unwrap();
    assert_eq!(
        backend.get::<Client>("dynamic").await.unwrap().value.name,
        "renamed"
    );
    store.create(&client("new", "new")).await.unwrap();
    store.delete::<Client>("dynamic").await.unwrap();
    assert!(backend.get::<Client>("dynamic").await.is_err());
}

#[tokio::test]
async fn static_passwords_match_case_insensitively() {
    let (store, _) = overlay().await;
    for email in [
        "admin@example.com",
        "ADMIN@EXAMPLE.COM",
        "Admin@Example.com",
    ] {
        let p = store.get::<Password>(email).await.unwrap();
        assert_eq!(p.value.email, "Admin@Example.com");
    }
}

#[tokio::test]
async fn duplicate_static_ids_are_a_configuration_error() {
    let err = StaticOverlay::new(Arc::new(MemoryStorage::new()))
        .with_clients([client("twice", "a"), client("twice", "b")])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert!(err.to_string().contains("\"twice\""), "{err}");
    let err = StaticOverlay::new(Arc::new(MemoryStorage::new()))
        .with_passwords([password("a@example.com"), password("A@EXAMPLE.COM")])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
}
