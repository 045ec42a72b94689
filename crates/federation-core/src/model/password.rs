use serde::{Deserialize, Serialize};

/// A local user of the password database (Dex `storage.Password`, the `local` connector).
///
/// Looked up by e-mail address, case-insensitively. Serde names are Dex's, so
/// `staticPasswords` entries deserialize into this type (`hashFromEnv` is resolved by the
/// configuration loader).
///
/// `Debug` output leaves the hash out.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Password {
    /// Login name and key; compared case-insensitively.
    pub email: String,
    /// bcrypt hash (`$2a$`/`$2b$`/`$2y$`), cost 10–16 to be accepted at login.
    pub hash: String,
    /// `preferred_username` fallback and `name` default.
    #[serde(default)]
    pub username: String,
    /// `name` claim; defaults to `username` when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `preferred_username` claim.
    #[serde(
        rename = "preferredUsername",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub preferred_username: String,
    /// `email_verified` claim; Dex defaults it to true.
    #[serde(
        rename = "emailVerified",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub email_verified: Option<bool>,
    /// Stable user id, part of `sub`.
    #[serde(rename = "userID")]
    pub user_id: String,
    /// `groups` claim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Password")
            .field("email", &self.email)
            .field("username", &self.username)
            .field("user_id", &self.user_id)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

impl Password {
    /// The storage key for an e-mail address: lower-cased, as Dex compares them.
    pub fn key_for(email: &str) -> String {
        email.to_lowercase()
    }

    /// The `name` claim: `name`, or `username` when unset (Dex behaviour).
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.username
        } else {
            &self.name
        }
    }

    /// The `email_verified` claim (default `true`, as in Dex).
    pub fn email_verified(&self) -> bool {
        self.email_verified.unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dex_static_password() {
        let p: Password = serde_json::from_value(serde_json::json!({
            "email": "admin@example.com",
            "hash": "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W",
            "username": "admin",
            "userID": "08a8684b-db88-4b73-90a9-3cd1661f5466",
        }))
        .unwrap();
        assert_eq!(p.display_name(), "admin");
        assert!(p.email_verified());
        assert_eq!(Password::key_for("Admin@Example.COM"), "admin@example.com");
        assert!(
            !format!("{p:?}").contains("$2a$"),
            "hash must not be in Debug output"
        );
    }
}
