//! Secrets: hashed at rest, compared in constant time, never printed.
//!
//! * [`TokenHash`] is what storage keeps instead of a bearer value (authorization codes,
//!   refresh-token secrets, device codes). The bearer value is a high-entropy random string, so
//!   an unsalted SHA-256 is enough: a database dump yields nothing that can be replayed
//!   (`reference/security.md` OP-05, a deliberate difference from Dex, which stores them).
//! * [`ClientSecret`] holds an OAuth client secret as configured. Dex's admin API returns client
//!   secrets, so they are kept as given, but they are only ever compared in constant time and
//!   never appear in `Debug` output (security.md DEX-12).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;

/// SHA-256 of a bearer secret. Equality is constant-time.
#[derive(Clone, Copy)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a bearer value.
    pub fn of(secret: &str) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Self(out)
    }

    /// `true` if `presented` hashes to this value; constant-time in the hash bytes.
    pub fn matches(&self, presented: &str) -> bool {
        *self == Self::of(presented)
    }

    /// The hash as unpadded base64url: the form used as a storage key.
    pub fn to_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Parses the output of [`TokenHash::to_key`].
    pub fn from_key(key: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(key).ok()?;
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(array))
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for TokenHash {}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is not secret, but its prefix is enough to tell two apart in test output.
        write!(f, "TokenHash({}…)", &self.to_key()[..8])
    }
}

impl Serialize for TokenHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_key())
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_key(&text)
            .ok_or_else(|| serde::de::Error::custom("token hash must be 32 bytes of base64url"))
    }
}

/// An OAuth 2.0 client secret (RFC 6749 §2.3.1). Compared in constant time; redacted in `Debug`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// `true` if `presented` equals the secret. The time taken depends only on the lengths.
    pub fn verify(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    /// `true` for a public client's empty secret.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The secret itself, for the admin API (which returns secrets, as Dex's does) and for
    /// building outgoing requests. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl PartialEq for ClientSecret {
    fn eq(&self, other: &Self) -> bool {
        self.verify(&other.0)
    }
}

impl Eq for ClientSecret {}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("ClientSecret(\"\")")
        } else {
            f.write_str("ClientSecret(<redacted>)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_matches_only_its_secret() {
        let hash = TokenHash::of("s3cret");
        assert!(hash.matches("s3cret"));
        assert!(!hash.matches("s3creT"));
        assert!(!hash.matches(""));
    }

    #[test]
    fn token_hash_key_round_trips_and_hides_the_secret() {
        let hash = TokenHash::of("bearer-value");
        let key = hash.to_key();
        assert_eq!(key.len(), 43);
        assert!(!key.contains("bearer"));
        assert_eq!(TokenHash::from_key(&key), Some(hash));
        assert_eq!(TokenHash::from_key("short"), None);
        let json = serde_json::to_string(&hash).unwrap();
        assert_eq!(serde_json::from_str::<TokenHash>(&json).unwrap(), hash);
        assert!(serde_json::from_str::<TokenHash>("\"nope\"").is_err());
    }

    #[test]
    fn sha256_vector() {
        // FIPS 180-2 "abc" test vector.
        let hash = TokenHash::of("abc");
        assert_eq!(hash.to_key(), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    }

    #[test]
    fn client_secret_is_redacted_and_compared_exactly() {
        let secret = ClientSecret::new("ZXhhbXBsZS1hcHAtc2VjcmV0");
        assert!(secret.verify("ZXhhbXBsZS1hcHAtc2VjcmV0"));
        assert!(!secret.verify("ZXhhbXBsZS1hcHAtc2VjcmV"));
        assert!(!format!("{secret:?}").contains("ZXhh"));
        assert_eq!(secret, ClientSecret::new("ZXhhbXBsZS1hcHAtc2VjcmV0"));
    }
}
