//! Dex's wire encodings of the ID-token `sub` and of refresh tokens.
//!
//! Both are `base64url_nopad(protobuf(message))` with two proto3 string fields
//! (`reference/dex.md` §2.7, §2.10):
//!
//! * `sub` = `IDTokenSubject{ user_id = 1; conn_id = 2 }`. Kubernetes RBAC bindings and every
//!   relying party key users on this value, so it must match Dex byte for byte.
//! * refresh token = `RefreshToken{ refresh_id = 1; token = 2 }`.
//!
//! Proto3 omits empty strings. Decoding accepts any field order, skips unknown fields of the
//! four wire types proto3 allows (as Go's `proto.Unmarshal` does) and refuses truncated or
//! malformed input; it never panics (`reference/security.md` FZ-10).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encoded inputs over this size are refused before decoding.
pub const MAX_ENCODED_LEN: usize = 4096;

/// The parts of an ID token's `sub` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The user's id at the connector.
    pub user_id: String,
    /// The connector's id (empty for client-credentials tokens).
    pub connector_id: String,
}

impl Subject {
    /// Encodes as Dex does: `CgQxMjM0EgVsb2NhbA` for user `1234` at connector `local`.
    pub fn encode(&self) -> String {
        encode_pair(&self.user_id, &self.connector_id)
    }

    /// Decodes a `sub` value; `None` if it is not one.
    pub fn decode(encoded: &str) -> Option<Self> {
        let (user_id, connector_id) = decode_pair(encoded)?;
        Some(Self {
            user_id,
            connector_id,
        })
    }
}

/// The parts of a refresh token handed to a client: the record id and its current secret.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshTokenValue {
    /// The refresh token record's id (not secret).
    pub id: String,
    /// The secret, stored only as a hash.
    pub secret: String,
}

impl std::fmt::Debug for RefreshTokenValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshTokenValue")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl RefreshTokenValue {
    /// Encodes as Dex does.
    pub fn encode(&self) -> String {
        encode_pair(&self.id, &self.secret)
    }

    /// Decodes a presented refresh token; `None` if it is not one.
    pub fn decode(encoded: &str) -> Option<Self> {
        let (id, secret) = decode_pair(encoded)?;
        Some(Self { id, secret })
    }
}

fn encode_pair(first: &str, second: &str) -> String {
    let mut buf = Vec::with_capacity(first.len() + second.len() + 8);
    put_string(&mut buf, 1, first);
    put_string(&mut buf, 2, second);
    URL_SAFE_NO_PAD.encode(buf)
}

fn put_string(buf: &mut Vec<u8>, field: u8, value: &str) {
    if value.is_empty() {
        return;
    }
    buf.push((field << 3) | WIRE_LEN);
    put_varint(buf, value.len() as u64);
    buf.extend_from_slice(value.as_bytes());
}

fn put_varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

const WIRE_VARINT: u8 = 0;
const WIRE_I64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_I32: u8 = 5;

fn decode_pair(encoded: &str) -> Option<(String, String)> {
    if encoded.len() > MAX_ENCODED_LEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    let mut reader = Reader { rest: &bytes };
    let mut first = String::new();
    let mut second = String::new();
    while !reader.rest.is_empty() {
        let tag = reader.varint()?;
        let field = tag >> 3;
        let wire = (tag & 7) as u8;
        match (field, wire) {
            (0, _) => return None,
            (1, WIRE_LEN) => first = reader.string()?,
            (2, WIRE_LEN) => second = reader.string()?,
            // A known field with the wrong wire type is malformed.
            (1 | 2, _) => return None,
            (_, WIRE_VARINT) => {
                reader.varint()?;
            }
            (_, WIRE_I64) => reader.skip(8)?,
            (_, WIRE_LEN) => {
                let len = usize::try_from(reader.varint()?).ok()?;
                reader.skip(len)?;
            }
            (_, WIRE_I32) => reader.skip(4)?,
            _ => return None,
        }
    }
    Some((first, second))
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn varint(&mut self) -> Option<u64> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.rest.split_first()?;
            self.rest = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn skip(&mut self, len: usize) -> Option<()> {
        self.rest = self.rest.get(len..)?;
        Some(())
    }

    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.varint()?).ok()?;
        let bytes = self.rest.get(..len)?;
        self.rest = &self.rest[len..];
        String::from_utf8(bytes.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_matches_dex() {
        // Values computed from Dex's encoding (reference/dex.md §2.7).
        let sub = Subject {
            user_id: "1234".into(),
            connector_id: "local".into(),
        };
        assert_eq!(sub.encode(), "CgQxMjM0EgVsb2NhbA");
        let client = Subject {
            user_id: "example-app".into(),
            connector_id: String::new(),
        };
        assert_eq!(client.encode(), "CgtleGFtcGxlLWFwcA");
        assert_eq!(Subject::decode("CgQxMjM0EgVsb2NhbA"), Some(sub));
        assert_eq!(Subject::decode("CgtleGFtcGxlLWFwcA"), Some(client));
    }

    #[test]
    fn dex_example_config_subject() {
        // Dex's example static password user id with the `local` connector, as seen in
        // Dex-issued tokens for admin@example.com.
        let sub = Subject {
            user_id: "08a8684b-db88-4b73-90a9-3cd1661f5466".into(),
            connector_id: "local".into(),
        };
        assert_eq!(
            sub.encode(),
            "CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs"
        );
    }

    #[test]
    fn long_values_use_multi_byte_lengths() {
        let long = "x".repeat(300);
        let token = RefreshTokenValue {
            id: long.clone(),
            secret: "s".into(),
        };
        let decoded = RefreshTokenValue::decode(&token.encode()).unwrap();
        assert_eq!(decoded, token);
        assert!(!format!("{token:?}").contains("\"s\""));
    }

    #[test]
    fn unknown_fields_are_skipped_and_malformed_input_refused() {
        // field 3 varint 1, then field 1 "a"
        let bytes = [0x18, 0x01, 0x0a, 0x01, b'a'];
        let encoded = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(
            Subject::decode(&encoded).unwrap(),
            Subject {
                user_id: "a".into(),
                connector_id: String::new()
            }
        );
        for bad in [
            vec![0x0a, 0x05, b'a'], // truncated string
            vec![0x08, 0x01],       // field 1 as varint
            vec![0x00],             // field 0
            vec![0x0a, 0x01, 0xff], // not UTF-8
            vec![0x1b],             // group start wire type
            vec![
                0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ] {
            assert_eq!(
                Subject::decode(&URL_SAFE_NO_PAD.encode(&bad)),
                None,
                "{bad:?}"
            );
        }
        assert_eq!(Subject::decode("not base64!"), None);
        assert_eq!(Subject::decode(&"A".repeat(MAX_ENCODED_LEN + 1)), None);
    }
}
