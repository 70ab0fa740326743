//! [`LegacyBatch`]: a checked, borrowed view of one legacy (magic 0 or 1) log entry, and
//! [`LegacyRecords`], the records it holds. Read-only: tidelog never writes these formats.
//!
//! One log entry, all integers big-endian (`FORMAT.md` section 10):
//!
//! ```text
//!   off size field          notes
//!     0    8 Offset         for a compressed wrapper: the offset of its LAST inner message
//!     8    4 MessageSize    bytes after this field (>= 14 for v0, >= 22 for v1)
//!    12    4 CRC-32 (IEEE)  over Magic..end of the message
//!    16    1 Magic          0 or 1, where a v2 batch keeps its magic too
//!    17    1 Attributes     bits 0-2 codec (0..=3), bit 3 LogAppendTime (v1 only)
//!    18    8 Timestamp      v1 only
//! 18/26    4 KeyLength      -1 = null
//!            Key
//!          4 ValueLength    -1 = null
//!            Value          for a wrapper: the compressed inner message set
//! ```
//!
//! A compressed message is a *wrapper*: its value decompresses to more log entries (the
//! inner message set), which are the records. Offsets of inner messages follow Kafka's
//! `AbstractLegacyRecordBatch.DeepRecordsIterator`; see [`LegacyBatch::records`].

use super::header::{self, be_i32, be_i64, TimestampType, LOG_OVERHEAD, NO_TIMESTAMP};
use super::record::{HeadersRef, RecordRef};
use crate::compression::{self, Compression};
use crate::error::{Corruption, Error, Result};

const OFFSET: usize = 0;
const MESSAGE_SIZE: usize = OFFSET + 8;
const CRC: usize = MESSAGE_SIZE + 4;
const MAGIC: usize = CRC + 4;
const ATTRIBUTES: usize = MAGIC + 1;
const TIMESTAMP: usize = ATTRIBUTES + 1;
const KEY_LENGTH_V0: usize = ATTRIBUTES + 1;
const KEY_LENGTH_V1: usize = TIMESTAMP + 8;
const LENGTH_FIELD: usize = 4;

// One peek at byte 16 must tell legacy entries from v2 batches, and the message must start
// right after the log overhead; both layouts are fixed by Kafka.
const _: () = assert!(MAGIC == header::MAGIC && CRC == LOG_OVERHEAD);

/// Magic byte of message format v0 (Kafka before 0.10): no timestamps.
pub const MAGIC_V0: i8 = 0;
/// Magic byte of message format v1 (Kafka 0.10 to 0.11): one timestamp per message.
pub const MAGIC_V1: i8 = 1;
/// Smallest v0 message: CRC, magic, attributes and the two lengths (`RECORD_OVERHEAD_V0`).
pub const RECORD_OVERHEAD_V0: usize = KEY_LENGTH_V0 + 2 * LENGTH_FIELD - LOG_OVERHEAD;
/// Smallest v1 message: v0's fields plus the 8-byte timestamp (`RECORD_OVERHEAD_V1`).
pub const RECORD_OVERHEAD_V1: usize = KEY_LENGTH_V1 + 2 * LENGTH_FIELD - LOG_OVERHEAD;

/// Attributes: codec in bits 0-2.
const CODEC_MASK: u8 = 0x07;
/// Attributes: bit 3, LogAppendTime (read in v1 only; v0 has no timestamp type).
const TIMESTAMP_TYPE_MASK: u8 = 0x08;

/// A borrowed view of one complete legacy log entry whose framing, codec and key/value
/// lengths have been checked (and its CRC, unless built by
/// [`parse_unverified`](Self::parse_unverified)).
///
/// An uncompressed message is a batch of one record; a compressed wrapper is a batch of its
/// inner messages, decoded lazily by [`records`](Self::records).
///
/// # Examples
/// ```
/// use tidelog::record::LegacyBatch;
/// # fn main() -> tidelog::Result<()> {
/// // Offset 7, then a v0 message: magic 0, attributes 0, null key, value "hi".
/// let body = [&[0u8, 0][..], &(-1i32).to_be_bytes(), &2i32.to_be_bytes(), b"hi"].concat();
/// let mut entry = 7i64.to_be_bytes().to_vec();
/// entry.extend_from_slice(&(4 + body.len() as i32).to_be_bytes());
/// entry.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
/// entry.extend_from_slice(&body);
///
/// let message = LegacyBatch::parse(&entry)?;
/// let mut scratch = Vec::new();
/// let records = message.records(&mut scratch, 1 << 20)?;
/// let records: Vec<_> = records.collect::<tidelog::Result<_>>()?;
/// assert_eq!(records[0].offset(), 7);
/// assert_eq!(records[0].timestamp(), -1); // v0 has no timestamps
/// assert_eq!(records[0].value(), Some(&b"hi"[..]));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyBatch<'a> {
    bytes: &'a [u8],
    compression: Compression,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
}

impl<'a> LegacyBatch<'a> {
    /// Parses the entry at the start of `buf` (which may hold more after it) and checks its
    /// framing, CRC-32, codec and that key and value fill the message exactly.
    ///
    /// # Errors
    /// [`Error::Corrupt`] with [`Corruption::Truncated`] if the entry runs past `buf`,
    /// [`Corruption::Length`] for a MessageSize below the minimum of its magic,
    /// [`Corruption::Magic`] unless the magic is 0 or 1, [`Corruption::Crc`],
    /// [`Corruption::Field`] for a length below -1, [`Corruption::RecordLength`] when the
    /// key and value do not end exactly at the message end; [`Error::UnknownCodec`] for codec
    /// ids 4..=7 (zstd never existed in these formats).
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let bytes = frame(buf)?;
        // The CRC comes before the field checks so that a flipped bit reads as a checksum
        // failure, not as whatever field it happened to land in.
        check_crc(bytes)?;
        Self::from_frame(bytes)
    }

    /// As [`parse`](Self::parse) but without computing the CRC: for callers that checked it
    /// already.
    ///
    /// # Errors
    /// As [`parse`](Self::parse), minus the CRC check.
    pub fn parse_unverified(buf: &'a [u8]) -> Result<Self> {
        Self::from_frame(frame(buf)?)
    }

    /// Checks codec and key/value lengths of an entry that [`frame`] accepted.
    fn from_frame(bytes: &'a [u8]) -> Result<Self> {
        // `frame` guarantees bytes.len() >= LOG_OVERHEAD + RECORD_OVERHEAD_V0 (> ATTRIBUTES),
        // and >= LOG_OVERHEAD + RECORD_OVERHEAD_V1 (> TIMESTAMP + 8) when the magic is 1.
        let id = bytes[ATTRIBUTES] & CODEC_MASK;
        let compression = match Compression::from_id(id)? {
            Compression::Zstd => {
                return Err(Error::UnknownCodec {
                    id,
                    location: Default::default(),
                })
            }
            codec => codec,
        };
        let mut pos = if bytes[MAGIC] as i8 == MAGIC_V0 {
            KEY_LENGTH_V0
        } else {
            KEY_LENGTH_V1
        };
        let key = read_sized(bytes, &mut pos, "key length")?;
        let value = read_sized(bytes, &mut pos, "value length")?;
        if pos != bytes.len() {
            return Err(length_mismatch(bytes, pos));
        }
        Ok(LegacyBatch {
            bytes,
            compression,
            key,
            value,
        })
    }

    /// Checks the stored CRC-32 (IEEE) against Magic..end.
    ///
    /// # Errors
    /// [`Corruption::Crc`] on mismatch.
    pub fn verify_crc(&self) -> Result<()> {
        check_crc(self.bytes)
    }

    /// The whole entry, Offset and MessageSize included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Size on disk: 12 + MessageSize.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// The entry's Offset field: the message's offset, or for a compressed wrapper the
    /// offset of its last inner message.
    pub fn offset(&self) -> i64 {
        be_i64(self.bytes, OFFSET)
    }

    /// Offset of the last record: the entry's Offset field, for wrappers too.
    pub fn last_offset(&self) -> i64 {
        self.offset()
    }

    /// The offset after this entry.
    pub fn next_offset(&self) -> i64 {
        self.offset().wrapping_add(1)
    }

    /// 0 or 1.
    pub fn magic(&self) -> i8 {
        self.bytes[MAGIC] as i8 // in bounds: `frame` checked the minimum size
    }

    /// The raw attributes byte.
    pub fn attributes(&self) -> u8 {
        self.bytes[ATTRIBUTES] // in bounds: `frame` checked the minimum size
    }

    /// The codec of the value: not [`Compression::None`] for a wrapper. Never zstd.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// True for a compressed wrapper, whose value holds the inner message set.
    pub fn is_compressed(&self) -> bool {
        self.compression != Compression::None
    }

    /// CreateTime or LogAppendTime for v1; `None` for v0, which has no timestamps (Kafka's
    /// `NO_TIMESTAMP_TYPE`; attribute bit 3 is ignored there).
    pub fn timestamp_type(&self) -> Option<TimestampType> {
        if self.magic() == MAGIC_V0 {
            None
        } else if self.attributes() & TIMESTAMP_TYPE_MASK != 0 {
            Some(TimestampType::LogAppendTime)
        } else {
            Some(TimestampType::CreateTime)
        }
    }

    /// The message's Timestamp field; -1 ([`NO_TIMESTAMP`]) for v0.
    pub fn timestamp(&self) -> i64 {
        if self.magic() == MAGIC_V0 {
            NO_TIMESTAMP
        } else {
            be_i64(self.bytes, TIMESTAMP) // in bounds: v1 messages are at least 22 bytes
        }
    }

    /// The batch's max timestamp, which Kafka takes from the outer message:
    /// [`timestamp`](Self::timestamp). Writers set a wrapper's timestamp to the max of its
    /// inner messages (CreateTime) or to the append time (LogAppendTime).
    pub fn max_timestamp(&self) -> i64 {
        self.timestamp()
    }

    /// The stored CRC-32.
    pub fn crc(&self) -> u32 {
        be_i32(self.bytes, CRC) as u32
    }

    /// The key, `None` if null. Always null in wrappers written by Kafka.
    pub fn key(&self) -> Option<&'a [u8]> {
        self.key
    }

    /// The value, `None` if null. For a wrapper, the compressed inner message set.
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }

    /// Decodes the records: the message itself if uncompressed, else the inner messages of
    /// the wrapper, decompressed into `scratch` (cleared first, reusable across batches).
    ///
    /// Inner messages follow Kafka's `DeepRecordsIterator`:
    /// - each is framed, CRC-checked and must be uncompressed; its magic need not match
    ///   the wrapper's (Kafka's reader does not require it);
    /// - in a v0 wrapper, inner offsets are absolute;
    /// - in a v1 wrapper they are relative: absolute = wrapper offset − last inner offset +
    ///   inner offset, except that a wrapper offset of 0 keeps them as written (produce data
    ///   of some old clients);
    /// - a v1 wrapper with LogAppendTime gives every inner v1 record its own timestamp;
    ///   inner v0 records have none (-1);
    /// - as in Kafka, an incomplete entry at the end of the inner set ends it silently.
    ///
    /// A magic-0 wrapper is decompressed with old Kafka's LZ4 frame-header checksum quirk
    /// accepted; a magic-1 wrapper is not.
    ///
    /// The iterator yields each record or the first error, then stops.
    ///
    /// # Errors
    /// Decompression errors ([`Error::DecompressionLimit`] past `max_decompressed` bytes,
    /// [`Error::CodecDisabled`], [`Corruption::Decompress`]); [`Corruption::Invalid`] for a
    /// wrapper with a null value or no inner messages; [`Corruption::Length`] for an inner
    /// MessageSize below 14; [`Corruption::Offsets`] for a non-zero v1 wrapper offset
    /// below the last inner offset.
    pub fn records<'s>(
        self,
        scratch: &'s mut Vec<u8>,
        max_decompressed: usize,
    ) -> Result<LegacyRecords<'s>>
    where
        'a: 's,
    {
        if !self.is_compressed() {
            return Ok(LegacyRecords {
                state: State::Single(self.as_record()),
            });
        }
        let Some(compressed) = self.value else {
            return Err(Error::corrupt(Corruption::Invalid {
                reason: "compressed wrapper message has a null value",
            }));
        };
        scratch.clear();
        if self.magic() == MAGIC_V0 {
            compression::decompress_magic0(
                self.compression,
                compressed,
                scratch,
                max_decompressed,
            )?;
        } else {
            compression::decompress(self.compression, compressed, scratch, max_decompressed)?;
        }
        self.inner_records(scratch)
    }

    /// The records of this wrapper given its already decompressed inner message set.
    ///
    /// Split from [`records`](Self::records) so the offset and timestamp rules can be
    /// tested whatever codecs this build has.
    pub(super) fn inner_records<'s>(self, inner: &'s [u8]) -> Result<LegacyRecords<'s>>
    where
        'a: 's,
    {
        let (data, last_inner) = scan_inner(inner)?;
        let rebase = if self.magic() == MAGIC_V1 {
            let wrapper = self.offset();
            if wrapper == 0 {
                Some(0)
            } else if wrapper < last_inner {
                return Err(Error::corrupt(Corruption::Offsets {
                    reason: format!(
                        "v1 wrapper offset {wrapper} is below its last inner offset {last_inner}"
                    ),
                }));
            } else {
                Some(wrapper.checked_sub(last_inner).ok_or_else(|| {
                    Error::corrupt(Corruption::Offsets {
                        reason: format!(
                            "v1 wrapper offset {wrapper} minus last inner offset {last_inner} overflows"
                        ),
                    })
                })?)
            }
        } else {
            None
        };
        let log_append_time =
            (self.timestamp_type() == Some(TimestampType::LogAppendTime)).then(|| self.timestamp());
        Ok(LegacyRecords {
            state: State::Deep(Deep {
                data,
                pos: 0,
                rebase,
                log_append_time,
            }),
        })
    }

    /// The records of an uncompressed message: itself. (A compressed wrapper yields an error
    /// item, as its records need decompressing first.)
    pub(super) fn single_record(self) -> LegacyRecords<'a> {
        LegacyRecords {
            state: State::Single(self.as_record()),
        }
    }

    /// This uncompressed message as a record.
    fn as_record(&self) -> RecordRef<'a> {
        RecordRef {
            offset: self.offset(),
            timestamp: self.timestamp(),
            key: self.key,
            value: self.value,
            headers: HeadersRef::default(),
        }
    }
}

/// Checks the framing Kafka's file reader checks and returns exactly the entry's bytes.
fn frame(buf: &[u8]) -> Result<&[u8]> {
    if buf.len() < header::HEADER_SIZE_UP_TO_MAGIC {
        return Err(Error::corrupt(Corruption::Truncated {
            needed: header::HEADER_SIZE_UP_TO_MAGIC as u64,
            available: buf.len() as u64,
        }));
    }
    let size = be_i32(buf, MESSAGE_SIZE);
    // Kafka checks the v0 minimum before knowing the magic, and a torn entry before the magic.
    let size = message_size(size, RECORD_OVERHEAD_V0)?;
    let total = LOG_OVERHEAD.saturating_add(size);
    let Some(bytes) = buf.get(..total) else {
        return Err(Error::corrupt(Corruption::Truncated {
            needed: total as u64,
            available: buf.len() as u64,
        }));
    };
    let magic = bytes[MAGIC] as i8; // in bounds: total >= 12 + 14
    let min = match magic {
        MAGIC_V0 => RECORD_OVERHEAD_V0,
        MAGIC_V1 => RECORD_OVERHEAD_V1,
        _ => return Err(Error::corrupt(Corruption::Magic { magic })),
    };
    message_size(be_i32(bytes, MESSAGE_SIZE), min)?;
    Ok(bytes)
}

/// A MessageSize field as a byte count, if it is at least `min`.
fn message_size(size: i32, min: usize) -> Result<usize> {
    match usize::try_from(size) {
        Ok(n) if n >= min => Ok(n),
        _ => Err(Error::corrupt(Corruption::Length {
            length: i64::from(size),
            min: min as i64,
            max: i64::from(i32::MAX),
        })),
    }
}

/// Compares the stored CRC-32 of a framed entry with the one computed over Magic..end.
fn check_crc(bytes: &[u8]) -> Result<()> {
    let stored = be_i32(bytes, CRC) as u32;
    let computed = crc32fast::hash(bytes.get(MAGIC..).unwrap_or_default());
    if stored != computed {
        return Err(Error::corrupt(Corruption::Crc { stored, computed }));
    }
    Ok(())
}

/// Reads an int32 length and that many bytes at `*pos`; -1 is null.
fn read_sized<'a>(
    entry: &'a [u8],
    pos: &mut usize,
    field: &'static str,
) -> Result<Option<&'a [u8]>> {
    let len_end = pos.saturating_add(LENGTH_FIELD);
    let Some(len) = entry.get(*pos..len_end) else {
        return Err(length_mismatch(entry, len_end));
    };
    let len = be_i32(len, 0);
    *pos = len_end;
    let Ok(n) = usize::try_from(len) else {
        if len == -1 {
            return Ok(None);
        }
        return Err(Error::corrupt(Corruption::Field {
            field,
            value: i64::from(len),
        }));
    };
    let end = len_end.saturating_add(n);
    let Some(bytes) = entry.get(len_end..end) else {
        return Err(length_mismatch(entry, end));
    };
    *pos = end;
    Ok(Some(bytes))
}

/// The error for key and value fields that end at `end` instead of the entry's end.
fn length_mismatch(entry: &[u8], end: usize) -> Error {
    let message_len = |n: usize| i64::try_from(n.saturating_sub(LOG_OVERHEAD)).unwrap_or(i64::MAX);
    Error::corrupt(Corruption::RecordLength {
        declared: message_len(entry.len()),
        actual: message_len(end),
    })
}

/// Walks the framing of an inner message set as Kafka's `DataLogInputStream` does, and
/// returns the complete entries and the Offset field of the last one.
///
/// Kafka stops without error at an incomplete trailing entry, so this does too (the bytes
/// are under the wrapper's CRC, so they were written that way, not damaged on disk).
fn scan_inner(set: &[u8]) -> Result<(&[u8], i64)> {
    let mut rest = set;
    let mut consumed = 0usize;
    let mut last = None;
    while let Some(head) = rest.get(..LOG_OVERHEAD) {
        let size = message_size(be_i32(head, MESSAGE_SIZE), RECORD_OVERHEAD_V0)?;
        let total = LOG_OVERHEAD.saturating_add(size);
        let Some(next) = rest.get(total..) else {
            break;
        };
        last = Some(be_i64(head, OFFSET));
        rest = next;
        consumed += total;
    }
    let (Some(last), Some((complete, _))) = (last, set.split_at_checked(consumed)) else {
        return Err(Error::corrupt(Corruption::Invalid {
            reason: "compressed wrapper holds no complete inner message",
        }));
    };
    Ok((complete, last))
}

/// Iterator over the records of one legacy entry, yielding `Result<RecordRef>`.
///
/// Legacy records have no headers. After an error it yields nothing more.
#[derive(Debug, Clone)]
pub struct LegacyRecords<'s> {
    state: State<'s>,
}

#[derive(Debug, Clone)]
enum State<'s> {
    /// An uncompressed message, not yet yielded.
    Single(RecordRef<'s>),
    /// The inner messages of a wrapper.
    Deep(Deep<'s>),
    /// Exhausted, or stopped by an error.
    Done,
}

#[derive(Debug, Clone)]
struct Deep<'s> {
    /// Complete inner entries only (see [`scan_inner`]).
    data: &'s [u8],
    pos: usize,
    /// v1 wrapper: absolute offset = this + inner Offset. v0: inner offsets are absolute.
    rebase: Option<i64>,
    /// The wrapper's timestamp when it is LogAppendTime (v1 only).
    log_append_time: Option<i64>,
}

impl<'s> Deep<'s> {
    /// Decodes the inner entry at `pos`, or `None` at the end of the set.
    fn next_record(&mut self) -> Option<Result<RecordRef<'s>>> {
        let rest = self.data.get(self.pos..).filter(|r| !r.is_empty())?;
        Some(self.decode(rest))
    }

    fn decode(&mut self, rest: &'s [u8]) -> Result<RecordRef<'s>> {
        let entry = LegacyBatch::parse(rest)?;
        if entry.is_compressed() {
            return Err(Error::corrupt(Corruption::Invalid {
                reason: "inner messages of a compressed wrapper must not be compressed",
            }));
        }
        let offset = match self.rebase {
            None => entry.offset(),
            Some(base) => base.checked_add(entry.offset()).ok_or_else(|| {
                Error::corrupt(Corruption::Offsets {
                    reason: format!(
                        "inner offset {} overflows when rebased by {base}",
                        entry.offset()
                    ),
                })
            })?,
        };
        let timestamp = match (entry.magic(), self.log_append_time) {
            (MAGIC_V0, _) => NO_TIMESTAMP,
            (_, Some(t)) => t,
            (_, None) => entry.timestamp(),
        };
        self.pos += entry.size();
        Ok(RecordRef {
            offset,
            timestamp,
            key: entry.key,
            value: entry.value,
            headers: HeadersRef::default(),
        })
    }
}

impl<'s> Iterator for LegacyRecords<'s> {
    type Item = Result<RecordRef<'s>>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.state {
            State::Single(record) => {
                let record = *record;
                self.state = State::Done;
                Some(Ok(record))
            }
            State::Deep(deep) => {
                let item = deep.next_record();
                if !matches!(item, Some(Ok(_))) {
                    self.state = State::Done;
                }
                item
            }
            State::Done => None,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.state {
            State::Single(_) => (1, Some(1)),
            State::Deep(deep) => (
                0,
                Some(
                    deep.data.len().saturating_sub(deep.pos) / (LOG_OVERHEAD + RECORD_OVERHEAD_V0),
                ),
            ),
            State::Done => (0, Some(0)),
        }
    }
}

impl std::iter::FusedIterator for LegacyRecords<'_> {}
