//! `oxidex admin ...` against a real `oxidex serve` with `grpc.addr`: every command, through
//! the binary itself, in tables and in JSON; Dex's in-band booleans as exit codes; and mutual
//! TLS with certificates made by the `openssl` CLI.
#![cfg(feature = "grpc")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::{Oxidex, SQLITE_ISSUER, STATIC_PASSWORDS, free_port, make_certificates};

/// The password of [`STATIC_PASSWORDS`]' user, and that user.
const ADMIN_EMAIL: &str = "admin@example.com";

fn config(grpc_port: u16) -> String {
    format!(
        "{SQLITE_ISSUER}{STATIC_PASSWORDS}grpc:\n  addr: 127.0.0.1:{grpc_port}\noauth2:\n  \
         grantTypes: [authorization_code, refresh_token, client_credentials, password]\n  \
         passwordConnector: local\n"
    )
}

/// What one `oxidex admin` run did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }

    #[track_caller]
    fn fails(self, code: i32, message: &str) -> Self {
        assert_eq!(self.code, code, "{self:?}");
        assert!(
            self.stderr.contains(message),
            "{message:?} expected: {self:?}"
        );
        self
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// Runs `oxidex admin {args}` with `stdin` piped in (empty if `None`).
fn admin(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oxidex"))
        .arg("admin")
        .args(args)
        .env_remove("OXIDEX_ADMIN_ADDR")
        .env_remove("OXIDEX_ADMIN_CA_CERT")
        .env_remove("OXIDEX_ADMIN_CLIENT_CERT")
        .env_remove("OXIDEX_ADMIN_CLIENT_KEY")
        .env_remove("OXIDEX_ADMIN_SERVER_NAME")
        .env_remove("OXIDEX_ADMIN_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A plain-text admin API on `127.0.0.1:{port}`.
struct Api {
    addr: String,
}

impl Api {
    fn new(port: u16) -> Self {
        Self {
            addr: format!("127.0.0.1:{port}"),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut all = vec!["--addr", self.addr.as_str()];
        all.extend_from_slice(args);
        admin(&all, stdin)
    }

    /// Waits until the API answers.
    async fn wait(&self) {
        for _ in 0..100 {
            if self.run(&["version"]).code == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "the admin API did not come up: {:?}",
            self.run(&["version"])
        );
    }
}

async fn start(env: &[(&str, &str)]) -> (Oxidex, Api) {
    let port = free_port();
    let server = Oxidex::start_with_env(&config(port), env).await;
    let api = Api::new(port);
    api.wait().await;
    (server, api)
}

#[tokio::test]
async fn clients_are_created_listed_changed_and_deleted() {
    let (server, api) = start(&[]).await;

    let created = api
        .run(&[
            "clients",
            "create",
            "--id",
            "robot",
            "--secret",
            "robot-secret",
            "--name",
            "Robot",
            "--redirect-uri",
            "http://127.0.0.1:5555/callback",
            "--redirect-uri",
            "http://127.0.0.1:5556/callback",
            "--trusted-peer",
            "other",
            "--logo-url",
            "https://example.com/logo.png",
        ])
        .ok();
    assert!(
        created.stdout.contains("client \"robot\" created"),
        "{created:?}"
    );
    assert!(
        !created.stdout.contains("robot-secret"),
        "no secret unless asked"
    );

    // It works at the token endpoint at once.
    let (status, body, _) = server
        .post(
            "/token",
            Some(("robot", "robot-secret")),
            &[("grant_type", "client_credentials"), ("scope", "openid")],
        )
        .await;
    assert_eq!(status, 200, "{body}");

    api.run(&["clients", "create", "--id", "robot"])
        .fails(1, "client \"robot\" already exists");

    // A generated secret, shown when asked for.
    let generated = api
        .run(&[
            "--json",
            "clients",
            "create",
            "--id",
            "gen",
            "--show-secret",
        ])
        .ok()
        .json();
    let secret = generated["secret"].as_str().unwrap();
    assert!(secret.len() >= 32, "{generated}");
    let hinted = api.run(&["clients", "create", "--id", "gen2"]).ok();
    assert!(hinted.stdout.contains("--show-secret"), "{hinted:?}");

    // A public client, listed with the others; no secrets in the table.
    api.run(&[
        "clients", "create", "--id", "cli", "--public", "--name", "CLI",
    ])
    .ok();
    let table = api.run(&["clients", "list"]).ok().stdout;
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("ID") && header.contains("REDIRECT URIS"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("robot ") && l.contains("Robot") && l.contains("false")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("cli ") && l.contains("true")),
        "{table}"
    );
    assert!(
        !table.contains("robot-secret") && !table.contains(secret),
        "{table}"
    );

    let listed = api.run(&["clients", "list", "--json"]).ok().json();
    let clients = listed["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 4, "{listed}");
    let robot = clients.iter().find(|c| c["id"] == "robot").unwrap();
    assert_eq!(robot["redirect_uris"].as_array().unwrap().len(), 2);
    assert_eq!(robot["trusted_peers"][0], "other");
    assert_eq!(robot["logo_url"], "https://example.com/logo.png");
    assert!(robot.get("secret").is_none(), "{robot}");

    // get: the secret only with --show-secret.
    let hidden = api.run(&["clients", "get", "robot"]).ok().stdout;
    assert!(
        hidden.contains("Robot") && !hidden.contains("robot-secret"),
        "{hidden}"
    );
    let shown = api
        .run(&["clients", "get", "robot", "--show-secret"])
        .ok()
        .stdout;
    assert!(shown.contains("robot-secret"), "{shown}");
    let json = api.run(&["--json", "clients", "get", "robot"]).ok().json();
    assert!(json.get("secret").is_none(), "{json}");
    let json = api
        .run(&["clients", "get", "robot", "--show-secret", "--json"])
        .ok()
        .json();
    assert_eq!(json["secret"], "robot-secret");

    // update: given fields replace, the rest stays.
    api.run(&[
        "clients",
        "update",
        "robot",
        "--name",
        "Robot 2",
        "--redirect-uri",
        "http://127.0.0.1:7777/cb",
    ])
    .ok();
    let json = api.run(&["--json", "clients", "get", "robot"]).ok().json();
    assert_eq!(json["name"], "Robot 2");
    assert_eq!(
        json["redirect_uris"],
        serde_json::json!(["http://127.0.0.1:7777/cb"])
    );
    assert_eq!(json["trusted_peers"], serde_json::json!(["other"]));
    api.run(&["clients", "update", "nobody", "--name", "x"])
        .fails(1, "client \"nobody\" not found");
    api.run(&["clients", "update", "robot"]).fails(2, "");

    // delete, then not found everywhere.
    let deleted = api.run(&["clients", "delete", "robot"]).ok();
    assert!(
        deleted.stdout.contains("client \"robot\" deleted"),
        "{deleted:?}"
    );
    api.run(&["clients", "delete", "robot"])
        .fails(1, "client \"robot\" not found");
    api.run(&["clients", "get", "robot"])
        .fails(1, "client \"robot\" not found");
    let (status, _, _) = server
        .post(
            "/token",
            Some(("robot", "robot-secret")),
            &[("grant_type", "client_credentials"), ("scope", "openid")],
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn passwords_are_added_verified_listed_and_deleted() {
    let (_server, api) = start(&[]).await;
    let add = |email: &str, password: &str| {
        api.run_with_stdin(
            &[
                "passwords",
                "add",
                "--email",
                email,
                "--username",
                "jane",
                "--user-id",
                "jane-id",
                "--password-stdin",
            ],
            Some(password),
        )
    };
    let added = add("jane@example.com", "correct horse\n").ok();
    assert!(!added.stdout.contains("correct horse") && !added.stderr.contains("correct horse"));
    add("jane@example.com", "again\n").fails(1, "already exists");

    let verify = |email: &str, password: &str| {
        api.run_with_stdin(
            &["passwords", "verify", email, "--password-stdin"],
            Some(password),
        )
    };
    let right = verify("jane@example.com", "correct horse\n").ok();
    assert!(right.stdout.contains("verified"), "{right:?}");
    assert!(!right.stdout.contains("correct horse"), "{right:?}");
    let wrong = verify("jane@example.com", "wrong horse\n").fails(1, "does not match");
    assert!(!wrong.stderr.contains("wrong horse"), "{wrong:?}");
    let json = api
        .run_with_stdin(
            &[
                "--json",
                "passwords",
                "verify",
                "jane@example.com",
                "--password-stdin",
            ],
            Some("wrong"),
        )
        .fails(1, "does not match")
        .json();
    assert_eq!(json["verified"], false);
    verify("nobody@example.com", "x\n").fails(1, "password for \"nobody@example.com\" not found");
    // No password on stdin is a usage error.
    verify("jane@example.com", "").fails(2, "no password on stdin");
    api.run(&["passwords", "verify", "jane@example.com"])
        .fails(2, "");

    // A ready hash (the static user's, password "password"), and a bad one.
    let hash = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W";
    api.run(&[
        "passwords",
        "add",
        "--email",
        "bob@example.com",
        "--user-id",
        "bob-id",
        "--hash",
        hash,
    ])
    .ok();
    verify("bob@example.com", "password").ok();
    api.run(&[
        "passwords",
        "add",
        "--email",
        "eve@example.com",
        "--user-id",
        "e",
        "--hash",
        "plain",
    ])
    .fails(2, "not a bcrypt hash");
    // Below Dex's minimum cost: the server refuses, naming the status.
    let cheap = "$2a$04$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";
    api.run(&[
        "passwords",
        "add",
        "--email",
        "eve@example.com",
        "--user-id",
        "e",
        "--hash",
        cheap,
    ])
    .fails(1, "INVALID_ARGUMENT");

    // list: users, never hashes.
    let table = api.run(&["passwords", "list"]).ok().stdout;
    assert!(table.starts_with("EMAIL"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("jane@example.com") && l.contains("jane-id")),
        "{table}"
    );
    assert!(
        table.contains(ADMIN_EMAIL),
        "static users are listed: {table}"
    );
    assert!(!table.contains("$2"), "no hashes: {table}");
    let json = api.run(&["passwords", "list", "--json"]).ok();
    assert!(!json.stdout.contains("$2"), "no hashes: {}", json.stdout);
    let listed = json.json();
    let jane = listed["passwords"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == "jane@example.com")
        .unwrap()
        .clone();
    assert_eq!(jane["username"], "jane");
    assert_eq!(jane["user_id"], "jane-id");
    assert!(jane.get("hash").is_none());

    // update: a new password from stdin, and a new username.
    api.run_with_stdin(
        &[
            "passwords",
            "update",
            "jane@example.com",
            "--password-stdin",
            "--username",
            "Jane",
        ],
        Some("battery staple\n"),
    )
    .ok();
    verify("jane@example.com", "battery staple").ok();
    verify("jane@example.com", "correct horse").fails(1, "does not match");
    api.run(&[
        "passwords",
        "update",
        "nobody@example.com",
        "--username",
        "x",
    ])
    .fails(1, "not found");
    api.run(&["passwords", "update", "jane@example.com"])
        .fails(2, "");

    // delete.
    api.run(&["passwords", "delete", "jane@example.com"]).ok();
    api.run(&["passwords", "delete", "jane@example.com"])
        .fails(1, "password for \"jane@example.com\" not found");
    verify("jane@example.com", "battery staple").fails(1, "not found");
}

#[tokio::test]
async fn connectors_are_created_listed_changed_and_deleted() {
    let (_server, api) = start(&[("DEX_API_CONNECTORS_CRUD", "true")]).await;
    api.run(&[
        "connectors",
        "create",
        "--id",
        "mock2",
        "--type",
        "mockCallback",
        "--name",
        "Mock Two",
        "--config",
        r#"{"upstreamSecret": "s3cr3t"}"#,
    ])
    .ok();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.json");
    std::fs::write(&file, r#"{"other": 1}"#).unwrap();
    api.run(&[
        "connectors",
        "create",
        "--id",
        "mock3",
        "--type",
        "mockCallback",
        "--name",
        "Mock Three",
        "--config-file",
        file.to_str().unwrap(),
    ])
    .ok();
    api.run(&[
        "connectors",
        "create",
        "--id",
        "mock2",
        "--type",
        "mockCallback",
        "--name",
        "x",
        "--config",
        "{}",
    ])
    .fails(1, "connector \"mock2\" already exists");
    api.run(&[
        "connectors",
        "create",
        "--id",
        "bad",
        "--type",
        "mockCallback",
        "--name",
        "x",
        "--config",
        "{not json",
    ])
    .fails(2, "not JSON");

    let table = api.run(&["connectors", "list"]).ok().stdout;
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.lines().any(|l| l.starts_with("mock2 ")
            && l.contains("mockCallback")
            && l.contains("Mock Two")),
        "{table}"
    );
    assert!(
        !table.contains("s3cr3t"),
        "no configurations in tables: {table}"
    );
    let json = api.run(&["--json", "connectors", "list"]).ok();
    assert!(!json.stdout.contains("s3cr3t"), "{}", json.stdout);
    let with_config = api
        .run(&["--json", "connectors", "list", "--show-config"])
        .ok()
        .json();
    let mock2 = with_config["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "mock2")
        .unwrap()
        .clone();
    assert_eq!(mock2["type"], "mockCallback");
    assert_eq!(mock2["config"]["upstreamSecret"], "s3cr3t");

    api.run(&[
        "connectors",
        "update",
        "mock2",
        "--name",
        "Mock 2",
        "--config",
        "{}",
    ])
    .ok();
    let json = api
        .run(&["--json", "connectors", "list", "--show-config"])
        .ok()
        .json();
    let mock2 = json["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "mock2")
        .unwrap()
        .clone();
    assert_eq!(mock2["name"], "Mock 2");
    assert_eq!(mock2["config"], serde_json::json!({}));
    api.run(&["connectors", "update", "nope", "--name", "x"])
        .fails(1, "connector \"nope\" not found");
    api.run(&["connectors", "update", "mock2"]).fails(2, "");

    api.run(&["connectors", "delete", "mock3"]).ok();
    api.run(&["connectors", "delete", "mock3"])
        .fails(1, "connector \"mock3\" not found");
    let json = api.run(&["connectors", "list", "--json"]).ok().json();
    assert!(
        !json["connectors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "mock3"),
        "{json}"
    );
}

#[tokio::test]
async fn connector_calls_need_the_feature_flag() {
    let (_server, api) = start(&[]).await;
    api.run(&["connectors", "list"])
        .fails(1, "FAILED_PRECONDITION");
}

#[tokio::test]
async fn refresh_tokens_are_listed_and_revoked() {
    let (server, api) = start(&[]).await;
    api.run(&["clients", "create", "--id", "app", "--secret", "app-secret"])
        .ok();
    let (status, tokens, _) = server
        .post(
            "/token",
            Some(("app", "app-secret")),
            &[
                ("grant_type", "password"),
                ("username", ADMIN_EMAIL),
                ("password", "password"),
                ("scope", "openid offline_access"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let userinfo: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/userinfo", server.issuer))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sub = userinfo["sub"].as_str().unwrap().to_owned();

    let table = api.run(&["refresh", "list", &sub]).ok().stdout;
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.lines().nth(1).unwrap().contains("app"), "{table}");
    let json = api.run(&["--json", "refresh", "list", &sub]).ok().json();
    let listed = json["refresh_tokens"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{json}");
    assert_eq!(listed[0]["client_id"], "app");
    assert!(listed[0]["created_at"].as_i64().unwrap() > 0);

    api.run(&["refresh", "revoke", &sub, "app"]).ok();
    let json = api.run(&["--json", "refresh", "list", &sub]).ok().json();
    assert_eq!(json["refresh_tokens"], serde_json::json!([]));
    api.run(&["refresh", "revoke", &sub, "app"])
        .fails(1, "not found");
    api.run(&["refresh", "list", "not-a-sub!"])
        .fails(1, "INVALID_ARGUMENT");

    // The revoked token no longer works.
    let (status, body, _) = server
        .post(
            "/token",
            Some(("app", "app-secret")),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
            ],
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn version_discovery_and_connection_settings() {
    let (server, api) = start(&[]).await;
    let version = api.run(&["version"]).ok().stdout;
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
    let json = api.run(&["version", "--json"]).ok().json();
    assert_eq!(json["server"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["api"], 3);

    let text = api.run(&["discovery"]).ok().stdout;
    assert!(
        text.lines()
            .any(|l| l.starts_with("issuer ") && l.ends_with(&server.issuer)),
        "{text}"
    );
    let json = api.run(&["--json", "discovery"]).ok().json();
    let http = server.discovery().await;
    assert_eq!(json["issuer"], http["issuer"]);
    assert_eq!(json["token_endpoint"], http["token_endpoint"]);
    assert!(
        json["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("password"))
    );

    // The address from the server's config file, or from the environment.
    let config = server.config_path().to_str().unwrap();
    admin(&["--config", config, "version"], None).ok();
    let by_env = Command::new(env!("CARGO_BIN_EXE_oxidex"))
        .args(["admin", "version", "--json"])
        .env("OXIDEX_ADMIN_ADDR", &api.addr)
        .output()
        .unwrap();
    assert!(by_env.status.success(), "{by_env:?}");

    // Nobody listening; usage errors.
    admin(
        &["--addr", &format!("127.0.0.1:{}", free_port()), "version"],
        None,
    )
    .fails(1, "cannot connect");
    admin(&["--addr", "http://127.0.0.1:5557", "version"], None).fails(2, "HOST:PORT");
    admin(
        &[
            "--addr",
            &api.addr,
            "--client-cert",
            "c.pem",
            "--client-key",
            "k.pem",
            "version",
        ],
        None,
    )
    .fails(2, "--ca-cert");
    admin(&["--addr", &api.addr, "bogus"], None).fails(2, "");
    admin(
        &["--addr", &api.addr, "refresh", "revoke", "only-one"],
        None,
    )
    .fails(2, "");
}

#[tokio::test]
async fn mutual_tls() {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let file = |name: &str| certs.path().join(name).to_str().unwrap().to_owned();
    let port = free_port();
    let config = format!(
        "{SQLITE_ISSUER}{STATIC_PASSWORDS}grpc:\n  addr: 127.0.0.1:{port}\n  tlsCert: {}\n  \
         tlsKey: {}\n  tlsClientCA: {}\n",
        file("server.pem"),
        file("server.key"),
        file("ca.pem"),
    );
    let server = Oxidex::start(&config).await;
    let addr = format!("127.0.0.1:{port}");
    let (ca, cert, key) = (file("ca.pem"), file("client.pem"), file("client.key"));
    let with_certs = |extra: &[&str]| {
        let mut args = vec![
            "--addr",
            addr.as_str(),
            "--ca-cert",
            ca.as_str(),
            "--client-cert",
            cert.as_str(),
            "--client-key",
            key.as_str(),
        ];
        args.extend_from_slice(extra);
        admin(&args, None)
    };
    let mut up = with_certs(&["version"]);
    for _ in 0..100 {
        if up.code == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        up = with_certs(&["version"]);
    }
    let up = up.ok();
    assert!(up.stdout.contains(env!("CARGO_PKG_VERSION")), "{up:?}");
    with_certs(&["--server-name", "localhost", "clients", "list"]).ok();

    // No client certificate: refused, and told why.
    let refused = admin(&["--addr", &addr, "--ca-cert", &ca, "version"], None);
    refused.fails(1, "client certificate");
    // Plain text to a TLS port fails too.
    admin(&["--addr", &addr, "version"], None).fails(1, "");
    // The wrong name expected in the server's certificate.
    with_certs(&["--server-name", "elsewhere.example", "version"]).fails(1, "");
    // The server's config names its own TLS files, which are no client credentials.
    admin(
        &[
            "--config",
            server.config_path().to_str().unwrap(),
            "version",
        ],
        None,
    )
    .fails(2, "not client credentials");
    // With the client's files, the config's address is used.
    admin(
        &[
            "--config",
            server.config_path().to_str().unwrap(),
            "--ca-cert",
            &ca,
            "--client-cert",
            &cert,
            "--client-key",
            &key,
            "version",
        ],
        None,
    )
    .ok();
}
