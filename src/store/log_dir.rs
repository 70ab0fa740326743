//! Kafka's log-directory files at the store root: recovery points, log start offsets and
//! the clean-shutdown marker.

use std::collections::HashMap;
use std::path::Path;

use crate::checkpoint::{
    write_atomically, OffsetCheckpoint, OffsetEntry, LOG_START_OFFSET_CHECKPOINT_FILE,
    RECOVERY_POINT_CHECKPOINT_FILE,
};
use crate::error::Result;
use crate::io::{OpenMode, Storage, StorageFile};

/// Kafka's clean-shutdown marker (`CleanShutdownFileHandler`).
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";

/// `(topic, partition) → offset`.
pub(crate) type OffsetMap = HashMap<(String, i32), i64>;

pub(crate) fn read_offsets<S: Storage>(storage: &S, dir: &Path, file: &str) -> Result<OffsetMap> {
    let cp = OffsetCheckpoint::new(dir.join(file));
    let entries = match cp.read(storage) {
        Ok(e) => e.unwrap_or_default(),
        Err(e) => {
            // A damaged checkpoint only costs a longer recovery: treat it as absent.
            log::warn!("{e}: ignoring it, partitions recover from their first segment");
            Vec::new()
        }
    };
    Ok(entries
        .into_iter()
        .map(|e| ((e.topic, e.partition), e.offset))
        .collect())
}

pub(crate) fn write_offsets<S: Storage>(
    storage: &S,
    dir: &Path,
    file: &str,
    offsets: &OffsetMap,
) -> Result<()> {
    let mut entries: Vec<OffsetEntry> = offsets
        .iter()
        .map(|((topic, partition), &offset)| OffsetEntry {
            topic: topic.clone(),
            partition: *partition,
            offset,
        })
        .collect();
    entries.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    OffsetCheckpoint::new(dir.join(file)).write(storage, &entries)
}

pub(crate) fn read_recovery_points<S: Storage>(storage: &S, dir: &Path) -> Result<OffsetMap> {
    read_offsets(storage, dir, RECOVERY_POINT_CHECKPOINT_FILE)
}

pub(crate) fn read_log_starts<S: Storage>(storage: &S, dir: &Path) -> Result<OffsetMap> {
    read_offsets(storage, dir, LOG_START_OFFSET_CHECKPOINT_FILE)
}

/// Writes the marker that tells the next open to skip recovery: after the last fsync.
pub(crate) fn write_clean_shutdown<S: Storage>(storage: &S, dir: &Path) -> Result<()> {
    // Kafka 3.7+ writes JSON with the broker epoch; -1 is "none", as readers expect.
    write_atomically(
        storage,
        &dir.join(CLEAN_SHUTDOWN_FILE),
        br#"{"version":0,"brokerEpoch":-1}"#,
    )
}

/// The clean-shutdown marker's bytes, if it is there (Kafka's JSON, or empty from older
/// brokers), so an open that fails can put it back as it was.
pub(crate) fn read_clean_shutdown<S: Storage>(storage: &S, dir: &Path) -> Result<Option<Vec<u8>>> {
    let path = dir.join(CLEAN_SHUTDOWN_FILE);
    if !storage.exists(&path)? {
        return Ok(None);
    }
    let file = storage.open(&path, OpenMode::ReadOnly)?;
    // Kafka's marker is a few dozen bytes; anything longer is not one worth keeping whole.
    let len = file.size()?.min(4096) as usize;
    let mut bytes = vec![0; len];
    file.read_exact_at(&mut bytes, 0)?;
    Ok(Some(bytes))
}

/// Puts the clean-shutdown marker back with `bytes` (atomically).
pub(crate) fn restore_clean_shutdown<S: Storage>(
    storage: &S,
    dir: &Path,
    bytes: &[u8],
) -> Result<()> {
    write_atomically(storage, &dir.join(CLEAN_SHUTDOWN_FILE), bytes)
}
