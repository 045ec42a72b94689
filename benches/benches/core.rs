//! Hot vocabulary operations: hashing presented secrets, the `sub` and refresh-token codecs,
//! Dex ids; and bcrypt at the default cost, the bound of password logins.
#![allow(clippy::unwrap_used, reason = "benchmark setup")]

use divan::black_box;
use oxidex_core::codec::{RefreshTokenValue, Subject};
use oxidex_core::ids::new_id;
use oxidex_core::secret::TokenHash;

fn main() {
    divan::main();
}

#[divan::bench]
fn token_hash_of_secret() -> TokenHash {
    TokenHash::of(black_box("k5ybkbrfmhpq4wsqbyb3jwm6a"))
}

#[divan::bench]
fn token_hash_matches() -> bool {
    let hash = TokenHash::of("k5ybkbrfmhpq4wsqbyb3jwm6a");
    black_box(hash).matches(black_box("k5ybkbrfmhpq4wsqbyb3jwm6b"))
}

#[divan::bench]
fn subject_encode() -> String {
    Subject {
        user_id: black_box("08a8684b-db88-4b73-90a9-3cd1661f5466".into()),
        connector_id: black_box("local".into()),
    }
    .encode()
}

#[divan::bench]
fn refresh_token_decode() -> Option<RefreshTokenValue> {
    let encoded = RefreshTokenValue {
        id: "uhxmmqmb4u6q4cqprdadbabgm".into(),
        secret: "k5ybkbrfmhpq4wsqbyb3jwm6a".into(),
    }
    .encode();
    RefreshTokenValue::decode(black_box(&encoded))
}

#[divan::bench]
fn dex_new_id() -> String {
    new_id().unwrap()
}

/// A password check at Dex's default bcrypt cost (10, what `examples/config-dev.yaml` and
/// `htpasswd -B` write): the bound of whole password logins.
#[divan::bench(sample_count = 20)]
fn bcrypt_verify_cost_10(bencher: divan::Bencher) {
    let hash = bcrypt::hash("password", 10).unwrap();
    bencher.bench_local(|| bcrypt::verify(divan::black_box("password"), &hash).unwrap());
}
