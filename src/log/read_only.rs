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
//! batch that runs past the end of the file or fails its checks. A reader thus sees every
//! complete batch up to the end found, never a partial one. [`Log::refresh`]
//! follows the writer (new segments after a roll, segments gone to retention or truncation,
//! new batches at the tail), and [`Log::wait_for`] polls it.
//!
//! # Where the walk stops: the end, or corruption
//!
//! Bytes past the point where a segment's walk stopped are either the writer's append in
//! flight (or a crash's torn tail), which reads as the end of the log, or damage, which is
//! [`Error::Corrupt`] naming the file, the position and the offset of the bad batch. A live
//! writer only ever appends to its last segment, and a reader sees a prefix of each append,
//! so the rule is:
//!
//! - bytes past the walk's stop in a segment that is **not the last** are corruption: the
//!   writer finished that segment before it rolled (and recovery cuts a crash's torn tail
//!   before a roll);
//! - in the **last** segment, a bad batch followed by a further complete, valid magic-2 batch
//!   that continues its offsets (found by scanning the bytes after it) is corruption: a torn
//!   append is the last thing in the file;
//! - otherwise the bad batch in the last segment is the end (never an error, never a partial
//!   batch), unless the store says it cannot be: the read-only store
//!   ([`ReadOnlyStore`](crate::store::ReadOnlyStore)) reports corruption when the bad batch
//!   lies below the partition's recovery point (`recovery-point-offset-checkpoint`: fsynced
//!   data cannot be torn) or when `.kafka_cleanshutdown` says the writer closed cleanly.
//!
//! A writer's truncation or append can look like damage for an instant, so a suspicion is
//! confirmed by walking again after [`CONFIRM_DELAY`] (and, for the clean-shutdown marker,
//! by finding the marker still there after that walk) before it is reported. The open
//! checks every segment; a refresh checks again when the segments or the end changed. Damage
//! before the point a walk starts from (its segment's last index entry) is not seen by the
//! open: reads report it when they reach it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

use super::leader_epoch::LeaderEpochCache;
use super::log::{Log, Writer};
use super::options::RecoveryReport;
use crate::checkpoint::{LeaderEpochCheckpoint, LEADER_EPOCH_CHECKPOINT_FILE};
use crate::config::{Clock, LogConfig, SystemClock};
use crate::error::{Corruption, Error, Result};
use crate::io::{StdFs, Storage, StorageFile};
use crate::record::{Batch, HEADER_SIZE_UP_TO_MAGIC, MAGIC_V2, RECORD_BATCH_OVERHEAD};
use crate::segment::{BatchInfo, FileKind, LogSegment, SegmentFileName, HEADER_PEEK_BYTES};

/// How long a read-only [`Log::wait_for`] sleeps between refreshes.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// How often a refresh lists the directory again when a segment in the middle of the list
/// vanished between the listing and its open (a listing that raced a truncation).
const LIST_ATTEMPTS: usize = 3;

/// How long a reader waits before walking again to confirm that bytes past a segment's end
/// are damage, not a writer's append or truncation caught half done. Long beside one append
/// (microseconds), short beside a person waiting; paid only when something looks wrong.
pub(crate) const CONFIRM_DELAY: Duration = Duration::from_millis(50);

/// Bytes read at a time when scanning past a bad batch for valid data.
const SCAN_CHUNK: usize = 1 << 20;

/// Where a read-only walk stopped short of its segment file's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TailStop {
    /// The segment's `.log` file.
    pub(crate) path: PathBuf,
    /// Where the walk stopped: the start of the batch that failed.
    pub(crate) position: u64,
    /// The offset a batch there would start at (the segment's end found).
    pub(crate) offset: i64,
    /// The file's length when looked at.
    pub(crate) file_len: u64,
}

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
    /// found, never a partial one.
    ///
    /// Where a walk stops before the end of its file, the bytes there are either the
    /// writer's append in flight (or a crash's torn tail), which reads as the end of the
    /// log, or damage, which is [`Error::Corrupt`] with the file, position and offset of the
    /// bad batch. A live writer appends only to its last segment, and a reader sees a prefix
    /// of each append, so a stop in a segment that is not the last is damage, and so is a bad
    /// batch in the last segment followed by a complete, valid batch that continues its
    /// offsets. A bad batch at the very end of the last segment is the end here; the
    /// read-only store ([`ReadOnlyStore`](crate::store::ReadOnlyStore)) also reports it as
    /// damage below the partition's recovery point or after a clean shutdown. Before
    /// reporting, the reader waits a moment and walks again, so that a writer's truncation
    /// or append caught half done is not taken for damage. Damage before the last
    /// offset-index entry of a segment is not looked at here: reads report it.
    ///
    /// A segment whose files vanish or are not all there yet is
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
    /// [`Error::InvalidLayout`] if a segment in the middle of the log lacks a file;
    /// [`Error::Corrupt`] with the file, position and offset of a bad batch that cannot be
    /// the end of the log.
    pub fn open_read_only_with(
        storage: S,
        dir: impl AsRef<Path>,
        config: LogConfig,
    ) -> Result<Self> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let config = Arc::new(config);
        let mut log = Log {
            dir,
            storage,
            config: RwLock::new(Arc::clone(&config)),
            config_gen: std::sync::atomic::AtomicU64::new(0),
            clock,
            segments_gen: std::sync::atomic::AtomicU64::new(0),
            truncations: std::sync::atomic::AtomicU64::new(0),
            cutting: Mutex::new(()),
            pending_deletes: Mutex::new(Vec::new()),
            segments: RwLock::new(Arc::new(Vec::new())),
            writer: Mutex::new(Writer::new(0, LeaderEpochCache::new(Vec::new()), config)),
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
        let segments = log.checked_sync(&[])?.unwrap_or_default();
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
    /// vanishing; [`Error::Corrupt`] as for
    /// [`open_read_only_with`](Self::open_read_only_with). The log stays as it was.
    pub fn refresh(&self) -> Result<bool> {
        if !self.read_only {
            return Ok(false);
        }
        // `flush_lock` serves a read-only log as its refresh lock: one refresh at a time.
        let _one = self.flush_lock.lock();
        let current = self.segments();
        let Some(segments) = self.checked_sync(&current)? else {
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

    /// Read-only logs: where the walk of the last segment stopped short of its file's end
    /// (a writer's append in flight, a crash's torn tail, or damage), or `None` if it
    /// reached the end.
    ///
    /// # Errors
    /// I/O errors.
    pub(crate) fn torn_tail(&self) -> Result<Option<TailStop>> {
        match self.segments().last() {
            Some(last) => tail_stop(last),
            None => Ok(None),
        }
    }

    /// Read-only logs: fails with [`Error::Corrupt`] if the last segment holds a bad batch
    /// where the store says every batch is whole: below `recovery_point` (the writer fsynced
    /// it), or anywhere if `clean` (the writer closed cleanly). `still_clean` looks at the
    /// clean-shutdown marker again: a writer opening the store removes it before it
    /// appends, so a marker still there after the confirming walk means no writer made the
    /// bytes the walk stopped at.
    ///
    /// A suspicion is confirmed by a [`refresh`](Self::refresh) after [`CONFIRM_DELAY`]:
    /// the walk then starts after the caller read the checkpoint and the marker, so a batch
    /// below the recovery point is whole by then unless it is damaged.
    ///
    /// # Errors
    /// [`Error::Corrupt`] with the file, position and offset of the bad batch; errors of
    /// [`refresh`](Self::refresh) and of `still_clean`.
    pub(crate) fn check_tail_against(
        &self,
        recovery_point: Option<i64>,
        clean: bool,
        still_clean: impl FnOnce() -> Result<bool>,
    ) -> Result<()> {
        let must_be_whole = |stop: &TailStop, clean: bool| {
            clean || recovery_point.is_some_and(|rp| stop.offset < rp)
        };
        match self.torn_tail()? {
            Some(stop) if must_be_whole(&stop, clean) => {}
            _ => return Ok(()),
        }
        std::thread::sleep(CONFIRM_DELAY);
        self.refresh()?;
        let Some(stop) = self.torn_tail()? else {
            return Ok(());
        };
        let clean = clean && still_clean()?;
        if !must_be_whole(&stop, clean) {
            return Ok(());
        }
        log::warn!(
            "{}: a bad batch at position {} (offset {}) where the writer left every batch whole ({})",
            stop.path.display(),
            stop.position,
            stop.offset,
            if clean {
                "it closed cleanly".to_string()
            } else {
                format!("below the recovery point {}", recovery_point.unwrap_or_default())
            }
        );
        match self.segments().last() {
            Some(last) => Err(damage_error(last, &stop)),
            None => Ok(()),
        }
    }

    /// [`sync_segments`](Self::sync_segments), then the module's corruption rule on the
    /// result: every segment when the list changed (a segment is walked to its end only
    /// then), the last one always. A suspicion is looked at again after [`CONFIRM_DELAY`],
    /// listing and walking anew (a truncation makes a segment the last; an append in
    /// flight completes).
    fn checked_sync(
        &self,
        current: &[Arc<LogSegment<S>>],
    ) -> Result<Option<Vec<Arc<LogSegment<S>>>>> {
        let Some(segments) = self.sync_segments(current)? else {
            return Ok(None);
        };
        let list_changed = segments.len() != current.len()
            || segments
                .iter()
                .zip(current)
                .any(|(a, b)| !Arc::ptr_eq(a, b));
        let Some((suspect, _)) = first_damage(&segments, list_changed)? else {
            return Ok(Some(segments));
        };
        std::thread::sleep(CONFIRM_DELAY);
        // Walked again even if the listing stays the same (it walks only the last segment
        // then).
        suspect.refresh_tail()?;
        let Some(again) = self.sync_segments(&segments)? else {
            return Ok(None);
        };
        match first_damage(&again, true)? {
            Some((segment, stop)) => {
                log::warn!(
                    "{}: bytes past position {} (offset {}) are no append in flight: {} of {} segments",
                    stop.path.display(),
                    stop.position,
                    stop.offset,
                    again
                        .iter()
                        .position(|s| Arc::ptr_eq(s, &segment))
                        .map_or(0, |i| i + 1),
                    again.len()
                );
                Err(damage_error(&segment, &stop))
            }
            None => Ok(Some(again)),
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
            Self::segment_config(&self.cfg()),
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

/// Where the walk of `segment` stopped short of its file's end, if it did.
fn tail_stop<S: Storage>(segment: &LogSegment<S>) -> Result<Option<TailStop>> {
    let file_len = segment.log_file().size()?;
    let position = segment.size();
    if file_len <= position {
        return Ok(None);
    }
    Ok(Some(TailStop {
        path: segment.log_path(),
        position,
        offset: segment.next_offset(),
        file_len,
    }))
}

/// The first segment of `segments` whose stop the module's rule makes damage by itself: any
/// stop in a segment that is not the last (looked at only if `check_all`), a stop followed
/// by a valid batch in the last.
fn first_damage<S: Storage>(
    segments: &[Arc<LogSegment<S>>],
    check_all: bool,
) -> Result<Option<(Arc<LogSegment<S>>, TailStop)>> {
    let count = segments.len();
    for (i, segment) in segments.iter().enumerate() {
        let is_last = i + 1 == count;
        if !is_last && !check_all {
            continue;
        }
        let Some(stop) = tail_stop(segment)? else {
            continue;
        };
        if !is_last || valid_batch_after(segment, &stop)?.is_some() {
            return Ok(Some((Arc::clone(segment), stop)));
        }
    }
    Ok(None)
}

/// Reads into `buf` at `position` of `file` until it is full or the file ends; returns the
/// bytes read.
fn read_full<F: StorageFile>(file: &F, buf: &mut [u8], position: u64) -> Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let got = file.read_at(&mut buf[done..], position + done as u64)?;
        if got == 0 {
            break;
        }
        done += got;
    }
    Ok(done)
}

/// The position of the first complete, valid (framing and CRC) magic-2 batch after the
/// stop whose offsets could follow the stop's: data a torn append cannot be followed by.
/// Scans every byte after the stop: a candidate needs magic 2 and a base offset from the
/// stop's offset to `i32::MAX` above it, so bytes of a torn batch or zeros cost one
/// comparison each.
fn valid_batch_after<S: Storage>(segment: &LogSegment<S>, stop: &TailStop) -> Result<Option<u64>> {
    const MAGIC_AT: usize = HEADER_SIZE_UP_TO_MAGIC - 1;
    let file = segment.log_file();
    let floor = stop.offset;
    let mut buf = Vec::new();
    let mut pos = stop.position + 1;
    while pos + RECORD_BATCH_OVERHEAD as u64 <= stop.file_len {
        let want = (stop.file_len - pos).min((SCAN_CHUNK + RECORD_BATCH_OVERHEAD) as u64);
        buf.resize(want as usize, 0);
        let got = read_full(&**file, &mut buf, pos)?;
        let Some(window) = buf.get(..got).filter(|w| w.len() >= RECORD_BATCH_OVERHEAD) else {
            break;
        };
        let candidates = (window.len() + 1 - RECORD_BATCH_OVERHEAD).min(SCAN_CHUNK);
        for i in 0..candidates {
            let Some(head) = window.get(i..) else { break };
            if head.get(MAGIC_AT).map(|&m| m as i8) != Some(MAGIC_V2) {
                continue;
            }
            let Some(base) = head
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(i64::from_be_bytes)
            else {
                continue;
            };
            if base < floor || base - floor > i64::from(i32::MAX) {
                continue;
            }
            let at = pos + i as u64;
            let peek = &head[..head.len().min(HEADER_PEEK_BYTES)];
            let Ok(info) = BatchInfo::peek(peek, at, stop.file_len - at) else {
                continue;
            };
            let mut bytes = vec![0u8; info.size as usize];
            if read_full(&**file, &mut bytes, at)? == bytes.len() && Batch::parse(&bytes).is_ok() {
                return Ok(Some(at));
            }
        }
        pos += candidates as u64;
    }
    Ok(None)
}

/// The error for the bad batch at `stop`: what is wrong with it (its framing or CRC as
/// read now; offsets that do not follow if it is whole), with file, position and offset.
fn damage_error<S: Storage>(segment: &LogSegment<S>, stop: &TailStop) -> Error {
    let located = |e: Error| e.at_offset(stop.offset).at_path(&stop.path);
    let file = segment.log_file();
    let available = stop.file_len.saturating_sub(stop.position);
    let mut head = [0u8; HEADER_PEEK_BYTES];
    let want = head
        .len()
        .min(usize::try_from(available).unwrap_or(usize::MAX));
    let n = match read_full(&**file, &mut head[..want], stop.position) {
        Ok(n) => n,
        Err(e) => return e,
    };
    // `peek` locates its errors at `stop.position` itself.
    let info = match BatchInfo::peek(&head[..n], stop.position, available) {
        Ok(info) => info,
        Err(e) => return located(e),
    };
    let mut bytes = vec![0u8; info.size as usize];
    match read_full(&**file, &mut bytes, stop.position) {
        Ok(n) if n == bytes.len() => {}
        Ok(n) => {
            return located(
                Error::corrupt(Corruption::Truncated {
                    needed: bytes.len() as u64,
                    available: n as u64,
                })
                .at_position(stop.position),
            )
        }
        Err(e) => return e,
    }
    match Batch::parse(&bytes) {
        Err(e) => located(e.at_position(stop.position)),
        Ok(_) => located(
            Error::corrupt(Corruption::Offsets {
                reason: format!(
                    "batch with offsets {}..={} does not follow offset {}",
                    info.base_offset,
                    info.last_offset,
                    stop.offset - 1
                ),
            })
            .at_position(stop.position),
        ),
    }
}
