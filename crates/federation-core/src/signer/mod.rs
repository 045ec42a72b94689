//! Token signing (Dex `signer.Signer`).
//!
//! A [`Signer`] hands out the key to sign with now and publishes every key a relying party may
//! need to verify (`/keys`). The engine takes one [`SigningKey`] per token: its algorithm
//! decides the hash of `at_hash`/`c_hash` (OIDC Core §3.1.3.6) and the same key then signs, so a
//! rotation between the two steps cannot produce a token whose hashes disagree with its `alg`.
//! Dex's `Sign(payload)`/`Algorithm()` pair has that race; this shape does not.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::Result;
use crate::model::Jwk;

mod keygen;
mod local;

pub use keygen::{LocalKey, generate_jwk, signing_key_from_jwk};
pub use local::{LocalSigner, LocalSignerConfig, RotationOutcome};

/// JWS algorithms oxidex signs with (RFC 7518 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256; the default, and the only algorithm the Kubernetes API
    /// server accepts without extra configuration.
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// EdDSA with Ed25519 (RFC 8037): the smallest keys and signatures, deterministic signing
    /// (with ring, slower than ES256 but far faster than RS256). The Kubernetes API server cannot verify it (its OIDC authenticator takes
    /// RS, PS and ES algorithms only): not for tokens a cluster checks itself.
    EdDsa,
}

impl SigningAlgorithm {
    /// Every algorithm oxidex signs and verifies with.
    pub const ALL: [SigningAlgorithm; 3] = [
        SigningAlgorithm::Rs256,
        SigningAlgorithm::Es256,
        SigningAlgorithm::EdDsa,
    ];

    /// The JOSE `alg` name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Rs256 => "RS256",
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::EdDsa => "EdDSA",
        }
    }

    /// Parses a JOSE `alg` name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(SigningAlgorithm::Rs256),
            "ES256" => Some(SigningAlgorithm::Es256),
            "EdDSA" => Some(SigningAlgorithm::EdDsa),
            _ => None,
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One key, ready to sign.
#[async_trait]
pub trait SigningKey: Send + Sync {
    /// The `kid` header value; it is published in `/keys`.
    fn key_id(&self) -> &str;

    /// The `alg` header value.
    fn algorithm(&self) -> SigningAlgorithm;

    /// Signs a JWS signing input (`BASE64URL(header) '.' BASE64URL(payload)`) and returns the
    /// raw signature bytes.
    async fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>>;
}

/// Signs tokens and publishes verification keys.
#[async_trait]
pub trait Signer: Send + Sync {
    /// The key to sign with now. Hold it for one token, not longer: rotation replaces it.
    async fn signing_key(&self) -> Result<Arc<dyn SigningKey>>;

    /// Public keys for `/keys`: the signing key, the next key once published, and retired keys
    /// until the tokens they signed have expired.
    async fn validation_keys(&self) -> Result<Vec<Jwk>>;

    /// The same keys as the JSON Web Key Set document `/keys` serves (`{"keys": [...]}`). The
    /// default serializes [`Self::validation_keys`] on every call; [`LocalSigner`] serializes
    /// once per key set, so `/keys` answers from ready bytes.
    async fn key_set_json(&self) -> Result<Arc<[u8]>> {
        let keys = self.validation_keys().await?;
        key_set_document(&keys)
    }

    /// How long a relying party may cache the key set (`Cache-Control: max-age` on `/keys`)
    /// and still find the key of every token it is handed. The default is Dex's fixed floor;
    /// [`LocalSigner`] answers the time until its next rotation, as Dex does.
    fn key_set_max_age(&self) -> std::time::Duration {
        KEY_SET_MIN_MAX_AGE
    }
}

/// Dex's smallest `/keys` max-age (two minutes).
pub const KEY_SET_MIN_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(120);

/// `{"keys": keys}` as JSON bytes.
pub fn key_set_document(keys: &[Jwk]) -> Result<Arc<[u8]>> {
    serde_json::to_vec(&serde_json::json!({ "keys": keys }))
        .map(Arc::from)
        .map_err(|e| crate::Error::Signing {
            message: format!("serializing the key set: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names() {
        for alg in SigningAlgorithm::ALL {
            assert_eq!(SigningAlgorithm::from_name(alg.as_str()), Some(alg));
        }
        assert_eq!(SigningAlgorithm::from_name("none"), None);
        assert_eq!(SigningAlgorithm::from_name("Ed25519"), None);
        assert_eq!(SigningAlgorithm::from_name("HS256"), None);
    }
}
