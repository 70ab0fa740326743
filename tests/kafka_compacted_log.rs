//! A partition Kafka's cleaner compacted: offset gaps between batches and between segments,
//! records with sparse offset deltas inside a batch, and an empty batch the cleaner kept
//! for its producer state (Length 49, no records).
//!
//! - As a `Log` with `allow_offset_gaps`: opened without state (a full scan), then cleanly
//!   and after a crash, every record reads back at its own offset; a read at an offset in a
//!   gap returns the next batch; nothing is cut; timestamp lookups skip the gaps.
//! - As a topic of a Kafka broker's log directory opened by a `Store` (after a clean Kafka
//!   shutdown and after a crash): the same, since tidelog does not know a Kafka topic's
//!   history; the broker's files are left as they were.
//! - Held to contiguous offsets (a log tidelog wrote and never compacted), the same gap is
//!   damage: a read there is `Error::Corrupt`, never a silent skip.

use std::path::Path;

use tidelog::config::{LogConfig, StoreConfig};
use tidelog::log::{Log, LogOpenOptions};
use tidelog::store::Store;
use tidelog::Error;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// One record of a hand-built batch: offset delta, timestamp, value.
type Rec = (i32, i64, &'static [u8]);
/// A record read back: offset, timestamp, value.
type Got = (i64, i64, Vec<u8>);
/// A segment file: base offset, bytes.
type SegmentFile = (i64, Vec<u8>);

fn varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// An uncompressed magic-2 batch at `base`, as Kafka's cleaner leaves one: `records` keep
/// their offset deltas (gaps allowed), `last_delta` is the original batch's.
fn batch(base: i64, last_delta: i32, records: &[Rec]) -> Vec<u8> {
    let base_ts = records.first().map_or(-1, |r| r.1);
    let max_ts = records.iter().map(|r| r.1).max().unwrap_or(-1);
    let mut body = Vec::new();
    for &(delta, ts, value) in records {
        let mut rec = vec![0u8]; // attributes
        varint(&mut rec, ts - base_ts);
        varint(&mut rec, i64::from(delta));
        varint(&mut rec, -1); // null key
        varint(&mut rec, value.len() as i64);
        rec.extend_from_slice(value);
        varint(&mut rec, 0); // no headers
        varint(&mut body, rec.len() as i64);
        body.extend_from_slice(&rec);
    }
    let mut crc_part = Vec::new();
    crc_part.extend_from_slice(&0i16.to_be_bytes()); // attributes
    crc_part.extend_from_slice(&last_delta.to_be_bytes());
    crc_part.extend_from_slice(&base_ts.to_be_bytes());
    crc_part.extend_from_slice(&max_ts.to_be_bytes());
    crc_part.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    crc_part.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    crc_part.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    crc_part.extend_from_slice(&(records.len() as i32).to_be_bytes());
    crc_part.extend_from_slice(&body);
    let mut out = Vec::new();
    out.extend_from_slice(&base.to_be_bytes());
    out.extend_from_slice(&((4 + 1 + 4 + crc_part.len()) as i32).to_be_bytes());
    out.extend_from_slice(&3i32.to_be_bytes()); // partition leader epoch
    out.push(2); // magic
    out.extend_from_slice(&crc32c::crc32c(&crc_part).to_be_bytes());
    out.extend_from_slice(&crc_part);
    out
}

/// The compacted partition: `(offset, timestamp, value)` of every record left, and the
/// segment files `(base offset, bytes)`.
fn compacted() -> (Vec<Got>, Vec<SegmentFile>) {
    let segments: Vec<(i64, Vec<Vec<u8>>)> = vec![
        (
            0,
            vec![
                batch(0, 2, &[(0, 1_000, b"a0"), (2, 1_002, b"a2")]),
                batch(5, 4, &[(1, 1_006, b"b6"), (4, 1_009, b"b9")]),
                // The cleaner keeps an empty batch for its producer state.
                batch(10, 3, &[]),
                batch(14, 0, &[(0, 1_014, b"c14")]),
            ],
        ),
        // A whole segment's worth of offsets (15..30) gone between the segments.
        (
            30,
            vec![
                batch(31, 1, &[(0, 1_031, b"d31"), (1, 1_032, b"d32")]),
                batch(40, 0, &[(0, 1_040, b"e40")]),
            ],
        ),
    ];
    let mut records = Vec::new();
    let mut files = Vec::new();
    for (base, batches) in segments {
        let mut file = Vec::new();
        for b in batches {
            let info = tidelog::record::RecordBatch::parse(&b).map_err(|e| e.to_string());
            let info = info.unwrap_or_else(|e| panic!("test batch does not parse: {e}"));
            let mut scratch = Vec::new();
            for r in info
                .records(&mut scratch, 1 << 20)
                .unwrap_or_else(|e| panic!("{e}"))
            {
                let r = r.unwrap_or_else(|e| panic!("{e}"));
                records.push((
                    r.offset(),
                    r.timestamp(),
                    r.value().unwrap_or_default().to_vec(),
                ));
            }
            file.extend_from_slice(&b);
        }
        files.push((base, file));
    }
    (records, files)
}

fn write_partition(dir: &Path, files: &[SegmentFile]) -> TestResult {
    std::fs::create_dir_all(dir)?;
    for (base, bytes) in files {
        std::fs::write(dir.join(format!("{base:020}.log")), bytes)?;
    }
    Ok(())
}

/// Every record of `log`, read with small budgets from the start.
fn read_all(log: &Log) -> TestResult<Vec<Got>> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.end_offset() {
        let read = log.read(next, 1)?;
        assert!(!read.is_empty(), "no batch at {next} below the end");
        for r in read.records() {
            let r = r?;
            out.push((
                r.offset(),
                r.timestamp(),
                r.value().unwrap_or_default().to_vec(),
            ));
        }
        next = read.next_offset();
    }
    Ok(out)
}

fn check(log: &Log, records: &[Got]) -> TestResult {
    assert_eq!(log.end_offset(), 41);
    assert!(
        log.recovery_report().cuts.is_empty(),
        "{:?}",
        log.recovery_report()
    );
    assert_eq!(read_all(log)?, records);
    // A read inside a gap starts at the next batch: offsets 3 and 4 are gone.
    let first = |o: i64| -> TestResult<Option<i64>> {
        Ok(log
            .read(o, 4096)?
            .records()
            .next()
            .transpose()?
            .map(|r| r.offset()))
    };
    assert_eq!(first(3)?, Some(6));
    assert_eq!(first(11)?, Some(14), "the empty batch holds no record");
    assert_eq!(first(20)?, Some(31), "across the gap between segments");
    assert_eq!(log.offset_for_timestamp(1_003)?, Some((6, 1_006)));
    assert_eq!(log.offset_for_timestamp(1_015)?, Some((31, 1_031)));
    Ok(())
}

fn gaps_allowed() -> LogConfig {
    LogConfig {
        allow_offset_gaps: true,
        ..Default::default()
    }
}

#[test]
fn a_compacted_partition_opens_and_reads_as_a_log() -> TestResult {
    let (records, files) = compacted();
    let root = tempfile::tempdir()?;
    let dir = root.path().join("changelog-0");
    write_partition(&dir, &files)?;
    // No state: every segment is scanned, and the gaps are taken as compaction left them.
    let log = Log::open(&dir, gaps_allowed(), LogOpenOptions::default())?;
    check(&log, &records)?;
    let state = log.close()?;
    // Clean: nothing scanned, indexes as written on close.
    let log = Log::open(
        &dir,
        gaps_allowed(),
        LogOpenOptions {
            recovery_point: Some(state.recovery_point),
            clean_shutdown: true,
            ..Default::default()
        },
    )?;
    assert_eq!(log.recovery_report().segments_scanned, 0);
    check(&log, &records)?;
    drop(log);
    // A crash with the recovery point at the start: the scan keeps everything.
    let log = Log::open(
        &dir,
        gaps_allowed(),
        LogOpenOptions {
            recovery_point: Some(0),
            ..Default::default()
        },
    )?;
    check(&log, &records)?;
    Ok(())
}

#[test]
fn a_gap_in_a_log_held_to_contiguous_offsets_is_damage() -> TestResult {
    let (_, files) = compacted();
    let root = tempfile::tempdir()?;
    let dir = root.path().join("orders-0");
    write_partition(&dir, &files)?;
    // Opened with the gaps allowed once (to build indexes), then held to contiguity.
    let state = Log::open(&dir, gaps_allowed(), LogOpenOptions::default())?.close()?;
    let opened = Log::open(
        &dir,
        LogConfig::default(),
        LogOpenOptions {
            recovery_point: Some(state.recovery_point),
            clean_shutdown: true,
            ..Default::default()
        },
    );
    // The clean open checks each segment's tail and finds the gap there; data below the
    // recovery point is never cut.
    match opened {
        Err(Error::Corrupt { .. }) => {}
        Ok(log) => match log.read(3, 1) {
            Err(Error::Corrupt { .. }) => {}
            other => panic!("a read in a gap: {:?}", other.map(|r| r.batch_count())),
        },
        Err(e) => panic!("open: {e}"),
    }
    let sizes = |d: &Path| -> TestResult<Vec<u64>> {
        let mut v = Vec::new();
        for (base, _) in &files {
            v.push(std::fs::metadata(d.join(format!("{base:020}.log")))?.len());
        }
        Ok(v)
    };
    let want: Vec<u64> = files.iter().map(|(_, b)| b.len() as u64).collect();
    assert_eq!(sizes(&dir)?, want, "nothing was cut");
    Ok(())
}

/// Kafka's text checkpoint: version 0, the entry count, `topic partition offset` lines.
fn kafka_checkpoint(path: &Path, entries: &[(&str, i32, i64)]) -> TestResult {
    let mut text = format!("0\n{}\n", entries.len());
    for (t, p, o) in entries {
        text.push_str(&format!("{t} {p} {o}\n"));
    }
    std::fs::write(path, text)?;
    Ok(())
}

#[test]
fn a_kafka_directorys_compacted_topic_opens_in_a_store() -> TestResult {
    let (records, files) = compacted();
    for clean_kafka_shutdown in [true, false] {
        let root = tempfile::tempdir()?;
        let part = root.path().join("changelog-0");
        write_partition(&part, &files)?;
        if clean_kafka_shutdown {
            // Indexes as a broker leaves them, then its checkpoints and marker.
            Log::open(&part, gaps_allowed(), LogOpenOptions::default())?.close()?;
            kafka_checkpoint(
                &root.path().join("recovery-point-offset-checkpoint"),
                &[("changelog", 0, 41)],
            )?;
            std::fs::write(root.path().join(".kafka_cleanshutdown"), "")?;
        } else {
            kafka_checkpoint(
                &root.path().join("recovery-point-offset-checkpoint"),
                &[("changelog", 0, 0)],
            )?;
        }
        let store = Store::open(root.path(), StoreConfig::default())?;
        let described = store.describe_topic("changelog")?;
        assert!(described.foreign);
        let log = store.log("changelog", 0)?;
        check(&log, &records)?;
        assert!(
            !part.join("partition.metadata").exists(),
            "the broker's partition directory got a partition.metadata it never had"
        );
        store.close()?;
        // And again, from what tidelog recorded of it.
        let store = Store::open(root.path(), StoreConfig::default())?;
        assert!(store.describe_topic("changelog")?.foreign);
        check(&*store.log("changelog", 0)?, &records)?;
        store.close()?;
    }
    Ok(())
}
