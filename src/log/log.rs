//! [`Log`]: the partition log's state and its simple accessors.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

use super::leader_epoch::LeaderEpochCache;
use super::options::{CloseState, Isolation, RecoveryReport};
use super::signal::AppendSignal;
use crate::checkpoint::{LeaderEpochCheckpoint, LEADER_EPOCH_CHECKPOINT_FILE};
use crate::config::{Clock, LogConfig};
use crate::error::{Error, Result};
use crate::io::{StdFs, Storage};
use crate::record::{BatchBuilder, BatchOptions};
use crate::segment::{LogSegment, SegmentConfig};

/// How often a read that failed while a truncation ran is tried again. Each retry waits
/// for the truncation to end, so one suffices unless truncations keep coming.
const MAX_TRUNCATION_RETRIES: u32 = 4;

/// The segments of a log, oldest first. Readers take the `Arc` and keep reading from it
/// while the writer publishes a new list (roll, retention, truncation).
pub(crate) type Segments<S> = Arc<Vec<Arc<LogSegment<S>>>>;

/// One partition: a Kafka partition directory of segments.
///
/// `Log` is `Send + Sync`; share it as `Arc<Log>`. One writer appends at a time (an internal
/// lock); readers never take that lock, never block on the writer, and never see a partial
/// batch: they read a snapshot of the segment list, bounded by each segment's published
/// size. A reader holding a segment that retention deletes keeps reading it through its open
/// file handle. Another process reads the same directory with
/// [`open_read_only`](Log::open_read_only).
///
/// ```
/// use tidelog::log::{AppendOptions, Log, LogOpenOptions};
/// use tidelog::config::LogConfig;
/// use tidelog::record::Record;
/// # let dir = tempfile::tempdir()?;
/// let log = Log::open(dir.path().join("orders-0"), LogConfig::default(), LogOpenOptions::default())?;
/// let info = log.append(&[Record::new(1, b"hello".to_vec())], &AppendOptions::default())?;
/// let read = log.read(info.first_offset, 1 << 20)?;
/// let values: Vec<_> = read.records().map(|r| r.map(|r| r.value().map(<[u8]>::to_vec))).collect::<Result<_, _>>()?;
/// assert_eq!(values, vec![Some(b"hello".to_vec())]);
/// log.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Log<S: Storage = StdFs> {
    pub(crate) dir: PathBuf,
    pub(crate) storage: S,
    /// Replaced whole by [`set_config`](Log::set_config); every operation works from one
    /// snapshot of it.
    pub(crate) config: RwLock<Arc<LogConfig>>,
    /// Raised by every [`set_config`](Log::set_config), so the writer re-reads the config
    /// only when it changed (one relaxed load per append, no lock).
    pub(crate) config_gen: AtomicU64,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) segments: RwLock<Segments<S>>,
    /// Raised by every [`publish_segments`](Self::publish_segments), so the writer can keep
    /// the active segment at hand and re-read it only when the list changed.
    pub(crate) segments_gen: AtomicU64,
    /// Raised when a truncation starts and again when it ends (odd while one is under way):
    /// a read that fails while it was odd or moved met the cut half done, waits on
    /// `cutting`, and reads again.
    pub(crate) truncations: AtomicU64,
    /// Held by a truncation while it cuts.
    pub(crate) cutting: Mutex<()>,
    /// `.deleted` files retention left for `file.delete.delay.ms`, with when they go.
    pub(crate) pending_deletes: Mutex<Vec<(i64, PathBuf)>>,
    pub(crate) writer: Mutex<Writer<S>>,
    /// Serialises flushes; never held while taking `writer`.
    pub(crate) flush_lock: Mutex<()>,
    /// The offset the next append gets. Raised only after the batch's bytes are in place.
    pub(crate) end_offset: AtomicI64,
    pub(crate) log_start_offset: AtomicI64,
    /// Everything below it is fsynced.
    pub(crate) durable_offset: AtomicI64,
    /// A directory entry was created, renamed or removed since the last directory fsync.
    pub(crate) dir_dirty: AtomicBool,
    /// Messages appended since the last flush, and when the oldest of them was appended.
    pub(crate) unflushed_messages: AtomicI64,
    pub(crate) first_unflushed_ms: AtomicI64,
    pub(crate) poison: Mutex<Option<Arc<Error>>>,
    /// Set (after `poison` is) once the log is poisoned, so the append path checks one
    /// atomic instead of taking the mutex.
    pub(crate) is_poisoned: AtomicBool,
    pub(crate) closed: AtomicBool,
    pub(crate) waiters: AtomicUsize,
    pub(crate) wake: (Mutex<()>, Condvar),
    /// A signal shared with other logs (a store's), bumped after each append and on close.
    pub(crate) signal: OnceLock<Arc<AppendSignal>>,
    pub(crate) report: RecoveryReport,
    pub(crate) counters: Counters,
    /// Opened with [`open_read_only`](Self::open_read_only): every writing method fails, and
    /// [`refresh`](Self::refresh) follows the writer.
    pub(crate) read_only: bool,
}

/// Cheap running totals, readable at any time.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) records_appended: AtomicU64,
    pub(crate) bytes_appended: AtomicU64,
    pub(crate) records_read: AtomicU64,
    pub(crate) bytes_read: AtomicU64,
}

/// A snapshot of a log's offsets, size and traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogStats {
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// The offset the next append gets.
    pub log_end_offset: i64,
    /// Everything below it is fsynced.
    pub durable_offset: i64,
    /// Bytes in all segments.
    pub size_bytes: u64,
    /// Number of segments.
    pub segments: u32,
    /// Records appended since the log was opened.
    pub records_appended: u64,
    /// Batch bytes appended since the log was opened.
    pub bytes_appended: u64,
    /// Records returned by `read` since the log was opened (whole batches counted).
    pub records_read: u64,
    /// Batch bytes returned by `read` and `read_raw` since the log was opened.
    pub bytes_read: u64,
}

/// State only the writer touches.
#[derive(Debug)]
pub(crate) struct Writer<S: Storage> {
    pub(crate) builder: BatchBuilder,
    /// Decompression scratch for deep validation.
    pub(crate) scratch: Vec<u8>,
    /// The epoch stamped on appended batches.
    pub(crate) leader_epoch: i32,
    pub(crate) epochs: LeaderEpochCache,
    /// The active segment as of segment-list generation `.0`: one relaxed load per append
    /// instead of a read lock and two reference-count changes.
    pub(crate) active: Option<(u64, Arc<LogSegment<S>>)>,
    /// The config as of config generation `config_gen`, for the same reason.
    pub(crate) config: Arc<LogConfig>,
    pub(crate) config_gen: u64,
}

impl<S: Storage> Writer<S> {
    pub(crate) fn new(leader_epoch: i32, epochs: LeaderEpochCache, config: Arc<LogConfig>) -> Self {
        Writer {
            builder: BatchBuilder::new(BatchOptions::default()),
            scratch: Vec::new(),
            leader_epoch,
            epochs,
            active: None,
            config,
            config_gen: 0,
        }
    }
}

impl<S: Storage> Log<S> {
    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The config in force.
    pub fn config(&self) -> Arc<LogConfig> {
        self.cfg()
    }

    /// A snapshot of the config in force (the lock is held only to clone it, so snapshots
    /// never nest).
    pub(crate) fn cfg(&self) -> Arc<LogConfig> {
        Arc::clone(&self.config.read())
    }

    /// Changes the config in force, as Kafka applies a topic's altered configs: appends,
    /// rolls, flushes, retention and reads from now on follow it; segments already there
    /// keep the index sizes they were made with. A log that allowed offset gaps keeps
    /// allowing them (they may be in it) until it is reopened.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`]; [`Error::InvalidArgument`] on a read-only log.
    pub fn set_config(&self, mut config: LogConfig) -> Result<()> {
        if self.read_only {
            return Err(self.read_only_error());
        }
        config.validate()?;
        let mut current = self.config.write();
        if !current.contiguous_offsets() {
            config.allow_offset_gaps = true;
        }
        *current = Arc::new(config);
        self.config_gen.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Brings the writer's copy of the config up to date. Writer lock held.
    pub(crate) fn sync_writer_config(&self, w: &mut Writer<S>) {
        let gen = self.config_gen.load(Ordering::Acquire);
        if w.config_gen != gen {
            w.config = self.cfg();
            w.config_gen = gen;
        }
    }

    /// The offset the next append gets (Kafka's log end offset).
    pub fn end_offset(&self) -> i64 {
        self.end_offset.load(Ordering::Acquire)
    }

    /// The first offset still in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// Everything below this offset is fsynced and survives power loss.
    pub fn durable_offset(&self) -> i64 {
        self.durable_offset.load(Ordering::Acquire)
    }

    /// Kafka's recovery point, for the owner to checkpoint: the durable offset.
    pub fn recovery_point(&self) -> i64 {
        self.durable_offset()
    }

    /// The leader epoch stamped on appended batches.
    pub fn leader_epoch(&self) -> i32 {
        self.writer.lock().leader_epoch
    }

    /// The leader-epoch cache (epoch → first offset), as in `leader-epoch-checkpoint`.
    pub fn leader_epochs(&self) -> LeaderEpochCache {
        self.writer.lock().epochs.clone()
    }

    /// What opening the log found and did (cuts, rebuilt indexes, removed leftovers).
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// Offsets, size and traffic counters: cheap, readable at any time.
    pub fn stats(&self) -> LogStats {
        let segments = self.segments();
        let c = &self.counters;
        LogStats {
            log_start_offset: self.log_start_offset(),
            log_end_offset: self.end_offset(),
            durable_offset: self.durable_offset(),
            size_bytes: segments.iter().map(|s| s.size()).sum(),
            segments: segments.len() as u32,
            records_appended: c.records_appended.load(Ordering::Relaxed),
            bytes_appended: c.bytes_appended.load(Ordering::Relaxed),
            records_read: c.records_read.load(Ordering::Relaxed),
            bytes_read: c.bytes_read.load(Ordering::Relaxed),
        }
    }

    /// Flushes if the oldest unflushed append is older than `flush.ms` (what maintenance
    /// applies to logs that receive no further appends). Returns whether it flushed.
    ///
    /// # Errors
    /// As [`flush`](Self::flush).
    pub fn flush_if_due(&self) -> Result<bool> {
        if self.read_only {
            return Err(self.read_only_error());
        }
        let first = self.first_unflushed_ms.load(Ordering::Acquire);
        let flush_ms = self.cfg().flush_ms;
        if first == i64::MIN || flush_ms == u64::MAX {
            return Ok(false);
        }
        if self.clock.now_ms().saturating_sub(first) as u64 >= flush_ms {
            self.flush()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Total bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments().iter().map(|s| s.size()).sum()
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segments().len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments().iter().map(|s| s.base_offset()).collect()
    }

    /// A snapshot of the segment list.
    pub(crate) fn segments(&self) -> Segments<S> {
        Arc::clone(&self.segments.read())
    }

    /// The active (last) segment, through the writer's cache `cached` (writer lock held):
    /// re-read only if the list was published since.
    pub(crate) fn active_segment<'a>(
        &self,
        cached: &'a mut Option<(u64, Arc<LogSegment<S>>)>,
    ) -> Option<&'a Arc<LogSegment<S>>> {
        // Every publish happens under the writer lock, which the caller holds: the
        // generation cannot move while the cached segment is in use.
        let gen = self.segments_gen.load(Ordering::Acquire);
        if cached.as_ref().is_none_or(|(g, _)| *g != gen) {
            *cached = self.segments.read().last().map(|s| (gen, Arc::clone(s)));
        }
        cached.as_ref().map(|(_, s)| s)
    }

    pub(crate) fn publish_segments(&self, segments: Vec<Arc<LogSegment<S>>>) {
        *self.segments.write() = Arc::new(segments);
        self.segments_gen.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn segment_config(config: &LogConfig) -> SegmentConfig {
        SegmentConfig {
            index_bytes: config.segment_index_bytes,
            index_interval_bytes: config.index_interval_bytes,
            contiguous: config.contiguous_offsets(),
        }
    }

    /// Fails if the log is read-only, closed or poisoned.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(self.read_only_error());
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if self.is_poisoned.load(Ordering::Acquire) {
            if let Some(first) = self.poison.lock().as_ref() {
                return Err(Error::Poisoned {
                    first: Arc::clone(first),
                });
            }
        }
        Ok(())
    }

    /// Latches `err` as the log's first failure (if none is latched yet) and returns it: a
    /// failed write or fsync leaves the file in an unknown state, so nothing may claim
    /// success after it until the log is reopened (the PostgreSQL fsync lesson).
    pub(crate) fn poison(&self, err: Error) -> Error {
        let mut p = self.poison.lock();
        if p.is_none() {
            log::error!("{}: poisoned by {err}", self.dir.display());
            *p = Some(Arc::new(err.duplicate()));
            self.is_poisoned.store(true, Ordering::Release);
        }
        err
    }

    /// The poisoning failure, if any.
    pub fn poisoned(&self) -> Option<Arc<Error>> {
        self.poison.lock().clone()
    }

    /// Writes `leader-epoch-checkpoint` (atomically).
    pub(crate) fn write_epoch_checkpoint(&self, epochs: &LeaderEpochCache) -> Result<()> {
        LeaderEpochCheckpoint::new(self.dir.join(LEADER_EPOCH_CHECKPOINT_FILE))
            .write(&self.storage, epochs.entries())
    }

    /// Wakes tailing readers blocked in [`wait_for`](Self::wait_for).
    pub(crate) fn wake_waiters(&self) {
        // The caller has just stored the new end offset. A waiter registers (waiters += 1)
        // and then reads the end offset; each side stores one variable and then loads the
        // other, so both need a full fence, or each could miss the other's store and the
        // waiter sleep through the wake-up (store-load reordering).
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::Relaxed) > 0 {
            let _guard = self.wake.0.lock();
            self.wake.1.notify_all();
        }
        if let Some(signal) = self.signal.get() {
            signal.notify();
        }
    }

    /// Makes this log bump `signal` after each append and on close, beside waking its own
    /// [`wait_for`](Self::wait_for) callers, so one reader can wait on many logs. A log takes
    /// one signal for its lifetime; later calls change nothing (and return false).
    pub fn set_append_signal(&self, signal: Arc<AppendSignal>) -> bool {
        self.signal.set(signal).is_ok()
    }

    /// Blocks until the log end passes `offset` (data at `offset` can be read), the timeout
    /// passes, or the log is closed. Returns whether data at `offset` is there.
    ///
    /// A read-only log polls instead: it [`refresh`](Self::refresh)es every few
    /// milliseconds until then (at least once, even with a zero timeout).
    pub fn wait_for(&self, offset: i64, timeout: Duration) -> bool {
        self.wait_for_with(offset, timeout, Isolation::Appended)
    }

    /// As [`wait_for`](Self::wait_for), for a reader that sees only what `isolation` lets it
    /// see: with [`Isolation::Durable`] it waits for a flush to cover `offset`, not just for
    /// an append to reach it.
    pub fn wait_for_with(&self, offset: i64, timeout: Duration, isolation: Isolation) -> bool {
        let visible_end = || match isolation {
            Isolation::Appended => self.end_offset(),
            Isolation::Durable => self.durable_offset().min(self.end_offset()),
        };
        let deadline = Instant::now() + timeout;
        if visible_end() > offset {
            return true;
        }
        if self.read_only {
            // A read-only log polls for growth; the writer's flushes reach it only through
            // the recovery-point checkpoint, so a durable reader may wake before its data
            // is readable and wait again.
            return self.poll_for(offset, deadline);
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        // Pairs with the fence in `wake_waiters` (see there).
        std::sync::atomic::fence(Ordering::SeqCst);
        let mut guard = self.wake.0.lock();
        let ready = loop {
            if visible_end() > offset {
                break true;
            }
            if self.closed.load(Ordering::Acquire)
                || self.wake.1.wait_until(&mut guard, deadline).timed_out()
            {
                break visible_end() > offset;
            }
        };
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::AcqRel);
        ready
    }

    /// Runs `read`, again if it failed because it met a truncation in progress (see
    /// `truncations`): the truncation hid its range before cutting, so reading again once it
    /// is over sees the log as it is after it.
    pub(crate) fn retry_on_truncation<T>(&self, mut read: impl FnMut() -> Result<T>) -> Result<T> {
        let mut retries = 0;
        loop {
            let before = self.truncations.load(Ordering::Acquire);
            let result = read();
            if result.is_err()
                && retries < MAX_TRUNCATION_RETRIES
                && (before % 2 == 1 || self.truncations.load(Ordering::Acquire) != before)
            {
                retries += 1;
                drop(self.cutting.lock());
                continue;
            }
            return result;
        }
    }

    /// Closes the log cleanly: seals the active segment (final time-index entry, indexes
    /// trimmed), fsyncs everything, and returns the state the owner checkpoints. The next
    /// open with `clean_shutdown` scans nothing. Blocked [`wait_for`](Self::wait_for) calls
    /// return, whether or not the close succeeds. Dropping a log without closing it is a
    /// crash as far as recovery is concerned.
    ///
    /// # Errors
    /// I/O errors (the log is then poisoned), [`Error::Poisoned`] if it was already (the log
    /// is closed all the same: it takes no more work), [`Error::Closed`] if it was closed.
    pub fn close(&self) -> Result<CloseState> {
        let writer = self.writer.lock();
        let result = self.check_writable().and_then(|()| {
            if let Some(active) = self.segments().last() {
                active.seal().map_err(|e| self.poison(e))?;
            }
            self.flush_all().map_err(|e| self.poison(e))
        });
        if self.read_only || matches!(result, Err(Error::Closed)) {
            return result.map(|()| self.close_state());
        }
        self.closed.store(true, Ordering::Release);
        drop(writer);
        {
            let _guard = self.wake.0.lock();
            self.wake.1.notify_all();
        }
        if let Some(signal) = self.signal.get() {
            signal.notify();
        }
        result.map(|()| self.close_state())
    }

    fn close_state(&self) -> CloseState {
        CloseState {
            recovery_point: self.durable_offset(),
            log_start_offset: self.log_start_offset(),
        }
    }
}
