//! reference/security.md FZ-10: decoding a presented refresh token or `sub` never panics, and
//! whatever decodes re-encodes to a value that decodes to the same parts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxidex_core::codec::{RefreshTokenValue, Subject};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(token) = RefreshTokenValue::decode(text) {
        assert_eq!(RefreshTokenValue::decode(&token.encode()), Some(token));
    }
    if let Some(subject) = Subject::decode(text) {
        assert_eq!(Subject::decode(&subject.encode()), Some(subject));
    }
});
