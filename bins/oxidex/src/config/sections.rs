//! Reads the top level of a config file into a [`Config`], section by section.
//!
//! A section that cannot be read is reported and recorded as failed, and reading goes on with
//! the next one, so one run lists every problem. Sections whose shape depends on a `type`
//! (`storage`, `signer`, `mfa.authenticators`) are assembled here; the lists (`connectors`,
//! `staticClients`, `staticPasswords`) in [`super::lists`].

use std::collections::{BTreeMap, BTreeSet};

use oxidex_core::model::ConnectorRecord;
use oxidex_storage::{EtcdConfig, NetworkDbConfig, SqliteConfig};
use serde::de::DeserializeOwned;

use super::de::{Ctx, from_node};
use super::env::{Environment, FeatureFlags, expand_node, unset_warning};
use super::error::{ConfigError, Issues, KeyPath};
use super::lists;
use super::schema::{
    Config, DEFAULT_SIGNING_KEYS, Expiry, Frontend, LocalSigner, LocalSignerEntry, Mfa,
    MfaAuthenticator, MfaKind, Signer, SigningAlgorithm, Storage, TotpConfig, WebAuthnConfig,
};
use super::yaml::{Entry, Node, Scalar, ScalarKind, Value};

/// Every top-level key Dex reads (`reference/dex.md` §7.1).
pub(crate) const TOP_LEVEL_KEYS: &[&str] = &[
    "issuer",
    "storage",
    "web",
    "grpc",
    "telemetry",
    "frontend",
    "logger",
    "oauth2",
    "expiry",
    "signer",
    "staticClients",
    "enablePasswordDB",
    "staticPasswords",
    "connectors",
    "sessions",
    "mfa",
];

/// Dex storage types oxidex has not built yet.
pub(crate) const STORAGE_NOT_BUILT: &[&str] = &["kubernetes"];

/// The result of reading: the configuration, and the top-level sections that could not be
/// read (their values in `config` are defaults and must not be checked further).
pub(crate) struct Read {
    pub(crate) config: Config,
    pub(crate) failed: BTreeSet<&'static str>,
}

/// The keys of a mapping the loader assembles itself, checked against the allowed ones.
pub(crate) struct Fields<'a> {
    pub(crate) path: KeyPath,
    pub(crate) line: u64,
    entries: BTreeMap<&'static str, &'a Entry>,
}

impl<'a> Fields<'a> {
    /// Reads the mapping `node` (at `path`, `line`). Unknown keys are reported; `None` (with
    /// an error) if `node` is not a mapping. An empty value is an empty mapping.
    pub(crate) fn of(
        node: &'a Node,
        path: &KeyPath,
        line: u64,
        allowed: &'static [&'static str],
        ctx: &Ctx,
        issues: &mut Issues,
    ) -> Option<Self> {
        let mut fields = Fields {
            path: path.clone(),
            line,
            entries: BTreeMap::new(),
        };
        if node.is_null() {
            return Some(fields);
        }
        let Some(entries) = node.entries() else {
            issues.push(
                ConfigError::new(
                    path.clone(),
                    format!(
                        "expected a mapping with the keys {}, found {}",
                        allowed.join(", "),
                        node.describe()
                    ),
                )
                .at_line(line),
            );
            return None;
        };
        for entry in entries {
            let Some(field) = ctx.classify(path, entry, allowed) else {
                continue;
            };
            if let Some(first) = fields.entries.insert(field, entry) {
                issues.push(
                    ConfigError::new(
                        path.key(&entry.key),
                        format!(
                            "repeats `{}` (line {}): Dex matches keys ignoring case; keep one",
                            first.key, first.line
                        ),
                    )
                    .at_line(entry.line),
                );
            }
        }
        Some(fields)
    }

    /// The entry for `key`, if present.
    pub(crate) fn entry(&self, key: &str) -> Option<&'a Entry> {
        self.entries.get(key).copied()
    }

    /// The path of `key` in this mapping.
    pub(crate) fn path_of(&self, key: &str) -> KeyPath {
        self.path.key(key)
    }

    /// Reads `key` as a `T` (its default when absent); `None` after reporting an error.
    pub(crate) fn read<T: DeserializeOwned + Default>(
        &self,
        key: &str,
        ctx: &Ctx,
        issues: &mut Issues,
    ) -> Option<T> {
        match self.entry(key) {
            None => Some(T::default()),
            Some(entry) => from_node(&entry.value, &self.path_of(key), entry.line, ctx)
                .map_err(|e| issues.push(e))
                .ok(),
        }
    }

    /// The value of `key` (null when absent) with `$VAR` expanded if Dex would expand it,
    /// warning about unset variables.
    pub(crate) fn expanded(
        &self,
        key: &str,
        env: &Environment,
        flags: &FeatureFlags,
        issues: &mut Issues,
    ) -> (Node, u64) {
        let (mut node, line) = match self.entry(key) {
            Some(entry) => (entry.value.clone(), entry.line),
            None => (null_node(self.line), self.line),
        };
        if flags.expand_env {
            let mut unset = BTreeSet::new();
            expand_node(&mut node, env, &mut unset);
            if let Some(warning) = unset_warning(&unset) {
                issues.warn(&self.path_of(key), warning);
            }
        }
        (node, line)
    }
}

/// An empty value on `line`.
pub(crate) fn null_node(line: u64) -> Node {
    Node {
        value: Value::Scalar(Scalar {
            kind: ScalarKind::Null,
            text: String::new(),
        }),
        line,
    }
}

/// Reads the whole document. `None` (with an error) if it is not a mapping.
pub(crate) fn read_config(
    root: &Node,
    env: &Environment,
    flags: FeatureFlags,
    ctx: &Ctx,
    issues: &mut Issues,
) -> Option<Read> {
    if root.entries().is_none() {
        issues.push(
            ConfigError::new(
                KeyPath::root(),
                format!(
                    "a Dex config file is a mapping of keys (issuer, storage, web, ...), not {}",
                    root.describe()
                ),
            )
            .at_line(root.line),
        );
        return None;
    }
    let top = Fields::of(
        root,
        &KeyPath::root(),
        root.line,
        TOP_LEVEL_KEYS,
        ctx,
        issues,
    )?;
    let mut failed = BTreeSet::new();
    let mut section = |name: &'static str, ok: bool| {
        if !ok {
            failed.insert(name);
        }
    };

    let issuer: Option<String> = top.read("issuer", ctx, issues);
    section("issuer", issuer.is_some());
    let web = top.read("web", ctx, issues);
    section("web", web.is_some());
    let grpc = top.read("grpc", ctx, issues);
    section("grpc", grpc.is_some());
    let telemetry = top.read("telemetry", ctx, issues);
    section("telemetry", telemetry.is_some());
    let frontend = top.read("frontend", ctx, issues);
    section("frontend", frontend.is_some());
    let logger = top.read("logger", ctx, issues);
    section("logger", logger.is_some());
    let oauth2 = top.read("oauth2", ctx, issues);
    section("oauth2", oauth2.is_some());
    let expiry: Option<Expiry> = top.read("expiry", ctx, issues);
    section("expiry", expiry.is_some());
    let enable_password_db: Option<bool> = top.read("enablePasswordDB", ctx, issues);
    section("enablePasswordDB", enable_password_db.is_some());
    let sessions = match top.entry("sessions") {
        None => Some(None),
        Some(_) => top.read("sessions", ctx, issues).map(Some),
    };
    section("sessions", sessions.is_some());

    let storage = read_storage(&top, env, &flags, ctx, issues);
    section("storage", storage.is_some());
    let signer = read_signer(&top, expiry.as_ref(), env, &flags, ctx, issues);
    section("signer", signer.is_some());
    let mfa = read_mfa(&top, ctx, issues);
    section("mfa", mfa.is_some());

    let list_path = top.path_of("connectors");
    let connectors = lists::read_connectors(
        top.entry("connectors"),
        &list_path,
        env,
        &flags,
        ctx,
        issues,
    );
    section("connectors", connectors.is_some());
    let list_path = top.path_of("staticClients");
    let clients = lists::read_clients(top.entry("staticClients"), &list_path, env, ctx, issues);
    section("staticClients", clients.is_some());
    let list_path = top.path_of("staticPasswords");
    let passwords =
        lists::read_passwords(top.entry("staticPasswords"), &list_path, env, ctx, issues);
    section("staticPasswords", passwords.is_some());

    let has_static_passwords = top
        .entry("staticPasswords")
        .is_some_and(|e| !e.value.is_empty());
    if enable_password_db == Some(false) && has_static_passwords {
        issues.error(
            &top.path_of("staticPasswords"),
            "need `enablePasswordDB: true`: without the password database nobody can log in with \
             them (Dex refuses this too)",
        );
    }
    let enable_password_db = enable_password_db.unwrap_or_default();
    let mut connectors = connectors.unwrap_or_default();
    if enable_password_db {
        if let Some(index) = connectors.iter().position(|c| c.id == lists::LOCAL) {
            issues.error(
                &top.path_of("connectors").index(index).key("id"),
                "the id `local` is taken by the password database that `enablePasswordDB: true` \
                 adds; rename this connector",
            );
            failed.insert("connectors");
        }
        connectors.push(ConnectorRecord {
            id: lists::LOCAL.to_owned(),
            connector_type: lists::LOCAL.to_owned(),
            name: "Email".to_owned(),
            resource_version: String::new(),
            config: serde_json::Value::Null,
            grant_types: Vec::new(),
        });
    }

    let mut frontend: Frontend = frontend.unwrap_or_default();
    if frontend.dir.is_empty()
        && let Some(dir) = env.get("DEX_FRONTEND_DIR")
    {
        frontend.dir = dir.to_owned();
    }

    let config = Config {
        issuer: issuer.unwrap_or_default(),
        // Placeholder when `storage` failed; a failed section is never used.
        storage: storage.unwrap_or(Storage::Memory),
        web: web.unwrap_or_default(),
        grpc: grpc.unwrap_or_default(),
        telemetry: telemetry.unwrap_or_default(),
        frontend,
        logger: logger.unwrap_or_default(),
        oauth2: oauth2.unwrap_or_default(),
        expiry: expiry.unwrap_or_default(),
        signer: signer.unwrap_or(Signer::Local(LocalSigner {
            keys_rotation_period: DEFAULT_SIGNING_KEYS,
            algorithm: SigningAlgorithm::RS256,
        })),
        static_clients: clients.unwrap_or_default(),
        enable_password_db,
        static_passwords: passwords.unwrap_or_default(),
        connectors,
        sessions: sessions.flatten(),
        mfa: mfa.flatten(),
        feature_flags: flags,
    };
    Some(Read { config, failed })
}

fn read_storage(
    top: &Fields<'_>,
    env: &Environment,
    flags: &FeatureFlags,
    ctx: &Ctx,
    issues: &mut Issues,
) -> Option<Storage> {
    let path = top.path_of("storage");
    let Some(entry) = top.entry("storage") else {
        issues.error(
            &path,
            "is required: add `storage: {type: sqlite3, config: {file: /var/lib/oxidex/oxidex.db}}` \
             (or `type: memory` for a throwaway server)",
        );
        return None;
    };
    let fields = Fields::of(
        &entry.value,
        &path,
        entry.line,
        &["type", "config"],
        ctx,
        issues,
    )?;
    let kind: String = fields.read("type", ctx, issues)?;
    let type_path = fields.path_of("type");
    match kind.as_str() {
        "" => {
            issues.error(
                &type_path,
                "is required: `sqlite3`, `postgres`, `mysql`, `etcd` or `memory`",
            );
            None
        }
        "memory" => {
            let (config, _) = fields.expanded("config", env, flags, issues);
            if config.is_empty() {
                Some(Storage::Memory)
            } else {
                issues.error(
                    &fields.path_of("config"),
                    "memory storage takes no settings; remove `storage.config`",
                );
                None
            }
        }
        "sqlite3" => {
            let (config, line) = fields.expanded("config", env, flags, issues);
            let config_path = fields.path_of("config");
            let sqlite: SqliteConfig = from_node(&config, &config_path, line, ctx)
                .map_err(|e| issues.push(e))
                .ok()?;
            if sqlite.file.trim().is_empty() {
                issues.error(
                    &config_path.key("file"),
                    "is empty: name the database file, e.g. /var/lib/oxidex/oxidex.db",
                );
                return None;
            }
            Some(Storage::Sqlite3(sqlite))
        }
        "postgres" | "mysql" => {
            let (config, line) = fields.expanded("config", env, flags, issues);
            let config_path = fields.path_of("config");
            let network: NetworkDbConfig = from_node(&config, &config_path, line, ctx)
                .map_err(|e| issues.push(e))
                .ok()?;
            let postgres = kind == "postgres";
            if !network_db_valid(&network, postgres, &config_path, issues) {
                return None;
            }
            Some(if postgres {
                Storage::Postgres(network)
            } else {
                Storage::Mysql(network)
            })
        }
        "etcd" => {
            let (config, line) = fields.expanded("config", env, flags, issues);
            let config_path = fields.path_of("config");
            let etcd: EtcdConfig = from_node(&config, &config_path, line, ctx)
                .map_err(|e| issues.push(e))
                .ok()?;
            if etcd.endpoints.iter().all(|e| e.trim().is_empty()) {
                issues.error(
                    &config_path.key("endpoints"),
                    "is required: list the cluster's client endpoints, e.g. [\"127.0.0.1:2379\"]",
                );
                return None;
            }
            Some(Storage::Etcd(etcd))
        }
        other if STORAGE_NOT_BUILT.contains(&other) => {
            issues.error(
                &type_path,
                format!(
                    "`{other}` is a Dex storage type that oxidex has not built yet; use \
                     `postgres`, `mysql` or `etcd` for replicas, `sqlite3` for one machine"
                ),
            );
            None
        }
        other => {
            issues.error(
                &type_path,
                format!(
                    "unknown storage type `{other}`; oxidex supports `sqlite3`, `postgres`, \
                     `mysql`, `etcd` and `memory`"
                ),
            );
            None
        }
    }
}

/// The `ssl.mode` values each engine accepts (Dex's, `reference/dex.md` §5.4).
const POSTGRES_SSL_MODES: &[&str] = &["disable", "require", "verify-ca", "verify-full"];
const MYSQL_SSL_MODES: &[&str] = &["true", "false", "skip-verify", "custom"];

/// Checks what the engines would otherwise only report at connect time.
fn network_db_valid(
    config: &NetworkDbConfig,
    postgres: bool,
    at: &KeyPath,
    issues: &mut Issues,
) -> bool {
    let before = issues.error_count();
    if config.database.trim().is_empty() {
        issues.error(&at.key("database"), "is required: name the database");
    }
    let modes = if postgres {
        POSTGRES_SSL_MODES
    } else {
        MYSQL_SSL_MODES
    };
    let mode = config.ssl.mode.as_str();
    if !mode.is_empty() && !modes.contains(&mode) {
        issues.error(
            &at.key("ssl").key("mode"),
            format!("`{mode}` is not one of {}", modes.join(", ")),
        );
    }
    if !postgres && mode == "custom" && config.ssl.ca_file.is_empty() {
        issues.error(
            &at.key("ssl").key("caFile"),
            "is required when `ssl.mode` is `custom`: name the CA that signed the server's \
             certificate",
        );
    }
    if config.ssl.cert_file.is_empty() != config.ssl.key_file.is_empty() {
        issues.error(
            &at.key("ssl"),
            "`certFile` and `keyFile` go together: set both (a client certificate) or neither",
        );
    }
    issues.error_count() == before
}

fn read_signer(
    top: &Fields<'_>,
    expiry: Option<&Expiry>,
    env: &Environment,
    flags: &FeatureFlags,
    ctx: &Ctx,
    issues: &mut Issues,
) -> Option<Signer> {
    let path = top.path_of("signer");
    let deprecated_period = expiry.and_then(|e| e.signing_keys);
    let entry = match top.entry("signer") {
        Some(entry) if !entry.value.is_null() => entry,
        _ => {
            if deprecated_period.is_some() {
                issues.warn(
                    &KeyPath::root().key("expiry").key("signingKeys"),
                    "is deprecated; Dex now reads the rotation period from \
                     `signer: {type: local, config: {keysRotationPeriod: ...}}`",
                );
            }
            return Some(Signer::Local(LocalSigner {
                keys_rotation_period: deprecated_period.unwrap_or(DEFAULT_SIGNING_KEYS),
                algorithm: SigningAlgorithm::RS256,
            }));
        }
    };
    let fields = Fields::of(
        &entry.value,
        &path,
        entry.line,
        &["type", "config"],
        ctx,
        issues,
    )?;
    let kind: String = fields.read("type", ctx, issues)?;
    let type_path = fields.path_of("type");
    match kind.as_str() {
        "local" => {
            let (config, line) = fields.expanded("config", env, flags, issues);
            let config_path = fields.path_of("config");
            let local: LocalSignerEntry = from_node(&config, &config_path, line, ctx)
                .map_err(|e| issues.push(e))
                .ok()?;
            let algorithm = match local.algorithm.as_str() {
                "" | "RS256" => Some(SigningAlgorithm::RS256),
                "ES256" => Some(SigningAlgorithm::ES256),
                "EdDSA" => {
                    issues.warn(
                        &config_path.key("algorithm"),
                        "EdDSA tokens cannot be verified by the Kubernetes API server (it accepts \
                         RS, PS and ES algorithms only); use RS256 or ES256 if a cluster trusts \
                         this issuer directly",
                    );
                    Some(SigningAlgorithm::EdDSA)
                }
                other => {
                    issues.error(
                        &config_path.key("algorithm"),
                        format!(
                            "unsupported algorithm `{other}`; use RS256 (the default), ES256 or \
                             EdDSA"
                        ),
                    );
                    None
                }
            };
            let Some(period) = local.keys_rotation_period else {
                issues.error(
                    &config_path.key("keysRotationPeriod"),
                    "is required when `signer.type` is `local`: how often to rotate the signing \
                     key, e.g. \"6h\"",
                );
                return None;
            };
            if period.is_zero() {
                issues.error(
                    &config_path.key("keysRotationPeriod"),
                    "must be longer than 0",
                );
                return None;
            }
            if deprecated_period.is_some() {
                issues.warn(
                    &KeyPath::root().key("expiry").key("signingKeys"),
                    "is deprecated and ignored because `signer.config.keysRotationPeriod` is set; \
                     remove it",
                );
            }
            Some(Signer::Local(LocalSigner {
                keys_rotation_period: period,
                algorithm: algorithm?,
            }))
        }
        "vault" => {
            issues.error(
                &type_path,
                "`vault` (signing with a Vault/OpenBao transit key) is a Dex signer that oxidex has \
                 not built yet; use `type: local`",
            );
            None
        }
        "" => {
            issues.error(&type_path, "is required: `local`");
            None
        }
        other => {
            issues.error(
                &type_path,
                format!("unknown signer type `{other}`; oxidex supports `local`"),
            );
            None
        }
    }
}

/// `Some(None)` when there is no `mfa` section; `None` after reporting an error.
fn read_mfa(top: &Fields<'_>, ctx: &Ctx, issues: &mut Issues) -> Option<Option<Mfa>> {
    let Some(entry) = top.entry("mfa") else {
        return Some(None);
    };
    let path = top.path_of("mfa");
    let fields = Fields::of(
        &entry.value,
        &path,
        entry.line,
        &["authenticators", "defaultMFAChain"],
        ctx,
        issues,
    )?;
    let default_mfa_chain: Vec<String> = fields.read("defaultMFAChain", ctx, issues)?;
    let mut authenticators = Vec::new();
    let mut ok = true;
    if let Some(list) = fields.entry("authenticators") {
        let list_path = fields.path_of("authenticators");
        let items: &[Node] = match &list.value.value {
            Value::Seq(items) => items,
            _ if list.value.is_null() => &[],
            _ => {
                issues.push(
                    ConfigError::new(
                        list_path,
                        format!("expected a list, found {}", list.value.describe()),
                    )
                    .at_line(list.line),
                );
                return None;
            }
        };
        for (index, item) in items.iter().enumerate() {
            match read_authenticator(item, &list_path.index(index), ctx, issues) {
                Some(authenticator) => authenticators.push(authenticator),
                None => ok = false,
            }
        }
    }
    ok.then_some(Some(Mfa {
        authenticators,
        default_mfa_chain,
    }))
}

fn read_authenticator(
    node: &Node,
    path: &KeyPath,
    ctx: &Ctx,
    issues: &mut Issues,
) -> Option<MfaAuthenticator> {
    let fields = Fields::of(
        node,
        path,
        node.line,
        &["id", "type", "connectorTypes", "config"],
        ctx,
        issues,
    )?;
    let id: String = fields.read("id", ctx, issues)?;
    let kind: String = fields.read("type", ctx, issues)?;
    let connector_types: Vec<String> = fields.read("connectorTypes", ctx, issues)?;
    if id.is_empty() {
        issues.error(&fields.path_of("id"), "is required");
        return None;
    }
    let kind = match kind.as_str() {
        "TOTP" => MfaKind::Totp(fields.read::<TotpConfig>("config", ctx, issues)?),
        "WebAuthn" => MfaKind::WebAuthn(fields.read::<WebAuthnConfig>("config", ctx, issues)?),
        "" => {
            issues.error(&fields.path_of("type"), "is required: `TOTP` or `WebAuthn`");
            return None;
        }
        other => {
            issues.error(
                &fields.path_of("type"),
                format!("unknown authenticator type `{other}`; use `TOTP` or `WebAuthn`"),
            );
            return None;
        }
    };
    Some(MfaAuthenticator {
        id,
        connector_types,
        kind,
    })
}
