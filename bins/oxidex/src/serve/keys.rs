//! `oxidex keys rotate CONFIG`: ask every replica sharing the configured storage to rotate
//! the signing key now.
//!
//! Rotation is decided in storage, not in one process: this marks the stored key set as due,
//! and each running `oxidex serve` rotates at its next check (within 30 seconds, or at once on
//! `SIGUSR1`). The rotation itself is a compare-and-swap, so however many replicas notice,
//! exactly one new signing key results.

use oxidex_core::clock::{Clock, SystemClock};
use oxidex_core::model::SigningKeys;
use oxidex_core::storage::Store;

use crate::config::{self, Environment};

/// Exit code when the config cannot be loaded (as `serve`).
const EXIT_CONFIG: u8 = 2;

/// Marks the signing keys as due for rotation; returns the process exit code.
pub(crate) async fn rotate(path: &std::path::Path) -> u8 {
    let loaded = match config::load_file(path, &Environment::from_process()) {
        Ok(l) => l,
        Err(e) => {
            for line in e.errors() {
                eprintln!("{line}");
            }
            return EXIT_CONFIG;
        }
    };
    if loaded.config.storage == config::Storage::Memory {
        eprintln!(
            "oxidex: storage.type is memory: each process has its own keys; nothing to rotate"
        );
        return EXIT_CONFIG;
    }
    let backend = match super::assemble::open_backend(&loaded.config.storage).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("oxidex: {e}");
            return 1;
        }
    };
    let store = Store::new(backend);
    let now = SystemClock.now();
    let result = store
        .update::<SigningKeys, _>(SigningKeys::KEY, |mut keys| {
            keys.next_rotation = now;
            Ok(keys)
        })
        .await;
    match result {
        Ok(_) => {
            println!(
                "signing keys marked for rotation; every running oxidex rotates at its next key \
                 check (send SIGUSR1 to check at once), and exactly one new key results"
            );
            0
        }
        Err(e) if e.is_not_found() => {
            eprintln!(
                "oxidex: no signing keys in storage yet: start `oxidex serve` once to create them"
            );
            1
        }
        Err(e) => {
            eprintln!("oxidex: {e}");
            1
        }
    }
}
