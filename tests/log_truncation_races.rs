//! `truncate_to` racing readers and flushes on one partition log.
//!
//! - Readers reading while the writer truncates (within the log, and below the log start,
//!   which starts the log over) never panic, never get a partial batch and never get
//!   `Error::Corrupt`: a read that meets a cut in progress reads again, and sees the log as
//!   it is after the cut (or `OffsetOutOfRange`). Unbounded fetch budgets included.
//! - A flush that began before a truncation never raises the durable offset above the new
//!   end afterwards (appends after the truncation would be reported durable unsynced).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use common::{test_seed, XorShift};
use tidelog::config::LogConfig;
use tidelog::log::{AppendOptions, Log, LogOpenOptions};
use tidelog::record::Record;
use tidelog::Error;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 600,
        index_interval_bytes: 64,
        retention_ms: -1,
        ..Default::default()
    }
}

/// A batch of `n` records whose values name their offsets, so a misplaced one shows.
fn batch(first: i64, n: i64) -> Vec<Record> {
    (first..first + n)
        .map(|o| Record::new(1_000 + o, format!("offset {o:08}").into_bytes()))
        .collect()
}

#[test]
fn readers_never_see_false_corruption_while_the_writer_truncates() -> TestResult {
    let seed = test_seed();
    let dir = tempfile::tempdir()?;
    let log = Arc::new(Log::open(dir.path(), config(), LogOpenOptions::default())?);
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for r in 0..3u64 {
        let (log, stop, reads) = (Arc::clone(&log), Arc::clone(&stop), Arc::clone(&reads));
        readers.push(thread::spawn(move || -> Result<(), String> {
            let mut rng = XorShift::new(seed ^ (r + 1));
            while !stop.load(Ordering::Acquire) {
                let (start, end) = (log.log_start_offset(), log.end_offset());
                let offset = start + rng.below((end - start + 1).max(1) as u64) as i64;
                let budget = if rng.one_in(4) {
                    usize::MAX
                } else {
                    1 + rng.below(400) as usize
                };
                match log.read(offset, budget) {
                    Ok(read) => {
                        for record in read.records() {
                            let record = record.map_err(|e| format!("record: {e}"))?;
                            let want = format!("offset {:08}", record.offset());
                            if record.value() != Some(want.as_bytes()) {
                                return Err(format!("offset {} misread", record.offset()));
                            }
                        }
                    }
                    Err(Error::OffsetOutOfRange { .. }) => {}
                    Err(e) => return Err(format!("read({offset}, {budget}): {e}")),
                }
                if rng.one_in(8) {
                    match log.offset_for_timestamp(1_000 + offset) {
                        Ok(_) | Err(Error::OffsetOutOfRange { .. }) => {}
                        Err(e) => return Err(format!("offset_for_timestamp: {e}")),
                    }
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    let mut rng = XorShift::new(seed);
    let mut truncations = 0u64;
    for _ in 0..3_000 {
        let end = log.end_offset();
        log.append(
            &batch(end, 1 + rng.below(4) as i64),
            &AppendOptions::default(),
        )?;
        if rng.one_in(5) {
            let (start, end) = (log.log_start_offset(), log.end_offset());
            let to = if rng.one_in(4) && end > 2 {
                // Raise the start, then truncate below it: the log starts over.
                log.delete_records_before(end - 1)?;
                (end - 2).max(start)
            } else {
                start + rng.below((end - start).max(1) as u64) as i64
            };
            log.truncate_to(to)?;
            truncations += 1;
        }
    }
    stop.store(true, Ordering::Release);
    for reader in readers {
        reader
            .join()
            .map_err(|_| "a reader panicked")?
            .map_err(|e| format!("seed {seed}: {e}"))?;
    }
    println!(
        "{{\"test\":\"readers_never_see_false_corruption_while_the_writer_truncates\",\"seed\":{seed},\"truncations\":{truncations},\"reads\":{},\"corrupt_returned\":0,\"panics\":0}}",
        reads.load(Ordering::Relaxed)
    );
    Ok(())
}

#[test]
fn a_flush_racing_a_truncation_never_overstates_durability() -> TestResult {
    let seed = test_seed();
    let dir = tempfile::tempdir()?;
    let log = Arc::new(Log::open(dir.path(), config(), LogOpenOptions::default())?);
    let stop = Arc::new(AtomicBool::new(false));
    let flusher = {
        let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
        thread::spawn(move || -> Result<u64, String> {
            let mut flushes = 0;
            while !stop.load(Ordering::Acquire) {
                log.flush().map_err(|e| e.to_string())?;
                flushes += 1;
            }
            Ok(flushes)
        })
    };
    let mut rng = XorShift::new(seed);
    let mut overstated = 0u64;
    for _ in 0..2_000 {
        let end = log.end_offset();
        log.append(
            &batch(end, 1 + rng.below(3) as i64),
            &AppendOptions::default(),
        )?;
        let end = log.end_offset();
        log.truncate_to((end - 1 - rng.below(2) as i64).max(0))?;
        // Only this thread moves the end; the flusher must never lift the durable offset
        // over it.
        for _ in 0..3 {
            if log.durable_offset() > log.end_offset() {
                overstated += 1;
            }
            thread::yield_now();
        }
    }
    stop.store(true, Ordering::Release);
    let flushes = flusher.join().map_err(|_| "the flusher panicked")??;
    println!(
        "{{\"test\":\"a_flush_racing_a_truncation_never_overstates_durability\",\"seed\":{seed},\"flushes\":{flushes},\"overstated\":{overstated}}}"
    );
    assert_eq!(
        overstated, 0,
        "seed {seed}: durable offset above the log end"
    );
    Ok(())
}
