//! Tests of the legacy (magic 0/1) reader and the unified [`Batch`] view: messages built
//! byte by byte, Kafka's offset and timestamp rules for compressed wrappers, and that damage
//! is always detected and never panics.
//!
//! This branch's codecs may still be stubs. Wrapper rules are therefore tested through
//! `inner_records` (the already-decompressed inner set) and, whenever this build can
//! decompress the wrapper, also end to end through `records`, which must agree.

use super::legacy::{LegacyBatch, MAGIC_V0, MAGIC_V1};
use super::*;
use crate::compression::Compression;
use crate::error::{Corruption, Error, Result};
use proptest::prelude::*;

const LIMIT: usize = DEFAULT_MAX_DECOMPRESSED_BYTES;
const GZIP: u8 = 1;
const LOG_APPEND_TIME: u8 = 0x08;

/// (offset, timestamp, key, value) of a decoded record.
type Rec = (i64, i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// One log entry: `Offset | MessageSize | CRC | Magic | Attributes | [Timestamp] | Key | Value`.
fn entry(
    offset: i64,
    magic: i8,
    attributes: u8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Vec<u8> {
    let mut body = vec![magic as u8, attributes];
    if magic == MAGIC_V1 {
        body.extend_from_slice(&timestamp.to_be_bytes());
    }
    for field in [key, value] {
        match field {
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                body.extend_from_slice(&(b.len() as i32).to_be_bytes());
                body.extend_from_slice(b);
            }
        }
    }
    let mut out = offset.to_be_bytes().to_vec();
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Recomputes the CRC of an entry after a test edited it.
fn fix_crc(entry: &mut [u8]) {
    let crc = crc32fast::hash(&entry[16..]);
    entry[12..16].copy_from_slice(&crc.to_be_bytes());
}

/// An inner message set of uncompressed messages `(offset, timestamp, value)`.
fn inner_set(magic: i8, msgs: &[(i64, i64, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(offset, ts, value) in msgs {
        out.extend(entry(offset, magic, 0, ts, Some(b"k"), Some(value)));
    }
    out
}

#[cfg(feature = "gzip")]
fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Without the gzip feature the wrapper cannot be decoded end to end anyway.
#[cfg(not(feature = "gzip"))]
fn gzip(data: &[u8]) -> Vec<u8> {
    data.to_vec()
}

/// A gzip wrapper holding `inner`.
fn gzip_wrapper(offset: i64, magic: i8, extra_attrs: u8, timestamp: i64, inner: &[u8]) -> Vec<u8> {
    entry(
        offset,
        magic,
        GZIP | extra_attrs,
        timestamp,
        None,
        Some(&gzip(inner)),
    )
}

fn collect<'s>(it: impl Iterator<Item = Result<RecordRef<'s>>>) -> Result<Vec<Rec>> {
    it.map(|r| {
        r.map(|r| {
            assert!(r.headers().is_empty());
            (
                r.offset(),
                r.timestamp(),
                r.key().map(<[u8]>::to_vec),
                r.value().map(<[u8]>::to_vec),
            )
        })
    })
    .collect()
}

/// Decodes a wrapper whose decompressed value is `inner`: through `inner_records`, and end
/// to end as well when this build's codec works, asserting both agree.
fn decode_wrapper(bytes: &[u8], inner: &[u8]) -> Result<Vec<Rec>> {
    let batch = LegacyBatch::parse(bytes)?;
    let via_seam = batch.inner_records(inner).and_then(collect);
    let mut scratch = Vec::new();
    match batch.records(&mut scratch, LIMIT) {
        Err(Error::CodecDisabled { .. }) => {} // a codec stub: the seam result stands alone
        end_to_end => {
            let end_to_end = end_to_end.and_then(collect);
            assert_eq!(
                format!("{end_to_end:?}"),
                format!("{via_seam:?}"),
                "end to end vs seam"
            );
        }
    }
    via_seam
}

fn err<T: std::fmt::Debug>(r: Result<T>) -> Error {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e,
    }
}

fn rec(offset: i64, ts: i64, value: &[u8]) -> Rec {
    (offset, ts, Some(b"k".to_vec()), Some(value.to_vec()))
}

#[test]
fn v0_message_reads_as_one_record_without_timestamp() -> Result<()> {
    // Bit 3 set in a v0 message means nothing: v0 has no timestamp type.
    let bytes = entry(
        42,
        MAGIC_V0,
        LOG_APPEND_TIME,
        0,
        Some(b"key"),
        Some(b"value"),
    );
    let b = LegacyBatch::parse(&bytes)?;
    assert_eq!(b.size(), bytes.len());
    assert_eq!(bytes.len(), 12 + RECORD_OVERHEAD_V0 + 8);
    assert_eq!(
        (b.offset(), b.last_offset(), b.next_offset(), b.magic()),
        (42, 42, 43, 0)
    );
    assert_eq!((b.timestamp(), b.max_timestamp()), (NO_TIMESTAMP, -1));
    assert_eq!(b.timestamp_type(), None);
    assert_eq!(b.compression(), Compression::None);
    assert!(!b.is_compressed());
    assert_eq!(b.crc(), crc32fast::hash(&bytes[16..]));
    assert_eq!(
        (b.key(), b.value()),
        (Some(&b"key"[..]), Some(&b"value"[..]))
    );
    assert_eq!(b.as_bytes(), &bytes[..]);
    let mut scratch = Vec::new();
    let got = collect(b.records(&mut scratch, LIMIT)?)?;
    assert_eq!(
        got,
        vec![(42, -1, Some(b"key".to_vec()), Some(b"value".to_vec()))]
    );
    Ok(())
}

#[test]
fn v1_message_keeps_null_and_empty_apart() -> Result<()> {
    let bytes = entry(7, MAGIC_V1, LOG_APPEND_TIME, 1_234, None, Some(b""));
    assert_eq!(bytes.len(), 12 + RECORD_OVERHEAD_V1);
    let b = LegacyBatch::parse(&bytes)?;
    assert_eq!(b.timestamp_type(), Some(TimestampType::LogAppendTime));
    assert_eq!((b.timestamp(), b.max_timestamp()), (1_234, 1_234));
    let mut scratch = Vec::new();
    let got = collect(b.records(&mut scratch, LIMIT)?)?;
    assert_eq!(got, vec![(7, 1_234, None, Some(Vec::new()))]);

    let tombstone = entry(8, MAGIC_V1, 0, 5, Some(b""), None);
    let b = LegacyBatch::parse(&tombstone)?;
    assert_eq!(b.timestamp_type(), Some(TimestampType::CreateTime));
    assert_eq!((b.key(), b.value()), (Some(&b""[..]), None));
    Ok(())
}

#[test]
fn v0_wrapper_keeps_absolute_inner_offsets() -> Result<()> {
    let inner = inner_set(MAGIC_V0, &[(100, 0, b"a"), (101, 0, b"b"), (102, 0, b"c")]);
    let bytes = gzip_wrapper(102, MAGIC_V0, 0, 0, &inner);
    let b = LegacyBatch::parse(&bytes)?;
    assert!(b.is_compressed());
    assert_eq!(b.compression(), Compression::Gzip);
    assert_eq!((b.last_offset(), b.key()), (102, None));
    let got = decode_wrapper(&bytes, &inner)?;
    assert_eq!(
        got,
        vec![rec(100, -1, b"a"), rec(101, -1, b"b"), rec(102, -1, b"c")]
    );
    Ok(())
}

#[test]
fn v1_wrapper_rebases_relative_inner_offsets() -> Result<()> {
    let inner = inner_set(MAGIC_V1, &[(0, 10, b"a"), (1, 30, b"b"), (2, 20, b"c")]);
    let bytes = gzip_wrapper(52, MAGIC_V1, 0, 30, &inner);
    let got = decode_wrapper(&bytes, &inner)?;
    // CreateTime: every inner record keeps its own timestamp.
    assert_eq!(
        got,
        vec![rec(50, 10, b"a"), rec(51, 30, b"b"), rec(52, 20, b"c")]
    );
    let b = Batch::parse(&bytes)?;
    assert_eq!((b.last_offset(), b.max_timestamp()), (52, 30));
    assert_eq!(
        (b.shallow_base_offset(), b.records_count_hint()),
        (None, None)
    );
    Ok(())
}

#[test]
fn v1_wrapper_offset_zero_keeps_inner_offsets_as_written() -> Result<()> {
    let inner = inner_set(MAGIC_V1, &[(0, 1, b"a"), (1, 2, b"b"), (2, 3, b"c")]);
    let bytes = gzip_wrapper(0, MAGIC_V1, 0, 3, &inner);
    let got = decode_wrapper(&bytes, &inner)?;
    assert_eq!(got, vec![rec(0, 1, b"a"), rec(1, 2, b"b"), rec(2, 3, b"c")]);
    Ok(())
}

#[test]
fn v1_log_append_time_wrapper_stamps_every_inner_record() -> Result<()> {
    let inner = inner_set(MAGIC_V1, &[(0, 10, b"a"), (1, 30, b"b")]);
    let bytes = gzip_wrapper(9, MAGIC_V1, LOG_APPEND_TIME, 999, &inner);
    assert_eq!(
        LegacyBatch::parse(&bytes)?.timestamp_type(),
        Some(TimestampType::LogAppendTime)
    );
    let got = decode_wrapper(&bytes, &inner)?;
    assert_eq!(got, vec![rec(8, 999, b"a"), rec(9, 999, b"b")]);
    Ok(())
}

#[test]
fn v1_wrapper_offset_below_last_inner_offset_is_invalid() -> Result<()> {
    let inner = inner_set(MAGIC_V1, &[(0, 0, b"a"), (1, 0, b"b"), (2, 0, b"c")]);
    let bytes = gzip_wrapper(1, MAGIC_V1, 0, 0, &inner);
    let e = err(decode_wrapper(&bytes, &inner));
    assert!(
        matches!(e.corruption(), Some(Corruption::Offsets { .. })),
        "{e}"
    );
    // Equal is fine: the first inner offset lands on 0.
    let bytes = gzip_wrapper(2, MAGIC_V1, 0, 0, &inner);
    assert_eq!(decode_wrapper(&bytes, &inner)?[0].0, 0);
    Ok(())
}

#[test]
fn inner_magic_need_not_match_the_wrapper() -> Result<()> {
    // Kafka's reader does not require it (ensureMatchingMagic is off): offsets follow the
    // wrapper's magic, timestamps the inner message's.
    let inner = inner_set(MAGIC_V0, &[(0, 0, b"a"), (1, 0, b"b")]);
    let bytes = gzip_wrapper(11, MAGIC_V1, LOG_APPEND_TIME, 500, &inner);
    assert_eq!(
        decode_wrapper(&bytes, &inner)?,
        vec![rec(10, -1, b"a"), rec(11, -1, b"b")]
    );
    let inner = inner_set(MAGIC_V1, &[(5, 77, b"a")]);
    let bytes = gzip_wrapper(5, MAGIC_V0, 0, 0, &inner);
    assert_eq!(decode_wrapper(&bytes, &inner)?, vec![rec(5, 77, b"a")]);
    Ok(())
}

#[test]
fn compressed_inner_message_is_an_error() -> Result<()> {
    let mut inner = inner_set(MAGIC_V1, &[(0, 0, b"a")]);
    inner.extend(entry(1, MAGIC_V1, GZIP, 0, None, Some(b"not really gzip")));
    let bytes = gzip_wrapper(1, MAGIC_V1, 0, 0, &inner);
    let batch = LegacyBatch::parse(&bytes)?;
    let mut it = batch.inner_records(&inner)?;
    assert!(matches!(it.next(), Some(Ok(r)) if r.offset() == 0));
    let e = err(it.next().transpose());
    assert!(
        matches!(e.corruption(), Some(Corruption::Invalid { .. })),
        "{e}"
    );
    assert!(it.next().is_none(), "the iterator stops after an error");
    assert!(decode_wrapper(&bytes, &inner).is_err());
    Ok(())
}

#[test]
fn inner_set_framing_follows_kafka() -> Result<()> {
    let two = inner_set(MAGIC_V0, &[(3, 0, b"a"), (4, 0, b"b")]);
    let wrapper = gzip_wrapper(4, MAGIC_V0, 0, 0, &two);
    let batch = LegacyBatch::parse(&wrapper)?;

    // Empty, or nothing complete: Kafka rejects a wrapper with no inner messages.
    for inner in [&[][..], &two[..20]] {
        let e = err(batch.inner_records(inner));
        assert!(
            matches!(e.corruption(), Some(Corruption::Invalid { .. })),
            "{e}"
        );
    }
    // An incomplete trailing entry ends the set quietly, as in Kafka's DataLogInputStream.
    let first_len = two.len() / 2;
    for cut in first_len..two.len() {
        let got = collect(batch.inner_records(&two[..cut])?)?;
        assert_eq!(got, vec![rec(3, -1, b"a")], "cut at {cut}");
    }
    // An inner MessageSize below 14 is corrupt, even in a later entry.
    let mut bad = two.clone();
    bad[first_len + 8..first_len + 12].copy_from_slice(&13i32.to_be_bytes());
    let e = err(batch.inner_records(&bad));
    assert!(
        matches!(e.corruption(), Some(Corruption::Length { length: 13, .. })),
        "{e}"
    );
    // A damaged inner message fails its CRC when reached.
    let mut bad = two.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let mut it = batch.inner_records(&bad)?;
    assert!(matches!(it.next(), Some(Ok(_))));
    let e = err(it.next().transpose());
    assert!(
        matches!(e.corruption(), Some(Corruption::Crc { .. })),
        "{e}"
    );
    Ok(())
}

#[test]
fn wrapper_with_null_value_is_invalid() -> Result<()> {
    let bytes = entry(0, MAGIC_V1, GZIP, 0, None, None);
    let b = LegacyBatch::parse(&bytes)?;
    let mut scratch = Vec::new();
    let e = err(b.records(&mut scratch, LIMIT));
    assert!(
        matches!(e.corruption(), Some(Corruption::Invalid { .. })),
        "{e}"
    );
    Ok(())
}

#[test]
fn zstd_and_unknown_codecs_are_rejected() {
    for magic in [MAGIC_V0, MAGIC_V1] {
        for id in 4..=7u8 {
            let bytes = entry(0, magic, id, 0, None, Some(b"x"));
            assert!(
                matches!(LegacyBatch::parse(&bytes), Err(Error::UnknownCodec { id: got, .. }) if got == id),
                "magic {magic} codec {id}"
            );
            assert!(Batch::parse(&bytes).is_err());
        }
    }
}

#[test]
fn key_and_value_must_fill_the_message_exactly() -> Result<()> {
    let good = entry(0, MAGIC_V1, 0, 0, Some(b"key"), Some(b"value"));
    let value_len_at = 12 + 4 + 2 + 8 + 4 + 3;
    for (value_len, short) in [(4i32, true), (6, false), (i32::MAX, false)] {
        let mut bad = good.clone();
        bad[value_len_at..value_len_at + 4].copy_from_slice(&value_len.to_be_bytes());
        fix_crc(&mut bad);
        let e = err(LegacyBatch::parse(&bad));
        assert!(
            matches!(e.corruption(), Some(Corruption::RecordLength { .. })),
            "{e}"
        );
        if short {
            // Kafka itself would ignore the trailing byte; tidelog reports it.
            assert!(e.to_string().contains("declared 30"), "{e}");
        }
    }
    let mut bad = good.clone();
    bad[26..30].copy_from_slice(&(-2i32).to_be_bytes());
    fix_crc(&mut bad);
    let e = err(LegacyBatch::parse(&bad));
    assert!(
        matches!(
            e.corruption(),
            Some(Corruption::Field {
                field: "key length",
                value: -2
            })
        ),
        "{e}"
    );
    Ok(())
}

#[test]
fn message_sizes_and_magic_are_checked() {
    // MessageSize 13: below the v0 minimum, whatever the magic.
    let mut bytes = entry(0, MAGIC_V0, 0, 0, None, None);
    bytes[8..12].copy_from_slice(&13i32.to_be_bytes());
    bytes.push(0);
    for r in [
        LegacyBatch::parse(&bytes).map(|_| ()),
        Batch::parse(&bytes).map(|_| ()),
    ] {
        let e = err(r);
        assert!(
            matches!(
                e.corruption(),
                Some(Corruption::Length {
                    length: 13,
                    min: 14,
                    ..
                })
            ),
            "{e}"
        );
    }
    // A v1 header on 14 bytes: below the v1 minimum of 22.
    let mut bytes = entry(0, MAGIC_V0, 0, 0, None, None);
    bytes[16] = MAGIC_V1 as u8;
    fix_crc(&mut bytes);
    let e = err(LegacyBatch::parse(&bytes));
    assert!(
        matches!(
            e.corruption(),
            Some(Corruption::Length {
                length: 14,
                min: 22,
                ..
            })
        ),
        "{e}"
    );
    // Magic 3 is nobody's.
    let mut bytes = entry(0, MAGIC_V1, 0, 0, None, None);
    bytes[16] = 3;
    fix_crc(&mut bytes);
    for r in [
        LegacyBatch::parse(&bytes).map(|_| ()),
        Batch::parse(&bytes).map(|_| ()),
    ] {
        let e = err(r);
        assert!(
            matches!(e.corruption(), Some(Corruption::Magic { magic: 3 })),
            "{e}"
        );
    }
}

fn samples() -> Vec<Vec<u8>> {
    let inner = inner_set(MAGIC_V1, &[(0, 1, b"a"), (1, 2, b"b")]);
    vec![
        entry(1, MAGIC_V0, 0, 0, Some(b"k"), Some(b"v")),
        entry(2, MAGIC_V1, 0, 77, None, Some(b"value")),
        gzip_wrapper(4, MAGIC_V1, 0, 2, &inner),
    ]
}

#[test]
fn every_bit_flip_is_detected() {
    for good in samples() {
        // Every bit of the CRC and of what it covers, and the low bits of the size.
        for bit in 12 * 8..good.len() * 8 {
            let mut bad = good.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(LegacyBatch::parse(&bad).is_err(), "bit {bit}");
            assert!(Batch::parse(&bad).is_err(), "bit {bit}");
        }
        for bit in 8 * 8 + 24..12 * 8 {
            let mut bad = good.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(Batch::parse(&bad).is_err(), "size bit {bit}");
        }
    }
}

#[test]
fn truncation_at_every_byte_is_truncated() {
    for good in samples() {
        for cut in 0..good.len() {
            let short = &good[..cut];
            for r in [
                LegacyBatch::parse(short).map(|_| ()),
                LegacyBatch::parse_unverified(short).map(|_| ()),
                Batch::parse(short).map(|_| ()),
            ] {
                let e = err(r);
                assert!(
                    matches!(e.corruption(), Some(Corruption::Truncated { .. })),
                    "cut {cut}: {e}"
                );
            }
            let mut it = BatchIter::new(short);
            if cut == 0 {
                assert!(it.next().is_none());
            } else {
                let e = err(it.next().transpose());
                assert!(
                    matches!(e.corruption(), Some(Corruption::Truncated { .. })),
                    "{e}"
                );
                assert_eq!((it.position(), it.remaining()), (0, cut));
                assert!(it.next().is_none());
            }
        }
    }
}

#[test]
fn batch_iter_walks_a_mixed_segment() -> Result<()> {
    let v0 = entry(0, MAGIC_V0, 0, 0, Some(b"k0"), Some(b"v0"));
    let v1 = entry(1, MAGIC_V1, LOG_APPEND_TIME, 100, None, Some(b"v1"));
    let inner = inner_set(MAGIC_V1, &[(0, 101, b"a"), (1, 102, b"b"), (2, 103, b"c")]);
    let wrapper = gzip_wrapper(4, MAGIC_V1, 0, 103, &inner);
    let v2 = encode_batch(
        BatchOptions {
            base_offset: 5,
            partition_leader_epoch: 3,
            ..Default::default()
        },
        &[
            Record::new(200, b"x".to_vec()),
            Record::new(201, b"y".to_vec()),
        ],
    )?;
    let parts = [&v0, &v1, &wrapper, &v2];
    let mut segment: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    let clean_end = segment.len();

    let batches: Vec<(usize, Batch<'_>)> = BatchIter::new(&segment).collect::<Result<_>>()?;
    let positions: Vec<usize> = batches.iter().map(|(p, _)| *p).collect();
    let mut want_pos = Vec::new();
    let mut at = 0;
    for p in parts {
        want_pos.push(at);
        at += p.len();
    }
    assert_eq!(positions, want_pos);
    let summary: Vec<_> = batches
        .iter()
        .map(|(_, b)| {
            (
                b.magic(),
                b.shallow_base_offset(),
                b.last_offset(),
                b.max_timestamp(),
                b.partition_leader_epoch(),
                b.records_count_hint(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, Some(0), 0, -1, -1, Some(1)),
            (1, Some(1), 1, 100, -1, Some(1)),
            (1, None, 4, 103, -1, None),
            (2, Some(5), 6, 201, 3, Some(2)),
        ]
    );
    let types: Vec<_> = batches.iter().map(|(_, b)| b.timestamp_type()).collect();
    assert_eq!(
        types,
        vec![
            None,
            Some(TimestampType::LogAppendTime),
            Some(TimestampType::CreateTime),
            Some(TimestampType::CreateTime),
        ]
    );
    for (_, b) in &batches {
        assert!(!b.is_control());
        b.verify_crc()?;
        assert_eq!(b.next_offset(), b.last_offset() + 1);
    }
    assert_eq!(batches[2].1.compression()?, Compression::Gzip);
    assert_eq!(batches[3].1.as_bytes(), &v2[..]);

    // Records of every batch that this build can decode, in log order.
    let mut scratch = Vec::new();
    let mut offsets = Vec::new();
    for (_, b) in &batches {
        match b.records(&mut scratch, LIMIT) {
            Err(Error::CodecDisabled { .. }) => offsets.extend([2, 3, 4]), // gzip stub
            r => {
                for rec in r? {
                    offsets.push(rec?.offset());
                }
            }
        }
        match b.base_offset(&mut scratch, LIMIT) {
            Err(Error::CodecDisabled { .. }) => {}
            r => assert_eq!(r?, b.shallow_base_offset().unwrap_or(2)),
        }
    }
    assert_eq!(offsets, (0..=6).collect::<Vec<i64>>());

    // A torn tail: the iterator reports it at its start and the caller can cut there.
    segment.extend_from_slice(&v1[..20]);
    let mut it = BatchIter::new(&segment);
    assert_eq!(it.by_ref().take(4).filter(Result::is_ok).count(), 4);
    let e = err(it.next().transpose());
    assert!(
        matches!(e.corruption(), Some(Corruption::Truncated { .. })),
        "{e}"
    );
    assert_eq!(
        e.location().and_then(|l| l.position),
        Some(clean_end as u64)
    );
    assert_eq!((it.position(), it.remaining()), (clean_end, 20));
    assert!(it.next().is_none());

    // Damage in the middle is reported where it is, and nothing after it.
    let mut damaged = segment[..clean_end].to_vec();
    damaged[v0.len() + 20] ^= 0x40;
    let mut it = BatchIter::new(&damaged);
    assert!(matches!(it.next(), Some(Ok((0, _)))));
    let e = err(it.next().transpose());
    assert!(
        matches!(e.corruption(), Some(Corruption::Crc { .. })),
        "{e}"
    );
    assert_eq!(e.location().and_then(|l| l.position), Some(v0.len() as u64));
    assert_eq!(it.position(), v0.len());
    assert!(it.next().is_none());
    // Unverified iteration does not compute CRCs.
    assert_eq!(BatchIter::new_unverified(&damaged).count(), 4);
    Ok(())
}

#[test]
fn batch_parse_needs_seventeen_bytes() {
    let e = err(Batch::parse(&[0u8; 16]));
    assert!(
        matches!(
            e.corruption(),
            Some(Corruption::Truncated {
                needed: 17,
                available: 16
            })
        ),
        "{e}"
    );
}

#[test]
fn decompression_is_bounded() -> Result<()> {
    let inner = inner_set(MAGIC_V0, &[(0, 0, &[7u8; 4096])]);
    let bytes = gzip_wrapper(0, MAGIC_V0, 0, 0, &inner);
    let b = LegacyBatch::parse(&bytes)?;
    let mut scratch = Vec::new();
    match b.records(&mut scratch, 1024) {
        Err(Error::CodecDisabled { .. }) => {} // gzip stub
        r => assert!(matches!(
            r,
            Err(Error::DecompressionLimit { limit: 1024, .. })
        )),
    }
    Ok(())
}

/// An LZ4 frame as Kafka's writer makes it (FLG 0x60, BD 0x40, one independent block),
/// with the header checksum over FLG+BD, or, `broken`, over magic+FLG+BD as Kafka < 0.10 did.
#[cfg(feature = "lz4")]
#[allow(
    clippy::little_endian_bytes,
    reason = "LZ4 frame fields are little-endian"
)]
fn lz4_frame(data: &[u8], broken: bool) -> Vec<u8> {
    let mut frame = vec![0x04, 0x22, 0x4D, 0x18, 0x60, 0x40];
    let covered = if broken { &frame[..6] } else { &frame[4..6] };
    let hc = (xxhash_rust::xxh32::xxh32(covered, 0) >> 8) & 0xFF;
    frame.push(hc as u8);
    let block = lz4_flex::block::compress(data);
    frame.extend_from_slice(&(block.len() as u32).to_le_bytes());
    frame.extend_from_slice(&block);
    frame.extend_from_slice(&[0; 4]);
    frame
}

#[cfg(feature = "lz4")]
#[test]

fn lz4_broken_header_checksum_is_accepted_in_magic0_only() -> Result<()> {
    const LZ4: u8 = 3;
    assert_eq!(
        lz4_frame(b"", false)[6],
        0x82,
        "Kafka's HC for FLG 60, BD 40"
    );
    assert_ne!(lz4_frame(b"", true)[6], 0x82, "the broken HC must differ");
    let inner = inner_set(MAGIC_V0, &[(10, 0, b"a"), (11, 0, b"b")]);
    let want = vec![rec(10, -1, b"a"), rec(11, -1, b"b")];
    let mut scratch = Vec::new();
    for broken in [true, false] {
        // Kafka's magic-0 reader does not check the HC byte at all.
        let v0 = entry(11, MAGIC_V0, LZ4, 0, None, Some(&lz4_frame(&inner, broken)));
        let got = collect(LegacyBatch::parse(&v0)?.records(&mut scratch, LIMIT)?)?;
        assert_eq!(got, want, "broken = {broken}");
    }
    let inner = inner_set(MAGIC_V1, &[(0, 5, b"a")]);
    let good = entry(3, MAGIC_V1, LZ4, 5, None, Some(&lz4_frame(&inner, false)));
    let got = collect(LegacyBatch::parse(&good)?.records(&mut scratch, LIMIT)?)?;
    assert_eq!(got, vec![rec(3, 5, b"a")]);
    let bad = entry(3, MAGIC_V1, LZ4, 5, None, Some(&lz4_frame(&inner, true)));
    let e = err(LegacyBatch::parse(&bad)?.records(&mut scratch, LIMIT));
    assert!(
        matches!(e.corruption(), Some(Corruption::Decompress { .. })),
        "{e}"
    );
    Ok(())
}

/// Decodes everything reachable from `buf`, ignoring errors: the no-panic harness.
fn exercise(buf: &[u8]) {
    let mut scratch = Vec::new();
    for b in [Batch::parse(buf), Batch::parse_unverified(buf)]
        .into_iter()
        .flatten()
    {
        let _ = b.base_offset(&mut scratch, 1 << 16);
        if let Ok(records) = b.records(&mut scratch, 1 << 16) {
            for r in records {
                let _ = r.map(|r| r.headers().iter().count());
            }
        }
    }
    for it in [BatchIter::new(buf), BatchIter::new_unverified(buf)] {
        for _ in it {}
    }
}

fn arb_inner() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        (
            any::<i64>(),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
            0u8..=1,
        ),
        0..5,
    )
    .prop_map(|msgs| {
        let mut out = Vec::new();
        for (offset, value, magic) in msgs {
            out.extend(entry(
                offset,
                magic as i8,
                0,
                offset,
                None,
                value.as_deref(),
            ));
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
        exercise(&buf);
    }

    /// Random bytes behind a plausible legacy header, so the field checks are reached.
    #[test]
    fn random_legacy_bodies_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..120),
        magic in 0u8..=2,
        size_delta in -3i32..3,
    ) {
        let mut buf = 5i64.to_be_bytes().to_vec();
        let size = (body.len() as i32 + 4).saturating_add(size_delta);
        buf.extend_from_slice(&size.to_be_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.push(magic);
        buf.extend_from_slice(&body);
        if buf.len() > 16 {
            let crc = crc32fast::hash(&buf[16..]);
            buf[12..16].copy_from_slice(&crc.to_be_bytes());
        }
        exercise(&buf);
    }

    /// Random inner sets (valid, then damaged) inside v0 and v1 wrappers never panic, and
    /// a valid one yields one record per message.
    #[test]
    fn random_inner_sets_never_panic(
        inner in arb_inner(),
        wrapper_offset in any::<i64>(),
        wrapper_magic in 0u8..=1,
        flip in any::<proptest::sample::Index>(),
        cut in any::<proptest::sample::Index>(),
    ) {
        let bytes = gzip_wrapper(wrapper_offset, wrapper_magic as i8, LOG_APPEND_TIME, 1, &inner);
        let batch = LegacyBatch::parse(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Ok(records) = batch.inner_records(&inner) {
            let n = records.filter(Result::is_ok).count();
            prop_assert!(n <= inner.len() / 26);
        }
        let mut damaged = inner.clone();
        if !damaged.is_empty() {
            let i = flip.index(damaged.len() * 8);
            damaged[i / 8] ^= 1 << (i % 8);
            damaged.truncate(cut.index(damaged.len() + 1));
        }
        if let Ok(records) = batch.inner_records(&damaged) {
            for r in records {
                let _ = r;
            }
        }
        exercise(&bytes);
    }
}
