//! Unit and property tests of the magic-2 format: builder ↔ parser identity, Kafka's exact
//! bytes, and that damage is always detected and never panics.

use super::*;
use crate::compression::Compression;
use crate::error::{Corruption, Error, Result};
use proptest::prelude::*;

const LIMIT: usize = DEFAULT_MAX_DECOMPRESSED_BYTES;

fn decode_all(bytes: &[u8]) -> Result<Vec<(i64, Record)>> {
    let batch = RecordBatch::parse(bytes)?;
    let mut scratch = Vec::new();
    batch
        .records(&mut scratch, LIMIT)?
        .map(|r| r.map(|r| (r.offset(), r.to_owned_record())))
        .collect()
}

fn sample() -> Vec<Record> {
    vec![
        Record::new(1_000, b"v0".to_vec()).with_key(b"k0".to_vec()),
        Record {
            timestamp: 999, // earlier than the base: a negative delta
            key: None,
            value: None,
            headers: vec![
                Header::new("h", b"1".to_vec()),
                Header::new("h", b"2".to_vec()),
                Header {
                    key: "n".into(),
                    value: None,
                },
            ],
        },
        Record {
            timestamp: 1_500,
            key: Some(Vec::new()),
            value: Some(Vec::new()),
            headers: vec![Header::new("", Vec::new())],
        },
    ]
}

#[test]
fn roundtrip_every_codec() -> Result<()> {
    for codec in Compression::ALL {
        let opts = BatchOptions {
            compression: codec,
            base_offset: 40,
            producer_id: 7,
            producer_epoch: 3,
            base_sequence: 11,
            partition_leader_epoch: 5,
            ..Default::default()
        };
        let bytes = encode_batch(opts, &sample())?;
        let batch = RecordBatch::parse(&bytes)?;
        assert_eq!(batch.base_offset(), 40);
        assert_eq!(batch.last_offset(), 42);
        assert_eq!(batch.records_count(), 3);
        assert_eq!(batch.compression()?, codec);
        assert_eq!(batch.base_timestamp(), 1_000);
        assert_eq!(batch.max_timestamp(), 1_500);
        assert_eq!(
            (
                batch.producer_id(),
                batch.producer_epoch(),
                batch.base_sequence()
            ),
            (7, 3, 11)
        );
        assert_eq!(batch.partition_leader_epoch(), 5);
        let got = decode_all(&bytes)?;
        let want: Vec<_> = (40..).zip(sample()).collect();
        assert_eq!(got, want, "codec {codec}");
    }
    Ok(())
}

/// The exact bytes of a one-record batch, laid out by hand from FORMAT.md sections 1 and 2.
#[test]
fn exact_kafka_bytes() -> Result<()> {
    let bytes = encode_batch(
        BatchOptions::default(),
        &[Record::new(0x0102, b"v".to_vec()).with_key(b"k".to_vec())],
    )?;
    let record: &[u8] = &[
        0x10, // length 8, zigzag
        0x00, // attributes
        0x00, // timestamp delta 0
        0x00, // offset delta 0
        0x02, b'k', // key
        0x02, b'v', // value
        0x00, // no headers
    ];
    assert_eq!(bytes.len(), 61 + record.len());
    assert_eq!(&bytes[61..], record);
    assert_eq!(&bytes[0..8], &[0; 8]); // base offset
    assert_eq!(&bytes[8..12], &((49 + record.len()) as i32).to_be_bytes());
    assert_eq!(&bytes[12..16], &(-1i32).to_be_bytes()); // no leader epoch
    assert_eq!(bytes[16], 2);
    assert_eq!(&bytes[21..23], &[0, 0]); // attributes
    assert_eq!(&bytes[23..27], &[0, 0, 0, 0]); // last offset delta
    assert_eq!(&bytes[27..35], &0x0102i64.to_be_bytes());
    assert_eq!(&bytes[35..43], &0x0102i64.to_be_bytes());
    assert_eq!(&bytes[43..51], &(-1i64).to_be_bytes());
    assert_eq!(&bytes[51..53], &(-1i16).to_be_bytes());
    assert_eq!(&bytes[53..57], &(-1i32).to_be_bytes());
    assert_eq!(&bytes[57..61], &1i32.to_be_bytes());
    assert_eq!(&bytes[17..21], &crc32c::crc32c(&bytes[21..]).to_be_bytes());
    Ok(())
}

#[test]
fn stamping_offset_and_epoch_keeps_the_crc() -> Result<()> {
    let mut bytes = encode_batch(BatchOptions::default(), &sample())?;
    let crc = RecordBatch::parse(&bytes)?.crc();
    let mut m = RecordBatchMut::new(&mut bytes)?;
    m.set_base_offset(1 << 40);
    m.set_partition_leader_epoch(9);
    let b = RecordBatch::parse(&bytes)?;
    assert_eq!(
        (b.base_offset(), b.partition_leader_epoch(), b.crc()),
        (1 << 40, 9, crc)
    );
    Ok(())
}

#[test]
fn log_append_time_rewrites_every_timestamp() -> Result<()> {
    let mut bytes = encode_batch(BatchOptions::with_compression(Compression::Lz4), &sample())?;
    RecordBatchMut::new(&mut bytes)?.set_log_append_time(77_777);
    let b = RecordBatch::parse(&bytes)?; // CRC recomputed
    assert_eq!(b.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(b.max_timestamp(), 77_777);
    for (_, r) in decode_all(&bytes)? {
        assert_eq!(r.timestamp, 77_777);
    }
    Ok(())
}

#[test]
fn control_and_transactional_bits() -> Result<()> {
    let opts = BatchOptions {
        is_control: true,
        is_transactional: true,
        ..Default::default()
    };
    // An end-transaction marker: key (version 0, type COMMIT 1), value (version 0, epoch 4).
    let mut b = BatchBuilder::new(opts);
    b.append(5, Some(&[0, 0, 0, 1]), Some(&[0, 0, 0, 0, 0, 4]), &[])?;
    let bytes = b.finish()?;
    let batch = RecordBatch::parse(bytes)?;
    assert!(batch.is_control() && batch.is_transactional() && !batch.has_delete_horizon());
    Ok(())
}

#[test]
fn builder_is_reusable_and_rejects_empty() -> Result<()> {
    let mut b = BatchBuilder::new(BatchOptions::default());
    assert!(matches!(b.finish(), Err(Error::InvalidArgument(_))));
    b.append(1, None, Some(b"a"), &[])?;
    let first = b.finish()?.to_vec();
    assert_eq!(b.finish()?, &first[..]);
    assert!(b.append(1, None, None, &[]).is_err());
    b.clear();
    b.append(1, None, Some(b"a"), &[])?;
    assert_eq!(b.finish()?, &first[..]);
    Ok(())
}

#[test]
fn structural_errors_are_typed() -> Result<()> {
    let good = encode_batch(BatchOptions::default(), &sample())?;
    // Wrong magic.
    let mut bad = good.clone();
    bad[16] = 3;
    assert!(matches!(
        RecordBatch::parse(&bad).unwrap_err().corruption(),
        Some(Corruption::Magic { magic: 3 })
    ));
    // Length too small, and longer than the buffer.
    let mut bad = good.clone();
    bad[8..12].copy_from_slice(&48i32.to_be_bytes());
    assert!(matches!(
        RecordBatch::parse(&bad).unwrap_err().corruption(),
        Some(Corruption::Length { .. })
    ));
    let mut bad = good.clone();
    bad[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(
        RecordBatch::parse(&bad).unwrap_err().corruption(),
        Some(Corruption::Truncated { .. })
    ));
    // Unknown codec, with a valid CRC.
    let mut bad = good.clone();
    bad[22] |= 0x05;
    let crc = crc32c::crc32c(&bad[21..]);
    bad[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(
        RecordBatch::parse(&bad),
        Err(Error::UnknownCodec { id: 5, .. })
    ));
    Ok(())
}

/// Rewrites the records count and fixes the CRC, so only the count check can catch it.
fn with_count(bytes: &[u8], count: i32, last_delta: i32) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[57..61].copy_from_slice(&count.to_be_bytes());
    b[23..27].copy_from_slice(&last_delta.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

#[test]
fn record_count_must_be_exact() -> Result<()> {
    let good = encode_batch(BatchOptions::default(), &sample())?;
    let more = with_count(&good, 4, 3);
    assert!(matches!(
        decode_all(&more).unwrap_err().corruption(),
        Some(Corruption::RecordCount {
            declared: 4,
            found: 3
        })
    ));
    let fewer = with_count(&good, 2, 2);
    assert!(matches!(
        decode_all(&fewer).unwrap_err().corruption(),
        Some(Corruption::TrailingBytes { .. })
    ));
    let negative = with_count(&good, -1, 2);
    assert!(RecordBatch::parse(&negative).is_err());
    let beyond_delta = with_count(&good, 3, 1);
    assert!(RecordBatch::parse(&beyond_delta).is_err());
    Ok(())
}

fn arb_bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40))
}

fn arb_record() -> impl Strategy<Value = Record> {
    (
        any::<i64>(),
        arb_bytes(),
        arb_bytes(),
        proptest::collection::vec(("[a-c]{0,3}", arb_bytes()), 0..4),
    )
        .prop_map(|(timestamp, key, value, headers)| Record {
            timestamp,
            key,
            value,
            headers: headers
                .into_iter()
                .map(|(key, value)| Header { key, value })
                .collect(),
        })
}

fn arb_codec() -> impl Strategy<Value = Compression> {
    proptest::sample::select(Compression::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn encode_decode_is_identity(
        records in proptest::collection::vec(arb_record(), 1..20),
        codec in arb_codec(),
        base in 0i64..(1 << 50),
    ) {
        let opts = BatchOptions { compression: codec, base_offset: base, ..Default::default() };
        let bytes = encode_batch(opts, &records).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got = decode_all(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let want: Vec<_> = (base..).zip(records.iter().cloned()).collect();
        prop_assert_eq!(got, want);
        let max = records.iter().map(|r| r.timestamp).max();
        prop_assert_eq!(Some(RecordBatch::parse(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?.max_timestamp()), max);
    }

    #[test]
    fn any_bit_flip_in_crc_range_is_detected(
        records in proptest::collection::vec(arb_record(), 1..5),
        codec in arb_codec(),
        bit in any::<proptest::sample::Index>(),
    ) {
        let opts = BatchOptions::with_compression(codec);
        let mut bytes = encode_batch(opts, &records).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Bits of the CRC field and of the covered range [17, end).
        let i = 17 * 8 + bit.index((bytes.len() - 17) * 8);
        bytes[i / 8] ^= 1 << (i % 8);
        prop_assert!(RecordBatch::parse(&bytes).is_err());
    }

    #[test]
    fn truncation_anywhere_is_an_error(
        records in proptest::collection::vec(arb_record(), 1..5),
        codec in arb_codec(),
        cut in any::<proptest::sample::Index>(),
    ) {
        let bytes = encode_batch(BatchOptions::with_compression(codec), &records)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let cut = cut.index(bytes.len());
        prop_assert!(RecordBatch::parse(&bytes[..cut]).is_err());
    }

    /// Garbage after a valid header (CRC fixed up) must fail cleanly, never panic.
    #[test]
    fn garbage_records_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..200),
        count in -2i32..6,
        codec in arb_codec(),
    ) {
        let mut b = encode_batch(BatchOptions::default(), &[Record::new(0, b"x".to_vec())])
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        b.truncate(61);
        b.extend_from_slice(&body);
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[21..23].copy_from_slice(&u16::from(codec.id()).to_be_bytes());
        let fixed = with_count(&b, count, 5);
        if let Ok(batch) = RecordBatch::parse(&fixed) {
            let mut scratch = Vec::new();
            let _ = batch.validate_records(&mut scratch, 1 << 16);
        }
    }
}

/// A reused builder writes every byte of the next batch: nothing stale from a previous,
/// larger batch may show through (the buffer keeps its old bytes past its length).
#[test]
fn reused_builder_matches_a_fresh_one() -> Result<()> {
    for codec in Compression::ALL {
        let mut reused = BatchBuilder::new(BatchOptions::with_compression(codec));
        for i in 0..50u8 {
            reused.append(
                i64::from(i) * 1000,
                Some(&[0xff; 300]),
                Some(&[0xee; 900]),
                &[Header::new("x", vec![0xdd; 40])],
            )?;
        }
        reused.finish()?;
        reused.clear();
        let mut fresh = BatchBuilder::new(BatchOptions::with_compression(codec));
        for b in [&mut reused, &mut fresh] {
            for r in sample() {
                b.append_record(&r)?;
            }
        }
        assert_eq!(reused.finish()?, fresh.finish()?, "codec {codec}");
    }
    Ok(())
}

/// Kafka's records section written the plain way, one `put_varint` per field
/// (`DefaultRecord.writeTo`): the model whose bytes the builder's framing must match exactly.
fn reference_records_section(records: &[Record]) -> Vec<u8> {
    fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
        match b {
            None => varint::put_varint(out, -1),
            Some(b) => {
                varint::put_varint(out, b.len() as i32);
                out.extend_from_slice(b);
            }
        }
    }
    let base_timestamp = records.first().map_or(0, |r| r.timestamp);
    let mut out = Vec::new();
    for (offset_delta, r) in records.iter().enumerate() {
        let mut body = vec![0]; // attributes
        varint::put_varlong(&mut body, r.timestamp.wrapping_sub(base_timestamp));
        varint::put_varint(&mut body, offset_delta as i32);
        put_bytes(&mut body, r.key.as_deref());
        put_bytes(&mut body, r.value.as_deref());
        varint::put_varint(&mut body, r.headers.len() as i32);
        for h in &r.headers {
            put_bytes(&mut body, Some(h.key.as_bytes()));
            put_bytes(&mut body, h.value.as_deref());
        }
        varint::put_varint(&mut out, body.len() as i32);
        out.extend_from_slice(&body);
    }
    out
}

/// Checks that `records` encode to the reference bytes, both from owned records and copied
/// from a decoded batch (the two header sources the builder writes from).
fn assert_matches_reference(records: &[Record]) -> Result<()> {
    let bytes = encode_batch(BatchOptions::default(), records)?;
    let want = reference_records_section(records);
    assert!(
        bytes[RECORD_BATCH_OVERHEAD..] == want[..],
        "records section"
    );
    let batch = RecordBatch::parse(&bytes)?;
    let mut copy = BatchBuilder::new(BatchOptions::default());
    for r in batch.records(&mut Vec::new(), LIMIT)? {
        copy.append_ref(&r?)?;
    }
    assert!(copy.finish()? == &bytes[..], "copied from a decoded batch");
    Ok(())
}

/// Sizes on both sides of every varint width change a record's framing can meet: bodies and
/// lengths of 63/64 bytes (1 to 2 bytes) and 8191/8192 (2 to 3 bytes).
fn arb_edge_bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(
        prop_oneof![0usize..70, 8150usize..8200, 16_370usize..16_400]
            .prop_map(|n| (0..n).map(|i| i as u8).collect()),
    )
}

fn arb_edge_record() -> impl Strategy<Value = Record> {
    (
        prop_oneof![any::<i64>(), -9000i64..9000, -70i64..70],
        arb_edge_bytes(),
        arb_edge_bytes(),
        proptest::collection::vec(("[a-c]{0,3}", arb_bytes()), 0..3),
    )
        .prop_map(|(timestamp, key, value, headers)| Record {
            timestamp,
            key,
            value,
            headers: headers
                .into_iter()
                .map(|(key, value)| Header { key, value })
                .collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn builder_matches_the_reference_encoder(
        records in proptest::collection::vec(arb_edge_record(), 1..6),
    ) {
        assert_matches_reference(&records).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}

/// Offset deltas past 8191 take three varint bytes; timestamps run both ways from the base.
#[test]
fn long_batches_match_the_reference_encoder() -> Result<()> {
    let records: Vec<Record> = (0..20_000i64)
        .map(|i| {
            let r = Record::new(1_000_000 + (i % 7 - 3) * i, vec![b'v'; (i % 130) as usize]);
            if i % 3 == 0 {
                r
            } else {
                r.with_key(i.to_string())
            }
        })
        .collect();
    assert_matches_reference(&records)
}
