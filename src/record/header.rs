//! The 61-byte magic-2 batch header: layout, attribute bits, and in-place stamping.
//!
//! ```text
//! off size field                    CRC-covered?
//!   0    8 BaseOffset               no   (the log stamps it on append)
//!   8    4 Length (bytes after it)  no
//!  12    4 PartitionLeaderEpoch     no   (the log stamps it on append)
//!  16    1 Magic (2)                no
//!  17    4 CRC-32C                  -
//!  21    2 Attributes               yes  (CRC covers 21..end)
//!  23    4 LastOffsetDelta          yes
//!  27    8 BaseTimestamp            yes
//!  35    8 MaxTimestamp             yes
//!  43    8 ProducerId               yes
//!  51    2 ProducerEpoch            yes
//!  53    4 BaseSequence             yes
//!  57    4 RecordsCount             yes
//!  61      records (compressed as a whole when the codec is not none)
//! ```

use crate::error::{Corruption, Error, Result};

pub(crate) const BASE_OFFSET: usize = 0;
pub(crate) const LENGTH: usize = BASE_OFFSET + 8;
pub(crate) const PARTITION_LEADER_EPOCH: usize = LENGTH + 4;
pub(crate) const MAGIC: usize = PARTITION_LEADER_EPOCH + 4;
pub(crate) const CRC: usize = MAGIC + 1;
pub(crate) const ATTRIBUTES: usize = CRC + 4;
pub(crate) const LAST_OFFSET_DELTA: usize = ATTRIBUTES + 2;
pub(crate) const BASE_TIMESTAMP: usize = LAST_OFFSET_DELTA + 4;
pub(crate) const MAX_TIMESTAMP: usize = BASE_TIMESTAMP + 8;
pub(crate) const PRODUCER_ID: usize = MAX_TIMESTAMP + 8;
pub(crate) const PRODUCER_EPOCH: usize = PRODUCER_ID + 8;
pub(crate) const BASE_SEQUENCE: usize = PRODUCER_EPOCH + 2;
pub(crate) const RECORDS_COUNT: usize = BASE_SEQUENCE + 4;

/// Size of the magic-2 batch header; records start here (`RECORD_BATCH_OVERHEAD`).
pub const RECORD_BATCH_OVERHEAD: usize = RECORDS_COUNT + 4;
/// BaseOffset plus Length: the bytes in front of what Length counts (`LOG_OVERHEAD`).
pub const LOG_OVERHEAD: usize = LENGTH + 4;
/// Bytes needed to read up to and including the magic byte (`HEADER_SIZE_UP_TO_MAGIC`).
pub const HEADER_SIZE_UP_TO_MAGIC: usize = MAGIC + 1;
/// The magic byte of the current batch format.
pub const MAGIC_V2: i8 = 2;

/// Attributes: codec in bits 0-2.
pub(crate) const CODEC_MASK: u16 = 0x07;
/// Attributes: bit 3, LogAppendTime.
pub(crate) const TIMESTAMP_TYPE_MASK: u16 = 0x08;
/// Attributes: bit 4, transactional.
pub(crate) const TRANSACTIONAL_MASK: u16 = 0x10;
/// Attributes: bit 5, control batch.
pub(crate) const CONTROL_MASK: u16 = 0x20;
/// Attributes: bit 6, BaseTimestamp holds the delete horizon (KIP-534).
pub(crate) const DELETE_HORIZON_MASK: u16 = 0x40;

/// "No value" for producer id, producer epoch, base sequence and partition leader epoch.
pub const NO_PRODUCER_ID: i64 = -1;
/// See [`NO_PRODUCER_ID`].
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// See [`NO_PRODUCER_ID`].
pub const NO_SEQUENCE: i32 = -1;
/// See [`NO_PRODUCER_ID`].
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
/// Timestamp of a record that has none (legacy magic 0).
pub const NO_TIMESTAMP: i64 = -1;

/// Which clock a batch's timestamps come from (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer per record (Kafka's default).
    #[default]
    CreateTime,
    /// Set by the log at append; every record reads as the batch's MaxTimestamp.
    LogAppendTime,
}

impl TimestampType {
    /// Kafka's name (`message.timestamp.type`).
    pub fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

#[inline]
pub(crate) fn be_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([buf[at], buf[at + 1]])
}

#[inline]
pub(crate) fn be_i32(buf: &[u8], at: usize) -> i32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    i32::from_be_bytes(b)
}

#[inline]
pub(crate) fn be_i64(buf: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    i64::from_be_bytes(b)
}

/// CRC-32C of the covered range of a complete batch (`buf[21..]`).
#[inline]
pub(crate) fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES..])
}

/// A complete magic-2 batch in a mutable buffer, for the stamps a log applies on append.
///
/// Base offset and partition leader epoch lie outside the CRC, so stamping them costs two
/// stores; LogAppendTime changes covered bytes and recomputes the CRC, as Kafka's
/// `setMaxTimestamp` does.
#[derive(Debug)]
pub struct RecordBatchMut<'a> {
    buf: &'a mut [u8],
}

impl<'a> RecordBatchMut<'a> {
    /// Wraps `buf`, which must hold exactly one magic-2 batch (its header is checked, not its CRC).
    ///
    /// # Errors
    /// [`Error::Corrupt`] if `buf` is shorter than a header, its Length disagrees with
    /// `buf.len()`, or the magic is not 2.
    pub fn new(buf: &'a mut [u8]) -> Result<Self> {
        if buf.len() < RECORD_BATCH_OVERHEAD {
            return Err(Error::corrupt(Corruption::Truncated {
                needed: RECORD_BATCH_OVERHEAD as u64,
                available: buf.len() as u64,
            }));
        }
        let magic = buf[MAGIC] as i8;
        if magic != MAGIC_V2 {
            return Err(Error::corrupt(Corruption::Magic { magic }));
        }
        let length = i64::from(be_i32(buf, LENGTH));
        if length + LOG_OVERHEAD as i64 != buf.len() as i64 {
            return Err(Error::corrupt(Corruption::Length {
                length,
                min: (buf.len() - LOG_OVERHEAD) as i64,
                max: (buf.len() - LOG_OVERHEAD) as i64,
            }));
        }
        Ok(RecordBatchMut { buf })
    }

    /// Writes the base offset (not CRC-covered).
    pub fn set_base_offset(&mut self, base_offset: i64) {
        self.buf[BASE_OFFSET..LENGTH].copy_from_slice(&base_offset.to_be_bytes());
    }

    /// Writes the partition leader epoch (not CRC-covered).
    pub fn set_partition_leader_epoch(&mut self, epoch: i32) {
        self.buf[PARTITION_LEADER_EPOCH..MAGIC].copy_from_slice(&epoch.to_be_bytes());
    }

    /// Marks the batch LogAppendTime with `timestamp` as its MaxTimestamp and recomputes the
    /// CRC, as a Kafka broker does for topics with `message.timestamp.type=LogAppendTime`.
    pub fn set_log_append_time(&mut self, timestamp: i64) {
        let attrs = be_i16(self.buf, ATTRIBUTES) as u16 | TIMESTAMP_TYPE_MASK;
        self.buf[ATTRIBUTES..LAST_OFFSET_DELTA].copy_from_slice(&attrs.to_be_bytes());
        self.buf[MAX_TIMESTAMP..PRODUCER_ID].copy_from_slice(&timestamp.to_be_bytes());
        let crc = compute_crc(self.buf);
        self.buf[CRC..ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
    }

    /// The bytes of the batch.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf
    }
}

/// RecordsCount and whether the batch is LogAppendTime, from the first
/// [`RECORD_BATCH_OVERHEAD`] bytes of a magic-2 batch (the caller has checked it is one).
pub(crate) fn records_count_and_log_append_time(head: &[u8]) -> Option<(i32, bool)> {
    let head = head.get(..RECORD_BATCH_OVERHEAD)?;
    let attributes = be_i16(head, ATTRIBUTES) as u16;
    Some((
        be_i32(head, RECORDS_COUNT),
        attributes & TIMESTAMP_TYPE_MASK != 0,
    ))
}

/// A stamped copy of the 61-byte header of a magic-2 batch whose records section stays
/// where it is, in the caller's buffer: a log writes the two with one vectored write, so
/// appending a pre-built batch copies 61 bytes instead of the whole batch.
#[derive(Debug, Clone)]
pub(crate) struct BatchHead {
    bytes: [u8; RECORD_BATCH_OVERHEAD],
}

impl BatchHead {
    /// Copies the header of `batch`, which must hold exactly one magic-2 batch (its header
    /// is checked as [`RecordBatchMut::new`] checks it; its CRC is not).
    ///
    /// # Errors
    /// As [`RecordBatchMut::new`].
    pub(crate) fn of(batch: &[u8]) -> Result<Self> {
        let mut bytes = [0u8; RECORD_BATCH_OVERHEAD];
        let head = batch.get(..RECORD_BATCH_OVERHEAD).ok_or_else(|| {
            Error::corrupt(Corruption::Truncated {
                needed: RECORD_BATCH_OVERHEAD as u64,
                available: batch.len() as u64,
            })
        })?;
        bytes.copy_from_slice(head);
        let magic = bytes[MAGIC] as i8;
        if magic != MAGIC_V2 {
            return Err(Error::corrupt(Corruption::Magic { magic }));
        }
        let length = i64::from(be_i32(&bytes, LENGTH));
        if length + LOG_OVERHEAD as i64 != batch.len() as i64 {
            return Err(Error::corrupt(Corruption::Length {
                length,
                min: batch.len() as i64 - LOG_OVERHEAD as i64,
                max: batch.len() as i64 - LOG_OVERHEAD as i64,
            }));
        }
        Ok(BatchHead { bytes })
    }

    /// The stamped header bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// As [`RecordBatchMut::set_base_offset`].
    pub(crate) fn set_base_offset(&mut self, base_offset: i64) {
        self.bytes[BASE_OFFSET..LENGTH].copy_from_slice(&base_offset.to_be_bytes());
    }

    /// As [`RecordBatchMut::set_partition_leader_epoch`].
    pub(crate) fn set_partition_leader_epoch(&mut self, epoch: i32) {
        self.bytes[PARTITION_LEADER_EPOCH..MAGIC].copy_from_slice(&epoch.to_be_bytes());
    }

    /// As [`RecordBatchMut::set_log_append_time`]; `records` is the rest of the batch (its
    /// bytes after the header), which the new CRC covers too.
    pub(crate) fn set_log_append_time(&mut self, timestamp: i64, records: &[u8]) {
        let attrs = be_i16(&self.bytes, ATTRIBUTES) as u16 | TIMESTAMP_TYPE_MASK;
        self.bytes[ATTRIBUTES..LAST_OFFSET_DELTA].copy_from_slice(&attrs.to_be_bytes());
        self.bytes[MAX_TIMESTAMP..PRODUCER_ID].copy_from_slice(&timestamp.to_be_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&self.bytes[ATTRIBUTES..]), records);
        self.bytes[CRC..ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
    }
}
