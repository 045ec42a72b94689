//! Token issuance against its bound: a bare ring signing loop beside the engine's minting of
//! an ID token plus an access token (two signatures), for RS256, ES256 and EdDSA. The ratio
//! `mint / (2 × bare)` is how close token issuance runs to the signing bound. Also: the same
//! minting with a signature that costs nothing (the assembly alone: claims, JSON, base64,
//! `at_hash`), and verification of an ID token through `jose::verify_compact`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]

use std::sync::Arc;

use divan::{Bencher, black_box};
use oxidex_core::clock::{Clock, SystemClock};
use oxidex_core::model::{Claims, Client};
use oxidex_core::oauth::tokens::{MintRequest, mint};
use oxidex_core::signer::{
    LocalSigner, LocalSignerConfig, Signer, SigningAlgorithm, SigningKey, generate_jwk,
    signing_key_from_jwk,
};
use oxidex_core::storage::Store;
use oxidex_storage::MemoryStorage;

fn main() {
    divan::main();
}

const ALGORITHMS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

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
fn bare_ring(bencher: Bencher, alg: &str) {
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
    } else if alg == "EdDSA" {
        let pair =
            ring::signature::Ed25519KeyPair::from_seed_and_public_key(&d(&jwk.d), &d(&jwk.x))
                .unwrap();
        bencher.bench_local(|| pair.sign(black_box(&INPUT)));
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

/// What every minting bench mints: Dex's example user with two groups.
struct Minting {
    store: Store,
    client: Client,
    claims: Claims,
    scopes: Vec<String>,
    now: chrono::DateTime<chrono::Utc>,
}

impl Minting {
    fn new() -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Self {
            store: Store::new(Arc::new(MemoryStorage::new())),
            client: Client {
                id: "example-app".into(),
                ..Client::default()
            },
            claims: Claims {
                user_id: "08a8684b-db88-4b73-90a9-3cd1661f5466".into(),
                username: "admin".into(),
                preferred_username: "admin".into(),
                email: "admin@example.com".into(),
                email_verified: true,
                groups: vec!["admins".into(), "developers".into()],
                auth_time: Some(clock.now()),
            },
            scopes: ["openid", "email", "profile", "groups"]
                .map(String::from)
                .to_vec(),
            now: clock.now(),
        }
    }

    async fn mint(&self, signer: &dyn Signer) {
        mint(
            signer,
            &self.store,
            "https://issuer.example/dex",
            chrono::Duration::hours(24),
            self.now,
            &MintRequest {
                client: &self.client,
                claims: &self.claims,
                scopes: &self.scopes,
                nonce: "n-0S6_WzA2Mj",
                connector_id: "local",
                code: Some("k5ybkbrfmhpq4wsqbyb3jwm6a"),
                id_token: true,
            },
        )
        .await
        .unwrap();
    }
}

#[divan::bench(args = ALGORITHMS)]
fn mint_id_and_access_token(bencher: Bencher, alg: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let minting = Minting::new();
    let signer = runtime
        .block_on(LocalSigner::open(
            minting.store.clone(),
            Arc::new(SystemClock),
            LocalSignerConfig {
                algorithm: algorithm(alg),
                ..LocalSignerConfig::default()
            },
        ))
        .unwrap();
    bencher.bench_local(|| runtime.block_on(minting.mint(&signer)));
}

/// A key whose signature costs nothing: what is left of minting is the assembly.
struct FreeSignature;

#[async_trait::async_trait]
impl SigningKey for FreeSignature {
    fn key_id(&self) -> &str {
        "free"
    }
    fn algorithm(&self) -> SigningAlgorithm {
        SigningAlgorithm::Es256
    }
    async fn sign(&self, _: &[u8]) -> oxidex_core::Result<Vec<u8>> {
        Ok(vec![0; 64])
    }
}

#[async_trait::async_trait]
impl Signer for FreeSignature {
    async fn signing_key(&self) -> oxidex_core::Result<Arc<dyn SigningKey>> {
        Ok(Arc::new(FreeSignature))
    }
    async fn validation_keys(&self) -> oxidex_core::Result<Vec<oxidex_core::model::Jwk>> {
        Ok(Vec::new())
    }
}

#[divan::bench]
fn mint_assembly_without_signing(bencher: Bencher) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let minting = Minting::new();
    bencher.bench_local(|| runtime.block_on(minting.mint(&FreeSignature)));
}

#[divan::bench(args = ALGORITHMS)]
fn verify_id_token(bencher: Bencher, alg: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let private = generate_jwk(algorithm(alg)).unwrap();
    let key = signing_key_from_jwk(&private).unwrap();
    let payload = br#"{"iss":"https://issuer.example/dex","sub":"CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs","aud":"example-app","exp":4102444800,"iat":1764000000,"email":"admin@example.com","email_verified":true,"groups":["admins","developers"],"name":"admin"}"#;
    let token = runtime
        .block_on(oxidex_core::jose::sign_compact(key.as_ref(), payload))
        .unwrap();
    let keys = [private.public_key()];
    bencher.bench_local(|| {
        oxidex_core::jose::verify_compact(black_box(&token), &keys, &SigningAlgorithm::ALL).unwrap()
    });
}
