//! Token issuance against its bound: a bare ring signing loop beside the engine's minting of
//! an ID token plus an access token (two signatures), for RS256 and ES256. The ratio
//! `mint / (2 × bare)` is how close token issuance runs to the signing bound.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]

use std::sync::Arc;

use divan::{Bencher, black_box};
use oxidex_core::clock::{Clock, SystemClock};
use oxidex_core::model::{Claims, Client};
use oxidex_core::oauth::tokens::{MintRequest, mint};
use oxidex_core::signer::{
    LocalSigner, LocalSignerConfig, Signer, SigningAlgorithm, generate_jwk, signing_key_from_jwk,
};
use oxidex_core::storage::Store;
use oxidex_storage::MemoryStorage;

fn main() {
    divan::main();
}

const ALGORITHMS: [&str; 2] = ["RS256", "ES256"];

fn algorithm(name: &str) -> SigningAlgorithm {
    SigningAlgorithm::from_name(name).unwrap()
}

/// 300 bytes, the size of a typical JWS signing input.
const INPUT: [u8; 300] = [b'a'; 300];

#[divan::bench(args = ALGORITHMS)]
fn bare_signature(bencher: Bencher, alg: &str) {
    // The same key loading path as the signer, then raw signing: the bound.
    let key = signing_key_from_jwk(&generate_jwk(algorithm(alg)).unwrap()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    bencher.bench_local(|| runtime.block_on(key.sign(black_box(&INPUT))).unwrap());
}

#[divan::bench(args = ALGORITHMS)]
fn bare_ring_rs256_or_es256(bencher: Bencher, alg: &str) {
    // ring directly, without our key wrapper.
    let jwk = generate_jwk(algorithm(alg)).unwrap();
    let rng = ring::rand::SystemRandom::new();
    let d = |v: &Option<String>| oxidex_core::jose::b64url_decode(v.as_deref().unwrap()).unwrap();
    if alg == "RS256" {
        let pair = ring::rsa::KeyPair::from_components(&ring::rsa::KeyPairComponents {
            public_key: ring::rsa::PublicKeyComponents {
                n: d(&jwk.n),
                e: d(&jwk.e),
            },
            d: d(&jwk.d),
            p: d(&jwk.p),
            q: d(&jwk.q),
            dP: d(&jwk.dp),
            dQ: d(&jwk.dq),
            qInv: d(&jwk.qi),
        })
        .unwrap();
        let mut sig = vec![0; pair.public().modulus_len()];
        bencher.bench_local(|| {
            pair.sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &rng,
                black_box(&INPUT),
                &mut sig,
            )
            .unwrap()
        });
    } else {
        let mut point = vec![4];
        point.extend(d(&jwk.x));
        point.extend(d(&jwk.y));
        let pair = ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &d(&jwk.d),
            &point,
            &rng,
        )
        .unwrap();
        bencher.bench_local(|| pair.sign(&rng, black_box(&INPUT)).unwrap());
    }
}

#[divan::bench(args = ALGORITHMS)]
fn mint_id_and_access_token(bencher: Bencher, alg: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let signer = runtime
        .block_on(LocalSigner::open(
            store.clone(),
            clock.clone(),
            LocalSignerConfig {
                algorithm: algorithm(alg),
                ..LocalSignerConfig::default()
            },
        ))
        .unwrap();
    let client = Client {
        id: "example-app".into(),
        ..Client::default()
    };
    let claims = Claims {
        user_id: "08a8684b-db88-4b73-90a9-3cd1661f5466".into(),
        username: "admin".into(),
        preferred_username: "admin".into(),
        email: "admin@example.com".into(),
        email_verified: true,
        groups: vec!["admins".into(), "developers".into()],
        auth_time: Some(clock.now()),
    };
    let scopes: Vec<String> = ["openid", "email", "profile", "groups"]
        .map(String::from)
        .to_vec();
    let now = clock.now();
    bencher.bench_local(|| {
        runtime
            .block_on(mint(
                &signer as &dyn Signer,
                &store,
                "https://issuer.example/dex",
                chrono::Duration::hours(24),
                now,
                &MintRequest {
                    client: &client,
                    claims: &claims,
                    scopes: &scopes,
                    nonce: "n-0S6_WzA2Mj",
                    connector_id: "local",
                    code: Some("k5ybkbrfmhpq4wsqbyb3jwm6a"),
                    id_token: true,
                },
            ))
            .unwrap()
    });
}
