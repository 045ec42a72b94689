//! How records are laid out in etcd: their keys and the envelope around their values.
//!
//! * Key: `{namespace}{kind}/{key}`, where `kind` is [`RecordKind::as_str`] (`client`,
//!   `auth_code`, ...). No kind name contains `/`, so the prefix `{namespace}{kind}/` of one
//!   kind is never a prefix of another kind's keys (`client/` does not cover `client_x/...`),
//!   and a key may itself contain `/`.
//! * Value: a one-line text header, a newline, then the record's bytes exactly as given:
//!
//!   ```text
//!   oxidex1 expiry=1718000000.123456789
//!   {"id":"...", ...}
//!   ```
//!
//!   The header carries the expiry that garbage collection needs (as Unix seconds with a
//!   nine-digit fraction, so no precision is lost and time zones cannot matter) without
//!   decoding the record. Records that never expire have the header `oxidex1` alone.

use chrono::{DateTime, Utc};
use oxidex_core::storage::RecordKind;

/// First word of every value this backend writes; bump the digit if the layout changes.
const MAGIC: &[u8] = b"oxidex1";
const EXPIRY_FIELD: &[u8] = b"expiry=";

/// The key prefixes of one namespace.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    namespace: Vec<u8>,
}

impl Layout {
    pub(super) fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.as_bytes().to_vec(),
        }
    }

    pub(super) fn namespace(&self) -> &[u8] {
        &self.namespace
    }

    /// `{namespace}{kind}/`: every key of `kind` starts with it, no key of another kind does.
    pub(super) fn kind_prefix(&self, kind: RecordKind) -> Vec<u8> {
        let mut prefix = self.namespace.clone();
        prefix.extend_from_slice(kind.as_str().as_bytes());
        prefix.push(b'/');
        prefix
    }

    /// The etcd key of a record.
    pub(super) fn key(&self, kind: RecordKind, key: &str) -> Vec<u8> {
        let mut full = self.kind_prefix(kind);
        full.extend_from_slice(key.as_bytes());
        full
    }
}

/// The end of the etcd range holding every key that starts with `prefix` (etcd's
/// `GetPrefixRangeEnd`): the prefix with its last byte below 0xff incremented and what follows
/// dropped; `[0]` (to the end of the key space) if every byte is 0xff.
pub(super) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Wraps a record's bytes with its expiry.
pub(super) fn encode(value: &[u8], expiry: Option<DateTime<Utc>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 40);
    out.extend_from_slice(MAGIC);
    if let Some(expiry) = expiry {
        out.push(b' ');
        out.extend_from_slice(EXPIRY_FIELD);
        out.extend_from_slice(
            format!(
                "{}.{:09}",
                expiry.timestamp(),
                expiry.timestamp_subsec_nanos()
            )
            .as_bytes(),
        );
    }
    out.push(b'\n');
    out.extend_from_slice(value);
    out
}

/// A decoded envelope.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Envelope<'a> {
    pub(super) expiry: Option<DateTime<Utc>>,
    pub(super) value: &'a [u8],
}

/// Unwraps what [`encode`] wrote; the error says what is wrong, for [`oxidex_core::Error::Corrupt`].
pub(super) fn decode(stored: &[u8]) -> Result<Envelope<'_>, String> {
    let Some(newline) = stored.iter().position(|&b| b == b'\n') else {
        return Err(not_ours());
    };
    let (header, rest) = stored.split_at(newline);
    let value = rest.get(1..).unwrap_or_default();
    let mut words = header.split(|&b| b == b' ');
    if words.next() != Some(MAGIC) {
        return Err(not_ours());
    }
    let mut expiry = None;
    for word in words {
        if let Some(text) = word.strip_prefix(EXPIRY_FIELD) {
            expiry = Some(parse_expiry(text)?);
        }
        // Unknown fields are ignored, so a later version may add some.
    }
    Ok(Envelope { expiry, value })
}

fn not_ours() -> String {
    "the value was not written by oxidex (no `oxidex1` header); is the namespace shared with \
     another application, such as Dex?"
        .to_owned()
}

fn parse_expiry(text: &[u8]) -> Result<DateTime<Utc>, String> {
    let bad = || {
        format!(
            "invalid expiry {:?} in the record header",
            String::from_utf8_lossy(text)
        )
    };
    let text = std::str::from_utf8(text).map_err(|_| bad())?;
    let (secs, nanos) = text.split_once('.').ok_or_else(bad)?;
    if nanos.len() != 9 {
        return Err(bad());
    }
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let nanos: u32 = nanos.parse().map_err(|_| bad())?;
    DateTime::from_timestamp(secs, nanos).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use chrono::{FixedOffset, TimeZone};

    use super::*;

    #[test]
    fn envelope_round_trips() {
        let expiry = FixedOffset::west_opt(5 * 3600)
            .unwrap()
            .with_ymd_and_hms(2024, 6, 10, 7, 30, 0)
            .unwrap()
            .with_timezone(&Utc)
            + chrono::Duration::nanoseconds(123_456_789);
        for expiry in [
            None,
            Some(expiry),
            Some(DateTime::from_timestamp(-1, 1).unwrap()),
            Some(DateTime::<Utc>::MIN_UTC),
            Some(DateTime::<Utc>::MAX_UTC),
        ] {
            for value in [
                &b""[..],
                b"{\"a\":1}",
                b"line\nbreaks\n and spaces ",
                b"\xff\x00",
            ] {
                let stored = encode(value, expiry);
                assert_eq!(decode(&stored).unwrap(), Envelope { expiry, value });
            }
        }
        assert_eq!(
            encode(
                b"{}",
                Some(DateTime::from_timestamp(1_718_000_000, 5).unwrap())
            ),
            b"oxidex1 expiry=1718000000.000000005\n{}"
        );
        assert_eq!(encode(b"{}", None), b"oxidex1\n{}");
    }

    #[test]
    fn foreign_values_are_refused() {
        for bad in [
            &b""[..],
            b"{\"id\":\"dex\"}",
            b"oxidex2\n{}",
            b"oxidex1 expiry=12\n{}",
            b"oxidex1 expiry=x.000000000\n{}",
            b"oxidex1 expiry=99999999999999999.000000000\n{}",
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        // Unknown header fields are ignored.
        assert_eq!(
            decode(b"oxidex1 future=1\nv").unwrap(),
            Envelope {
                expiry: None,
                value: b"v"
            }
        );
    }

    #[test]
    fn kind_prefixes_never_overlap() {
        let layout = Layout::new("ns/");
        for a in RecordKind::ALL {
            let prefix = layout.kind_prefix(a);
            let end = prefix_end(&prefix);
            for b in RecordKind::ALL.into_iter().filter(|&b| b != a) {
                for key in ["", "x", "/", "\u{10ffff}", "a/b"] {
                    let other = layout.key(b, key);
                    assert!(
                        !(other.as_slice() >= prefix.as_slice() && other < end),
                        "{b:?} key {key:?} falls in {a:?}'s range"
                    );
                }
            }
            let own = layout.key(a, "\u{10ffff}/ÿ");
            assert!(own.as_slice() >= prefix.as_slice() && own < end);
        }
        assert_eq!(layout.key(RecordKind::Client, "a/b"), b"ns/client/a/b");
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"client/"), b"client0");
        assert_eq!(prefix_end(b"a\xff\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), b"\0");
        assert_eq!(prefix_end(b""), b"\0");
    }
}
