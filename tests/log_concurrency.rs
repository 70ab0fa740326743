//! One writer and four tailing readers on one partition log: the readers never take the
//! writer's lock, yet each sees every offset exactly once and in order (offsets rise by one
//! within the surviving range), never a partial or altered batch (every value is derived
//! from its offset, so a misplaced or torn record shows), through segment rolls, every
//! codec, retention and `delete_records_before`. A range removed under a reader is noticed
//! only through `Error::OffsetOutOfRange` and the new log start, never as a silent skip.
//!
//! Also: a `ReadResult` or `FileSlice` taken from a segment that retention then deletes
//! stays fully readable.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tidelog::config::{LogConfig, ManualClock};
use tidelog::log::{AppendOptions, Log, LogOpenOptions};
use tidelog::record::{Batch, Record, DEFAULT_MAX_DECOMPRESSED_BYTES};
use tidelog::{Compression, Error};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The value the writer stores at `offset`: the offset, a checksum of it, and a length and
/// filler that depend on it, so any record read at the wrong offset, or torn, differs.
fn value_for(offset: i64) -> Vec<u8> {
    let sum = (offset as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17);
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(&offset.to_be_bytes());
    v.extend_from_slice(&sum.to_be_bytes());
    let filler = (sum % 48) as usize;
    v.extend(std::iter::repeat_n((sum >> 8) as u8, filler));
    v
}

fn records_at(base: i64, n: usize) -> Vec<Record> {
    (0..n as i64)
        .map(|i| {
            let offset = base + i;
            let r = Record::new(1_700_000_000_000 + offset, value_for(offset));
            if offset % 3 == 0 {
                r.with_key(offset.to_be_bytes().to_vec())
            } else {
                r
            }
        })
        .collect()
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        retention_ms: -1,
        retention_bytes: 48 * 1024,
        ..Default::default()
    }
}

fn open(dir: &std::path::Path) -> tidelog::Result<Log> {
    Log::open(
        dir,
        config(),
        LogOpenOptions {
            clock: Arc::new(ManualClock::new(1_700_000_000_000)),
            ..Default::default()
        },
    )
}

/// What one reader saw.
#[derive(Debug, Default)]
struct ReaderStats {
    records: u64,
    reads: u64,
    /// Jumps to a new log start after `OffsetOutOfRange`.
    jumps: u64,
    /// Offsets skipped by those jumps.
    skipped: u64,
}

/// Tails `log` from offset 0 until the writer is done and the end is reached, checking every
/// record against `value_for`. With `gate`, the reader stops after its first batch until
/// the gate opens (the writer then has removed what it would read next).
fn tail(
    log: &Log,
    max_bytes: usize,
    done: &AtomicBool,
    gate: Option<&AtomicBool>,
) -> TestResult<ReaderStats> {
    let mut stats = ReaderStats::default();
    let mut next = 0i64;
    loop {
        if let Some(gate) = gate {
            if stats.reads == 1 {
                while !gate.load(Ordering::Acquire) {
                    thread::sleep(Duration::from_millis(1));
                }
            }
        }
        let result = match log.read(next, max_bytes) {
            Ok(r) => r,
            Err(Error::OffsetOutOfRange {
                requested,
                log_start,
                log_end,
            }) => {
                assert_eq!(requested, next);
                assert!(next <= log_end, "reader at {next} past the end {log_end}");
                let start = log.log_start_offset();
                assert!(
                    start > next && log_start > next,
                    "out of range at {next} though the log starts at {start} ({log_start})"
                );
                stats.jumps += 1;
                stats.skipped += (start - next) as u64;
                next = start;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        stats.reads += 1;
        if result.is_empty() {
            assert_eq!(result.next_offset(), next);
            if done.load(Ordering::Acquire) && next >= log.end_offset() {
                break;
            }
            log.wait_for(next, Duration::from_millis(20));
            continue;
        }
        // Whole batches only: each holds exactly the records its header declares.
        let mut scratch = Vec::new();
        for batch in result.batches() {
            let declared = batch.last_offset() - batch.shallow_base_offset().unwrap_or(-1) + 1;
            let found = batch
                .records(&mut scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)?
                .count() as i64;
            assert_eq!(found, declared, "a whole batch at {}", batch.last_offset());
        }
        for record in result.records() {
            let record = record?;
            assert_eq!(record.offset(), next, "offsets rise by one");
            assert_eq!(
                record.value(),
                Some(value_for(next).as_slice()),
                "value at {next}"
            );
            assert_eq!(record.timestamp(), 1_700_000_000_000 + next);
            next += 1;
            stats.records += 1;
        }
        assert_eq!(
            result.next_offset(),
            next,
            "the read ends after its last record"
        );
    }
    Ok(stats)
}

#[test]
fn one_writer_four_tailing_readers_through_rolls_and_retention() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let log = Arc::new(open(&tmp.path().join("topic-0"))?);
    let done = Arc::new(AtomicBool::new(false));
    let gate = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(8);
    let readers: Vec<_> = (0..4)
        .map(|i| {
            let log = Arc::clone(&log);
            let done = Arc::clone(&done);
            let gate = Arc::clone(&gate);
            thread::spawn(move || {
                let max_bytes = [1, 700, 4000, 64 * 1024][i];
                tail(&log, max_bytes, &done, (i == 0).then_some(&*gate))
            })
        })
        .collect();

    let mut appends = 0u32;
    let mut start_floor = 0;
    let mut max_segments = 0;
    let result = (|| -> TestResult {
        while appends < 10_000 && Instant::now() < deadline {
            let base = log.end_offset();
            let n = 1 + (appends % 4) as usize;
            let codec = Compression::ALL[(appends as usize / 7) % Compression::ALL.len()];
            let info = log.append(
                &records_at(base, n),
                &AppendOptions::with_compression(codec),
            )?;
            assert_eq!(
                info.first_offset, base,
                "one writer: offsets follow the end"
            );
            appends += 1;
            if appends.is_multiple_of(64) {
                log.apply_retention()?;
            }
            max_segments = max_segments.max(log.segment_count());
            if appends.is_multiple_of(250) {
                let end = log.end_offset();
                log.delete_records_before(end - 2)?;
                gate.store(true, Ordering::Release);
            }
            if appends.is_multiple_of(1000) {
                log.flush()?;
            }
            let start = log.log_start_offset();
            assert!(start >= start_floor, "the log start never falls");
            start_floor = start;
        }
        Ok(())
    })();
    gate.store(true, Ordering::Release);
    done.store(true, Ordering::Release);
    let end = log.end_offset();
    let mut stats = Vec::new();
    for reader in readers {
        stats.push(reader.join().expect("reader thread panicked")?);
    }
    result?;
    println!(
        "{appends} appends, end {end}, log start {}",
        log.log_start_offset()
    );
    for (i, s) in stats.iter().enumerate() {
        println!("reader {i}: {s:?}");
        assert_eq!(
            s.records + s.skipped,
            end as u64,
            "reader {i} saw or was told of every offset"
        );
    }
    assert!(appends >= 1_000, "the writer made progress: {appends}");
    assert!(
        stats[0].jumps >= 1,
        "the gated reader had its next offsets removed"
    );
    assert!(max_segments > 3, "segments rolled: {max_segments}");
    log.close()?;
    Ok(())
}

#[test]
fn reads_taken_before_retention_stay_readable_after_their_segment_is_deleted() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("topic-0");
    let log = open(&dir)?;
    let mut n = 0;
    while log.segment_count() < 4 {
        let base = log.end_offset();
        log.append(
            &records_at(base, 3),
            &AppendOptions::with_compression(Compression::ALL[n % 5]),
        )?;
        n += 1;
    }
    let first_log = dir.join(format!("{:020}.log", 0));
    assert!(first_log.exists());
    let decoded = log.read(0, 1 << 20)?;
    let mut slice = log.read_raw(0, 1 << 20)?;
    assert!(!slice.is_empty());
    let raw_len = slice.len();

    let end = log.end_offset();
    log.delete_records_before(end)?;
    let report = log.apply_retention()?;
    assert_eq!(report.log_start_offset, end);
    assert_eq!(log.segment_count(), 1, "only the active segment stays");
    assert!(!first_log.exists(), "the first segment's file is gone");
    assert!(matches!(
        log.read(0, 100),
        Err(Error::OffsetOutOfRange { .. })
    ));

    // The decoded result holds its own bytes.
    let mut next = 0;
    for record in decoded.records() {
        let record = record?;
        assert_eq!(record.offset(), next);
        assert_eq!(record.value(), Some(value_for(next).as_slice()));
        next += 1;
    }
    assert_eq!(decoded.next_offset(), next);
    assert!(next > 0);

    // The raw slice reads through its open handle: `to_vec`, `Read` and `copy_to`.
    let bytes = slice.to_vec()?;
    assert_eq!(bytes.len() as u64, raw_len);
    let mut streamed = Vec::new();
    slice.read_to_end(&mut streamed)?;
    assert_eq!(streamed, bytes);
    let mut out = tempfile::tempfile()?;
    assert_eq!(slice.copy_to(&out)?, raw_len);
    let mut copied = Vec::new();
    std::io::Seek::rewind(&mut out)?;
    out.read_to_end(&mut copied)?;
    assert_eq!(copied, bytes);
    let mut pos = 0;
    let mut offset = 0;
    let mut scratch = Vec::new();
    while pos < bytes.len() {
        let batch = Batch::parse(&bytes[pos..])?;
        for record in batch.records(&mut scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)? {
            let record = record?;
            assert_eq!(record.offset(), offset);
            assert_eq!(record.value(), Some(value_for(offset).as_slice()));
            offset += 1;
        }
        pos += batch.size();
    }
    assert!(offset > 0, "the slice held whole batches");
    log.close()?;
    Ok(())
}
