//! Sealing a refresh token's current secret under its previous secret.
//!
//! `key = HKDF-SHA256(ikm = previous secret, salt = token id, info = "oxidex refresh successor")`,
//! `sealed = base64url(nonce || ChaCha20-Poly1305(key, nonce, current secret))`. Only a client
//! holding the previous secret can open it; a database dump holds neither secret.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, KeyType, Salt};

use crate::jose::{b64url, b64url_decode};

struct KeyLen;

impl KeyType for KeyLen {
    fn len(&self) -> usize {
        CHACHA20_POLY1305.key_len()
    }
}

fn key(previous_secret: &str, token_id: &str) -> Option<LessSafeKey> {
    let salt = Salt::new(HKDF_SHA256, token_id.as_bytes());
    let prk = salt.extract(previous_secret.as_bytes());
    let info = [b"oxidex refresh successor".as_slice()];
    let okm = prk.expand(&info, KeyLen).ok()?;
    let mut bytes = [0u8; 32];
    okm.fill(&mut bytes).ok()?;
    UnboundKey::new(&CHACHA20_POLY1305, &bytes)
        .ok()
        .map(LessSafeKey::new)
}

/// Seals `current` so that only the holder of `previous` can open it.
pub(super) fn seal(previous: &str, token_id: &str, current: &str) -> crate::Result<String> {
    let key = key(previous, token_id).ok_or_else(|| crate::Error::Signing {
        message: "cannot derive refresh sealing key".into(),
    })?;
    let nonce_bytes = crate::ids::random_bytes::<NONCE_LEN>()?;
    let mut in_out = current.as_bytes().to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce_bytes),
        Aad::from(token_id.as_bytes()),
        &mut in_out,
    )
    .map_err(|_| crate::Error::Signing {
        message: "cannot seal refresh successor".into(),
    })?;
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&in_out);
    Ok(b64url(out))
}

/// Opens what [`seal`] made, given the previous secret; `None` if it does not open.
pub(super) fn open(previous: &str, token_id: &str, sealed: &str) -> Option<String> {
    let key = key(previous, token_id)?;
    let bytes = b64url_decode(sealed)?;
    if bytes.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut in_out = ciphertext.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(token_id.as_bytes()), &mut in_out)
        .ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_previous_secret_opens_it() {
        let sealed = seal("old-secret", "rt1", "new-secret").unwrap();
        assert!(!sealed.contains("new-secret"));
        assert_eq!(
            open("old-secret", "rt1", &sealed).as_deref(),
            Some("new-secret")
        );
        assert_eq!(open("wrong", "rt1", &sealed), None);
        assert_eq!(open("old-secret", "rt2", &sealed), None);
        assert_eq!(open("old-secret", "rt1", "garbage"), None);
        assert_eq!(open("old-secret", "rt1", ""), None);
    }
}
