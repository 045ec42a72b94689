//! Key generation and loading for the local signer.
//!
//! RSA keys are generated with the `rsa` crate (ring cannot generate them) and signed with ring;
//! P-256 keys are generated and signed with ring. Keys are kept as JWKs with their private
//! members, as Dex stores them, so a key set written by one replica is usable by every other.

use std::sync::Arc;

use async_trait::async_trait;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};

use super::{SigningAlgorithm, SigningKey};
use crate::jose::{b64url, b64url_decode};
use crate::model::Jwk;
use crate::{Error, Result};

fn signing_error(message: impl Into<String>) -> Error {
    Error::Signing {
        message: message.into(),
    }
}

/// A new private key for `algorithm` as a JWK with a random 40-hex-character `kid` (Dex's kid
/// format), `alg` and `use: sig`. RSA keys are 2048 bits.
pub fn generate_jwk(algorithm: SigningAlgorithm) -> Result<Jwk> {
    let kid: String = crate::ids::random_bytes::<20>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut jwk = match algorithm {
        SigningAlgorithm::Rs256 => generate_rsa()?,
        SigningAlgorithm::Es256 => generate_p256()?,
        SigningAlgorithm::EdDsa => generate_ed25519()?,
    };
    jwk.kid = kid;
    jwk.alg = algorithm.as_str().to_owned();
    jwk.key_use = "sig".to_owned();
    Ok(jwk)
}

fn generate_rsa() -> Result<Jwk> {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048)
        .map_err(|e| signing_error(format!("RSA key generation failed: {e}")))?;
    let der = key
        .to_pkcs1_der()
        .map_err(|e| signing_error(format!("RSA key encoding failed: {e}")))?;
    // RSAPrivateKey ::= SEQUENCE { version, n, e, d, p, q, dp, dq, qi } (RFC 8017 A.1.2)
    let ints = der::sequence_of_integers(der.as_bytes())
        .ok_or_else(|| signing_error("RSA key encoding is not PKCS#1"))?;
    let [_, n, e, d, p, q, dp, dq, qi] = ints.as_slice() else {
        return Err(signing_error("RSA key encoding is not two-prime PKCS#1"));
    };
    let part = |bytes: &[u8]| Some(b64url(bytes));
    Ok(Jwk {
        kty: "RSA".into(),
        n: part(n),
        e: part(e),
        d: part(d),
        p: part(p),
        q: part(q),
        dp: part(dp),
        dq: part(dq),
        qi: part(qi),
        ..Jwk::default()
    })
}

fn generate_p256() -> Result<Jwk> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| signing_error("P-256 key generation failed"))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|e| signing_error(format!("P-256 key rejected: {e}")))?;
    let d = der::p256_private_scalar(pkcs8.as_ref())
        .ok_or_else(|| signing_error("P-256 key encoding is not PKCS#8"))?;
    let point = pair.public_key().as_ref();
    let (Some(x), Some(y)) = (point.get(1..33), point.get(33..65)) else {
        return Err(signing_error(
            "P-256 public key is not an uncompressed point",
        ));
    };
    Ok(Jwk {
        kty: "EC".into(),
        crv: Some("P-256".into()),
        x: Some(b64url(x)),
        y: Some(b64url(y)),
        d: Some(b64url(d)),
        ..Jwk::default()
    })
}

/// An Ed25519 key (RFC 8037 §2): `x` is the public key, `d` the 32-byte seed.
fn generate_ed25519() -> Result<Jwk> {
    let seed = crate::ids::random_bytes::<32>()?;
    let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
        .map_err(|e| signing_error(format!("Ed25519 key rejected: {e}")))?;
    Ok(Jwk {
        kty: "OKP".into(),
        crv: Some("Ed25519".into()),
        x: Some(b64url(pair.public_key().as_ref())),
        d: Some(b64url(seed)),
        ..Jwk::default()
    })
}

/// A key ready to sign, loaded from a private JWK.
pub struct LocalKey {
    kid: String,
    algorithm: SigningAlgorithm,
    pair: Pair,
}

enum Pair {
    Rsa(ring::rsa::KeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl std::fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Loads a private JWK (RS256, ES256 or EdDSA) into a signing key.
pub fn signing_key_from_jwk(jwk: &Jwk) -> Result<Arc<dyn SigningKey>> {
    Ok(Arc::new(LocalKey::from_jwk(jwk)?))
}

impl LocalKey {
    /// Loads a private JWK.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self> {
        let algorithm = SigningAlgorithm::from_name(&jwk.alg).ok_or_else(|| {
            signing_error(format!("key {:?}: unsupported alg {:?}", jwk.kid, jwk.alg))
        })?;
        let member = |name: &str, value: &Option<String>| {
            value
                .as_deref()
                .and_then(b64url_decode)
                .ok_or_else(|| signing_error(format!("key {:?}: member {name} missing", jwk.kid)))
        };
        let pair = match algorithm {
            SigningAlgorithm::Rs256 => {
                let (n, e, d) = (
                    member("n", &jwk.n)?,
                    member("e", &jwk.e)?,
                    member("d", &jwk.d)?,
                );
                let (p, q) = (member("p", &jwk.p)?, member("q", &jwk.q)?);
                let (dp, dq, qi) = (
                    member("dp", &jwk.dp)?,
                    member("dq", &jwk.dq)?,
                    member("qi", &jwk.qi)?,
                );
                let pair = ring::rsa::KeyPair::from_components(&ring::rsa::KeyPairComponents {
                    public_key: ring::rsa::PublicKeyComponents { n: &n, e: &e },
                    d: &d,
                    p: &p,
                    q: &q,
                    dP: &dp,
                    dQ: &dq,
                    qInv: &qi,
                })
                .map_err(|e| signing_error(format!("key {:?}: RSA key rejected: {e}", jwk.kid)))?;
                Pair::Rsa(pair)
            }
            SigningAlgorithm::Es256 => {
                let d = member("d", &jwk.d)?;
                let mut point = vec![0x04];
                point.extend(member("x", &jwk.x)?);
                point.extend(member("y", &jwk.y)?);
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &d,
                    &point,
                    &SystemRandom::new(),
                )
                .map_err(|e| {
                    signing_error(format!("key {:?}: P-256 key rejected: {e}", jwk.kid))
                })?;
                Pair::Ec(pair)
            }
            SigningAlgorithm::EdDsa => {
                if jwk.kty != "OKP" || jwk.crv.as_deref() != Some("Ed25519") {
                    return Err(signing_error(format!(
                        "key {:?}: EdDSA needs an OKP Ed25519 key",
                        jwk.kid
                    )));
                }
                let (seed, public) = (member("d", &jwk.d)?, member("x", &jwk.x)?);
                let pair =
                    Ed25519KeyPair::from_seed_and_public_key(&seed, &public).map_err(|e| {
                        signing_error(format!("key {:?}: Ed25519 key rejected: {e}", jwk.kid))
                    })?;
                Pair::Ed(pair)
            }
        };
        Ok(Self {
            kid: jwk.kid.clone(),
            algorithm,
            pair,
        })
    }
}

#[async_trait]
impl SigningKey for LocalKey {
    fn key_id(&self) -> &str {
        &self.kid
    }

    fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    async fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &rng,
                    signing_input,
                    &mut signature,
                )
                .map_err(|_| signing_error("RS256 signing failed"))?;
                Ok(signature)
            }
            Pair::Ec(pair) => pair
                .sign(&rng, signing_input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| signing_error("ES256 signing failed")),
            Pair::Ed(pair) => Ok(pair.sign(signing_input).as_ref().to_vec()),
        }
    }
}

/// Just enough DER to read the two key encodings above.
mod der {
    /// (tag, contents, rest) of the first TLV in `input`.
    fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return None;
            }
            let bytes = rest.get(..count)?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, &rest[count..])
        };
        let contents = rest.get(..len)?;
        Some((tag, contents, &rest[len..]))
    }

    /// The unsigned big-endian values of a SEQUENCE of INTEGERs (leading zero bytes removed).
    pub(super) fn sequence_of_integers(input: &[u8]) -> Option<Vec<Vec<u8>>> {
        let (0x30, mut body, _) = tlv(input)? else {
            return None;
        };
        let mut out = Vec::new();
        while !body.is_empty() {
            let (0x02, value, rest) = tlv(body)? else {
                return None;
            };
            let start = value.iter().position(|&b| b != 0).unwrap_or(value.len());
            out.push(value[start..].to_vec());
            body = rest;
        }
        Some(out)
    }

    /// The 32-byte private scalar of a P-256 key in PKCS#8 (RFC 5208) wrapping an ECPrivateKey
    /// (RFC 5915).
    pub(super) fn p256_private_scalar(pkcs8: &[u8]) -> Option<Vec<u8>> {
        let (0x30, body, _) = tlv(pkcs8)? else {
            return None;
        };
        let (0x02, _version, rest) = tlv(body)? else {
            return None;
        };
        let (0x30, _algorithm, rest) = tlv(rest)? else {
            return None;
        };
        let (0x04, ec_private_key, _) = tlv(rest)? else {
            return None;
        };
        let (0x30, body, _) = tlv(ec_private_key)? else {
            return None;
        };
        let (0x02, _version, rest) = tlv(body)? else {
            return None;
        };
        let (0x04, scalar, _) = tlv(rest)? else {
            return None;
        };
        (scalar.len() == 32).then(|| scalar.to_vec())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parses_short_and_long_lengths_and_refuses_truncation() {
            // SEQUENCE { INTEGER 0x00 0x85, INTEGER 0x01 }
            let seq = [0x30, 0x07, 0x02, 0x02, 0x00, 0x85, 0x02, 0x01, 0x01];
            assert_eq!(
                sequence_of_integers(&seq).unwrap(),
                vec![vec![0x85], vec![0x01]]
            );
            let long = [0x30, 0x81, 0x03, 0x02, 0x01, 0x07];
            assert_eq!(sequence_of_integers(&long).unwrap(), vec![vec![0x07]]);
            assert!(sequence_of_integers(&[0x30, 0x05, 0x02, 0x01]).is_none());
            assert!(sequence_of_integers(&[0x31, 0x00]).is_none());
            assert!(p256_private_scalar(&[0x30, 0x00]).is_none());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn generated_keys_have_dex_shape_and_sign() {
        for alg in SigningAlgorithm::ALL {
            let jwk = generate_jwk(alg).unwrap();
            assert_eq!(jwk.kid.len(), 40);
            assert!(jwk.kid.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(jwk.alg, alg.as_str());
            assert_eq!(jwk.key_use, "sig");
            assert!(jwk.is_private());
            let key = signing_key_from_jwk(&jwk).unwrap();
            assert_eq!(key.key_id(), jwk.kid);
            assert!(!key.sign(b"input").await.unwrap().is_empty());
        }
        let rsa = generate_jwk(SigningAlgorithm::Rs256).unwrap();
        let n = b64url_decode(rsa.n.as_deref().unwrap()).unwrap();
        assert_eq!(n.len(), 256, "RSA-2048 modulus");
        assert_eq!(rsa.e.as_deref(), Some("AQAB"));
        let ed = generate_jwk(SigningAlgorithm::EdDsa).unwrap();
        assert_eq!(
            (ed.kty.as_str(), ed.crv.as_deref()),
            ("OKP", Some("Ed25519"))
        );
        assert_eq!(b64url_decode(ed.x.as_deref().unwrap()).unwrap().len(), 32);
        assert!(ed.y.is_none());
    }

    #[test]
    fn public_or_broken_keys_are_refused() {
        let jwk = generate_jwk(SigningAlgorithm::Es256).unwrap();
        assert!(signing_key_from_jwk(&jwk.public_key()).is_err());
        let mut wrong = jwk.clone();
        wrong.d = generate_jwk(SigningAlgorithm::Es256).unwrap().d;
        assert!(signing_key_from_jwk(&wrong).is_err());
        let mut unknown = jwk;
        unknown.alg = "HS256".into();
        assert!(signing_key_from_jwk(&unknown).is_err());
        let ed = generate_jwk(SigningAlgorithm::EdDsa).unwrap();
        assert!(signing_key_from_jwk(&ed.public_key()).is_err());
        let mut mismatched = ed.clone();
        mismatched.x = generate_jwk(SigningAlgorithm::EdDsa).unwrap().x;
        assert!(signing_key_from_jwk(&mismatched).is_err());
        let mut wrong_curve = ed;
        wrong_curve.crv = Some("X25519".into());
        assert!(signing_key_from_jwk(&wrong_curve).is_err());
    }
}
