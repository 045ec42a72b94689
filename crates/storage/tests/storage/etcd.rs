//! The etcd backend against a real cluster: the conformance kit, and the backend's own promises
//! (namespaces isolate stores, keys map to exact etcd keys, compare-and-swap races across
//! clients, clear and bounded connection failures, pagination of large ranges).
//!
//! Set `OXIDEX_TEST_ETCD_ENDPOINTS` (comma-separated, e.g. `127.0.0.1:2379`; start one with
//! `scripts/start-etcd.sh`). Each test works in a namespace of its own
//! (`oxidex-test-<hex>/`) and deletes it afterwards. The connection-failure tests need no
//! cluster and always run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use oxidex_core::ErrorKind;
use oxidex_core::storage::{RecordData, RecordKind, Storage, StoredRecord};
use oxidex_storage::conformance::Fixture;
use oxidex_storage::{EtcdConfig, EtcdStorage};

use crate::services::{
    assert_connect_error, block_on_own_thread, check_cas_race_across_pools, check_keys_are_exact,
    service_url, unique_name,
};

const VAR: &str = "OXIDEX_TEST_ETCD_ENDPOINTS";
const EXAMPLE: &str = "127.0.0.1:2379";

/// A namespace of its own on the cluster of `OXIDEX_TEST_ETCD_ENDPOINTS`; every key under it
/// is deleted when this is dropped.
struct TempNamespace {
    endpoints: Vec<String>,
    namespace: String,
}

impl TempNamespace {
    /// `None` (the test skips) when no cluster is configured.
    fn new() -> Option<Self> {
        let endpoints = service_url(VAR, EXAMPLE)?
            .split(',')
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
            .collect();
        Some(Self {
            endpoints,
            namespace: format!("{}/", unique_name("oxidex-test-")),
        })
    }

    fn config(&self) -> EtcdConfig {
        let mut config = EtcdConfig::default();
        config.endpoints = self.endpoints.clone();
        config.namespace = self.namespace.clone();
        config
    }

    async fn open(&self) -> EtcdStorage {
        EtcdStorage::open(&self.config())
            .await
            .expect("connect to the test etcd")
    }

    /// A plain etcd client, to look at (or tamper with) the raw keys.
    async fn raw(&self) -> etcd_client::Client {
        etcd_client::Client::connect(&self.endpoints, None)
            .await
            .expect("connect a raw etcd client")
    }
}

impl Drop for TempNamespace {
    fn drop(&mut self) {
        let endpoints = self.endpoints.clone();
        let namespace = self.namespace.clone();
        block_on_own_thread(move || async move {
            let cleanup = async {
                let mut client = etcd_client::Client::connect(&endpoints, None).await?;
                client
                    .delete(
                        namespace.as_bytes(),
                        Some(etcd_client::DeleteOptions::new().with_prefix()),
                    )
                    .await
            };
            match tokio::time::timeout(Duration::from_secs(10), cleanup).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => eprintln!("cannot delete test namespace {namespace}: {e}"),
                Err(_) => eprintln!("timed out deleting test namespace {namespace}"),
            }
        });
    }
}

async fn fresh() -> Fixture {
    let Some(namespace) = TempNamespace::new() else {
        return Fixture::skip(format!("{VAR} is not set"));
    };
    let storage = namespace.open().await;
    Fixture::with_guard(storage, namespace)
}

oxidex_storage::storage_conformance_tests!(fresh);

fn data(value: &str) -> RecordData {
    RecordData {
        value: value.as_bytes().to_vec(),
        expiry: None,
    }
}

fn expiring(value: &str, expiry: DateTime<Utc>) -> RecordData {
    RecordData {
        value: value.as_bytes().to_vec(),
        expiry: Some(expiry),
    }
}

fn keys_of(records: Vec<StoredRecord>) -> Vec<String> {
    let mut keys: Vec<String> = records.into_iter().map(|r| r.key).collect();
    keys.sort();
    keys
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn namespaces_isolate_stores() {
    let (Some(a), Some(b)) = (TempNamespace::new(), TempNamespace::new()) else {
        return;
    };
    let (store_a, store_b) = (a.open().await, b.open().await);
    let kind = RecordKind::AuthCode;
    let past = DateTime::from_timestamp(1_000_000_000, 0).unwrap();
    store_a
        .create(kind, "shared", expiring("from a", past))
        .await
        .unwrap();
    store_b
        .create(kind, "shared", expiring("from b", past))
        .await
        .unwrap();
    store_b.create(kind, "only-b", data("b")).await.unwrap();

    assert_eq!(store_a.get(kind, "shared").await.unwrap().value, b"from a");
    assert_eq!(store_b.get(kind, "shared").await.unwrap().value, b"from b");
    assert!(
        store_a
            .get(kind, "only-b")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(keys_of(store_a.list(kind).await.unwrap()), ["shared"]);
    assert_eq!(
        keys_of(store_b.list(kind).await.unwrap()),
        ["only-b", "shared"]
    );

    // Garbage collection and deletes stay inside their namespace.
    let now = DateTime::from_timestamp(2_000_000_000, 0).unwrap();
    assert_eq!(store_a.delete_expired(kind, now).await.unwrap(), 1);
    assert_eq!(store_b.get(kind, "shared").await.unwrap().value, b"from b");
    store_b.delete(kind, "only-b").await.unwrap();
    assert!(store_a.list(kind).await.unwrap().is_empty());
    assert_eq!(keys_of(store_b.list(kind).await.unwrap()), ["shared"]);
    assert_eq!(store_a.namespace(), a.namespace);
}

#[tokio::test]
async fn records_are_laid_out_as_documented() {
    let Some(ns) = TempNamespace::new() else {
        return;
    };
    let store = ns.open().await;
    let expiry = DateTime::from_timestamp(1_718_000_000, 123_456_789).unwrap();
    let version = store
        .create(
            RecordKind::AuthRequest,
            "req/1",
            expiring("{\"id\":1}", expiry),
        )
        .await
        .unwrap();
    store
        .create(RecordKind::Client, "app", data("{}"))
        .await
        .unwrap();

    let mut raw = ns.raw().await;
    let response = raw
        .get(
            ns.namespace.as_bytes(),
            Some(etcd_client::GetOptions::new().with_prefix()),
        )
        .await
        .unwrap();
    let kvs = response.kvs();
    assert_eq!(kvs.len(), 2);
    let request = kvs
        .iter()
        .find(|kv| kv.key() == format!("{}auth_request/req/1", ns.namespace).as_bytes())
        .expect("the auth request under {namespace}auth_request/{key}");
    assert_eq!(
        request.value(),
        b"oxidex1 expiry=1718000000.123456789\n{\"id\":1}"
    );
    assert_eq!(
        u64::try_from(request.mod_revision()).unwrap(),
        version.get()
    );
    let client = kvs
        .iter()
        .find(|kv| kv.key() == format!("{}client/app", ns.namespace).as_bytes())
        .expect("the client under {namespace}client/{key}");
    assert_eq!(client.value(), b"oxidex1\n{}");
}

#[tokio::test]
async fn foreign_values_are_reported_as_corrupt() {
    let Some(ns) = TempNamespace::new() else {
        return;
    };
    let store = ns.open().await;
    // What Dex writes: bare JSON.
    ns.raw()
        .await
        .put(
            format!("{}client/dex-app", ns.namespace),
            "{\"id\":\"dex-app\"}",
            None,
        )
        .await
        .unwrap();
    for err in [
        store.get(RecordKind::Client, "dex-app").await.unwrap_err(),
        store.list(RecordKind::Client).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Backend);
        let message = err.to_string();
        assert!(message.contains("dex-app"), "{message}");
        assert!(message.contains("not written by oxidex"), "{message}");
    }
}

#[tokio::test]
async fn keys_with_slashes_and_unicode_stay_in_their_kind() {
    let Some(ns) = TempNamespace::new() else {
        return;
    };
    let store = ns.open().await;
    let keys = [
        "a",
        "a/",
        "a/b",
        "/leading",
        "client/x",
        "connector/y",
        "ü/ñ/☃",
        "𝄞 clé",
    ];
    for key in keys {
        store
            .create(RecordKind::Client, key, data(&format!("client {key}")))
            .await
            .unwrap();
    }
    // The same keys in the kind whose name extends "client", and in another kind.
    for kind in [RecordKind::Connector, RecordKind::OfflineSessions] {
        store
            .create(kind, "client/x", data("not a client"))
            .await
            .unwrap();
    }
    let mut expected: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    expected.sort();
    assert_eq!(
        keys_of(store.list(RecordKind::Client).await.unwrap()),
        expected
    );
    for key in keys {
        let stored = store.get(RecordKind::Client, key).await.unwrap();
        assert_eq!(stored.key, key);
        assert_eq!(stored.value, format!("client {key}").as_bytes());
    }
    assert_eq!(
        keys_of(store.list(RecordKind::Connector).await.unwrap()),
        ["client/x"]
    );
    assert!(
        store
            .get(RecordKind::Connector, "a/b")
            .await
            .unwrap_err()
            .is_not_found()
    );
    store
        .delete(RecordKind::Connector, "client/x")
        .await
        .unwrap();
    assert_eq!(
        store
            .get(RecordKind::Client, "client/x")
            .await
            .unwrap()
            .value,
        b"client client/x"
    );

    let Some(other) = TempNamespace::new() else {
        return;
    };
    check_keys_are_exact(&other.open().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_clients_racing_on_one_key_have_one_winner() {
    let Some(ns) = TempNamespace::new() else {
        return;
    };
    let kind = RecordKind::RefreshToken;
    let mut stores = Vec::new();
    for _ in 0..50 {
        // Each its own connection.
        stores.push(ns.open().await);
    }
    let mut version = stores[0].create(kind, "hot", data("v0")).await.unwrap();
    for round in 0..3 {
        let mut tasks = tokio::task::JoinSet::new();
        for (writer, store) in stores.iter().enumerate() {
            let store = store.clone();
            tasks.spawn(async move {
                let value = format!("round {round} writer {writer}");
                let result = store
                    .compare_and_swap(kind, "hot", version, data(&value))
                    .await;
                (value, result)
            });
        }
        let mut winners = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (value, result) = joined.unwrap();
            match result {
                Ok(v) => winners.push((value, v)),
                Err(e) => assert!(e.is_conflict(), "round {round}: losers see Conflict: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let (value, new_version) = winners.remove(0);
        let stored = stores[49].get(kind, "hot").await.unwrap();
        assert_eq!(stored.value, value.as_bytes());
        assert_eq!(stored.version, new_version);
        assert!(new_version > version);
        version = new_version;
    }

    let Some(other) = TempNamespace::new() else {
        return;
    };
    check_cas_race_across_pools(Arc::new(other.open().await), Arc::new(other.open().await)).await;
}

#[tokio::test]
async fn large_ranges_are_paged() {
    let Some(ns) = TempNamespace::new() else {
        return;
    };
    let store = ns.open().await;
    let kind = RecordKind::AuthRequest;
    let past = DateTime::from_timestamp(1_000_000_000, 0).unwrap();
    let future = DateTime::from_timestamp(4_000_000_000, 0).unwrap();
    // More than two pages of 500, and more garbage than one collection batch.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1_100u32 {
        let store = store.clone();
        tasks.spawn(async move {
            let expiry = if i % 10 == 0 { future } else { past };
            store
                .create(kind, &format!("req-{i:05}"), expiring("{}", expiry))
                .await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap().unwrap();
    }
    let listed = keys_of(store.list(kind).await.unwrap());
    assert_eq!(listed.len(), 1_100);
    listed.windows(2).for_each(|w| assert_ne!(w[0], w[1]));

    let now = DateTime::from_timestamp(2_000_000_000, 0).unwrap();
    assert_eq!(store.delete_expired(kind, now).await.unwrap(), 990);
    assert_eq!(store.list(kind).await.unwrap().len(), 110);
    assert_eq!(store.delete_expired(kind, now).await.unwrap(), 0);
}

#[tokio::test]
async fn pages_shrink_for_large_records() {
    let Some(ns) = TempNamespace::new() else {
        return;
    };
    let store = ns.open().await;
    // 70 records of 1 MiB: more than the 64 MiB accepted in one response, so a page of 500
    // must be split.
    let big = "x".repeat(1024 * 1024);
    for i in 0..70 {
        store
            .create(RecordKind::Connector, &format!("big-{i:02}"), data(&big))
            .await
            .unwrap();
    }
    let listed = store.list(RecordKind::Connector).await.unwrap();
    assert_eq!(listed.len(), 70);
    assert!(listed.iter().all(|r| r.value.len() == big.len()));
}

#[tokio::test]
async fn too_large_records_are_refused_clearly() {
    let Some(ns) = TempNamespace::new() else {
        return;
    };
    let store = ns.open().await;
    let err = store
        .create(
            RecordKind::Connector,
            "huge",
            data(&"x".repeat(2 * 1024 * 1024)),
        )
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("max-request-bytes"), "{message}");
    assert!(
        store
            .get(RecordKind::Connector, "huge")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn refused_connection_names_the_endpoint() {
    let port = closed_port();
    let mut config = EtcdConfig::default();
    config.endpoints = vec![
        format!("127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}/"),
    ];
    config.username = "oxidex".into();
    config.password = "pa55-word-never-shown".into();
    let started = Instant::now();
    let err = EtcdStorage::open(&config).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert_connect_error(
        &err,
        &[
            "etcd storage",
            &format!("http://127.0.0.1:{port}"),
            "refused",
            "storage.config.endpoints",
        ],
        "pa55-word-never-shown",
    );
}

#[tokio::test]
async fn silent_server_times_out() {
    // Accepts connections and never answers: the open must give up, not hang.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut config = EtcdConfig::default();
    config.endpoints = vec![format!("127.0.0.1:{port}")];
    config.username = "oxidex".into();
    config.password = "pa55-word-never-shown".into();
    let started = Instant::now();
    let err = EtcdStorage::open(&config).await.unwrap_err();
    let took = started.elapsed();
    holder.abort();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_connect_error(
        &err,
        &[&format!("http://127.0.0.1:{port}"), "no answer", "s"],
        "pa55-word-never-shown",
    );
}

#[tokio::test]
async fn invalid_settings_are_refused_before_connecting() {
    for (endpoints, ca_file, needle) in [
        (vec![], "", "no endpoints"),
        (vec!["https://127.0.0.1:2379".to_owned()], "", "ssl.caFile"),
        (
            vec!["127.0.0.1:2379".to_owned()],
            "/nonexistent/ca.pem",
            "/nonexistent/ca.pem",
        ),
    ] {
        let mut config = EtcdConfig::default();
        config.endpoints = endpoints;
        config.ssl.ca_file = ca_file.into();
        config.username = "oxidex".into();
        config.password = "pa55-word-never-shown".into();
        let err = EtcdStorage::open(&config).await.unwrap_err();
        assert_connect_error(&err, &[needle], "pa55-word-never-shown");
    }
}

#[tokio::test]
async fn auth_on_a_cluster_without_auth_is_explained() {
    let Some(ns) = TempNamespace::new() else {
        return;
    };
    let mut config = ns.config();
    config.username = "oxidex".into();
    config.password = "pa55-word-never-shown".into();
    let err = EtcdStorage::open(&config).await.unwrap_err();
    assert_connect_error(
        &err,
        &["authentication is not enabled", "username"],
        "pa55-word-never-shown",
    );
}
