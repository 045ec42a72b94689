//! Static-password hashes: bcrypt text, or (for old configs) standard base64 of bcrypt text.

/// Dex's example hash for the password `password` (`config.dev.yaml`, `examples/`).
pub const DEX_EXAMPLE_HASH: &str = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W";

/// The bcrypt costs Dex (and oxidex) accept at login.
const LOGIN_COSTS: std::ops::RangeInclusive<u32> = 10..=16;

/// Returns the bcrypt text of `hash`, decoding it first if it is base64, or says what is wrong.
pub(crate) fn bcrypt_text(hash: &str) -> Result<String, String> {
    let direct = check_bcrypt(hash);
    if direct.is_ok() {
        return direct.map(|()| hash.to_owned());
    }
    if let Some(text) = decode_std_base64(hash).and_then(|b| String::from_utf8(b).ok())
        && check_bcrypt(&text).is_ok()
    {
        return Ok(text);
    }
    direct.map(|()| hash.to_owned())
}

/// Checks the modular-crypt form `$2a$10$` + 53 characters, with a cost Dex logs in with.
fn check_bcrypt(hash: &str) -> Result<(), String> {
    let how = "generate one with e.g. `htpasswd -bnBC 10 \"\" PASSWORD | tr -d ':\\n'`";
    let malformed =
        || format!("`hash` is not a bcrypt hash (`$2a$10$` followed by 53 characters); {how}");
    let rest = hash.strip_prefix("$2").ok_or_else(malformed)?;
    let rest = match rest.as_bytes().first() {
        Some(b'a' | b'b' | b'x' | b'y') => &rest[1..],
        _ => rest,
    };
    let rest = rest.strip_prefix('$').ok_or_else(malformed)?;
    let (cost, digest) = rest.split_once('$').ok_or_else(malformed)?;
    if cost.len() != 2
        || digest.len() != 53
        || !digest
            .bytes()
            .all(|b| b == b'.' || b == b'/' || b.is_ascii_alphanumeric())
    {
        return Err(malformed());
    }
    let cost: u32 = cost.parse().map_err(|_| malformed())?;
    if !LOGIN_COSTS.contains(&cost) {
        return Err(format!(
            "the bcrypt cost is {cost}, but logins are refused unless it is between {} and {}; {how}",
            LOGIN_COSTS.start(),
            LOGIN_COSTS.end()
        ));
    }
    Ok(())
}

/// Go's `base64.StdEncoding.DecodeString`: standard alphabet, padding required.
fn decode_std_base64(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return None;
    }
    let padding = bytes.iter().rev().take_while(|b| **b == b'=').count();
    if padding > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in &bytes[..bytes.len() - padding] {
        let value = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    // Leftover bits must be zero, as Go's strict decoder requires.
    if buffer & ((1 << bits) - 1) != 0 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_bcrypt_text_and_its_base64() {
        assert_eq!(bcrypt_text(DEX_EXAMPLE_HASH).unwrap(), DEX_EXAMPLE_HASH);
        // base64 of the example hash, as older Dex configs carry it.
        let encoded =
            "JDJhJDEwJDJiMmNVOENQaE9UYUdyczFIUlF1QXVlUzdKVFQ1WkhzSFN6WWlGUG0xbGVaY2s3TWM4VDRX";
        assert_eq!(bcrypt_text(encoded).unwrap(), DEX_EXAMPLE_HASH);
        assert!(
            bcrypt_text("$2y$12$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W").is_ok()
        );
    }

    #[test]
    fn refuses_other_text_and_unusable_costs() {
        for bad in [
            "password",
            "",
            "$2a$10$short",
            "$1$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W",
            "$2a$1x$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W",
            "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4!",
            "cGFzc3dvcmQ=",
        ] {
            let error = bcrypt_text(bad).unwrap_err();
            assert!(error.contains("not a bcrypt hash"), "{bad}: {error}");
        }
        let error = bcrypt_text("$2a$04$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W")
            .unwrap_err();
        assert!(error.contains("cost is 4"), "{error}");
    }

    #[test]
    fn base64_is_strict() {
        assert_eq!(decode_std_base64("aGk=").unwrap(), b"hi");
        assert_eq!(decode_std_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_std_base64("aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(decode_std_base64("aGk"), None);
        assert_eq!(decode_std_base64("aGl="), None);
        assert_eq!(decode_std_base64("a-k="), None);
    }
}
