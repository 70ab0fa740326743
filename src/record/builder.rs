//! [`BatchBuilder`]: writes complete magic-2 batches into a reusable buffer.

use super::header::*;
use super::record::{Header, HeaderSource, Record, RecordRef};
use super::varint::{
    short_varint_len, varint_len, varlong_len, write_short_varint, write_varint, write_varlong,
    zigzag32, zigzag64, SHORT_VARINT_LIMIT,
};
use crate::compression::{self, Compression, Level};
use crate::error::{Error, Result};

/// The fields of a batch that are set once per batch, named as in Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOptions {
    /// Codec for the records section.
    pub compression: Compression,
    /// Codec level (`compression.<codec>.level`); `None` is the codec's default.
    pub compression_level: Level,
    /// If set, the batch is written as LogAppendTime with this MaxTimestamp.
    pub log_append_time: Option<i64>,
    /// Producer id, -1 for none.
    pub producer_id: i64,
    /// Producer epoch, -1 for none.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 for none.
    pub base_sequence: i32,
    /// Transactional batch (attribute bit 4).
    pub is_transactional: bool,
    /// Control batch (attribute bit 5): its records are control records.
    pub is_control: bool,
    /// Partition leader epoch, -1 for none (a log stamps its own on append).
    pub partition_leader_epoch: i32,
    /// Base offset (a log assigns the real one on append).
    pub base_offset: i64,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            compression: Compression::None,
            compression_level: None,
            log_append_time: None,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            is_transactional: false,
            is_control: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            base_offset: 0,
        }
    }
}

impl BatchOptions {
    /// Options with this codec and defaults elsewhere.
    pub fn with_compression(compression: Compression) -> Self {
        BatchOptions {
            compression,
            ..Default::default()
        }
    }
}

/// Builds one magic-2 batch at a time into buffers it keeps for reuse.
///
/// Records are framed straight into the output buffer behind a reserved header (or into a
/// scratch buffer that is then compressed once into the output), so building costs little
/// more than copying the record bytes and one CRC pass.
///
/// ```
/// use tidelog::record::{BatchBuilder, BatchOptions, RecordBatch};
/// use tidelog::Compression;
/// let mut builder = BatchBuilder::new(BatchOptions::with_compression(Compression::Lz4));
/// builder.append(1_700_000_000_000, Some(b"k"), Some(b"hello"), &[])?;
/// let bytes = builder.finish()?;
/// let batch = RecordBatch::parse(bytes)?;
/// assert_eq!(batch.records_count(), 1);
/// # Ok::<(), tidelog::Error>(())
/// ```
#[derive(Debug)]
pub struct BatchBuilder {
    opts: BatchOptions,
    /// Header space plus records (uncompressed) or plus the compressed section.
    out: Buf,
    /// Records section before compression; unused when the codec is none.
    raw: Buf,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    finished: bool,
}

impl BatchBuilder {
    /// A builder for batches with `opts`.
    pub fn new(opts: BatchOptions) -> Self {
        let mut b = BatchBuilder {
            opts,
            out: Buf::default(),
            raw: Buf::default(),
            count: 0,
            base_timestamp: NO_TIMESTAMP,
            max_timestamp: NO_TIMESTAMP,
            finished: false,
        };
        b.clear();
        b
    }

    /// Starts a new batch with `opts`, keeping the allocated buffers.
    pub fn reset(&mut self, opts: BatchOptions) {
        self.opts = opts;
        self.clear();
    }

    /// Starts a new batch with the same options, keeping the allocated buffers.
    pub fn clear(&mut self) {
        self.out.clear();
        self.out.grow(RECORD_BATCH_OVERHEAD);
        self.raw.clear();
        self.count = 0;
        self.base_timestamp = NO_TIMESTAMP;
        self.max_timestamp = NO_TIMESTAMP;
        self.finished = false;
    }

    /// The options of the batch being built.
    pub fn options(&self) -> &BatchOptions {
        &self.opts
    }

    /// Records appended so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True if no record was appended yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the batch so far before compression, header included: what Kafka's producer
    /// compares with `batch.size`.
    pub fn uncompressed_size(&self) -> usize {
        self.out.len + self.raw.len
    }

    /// Appends a record. Its offset will be the batch's base offset plus [`len`](Self::len)
    /// before the call.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the batch is already finished, holds `i32::MAX` records,
    /// or a key, value or header is larger than 2 GiB.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<()> {
        self.append_with(timestamp, key, value, headers)
    }

    /// Appends an owned record.
    ///
    /// # Errors
    /// As [`append`](Self::append).
    #[inline]
    pub fn append_record(&mut self, record: &Record) -> Result<()> {
        self.append_with(
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            record.headers.as_slice(),
        )
    }

    /// Appends a copy of a decoded record (its offset is not kept: it gets the next one).
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub fn append_ref(&mut self, record: &RecordRef<'_>) -> Result<()> {
        self.append_with(record.timestamp, record.key, record.value, &record.headers)
    }

    // Inlined into each public `append*` so that a record costs one call, not two.
    #[inline(always)]
    fn append_with<H: HeaderSource + ?Sized>(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &H,
    ) -> Result<()> {
        if self.finished {
            return Err(Error::InvalidArgument(
                "batch already finished: call clear() or reset() first".into(),
            ));
        }
        if self.count == i32::MAX {
            return Err(Error::InvalidArgument(
                "a batch holds at most i32::MAX records".into(),
            ));
        }
        if self.count == 0 {
            self.base_timestamp = timestamp;
            self.max_timestamp = timestamp;
        }
        let timestamp_delta = timestamp.wrapping_sub(self.base_timestamp);
        let offset_delta = self.count;
        let out = if self.opts.compression == Compression::None {
            &mut self.out
        } else {
            &mut self.raw
        };
        if !write_short_record(out, timestamp_delta, offset_delta, key, value, headers) {
            write_record(out, timestamp_delta, offset_delta, key, value, headers)?;
        }
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        Ok(())
    }

    /// Writes the header (and compresses the records) and returns the complete batch.
    ///
    /// Calling it again returns the same bytes; [`clear`](Self::clear) starts the next batch.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty batch or one over 2 GiB; codec errors from
    /// [`compression::compress`].
    pub fn finish(&mut self) -> Result<&[u8]> {
        if self.finished {
            return Ok(self.out.bytes());
        }
        if self.count == 0 {
            return Err(Error::InvalidArgument(
                "cannot finish an empty batch".into(),
            ));
        }
        if self.opts.compression != Compression::None {
            let out = self.out.as_vec();
            compression::compress(
                self.opts.compression,
                self.opts.compression_level,
                self.raw.bytes(),
                out,
            )?;
            self.out.len = out.len();
        }
        let length = self.out.len - LOG_OVERHEAD;
        if length > i32::MAX as usize {
            return Err(Error::InvalidArgument("batch larger than 2 GiB".into()));
        }
        let o = &self.opts;
        let mut attrs = u16::from(o.compression.id());
        let mut max_timestamp = self.max_timestamp;
        if let Some(t) = o.log_append_time {
            attrs |= TIMESTAMP_TYPE_MASK;
            max_timestamp = t;
        }
        if o.is_transactional {
            attrs |= TRANSACTIONAL_MASK;
        }
        if o.is_control {
            attrs |= CONTROL_MASK;
        }
        let batch = self.out.bytes_mut();
        let h = &mut batch[..RECORD_BATCH_OVERHEAD];
        h[BASE_OFFSET..LENGTH].copy_from_slice(&o.base_offset.to_be_bytes());
        h[LENGTH..PARTITION_LEADER_EPOCH].copy_from_slice(&(length as i32).to_be_bytes());
        h[PARTITION_LEADER_EPOCH..MAGIC].copy_from_slice(&o.partition_leader_epoch.to_be_bytes());
        h[MAGIC] = MAGIC_V2 as u8;
        h[ATTRIBUTES..LAST_OFFSET_DELTA].copy_from_slice(&attrs.to_be_bytes());
        h[LAST_OFFSET_DELTA..BASE_TIMESTAMP].copy_from_slice(&(self.count - 1).to_be_bytes());
        h[BASE_TIMESTAMP..MAX_TIMESTAMP].copy_from_slice(&self.base_timestamp.to_be_bytes());
        h[MAX_TIMESTAMP..PRODUCER_ID].copy_from_slice(&max_timestamp.to_be_bytes());
        h[PRODUCER_ID..PRODUCER_EPOCH].copy_from_slice(&o.producer_id.to_be_bytes());
        h[PRODUCER_EPOCH..BASE_SEQUENCE].copy_from_slice(&o.producer_epoch.to_be_bytes());
        h[BASE_SEQUENCE..RECORDS_COUNT].copy_from_slice(&o.base_sequence.to_be_bytes());
        h[RECORDS_COUNT..].copy_from_slice(&self.count.to_be_bytes());
        let crc = compute_crc(batch);
        batch[CRC..ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
        self.finished = true;
        Ok(self.out.bytes())
    }

    /// As [`finish`](Self::finish), handing out the bytes mutably, so that an in-process
    /// appender can stamp the fields outside the CRC (base offset, leader epoch) in place
    /// instead of copying the batch first. The next [`clear`](Self::clear) discards them.
    ///
    /// # Errors
    /// As [`finish`](Self::finish).
    pub(crate) fn finish_mut(&mut self) -> Result<&mut [u8]> {
        self.finish()?;
        Ok(self.out.bytes_mut())
    }

    /// Finishes the batch and hands over its buffer (the builder allocates a new one).
    ///
    /// # Errors
    /// As [`finish`](Self::finish).
    pub fn finish_vec(&mut self) -> Result<Vec<u8>> {
        self.finish()?;
        let bytes = std::mem::take(&mut self.out).into_vec();
        self.clear();
        Ok(bytes)
    }
}

/// Room a short record takes past its end, left unwritten: its leading fields are written
/// through a fixed window of this many bytes from its start, which a small record may not fill.
const SHORT_RECORD_SLACK: usize = 16;

/// Writes a record whose framing varints (length, timestamp delta, offset delta, key and value
/// lengths) all take one or two bytes, returning false, with nothing written, for any other.
///
/// That covers nearly every record in practice: a body under 8 KiB, timestamps within ±8 s of
/// the batch's first, up to 8192 records. Their total size is then known before anything is
/// written, the first four varints go into a fixed window the compiler needs no bounds checks
/// for, and each varint's width is a branch that stays predicted from one record to the next,
/// so a record costs little besides copying its key and value.
#[inline(always)]
fn write_short_record<H: HeaderSource + ?Sized>(
    out: &mut Buf,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &H,
) -> bool {
    let timestamp_delta = zigzag64(timestamp_delta);
    let offset_delta = zigzag32(offset_delta);
    // A null key or value is written as its length alone (-1, zigzag 1), like an empty one.
    let key_len = ((key.map_or(0, <[u8]>::len) as u64) << 1) | u64::from(key.is_none());
    let value_len = ((value.map_or(0, <[u8]>::len) as u64) << 1) | u64::from(value.is_none());
    let (key, value) = (key.unwrap_or_default(), value.unwrap_or_default());
    // Lengths past `i32::MAX` fail this too, and `write_record` refuses them.
    if timestamp_delta | offset_delta | key_len | value_len >= SHORT_VARINT_LIMIT {
        return false;
    }
    let headers_len = if headers.is_empty() {
        1
    } else {
        headers.encoded_len()
    };
    let (ts_bytes, od_bytes) = (
        short_varint_len(timestamp_delta),
        short_varint_len(offset_delta),
    );
    let (kl_bytes, vl_bytes) = (short_varint_len(key_len), short_varint_len(value_len));
    // Attributes byte, three varints, key, varint, value, headers.
    let body =
        1 + ts_bytes + od_bytes + kl_bytes + key.len() + vl_bytes + value.len() + headers_len;
    // Below 2^13, the body's zigzag value is below 2^14: one or two bytes.
    if body >= 0x2000 {
        return false;
    }
    let length = (body as u64) << 1;
    let total = short_varint_len(length) + body;
    let dst = out.grow_with_slack(total, SHORT_RECORD_SLACK);
    // Every byte of the record is written below.
    // `grow_with_slack` hands out `total + SHORT_RECORD_SLACK` bytes: a window fits.
    let split = dst.split_first_chunk_mut::<SHORT_RECORD_SLACK>();
    let (window, _) = split.expect("room includes the slack"); // invariant: see above

    // At most 2 + 1 + 2 + 2 bytes precede the key length: all stay in the window.
    let mut p = write_short_varint(window, 0, length);
    window[p] = 0; // record attributes: none are defined
    p += 1;
    p += write_short_varint(window, p, timestamp_delta);
    p += write_short_varint(window, p, offset_delta);
    p += write_short_varint(window, p, key_len);
    dst[p..p + key.len()].copy_from_slice(key);
    p += key.len();
    p += write_short_varint(dst, p, value_len);
    dst[p..p + value.len()].copy_from_slice(value);
    p += value.len();
    if headers.is_empty() {
        dst[p] = 0;
        p += 1;
    } else {
        p += headers.write_into(&mut dst[p..]);
    }
    // `encoded_len` and `write_into` agree, so the length written first is the body's.
    debug_assert_eq!(p, total);
    true
}

/// Writes any record (see [`write_short_record`] for the usual case).
///
/// # Errors
/// [`Error::InvalidArgument`] if the key, the value or the record is larger than 2 GiB.
#[inline(never)]
fn write_record<H: HeaderSource + ?Sized>(
    out: &mut Buf,
    delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &H,
) -> Result<()> {
    let (Ok(key_len), Ok(value_len)) = (field_len(key), field_len(value)) else {
        return Err(Error::InvalidArgument(
            "key or value larger than 2 GiB".into(),
        ));
    };
    // Most records have no headers: skip the header walk for them.
    let headers_len = if headers.is_empty() {
        1
    } else {
        headers.encoded_len()
    };
    let payload = key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len) + headers_len;
    // The body is the payload plus five varints (attributes byte included below): at
    // least 5 bytes more, at most 26. When both bounds need the same length prefix (all
    // but a sliver of sizes), the prefix width is known before the fields are written, and
    // their sizes need not be computed twice.
    let (min, max) = (payload + 5, payload + 26);
    if max > i32::MAX as usize {
        return Err(Error::InvalidArgument("record larger than 2 GiB".into()));
    }
    let prefix = varint_len(min as i32);
    let exact = (prefix != varint_len(max as i32)).then(|| {
        1 + varlong_len(delta)
            + varint_len(offset_delta)
            + varint_len(key_len)
            + varint_len(value_len)
            + payload
    });
    let prefix = exact.map_or(prefix, |b| varint_len(b as i32));
    let reserved = prefix + exact.unwrap_or(max);
    // Fill the record in place: one bounds-checked slice instead of a capacity check per
    // field, and no zero-fill of bytes about to be overwritten (so every byte of the
    // record is written explicitly below).
    let dst = out.grow(reserved);
    let mut p = prefix;
    dst[p] = 0; // record attributes: none are defined
    p += 1;
    p += write_varlong(&mut dst[p..], delta);
    p += write_varint(&mut dst[p..], offset_delta);
    p += write_varint(&mut dst[p..], key_len);
    if let Some(k) = key {
        dst[p..p + k.len()].copy_from_slice(k);
        p += k.len();
    }
    p += write_varint(&mut dst[p..], value_len);
    if let Some(v) = value {
        dst[p..p + v.len()].copy_from_slice(v);
        p += v.len();
    }
    if headers.is_empty() {
        dst[p] = 0;
        p += 1;
    } else {
        p += headers.write_into(&mut dst[p..]);
    }
    let body = p - prefix;
    // Both bounds gave `prefix`, or it came from the exact size: the varint fits exactly.
    debug_assert_eq!(varint_len(body as i32), prefix);
    write_varint(&mut dst[..prefix], body as i32);
    out.shrink_by(reserved - p);
    Ok(())
}

/// The length field of a key or value: -1 for null.
#[inline]
fn field_len(b: Option<&[u8]>) -> Result<i32, std::num::TryFromIntError> {
    b.map_or(Ok(-1), |b| i32::try_from(b.len()))
}

/// A byte buffer whose `Vec` keeps its high-water length, so appending a record writes into
/// bytes that already exist instead of zero-filling them first. Bytes past `len` are stale
/// and never exposed.
#[derive(Debug, Default)]
struct Buf {
    data: Vec<u8>,
    len: usize,
}

impl Buf {
    fn clear(&mut self) {
        self.len = 0;
    }

    fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.data[..self.len]
    }

    /// Extends the buffer by `n` bytes and returns them (their content is unspecified).
    fn grow(&mut self, n: usize) -> &mut [u8] {
        let start = self.len;
        let end = start + n;
        if end > self.data.len() {
            self.reserve_high_water(end);
        }
        self.len = end;
        &mut self.data[start..end]
    }

    /// Extends the buffer by `n` bytes and returns them followed by `slack` more, which stay
    /// past the end (their content is unspecified, and whatever is written there is stale).
    #[inline(always)]
    fn grow_with_slack(&mut self, n: usize, slack: usize) -> &mut [u8] {
        let start = self.len;
        let end = start + n + slack;
        if end > self.data.len() {
            self.reserve_high_water(end);
        }
        self.len = start + n;
        &mut self.data[start..end]
    }

    /// Makes the buffer's bytes reach at least `end`, zero-filling in large steps so the cost
    /// is amortised over many records.
    #[cold]
    fn reserve_high_water(&mut self, end: usize) {
        let size = end.max(self.data.len() * 2).max(4096);
        self.data.resize(size, 0);
    }

    /// Gives back the last `n` bytes of the last [`grow`](Self::grow).
    fn shrink_by(&mut self, n: usize) {
        self.len -= n;
    }

    /// The buffer as a `Vec` of exactly `len` bytes, for codecs that append to a `Vec`.
    fn as_vec(&mut self) -> &mut Vec<u8> {
        self.data.truncate(self.len);
        &mut self.data
    }

    fn into_vec(mut self) -> Vec<u8> {
        self.data.truncate(self.len);
        self.data
    }
}

/// Encodes `records` as one batch with `opts`: a convenience over [`BatchBuilder`].
///
/// # Errors
/// As [`BatchBuilder::finish`].
pub fn encode_batch(opts: BatchOptions, records: &[Record]) -> Result<Vec<u8>> {
    let mut b = BatchBuilder::new(opts);
    for r in records {
        b.append_record(r)?;
    }
    b.finish_vec()
}
