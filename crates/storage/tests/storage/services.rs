//! External services (database servers, etcd) for the networked backends' tests: where to
//! find them, what to do when they are absent, and checks every networked backend shares.
//!
//! A test that needs a server asks [`service_url`] for its URL. When the variable is unset the
//! test prints a loud `SKIPPED` line and passes, so `cargo test` works on a laptop without
//! servers; CI sets `OXIDEX_TEST_REQUIRE_SERVICES=1`, which turns a missing variable into a
//! failure so nothing is skipped silently there.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use oxidex_core::storage::{RecordData, RecordKind, Storage, Version};

/// The variable that makes a missing service a failure instead of a skip.
const REQUIRE_VAR: &str = "OXIDEX_TEST_REQUIRE_SERVICES";

/// The URL of a test service from the environment variable `var`, or `None` (after printing
/// `SKIPPED (set VAR=example)`) when it is unset. Panics instead of skipping when
/// `OXIDEX_TEST_REQUIRE_SERVICES=1`.
pub(crate) fn service_url(var: &str, example: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ => {
            assert!(
                std::env::var(REQUIRE_VAR).as_deref() != Ok("1"),
                "{var} is not set, but {REQUIRE_VAR}=1 requires every service test to run: set {var}={example}"
            );
            eprintln!("SKIPPED (set {var}={example} to run this test against a real server)");
            None
        }
    }
}

/// A name no other test, run or process has used: `<prefix><16 hex digits>`.
pub(crate) fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // `RandomState` is seeded from the operating system's randomness.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{prefix}{:016x}", hasher.finish())
}

/// The password in a `scheme://user:password@host/...` URL, if any (not percent-decoded).
pub(crate) fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    userinfo.split_once(':').map(|(_, p)| p.to_owned())
}

/// Runs `work` to completion on a thread of its own with its own runtime, and waits for it:
/// for clean-up in `Drop`, which cannot be async and may run inside another runtime.
pub(crate) fn block_on_own_thread<F, Fut>(work: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let handle = std::thread::spawn(move || {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(work()),
            Err(e) => eprintln!("cannot start a runtime for clean-up: {e}"),
        }
    });
    if handle.join().is_err() {
        eprintln!("test clean-up panicked");
    }
}

/// Asserts that a connection error message contains every one of `expected` and not
/// `password`.
pub(crate) fn assert_connect_error(err: &oxidex_core::Error, expected: &[&str], password: &str) {
    let message = err.to_string();
    eprintln!("the error reads: {message}");
    for part in expected {
        assert!(
            message.contains(part),
            "expected {part:?} in the error: {message}"
        );
    }
    // The whole chain, including the driver's own errors.
    let mut chain = format!("{err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        chain.push_str(&s.to_string());
        source = s.source();
    }
    assert!(
        !password.is_empty() && !chain.contains(password),
        "the password leaked into the error: {chain}"
    );
}

fn data(value: &str) -> RecordData {
    RecordData {
        value: value.as_bytes().to_vec(),
        expiry: None,
    }
}

/// Two "processes" (`a` and `b`, separate pools on one database) race: per round, 50
/// compare-and-swaps from the same version, half through each; exactly one must win, and the
/// stored record must be the winner's. Then 20 deletes of one record: exactly one succeeds.
pub(crate) async fn check_cas_race_across_pools(a: Arc<dyn Storage>, b: Arc<dyn Storage>) {
    let kind = RecordKind::RefreshToken;
    let key = "contested";
    let mut version = a.create(kind, key, data("initial")).await.unwrap();
    for round in 0..5 {
        let mut tasks = tokio::task::JoinSet::new();
        for writer in 0..50 {
            let storage = if writer % 2 == 0 {
                a.clone()
            } else {
                b.clone()
            };
            let value = format!("round {round} writer {writer}");
            tasks.spawn(async move {
                let result = storage
                    .compare_and_swap(kind, key, version, data(&value))
                    .await;
                (value, result)
            });
        }
        let mut winners: Vec<(String, Version)> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (value, result) = joined.unwrap();
            match result {
                Ok(new_version) => winners.push((value, new_version)),
                Err(e) => assert!(
                    e.is_conflict(),
                    "round {round}: a loser must see Conflict: {e}"
                ),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one winner, got {winners:?}"
        );
        let (value, new_version) = winners.remove(0);
        assert_ne!(
            new_version, version,
            "round {round}: the version must change"
        );
        let stored = b.get(kind, key).await.unwrap();
        assert_eq!(
            stored.value,
            value.as_bytes(),
            "round {round}: the winner's value is stored"
        );
        assert_eq!(stored.version, new_version, "round {round}");
        version = new_version;
    }

    let mut tasks = tokio::task::JoinSet::new();
    for deleter in 0..20 {
        let storage = if deleter % 2 == 0 {
            a.clone()
        } else {
            b.clone()
        };
        tasks.spawn(async move { storage.delete(kind, key).await });
    }
    let mut deleted = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            Ok(()) => deleted += 1,
            Err(e) => assert!(e.is_not_found(), "a losing delete must see NotFound: {e}"),
        }
    }
    assert_eq!(deleted, 1, "exactly one delete succeeds");
}

/// Keys are exact byte strings: keys differing only in case, or in Unicode normalisation, are
/// different records, and a 512-byte key of 4-byte characters round-trips.
pub(crate) async fn check_keys_are_exact(storage: &dyn Storage) {
    let kind = RecordKind::Client;
    let longest = "𝄞".repeat(128);
    assert_eq!(longest.len(), oxidex_core::storage::MAX_KEY_LEN);
    let keys = [
        "App",
        "app",
        "APP",
        "caf\u{e9}",
        "cafe\u{301}",
        "trailing ",
        longest.as_str(),
    ];
    for key in keys {
        storage.create(kind, key, data(key)).await.unwrap();
    }
    for key in keys {
        let stored = storage.get(kind, key).await.unwrap();
        assert_eq!(stored.key, key);
        assert_eq!(
            stored.value,
            key.as_bytes(),
            "the value stored under {key:?}"
        );
    }
    let err = storage.get(kind, "aPp").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = storage.get(kind, "trailing").await.unwrap_err();
    assert!(err.is_not_found(), "trailing spaces matter: {err}");
    let mut listed: Vec<String> = storage
        .list(kind)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    listed.sort();
    let mut expected: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    expected.sort();
    assert_eq!(listed, expected);
}
