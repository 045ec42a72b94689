//! Random identifiers in Dex's format (Dex `storage.NewID`, `storage.NewDeviceCode`).
//!
//! An id is 16 random bytes: the first picks a lowercase letter (so ids never start with a
//! digit, which Kubernetes object names and some clients need), the other 15 are written in
//! lowercase unpadded base32 (`a`–`z`, `2`–`7`): 25 characters, 124 bits of entropy. Device
//! codes and HMAC keys use the same scheme over 32 bytes.

use crate::{Error, Result};

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A new 25-character identifier: authorization requests, codes, refresh-token ids and secrets.
pub fn new_id() -> Result<String> {
    random_id::<16>()
}

/// A new 51-character identifier for device codes (Dex `NewDeviceCode`).
pub fn new_device_code() -> Result<String> {
    random_id::<32>()
}

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    Ok(bytes)
}

fn random_id<const N: usize>() -> Result<String> {
    let bytes = random_bytes::<N>()?;
    Ok(encode_id(&bytes))
}

/// Dex's id text for `bytes`: a letter from the first byte, then base32 of the rest.
fn encode_id(bytes: &[u8]) -> String {
    let Some((first, rest)) = bytes.split_first() else {
        return String::new();
    };
    let mut out = String::with_capacity(1 + rest.len().div_ceil(5) * 8);
    out.push(char::from(b'a' + first % 26));
    base32_lower(rest, &mut out);
    out
}

fn base32_lower(input: &[u8], out: &mut String) {
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &byte in input {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_dex_shape() {
        for _ in 0..200 {
            let id = new_id().unwrap();
            assert_eq!(id.len(), 25, "{id}");
            assert!(id.as_bytes()[0].is_ascii_lowercase());
            assert!(id.bytes().all(|b| ALPHABET.contains(&b)), "{id}");
        }
        let code = new_device_code().unwrap();
        assert_eq!(code.len(), 51);
    }

    #[test]
    fn ids_are_distinct() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn base32_matches_rfc4648_vectors_lowercased() {
        // RFC 4648 §10 test vectors, unpadded and lowercased.
        for (input, expected) in [
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            let mut out = String::new();
            base32_lower(input.as_bytes(), &mut out);
            assert_eq!(out, expected, "{input}");
        }
    }

    #[test]
    fn first_character_comes_from_first_byte() {
        assert_eq!(encode_id(&[27, b'f']), "bmy");
        assert_eq!(encode_id(&[]), "");
    }
}
