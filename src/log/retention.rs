//! Removing data: retention by time and size, `delete_records_before`, and `truncate_to`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::log::Log;
use super::options::RetentionReport;
use crate::error::{Error, Result};
use crate::io::Storage;
use crate::segment::LogSegment;

impl<S: Storage> Log<S> {
    /// One retention pass (Kafka's `deleteOldSegments`): deletes, oldest first, whole
    /// segments whose newest record is older than `retention.ms`, then while the log is
    /// larger than `retention.bytes`, then those wholly below the log start offset. As in
    /// Kafka, the active segment counts too once it holds data: when every segment is due,
    /// the log rolls first, so an idle partition's data expires and the log keeps an empty
    /// segment to append to (at the old end offset). Files are renamed to `.deleted` and
    /// removed; readers holding them keep reading.
    ///
    /// # Errors
    /// I/O errors (the log is then poisoned); [`Error::Closed`] or [`Error::Poisoned`].
    pub fn apply_retention(&self) -> Result<RetentionReport> {
        let mut w = self.writer.lock();
        self.check_writable()?;
        let now = self.clock.now_ms();
        self.remove_due_deletions(now).map_err(|e| self.poison(e))?;
        let config = self.cfg();
        let segments = self.segments();
        let count = segments.len();
        // An empty active segment is never deleted: there would be nothing to roll to.
        let deletable = match segments.last() {
            Some(active) if active.size() > 0 => count,
            _ => count.saturating_sub(1),
        };
        let mut n = 0;
        if config.retention_ms >= 0 {
            while n < deletable
                && now.saturating_sub(segments[n].largest_timestamp()) > config.retention_ms
            {
                n += 1;
            }
        }
        if config.retention_bytes >= 0 {
            let mut total: u64 = segments[n..].iter().map(|s| s.size()).sum();
            let limit = config.retention_bytes as u64;
            while n < deletable
                && total.saturating_sub(segments[n].size()) >= limit
                && total > limit
            {
                total -= segments[n].size();
                n += 1;
            }
        }
        let start = self.log_start_offset();
        while n + 1 < count && segments[n + 1].base_offset() <= start {
            n += 1;
        }
        if n == count {
            self.roll_to(self.end_offset(), now)
                .map_err(|e| self.poison(e))?;
        }
        let report = self
            .delete_prefix(&mut w.epochs, n)
            .map_err(|e| self.poison(e))?;
        Ok(report)
    }

    /// Raises the log start offset to `offset` (Kafka's DeleteRecords): reads below it fail
    /// with [`Error::OffsetOutOfRange`], and whole segments below it are deleted now.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] if `offset` is past the log end; I/O errors.
    pub fn delete_records_before(&self, offset: i64) -> Result<RetentionReport> {
        let mut w = self.writer.lock();
        self.check_writable()?;
        let end = self.end_offset();
        if offset > end {
            return Err(Error::OffsetOutOfRange {
                requested: offset,
                log_start: self.log_start_offset(),
                log_end: end,
            });
        }
        self.log_start_offset.fetch_max(offset, Ordering::AcqRel);
        let segments = self.segments();
        let start = self.log_start_offset();
        let mut n = 0;
        while n + 1 < segments.len() && segments[n + 1].base_offset() <= start {
            n += 1;
        }
        if w.epochs.truncate_from_start(start) {
            self.write_epoch_checkpoint(&w.epochs)
                .map_err(|e| self.poison(e))?;
        }
        self.delete_prefix(&mut w.epochs, n)
            .map_err(|e| self.poison(e))
    }

    /// Removes the `.deleted` files whose `file.delete.delay.ms` has passed by `now`.
    fn remove_due_deletions(&self, now: i64) -> Result<()> {
        let due: Vec<_> = {
            let mut pending = self.pending_deletes.lock();
            let (due, later) = pending.drain(..).partition(|(at, _)| *at <= now);
            *pending = later;
            due
        };
        for (_, path) in due {
            self.storage.remove_file(&path)?;
            self.dir_dirty.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Deletes the oldest `n` segments. Writer lock held.
    fn delete_prefix(
        &self,
        epochs: &mut super::LeaderEpochCache,
        n: usize,
    ) -> Result<RetentionReport> {
        let segments = self.segments();
        let mut report = RetentionReport {
            log_start_offset: self.log_start_offset(),
            ..Default::default()
        };
        if n == 0 {
            return Ok(report);
        }
        let (gone, kept) = segments.split_at(n);
        // Raise the log start, then publish: a reader whose snapshot lacks the segments
        // finds the raised start in its `OffsetOutOfRange`; old readers keep their segments.
        let new_start = kept.first().map_or(self.end_offset(), |s| s.base_offset());
        self.log_start_offset.fetch_max(new_start, Ordering::AcqRel);
        self.publish_segments(kept.to_vec());
        crate::failpoint::failpoint!("retention.after_publish");
        let delay = i64::try_from(self.cfg().file_delete_delay_ms).unwrap_or(i64::MAX);
        for segment in gone {
            report.segments_deleted += 1;
            report.bytes_deleted += segment.size();
            if delay == 0 {
                segment.delete_files(&self.storage)?;
            } else {
                // Kafka's `file.delete.delay.ms`: the `.deleted` files stay that long.
                let due = self.clock.now_ms().saturating_add(delay);
                let retired = segment.retire_files(&self.storage)?;
                self.pending_deletes
                    .lock()
                    .extend(retired.into_iter().map(|path| (due, path)));
            }
            self.dir_dirty.store(true, Ordering::Release);
        }
        report.log_start_offset = self.log_start_offset();
        if epochs.truncate_from_start(report.log_start_offset) {
            self.write_epoch_checkpoint(epochs)?;
        }
        log::info!(
            "{}: deleted {} segments ({} bytes); log start offset {}",
            self.dir.display(),
            report.segments_deleted,
            report.bytes_deleted,
            report.log_start_offset
        );
        Ok(report)
    }

    /// Removes every record at or after `offset` (Kafka's `truncateTo`). A batch holding
    /// `offset` is removed whole, so the log may end below `offset` afterwards; a log start
    /// above the new end is lowered to it. Truncating below the log start empties the log
    /// and restarts it at `offset`.
    ///
    /// A reader that meets the cut half done reads again once it is over, and gets what
    /// remains (or [`Error::OffsetOutOfRange`] past the new end): never a partial batch, and
    /// never an error for damage that is only the cut in progress.
    ///
    /// # Errors
    /// I/O errors (the log is then poisoned).
    pub fn truncate_to(&self, offset: i64) -> Result<()> {
        let mut w = self.writer.lock();
        self.check_writable()?;
        if offset < 0 {
            return Err(Error::InvalidArgument(format!(
                "cannot truncate to the negative offset {offset}"
            )));
        }
        if offset >= self.end_offset() {
            return Ok(());
        }
        // A flush that read the end before the cut must not raise the durable offset back
        // over it once the cut is done (writer, then flush lock: the order appends use).
        let _flush = self.flush_lock.lock();
        // Readers that meet the cut half done wait on `cutting` and read again; the odd
        // count tells them one is under way. Hiding the range first means readers that
        // start now never reach it: the new end is at most `offset`.
        let _cutting = self.cutting.lock();
        self.truncations.fetch_add(1, Ordering::AcqRel);
        let result = self.cut_to(&mut w, offset);
        self.truncations.fetch_add(1, Ordering::AcqRel);
        result
    }

    /// The body of [`truncate_to`](Self::truncate_to): writer, flush and cutting locks held.
    fn cut_to(&self, w: &mut super::log::Writer<S>, offset: i64) -> Result<()> {
        self.end_offset.fetch_min(offset, Ordering::AcqRel);
        self.durable_offset.fetch_min(offset, Ordering::AcqRel);
        let result = (|| -> Result<()> {
            let segments = self.segments();
            let now = self.clock.now_ms();
            // Truncating to the first segment's own base offset cuts that segment to empty
            // in place (its file and page cache are reused) rather than starting over.
            let keep = segments
                .partition_point(|s| s.base_offset() < offset)
                .max(usize::from(segments.first().is_some_and(|s| {
                    s.base_offset() == offset && offset >= self.log_start_offset()
                })));
            let new_end = if keep == 0 || offset < self.log_start_offset() {
                // Nothing stays: start over at `offset`. Readers keep the old list (whose
                // files stay readable through their handles) until the fresh segment
                // replaces it: a published list is never empty.
                // Newest first, here and below: a crash part-way leaves a prefix of the log,
                // never a hole (which the next open refuses).
                for s in segments.iter().rev() {
                    s.delete_files(&self.storage)?;
                }
                let fresh = Arc::new(LogSegment::create(
                    &self.storage,
                    &self.dir,
                    offset,
                    Self::segment_config(&self.cfg()),
                    now,
                )?);
                self.log_start_offset.store(offset, Ordering::Release);
                self.publish_segments(vec![fresh]);
                offset
            } else {
                let (kept, gone) = segments.split_at(keep);
                self.publish_segments(kept.to_vec());
                for s in gone.iter().rev() {
                    s.delete_files(&self.storage)?;
                }
                let last = &kept[keep - 1];
                last.truncate_to(offset)?;
                last.next_offset()
            };
            crate::failpoint::failpoint!("truncate.after_cut");
            self.dir_dirty.store(true, Ordering::Release);
            self.end_offset.store(new_end, Ordering::Release);
            // The batch holding `offset` may also hold the log start: never leave the start
            // above the end (as `open` never does), or the log end could not be read.
            self.log_start_offset.fetch_min(new_end, Ordering::AcqRel);
            self.durable_offset.fetch_min(new_end, Ordering::AcqRel);
            if w.epochs.truncate_from_end(new_end) {
                self.write_epoch_checkpoint(&w.epochs)?;
            }
            log::info!("{}: truncated to offset {new_end}", self.dir.display());
            Ok(())
        })();
        result.map_err(|e| self.poison(e))
    }
}
