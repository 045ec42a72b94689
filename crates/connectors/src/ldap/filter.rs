//! Search filters: escaping of user input (RFC 4515 §3) and the filters the connector sends.
//!
//! Every value that comes from a user (the typed username) or from a directory entry (a user's
//! `uid`, `memberOf` or DN used to find groups) goes through [`escape`] before it is put into a
//! filter, so `*`, `(`, `)`, `\` and NUL can never change the filter's meaning. Configured
//! filters and attribute names are checked once, when the connector is opened.

use std::fmt::Write as _;

/// Escapes `value` for use as an assertion value in a search filter (RFC 4515 §3): `*`, `(`,
/// `)`, `\` and NUL become `\2a`, `\28`, `\29`, `\5c` and `\00`. Everything else, including
/// non-ASCII UTF-8, is kept as is, which RFC 4515 allows.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' | '(' | ')' | '\\' | '\0' => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\{:02x}", u32::from(c));
            }
            _ => out.push(c),
        }
    }
    out
}

/// `(attr=<escaped value>)`.
pub fn equality(attr: &str, value: &str) -> String {
    format!("({attr}={})", escape(value))
}

/// `(&<base>(attr=value)...)`, or just the equality (or an OR of equalities, one per attribute)
/// when there is no base filter. Mirrors Dex's `(&<filter>(<attr>=<value>))`.
pub fn and_any_equal(base: Option<&str>, attrs: &[String], value: &str) -> String {
    let matches = match attrs {
        [one] => equality(one, value),
        many => {
            let mut or = String::from("(|");
            for attr in many {
                or.push_str(&equality(attr, value));
            }
            or.push(')');
            or
        }
    };
    match base {
        Some(base) => format!("(&{base}{matches})"),
        None => matches,
    }
}

/// Normalises a configured filter: wraps `objectClass=person` as `(objectClass=person)` (Dex
/// documents the parenthesised form; a bare one would otherwise produce a broken filter), and
/// checks it parses. `None` for an empty filter.
pub fn configured(field: &str, filter: &str) -> Result<Option<String>, String> {
    let filter = filter.trim();
    if filter.is_empty() {
        return Ok(None);
    }
    let filter = if filter.starts_with('(') {
        filter.to_owned()
    } else {
        format!("({filter})")
    };
    if ldap3::parse_filter(&filter).is_err() {
        return Err(format!(
            "{field}: {filter:?} is not a valid LDAP search filter"
        ));
    }
    Ok(Some(filter))
}

/// Checks a configured attribute name (RFC 4512 §2.5: a descriptor or an OID, with options;
/// for group matching also an extensible match such as Active Directory's
/// `member:1.2.840.113556.1.4.1941:`), so that it cannot smuggle filter syntax into the
/// searches. `DN` is accepted here; callers give it its special meaning.
pub fn check_attribute(field: &str, attr: &str) -> Result<(), String> {
    let ok = !attr.is_empty()
        && attr
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ';' | ':'))
        && attr
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && ldap3::parse_filter(format!("({attr}=x)")).is_ok();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field}: {attr:?} is not an attribute name (letters, digits, '-', '.', ';', \
             or an extensible match like member:1.2.840.113556.1.4.1941:)"
        ))
    }
}

/// Whether `attr` names the entry's DN rather than an attribute (Dex: case-insensitive `DN`).
pub fn is_dn(attr: &str) -> bool {
    attr.eq_ignore_ascii_case("dn")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_rfc4515_specials() {
        assert_eq!(escape("jane"), "jane");
        assert_eq!(escape("*"), "\\2a");
        assert_eq!(escape("a(b)c"), "a\\28b\\29c");
        assert_eq!(escape("back\\slash"), "back\\5cslash");
        assert_eq!(escape("nul\0"), "nul\\00");
        assert_eq!(escape("admin)(uid=*"), "admin\\29\\28uid=\\2a");
        assert_eq!(escape("jösé"), "jösé");
        // Every escaped filter parses as a single equality.
        for hostile in ["*", "admin)(uid=*", "*)(|(objectClass=*", "\\", "\0", ")("] {
            let f = equality("uid", hostile);
            assert!(ldap3::parse_filter(&f).is_ok(), "{f}");
        }
    }

    #[test]
    fn builds_dex_filters() {
        let one = ["uid".to_owned()];
        assert_eq!(and_any_equal(None, &one, "j*"), "(uid=j\\2a)");
        assert_eq!(
            and_any_equal(Some("(objectClass=person)"), &one, "j"),
            "(&(objectClass=person)(uid=j))"
        );
        let two = ["uid".to_owned(), "mail".to_owned()];
        assert_eq!(
            and_any_equal(Some("(objectClass=person)"), &two, "j"),
            "(&(objectClass=person)(|(uid=j)(mail=j)))"
        );
    }

    #[test]
    fn configured_filters_are_checked() {
        assert_eq!(configured("f", "").unwrap(), None);
        assert_eq!(
            configured("f", "objectClass=person").unwrap().unwrap(),
            "(objectClass=person)"
        );
        assert!(configured("f", "(objectClass=person").is_err());
        assert!(configured("f", "(&(a=b)").is_err());
        assert!(check_attribute("a", "uid").is_ok());
        assert!(check_attribute("a", "userCertificate;binary").is_ok());
        assert!(check_attribute("a", "2.5.4.3").is_ok());
        assert!(check_attribute("a", "uid)(x").is_err());
        assert!(check_attribute("a", "member:1.2.840.113556.1.4.1941:").is_ok());
        assert!(check_attribute("a", ":member").is_err());
        assert!(check_attribute("a", "").is_err());
        assert!(is_dn("DN") && is_dn("dn") && !is_dn("dnx"));
    }
}
