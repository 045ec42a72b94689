//! reference/security.md FZ-11: a storage key is accepted only if it is 1..=512 bytes without
//! control characters; token hashes parse only from their own 43-character form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxidex_core::secret::TokenHash;
use oxidex_core::storage::{MAX_KEY_LEN, RecordKind, validate_key};

fuzz_target!(|data: &[u8]| {
    let Ok(key) = std::str::from_utf8(data) else {
        return;
    };
    let accepted = validate_key(RecordKind::Client, key).is_ok();
    let expected = !key.is_empty() && key.len() <= MAX_KEY_LEN && !key.chars().any(char::is_control);
    assert_eq!(accepted, expected, "{key:?}");
    if let Some(hash) = TokenHash::from_key(key) {
        assert_eq!(hash.to_key(), key);
    }
});
