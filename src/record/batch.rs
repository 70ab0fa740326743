//! [`RecordBatch`]: a validated, borrowed view of one magic-2 batch, and its record iterator.

use super::header::*;
use super::record::{parse_headers, read_bytes, Bad, HeadersRef, RecordRef};
use super::varint::{read_short_varint, read_varint, read_varlong, unzigzag};
use crate::compression::{self, Compression};
use crate::error::{Corruption, Error, Result};

/// Default bound on a batch's decompressed records section: 128 MiB.
///
/// Kafka has no such bound; tidelog has one so that a hostile or corrupt batch cannot make
/// a reader allocate without limit. It is well above any batch Kafka's defaults produce
/// (`max.message.bytes` is 1 MiB compressed).
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 128 << 20;

/// Smallest Length a magic-2 batch can have (an empty batch, as Kafka's cleaner writes).
pub const MIN_BATCH_LENGTH: i32 = (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32;

/// A borrowed view of one complete magic-2 batch whose header and CRC have been checked.
///
/// Records are decoded lazily by [`records`](Self::records), which checks the rest: exact
/// record count, exact record lengths, no trailing bytes, varint limits, offsets within the
/// batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordBatch<'a> {
    bytes: &'a [u8],
}

impl<'a> RecordBatch<'a> {
    /// Parses the batch at the start of `buf` (which may hold more after it) and checks its
    /// framing and CRC.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a short buffer, a bad Length, magic or CRC, or a negative
    /// record count; [`Error::UnknownCodec`] for codec ids 5..=7.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let batch = Self::parse_unverified(buf)?;
        batch.verify_crc()?;
        Ok(batch)
    }

    /// As [`parse`](Self::parse) but without computing the CRC: for callers that checked it
    /// already (data below a log's recovery point was checked when it was written).
    ///
    /// # Errors
    /// As [`parse`](Self::parse), minus the CRC check.
    pub fn parse_unverified(buf: &'a [u8]) -> Result<Self> {
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
        let length = be_i32(buf, LENGTH);
        if length < MIN_BATCH_LENGTH {
            return Err(Error::corrupt(Corruption::Length {
                length: i64::from(length),
                min: i64::from(MIN_BATCH_LENGTH),
                max: i64::from(i32::MAX),
            }));
        }
        let size = length as usize + LOG_OVERHEAD;
        let Some(bytes) = buf.get(..size) else {
            return Err(Error::corrupt(Corruption::Truncated {
                needed: size as u64,
                available: buf.len() as u64,
            }));
        };
        let batch = RecordBatch { bytes };
        batch.compression()?;
        let count = batch.records_count();
        if count < 0 {
            return Err(Error::corrupt(Corruption::Field {
                field: "records count",
                value: i64::from(count),
            }));
        }
        let delta = batch.last_offset_delta();
        if delta < 0 || i64::from(count) > i64::from(delta) + 1 {
            return Err(Error::corrupt(Corruption::Offsets {
                reason: format!("{count} records with last offset delta {delta}"),
            }));
        }
        Ok(batch)
    }

    /// Checks the stored CRC-32C against the covered bytes.
    ///
    /// # Errors
    /// [`Corruption::Crc`] on mismatch.
    pub fn verify_crc(&self) -> Result<()> {
        let stored = self.crc();
        let computed = compute_crc(self.bytes);
        if stored != computed {
            return Err(Error::corrupt(Corruption::Crc { stored, computed }));
        }
        Ok(())
    }

    /// The whole batch, header included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Size on disk: 12 + Length.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        be_i64(self.bytes, BASE_OFFSET)
    }

    /// Offset of the last record: base offset + last offset delta.
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .wrapping_add(i64::from(self.last_offset_delta()))
    }

    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// The Length field: bytes after it.
    pub fn length(&self) -> i32 {
        be_i32(self.bytes, LENGTH)
    }

    /// Partition leader epoch, -1 for none.
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(self.bytes, PARTITION_LEADER_EPOCH)
    }

    /// Always 2.
    pub fn magic(&self) -> i8 {
        MAGIC_V2
    }

    /// The stored CRC-32C.
    pub fn crc(&self) -> u32 {
        be_i32(self.bytes, CRC) as u32
    }

    /// The raw attributes field.
    pub fn attributes(&self) -> u16 {
        be_i16(self.bytes, ATTRIBUTES) as u16
    }

    /// The codec of the records section.
    ///
    /// # Errors
    /// [`Error::UnknownCodec`] for ids 5..=7 (checked by `parse`, so only a view built some
    /// other way could fail here).
    pub fn compression(&self) -> Result<Compression> {
        Compression::from_id((self.attributes() & CODEC_MASK) as u8)
    }

    /// CreateTime or LogAppendTime.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes() & TIMESTAMP_TYPE_MASK != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Transactional (attribute bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_MASK != 0
    }

    /// Control batch (attribute bit 5).
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_MASK != 0
    }

    /// BaseTimestamp holds the delete horizon (attribute bit 6, set by the log cleaner).
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes() & DELETE_HORIZON_MASK != 0
    }

    /// Last offset minus base offset.
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(self.bytes, LAST_OFFSET_DELTA)
    }

    /// The timestamp record deltas are relative to (the first record's, or the delete horizon).
    pub fn base_timestamp(&self) -> i64 {
        be_i64(self.bytes, BASE_TIMESTAMP)
    }

    /// The largest record timestamp, or the append time for LogAppendTime batches.
    pub fn max_timestamp(&self) -> i64 {
        be_i64(self.bytes, MAX_TIMESTAMP)
    }

    /// Producer id, -1 for none.
    pub fn producer_id(&self) -> i64 {
        be_i64(self.bytes, PRODUCER_ID)
    }

    /// Producer epoch, -1 for none.
    pub fn producer_epoch(&self) -> i16 {
        be_i16(self.bytes, PRODUCER_EPOCH)
    }

    /// Sequence of the first record, -1 for none.
    pub fn base_sequence(&self) -> i32 {
        be_i32(self.bytes, BASE_SEQUENCE)
    }

    /// Number of records declared in the header.
    pub fn records_count(&self) -> i32 {
        be_i32(self.bytes, RECORDS_COUNT)
    }

    /// The bytes after the 61-byte header, compressed if the codec is not none.
    pub fn records_section(&self) -> &'a [u8] {
        &self.bytes[RECORD_BATCH_OVERHEAD..]
    }

    /// Decodes the records, decompressing into `scratch` when the batch is compressed
    /// (`scratch` is cleared first and may be reused across batches).
    ///
    /// The iterator yields each record or the first error, then stops.
    ///
    /// # Errors
    /// Decompression errors, [`Error::DecompressionLimit`] past `max_decompressed` bytes.
    pub fn records<'s>(
        self,
        scratch: &'s mut Vec<u8>,
        max_decompressed: usize,
    ) -> Result<Records<'s>>
    where
        'a: 's,
    {
        let codec = self.compression()?;
        let data: &'s [u8] = if codec == Compression::None {
            self.records_section()
        } else {
            scratch.clear();
            compression::decompress(codec, self.records_section(), scratch, max_decompressed)?;
            scratch
        };
        Ok(Records::new(self, data))
    }

    /// Decodes and checks every record, returning how many there are.
    ///
    /// # Errors
    /// The first problem found, as [`records`](Self::records) reports it.
    pub fn validate_records(self, scratch: &mut Vec<u8>, max_decompressed: usize) -> Result<usize> {
        let mut n = 0;
        for r in self.records(scratch, max_decompressed)? {
            r?;
            n += 1;
        }
        Ok(n)
    }
}

/// Iterator over the records of one batch, yielding `Result<RecordRef>`.
///
/// After an error it yields nothing more. At the end it checks that the declared number of
/// records was found and no bytes are left over.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    data: &'a [u8],
    pos: usize,
    left: i32,
    count: i32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    last_offset_delta: i32,
    prev_offset_delta: i64,
    done: bool,
}

impl<'a> Records<'a> {
    pub(crate) fn new(batch: RecordBatch<'_>, data: &'a [u8]) -> Self {
        Records {
            data,
            pos: 0,
            left: batch.records_count(),
            count: batch.records_count(),
            base_offset: batch.base_offset(),
            base_timestamp: batch.base_timestamp(),
            log_append_time: (batch.timestamp_type() == TimestampType::LogAppendTime)
                .then(|| batch.max_timestamp()),
            last_offset_delta: batch.last_offset_delta(),
            prev_offset_delta: -1,
            done: false,
        }
    }

    fn fail(&mut self, e: Error) -> Option<Result<RecordRef<'a>>> {
        self.done = true;
        Some(Err(e.at_position(self.pos as u64)))
    }

    /// Decodes the next record if it is a valid one whose length, timestamp delta, offset
    /// delta, key and value lengths take one or two bytes each and that starts at least 16
    /// bytes before the section's end (nearly every record), advancing past it; `None`
    /// otherwise, with nothing changed, for [`decode_any`](Self::decode_any) to decode or
    /// report.
    ///
    /// The leading fields are read from a copy of the record's first 16 bytes, without a
    /// bounds check each.
    #[inline(always)]
    fn decode_short(&mut self) -> Option<RecordRef<'a>> {
        let buf = self.data;
        let start = self.pos;
        let window = buf.get(start..)?.first_chunk::<16>()?;
        let (length, mut p) = read_short_varint(window, 0)?;
        // A zigzag value of 2 or more that is even: a length of at least 1 (the attributes).
        if length < 2 || length & 1 != 0 {
            return None;
        }
        let end = start + p + (length >> 1) as usize;
        let body = buf.get(..end)?;
        p += 1; // attributes: one plain byte, not interpreted
        let (ts_delta, n) = read_short_varint(window, p)?;
        p += n;
        let (offset_delta, n) = read_short_varint(window, p)?;
        p += n;
        // An odd zigzag value is negative, never a valid offset delta.
        if offset_delta & 1 != 0 {
            return None;
        }
        let offset_delta = (offset_delta >> 1) as i64;
        if offset_delta <= self.prev_offset_delta
            || offset_delta > i64::from(self.last_offset_delta)
        {
            return None;
        }
        let (key_len, n) = read_short_varint(window, p)?;
        p += n;
        // The fields read so far must lie inside the record.
        let mut pos = start + p;
        if pos > end {
            return None;
        }
        let key = short_bytes(body, &mut pos, key_len)?;
        let (value_len, n) = read_short_varint(body.get(pos..)?.first_chunk::<2>()?, 0)?;
        pos += n;
        let value = short_bytes(body, &mut pos, value_len)?;
        // Most records have no headers: a count of 0 is one zero byte.
        let headers = if body.get(pos) == Some(&0) {
            pos += 1;
            HeadersRef::default()
        } else {
            parse_headers(body, &mut pos).ok()?
        };
        if pos != end {
            return None;
        }
        self.pos = end;
        self.prev_offset_delta = offset_delta;
        let timestamp = match self.log_append_time {
            Some(t) => t,
            None => self.base_timestamp.wrapping_add(unzigzag(ts_delta)),
        };
        Some(RecordRef {
            offset: self.base_offset.wrapping_add(offset_delta),
            timestamp,
            key,
            value,
            headers,
        })
    }

    /// Decodes the next record, whatever its layout, or reports what is wrong with it.
    #[inline]
    fn decode_any(&mut self) -> Result<RecordRef<'a>, Bad> {
        let buf = self.data;
        let mut pos = self.pos;
        let length = read_varint(buf, &mut pos)?;
        if length < 0 {
            return Err(Bad::Field("record length", i64::from(length)));
        }
        let body_start = pos;
        let end = body_start.saturating_add(length as usize);
        let Some(body) = buf.get(..end) else {
            return Err(Bad::Truncated(end as u64, buf.len() as u64));
        };
        // Attributes is one plain byte (kafka-python reads it as a varint; Kafka does not).
        if body_start >= end {
            return Err(Bad::RecordLength(i64::from(length), 1));
        }
        pos += 1;
        let ts_delta = read_varlong(body, &mut pos)?;
        let offset_delta = i64::from(read_varint(body, &mut pos)?);
        if offset_delta <= self.prev_offset_delta
            || offset_delta > i64::from(self.last_offset_delta)
        {
            return Err(Bad::Offsets(
                offset_delta,
                self.prev_offset_delta,
                self.last_offset_delta,
            ));
        }
        let key = read_bytes(body, &mut pos, "key length")?;
        let value = read_bytes(body, &mut pos, "value length")?;
        let headers = parse_headers(body, &mut pos)?;
        if pos != end {
            return Err(Bad::RecordLength(
                i64::from(length),
                (pos - body_start) as i64,
            ));
        }
        self.pos = end;
        self.prev_offset_delta = offset_delta;
        let timestamp = match self.log_append_time {
            Some(t) => t,
            None => self.base_timestamp.wrapping_add(ts_delta),
        };
        Ok(RecordRef {
            offset: self.base_offset.wrapping_add(offset_delta),
            timestamp,
            key,
            value,
            headers,
        })
    }
}

/// The key or value of a record's fast path, whose length's zigzag value `zz` was read
/// before `*pos`: `Some(None)` for null (zigzag 1), `None` for any other negative length or
/// bytes past `body`.
#[inline(always)]
fn short_bytes<'a>(body: &'a [u8], pos: &mut usize, zz: u64) -> Option<Option<&'a [u8]>> {
    if zz & 1 != 0 {
        return (zz == 1).then_some(None);
    }
    let end = *pos + (zz >> 1) as usize;
    let bytes = body.get(*pos..end)?;
    *pos = end;
    Some(Some(bytes))
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordRef<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left > 0 && !self.done {
            if let Some(record) = self.decode_short() {
                self.left -= 1;
                return Some(Ok(record));
            }
        }
        self.next_any()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            (0, Some(self.left as usize))
        }
    }
}

impl<'a> Records<'a> {
    /// [`Iterator::next`] for any record, the end of the records, and every error.
    #[inline]
    fn next_any(&mut self) -> Option<Result<RecordRef<'a>>> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            let extra = self.data.len() - self.pos;
            if extra != 0 {
                return self.fail(Error::corrupt(Corruption::TrailingBytes {
                    count: extra as u64,
                }));
            }
            return None;
        }
        if self.pos >= self.data.len() {
            let found = i64::from(self.count - self.left);
            return self.fail(Error::corrupt(Corruption::RecordCount {
                declared: i64::from(self.count),
                found,
            }));
        }
        match self.decode_any() {
            Ok(r) => {
                self.left -= 1;
                Some(Ok(r))
            }
            Err(bad) => self.fail(bad.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{encode_batch, BatchOptions, Record};
    use proptest::prelude::*;

    fn arb_field() -> impl Strategy<Value = Option<Vec<u8>>> {
        proptest::option::of(prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..20),
            proptest::collection::vec(any::<u8>(), 60..140),
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the fast path decodes, the general decoder decodes the same way from the
        /// same state, over intact and damaged records sections alike: the fast path never
        /// accepts what the general one refuses, and every error comes from the general one.
        #[test]
        fn fast_path_agrees_with_the_general_decoder(
            records in proptest::collection::vec(
                (-9000i64..9000, arb_field(), arb_field(), any::<bool>()), 1..12),
            damage in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..3),
        ) {
            let records: Vec<Record> = records
                .into_iter()
                .map(|(t, key, value, header)| Record {
                    timestamp: 1_000_000 + t,
                    key,
                    value,
                    headers: if header { vec![crate::record::Header::new("h", b"v".to_vec())] } else { Vec::new() },
                })
                .collect();
            let bytes = encode_batch(BatchOptions::default(), &records)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let batch = RecordBatch::parse(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut section = batch.records_section().to_vec();
            for (at, byte) in damage {
                let i = at.index(section.len());
                section[i] = byte;
            }
            let mut walk = Records::new(batch, &section);
            for _ in 0..=records.len() {
                let (mut fast, mut general) = (walk.clone(), walk.clone());
                if !walk.done && walk.left > 0 {
                    if let Some(r) = fast.decode_short() {
                        prop_assert_eq!(general.decode_any(), Ok(r));
                        prop_assert_eq!((fast.pos, fast.prev_offset_delta), (general.pos, general.prev_offset_delta));
                    }
                }
                if walk.next().is_none() {
                    break;
                }
            }
        }
    }
}
