//! Records: the owned [`Record`] and the borrowed [`RecordRef`] a decoded batch yields.
//!
//! Inside a magic-2 batch a record is (all varints zigzag, `FORMAT.md` section 2):
//! `Length | Attributes(int8) | TimestampDelta(varlong) | OffsetDelta | KeyLength | Key |
//! ValueLength | Value | HeadersCount | (HeaderKeyLength HeaderKey HeaderValueLength HeaderValue)*`.
//! A length of -1 is null; null and empty stay distinct everywhere in this crate.

use super::varint::{read_varint, varint_len, write_varint};
use crate::error::{Corruption, Error};

/// A record header: a UTF-8 key and an optional value. Keys may repeat; order is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// The header key. Kafka forbids null keys.
    pub key: String,
    /// The header value; `None` is null, distinct from empty.
    pub value: Option<Vec<u8>>,
}

impl Header {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Header {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

/// An owned record, as a producer hands it to a batch builder.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Record {
    /// Timestamp in milliseconds since the epoch (CreateTime), or -1 for none.
    pub timestamp: i64,
    /// The key; `None` is a null key, distinct from an empty one.
    pub key: Option<Vec<u8>>,
    /// The value; `None` is a null value (a tombstone under compaction).
    pub value: Option<Vec<u8>>,
    /// Headers, in order, duplicates allowed.
    pub headers: Vec<Header>,
}

impl Record {
    /// A record with a value, no key and no headers.
    pub fn new(timestamp: i64, value: impl Into<Vec<u8>>) -> Self {
        Record {
            timestamp,
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
        }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Appends a header.
    pub fn with_header(mut self, key: impl Into<String>, value: Option<Vec<u8>>) -> Self {
        self.headers.push(Header {
            key: key.into(),
            value,
        });
        self
    }
}

/// A record decoded from a batch, borrowing its bytes: no allocation per record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: HeadersRef<'a>,
}

impl<'a> RecordRef<'a> {
    /// The record's offset in its partition.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The record's timestamp: for LogAppendTime batches the batch's MaxTimestamp.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The key, `None` if null.
    pub fn key(&self) -> Option<&'a [u8]> {
        self.key
    }

    /// The value, `None` if null (a tombstone).
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }

    /// The headers, decoded lazily.
    pub fn headers(&self) -> HeadersRef<'a> {
        self.headers
    }

    /// Copies into an owned [`Record`]. Header keys that are not UTF-8 are converted lossily.
    pub fn to_owned_record(&self) -> Record {
        Record {
            timestamp: self.timestamp,
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.map(<[u8]>::to_vec),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| Header {
                    key: String::from_utf8_lossy(k).into_owned(),
                    value: v.map(<[u8]>::to_vec),
                })
                .collect(),
        }
    }
}

/// The encoded headers of one record; already validated when the record was decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeadersRef<'a> {
    bytes: &'a [u8],
    count: u32,
}

impl<'a> HeadersRef<'a> {
    /// Number of headers.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Iterates `(key, value)` pairs in order; a null value is `None`.
    pub fn iter(&self) -> HeaderIter<'a> {
        HeaderIter {
            bytes: self.bytes,
            pos: 0,
            left: self.count,
        }
    }
}

impl<'a> IntoIterator for HeadersRef<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);
    type IntoIter = HeaderIter<'a>;
    fn into_iter(self) -> HeaderIter<'a> {
        self.iter()
    }
}

/// Iterator over [`HeadersRef`].
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    bytes: &'a [u8],
    pos: usize,
    left: u32,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The bytes were walked by `parse_headers` before this view was handed out, so these
        // reads cannot fail; stop quietly rather than panic if that invariant were broken.
        let key = read_bytes(self.bytes, &mut self.pos, "header key length").ok()??;
        let value = read_bytes(self.bytes, &mut self.pos, "header value length").ok()?;
        Some((key, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

/// A decoding failure inside a record, kept small (see [`read_varint`]) and turned into an
/// [`Error`] once, where the iterator stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bad {
    Varint(&'static str),
    Field(&'static str, i64),
    Truncated(u64, u64),
    RecordLength(i64, i64),
    Offsets(i64, i64, i32),
}

impl From<&'static str> for Bad {
    fn from(reason: &'static str) -> Self {
        Bad::Varint(reason)
    }
}

impl From<Bad> for Error {
    fn from(bad: Bad) -> Self {
        Error::corrupt(match bad {
            Bad::Varint(reason) => Corruption::Varint { reason },
            Bad::Field(field, value) => Corruption::Field { field, value },
            Bad::Truncated(needed, available) => Corruption::Truncated { needed, available },
            Bad::RecordLength(declared, actual) => Corruption::RecordLength { declared, actual },
            Bad::Offsets(delta, prev, last) => Corruption::Offsets {
                reason: format!(
                    "record offset delta {delta} after {prev} (last offset delta {last})"
                ),
            },
        })
    }
}

/// Reads a zigzag length followed by that many bytes; -1 is null.
#[inline]
pub(crate) fn read_bytes<'a>(
    buf: &'a [u8],
    pos: &mut usize,
    field: &'static str,
) -> Result<Option<&'a [u8]>, Bad> {
    let len = read_varint(buf, pos)?;
    if len < 0 {
        if len == -1 {
            return Ok(None);
        }
        return Err(Bad::Field(field, i64::from(len)));
    }
    let start = *pos;
    let end = start.saturating_add(len as usize);
    let Some(bytes) = buf.get(start..end) else {
        return Err(Bad::Truncated(end as u64, buf.len() as u64));
    };
    *pos = end;
    Ok(Some(bytes))
}

/// Walks `count` encoded headers at `*pos`, validating them, and returns their view.
#[inline]
pub(crate) fn parse_headers<'a>(buf: &'a [u8], pos: &mut usize) -> Result<HeadersRef<'a>, Bad> {
    let count = read_varint(buf, pos)?;
    if count < 0 {
        return Err(Bad::Field("header count", i64::from(count)));
    }
    let start = *pos;
    for _ in 0..count {
        if read_bytes(buf, pos, "header key length")?.is_none() {
            return Err(Bad::Field("header key length", -1));
        }
        read_bytes(buf, pos, "header value length")?;
    }
    Ok(HeadersRef {
        bytes: &buf[start..*pos],
        count: count as u32,
    })
}

/// Something that can write a record's headers: owned headers or a decoded view.
pub(crate) trait HeaderSource {
    /// True if there are no headers.
    fn is_empty(&self) -> bool;
    /// Encoded size including the count varint.
    fn encoded_len(&self) -> usize;
    /// Writes count and headers at the start of `dst` (sized by `encoded_len`); returns the
    /// bytes written.
    fn write_into(&self, dst: &mut [u8]) -> usize;
}

#[inline]
pub(crate) fn bytes_len(b: Option<&[u8]>) -> usize {
    match b {
        None => 1,
        Some(b) => varint_len(b.len() as i32) + b.len(),
    }
}

/// Writes a zigzag length and the bytes (or -1 for null) at the start of `dst`, which the
/// caller sized with [`bytes_len`]; returns the bytes written.
#[inline]
pub(crate) fn write_bytes(dst: &mut [u8], b: Option<&[u8]>) -> usize {
    match b {
        None => write_varint(dst, -1),
        Some(b) => {
            let n = write_varint(dst, b.len() as i32);
            if let Some(slot) = dst.get_mut(n..n + b.len()) {
                slot.copy_from_slice(b);
            }
            n + b.len()
        }
    }
}

impl HeaderSource for [Header] {
    fn is_empty(&self) -> bool {
        <[Header]>::is_empty(self)
    }

    fn encoded_len(&self) -> usize {
        self.iter().fold(varint_len(self.len() as i32), |acc, h| {
            acc + bytes_len(Some(h.key.as_bytes())) + bytes_len(h.value.as_deref())
        })
    }

    fn write_into(&self, dst: &mut [u8]) -> usize {
        let mut p = write_varint(dst, self.len() as i32);
        for h in self {
            p += write_bytes(&mut dst[p..], Some(h.key.as_bytes()));
            p += write_bytes(&mut dst[p..], h.value.as_deref());
        }
        p
    }
}

impl HeaderSource for HeadersRef<'_> {
    fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn encoded_len(&self) -> usize {
        varint_len(self.count as i32) + self.bytes.len()
    }

    fn write_into(&self, dst: &mut [u8]) -> usize {
        let p = write_varint(dst, self.count as i32);
        if let Some(slot) = dst.get_mut(p..p + self.bytes.len()) {
            slot.copy_from_slice(self.bytes);
        }
        p + self.bytes.len()
    }
}
