use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A JSON Web Key (RFC 7517), public or private.
///
/// Dex stores its signing keys as JWKs (go-jose), private members included, and publishes the
/// public half at `/keys` with `use: sig` and `alg`. Private members are redacted from `Debug`
/// output; [`Jwk::public_key`] strips them.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `RSA`, `EC` or `OKP` (RFC 7518 §6.1).
    pub kty: String,
    /// Key id; Dex uses 40 hex characters.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kid: String,
    /// Algorithm the key is used with, e.g. `RS256`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alg: String,
    /// Intended use; `sig` for signing keys.
    #[serde(rename = "use", default, skip_serializing_if = "String::is_empty")]
    pub key_use: String,
    /// RSA modulus (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Curve name for EC/OKP keys (`P-256`, `Ed25519`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate or OKP public key (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Private exponent (RSA) or private key (EC, OKP). Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    /// RSA first prime factor. Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<String>,
    /// RSA second prime factor. Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// RSA first CRT exponent. Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp: Option<String>,
    /// RSA second CRT exponent. Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dq: Option<String>,
    /// RSA CRT coefficient. Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qi: Option<String>,
}

impl Jwk {
    /// `true` if any private member is present.
    pub fn is_private(&self) -> bool {
        self.d.is_some()
            || self.p.is_some()
            || self.q.is_some()
            || self.dp.is_some()
            || self.dq.is_some()
            || self.qi.is_some()
    }

    /// The public half: the same key with every private member removed.
    pub fn public_key(&self) -> Jwk {
        Jwk {
            d: None,
            p: None,
            q: None,
            dp: None,
            dq: None,
            qi: None,
            ..self.clone()
        }
    }
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("use", &self.key_use)
            .field("crv", &self.crv)
            .field("private", &self.is_private())
            .finish_non_exhaustive()
    }
}

/// A retired public key, still published until tokens it signed have expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationKey {
    /// The public key.
    #[serde(rename = "publicKey")]
    pub public_key: Jwk,
    /// When it may be dropped from `/keys`.
    pub expiry: DateTime<Utc>,
}

/// The issuer's key set: one record, updated by compare-and-swap so that replicas sharing a
/// store agree on exactly one signing key (Dex `storage.Keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeys {
    /// The private key tokens are signed with now.
    #[serde(
        rename = "signingKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub signing_key: Option<Jwk>,
    /// Its public half.
    #[serde(
        rename = "signingKeyPub",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub signing_key_pub: Option<Jwk>,
    /// The private key that becomes the signing key at the next rotation. Its public half is
    /// published in `/keys` a whole rotation period before it signs anything, so relying parties
    /// that cache the key set never meet an unknown `kid` (not in Dex).
    #[serde(rename = "nextKey", default, skip_serializing_if = "Option::is_none")]
    pub next_key: Option<Jwk>,
    /// Retired public keys, still published until the tokens they signed have expired.
    #[serde(rename = "verificationKeys", default)]
    pub verification_keys: Vec<VerificationKey>,
    /// When the signing key is due to be replaced.
    #[serde(rename = "nextRotation")]
    pub next_rotation: DateTime<Utc>,
}

impl Default for SigningKeys {
    /// No keys, with a rotation due immediately.
    fn default() -> Self {
        Self {
            signing_key: None,
            signing_key_pub: None,
            next_key: None,
            verification_keys: Vec::new(),
            next_rotation: DateTime::UNIX_EPOCH,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_members_are_hidden() {
        let key = Jwk {
            kty: "EC".into(),
            kid: "k1".into(),
            crv: Some("P-256".into()),
            x: Some("x".into()),
            y: Some("y".into()),
            d: Some("SECRET-D".into()),
            ..Jwk::default()
        };
        assert!(key.is_private());
        assert!(!format!("{key:?}").contains("SECRET"));
        let public = key.public_key();
        assert!(!public.is_private());
        let json = serde_json::to_string(&public).unwrap();
        assert!(!json.contains("SECRET"));
        assert!(json.contains("\"crv\":\"P-256\""));
    }
}
