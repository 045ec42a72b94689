//! JSON Web Signature in compact form (RFC 7515 §7.1) for the algorithms oxidex uses, over
//! ring: signing with a [`SigningKey`](crate::signer::SigningKey), verifying against a set of
//! public [`Jwk`]s.
//!
//! Verification is strict: the `alg` header must be one of the allowed algorithms and must match
//! the key's `alg` when the key names one; `none` and HMAC algorithms are never accepted
//! (`reference/security.md` JW rows); a `kid` in the header selects the key, and without one every
//! key of the right type is tried.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::model::Jwk;
use crate::signer::{SigningAlgorithm, SigningKey};
use crate::{Error, Result};

/// Compact tokens over this size are refused before any decoding.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Unpadded base64url (RFC 7515 §2).
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url; `None` if malformed.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// The protected header oxidex writes and reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Signature algorithm.
    pub alg: String,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Media type, if any (`JWT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

/// Signs `payload` (usually JSON claims) with `key` and returns the compact serialization
/// `BASE64URL(header).BASE64URL(payload).BASE64URL(signature)`.
pub async fn sign_compact(key: &dyn SigningKey, payload: &[u8]) -> Result<String> {
    let header = Header {
        alg: key.algorithm().as_str().to_owned(),
        kid: Some(key.key_id().to_owned()),
        typ: None,
    };
    let header = serde_json::to_vec(&header).map_err(|e| Error::Signing {
        message: format!("cannot encode JWS header: {e}"),
    })?;
    let mut token = b64url(header);
    token.push('.');
    token.push_str(&b64url(payload));
    let signature = key.sign(token.as_bytes()).await?;
    token.push('.');
    token.push_str(&b64url(signature));
    Ok(token)
}

/// Why a token was not accepted. Deliberately coarse: callers answer `invalid_token` or
/// `invalid_grant` whatever the reason, and the reason is only logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not three base64url parts, too long, or a header that is not JSON.
    #[error("malformed token")]
    Malformed,
    /// `alg` is not one of the allowed algorithms.
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    /// No published key matches the header.
    #[error("no matching key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
}

/// A verified token: its header and its payload bytes.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The protected header.
    pub header: Header,
    /// The payload, exactly as signed.
    pub payload: Vec<u8>,
}

/// Verifies a compact JWS against `keys`, accepting only `allowed` algorithms.
pub fn verify_compact(
    token: &str,
    keys: &[Jwk],
    allowed: &[SigningAlgorithm],
) -> std::result::Result<Verified, VerifyError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed);
    };
    let header: Header = b64url_decode(h)
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(VerifyError::Malformed)?;
    let payload = b64url_decode(p).ok_or(VerifyError::Malformed)?;
    let signature = b64url_decode(s).ok_or(VerifyError::Malformed)?;
    let alg = SigningAlgorithm::from_name(&header.alg)
        .filter(|a| allowed.contains(a))
        .ok_or(VerifyError::AlgorithmNotAllowed)?;
    let signing_input = &token.as_bytes()[..h.len() + 1 + p.len()];

    let candidates = keys
        .iter()
        .filter(|k| key_fits(k, alg) && header.kid.as_deref().is_none_or(|kid| k.kid == kid));
    let mut matched_any = false;
    for key in candidates {
        matched_any = true;
        if verify_with(key, alg, signing_input, &signature) {
            return Ok(Verified { header, payload });
        }
    }
    Err(if matched_any {
        VerifyError::BadSignature
    } else {
        VerifyError::UnknownKey
    })
}

fn key_fits(key: &Jwk, alg: SigningAlgorithm) -> bool {
    let type_ok = match alg {
        SigningAlgorithm::Rs256 => key.kty == "RSA",
        SigningAlgorithm::Es256 => key.kty == "EC" && key.crv.as_deref() == Some("P-256"),
        SigningAlgorithm::EdDsa => key.kty == "OKP" && key.crv.as_deref() == Some("Ed25519"),
    };
    type_ok && (key.alg.is_empty() || key.alg == alg.as_str())
}

fn verify_with(key: &Jwk, alg: SigningAlgorithm, input: &[u8], signature: &[u8]) -> bool {
    let part = |v: &Option<String>| v.as_deref().and_then(b64url_decode);
    match alg {
        SigningAlgorithm::Rs256 => {
            let (Some(n), Some(e)) = (part(&key.n), part(&key.e)) else {
                return false;
            };
            ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
                .verify(
                    &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    input,
                    signature,
                )
                .is_ok()
        }
        SigningAlgorithm::Es256 => {
            let (Some(x), Some(y)) = (part(&key.x), part(&key.y)) else {
                return false;
            };
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_FIXED,
                &point,
            )
            .verify(input, signature)
            .is_ok()
        }
        SigningAlgorithm::EdDsa => {
            let Some(x) = part(&key.x) else {
                return false;
            };
            ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &x)
                .verify(input, signature)
                .is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::{generate_jwk, signing_key_from_jwk};

    #[tokio::test]
    async fn sign_then_verify_every_algorithm() {
        for alg in SigningAlgorithm::ALL {
            let private = generate_jwk(alg).unwrap();
            let key = signing_key_from_jwk(&private).unwrap();
            let token = sign_compact(key.as_ref(), br#"{"iss":"x"}"#).await.unwrap();
            let keys = [private.public_key()];
            let verified = verify_compact(&token, &keys, &[alg]).unwrap();
            assert_eq!(verified.payload, br#"{"iss":"x"}"#);
            assert_eq!(verified.header.alg, alg.as_str());
            assert_eq!(verified.header.kid.as_deref(), Some(private.kid.as_str()));

            // Tampered payload.
            let mut parts: Vec<&str> = token.split('.').collect();
            let forged = b64url(br#"{"iss":"y"}"#);
            parts[1] = &forged;
            assert_eq!(
                verify_compact(&parts.join("."), &keys, &[alg]).unwrap_err(),
                VerifyError::BadSignature
            );
            // Algorithm not allowed.
            let others: Vec<_> = SigningAlgorithm::ALL
                .into_iter()
                .filter(|a| *a != alg)
                .collect();
            assert_eq!(
                verify_compact(&token, &keys, &others).unwrap_err(),
                VerifyError::AlgorithmNotAllowed
            );
            // A key of another type under the same kid is never used (no key confusion).
            for other in &others {
                let mut confused = generate_jwk(*other).unwrap().public_key();
                confused.kid = private.kid.clone();
                confused.alg = String::new();
                assert_eq!(
                    verify_compact(&token, &[confused], &SigningAlgorithm::ALL).unwrap_err(),
                    VerifyError::UnknownKey
                );
            }
            // Unknown key.
            let stranger = generate_jwk(alg).unwrap().public_key();
            assert_eq!(
                verify_compact(&token, &[stranger], &[alg]).unwrap_err(),
                VerifyError::UnknownKey
            );
        }
    }

    #[test]
    fn refuses_none_hmac_and_garbage() {
        let keys = [generate_jwk(SigningAlgorithm::Es256).unwrap().public_key()];
        let all = SigningAlgorithm::ALL;
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS256"}"#,
            r#"{"alg":"ES384"}"#,
        ] {
            let token = format!("{}.{}.", b64url(header), b64url("{}"));
            assert_eq!(
                verify_compact(&token, &keys, &all).unwrap_err(),
                VerifyError::AlgorithmNotAllowed,
                "{header}"
            );
        }
        for garbage in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.e30",
            &"a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert_eq!(
                verify_compact(garbage, &keys, &all).unwrap_err(),
                VerifyError::Malformed
            );
        }
    }
}
