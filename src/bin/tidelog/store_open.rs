//! Opening the store for a command.
//!
//! The library has no read-only open yet, so read commands (`topics list`, `topics
//! describe`, `consume` without a group) open the store as its owner: they take its lock
//! (and fail with "locked" while an application holds it), and the open recovers what a
//! crash left, as any owner's open does. `dump` and `verify` never come here: they read the
//! files themselves.

use std::path::Path;

use tidelog::config::StoreConfig;
use tidelog::store::Store;

use crate::CliError;

/// A store config for one command: maintenance by explicit calls only, and every interval
/// zero so that one `maintain` pass does all that is due.
pub fn config() -> StoreConfig {
    StoreConfig {
        background_maintenance: false,
        retention_check_interval_ms: 0,
        flush_offset_checkpoint_interval_ms: 0,
        flush_start_offset_checkpoint_interval_ms: 0,
        ..StoreConfig::default()
    }
}

/// Opens an existing store.
pub fn open_existing(dir: &Path) -> Result<Store, CliError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(CliError::fail(format!(
                "{} is not a directory",
                dir.display()
            )))
        }
        Err(e) => return Err(CliError::io("open the store", dir, &e)),
    }
    Ok(Store::open(dir, config())?)
}

/// Opens the store in `dir`, creating it if missing.
pub fn open_or_create(dir: &Path) -> Result<Store, CliError> {
    Ok(Store::open(dir, config())?)
}

/// Runs `f` on the open store, then closes it cleanly whatever `f` returned.
pub fn with_store<T>(
    store: Store,
    f: impl FnOnce(&Store) -> Result<T, CliError>,
) -> Result<T, CliError> {
    let result = f(&store);
    let closed = store.close();
    let value = result?;
    closed?;
    Ok(value)
}
