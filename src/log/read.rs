//! Reading: decoded batches ([`ReadResult`]), raw file ranges ([`FileSlice`]), and offset
//! lookups by timestamp.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::file_slice::FileSlice;
use super::log::Log;
use super::options::Isolation;
use crate::config::LogConfig;
use crate::error::{Corruption, Error, Result};
use crate::io::Storage;
use crate::record::{Batch, BatchRecords, RecordRef, MAGIC_V2, NO_TIMESTAMP};
use crate::segment::{BatchInfo, LogSegment};

/// Kafka's `ListOffsetsRequest.LATEST_TIMESTAMP`: ask
/// [`Log::offset_for_timestamp`] for the log end offset.
pub const LATEST_TIMESTAMP: i64 = -1;
/// Kafka's `ListOffsetsRequest.EARLIEST_TIMESTAMP`: ask [`Log::offset_for_timestamp`] for
/// the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// Kafka's `ListOffsetsRequest.MAX_TIMESTAMP`: ask [`Log::offset_for_timestamp`] for the
/// first record holding the largest timestamp in the log.
pub const MAX_TIMESTAMP: i64 = -3;

/// Batches read from a log, validated (framing and CRC), with compressed batches already
/// decompressed: its records borrow from the result's own buffers, with no allocation per
/// record or batch.
#[derive(Debug, Default)]
pub struct ReadResult {
    /// The batches read are `data[..len]`. Bytes past `len` are left from earlier reads
    /// into this result: a reused result never zero-fills its buffer again below the
    /// longest read it has held.
    data: Vec<u8>,
    len: usize,
    decoded: Vec<u8>,
    spans: Vec<Span>,
    start_offset: i64,
    next_offset: i64,
}

#[derive(Debug, Clone)]
struct Span {
    bytes: Range<usize>,
    decoded: Option<Range<usize>>,
}

impl ReadResult {
    /// True if no batch was read (the read was at the end of the log).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Number of batches.
    pub fn batch_count(&self) -> usize {
        self.spans.len()
    }

    /// The whole batches as stored, concatenated (what a Kafka Fetch carries).
    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }

    /// The offset to read next: after the last batch returned (the requested offset if none).
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// The batches, in order. The first may start before the requested offset (a batch is
    /// never split); [`records`](Self::records) skips those earlier records.
    pub fn batches(&self) -> impl Iterator<Item = Batch<'_>> + '_ {
        // Every span was parsed and CRC-checked when the result was built.
        self.spans
            .iter()
            .filter_map(|s| Batch::parse_unverified(&self.data[s.bytes.clone()]).ok())
    }

    /// Each batch with an iterator over all its records (decoded from the decompressed
    /// bytes for a compressed batch), for readers that need each record's batch (control
    /// batches, leader epochs) and skip whole batches by their headers. Unlike
    /// [`records`](Self::records), records before the requested offset are included: the
    /// caller skips them.
    ///
    /// # Errors
    /// Each item: a batch whose records cannot be walked (framing and CRC were checked when
    /// the result was built).
    pub fn batch_records(
        &self,
    ) -> impl Iterator<Item = Result<(Batch<'_>, BatchRecords<'_>)>> + '_ {
        self.spans.iter().map(|s| {
            let batch = Batch::parse_unverified(&self.data[s.bytes.clone()])?;
            let decoded = s.decoded.clone().map(|r| &self.decoded[r]);
            Ok((batch, batch.records_with(decoded)?))
        })
    }

    /// The records from the requested offset on, across all batches. Control records (of
    /// transaction markers) are included; check the batch to tell them apart.
    pub fn records(&self) -> ReadRecords<'_> {
        ReadRecords {
            result: self,
            next_span: 0,
            current: None,
            done: false,
        }
    }
}

/// Iterator over the records of a [`ReadResult`], yielding `Result<RecordRef>`.
#[derive(Debug)]
pub struct ReadRecords<'a> {
    result: &'a ReadResult,
    next_span: usize,
    current: Option<BatchRecords<'a>>,
    done: bool,
}

impl<'a> Iterator for ReadRecords<'a> {
    type Item = Result<RecordRef<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if let Some(records) = &mut self.current {
                match records.next() {
                    Some(Ok(r)) if r.offset() < self.result.start_offset => continue,
                    Some(Ok(r)) => return Some(Ok(r)),
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                    None => self.current = None,
                }
            }
            let span = self.result.spans.get(self.next_span)?;
            self.next_span += 1;
            let batch = match Batch::parse_unverified(&self.result.data[span.bytes.clone()]) {
                Ok(b) => b,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            let decoded = span.decoded.clone().map(|r| &self.result.decoded[r]);
            match batch.records_with(decoded) {
                Ok(records) => self.current = Some(records),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

impl<S: Storage> Log<S> {
    /// Reads whole batches from the one holding `offset` on, up to about `max_bytes` (the
    /// first batch is returned whole even if it is larger, so a reader never gets stuck),
    /// seeing everything appended.
    ///
    /// # Errors
    /// See [`read_with`](Self::read_with).
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult> {
        self.read_with(offset, max_bytes, Isolation::Appended)
    }

    /// As [`read`](Self::read), choosing what the read may see. Reading at the end of what it
    /// may see returns an empty result; a tailing reader then waits with
    /// [`wait_for`](Self::wait_for).
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] below the log start or past the log end;
    /// [`Error::Corrupt`] (with file, position and offset) if a batch fails its CRC or
    /// framing; decompression errors; I/O errors.
    pub fn read_with(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: Isolation,
    ) -> Result<ReadResult> {
        let mut result = ReadResult::default();
        self.read_into(offset, max_bytes, isolation, &mut result)?;
        Ok(result)
    }

    /// As [`read_with`](Self::read_with), into a `ReadResult` whose buffers are reused: a
    /// reader that fetches in a loop allocates (and faults in) its buffers once.
    ///
    /// ```
    /// # use tidelog::log::{AppendOptions, Isolation, Log, LogOpenOptions, ReadResult};
    /// # use tidelog::record::Record;
    /// # let dir = tempfile::tempdir()?;
    /// # let log = Log::open(dir.path(), Default::default(), LogOpenOptions::default())?;
    /// # log.append(&[Record::new(1, b"a".to_vec())], &AppendOptions::default())?;
    /// let mut fetched = ReadResult::default();
    /// let mut offset = 0;
    /// while offset < log.end_offset() {
    ///     log.read_into(offset, 1 << 20, Isolation::Appended, &mut fetched)?;
    ///     for record in fetched.records() {
    ///         let _value = record?.value();
    ///     }
    ///     offset = fetched.next_offset();
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`read_with`](Self::read_with); `out` is then empty.
    pub fn read_into(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: Isolation,
        out: &mut ReadResult,
    ) -> Result<()> {
        self.retry_on_truncation(|| {
            out.len = 0;
            out.decoded.clear();
            out.spans.clear();
            out.start_offset = offset;
            out.next_offset = offset;
            let filled = self.fill(offset, max_bytes, isolation, out);
            if filled.is_err() {
                out.len = 0;
                out.decoded.clear();
                out.spans.clear();
                out.next_offset = offset;
            }
            filled
        })
    }

    fn fill(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: Isolation,
        result: &mut ReadResult,
    ) -> Result<()> {
        let config = self.cfg();
        let visible_end = self.check_read_offset(offset, isolation)?;
        if offset >= visible_end {
            return Ok(());
        }
        let segments = self.segments();
        self.check_snapshot_holds(offset, &segments)?;
        let first = segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1);
        let mut budget = max_bytes;
        for segment in &segments[first..] {
            let target = result.next_offset;
            let seg_end = segment.size();
            let Some(head) = segment.find_batch(target, seg_end)? else {
                continue;
            };
            if head.base_offset >= visible_end {
                break;
            }
            if head.base_offset > target && head.magic == MAGIC_V2 && config.contiguous_offsets() {
                // Without compaction the batch holding `target` starts at or before it; one
                // starting after it means the walk went past damage (a baseOffset or Length
                // outside the CRC): returning it would skip offsets that exist.
                return Err(Error::corrupt(Corruption::Offsets {
                    reason: format!(
                        "the first batch found for offset {target} starts at {}",
                        head.base_offset
                    ),
                })
                .at_position(head.position)
                .at_offset(target)
                .at_path(segment.log_path()));
            }
            let whole_first = result.spans.is_empty();
            let want = if whole_first {
                budget.max(head.size as usize)
            } else if budget < head.size as usize {
                break;
            } else {
                budget
            };
            let read_end = seg_end.min(head.position.saturating_add(want as u64));
            let used = self.read_segment_range(
                &config,
                segment,
                head.position,
                read_end,
                visible_end,
                result,
            )?;
            budget = budget.saturating_sub(used);
            if head.position + used as u64 != seg_end || budget == 0 {
                break;
            }
        }
        if result.spans.is_empty()
            && config.contiguous_offsets()
            && offset < visible_end.min(self.end_offset())
        {
            // Without compaction a batch holds every offset below the end, so finding none
            // means a damaged header (a baseOffset or Length, outside the CRC) hid it. A
            // concurrent truncation below `offset` lowers the end first, and reads nothing.
            let err = Error::corrupt(Corruption::Offsets {
                reason: format!("no batch holds offset {offset}, below the log end {visible_end}"),
            })
            .at_offset(offset);
            return Err(match segments.get(first) {
                Some(segment) => err.at_path(segment.log_path()),
                None => err.at_path(&self.dir),
            });
        }
        self.counters
            .bytes_read
            .fetch_add(result.len as u64, Ordering::Relaxed);
        let records: u64 = result
            .batches()
            .filter_map(|b| b.records_count_hint())
            .map(|n| n as u64)
            .sum();
        self.counters
            .records_read
            .fetch_add(records, Ordering::Relaxed);
        Ok(())
    }

    /// Appends the whole, visible batches in `[from, to)` of `segment` to `result`.
    /// Returns the bytes taken.
    fn read_segment_range(
        &self,
        config: &LogConfig,
        segment: &LogSegment<S>,
        from: u64,
        to: u64,
        visible_end: i64,
        result: &mut ReadResult,
    ) -> Result<usize> {
        let base = result.len;
        let len = (to - from) as usize;
        if result.data.len() < base + len {
            result.data.resize(base + len, 0);
        }
        let got = segment.read_at(&mut result.data[base..base + len], from)?;
        let mut p = 0usize;
        let path = || segment.log_path();
        while p < got {
            let chunk = &result.data[base + p..base + got];
            let info = match BatchInfo::peek(chunk, from + p as u64, chunk.len() as u64) {
                Ok(info) => info,
                // A batch cut off by the byte budget (or by a concurrent truncation): stop.
                Err(Error::Corrupt {
                    kind: Corruption::Truncated { .. },
                    ..
                }) => break,
                Err(e) => return Err(e.at_path(path())),
            };
            if info.base_offset >= visible_end {
                break;
            }
            // Without compaction v2 batches follow each other exactly; a baseOffset (outside
            // the CRC) out of line would return every record at a wrong offset.
            let gap = info.magic == MAGIC_V2
                && config.contiguous_offsets()
                && info.base_offset != result.next_offset;
            if !result.spans.is_empty() && (info.base_offset < result.next_offset || gap) {
                return Err(Error::corrupt(Corruption::Offsets {
                    reason: format!(
                        "batch at offset {} follows one ending at {}",
                        info.base_offset,
                        result.next_offset - 1
                    ),
                })
                .at_position(info.position)
                .at_path(path()));
            }
            let bytes = base + p..base + p + info.size as usize;
            let batch = Batch::parse(&result.data[bytes.clone()]).map_err(|e| {
                e.at_position(info.position)
                    .at_offset(info.base_offset)
                    .at_path(path())
            })?;
            let decoded = if batch.needs_decompression() {
                let start = result.decoded.len();
                batch
                    .decompress_into(&mut result.decoded, config.max_decompressed_bytes)
                    .map_err(|e| {
                        e.at_position(info.position)
                            .at_offset(info.base_offset)
                            .at_path(path())
                    })?;
                Some(start..result.decoded.len())
            } else {
                None
            };
            result.spans.push(super::read::Span { bytes, decoded });
            result.next_offset = info.next_offset();
            p += info.size as usize;
        }
        result.len = base + p;
        Ok(p)
    }

    /// Fails with [`Error::OffsetOutOfRange`] if `offset` lies below the first segment of
    /// the snapshot `segments`: retention deleted the segment holding it after the range
    /// check. Reading on from the next segment would skip the removed offsets silently.
    fn check_snapshot_holds(&self, offset: i64, segments: &[Arc<LogSegment<S>>]) -> Result<()> {
        match segments.first() {
            Some(first) if offset < first.base_offset() => Err(Error::OffsetOutOfRange {
                requested: offset,
                log_start: self.log_start_offset(),
                log_end: self.end_offset(),
            }),
            _ => Ok(()),
        }
    }

    /// The visible end for `isolation`, after checking `offset` against the log's range.
    fn check_read_offset(&self, offset: i64, isolation: Isolation) -> Result<i64> {
        let end = self.end_offset();
        let start = self.log_start_offset();
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange {
                requested: offset,
                log_start: start,
                log_end: end,
            });
        }
        Ok(match isolation {
            Isolation::Appended => end,
            Isolation::Durable => self.durable_offset().min(end),
        })
    }

    /// The whole batches from the one holding `offset` on, within one segment file and about
    /// `max_bytes` (the first batch whole, as [`read`](Self::read)), as a file range to send
    /// without copying. The bytes are not CRC-checked here: Kafka clients check every batch.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`]; [`Error::Corrupt`] for a bad batch header; I/O errors.
    pub fn read_raw(&self, offset: i64, max_bytes: usize) -> Result<FileSlice<S::File>> {
        self.read_raw_with(offset, max_bytes, Isolation::Appended)
    }

    /// As [`read_raw`](Self::read_raw), choosing what the read may see.
    ///
    /// # Errors
    /// As [`read_raw`](Self::read_raw).
    pub fn read_raw_with(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: Isolation,
    ) -> Result<FileSlice<S::File>> {
        self.retry_on_truncation(|| self.raw_slice(offset, max_bytes, isolation))
    }

    fn raw_slice(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: Isolation,
    ) -> Result<FileSlice<S::File>> {
        let visible_end = self.check_read_offset(offset, isolation)?;
        let segments = self.segments();
        self.check_snapshot_holds(offset, &segments)?;
        let contiguous = self.cfg().contiguous_offsets();
        let first = segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1);
        let empty =
            |s: &LogSegment<S>| FileSlice::new(Arc::clone(s.log_file()), s.size(), 0, offset);
        if offset < visible_end {
            for segment in &segments[first..] {
                let seg_end = segment.size();
                let Some(head) = segment.find_batch(offset, seg_end)? else {
                    continue;
                };
                if head.base_offset >= visible_end {
                    break;
                }
                if contiguous && head.magic == MAGIC_V2 && head.base_offset > offset {
                    // As in `fill`: the walk went past damage; sending on would skip offsets.
                    return Err(Error::corrupt(Corruption::Offsets {
                        reason: format!(
                            "the first batch found for offset {offset} starts at {}",
                            head.base_offset
                        ),
                    })
                    .at_position(head.position)
                    .at_offset(offset)
                    .at_path(segment.log_path()));
                }
                let mut end = head.end();
                // The slice's next offset, from the headers walked: a reader that asked the
                // log again could see batches appended since.
                let mut next_offset = head.next_offset();
                while let Some(next) = segment.header_at(end, seg_end)? {
                    // A batch out of line (a damaged baseOffset, outside the CRC a client
                    // checks) ends the slice: the next read starts at it and reports it.
                    let out_of_line = next.base_offset < next_offset
                        || (contiguous
                            && next.magic == MAGIC_V2
                            && next.base_offset != next_offset);
                    if out_of_line
                        || next.base_offset >= visible_end
                        || (next.end() - head.position) as usize > max_bytes
                    {
                        break;
                    }
                    end = next.end();
                    next_offset = next.next_offset();
                }
                self.counters
                    .bytes_read
                    .fetch_add(end - head.position, Ordering::Relaxed);
                return Ok(FileSlice::new(
                    Arc::clone(segment.log_file()),
                    head.position,
                    end - head.position,
                    next_offset,
                ));
            }
        }
        if contiguous && offset < visible_end.min(self.end_offset()) {
            // As in `fill`: without compaction a batch holds every offset below the end.
            return Err(Error::corrupt(Corruption::Offsets {
                reason: format!("no batch holds offset {offset}, below the log end {visible_end}"),
            })
            .at_offset(offset)
            .at_path(&self.dir));
        }
        match segments.last() {
            Some(s) => Ok(empty(s)),
            None => Err(Error::InvalidLayout {
                path: self.dir.clone(),
                reason: "log has no segments".into(),
            }),
        }
    }

    /// Kafka's ListOffsets by timestamp: the first record with a timestamp `>= timestamp`, as
    /// `(offset, timestamp)`, or `None` if every record is older. Kafka's special values
    /// ask for the log's ends: [`LATEST_TIMESTAMP`] (-1) gives `(log end, -1)`,
    /// [`EARLIEST_TIMESTAMP`] (-2) gives `(log start, -1)`, and [`MAX_TIMESTAMP`] (-3) the
    /// first record holding the log's largest timestamp (`None` for an empty log).
    ///
    /// ```
    /// # use tidelog::log::{AppendOptions, Log, LogOpenOptions, LATEST_TIMESTAMP};
    /// # use tidelog::record::Record;
    /// # let dir = tempfile::tempdir()?;
    /// # let log = Log::open(dir.path(), Default::default(), LogOpenOptions::default())?;
    /// let records = [Record::new(1_000, b"a".to_vec()), Record::new(2_000, b"b".to_vec())];
    /// log.append(&records, &AppendOptions::default())?;
    /// assert_eq!(log.offset_for_timestamp(1_500)?, Some((1, 2_000)));
    /// assert_eq!(log.offset_for_timestamp(3_000)?, None);
    /// assert_eq!(log.offset_for_timestamp(LATEST_TIMESTAMP)?, Some((2, -1)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Corrupt`] for bad batches on the way; I/O errors.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        match timestamp {
            LATEST_TIMESTAMP => return Ok(Some((self.end_offset(), NO_TIMESTAMP))),
            EARLIEST_TIMESTAMP => return Ok(Some((self.log_start_offset(), NO_TIMESTAMP))),
            _ => {}
        }
        self.retry_on_truncation(|| {
            if timestamp == MAX_TIMESTAMP {
                self.max_timestamp_record()
            } else {
                self.first_record_at_or_after(timestamp)
            }
        })
    }

    /// The first record (at or above the log start) holding the log's largest timestamp.
    fn max_timestamp_record(&self) -> Result<Option<(i64, i64)>> {
        let start = self.log_start_offset();
        let max = self
            .segments()
            .iter()
            .filter(|s| s.next_offset() > start)
            .map(|s| s.max_timestamp())
            .max();
        match max {
            // Segments without timestamps hold only -1: no record has a real one.
            Some(max) if max >= 0 => self.first_record_at_or_after(max),
            _ => Ok(None),
        }
    }

    fn first_record_at_or_after(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        let max_decompressed = self.cfg().max_decompressed_bytes;
        let start = self.log_start_offset();
        let end = self.end_offset();
        let mut scratch = Vec::new();
        for segment in self.segments().iter() {
            if segment.max_timestamp() < timestamp || segment.next_offset() <= start {
                continue;
            }
            let seg_end = segment.size();
            // The entry with the largest timestamp *below* the target (Kafka takes `<=`):
            // when records share a timestamp, an entry names the first batch that reached
            // it, and starting below the target keeps a damaged entry that names a later
            // batch with the same timestamp from skipping the first match.
            let mut hint = segment.time_index().lookup(timestamp.saturating_sub(1));
            // Indexes are advisory: a damaged entry could send the scan past its answer, so
            // the entry used is checked against its batch, and the scan starts at the
            // segment's start when it does not match.
            // (-1, base) is the lookup's "no entry": nothing to check.
            let no_entry = hint.timestamp == NO_TIMESTAMP && hint.offset == segment.base_offset();
            if !no_entry && hint.offset >= start && !segment.time_entry_matches(hint, seg_end)? {
                log::warn!(
                    "{}: time index entry {hint:?} does not match its batch; scanning",
                    segment.time_index().path().display()
                );
                hint.offset = segment.base_offset();
            }
            let from = hint.offset.max(start);
            // Through `find_batch`, which checks the offset index hit.
            let mut position = segment
                .find_batch(from, seg_end)?
                .map_or(seg_end, |info| info.position);
            while let Some(info) = segment.header_at(position, seg_end)? {
                position = info.end();
                if info.base_offset >= end {
                    break;
                }
                if info.max_timestamp < timestamp || info.last_offset < start {
                    continue;
                }
                let mut buf = vec![0u8; info.size as usize];
                segment.read_at(&mut buf, info.position)?;
                let batch = Batch::parse(&buf).map_err(|e| {
                    e.at_position(info.position)
                        .at_offset(info.base_offset)
                        .at_path(segment.log_path())
                })?;
                for r in batch.records(&mut scratch, max_decompressed)? {
                    let r = r?;
                    if r.offset() >= start && r.timestamp() >= timestamp {
                        return Ok(Some((r.offset(), r.timestamp())));
                    }
                }
            }
        }
        Ok(None)
    }
}
