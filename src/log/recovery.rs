//! Opening a log: tidying leftover files, loading segments, and recovery by the one rule of
//! `DESIGN.md` section 5.
//!
//! - After a clean shutdown nothing is scanned: each segment's end is found by walking batch
//!   headers from its last index entry (the tail only).
//! - After a crash, every segment from the one holding the recovery point on is scanned
//!   (framing and CRC of every batch) and its indexes rebuilt. The log is cut at the first
//!   invalid batch past the recovery point: that data was never promised durable. The cut is
//!   logged and reported in [`RecoveryReport`].
//! - An invalid batch below the recovery point is corruption of fsynced data:
//!   [`Error::Corrupt`], unless repair was asked for, which cuts there and reports it.
//! - With no recovery point the log cannot tell a torn tail from damage, so it scans every
//!   segment and cuts only inside the last one; damage elsewhere is [`Error::Corrupt`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};

use super::leader_epoch::LeaderEpochCache;
use super::log::{Log, Writer};
use super::options::{LogOpenOptions, RecoveryCut, RecoveryReport};
use crate::checkpoint::{LeaderEpochCheckpoint, LEADER_EPOCH_CHECKPOINT_FILE};
use crate::config::LogConfig;
use crate::error::{Corruption, Error, Result};
use crate::io::{StdFs, Storage};
use crate::segment::{FileKind, FileSuffix, LogSegment, SegmentFileName};

impl Log<StdFs> {
    /// Opens the partition directory `dir` on the real file system, creating it if missing.
    ///
    /// # Errors
    /// See [`open_with`](Log::open_with).
    pub fn open(dir: impl AsRef<Path>, config: LogConfig, options: LogOpenOptions) -> Result<Self> {
        Log::open_with(StdFs, dir, config, options)
    }
}

impl<S: Storage> Log<S> {
    /// Opens (or creates) the partition directory `dir` through `storage`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`]; [`Error::Corrupt`] for damage below the recovery point
    /// (without repair); [`Error::InvalidLayout`] for segments that overlap; I/O errors.
    pub fn open_with(
        storage: S,
        dir: impl AsRef<Path>,
        config: LogConfig,
        options: LogOpenOptions,
    ) -> Result<Self> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        storage.create_dir_all(&dir)?;
        let mut report = RecoveryReport {
            clean: options.clean_shutdown,
            ..Default::default()
        };
        let bases = tidy_directory(&storage, &dir, &mut report)?;
        let now = options.clock.now_ms();
        let seg_config = Self::segment_config(&config);
        let mut segments = Vec::with_capacity(bases.len());
        for &base in &bases {
            let (segment, missing_index) =
                LogSegment::open(&storage, &dir, base, seg_config, now, true)?;
            segments.push((Arc::new(segment), missing_index));
        }
        let epochs_file = LeaderEpochCheckpoint::new(dir.join(LEADER_EPOCH_CHECKPOINT_FILE));
        // A missing or unreadable checkpoint says nothing of the epochs in the log: rebuilt
        // from it below, or the next epoch could be one the log already holds.
        // The epoch checkpoint's first start offset as written: tidelog moves it with every
        // raise of the log start, durably, so it bounds a damaged log-start checkpoint.
        let mut epochs_start = None;
        let (mut epochs, mut epochs_suspect) = match epochs_file.read(&storage) {
            Ok(Some(entries)) => {
                let cache = LeaderEpochCache::new(entries);
                epochs_start = cache.entries().first().map(|e| e.start_offset);
                (cache, false)
            }
            Ok(None) => (LeaderEpochCache::default(), true),
            Err(e) => {
                log::warn!("{e}: rebuilding the leader-epoch cache from the log");
                (LeaderEpochCache::default(), true)
            }
        };
        let kept = load_segments(
            &storage,
            &options,
            segments,
            &mut report,
            &mut epochs,
            &mut epochs_suspect,
            !config.contiguous_offsets(),
        )?;
        let mut kept = kept;
        let last_epoch = last_batch_epoch(&kept)?;
        if last_epoch.is_some_and(|e| epochs.latest_epoch().is_none_or(|l| l < e)) {
            epochs_suspect = true;
        }
        let mut epochs_rebuilt = false;
        if epochs_suspect && kept.iter().any(|s| s.size() > 0) {
            epochs = rebuild_epochs(&kept)?;
            report.epochs_rebuilt = true;
            epochs_rebuilt = true;
        }
        if kept.is_empty() {
            let base = options.log_start_offset.unwrap_or(0).max(0);
            kept.push(Arc::new(LogSegment::create(
                &storage, &dir, base, seg_config, now,
            )?));
        }
        let first_base = kept.first().map_or(0, |s| s.base_offset());
        let end = kept.last().map_or(0, |s| s.next_offset());
        let mut log_start = options
            .log_start_offset
            .unwrap_or(first_base)
            .max(first_base)
            .min(end);
        // Kafka's log-start checkpoint has no checksum: a damaged digit could move the start
        // up, hiding acknowledged records (and letting retention delete them). The epoch
        // checkpoint, written with every raise of the start, never starts above it; where it
        // does, take its start: at worst records deleted with `delete_records_before`
        // become readable again, never records lost.
        if let Some(epoch_start) = epochs_start.filter(|&e| e >= first_base && e < log_start) {
            log::warn!(
                "{}: the log-start checkpoint says {log_start}, the leader-epoch checkpoint \
                 {epoch_start}: taking {epoch_start}",
                dir.display()
            );
            log_start = epoch_start;
        }
        let mut durable = if options.clean_shutdown {
            end
        } else {
            options.recovery_point.unwrap_or(first_base)
        };
        if durable > end {
            log::warn!(
                "{}: recovery point {durable} is past the log end {end}; lowering it",
                dir.display()
            );
            report.recovery_point_clamped = true;
            durable = end;
        }
        let epochs_changed =
            epochs.truncate_from_end(end) | epochs.truncate_from_start(log_start) | epochs_rebuilt;
        // A new epoch after every unclean open, so a follower can tell this log's history
        // apart from the one it had before the crash.
        let latest = epochs.latest_epoch().unwrap_or(-1);
        let leader_epoch = if options.clean_shutdown {
            latest.max(0)
        } else {
            latest + 1
        };
        let config = Arc::new(config);
        let log = Log {
            dir,
            storage,
            config: RwLock::new(Arc::clone(&config)),
            config_gen: std::sync::atomic::AtomicU64::new(0),
            clock: options.clock,
            segments_gen: std::sync::atomic::AtomicU64::new(0),
            truncations: std::sync::atomic::AtomicU64::new(0),
            cutting: Mutex::new(()),
            pending_deletes: Mutex::new(Vec::new()),
            segments: RwLock::new(Arc::new(kept)),
            writer: Mutex::new(Writer::new(leader_epoch, epochs, config)),
            flush_lock: Mutex::new(()),
            end_offset: AtomicI64::new(end),
            log_start_offset: AtomicI64::new(log_start),
            durable_offset: AtomicI64::new(durable),
            dir_dirty: AtomicBool::new(true),
            unflushed_messages: AtomicI64::new(0),
            first_unflushed_ms: AtomicI64::new(i64::MIN),
            poison: Mutex::new(None),
            is_poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
            wake: (Mutex::new(()), Condvar::new()),
            signal: std::sync::OnceLock::new(),
            report,
            counters: Default::default(),
            read_only: false,
        };
        if epochs_changed {
            let w = log.writer.lock();
            log.write_epoch_checkpoint(&w.epochs)?;
        }
        Ok(log)
    }
}

/// Removes leftovers as Kafka's `LogLoader` does and returns the base offsets of the
/// segments to load, in order.
fn tidy_directory<S: Storage>(
    storage: &S,
    dir: &Path,
    report: &mut RecoveryReport,
) -> Result<Vec<i64>> {
    let mut logs = BTreeMap::new();
    let mut indexes = Vec::new();
    let mut cleaned_min = i64::MAX;
    let mut swaps = Vec::new();
    let mut remove = Vec::new();
    for name in storage.read_dir(dir)? {
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".tmp") {
            remove.push(dir.join(name));
            continue;
        }
        let Some(parsed) = SegmentFileName::parse(name) else {
            continue;
        };
        // Everything below opens and removes files by their canonical (20-digit) names,
        // which Kafka and tidelog always write. A segment-like file under another name
        // (`5.log`) would be opened as a file that does not exist: refuse it by name, and
        // leave it in place, since it may hold data.
        if parsed.to_string() != name {
            return Err(Error::InvalidLayout {
                path: dir.join(name),
                reason: format!("segment file name is not in the canonical form {parsed}"),
            });
        }
        match parsed.suffix() {
            Some(FileSuffix::Deleted) => remove.push(parsed.path_in(dir)),
            Some(FileSuffix::Cleaned) => {
                cleaned_min = cleaned_min.min(parsed.base_offset());
                remove.push(parsed.path_in(dir));
            }
            Some(FileSuffix::Swap) => swaps.push(parsed),
            None => match parsed.kind() {
                FileKind::Log => {
                    logs.insert(parsed.base_offset(), ());
                }
                FileKind::Index | FileKind::TimeIndex | FileKind::TxnIndex => indexes.push(parsed),
                FileKind::Snapshot => {}
            },
        }
    }
    // A `.swap` at or above the smallest `.cleaned` belongs to an interrupted split: drop it.
    let (stale, swaps): (Vec<_>, Vec<_>) = swaps
        .into_iter()
        .partition(|s| s.base_offset() >= cleaned_min);
    remove.extend(stale.iter().map(|s| s.path_in(dir)));
    for path in &remove {
        storage.remove_file(path)?;
        report.files_removed += 1;
        log::info!("removed leftover {}", path.display());
    }
    // Complete interrupted swaps: the swapped-in segment replaces the ones it covers.
    for swap in swaps.iter().filter(|s| s.kind() == FileKind::Log) {
        let next = swap_next_offset(storage, &swap.path_in(dir))?;
        let covered: Vec<i64> = logs
            .range(swap.base_offset()..next.max(swap.base_offset() + 1))
            .map(|(&b, _)| b)
            .collect();
        for base in covered {
            for kind in [
                FileKind::Log,
                FileKind::Index,
                FileKind::TimeIndex,
                FileKind::TxnIndex,
            ] {
                let path = SegmentFileName::new(base, kind)?.path_in(dir);
                if storage.exists(&path)? {
                    storage.remove_file(&path)?;
                    report.files_removed += 1;
                }
            }
            logs.remove(&base);
        }
    }
    // As Kafka's `LogLoader`: a swapped-in segment's indexes are rebuilt from its log,
    // never taken from `.swap` index files (which the swap may not have finished) nor from
    // the files of the segment it replaces.
    for swap in &swaps {
        match swap.kind() {
            FileKind::Log => {
                for kind in [FileKind::Index, FileKind::TimeIndex, FileKind::TxnIndex] {
                    let path = SegmentFileName::new(swap.base_offset(), kind)?.path_in(dir);
                    if storage.exists(&path)? {
                        storage.remove_file(&path)?;
                        report.files_removed += 1;
                    }
                }
                storage.rename(&swap.path_in(dir), &swap.without_suffix().path_in(dir))?;
                logs.insert(swap.base_offset(), ());
            }
            _ => {
                storage.remove_file(&swap.path_in(dir))?;
                report.files_removed += 1;
            }
        }
    }
    for index in indexes {
        if !logs.contains_key(&index.base_offset()) {
            storage.remove_file(&index.path_in(dir))?;
            report.files_removed += 1;
            log::info!("removed orphan index {}", index.path_in(dir).display());
        }
    }
    if report.files_removed > 0 || !swaps.is_empty() {
        storage.sync_dir(dir)?;
    }
    Ok(logs.into_keys().collect())
}

/// The offset after the last valid batch of a `.log.swap` file.
fn swap_next_offset<S: Storage>(storage: &S, path: &Path) -> Result<i64> {
    use crate::io::{OpenMode, StorageFile};
    use crate::segment::{BatchInfo, HEADER_PEEK_BYTES};
    let file = storage.open(path, OpenMode::ReadOnly)?;
    let len = file.size()?;
    let mut position = 0;
    let mut next = 0;
    let mut buf = [0u8; HEADER_PEEK_BYTES];
    while position < len {
        let n = file.read_at(&mut buf, position)?;
        match BatchInfo::peek(&buf[..n], position, len - position) {
            Ok(info) => {
                next = info.next_offset();
                position = info.end();
            }
            Err(_) => break,
        }
    }
    Ok(next)
}

/// Loads the opened segments by the recovery rule; returns those that stay.
fn load_segments<S: Storage>(
    storage: &S,
    options: &LogOpenOptions,
    segments: Vec<(Arc<LogSegment<S>>, bool)>,
    report: &mut RecoveryReport,
    epochs: &mut LeaderEpochCache,
    epochs_suspect: &mut bool,
    allow_gaps: bool,
) -> Result<Vec<Arc<LogSegment<S>>>> {
    let count = segments.len();
    // Data at or past this offset was never promised durable: invalid data there is a torn
    // tail, below it damage. A clean shutdown promised every byte; with no recovery point
    // only the last segment can hold a torn tail.
    let durable_below = |in_last_segment: bool| {
        if options.clean_shutdown {
            i64::MAX
        } else {
            options
                .recovery_point
                .unwrap_or(if in_last_segment { i64::MIN } else { i64::MAX })
        }
    };
    // The first segment to scan: after a clean shutdown none (unless a check fails); after a
    // crash the one holding the recovery point (or the first, without one).
    let scan_from = if options.clean_shutdown {
        count
    } else {
        match options.recovery_point {
            Some(rp) => segments
                .partition_point(|(s, _)| s.base_offset() <= rp)
                .saturating_sub(1),
            None => 0,
        }
    };
    let bases: Vec<i64> = segments.iter().map(|(s, _)| s.base_offset()).collect();
    let mut kept: Vec<Arc<LogSegment<S>>> = Vec::with_capacity(count);
    let mut prev_next: Option<i64> = None;
    // The magic of the last batch scanned (0 before any): v2 is never followed by legacy.
    let mut prev_magic: i8 = 0;
    let mut epochs_reset = false;
    let mut iter = segments.into_iter().enumerate();
    while let Some((i, (segment, missing_index))) = iter.next() {
        if let Some(prev) = prev_next {
            if segment.base_offset() < prev {
                return Err(Error::InvalidLayout {
                    path: segment.log_path(),
                    reason: format!(
                        "segment starts at offset {} but the previous one ends at {}",
                        segment.base_offset(),
                        prev - 1
                    ),
                });
            }
            if segment.base_offset() > prev && !allow_gaps {
                // A log that was never compacted has no gaps: the previous segment lost its
                // tail (power loss kept a later segment but not the end of this one), or a
                // segment went missing. Past the recovery point that is a torn tail: cut
                // here, as at an invalid batch. Below it, fsynced data is gone.
                let below = prev < durable_below(false);
                let reason = format!(
                    "offsets {prev}..{} are missing before segment {}",
                    segment.base_offset(),
                    segment.base_offset()
                );
                if below && !options.repair {
                    return Err(Error::corrupt(Corruption::Offsets { reason })
                        .at_path(segment.log_path())
                        .at_offset(prev));
                }
                let mut bytes = 0;
                for s in std::iter::once(segment).chain(iter.by_ref().map(|(_, (s, _))| s)) {
                    bytes += s.size();
                    s.delete_files(storage)?;
                }
                let cut = RecoveryCut {
                    segment: kept.last().map(|s| s.log_path()).unwrap_or_default(),
                    position: kept.last().map_or(0, |s| s.size()),
                    offset: prev,
                    bytes,
                    reason,
                    repaired: below,
                };
                log::warn!(
                    "{}: recovery cut {} bytes of later segments: {}",
                    cut.segment.display(),
                    cut.bytes,
                    cut.reason
                );
                report.cuts.push(cut);
                break;
            }
        }
        let is_last = i + 1 == count;
        let mut scan = i >= scan_from || missing_index;
        if !scan {
            // A tail whose end runs into the next segment came from a header the walk
            // trusted without its CRC (a damaged lastOffsetDelta): scan the segment, so the
            // damage is found where it is, not blamed on the next segment's name.
            let sane = segment.indexes_look_sane()
                && segment.load_clean().is_ok()
                && bases
                    .get(i + 1)
                    .is_none_or(|&next| segment.next_offset() <= next);
            if !sane {
                log::warn!(
                    "{}: indexes or tail fail their checks; recovering the segment",
                    segment.log_path().display()
                );
                report.indexes_rebuilt += 1;
                scan = true;
            }
        } else if missing_index {
            report.indexes_rebuilt += 1;
        }
        if !scan {
            prev_next = Some(segment.next_offset());
            kept.push(segment);
            continue;
        }
        let recovering = i >= scan_from;
        if recovering && !epochs_reset {
            // Rebuild the epoch cache from the scanned batches on (as Kafka does on recovery).
            // A segment rescanned only for its indexes keeps the cache: later segments load
            // clean, and their epochs are only in it.
            epochs.truncate_from_end(segment.base_offset());
            epochs_reset = true;
        }
        // Without compaction batches are contiguous from the segment's base offset on, so a
        // damaged base offset (or a stale copy of an old batch) cannot pass as a gap.
        let mut last_next = prev_next.unwrap_or(if allow_gaps {
            i64::MIN
        } else {
            segment.base_offset()
        });
        let mut last_magic = prev_magic;
        let outcome = segment.recover(|info| {
            // Legacy entries carry their last offset only, so only v2 batches can be held to
            // exact contiguity.
            let gap = info.magic == crate::record::MAGIC_V2 && info.base_offset != last_next;
            // Kafka never writes a legacy message after a v2 batch in one log.
            let downgrade = last_magic == crate::record::MAGIC_V2 && info.magic != last_magic;
            if info.base_offset < last_next || downgrade || (!allow_gaps && gap) {
                return Err(Corruption::Offsets {
                    reason: format!(
                        "batch at offset {} follows one ending at {}",
                        info.base_offset,
                        last_next - 1
                    ),
                });
            }
            last_next = info.next_offset();
            last_magic = info.magic;
            Ok(())
        })?;
        prev_magic = last_magic;
        report.segments_scanned += 1;
        report.bytes_scanned += outcome.valid_bytes;
        for &(epoch, offset) in &outcome.epochs {
            if recovering {
                epochs.assign(epoch, offset);
            } else if epochs.epoch_for(offset) != Some(epoch) {
                // The checkpoint disagrees with the log below the recovery point.
                *epochs_suspect = true;
            }
        }
        let Some(stop) = outcome.stop else {
            prev_next = Some(segment.next_offset());
            kept.push(segment);
            continue;
        };
        // The first invalid batch: a torn tail (cut) or damage to durable data (error).
        let below_recovery_point = outcome.next_offset < durable_below(is_last);
        if below_recovery_point && !options.repair {
            return Err(stop);
        }
        let position = outcome.valid_bytes;
        let mut bytes = segment.truncate_at(position, outcome.next_offset)?;
        // Everything after the cut goes too: it is past the first invalid batch.
        let later: Vec<_> = iter.by_ref().map(|(_, (s, _))| s).collect();
        for s in &later {
            bytes += s.size();
            s.delete_files(storage)?;
        }
        let cut = RecoveryCut {
            segment: segment.log_path(),
            position,
            offset: outcome.next_offset,
            bytes,
            reason: stop.to_string(),
            repaired: below_recovery_point,
        };
        log::warn!(
            "{}: recovery cut {} bytes at position {} (offset {}): {}",
            cut.segment.display(),
            cut.bytes,
            cut.position,
            cut.offset,
            cut.reason
        );
        report.cuts.push(cut);
        prev_next = Some(segment.next_offset());
        kept.push(segment);
    }
    Ok(kept)
}

/// The partition leader epoch of the log's last batch (v2), if it has one.
fn last_batch_epoch<S: Storage>(segments: &[Arc<LogSegment<S>>]) -> Result<Option<i32>> {
    let Some(segment) = segments.iter().rev().find(|s| s.size() > 0) else {
        return Ok(None);
    };
    let last = segment.find_batch(segment.next_offset() - 1, segment.size())?;
    Ok(last.map(|b| b.leader_epoch).filter(|&e| e >= 0))
}

/// The leader-epoch cache as the batch headers of `segments` give it (Kafka rebuilds it
/// the same way when recovering): one header read per batch.
fn rebuild_epochs<S: Storage>(segments: &[Arc<LogSegment<S>>]) -> Result<LeaderEpochCache> {
    let mut epochs = LeaderEpochCache::default();
    for segment in segments {
        let size = segment.size();
        let mut position = 0;
        while let Some(info) = segment.header_at(position, size)? {
            epochs.assign(info.leader_epoch, info.base_offset);
            position = info.end();
        }
    }
    log::warn!(
        "rebuilt the leader-epoch cache from the log: {:?}",
        epochs.entries()
    );
    Ok(epochs)
}
