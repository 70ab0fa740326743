//! The read-only open: a [`Log`] over a partition directory that another process (or another
//! handle in this one) writes, as Kafka's dump tool reads a live broker's files.
//!
//! A read-only log takes no lock and never creates, writes, renames, deletes or maps
//! anything: every file is opened read-only, indexes are read into memory with positional
//! reads, and log bytes are read with positional reads, so the writer's index trims,
//! truncations and deletions cannot SIGBUS it. A segment file deleted under it stays
//! readable through the handle it holds, until [`Log::refresh`] drops it.
//!
//! The end of each segment is found by walking batches from its last offset-index entry (the
//! tail only, never the whole log), each checked whole (framing and CRC), stopping before a
//! batch that runs past the end of the file or fails its checks: the writer's append in
//! flight, or a crash's torn tail. A reader thus sees every complete batch up to the end
//! found, never a partial one. [`Log::refresh`]
//! follows the writer (new segments after a roll, segments gone to retention or truncation,
//! new batches at the tail), and [`Log::wait_for`] polls it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

use super::leader_epoch::LeaderEpochCache;
use super::log::{Log, Writer};
use super::options::RecoveryReport;
use crate::checkpoint::{LeaderEpochCheckpoint, LEADER_EPOCH_CHECKPOINT_FILE};
use crate::config::{Clock, LogConfig, SystemClock};
use crate::error::{Error, Result};
use crate::io::{StdFs, Storage};
use crate::segment::{FileKind, LogSegment, SegmentFileName};

/// How long a read-only [`Log::wait_for`] sleeps between refreshes.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// How often a refresh lists the directory again when a segment in the middle of the list
/// vanished between the listing and its open (a listing that raced a truncation).
const LIST_ATTEMPTS: usize = 3;

impl Log<StdFs> {
    /// Opens the partition directory `dir` read-only on the real file system, beside a live
    /// writer or none. See [`open_read_only_with`](Log::open_read_only_with).
    ///
    /// # Errors
    /// As [`open_read_only_with`](Log::open_read_only_with).
    pub fn open_read_only(dir: impl AsRef<Path>, config: LogConfig) -> Result<Self> {
        Log::open_read_only_with(StdFs, dir, config)
    }
}

impl<S: Storage> Log<S> {
    /// Opens the partition directory `dir` read-only through `storage`: no lock, nothing
    /// created, written, renamed, removed or mapped, so it works beside a live writer in
    /// another process (as Kafka's dump tool reads a live broker's files), and the writer's
    /// index trims, truncations and deletions cannot SIGBUS it.
    ///
    /// Every `<base>.log` with its indexes is opened read-only; other files (leftovers such as
    /// `.deleted`, `.cleaned`, `.swap` and temporaries) are ignored and left alone. Each
    /// segment's end is found by walking batches from its last offset-index entry (the tail
    /// only, never the whole log), each checked whole (framing and CRC), stopping before a
    /// batch that runs past the end of the file or fails its checks: the writer's append in
    /// flight, or a crash's torn tail. Readers thus see every complete batch up to the end
    /// found, never a partial one. A segment whose files vanish or are not all there yet is
    /// left out if it is the first (retention deleting it) or the last (a roll creating it).
    /// A directory with no segment yet opens as an empty log at offset 0.
    ///
    /// The log start is the first segment's base offset; the durable offset is the log start
    /// (the files alone do not tell what the writer fsynced). The leader epochs are read from
    /// `leader-epoch-checkpoint`. Reads ([`read`](Self::read), [`read_raw`](Self::read_raw),
    /// [`offset_for_timestamp`](Self::offset_for_timestamp)) work as on a writable log, with
    /// positional reads only; a segment file deleted under the reader stays readable through
    /// the handle it holds until a refresh drops it, and a read past a file the writer cut
    /// short stops there (or fails; it never crashes). Every writing method (append, roll,
    /// flush, retention, truncation, close) fails with [`Error::InvalidArgument`]. Call
    /// [`refresh`](Self::refresh) to see what the writer did since, or
    /// [`wait_for`](Self::wait_for), which polls it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidelog::config::LogConfig;
    /// use tidelog::log::{AppendOptions, Log, LogOpenOptions};
    /// use tidelog::record::Record;
    /// # let dir = tempfile::tempdir()?;
    /// let writer = Log::open(dir.path().join("orders-0"), LogConfig::default(), LogOpenOptions::default())?;
    /// let reader = Log::open_read_only(dir.path().join("orders-0"), LogConfig::default())?;
    /// writer.append(&[Record::new(1, b"hello".to_vec())], &AppendOptions::default())?;
    /// assert!(reader.wait_for(0, Duration::from_secs(5))); // polls `refresh`
    /// assert_eq!(reader.read(0, 1 << 20)?.records().count(), 1);
    /// assert!(reader.append(&[Record::new(2, b"no".to_vec())], &AppendOptions::default()).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`]; I/O errors (`NotFound` if `dir` is missing);
    /// [`Error::InvalidLayout`] if a segment in the middle of the log lacks a file.
    pub fn open_read_only_with(
        storage: S,
        dir: impl AsRef<Path>,
        config: LogConfig,
    ) -> Result<Self> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mut log = Log {
            dir,
            storage,
            config,
            clock,
            segments_gen: std::sync::atomic::AtomicU64::new(0),
            truncations: std::sync::atomic::AtomicU64::new(0),
            cutting: Mutex::new(()),
            segments: RwLock::new(Arc::new(Vec::new())),
            writer: Mutex::new(Writer::new(0, LeaderEpochCache::new(Vec::new()))),
            flush_lock: Mutex::new(()),
            end_offset: AtomicI64::new(0),
            log_start_offset: AtomicI64::new(0),
            durable_offset: AtomicI64::new(0),
            dir_dirty: AtomicBool::new(false),
            unflushed_messages: AtomicI64::new(0),
            first_unflushed_ms: AtomicI64::new(i64::MIN),
            poison: Mutex::new(None),
            is_poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
            wake: (Mutex::new(()), Condvar::new()),
            signal: std::sync::OnceLock::new(),
            report: RecoveryReport::default(),
            counters: Default::default(),
            read_only: true,
        };
        let segments = log.sync_segments(&[])?.unwrap_or_default();
        let start = segments.first().map_or(0, |s| s.base_offset());
        let end = segments.last().map_or(0, |s| s.next_offset());
        *log.segments.get_mut() = Arc::new(segments);
        *log.end_offset.get_mut() = end;
        *log.log_start_offset.get_mut() = start;
        *log.durable_offset.get_mut() = start;
        log.reload_epochs();
        Ok(log)
    }

    /// True if the log was opened with [`open_read_only`](Self::open_read_only).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Read-only logs: catches up with the writer. Lists the directory again (segments a
    /// roll created appear; segments retention or a truncation deleted disappear, raising
    /// the log start; a segment file replaced at the same base offset is reopened), and walks
    /// the active segment's tail from the last end found (the whole segment only if the
    /// writer truncated it). Returns whether the segments, the log start or the log end
    /// changed. A writable log is always current: this does nothing and returns `false`.
    ///
    /// Reads running meanwhile see the old state or the new one, never a partial batch. A
    /// directory that momentarily holds no segment (a truncation that empties the log
    /// recreates one) leaves the log as it was.
    ///
    /// # Errors
    /// I/O errors; [`Error::InvalidLayout`] if a segment in the middle of the log keeps
    /// vanishing. The log stays as it was.
    pub fn refresh(&self) -> Result<bool> {
        if !self.read_only {
            return Ok(false);
        }
        // `flush_lock` serves a read-only log as its refresh lock: one refresh at a time.
        let _one = self.flush_lock.lock();
        let current = self.segments();
        let Some(segments) = self.sync_segments(&current)? else {
            return Ok(false);
        };
        let (Some(first), Some(last)) = (segments.first(), segments.last()) else {
            return Ok(false);
        };
        let first_base = first.base_offset();
        let end = last.next_offset();
        let old_start = self.log_start_offset();
        let old_end = self.end_offset();
        // The log start rises with the first segment, unless the log was started over at a
        // lower offset (a truncation below the log start: the first segment is a new file).
        let kept_first = current.iter().any(|s| Arc::ptr_eq(s, first));
        let prefix_deleted = current.first().is_none_or(|s| first_base > s.base_offset());
        let start = if kept_first || prefix_deleted {
            old_start.max(first_base)
        } else {
            first_base
        }
        .min(end);
        let same_list = segments.len() == current.len()
            && segments
                .iter()
                .zip(current.iter())
                .all(|(a, b)| Arc::ptr_eq(a, b));
        // As retention does: raise the start before publishing a list without the old
        // segments, so a reader missing them finds the new start in its error.
        if start > old_start {
            self.log_start_offset.store(start, Ordering::Release);
        }
        if !same_list {
            self.publish_segments(segments);
        }
        self.end_offset.store(end, Ordering::Release);
        self.log_start_offset.store(start, Ordering::Release);
        self.durable_offset.fetch_min(end, Ordering::AcqRel);
        let changed = !same_list || start != old_start || end != old_end;
        if changed {
            self.reload_epochs();
            self.wake_waiters();
        }
        Ok(changed)
    }

    /// Read-only logs: raises the log start and the durable offset to what the writer's
    /// owner checkpointed (Kafka's `log-start-offset-checkpoint` and
    /// `recovery-point-offset-checkpoint`), never past the log end.
    pub(crate) fn apply_checkpointed_offsets(
        &self,
        log_start: Option<i64>,
        recovery_point: Option<i64>,
    ) {
        let end = self.end_offset();
        if let Some(start) = log_start {
            self.log_start_offset
                .fetch_max(start.min(end), Ordering::AcqRel);
        }
        if let Some(rp) = recovery_point {
            self.durable_offset.fetch_max(rp.min(end), Ordering::AcqRel);
        }
    }

    /// The error every writing method of a read-only log returns.
    pub(crate) fn read_only_error(&self) -> Error {
        Error::InvalidArgument(format!("{} is open read-only", self.dir.display()))
    }

    /// [`wait_for`](Self::wait_for) on a read-only log: refresh, check, sleep, until
    /// `deadline`.
    pub(crate) fn poll_for(&self, offset: i64, deadline: Instant) -> bool {
        loop {
            if let Err(e) = self.refresh() {
                log::debug!("{}: refresh failed: {e}", self.dir.display());
            }
            if self.end_offset() > offset {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            std::thread::sleep(POLL_INTERVAL.min(deadline - now));
        }
    }

    /// Reads `leader-epoch-checkpoint` (never writing it) into the in-memory cache, cut to
    /// the log's range. A missing or unreadable file leaves the cache as it was.
    fn reload_epochs(&self) {
        let file = LeaderEpochCheckpoint::new(self.dir.join(LEADER_EPOCH_CHECKPOINT_FILE));
        let entries = match file.read(&self.storage) {
            Ok(Some(entries)) => entries,
            Ok(None) => return,
            Err(e) => {
                log::debug!("{e}: keeping the leader epochs read before");
                return;
            }
        };
        let mut epochs = LeaderEpochCache::new(entries);
        epochs.truncate_from_end(self.end_offset());
        epochs.truncate_from_start(self.log_start_offset());
        let mut w = self.writer.lock();
        w.leader_epoch = epochs.latest_epoch().unwrap_or(0).max(0);
        w.epochs = epochs;
    }

    /// The segments of the directory now, reusing those of `current` whose files are still
    /// in place, each walked to its end: the last one always, every one when the list
    /// changed (the old active segment's final batches; a truncation). `None` if the
    /// directory holds no segment.
    fn sync_segments(
        &self,
        current: &[Arc<LogSegment<S>>],
    ) -> Result<Option<Vec<Arc<LogSegment<S>>>>> {
        for _ in 0..LIST_ATTEMPTS {
            let bases = self.list_bases()?;
            let listing_changed = bases.len() != current.len()
                || bases
                    .iter()
                    .zip(current)
                    .any(|(&b, s)| b != s.base_offset());
            let current_last = current.last();
            let mut found: Vec<Option<Arc<LogSegment<S>>>> = Vec::with_capacity(bases.len());
            let mut reused = Vec::with_capacity(bases.len());
            for &base in &bases {
                let old = current
                    .binary_search_by_key(&base, |s| s.base_offset())
                    .ok()
                    .and_then(|i| current.get(i));
                let keep = match old {
                    Some(s) => {
                        let check =
                            listing_changed || current_last.is_some_and(|l| Arc::ptr_eq(l, s));
                        !(check && s.file_replaced()?)
                    }
                    None => false,
                };
                match old {
                    Some(s) if keep => {
                        reused.push(Arc::clone(s));
                        found.push(Some(Arc::clone(s)));
                    }
                    _ => found.push(self.open_segment(base)?),
                }
            }
            // Segments missing at either end are being deleted or created: leave them out.
            let first = found.iter().position(Option::is_some);
            let last = found.iter().rposition(Option::is_some);
            let (Some(first), Some(last)) = (first, last) else {
                return Ok(None);
            };
            let segments: Vec<_> = found[first..=last].iter().flatten().cloned().collect();
            if segments.len() != last + 1 - first {
                log::debug!(
                    "{}: a segment vanished in the middle of the log; listing again",
                    self.dir.display()
                );
                continue;
            }
            let list_changed = segments.len() != current.len()
                || segments
                    .iter()
                    .zip(current)
                    .any(|(a, b)| !Arc::ptr_eq(a, b));
            for s in &reused {
                let was_last = current_last.is_some_and(|l| Arc::ptr_eq(l, s));
                let is_last = segments.last().is_some_and(|l| Arc::ptr_eq(l, s));
                if list_changed || was_last || is_last {
                    s.refresh_tail()?;
                }
            }
            return Ok(Some(segments));
        }
        Err(Error::InvalidLayout {
            path: self.dir.clone(),
            reason: format!(
                "a segment in the middle of the log lacks files (or they kept vanishing \
                 over {LIST_ATTEMPTS} listings)"
            ),
        })
    }

    /// Opens the segment at `base` read-only and walks it to its end; `None` if its files
    /// are gone or not all there yet.
    fn open_segment(&self, base: i64) -> Result<Option<Arc<LogSegment<S>>>> {
        let opened = LogSegment::open(
            &self.storage,
            &self.dir,
            base,
            Self::segment_config(&self.config),
            self.clock.now_ms(),
            false,
        );
        let segment = match opened {
            Ok((segment, _)) => segment,
            Err(e) if is_missing(&e) => {
                log::debug!(
                    "{}: segment {base} is not all there: {e}",
                    self.dir.display()
                );
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        segment.refresh_tail()?;
        Ok(Some(Arc::new(segment)))
    }

    /// The base offsets of the directory's `<base>.log` files, in order. Nothing else counts.
    fn list_bases(&self) -> Result<Vec<i64>> {
        let mut bases: Vec<i64> = self
            .storage
            .read_dir(&self.dir)?
            .iter()
            .filter_map(|name| name.to_str())
            .filter_map(SegmentFileName::parse)
            .filter(|n| n.kind() == FileKind::Log && n.suffix().is_none())
            .map(|n| n.base_offset())
            .collect();
        bases.sort_unstable();
        bases.dedup();
        Ok(bases)
    }
}

/// True for the errors of opening a segment whose files are gone (deleted after the listing)
/// or not all there yet (a segment being created): a missing file, or a missing index.
fn is_missing(e: &Error) -> bool {
    match e {
        Error::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        Error::InvalidLayout { .. } => true,
        _ => false,
    }
}
