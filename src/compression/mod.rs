//! Batch compression: the five codecs Kafka defines, in Kafka's framing.
//!
//! A batch is compressed once by its producer, stored and served as is, and decompressed
//! by its consumer (end-to-end compression). Only the records section of a magic-2 batch
//! (the bytes after its 61-byte header) or the value of a legacy wrapper message is
//! compressed. Framing, per codec (`FORMAT.md` section 3):
//!
//! | codec | written as | also read |
//! |---|---|---|
//! | gzip | RFC 1952 gzip member, as `java.util.zip.GZIPOutputStream` | concatenated members |
//! | snappy | xerial snappy-java stream, 32 KiB blocks | one raw snappy block, concatenated streams |
//! | lz4 | LZ4 frame, independent 64 KiB blocks, no checksums (as Kafka's Java writer) | content size, block and content checksums, blocks up to 4 MiB |
//! | zstd | zstd frame | frames without a content size (Java's streaming writer), concatenated frames |
//!
//! Where Kafka's Java readers are lenient, tidelog reads the same way: each codec file
//! documents what it accepts beyond the framing it writes.
//!
//! Each codec sits behind a cargo feature of its name, all on by default. Decompression
//! always takes a byte limit: a payload that would grow past it is
//! [`Error::DecompressionLimit`], never an out-of-memory. No codec allocates more than the
//! limit on the word of a size field in the payload. On error the output buffer keeps its
//! length (only its capacity may have grown).

use std::fmt;
use std::str::FromStr;
#[cfg(any(feature = "gzip", feature = "lz4", feature = "zstd"))]
use std::{cell::Cell, thread::LocalKey};

use crate::error::{Error, Location, Result};

#[cfg(feature = "gzip")]
mod gzip;
#[cfg(feature = "lz4")]
mod lz4;
#[cfg(feature = "snappy")]
mod snappy;
#[cfg(all(
    test,
    any(
        feature = "gzip",
        feature = "snappy",
        feature = "lz4",
        feature = "zstd"
    )
))]
mod test_data;
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
/// Levels take Kafka's ranges (`compression.gzip.level` 1..=9 or -1, `compression.lz4.level`
/// 1..=17, `compression.zstd.level` -131072..=22); snappy and none ignore the level. LZ4 always
/// uses the fast compressor, whatever the level (see the lz4 codec notes).
///
/// # Examples
/// ```
/// use tidelog::compression::{compress, decompress, Compression};
/// let mut framed = Vec::new();
/// compress(Compression::Lz4, None, b"hello hello hello", &mut framed)?;
/// let mut plain = Vec::new();
/// decompress(Compression::Lz4, &framed, &mut plain, 1 << 20)?;
/// assert_eq!(plain, b"hello hello hello");
/// # Ok::<(), tidelog::Error>(())
/// ```
///
/// # Errors
/// [`Error::CodecDisabled`] when the codec's feature is off; [`Error::InvalidArgument`] for
/// an out-of-range level, or if the codec library itself fails (out of memory).
pub fn compress(
    codec: Compression,
    #[cfg_attr(
        not(any(feature = "gzip", feature = "lz4", feature = "zstd")),
        expect(unused_variables, reason = "only gzip, lz4 and zstd have levels")
    )]
    level: Level,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
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
/// LZ4 frame header checksum over the magic too, so that one byte is not checked there
/// (as Kafka's `Lz4BlockInputStream` with `ignoreFlagDescriptorChecksum`).
#[allow(
    dead_code,
    reason = "for the legacy (magic 0) message reader, which lives in another module"
)]
pub(crate) fn decompress_magic0(
    codec: Compression,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<()> {
    decompress_inner(codec, input, out, limit, true)
}

/// [`decompress`] and [`decompress_magic0`]: `magic0` relaxes the LZ4 header check.
fn decompress_inner(
    codec: Compression,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
    #[cfg_attr(
        not(feature = "lz4"),
        expect(unused_variables, reason = "only lz4 reads magic 0 differently")
    )]
    magic0: bool,
) -> Result<()> {
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

/// The error for a codec library failing to compress, which only an allocation failure in
/// the library can cause: every input is compressible.
#[allow(dead_code, reason = "unused when every codec feature is off")]
fn encode_error(codec: Compression, reason: impl fmt::Display) -> Error {
    Error::InvalidArgument(format!("{codec} compression failed: {reason}"))
}

/// The smallest step by which a streaming decoder's output grows.
#[cfg(any(feature = "gzip", feature = "zstd"))]
const MIN_OUTPUT_STEP: usize = 32 * 1024;

/// Makes room in `out` for a streaming decoder that has filled its spare capacity, never
/// past `limit + 1` bytes decoded since `start`.
///
/// The one byte past the limit is what tells "exactly `limit` bytes" (the decoder then ends
/// without using it) from "more than `limit`" (it gets written, and the caller reports
/// [`Error::DecompressionLimit`]). Each step doubles what was decoded so far, so a payload
/// costs O(log n) reallocations while allocation stays within about twice the limit.
///
/// # Errors
/// [`Error::DecompressionLimit`] if more than `limit` bytes were already decoded.
#[cfg(any(feature = "gzip", feature = "zstd"))]
fn grow_output(out: &mut Vec<u8>, start: usize, limit: usize) -> Result<()> {
    let decoded = out.len().saturating_sub(start);
    if decoded > limit {
        return Err(limit_error(limit));
    }
    let allowed = (limit - decoded).saturating_add(1);
    out.reserve_exact(decoded.max(MIN_OUTPUT_STEP).min(allowed));
    Ok(())
}

/// Takes this thread's cached codec context out of `slot`, if one is there.
///
/// A zstd context, a deflate state or an LZ4 block buffer costs more to set up than
/// coding a small batch does, so each thread keeps one of each and reuses it. Taking it
/// out instead of borrowing it in place needs no `RefCell` (so nothing can panic on a
/// nested use), and a context that is in use is simply absent: a nested caller creates
/// its own.
#[cfg(any(feature = "gzip", feature = "lz4", feature = "zstd"))]
fn take_cached<T: 'static>(slot: &'static LocalKey<Cell<Option<T>>>) -> Option<T> {
    // `try_with` fails only while the thread is being torn down: then nothing is cached.
    slot.try_with(Cell::take).ok().flatten()
}

/// Returns a context taken with [`take_cached`] for the next call on this thread.
#[cfg(any(feature = "gzip", feature = "lz4", feature = "zstd"))]
fn put_cached<T: 'static>(slot: &'static LocalKey<Cell<Option<T>>>, context: T) {
    // During thread teardown the context is simply dropped: there is no next call.
    let _ = slot.try_with(|cell| cell.set(Some(context)));
}
