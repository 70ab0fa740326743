//! Payloads and checks shared by the codec tests.

use crate::error::{Corruption, Error, Result};

/// `len` bytes that compress well: numbered, repetitive text, like a batch of small records.
pub(super) fn compressible(len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while v.len() < len {
        v.extend_from_slice(format!("record {i} value payload, ").as_bytes());
        i += 1;
    }
    v.truncate(len);
    v
}

/// `len` bytes that do not compress: an xorshift stream, the same on every run.
pub(super) fn incompressible(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// True if `result` is the codec's "payload does not decode" corruption.
pub(super) fn is_corrupt(result: &Result<()>) -> bool {
    matches!(
        result,
        Err(Error::Corrupt {
            kind: Corruption::Decompress { .. },
            ..
        })
    )
}

/// True if `result` is [`Error::DecompressionLimit`].
pub(super) fn is_over_limit(result: &Result<()>) -> bool {
    matches!(result, Err(Error::DecompressionLimit { .. }))
}
