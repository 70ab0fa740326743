//! [`BatchInfo`]: what a log needs to know of a batch from its first bytes alone.
//!
//! Index lookups and tail walks read only batch headers (61 bytes for magic 2, 26 for
//! legacy), never whole batches; this decodes such a prefix for both formats.

use crate::error::{Corruption, Error, Result};
use crate::record::{LOG_OVERHEAD, MAGIC_V2, MIN_BATCH_LENGTH, RECORD_BATCH_OVERHEAD};

/// Bytes to read at a batch start to decode its [`BatchInfo`]: a whole v2 header.
pub const HEADER_PEEK_BYTES: usize = RECORD_BATCH_OVERHEAD;

/// Smallest legacy message (`RECORD_OVERHEAD_V0`), the smallest Length a file may hold.
const MIN_LEGACY_MESSAGE: i32 = 14;

/// The header fields of one batch (or legacy message) in a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchInfo {
    /// Position of the batch in its file.
    pub position: u64,
    /// Size on disk: 12 + Length.
    pub size: u32,
    /// First offset (v2); for legacy messages the entry's offset, which is its last.
    pub base_offset: i64,
    /// Last offset.
    pub last_offset: i64,
    /// MaxTimestamp (v2), the message timestamp (v1), or -1 (v0).
    pub max_timestamp: i64,
    /// The magic byte.
    pub magic: i8,
    /// Partition leader epoch (v2), -1 for legacy.
    pub leader_epoch: i32,
}

impl BatchInfo {
    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset.saturating_add(1)
    }

    /// Position after this batch.
    pub fn end(&self) -> u64 {
        self.position + u64::from(self.size)
    }

    /// Decodes the header at the start of `prefix` (the first bytes of a batch at
    /// `position`, as many as [`HEADER_PEEK_BYTES`] or up to the end of the file).
    /// `available` is how many bytes the file holds from `position` on: a batch running
    /// past it is reported as [`Corruption::Truncated`].
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a prefix too short to hold a header, a bad Length or magic.
    pub fn peek(prefix: &[u8], position: u64, available: u64) -> Result<BatchInfo> {
        let get = |range: std::ops::Range<usize>| prefix.get(range);
        let need = |n: usize| {
            Error::corrupt(Corruption::Truncated {
                needed: n as u64,
                available: prefix.len() as u64,
            })
            .at_position(position)
        };
        let (Some(offset), Some(length), Some(&magic)) =
            (get(0..8), get(8..12), prefix.get(LOG_OVERHEAD + 4))
        else {
            return Err(need(LOG_OVERHEAD + 5));
        };
        let offset = i64::from_be_bytes(offset.try_into().unwrap_or_default());
        let length = i32::from_be_bytes(length.try_into().unwrap_or_default());
        let magic = magic as i8;
        let min = if magic == MAGIC_V2 {
            MIN_BATCH_LENGTH
        } else {
            MIN_LEGACY_MESSAGE
        };
        if length < min {
            return Err(Error::corrupt(Corruption::Length {
                length: i64::from(length),
                min: i64::from(min),
                max: i64::from(i32::MAX) - LOG_OVERHEAD as i64,
            })
            .at_position(position));
        }
        let size = LOG_OVERHEAD as u64 + length as u64;
        if size > available || size > u64::from(u32::MAX) {
            return Err(Error::corrupt(Corruption::Truncated {
                needed: size,
                available,
            })
            .at_position(position));
        }
        match magic {
            MAGIC_V2 => {
                let Some(h) = get(0..RECORD_BATCH_OVERHEAD) else {
                    return Err(need(RECORD_BATCH_OVERHEAD));
                };
                let be32 = |at: usize| i32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
                let be64 = |at: usize| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&h[at..at + 8]);
                    i64::from_be_bytes(b)
                };
                let delta = be32(23);
                if delta < 0 {
                    return Err(Error::corrupt(Corruption::Field {
                        field: "last offset delta",
                        value: i64::from(delta),
                    })
                    .at_position(position));
                }
                Ok(BatchInfo {
                    position,
                    size: size as u32,
                    base_offset: offset,
                    last_offset: offset.saturating_add(i64::from(delta)),
                    max_timestamp: be64(35),
                    magic,
                    leader_epoch: be32(12),
                })
            }
            0 | 1 => {
                let max_timestamp = if magic == 1 {
                    // Offset(8) Size(4) CRC(4) Magic(1) Attributes(1) Timestamp(8).
                    let Some(ts) = get(18..26) else {
                        return Err(need(26));
                    };
                    i64::from_be_bytes(ts.try_into().unwrap_or_default())
                } else {
                    -1
                };
                Ok(BatchInfo {
                    position,
                    size: size as u32,
                    base_offset: offset,
                    last_offset: offset,
                    max_timestamp,
                    magic,
                    leader_epoch: -1,
                })
            }
            _ => Err(Error::corrupt(Corruption::Magic { magic }).at_position(position)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{encode_batch, BatchOptions, Record};

    #[test]
    fn peeks_a_v2_header() -> Result<()> {
        let opts = BatchOptions {
            base_offset: 40,
            partition_leader_epoch: 3,
            ..Default::default()
        };
        let b = encode_batch(
            opts,
            &[Record::new(5, b"a".to_vec()), Record::new(9, b"b".to_vec())],
        )?;
        let info = BatchInfo::peek(&b[..HEADER_PEEK_BYTES], 100, b.len() as u64)?;
        assert_eq!(
            info,
            BatchInfo {
                position: 100,
                size: b.len() as u32,
                base_offset: 40,
                last_offset: 41,
                max_timestamp: 9,
                magic: 2,
                leader_epoch: 3
            }
        );
        assert!(BatchInfo::peek(&b[..HEADER_PEEK_BYTES], 0, b.len() as u64 - 1).is_err());
        assert!(BatchInfo::peek(&b[..16], 0, b.len() as u64).is_err());
        Ok(())
    }
}
