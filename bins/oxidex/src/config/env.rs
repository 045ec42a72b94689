//! The environment: `$VAR` expansion where Dex does it, and Dex's `DEX_*` feature flags.
//!
//! Dex runs `os.ExpandEnv` over every string value inside `storage.config`,
//! `connectors[].config` and `signer.config` — nowhere else — unless `DEX_EXPAND_ENV=false`.
//! The rules are Go's `os.Expand`, quirks included:
//!
//! * `$NAME` and `${NAME}` are replaced by the variable's value; **an unset variable becomes
//!   the empty string** (so a password `pa$word` silently becomes `pa`);
//! * `$$` is not an escape: it is the variable named `$`, which is normally unset, so `$$`
//!   vanishes; `$1`, `$*`, `$@`, `$!`, `$?`, `$-`, `$#` are likewise one-character names;
//! * a `$` followed by anything else (a space, `/`, the end of the text) is kept;
//! * `${}` and an unterminated `${` are dropped.
//!
//! The loader keeps Dex's behaviour for compatibility but warns with the names (never the
//! values) of the unset variables it expanded.
//!
//! The environment is an input ([`Environment`]), not read from the process by the loader,
//! so tests are deterministic.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::yaml::{Node, ScalarKind, Value};

/// A snapshot of environment variables that a configuration is loaded against.
///
/// `Debug` prints the variable names only: values may be secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl Environment {
    /// The variables of this process (names or values that are not UTF-8 are skipped).
    pub fn from_process() -> Self {
        std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect()
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Environment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            vars: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

/// Dex's feature flags (`DEX_<NAME>` variables, read like Go's `strconv.ParseBool`) that
/// bear on the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeatureFlags {
    /// `DEX_EXPAND_ENV` (default true): `$VAR` expansion in storage, connector and signer
    /// configuration.
    pub expand_env: bool,
    /// `DEX_SESSIONS_ENABLED` (default false): Dex's sessions, SSO, logout and MFA.
    pub sessions_enabled: bool,
    /// `DEX_CLIENT_CREDENTIAL_GRANT_ENABLED_BY_DEFAULT` (default false): include
    /// `client_credentials` when `oauth2.grantTypes` is not set.
    pub client_credential_grant_enabled_by_default: bool,
}

impl Default for FeatureFlags {
    fn default() -> Self {
        Self {
            expand_env: true,
            sessions_enabled: false,
            client_credential_grant_enabled_by_default: false,
        }
    }
}

impl FeatureFlags {
    /// Reads the flags from `env`. A value Go's `ParseBool` would not accept leaves the default
    /// (as in Dex) and adds a warning to `warnings`.
    pub fn from_env(env: &Environment, warnings: &mut Vec<String>) -> Self {
        let defaults = Self::default();
        let mut flag = |name: &str, default: bool| {
            match env.get(name) {
            None => default,
            Some(value) => parse_go_bool(value).unwrap_or_else(|| {
                warnings.push(format!(
                    "{name}={value:?} is not a boolean (use true or false); using the default, {default}"
                ));
                default
            }),
        }
        };
        Self {
            expand_env: flag("DEX_EXPAND_ENV", defaults.expand_env),
            sessions_enabled: flag("DEX_SESSIONS_ENABLED", defaults.sessions_enabled),
            client_credential_grant_enabled_by_default: flag(
                "DEX_CLIENT_CREDENTIAL_GRANT_ENABLED_BY_DEFAULT",
                defaults.client_credential_grant_enabled_by_default,
            ),
        }
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `os.Expand` with `env` as the mapping. Names of unset variables go to `unset`.
pub(crate) fn expand(text: &str, env: &Environment, unset: &mut BTreeSet<String>) -> String {
    if !text.contains('$') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if after.is_empty() {
            // A trailing `$` is kept.
            out.push('$');
            rest = after;
            break;
        }
        let (name, consumed) = shell_name(after);
        match name {
            Some(name) if !name.is_empty() => match env.get(name) {
                Some(value) => out.push_str(value),
                None => {
                    unset.insert(name.to_owned());
                }
            },
            // Bad syntax (`${}`, an unterminated `${`): the characters are dropped.
            Some(_) => {}
            // Not a name: the `$` stays.
            None => out.push('$'),
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

/// The variable name at the start of `s` (the text after a `$`) and how many bytes it uses.
/// `Some("")` is bad syntax to drop; `None` means no name at all.
fn shell_name(s: &str) -> (Option<&str>, usize) {
    let bytes = s.as_bytes();
    if bytes[0] == b'{' {
        if bytes.len() > 2 && is_special(bytes[1]) && bytes[2] == b'}' {
            return (Some(&s[1..2]), 3);
        }
        return match s[1..].find('}') {
            Some(0) => (Some(""), 2),
            Some(end) => (Some(&s[1..=end]), end + 2),
            None => (Some(""), 1),
        };
    }
    if is_special(bytes[0]) {
        return (Some(&s[..1]), 1);
    }
    let end = s
        .bytes()
        .position(|b| !(b == b'_' || b.is_ascii_alphanumeric()))
        .unwrap_or(s.len());
    if end == 0 {
        (None, 0)
    } else {
        (Some(&s[..end]), end)
    }
}

fn is_special(b: u8) -> bool {
    matches!(b, b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-') || b.is_ascii_digit()
}

/// Expands every string value under `node` (not keys, numbers or booleans), as Dex does.
pub(crate) fn expand_node(node: &mut Node, env: &Environment, unset: &mut BTreeSet<String>) {
    match &mut node.value {
        Value::Scalar(scalar) => {
            if scalar.kind == ScalarKind::Str {
                scalar.text = expand(&scalar.text, env, unset);
            }
        }
        Value::Seq(items) => {
            for item in items {
                expand_node(item, env, unset);
            }
        }
        Value::Map(entries) => {
            for entry in entries {
                expand_node(&mut entry.value, env, unset);
            }
        }
    }
}

/// The warning for variables that expanded to nothing, or `None` if there were none.
pub(crate) fn unset_warning(unset: &BTreeSet<String>) -> Option<String> {
    if unset.is_empty() {
        return None;
    }
    let names: Vec<String> = unset.iter().map(|n| format!("${n}")).collect();
    let mut message = format!(
        "{} not set and expanded to an empty string, as Dex does: {}. Set {}, or turn \
         expansion off with DEX_EXPAND_ENV=false if the `$` is meant literally",
        if unset.len() == 1 {
            "this environment variable is"
        } else {
            "these environment variables are"
        },
        names.join(", "),
        if unset.len() == 1 { "it" } else { "them" },
    );
    if unset
        .iter()
        .any(|n| n.len() == 1 && is_special(n.as_bytes()[0]))
    {
        message.push_str(
            " (`$$`, `$1`, `$!` and the like are one-character variable names in Dex, not escapes)",
        );
    }
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        [("HOME", "/home/dex"), ("PASS", "s3cr$t"), ("EMPTY", "")]
            .into_iter()
            .collect()
    }

    fn run(text: &str) -> (String, Vec<String>) {
        let mut unset = BTreeSet::new();
        let out = expand(text, &env(), &mut unset);
        (out, unset.into_iter().collect())
    }

    #[test]
    fn expands_like_go_os_expand() {
        assert_eq!(run("$HOME/.kube/config").0, "/home/dex/.kube/config");
        assert_eq!(run("${HOME}x").0, "/home/dexx");
        assert_eq!(run("$HOMEx"), (String::new(), vec!["HOMEx".into()]));
        assert_eq!(run("pa$word"), ("pa".into(), vec!["word".into()]));
        assert_eq!(run("pa$$word"), ("paword".into(), vec!["$".into()]));
        assert_eq!(run("a$1b"), ("ab".into(), vec!["1".into()]));
        assert_eq!(run("${!}"), (String::new(), vec!["!".into()]));
        assert_eq!(run("cost $ 5").0, "cost $ 5");
        assert_eq!(run("end$").0, "end$");
        assert_eq!(run("a$/b").0, "a$/b");
        assert_eq!(run("x${}y").0, "xy");
        assert_eq!(run("x${HOME").0, "xHOME");
        assert_eq!(run("${EMPTY}v").0, "v");
        assert_eq!(run("${A B}"), (String::new(), vec!["A B".into()]));
        // Values are not expanded again.
        assert_eq!(run("$PASS").0, "s3cr$t");
        assert_eq!(run("no dollar").0, "no dollar");
        // Names are ASCII letters, digits and `_`, as in Go.
        assert_eq!(run("ünï$HOMEcödé"), ("ünïödé".into(), vec!["HOMEc".into()]));
        assert_eq!(run("ünï${HOME}cödé").0, "ünï/home/dexcödé");
    }

    #[test]
    fn unset_warning_names_variables_not_values() {
        let unset: BTreeSet<String> = ["$".to_string(), "DB_PASSWORD".to_string()].into();
        let warning = unset_warning(&unset).unwrap();
        assert!(warning.contains("$$, $DB_PASSWORD"), "{warning}");
        assert!(warning.contains("DEX_EXPAND_ENV=false"), "{warning}");
        assert!(warning.contains("not escapes"), "{warning}");
        assert_eq!(unset_warning(&BTreeSet::new()), None);
    }

    #[test]
    fn feature_flags_parse_like_go() {
        let mut warnings = Vec::new();
        let env: Environment = [
            ("DEX_EXPAND_ENV", "False"),
            ("DEX_SESSIONS_ENABLED", "1"),
            ("DEX_CLIENT_CREDENTIAL_GRANT_ENABLED_BY_DEFAULT", "yes"),
        ]
        .into_iter()
        .collect();
        let flags = FeatureFlags::from_env(&env, &mut warnings);
        assert!(!flags.expand_env);
        assert!(flags.sessions_enabled);
        assert!(!flags.client_credential_grant_enabled_by_default);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("DEX_CLIENT_CREDENTIAL_GRANT_ENABLED_BY_DEFAULT=\"yes\""));
        assert_eq!(
            FeatureFlags::from_env(&Environment::default(), &mut Vec::new()),
            FeatureFlags::default()
        );
    }

    #[test]
    fn debug_hides_values() {
        let shown = format!("{:?}", env());
        assert!(shown.contains("PASS") && !shown.contains("s3cr"), "{shown}");
    }
}
