//! Batch compression: the five codecs Kafka defines, in Kafka's framing.
//!
//! A batch is compressed once by its producer, stored and served as is, and decompressed
//! by its consumer (end-to-end compression). Only the records section of a magic-2 batch
//! (the bytes after its 61-byte header) or the value of a legacy wrapper message is
//! compressed. Framing, per codec (`FORMAT.md` section 3):
//!
//! | codec | written as | also read |
//! |---|---|---|
//! | gzip | RFC 1952 gzip member | concatenated members |
//! | snappy | xerial snappy-java stream, 32 KiB blocks | one raw snappy block |
//! | lz4 | LZ4 frame, independent 64 KiB blocks, no checksums (as Kafka's Java writer) | content size, block and content checksums, blocks up to 4 MiB |
//! | zstd | zstd frame | frames without a content size (Java's streaming writer) |
//!
//! Each codec sits behind a cargo feature of its name, all on by default. Decompression
//! always takes a byte limit: a payload that would grow past it is
//! [`Error::DecompressionLimit`], never an out-of-memory.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Location, Result};

#[cfg(feature = "gzip")]
mod gzip;
#[cfg(feature = "lz4")]
mod lz4;
#[cfg(feature = "snappy")]
mod snappy;
#[cfg(feature = "zstd")]
mod zstd;

/// A compression codec, numbered as in the low three bits of a batch's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Compression {
    /// No compression (codec id 0).
    #[default]
    None = 0,
    /// gzip (codec id 1).
    Gzip = 1,
    /// snappy in snappy-java's xerial framing (codec id 2).
    Snappy = 2,
    /// LZ4 frame format (codec id 3).
    Lz4 = 3,
    /// zstd frame format (codec id 4). Never valid in legacy (magic 0/1) messages.
    Zstd = 4,
}

impl Compression {
    /// All codecs, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec with this id (the low three bits of the attributes).
    ///
    /// # Errors
    /// [`Error::UnknownCodec`] for ids 5 and above.
    pub fn from_id(id: u8) -> Result<Self> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            _ => Err(Error::UnknownCodec {
                id,
                location: Location::default(),
            }),
        }
    }

    /// The codec id written into the attributes.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// Kafka's name for the codec (`compression.type`), which is also its cargo feature.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// True if this build can compress and decompress the codec.
    pub fn is_enabled(self) -> bool {
        match self {
            Compression::None => true,
            Compression::Gzip => cfg!(feature = "gzip"),
            Compression::Snappy => cfg!(feature = "snappy"),
            Compression::Lz4 => cfg!(feature = "lz4"),
            Compression::Zstd => cfg!(feature = "zstd"),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Compression::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown compression type {s:?} (expected none, gzip, snappy, lz4 or zstd)"
                ))
            })
    }
}

/// Compression level, as Kafka's `compression.<codec>.level`. `None` is the codec's default
/// (gzip 6, lz4 fast mode, zstd 3); snappy has no levels.
pub type Level = Option<i32>;

/// Compresses `input` with `codec` in Kafka's framing, appending to `out`.
///
/// # Errors
/// [`Error::CodecDisabled`] when the codec's feature is off; [`Error::InvalidArgument`] for
/// an out-of-range level.
pub fn compress(codec: Compression, level: Level, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let _ = level;
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip::compress(level, input, out),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::compress(input, out),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4::compress(level, input, out),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::compress(level, input, out),
        #[allow(unreachable_patterns, reason = "reachable when a codec feature is off")]
        other => Err(Error::CodecDisabled {
            codec: other.name(),
        }),
    }
}

/// Decompresses `input`, appending at most `limit` bytes to `out`.
///
/// # Errors
/// [`Error::DecompressionLimit`] if the payload would exceed `limit`; [`Error::Corrupt`]
/// with [`crate::Corruption::Decompress`] for a payload the codec rejects;
/// [`Error::CodecDisabled`] when the codec's feature is off.
pub fn decompress(codec: Compression, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    decompress_inner(codec, input, out, limit, false)
}

/// As [`decompress`], for the value of a magic-0 wrapper message: old Kafka computed the
/// LZ4 frame header checksum over the magic too, so that one byte is not checked there.
pub(crate) fn decompress_magic0(
    codec: Compression,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<()> {
    decompress_inner(codec, input, out, limit, true)
}

fn decompress_inner(
    codec: Compression,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
    magic0: bool,
) -> Result<()> {
    let _ = magic0;
    match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(Error::DecompressionLimit {
                    limit,
                    location: Location::default(),
                });
            }
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip::decompress(input, out, limit),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::decompress(input, out, limit),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4::decompress(input, out, limit, magic0),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::decompress(input, out, limit),
        #[allow(unreachable_patterns, reason = "reachable when a codec feature is off")]
        other => Err(Error::CodecDisabled {
            codec: other.name(),
        }),
    }
}

/// The error for a payload that would grow past `limit`.
#[allow(dead_code, reason = "unused when every codec feature is off")]
fn limit_error(limit: usize) -> Error {
    Error::DecompressionLimit {
        limit,
        location: Location::default(),
    }
}

/// The error for a payload the codec rejects.
#[allow(dead_code, reason = "unused when every codec feature is off")]
fn decode_error(codec: Compression, reason: impl fmt::Display) -> Error {
    Error::corrupt(crate::error::Corruption::Decompress {
        codec: codec.name(),
        reason: reason.to_string(),
    })
}
