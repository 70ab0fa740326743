//! Quickstart: a partition log of compressed Kafka record batches, written, read back,
//! closed, and reopened.
//!
//! Run with `cargo run --release --example quickstart`. It writes under the system's temp
//! directory and removes what it wrote at the end.

use std::time::Instant;

use tidelog::config::LogConfig;
use tidelog::log::{AppendOptions, Log, LogOpenOptions};
use tidelog::record::Record;
use tidelog::Compression;

fn main() -> tidelog::Result<()> {
    let dir = std::env::temp_dir().join(format!("tidelog-quickstart-{}", std::process::id()));
    let partition = dir.join("orders-0"); // a Kafka partition directory: <topic>-<partition>

    // Small segments so the example shows rolling; Kafka's default is 1 GiB.
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..LogConfig::default()
    };
    let log = Log::open(&partition, config.clone(), LogOpenOptions::default())?;

    // A producer compresses each batch once; the log stores and serves it as it is.
    let batches: Vec<Vec<Record>> = (0..100)
        .map(|b| {
            (0..1000)
                .map(|i| {
                    let n = b * 1000 + i;
                    let value = format!(
                        "{{\"order\":{n},\"amount\":{},\"currency\":\"EUR\"}}",
                        n * 7 % 1000
                    );
                    Record::new(1_700_000_000_000 + n, value.into_bytes())
                        .with_key(format!("customer-{}", n % 97).into_bytes())
                })
                .collect()
        })
        .collect();
    let started = Instant::now();
    let opts = AppendOptions::with_compression(Compression::Lz4);
    for batch in &batches {
        log.append(batch, &opts)?;
    }
    log.flush()?; // fsync: everything so far survives power loss
    let written = started.elapsed();
    println!(
        "appended {} records in {:.1} ms: {} segments, {:.1} MiB on disk, durable up to offset {}",
        log.end_offset(),
        written.as_secs_f64() * 1e3,
        log.segment_count(),
        log.size_bytes() as f64 / (1 << 20) as f64,
        log.durable_offset()
    );

    // Read everything back: each fetch returns whole batches, CRC-checked and decompressed.
    let started = Instant::now();
    let (mut offset, mut count, mut bytes) = (0, 0u64, 0usize);
    while offset < log.end_offset() {
        let fetched = log.read(offset, 1 << 20)?;
        for record in fetched.records() {
            let record = record?;
            bytes += record.value().map_or(0, <[u8]>::len);
            count += 1;
        }
        offset = fetched.next_offset();
    }
    println!(
        "read {count} records ({:.1} MiB of values) in {:.1} ms",
        bytes as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64() * 1e3
    );

    // Look records up by time, as Kafka's ListOffsets does.
    if let Some((offset, ts)) = log.offset_for_timestamp(1_700_000_050_000)? {
        println!("first record at or after t=1700000050000: offset {offset} (t={ts})");
    }

    // A clean close leaves trimmed indexes; reopening with the clean flag scans nothing.
    let state = log.close()?;
    let started = Instant::now();
    let log = Log::open(
        &partition,
        config,
        LogOpenOptions {
            recovery_point: Some(state.recovery_point),
            clean_shutdown: true,
            ..Default::default()
        },
    )?;
    println!(
        "reopened in {:.2} ms: log end offset {}, {} segments scanned",
        started.elapsed().as_secs_f64() * 1e3,
        log.end_offset(),
        log.recovery_report().segments_scanned
    );
    let last = log.read(log.end_offset() - 1, 1)?;
    if let Some(record) = last.records().next() {
        let record = record?;
        println!(
            "last record: offset {} value {}",
            record.offset(),
            String::from_utf8_lossy(record.value().unwrap_or_default())
        );
    }
    log.close()?;
    std::fs::remove_dir_all(&dir).map_err(|e| tidelog::Error::io("remove", &dir, e))?;
    Ok(())
}
