//! Quickstart: build a compressed Kafka record batch, then read it back.
//!
//! Run with `cargo run --release --example quickstart`.

use tidelog::record::{
    BatchBuilder, BatchOptions, Header, RecordBatch, DEFAULT_MAX_DECOMPRESSED_BYTES,
};
use tidelog::Compression;

fn main() -> tidelog::Result<()> {
    // A producer compresses each batch once; tidelog stores and serves it compressed.
    let mut builder = BatchBuilder::new(BatchOptions::with_compression(Compression::Lz4));
    for i in 0..1000u32 {
        let key = format!("order-{}", i % 10);
        let value = format!("{{\"id\":{i},\"amount\":{}}}", i * 7 % 100);
        let headers = [Header::new("source", "quickstart")];
        builder.append(
            1_700_000_000_000 + i64::from(i),
            Some(key.as_bytes()),
            Some(value.as_bytes()),
            &headers,
        )?;
    }
    let bytes = builder.finish()?.to_vec();
    let uncompressed = builder.uncompressed_size();

    // A consumer checks the CRC and decompresses once for the whole batch.
    let batch = RecordBatch::parse(&bytes)?;
    let mut scratch = Vec::new();
    let mut count = 0;
    let mut last = None;
    for record in batch.records(&mut scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)? {
        let record = record?;
        count += 1;
        last = Some((record.offset(), record.value().map(<[u8]>::to_vec)));
    }
    println!(
        "batch: {} records, codec {}, {} bytes on disk ({} before compression), CRC {:#010x}",
        count,
        batch.compression()?,
        bytes.len(),
        uncompressed,
        batch.crc()
    );
    if let Some((offset, Some(value))) = last {
        println!(
            "last record: offset {offset}, value {}",
            String::from_utf8_lossy(&value)
        );
    }
    assert_eq!(count, 1000);
    Ok(())
}
