//! Fuzz logic `legacy`: [`LegacyBatch`] (magic 0/1 log entries) over arbitrary bytes.
//!
//! Checks: no panic; `parse` = `parse_unverified` + `verify_crc`; an accepted entry lies
//! within the input and [`Batch::parse`] sees the same entry; the records of every entry
//! `parse_unverified` accepts decode (1 MiB decompression limit) without a panic, within
//! their `size_hint`, and a v1 wrapper's records never come out with a timestamp other than
//! the wrapper's when it is LogAppendTime.
//!
//! Shared by `fuzz/fuzz_targets/legacy.rs` and the main crate's corpus replay test; uses
//! tidelog's public API only.

use tidelog::record::{Batch, LegacyBatch, TimestampType, MAGIC_V0, NO_TIMESTAMP};
use tidelog::{Compression, Error};

/// Decompression limit for a wrapper's inner message set.
pub const MAX_DECOMPRESSED: usize = 1 << 20;

/// Runs the checks on one input.
pub fn run(data: &[u8]) {
    let checked = LegacyBatch::parse(data);
    let unchecked = match LegacyBatch::parse_unverified(data) {
        Ok(entry) => entry,
        Err(e) => {
            assert!(
                checked.is_err(),
                "parse accepted what parse_unverified refused"
            );
            let _ = e.to_string();
            return;
        }
    };
    match &checked {
        Ok(entry) => assert_eq!(*entry, unchecked),
        Err(e) => {
            assert!(
                unchecked.verify_crc().is_err(),
                "parse failed on a good CRC: {e}"
            );
        }
    }
    let entry = unchecked;
    assert!(entry.size() <= data.len());
    assert_eq!(entry.as_bytes(), &data[..entry.size()]);
    assert_eq!(
        Batch::parse_unverified(data).ok(),
        Some(Batch::Legacy(entry)),
        "Batch::parse disagrees"
    );
    assert_ne!(
        entry.compression(),
        Compression::Zstd,
        "zstd in a legacy entry"
    );
    let _ = (
        entry.offset(),
        entry.next_offset(),
        entry.attributes(),
        entry.crc(),
        entry.key(),
        entry.max_timestamp(),
    );
    if entry.magic() == MAGIC_V0 {
        assert_eq!(entry.timestamp(), NO_TIMESTAMP);
        assert_eq!(entry.timestamp_type(), None);
    }

    let mut scratch = Vec::new();
    let records = match entry.records(&mut scratch, MAX_DECOMPRESSED) {
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
    let log_append_time = (entry.is_compressed()
        && entry.timestamp_type() == Some(TimestampType::LogAppendTime))
    .then(|| entry.timestamp());
    let mut n = 0usize;
    for r in records {
        match r {
            Ok(r) => {
                n += 1;
                assert!(r.headers().is_empty(), "a legacy record with headers");
                if let Some(t) = log_append_time {
                    assert!(
                        r.timestamp() == t || r.timestamp() == NO_TIMESTAMP,
                        "LogAppendTime wrapper at {t}, record at {}",
                        r.timestamp()
                    );
                }
                if !entry.is_compressed() {
                    assert_eq!(r.offset(), entry.offset());
                    assert_eq!(r.value(), entry.value());
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    if let Some(upper) = upper {
        assert!(n <= upper, "{n} records, size_hint said at most {upper}");
    }
}
