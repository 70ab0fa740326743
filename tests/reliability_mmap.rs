//! Mapped files and readers against retention and close (R22), on real files.
//!
//! A writer appends to a log of tiny segments (so it rolls, grows and trims its mapped
//! indexes all the time) and runs retention, which unlinks whole segments; readers read at
//! the moving log start, look up timestamps (through the time index and offset index of
//! segments being deleted), and keep `read_raw` slices of segment files; then the log closes
//! (which trims every index) while the readers still run. Meanwhile a checker scans
//! `/proc/self/maps` for mappings of the log's files and holds each against its file's size
//! (read through `/proc/self/map_files/`, which works for unlinked files too): no mapping may
//! reach a page past the end of its file, or touching it would raise SIGBUS.
//!
//! What must hold (I9): no SIGBUS (the test process would die); no mapped file cut below its
//! mapping; every record read carries the value written at its offset; a slice taken before
//! its segment was deleted and the log closed reads back the same bytes afterwards.

#![cfg(all(feature = "test-util", target_os = "linux"))]

mod reliability_support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use reliability_support::*;
use tidelog::config::LogConfig;
use tidelog::log::{AppendOptions, Log, LogOpenOptions};
use tidelog::record::Record;
use tidelog::Error;

const APPENDS: i64 = 3000;

/// A `read_raw` slice and the bytes it held when taken.
type KeptSlice = (tidelog::log::FileSlice<tidelog::io::StdFile>, Vec<u8>);

fn value(offset: i64) -> Vec<u8> {
    format!("value-{offset}-").repeat(3).into_bytes()
}

/// Mappings of files under `dir`: `(range, file offset, length, path)`.
fn mappings_under(dir: &Path) -> Vec<(String, u64, u64, String)> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let prefix = dir.to_string_lossy().to_string();
    let mut out = Vec::new();
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 6 || !fields[5].starts_with(&prefix) {
            continue;
        }
        let Some((a, b)) = fields[0].split_once('-') else {
            continue;
        };
        let (Ok(a), Ok(b), Ok(off)) = (
            u64::from_str_radix(a, 16),
            u64::from_str_radix(b, 16),
            u64::from_str_radix(fields[2], 16),
        ) else {
            continue;
        };
        out.push((fields[0].to_string(), off, b - a, fields[5..].join(" ")));
    }
    out
}

/// Checks every mapping of `dir`'s files against its file's size. Returns (mappings seen,
/// violations, notes).
fn check_mappings(dir: &Path) -> (u64, u64, Vec<String>) {
    let page = 4096u64;
    let before = mappings_under(dir);
    let sizes: Vec<Option<u64>> = before
        .iter()
        .map(|(range, ..)| {
            std::fs::metadata(format!("/proc/self/map_files/{range}"))
                .ok()
                .map(|m| m.len())
        })
        .collect();
    // Only a mapping that still exists, unchanged, after its file's size was read counts.
    let after = mappings_under(dir);
    let mut seen = 0;
    let mut bad = 0;
    let mut notes = Vec::new();
    for ((range, off, len, path), size) in before.iter().zip(sizes) {
        let Some(size) = size else { continue };
        if !after
            .iter()
            .any(|(r, o, l, _)| r == range && o == off && l == len)
        {
            continue;
        }
        seen += 1;
        if off + len > size.div_ceil(page) * page {
            bad += 1;
            notes.push(format!(
                "{path}: mapping of bytes {off}..{} but the file has {size} bytes",
                off + len
            ));
        }
    }
    (seen, bad, notes)
}

/// The checker can fail: a file cut below its own mapping is reported.
#[test]
fn r22_checker_sees_a_file_cut_below_its_mapping() -> TestResult {
    use tidelog::io::{OpenMode, StdFs, Storage, StorageFile};
    let root = scratch_dir()?;
    let path = root.path().join("mapped.index");
    let fs = StdFs;
    let file = fs.open(&path, OpenMode::Truncate)?;
    file.set_len(3 * 4096)?;
    let map = fs.map_mut(&file, 3 * 4096)?;
    assert_eq!(check_mappings(root.path()).1, 0);
    file.set_len(100)?;
    let (seen, bad, _) = check_mappings(root.path());
    assert_eq!((seen, bad), (1, 1));
    drop(map);
    Ok(())
}

/// R22: 3,000 appends into 600-byte segments with retention, 2 readers, a mapping checker,
/// then a close under the readers.
#[test]
fn r22_mmap_lifetime() -> TestResult {
    let seed = seed(0x0022_5EED);
    let mut report = Report::new("r22_mmap_lifetime", seed);
    if !Path::new("/proc/self/map_files").exists() {
        println!("SKIPPED r22_mmap_lifetime: no /proc/self/map_files");
        return Ok(());
    }
    let root = scratch_dir()?;
    let dir = root.path().join("p-0");
    let config = LogConfig {
        segment_bytes: 600,
        index_interval_bytes: 64,
        segment_index_bytes: 1 << 20,
        retention_bytes: 3000,
        retention_ms: -1,
        ..Default::default()
    };
    let log: Arc<Log> = Arc::new(Log::open(&dir, config, LogOpenOptions::default())?);
    let done = Arc::new(AtomicBool::new(false));
    let bad_records = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let notes: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    // Slices kept across deletion and close, with the bytes they held when taken.
    let kept: Arc<Mutex<Vec<KeptSlice>>> = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    for r in 0..2u64 {
        let (log, done, bad, reads, notes, kept) = (
            Arc::clone(&log),
            Arc::clone(&done),
            Arc::clone(&bad_records),
            Arc::clone(&reads),
            Arc::clone(&notes),
            Arc::clone(&kept),
        );
        readers.push(thread::spawn(move || {
            let mut i = 0u64;
            while !done.load(Ordering::Acquire) {
                i += 1;
                let start = log.log_start_offset();
                match log.read(start, 2048) {
                    Ok(res) => {
                        reads.fetch_add(1, Ordering::Relaxed);
                        for rec in res.records() {
                            match rec {
                                Ok(rec) if rec.value() == Some(&value(rec.offset())[..]) => {}
                                other => {
                                    bad.fetch_add(1, Ordering::Relaxed);
                                    let mut n = notes.lock().unwrap_or_else(|e| e.into_inner());
                                    n.push(format!("reader {r}: bad record {:?}", other.err()));
                                }
                            }
                        }
                    }
                    Err(Error::OffsetOutOfRange { .. }) => {} // retention moved the start
                    Err(Error::Closed) => break,
                    Err(e) => {
                        bad.fetch_add(1, Ordering::Relaxed);
                        let mut n = notes.lock().unwrap_or_else(|e| e.into_inner());
                        n.push(format!("reader {r}: read failed: {e}"));
                    }
                }
                // Timestamp lookups walk the indexes of segments retention is deleting.
                let _ = log.offset_for_timestamp(1_000 + start + (i as i64 % 50));
                if i % 16 == r {
                    if let Ok(slice) = log.read_raw(start, 1024) {
                        if let Ok(bytes) = slice.to_vec() {
                            let mut k = kept.lock().unwrap_or_else(|e| e.into_inner());
                            if k.len() < 400 {
                                k.push((slice, bytes));
                            }
                        }
                    }
                }
            }
        }));
    }
    let checker = {
        let (done, dir) = (Arc::clone(&done), dir.clone());
        thread::spawn(move || {
            let (mut seen, mut bad, mut notes, mut scans) = (0, 0, Vec::new(), 0u64);
            while !done.load(Ordering::Acquire) {
                let (s, b, n) = check_mappings(&dir);
                seen += s;
                bad += b;
                scans += 1;
                notes.extend(n.into_iter().take(3));
            }
            (seen, bad, notes, scans)
        })
    };
    let mut retained = 0u64;
    for n in 0..APPENDS {
        let rec = Record::new(1_000 + n, value(n));
        log.append(&[rec], &AppendOptions::default())?;
        if n % 25 == 24 {
            retained += u64::from(log.apply_retention()?.segments_deleted);
        }
    }
    // Close (trimming every index) while the readers and the checker still run.
    log.close()?;
    let (s, b, n) = check_mappings(&dir);
    done.store(true, Ordering::Release);
    for h in readers {
        if h.join().is_err() {
            report.panics += 1;
        }
    }
    let (mut seen, mut bad, mut map_notes, scans) = checker.join().unwrap_or_default();
    seen += s;
    bad += b;
    map_notes.extend(n);
    // Stale slices: their segments are unlinked and the log closed; the bytes stand.
    let kept = std::mem::take(&mut *kept.lock().unwrap_or_else(|e| e.into_inner()));
    let mut stale_bad = 0;
    for (slice, bytes) in &kept {
        match slice.to_vec() {
            Ok(now) if now == *bytes => {}
            other => {
                stale_bad += 1;
                report.note(format!(
                    "slice at {} changed: {:?}",
                    slice.position(),
                    other.map(|v| v.len())
                ));
            }
        }
    }
    report.trials = reads.load(Ordering::Relaxed);
    report.corrupt_returned += bad_records.load(Ordering::Relaxed) + stale_bad;
    for n in notes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .take(10)
    {
        report.note(n.clone());
    }
    for n in map_notes.into_iter().take(10) {
        report.note(n);
    }
    report.add("appends", APPENDS as u64, false);
    report.add("segments_deleted", retained, false);
    report.add("stale_slices_checked", kept.len() as u64, false);
    report.add("map_scans", scans, false);
    report.add("mappings_checked", seen, false);
    report.add("mappings_past_eof", bad, true);
    if retained == 0 || seen == 0 {
        report.note("the workload deleted no segment or mapped nothing: it proves nothing");
        report.add("workload_too_small", 1, true);
    }
    report.finish();
    Ok(())
}
