//! Genuine Kafka 3.7.0 segment bytes decode with tidelog's format layer: every batch's
//! framing and CRC check out, offsets run 0..=12 without gaps, and the records are the
//! consumer-offset commits and group metadata FORMAT.md describes.
//!
//! The files live in `../shared/fixtures/kafka-3.7.0/` beside the clone; users' clones do
//! not have them, so the test prints a notice and passes when they are absent.

use std::path::PathBuf;

use tidelog::record::{RecordBatch, DEFAULT_MAX_DECOMPRESSED_BYTES};
use tidelog::{Compression, Result};

fn fixture(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/kafka-3.7.0/__consumer_offsets-6")
        .join(name);
    if p.exists() {
        Some(p)
    } else {
        println!("SKIPPED: Kafka fixture {} is absent", p.display());
        None
    }
}

#[test]
fn kafka_370_segment_decodes() -> Result<()> {
    let Some(path) = fixture("00000000000000000000.log") else {
        return Ok(());
    };
    let bytes = std::fs::read(&path).map_err(|e| tidelog::Error::io("read", &path, e))?;
    let mut pos = 0;
    let mut next = 0i64;
    let mut scratch = Vec::new();
    let mut commits = 0;
    while pos < bytes.len() {
        let batch = RecordBatch::parse(&bytes[pos..]).map_err(|e| e.at_position(pos as u64))?;
        assert_eq!(batch.base_offset(), next, "batches are contiguous");
        assert_eq!(batch.compression()?, Compression::None);
        assert_eq!((batch.producer_id(), batch.producer_epoch()), (-1, -1));
        assert!(batch.base_sequence() == 0 || batch.base_sequence() == -1);
        assert!(!batch.is_control() && !batch.is_transactional());
        for record in batch.records(&mut scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)? {
            let record = record?;
            assert_eq!(record.offset(), next);
            let key = record.key().unwrap_or_default();
            // Key: int16 type, then the group name as an int16-length string.
            let kind = i16::from_be_bytes([key[0], key[1]]);
            assert!(kind == 1 || kind == 2, "record type {kind}");
            assert_eq!(&key[4..4 + 11], b"DEVSmileCDR");
            if kind == 1 {
                commits += 1;
                // Offset commit values are version 3 in this broker's files.
                let value = record.value().unwrap_or_default();
                assert_eq!(&value[..2], &[0, 3]);
            }
            next += 1;
        }
        pos += batch.size();
    }
    assert_eq!(next, 13, "the fixture holds 13 records");
    assert!(commits > 0);
    Ok(())
}
