//! Opening the store for a command.
//!
//! Read commands (`topics list`, `topics describe`, `consume` without a group) use the
//! library's read-only open ([`ReadOnlyStore`]): no lock, nothing written, so they work
//! beside an application that holds the store open. Commands that write (`topics create`,
//! `topics delete`, `produce`, `consume --group`, which commits, `maintain`, `perf`) open the
//! store as its owner, taking its lock. `dump` and `verify` never come here: they read the
//! files themselves, below the store's layer, to check what it would trust.

use std::path::Path;

use tidelog::config::StoreConfig;
use tidelog::store::{ReadOnlyStore, Store};

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

/// Fails unless `dir` is an existing directory: a command that only reads or changes a
/// store must not create one.
fn check_exists(dir: &Path) -> Result<(), CliError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(CliError::fail(format!(
            "{} is not a directory",
            dir.display()
        ))),
        Err(e) => Err(CliError::io("open the store", dir, &e)),
    }
}

/// Opens an existing store as its owner.
pub fn open_existing(dir: &Path) -> Result<Store, CliError> {
    check_exists(dir)?;
    Ok(Store::open(dir, config())?)
}

/// Opens an existing store read-only, beside its owner if it has one.
pub fn open_read_only(dir: &Path) -> Result<ReadOnlyStore, CliError> {
    check_exists(dir)?;
    Ok(ReadOnlyStore::open_with(dir, config())?)
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
