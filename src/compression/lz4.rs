//! lz4 (codec 3): the LZ4 frame format, written and read as Kafka's `Lz4BlockOutputStream`
//! and `Lz4BlockInputStream` do. Blocks go through `lz4_flex::block`; the framing is here.
//!
//! Frame layout (the only little-endian structure in Kafka's format):
//!
//! | bytes | field | written |
//! |---|---|---|
//! | 4 | magic `0x184D2204` (LE) | `04 22 4D 18` |
//! | 1 | FLG: version (bits 7-6), block independence (5), block checksum (4), content size (3), content checksum (2), reserved (1-0) | `0x60` |
//! | 1 | BD: block max size code (bits 6-4), other bits reserved | `0x40` (64 KiB) |
//! | 0 or 8 | content size (LE) | absent |
//! | 1 | HC: `(xxh32(FLG ..= last descriptor byte, seed 0) >> 8) & 0xFF` | `0x82` |
//! | then, per block: 4 | size (LE); bit 31 set = stored uncompressed | |
//! | n | block data | |
//! | 0 or 4 | block checksum: xxh32 of the block data (LE) | absent |
//! | 4 | end mark `00 00 00 00` | |
//! | 0 or 4 | content checksum | absent |
//!
//! A block is stored uncompressed when compressing does not make it smaller, as Java does.
//!
//! Reading accepts what Kafka's reader accepts and rejects what it rejects:
//! - version must be 01 and reserved bits 0; the dictionary-id flag (FLG bit 0) is one of
//!   Kafka's "reserved" bits, so frames with a dictionary are rejected;
//! - linked (dependent) blocks are rejected;
//! - block size code 4..=7 (64 KiB to 4 MiB) only, and a block larger than that is corrupt;
//! - a content size is skipped (and used here only as an allocation hint, bounded by the limit);
//! - HC is verified, except for magic-0 wrapper messages, where Kafka skips it because old
//!   clients computed it over the magic too (see [`super::decompress_magic0`]);
//! - block checksums are verified when flagged; the content checksum must be present but is
//!   not verified, as in the Kafka version `FORMAT.md` cites (newer trunk verifies it; Java
//!   writers never set it);
//! - a size word of 0 ends the frame even with bit 31 set (Kafka masks the bit first), the
//!   end mark is required, and bytes after the end mark (and content checksum) are ignored,
//!   because Kafka's reader stops there.
//!
//! Levels: Kafka's range 1..=17 is accepted, but `lz4_flex` has no high-compression mode, so
//! tidelog always uses the fast compressor (the default level, 9, is HC in Kafka). The output
//! is a valid frame for every reader either way; only the ratio differs.

use std::cell::Cell;

use lz4_flex::block::{compress_into, decompress_into, get_maximum_output_size, DecompressError};
use xxhash_rust::xxh32::xxh32;

use super::{decode_error, encode_error, limit_error, put_cached, take_cached};
use super::{Compression, Level};
use crate::error::{Error, Result};

/// Largest decode buffer kept for the thread's next call: enough for 64 KiB and 256 KiB
/// blocks (codes 4 and 5). Frames with bigger blocks, which Kafka never writes, get a
/// buffer of their own each time rather than pinning megabytes per thread.
const MAX_CACHED_SCRATCH: usize = 256 * 1024;

thread_local! {
    /// This thread's block decode buffer, zero-filled once and reused.
    static SCRATCH: Cell<Option<Vec<u8>>> = const { Cell::new(None) };
}

/// The frame magic number, `0x184D2204`, as it appears on disk (little-endian).
const MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
/// FLG written: version 01, independent blocks, no checksums, no content size.
const FLG_WRITTEN: u8 = 0x60;
/// BD written: block size code 4, 64 KiB blocks.
const BD_WRITTEN: u8 = 0x40;
/// The whole frame header written: magic, FLG, BD and HC (`0x82` for `60 40`).
const HEADER: [u8; 7] = [0x04, 0x22, 0x4d, 0x18, FLG_WRITTEN, BD_WRITTEN, 0x82];
/// Input bytes per written block: Java's default 64 KiB.
const BLOCK_INPUT: usize = 64 * 1024;
/// Bit 31 of a block size: the block is stored uncompressed.
const STORED: u32 = 0x8000_0000;
/// The end mark: a block size of zero.
const END_MARK: [u8; 4] = [0; 4];

/// FLG: the two version bits (must be 01).
const FLG_VERSION_MASK: u8 = 0xc0;
/// FLG: version 01.
const FLG_VERSION_01: u8 = 0x40;
/// FLG: blocks are independent.
const FLG_INDEPENDENT: u8 = 0x20;
/// FLG: each block is followed by its xxh32.
const FLG_BLOCK_CHECKSUM: u8 = 0x10;
/// FLG: an 8-byte content size follows BD.
const FLG_CONTENT_SIZE: u8 = 0x08;
/// FLG: a 4-byte content checksum follows the end mark.
const FLG_CONTENT_CHECKSUM: u8 = 0x04;
/// FLG: bits Kafka calls reserved (bit 0 is the dictionary id flag in the LZ4 spec).
const FLG_RESERVED: u8 = 0x03;
/// BD: bits that must be 0.
const BD_RESERVED: u8 = 0x8f;

/// Kafka's accepted `compression.lz4.level` range.
const LEVELS: std::ops::RangeInclusive<i32> = 1..=17;

/// Reads a little-endian u32 from an LZ4 frame.
#[expect(
    clippy::little_endian_bytes,
    reason = "LZ4 frame fields are little-endian"
)]
fn u32_le(bytes: [u8; 4]) -> u32 {
    u32::from_le_bytes(bytes)
}

/// Encodes a little-endian u32 for an LZ4 frame.
#[expect(
    clippy::little_endian_bytes,
    reason = "LZ4 frame fields are little-endian"
)]
fn u32_le_bytes(value: u32) -> [u8; 4] {
    value.to_le_bytes()
}

/// Reads a little-endian u64 (the content size) from an LZ4 frame.
#[expect(
    clippy::little_endian_bytes,
    reason = "LZ4 frame fields are little-endian"
)]
fn u64_le(bytes: [u8; 8]) -> u64 {
    u64::from_le_bytes(bytes)
}

/// The header checksum byte over the descriptor bytes `FLG ..= last` (HC excluded).
fn header_checksum(descriptor: &[u8]) -> u8 {
    // Only the second byte of the hash is kept (LZ4 frame spec).
    (xxh32(descriptor, 0) >> 8) as u8
}

/// Compresses `input` into one LZ4 frame appended to `out`, as Kafka's Java writer does.
pub(super) fn compress(level: Level, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    if let Some(level) = level.filter(|l| !LEVELS.contains(l)) {
        return Err(Error::InvalidArgument(format!(
            "lz4 level {level} is out of range ({}..={})",
            LEVELS.start(),
            LEVELS.end()
        )));
    }
    let start = out.len();
    let result = write_frame(input, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Writes header, one block per 64 KiB of `input`, and the end mark.
///
/// Each block is compressed straight into `out`: it is grown by the block's worst case,
/// compressed into, then cut back (or overwritten with the input, if that is smaller).
fn write_frame(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let blocks = input.len().div_ceil(BLOCK_INPUT);
    let working_room = get_maximum_output_size(input.len().min(BLOCK_INPUT));
    // No block is larger than its input (it is stored otherwise): this never reallocates.
    out.reserve(HEADER.len() + blocks * 4 + input.len() + working_room + END_MARK.len());
    out.extend_from_slice(&HEADER);
    for chunk in input.chunks(BLOCK_INPUT) {
        let at = out.len();
        let data_at = at + 4;
        out.resize(data_at + get_maximum_output_size(chunk.len()), 0);
        let written = match out.get_mut(data_at..) {
            Some(room) => {
                compress_into(chunk, room).map_err(|e| encode_error(Compression::Lz4, e))?
            }
            None => return Err(encode_error(Compression::Lz4, "no room for a block")),
        };
        // Blocks are at most 64 KiB, so their sizes fit bit 0..=30.
        let size = if written < chunk.len() {
            out.truncate(data_at + written);
            written as u32
        } else {
            out.truncate(data_at);
            out.extend_from_slice(chunk);
            chunk.len() as u32 | STORED
        };
        if let Some(prefix) = out.get_mut(at..data_at) {
            prefix.copy_from_slice(&u32_le_bytes(size));
        }
    }
    out.extend_from_slice(&END_MARK);
    Ok(())
}

/// What the frame descriptor says about the rest of the frame.
#[derive(Debug)]
struct Descriptor {
    /// Largest decoded (and stored) size of one block.
    max_block: usize,
    /// Each block is followed by an xxh32 of its data.
    block_checksums: bool,
    /// A content checksum follows the end mark.
    content_checksum: bool,
    /// The declared size of the whole content, if present.
    content_size: Option<u64>,
}

/// Parses and checks the frame header as Kafka's `Lz4BlockInputStream.readHeader` does,
/// returning the descriptor and the bytes after the header.
fn parse_header(input: &[u8], magic0: bool) -> Result<(Descriptor, &[u8])> {
    let error = |reason| decode_error(Compression::Lz4, reason);
    let Some((magic, rest)) = input.split_first_chunk::<4>() else {
        return Err(error("truncated frame header"));
    };
    if *magic != MAGIC {
        return Err(error("not an LZ4 frame (bad magic)"));
    }
    let Some((&[flg, bd], mut rest)) = rest.split_first_chunk::<2>() else {
        return Err(error("truncated frame header"));
    };
    if flg & FLG_RESERVED != 0 {
        return Err(error(
            "reserved FLG bits set (dictionary ids are not supported)",
        ));
    }
    if flg & FLG_INDEPENDENT == 0 {
        return Err(error("dependent (linked) blocks are not supported"));
    }
    if flg & FLG_VERSION_MASK != FLG_VERSION_01 {
        return Err(error("unsupported frame version"));
    }
    if bd & BD_RESERVED != 0 {
        return Err(error("reserved BD bits set"));
    }
    let code = (bd >> 4) & 0x07;
    if !(4..=7).contains(&code) {
        return Err(error("block size code must be 4..=7 (64 KiB to 4 MiB)"));
    }
    let mut content_size = None;
    if flg & FLG_CONTENT_SIZE != 0 {
        let Some((size, after)) = rest.split_first_chunk::<8>() else {
            return Err(error("truncated content size"));
        };
        content_size = Some(u64_le(*size));
        rest = after;
    }
    let Some((&hc, blocks)) = rest.split_first() else {
        return Err(error("truncated frame header"));
    };
    // Kafka skips the check for magic 0, whose writers hashed from the magic instead of FLG.
    if !magic0 {
        let descriptor = input.get(4..input.len() - rest.len()).unwrap_or_default();
        if hc != header_checksum(descriptor) {
            return Err(error("frame descriptor checksum mismatch"));
        }
    }
    let descriptor = Descriptor {
        max_block: 1 << (2 * usize::from(code) + 8),
        block_checksums: flg & FLG_BLOCK_CHECKSUM != 0,
        content_checksum: flg & FLG_CONTENT_CHECKSUM != 0,
        content_size,
    };
    Ok((descriptor, blocks))
}

/// Decompresses one LZ4 frame, appending at most `limit` bytes to `out`.
///
/// `magic0` skips the header checksum, as Kafka does for magic-0 wrapper messages.
pub(super) fn decompress(
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
    magic0: bool,
) -> Result<()> {
    let start = out.len();
    let mut scratch = take_cached(&SCRATCH).unwrap_or_default();
    let result = read_frame(input, out, limit, magic0, &mut scratch);
    if scratch.len() <= MAX_CACHED_SCRATCH {
        put_cached(&SCRATCH, scratch);
    }
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// An upper bound on what the blocks in `rest` decode to: stored blocks count their size,
/// compressed ones a whole block. Exact for Java's frames but for the last block.
///
/// Only a capacity hint, so a malformed frame just ends the walk (decoding reports it).
fn output_bound(mut rest: &[u8], descriptor: &Descriptor) -> usize {
    let mut bound: usize = 0;
    while let Some((word, after)) = rest.split_first_chunk::<4>() {
        let word = u32_le(*word);
        let size = (word & !STORED) as usize;
        if size == 0 {
            break;
        }
        let decoded = if word & STORED != 0 {
            size
        } else {
            descriptor.max_block
        };
        bound = bound.saturating_add(decoded);
        let checksum = if descriptor.block_checksums { 4 } else { 0 };
        let Some(after) = after.get(size.saturating_add(checksum)..) else {
            break;
        };
        rest = after;
    }
    bound
}

/// Decodes the frame, appending to `out`.
///
/// Compressed blocks are decoded into `scratch` (kept initialized across calls, as Java
/// keeps its block buffer) and copied out: decoding straight into `out` would need a whole
/// block of zero-filled room first, which costs more than the copy for the usual batch,
/// smaller than a block.
fn read_frame(
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
    magic0: bool,
    scratch: &mut Vec<u8>,
) -> Result<()> {
    let error = |reason: &str| decode_error(Compression::Lz4, reason);
    let (descriptor, mut rest) = parse_header(input, magic0)?;
    // A hint only: Kafka never checks the content size against the content.
    let hint = match descriptor.content_size {
        Some(size) => usize::try_from(size).unwrap_or(usize::MAX),
        None => output_bound(rest, &descriptor),
    };
    out.reserve(hint.min(limit));
    let mut remaining = limit;
    loop {
        let Some((word, after)) = rest.split_first_chunk::<4>() else {
            return Err(error("truncated block size (no end mark)"));
        };
        rest = after;
        let word = u32_le(*word);
        let size = (word & !STORED) as usize;
        if size == 0 {
            // Skipped without checking, as Kafka does; it must still be there.
            if descriptor.content_checksum && rest.len() < 4 {
                return Err(error("truncated content checksum"));
            }
            return Ok(());
        }
        if size > descriptor.max_block {
            return Err(decode_error(
                Compression::Lz4,
                format!(
                    "block of {size} bytes exceeds the frame's maximum {}",
                    descriptor.max_block
                ),
            ));
        }
        let Some((data, after)) = rest.split_at_checked(size) else {
            return Err(error("truncated block"));
        };
        rest = after;
        if descriptor.block_checksums {
            let Some((checksum, after)) = rest.split_first_chunk::<4>() else {
                return Err(error("truncated block checksum"));
            };
            rest = after;
            if u32_le(*checksum) != xxh32(data, 0) {
                return Err(error("block checksum mismatch"));
            }
        }
        let decoded = if word & STORED != 0 {
            data
        } else {
            // Room for a whole block, or just past the limit if that is nearer: a block
            // that needs more than that is over the limit, not corrupt.
            let room = descriptor.max_block.min(remaining.saturating_add(1));
            if scratch.len() < room {
                scratch.resize(room, 0);
            }
            let target = scratch.get_mut(..room).unwrap_or_default();
            let written = match decompress_into(data, target) {
                Ok(written) => written,
                Err(DecompressError::OutputTooSmall { .. }) if room < descriptor.max_block => {
                    return Err(limit_error(limit));
                }
                Err(e) => return Err(decode_error(Compression::Lz4, e)),
            };
            scratch.get(..written).unwrap_or_default()
        };
        if decoded.len() > remaining {
            return Err(limit_error(limit));
        }
        remaining -= decoded.len();
        out.extend_from_slice(decoded);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_data::{compressible, incompressible, is_corrupt, is_over_limit};
    use super::*;
    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
    use std::io::Write;

    fn roundtrip(data: &[u8]) -> Result<Vec<u8>> {
        let mut framed = b"prefix".to_vec();
        compress(None, data, &mut framed)?;
        assert_eq!(&framed[..6], b"prefix", "compress must append");
        let framed = framed.split_off(6);
        let mut plain = b"keep".to_vec();
        decompress(&framed, &mut plain, data.len(), false)?;
        assert_eq!(&plain[..4], b"keep", "decompress must append");
        assert_eq!(&plain[4..], data);
        // lz4_flex's frame reader agrees.
        let mut check = Vec::new();
        std::io::Read::read_to_end(
            &mut lz4_flex::frame::FrameDecoder::new(&framed[..]),
            &mut check,
        )
        .map_err(|e| decode_error(Compression::Lz4, e))?;
        assert_eq!(check, data);
        Ok(framed)
    }

    /// Encodes `data` with lz4_flex's frame writer.
    fn flex_frame(info: FrameInfo, data: &[u8]) -> Result<Vec<u8>> {
        let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(data)
            .map_err(|e| encode_error(Compression::Lz4, e))?;
        enc.finish().map_err(|e| encode_error(Compression::Lz4, e))
    }

    /// Rewrites the HC byte of a frame without a content size.
    fn fix_hc(frame: &mut [u8]) {
        frame[6] = header_checksum(&frame[4..6]);
    }

    #[test]
    fn lz4_roundtrips_empty_small_and_large() -> Result<()> {
        let empty = roundtrip(b"")?;
        assert_eq!(empty, [4, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 0, 0, 0, 0]);
        roundtrip(b"x")?;
        roundtrip(b"lz4 lz4 lz4 lz4 lz4 lz4 lz4")?;
        let framed = roundtrip(&compressible(1 << 20))?;
        assert!(framed.len() < (1 << 20) / 3);
        let framed = roundtrip(&incompressible(1 << 20))?;
        // Incompressible blocks are stored: 16 blocks of 4 + 65536 bytes.
        assert_eq!(framed.len(), 7 + 16 * (4 + 65536) + 4);
        assert_eq!(framed[7..11], [0, 0, 1, 0x80]);
        roundtrip(&compressible(BLOCK_INPUT + 1)).map(drop)
    }

    #[test]
    fn lz4_writes_kafkas_header() -> Result<()> {
        let mut framed = Vec::new();
        compress(Some(9), b"header", &mut framed)?;
        assert_eq!(framed[..7], [0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82]);
        assert_eq!(header_checksum(&[0x60, 0x40]), 0x82);
        assert_eq!(framed[framed.len() - 4..], END_MARK);
        Ok(())
    }

    #[test]
    fn lz4_levels_follow_kafka() -> Result<()> {
        let mut out = Vec::new();
        for level in [None, Some(1), Some(9), Some(17)] {
            compress(level, b"abc", &mut out)?;
        }
        for level in [Some(0), Some(18), Some(-1)] {
            assert!(matches!(
                compress(level, b"abc", &mut out),
                Err(Error::InvalidArgument(_))
            ));
        }
        Ok(())
    }

    #[test]
    fn lz4_reads_content_size_and_both_checksums() -> Result<()> {
        // Built by hand: FLG 0x7c = version 01, independent, block checksum, content size,
        // content checksum; BD 0x70 = 4 MiB blocks; one compressed and one stored block.
        let part1 = compressible(3000);
        let part2 = b"stored bytes".to_vec();
        let block1 = lz4_flex::block::compress(&part1);
        let mut frame = MAGIC.to_vec();
        frame.extend_from_slice(&[0x7c, 0x70]);
        let content_size = (part1.len() + part2.len()) as u64;
        frame.extend((0..8).map(|i| (content_size >> (8 * i)) as u8));
        frame.push(header_checksum(&frame[4..]));
        for (data, flag) in [(&block1, 0u32), (&part2, STORED)] {
            frame.extend_from_slice(&u32_le_bytes(data.len() as u32 | flag));
            frame.extend_from_slice(data);
            frame.extend_from_slice(&u32_le_bytes(xxh32(data, 0)));
        }
        frame.extend_from_slice(&END_MARK);
        let mut whole = part1.clone();
        whole.extend_from_slice(&part2);
        frame.extend_from_slice(&u32_le_bytes(xxh32(&whole, 0)));
        let mut out = Vec::new();
        decompress(&frame, &mut out, 1 << 20, false)?;
        assert_eq!(out, whole);
        // The content checksum is skipped, not verified (as Kafka's reader, FORMAT.md 3).
        let n = frame.len();
        frame[n - 1] ^= 0xff;
        let mut out = Vec::new();
        decompress(&frame, &mut out, 1 << 20, false)?;
        assert_eq!(out, whole);
        // ... but it must be present.
        assert!(is_corrupt(&decompress(
            &frame[..n - 1],
            &mut Vec::new(),
            1 << 20,
            false
        )));
        // A bad block checksum is caught.
        let mut bad = frame.clone();
        bad[7 + 8 + 4] ^= 1;
        assert!(is_corrupt(&decompress(
            &bad,
            &mut Vec::new(),
            1 << 20,
            false
        )));
        Ok(())
    }

    #[test]
    fn lz4_reads_frames_written_by_lz4_flex() -> Result<()> {
        let data = compressible(300_000);
        let mut info = FrameInfo::new();
        let mut out = Vec::new();
        decompress(
            &flex_frame(info.clone(), &data)?,
            &mut out,
            data.len(),
            false,
        )?;
        assert_eq!(out, data);
        info = info
            .block_size(BlockSize::Max4MB)
            .block_checksums(true)
            .content_checksum(true)
            .content_size(Some(data.len() as u64));
        let mut out = Vec::new();
        decompress(&flex_frame(info, &data)?, &mut out, data.len(), false)?;
        assert_eq!(out, data);
        Ok(())
    }

    #[test]
    fn lz4_rejects_what_kafka_rejects() -> Result<()> {
        let data = compressible(200_000);
        let linked = FrameInfo::new().block_mode(BlockMode::Linked);
        assert!(is_corrupt(&decompress(
            &flex_frame(linked, &data)?,
            &mut Vec::new(),
            1 << 20,
            false
        )));
        // lz4_flex's 8 MiB blocks use code 8, which Kafka's reader rejects.
        let max8 = FrameInfo::new().block_size(BlockSize::Max8MB);
        assert!(is_corrupt(&decompress(
            &flex_frame(max8, &data)?,
            &mut Vec::new(),
            1 << 20,
            false
        )));

        let mut framed = Vec::new();
        compress(None, &data, &mut framed)?;
        let with = |flg: u8, bd: u8| {
            let mut f = framed.clone();
            f[4] = flg;
            f[5] = bd;
            fix_hc(&mut f);
            f
        };
        // Block size codes: 7 is fine, 3 and 0 are not.
        let mut out = Vec::new();
        decompress(&with(0x60, 0x70), &mut out, 1 << 20, false)?;
        assert_eq!(out, data);
        for (flg, bd) in [
            (0x60, 0x30),
            (0x60, 0x00),
            (0x61, 0x40),
            (0x62, 0x40),
            (0xa0, 0x40),
            (0x20, 0x40),
            (0x60, 0x41),
            (0x60, 0xc0),
            (0x40, 0x40),
        ] {
            assert!(
                is_corrupt(&decompress(&with(flg, bd), &mut Vec::new(), 1 << 20, false)),
                "{flg:#x} {bd:#x}"
            );
        }
        // A block larger than the declared maximum.
        let mut big = framed.clone();
        big[7..11].copy_from_slice(&u32_le_bytes(65537));
        assert!(is_corrupt(&decompress(
            &big,
            &mut Vec::new(),
            1 << 20,
            false
        )));
        // No end mark.
        assert!(is_corrupt(&decompress(
            &framed[..framed.len() - 4],
            &mut Vec::new(),
            1 << 20,
            false
        )));
        Ok(())
    }

    #[test]
    fn lz4_header_checksum_and_the_magic0_exception() -> Result<()> {
        let mut framed = Vec::new();
        compress(None, b"legacy wrapper value", &mut framed)?;
        // Old Kafka hashed magic + FLG + BD.
        let mut broken = framed.clone();
        broken[6] = header_checksum(&framed[..6]);
        assert_ne!(broken[6], framed[6]);
        assert!(is_corrupt(&decompress(
            &broken,
            &mut Vec::new(),
            100,
            false
        )));
        let mut out = Vec::new();
        super::super::decompress_magic0(Compression::Lz4, &broken, &mut out, 100)?;
        assert_eq!(out, b"legacy wrapper value");
        let mut out = Vec::new();
        super::super::decompress_magic0(Compression::Lz4, &framed, &mut out, 100)?;
        assert_eq!(out, b"legacy wrapper value");
        assert!(is_corrupt(&super::super::decompress(
            Compression::Lz4,
            &broken,
            &mut Vec::new(),
            100
        )));
        Ok(())
    }

    #[test]
    fn lz4_ignores_bytes_after_the_end_mark() -> Result<()> {
        let mut framed = Vec::new();
        compress(None, b"end", &mut framed)?;
        framed.extend_from_slice(b"trailing junk");
        let mut out = Vec::new();
        decompress(&framed, &mut out, 100, false)?;
        assert_eq!(out, b"end");
        // A stored-bit-only size word is an end mark too (Kafka masks before comparing).
        let mut masked = Vec::new();
        compress(None, b"end", &mut masked)?;
        let n = masked.len();
        masked[n - 1] = 0x80;
        let mut out = Vec::new();
        decompress(&masked, &mut out, 100, false)?;
        assert_eq!(out, b"end");
        Ok(())
    }

    #[test]
    fn lz4_enforces_the_limit_without_allocating_past_it() -> Result<()> {
        for data in [compressible(1 << 20), incompressible(1 << 20)] {
            let mut framed = Vec::new();
            compress(None, &data, &mut framed)?;
            let mut out = b"keep".to_vec();
            let result = decompress(&framed, &mut out, 1000, false);
            assert!(is_over_limit(&result), "{result:?}");
            assert_eq!(out, b"keep");
            assert!(out.capacity() < 4096, "capacity {}", out.capacity());
            let mut out = Vec::new();
            decompress(&framed, &mut out, data.len(), false)?;
            assert!(is_over_limit(&decompress(
                &framed,
                &mut out,
                data.len() - 1,
                false
            )));
        }
        // A content size far beyond the limit is only a hint.
        let data = compressible(5000);
        let info = FrameInfo::new().content_size(Some(5000));
        let mut lying = flex_frame(info, &data)?;
        lying[6..14].copy_from_slice(&[0xff; 8]);
        lying[14] = header_checksum(&lying[4..14]);
        let mut out = Vec::new();
        decompress(&lying, &mut out, 5000, false)?;
        assert_eq!(out, data);
        assert!(out.capacity() < 8192);
        Ok(())
    }

    #[test]
    fn lz4_rejects_every_truncation_and_survives_garbage() -> Result<()> {
        let mut data = compressible(70_000);
        data.extend(incompressible(70_000));
        let mut framed = Vec::new();
        compress(None, &data, &mut framed)?;
        for cut in 0..framed.len() {
            let mut out = b"keep".to_vec();
            assert!(
                is_corrupt(&decompress(&framed[..cut], &mut out, 1 << 20, false)),
                "cut {cut}"
            );
            assert_eq!(out, b"keep");
        }
        for i in (0..framed.len()).step_by(7) {
            let mut flipped = framed.clone();
            flipped[i] ^= 0x5a;
            let _ = decompress(&flipped, &mut Vec::new(), 1 << 20, false);
        }
        for len in [0, 1, 6, 7, 11, 100, 5000] {
            let mut garbage = HEADER.to_vec();
            garbage.extend(incompressible(len));
            let _ = decompress(&garbage, &mut Vec::new(), 1 << 20, false);
        }
        Ok(())
    }
}
