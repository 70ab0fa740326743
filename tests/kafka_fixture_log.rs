//! A genuine Kafka 3.7.0 partition directory opens as a tidelog `Log`: after a clean
//! shutdown (recovery point 13, nothing scanned) and with no state at all (a full scan that
//! rebuilds the indexes), all 13 records (offsets 0..=12) read back exactly as the segment
//! holds them, from every offset; the `.index` left after close still holds Kafka's entries
//! (3, 4730) and (7, 9571); and the log takes appends and reopens with them.
//!
//! The files live in `../shared/fixtures/kafka-3.7.0/` beside the clone and are read-only;
//! each test copies them into a temporary directory. Users' clones do not have them, so the
//! tests print a `SKIPPED:` notice and pass when they are absent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tidelog::config::{LogConfig, ManualClock};
use tidelog::log::{AppendOptions, Log, LogOpenOptions};
use tidelog::record::{Header, Record, RecordBatch, DEFAULT_MAX_DECOMPRESSED_BYTES};
use tidelog::Compression;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/fixtures/kafka-3.7.0/__consumer_offsets-6"
);
const SEGMENT: &str = "00000000000000000000";
/// Kafka's offset index entries for the segment: (offset, position).
const KAFKA_INDEX: [(i64, u32); 2] = [(3, 4730), (7, 9571)];

/// A writable copy of the fixture directory, or `None` (with a notice) if it is absent.
fn copy_fixture() -> TestResult<Option<(tempfile::TempDir, PathBuf)>> {
    let src = Path::new(FIXTURE);
    if !src.is_dir() {
        println!("SKIPPED: Kafka fixture {} is absent", src.display());
        return Ok(None);
    }
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("__consumer_offsets-6");
    std::fs::create_dir(&dir)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let to = dir.join(entry.file_name());
        std::fs::copy(entry.path(), &to)?;
        let mut perms = std::fs::metadata(&to)?.permissions();
        #[allow(
            clippy::permissions_set_readonly_false,
            reason = "a private copy in a temporary directory, made writable for the log"
        )]
        perms.set_readonly(false);
        std::fs::set_permissions(&to, perms)?;
    }
    Ok(Some((tmp, dir)))
}

/// The fixture's records as Kafka wrote them, decoded straight from the segment bytes.
fn kafka_records(dir: &Path) -> TestResult<(Vec<(i64, Record)>, i64)> {
    let bytes = std::fs::read(dir.join(format!("{SEGMENT}.log")))?;
    let mut out = Vec::new();
    let mut max_ts = -1;
    let mut pos = 0;
    let mut scratch = Vec::new();
    while pos < bytes.len() {
        let batch = RecordBatch::parse(&bytes[pos..])?;
        max_ts = max_ts.max(batch.max_timestamp());
        for r in batch.records(&mut scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)? {
            let r = r?;
            out.push((r.offset(), r.to_owned_record()));
        }
        pos += batch.size();
    }
    Ok((out, max_ts))
}

/// The offset index file's entries: (relative offset u32, position u32), big-endian, up to
/// the first all-zero slot after the first.
fn index_entries(dir: &Path) -> TestResult<Vec<(i64, u32)>> {
    let bytes = std::fs::read(dir.join(format!("{SEGMENT}.index")))?;
    let mut entries = Vec::new();
    for (i, slot) in bytes.chunks_exact(8).enumerate() {
        let rel = u32::from_be_bytes([slot[0], slot[1], slot[2], slot[3]]);
        let pos = u32::from_be_bytes([slot[4], slot[5], slot[6], slot[7]]);
        if i > 0 && rel == 0 && pos == 0 {
            break;
        }
        entries.push((i64::from(rel), pos));
    }
    Ok(entries)
}

fn config() -> LogConfig {
    // Kafka's defaults, as the broker that wrote the fixture used them (index.interval.bytes
    // 4096 rebuilds Kafka's exact index entries).
    LogConfig {
        retention_ms: -1,
        ..Default::default()
    }
}

fn open(dir: &Path, clock: &ManualClock, opts: LogOpenOptions) -> tidelog::Result<Log> {
    Log::open(
        dir,
        config(),
        LogOpenOptions {
            clock: Arc::new(clock.clone()),
            ..opts
        },
    )
}

fn clean(recovery_point: i64) -> LogOpenOptions {
    LogOpenOptions {
        recovery_point: Some(recovery_point),
        clean_shutdown: true,
        ..Default::default()
    }
}

/// Reads from every offset in `0..expected.len()`: the first record is that offset, and
/// following `next_offset()` yields every later record exactly as expected.
fn check_reads(log: &Log, expected: &[(i64, Record)]) -> TestResult {
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(log.end_offset(), expected.len() as i64);
    for from in 0..expected.len() as i64 {
        for max_bytes in [1, 5000, 1 << 20] {
            let mut next = from;
            loop {
                let result = log.read(next, max_bytes)?;
                if result.is_empty() {
                    break;
                }
                for r in result.records() {
                    let r = r?;
                    let (offset, want) = &expected[next as usize];
                    assert_eq!((r.offset(), next), (*offset, *offset));
                    assert_eq!(r.timestamp(), want.timestamp, "timestamp at {next}");
                    assert_eq!(r.key(), want.key.as_deref(), "key at {next}");
                    assert_eq!(r.value(), want.value.as_deref(), "value at {next}");
                    let headers: Vec<Header> = r.to_owned_record().headers;
                    assert_eq!(headers, want.headers, "headers at {next}");
                    next += 1;
                }
                assert_eq!(result.next_offset(), next);
            }
            assert_eq!(next, expected.len() as i64, "from {from} reaches the end");
        }
        let raw = log.read_raw(from, 1)?.to_vec()?;
        let batch = RecordBatch::parse(&raw)?;
        assert!(batch.base_offset() <= from && from <= batch.last_offset());
    }
    assert!(log.read(expected.len() as i64, 1 << 20)?.is_empty());
    Ok(())
}

#[test]
fn kafka_partition_opens_clean_without_scanning() -> TestResult {
    let Some((_tmp, dir)) = copy_fixture()? else {
        return Ok(());
    };
    let (expected, max_ts) = kafka_records(&dir)?;
    assert_eq!(expected.len(), 13);
    let log_bytes = std::fs::read(dir.join(format!("{SEGMENT}.log")))?;
    let time_index = std::fs::read(dir.join(format!("{SEGMENT}.timeindex")))?;
    let clock = ManualClock::new(max_ts + 60_000);
    let log = open(&dir, &clock, clean(13))?;
    let report = log.recovery_report();
    assert!(report.clean);
    assert_eq!(report.segments_scanned, 0, "a clean open scans nothing");
    assert_eq!(report.indexes_rebuilt, 0, "Kafka's indexes pass the checks");
    assert!(report.cuts.is_empty());
    assert_eq!(log.durable_offset(), 13);
    check_reads(&log, &expected)?;
    let state = log.close()?;
    assert_eq!((state.recovery_point, state.log_start_offset), (13, 0));
    assert_eq!(index_entries(&dir)?, KAFKA_INDEX);
    assert_eq!(
        std::fs::read(dir.join(format!("{SEGMENT}.log")))?,
        log_bytes,
        "reading changes no log byte"
    );
    assert_eq!(
        std::fs::read(dir.join(format!("{SEGMENT}.timeindex")))?,
        time_index,
        "close leaves Kafka's time index as it was"
    );
    // And again, from what close left.
    let log = open(&dir, &clock, clean(state.recovery_point))?;
    assert_eq!(log.recovery_report().segments_scanned, 0);
    check_reads(&log, &expected)?;
    log.close()?;
    assert_eq!(index_entries(&dir)?, KAFKA_INDEX);
    Ok(())
}

#[test]
fn kafka_partition_opens_without_state_by_a_full_scan() -> TestResult {
    let Some((_tmp, dir)) = copy_fixture()? else {
        return Ok(());
    };
    let (expected, max_ts) = kafka_records(&dir)?;
    let log_len = std::fs::metadata(dir.join(format!("{SEGMENT}.log")))?.len();
    let time_index = std::fs::read(dir.join(format!("{SEGMENT}.timeindex")))?;
    let clock = ManualClock::new(max_ts + 60_000);
    let log = open(&dir, &clock, LogOpenOptions::default())?;
    let report = log.recovery_report();
    assert!(!report.clean);
    assert_eq!(
        report.segments_scanned, 1,
        "no state: the segment is scanned"
    );
    assert_eq!(report.bytes_scanned, log_len, "every batch is valid");
    assert!(report.cuts.is_empty(), "nothing cut: {:?}", report.cuts);
    check_reads(&log, &expected)?;
    log.close()?;
    assert_eq!(
        index_entries(&dir)?,
        KAFKA_INDEX,
        "the rebuilt index has Kafka's entries"
    );
    assert_eq!(
        std::fs::read(dir.join(format!("{SEGMENT}.timeindex")))?,
        time_index,
        "the rebuilt time index is Kafka's"
    );
    Ok(())
}

#[test]
fn kafka_partition_takes_appends_and_reopens() -> TestResult {
    let Some((_tmp, dir)) = copy_fixture()? else {
        return Ok(());
    };
    let (mut expected, max_ts) = kafka_records(&dir)?;
    let clock = ManualClock::new(max_ts + 60_000);
    let log = open(&dir, &clock, clean(13))?;
    for (i, codec) in Compression::ALL.into_iter().enumerate() {
        let records: Vec<Record> = (0..3)
            .map(|j| {
                Record::new(max_ts + 1 + j, format!("tidelog {i}.{j} ").repeat(40))
                    .with_key(format!("k{i}{j}").into_bytes())
                    .with_header("via", Some(codec.to_string().into_bytes()))
            })
            .collect();
        let info = log.append(&records, &AppendOptions::with_compression(codec))?;
        assert_eq!(info.first_offset, expected.len() as i64);
        for r in records {
            expected.push((expected.len() as i64, r));
        }
    }
    assert_eq!(log.segment_count(), 1, "appends go into Kafka's segment");
    check_reads(&log, &expected)?;
    let state = log.close()?;
    assert_eq!(state.recovery_point, expected.len() as i64);
    let index = index_entries(&dir)?;
    assert_eq!(
        index[..2],
        KAFKA_INDEX,
        "Kafka's entries stay first: {index:?}"
    );
    assert!(index.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));

    // Clean reopen, then a reopen with no state (a full scan): the same records.
    let log = open(&dir, &clock, clean(state.recovery_point))?;
    assert_eq!(log.recovery_report().segments_scanned, 0);
    check_reads(&log, &expected)?;
    log.close()?;
    let log = open(&dir, &clock, LogOpenOptions::default())?;
    assert!(log.recovery_report().cuts.is_empty());
    check_reads(&log, &expected)?;
    log.close()?;
    assert_eq!(
        index_entries(&dir)?,
        index,
        "a full scan rebuilds the same index"
    );
    Ok(())
}
