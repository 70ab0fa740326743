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
//! Window sizes up to zstd's default maximum (2^27, 128 MiB, as zstd-jni) are accepted: a
//! frame written at a high level by a streaming writer may legitimately declare one. That
//! window buffer is zstd's own allocation, kept with the thread's context for reuse.
//!
//! Pre-1.0 zstd formats (v0.4-v0.7 "legacy" frames) are refused as corrupt: zstd joined
//! Kafka in 2.1, long after zstd 1.0 fixed the format, so no Kafka log holds them, and
//! the crate is built without zstd's legacy decoders (they also honoured a size limit
//! less exactly, which the fuzzer found).
//!
//! Both contexts are cached per thread: creating one costs more than coding a small batch.

use std::cell::Cell;

use zstd::zstd_safe::zstd_sys::ZSTD_EndDirective;
use zstd::zstd_safe::{self, CCtx, CParameter, DCtx, InBuffer, OutBuffer, ResetDirective};

use super::{decode_error, encode_error, grow_output, limit_error, put_cached, take_cached};
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

/// Decompresses every frame of `input`, appending at most `limit` bytes to `out`.
pub(super) fn decompress(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    let mut dctx = match take_cached(&DCTX).or_else(DCtx::try_create) {
        Some(dctx) => dctx,
        None => return Err(decode_error(Compression::Zstd, "cannot allocate a context")),
    };
    let start = out.len();
    let result = read_frames(&mut dctx, input, out, start, limit);
    put_cached(&DCTX, dctx);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Streams all frames of `input` into `out` with `dctx`, whose session is reset first.
fn read_frames(
    dctx: &mut DCtx<'static>,
    input: &[u8],
    out: &mut Vec<u8>,
    start: usize,
    limit: usize,
) -> Result<()> {
    let zstd_error = |code| decode_error(Compression::Zstd, error_name(code));
    dctx.reset(ResetDirective::SessionOnly)
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
        let hint = {
            let mut dst = OutBuffer::around_pos(out, pos);
            dctx.decompress_stream(&mut dst, &mut src)
        }
        .map_err(zstd_error)?;
        if out.len() - start > limit {
            return Err(limit_error(limit));
        }
        let input_done = src.pos() == input.len();
        if hint == 0 {
            // A frame ended and is fully flushed; another may follow.
            if input_done {
                return Ok(());
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
