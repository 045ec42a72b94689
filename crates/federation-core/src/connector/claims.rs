//! Claims mapping: turning an upstream's claims (an ID token's payload, a user-info answer)
//! into an [`Identity`], the same way for every connector that reads JSON claims (`oidc`,
//! `oauth`, and any third-party connector).
//!
//! A [`ClaimMapping`] says which claim holds each field of the identity, which fields are
//! required, how `email_verified` is decided and what happens to groups ([`GroupRules`]:
//! a regular-expression filter, an allow-list, a prefix and suffix, and groups built from
//! other claims). [`ClaimMapping::map`] applies it; a missing or malformed claim is a
//! [`ClaimError`] naming the claim, and a rule that refuses the user (no allowed group, an
//! unverified address) is [`ClaimError::Refused`].
//!
//! ```
//! use oxidex_core::connector::claims::{ClaimMapping, GroupRules};
//! use serde_json::json;
//!
//! let mut mapping = ClaimMapping::oidc();
//! mapping.groups = Some(GroupRules {
//!     keys: vec!["groups".into()],
//!     filter: Some(regex::Regex::new("^team-").unwrap()),
//!     prefix: "corp:".into(),
//!     ..GroupRules::default()
//! });
//! let claims = json!({
//!     "sub": "u-1", "name": "Jane", "email": "jane@example.com", "email_verified": true,
//!     "groups": ["team-a", "everyone", {"name": "team-b"}],
//! });
//! let identity = mapping.map(claims.as_object().unwrap(), true).unwrap();
//! assert_eq!(identity.user_id, "u-1");
//! assert_eq!(identity.groups, ["corp:team-a", "corp:team-b"]);
//! ```

use serde_json::{Map, Value};

use crate::model::Identity;

/// Which claims fill an [`Identity`], and the rules applied to them.
#[derive(Debug, Clone)]
pub struct ClaimMapping {
    /// Claim holding the user id (`sub` for OIDC, `id` for generic OAuth2).
    pub user_id: ClaimLookup,
    /// How the user id may be written: only a string, or also a number (generic OAuth2).
    pub user_id_numbers: bool,
    /// Claim holding the display name; `required` makes a missing one an error.
    pub username: ClaimLookup,
    /// Claim holding `preferred_username`.
    pub preferred_username: ClaimLookup,
    /// Claim holding the e-mail address.
    pub email: ClaimLookup,
    /// How `email_verified` is decided.
    pub email_verified: EmailVerified,
    /// Group handling; `None` reads no groups at all.
    pub groups: Option<GroupRules>,
}

/// Where a claim is looked for: the keys in order, the first present wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimLookup {
    /// Keys to try, in order.
    pub keys: Vec<String>,
    /// A missing claim is an error.
    pub required: bool,
}

impl ClaimLookup {
    /// One key.
    pub fn key(key: impl Into<String>) -> Self {
        Self {
            keys: vec![key.into()],
            required: false,
        }
    }

    /// Dex's rule for a claim with a standard name and an optional configured one
    /// (`claimMapping`): the standard claim first and the configured one if it is absent, or
    /// only the configured one when `override_standard` (`overrideClaimMapping`) is set.
    pub fn standard_or(standard: &str, configured: &str, override_standard: bool) -> Self {
        let keys = match (configured.is_empty(), override_standard) {
            (true, _) => vec![standard.to_owned()],
            (false, true) => vec![configured.to_owned()],
            (false, false) => vec![standard.to_owned(), configured.to_owned()],
        };
        Self {
            keys,
            required: false,
        }
    }

    /// The same lookup, with a missing claim an error.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    fn find<'a>(&self, claims: &'a Map<String, Value>) -> Option<(&'a str, &'a Value)> {
        self.keys
            .iter()
            .find_map(|k| claims.get_key_value(k.as_str()))
            .map(|(k, v)| (k.as_str(), v))
    }

    fn first_key(&self) -> &str {
        self.keys.first().map(String::as_str).unwrap_or("")
    }

    /// The claim as a string: `Ok(None)` if absent and not required.
    fn string(&self, claims: &Map<String, Value>) -> Result<Option<String>, ClaimError> {
        match self.find(claims) {
            Some((_, Value::String(s))) => Ok(Some(s.clone())),
            Some((key, _)) if self.required => Err(ClaimError::Malformed {
                claim: key.to_owned(),
                expected: "a string",
            }),
            // Dex reads optional claims with a type assertion: another type counts as absent.
            Some(_) => Ok(None),
            None if self.required => Err(ClaimError::Missing {
                claim: self.first_key().to_owned(),
            }),
            None => Ok(None),
        }
    }
}

/// How `email_verified` is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailVerified {
    /// Read from `key`. When absent: `true` if `assume_when_missing`
    /// (`insecureSkipEmailVerified`), an error if `required`, else `false`. A present `false`
    /// refuses the login when `refuse_unverified` is set.
    Claim {
        /// The claim name, usually `email_verified`.
        key: String,
        /// Absent means an error (the connector asked for the `email` scope).
        required: bool,
        /// Absent means verified (`insecureSkipEmailVerified`).
        assume_when_missing: bool,
        /// `email_verified: false` refuses the login instead of passing `false` on.
        refuse_unverified: bool,
    },
    /// Always this value (LDAP-like upstreams that vouch for every address).
    Always(bool),
}

/// What happens to the groups an upstream sends.
#[derive(Debug, Clone, Default)]
pub struct GroupRules {
    /// Claims holding groups, first present wins: an array of strings or of `{"name": ..}`
    /// objects, or a single string.
    pub keys: Vec<String>,
    /// A malformed groups claim (a number, an array of numbers) is an error rather than
    /// ignored.
    pub strict: bool,
    /// Keep only groups matching this expression (`filterGroupClaims.groupsFilter`).
    pub filter: Option<regex::Regex>,
    /// The user must be in at least one of these, and only these are kept (`allowedGroups`).
    pub allowed: Vec<String>,
    /// Added before every upstream group name (`modifyGroupNames.prefix`).
    pub prefix: String,
    /// Added after every upstream group name (`modifyGroupNames.suffix`).
    pub suffix: String,
    /// Groups made from other claims (`claimModifications.newGroupFromClaims`), added last.
    pub from_claims: Vec<GroupFromClaims>,
}

/// One group made by joining the values of other claims (Dex `NewGroupFromClaims`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFromClaims {
    /// The claims whose string values are joined; non-string values are skipped.
    pub claims: Vec<String>,
    /// Put between the prefix and the values.
    pub delimiter: String,
    /// Remove the delimiter from the values first, so the result splits back unambiguously.
    pub clear_delimiter: bool,
    /// The first segment.
    pub prefix: String,
}

/// Why claims could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// A required claim is absent.
    #[error("missing {claim:?} claim")]
    Missing {
        /// The claim looked for.
        claim: String,
    },
    /// A claim has the wrong type.
    #[error("malformed {claim:?} claim: expected {expected}")]
    Malformed {
        /// The claim.
        claim: String,
        /// What it should have been.
        expected: &'static str,
    },
    /// A rule refuses the user; `user_message` may be shown to them.
    #[error("{reason}")]
    Refused {
        /// Which rule, for the operator.
        reason: String,
        /// For the user.
        user_message: &'static str,
    },
}

impl ClaimError {
    /// The [`crate::Error`] a connector returns for this failure.
    pub fn into_error(self, connector_id: &str) -> crate::Error {
        match self {
            ClaimError::Refused {
                reason,
                user_message,
            } => crate::Error::LoginRefused {
                connector_id: connector_id.to_owned(),
                reason: reason.into(),
                user_message,
            },
            other => crate::Error::Connector {
                connector_id: connector_id.to_owned(),
                message: format!("the upstream's claims are unusable: {other}"),
                source: None,
            },
        }
    }
}

impl ClaimMapping {
    /// Dex's `oidc` defaults: `sub` (required), `name` (required), `preferred_username`,
    /// `email`, `email_verified`, no groups.
    pub fn oidc() -> Self {
        Self {
            user_id: ClaimLookup::key("sub").required(),
            user_id_numbers: false,
            username: ClaimLookup::key("name").required(),
            preferred_username: ClaimLookup::key("preferred_username"),
            email: ClaimLookup::key("email"),
            email_verified: EmailVerified::Claim {
                key: "email_verified".into(),
                required: false,
                assume_when_missing: false,
                refuse_unverified: false,
            },
            groups: None,
        }
    }

    /// Maps `claims`. Groups are read only when `want_groups` (the client asked for them or
    /// the connector always reads them).
    pub fn map(
        &self,
        claims: &Map<String, Value>,
        want_groups: bool,
    ) -> Result<Identity, ClaimError> {
        let user_id = self.user_id(claims)?;
        let username = self.username.string(claims)?.unwrap_or_default();
        let preferred_username = self.preferred_username.string(claims)?.unwrap_or_default();
        let email = self.email.string(claims)?.unwrap_or_default();
        let email_verified = self.email_verified(claims)?;
        let groups = match (&self.groups, want_groups) {
            (Some(rules), true) => rules.apply(claims)?,
            _ => Vec::new(),
        };
        Ok(Identity {
            user_id,
            username,
            preferred_username,
            email,
            email_verified,
            groups,
            connector_data: None,
        })
    }

    fn user_id(&self, claims: &Map<String, Value>) -> Result<String, ClaimError> {
        let claim = self.user_id.first_key().to_owned();
        let id = match self.user_id.find(claims) {
            None => return Err(ClaimError::Missing { claim }),
            Some((_, Value::String(s))) => s.clone(),
            Some((_, Value::Number(n))) if self.user_id_numbers => go_number(n),
            Some((key, _)) => {
                return Err(ClaimError::Malformed {
                    claim: key.to_owned(),
                    expected: if self.user_id_numbers {
                        "a string or a number"
                    } else {
                        "a string"
                    },
                });
            }
        };
        if id.is_empty() {
            return Err(ClaimError::Malformed {
                claim,
                expected: "a non-empty user id",
            });
        }
        Ok(id)
    }

    fn email_verified(&self, claims: &Map<String, Value>) -> Result<bool, ClaimError> {
        let EmailVerified::Claim {
            key,
            required,
            assume_when_missing,
            refuse_unverified,
        } = &self.email_verified
        else {
            let EmailVerified::Always(value) = self.email_verified else {
                return Ok(false);
            };
            return Ok(value);
        };
        match claims.get(key.as_str()) {
            Some(Value::Bool(true)) => Ok(true),
            Some(Value::Bool(false)) if *refuse_unverified => Err(ClaimError::Refused {
                reason: format!(
                    "the upstream says the e-mail address is not verified ({key}: false)"
                ),
                user_message: "Your e-mail address is not verified at your identity provider. \
                               Verify it there, then log in again.",
            }),
            Some(Value::Bool(false)) => Ok(false),
            // Dex reads it with a type assertion to bool; anything else counts as absent.
            _ if *assume_when_missing => Ok(true),
            _ if *required => Err(ClaimError::Missing { claim: key.clone() }),
            _ => Ok(false),
        }
    }
}

impl GroupRules {
    /// The user's groups after every rule, or the refusal of an allow-list.
    pub fn apply(&self, claims: &Map<String, Value>) -> Result<Vec<String>, ClaimError> {
        let mut groups = self.read(claims)?;
        if let Some(filter) = &self.filter {
            groups.retain(|g| filter.is_match(g));
        }
        if !self.allowed.is_empty() {
            groups.retain(|g| self.allowed.contains(g));
            if groups.is_empty() {
                return Err(ClaimError::Refused {
                    reason: format!(
                        "the user is in none of the allowed groups ({})",
                        self.allowed.join(", ")
                    ),
                    user_message: "You are not a member of a group allowed to log in here.",
                });
            }
        }
        if !self.prefix.is_empty() || !self.suffix.is_empty() {
            for g in &mut groups {
                *g = format!("{}{g}{}", self.prefix, self.suffix);
            }
        }
        for rule in &self.from_claims {
            if let Some(group) = rule.group(claims) {
                groups.push(group);
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        groups.retain(|g| seen.insert(g.clone()));
        Ok(groups)
    }

    fn read(&self, claims: &Map<String, Value>) -> Result<Vec<String>, ClaimError> {
        let Some((key, value)) = self
            .keys
            .iter()
            .find_map(|k| claims.get_key_value(k.as_str()))
        else {
            return Ok(Vec::new());
        };
        let malformed = || ClaimError::Malformed {
            claim: key.clone(),
            expected: "a string, or an array of strings or of {\"name\": string} objects",
        };
        match value {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => {
                let mut groups = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => groups.push(s.clone()),
                        Value::Object(o) => match o.get("name") {
                            Some(Value::String(s)) => groups.push(s.clone()),
                            _ if self.strict => return Err(malformed()),
                            _ => {}
                        },
                        _ if self.strict => return Err(malformed()),
                        _ => {}
                    }
                }
                Ok(groups)
            }
            _ if self.strict => Err(malformed()),
            _ => Ok(Vec::new()),
        }
    }
}

impl GroupFromClaims {
    /// The group, or `None` when none of its claims is a string.
    fn group(&self, claims: &Map<String, Value>) -> Option<String> {
        let mut segments = vec![self.prefix.clone()];
        for name in &self.claims {
            let Some(Value::String(value)) = claims.get(name.as_str()) else {
                continue;
            };
            segments.push(if self.clear_delimiter && !self.delimiter.is_empty() {
                value.replace(&self.delimiter, "")
            } else {
                value.clone()
            });
        }
        (segments.len() > 1).then(|| segments.join(&self.delimiter))
    }
}

/// A JSON number written the way Dex's `fmt.Sprintf("%v", v)` writes the `float64` Go's JSON
/// decoder makes of it, so a numeric user id gives the same `sub` as under Dex: `123456`,
/// `1.234567e+06`, `0.0001`, `1e-05` (Go's shortest `%g`: an exponent below -4 or from 6 up).
pub fn go_number(n: &serde_json::Number) -> String {
    let Some(f) = n.as_f64() else {
        return n.to_string();
    };
    if f == 0.0 {
        return "0".into();
    }
    // Rust's `{:e}` and `{}` both give the shortest digits that round-trip, as Go's do.
    let scientific = format!("{f:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        format!("{f}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("object expected"),
        }
    }

    #[test]
    fn oidc_defaults_require_sub_and_name() {
        let m = ClaimMapping::oidc();
        assert_eq!(
            m.map(&obj(json!({"name": "J"})), false).unwrap_err(),
            ClaimError::Missing {
                claim: "sub".into()
            }
        );
        assert_eq!(
            m.map(&obj(json!({"sub": "1"})), false).unwrap_err(),
            ClaimError::Missing {
                claim: "name".into()
            }
        );
        assert_eq!(
            m.map(&obj(json!({"sub": 5, "name": "J"})), false)
                .unwrap_err(),
            ClaimError::Malformed {
                claim: "sub".into(),
                expected: "a string"
            }
        );
        let id = m
            .map(
                &obj(json!({"sub": "1", "name": "J", "email": "j@x", "email_verified": true})),
                false,
            )
            .unwrap();
        assert_eq!(
            (id.user_id.as_str(), id.email.as_str(), id.email_verified),
            ("1", "j@x", true)
        );
    }

    #[test]
    fn configured_keys_fall_back_or_override() {
        let claims = obj(json!({"email": "std@x", "mail": "alt@x"}));
        let fallback = ClaimLookup::standard_or("email", "mail", false);
        assert_eq!(fallback.string(&claims).unwrap().unwrap(), "std@x");
        let only = ClaimLookup::standard_or("email", "mail", true);
        assert_eq!(only.string(&claims).unwrap().unwrap(), "alt@x");
        let absent = obj(json!({"mail": "alt@x"}));
        assert_eq!(fallback.string(&absent).unwrap().unwrap(), "alt@x");
        assert_eq!(
            ClaimLookup::standard_or("email", "", true),
            ClaimLookup::key("email")
        );
    }

    #[test]
    fn email_verified_rules() {
        let rule = |required, assume, refuse| ClaimMapping {
            email_verified: EmailVerified::Claim {
                key: "email_verified".into(),
                required,
                assume_when_missing: assume,
                refuse_unverified: refuse,
            },
            ..ClaimMapping::oidc()
        };
        let base = json!({"sub": "1", "name": "J", "email": "j@x"});
        let missing = obj(base.clone());
        let mut unverified = missing.clone();
        unverified.insert("email_verified".into(), json!(false));

        assert!(
            !rule(false, false, false)
                .map(&missing, false)
                .unwrap()
                .email_verified
        );
        assert_eq!(
            rule(true, false, false).map(&missing, false).unwrap_err(),
            ClaimError::Missing {
                claim: "email_verified".into()
            }
        );
        assert!(
            rule(true, true, false)
                .map(&missing, false)
                .unwrap()
                .email_verified
        );
        assert!(matches!(
            rule(true, false, true).map(&unverified, false).unwrap_err(),
            ClaimError::Refused { .. }
        ));
        assert!(
            !rule(true, false, false)
                .map(&unverified, false)
                .unwrap()
                .email_verified
        );
    }

    #[test]
    fn group_rules_filter_allow_prefix_and_synthesise() {
        let claims = obj(json!({
            "sub": "1", "name": "J",
            "groups": ["a-admins", {"name": "a-devs"}, "b-ops", "a-devs"],
            "org": "acme", "dept": "r:d", "n": 3,
        }));
        let rules = GroupRules {
            keys: vec!["groups".into()],
            filter: Some(regex::Regex::new("^a-").unwrap()),
            allowed: vec!["a-devs".into(), "a-admins".into(), "b-ops".into()],
            prefix: "p/".into(),
            suffix: "/s".into(),
            from_claims: vec![GroupFromClaims {
                claims: vec!["org".into(), "dept".into(), "n".into()],
                delimiter: ":".into(),
                clear_delimiter: true,
                prefix: "x".into(),
            }],
            ..GroupRules::default()
        };
        assert_eq!(
            rules.apply(&claims).unwrap(),
            ["p/a-admins/s", "p/a-devs/s", "x:acme:rd"]
        );

        let refused = GroupRules {
            keys: vec!["groups".into()],
            allowed: vec!["nope".into()],
            ..GroupRules::default()
        };
        assert!(matches!(
            refused.apply(&claims).unwrap_err(),
            ClaimError::Refused { .. }
        ));

        let single = obj(json!({"groups": "solo"}));
        let plain = GroupRules {
            keys: vec!["groups".into()],
            strict: true,
            ..GroupRules::default()
        };
        assert_eq!(plain.apply(&single).unwrap(), ["solo"]);
        let bad = obj(json!({"groups": [1, 2]}));
        assert!(matches!(
            plain.apply(&bad).unwrap_err(),
            ClaimError::Malformed { .. }
        ));
        let lenient = GroupRules {
            strict: false,
            ..plain
        };
        assert!(lenient.apply(&bad).unwrap().is_empty());
    }

    #[test]
    fn groups_are_read_only_when_wanted() {
        let mut m = ClaimMapping::oidc();
        m.groups = Some(GroupRules {
            keys: vec!["groups".into()],
            ..GroupRules::default()
        });
        let claims = obj(json!({"sub": "1", "name": "J", "groups": ["g"]}));
        assert!(m.map(&claims, false).unwrap().groups.is_empty());
        assert_eq!(m.map(&claims, true).unwrap().groups, ["g"]);
    }

    #[test]
    fn numbers_are_written_as_dex_writes_them() {
        let n = |v: Value| match v {
            Value::Number(n) => go_number(&n),
            _ => unreachable!(),
        };
        assert_eq!(n(json!(123456)), "123456");
        assert_eq!(n(json!(1234567)), "1.234567e+06");
        assert_eq!(n(json!(1000000)), "1e+06");
        assert_eq!(n(json!(0)), "0");
        assert_eq!(n(json!(0.5)), "0.5");
        assert_eq!(n(json!(0.0001)), "0.0001");
        assert_eq!(n(json!(0.00001)), "1e-05");
        assert_eq!(n(json!(-42)), "-42");
        assert_eq!(n(json!(12345678901234567u64)), "1.2345678901234568e+16");
    }
}
