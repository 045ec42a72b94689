//! reference/security.md FZ-04: the JWS verifier never panics on arbitrary input, and accepts
//! nothing it was not given a valid signature for (random input never verifies).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use oxidex_core::jose::verify_compact;
use oxidex_core::model::Jwk;
use oxidex_core::signer::{SigningAlgorithm, generate_jwk};

fn keys() -> &'static [Jwk] {
    static KEYS: OnceLock<Vec<Jwk>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [SigningAlgorithm::Es256, SigningAlgorithm::Rs256]
            .into_iter()
            .filter_map(|alg| generate_jwk(alg).ok())
            .map(|k| k.public_key())
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let verified = verify_compact(token, keys(), &[SigningAlgorithm::Rs256, SigningAlgorithm::Es256]);
    assert!(verified.is_err(), "an unsigned input verified: {token:?}");
});
