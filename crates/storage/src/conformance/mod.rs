//! The storage conformance kit: one suite that every [`Storage`] implementation must pass.
//!
//! It covers every case of Dex's storage conformance suite (`reference/dex.md` §5.6) and the
//! guarantees oxidex adds: compare-and-swap that never loses a write (two conflicting swaps,
//! exactly one wins; 100 concurrent refresh-token rotations, every one accounted for),
//! versions that are never reused after delete and re-create, single-use deletes, garbage
//! collection whatever the time zone, and no bearer secret in any stored byte.
//!
//! Each case runs on a fresh, empty store from your factory.
//!
//! ## Running it on your backend
//!
//! In an integration test of your crate (with `oxidex-storage` and its `conformance` feature as
//! a dev-dependency), one line generates one `#[test]` per case:
//!
//! ```
//! # use oxidex_storage::MemoryStorage as MyStorage;
//! oxidex_storage::storage_conformance_tests!(|| async { MyStorage::new() });
//! # fn main() {}
//! ```
//!
//! The factory returns anything that converts into a [`Fixture`]: your storage itself, or
//! [`Fixture::with_guard`] when something (a temporary directory, a test database) must live
//! as long as the case, or [`Fixture::skip`] when the backend is not available here (say, no
//! database server is configured): the case then prints why and returns without failing. To run the whole suite as a single test instead, call [`run_all`]:
//!
//! ```
//! use oxidex_storage::MemoryStorage;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let passed = oxidex_storage::conformance::run_all(|| async { MemoryStorage::new() })
//!     .await
//!     .unwrap_or_else(|failures| panic!("{failures:#?}"));
//! assert_eq!(passed, oxidex_storage::conformance::case_names().len());
//! # });
//! ```
//!
//! A failing case panics with the case name, the file and line of the failed check, and what
//! differed.

mod cases;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use oxidex_core::storage::{Storage, Store};

pub use cases::case_names;

/// A storage under test, and whatever must be kept alive with it.
pub struct Fixture {
    storage: Arc<dyn Storage>,
    _guard: Option<Box<dyn Any + Send>>,
    skipped: Option<String>,
}

impl Fixture {
    /// A storage with nothing else to keep alive.
    pub fn new(storage: impl Storage + 'static) -> Self {
        Self {
            storage: Arc::new(storage),
            _guard: None,
            skipped: None,
        }
    }

    /// A storage plus a guard dropped after the case (e.g. a `tempfile::TempDir`).
    pub fn with_guard(storage: impl Storage + 'static, guard: impl Any + Send) -> Self {
        Self {
            storage: Arc::new(storage),
            _guard: Some(Box::new(guard)),
            skipped: None,
        }
    }

    /// A storage already behind an `Arc`.
    pub fn from_arc(storage: Arc<dyn Storage>) -> Self {
        Self {
            storage,
            _guard: None,
            skipped: None,
        }
    }

    /// No storage to test, for a factory whose backend is unavailable (e.g. a database
    /// server that this environment does not provide): the case is not run, and says so on
    /// standard error with `reason`. [`run_case`] then returns `Ok`, and [`run_all`] does not
    /// count the case as passed.
    pub fn skip(reason: impl Into<String>) -> Self {
        Self {
            storage: Arc::new(crate::MemoryStorage::new()),
            _guard: None,
            skipped: Some(reason.into()),
        }
    }
}

impl<S: Storage + 'static> From<S> for Fixture {
    fn from(storage: S) -> Self {
        Fixture::new(storage)
    }
}

/// A failed check: which case, where, and what differed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The case's name.
    pub case: &'static str,
    /// `file:line` of the failed check in the kit.
    pub location: String,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "storage conformance case `{}` failed at {}: {}",
            self.case, self.location, self.message
        )
    }
}

impl std::error::Error for Failure {}

type CaseFuture = Pin<Box<dyn Future<Output = Result<(), cases::Check>> + Send>>;

/// One named case of the suite.
#[derive(Clone, Copy)]
pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) run: fn(Store) -> CaseFuture,
}

/// Runs the case called `name` on a fresh fixture.
pub async fn run_case<F, Fut, T>(name: &str, new_storage: F) -> Result<(), Failure>
where
    F: Fn() -> Fut,
    Fut: Future<Output = T>,
    T: Into<Fixture>,
{
    let Some(case) = cases::CASES.iter().find(|c| c.name == name) else {
        return Err(Failure {
            case: "unknown",
            location: String::new(),
            message: format!("no conformance case is called {name:?}"),
        });
    };
    run_one(case, new_storage).await.map(|_| ())
}

/// Runs `case` on a fresh fixture; `Ok(false)` if the fixture was [`Fixture::skip`].
async fn run_one<F, Fut, T>(case: &Case, new_storage: F) -> Result<bool, Failure>
where
    F: Fn() -> Fut,
    Fut: Future<Output = T>,
    T: Into<Fixture>,
{
    let fixture: Fixture = new_storage().await.into();
    if let Some(reason) = &fixture.skipped {
        eprintln!("SKIPPED storage conformance case `{}`: {reason}", case.name);
        return Ok(false);
    }
    let store = Store::new(fixture.storage.clone());
    let outcome = (case.run)(store).await;
    drop(fixture);
    outcome.map(|()| true).map_err(|check| Failure {
        case: case.name,
        location: check.location,
        message: check.message,
    })
}

/// Runs every case, each on a fresh fixture; returns how many passed (skipped cases are not
/// counted), or every failure.
pub async fn run_all<F, Fut, T>(new_storage: F) -> Result<usize, Vec<Failure>>
where
    F: Fn() -> Fut,
    Fut: Future<Output = T>,
    T: Into<Fixture>,
{
    let mut failures = Vec::new();
    let mut passed = 0;
    for case in cases::CASES {
        match run_one(case, &new_storage).await {
            Ok(true) => passed += 1,
            Ok(false) => {}
            Err(f) => failures.push(f),
        }
    }
    if failures.is_empty() {
        Ok(passed)
    } else {
        Err(failures)
    }
}

/// Runs one case on its own multi-threaded runtime and panics if it fails; what the
/// [`storage_conformance_tests!`](crate::storage_conformance_tests) tests call.
#[allow(
    clippy::panic,
    reason = "a failed conformance case must fail the calling #[test]"
)]
pub fn run_case_blocking<F, Fut, T>(name: &str, new_storage: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = T>,
    T: Into<Fixture>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("cannot start a tokio runtime for the conformance kit: {e}"),
    };
    if let Err(failure) = runtime.block_on(run_case(name, new_storage)) {
        panic!("{failure}");
    }
}

/// Generates one `#[test]` per conformance case, each on a fresh store from `$new_storage`
/// (a closure returning a future of something that converts into a [`Fixture`]).
#[macro_export]
macro_rules! storage_conformance_tests {
    ($new_storage:expr) => {
        $crate::__storage_conformance_case_list!(__storage_conformance_cases { $new_storage; });
    };
}

/// The one list of case names. Expands to `$crate::$callback!(prefix... name, name, ...)`, so
/// the kit's case table and the generated tests cannot drift apart.
#[doc(hidden)]
#[macro_export]
macro_rules! __storage_conformance_case_list {
    ($callback:ident { $($prefix:tt)* }) => {
        $crate::$callback!(
            $($prefix)*
            auth_request_crud,
            auth_code_crud,
            auth_code_delete_is_single_use,
            client_crud,
            refresh_token_crud,
            password_crud,
            offline_sessions_crud,
            connector_crud,
            keys_crud,
            keys_round_trip_usable,
            device_request_crud,
            device_token_crud,
            garbage_collection,
            garbage_collection_boundary,
            timezone_support,
            cas_conflict_exactly_one_wins,
            cas_version_not_reused_after_recreate,
            cas_on_missing_record,
            concurrent_refresh_rotations,
            concurrent_key_rotation_creates_once,
            update_error_aborts,
            update_cannot_change_key,
            kinds_are_separate,
            empty_store_lists_nothing,
            bearer_values_not_stored,
            large_and_unicode_values,
            invalid_keys_rejected,
        );
    };
}

/// Expands one `#[test]` per listed case.
#[doc(hidden)]
#[macro_export]
macro_rules! __storage_conformance_cases {
    ($new_storage:expr; $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::run_case_blocking(stringify!($case), $new_storage);
            }
        )+
    };
}
