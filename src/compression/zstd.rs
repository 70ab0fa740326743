//! zstd (codec 4): standard zstd frames.
//!
//! Writing produces one frame from the whole input, so unlike Java's streaming writer
//! (zstd-jni `ZstdOutputStreamNoFinalizer`) its header carries the content size; readers
//! must accept both. Level `None` is 3, Kafka's and zstd's default; any level zstd accepts
//! (Kafka's range, -131072..=22) is allowed.
//!
//! Reading streams (`ZSTD_decompressStream`), so frames without a content size decode,
//! and so do several concatenated frames (and skippable frames), as with zstd-jni. Output
//! goes straight into the caller's vector and never grows past the limit plus one byte; a
//! frame whose declared content size is over the limit is refused before decoding, since
//! zstd itself fails a frame whose content does not match that size. When the content size
//! is present and within the limit, zstd decodes the frame in a single pass into the
//! reserved room, without allocating its own window buffer.
//!
//! Streaming a frame without a content size makes zstd allocate the window the frame declares,
//! its own allocation, kept with the thread's context for reuse. So the window a streamed frame
//! may declare is bounded by the limit, rounded up to a power of two (and to at least 1 KiB,
//! at most zstd's default maximum of 2^27 = 128 MiB, as zstd-jni): a tiny hostile frame
//! cannot make zstd allocate more than the caller allowed. A frame declaring a larger window
//! is still read, but in one pass into the caller's vector, which then serves as the window
//! (zstd allocates nothing of its own): a streaming writer that does not know the content size
//! ahead, as Java's, declares its level's whole window (2 MiB at level 3) even for a small
//! batch, and its content is what the limit bounds. Content over the limit is
//! [`Error::DecompressionLimit`] either way.
//!
//! Pre-1.0 zstd formats (v0.4-v0.7 "legacy" frames) are refused as corrupt: zstd joined
//! Kafka in 2.1, long after zstd 1.0 fixed the format, so no Kafka log holds them, and
//! the crate is built without zstd's legacy decoders (they also honoured a size limit
//! less exactly, which the fuzzer found).
//!
//! Both contexts are cached per thread: creating one costs more than coding a small batch.

use std::cell::Cell;
use std::io::Cursor;

use zstd::zstd_safe::zstd_sys::ZSTD_EndDirective;
use zstd::zstd_safe::{
    self, CCtx, CParameter, DCtx, DParameter, InBuffer, OutBuffer, ResetDirective,
};

use super::{
    decode_error, encode_error, grow_output, limit_error, put_cached, take_cached, MIN_OUTPUT_STEP,
};
use super::{Compression, Level};
use crate::error::{Error, Result};

thread_local! {
    /// This thread's compression context.
    static CCTX: Cell<Option<CCtx<'static>>> = const { Cell::new(None) };
    /// This thread's decompression context.
    static DCTX: Cell<Option<DCtx<'static>>> = const { Cell::new(None) };
}

/// The compression level to use: `None` is zstd's default (3); others must be in zstd's
/// range, which is Kafka's (`Zstd.minCompressionLevel()..=Zstd.maxCompressionLevel()`).
fn checked_level(level: Level) -> Result<i32> {
    let (min, max) = (zstd_safe::min_c_level(), zstd_safe::max_c_level());
    match level {
        None => Ok(zstd::DEFAULT_COMPRESSION_LEVEL),
        Some(l) if (min..=max).contains(&l) => Ok(l),
        Some(l) => Err(Error::InvalidArgument(format!(
            "zstd level {l} is out of range ({min}..={max})"
        ))),
    }
}

/// zstd's name for an error code, as the reason of a Kafka-facing error.
fn error_name(code: zstd_safe::ErrorCode) -> &'static str {
    zstd_safe::get_error_name(code)
}

/// Compresses `input` into one zstd frame appended to `out`.
pub(super) fn compress(level: Level, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let level = checked_level(level)?;
    let mut cctx = match take_cached(&CCTX).or_else(CCtx::try_create) {
        Some(cctx) => cctx,
        None => return Err(encode_error(Compression::Zstd, "cannot allocate a context")),
    };
    let start = out.len();
    let result = write_frame(&mut cctx, level, input, out);
    put_cached(&CCTX, cctx);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Writes one frame with `cctx`, whose session is reset first (a failed call may have left
/// it mid-frame).
fn write_frame(
    cctx: &mut CCtx<'static>,
    level: i32,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    let zstd_error = |code| encode_error(Compression::Zstd, error_name(code));
    cctx.reset(ResetDirective::SessionOnly)
        .map_err(zstd_error)?;
    cctx.set_parameter(CParameter::CompressionLevel(level))
        .map_err(zstd_error)?;
    // With room for the worst case, zstd compresses straight into `out` in one call; given
    // all input with `e_end` at once, it also knows and records the content size.
    out.reserve(zstd_safe::compress_bound(input.len()));
    let mut src = InBuffer::around(input);
    loop {
        let (pos, in_before) = (out.len(), src.pos());
        let left = {
            let mut dst = OutBuffer::around_pos(out, pos);
            cctx.compress_stream2(&mut dst, &mut src, ZSTD_EndDirective::ZSTD_e_end)
        }
        .map_err(zstd_error)?;
        if left == 0 {
            return Ok(());
        }
        if out.len() == pos && src.pos() == in_before && out.len() < out.capacity() {
            return Err(encode_error(Compression::Zstd, "no progress"));
        }
        out.reserve(left);
    }
}

/// The largest window a frame may declare for a decode under `limit`, as a power of two:
/// the limit rounded up (a window as large as the content is always allowed), at least zstd's
/// smallest window (1 KiB) and at most its default maximum (2^27 = 128 MiB, as zstd-jni).
fn window_log_max(limit: usize) -> u32 {
    let log = limit
        .checked_next_power_of_two()
        .map_or(usize::BITS, usize::trailing_zeros);
    log.clamp(WINDOW_LOG_MIN, WINDOW_LOG_DEFAULT_MAX)
}

/// zstd's smallest window log (`ZSTD_WINDOWLOG_MIN`; zstd's experimental API, which this
/// build leaves out, is what exports it).
const WINDOW_LOG_MIN: u32 = 10;
/// The largest window log a zstd decoder accepts by default (`ZSTD_WINDOWLOG_LIMIT_DEFAULT`),
/// which zstd-jni, and so Kafka's Java consumer, keeps.
const WINDOW_LOG_DEFAULT_MAX: u32 = 27;

/// zstd's error code for a frame whose window is larger than `WindowLogMax` allows
/// (`ZSTD_error_frameParameter_windowTooLarge`, returned negated as all zstd error codes).
const WINDOW_TOO_LARGE: zstd_safe::ErrorCode =
    (zstd_safe::zstd_sys::ZSTD_ErrorCode::ZSTD_error_frameParameter_windowTooLarge as usize)
        .wrapping_neg();

/// zstd's error code for output that does not fit the room given (`ZSTD_error_dstSize_tooSmall`).
const DST_SIZE_TOO_SMALL: zstd_safe::ErrorCode =
    (zstd_safe::zstd_sys::ZSTD_ErrorCode::ZSTD_error_dstSize_tooSmall as usize).wrapping_neg();

/// Decompresses every frame of `input`, appending at most `limit` bytes to `out`.
pub(super) fn decompress(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    let mut dctx = match take_cached(&DCTX).or_else(DCtx::try_create) {
        Some(dctx) => dctx,
        None => return Err(decode_error(Compression::Zstd, "cannot allocate a context")),
    };
    let start = out.len();
    let result = match read_frames(&mut dctx, input, out, start, limit) {
        Ok(Streamed::Done) => Ok(()),
        Ok(Streamed::WindowTooLarge) => {
            out.truncate(start);
            read_frames_in_one_pass(&mut dctx, input, out, start, limit)
        }
        Err(e) => Err(e),
    };
    put_cached(&DCTX, dctx);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// How streaming the frames ended, when it did not fail.
enum Streamed {
    /// Every frame is decoded.
    Done,
    /// A frame declares a window larger than the limit lets zstd allocate (see
    /// [`window_log_max`]); what was decoded so far is left in `out`.
    WindowTooLarge,
}

/// Streams all frames of `input` into `out` with `dctx`, whose session is reset first.
fn read_frames(
    dctx: &mut DCtx<'static>,
    input: &[u8],
    out: &mut Vec<u8>,
    start: usize,
    limit: usize,
) -> Result<Streamed> {
    let zstd_error = |code| decode_error(Compression::Zstd, error_name(code));
    dctx.reset(ResetDirective::SessionOnly)
        .map_err(zstd_error)?;
    dctx.set_parameter(DParameter::WindowLogMax(window_log_max(limit)))
        .map_err(zstd_error)?;
    match zstd_safe::get_frame_content_size(input) {
        Ok(Some(size)) => {
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            if size > limit {
                return Err(limit_error(limit));
            }
            // Exactly the frame's size: enough for zstd's single-pass path.
            out.reserve(size);
        }
        // No content size (Java's writer) or not a frame at all: guess from the input,
        // growing later if needed; decoding reports a bad frame.
        _ => out.reserve(input.len().saturating_mul(4).min(limit.saturating_add(1))),
    }
    let mut src = InBuffer::around(input);
    loop {
        if out.len() == out.capacity() {
            grow_output(out, start, limit)?;
        }
        let (pos, in_before) = (out.len(), src.pos());
        let streamed = {
            let mut dst = OutBuffer::around_pos(out, pos);
            dctx.decompress_stream(&mut dst, &mut src)
        };
        let hint = match streamed {
            Ok(hint) => hint,
            Err(WINDOW_TOO_LARGE) => return Ok(Streamed::WindowTooLarge),
            Err(code) => return Err(zstd_error(code)),
        };
        if out.len() - start > limit {
            return Err(limit_error(limit));
        }
        let input_done = src.pos() == input.len();
        if hint == 0 {
            // A frame ended and is fully flushed; another may follow.
            if input_done {
                return Ok(Streamed::Done);
            }
            continue;
        }
        // With room left in `out`, zstd has flushed all it could: if it also has no input
        // left (or took none), the frame is cut short.
        let stuck = out.len() == pos && src.pos() == in_before;
        if out.len() < out.capacity() && (input_done || stuck) {
            return Err(decode_error(Compression::Zstd, "truncated frame"));
        }
    }
}

/// Decodes all frames of `input` in one pass (`ZSTD_decompressDCtx`) into `out`, for input
/// with a frame whose window is too large to stream under `limit`.
///
/// A streaming writer that does not know the content size ahead (Java's) declares its level's
/// whole window (2 MiB at level 3) even for a small batch. Streaming such a frame makes zstd
/// allocate that window, which must not exceed the limit; decoding in one pass instead uses
/// the output as the window and allocates nothing inside zstd. The output room starts at a
/// guess and doubles while the content does not fit, up to `limit`: past that, the content is
/// over the limit.
fn read_frames_in_one_pass(
    dctx: &mut DCtx<'static>,
    input: &[u8],
    out: &mut Vec<u8>,
    start: usize,
    limit: usize,
) -> Result<()> {
    let mut room = input
        .len()
        .saturating_mul(4)
        .max(MIN_OUTPUT_STEP)
        .min(limit);
    loop {
        out.truncate(start);
        out.reserve_exact(room);
        let mut dst = Cursor::new(&mut *out);
        dst.set_position(start as u64);
        match dctx.decompress(&mut dst, input) {
            Ok(produced) if produced > limit => return Err(limit_error(limit)),
            Ok(_) => return Ok(()),
            // The capacity may exceed the room asked for: what counts is whether the room
            // zstd had reached the limit.
            Err(DST_SIZE_TOO_SMALL) if out.capacity() - start < limit => {
                room = (out.capacity() - start).saturating_mul(2).min(limit);
            }
            Err(DST_SIZE_TOO_SMALL) => return Err(limit_error(limit)),
            Err(code) => return Err(decode_error(Compression::Zstd, error_name(code))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_data::{compressible, incompressible, is_corrupt, is_over_limit};
    use super::*;
    use std::io::Write;

    fn roundtrip(data: &[u8], level: Level) -> Result<Vec<u8>> {
        let mut framed = b"prefix".to_vec();
        compress(level, data, &mut framed)?;
        assert_eq!(&framed[..6], b"prefix", "compress must append");
        let framed = framed.split_off(6);
        let mut plain = b"keep".to_vec();
        decompress(&framed, &mut plain, data.len())?;
        assert_eq!(&plain[..4], b"keep", "decompress must append");
        assert_eq!(&plain[4..], data);
        // The reference decoder agrees.
        let check =
            zstd::decode_all(&framed[..]).map_err(|e| decode_error(Compression::Zstd, e))?;
        assert_eq!(check, data);
        Ok(framed)
    }

    /// A frame as Java's streaming writer makes it: no content size in the header.
    fn streamed_frame(data: &[u8]) -> Result<Vec<u8>> {
        let mut enc = zstd::stream::Encoder::new(Vec::new(), 3)
            .map_err(|e| encode_error(Compression::Zstd, e))?;
        enc.write_all(data)
            .map_err(|e| encode_error(Compression::Zstd, e))?;
        enc.finish().map_err(|e| encode_error(Compression::Zstd, e))
    }

    #[test]
    fn zstd_roundtrips_empty_small_and_large() -> Result<()> {
        roundtrip(b"", None)?;
        roundtrip(b"x", None)?;
        roundtrip(b"zstd zstd zstd zstd zstd", Some(-5))?;
        let framed = roundtrip(&compressible(1 << 20), None)?;
        assert!(framed.len() < (1 << 20) / 10);
        // The frame records its content size.
        assert_eq!(
            zstd_safe::get_frame_content_size(&framed).ok().flatten(),
            Some(1 << 20)
        );
        roundtrip(&compressible(1 << 20), Some(19))?;
        roundtrip(&incompressible(1 << 20), None)?;
        roundtrip(&incompressible(1 << 20), Some(1)).map(drop)
    }

    #[test]
    fn zstd_writes_a_standard_frame_magic() -> Result<()> {
        let mut framed = Vec::new();
        compress(None, b"magic", &mut framed)?;
        assert_eq!(framed[..4], [0x28, 0xb5, 0x2f, 0xfd]);
        Ok(())
    }

    #[test]
    fn zstd_levels_follow_kafka() -> Result<()> {
        let mut out = Vec::new();
        for level in [None, Some(-131_072), Some(0), Some(1), Some(22)] {
            compress(level, b"abc", &mut out)?;
        }
        for level in [Some(23), Some(-131_073), Some(i32::MIN)] {
            assert!(matches!(
                compress(level, b"abc", &mut out),
                Err(Error::InvalidArgument(_))
            ));
        }
        Ok(())
    }

    #[test]
    fn zstd_reads_a_frame_without_content_size() -> Result<()> {
        let data = compressible(300_000);
        let framed = streamed_frame(&data)?;
        assert!(matches!(
            zstd_safe::get_frame_content_size(&framed),
            Ok(None)
        ));
        let mut out = b"keep".to_vec();
        decompress(&framed, &mut out, data.len())?;
        assert_eq!(out[4..], data);
        assert!(is_over_limit(&decompress(
            &framed,
            &mut Vec::new(),
            data.len() - 1
        )));
        Ok(())
    }

    #[test]
    fn zstd_refuses_pre_1_0_legacy_frames() {
        // Magic 0xFD2FB527 starts a zstd v0.7 frame; this one (found by the fuzzer) the
        // legacy decoder accepted under one limit and refused under another.
        let legacy = [0x27, 0xb5, 0x2f, 0xfd, 0x60, 0x93, 0x86, 0xdf, 0x00, 0x00];
        for limit in [0, 100, 1 << 16] {
            let mut out = b"keep".to_vec();
            let result = decompress(&legacy, &mut out, limit);
            assert!(is_corrupt(&result), "limit {limit}: {result:?}");
            assert_eq!(out, b"keep");
        }
    }

    #[test]
    fn zstd_reads_concatenated_and_skippable_frames() -> Result<()> {
        let mut framed = Vec::new();
        compress(None, b"one ", &mut framed)?;
        framed.extend(streamed_frame(b"two ")?);
        // A skippable frame: magic 0x184D2A50 (LE), length 3, payload.
        framed.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
        compress(Some(1), b"three", &mut framed)?;
        let mut out = Vec::new();
        decompress(&framed, &mut out, 100)?;
        assert_eq!(out, b"one two three");
        // Bytes after the last frame that are not a frame are an error, as in zstd-jni.
        framed.extend_from_slice(b"junk");
        assert!(is_corrupt(&decompress(&framed, &mut Vec::new(), 100)));
        Ok(())
    }

    #[test]
    fn zstd_enforces_the_limit_without_allocating_past_it() -> Result<()> {
        let data = compressible(1 << 20);
        for framed in [
            {
                let mut f = Vec::new();
                compress(None, &data, &mut f)?;
                f
            },
            streamed_frame(&data)?,
        ] {
            let mut out = b"keep".to_vec();
            let result = decompress(&framed, &mut out, 1000);
            assert!(is_over_limit(&result), "{result:?}");
            assert_eq!(out, b"keep");
            assert!(out.capacity() < 4096, "capacity {}", out.capacity());
            let mut out = Vec::new();
            decompress(&framed, &mut out, data.len())?;
            assert_eq!(out, data);
        }
        Ok(())
    }

    /// A frame without a content size declaring a window of 2^`window_log`, holding `block`
    /// (a block header and its data) as its last block.
    fn frame_with_window(window_log: u8, block: &[u8]) -> Vec<u8> {
        // Frame header descriptor 0: no content size, not single-segment, no checksum, no
        // dictionary; then the window descriptor (exponent in bits 7-3, mantissa 0).
        let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, (window_log - 10) << 3];
        frame.extend_from_slice(block);
        frame
    }

    /// The last raw block of `data` (at most 128 KiB).
    fn raw_block(data: &[u8]) -> Vec<u8> {
        let header = ((data.len() as u32) << 3) | 1;
        let mut block = header.to_be_bytes()[1..].to_vec();
        block.reverse(); // block headers are 3 bytes, little-endian
        block.extend_from_slice(data);
        block
    }

    #[test]
    fn zstd_bounds_the_streamed_window_by_the_limit() -> Result<()> {
        let new_dctx =
            || DCtx::try_create().ok_or_else(|| decode_error(Compression::Zstd, "no context"));
        // 14 bytes declaring a 128 MiB window for 5 bytes of content.
        let hostile = frame_with_window(27, &raw_block(b"hello"));
        assert_eq!(hostile.len(), 14);
        // Streamed under a small limit, zstd would allocate the window: it is refused...
        for limit in [0, 5, 1000, 1 << 20] {
            let result = read_frames(&mut new_dctx()?, &hostile, &mut Vec::new(), 0, limit);
            assert!(
                matches!(result, Ok(Streamed::WindowTooLarge)),
                "limit {limit}"
            );
        }
        // ...and the frame read in one pass instead, with the limit exact as ever.
        let mut out = b"keep".to_vec();
        decompress(&hostile, &mut out, 5)?;
        assert_eq!(out, b"keephello");
        let mut out = b"keep".to_vec();
        assert!(is_over_limit(&decompress(&hostile, &mut out, 4)));
        assert_eq!(out, b"keep");

        // The window allowed is the limit rounded up to a power of two.
        let mib = frame_with_window(20, &raw_block(b"one MiB window"));
        for (limit, streams) in [(1 << 20, true), ((1 << 19) + 1, true), (1 << 19, false)] {
            let mut out = Vec::new();
            let result = read_frames(&mut new_dctx()?, &mib, &mut out, 0, limit)?;
            assert_eq!(matches!(result, Streamed::Done), streams, "limit {limit}");
            let mut out = Vec::new();
            decompress(&mib, &mut out, limit)?;
            assert_eq!(out, b"one MiB window");
        }

        // One pass grows its room until the content fits, or refuses it past the limit: an
        // RLE block of 100,000 bytes in 10 bytes of frame.
        let rle_header = (100_000u32 << 3) | (1 << 1) | 1;
        let mut block = rle_header.to_be_bytes()[1..].to_vec();
        block.reverse();
        block.push(b'x');
        let rle = frame_with_window(27, &block);
        let mut out = Vec::new();
        decompress(&rle, &mut out, 1 << 20)?;
        assert_eq!(out, vec![b'x'; 100_000]);
        let mut out = Vec::new();
        decompress(&rle, &mut out, 100_000)?;
        assert_eq!(out.len(), 100_000);
        let mut out = Vec::new();
        assert!(is_over_limit(&decompress(&rle, &mut out, 99_999)));
        assert!(out.is_empty());
        // Cut short, it is corrupt, not over the limit.
        assert!(is_corrupt(&decompress(
            &rle[..rle.len() - 1],
            &mut Vec::new(),
            1 << 20
        )));
        Ok(())
    }

    /// The fuzz target's check (`fuzz/logic/decompress.rs`): whatever decodes under a limit
    /// decodes under exactly its size and is refused one byte below, whichever way a frame's
    /// window makes it decode.
    #[test]
    fn zstd_limit_is_exact_whatever_the_window() -> Result<()> {
        let mut java_like = zstd::stream::Encoder::new(Vec::new(), 19)
            .map_err(|e| encode_error(Compression::Zstd, e))?;
        java_like
            .write_all(&compressible(70_000))
            .map_err(|e| encode_error(Compression::Zstd, e))?;
        let java_like = java_like
            .finish()
            .map_err(|e| encode_error(Compression::Zstd, e))?;
        let frames = [
            frame_with_window(27, &raw_block(b"hello")),
            frame_with_window(20, &raw_block(&incompressible(5000))),
            frame_with_window(10, &raw_block(b"")),
            streamed_frame(&compressible(300_000))?,
            streamed_frame(b"tiny")?,
            java_like,
        ];
        for frame in &frames {
            for limit in [0, 100, 64 << 10, 1 << 20] {
                let mut out = Vec::new();
                if decompress(frame, &mut out, limit).is_err() {
                    continue;
                }
                let produced = out.len();
                let mut exact = Vec::new();
                decompress(frame, &mut exact, produced)?;
                assert_eq!(exact, out);
                if let Some(less) = produced.checked_sub(1) {
                    let result = decompress(frame, &mut Vec::new(), less);
                    assert!(
                        is_over_limit(&result),
                        "{produced} bytes under {less}: {result:?}"
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn zstd_rejects_every_truncation_and_survives_garbage() -> Result<()> {
        let data = compressible(50_000);
        for framed in [
            {
                let mut f = Vec::new();
                compress(None, &data, &mut f)?;
                f
            },
            streamed_frame(&data)?,
        ] {
            for cut in 0..framed.len() {
                let mut out = b"keep".to_vec();
                let result = decompress(&framed[..cut], &mut out, 1 << 20);
                assert!(is_corrupt(&result), "cut {cut}: {result:?}");
                assert_eq!(out, b"keep");
            }
            for i in 0..framed.len() {
                let mut flipped = framed.clone();
                flipped[i] ^= 0x5a;
                let _ = decompress(&flipped, &mut Vec::new(), 1 << 20);
            }
        }
        for len in [1, 4, 5, 18, 100, 5000] {
            let mut garbage = vec![0x28, 0xb5, 0x2f, 0xfd];
            garbage.extend(incompressible(len));
            let _ = decompress(&garbage, &mut Vec::new(), 1 << 20);
            assert!(decompress(&incompressible(len), &mut Vec::new(), 1 << 20).is_err());
        }
        // The context is reused after errors: a good frame still decodes.
        let mut framed = Vec::new();
        compress(None, b"after errors", &mut framed)?;
        let mut out = Vec::new();
        decompress(&framed, &mut out, 100)?;
        assert_eq!(out, b"after errors");
        Ok(())
    }
}
