//! The local signer against real storage: rotation, the next key published before use,
//! retired keys kept for one token lifetime, replicas agreeing on one key, restarts.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test setup")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use oxidex_core::clock::{Clock, ManualClock};
use oxidex_core::jose::{sign_compact, verify_compact};
use oxidex_core::signer::{
    LocalSigner, LocalSignerConfig, RotationOutcome, Signer, SigningAlgorithm,
};
use oxidex_core::storage::{RecordData, RecordKind, Storage, Store, StoredRecord, Version};
use oxidex_storage::{MemoryStorage, SqliteStorage};

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap()
}

fn config(algorithm: SigningAlgorithm) -> LocalSignerConfig {
    LocalSignerConfig {
        algorithm,
        rotation_period: Duration::hours(6),
        id_token_lifetime: Duration::hours(24),
    }
}

/// Counts reads, to prove signing does not touch storage.
#[derive(Debug)]
struct CountingStorage {
    inner: MemoryStorage,
    gets: AtomicUsize,
}

#[async_trait]
impl Storage for CountingStorage {
    async fn create(
        &self,
        k: RecordKind,
        key: &str,
        d: RecordData,
    ) -> oxidex_core::Result<Version> {
        self.inner.create(k, key, d).await
    }
    async fn get(&self, k: RecordKind, key: &str) -> oxidex_core::Result<StoredRecord> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(k, key).await
    }
    async fn list(&self, k: RecordKind) -> oxidex_core::Result<Vec<StoredRecord>> {
        self.inner.list(k).await
    }
    async fn compare_and_swap(
        &self,
        k: RecordKind,
        key: &str,
        v: Version,
        d: RecordData,
    ) -> oxidex_core::Result<Version> {
        self.inner.compare_and_swap(k, key, v, d).await
    }
    async fn delete(&self, k: RecordKind, key: &str) -> oxidex_core::Result<()> {
        self.inner.delete(k, key).await
    }
    async fn delete_expired(&self, k: RecordKind, now: DateTime<Utc>) -> oxidex_core::Result<u64> {
        self.inner.delete_expired(k, now).await
    }
}

async fn sign(signer: &LocalSigner) -> String {
    let key = signer.signing_key().await.unwrap();
    sign_compact(key.as_ref(), br#"{"sub":"x"}"#).await.unwrap()
}

async fn verifies(signer: &LocalSigner, token: &str) -> bool {
    let keys = signer.validation_keys().await.unwrap();
    verify_compact(
        token,
        &keys,
        &[SigningAlgorithm::Rs256, SigningAlgorithm::Es256],
    )
    .is_ok()
}

async fn signing_kid(signer: &LocalSigner) -> String {
    signer.signing_key().await.unwrap().key_id().to_owned()
}

#[tokio::test]
async fn first_start_publishes_signing_and_next_key_without_storage_reads_per_signature() {
    let backend = Arc::new(CountingStorage {
        inner: MemoryStorage::new(),
        gets: AtomicUsize::new(0),
    });
    let store = Store::new(backend.clone());
    let clock = Arc::new(ManualClock::new(start()));
    let signer = LocalSigner::open(
        store.clone(),
        clock.clone(),
        config(SigningAlgorithm::Rs256),
    )
    .await
    .unwrap();
    let published = signer.validation_keys().await.unwrap();
    assert_eq!(published.len(), 2, "signing key and next key");
    assert!(published.iter().all(|k| !k.is_private()));
    assert!(
        published
            .iter()
            .all(|k| k.alg == "RS256" && k.key_use == "sig")
    );
    assert_eq!(published[0].kid, signing_kid(&signer).await);
    assert_eq!(signer.next_rotation(), start() + Duration::hours(6));

    let reads = backend.gets.load(Ordering::SeqCst);
    for _ in 0..20 {
        let token = sign(&signer).await;
        assert!(verifies(&signer, &token).await);
    }
    clock.advance(Duration::hours(5));
    assert_eq!(signer.tick().await.unwrap(), RotationOutcome::NotDue);
    assert_eq!(
        backend.gets.load(Ordering::SeqCst),
        reads,
        "no storage reads"
    );
}

#[tokio::test]
async fn rotation_promotes_the_published_key_and_keeps_the_retired_one_for_a_token_lifetime() {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let clock = Arc::new(ManualClock::new(start()));
    let signer = LocalSigner::open(store, clock.clone(), config(SigningAlgorithm::Rs256))
        .await
        .unwrap();
    let first = signing_kid(&signer).await;
    let next = signer.validation_keys().await.unwrap()[1].kid.clone();
    let old_token = sign(&signer).await;

    clock.advance(Duration::hours(6));
    assert_eq!(signer.tick().await.unwrap(), RotationOutcome::Rotated);
    assert_eq!(
        signing_kid(&signer).await,
        next,
        "the key published in advance now signs"
    );
    let kids: Vec<String> = signer
        .validation_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids.len(), 3);
    assert!(kids.contains(&first), "retired key still published");
    assert!(
        verifies(&signer, &old_token).await,
        "outstanding tokens still verify"
    );

    // Past the retired key's token lifetime, the following rotation drops it.
    clock.advance(Duration::hours(25));
    assert_eq!(signer.tick().await.unwrap(), RotationOutcome::Rotated);
    let kids: Vec<String> = signer
        .validation_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert!(!kids.contains(&first), "expired verification key removed");
    assert!(!verifies(&signer, &old_token).await);
}

#[tokio::test]
async fn replicas_racing_to_rotate_produce_exactly_one_key() {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let clock = Arc::new(ManualClock::new(start()));
    let mut signers = Vec::new();
    for _ in 0..4 {
        signers.push(Arc::new(
            LocalSigner::open(
                store.clone(),
                clock.clone(),
                config(SigningAlgorithm::Es256),
            )
            .await
            .unwrap(),
        ));
    }
    let first = signing_kid(&signers[0]).await;
    for s in &signers {
        assert_eq!(signing_kid(s).await, first, "replicas start on one key");
    }

    clock.advance(Duration::hours(7));
    let tasks: Vec<_> = signers
        .iter()
        .map(|s| {
            let s = s.clone();
            tokio::spawn(async move { s.tick().await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == RotationOutcome::Rotated)
            .count(),
        1,
        "{outcomes:?}"
    );
    let kid = signing_kid(&signers[0]).await;
    assert_ne!(kid, first);
    for s in &signers {
        assert_eq!(signing_kid(s).await, kid);
        assert_eq!(
            s.validation_keys().await.unwrap(),
            signers[0].validation_keys().await.unwrap(),
            "every replica publishes the same keys"
        );
    }
}

#[tokio::test]
async fn forced_rotation_on_every_replica_at_once_yields_one_new_key() {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let clock = Arc::new(ManualClock::new(start()));
    let a = Arc::new(
        LocalSigner::open(
            store.clone(),
            clock.clone(),
            config(SigningAlgorithm::Es256),
        )
        .await
        .unwrap(),
    );
    let b = Arc::new(
        LocalSigner::open(
            store.clone(),
            clock.clone(),
            config(SigningAlgorithm::Es256),
        )
        .await
        .unwrap(),
    );
    let before = signing_kid(&a).await;
    clock.advance(Duration::minutes(1));
    let (ra, rb) = tokio::join!(a.force_rotation(), b.force_rotation());
    let outcomes = [ra.unwrap(), rb.unwrap()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == RotationOutcome::Rotated)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_ne!(signing_kid(&a).await, before);
    assert_eq!(signing_kid(&a).await, signing_kid(&b).await);
}

#[tokio::test]
async fn keys_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.db");
    let clock = Arc::new(ManualClock::new(start()));
    let sqlite = SqliteStorage::open(&file).await.unwrap();
    let signer = LocalSigner::open(
        Store::new(Arc::new(sqlite.clone())),
        clock.clone(),
        config(SigningAlgorithm::Rs256),
    )
    .await
    .unwrap();
    let kid = signing_kid(&signer).await;
    let token = sign(&signer).await;
    sqlite.close().await;
    drop(signer);

    clock.advance(Duration::hours(1));
    let reopened = LocalSigner::open(
        Store::new(Arc::new(SqliteStorage::open(&file).await.unwrap())),
        clock,
        config(SigningAlgorithm::Rs256),
    )
    .await
    .unwrap();
    assert_eq!(signing_kid(&reopened).await, kid, "same key after restart");
    assert!(verifies(&reopened, &token).await);
}

#[tokio::test]
async fn algorithm_change_applies_at_the_next_rotation() {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let clock = Arc::new(ManualClock::new(start()));
    let rs = LocalSigner::open(
        store.clone(),
        clock.clone(),
        config(SigningAlgorithm::Rs256),
    )
    .await
    .unwrap();
    assert_eq!(
        rs.signing_key().await.unwrap().algorithm(),
        SigningAlgorithm::Rs256
    );
    // Restarted with ES256 before the keys are due: keeps signing RS256 until rotation.
    let es = LocalSigner::open(store, clock.clone(), config(SigningAlgorithm::Es256))
        .await
        .unwrap();
    assert_eq!(
        es.signing_key().await.unwrap().algorithm(),
        SigningAlgorithm::Rs256
    );
    clock.advance(Duration::hours(6));
    assert_eq!(es.tick().await.unwrap(), RotationOutcome::Rotated);
    assert_eq!(
        es.signing_key().await.unwrap().algorithm(),
        SigningAlgorithm::Es256
    );
    let algs: Vec<String> = es
        .validation_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.alg)
        .collect();
    assert_eq!(algs, ["ES256", "ES256", "RS256"], "signing, next, retired");
}

#[tokio::test]
async fn zero_rotation_period_is_refused() {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let clock = Arc::new(ManualClock::new(start()));
    let mut bad = config(SigningAlgorithm::Rs256);
    bad.rotation_period = Duration::zero();
    let err = LocalSigner::open(store, clock, bad).await.unwrap_err();
    assert!(err.to_string().contains("keysRotationPeriod"), "{err}");
}

/// An API server caches `/keys` for the `max-age` it was given; across several rotations,
/// every token signed while such a cached copy is still fresh verifies against that copy
/// (the next key is published before it signs, and max-age never outlasts it).
#[tokio::test]
async fn a_cached_key_set_verifies_every_token_while_it_is_fresh() {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let clock = Arc::new(ManualClock::new(start()));
    let period = Duration::hours(1);
    let signer = LocalSigner::open(
        store,
        clock.clone(),
        LocalSignerConfig {
            algorithm: SigningAlgorithm::Es256,
            rotation_period: period,
            id_token_lifetime: Duration::hours(1),
        },
    )
    .await
    .unwrap();
    // Every minute over three rotations: (fetched at, keys, max-age) and (signed at, token),
    // with the rotation check running at each step as `serve` runs it. A copy fetched in the
    // last two minutes before a rotation gets the two-minute floor and meets tokens of the
    // key that was next when it was fetched.
    let step = Duration::minutes(1);
    let mut caches = Vec::new();
    let mut tokens = Vec::new();
    for _ in 0..(3 * 60 + 1) {
        signer.tick().await.unwrap();
        let now = clock.now();
        let max_age = Duration::from_std(signer.key_set_max_age()).unwrap();
        assert!(
            max_age >= Duration::minutes(2) && max_age <= period,
            "{max_age}"
        );
        caches.push((now, signer.validation_keys().await.unwrap(), max_age));
        tokens.push((now, sign(&signer).await));
        clock.advance(step);
    }
    let mut checked = 0;
    let mut across_a_rotation = 0;
    for (fetched, keys, max_age) in &caches {
        for (signed, token) in &tokens {
            if signed < fetched || *signed >= *fetched + *max_age {
                continue;
            }
            let verified = verify_compact(token, keys, &SigningAlgorithm::ALL);
            assert!(
                verified.is_ok(),
                "a key set fetched at {fetched} (max-age {max_age}) misses the token of {signed}"
            );
            checked += 1;
            let kid_of = |t: &str| {
                let header = t.split('.').next().unwrap();
                let bytes = oxidex_core::jose::b64url_decode(header).unwrap();
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["kid"].clone()
            };
            if keys.first().map(|k| serde_json::json!(k.kid)) != Some(kid_of(token)) {
                across_a_rotation += 1;
            }
        }
    }
    assert!(checked > 100, "{checked}");
    assert!(
        across_a_rotation > 0,
        "some cached copies met tokens of the key that was next when they were fetched"
    );
}
