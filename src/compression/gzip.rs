//! gzip (codec 1): RFC 1952 members, read with the leniency of Java's `GZIPInputStream`.
//!
//! Writing produces one member with the 10-byte header Java 16 and later writes
//! (`1f 8b 08 00`, mtime 0, XFL 0, OS 255 "unknown"), a raw deflate body and the CRC-32 /
//! ISIZE trailer. Level `None` is zlib's default, 6 (Kafka's `compression.gzip.level` -1).
//!
//! Reading matches `GZIPInputStream`, which Kafka's gzip reader wraps:
//! - the first member's header must be valid (magic, method 8; FEXTRA, FNAME, FCOMMENT
//!   skipped, FHCRC checked; reserved flag bits ignored);
//! - each member's CRC-32 and ISIZE are checked;
//! - after a member, further bytes are read as another member (concatenated members) if
//!   they start with a valid gzip header, and **silently ignored otherwise**: Java swallows
//!   the error of a malformed next header and reports end of stream.
//!
//! The header and trailer are parsed here rather than by `flate2::read::MultiGzDecoder`,
//! which rejects trailing bytes that Java ignores, and so the deflate state can be reused:
//! setting one up costs more than inflating a small batch.

use std::cell::Cell;

use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

use super::{decode_error, encode_error, grow_output, limit_error, put_cached, take_cached};
use super::{Compression, Level};
use crate::error::{Error, Result};

/// The member header written: magic `1f 8b`, method 8 (deflate), no flags, mtime 0, XFL 0
/// and OS 255 ("unknown"), byte for byte what `java.util.zip.GZIPOutputStream` writes since
/// Java 16.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// Length of the fixed part of a member header (magic, method, flags, mtime, XFL, OS).
const FIXED_HEADER_LEN: usize = 10;
/// Length of a member trailer: CRC-32 then ISIZE, both little-endian.
const TRAILER_LEN: usize = 8;
/// FLG bit: a CRC-16 of the header follows the optional fields.
const FHCRC: u8 = 0x02;
/// FLG bit: a length-prefixed extra field follows the fixed header.
const FEXTRA: u8 = 0x04;
/// FLG bit: a zero-terminated file name follows.
const FNAME: u8 = 0x08;
/// FLG bit: a zero-terminated comment follows.
const FCOMMENT: u8 = 0x10;
/// zlib's default level, used for `None` and Kafka's -1.
const DEFAULT_LEVEL: u32 = 6;

thread_local! {
    /// This thread's deflate state and the level it was made for (miniz cannot change it).
    static DEFLATE: Cell<Option<(u32, Compress)>> = const { Cell::new(None) };
    /// This thread's raw-inflate state.
    static INFLATE: Cell<Option<Decompress>> = const { Cell::new(None) };
}

/// Checks a level against Kafka's range: 1..=9, or -1 (Kafka's default, meaning 6).
fn checked_level(level: Level) -> Result<u32> {
    match level {
        None | Some(-1) => Ok(DEFAULT_LEVEL),
        Some(l @ 1..=9) => Ok(l.unsigned_abs()),
        Some(l) => Err(Error::InvalidArgument(format!(
            "gzip level {l} is out of range (1..=9, or -1 for the default)"
        ))),
    }
}

/// Reads a little-endian u32: gzip's trailer fields are little-endian (RFC 1952 section 2.1).
#[expect(
    clippy::little_endian_bytes,
    reason = "RFC 1952 fields are little-endian"
)]
fn u32_le(bytes: [u8; 4]) -> u32 {
    u32::from_le_bytes(bytes)
}

/// Encodes a little-endian u32 for the trailer.
#[expect(
    clippy::little_endian_bytes,
    reason = "RFC 1952 fields are little-endian"
)]
fn u32_le_bytes(value: u32) -> [u8; 4] {
    value.to_le_bytes()
}

/// Compresses `input` into one gzip member appended to `out`.
pub(super) fn compress(level: Level, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let level = checked_level(level)?;
    let start = out.len();
    let mut deflate = match take_cached(&DEFLATE) {
        Some((cached_level, mut deflate)) if cached_level == level => {
            deflate.reset();
            deflate
        }
        _ => Compress::new(flate2::Compression::new(level), false),
    };
    let result = write_member(&mut deflate, input, out);
    put_cached(&DEFLATE, (level, deflate));
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// An upper bound on raw deflate output for `len` input bytes: zlib's `deflateBound`, which
/// also covers miniz (stored blocks cost 5 bytes per 64 KiB), plus slack for the final block.
fn deflate_bound(len: usize) -> usize {
    len + (len >> 12) + (len >> 14) + (len >> 25) + 64
}

/// Writes header, deflate body and trailer of one member with a freshly reset `deflate`.
fn write_member(deflate: &mut Compress, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    out.reserve(HEADER.len() + deflate_bound(input.len()) + TRAILER_LEN);
    out.extend_from_slice(&HEADER);
    let mut rest = input;
    loop {
        let (in_before, out_before) = (deflate.total_in(), out.len());
        let status = deflate
            .compress_vec(rest, out, FlushCompress::Finish)
            .map_err(|e| encode_error(Compression::Gzip, e))?;
        let consumed = usize::try_from(deflate.total_in() - in_before)
            .map_err(|e| encode_error(Compression::Gzip, e))?;
        rest = rest.get(consumed..).unwrap_or_default();
        if status == Status::StreamEnd {
            break;
        }
        if consumed == 0 && out.len() == out_before && out.len() < out.capacity() {
            return Err(encode_error(Compression::Gzip, "deflate made no progress"));
        }
        // The bound was not enough (it is for zlib, not miniz): give it more room.
        out.reserve(rest.len() / 2 + 1024);
    }
    out.extend_from_slice(&u32_le_bytes(crc32fast::hash(input)));
    // ISIZE is the input length modulo 2^32 (RFC 1952), so the truncation is the format.
    out.extend_from_slice(&u32_le_bytes(input.len() as u32));
    Ok(())
}

/// Decompresses every member of `input`, appending at most `limit` bytes to `out`.
pub(super) fn decompress(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    let start = out.len();
    let mut inflate = take_cached(&INFLATE).unwrap_or_else(|| Decompress::new(false));
    let result = read_members(&mut inflate, input, out, start, limit);
    put_cached(&INFLATE, inflate);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Decodes members until the input ends or what follows a member is not a gzip header.
fn read_members(
    inflate: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    start: usize,
    limit: usize,
) -> Result<()> {
    // The last member's ISIZE is the whole output for the usual single member: reserve it
    // (bounded by the limit), plus one byte so that inflate can report the end of the
    // stream without a second, doubling allocation.
    if let Some((_, isize)) = input.split_last_chunk::<4>() {
        let hint = usize::try_from(u32_le(*isize)).unwrap_or(usize::MAX);
        out.reserve(hint.min(limit).saturating_add(1));
    }
    let mut header_len = parse_header(input).map_err(|e| decode_error(Compression::Gzip, e))?;
    let mut rest = input;
    loop {
        let body = rest.get(header_len..).unwrap_or_default();
        let member_start = out.len();
        inflate.reset(false);
        let consumed = inflate_member(inflate, body, out, start, limit)?;
        let after_body = body.get(consumed..).unwrap_or_default();
        let Some((trailer, after)) = after_body.split_first_chunk::<TRAILER_LEN>() else {
            return Err(decode_error(Compression::Gzip, "truncated member trailer"));
        };
        let [c0, c1, c2, c3, s0, s1, s2, s3] = *trailer;
        let member = out.get(member_start..).unwrap_or_default();
        let crc = crc32fast::hash(member);
        if u32_le([c0, c1, c2, c3]) != crc {
            return Err(decode_error(Compression::Gzip, "member CRC-32 mismatch"));
        }
        // ISIZE is the member's length modulo 2^32.
        if u32_le([s0, s1, s2, s3]) != member.len() as u32 {
            return Err(decode_error(Compression::Gzip, "member ISIZE mismatch"));
        }
        rest = after;
        if rest.is_empty() {
            return Ok(());
        }
        match parse_header(rest) {
            Ok(len) => header_len = len,
            // As GZIPInputStream: bytes after a member that are not a header end the stream.
            Err(_) => return Ok(()),
        }
    }
}

/// Inflates one member's raw deflate body into `out`, returning how many bytes it took.
fn inflate_member(
    inflate: &mut Decompress,
    body: &[u8],
    out: &mut Vec<u8>,
    start: usize,
    limit: usize,
) -> Result<usize> {
    let mut consumed = 0;
    loop {
        if out.len() == out.capacity() {
            grow_output(out, start, limit)?;
        }
        let (in_before, out_before) = (inflate.total_in(), out.len());
        let rest = body.get(consumed..).unwrap_or_default();
        let status = inflate
            .decompress_vec(rest, out, FlushDecompress::None)
            .map_err(|e| decode_error(Compression::Gzip, e))?;
        consumed += usize::try_from(inflate.total_in() - in_before)
            .map_err(|e| decode_error(Compression::Gzip, e))?;
        if out.len() - start > limit {
            return Err(limit_error(limit));
        }
        if status == Status::StreamEnd {
            return Ok(consumed);
        }
        // With room left in `out`, inflate has flushed all it could: if it also has no input
        // left (or took none), the deflate stream is cut short.
        let stuck = inflate.total_in() == in_before && out.len() == out_before;
        if out.len() < out.capacity() && (consumed == body.len() || stuck) {
            return Err(decode_error(Compression::Gzip, "truncated deflate stream"));
        }
    }
}

/// Parses a member header as `GZIPInputStream.readHeader` does, returning its length.
fn parse_header(input: &[u8]) -> std::result::Result<usize, &'static str> {
    let Some((fixed, mut rest)) = input.split_first_chunk::<FIXED_HEADER_LEN>() else {
        return Err("truncated member header");
    };
    if fixed[..2] != [0x1f, 0x8b] {
        return Err("not in gzip format (bad magic)");
    }
    if fixed[2] != 8 {
        return Err("unsupported compression method");
    }
    let flags = fixed[3];
    if flags & FEXTRA != 0 {
        let Some(([x0, x1], after)) = rest.split_first_chunk::<2>() else {
            return Err("truncated extra field");
        };
        let xlen = usize::from(u16::from(*x0) | (u16::from(*x1) << 8));
        rest = after.get(xlen..).ok_or("truncated extra field")?;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let end = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or("unterminated header string")?;
            rest = rest.get(end + 1..).unwrap_or_default();
        }
    }
    let mut len = input.len() - rest.len();
    if flags & FHCRC != 0 {
        let Some(([h0, h1], _)) = rest.split_first_chunk::<2>() else {
            return Err("truncated header CRC");
        };
        let covered = input.get(..len).unwrap_or_default();
        // The header CRC is the low 16 bits of the CRC-32 of the header bytes before it.
        let expected = (crc32fast::hash(covered) & 0xffff) as u16;
        if u16::from(*h0) | (u16::from(*h1) << 8) != expected {
            return Err("header CRC mismatch");
        }
        len += 2;
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::super::test_data::{compressible, incompressible, is_corrupt, is_over_limit};
    use super::*;
    use std::io::Write;

    fn roundtrip(data: &[u8], level: Level) -> Result<()> {
        let mut framed = b"prefix".to_vec();
        compress(level, data, &mut framed)?;
        assert_eq!(&framed[..6], b"prefix", "compress must append");
        let mut plain = b"keep".to_vec();
        decompress(&framed[6..], &mut plain, data.len())?;
        assert_eq!(&plain[..4], b"keep", "decompress must append");
        assert_eq!(&plain[4..], data);
        // flate2's own reader agrees that this is gzip.
        let mut check = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&framed[6..]), &mut check)
            .map_err(|e| decode_error(Compression::Gzip, e))?;
        assert_eq!(check, data);
        Ok(())
    }

    #[test]
    fn gzip_roundtrips_empty_small_and_large() -> Result<()> {
        roundtrip(b"", None)?;
        roundtrip(b"x", None)?;
        roundtrip(b"hello gzip hello gzip", Some(1))?;
        roundtrip(&compressible(1 << 20), None)?;
        roundtrip(&compressible(1 << 20), Some(9))?;
        roundtrip(&incompressible(1 << 20), None)?;
        roundtrip(&incompressible(1 << 20), Some(1))
    }

    #[test]
    fn gzip_writes_javas_header() -> Result<()> {
        let mut framed = Vec::new();
        compress(None, b"abc", &mut framed)?;
        assert_eq!(framed[..10], HEADER);
        assert_eq!(HEADER, [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff]);
        Ok(())
    }

    #[test]
    fn gzip_levels_follow_kafka() -> Result<()> {
        let mut out = Vec::new();
        for level in [None, Some(-1), Some(1), Some(9)] {
            compress(level, b"abc", &mut out)?;
        }
        for level in [Some(0), Some(10), Some(-2)] {
            assert!(matches!(
                compress(level, b"abc", &mut out),
                Err(Error::InvalidArgument(_))
            ));
        }
        Ok(())
    }

    #[test]
    fn gzip_reads_concatenated_members() -> Result<()> {
        let mut framed = Vec::new();
        compress(None, b"first ", &mut framed)?;
        compress(Some(1), b"", &mut framed)?;
        let mut enc = flate2::GzBuilder::new()
            .filename("name.txt")
            .comment("a comment")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), flate2::Compression::best());
        enc.write_all(b"second")
            .map_err(|e| encode_error(Compression::Gzip, e))?;
        framed.extend(
            enc.finish()
                .map_err(|e| encode_error(Compression::Gzip, e))?,
        );
        let mut plain = Vec::new();
        decompress(&framed, &mut plain, 100)?;
        assert_eq!(plain, b"first second");
        Ok(())
    }

    #[test]
    fn gzip_checks_the_header_crc() -> Result<()> {
        // FHCRC set, CRC of the 10 header bytes in its low 16 bits.
        let mut framed = Vec::new();
        compress(None, b"hcrc", &mut framed)?;
        let body = framed.split_off(10);
        let mut header = HEADER.to_vec();
        header[3] = FHCRC;
        let crc = crc32fast::hash(&header) as u16;
        let mut good = header.clone();
        good.extend_from_slice(&[crc as u8, (crc >> 8) as u8]);
        good.extend_from_slice(&body);
        let mut plain = Vec::new();
        decompress(&good, &mut plain, 100)?;
        assert_eq!(plain, b"hcrc");
        let mut bad = good.clone();
        bad[10] ^= 1;
        assert!(is_corrupt(&decompress(&bad, &mut plain, 100)));
        Ok(())
    }

    #[test]
    fn gzip_ignores_trailing_bytes_that_are_not_a_member() -> Result<()> {
        let mut framed = Vec::new();
        compress(None, b"data", &mut framed)?;
        for tail in [
            &[0u8; 3][..],
            b"garbage that is long enough",
            &[0x1f, 0x8b, 9],
        ] {
            let mut padded = framed.clone();
            padded.extend_from_slice(tail);
            let mut plain = Vec::new();
            decompress(&padded, &mut plain, 100)?;
            assert_eq!(plain, b"data");
        }
        // A valid next header with a broken body is an error, as in Java.
        let mut broken = framed.clone();
        broken.extend_from_slice(&framed[..12]);
        assert!(is_corrupt(&decompress(&broken, &mut Vec::new(), 100)));
        Ok(())
    }

    #[test]
    fn gzip_enforces_the_limit_without_allocating_past_it() -> Result<()> {
        let data = compressible(1 << 20);
        let mut framed = Vec::new();
        compress(None, &data, &mut framed)?;
        let mut out = b"keep".to_vec();
        let err = decompress(&framed, &mut out, 1000);
        assert!(
            matches!(err, Err(Error::DecompressionLimit { limit: 1000, .. })),
            "{err:?}"
        );
        assert_eq!(out, b"keep");
        assert!(out.capacity() < 64 * 1024, "capacity {}", out.capacity());
        // Exactly at the limit is fine.
        let mut out = Vec::new();
        decompress(&framed, &mut out, data.len())?;
        assert_eq!(out.len(), data.len());
        assert!(is_over_limit(&decompress(
            &framed,
            &mut Vec::new(),
            data.len() - 1
        )));
        // A lying ISIZE does not make it allocate more.
        let mut lying = framed.clone();
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&[0xff; 4]);
        let mut out = Vec::new();
        assert!(decompress(&lying, &mut out, 1000).is_err());
        assert!(out.capacity() < 64 * 1024);
        Ok(())
    }

    #[test]
    fn gzip_rejects_every_truncation_and_garbage() -> Result<()> {
        let mut framed = Vec::new();
        compress(None, &compressible(5000), &mut framed)?;
        for cut in 0..framed.len() {
            let mut out = b"keep".to_vec();
            assert!(
                is_corrupt(&decompress(&framed[..cut], &mut out, 1 << 20)),
                "cut {cut}"
            );
            assert_eq!(out, b"keep");
        }
        for i in 0..framed.len() {
            let mut flipped = framed.clone();
            flipped[i] ^= 0x5a;
            // Must not panic; most flips are caught by the CRC.
            let _ = decompress(&flipped, &mut Vec::new(), 1 << 20);
        }
        assert!(is_corrupt(&decompress(
            &incompressible(300),
            &mut Vec::new(),
            1 << 20
        )));
        Ok(())
    }

    #[test]
    fn gzip_checks_crc_and_isize() -> Result<()> {
        let mut framed = Vec::new();
        compress(None, b"checked", &mut framed)?;
        let n = framed.len();
        for at in [n - 8, n - 1] {
            let mut bad = framed.clone();
            bad[at] ^= 1;
            assert!(is_corrupt(&decompress(&bad, &mut Vec::new(), 100)));
        }
        Ok(())
    }
}
