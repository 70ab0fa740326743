//! Appending: building or accepting a batch, rolling segments, and flushing.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::log::{Log, Writer};
use super::options::{AppendInfo, AppendOptions, Durability, Validation};
use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::io::Storage;
use crate::record::{
    records_count_and_log_append_time, BatchHead, BatchOptions, Record, RecordBatch,
    RecordBatchMut, TimestampType, MAGIC_V2, RECORD_BATCH_OVERHEAD,
};
use crate::segment::{BatchInfo, LogSegment};

impl<S: Storage> Log<S> {
    /// Appends `records` as one batch: assigns offsets from the log end, stamps the leader
    /// epoch (and LogAppendTime if the log is configured for it), compresses once with
    /// `opts.compression`, and writes it.
    ///
    /// Returns once the batch is in the OS page cache (a process crash cannot lose it), or,
    /// with [`Durability::Sync`], once it is fsynced.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no records; [`Error::RecordTooLarge`] past
    /// `max.message.bytes`; I/O errors, after which the log is [`Error::Poisoned`].
    pub fn append(&self, records: &[Record], opts: &AppendOptions) -> Result<AppendInfo> {
        let mut guard = self.writer.lock();
        self.check_writable()?;
        let w = &mut *guard;
        self.sync_writer_config(w);
        let config = &w.config;
        let now = self.append_clock(config);
        let log_append_time =
            (config.message_timestamp_type == TimestampType::LogAppendTime).then_some(now);
        w.builder.reset(BatchOptions {
            compression: opts.compression,
            compression_level: opts.compression_level,
            log_append_time,
            producer_id: opts.producer_id,
            producer_epoch: opts.producer_epoch,
            base_sequence: opts.base_sequence,
            is_transactional: false,
            is_control: false,
            partition_leader_epoch: w.leader_epoch,
            base_offset: self.end_offset(),
        });
        for r in records {
            w.builder.append_record(r)?;
        }
        let Writer {
            builder,
            epochs,
            active,
            ..
        } = w;
        let batch = builder.finish()?;
        let info = self.write_batch(config, epochs, active, batch, &[], now)?;
        self.after_append(config, info, opts.durability, now)
    }

    /// Appends an already-encoded magic-2 batch (from a remote producer, a mirror or a
    /// follower) without recompressing it: checks it per `validation`, then assigns offsets
    /// from the log end and stamps the leader epoch (and LogAppendTime if configured) in a
    /// copy of its 61-byte header, written together with the caller's records section in
    /// one vectored write. The caller's bytes are not modified.
    ///
    /// # Errors
    /// [`Error::Corrupt`]/[`Error::UnknownCodec`] for a batch that fails validation (legacy
    /// batches are refused: they are read, never written); [`Error::RecordTooLarge`]; I/O
    /// errors, after which the log is [`Error::Poisoned`].
    pub fn append_batch(&self, batch: &[u8], validation: Validation) -> Result<AppendInfo> {
        self.append_batch_with(batch, validation, Durability::PageCache)
    }

    /// As [`append_batch`](Self::append_batch), with a choice of durability.
    ///
    /// # Errors
    /// As [`append_batch`](Self::append_batch).
    pub fn append_batch_with(
        &self,
        batch: &[u8],
        validation: Validation,
        durability: Durability,
    ) -> Result<AppendInfo> {
        let parsed = RecordBatch::parse(batch)?;
        if parsed.size() != batch.len() {
            return Err(Error::InvalidArgument(format!(
                "expected exactly one batch: {} bytes follow it",
                batch.len() - parsed.size()
            )));
        }
        let mut head = BatchHead::of(batch)?;
        let records = &batch[RECORD_BATCH_OVERHEAD..];
        let mut guard = self.writer.lock();
        self.check_writable()?;
        let w = &mut *guard;
        self.sync_writer_config(w);
        let config = &w.config;
        if validation == Validation::Deep {
            parsed.validate_records(&mut w.scratch, config.max_decompressed_bytes)?;
        }
        let now = self.append_clock(config);
        // Stamp a copy of the header only: the records go to the file from the caller's
        // buffer, in the same vectored write.
        head.set_base_offset(self.end_offset());
        head.set_partition_leader_epoch(w.leader_epoch);
        if config.message_timestamp_type == TimestampType::LogAppendTime {
            head.set_log_append_time(now, records);
        }
        let info = self.write_batch(
            config,
            &mut w.epochs,
            &mut w.active,
            head.as_bytes(),
            records,
            now,
        )?;
        self.after_append(config, info, durability, now)
    }

    /// Appends a batch this process has just built with a
    /// [`BatchBuilder`](crate::record::BatchBuilder) (the store's producer): framing and CRC
    /// were computed here, from values, so they are trusted rather than checked again, and
    /// the batch is stamped (base offset, leader epoch, LogAppendTime if configured) in the
    /// caller's buffer instead of a copy. Foreign bytes go through
    /// [`append_batch_with`](Self::append_batch_with), which validates them.
    ///
    /// # Errors
    /// As [`append_batch_with`](Self::append_batch_with); the size checks and the header
    /// parse still apply.
    pub(crate) fn append_built(
        &self,
        batch: &mut [u8],
        durability: Durability,
    ) -> Result<AppendInfo> {
        let mut guard = self.writer.lock();
        self.check_writable()?;
        let w = &mut *guard;
        self.sync_writer_config(w);
        let config = &w.config;
        let now = self.append_clock(config);
        let mut m = RecordBatchMut::new(batch)?;
        m.set_base_offset(self.end_offset());
        m.set_partition_leader_epoch(w.leader_epoch);
        if config.message_timestamp_type == TimestampType::LogAppendTime {
            m.set_log_append_time(now);
        }
        let info = self.write_batch(config, &mut w.epochs, &mut w.active, batch, &[], now)?;
        self.after_append(config, info, durability, now)
    }

    /// Writes one stamped batch, `head` followed by `tail` (empty if `head` is the whole
    /// batch), at the log end, rolling first if needed, and publishes it. Writer lock held.
    fn write_batch(
        &self,
        config: &LogConfig,
        epochs: &mut super::LeaderEpochCache,
        active: &mut Option<(u64, Arc<LogSegment<S>>)>,
        head: &[u8],
        tail: &[u8],
        now: i64,
    ) -> Result<AppendInfo> {
        let size = head.len() + tail.len();
        let max = config.max_message_bytes as usize;
        if size > max {
            return Err(Error::RecordTooLarge { size, max });
        }
        let header = BatchInfo::peek(head, 0, size as u64)?;
        let (records_count, log_append_time) = records_count_and_log_append_time(head)
            .filter(|_| header.magic == MAGIC_V2)
            .ok_or_else(|| Error::InvalidArgument("not a magic-2 batch".into()))?;
        let active = self
            .maybe_roll(config, active, &header, now)
            .map_err(|e| self.poison(e))?;
        let info = BatchInfo {
            position: active.size(),
            ..header
        };
        active
            .append(head, tail, &info, now)
            .map_err(|e| self.poison(e))?;
        if epochs.assign(info.leader_epoch, info.base_offset) {
            self.write_epoch_checkpoint(epochs)
                .map_err(|e| self.poison(e))?;
        }
        self.end_offset.store(info.next_offset(), Ordering::Release);
        self.wake_waiters();
        let records = records_count.max(0) as u32;
        // Only the writer (holding the writer lock) updates these two: a plain load and
        // store, not a locked read-modify-write, is enough.
        let c = &self.counters;
        let n = c.records_appended.load(Ordering::Relaxed);
        c.records_appended
            .store(n + u64::from(records), Ordering::Relaxed);
        let n = c.bytes_appended.load(Ordering::Relaxed);
        c.bytes_appended
            .store(n + u64::from(info.size), Ordering::Relaxed);
        Ok(AppendInfo {
            first_offset: info.base_offset,
            last_offset: info.last_offset,
            append_time: if log_append_time {
                info.max_timestamp
            } else {
                -1
            },
            max_timestamp: info.max_timestamp,
            record_count: records,
            size: info.size,
            durable: false,
        })
    }

    /// The time an append goes by: precise where it becomes a LogAppendTime timestamp,
    /// else the clock's cheaper coarse reading (a few ms off at most), which only the
    /// `segment.ms` and `flush.ms` checks use.
    fn append_clock(&self, config: &LogConfig) -> i64 {
        if config.message_timestamp_type == TimestampType::LogAppendTime {
            self.clock.now_ms()
        } else {
            self.clock.coarse_now_ms()
        }
    }

    /// Applies the flush policy (or the caller's `Sync`) after an append.
    fn after_append(
        &self,
        config: &LogConfig,
        mut info: AppendInfo,
        durability: Durability,
        now: i64,
    ) -> Result<AppendInfo> {
        let count = i64::from(info.record_count);
        if durability == Durability::PageCache
            && config.flush_messages == u64::MAX
            && config.flush_ms == u64::MAX
        {
            // No flush policy: only note when the oldest unflushed append happened (for
            // maintenance and stats), without the counters' read-modify-write.
            if self.first_unflushed_ms.load(Ordering::Relaxed) == i64::MIN {
                self.first_unflushed_ms.store(now, Ordering::Release);
            }
            return Ok(info);
        }
        let pending = self.unflushed_messages.fetch_add(count, Ordering::AcqRel) + count;
        let _ = self.first_unflushed_ms.compare_exchange(
            i64::MIN,
            now,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        let first = self.first_unflushed_ms.load(Ordering::Acquire);
        let by_count = pending as u64 >= config.flush_messages;
        let by_time = first != i64::MIN && now.saturating_sub(first) as u64 >= config.flush_ms;
        if durability == Durability::Sync || by_count || by_time {
            self.flush()?;
            info.durable = true;
        }
        Ok(info)
    }

    /// Rolls to a new segment if the active one cannot take the batch `header` describes
    /// (Kafka's `shouldRoll`), and returns the segment to write to. Writer lock held.
    fn maybe_roll<'a>(
        &self,
        config: &LogConfig,
        cached: &'a mut Option<(u64, Arc<LogSegment<S>>)>,
        header: &BatchInfo,
        now: i64,
    ) -> Result<&'a Arc<LogSegment<S>>> {
        let no_segments = || Error::InvalidLayout {
            path: self.dir.clone(),
            reason: "log has no segments".into(),
        };
        let active = self.active_segment(cached).ok_or_else(no_segments)?;
        let size = active.size();
        let full = size > 0 && size.saturating_add(u64::from(header.size)) > config.segment_bytes;
        // `segment.ms` past i64::MAX means never (a plain cast would make it -1: always).
        let segment_ms = i64::try_from(config.segment_ms).unwrap_or(i64::MAX);
        let old = size > 0 && now.saturating_sub(active.rolling_timestamp()) > segment_ms;
        let overflow = header.last_offset - active.base_offset() > i64::from(i32::MAX);
        if full || old || overflow || active.indexes_full() {
            self.roll_to(header.base_offset, now)?;
        }
        // After a roll the generation moved, and this picks up the new segment.
        self.active_segment(cached).ok_or_else(no_segments)
    }

    /// Seals the active segment and starts a new one at `base_offset` (the log end).
    pub(crate) fn roll_to(&self, base_offset: i64, now: i64) -> Result<Arc<LogSegment<S>>> {
        let mut segments = self.segments().as_ref().clone();
        if let Some(active) = segments.last() {
            if active.size() == 0 && active.base_offset() == base_offset {
                return Ok(Arc::clone(active));
            }
            if active.size() == 0 {
                // An empty active segment at another base (after truncation): replace it.
                active.delete_files(&self.storage)?;
                segments.pop();
            } else {
                active.seal()?;
                crate::failpoint::failpoint!("roll.after_seal");
            }
        }
        crate::failpoint::failpoint!("roll.before_create");
        let segment = Arc::new(LogSegment::create(
            &self.storage,
            &self.dir,
            base_offset,
            Self::segment_config(&self.cfg()),
            now,
        )?);
        self.dir_dirty.store(true, Ordering::Release);
        crate::failpoint::failpoint!("roll.after_create");
        segments.push(Arc::clone(&segment));
        self.publish_segments(segments);
        log::debug!("{}: rolled to segment {base_offset}", self.dir.display());
        Ok(segment)
    }

    /// Rolls the active segment now, whatever its size (Kafka's `roll`).
    ///
    /// # Errors
    /// I/O errors (the log is then poisoned); [`Error::Closed`] or [`Error::Poisoned`].
    pub fn roll(&self) -> Result<()> {
        let _w = self.writer.lock();
        self.check_writable()?;
        let now = self.clock.now_ms();
        self.roll_to(self.end_offset(), now)
            .map(drop)
            .map_err(|e| self.poison(e))
    }

    /// Makes everything appended so far durable: fdatasync of every segment written since
    /// the last flush (log and indexes), then of the directory if files were created,
    /// renamed or removed. Then raises the durable offset.
    ///
    /// # Errors
    /// I/O errors, after which the log is [`Error::Poisoned`] and the durable offset stays
    /// where it was: an fsync that failed once is never retried and reported as success.
    pub fn flush(&self) -> Result<()> {
        self.check_writable()?;
        self.flush_all().map_err(|e| self.poison(e))
    }

    pub(crate) fn flush_all(&self) -> Result<()> {
        let _f = self.flush_lock.lock();
        // Everything below `end` was written before `end` was published, hence before the
        // fsyncs below start: they cover it.
        let end = self.end_offset();
        self.unflushed_messages.store(0, Ordering::Release);
        self.first_unflushed_ms.store(i64::MIN, Ordering::Release);
        for segment in self.segments().iter().filter(|s| s.is_dirty()) {
            segment.flush()?;
        }
        crate::failpoint::failpoint!("flush.after_segments");
        if self.dir_dirty.swap(false, Ordering::AcqRel) {
            if let Err(e) = self.storage.sync_dir(&self.dir) {
                self.dir_dirty.store(true, Ordering::Release);
                return Err(e);
            }
        }
        if self.durable_offset.fetch_max(end, Ordering::AcqRel) < end {
            // Readers that see only durable data wait for this.
            self.wake_waiters();
        }
        Ok(())
    }
}
