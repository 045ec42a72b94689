//! Tests of the whole loader: real Dex config files, YAML corner cases, environment handling,
//! error reporting and the refusal of unsafe settings.

use std::path::Path;
use std::time::Duration;

use super::*;

const DEX_CONFIGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/testdata/dex-configs");
const DEV_EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/config-dev.yaml"
);
const HASH: &str = DEX_EXAMPLE_HASH;

fn no_env() -> Environment {
    Environment::default()
}

fn env(vars: &[(&str, &str)]) -> Environment {
    vars.iter().copied().collect()
}

fn load(text: &str) -> Result<Loaded, LoadError> {
    load_str(text, "test.yaml", &no_env())
}

fn loads(text: &str) -> Loaded {
    load(text).unwrap_or_else(|e| panic!("{e}"))
}

/// The error messages of a config that must not load.
fn errors(text: &str) -> Vec<String> {
    errors_with(text, &no_env())
}

fn errors_with(text: &str, env: &Environment) -> Vec<String> {
    match load_str(text, "test.yaml", env) {
        Ok(_) => panic!("loaded, but should not have:\n{text}"),
        Err(e) => e.errors(),
    }
}

/// A valid minimal config to which a test appends its own keys.
fn base(extra: &str) -> String {
    format!(
        "issuer: https://dex.example.com/dex\nstorage:\n  type: sqlite3\n  config:\n    file: dex.db\nweb:\n  http: 127.0.0.1:5556\n{extra}"
    )
}

fn assert_has(list: &[String], needle: &str) {
    assert!(
        list.iter().any(|m| m.contains(needle)),
        "no message contains {needle:?}:\n{}",
        list.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Real Dex config files

enum Expect {
    /// Loads; the closure checks the result.
    Loads(fn(&Loaded)),
    /// Fails, and every error is one of these refusals of something not built yet.
    NotBuilt(&'static [&'static str]),
}

fn dex_config_expectations() -> Vec<(&'static str, Expect)> {
    vec![
        (
            "config.dev.yaml",
            Expect::Loads(|l| {
                let c = &l.config;
                assert_eq!(c.issuer, "http://127.0.0.1:5556/dex");
                assert!(matches!(&c.storage, Storage::Sqlite3(s) if s.file == "var/sqlite/dex.db"));
                assert_eq!(c.grpc.addr, "127.0.0.1:5557");
                assert_eq!(c.telemetry.http, "127.0.0.1:5558");
                let ids: Vec<(&str, &str)> = c
                    .connectors
                    .iter()
                    .map(|c| (c.id.as_str(), c.connector_type.as_str()))
                    .collect();
                assert_eq!(ids, [("mock", "mockCallback"), ("local", "local")]);
                assert_eq!(c.connectors[1].name, "Email");
                let client = &c.static_clients[0].client;
                assert_eq!(client.id, "example-app");
                assert!(client.secret.verify("ZXhhbXBsZS1hcHAtc2VjcmV0"));
                assert_eq!(client.redirect_uris, ["http://127.0.0.1:5555/callback"]);
                let password = &c.static_passwords[0];
                assert_eq!(password.hash, HASH);
                assert_eq!(password.groups, ["team-a", "team-a/admins"]);
                assert_eq!(password.email_verified, Some(true));
                assert_eq!(password.user_id, "08a8684b-db88-4b73-90a9-3cd1661f5466");
                assert_has(&l.warnings, "connectors[0]: `mock` (mockCallback)");
                assert_has(
                    &l.warnings,
                    "staticPasswords[0].hash: is Dex's published example hash",
                );
                assert_has(&l.warnings, "grpc.addr: the admin API");
            }),
        ),
        (
            "config.yaml.dist",
            Expect::Loads(|l| {
                let c = &l.config;
                assert_eq!(c.storage, Storage::Memory);
                assert!(c.enable_password_db);
                assert!(c.static_passwords.is_empty() && c.static_clients.is_empty());
                assert_eq!(c.connectors.len(), 1);
                assert_eq!(c.expiry.id_tokens(), Duration::from_secs(24 * 3600));
                assert_eq!(
                    l.warnings,
                    [
                        "line 14: storage.type: memory storage forgets everything (refresh tokens, \
                      signing keys, clients and passwords added through the API) on restart and \
                      cannot be shared by replicas: development only; use sqlite3"
                    ]
                );
            }),
        ),
        (
            "examples_config-ad-kubelogin.yaml",
            Expect::Loads(|l| {
                let c = &l.config.connectors[0];
                assert_eq!((c.id.as_str(), c.connector_type.as_str()), ("ldap", "ldap"));
                assert_eq!(c.config["userSearch"]["username"], "userPrincipalName");
                assert_has(&l.warnings, "connectors[0].config: ");
                assert_has(&l.warnings, "insecureSkipVerify");
            }),
        ),
        (
            "examples_config-dev.yaml",
            Expect::Loads(|l| {
                let c = &l.config;
                assert!(matches!(&c.storage, Storage::Sqlite3(s) if s.file == "examples/dex.db"));
                assert_eq!(c.oauth2.password_connector, "local");
                assert_eq!(c.oauth2.grant_types.len(), 6);
                assert_eq!(c.allowed_grant_types().len(), 6);
                let Signer::Local(signer) = &c.signer;
                assert_eq!(signer.keys_rotation_period, Duration::from_secs(6 * 3600));
                assert_eq!(signer.algorithm, SigningAlgorithm::RS256);
                let sessions = c.sessions.as_ref().unwrap();
                assert_eq!(sessions.cookie_name(), "dex_session");
                assert_eq!(sessions.valid_if_not_used_for(), Duration::from_secs(3600));
                let client = &c.static_clients[0];
                assert_eq!(client.client.redirect_uris.len(), 2);
                assert_eq!(client.post_logout_redirect_uris, ["http://127.0.0.1:5555/"]);
                assert_eq!(
                    client.backchannel_logout_uri,
                    "http://127.0.0.1:5555/backchannel-logout"
                );
                assert_has(
                    &l.warnings,
                    "sessions: is checked, but oxidex has not built Dex's sessions yet",
                );
                assert_has(&l.warnings, "DEX_SESSIONS_ENABLED=true");
                assert_has(
                    &l.warnings,
                    "postLogoutRedirectURIs, backchannelLogoutURI need Dex's sessions",
                );
                assert_has(&l.warnings, "grpc.addr: the admin API");
                assert_has(&l.warnings, "`mock` (mockCallback)");
            }),
        ),
        (
            "examples_grpc-client_config.yaml",
            Expect::Loads(|l| {
                let c = &l.config;
                assert_eq!(c.grpc.tls_client_ca, "ca.crt");
                assert_eq!(c.web.http, "0.0.0.0:5556");
                assert!(
                    !l.warnings.iter().any(|w| w.contains("admin API")),
                    "{:?}",
                    l.warnings
                );
            }),
        ),
        (
            "examples_ldap_config-ldap.yaml",
            Expect::Loads(|l| {
                let c = &l.config.connectors[0];
                assert_eq!(c.connector_type, "ldap");
                assert_eq!(c.config["host"], "localhost:389");
                assert_has(&l.warnings, "insecureNoSSL");
            }),
        ),
        (
            "k8s_dex.yaml",
            Expect::NotBuilt(&[
                "line 3: storage.type: `kubernetes` is a Dex storage type",
                "line 11: connectors[0].type: type `github` of connector `github` is a Dex connector type",
            ]),
        ),
    ]
}

/// The Dex config inside the ConfigMap of the Kubernetes guide's manifest.
fn configmap_config(manifest: &str) -> String {
    let mut lines = manifest
        .lines()
        .skip_while(|l| l.trim() != "config.yaml: |")
        .skip(1);
    let mut config = String::new();
    for line in lines.by_ref() {
        if line.starts_with("---") {
            break;
        }
        config.push_str(line.strip_prefix("    ").unwrap_or(line.trim()));
        config.push('\n');
    }
    config
}

#[test]
fn every_dex_config_loads_or_fails_only_on_types_not_built_yet() {
    let expectations = dex_config_expectations();
    let mut files: Vec<String> = std::fs::read_dir(DEX_CONFIGS)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "README.md")
        .collect();
    files.sort();
    let mut expected: Vec<&str> = expectations.iter().map(|(name, _)| *name).collect();
    expected.sort();
    assert_eq!(
        files, expected,
        "every file needs an expectation, and only those"
    );

    for (name, expect) in expectations {
        let text = std::fs::read_to_string(Path::new(DEX_CONFIGS).join(name)).unwrap();
        let text = if name.starts_with("k8s_") {
            configmap_config(&text)
        } else {
            text
        };
        match (load_str(&text, name, &no_env()), expect) {
            (Ok(loaded), Expect::Loads(check)) => check(&loaded),
            (Err(e), Expect::NotBuilt(refusals)) => {
                let errors = e.errors();
                assert_eq!(errors.len(), refusals.len(), "{name}: {e}");
                for (error, refusal) in errors.iter().zip(refusals) {
                    assert!(error.starts_with(refusal), "{name}: {error}");
                    assert!(error.contains("not built yet"), "{name}: {error}");
                }
            }
            (Ok(_), Expect::NotBuilt(_)) => panic!("{name} loaded but names a type not built"),
            (Err(e), Expect::Loads(_)) => panic!("{name} should load: {e}"),
        }
    }
}

#[test]
fn the_development_example_loads_with_its_warnings() {
    let loaded = load_file(Path::new(DEV_EXAMPLE), &no_env()).unwrap();
    let c = &loaded.config;
    assert_eq!(c.issuer, "http://127.0.0.1:5556/dex");
    assert!(matches!(&c.storage, Storage::Sqlite3(s) if s.file == "oxidex.db"));
    assert_eq!(c.web.http, "127.0.0.1:5556");
    let client = &c.static_clients[0].client;
    assert_eq!(client.id, "example-app");
    assert!(!client.public && !client.secret.is_empty());
    assert_eq!(client.redirect_uris, ["http://127.0.0.1:5555/callback"]);
    let cli = &c.static_clients[1].client;
    assert!(
        cli.public && cli.redirect_uris.is_empty(),
        "a device-flow client"
    );
    // Every grant, so that each example in docs/endpoints.md works against this file.
    let mut grants = c.allowed_grant_types();
    grants.sort();
    let mut all = super::schema::grant::ALL.map(str::to_owned).to_vec();
    all.sort();
    assert_eq!(grants, all);
    assert_eq!(c.connectors.len(), 1);
    assert_eq!(c.connectors[0].id, "local");
    assert_eq!(c.static_passwords[0].email, "admin@example.com");
    assert_eq!(c.static_passwords[0].hash, HASH);
    assert_eq!(
        c.static_passwords[0].user_id,
        "08a8684b-db88-4b73-90a9-3cd1661f5466"
    );
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0]
            .starts_with("line 58: staticPasswords[0].hash: is Dex's published example hash"),
        "{:?}",
        loaded.warnings
    );
}

// ---------------------------------------------------------------------------------------------
// YAML corner cases

#[test]
fn yaml_1_1_booleans_are_accepted_like_dex() {
    let loaded = loads(&base(
        "enablePasswordDB: yes\noauth2:\n  skipApprovalScreen: on\n  alwaysShowLoginScreen: off\ntelemetry:\n  enableProfiling: no\n",
    ));
    assert!(loaded.config.enable_password_db);
    assert!(loaded.config.oauth2.skip_approval_screen);
    assert!(!loaded.config.oauth2.always_show_login_screen);
    assert!(!loaded.config.telemetry.enable_profiling);
    // A quoted "true" is a string, which Dex refuses for a boolean too.
    let errs = errors(&base("enablePasswordDB: \"true\"\n"));
    assert_eq!(
        errs,
        ["line 8: enablePasswordDB: invalid type: string \"true\", expected a boolean"]
    );
}

#[test]
fn numbers_keep_their_spelling_where_text_is_expected() {
    let loaded = loads(
        "issuer: https://dex.example.com/dex\nstorage: {type: sqlite3, config: {file: dex.db}}\nweb:\n  http: 127.0.0.1:5556\n  tlsMinVersion: 1.2\n  tlsMaxVersion: 1.3\nstaticClients:\n- id: 017\n  name: 0x1F\n  secret: 017\n",
    );
    let c = &loaded.config;
    assert_eq!(c.web.tls_min_version, "1.2");
    assert_eq!(c.web.tls_max_version, "1.3");
    let client = &c.static_clients[0].client;
    // Dex's YAML 1.1 parser would have made these 15 and 31.
    assert_eq!(client.id, "017");
    assert_eq!(client.name, "0x1F");
    assert!(client.secret.verify("017"));
}

#[test]
fn free_form_config_keeps_leading_zero_numbers_as_text() {
    let loaded = loads(&base(
        "connectors:\n- type: mockPassword\n  id: pw\n  name: Password\n  config:\n    username: 017\n    password: 0o17\n    port: 5556\n    enabled: on\n",
    ));
    let config = &loaded.config.connectors[0].config;
    assert_eq!(config["username"], serde_json::json!("017"));
    assert_eq!(config["password"], serde_json::json!(15));
    assert_eq!(config["port"], serde_json::json!(5556));
    assert_eq!(config["enabled"], serde_json::json!(true));
}

#[test]
fn yaml_syntax_errors_give_the_line() {
    let errs = errors("issuer: https://x\nstorage:\n  type: memory\n   config: {}\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("line 4: YAML:"), "{errs:?}");

    let errs = errors(&base("issuer: https://other\n"));
    assert_eq!(
        errs,
        ["line 8: YAML: duplicate mapping key `issuer` is not allowed here"]
    );

    assert_eq!(
        errors("  \n# nothing\n").len(),
        1,
        "an empty file is an error, not an empty config"
    );
    let errs = errors("- issuer: x\n");
    assert!(
        errs[0].contains("a Dex config file is a mapping of keys"),
        "{errs:?}"
    );
}

#[test]
fn anchors_and_merge_keys_work() {
    let loaded = loads(&base(
        "staticClients:\n- &app\n  id: a\n  name: App\n  secret: s\n  redirectURIs: [http://127.0.0.1:1/cb]\n- <<: *app\n  id: b\n",
    ));
    let ids: Vec<&str> = loaded.config.clients().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(loaded.config.static_clients[1].client.name, "App");
}

#[test]
fn empty_sections_mean_unset() {
    let loaded = loads(&base(
        "connectors:\n# - type: github\nstaticClients:\nstaticPasswords: []\nfrontend:\nlogger: {}\n",
    ));
    assert!(loaded.config.connectors.is_empty());
    assert!(loaded.config.static_clients.is_empty());
    assert_eq!(loaded.config.frontend, Frontend::default());
}

// ---------------------------------------------------------------------------------------------
// Mistakes: every error names the key and the line

#[test]
fn a_typo_names_the_key_path_and_line() {
    let errs = errors(&base("enablePassworDB: true\n"));
    assert_eq!(
        errs,
        [
            "line 8: enablePassworDB: unknown key `enablePassworDB`; did you mean `enablePasswordDB`?"
        ]
    );
    let errs = errors(&base(
        "staticClients:\n- id: app\n  name: App\n  secrett: s\n  redirectURIs: []\n",
    ));
    assert_eq!(
        errs,
        [
            "line 9: staticClients[0].secret: is required: a confidential client needs `secret` \
             (or `secretEnv`); mark the client `public: true` if it cannot keep a secret",
            "line 11: staticClients[0].secrett: unknown key `secrett`; did you mean `secret`?",
        ]
    );
    let errs = errors(&base("storage2: {}\n").replace("web:\n  http", "web:\n  htpt"));
    assert_eq!(
        errs,
        [
            "line 6: web: set `web.http` or `web.https`: the address to listen on, e.g. 127.0.0.1:5556",
            "line 7: web.htpt: unknown key `htpt`; did you mean `http`?",
            "line 8: storage2: unknown key `storage2`; did you mean `storage`?",
        ]
    );
}

#[test]
fn typos_inside_storage_signer_and_client_claims_are_found_too() {
    let errs = errors(
        &base("signer:\n  type: local\n  config:\n    keysRotationPeriod: 6h\n    algoritm: ES256\nstaticClients:\n- id: a\n  name: A\n  public: true\n  clientCredentialsClaims:\n    group: [x]\n")
            .replace("file: dex.db", "fiel: dex.db"),
    );
    assert_eq!(
        errs,
        [
            "line 4: storage.config: missing required key `file`",
            "line 5: storage.config.fiel: unknown key `fiel`; did you mean `file`?",
            "line 12: signer.config.algoritm: unknown key `algoritm`; did you mean `algorithm`?",
            "line 18: staticClients[0].clientCredentialsClaims.group: unknown key `group`; did you mean `groups`?",
        ]
    );
}

#[test]
fn wrong_types_name_the_key_and_line() {
    let errs = errors(&base("oauth2:\n  responseTypes: code\n"));
    assert_eq!(
        errs,
        ["line 9: oauth2.responseTypes: invalid type: string \"code\", expected a sequence"]
    );
    let errs = errors(&base("staticClients:\n  id: app\n"));
    assert_eq!(
        errs,
        ["line 8: staticClients: expected a list (entries starting with `- `), found a mapping"]
    );
    let errs = errors(&base(
        "expiry:\n  refreshTokens:\n    disableRotation: sometimes\n",
    ));
    assert_eq!(
        errs,
        [
            "line 10: expiry.refreshTokens.disableRotation: invalid type: string \"sometimes\", expected a boolean"
        ]
    );
}

#[test]
fn keys_differing_only_in_case_are_read_as_dex_does_with_a_warning() {
    let loaded = loads(&base(
        "staticClients:\n- id: a\n  Name: A\n  secret: s\n  redirectUris: [http://127.0.0.1:1/cb]\n",
    ));
    let client = &loaded.config.static_clients[0].client;
    assert_eq!(client.name, "A");
    assert_eq!(client.redirect_uris, ["http://127.0.0.1:1/cb"]);
    assert_has(
        &loaded.warnings,
        "line 12: staticClients[0].redirectUris: read as `redirectURIs` (Dex matches keys ignoring case); spell it `redirectURIs`",
    );
    let errs = errors(&base("Web:\n  http: 127.0.0.1:1\n"));
    assert_eq!(
        errs,
        ["line 8: Web: repeats `web` (line 6): Dex matches keys ignoring case; keep one"]
    );
}

#[test]
fn all_problems_are_reported_together_in_file_order() {
    let text = "\
issuer: ftp://dex.example.com
storage:
  type: sqlite3
  config:
    file: \"\"
web:
  https: 0.0.0.0:5554
  tlsMinVersion: \"1.1\"
logger:
  level: verbose
expiry:
  idTokens: 1d
oauth2:
  grantTypes: [authorization_code, implicit_grant]
connectors:
- type: github
  id: gh
  name: GitHub
- type: mockCallback
  id: gh
  name: Mock
staticClients:
- id: app
  secret: s
staticPasswords:
- email: a@example.com
  hash: password
  userID: a
";
    let errs = errors(text);
    let expected = [
        "line 1: issuer: the issuer must start with https://",
        "line 5: storage.config.file: is empty",
        "line 6: web.tlsCert: is required with `web.https`",
        "line 6: web.tlsKey: is required with `web.https`",
        "line 8: web.tlsMinVersion: TLS 1.1 is refused",
        "line 10: logger.level: unknown level `verbose`",
        "line 12: expiry.idTokens: invalid duration \"1d\"",
        "line 14: oauth2.grantTypes[1]: unknown grant type `implicit_grant`",
        "line 16: connectors[0].type: type `github` of connector `gh` is a Dex connector type that oxidex has not built yet",
        "line 20: connectors[1].id: `gh` is already the id of connectors[0]",
        "line 23: staticClients[0].name: is required",
        "line 25: staticPasswords: need `enablePasswordDB: true`",
        "line 27: staticPasswords[0].hash: `hash` is not a bcrypt hash",
    ];
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
    for (error, start) in errs.iter().zip(expected) {
        assert!(
            error.starts_with(start),
            "{error:?} should start with {start:?}"
        );
    }
    // No message repeats the password hash it refuses.
    assert!(!errs.iter().any(|e| e.contains("`password`")), "{errs:#?}");
}

#[test]
fn load_error_lists_every_problem() {
    let error = load("issuer: \"\"\n").unwrap_err();
    let lines: Vec<String> = error.to_string().lines().map(String::from).collect();
    assert_eq!(lines.len(), 4, "{error}");
    assert_eq!(lines[0], "invalid config file test.yaml (3 errors):");
    assert!(
        lines[1].starts_with("  - storage: is required: add `storage:"),
        "{error}"
    );
    assert!(
        lines[2].starts_with("  - web: set `web.http` or `web.https`"),
        "{error}"
    );
    assert!(
        lines[3].starts_with("  - line 1: issuer: is required: the public URL"),
        "{error}"
    );
    assert_eq!(error.errors().len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Environment

#[test]
fn env_vars_expand_only_in_storage_connector_and_signer_config() {
    let text = base(
        "frontend:\n  issuer: $NAME\nstaticClients:\n- id: $NAME\n  name: ${NAME}\n  secret: $NAME\n  public: true\nconnectors:\n- type: mockPassword\n  id: pw\n  name: $NAME\n  config:\n    username: $NAME\n    password: ${NAME}-${NAME}\n    nested: {list: [$NAME, 5, {deep: x$NAME}]}\nsigner:\n  type: local\n  config:\n    keysRotationPeriod: $PERIOD\n",
    )
    .replace("file: dex.db", "file: $DATA/dex.db");
    let env = env(&[
        ("NAME", "kilgore"),
        ("PERIOD", "90m"),
        ("DATA", "/var/lib/oxidex"),
    ]);
    let loaded = load_str(&text, "test.yaml", &env).unwrap();
    let c = &loaded.config;
    assert!(matches!(&c.storage, Storage::Sqlite3(s) if s.file == "/var/lib/oxidex/dex.db"));
    let config = &c.connectors[0].config;
    assert_eq!(config["username"], "kilgore");
    assert_eq!(config["password"], "kilgore-kilgore");
    assert_eq!(
        config["nested"],
        serde_json::json!({"list": ["kilgore", 5, {"deep": "xkilgore"}]})
    );
    let Signer::Local(signer) = &c.signer;
    assert_eq!(signer.keys_rotation_period, Duration::from_secs(90 * 60));
    // Everywhere else `$` is literal, as in Dex.
    assert_eq!(c.connectors[0].name, "$NAME");
    assert_eq!(c.frontend.issuer, "$NAME");
    assert_eq!(c.static_clients[0].client.id, "$NAME");
    assert_eq!(c.static_clients[0].client.name, "${NAME}");
    assert!(
        loaded.warnings.iter().all(|w| !w.contains("environment")),
        "{:?}",
        loaded.warnings
    );

    // DEX_EXPAND_ENV=false turns expansion off.
    let off = load_str(
        &base("connectors:\n- type: mockPassword\n  id: pw\n  name: P\n  config:\n    username: $NAME\n    password: p\n"),
        "test.yaml",
        &self::env(&[("NAME", "kilgore"), ("DEX_EXPAND_ENV", "false")]),
    )
    .unwrap();
    assert_eq!(off.config.connectors[0].config["username"], "$NAME");
    assert!(!off.config.feature_flags.expand_env);
}

#[test]
fn unset_vars_and_double_dollars_vanish_with_a_warning_naming_them() {
    let text = base(
        "connectors:\n- type: mockPassword\n  id: pw\n  name: P\n  config:\n    username: $USER_NAME\n    password: pa$$word-$TOKEN\n",
    )
    .replace("file: dex.db", "file: ${MISSING_DIR}dex.db");
    let env = env(&[("TOKEN", "hunter2")]);
    let loaded = load_str(&text, "test.yaml", &env).unwrap();
    let c = &loaded.config;
    assert!(matches!(&c.storage, Storage::Sqlite3(s) if s.file == "dex.db"));
    assert_eq!(c.connectors[0].config["username"], "");
    assert_eq!(c.connectors[0].config["password"], "paword-hunter2");
    assert_eq!(loaded.warnings.len(), 3, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].starts_with(
            "line 4: storage.config: this environment variable is not set and expanded to an \
             empty string, as Dex does: $MISSING_DIR."
        ),
        "{:?}",
        loaded.warnings
    );
    assert!(loaded.warnings[1].contains("line 9: connectors[0]: `pw` (mockPassword)"));
    assert!(
        loaded.warnings[2].starts_with(
            "line 12: connectors[0].config: these environment variables are not set and \
             expanded to an empty string, as Dex does: $$, $USER_NAME."
        ),
        "{:?}",
        loaded.warnings
    );
    assert!(loaded.warnings[2].contains("not escapes"));
    assert!(!loaded.warnings.iter().any(|w| w.contains("hunter2")));
}

#[test]
fn id_env_secret_env_and_hash_from_env_are_resolved() {
    let text = base(
        "staticClients:\n- idEnv: APP_ID\n  secretEnv: APP_SECRET\n  name: App\n- id: device\n  name: Device\n  public: true\nenablePasswordDB: true\nstaticPasswords:\n- email: Admin@Example.com\n  hashFromEnv: ADMIN_HASH\n  userID: u1\n",
    );
    let env = env(&[
        ("APP_ID", "app"),
        ("APP_SECRET", "s3cret"),
        ("ADMIN_HASH", HASH),
    ]);
    let loaded = load_str(&text, "test.yaml", &env).unwrap();
    let clients: Vec<_> = loaded.config.clients().collect();
    assert_eq!(clients[0].id, "app");
    assert!(clients[0].secret.verify("s3cret"));
    assert_eq!(clients[1].id, "device");
    assert!(clients[1].public && clients[1].secret.is_empty());
    assert_eq!(loaded.config.static_passwords[0].hash, HASH);
    assert_eq!(loaded.config.static_passwords[0].email, "Admin@Example.com");
    // The hash came from the environment, but it is still Dex's example.
    assert_has(&loaded.warnings, "is Dex's published example hash");

    let errs = errors_with(&text, &self::env(&[("APP_ID", "app")]));
    assert_eq!(
        errs,
        [
            "line 10: staticClients[0].secretEnv: names the environment variable APP_SECRET, which is not set or is empty",
            "line 18: staticPasswords[0].hashFromEnv: names the environment variable ADMIN_HASH, which is not set or is empty",
        ]
    );
}

#[test]
fn env_fields_are_mutually_exclusive_with_their_direct_values() {
    let errs = errors_with(
        &base(&format!(
            "staticClients:\n- id: a\n  idEnv: A\n  secret: s\n  secretEnv: S\n  name: A\nenablePasswordDB: true\nstaticPasswords:\n- email: a@example.com\n  hash: \"{HASH}\"\n  hashFromEnv: H\n  userID: a\n"
        )),
        &env(&[("A", "a"), ("S", "s"), ("H", HASH)]),
    );
    assert_eq!(
        errs,
        [
            "line 10: staticClients[0].idEnv: `id` and `idEnv` are mutually exclusive; keep one",
            "line 12: staticClients[0].secretEnv: `secret` and `secretEnv` are mutually exclusive; keep one",
            "line 18: staticPasswords[0].hashFromEnv: `hash` and `hashFromEnv` are mutually exclusive; keep one",
        ]
    );
    let errs = errors(&base("staticClients:\n- secret: s\n  name: A\n"));
    assert_eq!(
        errs,
        [
            "line 9: staticClients[0].id: is required: set `id`, or `idEnv` to the name of an environment variable holding it"
        ]
    );
}

#[test]
fn base64_password_hashes_are_decoded() {
    let encoded =
        "JDJhJDEwJDJiMmNVOENQaE9UYUdyczFIUlF1QXVlUzdKVFQ1WkhzSFN6WWlGUG0xbGVaY2s3TWM4VDRX";
    let loaded = loads(&base(&format!(
        "enablePasswordDB: true\nstaticPasswords:\n- email: a@example.com\n  hash: {encoded}\n  userID: a\n"
    )));
    assert_eq!(loaded.config.static_passwords[0].hash, HASH);
}

#[test]
fn feature_flag_typos_are_reported() {
    let loaded = load_str(&base(""), "test.yaml", &env(&[("DEX_EXPAND_ENV", "nope")])).unwrap();
    assert!(loaded.config.feature_flags.expand_env);
    assert_eq!(
        loaded.warnings,
        ["DEX_EXPAND_ENV=\"nope\" is not a boolean (use true or false); using the default, true"]
    );
}

#[test]
fn dex_frontend_dir_fills_an_empty_frontend_dir() {
    let env = env(&[("DEX_FRONTEND_DIR", "/srv/web")]);
    let loaded = load_str(&base(""), "test.yaml", &env).unwrap();
    assert_eq!(loaded.config.frontend.dir, "/srv/web");
    let loaded = load_str(&base("frontend:\n  dir: /mine\n"), "test.yaml", &env).unwrap();
    assert_eq!(loaded.config.frontend.dir, "/mine");
}

// ---------------------------------------------------------------------------------------------
// Durations, expiry and signer

#[test]
fn expiry_defaults_and_durations() {
    let c = loads(&base("")).config;
    assert_eq!(c.expiry.id_tokens(), Duration::from_secs(24 * 3600));
    assert_eq!(c.expiry.auth_requests(), Duration::from_secs(24 * 3600));
    assert_eq!(c.expiry.device_requests(), Duration::from_secs(300));
    assert_eq!(c.expiry.signing_keys(), Duration::from_secs(6 * 3600));
    assert_eq!(c.expiry.refresh_tokens.absolute_lifetime, None);
    let Signer::Local(signer) = &c.signer;
    assert_eq!(signer.keys_rotation_period, Duration::from_secs(6 * 3600));
    assert_eq!(signer.algorithm, SigningAlgorithm::RS256);

    let loaded = loads(&base(
        "expiry:\n  idTokens: 1h30m\n  authRequests: 1.5h\n  deviceRequests: 300s\n  signingKeys: 2h45m0s\n  refreshTokens:\n    reuseInterval: 3s\n    validIfNotUsedFor: 2160h\n    absoluteLifetime: \"\"\n",
    ));
    let e = &loaded.config.expiry;
    assert_eq!(e.id_tokens(), Duration::from_secs(5400));
    assert_eq!(e.auth_requests(), Duration::from_secs(5400));
    assert_eq!(e.device_requests(), Duration::from_secs(300));
    assert_eq!(
        e.refresh_tokens.reuse_interval,
        Some(Duration::from_secs(3))
    );
    assert_eq!(
        e.refresh_tokens.valid_if_not_used_for,
        Some(Duration::from_secs(2160 * 3600))
    );
    assert_eq!(e.refresh_tokens.absolute_lifetime, None);
    let Signer::Local(signer) = &loaded.config.signer;
    assert_eq!(signer.keys_rotation_period, Duration::from_secs(9900));
    assert_has(&loaded.warnings, "expiry.signingKeys: is deprecated");

    let errs = errors(&base("expiry:\n  deviceRequests: 5\n  idTokens: 0s\n"));
    assert_eq!(
        errs,
        [
            "line 9: expiry.deviceRequests: invalid duration \"5\": missing unit (units are ns, us, ms, s, m and h)",
        ]
    );
    let errs = errors(&base("expiry:\n  idTokens: 0s\n  authRequests: -1h\n"));
    assert_eq!(
        errs,
        [
            "line 10: expiry.authRequests: invalid duration \"-1h\": durations in the configuration cannot be negative"
        ]
    );
    let errs = errors(&base("expiry:\n  idTokens: 0s\n"));
    assert_eq!(errs, ["line 9: expiry.idTokens: must be longer than 0"]);
}

#[test]
fn explicit_local_signer_needs_a_rotation_period() {
    let loaded = loads(&base(
        "signer:\n  type: local\n  config:\n    keysRotationPeriod: 12h\n    algorithm: ES256\n",
    ));
    let Signer::Local(signer) = &loaded.config.signer;
    assert_eq!(signer.keys_rotation_period, Duration::from_secs(12 * 3600));
    assert_eq!(signer.algorithm, SigningAlgorithm::ES256);

    let eddsa = loads(&base(
        "signer:\n  type: local\n  config:\n    keysRotationPeriod: 12h\n    algorithm: EdDSA\n",
    ));
    let Signer::Local(signer) = &eddsa.config.signer;
    assert_eq!(signer.algorithm, SigningAlgorithm::EdDSA);
    assert_has(
        &eddsa.warnings,
        "signer.config.algorithm: EdDSA tokens cannot be verified by the Kubernetes API server",
    );

    let errs = errors(&base(
        "signer:\n  type: local\n  config:\n    algorithm: PS256\n",
    ));
    assert_eq!(
        errs,
        [
            "line 10: signer.config.keysRotationPeriod: is required when `signer.type` is `local`: how often to rotate the signing key, e.g. \"6h\"",
            "line 11: signer.config.algorithm: unsupported algorithm `PS256`; use RS256 (the default), ES256 or EdDSA",
        ]
    );
    let errs = errors(&base("signer:\n  type: local\n"));
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("line 8: signer.config.keysRotationPeriod: is required"),
        "{errs:?}"
    );

    let errs = errors(&base(
        "signer:\n  type: vault\n  config:\n    addr: http://127.0.0.1:8200\n",
    ));
    assert_eq!(
        errs,
        [
            "line 9: signer.type: `vault` (signing with a Vault/OpenBao transit key) is a Dex signer that oxidex has not built yet; use `type: local`"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Storage and connectors

#[test]
fn storage_types_not_built_are_refused_by_name() {
    let text = base("").replace("type: sqlite3", "type: kubernetes");
    assert_eq!(
        errors(&text),
        [
            "line 3: storage.type: `kubernetes` is a Dex storage type that oxidex has not built yet; use `postgres`, `mysql` or `etcd` for replicas, `sqlite3` for one machine"
        ]
    );
    let errs = errors(&base("").replace("type: sqlite3", "type: sqlite"));
    assert!(
        errs[0].starts_with("line 3: storage.type: unknown storage type `sqlite`"),
        "{errs:?}"
    );
    let errs = errors(&base("").replace("type: sqlite3", "type: memory"));
    assert_eq!(
        errs,
        ["line 4: storage.config: memory storage takes no settings; remove `storage.config`"]
    );
    let errs = errors("issuer: https://x\nweb:\n  http: :1\n");
    assert_eq!(
        errs,
        [
            "storage: is required: add `storage: {type: sqlite3, config: {file: /var/lib/oxidex/oxidex.db}}` (or `type: memory` for a throwaway server)"
        ]
    );
}

/// A config with `storage` replaced by `storage` (YAML at the top level).
fn with_storage(storage: &str) -> String {
    format!("issuer: https://dex.example.com/dex\n{storage}web:\n  http: 127.0.0.1:5556\n")
}

#[test]
fn postgres_mysql_and_etcd_read_dex_keys() {
    let text = with_storage(
        "storage:\n  type: postgres\n  config:\n    host: db.internal:6432\n    database: dex\n    \
         user: dex\n    password: $DB_PASSWORD\n    connectionTimeout: 7\n    maxOpenConns: 9\n    \
         maxIdleConns: 3\n    connMaxLifetime: 600\n    ssl:\n      mode: verify-ca\n      \
         caFile: /etc/ssl/db-ca.pem\n",
    );
    let loaded = load_str(&text, "test.yaml", &env(&[("DB_PASSWORD", "s3cret")]))
        .unwrap_or_else(|e| panic!("{e}"));
    let Storage::Postgres(db) = &loaded.config.storage else {
        panic!("{:?}", loaded.config.storage)
    };
    assert_eq!(
        (db.host.as_str(), db.database.as_str(), db.user.as_str()),
        ("db.internal:6432", "dex", "dex")
    );
    assert_eq!(db.password, "s3cret", "$VAR expanded as Dex does");
    assert_eq!(
        (db.connection_timeout, db.max_open_conns, db.max_idle_conns),
        (7, Some(9), Some(3))
    );
    assert_eq!(db.conn_max_lifetime, 600);
    assert_eq!(db.ssl.mode, "verify-ca");
    assert!(
        !format!("{db:?}").contains("s3cret"),
        "password not in Debug"
    );

    // Dex's own example (config.yaml.dist), quoted "false" included.
    let text = with_storage(
        "storage:\n  type: mysql\n  config:\n    host: 127.0.0.1\n    port: 3306\n    \
         database: dex\n    user: mysql\n    password: mysql\n    ssl:\n      mode: \"false\"\n",
    );
    let loaded = loads(&text);
    assert!(
        matches!(&loaded.config.storage, Storage::Mysql(db) if db.port == 3306 && db.ssl.mode == "false")
    );
    assert!(
        loaded.warnings.iter().all(|w| !w.contains("without TLS")),
        "loopback in clear is fine: {:?}",
        loaded.warnings
    );

    let text = with_storage(
        "storage:\n  type: etcd\n  config:\n    endpoints:\n    - http://127.0.0.1:2379\n    \
         namespace: dex/\n",
    );
    let loaded = loads(&text);
    assert!(
        matches!(&loaded.config.storage, Storage::Etcd(e) if e.endpoints == ["http://127.0.0.1:2379"] && e.namespace == "dex/")
    );
}

#[test]
fn networked_storage_mistakes_name_the_key_and_line() {
    let errs = errors(&with_storage(
        "storage:\n  type: postgres\n  config:\n    host: db\n    ssl:\n      mode: verify\n",
    ));
    assert_eq!(
        errs,
        [
            "line 4: storage.config.database: is required: name the database",
            "line 7: storage.config.ssl.mode: `verify` is not one of disable, require, verify-ca, verify-full",
        ]
    );
    let errs = errors(&with_storage(
        "storage:\n  type: mysql\n  config:\n    database: dex\n    ssl:\n      mode: custom\n      certFile: c.pem\n",
    ));
    assert_eq!(
        errs,
        [
            "line 6: storage.config.ssl.caFile: is required when `ssl.mode` is `custom`: name the CA that signed the server's certificate",
            "line 6: storage.config.ssl: `certFile` and `keyFile` go together: set both (a client certificate) or neither",
        ]
    );
    let errs = errors(&with_storage(
        "storage:\n  type: postgres\n  config:\n    database: dex\n    sslmode: disable\n",
    ));
    assert!(
        errs[0].starts_with("line 6: storage.config.sslmode: unknown key `sslmode`"),
        "{errs:?}"
    );
    let errs = errors(&with_storage(
        "storage:\n  type: etcd\n  config:\n    namespace: dex/\n",
    ));
    assert_eq!(
        errs,
        [
            "line 4: storage.config.endpoints: is required: list the cluster's client endpoints, e.g. [\"127.0.0.1:2379\"]"
        ]
    );
}

#[test]
fn storage_in_clear_across_the_network_is_warned_about() {
    for storage in [
        "storage:\n  type: postgres\n  config:\n    host: db.internal\n    database: dex\n    ssl:\n      mode: disable\n",
        "storage:\n  type: mysql\n  config:\n    host: 10.0.0.5:3306\n    database: dex\n    ssl:\n      mode: \"false\"\n",
        "storage:\n  type: etcd\n  config:\n    endpoints: [\"http://10.0.0.7:2379\"]\n",
    ] {
        let loaded = loads(&with_storage(storage));
        assert_has(
            &loaded.warnings,
            "without TLS: refresh tokens and signing keys cross the network in clear",
        );
    }
}

#[test]
fn connector_settings_are_checked_without_contacting_the_upstream() {
    let oidc = "connectors:\n- type: oidc\n  id: corp\n  name: Corp\n  config:\n    issuer: https://idp.example.com\n    clientId: oxidex\n    redirectURI: https://dex.example.com/dex/callback\n";
    let errs = errors(&base(oidc));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("line 12: connectors[0].config: unknown field `clientId`"),
        "{errs:?}"
    );

    let oauth = "connectors:\n- type: oauth\n  id: gh\n  name: GH\n  config:\n    clientID: c\n    redirectURI: https://dex.example.com/dex/callback\n    tokenURL: https://idp.example.com/token\n    authorizationURL: https://idp.example.com/auth\n";
    assert_eq!(
        errors(&base(oauth)),
        ["line 12: connectors[0].config: missing field `userInfoURL`"]
    );

    let insecure = "connectors:\n- type: oidc\n  id: corp\n  name: Corp\n  config:\n    issuer: https://idp.example.com\n    clientID: oxidex\n    redirectURI: https://dex.example.com/dex/callback\n    insecureSkipVerify: true\n";
    let loaded = loads(&base(insecure));
    assert_has(
        &loaded.warnings,
        "connectors[0].config: `insecureSkipVerify` is set",
    );
}

#[test]
fn connector_types_are_checked_against_the_registry() {
    let loaded = loads(&base(
        "connectors:\n- type: mockCallback\n  id: mock\n  name: Mock\n  grantTypes: [authorization_code, refresh_token]\n- type: mockPassword\n  id: pw\n  name: Password\n  config: {username: u, password: p}\n",
    ));
    let c = &loaded.config.connectors;
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].config, serde_json::Value::Null);
    assert_eq!(c[0].grant_types, ["authorization_code", "refresh_token"]);
    assert_has(
        &loaded.warnings,
        "line 9: connectors[0]: `mock` (mockCallback) logs anyone in",
    );
    assert_has(
        &loaded.warnings,
        "line 13: connectors[1]: `pw` (mockPassword) accepts one username",
    );

    for kind in ["github", "saml", "gitlab", "microsoft", "authproxy"] {
        let errs = errors(&base(&format!(
            "connectors:\n- type: {kind}\n  id: corp\n  name: Corp\n  config: {{host: x}}\n"
        )));
        assert_eq!(
            errs,
            [format!(
                "line 9: connectors[0].type: type `{kind}` of connector `corp` is a Dex connector type that oxidex has not built yet (built: local, ldap, mockCallback, mockPassword, oauth, oidc)"
            )]
        );
    }
    let errs = errors(&base(
        "connectors:\n- type: LDAP\n  id: corp\n  name: Corp\n",
    ));
    assert_eq!(
        errs,
        [
            "line 9: connectors[0].type: type `LDAP` of connector `corp` is not a connector type; oxidex has local, ldap, mockCallback, mockPassword, oauth, oidc (types are case-sensitive)"
        ]
    );
    let errs = errors(&base(
        "connectors:\n- type: mockCallback\n  name: Mock\n  grantTypes: [client_credentials]\n",
    ));
    assert_eq!(
        errs,
        [
            "line 9: connectors[0].id: is required: a short name used in login URLs and in every user's `sub`",
            "line 11: connectors[0].grantTypes[0]: `client_credentials` is not a grant type a connector can be limited to; use authorization_code, implicit, refresh_token, password, urn:ietf:params:oauth:grant-type:device_code, urn:ietf:params:oauth:grant-type:token-exchange",
        ]
    );
}

#[test]
fn enable_password_db_adds_the_local_connector_and_reserves_its_id() {
    let c = loads(&base("enablePasswordDB: true\n")).config;
    let local = &c.connectors[0];
    assert_eq!(
        (
            local.id.as_str(),
            local.connector_type.as_str(),
            local.name.as_str()
        ),
        ("local", "local", "Email")
    );

    let errs = errors(&base(
        "enablePasswordDB: true\nconnectors:\n- type: mockCallback\n  id: local\n  name: Mock\n",
    ));
    assert_eq!(
        errs,
        [
            "line 11: connectors[0].id: the id `local` is taken by the password database that `enablePasswordDB: true` adds; rename this connector"
        ]
    );
    // Without enablePasswordDB a `local` connector may be listed explicitly.
    let c = loads(&base(
        "connectors:\n- type: local\n  id: local\n  name: Email\n",
    ))
    .config;
    assert_eq!(c.connectors.len(), 1);
}

#[test]
fn duplicates_are_refused() {
    let errs = errors(&base(&format!(
        "staticClients:\n- id: app\n  name: A\n  public: true\n- id: app\n  name: B\n  public: true\nenablePasswordDB: true\nstaticPasswords:\n- email: a@example.com\n  hash: \"{HASH}\"\n  userID: a\n- email: A@Example.COM\n  hash: \"{HASH}\"\n  userID: b\n"
    )));
    assert_eq!(
        errs,
        [
            "line 12: staticClients[1].id: `app` is already the id of staticClients[0]; client ids must be unique",
            "line 20: staticPasswords[1].email: `A@Example.COM` is already the e-mail of staticPasswords[0] (e-mails are compared ignoring case)",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Unsafe settings

#[test]
fn https_needs_its_certificate_and_key() {
    let text = base("").replace("http: 127.0.0.1:5556", "https: 0.0.0.0:5554");
    assert_eq!(
        errors(&text),
        [
            "line 6: web.tlsCert: is required with `web.https`: the file with the PEM certificate chain. Or serve `web.http` behind a proxy that terminates TLS",
            "line 6: web.tlsKey: is required with `web.https`: the file with the PEM private key. Or serve `web.http` behind a proxy that terminates TLS",
        ]
    );
    let text = base("").replace(
        "http: 127.0.0.1:5556",
        "https: 0.0.0.0:5554\n  tlsCert: c.pem\n  tlsKey: k.pem",
    );
    assert!(load(&text).is_ok());
}

#[test]
fn old_tls_versions_are_refused() {
    for (version, message) in [
        ("1.0", "TLS 1.0 is refused"),
        ("\"1.1\"", "TLS 1.1 is refused"),
        (
            "1.4",
            "`1.4` is not a TLS version oxidex supports; use 1.2 or 1.3",
        ),
    ] {
        let errs = errors(&base(&format!(
            "grpc:\n  addr: 127.0.0.1:5557\n  tlsMinVersion: {version}\n"
        )));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with(&format!("line 10: grpc.tlsMinVersion: {message}")),
            "{errs:?}"
        );
        assert!(errs[0].contains("1.2 or 1.3"), "{errs:?}");
    }
    let text = base("").replace(
        "http: 127.0.0.1:5556",
        "http: 127.0.0.1:5556\n  tlsMinVersion: 1.3\n  tlsMaxVersion: 1.2",
    );
    assert_eq!(
        errors(&text),
        ["line 8: web.tlsMinVersion: 1.3 is higher than tlsMaxVersion 1.2"]
    );
}

#[test]
fn a_server_must_listen_somewhere_and_once_per_address() {
    let errs = errors("issuer: https://x\nstorage:\n  type: memory\n");
    assert_eq!(
        errs,
        ["web: set `web.http` or `web.https`: the address to listen on, e.g. 127.0.0.1:5556"]
    );
    let errs = errors(&base(
        "telemetry:\n  http: 127.0.0.1:5556\ngrpc:\n  addr: \"5557\"\n",
    ));
    assert_eq!(
        errs,
        [
            "line 9: telemetry.http: `127.0.0.1:5556` is also web.http: each listener needs its own address",
            "line 11: grpc.addr: `5557` is not a listen address; use host:port, e.g. 127.0.0.1:5556, 0.0.0.0:5556 or :5556",
        ]
    );
}

#[test]
fn plain_http_issuers_are_allowed_with_a_warning_off_loopback() {
    let text = base("").replace("https://dex.example.com/dex", "http://dex.example.com/dex");
    let loaded = loads(&text);
    assert_eq!(loaded.warnings.len(), 1);
    assert!(
        loaded.warnings[0].starts_with("line 1: issuer: uses plain http on `dex.example.com`"),
        "{:?}",
        loaded.warnings
    );
    let text = base("").replace("https://dex.example.com/dex", "http://localhost:5556/dex");
    assert!(loads(&text).warnings.is_empty());
    let errs = errors(&base("").replace("/dex\n", "/dex?tenant=a\n"));
    assert_eq!(
        errs,
        ["line 1: issuer: the issuer must not have a query (`?...`)"]
    );
}

#[test]
fn dev_only_settings_are_warned_about() {
    let loaded = loads(&format!(
        "issuer: http://127.0.0.1:5556/dex\nstorage:\n  type: memory\nweb:\n  http: 127.0.0.1:5556\noauth2:\n  skipApprovalScreen: true\nconnectors:\n- type: mockCallback\n  id: mock\n  name: Mock\nenablePasswordDB: true\nstaticPasswords:\n- email: admin@example.com\n  hash: \"{HASH}\"\n  userID: admin\n"
    ));
    let w = &loaded.warnings;
    assert_eq!(w.len(), 4, "{w:#?}");
    assert!(
        w[0].starts_with("line 3: storage.type: memory storage forgets everything"),
        "{w:?}"
    );
    assert!(
        w[1].starts_with("line 7: oauth2.skipApprovalScreen: users are never asked"),
        "{w:?}"
    );
    assert!(
        w[2].starts_with("line 9: connectors[0]: `mock` (mockCallback)"),
        "{w:?}"
    );
    assert!(
        w[3].starts_with("line 15: staticPasswords[0].hash: is Dex's published example hash, of the password `password`: anyone can log in as admin@example.com"),
        "{w:?}"
    );
}

#[test]
fn static_passwords_need_the_password_db() {
    let errs = errors(&base(&format!(
        "staticPasswords:\n- email: a@example.com\n  hash: \"{HASH}\"\n  userID: a\n"
    )));
    assert_eq!(
        errs,
        [
            "line 8: staticPasswords: need `enablePasswordDB: true`: without the password database nobody can log in with them (Dex refuses this too)"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Sessions and MFA (checked, not built)

#[test]
fn sessions_and_mfa_are_checked() {
    let errs = errors(&base(
        "sessions:\n  cookieEncryptionKey: short\n  absoluteLifetime: 1h\n  validIfNotUsedFor: 2h\n  ssoSharedWithDefault: some\nmfa:\n  authenticators:\n  - id: totp\n    type: TOTP\n    config: {issuer: dex}\n  - id: totp\n    type: WebAuthn\n    config: {attestationPreference: maybe, timeout: 60s}\n  - id: sms\n    type: SMS\n  defaultMFAChain: [totp, push]\n",
    ));
    let expected = [
        "line 9: sessions.cookieEncryptionKey: must be 16, 24 or 32 bytes long (an AES key); it is 5",
        "line 11: sessions.validIfNotUsedFor: must not be longer than `absoluteLifetime`",
        "line 12: sessions.ssoSharedWithDefault: unknown value `some`; use none or all",
        "line 22: mfa.authenticators[2].type: unknown authenticator type `SMS`; use `TOTP` or `WebAuthn`",
    ];
    assert_eq!(errs, expected);

    let loaded = loads(&base(
        "sessions:\n  rememberMeCheckedByDefault: false\nmfa:\n  authenticators:\n  - id: totp\n    type: TOTP\n    config: {issuer: dex}\n  - id: key\n    type: WebAuthn\n    config: {attestationPreference: direct, timeout: 60s}\n  defaultMFAChain: [totp]\nstaticClients:\n- id: a\n  name: A\n  public: true\n  mfaChain: [key]\n",
    ));
    let mfa = loaded.config.mfa.as_ref().unwrap();
    assert_eq!(mfa.authenticators.len(), 2);
    assert!(
        matches!(&mfa.authenticators[1].kind, MfaKind::WebAuthn(w) if w.timeout == Some(Duration::from_secs(60)))
    );
    assert_eq!(
        loaded
            .config
            .sessions
            .as_ref()
            .unwrap()
            .remember_me_checked_by_default,
        Some(false)
    );
    assert_has(
        &loaded.warnings,
        "line 8: sessions: is checked, but oxidex has not built Dex's sessions yet",
    );
    assert_has(
        &loaded.warnings,
        "line 10: mfa: is checked, but oxidex has not built Dex's MFA yet",
    );
    assert_has(&loaded.warnings, "client `a`: mfaChain need Dex's sessions");

    let errs = errors(&base(
        "mfa:\n  authenticators:\n  - id: totp\n    type: TOTP\n  defaultMFAChain: [push]\nstaticClients:\n- id: a\n  name: A\n  public: true\n  mfaChain: [sms]\n",
    ));
    assert_eq!(
        errs,
        [
            "line 12: mfa.defaultMFAChain[0]: `push` is not an authenticator id in mfa.authenticators",
            "line 17: staticClients[0].mfaChain[0]: `sms` is not an authenticator id in mfa.authenticators",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Files named by the configuration, and the `config check` command

#[test]
fn missing_files_are_warnings_from_load_file() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("tls.crt");
    std::fs::write(&cert, "not checked").unwrap();
    let missing_key = dir.path().join("missing.key");
    let database = dir.path().join("no-such-dir").join("oxidex.db");
    let text = format!(
        "issuer: https://dex.example.com\nstorage:\n  type: sqlite3\n  config:\n    file: {}\nweb:\n  https: 0.0.0.0:5554\n  tlsCert: {}\n  tlsKey: {}\n",
        database.display(),
        cert.display(),
        missing_key.display()
    );
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, &text).unwrap();
    let loaded = load_file(&path, &no_env()).unwrap();
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].starts_with("line 5: storage.config.file: the directory "),
        "{:?}",
        loaded.warnings
    );
    assert!(
        loaded.warnings[1].starts_with("line 9: web.tlsKey: the file "),
        "{:?}",
        loaded.warnings
    );
    assert!(loaded.warnings[1].contains("missing.key does not exist here"));
    // load_str looks at no files.
    assert!(load_str(&text, "x", &no_env()).unwrap().warnings.is_empty());
}

fn run_check(path: &Path) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = command::check(path, &no_env(), &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn config_check_summarises_a_valid_file() {
    let (code, out, err) = run_check(Path::new(DEV_EXAMPLE));
    assert_eq!(code, 0);
    assert!(out.starts_with("config OK: "), "{out}");
    for line in [
        "  issuer      http://127.0.0.1:5556/dex\n",
        "  storage     sqlite3 (file oxidex.db)\n",
        "  web         http 127.0.0.1:5556\n",
        "  connectors  local (local)\n",
        "  clients     2 static clients\n",
        "  passwords   1 static password\n",
        "  signer      local, RS256, keys rotate every 6h0m0s\n",
        "  id tokens   valid 24h0m0s\n",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
    assert!(
        err.starts_with(
            "warning: line 58: staticPasswords[0].hash: is Dex's published example hash"
        ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn config_check_prints_every_error_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "issuer: https://x\nstorage:\n  type: kubernetes\nweb:\n  htp: :1\n",
    )
    .unwrap();
    let (code, out, err) = run_check(&path);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.starts_with(&format!(
            "error: invalid config file {} (3 errors):\n",
            path.display()
        )),
        "{err}"
    );
    assert!(err.contains("  - line 3: storage.type: `kubernetes` is a Dex storage type that oxidex has not built yet"), "{err}");
    assert!(
        err.contains("  - line 4: web: set `web.http` or `web.https`"),
        "{err}"
    );
    assert!(
        err.contains("  - line 5: web.htp: unknown key `htp`; did you mean `http`?"),
        "{err}"
    );

    let (code, _, err) = run_check(&dir.path().join("absent.yaml"));
    assert_eq!(code, 2);
    assert!(err.starts_with("error: cannot read config file "), "{err}");
}

// ---------------------------------------------------------------------------------------------
// OAuth 2.0 settings

#[test]
fn grant_and_response_types_follow_dex() {
    let c = loads(&base("")).config;
    // Dex's command-line default, without implicit (no `token` response type) and password
    // (no password connector).
    assert_eq!(
        c.allowed_grant_types(),
        [
            grant::AUTHORIZATION_CODE,
            grant::REFRESH_TOKEN,
            grant::DEVICE_CODE,
            grant::TOKEN_EXCHANGE
        ]
    );
    let flagged = load_str(
        &base(""),
        "test.yaml",
        &env(&[("DEX_CLIENT_CREDENTIAL_GRANT_ENABLED_BY_DEFAULT", "true")]),
    )
    .unwrap();
    assert!(
        flagged
            .config
            .allowed_grant_types()
            .contains(&grant::CLIENT_CREDENTIALS.to_owned())
    );

    let c = loads(&base(
        "oauth2:\n  responseTypes: [code, id_token token]\n  passwordConnector: local\nenablePasswordDB: true\n",
    ))
    .config;
    assert_eq!(c.allowed_grant_types().len(), 6);

    let errs = errors(&base(
        "oauth2:\n  responseTypes: [code, token code]\n  pkce:\n    codeChallengeMethodsSupported: [S256, S512]\n",
    ));
    assert_eq!(
        errs,
        [
            "line 9: oauth2.responseTypes[1]: unknown response type `token code`; use one of: code, token, id_token, code token, code id_token, id_token token, code id_token token",
            "line 11: oauth2.pkce.codeChallengeMethodsSupported[1]: unknown PKCE method `S512`; use S256 or plain",
        ]
    );

    let loaded = loads(&base(
        "oauth2:\n  grantTypes: [authorization_code, password]\n",
    ));
    assert_eq!(
        loaded.config.allowed_grant_types(),
        [grant::AUTHORIZATION_CODE]
    );
    assert_has(
        &loaded.warnings,
        "line 9: oauth2.grantTypes: lists `password`, but the password grant stays off",
    );
    let loaded = loads(&base("oauth2:\n  passwordConnector: ldap\n"));
    assert_has(
        &loaded.warnings,
        "line 9: oauth2.passwordConnector: `ldap` is not a connector in this file",
    );
}

#[test]
fn the_reference_page_covers_every_key_and_type() {
    let docs = include_str!("../../../../docs/configuration.md");
    for key in sections::TOP_LEVEL_KEYS {
        assert!(
            docs.contains(&format!("| `{key}` |")),
            "docs/configuration.md misses `{key}`"
        );
    }
    let registry = oxidex_connectors::registry();
    let types = sections::STORAGE_NOT_BUILT
        .iter()
        .chain(lists::DEX_CONNECTORS_NOT_BUILT)
        .copied()
        .chain(registry.types());
    for name in types {
        assert!(
            docs.contains(&format!("`{name}`")),
            "docs/configuration.md misses `{name}`"
        );
    }
}
