//! The searches of a login: the user entry (Dex `userEntry`), the identity read from it (Dex
//! `identityFromEntry`) and the user's groups (Dex `groups`, plus nested groups).

use std::collections::{HashSet, VecDeque};

use ldap3::Scope;
use oxidex_core::Error;
use oxidex_core::model::Identity;

use super::config::{GroupSearch, Settings};
use super::filter;
use super::session::{Entry, Session, rc};

/// At most this many groups are collected for one user, so a runaway hierarchy cannot keep
/// a login busy.
const MAX_GROUPS: usize = 1000;

/// What the user search found.
pub(crate) enum UserLookup {
    /// Exactly one entry.
    Found(Entry),
    /// No entry: an unknown user.
    NotFound,
}

/// The attributes the user search asks for: every configured one except `DN`.
fn user_attributes(settings: &Settings) -> Vec<String> {
    let u = &settings.user;
    let mut attrs: Vec<String> = Vec::new();
    let mut add = |a: &str| {
        if !filter::is_dn(a) && !attrs.iter().any(|x| x.eq_ignore_ascii_case(a)) {
            attrs.push(a.to_owned());
        }
    };
    add(&u.id_attr);
    for a in [&u.email_attr, &u.name_attr, &u.preferred_username_attr]
        .into_iter()
        .flatten()
    {
        add(a);
    }
    if let Some(g) = &settings.group {
        for m in &g.matchers {
            add(&m.user_attr);
        }
    }
    attrs
}

/// Finds the one entry whose username attribute(s) equal `username` (escaped).
pub(crate) async fn find_user(
    session: &mut Session<'_>,
    settings: &Settings,
    connector_id: &str,
    username: &str,
) -> Result<UserLookup, Error> {
    let u = &settings.user;
    let search_filter = filter::and_any_equal(u.filter.as_deref(), &u.username_attrs, username);
    let (entries, code, text) = session
        .search(
            &u.base_dn,
            u.scope,
            &search_filter,
            &user_attributes(settings),
            // Two are enough to know the name is ambiguous (security.md LD-16).
            2,
        )
        .await?;
    if code != rc::SUCCESS && !(code == rc::SIZE_LIMIT_EXCEEDED && entries.len() > 1) {
        return Err(Error::Connector {
            connector_id: connector_id.to_owned(),
            message: format!(
                "user search under {:?} with filter {search_filter:?} failed: result {code} {text} (server {})",
                u.base_dn, settings.address
            ),
            source: None,
        });
    }
    match entries.len() {
        0 => {
            tracing::info!(connector = connector_id, filter = %search_filter, "ldap: no user entry matches the filter");
            Ok(UserLookup::NotFound)
        }
        1 => {
            let mut entries = entries;
            let entry = entries.remove(0);
            tracing::info!(connector = connector_id, username, user_dn = %entry.dn, "ldap: username mapped to entry");
            Ok(UserLookup::Found(entry))
        }
        n => {
            let dns: Vec<&str> = entries.iter().take(5).map(|e| e.dn.as_str()).collect();
            tracing::error!(connector = connector_id, filter = %search_filter, count = n, ?dns, "ldap: user search matched several entries; refusing the login");
            Err(Error::Connector {
                connector_id: connector_id.to_owned(),
                message: format!(
                    "user search with filter {search_filter:?} matched {n} entries (e.g. {dns:?}); \
                     refusing to pick one: make userSearch.filter/username select a single entry"
                ),
                source: None,
            })
        }
    }
}

/// The identity an entry describes. A configured attribute the entry lacks is an error
/// (Dex: "missing following required attribute(s)").
pub(crate) fn identity(
    settings: &Settings,
    connector_id: &str,
    entry: &Entry,
) -> Result<Identity, Error> {
    let u = &settings.user;
    let mut missing: Vec<String> = Vec::new();
    let mut read = |attr: &str| {
        let v = entry.first(attr);
        if v.is_empty() {
            missing.push(attr.to_owned());
        }
        v
    };
    let user_id = read(&u.id_attr);
    let username = u.name_attr.as_deref().map(&mut read).unwrap_or_default();
    let preferred_username = u
        .preferred_username_attr
        .as_deref()
        .map(&mut read)
        .unwrap_or_default();
    let email = match (&u.email_suffix, &u.email_attr) {
        (Some(suffix), _) => format!("{username}@{suffix}"),
        (None, Some(attr)) => read(attr),
        // Refused when the configuration is checked.
        (None, None) => String::new(),
    };
    if !missing.is_empty() {
        return Err(Error::Connector {
            connector_id: connector_id.to_owned(),
            message: format!(
                "entry {:?} lacks the required attribute(s) {missing:?} (or the bind account may not read them)",
                entry.dn
            ),
            source: None,
        });
    }
    Ok(Identity {
        user_id,
        username,
        preferred_username,
        email,
        // Dex: "TODO: let this value be set from an attribute"; always true.
        email_verified: true,
        groups: Vec::new(),
        connector_data: None,
    })
}

/// The RDNs of a DN, split on the commas that are not escaped (RFC 4514 §2.4: `\,` and a
/// comma inside a quoted value belong to the value), each lower-cased with the blanks around
/// `,` and `=` dropped, so DNs written differently compare equal.
fn rdns(dn: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let (mut escaped, mut quoted) = (false, false);
    for c in dn.chars() {
        match c {
            _ if escaped => {
                current.push(c);
                escaped = false;
            }
            '\\' => {
                current.push(c);
                escaped = true;
            }
            '"' => {
                current.push(c);
                quoted = !quoted;
            }
            ',' | ';' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
        .iter()
        .map(|part| {
            let part = part.trim();
            match part.split_once('=') {
                Some((k, v)) => format!("{}={}", k.trim().to_lowercase(), v.trim().to_lowercase()),
                None => part.to_lowercase(),
            }
        })
        .collect()
}

/// A DN in the form [`rdns`] gives, to compare DNs written differently.
pub(crate) fn normalize_dn(dn: &str) -> String {
    rdns(dn).join(",")
}

/// Whether `dn` lies where a search of `base` with `scope` would find it, comparing whole RDNs
/// (an escaped comma in a value cannot make a DN look like it is under `base`).
fn within(dn: &str, base: &str, scope: Scope) -> bool {
    let (dn, base) = (rdns(dn), rdns(base));
    let Some(extra) = dn.len().checked_sub(base.len()) else {
        return false;
    };
    if dn[extra..] != base[..] {
        return false;
    }
    match (extra, scope) {
        (0, Scope::Subtree) => true,
        (0, _) => false,
        (_, Scope::Subtree) => true,
        (1, Scope::OneLevel) => true,
        _ => false,
    }
}

/// Group entries whose `attr` equals `value`; `attr` = `DN` reads the group at DN `value`
/// (it must lie under groupSearch.baseDN and match groupSearch.filter).
async fn groups_where(
    session: &mut Session<'_>,
    g: &GroupSearch,
    connector_id: &str,
    attr: &str,
    value: &str,
) -> Result<Vec<Entry>, Error> {
    let attrs = if filter::is_dn(&g.name_attr) {
        Vec::new()
    } else {
        vec![g.name_attr.clone()]
    };
    let (base, scope, search_filter) = if filter::is_dn(attr) {
        if !within(value, &g.base_dn, g.scope) {
            tracing::debug!(connector = connector_id, group_dn = value, base_dn = %g.base_dn, "ldap: group outside groupSearch.baseDN ignored");
            return Ok(Vec::new());
        }
        let f = g
            .filter
            .clone()
            .unwrap_or_else(|| "(objectClass=*)".to_owned());
        (value.to_owned(), Scope::Base, f)
    } else {
        let f = filter::and_any_equal(g.filter.as_deref(), &[attr.to_owned()], value);
        (g.base_dn.clone(), g.scope, f)
    };
    let (entries, code, text) = session
        .search(&base, scope, &search_filter, &attrs, MAX_GROUPS)
        .await?;
    match code {
        rc::SUCCESS => {
            if entries.is_empty() {
                tracing::debug!(connector = connector_id, filter = %search_filter, "ldap: group search found no groups");
            }
            Ok(entries)
        }
        rc::NO_SUCH_OBJECT | rc::INVALID_DN_SYNTAX => {
            tracing::debug!(connector = connector_id, base_dn = %base, filter = %search_filter, code, "ldap: group search base does not exist; no groups");
            Ok(Vec::new())
        }
        code => Err(Error::Connector {
            connector_id: connector_id.to_owned(),
            message: format!(
                "group search under {base:?} with filter {search_filter:?} failed: result {code} {text}"
            ),
            source: None,
        }),
    }
}

/// The user's group names: for each matcher and each value of its `userAttr`, the groups
/// whose `groupAttr` equals it; with `recursionGroupAttr`, then the groups listing those
/// groups' DNs in that attribute, and so on. Each group counts once (by DN), so cycles end.
pub(crate) async fn groups(
    session: &mut Session<'_>,
    settings: &Settings,
    connector_id: &str,
    user: &Entry,
) -> Result<Vec<String>, Error> {
    let Some(g) = &settings.group else {
        tracing::debug!(
            connector = connector_id,
            "ldap: no groupSearch.baseDN, no groups"
        );
        return Ok(Vec::new());
    };
    let mut seen: HashSet<String> = HashSet::new();
    let mut expanded: HashSet<String> = HashSet::new();
    let mut found: Vec<Entry> = Vec::new();
    for matcher in &g.matchers {
        let mut queue: VecDeque<String> = VecDeque::new();
        for value in user.values(&matcher.user_attr) {
            for entry in groups_where(session, g, connector_id, &matcher.group_attr, &value).await?
            {
                let key = normalize_dn(&entry.dn);
                if matcher.recursion_group_attr.is_some() && expanded.insert(key.clone()) {
                    queue.push_back(entry.dn.clone());
                }
                if seen.insert(key) {
                    found.push(entry);
                }
            }
        }
        if let Some(parent_attr) = &matcher.recursion_group_attr {
            while let Some(child_dn) = queue.pop_front() {
                if found.len() >= MAX_GROUPS {
                    tracing::warn!(
                        connector = connector_id,
                        "ldap: stopped following nested groups at {MAX_GROUPS} groups"
                    );
                    break;
                }
                for parent in groups_where(session, g, connector_id, parent_attr, &child_dn).await?
                {
                    let key = normalize_dn(&parent.dn);
                    if expanded.insert(key.clone()) {
                        queue.push_back(parent.dn.clone());
                    }
                    if seen.insert(key) {
                        found.push(parent);
                    }
                }
            }
        }
    }
    let mut names = Vec::with_capacity(found.len());
    for group in &found {
        let name = group.first(&g.name_attr);
        if name.is_empty() {
            // Dex is "obnoxious about missing attributes": a misconfiguration.
            return Err(Error::Connector {
                connector_id: connector_id.to_owned(),
                message: format!(
                    "group entry {:?} lacks the groupSearch.nameAttr attribute {:?}",
                    group.dn, g.name_attr
                ),
                source: None,
            });
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_comparisons() {
        assert_eq!(
            normalize_dn("CN=Admins, OU=Groups,DC=Example"),
            "cn=admins,ou=groups,dc=example"
        );
        assert!(within(
            "cn=a,ou=groups,dc=x",
            "ou=Groups, dc=X",
            Scope::Subtree
        ));
        assert!(within(
            "cn=a,ou=groups,dc=x",
            "ou=groups,dc=x",
            Scope::OneLevel
        ));
        assert!(!within(
            "cn=a,ou=sub,ou=groups,dc=x",
            "ou=groups,dc=x",
            Scope::OneLevel
        ));
        assert!(within(
            "cn=a,ou=sub,ou=groups,dc=x",
            "ou=groups,dc=x",
            Scope::Subtree
        ));
        assert!(!within(
            "cn=a,ou=people,dc=x",
            "ou=groups,dc=x",
            Scope::Subtree
        ));
        assert!(!within(
            "cn=a,xou=groups,dc=x",
            "ou=groups,dc=x",
            Scope::Subtree
        ));
        // An escaped comma is part of the value: this entry is directly under dc=x.
        assert!(!within(
            r"cn=a\,ou=groups,dc=x",
            "ou=groups,dc=x",
            Scope::Subtree
        ));
        assert!(!within(
            r#"cn="a,ou=groups",dc=x"#,
            "ou=groups,dc=x",
            Scope::Subtree
        ));
        assert_eq!(
            normalize_dn(r"CN=Doe\, John,OU=People"),
            r"cn=doe\, john,ou=people"
        );
    }
}
