//! The list sections: `connectors`, `staticClients`, `staticPasswords`.
//!
//! Each entry is read, its environment indirections resolved (`idEnv`, `secretEnv`,
//! `hashFromEnv`) and checked on its own and against the entries before it (duplicate ids).
//! Every problem is reported with the entry's index; one bad entry does not hide the others.

use std::collections::BTreeMap;

use oxidex_core::connector::OpenContext;
use oxidex_core::model::{Client, ConnectorRecord, Password};
use oxidex_core::secret::ClientSecret;
use oxidex_core::storage::{RecordKind, validate_key};

use super::de::{Ctx, from_node};
use super::env::{Environment, FeatureFlags};
use super::error::{ConfigError, Issues, KeyPath};
use super::hash::bcrypt_text;
use super::schema::{ClientEntry, PasswordEntry, StaticClient, grant};
use super::sections::Fields;
use super::yaml::{Entry, Node, Value};

/// Type (and id) of the password-database connector.
pub(crate) const LOCAL: &str = "local";

/// Dex connector types that oxidex has not built yet (`reference/dex.md` §6.2).
pub(crate) const DEX_CONNECTORS_NOT_BUILT: &[&str] = &[
    "atlassian-crowd",
    "keystone",
    "github",
    "gitlab",
    "gitea",
    "bitbucket-cloud",
    "google",
    "microsoft",
    "linkedin",
    "openshift",
    "authproxy",
    "saml",
    "samlExperimental",
];

/// Grant types a connector may be limited to (Dex `connectors[].grantTypes`).
const CONNECTOR_GRANT_TYPES: [&str; 6] = [
    grant::AUTHORIZATION_CODE,
    grant::IMPLICIT,
    grant::REFRESH_TOKEN,
    grant::PASSWORD,
    grant::DEVICE_CODE,
    grant::TOKEN_EXCHANGE,
];

/// The items of a list section; an absent or empty one has none. `None` (with an error) if
/// the value is not a list.
fn items<'a>(entry: Option<&'a Entry>, path: &KeyPath, issues: &mut Issues) -> Option<&'a [Node]> {
    let Some(entry) = entry else {
        return Some(&[]);
    };
    match &entry.value.value {
        Value::Seq(items) => Some(items),
        _ if entry.value.is_null() => Some(&[]),
        _ => {
            issues.push(
                ConfigError::new(
                    path.clone(),
                    format!(
                        "expected a list (entries starting with `- `), found {}",
                        entry.value.describe()
                    ),
                )
                .at_line(entry.line),
            );
            None
        }
    }
}

/// Reports an id that storage would refuse (empty, too long, control characters).
fn check_key(kind: RecordKind, id: &str, path: &KeyPath, issues: &mut Issues) -> bool {
    match validate_key(kind, id) {
        Ok(()) => true,
        Err(e) => {
            issues.error(
                path,
                format!("`{}` cannot be used as an id: {e}", id.escape_debug()),
            );
            false
        }
    }
}

/// Reads `connectors`. `None` if any entry had a problem.
pub(crate) fn read_connectors(
    entry: Option<&Entry>,
    path: &KeyPath,
    env: &Environment,
    flags: &FeatureFlags,
    ctx: &Ctx,
    issues: &mut Issues,
) -> Option<Vec<ConnectorRecord>> {
    let items = items(entry, path, issues)?;
    let registry = oxidex_connectors::registry();
    let built: Vec<&str> = std::iter::once(LOCAL).chain(registry.types()).collect();
    let mut connectors = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let errors_before = issues.error_count();
    for (index, item) in items.iter().enumerate() {
        let item_path = path.index(index);
        let Some(fields) = Fields::of(
            item,
            &item_path,
            item.line,
            &["type", "id", "name", "config", "grantTypes"],
            ctx,
            issues,
        ) else {
            continue;
        };
        let (Some(kind), Some(id), Some(name), Some(grant_types)) = (
            fields.read::<String>("type", ctx, issues),
            fields.read::<String>("id", ctx, issues),
            fields.read::<String>("name", ctx, issues),
            fields.read::<Vec<String>>("grantTypes", ctx, issues),
        ) else {
            continue;
        };
        if id.is_empty() {
            issues.error(
                &fields.path_of("id"),
                "is required: a short name used in login URLs and in every user's `sub`",
            );
        } else if check_key(RecordKind::Connector, &id, &fields.path_of("id"), issues)
            && let Some(first) = seen.insert(id.clone(), index)
        {
            issues.error(
                &fields.path_of("id"),
                format!(
                    "`{id}` is already the id of {path}[{first}]; connector ids must be unique"
                ),
            );
        }
        if name.is_empty() {
            issues.error(
                &fields.path_of("name"),
                "is required: the name shown on the login page",
            );
        }
        for (i, grant_type) in grant_types.iter().enumerate() {
            if !CONNECTOR_GRANT_TYPES.contains(&grant_type.as_str()) {
                issues.error(
                    &fields.path_of("grantTypes").index(i),
                    format!(
                        "`{grant_type}` is not a grant type a connector can be limited to; use {}",
                        CONNECTOR_GRANT_TYPES.join(", ")
                    ),
                );
            }
        }
        let type_path = fields.path_of("type");
        let id_text = if id.is_empty() {
            "(no id)".to_owned()
        } else {
            format!("`{id}`")
        };
        if kind.is_empty() {
            issues.error(
                &type_path,
                format!("is required; oxidex has {}", built.join(", ")),
            );
            continue;
        }
        if DEX_CONNECTORS_NOT_BUILT.contains(&kind.as_str()) {
            issues.error(
                &type_path,
                format!(
                    "type `{kind}` of connector {id_text} is a Dex connector type that oxidex has \
                     not built yet (built: {})",
                    built.join(", ")
                ),
            );
            continue;
        }
        if !built.contains(&kind.as_str()) {
            issues.error(
                &type_path,
                format!(
                    "type `{kind}` of connector {id_text} is not a connector type; oxidex has {} \
                     (types are case-sensitive)",
                    built.join(", ")
                ),
            );
            continue;
        }
        let (config_node, config_line) = fields.expanded("config", env, flags, issues);
        if kind == LOCAL && !config_node.is_empty() {
            issues.error(
                &fields.path_of("config"),
                "the `local` connector takes no settings; remove `config`",
            );
            continue;
        }
        let Ok(config) = from_node::<serde_json::Value>(
            &config_node,
            &fields.path_of("config"),
            config_line,
            ctx,
        )
        .map_err(|e| issues.push(e)) else {
            continue;
        };
        if let Some(factory) = registry.get(&kind) {
            // The connector's own checks, without contacting its upstream.
            let settings = if config.is_null() {
                serde_json::json!({})
            } else {
                config.clone()
            };
            match factory.check(&OpenContext::new(id.clone()), &settings) {
                Ok(warnings) => {
                    for warning in warnings {
                        issues.warn(&fields.path_of("config"), warning);
                    }
                }
                Err(e) => {
                    let message = match e {
                        oxidex_core::Error::ConnectorConfig { message, .. } => message,
                        other => other.to_string(),
                    };
                    issues.push(
                        ConfigError::new(fields.path_of("config"), message).at_line(config_line),
                    );
                    continue;
                }
            }
        }
        connectors.push(ConnectorRecord {
            id,
            connector_type: kind,
            name,
            resource_version: String::new(),
            config,
            grant_types,
        });
    }
    (issues.error_count() == errors_before).then_some(connectors)
}

/// Reads `staticClients`. `None` if any entry had a problem.
pub(crate) fn read_clients(
    entry: Option<&Entry>,
    path: &KeyPath,
    env: &Environment,
    ctx: &Ctx,
    issues: &mut Issues,
) -> Option<Vec<StaticClient>> {
    let items = items(entry, path, issues)?;
    let mut clients = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let errors_before = issues.error_count();
    for (index, item) in items.iter().enumerate() {
        let item_path = path.index(index);
        let Ok(raw) =
            from_node::<ClientEntry>(item, &item_path, item.line, ctx).map_err(|e| issues.push(e))
        else {
            continue;
        };
        let id = resolve(
            &raw.id,
            &raw.id_env,
            ("id", "idEnv"),
            &item_path,
            env,
            issues,
            Some("set `id`, or `idEnv` to the name of an environment variable holding it"),
        );
        let secret = resolve(
            raw.secret.expose(),
            &raw.secret_env,
            ("secret", "secretEnv"),
            &item_path,
            env,
            issues,
            (!raw.public).then_some(
                "a confidential client needs `secret` (or `secretEnv`); mark the client \
                 `public: true` if it cannot keep a secret",
            ),
        );
        if raw.name.is_empty() {
            issues.error(
                &item_path.key("name"),
                "is required: the name shown on the approval page (Dex refuses a client without one)",
            );
        }
        if !matches!(
            raw.refresh_token_lifetime.as_str(),
            "" | "standalone" | "session"
        ) {
            issues.error(
                &item_path.key("refreshTokenLifetime"),
                format!(
                    "unknown value `{}`; use `standalone` (the default) or `session`",
                    raw.refresh_token_lifetime
                ),
            );
        }
        let (Some(id), Some(secret)) = (id, secret) else {
            continue;
        };
        let id_path = item_path.key(if raw.id.is_empty() { "idEnv" } else { "id" });
        if check_key(RecordKind::Client, &id, &id_path, issues)
            && let Some(first) = seen.insert(id.clone(), index)
        {
            issues.error(
                &id_path,
                format!("`{id}` is already the id of {path}[{first}]; client ids must be unique"),
            );
        }
        clients.push(StaticClient {
            client: Client {
                id,
                secret: ClientSecret::new(secret),
                redirect_uris: raw.redirect_uris,
                trusted_peers: raw.trusted_peers,
                public: raw.public,
                name: raw.name,
                logo_url: raw.logo_url,
                allowed_connectors: raw.allowed_connectors,
                client_credentials_claims: raw.client_credentials_claims,
            },
            post_logout_redirect_uris: raw.post_logout_redirect_uris,
            backchannel_logout_uri: raw.backchannel_logout_uri,
            refresh_token_lifetime: raw.refresh_token_lifetime,
            mfa_chain: raw.mfa_chain,
            sso_shared_with: raw.sso_shared_with,
        });
    }
    (issues.error_count() == errors_before).then_some(clients)
}

/// Resolves a value given directly (`keys.0`) or through an environment variable (`keys.1`).
/// The two are mutually exclusive. `required` says how to fix a missing value; without it an
/// absent value is the empty string. `None` after reporting a problem.
fn resolve(
    direct: &str,
    from_env: &str,
    keys: (&str, &str),
    path: &KeyPath,
    env: &Environment,
    issues: &mut Issues,
    required: Option<&str>,
) -> Option<String> {
    let (key, env_key) = keys;
    match (direct.is_empty(), from_env.is_empty()) {
        (false, false) => {
            issues.error(
                &path.key(env_key),
                format!("`{key}` and `{env_key}` are mutually exclusive; keep one"),
            );
            None
        }
        (false, true) => Some(direct.to_owned()),
        (true, false) => {
            match env.get(from_env) {
                Some(value) if !value.is_empty() => Some(value.to_owned()),
                _ => {
                    issues.error(
                    &path.key(env_key),
                    format!("names the environment variable {from_env}, which is not set or is empty"),
                );
                    None
                }
            }
        }
        (true, true) => match required {
            Some(how) => {
                issues.error(&path.key(key), format!("is required: {how}"));
                None
            }
            None => Some(String::new()),
        },
    }
}

/// Reads `staticPasswords`. `None` if any entry had a problem.
pub(crate) fn read_passwords(
    entry: Option<&Entry>,
    path: &KeyPath,
    env: &Environment,
    ctx: &Ctx,
    issues: &mut Issues,
) -> Option<Vec<Password>> {
    let items = items(entry, path, issues)?;
    let mut passwords = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let errors_before = issues.error_count();
    for (index, item) in items.iter().enumerate() {
        let item_path = path.index(index);
        let Ok(raw) = from_node::<PasswordEntry>(item, &item_path, item.line, ctx)
            .map_err(|e| issues.push(e))
        else {
            continue;
        };
        if raw.email.is_empty() {
            issues.error(&item_path.key("email"), "is required: the login name");
        } else {
            let key = Password::key_for(&raw.email);
            if check_key(RecordKind::Password, &key, &item_path.key("email"), issues)
                && let Some(first) = seen.insert(key, index)
            {
                issues.error(
                    &item_path.key("email"),
                    format!(
                        "`{}` is already the e-mail of {path}[{first}] (e-mails are compared \
                         ignoring case)",
                        raw.email
                    ),
                );
            }
        }
        if raw.user_id.is_empty() {
            issues.error(
                &item_path.key("userID"),
                "is required: a stable, unique id for the user (it becomes part of `sub`)",
            );
        }
        let hash = resolve(
            &raw.hash,
            &raw.hash_from_env,
            ("hash", "hashFromEnv"),
            &item_path,
            env,
            issues,
            Some("a bcrypt hash of the password, or `hashFromEnv` naming a variable holding one"),
        );
        let Some(hash) = hash else {
            continue;
        };
        let hash_key = if raw.hash.is_empty() {
            "hashFromEnv"
        } else {
            "hash"
        };
        let hash = match bcrypt_text(&hash) {
            Ok(text) => text,
            Err(message) => {
                issues.error(&item_path.key(hash_key), message);
                continue;
            }
        };
        passwords.push(Password {
            email: raw.email,
            hash,
            username: raw.username,
            name: raw.name,
            preferred_username: raw.preferred_username,
            email_verified: raw.email_verified,
            user_id: raw.user_id,
            groups: raw.groups,
        });
    }
    (issues.error_count() == errors_before).then_some(passwords)
}
