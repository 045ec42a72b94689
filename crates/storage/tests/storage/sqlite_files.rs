//! The SQLite backend's own promises: clear errors naming the file, safe concurrent start-up,
//! data that survives a reopen.

use std::sync::Arc;

use oxidex_core::model::Client;
use oxidex_core::storage::Store;
use oxidex_storage::{SqliteConfig, SqliteStorage};

fn message(err: oxidex_core::Error) -> String {
    err.to_string()
}

#[tokio::test]
async fn missing_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("no-such-dir").join("oxidex.db");
    let err = message(SqliteStorage::open(&file).await.unwrap_err());
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("does not exist"), "{err}");
}

#[tokio::test]
async fn corrupt_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("corrupt.db");
    std::fs::write(&file, "this is not an SQLite database\n".repeat(200)).unwrap();
    let err = message(SqliteStorage::open(&file).await.unwrap_err());
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("not an SQLite database"), "{err}");
}

#[tokio::test]
async fn directory_instead_of_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = message(SqliteStorage::open(dir.path()).await.unwrap_err());
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
    assert!(err.contains("directory"), "{err}");
}

#[tokio::test]
async fn unwritable_location_is_named() {
    // /proc refuses new files even to root, so this holds whoever runs the tests.
    let file = std::path::Path::new("/proc/oxidex-test.db");
    let err = message(SqliteStorage::open(file).await.unwrap_err());
    assert!(err.contains("/proc/oxidex-test.db"), "{err}");
    assert!(err.contains("cannot be opened or created"), "{err}");
}

#[tokio::test]
async fn read_only_file_is_named() {
    // Root ignores file modes, so this case can only be checked by an unprivileged user.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ro.db");
    SqliteStorage::open(&file).await.unwrap().close().await;
    let mut perms = std::fs::metadata(&file).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&file, perms).unwrap();
    if std::fs::OpenOptions::new().append(true).open(&file).is_ok() {
        eprintln!("SKIPPED read_only_file_is_named: running as a user who ignores file modes");
        return;
    }
    let err = message(SqliteStorage::open(&file).await.unwrap_err());
    assert!(err.contains(&file.display().to_string()), "{err}");
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("future.db");
    let storage = SqliteStorage::open(&file).await.unwrap();
    storage.close().await;
    // Simulate a database written by a later oxidex.
    {
        let url = format!("sqlite://{}", file.display());
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("INSERT INTO oxidex_migrations (version, description) VALUES (999, 'future')")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let err = message(SqliteStorage::open(&file).await.unwrap_err());
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("schema version is 999"), "{err}");
    assert!(err.contains("upgrade oxidex"), "{err}");
}

#[tokio::test]
async fn dex_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dex.db");
    {
        let url = format!("sqlite://{}?mode=rwc", file.display());
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE migrations (num integer not null, at timestamp not null)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let err = message(SqliteStorage::open(&file).await.unwrap_err());
    assert!(err.contains("Dex database"), "{err}");
}

#[tokio::test]
async fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("persist.db");
    let storage = SqliteStorage::open(&file).await.unwrap();
    let store = Store::new(Arc::new(storage.clone()));
    store
        .create(&Client {
            id: "kept".into(),
            ..Client::default()
        })
        .await
        .unwrap();
    storage.close().await;
    let reopened = Store::new(Arc::new(SqliteStorage::open(&file).await.unwrap()));
    assert_eq!(
        reopened.get::<Client>("kept").await.unwrap().value.id,
        "kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_openers_migrate_once_and_share_data() {
    // Several "processes" (independent connection pools) start against one new file at once.
    // Repeated, because the race (switching a new file to WAL needs an exclusive lock that the
    // busy timeout does not wait for) is lost only now and then.
    for _ in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("shared.db");
        let mut openers = Vec::new();
        for _ in 0..8 {
            let file = file.clone();
            openers.push(tokio::spawn(
                async move { SqliteStorage::open(&file).await },
            ));
        }
        let mut stores = Vec::new();
        for opener in openers {
            let storage = opener.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
            stores.push(Store::new(Arc::new(storage)));
        }
        stores[0]
            .create(&Client {
                id: "seen-by-all".into(),
                ..Client::default()
            })
            .await
            .unwrap();
        for store in &stores {
            store.get::<Client>("seen-by-all").await.unwrap();
        }
        let url = format!("sqlite://{}", file.display());
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oxidex_migrations")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(applied, 1, "each migration applied exactly once");
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }
}

#[tokio::test]
async fn dex_config_shape() {
    let config: SqliteConfig =
        serde_json::from_value(serde_json::json!({"file": ":memory:"})).unwrap();
    let storage = SqliteStorage::open_config(&config).await.unwrap();
    assert_eq!(storage.file().display().to_string(), ":memory:");
    let err = serde_json::from_value::<SqliteConfig>(serde_json::json!({"fiel": "x.db"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("fiel"), "{err}");
}
