//! Replicas: three `oxidex serve` processes with one config file (one issuer URL) sharing one
//! PostgreSQL database, as operators run them behind a load balancer. A login hops between
//! processes at every step; keys are the same everywhere and rotate once; 50 concurrent
//! refreshes spread over the three rotate once and reach the upstream once; killing a process
//! mid-run loses no completed login and leaves no broken record. Then the store itself fails:
//! down at start-up, lost while serving, and back.
//!
//! Needs `OXIDEX_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`); without
//! it the tests say so and pass, unless `OXIDEX_TEST_REQUIRE_SERVICES=1` (as in CI).
#![cfg(feature = "postgres")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    Process, REDIRECT, STATIC_PASSWORDS, approve, free_port, keys, location, log_in, post_form,
    query,
};
use oxidex_core::model::{
    AuthCode, AuthRequest, Client, ConnectorRecord, Jwk, OfflineSessions, Password, RefreshToken,
    SigningKeys,
};
use oxidex_core::signer::SigningAlgorithm;
use oxidex_core::storage::Store;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const CLIENT_SECRET: &str = "ZXhhbXBsZS1hcHAtc2VjcmV0";

/// The PostgreSQL server to use, or `None` (with a loud line) when the test must skip.
fn postgres_url() -> Option<url::Url> {
    match std::env::var("OXIDEX_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(url::Url::parse(&u).expect("OXIDEX_TEST_POSTGRES_URL")),
        _ if std::env::var("OXIDEX_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("OXIDEX_TEST_REQUIRE_SERVICES=1 but OXIDEX_TEST_POSTGRES_URL is not set")
        }
        _ => {
            eprintln!(
                "SKIPPED: set OXIDEX_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
                 to run the replica tests"
            );
            None
        }
    }
}

/// A database of its own for one test, dropped at the end.
struct Database {
    server: url::Url,
    name: String,
}

impl Database {
    fn create(server: &url::Url, purpose: &str) -> Self {
        let name = format!(
            "oxidex_{purpose}_{}",
            oxidex_core::jose::b64url(oxidex_core::ids::random_bytes::<6>().unwrap())
                .to_lowercase()
                .replace(['-', '_'], "x")
        );
        psql(server, &format!("CREATE DATABASE {name}"));
        Self {
            server: server.clone(),
            name,
        }
    }

    fn storage_yaml(&self, port: u16) -> String {
        let host = self.server.host_str().unwrap_or("127.0.0.1");
        let user = if self.server.username().is_empty() {
            "postgres"
        } else {
            self.server.username()
        };
        let password = self.server.password().unwrap_or("");
        format!(
            "storage:\n  type: postgres\n  config:\n    host: {host}\n    port: {port}\n    \
             user: {user}\n    password: \"{password}\"\n    database: {}\n    \
             connectionTimeout: 3\n    ssl:\n      mode: disable\n",
            self.name
        )
    }

    fn port(&self) -> u16 {
        self.server.port().unwrap_or(5432)
    }

    /// The store the processes share, opened directly.
    async fn store(&self) -> Store {
        let config: oxidex_storage::PostgresConfig = serde_json::from_value(serde_json::json!({
            "host": self.server.host_str().unwrap_or("127.0.0.1"),
            "port": self.port(),
            "user": if self.server.username().is_empty() { "postgres" } else { self.server.username() },
            "password": self.server.password().unwrap_or(""),
            "database": self.name,
            "ssl": {"mode": "disable"},
        }))
        .unwrap();
        let storage = oxidex_storage::PostgresStorage::open(&config)
            .await
            .unwrap();
        Store::new(Arc::new(storage))
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        psql(
            &self.server,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn psql(server: &url::Url, sql: &str) {
    let out = Command::new("psql")
        .arg(server.as_str())
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("psql is installed");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_config(dir: &Path, issuer_port: u16, storage: &str) -> PathBuf {
    let config = format!(
        r#"issuer: http://127.0.0.1:{issuer_port}/dex
{storage}web:
  http: 127.0.0.1:{issuer_port}
logger:
  level: info
  format: json
staticClients:
- id: example-app
  name: Example App
  secret: {CLIENT_SECRET}
  redirectURIs:
  - {REDIRECT}
{STATIC_PASSWORDS}"#
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

/// One `oxidex serve` process; its log goes to a file so the test can count audit events.
struct Replica {
    child: Process,
    base: String,
    telemetry: String,
    log: PathBuf,
}

impl Replica {
    fn spawn(config: &Path, dir: &Path, name: &str, port: u16) -> Self {
        let telemetry = free_port();
        let log = dir.join(format!("{name}.log"));
        let child = Process(
            Command::new(env!("CARGO_BIN_EXE_oxidex"))
                .arg("serve")
                .arg(config)
                .args(["--web-http-addr", &format!("127.0.0.1:{port}")])
                .args(["--telemetry-addr", &format!("127.0.0.1:{telemetry}")])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap(),
        );
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            telemetry: format!("http://127.0.0.1:{telemetry}"),
            log,
        }
    }

    async fn wait_ready(&mut self) {
        for _ in 0..300 {
            if let Ok(r) = reqwest::get(format!("{}/healthz/ready", self.telemetry)).await
                && r.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "oxidex exited with {status}: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{} never became ready: {}",
            self.base,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn count_in_log(&self, needle: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches(needle)
            .count()
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Where a `Location` points, moved to `base` (locations are issuer-relative or absolute
/// under the shared issuer URL).
fn on(base: &str, location: &str) -> String {
    if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        let url = url::Url::parse(location).unwrap();
        format!(
            "{base}{}{}",
            url.path(),
            url.query().map(|q| format!("?{q}")).unwrap_or_default()
        )
    }
}

/// Tokens from a login.
#[derive(Debug, Clone)]
struct Tokens {
    id_token: String,
    refresh_token: String,
}

/// A whole login in which every request goes to the next process of `bases` in turn: the
/// authorization request, the login page, the login form, the approval page, the approval
/// form and the token exchange are each served by another process than the step before.
/// Returns which process served each step, and the tokens.
async fn login_across(bases: &[String]) -> Result<(Vec<usize>, Tokens), reqwest::Error> {
    let b = browser();
    let mut served = Vec::new();
    let mut step = 0usize;
    let mut next = |served: &mut Vec<usize>| {
        let i = step % bases.len();
        step += 1;
        served.push(i);
        bases[i].clone()
    };
    let mut url = format!(
        "{}/dex/auth?client_id=example-app&redirect_uri={}&response_type=code\
         &scope=openid%20email%20offline_access&state=hop",
        next(&mut served),
        REDIRECT
    );
    // Authorization request, then any redirects, until the login page.
    let html = loop {
        let r = b.get(&url).send().await?;
        if r.status().is_redirection() {
            url = on(&next(&mut served), &location(&r));
            continue;
        }
        assert_eq!(r.status(), 200, "{url}");
        break r.text().await?;
    };
    assert!(html.contains("name=\"password\""), "password form expected");
    let mut back = log_in(&b, &next(&mut served), &html, "admin@example.com").await?;
    // Redirects after the login (Dex's callback hop, the approval page), each on the next
    // process, until the client's redirect URI.
    for _ in 0..5 {
        if back.starts_with(REDIRECT) {
            break;
        }
        let r = b.get(on(&next(&mut served), &back)).send().await?;
        if r.status() == 200 {
            let html = r.text().await?;
            let r = approve(&b, &next(&mut served), &html).await?;
            back = location(&r);
        } else {
            assert_eq!(r.status(), 303, "{back}");
            back = location(&r);
        }
    }
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(query(&back, "state").as_deref(), Some("hop"));
    let code = query(&back, "code").expect("a code");
    let r = b
        .post(format!("{}/dex/token", next(&mut served)))
        .basic_auth("example-app", Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), 200, "token exchange");
    let body: serde_json::Value = r.json().await?;
    Ok((
        served,
        Tokens {
            id_token: body["id_token"].as_str().unwrap().to_owned(),
            refresh_token: body["refresh_token"].as_str().unwrap().to_owned(),
        },
    ))
}

async fn refresh(base: &str, token: &str) -> (u16, serde_json::Value) {
    let (status, body, _) = post_form(
        &format!("{base}/dex/token"),
        Some(("example-app", CLIENT_SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await;
    (status, body)
}

fn kids(keys: &[Jwk]) -> BTreeSet<String> {
    keys.iter().map(|k| k.kid.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_share_one_postgres_database() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(server) = postgres_url() else { return };
    let db = Database::create(&server, "replicas");
    let dir = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let config = write_config(dir.path(), ports[0], &db.storage_yaml(db.port()));

    // All three start at once against an empty database: migrations and the first signing
    // key are raced for.
    let mut replicas: Vec<Replica> = ["a", "b", "c"]
        .iter()
        .zip(ports)
        .map(|(name, port)| Replica::spawn(&config, dir.path(), name, port))
        .collect();
    for r in &mut replicas {
        r.wait_ready().await;
    }
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();

    // A login whose every step is served by another process.
    let (served, tokens) = login_across(&bases).await.unwrap();
    assert!(served.len() >= 6, "{served:?}");
    assert!(
        served.windows(2).all(|w| w[0] != w[1]),
        "consecutive steps on different processes: {served:?}"
    );

    // The same keys everywhere, and a token minted by one verifies against every other's.
    let keys: Vec<Vec<Jwk>> = all_keys(&bases).await;
    assert_eq!(
        keys[0].len(),
        2,
        "after a racing start: one signing key and the next one, published ahead"
    );
    assert!(keys.iter().all(|k| kids(k) == kids(&keys[0])), "{keys:?}");
    for k in &keys {
        oxidex_core::jose::verify_compact(&tokens.id_token, k, &[SigningAlgorithm::Rs256])
            .expect("verifies against every replica's /keys");
    }

    // Forced rotation on all three at once: exactly one new signing key.
    let before = kids(&keys[0]);
    let out = Command::new(env!("CARGO_BIN_EXE_oxidex"))
        .args(["keys", "rotate"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pids: Vec<String> = replicas.iter().map(|r| r.child.id().to_string()).collect();
    assert!(
        Command::new("kill")
            .arg("-USR1")
            .args(&pids)
            .status()
            .unwrap()
            .success()
    );
    let mut after = Vec::new();
    for _ in 0..100 {
        after = all_keys(&bases).await;
        if after.iter().all(|k| kids(k) != before) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a late second rotation the chance to show itself.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after: Vec<Vec<Jwk>> = if after.is_empty() {
        Vec::new()
    } else {
        all_keys(&bases).await
    };
    assert!(
        after.iter().all(|k| kids(k) == kids(&after[0])),
        "{after:?}"
    );
    let added: Vec<String> = kids(&after[0]).difference(&before).cloned().collect();
    assert_eq!(added.len(), 1, "exactly one new key: {added:?}");
    assert!(
        kids(&after[0]).is_superset(&before),
        "old key still verifies"
    );
    let rotated = replicas
        .iter()
        .map(|r| r.count_in_log("\"Rotated\""))
        .sum::<usize>();
    assert_eq!(
        rotated,
        1,
        "one process rotated, the others reloaded: {:?}",
        replicas
            .iter()
            .flat_map(|r| std::fs::read_to_string(&r.log)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("otat"))
                .map(str::to_owned)
                .collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );

    // 50 concurrent refreshes of one token spread over the three: one rotation, one upstream
    // refresh; the rest get the reuse-interval answer or invalid_grant.
    let (_, tokens) = login_across(&bases).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await; // past the 3 s reuse interval
    let upstream_before: usize = replicas
        .iter()
        .map(|r| r.count_in_log("\"upstream_refresh\""))
        .sum();
    let outcomes = futures_all((0..50).map(|i| {
        let base = bases[i % bases.len()].clone();
        let token = tokens.refresh_token.clone();
        async move { refresh(&base, &token).await }
    }))
    .await;
    let mut issued = BTreeSet::new();
    for (status, body) in &outcomes {
        match status {
            200 => {
                issued.insert(body["refresh_token"].as_str().unwrap().to_owned());
            }
            400 => assert_eq!(body["error"], "invalid_grant", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(issued.len(), 1, "exactly one rotation: {issued:?}");
    assert!(!issued.contains(&tokens.refresh_token));
    let upstream_after: usize = replicas
        .iter()
        .map(|r| r.count_in_log("\"upstream_refresh\""))
        .sum();
    assert_eq!(
        upstream_after - upstream_before,
        1,
        "the upstream connector was asked once"
    );

    // Kill one process in the middle of a run of logins.
    let completed = Arc::new(Mutex::new(Vec::<Tokens>::new()));
    let alive = Arc::new(Mutex::new(bases.clone()));
    let mut run: Vec<JoinHandle<()>> = Vec::new();
    for worker in 0..4 {
        let (completed, alive) = (completed.clone(), alive.clone());
        run.push(tokio::spawn(async move {
            for i in 0..6 {
                let mut order = alive.lock().unwrap().clone();
                let turn = (worker + i) % order.len();
                order.rotate_left(turn);
                if let Ok((_, tokens)) = login_across(&order).await {
                    completed.lock().unwrap().push(tokens);
                }
            }
        }));
    }
    while completed.lock().unwrap().len() < 6 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut victim = replicas.pop().unwrap();
    alive.lock().unwrap().retain(|b| *b != victim.base);
    victim.child.kill().unwrap();
    victim.child.wait().unwrap();
    for t in run {
        t.await.unwrap();
    }
    let completed = completed.lock().unwrap().clone();
    assert!(
        completed.len() >= 18,
        "the surviving processes carried on: {} of 24 logins completed",
        completed.len()
    );
    tokio::time::sleep(Duration::from_millis(3500)).await;
    for (i, t) in completed.iter().enumerate() {
        let (status, body) = refresh(&replicas[i % 2].base, &t.refresh_token).await;
        assert_eq!(status, 200, "completed login {i} lost: {body}");
    }
    // Every stored record still decodes: nothing half-written.
    let store = db.store().await;
    assert!(store.list::<RefreshToken>().await.unwrap().len() >= completed.len());
    store.list::<AuthRequest>().await.unwrap();
    store.list::<AuthCode>().await.unwrap();
    store.list::<OfflineSessions>().await.unwrap();
    store.list::<Client>().await.unwrap();
    store.list::<Password>().await.unwrap();
    store.list::<ConnectorRecord>().await.unwrap();
    store.get::<SigningKeys>(SigningKeys::KEY).await.unwrap();
}

async fn all_keys(bases: &[String]) -> Vec<Vec<Jwk>> {
    futures_all(
        bases
            .iter()
            .map(|b| format!("{b}/dex"))
            .map(|issuer| async move { keys(&issuer).await }),
    )
    .await
}

/// Runs futures concurrently and collects their results in order.
async fn futures_all<F, T>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<JoinHandle<T>> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// The proxied connections open right now.
type Connections = Arc<Mutex<Vec<JoinHandle<()>>>>;

/// A TCP proxy in front of the database that the test can take down and bring back, with
/// every open connection cut, like a database restart or a network partition.
struct Outage {
    port: u16,
    target: String,
    running: Option<(JoinHandle<()>, Connections)>,
}

impl Outage {
    fn new(target: String) -> Self {
        Self {
            port: free_port(),
            target,
            running: None,
        }
    }

    async fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (target, list) = (self.target.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut upstream) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
                list.lock().unwrap().push(conn);
            }
        });
        self.running = Some((accept, conns));
    }

    fn down(&mut self) {
        if let Some((accept, conns)) = self.running.take() {
            accept.abort();
            for c in conns.lock().unwrap().drain(..) {
                c.abort();
            }
        }
    }
}

/// The status `url` answers with; 0 while nothing listens there.
async fn status_of(url: &str) -> u16 {
    reqwest::get(url).await.map_or(0, |r| r.status().as_u16())
}

async fn wait_for_status(url: &str, want: u16) {
    for _ in 0..300 {
        if status_of(url).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never answered {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_down_at_start_lost_while_serving_and_back() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(server) = postgres_url() else { return };
    let db = Database::create(&server, "outage");
    let mut outage = Outage::new(format!(
        "{}:{}",
        server.host_str().unwrap_or("127.0.0.1"),
        db.port()
    ));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, &db.storage_yaml(outage.port));
    let mut replica = Replica::spawn(&config, dir.path(), "solo", port);
    let ready = format!("{}/healthz/ready", replica.telemetry);
    let discovery = format!("{}/dex/.well-known/openid-configuration", replica.base);

    // Down at start-up: the process is up and says why it is not ready.
    wait_for_status(&format!("{}/healthz/live", replica.telemetry), 200).await;
    let r = reqwest::get(&ready).await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["storage"]["message"], "failed", "{body}");
    let r = reqwest::get(&discovery).await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert!(replica.child.try_wait().unwrap().is_none(), "still running");

    // The database comes up: the retries find it.
    outage.up().await;
    replica.wait_ready().await;
    assert_eq!(status_of(&discovery).await, 200);
    let (_, tokens) = login_across(std::slice::from_ref(&replica.base))
        .await
        .unwrap();

    // Lost while serving: 503 and server_error, readiness false, no crash.
    outage.down();
    tokio::time::sleep(Duration::from_millis(3500)).await; // past the reuse interval
    let (status, body) = refresh(&replica.base, &tokens.refresh_token).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "server_error", "{body}");
    assert_eq!(status_of(&ready).await, 503);
    assert!(replica.child.try_wait().unwrap().is_none(), "no crash");

    // Back: it recovers by itself.
    outage.up().await;
    wait_for_status(&ready, 200).await;
    let (status, body) = refresh(&replica.base, &tokens.refresh_token).await;
    assert_eq!(status, 200, "{body}");
    outage.down();
}
