//! [`Batch`]: one batch of a log file whatever its format, and [`BatchIter`] over a buffer
//! of consecutive batches, as a segment file holds them.
//!
//! A log directory that lived through Kafka upgrades holds magic-0 and magic-1 entries
//! followed by magic-2 batches, sometimes inside one segment. All three put their magic at
//! byte 16, after `Offset(8) | Size(4)`, so one peek tells them apart (`FORMAT.md` §1, §10).

use super::batch::{RecordBatch, Records};
use super::header::{
    be_i32, TimestampType, HEADER_SIZE_UP_TO_MAGIC, LENGTH, LOG_OVERHEAD, MAGIC, MAGIC_V2,
    NO_PARTITION_LEADER_EPOCH,
};
use super::legacy::{LegacyBatch, LegacyRecords, MAGIC_V0, MAGIC_V1, RECORD_OVERHEAD_V0};
use super::record::RecordRef;
use crate::compression::Compression;
use crate::error::{Corruption, Error, Result};

/// One batch of a log file: a magic-2 record batch or a legacy (magic 0/1) log entry.
///
/// A legacy entry counts as one batch, as it does for Kafka's indexes: an uncompressed
/// message is a batch of one record, a compressed wrapper a batch of its inner messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch<'a> {
    /// A magic-2 record batch.
    V2(RecordBatch<'a>),
    /// A magic-0 or magic-1 log entry.
    Legacy(LegacyBatch<'a>),
}

impl<'a> Batch<'a> {
    /// Parses the batch at the start of `buf` (which may hold more after it), choosing the
    /// format by the magic byte at position 16, and checks its framing and CRC.
    ///
    /// The checks run in the order of Kafka's file reader (`FileLogInputStream`), so that a
    /// torn tail reads as [`Corruption::Truncated`] whatever garbage it holds: fewer than 17
    /// bytes, then the size field below 14, then a batch past the buffer end, then the magic.
    ///
    /// # Errors
    /// [`Error::Corrupt`] with [`Corruption::Truncated`] if the batch runs past `buf`,
    /// [`Corruption::Length`] for a size field below Kafka's minimum,
    /// [`Corruption::Magic`] for a magic other than 0, 1 or 2; otherwise as
    /// [`RecordBatch::parse`] or [`LegacyBatch::parse`].
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        Self::parse_with(buf, true)
    }

    /// As [`parse`](Self::parse) but without computing the CRC.
    ///
    /// # Errors
    /// As [`parse`](Self::parse), minus the CRC check.
    pub fn parse_unverified(buf: &'a [u8]) -> Result<Self> {
        Self::parse_with(buf, false)
    }

    fn parse_with(buf: &'a [u8], verify: bool) -> Result<Self> {
        let magic = check_frame(buf)?;
        match magic {
            MAGIC_V2 if verify => RecordBatch::parse(buf).map(Batch::V2),
            MAGIC_V2 => RecordBatch::parse_unverified(buf).map(Batch::V2),
            MAGIC_V0 | MAGIC_V1 if verify => LegacyBatch::parse(buf).map(Batch::Legacy),
            MAGIC_V0 | MAGIC_V1 => LegacyBatch::parse_unverified(buf).map(Batch::Legacy),
            magic => Err(Error::corrupt(Corruption::Magic { magic })),
        }
    }

    /// Checks the stored CRC: CRC-32C over Attributes..end for v2, CRC-32 (IEEE) over
    /// Magic..end for legacy.
    ///
    /// # Errors
    /// [`Corruption::Crc`] on mismatch.
    pub fn verify_crc(&self) -> Result<()> {
        match self {
            Batch::V2(b) => b.verify_crc(),
            Batch::Legacy(b) => b.verify_crc(),
        }
    }

    /// The whole batch as it sits in the file.
    pub fn as_bytes(&self) -> &'a [u8] {
        match self {
            Batch::V2(b) => b.as_bytes(),
            Batch::Legacy(b) => b.as_bytes(),
        }
    }

    /// Size on disk, log overhead included.
    pub fn size(&self) -> usize {
        match self {
            Batch::V2(b) => b.size(),
            Batch::Legacy(b) => b.size(),
        }
    }

    /// 0, 1 or 2.
    pub fn magic(&self) -> i8 {
        match self {
            Batch::V2(b) => b.magic(),
            Batch::Legacy(b) => b.magic(),
        }
    }

    /// Offset of the last record (a legacy wrapper stores it as its own offset).
    pub fn last_offset(&self) -> i64 {
        match self {
            Batch::V2(b) => b.last_offset(),
            Batch::Legacy(b) => b.last_offset(),
        }
    }

    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// The base offset if the header alone gives it: always for v2 and for an uncompressed
    /// legacy message; `None` for a legacy wrapper, whose first offset is inside the
    /// compressed value (use [`base_offset`](Self::base_offset)).
    pub fn shallow_base_offset(&self) -> Option<i64> {
        match self {
            Batch::V2(b) => Some(b.base_offset()),
            Batch::Legacy(b) if !b.is_compressed() => Some(b.offset()),
            Batch::Legacy(_) => None,
        }
    }

    /// Offset of the first record, decoding a legacy wrapper when it must.
    ///
    /// For v2 and uncompressed legacy messages this reads the header and leaves `scratch`
    /// alone. A legacy wrapper stores only its last offset, so, as Kafka's
    /// `AbstractLegacyRecordBatch.baseOffset`, this decompresses it into `scratch` and
    /// returns the offset of its first record (v0: as written; v1: rebased per
    /// [`LegacyBatch::records`]). Prefer [`shallow_base_offset`](Self::shallow_base_offset)
    /// where `None` for wrappers will do.
    ///
    /// # Errors
    /// For a wrapper, whatever [`LegacyBatch::records`] or its first record reports.
    pub fn base_offset(&self, scratch: &mut Vec<u8>, max_decompressed: usize) -> Result<i64> {
        if let Some(offset) = self.shallow_base_offset() {
            return Ok(offset);
        }
        match self.records(scratch, max_decompressed)?.next() {
            Some(first) => first.map(|r| r.offset()),
            // A wrapper's records iterator always yields a first item: it rejects empty sets.
            None => Err(Error::corrupt(Corruption::Invalid {
                reason: "batch holds no records",
            })),
        }
    }

    /// The max timestamp: v2's MaxTimestamp field, a legacy message's own timestamp
    /// (-1 for v0).
    pub fn max_timestamp(&self) -> i64 {
        match self {
            Batch::V2(b) => b.max_timestamp(),
            Batch::Legacy(b) => b.max_timestamp(),
        }
    }

    /// The codec of the records (of a legacy wrapper's value).
    ///
    /// # Errors
    /// None in practice: parsing already rejected unknown codec ids ([`Error::UnknownCodec`]).
    /// Fallible to match [`RecordBatch::compression`].
    pub fn compression(&self) -> Result<Compression> {
        match self {
            Batch::V2(b) => b.compression(),
            Batch::Legacy(b) => Ok(b.compression()),
        }
    }

    /// The partition leader epoch; -1 for legacy entries, which have none.
    pub fn partition_leader_epoch(&self) -> i32 {
        match self {
            Batch::V2(b) => b.partition_leader_epoch(),
            Batch::Legacy(_) => NO_PARTITION_LEADER_EPOCH,
        }
    }

    /// CreateTime or LogAppendTime; `None` for magic 0, which has no timestamps (Kafka's
    /// `NO_TIMESTAMP_TYPE`).
    pub fn timestamp_type(&self) -> Option<TimestampType> {
        match self {
            Batch::V2(b) => Some(b.timestamp_type()),
            Batch::Legacy(b) => b.timestamp_type(),
        }
    }

    /// True for a v2 control batch; legacy formats have none.
    pub fn is_control(&self) -> bool {
        match self {
            Batch::V2(b) => b.is_control(),
            Batch::Legacy(_) => false,
        }
    }

    /// Number of records if the header says: v2's RecordsCount, 1 for an uncompressed
    /// legacy message, `None` for a legacy wrapper (Kafka's `countOrNull`).
    pub fn records_count_hint(&self) -> Option<usize> {
        match self {
            Batch::V2(b) => usize::try_from(b.records_count()).ok(),
            Batch::Legacy(b) if !b.is_compressed() => Some(1),
            Batch::Legacy(_) => None,
        }
    }

    /// Decodes the records, decompressing into `scratch` when the batch is compressed.
    ///
    /// # Errors
    /// As [`RecordBatch::records`] or [`LegacyBatch::records`].
    pub fn records<'s>(
        self,
        scratch: &'s mut Vec<u8>,
        max_decompressed: usize,
    ) -> Result<BatchRecords<'s>>
    where
        'a: 's,
    {
        match self {
            Batch::V2(b) => b.records(scratch, max_decompressed).map(BatchRecords::V2),
            Batch::Legacy(b) => b
                .records(scratch, max_decompressed)
                .map(BatchRecords::Legacy),
        }
    }
}

impl<'a> Batch<'a> {
    /// True if the records must be decompressed before they can be decoded.
    pub(crate) fn needs_decompression(&self) -> bool {
        match self {
            Batch::V2(b) => b.attributes() & super::header::CODEC_MASK != 0,
            Batch::Legacy(b) => b.is_compressed(),
        }
    }

    /// Decompresses the records (a v2 records section, or a legacy wrapper's inner message
    /// set), appending at most `limit` bytes to `out`. For batches that
    /// [`needs_decompression`](Self::needs_decompression) only.
    pub(crate) fn decompress_into(&self, out: &mut Vec<u8>, limit: usize) -> Result<()> {
        match self {
            Batch::V2(b) => {
                crate::compression::decompress(b.compression()?, b.records_section(), out, limit)
            }
            Batch::Legacy(b) => {
                let Some(value) = b.value() else {
                    return Err(Error::corrupt(Corruption::Invalid {
                        reason: "compressed wrapper message has a null value",
                    }));
                };
                if b.magic() == MAGIC_V0 {
                    crate::compression::decompress_magic0(b.compression(), value, out, limit)
                } else {
                    crate::compression::decompress(b.compression(), value, out, limit)
                }
            }
        }
    }

    /// The records, given what [`decompress_into`](Self::decompress_into) produced for a
    /// compressed batch (`None` for an uncompressed one): lets a reader decompress many
    /// batches into one buffer and decode them later without further allocation.
    pub(crate) fn records_with<'s>(self, decompressed: Option<&'s [u8]>) -> Result<BatchRecords<'s>>
    where
        'a: 's,
    {
        match (self, decompressed) {
            (Batch::V2(b), None) => Ok(BatchRecords::V2(Records::new(b, b.records_section()))),
            (Batch::V2(b), Some(section)) => Ok(BatchRecords::V2(Records::new(b, section))),
            (Batch::Legacy(b), Some(inner)) => b.inner_records(inner).map(BatchRecords::Legacy),
            (Batch::Legacy(b), None) => Ok(BatchRecords::Legacy(b.single_record())),
        }
    }
}

/// Checks what Kafka's file reader checks before it looks at the magic, and returns the magic.
fn check_frame(buf: &[u8]) -> Result<i8> {
    if buf.len() < HEADER_SIZE_UP_TO_MAGIC {
        return Err(Error::corrupt(Corruption::Truncated {
            needed: HEADER_SIZE_UP_TO_MAGIC as u64,
            available: buf.len() as u64,
        }));
    }
    let size = be_i32(buf, LENGTH);
    let Some(body) = usize::try_from(size)
        .ok()
        .filter(|&n| n >= RECORD_OVERHEAD_V0)
    else {
        return Err(Error::corrupt(Corruption::Length {
            length: i64::from(size),
            min: RECORD_OVERHEAD_V0 as i64,
            max: i64::from(i32::MAX),
        }));
    };
    let total = LOG_OVERHEAD.saturating_add(body);
    if total > buf.len() {
        return Err(Error::corrupt(Corruption::Truncated {
            needed: total as u64,
            available: buf.len() as u64,
        }));
    }
    Ok(buf[MAGIC] as i8) // in bounds: buf.len() >= HEADER_SIZE_UP_TO_MAGIC = MAGIC + 1
}

/// Iterator over the records of a [`Batch`], yielding `Result<RecordRef>`; stops after the
/// first error.
#[derive(Debug, Clone)]
pub enum BatchRecords<'s> {
    /// Records of a magic-2 batch.
    V2(Records<'s>),
    /// Records of a legacy entry.
    Legacy(LegacyRecords<'s>),
}

impl<'s> Iterator for BatchRecords<'s> {
    type Item = Result<RecordRef<'s>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            BatchRecords::V2(r) => r.next(),
            BatchRecords::Legacy(r) => r.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            BatchRecords::V2(r) => r.size_hint(),
            BatchRecords::Legacy(r) => r.size_hint(),
        }
    }
}

/// Iterator over consecutive batches in a buffer (a segment file or a slice of one),
/// yielding `Ok((position, batch))` with each batch's byte position in the buffer.
///
/// Batches are parsed and (unless built by [`new_unverified`](Self::new_unverified))
/// CRC-checked, but their records are not decoded.
///
/// Iteration ends with `None` only when the buffer is used up exactly. Anything else ends
/// with one `Err`, positioned (see [`Error::at_position`]) at the start of the bad batch;
/// [`position`](Self::position) then stays there and [`remaining`](Self::remaining) counts
/// the bytes from it to the end. A batch that runs past the end of the buffer, including a
/// tail shorter than the 17 bytes needed to read a magic, is [`Corruption::Truncated`]:
/// in a segment's last bytes that is the torn tail of a crashed write (Kafka's reader treats
/// it as the end and recovery truncates it), elsewhere it is damage; the caller knows
/// which. A size field garbled into a large value also reads as `Truncated`, as in Kafka.
///
/// # Examples
/// ```
/// use tidelog::record::{encode_batch, BatchIter, BatchOptions, Record};
/// use tidelog::Corruption;
/// # fn main() -> tidelog::Result<()> {
/// let batch = encode_batch(BatchOptions::default(), &[Record::new(0, b"a".to_vec())])?;
/// let mut segment = batch.clone();
/// segment.extend_from_slice(&batch[..20]); // the start of a write that never finished
///
/// let mut batches = BatchIter::new(&segment);
/// for item in batches.by_ref() {
///     match item {
///         Ok((position, batch)) => println!("{position}: offsets ..={}", batch.last_offset()),
///         Err(e) if matches!(e.corruption(), Some(Corruption::Truncated { .. })) => break,
///         Err(e) => return Err(e),
///     }
/// }
/// // Where a recovery would cut the torn tail off.
/// assert_eq!((batches.position(), batches.remaining()), (batch.len(), 20));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
    verify: bool,
    done: bool,
}

impl<'a> BatchIter<'a> {
    /// Iterates the batches in `buf`, checking each one's CRC.
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter {
            buf,
            pos: 0,
            verify: true,
            done: false,
        }
    }

    /// Iterates the batches in `buf` without computing CRCs: for data already checked
    /// (below a log's recovery point).
    pub fn new_unverified(buf: &'a [u8]) -> Self {
        BatchIter {
            verify: false,
            ..Self::new(buf)
        }
    }

    /// Byte position of the next batch, or, after an error, of the batch that failed.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes from [`position`](Self::position) to the end of the buffer: 0 after a clean end.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<(usize, Batch<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.buf.get(self.pos..).filter(|r| !r.is_empty());
        let Some(rest) = rest else {
            self.done = true;
            return None;
        };
        match Batch::parse_with(rest, self.verify) {
            Ok(batch) => {
                let at = self.pos;
                self.pos += batch.size();
                Some(Ok((at, batch)))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e.at_position(self.pos as u64)))
            }
        }
    }
}

impl std::iter::FusedIterator for BatchIter<'_> {}
