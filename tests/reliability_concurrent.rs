//! R20 in its full shape: one writer, four tailing readers and a retention thread on a log
//! of 237-byte segments, 10,000 appends, on real files.
//!
//! Every record's value is derived from its offset, and every batch a read returns has
//! passed its CRC check, so a reader can tell each anomaly of Jepsen's queue checker apart:
//! a record at an unexpected offset (non-monotonic, duplicate, or skipped without notice), a
//! record whose value is not its offset's (corrupt), an offset neither read nor reported
//! removed (lost). Removal by retention is only ever noticed as `Error::OffsetOutOfRange` and
//! a higher log start; those offsets are counted as tracked removals. Prints one JSON line.

#![cfg(feature = "test-util")]

mod reliability_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use reliability_support::*;
use tidelog::config::LogConfig;
use tidelog::log::{AppendOptions, Log, LogOpenOptions};
use tidelog::record::Record;
use tidelog::Error;

const APPENDS: u64 = 10_000;

fn value(offset: i64) -> Vec<u8> {
    let mix = (offset as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut v = offset.to_be_bytes().to_vec();
    v.extend_from_slice(&mix.to_be_bytes());
    v
}

#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    reads: u64,
    records: u64,
    removed: u64,
    nonmonotonic: u64,
    corrupt: u64,
    errors: u64,
}

/// Tails `log` from offset 0 until `done` and the log end is reached.
fn tail(log: &Log, max_bytes: usize, done: &AtomicBool) -> Seen {
    let mut s = Seen::default();
    let mut next = 0i64;
    loop {
        if next >= log.end_offset() {
            if done.load(Ordering::Acquire) && next >= log.end_offset() {
                break;
            }
            log.wait_for(next + 1, Duration::from_millis(5));
            continue;
        }
        match log.read(next, max_bytes) {
            Ok(r) => {
                s.reads += 1;
                for rec in r.records() {
                    match rec {
                        Ok(rec) => {
                            if rec.offset() != next {
                                s.nonmonotonic += 1;
                            }
                            if rec.value() != Some(&value(rec.offset())[..]) {
                                s.corrupt += 1;
                            }
                            s.records += 1;
                            next = rec.offset() + 1;
                        }
                        Err(_) => s.corrupt += 1,
                    }
                }
                if r.next_offset() > next {
                    // Only records below the requested offset are skipped by `records()`.
                    s.nonmonotonic += 1;
                    next = r.next_offset();
                }
            }
            Err(Error::OffsetOutOfRange { log_start, .. }) if log_start > next => {
                s.removed += (log_start - next) as u64;
                next = log_start;
            }
            Err(_) => {
                s.errors += 1;
                thread::yield_now();
            }
        }
    }
    s
}

/// R20: 10,000 appends, 4 tailing readers (read sizes 1 byte to 64 KiB), a retention thread.
#[test]
fn r20_concurrent_readers() -> TestResult {
    let seed = seed(0x0020_5EED);
    let mut report = Report::new("r20_concurrent_readers", seed);
    let root = scratch_dir()?;
    let config = LogConfig {
        segment_bytes: 237,
        index_interval_bytes: 64,
        segment_index_bytes: 4096,
        retention_bytes: 4000,
        retention_ms: -1,
        ..Default::default()
    };
    let log: Arc<Log> = Arc::new(Log::open(
        root.path().join("t-0"),
        config,
        LogOpenOptions::default(),
    )?);
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = [1usize, 300, 4096, 64 << 10]
        .into_iter()
        .map(|max_bytes| {
            let (log, done) = (Arc::clone(&log), Arc::clone(&done));
            thread::spawn(move || tail(&log, max_bytes, &done))
        })
        .collect();
    let retention = {
        let (log, done) = (Arc::clone(&log), Arc::clone(&done));
        thread::spawn(move || -> (u64, u64) {
            let (mut passes, mut deleted) = (0, 0);
            while !done.load(Ordering::Acquire) {
                if let Ok(r) = log.apply_retention() {
                    deleted += u64::from(r.segments_deleted);
                }
                passes += 1;
                thread::sleep(Duration::from_micros(200));
            }
            (passes, deleted)
        })
    };
    let mut rng = tidelog::io::SimRng::new(seed);
    let mut offset = 0i64;
    let mut appends = 0u64;
    while appends < APPENDS {
        let n = 1 + rng.below(3) as i64;
        let records: Vec<Record> = (offset..offset + n)
            .map(|o| Record::new(1_000 + o, value(o)))
            .collect();
        let info = log.append(&records, &AppendOptions::default())?;
        if info.first_offset != offset {
            report.inconsistent_offsets += 1;
        }
        offset += n;
        appends += 1;
    }
    done.store(true, Ordering::Release);
    let (passes, deleted) = retention.join().unwrap_or_default();
    let end = log.end_offset();
    let mut total = Seen::default();
    for (i, r) in readers.into_iter().enumerate() {
        let Ok(s) = r.join() else {
            report.panics += 1;
            continue;
        };
        let lost = (end as u64).saturating_sub(s.records + s.removed);
        if lost > 0 || s.nonmonotonic + s.corrupt + s.errors > 0 {
            report.note(format!("reader {i}: {s:?}, lost {lost}"));
        }
        report.acked_synced_lost += lost;
        total.reads += s.reads;
        total.records += s.records;
        total.removed += s.removed;
        total.nonmonotonic += s.nonmonotonic;
        total.corrupt += s.corrupt;
        total.errors += s.errors;
    }
    log.close()?;
    report.trials = appends;
    report.corrupt_returned += total.corrupt;
    report.inconsistent_offsets += total.nonmonotonic;
    report.add("reads", total.reads, false);
    report.add("records_read", total.records, false);
    report.add("offsets_removed_under_readers", total.removed, false);
    report.add("read_errors", total.errors, true);
    report.add("retention_passes", passes, false);
    report.add("segments_deleted", deleted, false);
    if deleted == 0 {
        report.add("retention_never_deleted", 1, true);
    }
    report.finish();
    Ok(())
}
