//! The `ldap` configuration: Dex's fields (`connector/ldap/ldap.go` `Config`), parsed once and
//! checked into [`Settings`], which the connector uses. `check` and `open` share this code.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use ldap3::Scope;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::filter;
use crate::tls::UpstreamTls;

/// The default timeout for connecting and for each LDAP operation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Configuration of an `ldap` connector, field for field as in Dex.
#[derive(Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LdapConfig {
    /// `host[:port]` of the server; the port defaults to 389 with `insecureNoSSL`, else 636.
    pub host: String,
    /// Plain LDAP without TLS. Only for tests.
    #[serde(rename = "insecureNoSSL")]
    pub insecure_no_ssl: bool,
    /// Accept any server certificate. Only for tests.
    pub insecure_skip_verify: bool,
    /// Connect with `ldap://` and upgrade with the StartTLS extended operation.
    #[serde(rename = "startTLS")]
    pub start_tls: bool,
    /// A file with the PEM root certificates to trust (instead of the system's).
    #[serde(rename = "rootCA")]
    pub root_ca: String,
    /// Base64 of PEM root certificates (Dex's `[]byte` JSON encoding); wins over `rootCA`.
    #[serde(rename = "rootCAData")]
    pub root_ca_data: String,
    /// A file with the PEM client certificate chain.
    pub client_cert: String,
    /// A file with the PEM client key.
    pub client_key: String,
    /// The service account's DN; with `bindPW` empty too, searches bind anonymously.
    #[serde(rename = "bindDN")]
    pub bind_dn: String,
    /// The service account's password.
    #[serde(rename = "bindPW")]
    pub bind_pw: String,
    /// The label of the username field on the login page.
    pub username_prompt: String,
    /// How to find users.
    pub user_search: UserSearchConfig,
    /// How to find a user's groups.
    pub group_search: GroupSearchConfig,
    /// Dex master's SPNEGO settings; only `enabled: false` is accepted.
    pub kerberos: Option<KerberosConfig>,
    /// oxidex extension: timeout for connecting and for each operation, e.g. `10s`, `500ms`.
    pub timeout: Option<String>,
}

impl std::fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConfig")
            .field("host", &self.host)
            .field("insecure_no_ssl", &self.insecure_no_ssl)
            .field("start_tls", &self.start_tls)
            .field("bind_dn", &self.bind_dn)
            .field("bind_pw", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// `userSearch`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct UserSearchConfig {
    /// Where to search (required).
    #[serde(rename = "baseDN")]
    pub base_dn: String,
    /// Extra filter, e.g. `(objectClass=person)`.
    pub filter: String,
    /// Attribute(s) the typed username must equal (required); several are OR-ed.
    pub username: Usernames,
    /// `sub` (default) or `one`.
    pub scope: String,
    /// Attribute of the user id (`sub`), e.g. `uid` or `DN`.
    #[serde(rename = "idAttr")]
    pub id_attr: String,
    /// Attribute of the email address.
    pub email_attr: String,
    /// Attribute of the display name.
    pub name_attr: String,
    /// Attribute of `preferred_username`.
    pub preferred_username_attr: String,
    /// If set, the email is `<name>@<emailSuffix>` instead of `emailAttr`.
    pub email_suffix: String,
}

/// `userSearch.username`: one attribute or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Usernames {
    /// One attribute.
    One(String),
    /// Several attributes, OR-ed.
    Many(Vec<String>),
}

impl Default for Usernames {
    fn default() -> Self {
        Usernames::One(String::new())
    }
}

/// `groupSearch`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct GroupSearchConfig {
    /// Where to search; empty means no groups.
    #[serde(rename = "baseDN")]
    pub base_dn: String,
    /// Extra filter, e.g. `(objectClass=groupOfNames)`.
    pub filter: String,
    /// `sub` (default) or `one`.
    pub scope: String,
    /// Deprecated single matcher: user attribute.
    pub user_attr: String,
    /// Deprecated single matcher: group attribute.
    pub group_attr: String,
    /// Deprecated single matcher: recursion attribute.
    pub recursion_group_attr: String,
    /// How users are matched to groups.
    pub user_matchers: Vec<UserMatcherConfig>,
    /// Attribute of the group name (the `groups` claim).
    pub name_attr: String,
}

/// One entry of `groupSearch.userMatchers`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct UserMatcherConfig {
    /// Attribute of the user entry whose values are looked up (`DN` for the entry's DN).
    pub user_attr: String,
    /// Attribute of the group entry that must equal a value (`DN` for the group's DN).
    pub group_attr: String,
    /// If set, parent groups are those whose `recursionGroupAttr` holds a found group's DN.
    pub recursion_group_attr: String,
}

/// Dex master's `kerberos` block (SPNEGO). Accepted only when disabled.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct KerberosConfig {
    /// Must be `false`.
    pub enabled: bool,
    /// Ignored.
    pub keytab_path: Option<Value>,
    /// Ignored.
    pub spn: Option<Value>,
    /// Ignored.
    pub keytab_principal: Option<Value>,
    /// Ignored.
    pub max_clock_skew: Option<Value>,
    /// Ignored.
    pub expected_realm: Option<Value>,
    /// Ignored.
    pub username_from_principal: Option<Value>,
    /// Ignored.
    pub fallback_to_password: Option<Value>,
}

/// The checked configuration the connector runs on.
#[derive(Clone)]
pub(crate) struct Settings {
    /// `ldap://host:port` or `ldaps://host:port`.
    pub(crate) url: String,
    /// `host:port`, for messages.
    pub(crate) address: String,
    pub(crate) start_tls: bool,
    /// `None` for `insecureNoSSL`.
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    /// `None` binds anonymously.
    pub(crate) bind: Option<(String, String)>,
    pub(crate) prompt: String,
    pub(crate) timeout: Duration,
    pub(crate) user: UserSearch,
    pub(crate) group: Option<GroupSearch>,
}

/// The checked `userSearch`.
#[derive(Debug, Clone)]
pub(crate) struct UserSearch {
    pub(crate) base_dn: String,
    pub(crate) filter: Option<String>,
    pub(crate) username_attrs: Vec<String>,
    pub(crate) scope: Scope,
    pub(crate) id_attr: String,
    pub(crate) email_attr: Option<String>,
    pub(crate) name_attr: Option<String>,
    pub(crate) preferred_username_attr: Option<String>,
    pub(crate) email_suffix: Option<String>,
}

/// The checked `groupSearch`.
#[derive(Debug, Clone)]
pub(crate) struct GroupSearch {
    pub(crate) base_dn: String,
    pub(crate) filter: Option<String>,
    pub(crate) scope: Scope,
    pub(crate) matchers: Vec<Matcher>,
    pub(crate) name_attr: String,
}

/// A checked user matcher.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    pub(crate) user_attr: String,
    pub(crate) group_attr: String,
    pub(crate) recursion_group_attr: Option<String>,
}

/// Which keys each object of the configuration may have.
const TOP_KEYS: &[&str] = &[
    "host",
    "insecureNoSSL",
    "insecureSkipVerify",
    "startTLS",
    "rootCA",
    "rootCAData",
    "clientCert",
    "clientKey",
    "bindDN",
    "bindPW",
    "usernamePrompt",
    "userSearch",
    "groupSearch",
    "kerberos",
    "timeout",
];
const USER_SEARCH_KEYS: &[&str] = &[
    "baseDN",
    "filter",
    "username",
    "scope",
    "idAttr",
    "emailAttr",
    "nameAttr",
    "preferredUsernameAttr",
    "emailSuffix",
];
const GROUP_SEARCH_KEYS: &[&str] = &[
    "baseDN",
    "filter",
    "scope",
    "userAttr",
    "groupAttr",
    "recursionGroupAttr",
    "userMatchers",
    "nameAttr",
];
const MATCHER_KEYS: &[&str] = &["userAttr", "groupAttr", "recursionGroupAttr"];
const KERBEROS_KEYS: &[&str] = &[
    "enabled",
    "keytabPath",
    "spn",
    "keytabPrincipal",
    "maxClockSkew",
    "expectedRealm",
    "usernameFromPrincipal",
    "fallbackToPassword",
];

/// Drops `null` members (Go's decoder leaves such fields at their zero value), renames keys
/// that differ from a known one only in case (Go's decoder matches case-insensitively; a
/// warning says so) and refuses unknown keys, naming them with their path.
fn normalise(
    path: &str,
    object: &Map<String, Value>,
    known: &[&str],
    warnings: &mut Vec<String>,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (key, value) in object {
        if value.is_null() {
            continue;
        }
        let canonical = if known.contains(&key.as_str()) {
            key.clone()
        } else if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(key)) {
            warnings.push(format!(
                "field `{path}{key}` is spelled `{path}{k}`; accepted as Dex does, please fix the case"
            ));
            (*k).to_owned()
        } else {
            return Err(format!(
                "unknown field `{path}{key}` (known fields here: {})",
                known.join(", ")
            ));
        };
        let value = match (canonical.as_str(), value) {
            ("userSearch", Value::Object(o)) if path.is_empty() => {
                Value::Object(normalise("userSearch.", o, USER_SEARCH_KEYS, warnings)?)
            }
            ("groupSearch", Value::Object(o)) if path.is_empty() => {
                Value::Object(normalise("groupSearch.", o, GROUP_SEARCH_KEYS, warnings)?)
            }
            ("kerberos", Value::Object(o)) if path.is_empty() => {
                Value::Object(normalise("kerberos.", o, KERBEROS_KEYS, warnings)?)
            }
            ("userMatchers", Value::Array(items)) if path == "groupSearch." => {
                let mut list = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let item = match item {
                        Value::Object(o) => Value::Object(normalise(
                            &format!("groupSearch.userMatchers[{i}]."),
                            o,
                            MATCHER_KEYS,
                            warnings,
                        )?),
                        other => other.clone(),
                    };
                    list.push(item);
                }
                Value::Array(list)
            }
            (_, other) => other.clone(),
        };
        out.insert(canonical, value);
    }
    Ok(out)
}

/// Parses the JSON configuration: the typed config and warnings about spelling.
pub(crate) fn parse_config(config: &Value) -> Result<(LdapConfig, Vec<String>), String> {
    let mut warnings = Vec::new();
    let object = match config {
        Value::Object(o) => o,
        Value::Null => {
            return Err("missing configuration: `host` and `userSearch` are required".into());
        }
        _ => return Err("the configuration must be a mapping of Dex's ldap fields".into()),
    };
    let normalised = normalise("", object, TOP_KEYS, &mut warnings)?;
    let parsed: LdapConfig =
        serde_json::from_value(Value::Object(normalised)).map_err(|e| e.to_string())?;
    Ok((parsed, warnings))
}

fn scope(field: &str, value: &str) -> Result<Scope, String> {
    match value {
        "" | "sub" => Ok(Scope::Subtree),
        "one" => Ok(Scope::OneLevel),
        other => Err(format!(
            "{field}: unknown value {other:?} (use \"sub\" or \"one\")"
        )),
    }
}

fn optional(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// Parses `10s`, `500ms`, `2m` or a bare number of seconds.
fn duration(value: &str) -> Result<Duration, String> {
    let v = value.trim();
    let (number, unit) = match v.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let n: f64 = number
        .parse()
        .map_err(|_| format!("timeout: {value:?} is not a duration like \"10s\""))?;
    let seconds = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("timeout: {value:?} is not a duration like \"10s\"")),
    };
    if !(0.001..=600.0).contains(&seconds) {
        return Err(format!("timeout: {value:?} must be between 1ms and 10m"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Splits Dex's `host` into host and port, adding the default port.
fn address(host: &str, insecure_no_ssl: bool) -> Result<(String, u16), String> {
    let host = host.trim();
    if host.contains("://") {
        return Err(format!(
            "host: {host:?} must be host[:port] without a scheme; insecureNoSSL and startTLS choose the protocol"
        ));
    }
    let default_port = if insecure_no_ssl { 389 } else { 636 };
    let bad_port = |p: &str| format!("host: {p:?} is not a port number");
    if let Some(rest) = host.strip_prefix('[') {
        // [v6] or [v6]:port
        let (ip, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("host: {host:?} has an unclosed '['"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad_port(p))?,
            None if after.is_empty() => default_port,
            None => return Err(format!("host: {host:?} is not host[:port]")),
        };
        return Ok((format!("[{ip}]"), port));
    }
    match host.matches(':').count() {
        0 => Ok((host.to_owned(), default_port)),
        1 => {
            let (h, p) = host.split_once(':').unwrap_or((host, ""));
            Ok((h.to_owned(), p.parse().map_err(|_| bad_port(p))?))
        }
        // A bare IPv6 address.
        _ => Ok((format!("[{host}]"), default_port)),
    }
}

/// Checks a parsed configuration; the settings and warnings for the operator.
pub(crate) fn settings(config: &LdapConfig) -> Result<(Settings, Vec<String>), String> {
    let mut warnings = Vec::new();
    let c = config;

    for (name, value) in [
        ("host", &c.host),
        ("userSearch.baseDN", &c.user_search.base_dn),
    ] {
        if value.trim().is_empty() {
            return Err(format!("missing required field `{name}`"));
        }
    }
    if let Some(k) = &c.kerberos
        && k.enabled
    {
        return Err(
            "kerberos.enabled: SPNEGO/Kerberos login is not supported by oxidex; \
             remove the `kerberos` block or set `enabled: false`"
                .into(),
        );
    }
    if c.insecure_no_ssl && c.start_tls {
        return Err(
            "insecureNoSSL and startTLS contradict each other: insecureNoSSL \
             disables TLS, startTLS asks for it (Dex silently connects without TLS); \
             keep only one"
                .into(),
        );
    }
    let (host, port) = address(&c.host, c.insecure_no_ssl)?;
    let explicit_port = c
        .host
        .trim()
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.chars().all(|ch| ch.is_ascii_digit()));
    if c.start_tls && !explicit_port {
        warnings.push(format!(
            "startTLS without a port connects to {host}:636 (Dex's default); StartTLS servers \
             usually listen on 389, so give host: {host}:389"
        ));
    }
    let scheme = if c.insecure_no_ssl || c.start_tls {
        "ldap"
    } else {
        "ldaps"
    };

    let tls = if c.insecure_no_ssl {
        warnings.push(
            "insecureNoSSL: passwords and directory data cross the network in clear text; \
             use only for tests"
                .into(),
        );
        for (name, set) in [
            ("insecureSkipVerify", c.insecure_skip_verify),
            ("rootCA", !c.root_ca.is_empty()),
            ("rootCAData", !c.root_ca_data.is_empty()),
            ("clientCert", !c.client_cert.is_empty()),
        ] {
            if set {
                warnings.push(format!("{name} is ignored with insecureNoSSL"));
            }
        }
        None
    } else {
        let mut tls = UpstreamTls {
            system_roots: true,
            insecure_skip_verify: c.insecure_skip_verify,
            ..UpstreamTls::default()
        };
        if c.insecure_skip_verify {
            warnings.push(
                "insecureSkipVerify: the server's certificate is not checked, so anyone on the \
                 path can read passwords; use only for tests"
                    .into(),
            );
        }
        if !c.root_ca_data.is_empty() {
            if !c.root_ca.is_empty() {
                warnings.push("rootCA is ignored because rootCAData is set (as in Dex)".into());
            }
            let compact: String = c.root_ca_data.split_whitespace().collect();
            let pem = base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .map_err(|e| format!("rootCAData: not base64 ({e}); give base64 of PEM data"))?;
            tls.add_roots_pem(&pem, "rootCAData")?;
            tls.system_roots = false;
        } else if !c.root_ca.is_empty() {
            let pem = std::fs::read(&c.root_ca)
                .map_err(|e| format!("rootCA: cannot read {:?}: {e}", c.root_ca))?;
            tls.add_roots_pem(&pem, &format!("rootCA ({})", c.root_ca))?;
            tls.system_roots = false;
        }
        match (c.client_cert.is_empty(), c.client_key.is_empty()) {
            (true, true) => {}
            (false, false) => {
                let cert = std::fs::read(&c.client_cert)
                    .map_err(|e| format!("clientCert: cannot read {:?}: {e}", c.client_cert))?;
                let key = std::fs::read(&c.client_key)
                    .map_err(|e| format!("clientKey: cannot read {:?}: {e}", c.client_key))?;
                tls.set_client_identity_pem(&cert, &key)?;
            }
            _ => return Err("clientCert and clientKey must be given together".into()),
        }
        Some(Arc::new(tls.client_config()?))
    };

    let bind = if c.bind_dn.is_empty() && c.bind_pw.is_empty() {
        None
    } else {
        if c.bind_pw.is_empty() {
            // An empty password makes a simple bind "unauthenticated" (RFC 4513 §5.1.2).
            return Err(
                "bindPW is empty but bindDN is set; give both, or neither for an anonymous bind"
                    .into(),
            );
        }
        Some((c.bind_dn.clone(), c.bind_pw.clone()))
    };

    let user = user_search(&c.user_search, &mut warnings)?;
    let group = group_search(&c.group_search, &mut warnings)?;
    let timeout = match &c.timeout {
        Some(t) => duration(t)?,
        None => DEFAULT_TIMEOUT,
    };
    Ok((
        Settings {
            url: format!("{scheme}://{host}:{port}"),
            address: format!("{host}:{port}"),
            start_tls: c.start_tls,
            tls,
            bind,
            prompt: c.username_prompt.clone(),
            timeout,
            user,
            group,
        },
        warnings,
    ))
}

fn user_search(u: &UserSearchConfig, warnings: &mut Vec<String>) -> Result<UserSearch, String> {
    let username_attrs: Vec<String> = match &u.username {
        Usernames::One(s) => vec![s.trim().to_owned()],
        Usernames::Many(list) => list.iter().map(|s| s.trim().to_owned()).collect(),
    };
    if username_attrs.is_empty() || username_attrs.iter().all(String::is_empty) {
        return Err("missing required field `userSearch.username`".into());
    }
    for attr in &username_attrs {
        filter::check_attribute("userSearch.username", attr)?;
        if filter::is_dn(attr) {
            return Err(
                "userSearch.username: `DN` cannot be searched by; name an attribute such as uid"
                    .into(),
            );
        }
    }
    let id_attr = u.id_attr.trim().to_owned();
    if id_attr.is_empty() {
        return Err(
            "missing required field `userSearch.idAttr` (Dex documents a default of uid \
             but never applies it, so every login would fail; set e.g. idAttr: uid or idAttr: DN)"
                .into(),
        );
    }
    filter::check_attribute("userSearch.idAttr", &id_attr)?;
    let email_suffix = optional(&u.email_suffix);
    let email_attr = optional(&u.email_attr);
    if email_attr.is_none() && email_suffix.is_none() {
        return Err(
            "missing required field `userSearch.emailAttr` (or set userSearch.emailSuffix)".into(),
        );
    }
    if let Some(s) = &email_suffix {
        if s.starts_with('@') {
            warnings.push(format!(
                "userSearch.emailSuffix {s:?} starts with '@'; emails will contain \"@@\""
            ));
        }
        if email_attr.is_some() {
            warnings.push("userSearch.emailAttr is ignored because emailSuffix is set".into());
        }
    }
    let name_attr = optional(&u.name_attr);
    if email_suffix.is_some() && name_attr.is_none() {
        warnings.push(
            "userSearch.emailSuffix without nameAttr gives emails like \"@suffix\"; set nameAttr"
                .into(),
        );
    }
    let preferred_username_attr = optional(&u.preferred_username_attr);
    for (field, attr) in [
        ("userSearch.emailAttr", &email_attr),
        ("userSearch.nameAttr", &name_attr),
        ("userSearch.preferredUsernameAttr", &preferred_username_attr),
    ] {
        if let Some(a) = attr {
            filter::check_attribute(field, a)?;
        }
    }
    Ok(UserSearch {
        base_dn: u.base_dn.trim().to_owned(),
        filter: filter::configured("userSearch.filter", &u.filter)?,
        username_attrs: username_attrs
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect(),
        scope: scope("userSearch.scope", &u.scope)?,
        id_attr,
        email_attr,
        name_attr,
        preferred_username_attr,
        email_suffix,
    })
}

fn group_search(
    g: &GroupSearchConfig,
    warnings: &mut Vec<String>,
) -> Result<Option<GroupSearch>, String> {
    let scope = scope("groupSearch.scope", &g.scope)?;
    let filter = filter::configured("groupSearch.filter", &g.filter)?;
    let legacy = !g.user_attr.is_empty() || !g.group_attr.is_empty();
    // Dex uses userMatchers when the first one has a userAttr, else the deprecated pair.
    let use_matchers = g
        .user_matchers
        .first()
        .is_some_and(|m| !m.user_attr.is_empty());
    let raw: Vec<(String, UserMatcherConfig)> = if use_matchers {
        if legacy {
            warnings.push(
                "groupSearch.userAttr/groupAttr are ignored because userMatchers is set".into(),
            );
        }
        g.user_matchers
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("groupSearch.userMatchers[{i}]"), m.clone()))
            .collect()
    } else if legacy {
        warnings.push(
            "groupSearch.userAttr/groupAttr are deprecated (as in Dex); use groupSearch.userMatchers"
                .into(),
        );
        vec![(
            "groupSearch".to_owned(),
            UserMatcherConfig {
                user_attr: g.user_attr.clone(),
                group_attr: g.group_attr.clone(),
                recursion_group_attr: g.recursion_group_attr.clone(),
            },
        )]
    } else {
        Vec::new()
    };

    if g.base_dn.trim().is_empty() {
        if !raw.is_empty() || !g.name_attr.is_empty() {
            warnings.push(
                "groupSearch.baseDN is empty, so no groups are searched (the rest of groupSearch is unused)"
                    .into(),
            );
        }
        return Ok(None);
    }
    let mut matchers = Vec::with_capacity(raw.len());
    for (field, m) in raw {
        filter::check_attribute(&format!("{field}.userAttr"), m.user_attr.trim())?;
        filter::check_attribute(&format!("{field}.groupAttr"), m.group_attr.trim())?;
        let recursion = optional(&m.recursion_group_attr);
        if let Some(r) = &recursion {
            filter::check_attribute(&format!("{field}.recursionGroupAttr"), r)?;
            if filter::is_dn(r) {
                return Err(format!(
                    "{field}.recursionGroupAttr: `DN` cannot be searched by; name the attribute \
                     of a parent group that lists member groups, e.g. member"
                ));
            }
        }
        matchers.push(Matcher {
            user_attr: m.user_attr.trim().to_owned(),
            group_attr: m.group_attr.trim().to_owned(),
            recursion_group_attr: recursion,
        });
    }
    if matchers.is_empty() {
        warnings.push(
            "groupSearch.baseDN is set but there are no userMatchers, so users get no groups"
                .into(),
        );
    }
    let name_attr = g.name_attr.trim().to_owned();
    if name_attr.is_empty() {
        return Err(
            "missing required field `groupSearch.nameAttr` (needed when groupSearch.baseDN is set)"
                .into(),
        );
    }
    filter::check_attribute("groupSearch.nameAttr", &name_attr)?;
    Ok(Some(GroupSearch {
        base_dn: g.base_dn.trim().to_owned(),
        filter,
        scope,
        matchers,
        name_attr,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn base() -> Value {
        json!({
            "host": "ldap.example.com",
            "insecureNoSSL": true,
            "userSearch": {"baseDN": "ou=people,dc=example,dc=com", "username": "uid",
                           "idAttr": "uid", "emailAttr": "mail"}
        })
    }

    fn check(v: &Value) -> Result<(Settings, Vec<String>), String> {
        let (c, mut w) = parse_config(v)?;
        let (s, w2) = settings(&c)?;
        w.extend(w2);
        Ok((s, w))
    }

    #[test]
    fn defaults_ports_and_schemes() {
        let (s, w) = check(&base()).unwrap();
        assert_eq!(s.url, "ldap://ldap.example.com:389");
        assert!(s.tls.is_none() && s.bind.is_none());
        assert!(w.iter().any(|w| w.contains("insecureNoSSL")), "{w:?}");
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);

        let mut v = base();
        v["insecureNoSSL"] = json!(false);
        v["insecureSkipVerify"] = json!(true);
        let (s, w) = check(&v).unwrap();
        assert_eq!(s.url, "ldaps://ldap.example.com:636");
        assert!(w.iter().any(|w| w.contains("insecureSkipVerify")), "{w:?}");

        v["startTLS"] = json!(true);
        v["host"] = json!("[::1]:1389");
        let (s, _) = check(&v).unwrap();
        assert_eq!(s.url, "ldap://[::1]:1389");
        assert!(s.start_tls);

        v["host"] = json!("ldap.example.com");
        let (_, w) = check(&v).unwrap();
        assert!(
            w.iter().any(|w| w.contains("startTLS without a port")),
            "{w:?}"
        );
    }

    #[test]
    fn refuses_mistakes_naming_the_field() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"host": "h"}), "userSearch.baseDN"),
            (
                {
                    let mut v = base();
                    v["userSearch"]["fliter"] = json!("x");
                    v
                },
                "userSearch.fliter",
            ),
            (
                {
                    let mut v = base();
                    v["bindPass"] = json!("x");
                    v
                },
                "bindPass",
            ),
            (
                {
                    let mut v = base();
                    v["startTLS"] = json!(true);
                    v
                },
                "contradict",
            ),
            (
                {
                    let mut v = base();
                    v["kerberos"] = json!({"enabled": true, "keytabPath": "/k"});
                    v
                },
                "not supported",
            ),
            (
                {
                    let mut v = base();
                    v["userSearch"]["scope"] = json!("base");
                    v
                },
                "userSearch.scope",
            ),
            (
                {
                    let mut v = base();
                    v["userSearch"]["username"] = json!("uid)(x");
                    v
                },
                "userSearch.username",
            ),
            (
                {
                    let mut v = base();
                    v["userSearch"]["idAttr"] = json!("");
                    v
                },
                "userSearch.idAttr",
            ),
            (
                {
                    let mut v = base();
                    v["userSearch"]["filter"] = json!("(objectClass=person");
                    v
                },
                "userSearch.filter",
            ),
            (
                {
                    let mut v = base();
                    v["groupSearch"] = json!({"baseDN": "ou=g", "userMatchers": [{"userAttr": "DN", "groupAttr": "member"}]});
                    v
                },
                "groupSearch.nameAttr",
            ),
            (
                {
                    let mut v = base();
                    v["groupSearch"] = json!({"baseDN": "ou=g", "nameAttr": "cn", "userMatchers": [{"userAttr": "DN", "groupAtr": "member"}]});
                    v
                },
                "groupSearch.userMatchers[0].groupAtr",
            ),
            (
                {
                    let mut v = base();
                    v["host"] = json!("ldaps://h");
                    v
                },
                "without a scheme",
            ),
            (
                {
                    let mut v = base();
                    v["bindDN"] = json!("cn=svc");
                    v
                },
                "bindPW",
            ),
            (
                {
                    let mut v = base();
                    v["insecureNoSSL"] = json!(false);
                    v["rootCAData"] = json!("!!!");
                    v
                },
                "rootCAData",
            ),
            (
                {
                    let mut v = base();
                    v["insecureNoSSL"] = json!(false);
                    v["rootCA"] = json!("/no/such/ca.pem");
                    v
                },
                "rootCA",
            ),
            (
                {
                    let mut v = base();
                    v["timeout"] = json!("soon");
                    v
                },
                "timeout",
            ),
        ];
        for (v, needle) in cases {
            let err = check(&v).err().unwrap_or_else(|| panic!("accepted {v}"));
            assert!(err.contains(needle), "{needle:?} not in {err:?}");
        }
    }

    #[test]
    fn accepts_dex_shapes() {
        let mut v = base();
        v["kerberos"] = json!({"enabled": false, "keytabPath": "/etc/krb5.keytab"});
        v["userSearch"]["username"] = json!(["uid", "mail"]);
        v["userSearch"]["filter"] = json!("objectClass=person");
        v["bindPW"] = Value::Null;
        v["groupSearch"] = json!({"baseDN": "ou=groups", "filter": "(objectClass=groupOfNames)",
            "userAttr": "DN", "groupAttr": "member", "nameAttr": "cn"});
        v["timeout"] = json!("250ms");
        let (s, w) = check(&v).unwrap();
        assert_eq!(s.user.username_attrs, ["uid", "mail"]);
        assert_eq!(s.user.filter.as_deref(), Some("(objectClass=person)"));
        let g = s.group.unwrap();
        assert_eq!(g.matchers.len(), 1);
        assert_eq!(g.matchers[0].group_attr, "member");
        assert!(w.iter().any(|w| w.contains("deprecated")), "{w:?}");
        assert_eq!(s.timeout, Duration::from_millis(250));

        // Go's decoder matches keys case-insensitively; so do we, with a warning.
        let mut v = base();
        v["userSearch"]["baseDn"] = v["userSearch"]["baseDN"].take();
        v["userSearch"].as_object_mut().unwrap().remove("baseDN");
        let (s, w) = check(&v).unwrap();
        assert_eq!(s.user.base_dn, "ou=people,dc=example,dc=com");
        assert!(w.iter().any(|w| w.contains("userSearch.baseDn")), "{w:?}");
    }

    #[test]
    fn debug_hides_the_bind_password() {
        let mut v = base();
        v["bindDN"] = json!("cn=svc");
        v["bindPW"] = json!("s3cret-pw");
        let (c, _) = parse_config(&v).unwrap();
        assert!(!format!("{c:?}").contains("s3cret-pw"));
    }
}
