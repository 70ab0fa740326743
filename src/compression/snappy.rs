//! snappy (codec 2): snappy-java's xerial stream, as Kafka's `SnappyOutputStream` writes it.
//!
//! Layout (all integers big-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `82 53 4E 41 50 50 59 00` ("\x82SNAPPY\0") |
//! | 4 | version, 1 |
//! | 4 | minimum compatible version, 1 |
//! | then, per block: 4 | length of the compressed block |
//! | n | one raw snappy block of at most 32 KiB of input |
//!
//! Reading matches snappy-java 1.1.10's `SnappyInputStream`, except that the two version
//! fields are not checked (some producers wrote them little-endian; kafka-python ignores
//! them too):
//! - a payload shorter than the header or not starting with the magic is one raw snappy
//!   block;
//! - a block length equal to the first four magic bytes starts another xerial stream
//!   (concatenated streams); if the rest of that header is not the magic, the stream ends;
//! - 1 to 3 bytes left where a block length would be are ignored (end of stream);
//! - a negative block length, or one running past the input, is corrupt.

use super::Compression;
use super::{decode_error, encode_error, limit_error};
use crate::error::Result;

/// The xerial magic: `\x82SNAPPY\0`.
const MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// The full stream header written: magic, version 1 and minimum compatible version 1 (BE).
const HEADER: [u8; 16] = [
    0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
];
/// Input bytes per block: snappy-java's default block size.
const BLOCK_INPUT: usize = 32 * 1024;
/// Length of a block's length prefix.
const LEN_PREFIX: usize = 4;

/// Compresses `input` into a xerial stream appended to `out`.
pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    let result = write_stream(input, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Writes the header and one block per 32 KiB of `input`.
///
/// Each block is compressed straight into `out`: it is grown by the block's worst case,
/// compressed into, and cut back to what the block took.
fn write_stream(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let blocks = input.len().div_ceil(BLOCK_INPUT);
    let worst_block = snap::raw::max_compress_len(input.len().min(BLOCK_INPUT));
    // Enough for compressible input (blocks no larger than their input) plus the working
    // room of the last block; incompressible input grows the vector once more.
    out.reserve(HEADER.len() + blocks * LEN_PREFIX + input.len() + worst_block);
    out.extend_from_slice(&HEADER);
    let mut encoder = snap::raw::Encoder::new();
    for chunk in input.chunks(BLOCK_INPUT) {
        let at = out.len();
        let data_at = at + LEN_PREFIX;
        out.resize(data_at + snap::raw::max_compress_len(chunk.len()), 0);
        let written = match out.get_mut(data_at..) {
            Some(room) => encoder
                .compress(chunk, room)
                .map_err(|e| encode_error(Compression::Snappy, e))?,
            None => return Err(encode_error(Compression::Snappy, "no room for a block")),
        };
        let len = u32::try_from(written).map_err(|e| encode_error(Compression::Snappy, e))?;
        out.truncate(data_at + written);
        if let Some(prefix) = out.get_mut(at..data_at) {
            prefix.copy_from_slice(&len.to_be_bytes());
        }
    }
    Ok(())
}

/// Decompresses a xerial stream (or one raw snappy block), appending at most `limit` bytes.
pub(super) fn decompress(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    let start = out.len();
    let result = match input.split_first_chunk::<16>() {
        Some((header, blocks)) if header[..8] == MAGIC => read_xerial(blocks, out, limit),
        // snappy-java: no (complete) xerial header means the payload is one raw block.
        _ => read_raw(input, out, limit),
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Decodes the whole payload as one raw snappy block.
fn read_raw(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    let len = snap::raw::decompress_len(input).map_err(|e| decode_error(Compression::Snappy, e))?;
    if len > limit {
        return Err(limit_error(limit));
    }
    out.reserve_exact(len);
    decode_block(&mut snap::raw::Decoder::new(), input, len, out)
}

/// Decodes the blocks after a xerial header.
///
/// A first pass walks the block lengths and sums each block's declared output, so that a
/// payload over the limit fails before anything is allocated or decoded, and the output is
/// reserved once.
fn read_xerial(blocks: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    let mut total: usize = 0;
    for block in Blocks(blocks) {
        let len =
            snap::raw::decompress_len(block?).map_err(|e| decode_error(Compression::Snappy, e))?;
        total = total.saturating_add(len);
        if total > limit {
            return Err(limit_error(limit));
        }
    }
    out.reserve_exact(total);
    let mut decoder = snap::raw::Decoder::new();
    for block in Blocks(blocks) {
        let block = block?;
        let len =
            snap::raw::decompress_len(block).map_err(|e| decode_error(Compression::Snappy, e))?;
        decode_block(&mut decoder, block, len, out)?;
    }
    Ok(())
}

/// Appends the `len` bytes (from `decompress_len`, already checked against the limit) that
/// the raw snappy `block` decodes to.
fn decode_block(
    decoder: &mut snap::raw::Decoder,
    block: &[u8],
    len: usize,
    out: &mut Vec<u8>,
) -> Result<()> {
    let at = out.len();
    out.resize(at + len, 0);
    let room = out.get_mut(at..).unwrap_or_default();
    let written = decoder
        .decompress(block, room)
        .map_err(|e| decode_error(Compression::Snappy, e))?;
    if written != len {
        return Err(decode_error(
            Compression::Snappy,
            format!("block decoded to {written} bytes, its header says {len}"),
        ));
    }
    Ok(())
}

/// The raw snappy blocks of a xerial stream after its header, following snappy-java's rules
/// for concatenated streams and trailing bytes (see the module docs).
struct Blocks<'a>(&'a [u8]);

impl<'a> Iterator for Blocks<'a> {
    type Item = Result<&'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // Fewer than four bytes left: snappy-java reports end of stream.
            let (len, rest) = self.0.split_first_chunk::<LEN_PREFIX>()?;
            if len[..] == MAGIC[..LEN_PREFIX] {
                // Another xerial stream's header follows.
                let Some((header, after)) = self.0.split_first_chunk::<16>() else {
                    self.0 = &[];
                    return Some(Err(decode_error(
                        Compression::Snappy,
                        "truncated header of a concatenated stream",
                    )));
                };
                if header[..8] != MAGIC {
                    self.0 = &[];
                    return None;
                }
                self.0 = after;
                continue;
            }
            let len = i32::from_be_bytes(*len);
            let block = usize::try_from(len)
                .ok()
                .and_then(|len| rest.split_at_checked(len));
            let Some((block, after)) = block else {
                self.0 = &[];
                return Some(Err(decode_error(
                    Compression::Snappy,
                    format!("block length {len} is negative or runs past the input"),
                )));
            };
            self.0 = after;
            return Some(Ok(block));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_data::{compressible, incompressible, is_corrupt, is_over_limit};
    use super::*;

    fn roundtrip(data: &[u8]) -> Result<Vec<u8>> {
        let mut framed = b"prefix".to_vec();
        compress(data, &mut framed)?;
        assert_eq!(&framed[..6], b"prefix", "compress must append");
        let framed = framed.split_off(6);
        let mut plain = b"keep".to_vec();
        decompress(&framed, &mut plain, data.len())?;
        assert_eq!(&plain[..4], b"keep", "decompress must append");
        assert_eq!(&plain[4..], data);
        Ok(framed)
    }

    /// The xerial blocks of a stream: (compressed length, decoded length) each.
    fn block_sizes(framed: &[u8]) -> Result<Vec<(usize, usize)>> {
        Blocks(&framed[16..])
            .map(|b| {
                let b = b?;
                Ok((b.len(), snap::raw::decompress_len(b).unwrap_or(usize::MAX)))
            })
            .collect()
    }

    #[test]
    fn snappy_roundtrips_empty_small_and_large() -> Result<()> {
        assert_eq!(roundtrip(b"")?, HEADER);
        roundtrip(b"x")?;
        roundtrip(b"snappy snappy snappy snappy")?;
        let framed = roundtrip(&compressible(1 << 20))?;
        assert!(framed.len() < (1 << 20) / 4);
        roundtrip(&incompressible(1 << 20))?;
        roundtrip(&compressible(BLOCK_INPUT * 3 + 1)).map(drop)
    }

    #[test]
    fn snappy_writes_the_xerial_header_and_32k_blocks() -> Result<()> {
        let mut framed = Vec::new();
        compress(&compressible(100_000), &mut framed)?;
        assert_eq!(
            framed[..16],
            [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]
        );
        let decoded: Vec<usize> = block_sizes(&framed)?.iter().map(|b| b.1).collect();
        assert_eq!(decoded, [32768, 32768, 32768, 1696]);
        // The first block length is big-endian and the block is raw snappy.
        let len = u32::from_be_bytes([framed[16], framed[17], framed[18], framed[19]]) as usize;
        let block = &framed[20..20 + len];
        assert_eq!(
            snap::raw::Decoder::new()
                .decompress_vec(block)
                .map_err(|e| decode_error(Compression::Snappy, e))?,
            compressible(100_000)[..32768]
        );
        Ok(())
    }

    #[test]
    fn snappy_reads_a_raw_block() -> Result<()> {
        let data = compressible(70_000);
        let raw = snap::raw::Encoder::new()
            .compress_vec(&data)
            .map_err(|e| encode_error(Compression::Snappy, e))?;
        let mut out = Vec::new();
        decompress(&raw, &mut out, data.len())?;
        assert_eq!(out, data);
        assert!(is_over_limit(&decompress(&raw, &mut Vec::new(), 1000)));
        // A raw block of empty input is a single zero byte; an empty payload is corrupt.
        let mut out = Vec::new();
        decompress(&[0], &mut out, 10)?;
        assert!(out.is_empty());
        assert!(is_corrupt(&decompress(&[], &mut out, 10)));
        Ok(())
    }

    #[test]
    fn snappy_ignores_the_version_fields() -> Result<()> {
        let mut framed = Vec::new();
        compress(b"versions", &mut framed)?;
        // Little-endian 1s, as some non-Java producers wrote them, and zeros.
        for fields in [[1, 0, 0, 0, 1, 0, 0, 0], [0; 8]] {
            framed[8..16].copy_from_slice(&fields);
            let mut out = Vec::new();
            decompress(&framed, &mut out, 100)?;
            assert_eq!(out, b"versions");
        }
        Ok(())
    }

    #[test]
    fn snappy_reads_concatenated_streams_and_ignores_a_short_tail() -> Result<()> {
        let mut framed = Vec::new();
        compress(b"one ", &mut framed)?;
        compress(b"two", &mut framed)?;
        let mut out = Vec::new();
        decompress(&framed, &mut out, 100)?;
        assert_eq!(out, b"one two");
        // 1..=3 bytes where a block length would be: end of stream.
        for tail in 1..=3 {
            let mut padded = framed.clone();
            padded.extend(std::iter::repeat_n(0xee, tail));
            let mut out = Vec::new();
            decompress(&padded, &mut out, 100)?;
            assert_eq!(out, b"one two");
        }
        // The magic's first 4 bytes then something else: end of stream.
        let mut other = framed.clone();
        other.extend_from_slice(&[0x82, b'S', b'N', b'A', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut out = Vec::new();
        decompress(&other, &mut out, 100)?;
        assert_eq!(out, b"one two");
        // ... but a truncated one is corrupt.
        let mut cut = framed.clone();
        cut.extend_from_slice(&HEADER[..10]);
        assert!(is_corrupt(&decompress(&cut, &mut Vec::new(), 100)));
        Ok(())
    }

    #[test]
    fn snappy_rejects_bad_block_lengths() -> Result<()> {
        let mut framed = Vec::new();
        compress(b"lengths", &mut framed)?;
        for len in [-1i32, i32::MIN + 1, 1 << 20, 0] {
            let mut bad = framed.clone();
            bad[16..20].copy_from_slice(&len.to_be_bytes());
            assert!(is_corrupt(&decompress(&bad, &mut Vec::new(), 100)), "{len}");
        }
        Ok(())
    }

    #[test]
    fn snappy_enforces_the_limit_before_allocating() -> Result<()> {
        let data = compressible(1 << 20);
        let mut framed = Vec::new();
        compress(&data, &mut framed)?;
        let mut out = b"keep".to_vec();
        let result = decompress(&framed, &mut out, 1000);
        assert!(is_over_limit(&result), "{result:?}");
        assert_eq!(out, b"keep");
        assert!(out.capacity() < 1024);
        let mut out = Vec::new();
        decompress(&framed, &mut out, data.len())?;
        assert!(is_over_limit(&decompress(
            &framed,
            &mut out,
            data.len() - 1
        )));
        Ok(())
    }

    #[test]
    fn snappy_truncations_and_garbage_never_panic() -> Result<()> {
        let data = compressible(40_000);
        let mut framed = Vec::new();
        compress(&data, &mut framed)?;
        for cut in 0..framed.len() {
            let mut out = b"keep".to_vec();
            match decompress(&framed[..cut], &mut out, 1 << 20) {
                // snappy-java ends the stream at a block boundary or a short length prefix.
                Ok(()) => assert!(data.starts_with(&out[4..]), "cut {cut}"),
                Err(e) => {
                    assert!(is_corrupt(&Err(e)), "cut {cut}");
                    assert_eq!(out, b"keep");
                }
            }
        }
        for i in 0..framed.len() {
            let mut flipped = framed.clone();
            flipped[i] ^= 0x5a;
            let _ = decompress(&flipped, &mut Vec::new(), 1 << 20);
        }
        for len in [1, 7, 16, 17, 100, 5000] {
            let _ = decompress(&incompressible(len), &mut Vec::new(), 1 << 20);
        }
        Ok(())
    }
}
