//! [`LogSegment`]: one `.log` file with its `.index` and `.timeindex`.
//!
//! A segment is written by one writer (the owning log holds its lock) and read by any number
//! of readers at once. Readers never go past [`LogSegment::size`], which the writer raises
//! only after a whole batch is in the file, so a reader never sees a partial batch.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::batch_info::{BatchInfo, HEADER_PEEK_BYTES};
use super::file_name::{FileKind, FileSuffix, SegmentFileName};
use super::offset_index::{IndexEntry, OffsetIndex};
use super::time_index::{TimeIndex, TimeIndexEntry};
use crate::error::{Corruption, Error, Result};
use crate::io::{IndexAccess, OpenMode, StdFs, Storage, StorageFile};
use crate::record::Batch;

/// Settings a segment needs from its log's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentConfig {
    /// `segment.index.bytes`.
    pub index_bytes: u32,
    /// `index.interval.bytes`.
    pub index_interval_bytes: u32,
    /// True if batches follow each other without offset gaps (a log that is never
    /// compacted): a walk that finds a gap has found damage.
    pub contiguous: bool,
}

/// One segment of a partition log.
#[derive(Debug)]
pub struct LogSegment<S: Storage = StdFs> {
    base_offset: i64,
    /// The `.log` file's name (its base offset was validated when it was built).
    name: SegmentFileName,
    dir: PathBuf,
    log: Arc<S::File>,
    index: OffsetIndex<S>,
    time_index: TimeIndex<S>,
    config: SegmentConfig,
    /// Bytes of complete batches. Readers read below it only.
    size: AtomicU64,
    /// Offset after the last batch; the base offset while empty.
    next_offset: AtomicI64,
    /// Largest batch MaxTimestamp so far, and the last offset of that batch.
    max_timestamp: AtomicI64,
    offset_of_max_timestamp: AtomicI64,
    /// The timestamp `segment.ms` counts from: the first batch's MaxTimestamp, or the
    /// creation time when that is unknown.
    rolling_timestamp: AtomicI64,
    /// When this segment was created or opened (clock ms): the age of a segment without
    /// timestamps.
    opened_ms: i64,
    /// Writer only: log bytes since the last offset-index entry.
    bytes_since_index_entry: AtomicU64,
    /// Writer only: bytes written but not yet fsynced.
    dirty: AtomicBool,
    /// Read-only segments only (opened with `writable == false`): what their tail walks
    /// learned ([`refresh_tail`](Self::refresh_tail)). `None` for a writable segment.
    read_only: Option<ReadOnlyTail>,
}

impl<S: Storage> LogSegment<S> {
    /// Creates the files of a new, empty segment at `base_offset` in `dir`.
    ///
    /// # Errors
    /// I/O errors, `AlreadyExists` if the segment exists.
    pub fn create(
        storage: &S,
        dir: &Path,
        base_offset: i64,
        config: SegmentConfig,
        now_ms: i64,
    ) -> Result<Self> {
        let name = SegmentFileName::new(base_offset, FileKind::Log)?;
        let log = storage.open(&name.path_in(dir), OpenMode::CreateNew)?;
        let index_bytes = u64::from(config.index_bytes);
        let index = OffsetIndex::create(
            storage,
            &name.with_kind(FileKind::Index).path_in(dir),
            base_offset,
            index_bytes,
        )?;
        let time_index = TimeIndex::create(
            storage,
            &name.with_kind(FileKind::TimeIndex).path_in(dir),
            base_offset,
            index_bytes,
        )?;
        Ok(Self::assemble(
            dir, name, log, index, time_index, config, 0, now_ms,
        ))
    }

    /// Opens an existing segment. Indexes are opened as they are; the caller checks them
    /// ([`indexes_look_sane`](Self::indexes_look_sane)) and recovers the segment if they are
    /// missing or damaged. Missing index files are created empty (and must then be rebuilt).
    ///
    /// With `writable == false` (a reader beside a live writer, or of files it may not
    /// write) nothing is created, written or mapped: the files are opened read-only, the
    /// indexes are read into memory with positional reads, and both must exist. Call
    /// [`refresh_tail`](Self::refresh_tail) before reading: until then [`size`](Self::size) is
    /// the file's length, which may end inside a batch being appended.
    ///
    /// # Errors
    /// I/O errors; the `.log` must exist; read-only, [`Error::InvalidLayout`] for a missing
    /// index.
    pub fn open(
        storage: &S,
        dir: &Path,
        base_offset: i64,
        config: SegmentConfig,
        now_ms: i64,
        writable: bool,
    ) -> Result<(Self, bool)> {
        let name = SegmentFileName::new(base_offset, FileKind::Log)?;
        let mode = if writable {
            OpenMode::ReadWrite
        } else {
            OpenMode::ReadOnly
        };
        let log = storage.open(&name.path_in(dir), mode)?;
        let size = log.size()?;
        let access = if writable {
            IndexAccess::ReadWrite
        } else {
            IndexAccess::ReadOnly
        };
        let index_bytes = u64::from(config.index_bytes);
        let index_path = name.with_kind(FileKind::Index).path_in(dir);
        let time_path = name.with_kind(FileKind::TimeIndex).path_in(dir);
        let mut missing = false;
        let index = if storage.exists(&index_path)? {
            OffsetIndex::open(storage, &index_path, base_offset, index_bytes, access)?
        } else if writable {
            missing = true;
            OffsetIndex::create(storage, &index_path, base_offset, index_bytes)?
        } else {
            return Err(Error::InvalidLayout {
                path: index_path,
                reason: "offset index is missing".into(),
            });
        };
        let time_index = if storage.exists(&time_path)? {
            TimeIndex::open(storage, &time_path, base_offset, index_bytes, access)?
        } else if writable {
            // Kafka recreates a missing time index empty; it is rebuilt with the segment.
            missing = true;
            TimeIndex::create(storage, &time_path, base_offset, index_bytes)?
        } else {
            return Err(Error::InvalidLayout {
                path: time_path,
                reason: "time index is missing".into(),
            });
        };
        let mut seg = Self::assemble(dir, name, log, index, time_index, config, size, now_ms);
        if !writable {
            seg.read_only = Some(ReadOnlyTail::default());
        }
        Ok((seg, missing))
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "a private constructor of every field"
    )]
    fn assemble(
        dir: &Path,
        name: SegmentFileName,
        log: S::File,
        index: OffsetIndex<S>,
        time_index: TimeIndex<S>,
        config: SegmentConfig,
        size: u64,
        now_ms: i64,
    ) -> Self {
        let base_offset = name.base_offset();
        LogSegment {
            base_offset,
            name,
            dir: dir.to_path_buf(),
            log: Arc::new(log),
            index,
            time_index,
            config,
            size: AtomicU64::new(size),
            next_offset: AtomicI64::new(base_offset),
            max_timestamp: AtomicI64::new(-1),
            offset_of_max_timestamp: AtomicI64::new(base_offset),
            rolling_timestamp: AtomicI64::new(-1),
            opened_ms: now_ms,
            bytes_since_index_entry: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
            read_only: None,
        }
    }

    /// The segment's base offset.
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Bytes of complete batches in the `.log`.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Offset after the last batch (the base offset while empty).
    pub fn next_offset(&self) -> i64 {
        self.next_offset.load(Ordering::Acquire)
    }

    /// The largest MaxTimestamp of the segment's batches, -1 if none has one.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp.load(Ordering::Acquire)
    }

    /// When the segment's newest data was written as far as retention is concerned: its max
    /// timestamp, or for a segment without timestamps the time it was opened.
    pub fn largest_timestamp(&self) -> i64 {
        let t = self.max_timestamp();
        if t >= 0 {
            t
        } else {
            self.opened_ms
        }
    }

    /// The time `segment.ms` counts from: when the first batch was appended, or for a segment
    /// loaded from disk its first batch's timestamp (never later than when it was opened).
    ///
    /// Kafka counts from the first batch's timestamp even for new appends, so producers
    /// sending old timestamps make it roll on every append; tidelog counts appends by the
    /// clock.
    pub fn rolling_timestamp(&self) -> i64 {
        let t = self.rolling_timestamp.load(Ordering::Acquire);
        if t >= 0 {
            t
        } else {
            self.opened_ms
        }
    }

    /// The `.log` file, shared with readers.
    pub fn log_file(&self) -> &Arc<S::File> {
        &self.log
    }

    /// Path of the `.log` file.
    pub fn log_path(&self) -> PathBuf {
        self.file_name(FileKind::Log).path_in(&self.dir)
    }

    fn file_name(&self, kind: FileKind) -> SegmentFileName {
        self.name.with_kind(kind)
    }

    /// The offset index.
    pub fn offset_index(&self) -> &OffsetIndex<S> {
        &self.index
    }

    /// The time index.
    pub fn time_index(&self) -> &TimeIndex<S> {
        &self.time_index
    }

    /// True if either index cannot take another entry (a reason to roll).
    pub fn indexes_full(&self) -> bool {
        self.index.is_full() || self.time_index.is_full()
    }

    /// Kafka's index sanity checks plus: every offset index position lies inside the file.
    pub fn indexes_look_sane(&self) -> bool {
        let size = self.size();
        // Kafka's cheap checks, and for an index left untrimmed (a writer that did not
        // close: entries written out of order or half written live there) the order of
        // every entry, which binary search needs. A trimmed index was sealed by a roll or
        // close that fsynced it.
        self.index.sanity_check().is_ok()
            && self.time_index.sanity_check().is_ok()
            && self
                .index
                .last_entry()
                .is_none_or(|e| u64::from(e.position) < size.max(1))
            && (self.index.is_trimmed() || self.index.check_entries().is_ok())
            && (self.time_index.is_trimmed() || self.time_index.check_entries().is_ok())
    }

    /// True if data was appended since the last [`flush`](Self::flush).
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    /// Appends one complete, validated batch whose header is `info`, given as its first bytes
    /// `head` and the rest `tail` (empty when `head` is the whole batch), written with one
    /// vectored write. Writer only.
    ///
    /// # Errors
    /// I/O errors (the segment's published size is then unchanged) and index errors.
    /// `now_ms` starts the segment's `segment.ms` clock when this is its first batch.
    pub fn append(&self, head: &[u8], tail: &[u8], info: &BatchInfo, now_ms: i64) -> Result<()> {
        let position = self.size.load(Ordering::Relaxed);
        if self.rolling_timestamp.load(Ordering::Relaxed) < 0 {
            self.rolling_timestamp.store(now_ms, Ordering::Release);
        }
        debug_assert_eq!(info.position, position);
        debug_assert_eq!((head.len() + tail.len()) as u64, u64::from(info.size));
        self.log.write_all_at2(head, tail, position)?;
        self.dirty.store(true, Ordering::Release);
        crate::failpoint::failpoint!("append.after_write");
        self.index_batch(info)?;
        self.size
            .store(position + u64::from(info.size), Ordering::Release);
        self.next_offset
            .store(info.next_offset(), Ordering::Release);
        Ok(())
    }

    /// Applies Kafka's index rule for one batch (as `LogSegment.append` and `recover` do):
    /// an entry for the batch whose start lies more than `index.interval.bytes` after the
    /// last indexed batch's start, mapping its LAST offset to its START position.
    fn index_batch(&self, info: &BatchInfo) -> Result<()> {
        if info.max_timestamp > self.max_timestamp.load(Ordering::Relaxed) {
            self.max_timestamp
                .store(info.max_timestamp, Ordering::Release);
            self.offset_of_max_timestamp
                .store(info.last_offset, Ordering::Release);
        }
        let since = self.bytes_since_index_entry.load(Ordering::Relaxed);
        if since > u64::from(self.config.index_interval_bytes) {
            self.index.append(IndexEntry {
                offset: info.last_offset,
                position: info.position as u32,
            })?;
            crate::failpoint::failpoint!("index.after_append");
            self.time_index.maybe_append(
                TimeIndexEntry {
                    timestamp: self.max_timestamp.load(Ordering::Relaxed),
                    offset: self.offset_of_max_timestamp.load(Ordering::Relaxed),
                },
                false,
            )?;
            self.bytes_since_index_entry
                .store(u64::from(info.size), Ordering::Relaxed);
        } else {
            self.bytes_since_index_entry
                .store(since + u64::from(info.size), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Reads up to `buf.len()` bytes at `position`, never past the published size.
    ///
    /// # Errors
    /// I/O errors.
    pub fn read_at(&self, buf: &mut [u8], position: u64) -> Result<usize> {
        let size = self.size();
        if position >= size {
            return Ok(0);
        }
        let n = buf.len().min((size - position) as usize);
        let mut done = 0;
        while done < n {
            let got = self
                .log
                .read_at(&mut buf[done..n], position + done as u64)?;
            if got == 0 {
                break; // the file was truncated under us
            }
            done += got;
        }
        Ok(done)
    }

    /// The header of the batch at `position`, or `None` at or past `end`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] with this file's path if no valid header is there.
    pub fn header_at(&self, position: u64, end: u64) -> Result<Option<BatchInfo>> {
        if position >= end {
            return Ok(None);
        }
        let mut buf = [0u8; HEADER_PEEK_BYTES];
        let want = HEADER_PEEK_BYTES.min((end - position) as usize);
        let n = self.read_at(&mut buf[..want], position)?;
        BatchInfo::peek(&buf[..n], position, end - position)
            .map(Some)
            .map_err(|e| e.at_path(self.log_path()))
    }

    /// The first batch whose last offset is `>= target`, searching from the index, below
    /// `end`. `None` if every batch below `end` ends before `target`.
    ///
    /// An index hit is checked by reading the batch header it points at; if that is not a
    /// valid batch start with a base offset at most the indexed one, the walk starts from the
    /// beginning of the file instead (indexes are advisory).
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the file holds no valid batch on the way.
    pub fn find_batch(&self, target: i64, end: u64) -> Result<Option<BatchInfo>> {
        let hit = self.index_lookup(target);
        let position = u64::from(hit.position);
        if position == 0 {
            return self.walk_to(target, end, 0, None);
        }
        // The header the index entry points at, once checked: the walk starts with it
        // rather than reading it again.
        let checked = match self.header_at(position, end) {
            Ok(Some(info)) if info.base_offset <= hit.offset && info.last_offset <= hit.offset => {
                Some(info)
            }
            _ => None,
        };
        if checked.is_some() {
            match self.walk_to(target, end, position, checked) {
                // Damage past a plausible-looking entry (bytes inside a batch that happen to
                // read as a header) shows up within a hop or two: walk again from the start.
                Err(Error::Corrupt { .. }) => {}
                found => return found,
            }
        }
        log::warn!(
            "{}: offset index entry {hit:?} does not lead to a batch; scanning",
            self.index.path().display()
        );
        self.walk_to(target, end, 0, None)
    }

    /// Walks batch headers from `position` (whose header is `first`, if already read) to
    /// the first batch whose last offset is `>= target`, checking each against the one
    /// before it.
    fn walk_to(
        &self,
        target: i64,
        end: u64,
        mut position: u64,
        mut first: Option<BatchInfo>,
    ) -> Result<Option<BatchInfo>> {
        let mut prev: Option<BatchInfo> = None;
        loop {
            let info = match first.take() {
                Some(info) => info,
                None => match self.header_at(position, end)? {
                    Some(info) => info,
                    None => break,
                },
            };
            if let Some(p) = prev {
                // A damaged Length lands the walk inside a batch; whatever it reads there
                // must not pass for a batch (it could claim offsets past the log end). Kafka
                // never writes a legacy message after a v2 batch in one log.
                let prev = p.next_offset();
                let v2 = crate::record::MAGIC_V2;
                let gap = info.magic == v2 && info.base_offset != prev;
                let downgrade = p.magic == v2 && info.magic != v2;
                if info.base_offset < prev || downgrade || (self.config.contiguous && gap) {
                    return Err(Error::corrupt(Corruption::Offsets {
                        reason: format!(
                            "batch at offset {} follows one ending at {}",
                            info.base_offset,
                            prev - 1
                        ),
                    })
                    .at_position(position)
                    .at_path(self.log_path()));
                }
            }
            if info.last_offset >= target {
                return Ok(Some(info));
            }
            prev = Some(info);
            position = info.end();
        }
        Ok(None)
    }

    /// Scans and validates every batch from `from` (a batch start), rebuilding both indexes
    /// from scratch, as Kafka's `LogSegment.recover` does, then seals them (final time-index
    /// entry, trimmed). Stops at the first invalid batch and reports it; the caller decides
    /// whether to cut there. `check` sees each valid batch's header in order and may reject
    /// it (offset ordering across segments).
    ///
    /// # Errors
    /// I/O errors. Invalid data is not an error here: it is the returned stop.
    pub fn recover(
        &self,
        mut check: impl FnMut(&BatchInfo) -> std::result::Result<(), Corruption>,
    ) -> Result<ScanOutcome> {
        self.index.truncate_all()?;
        self.time_index.truncate_all()?;
        self.max_timestamp.store(-1, Ordering::Release);
        self.offset_of_max_timestamp
            .store(self.base_offset, Ordering::Release);
        self.rolling_timestamp.store(-1, Ordering::Release);
        self.bytes_since_index_entry.store(0, Ordering::Relaxed);
        let file_len = self.log.size()?;
        let mut outcome = ScanOutcome {
            valid_bytes: 0,
            next_offset: self.base_offset,
            batches: 0,
            stop: None,
            epochs: Vec::new(),
        };
        let mut window = Window::default();
        loop {
            let pos = outcome.valid_bytes;
            if pos >= file_len {
                break;
            }
            let remaining = file_len - pos;
            let bytes = window.batch_at(&*self.log, pos, remaining)?;
            let verdict = Batch::parse(bytes)
                .map_err(|e| e.at_position(pos))
                .and_then(|batch| {
                    let info = BatchInfo::peek(batch.as_bytes(), pos, remaining)?;
                    check(&info).map_err(|kind| Error::corrupt(kind).at_position(pos))?;
                    if info.last_offset.saturating_sub(self.base_offset) > i64::from(i32::MAX)
                        || info.base_offset < self.base_offset
                    {
                        return Err(Error::corrupt(Corruption::Offsets {
                            reason: format!(
                                "batch offsets {}..={} do not fit segment base {}",
                                info.base_offset, info.last_offset, self.base_offset
                            ),
                        })
                        .at_position(pos));
                    }
                    Ok(info)
                });
            match verdict {
                Ok(info) => {
                    if outcome.batches == 0 && info.max_timestamp >= 0 {
                        self.rolling_timestamp
                            .store(info.max_timestamp.min(self.opened_ms), Ordering::Release);
                    }
                    self.index_batch(&info)?;
                    if info.leader_epoch >= 0 {
                        outcome.epochs.push((info.leader_epoch, info.base_offset));
                    }
                    outcome.valid_bytes = info.end();
                    outcome.next_offset = info.next_offset();
                    outcome.batches += 1;
                }
                Err(e) => {
                    outcome.stop = Some(e.at_path(self.log_path()));
                    break;
                }
            }
        }
        self.size.store(outcome.valid_bytes, Ordering::Release);
        self.next_offset
            .store(outcome.next_offset, Ordering::Release);
        // As Kafka's `LogSegment.recover` ends: the final time-index entry a clean close
        // writes, and both indexes trimmed to their entries. Without it a recovered segment
        // that is no longer active keeps the zeroed slots of its old entries and never gets
        // that entry, since only the active segment is sealed on roll and close.
        self.seal()?;
        Ok(outcome)
    }

    /// Trusts the indexes and finds the end by walking batch headers from the last offset
    /// index entry: the open path after a clean shutdown, which reads only the tail.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if a header on the way is invalid (the caller then recovers the
    /// segment).
    pub fn load_clean(&self) -> Result<()> {
        let size = self.size();
        let last_entry = self.index.last_entry().map(|e| u64::from(e.position));
        // From the entry before the last one: the batch the last entry points at then has a
        // predecessor its offsets are checked against (headers are outside the CRC).
        let start = match self.index.len() {
            n if n >= 2 => self.index.entry(n - 2).map_or(0, |e| u64::from(e.position)),
            _ => 0,
        };
        let mut position = start;
        let mut next = self.base_offset;
        let mut bytes_since = 0u64;
        // The largest MaxTimestamp of the batches walked: none may exceed the time index's
        // last entry, which holds the segment's max.
        let mut tail_max = -1i64;
        while let Some(info) = self.header_at(position, size)? {
            tail_max = tail_max.max(info.max_timestamp);
            // The first batch of the file starts at the base; every later one where the batch
            // before ends (gaps only after compaction); a damaged header must not set the end.
            let checked = position != start || start == 0;
            let gap = checked && self.config.contiguous && info.base_offset != next;
            if info.base_offset < next || gap {
                return Err(Error::corrupt(Corruption::Offsets {
                    reason: format!(
                        "batch at offset {} follows one ending at {}",
                        info.base_offset,
                        next - 1
                    ),
                })
                .at_position(position)
                .at_path(self.log_path()));
            }
            next = info.next_offset();
            bytes_since = if Some(position) == last_entry && position != 0 {
                u64::from(info.size)
            } else {
                bytes_since + u64::from(info.size)
            };
            position = info.end();
        }
        if position != size {
            return Err(Error::corrupt(Corruption::Truncated {
                needed: size,
                available: position,
            })
            .at_path(self.log_path()));
        }
        self.next_offset.store(next, Ordering::Release);
        self.bytes_since_index_entry
            .store(bytes_since, Ordering::Relaxed);
        match self.time_index.last_entry() {
            Some(last) => {
                // The last entry becomes the segment's max timestamp, which decides whether
                // timestamp lookups and time retention look at this segment at all; Kafka's
                // sanity check passes most damage to it. A time-index entry names the batch
                // that set a new max (its offset lies in that batch, whose MaxTimestamp is
                // the entry's timestamp): one header read checks that.
                if last.timestamp < tail_max || !self.time_entry_matches(last, size)? {
                    return Err(Error::corrupt(Corruption::Invalid {
                        reason: "the time index's last entry does not match its batch",
                    })
                    .at_path(self.time_index.path()));
                }
                self.max_timestamp.store(last.timestamp, Ordering::Release);
                self.offset_of_max_timestamp
                    .store(last.offset, Ordering::Release);
            }
            // A sealed segment with timestamps always ends its time index with its max
            // timestamp, so an empty one over batches that carry timestamps is damaged:
            // recover the segment. (Batches without timestamps, -1, leave it empty.)
            None if tail_max >= 0
                || (size > 0
                    && self
                        .header_at(0, size)?
                        .is_some_and(|first| first.max_timestamp >= 0)) =>
            {
                return Err(Error::corrupt(Corruption::Invalid {
                    reason: "time index is empty but the segment holds batches",
                })
                .at_path(self.time_index.path()));
            }
            None => {}
        }
        if self.size() > 0 {
            // The first batch's timestamp drives `segment.ms`.
            if let Some(first) = self.header_at(0, size)? {
                if first.max_timestamp >= 0 {
                    self.rolling_timestamp
                        .store(first.max_timestamp.min(self.opened_ms), Ordering::Release);
                }
            }
        }
        Ok(())
    }

    /// Whether the time-index entry `entry` agrees with the log below `end`: the batch
    /// holding its offset has its timestamp as MaxTimestamp. Every entry is written that way
    /// (the running max and the batch that set it), so a mismatch is damage.
    ///
    /// # Errors
    /// I/O errors, and [`Error::Corrupt`] if the walk to that batch finds damage.
    pub fn time_entry_matches(&self, entry: TimeIndexEntry, end: u64) -> Result<bool> {
        Ok(self.find_batch(entry.offset, end)?.is_some_and(|info| {
            info.base_offset <= entry.offset && info.max_timestamp == entry.timestamp
        }))
    }

    /// Cuts the segment so that it ends before the batch containing `offset` (Kafka's
    /// `LogSegment.truncateTo`): that batch and all later ones go. Returns bytes removed.
    ///
    /// # Errors
    /// I/O errors.
    pub fn truncate_to(&self, offset: i64) -> Result<u64> {
        let size = self.size();
        let Some(info) = self.find_batch(offset, size)? else {
            return Ok(0);
        };
        self.truncate_at(info.position, info.base_offset)
    }

    /// Cuts the file at `position` (a batch start) whose batch begins at `next_offset`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn truncate_at(&self, position: u64, next_offset: i64) -> Result<u64> {
        let size = self.log.size()?;
        self.index.truncate_to(next_offset)?;
        self.time_index.truncate_to(next_offset)?;
        // Publish the smaller size before cutting the file, so readers stop short of it.
        self.size.store(position, Ordering::Release);
        self.next_offset
            .store(next_offset.max(self.base_offset), Ordering::Release);
        self.log.set_len(position)?;
        self.dirty.store(true, Ordering::Release);
        // Recompute the running max timestamp from the batches that remain (the time index
        // only samples them), so the closing time-index entry stays right.
        let (mut max_ts, mut off) = (-1, self.base_offset);
        let mut walk = 0;
        while let Some(info) = self.header_at(walk, position)? {
            if info.max_timestamp > max_ts {
                (max_ts, off) = (info.max_timestamp, info.last_offset);
            }
            walk = info.end();
        }
        self.max_timestamp.store(max_ts, Ordering::Release);
        self.offset_of_max_timestamp.store(off, Ordering::Release);
        let last_indexed = self.index.last_entry().map_or(0, |e| u64::from(e.position));
        self.bytes_since_index_entry
            .store(position.saturating_sub(last_indexed), Ordering::Relaxed);
        if position == 0 {
            self.rolling_timestamp.store(-1, Ordering::Release);
        }
        Ok(size.saturating_sub(position))
    }

    /// fdatasyncs the `.log` and both indexes if anything changed since the last flush.
    ///
    /// # Errors
    /// I/O errors.
    pub fn flush(&self) -> Result<()> {
        if self.dirty.swap(false, Ordering::AcqRel) {
            let res = self
                .log
                .sync_data()
                .and_then(|()| self.index.sync())
                .and_then(|()| self.time_index.sync());
            if res.is_err() {
                self.dirty.store(true, Ordering::Release);
            }
            res?;
        }
        Ok(())
    }

    /// What Kafka does when a segment stops being the active one (`onBecomeInactiveSegment`)
    /// or on close: a final time-index entry for the max timestamp, and both indexes trimmed
    /// to their entries.
    ///
    /// # Errors
    /// I/O errors.
    pub fn seal(&self) -> Result<()> {
        let max = self.max_timestamp();
        if max >= 0 {
            self.time_index.maybe_append(
                TimeIndexEntry {
                    timestamp: max,
                    offset: self.offset_of_max_timestamp.load(Ordering::Acquire),
                },
                true,
            )?;
        }
        self.index.trim_to_valid_size()?;
        self.time_index.trim_to_valid_size()?;
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }

    /// Renames the segment's files to `.deleted`, then removes them. Readers holding the
    /// segment keep reading through their open handle.
    ///
    /// # Errors
    /// I/O errors.
    pub fn delete_files(&self, storage: &S) -> Result<()> {
        for deleted in self.retire_files(storage)? {
            storage.remove_file(&deleted)?;
        }
        Ok(())
    }

    /// Renames the segment's files to Kafka's `.deleted` form and returns their new paths,
    /// for the caller to remove later (Kafka's `file.delete.delay.ms`). An open that finds
    /// them removes them, as Kafka's loader does.
    ///
    /// # Errors
    /// I/O errors.
    pub fn retire_files(&self, storage: &S) -> Result<Vec<PathBuf>> {
        let mut retired = Vec::new();
        for kind in [
            FileKind::Log,
            FileKind::Index,
            FileKind::TimeIndex,
            FileKind::TxnIndex,
        ] {
            let name = self.file_name(kind);
            let from = name.path_in(&self.dir);
            if !storage.exists(&from)? {
                continue;
            }
            let to = name.with_suffix(FileSuffix::Deleted).path_in(&self.dir);
            storage.rename(&from, &to)?;
            crate::failpoint::failpoint!("retention.after_rename");
            retired.push(to);
        }
        Ok(retired)
    }
}

/// What the tail walks of a read-only segment learned.
#[derive(Debug, Default)]
struct ReadOnlyTail {
    /// Held for a whole walk, so walks of one segment never interleave. Readers never take it.
    walk: Mutex<TailWalk>,
    /// `last offset → position` of batches the walks found, one every `index.interval.bytes`
    /// (Kafka's index rule), in order: an in-memory supplement to the index snapshot loaded at
    /// open, so that lookups near the end of a segment that grew since stay short. Locked
    /// only briefly, never over I/O.
    hints: RwLock<Vec<IndexEntry>>,
}

/// The position of a read-only segment's tail walks.
#[derive(Debug, Default)]
struct TailWalk {
    /// The last complete batch found and its header bytes as read then: the next walk
    /// resumes after it if those bytes still read the same, and walks the whole segment again
    /// otherwise (the writer truncated it, and may have written other batches since).
    last: Option<(BatchInfo, PeekedHeader)>,
    /// Log bytes walked since the last hint (Kafka's `bytesSinceLastIndexEntry`).
    bytes_since_hint: u64,
}

/// The first bytes of a batch as read: up to [`HEADER_PEEK_BYTES`] of them.
type PeekedHeader = ([u8; HEADER_PEEK_BYTES], usize);

/// Read-only segments: finding the end of a file another process appends to, and looking
/// up offsets past the index snapshot. Nothing here writes or maps anything.
impl<S: Storage> LogSegment<S> {
    /// True if the segment was opened read-only (`writable == false`).
    pub fn is_read_only(&self) -> bool {
        self.read_only.is_some()
    }

    /// The entry to start a scan for `target` from: the offset-index entry with the largest
    /// offset `<= target` (`(base offset, 0)` if none), or for a read-only segment the
    /// closer of it and the entries its tail walks learned since the index was loaded.
    pub fn index_lookup(&self, target: i64) -> IndexEntry {
        let hit = self.index.lookup(target);
        let Some(ro) = &self.read_only else {
            return hit;
        };
        let hints = ro.hints.read();
        let n = hints.partition_point(|e| e.offset <= target);
        match n.checked_sub(1).and_then(|i| hints.get(i)) {
            Some(&hint) if hint.offset > hit.offset => hint,
            _ => hit,
        }
    }

    /// Read-only segments: finds the end of the complete batches now in the file and
    /// publishes it as [`size`](Self::size) and [`next_offset`](Self::next_offset) (and the
    /// max timestamp), as a writer does after its appends. Returns whether the end moved.
    ///
    /// The first call walks batches from the last offset-index entry (checked against the
    /// batch it points at; the file's start if it does not match), so only the tail is read.
    /// Later calls resume after the last batch found, so a tailing reader walks each batch
    /// once. Every batch walked must be whole and pass its framing and CRC checks, so it
    /// counts only once all its bytes are in place, whatever order a writer's bytes become
    /// visible in. The walk stops before a batch that runs past the end of the file (an
    /// append in flight, or a crash's torn tail) and at any batch that fails its checks; a
    /// later call looks again. If the last batch found no longer reads the same
    /// (the writer truncated the file, and may have appended other batches since), the whole
    /// segment is walked again from its start.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a writable segment (its writer publishes its end); I/O
    /// errors.
    pub fn refresh_tail(&self) -> Result<bool> {
        let Some(ro) = &self.read_only else {
            return Err(Error::InvalidArgument(format!(
                "{} is open for writing: its writer publishes its end",
                self.log_path().display()
            )));
        };
        let mut walk = ro.walk.lock();
        let file_len = self.log.size()?;
        let old_size = self.size();
        let old_next = self.next_offset();
        let mut max_ts = self.max_timestamp.load(Ordering::Acquire);
        let mut max_ts_offset = self.offset_of_max_timestamp.load(Ordering::Acquire);
        // Where to start: after the last batch found if it still reads the same, else the
        // whole segment again; on the first walk, the last index entry's batch.
        let (mut position, mut floor) = match walk.last {
            Some((info, header)) => {
                let same = info.end() <= file_len
                    && self
                        .peek_file(info.position, file_len)?
                        .is_some_and(|(_, (now, n))| {
                            n >= header.1 && now[..header.1] == header.0[..header.1]
                        });
                if same {
                    (info.end(), info.next_offset())
                } else {
                    log::info!(
                        "{}: the batch at position {} changed under the reader (truncated); \
                         walking the segment again",
                        self.log_path().display(),
                        info.position
                    );
                    walk.last = None;
                    walk.bytes_since_hint = 0;
                    ro.hints.write().clear();
                    max_ts = -1;
                    max_ts_offset = self.base_offset;
                    (0, self.base_offset)
                }
            }
            None => {
                if let Some(last) = self.time_index.last_entry() {
                    if last.timestamp > max_ts {
                        max_ts = last.timestamp;
                        max_ts_offset = last.offset;
                    }
                }
                self.tail_walk_start(file_len)?
            }
        };
        let mut hints = Vec::new();
        let mut window = Window::default();
        while position < file_len {
            // The whole batch, CRC and all: only a batch whose every byte is in place counts,
            // whatever order the writer's bytes become visible in.
            let remaining = file_len - position;
            let bytes = window.batch_at(&*self.log, position, remaining)?;
            let checked = Batch::parse(bytes)
                .and_then(|batch| BatchInfo::peek(batch.as_bytes(), position, remaining));
            let info = match checked {
                Ok(info) => info,
                Err(e) => {
                    if !matches!(
                        e,
                        Error::Corrupt {
                            kind: Corruption::Truncated { .. },
                            ..
                        }
                    ) {
                        log::debug!(
                            "{}: no valid batch at position {position} (yet): {e}",
                            self.log_path().display()
                        );
                    }
                    break;
                }
            };
            // `bytes` holds the whole batch (it parsed), so its first `header.1` bytes.
            let mut header: PeekedHeader = ([0; HEADER_PEEK_BYTES], 0);
            header.1 = HEADER_PEEK_BYTES.min(info.size as usize);
            header.0[..header.1].copy_from_slice(&bytes[..header.1]);
            let fits = info.base_offset >= floor
                && info.last_offset.saturating_sub(self.base_offset) <= i64::from(i32::MAX);
            if !fits {
                log::debug!(
                    "{}: batch at position {position} (offsets {}..={}) does not follow offset \
                     {}; the walk stops there",
                    self.log_path().display(),
                    info.base_offset,
                    info.last_offset,
                    floor - 1
                );
                break;
            }
            if walk.bytes_since_hint > u64::from(self.config.index_interval_bytes) {
                if let Ok(p) = u32::try_from(info.position) {
                    hints.push(IndexEntry {
                        offset: info.last_offset,
                        position: p,
                    });
                }
                walk.bytes_since_hint = u64::from(info.size);
            } else {
                walk.bytes_since_hint += u64::from(info.size);
            }
            if info.max_timestamp > max_ts {
                max_ts = info.max_timestamp;
                max_ts_offset = info.last_offset;
            }
            if info.position == 0 && info.max_timestamp >= 0 {
                self.rolling_timestamp
                    .store(info.max_timestamp.min(self.opened_ms), Ordering::Release);
            }
            floor = info.next_offset();
            position = info.end();
            walk.last = Some((info, header));
        }
        if !hints.is_empty() {
            ro.hints.write().extend(hints);
        }
        self.max_timestamp.store(max_ts, Ordering::Release);
        self.offset_of_max_timestamp
            .store(max_ts_offset, Ordering::Release);
        // As `append` publishes: the size first, then the offset.
        self.size.store(position, Ordering::Release);
        self.next_offset.store(floor, Ordering::Release);
        Ok(position != old_size || floor != old_next)
    }

    /// Where the first tail walk starts: the batch the last offset-index entry points at, if
    /// it is there and ends at or before that entry's offset (both index densities Kafka
    /// has written); else an earlier entry's (an entry is
    /// stored through the writer's mapping, so the newest may be torn); else the file's start.
    /// Returns the position and the offset the walk may start from.
    fn tail_walk_start(&self, file_len: u64) -> Result<(u64, i64)> {
        let n = self.index.len();
        for i in (n.saturating_sub(3)..n).rev() {
            let Some(entry) = self.index.entry(i) else {
                continue;
            };
            if let Some((info, _)) = self.peek_file(u64::from(entry.position), file_len)? {
                // An entry names a batch at or after the one at its position: Kafka's
                // current rule maps a batch's last offset to its own start, older brokers
                // (and followers' multi-batch appends) the last offset of an append to the
                // start of its first batch.
                if info.last_offset <= entry.offset && info.base_offset >= self.base_offset {
                    return Ok((info.position, info.base_offset));
                }
            }
        }
        Ok((0, self.base_offset))
    }

    /// The header of the complete batch starting at `position` of the file as it is (not
    /// bounded by the published size), with the bytes read. `None` at or past `file_len`,
    /// for a batch running past it (an append in flight or a torn tail), and for bytes that
    /// are not a valid header.
    ///
    /// # Errors
    /// I/O errors.
    fn peek_file(&self, position: u64, file_len: u64) -> Result<Option<(BatchInfo, PeekedHeader)>> {
        if position >= file_len {
            return Ok(None);
        }
        let available = file_len - position;
        let want =
            usize::try_from(available).map_or(HEADER_PEEK_BYTES, |a| a.min(HEADER_PEEK_BYTES));
        let mut buf = [0u8; HEADER_PEEK_BYTES];
        let mut n = 0;
        while n < want {
            let got = self.log.read_at(&mut buf[n..want], position + n as u64)?;
            if got == 0 {
                break; // cut under us
            }
            n += got;
        }
        match BatchInfo::peek(&buf[..n], position, available) {
            Ok(info) => Ok(Some((info, (buf, n)))),
            Err(Error::Corrupt {
                kind: Corruption::Truncated { .. },
                ..
            }) => Ok(None),
            Err(e) => {
                log::debug!(
                    "{}: no valid batch at position {position}: {e}",
                    self.log_path().display()
                );
                Ok(None)
            }
        }
    }

    /// Read-only openers: true if the segment's `.log` path no longer names the file this
    /// segment holds open: the writer deleted it, and perhaps created another segment at the
    /// same base offset (after a truncation). Always false when the storage has no OS file
    /// descriptors (this compares device and inode numbers, outside the storage seam).
    ///
    /// # Errors
    /// I/O errors other than the path being missing.
    pub fn file_replaced(&self) -> Result<bool> {
        let Some(fd) = self.log.fd() else {
            return Ok(false);
        };
        let path = self.log_path();
        let held = rustix::fs::fstat(fd).map_err(|e| Error::io("fstat", &path, e.into()))?;
        match rustix::fs::stat(&path) {
            Ok(now) => Ok(now.st_dev != held.st_dev || now.st_ino != held.st_ino),
            Err(rustix::io::Errno::NOENT) => Ok(true),
            Err(e) => Err(Error::io("stat", &path, e.into())),
        }
    }
}

/// A read-ahead buffer over a file for sequential batch scans: one large positional read
/// per megabyte instead of one per batch.
#[derive(Debug, Default)]
struct Window {
    buf: Vec<u8>,
    start: u64,
}

impl Window {
    const CHUNK: usize = 1 << 20;

    /// The bytes from `pos` (a batch start) holding at least the whole batch there, as far
    /// as its Length field claims and the file (`remaining` bytes from `pos`) allows.
    fn batch_at<F: StorageFile>(&mut self, file: &F, pos: u64, remaining: u64) -> Result<&[u8]> {
        let have = |w: &Window| {
            if pos >= w.start {
                w.buf.len().saturating_sub((pos - w.start) as usize)
            } else {
                0
            }
        };
        if have(self) < 12.min(remaining as usize) {
            self.fill(file, pos, Self::CHUNK.min(remaining as usize))?;
        }
        let off = (pos - self.start) as usize;
        let claimed = self
            .buf
            .get(off + 8..off + 12)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        if let Some(len) = claimed.filter(|&l| l >= 0) {
            let need = 12 + len as u64;
            // A batch claiming more than the file holds is torn or corrupt: reading further
            // would not help, and the parser reports it from what is here.
            if need <= remaining && have(self) < need as usize {
                self.fill(
                    file,
                    pos,
                    (need as usize).max(Self::CHUNK.min(remaining as usize)),
                )?;
            }
        }
        let off = (pos - self.start) as usize;
        Ok(self.buf.get(off..).unwrap_or_default())
    }

    fn fill<F: StorageFile>(&mut self, file: &F, pos: u64, len: usize) -> Result<()> {
        self.buf.resize(len, 0);
        let mut done = 0;
        while done < len {
            let n = file.read_at(&mut self.buf[done..], pos + done as u64)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        self.buf.truncate(done);
        self.start = pos;
        Ok(())
    }
}

/// What [`LogSegment::recover`] found.
#[derive(Debug)]
pub struct ScanOutcome {
    /// Bytes of valid batches from the start of the file.
    pub valid_bytes: u64,
    /// Offset after the last valid batch.
    pub next_offset: i64,
    /// Valid batches seen.
    pub batches: u64,
    /// The first invalid batch, if the scan stopped before the end of the file.
    pub stop: Option<Error>,
    /// `(leader epoch, base offset)` of every valid batch with an epoch, in order.
    pub epochs: Vec<(i32, i64)>,
}
