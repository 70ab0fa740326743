//! Fuzz logic `batch`: arbitrary bytes as the content of a segment file.
//!
//! - [`BatchIter`] (CRC-checked and not) walks the buffer: never a panic, positions in
//!   bounds, and a CRC-checked batch is the batch the unchecked walk finds too.
//! - Every batch the unchecked walk accepts has its records decoded in full, with a 1 MiB
//!   decompression limit (a fuzzer rarely forges a CRC, so records are decoded past the
//!   unchecked parse to reach the record decoder at all).
//! - A magic-2 batch whose records all decode is re-encoded from its decoded records with
//!   the same batch options ([`BatchBuilder::append_ref`]); the new batch must parse with a
//!   good CRC and decode to the same record contents: `decode(encode(decode(x))) ==
//!   decode(x)`.
//!
//! Shared by `fuzz/fuzz_targets/batch.rs` and the main crate's corpus replay test; uses
//! tidelog's public API only.

use tidelog::record::{
    Batch, BatchBuilder, BatchIter, BatchOptions, RecordBatch, RecordRef, TimestampType,
};
use tidelog::Error;

/// Decompression limit for the records of one batch.
pub const MAX_DECOMPRESSED: usize = 1 << 20;

/// Runs the checks on one input.
pub fn run(data: &[u8]) {
    let mut scratch = Vec::new();

    // The CRC-checked walk: the batches a reader trusts.
    let mut checked = Vec::new();
    let mut iter = BatchIter::new(data);
    for item in iter.by_ref() {
        match item {
            Ok((pos, batch)) => {
                assert!(pos + batch.size() <= data.len(), "batch past the buffer");
                assert_eq!(batch.as_bytes(), &data[pos..pos + batch.size()]);
                checked.push((pos, batch));
            }
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
    assert!(iter.position() <= data.len());
    assert_eq!(iter.position() + iter.remaining(), data.len());
    assert!(iter.next().is_none(), "BatchIter is fused");

    // The unchecked walk, decoding every batch's records.
    let mut unchecked = BatchIter::new_unverified(data);
    let mut n = 0;
    for item in unchecked.by_ref() {
        let Ok((pos, batch)) = item else { break };
        if let Some(&(cpos, cbatch)) = checked.get(n) {
            assert_eq!(
                (pos, batch),
                (cpos, cbatch),
                "checked and unchecked walks differ"
            );
            assert!(batch.verify_crc().is_ok());
        }
        n += 1;
        assert_eq!(Batch::parse_unverified(&data[pos..]).ok(), Some(batch));
        check_batch(batch, &mut scratch);
    }
    assert!(
        n >= checked.len(),
        "the unchecked walk stopped before the checked one"
    );
    assert!(unchecked.position() <= data.len());

    // A batch that starts at byte 0 but is not followed by another (the RecordBatch entry point).
    if let Ok(batch) = RecordBatch::parse_unverified(data) {
        assert!(batch.size() <= data.len());
        assert_eq!(
            RecordBatch::parse(data).is_ok(),
            batch.verify_crc().is_ok(),
            "parse = parse_unverified + verify_crc"
        );
    }
}

/// Reads every accessor and decodes every record of one batch.
fn check_batch(batch: Batch<'_>, scratch: &mut Vec<u8>) {
    let _ = (
        batch.magic(),
        batch.last_offset(),
        batch.next_offset(),
        batch.max_timestamp(),
        batch.partition_leader_epoch(),
        batch.timestamp_type(),
        batch.is_control(),
        batch.records_count_hint(),
        batch.shallow_base_offset(),
    );
    assert!(batch.compression().is_ok(), "parse rejected unknown codecs");
    match batch.base_offset(scratch, MAX_DECOMPRESSED) {
        Ok(base) => {
            if let Some(shallow) = batch.shallow_base_offset() {
                assert_eq!(base, shallow);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }

    let records = match batch.records(scratch, MAX_DECOMPRESSED) {
        Ok(records) => records,
        Err(e) => {
            if let Error::DecompressionLimit { limit, .. } = e {
                assert_eq!(limit, MAX_DECOMPRESSED);
            }
            let _ = e.to_string();
            return;
        }
    };
    let (_, upper) = records.size_hint();
    let mut decoded: Vec<RecordRef<'_>> = Vec::new();
    let mut failed = false;
    for r in records {
        match r {
            Ok(r) => {
                for (key, value) in r.headers() {
                    let _ = (key.len(), value.map(<[u8]>::len));
                }
                assert_eq!(r.headers().iter().count(), r.headers().len());
                let _ = r.to_owned_record();
                decoded.push(r);
            }
            Err(e) => {
                let _ = e.to_string();
                failed = true;
            }
        }
    }
    if let Some(upper) = upper {
        assert!(
            decoded.len() <= upper,
            "more records than size_hint allowed"
        );
    }
    if failed {
        return;
    }
    if let Some(count) = batch.records_count_hint() {
        assert_eq!(decoded.len(), count, "records count");
    }
    let mut offsets = decoded.iter().map(RecordRef::offset);
    if let Some(first) = offsets.next() {
        let mut prev = first;
        for o in offsets {
            // v2 offsets strictly increase within a batch (wrapping at i64::MAX aside).
            if let Batch::V2(_) = batch {
                assert!(
                    o.wrapping_sub(prev) > 0,
                    "offsets not increasing: {prev} then {o}"
                );
            }
            prev = o;
        }
    }
    if let Batch::V2(v2) = batch {
        reencode(v2, &decoded);
    }
}

/// Re-encodes the decoded records of `batch` with its options and checks they read back.
fn reencode(batch: RecordBatch<'_>, decoded: &[RecordRef<'_>]) {
    if decoded.is_empty() {
        return; // a builder cannot write an empty batch (only Kafka's cleaner leaves those)
    }
    let Ok(compression) = batch.compression() else {
        return;
    };
    let opts = BatchOptions {
        compression,
        compression_level: None,
        log_append_time: (batch.timestamp_type() == TimestampType::LogAppendTime)
            .then(|| batch.max_timestamp()),
        producer_id: batch.producer_id(),
        producer_epoch: batch.producer_epoch(),
        base_sequence: batch.base_sequence(),
        is_transactional: batch.is_transactional(),
        is_control: batch.is_control(),
        partition_leader_epoch: batch.partition_leader_epoch(),
        base_offset: batch.base_offset(),
    };
    let mut builder = BatchBuilder::new(opts);
    for r in decoded {
        if let Err(e) = builder.append_ref(r) {
            panic!("append_ref of a decoded record failed: {e}");
        }
    }
    let bytes = match builder.finish() {
        Ok(bytes) => bytes,
        Err(e) => panic!("re-encoding a decoded batch failed: {e}"),
    };
    let again = match RecordBatch::parse(bytes) {
        Ok(b) => b,
        Err(e) => panic!("re-encoded batch does not parse: {e}"),
    };
    assert_eq!(again.size(), bytes.len());
    assert_eq!(again.compression().ok(), Some(compression));
    assert_eq!(again.timestamp_type(), batch.timestamp_type());
    assert_eq!(again.is_transactional(), batch.is_transactional());
    assert_eq!(again.is_control(), batch.is_control());
    assert_eq!(again.producer_id(), batch.producer_id());
    assert_eq!(again.producer_epoch(), batch.producer_epoch());
    assert_eq!(again.base_sequence(), batch.base_sequence());
    assert_eq!(again.base_offset(), batch.base_offset());
    assert_eq!(
        again.partition_leader_epoch(),
        batch.partition_leader_epoch()
    );
    assert_eq!(again.records_count() as usize, decoded.len());

    // The re-encoded records section can be a little larger than the original: a timestamp
    // delta from the first record's timestamp may need more bytes than the original delta
    // from BaseTimestamp (at most 10 instead of 1).
    let limit = 2 * MAX_DECOMPRESSED + 16 * decoded.len();
    let mut scratch = Vec::new();
    let records = match again.records(&mut scratch, limit) {
        Ok(r) => r,
        Err(e) => panic!("re-encoded batch does not decompress: {e}"),
    };
    let mut n = 0;
    for (i, r) in records.enumerate() {
        let r = match r {
            Ok(r) => r,
            Err(e) => panic!("record {i} of the re-encoded batch does not decode: {e}"),
        };
        let Some(orig) = decoded.get(i) else {
            panic!("re-encoded batch holds more records");
        };
        assert_eq!(r.offset(), batch.base_offset().wrapping_add(i as i64));
        assert_eq!(r.timestamp(), orig.timestamp(), "timestamp of record {i}");
        assert_eq!(r.key(), orig.key(), "key of record {i}");
        assert_eq!(r.value(), orig.value(), "value of record {i}");
        assert!(
            r.headers().iter().eq(orig.headers().iter()),
            "headers of record {i}"
        );
        n += 1;
    }
    assert_eq!(n, decoded.len());
}
