//! The records of Kafka's `__consumer_offsets` topic (`FORMAT.md` section 11): the key and
//! value codecs of an offset commit, and the choice of a group's partition.
//!
//! Key (all big-endian; strings are an int16 length then UTF-8):
//!
//! | bytes | field | |
//! |---|---|---|
//! | 2 | record type | 0 or 1: offset commit; 2: group metadata; others: newer coordinators |
//! | 2 + n | group | offset commits and group metadata |
//! | 2 + n | topic | offset commits only |
//! | 4 | partition | offset commits only |
//!
//! Offset commit value: an int16 version, then
//!
//! | version | fields |
//! |---|---|
//! | 0, 2 | `offset int64, metadata string, commitTimestamp int64` |
//! | 1 | `offset int64, metadata string, commitTimestamp int64, expireTimestamp int64` |
//! | 3 | `offset int64, leaderEpoch int32, metadata string, commitTimestamp int64` |
//! | 4 | as 3, flexible: compact string (unsigned varint length + 1), tagged fields at the end |
//!
//! tidelog writes key type 1 and value version 3, as Kafka 3.x brokers do, and reads every
//! version above. A null value (tombstone) deletes the commit of its key.

use crate::error::{Corruption, Error, Result};

/// Key record type of an offset commit written by Kafka before 0.10 (same layout as 1).
pub const OFFSET_COMMIT_KEY_V0: i16 = 0;
/// Key record type of an offset commit, as Kafka 3.x writes it (and tidelog does).
pub const OFFSET_COMMIT_KEY_V1: i16 = 1;
/// Key record type of a group's metadata (members, assignment), which offset loading skips.
pub const GROUP_METADATA_KEY: i16 = 2;
/// The offset commit value version tidelog writes (Kafka 3.x's).
pub const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
/// The newest offset commit value version tidelog reads.
pub const MAX_OFFSET_COMMIT_VALUE_VERSION: i16 = 4;

/// The key of a `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OffsetsKey {
    /// Key types 0 and 1: the committed offset of one partition for one group.
    OffsetCommit {
        /// The consumer group.
        group: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// Key type 2: a group's membership and assignment, which offset loading skips.
    GroupMetadata {
        /// The consumer group.
        group: String,
    },
    /// Another record type (the newer group coordinator's records); skipped.
    Other {
        /// The record type read.
        record_type: i16,
    },
}

/// A committed offset, as an offset commit value holds it (Kafka's `OffsetAndMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OffsetAndMetadata {
    /// The offset of the next record the group will read in the partition.
    pub offset: i64,
    /// The leader epoch of the last record consumed, if known (stored as -1 when not).
    pub leader_epoch: Option<i32>,
    /// Free-form metadata the committer attached (empty by default).
    pub metadata: String,
    /// When the commit was made, in milliseconds since the epoch.
    pub commit_timestamp: i64,
    /// The expiry time of a version 1 value; `None` in every other version.
    pub expire_timestamp: Option<i64>,
}

impl OffsetAndMetadata {
    /// A commit of `offset` at `commit_timestamp`, with no leader epoch and empty metadata.
    pub fn new(offset: i64, commit_timestamp: i64) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: String::new(),
            commit_timestamp,
            expire_timestamp: None,
        }
    }
}

/// Java's `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, with
/// int32 wrapping.
///
/// ```
/// use tidelog::consumer::java_string_hash;
/// assert_eq!(java_string_hash("DEVSmileCDR"), 551467806);
/// assert_eq!(java_string_hash("billing"), -109829509);
/// ```
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The `__consumer_offsets` partition holding `group`'s commits among `partitions`:
/// `Utils.abs(javaStringHashCode(group)) % partitions`, where Kafka's `Utils.abs` maps
/// `i32::MIN` to 0 (masking the sign bit instead would pick a different partition).
///
/// ```
/// use tidelog::consumer::partition_for;
/// assert_eq!(partition_for("DEVSmileCDR", 50), 6);
/// assert_eq!(partition_for("billing", 50), 9);
/// ```
///
/// # Panics
/// Never: a count of 0 is treated as 1 (every group in partition 0).
pub fn partition_for(group: &str, partitions: u32) -> i32 {
    let hash = java_string_hash(group);
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    let n = i64::from(partitions.max(1));
    // `abs` is in 0..=i32::MAX and the remainder below `n <= u32::MAX`, and below `abs`.
    (i64::from(abs) % n) as i32
}

/// Encodes the key of an offset commit (record type 1, as Kafka 3.x writes it).
///
/// # Errors
/// [`Error::InvalidArgument`] if the group or topic is longer than an int16 length allows.
pub fn encode_offset_commit_key(group: &str, topic: &str, partition: i32) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(2 + 2 + group.len() + 2 + topic.len() + 4);
    out.extend_from_slice(&OFFSET_COMMIT_KEY_V1.to_be_bytes());
    put_string(&mut out, "group", group)?;
    put_string(&mut out, "topic", topic)?;
    out.extend_from_slice(&partition.to_be_bytes());
    Ok(out)
}

/// Encodes an offset commit value as version 3 (what Kafka 3.x writes). The expiry time of
/// version 1 is not written.
///
/// # Errors
/// [`Error::InvalidArgument`] if the metadata is longer than an int16 length allows.
pub fn encode_offset_commit_value(value: &OffsetAndMetadata) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(2 + 8 + 4 + 2 + value.metadata.len() + 8);
    out.extend_from_slice(&OFFSET_COMMIT_VALUE_VERSION.to_be_bytes());
    out.extend_from_slice(&value.offset.to_be_bytes());
    out.extend_from_slice(&value.leader_epoch.unwrap_or(-1).to_be_bytes());
    put_string(&mut out, "metadata", &value.metadata)?;
    out.extend_from_slice(&value.commit_timestamp.to_be_bytes());
    Ok(out)
}

/// Decodes a `__consumer_offsets` key.
///
/// # Errors
/// [`Error::Corrupt`] if the key is cut short or a string is not UTF-8.
pub fn decode_key(key: &[u8]) -> Result<OffsetsKey> {
    let mut r = Reader::new(key);
    let record_type = r.i16()?;
    Ok(match record_type {
        OFFSET_COMMIT_KEY_V0 | OFFSET_COMMIT_KEY_V1 => OffsetsKey::OffsetCommit {
            group: r.string("group")?,
            topic: r.string("topic")?,
            partition: r.i32()?,
        },
        GROUP_METADATA_KEY => OffsetsKey::GroupMetadata {
            group: r.string("group")?,
        },
        record_type => OffsetsKey::Other { record_type },
    })
}

/// Decodes an offset commit value of any version from 0 to 4.
///
/// # Errors
/// [`Error::Corrupt`] if the value is cut short, a string is not UTF-8, or the version is
/// not one of 0 to 4.
pub fn decode_offset_commit_value(value: &[u8]) -> Result<OffsetAndMetadata> {
    let mut r = Reader::new(value);
    let version = r.i16()?;
    let offset = r.i64()?;
    let decoded = match version {
        0 | 2 => OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: r.string("metadata")?,
            commit_timestamp: r.i64()?,
            expire_timestamp: None,
        },
        1 => OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: r.string("metadata")?,
            commit_timestamp: r.i64()?,
            expire_timestamp: Some(r.i64()?),
        },
        3 | 4 => {
            let epoch = r.i32()?;
            let metadata = if version == 4 {
                r.compact_string("metadata")?
            } else {
                r.string("metadata")?
            };
            let commit_timestamp = r.i64()?;
            if version == 4 {
                r.skip_tagged_fields()?;
            }
            OffsetAndMetadata {
                offset,
                leader_epoch: (epoch >= 0).then_some(epoch),
                metadata,
                commit_timestamp,
                expire_timestamp: None,
            }
        }
        v => {
            return Err(Error::corrupt(Corruption::Field {
                field: "offset commit value version (tidelog reads 0 to 4)",
                value: i64::from(v),
            }))
        }
    };
    Ok(decoded)
}

/// Decodes the key of a control record (transaction marker): `(version, type)`, where type
/// 0 is ABORT and 1 is COMMIT.
pub(super) fn decode_control_key(key: &[u8]) -> Result<(i16, i16)> {
    let mut r = Reader::new(key);
    Ok((r.i16()?, r.i16()?))
}

fn put_string(out: &mut Vec<u8>, what: &str, s: &str) -> Result<()> {
    let len = i16::try_from(s.len()).map_err(|_| {
        Error::InvalidArgument(format!(
            "{what} of {} bytes is longer than Kafka's {} byte limit",
            s.len(),
            i16::MAX
        ))
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// A big-endian cursor over a key or value; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(Error::corrupt(Corruption::Truncated {
                needed: (self.pos as u64).saturating_add(n as u64),
                available: self.bytes.len() as u64,
            })
            .at_position(self.pos as u64));
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn utf8(&mut self, what: &'static str, len: usize) -> Result<String> {
        let at = self.pos as u64;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| {
            Error::corrupt(Corruption::Field {
                field: what,
                value: len as i64,
            })
            .at_position(at)
        })
    }

    /// A non-nullable int16-length string. A null (-1) is read as empty, as its meaning
    /// (no value) is the same for the fields read here.
    fn string(&mut self, what: &'static str) -> Result<String> {
        let at = self.pos as u64;
        match self.i16()? {
            -1 => Ok(String::new()),
            len if len < 0 => Err(Error::corrupt(Corruption::Field {
                field: what,
                value: i64::from(len),
            })
            .at_position(at)),
            len => self.utf8(what, len as usize),
        }
    }

    /// An unsigned varint of at most 5 bytes (a u32), as the flexible versions use.
    fn uvarint(&mut self) -> Result<u32> {
        let mut value = 0u32;
        for i in 0..5 {
            let [b] = self.array()?;
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::corrupt(Corruption::Varint {
            reason: "unsigned varint longer than 5 bytes",
        })
        .at_position(self.pos as u64))
    }

    /// A compact string: unsigned varint length + 1, then UTF-8; 0 (null) is read as empty.
    fn compact_string(&mut self, what: &'static str) -> Result<String> {
        match self.uvarint()? {
            0 => Ok(String::new()),
            n => self.utf8(what, (n - 1) as usize),
        }
    }

    /// The tagged-field section of a flexible version: a count, then (tag, size, bytes).
    fn skip_tagged_fields(&mut self) -> Result<()> {
        let count = self.uvarint()?;
        for _ in 0..count {
            let _tag = self.uvarint()?;
            let size = self.uvarint()?;
            self.take(size as usize)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_choice_matches_kafka() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("DEVSmileCDR"), 551_467_806);
        assert_eq!(java_string_hash("billing"), -109_829_509);
        assert_eq!(partition_for("DEVSmileCDR", 50), 6);
        assert_eq!(partition_for("billing", 50), 9);
        assert_eq!(partition_for("billing", 1), 0);
        // Outside the BMP: hashed over both UTF-16 surrogates, as Java does.
        let crab = "\u{1F980}";
        let expected = 0xD83Ei32.wrapping_mul(31).wrapping_add(0xDD80);
        assert_eq!(java_string_hash(crab), expected);
        // Java's "polygenelubricants".hashCode() is Integer.MIN_VALUE; Utils.abs maps it to 0.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
    }

    #[test]
    fn key_and_v3_value_round_trip() -> Result<()> {
        let key = encode_offset_commit_key("billing", "orders", 7)?;
        assert_eq!(
            decode_key(&key)?,
            OffsetsKey::OffsetCommit {
                group: "billing".into(),
                topic: "orders".into(),
                partition: 7
            }
        );
        let value = OffsetAndMetadata {
            offset: 42,
            leader_epoch: Some(3),
            metadata: "m".into(),
            commit_timestamp: 1_700_000_000_000,
            expire_timestamp: None,
        };
        let bytes = encode_offset_commit_value(&value)?;
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(bytes.len(), 2 + 8 + 4 + 2 + 1 + 8);
        assert_eq!(decode_offset_commit_value(&bytes)?, value);
        Ok(())
    }

    #[test]
    fn every_value_version_decodes() -> Result<()> {
        let body = |v: i16, epoch: bool, expire: bool| {
            let mut b = v.to_be_bytes().to_vec();
            b.extend_from_slice(&5i64.to_be_bytes());
            if epoch {
                b.extend_from_slice(&(-1i32).to_be_bytes());
            }
            b.extend_from_slice(&2i16.to_be_bytes());
            b.extend_from_slice(b"md");
            b.extend_from_slice(&9i64.to_be_bytes());
            if expire {
                b.extend_from_slice(&11i64.to_be_bytes());
            }
            b
        };
        for (v, epoch, expire) in [(0, false, false), (1, false, true), (2, false, false)] {
            let d = decode_offset_commit_value(&body(v, epoch, expire))?;
            assert_eq!(
                (d.offset, d.metadata.as_str(), d.commit_timestamp),
                (5, "md", 9)
            );
            assert_eq!(d.expire_timestamp, expire.then_some(11));
            assert_eq!(d.leader_epoch, None);
        }
        // v4: compact string and a tagged field (tag 0, 3 bytes) that is skipped.
        let mut v4 = 4i16.to_be_bytes().to_vec();
        v4.extend_from_slice(&5i64.to_be_bytes());
        v4.extend_from_slice(&8i32.to_be_bytes());
        v4.extend_from_slice(&[3, b'm', b'd']);
        v4.extend_from_slice(&9i64.to_be_bytes());
        v4.extend_from_slice(&[1, 0, 3, 1, 2, 3]);
        let d = decode_offset_commit_value(&v4)?;
        assert_eq!(d.leader_epoch, Some(8));
        assert_eq!(
            (d.offset, d.metadata.as_str(), d.commit_timestamp),
            (5, "md", 9)
        );
        Ok(())
    }

    #[test]
    fn bad_bytes_are_typed_errors() {
        assert!(matches!(
            decode_offset_commit_value(&[0, 3, 0, 0]),
            Err(Error::Corrupt {
                kind: Corruption::Truncated { .. },
                ..
            })
        ));
        assert!(matches!(
            decode_offset_commit_value(&[0, 9, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(Error::Corrupt {
                kind: Corruption::Field { .. },
                ..
            })
        ));
        assert!(matches!(decode_key(&[0]), Err(Error::Corrupt { .. })));
        assert_eq!(
            decode_key(&[0, 7, 1, 2]).ok(),
            Some(OffsetsKey::Other { record_type: 7 })
        );
        let long = "x".repeat(40_000);
        assert!(matches!(
            encode_offset_commit_key(&long, "t", 0),
            Err(Error::InvalidArgument(_))
        ));
    }
}
