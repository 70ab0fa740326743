//! The read-only open beside a live writer: `Log::open_read_only` and `ReadOnlyStore`.
//!
//! - a read-only store tails a partition that a writable `Store` in this process appends to
//!   and rolls: every offset once, in order, with the value derived from it;
//! - the same across processes: this test binary runs itself again as the writer;
//! - truncation, retention and `delete_records_before` under readers never crash them, and a
//!   refresh afterwards sees exactly what the writer has;
//! - a directory with a torn tail and crash leftovers opens read-only up to the last complete
//!   batch, and nothing in it changes;
//! - a segment deleted under the reader stays readable until a refresh drops it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tidelog::config::{LogConfig, StoreConfig, TopicConfig};
use tidelog::log::{AppendOptions, Log, LogOpenOptions, ReadResult, Validation};
use tidelog::record::{Batch, Record, DEFAULT_MAX_DECOMPRESSED_BYTES};
use tidelog::store::{ReadOnlyStore, Store};
use tidelog::{Compression, Error};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Set (to the store directory) in the child process of the cross-process test.
const CHILD_ENV: &str = "TIDELOG_RO_CHILD";
/// The test the child runs.
const CHILD_TEST: &str = "child_writer_of_the_cross_process_test";
/// How the child reports the log end it reached.
const WROTE: &str = "TIDELOG_RO_WROTE ";

/// The value stored at `offset`: the offset, a checksum of it, and a filler whose length
/// depends on it, so a record read at the wrong offset, or torn, differs.
fn value_for(offset: i64) -> Vec<u8> {
    let sum = (offset as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17);
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(&offset.to_be_bytes());
    v.extend_from_slice(&sum.to_be_bytes());
    let filler = if offset % 97 == 5 {
        // Now and then a batch larger than a page, so that a reader can catch it half
        // written.
        12_000 + (sum % 5000) as usize
    } else {
        (sum % 48) as usize
    };
    v.extend(std::iter::repeat_n((sum >> 8) as u8, filler));
    v
}

fn records_at(base: i64, n: usize) -> Vec<Record> {
    (0..n as i64)
        .map(|i| Record::new(1_700_000_000_000 + base + i, value_for(base + i)))
        .collect()
}

fn codec(i: u64) -> AppendOptions {
    let codecs = [
        Compression::None,
        Compression::Lz4,
        Compression::None,
        Compression::Zstd,
        Compression::Snappy,
        Compression::Gzip,
    ];
    AppendOptions::with_compression(codecs[(i % codecs.len() as u64) as usize])
}

/// Checks that `read` holds the records from `*next` on, each with its value, and advances
/// `*next` past them.
fn check_records(read: &ReadResult, next: &mut i64) -> TestResult {
    for record in read.records() {
        let record = record?;
        assert_eq!(record.offset(), *next, "offsets rise by one");
        assert_eq!(
            record.value(),
            Some(value_for(*next).as_slice()),
            "value at {next}"
        );
        *next += 1;
    }
    Ok(())
}

/// Checks the raw bytes `read_raw` returns at `offset`: whole batches, each passing its CRC,
/// holding the values of their offsets. Returns the number of batches.
fn check_raw(log: &Log, offset: i64) -> TestResult<usize> {
    let bytes = log.read_raw(offset, 32 * 1024)?.to_vec()?;
    let mut pos = 0;
    let mut batches = 0;
    let mut scratch = Vec::new();
    while pos < bytes.len() {
        let batch = Batch::parse(&bytes[pos..])?;
        for r in batch.records(&mut scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)? {
            let r = r?;
            assert_eq!(r.value(), Some(value_for(r.offset()).as_slice()));
        }
        pos += batch.size();
        batches += 1;
    }
    Ok(batches)
}

/// Tails `log` from `*next` until `done()` says the writer has finished and the log end
/// is reached. Every few reads, also checks the raw bytes there. Returns the number of
/// batches checked raw.
fn tail(
    log: &Log,
    next: &mut i64,
    mut done: impl FnMut() -> TestResult<bool>,
) -> TestResult<usize> {
    let mut finished = false;
    let mut reads = 0u64;
    let mut raw = 0;
    loop {
        if log.wait_for(*next, Duration::from_millis(50)) {
            reads += 1;
            if reads.is_multiple_of(4) {
                let batches = check_raw(log, *next)?;
                assert!(batches > 0, "whole batches below the end at {next}");
                raw += batches;
            }
            let read = log.read(*next, 64 * 1024)?;
            assert!(!read.is_empty(), "data below the end at {next}");
            check_records(&read, next)?;
            continue;
        }
        if finished {
            return Ok(raw);
        }
        // One more round after the writer is done: the refresh in `wait_for` sees the rest.
        finished = done()?;
    }
}

fn small_topic() -> TestResult<TopicConfig> {
    Ok(TopicConfig::default()
        .with("segment.bytes", "32768")?
        .with("index.interval.bytes", "512")?)
}

#[test]
fn tails_a_store_a_writable_store_in_this_process_appends_to_and_rolls() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("t", 2, small_topic()?)?;
    // No lock needed: this works while the writable store holds it.
    let reader = Store::open_read_only(dir.path())?;
    assert_eq!(reader.list_topics(), vec!["t".to_string()]);
    assert_eq!(reader.partition_count("t")?, 2);
    let ro = reader.log("t", 0)?;
    assert!(ro.is_read_only());
    assert_eq!((ro.log_start_offset(), ro.end_offset()), (0, 0));

    let writer_log = store.log("t", 0)?;
    let total: i64 = (0..600).map(|i| 1 + i % 7).sum();
    let writer = thread::spawn(move || -> TestResult {
        for i in 0..600u64 {
            let base = writer_log.end_offset();
            writer_log.append(&records_at(base, 1 + (i % 7) as usize), &codec(i))?;
            if i % 50 == 0 {
                thread::sleep(Duration::from_millis(2));
            }
        }
        Ok(())
    });
    let mut next = 0;
    tail(&ro, &mut next, || Ok(writer.is_finished()))?;
    writer.join().map_err(|_| "writer panicked")??;
    assert_eq!(next, total);
    assert_eq!(ro.end_offset(), total);
    assert!(ro.segment_count() > 5, "the writer rolled");
    assert_eq!(
        ro.segment_base_offsets(),
        store.log("t", 0)?.segment_base_offsets()
    );

    // The store follows topics created, grown and deleted after it was opened.
    store.create_topic("u", 1, TopicConfig::default())?;
    store.add_partitions("t", 3)?;
    reader.refresh()?;
    assert_eq!(reader.list_topics(), vec!["t".to_string(), "u".to_string()]);
    assert_eq!(reader.partition_count("t")?, 3);
    let description = reader.describe_topic("t")?;
    assert_eq!(description.id, Some(store.describe_topic("t")?.id));
    assert_eq!(description.partitions.len(), 3);
    let stats = description.partitions[0]
        .stats
        .ok_or("partition 0 has a directory")?;
    assert_eq!(stats.log_end_offset, total);
    store.delete_topic("u")?;
    reader.refresh()?;
    assert!(!reader.has_topic("u"));
    assert!(matches!(
        reader.log("u", 0),
        Err(Error::UnknownTopic { .. })
    ));
    assert!(matches!(
        reader.log("t", 3),
        Err(Error::UnknownPartition { .. })
    ));
    store.close()?;
    // After a clean close everything is durable; the checkpoints say so.
    reader.refresh()?;
    assert_eq!(ro.durable_offset(), total);
    Ok(())
}

/// The child role of the cross-process test: a writer that appends to the partition of the
/// store in `$TIDELOG_RO_CHILD` for about 1.5 s, rolling often, then reports its end. Does
/// nothing in a normal test run.
#[test]
fn child_writer_of_the_cross_process_test() -> TestResult {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return Ok(());
    };
    let store = Store::open(&dir, StoreConfig::default())?;
    let log = store.log("t", 0)?;
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut i = 0u64;
    while Instant::now() < deadline && log.size_bytes() < 3 << 20 {
        let base = log.end_offset();
        log.append(&records_at(base, 1 + (i % 9) as usize), &codec(i))?;
        i += 1;
        if i.is_multiple_of(4) {
            thread::sleep(Duration::from_millis(1));
        }
    }
    println!("{WROTE}{}", log.end_offset());
    store.close()?;
    Ok(())
}

#[test]
fn tails_a_partition_another_process_appends_to_and_rolls() -> TestResult {
    if std::env::var_os(CHILD_ENV).is_some() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("t", 1, small_topic()?)?;
    store.close()?;
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe()?)
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let reader = ReadOnlyStore::open(dir.path())?;
    let log = reader.log("t", 0)?;
    let mut next = 0;
    let tailed = tail(&log, &mut next, || Ok(child.try_wait()?.is_some()));
    if tailed.is_err() {
        let _ = child.kill();
    }
    let raw_checked = tailed?;
    let output = child.wait_with_output()?;
    assert!(output.status.success(), "the writer process failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let wrote: i64 = stdout
        .lines()
        .find_map(|l| l.split_once(WROTE).map(|(_, n)| n))
        .ok_or_else(|| format!("the writer reported its end: {stdout}"))?
        .trim()
        .parse()?;
    eprintln!(
        "the writer wrote {wrote} records in {} segments, {:?} after its start; {raw_checked} \
         batches checked raw",
        log.segment_count(),
        started.elapsed()
    );
    assert!(wrote > 1000, "the writer wrote for a while ({wrote})");
    assert_eq!(next, wrote, "every record once, in order");
    assert!(log.segment_count() > 10, "the writer rolled");
    assert!(raw_checked > 0);
    Ok(())
}

#[test]
fn truncation_and_retention_under_readers_never_crash_them() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("p-0");
    let config = LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        retention_ms: -1,
        retention_bytes: 24 * 1024,
        ..Default::default()
    };
    let log = Arc::new(Log::open(&path, config.clone(), LogOpenOptions::default())?);
    let ro = Arc::new(Log::open_read_only(&path, config.clone())?);
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2u64)
        .map(|seed| {
            let (ro, stop, reads, errors) = (
                Arc::clone(&ro),
                Arc::clone(&stop),
                Arc::clone(&reads),
                Arc::clone(&errors),
            );
            thread::spawn(move || {
                let mut x = seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
                while !stop.load(Ordering::Acquire) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let _ = ro.refresh();
                    let (start, end) = (ro.log_start_offset(), ro.end_offset());
                    let offset = start + (x % (end - start + 1).max(1) as u64) as i64;
                    match ro.read(offset, 8192) {
                        Ok(r) => {
                            // Offsets a truncation removed are rewritten with the same values,
                            // so whatever a read returns must still match its offset.
                            for record in r.records() {
                                match record {
                                    Ok(rec) => assert_eq!(
                                        rec.value(),
                                        Some(value_for(rec.offset()).as_slice())
                                    ),
                                    Err(_) => {
                                        errors.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            }
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if let Ok(slice) = ro.read_raw(offset, 8192) {
                        let _ = slice.to_vec();
                    }
                    let _ = ro.offset_for_timestamp(1_700_000_000_000 + offset);
                    let _ = ro.wait_for(end, Duration::from_millis(1));
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut i = 0u64;
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline || reads.load(Ordering::Relaxed) < 200 {
        for _ in 0..8 {
            let base = log.end_offset();
            log.append(&records_at(base, 1 + (i % 5) as usize), &codec(i))?;
            i += 1;
        }
        match i % 7 {
            0 | 3 => log.truncate_to((log.end_offset() - 1 - (i % 40) as i64).max(0))?,
            1 => {
                log.apply_retention()?;
            }
            2 => {
                let (start, end) = (log.log_start_offset(), log.end_offset());
                log.delete_records_before(start + (end - start) / 4)?;
            }
            5 if i.is_multiple_of(5) => {
                // Below the log start: the log starts over at that offset.
                let start = log.log_start_offset();
                log.truncate_to(start.saturating_sub(3))?;
            }
            _ => {}
        }
        thread::sleep(Duration::from_micros(300));
    }
    stop.store(true, Ordering::Release);
    for r in readers {
        r.join().map_err(|_| "a reader panicked")?;
    }
    assert!(reads.load(Ordering::Relaxed) >= 200);
    eprintln!(
        "{} reads, {} errors",
        reads.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed)
    );
    // Once the writer is quiet, a refresh sees exactly what it has.
    ro.refresh()?;
    assert_eq!(ro.segment_base_offsets(), log.segment_base_offsets());
    assert_eq!(ro.end_offset(), log.end_offset());
    let mut offset = ro.log_start_offset().max(log.log_start_offset());
    while offset < log.end_offset() {
        let mine = ro.read(offset, 4096)?;
        let theirs = log.read(offset, 4096)?;
        assert_eq!(mine.bytes(), theirs.bytes(), "bytes at {offset}");
        offset = theirs.next_offset();
    }
    // And it keeps following the writer.
    let base = log.end_offset();
    log.append(&records_at(base, 3), &AppendOptions::default())?;
    assert!(ro.wait_for(base + 2, Duration::from_secs(5)));
    assert_eq!(ro.read(base, 4096)?.records().count(), 3);
    Ok(())
}

/// Every file of `dir` with its bytes.
fn snapshot(dir: &Path) -> TestResult<BTreeMap<String, Vec<u8>>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        files.insert(
            entry.file_name().to_string_lossy().into_owned(),
            std::fs::read(entry.path())?,
        );
    }
    Ok(files)
}

#[test]
fn a_torn_tail_and_leftovers_open_read_only_up_to_the_last_complete_batch() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("p-0");
    let config = LogConfig {
        segment_bytes: 8192,
        index_interval_bytes: 256,
        ..Default::default()
    };
    let log = Log::open(&path, config.clone(), LogOpenOptions::default())?;
    for i in 0..120u64 {
        let base = log.end_offset();
        log.append(&records_at(base, 1 + (i % 4) as usize), &codec(i))?;
    }
    let end = log.end_offset();
    let last_base = *log
        .segment_base_offsets()
        .last()
        .ok_or("the log has segments")?;
    // A whole batch as stored, renumbered to follow the end.
    let mut batch = log.read_raw(end - 1, 1)?.to_vec()?;
    batch[..8].copy_from_slice(&end.to_be_bytes());
    drop(log); // a crash: no clean close

    let active = path.join(format!("{last_base:020}.log"));
    let mut torn = std::fs::read(&active)?;
    torn.extend_from_slice(&batch[..batch.len() / 2]);
    std::fs::write(&active, &torn)?;
    for leftover in [
        "00000000000000000000.log.deleted",
        "00000000000000000000.log.cleaned",
        "00000000000000000000.log.swap",
        "leader-epoch-checkpoint.tmp",
    ] {
        std::fs::write(path.join(leftover), b"leftover")?;
    }
    let before = snapshot(&path)?;

    let ro = Log::open_read_only(&path, config.clone())?;
    assert_eq!((ro.log_start_offset(), ro.end_offset()), (0, end));
    let mut next = 0;
    while next < end {
        let read = ro.read(next, 16 * 1024)?;
        check_records(&read, &mut next)?;
    }
    assert!(ro.read(end, 1024)?.is_empty());
    assert!(!ro.wait_for(end, Duration::ZERO));
    let segs = ro.segment_base_offsets();
    let (s0, e0) = (ro.log_start_offset(), ro.end_offset());
    let changed = ro.refresh()?;
    eprintln!(
        "{segs:?} {s0} {e0} -> {:?} {} {}",
        ro.segment_base_offsets(),
        ro.log_start_offset(),
        ro.end_offset()
    );
    assert!(!changed, "nothing changed");
    assert_eq!(
        ro.offset_for_timestamp(1_700_000_000_000 + end - 5)?,
        Some((end - 5, 1_700_000_000_000 + end - 5))
    );

    // Zeros after the torn batch (a preallocated or half-flushed tail) change nothing.
    torn.extend(std::iter::repeat_n(0u8, 4096));
    std::fs::write(&active, &torn)?;
    assert!(!ro.refresh()?);
    assert_eq!(ro.end_offset(), end);

    // Every writing method refuses.
    let read_only = |r: tidelog::Result<()>| matches!(r, Err(Error::InvalidArgument(_)));
    let rec = records_at(end, 1);
    assert!(read_only(
        ro.append(&rec, &AppendOptions::default()).map(drop)
    ));
    assert!(read_only(
        ro.append_batch(&batch, Validation::Shallow).map(drop)
    ));
    assert!(read_only(ro.roll()));
    assert!(read_only(ro.flush()));
    assert!(read_only(ro.flush_if_due().map(drop)));
    assert!(read_only(ro.truncate_to(0)));
    assert!(read_only(ro.apply_retention().map(drop)));
    assert!(read_only(ro.delete_records_before(1).map(drop)));
    assert!(read_only(ro.close().map(drop)));
    // ... and nothing in the directory changed.
    let mut after = snapshot(&path)?;
    after.insert(
        format!("{last_base:020}.log"),
        before[&format!("{last_base:020}.log")].clone(),
    );
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    assert_eq!(before, after);

    // The writer's recovery cuts the torn tail and appends other batches there: the reader
    // notices the rewrite and reads the new ones.
    let log = Log::open(&path, config, LogOpenOptions::default())?;
    assert_eq!(log.end_offset(), end);
    for i in 0..3u64 {
        let base = log.end_offset();
        log.append(&records_at(base, 2), &codec(i))?;
    }
    assert!(ro.wait_for(end + 5, Duration::from_secs(5)));
    let mut next = end;
    check_records(&ro.read(end, 1 << 20)?, &mut next)?;
    assert_eq!(next, end + 6);
    log.close()?;
    Ok(())
}

#[test]
fn a_segment_deleted_under_the_reader_stays_readable_until_a_refresh() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("p-0");
    let config = LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        retention_ms: -1,
        retention_bytes: 8192,
        ..Default::default()
    };
    let log = Log::open(&path, config.clone(), LogOpenOptions::default())?;
    for i in 0..200u64 {
        let base = log.end_offset();
        log.append(&records_at(base, 2), &codec(i))?;
    }
    let ro = Log::open_read_only(&path, config)?;
    assert_eq!(ro.segment_base_offsets(), log.segment_base_offsets());
    let report = log.apply_retention()?;
    assert!(report.segments_deleted > 0);
    assert!(!path.join("00000000000000000000.log").exists());
    // The reader still holds the deleted files open.
    let mut next = 0;
    check_records(&ro.read(0, 4096)?, &mut next)?;
    assert!(next > 0);
    assert!(!ro.read_raw(0, 4096)?.to_vec()?.is_empty());
    // A refresh drops them and raises the log start.
    assert!(ro.refresh()?);
    assert_eq!(ro.log_start_offset(), log.log_start_offset());
    assert_eq!(ro.segment_base_offsets(), log.segment_base_offsets());
    assert!(matches!(
        ro.read(0, 4096),
        Err(Error::OffsetOutOfRange { log_start, .. }) if log_start == log.log_start_offset()
    ));
    let mut next = ro.log_start_offset();
    while next < ro.end_offset() {
        check_records(&ro.read(next, 4096)?, &mut next)?;
    }
    log.close()?;
    Ok(())
}

#[test]
fn opening_read_only_creates_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("nothing-here");
    assert!(ReadOnlyStore::open(&missing).is_err());
    assert!(Log::open_read_only(missing.join("t-0"), LogConfig::default()).is_err());
    assert!(!missing.exists());
    // An empty store directory has no topics, and no lock file appears.
    let reader = ReadOnlyStore::open(dir.path())?;
    assert!(reader.list_topics().is_empty());
    assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);
    // An empty partition directory is an empty log that picks up the writer's first segment.
    let path = dir.path().join("p-0");
    std::fs::create_dir(&path)?;
    let ro = Log::open_read_only(&path, LogConfig::default())?;
    assert_eq!((ro.segment_count(), ro.end_offset()), (0, 0));
    let log = Log::open(&path, LogConfig::default(), LogOpenOptions::default())?;
    log.append(&records_at(0, 4), &AppendOptions::default())?;
    assert!(ro.wait_for(3, Duration::from_secs(5)));
    let mut next = 0;
    check_records(&ro.read(0, 4096)?, &mut next)?;
    assert_eq!(next, 4);
    // A partition directory no store recorded is a topic of a Kafka directory, as a
    // writable open would find it; nothing gets recorded.
    reader.refresh()?;
    assert_eq!(reader.list_topics(), vec!["p".to_string()]);
    let description = reader.describe_topic("p")?;
    assert!(description.foreign);
    assert_eq!(description.id, None);
    assert_eq!(description.partitions.len(), 1);
    assert_eq!(
        description.partitions[0].stats.map(|s| s.log_end_offset),
        Some(4)
    );
    assert!(!dir.path().join(tidelog::store::METADATA_FILE).exists());
    log.close()?;
    Ok(())
}

/// The location of an `Error::Corrupt`, or a description of what came instead and where.
#[track_caller]
fn corrupt_at<T>(result: tidelog::Result<T>) -> TestResult<tidelog::Location> {
    let line = std::panic::Location::caller().line();
    match result {
        Err(Error::Corrupt { location, .. }) => Ok(location),
        Err(e) => Err(format!("line {line}: expected Error::Corrupt, got {e}").into()),
        Ok(_) => Err(format!("line {line}: expected Error::Corrupt, got Ok").into()),
    }
}

#[test]
fn bytes_past_a_segment_end_no_append_in_flight_explains_are_corruption() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("p-0");
    // No index entries: the walk covers each segment from its start.
    let config = LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 1 << 20,
        ..Default::default()
    };
    let log = Log::open(&path, config.clone(), LogOpenOptions::default())?;
    for _ in 0..80 {
        let base = log.end_offset();
        log.append(&records_at(base, 2), &AppendOptions::default())?;
    }
    // A last segment of ten small batches (no offset of a large value among them).
    log.roll()?;
    for _ in 0..10 {
        let base = log.end_offset();
        log.append(&records_at(base, 2), &AppendOptions::default())?;
    }
    let end = log.end_offset();
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 3, "{bases:?}");
    log.close()?;
    let segment = |base: i64| path.join(format!("{base:020}.log"));

    // A flipped byte in the middle of a segment that is not the last.
    let first = segment(bases[0]);
    let pristine = std::fs::read(&first)?;
    let mut bad = pristine.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    std::fs::write(&first, &bad)?;
    let at = corrupt_at(Log::open_read_only(&path, config.clone()))?;
    assert_eq!(at.path.as_deref(), Some(first.as_path()));
    assert!(at.position.is_some_and(|p| p <= mid as u64), "{at:?}");
    assert!(
        at.offset.is_some_and(|o| o >= bases[0] && o < bases[1]),
        "{at:?}"
    );
    std::fs::write(&first, &pristine)?;

    // A flipped byte in the last segment with valid batches after it.
    let last_base = *bases.last().ok_or("segments")?;
    let last = segment(last_base);
    let pristine = std::fs::read(&last)?;
    let ro = Log::open_read_only(&path, config.clone())?;
    assert_eq!(ro.end_offset(), end);
    // In the records of the sixth batch, under its CRC.
    let sixth = ro.read_raw(last_base + 10, 1)?.position();
    let mut bad = pristine.clone();
    bad[sixth as usize + 70] ^= 0x40;
    std::fs::write(&last, &bad)?;
    let at = corrupt_at(Log::open_read_only(&path, config.clone()))?;
    assert_eq!(at.path.as_deref(), Some(last.as_path()));
    assert_eq!(
        (at.position, at.offset),
        (Some(sixth), Some(last_base + 10))
    );
    // A reader that walked those bytes before the damage finds it where it reads.
    assert!(!ro.refresh()?);
    corrupt_at(ro.read(last_base, 1 << 20))?;

    // The same damage in the very last batch reads as the end: a torn append.
    let mut bad = pristine.clone();
    let last_byte = bad.len() - 1;
    bad[last_byte] ^= 0x40;
    std::fs::write(&last, &bad)?;
    let ro = Log::open_read_only(&path, config.clone())?;
    assert!(ro.end_offset() < end && ro.end_offset() >= last_base);
    let mut next = ro.log_start_offset();
    while next < ro.end_offset() {
        check_records(&ro.read(next, 1 << 20)?, &mut next)?;
    }
    assert_eq!(next, ro.end_offset());
    Ok(())
}

#[test]
fn a_bad_last_batch_below_the_recovery_point_or_after_a_clean_close_is_corruption() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("t", 1, TopicConfig::default())?;
    let log = store.log("t", 0)?;
    for i in 0..30u64 {
        let base = log.end_offset();
        log.append(&records_at(base, 3), &codec(i))?;
    }
    let end = log.end_offset();
    let last_batch = log.read_raw(end - 1, 1)?;
    let (last_position, last_bytes) = (last_batch.position(), last_batch.to_vec()?);
    let last_base = i64::from_be_bytes(last_bytes[..8].try_into()?);
    drop(log);
    store.close()?;
    let segment = dir.path().join("t-0").join("00000000000000000000.log");
    let checkpoint = dir.path().join("recovery-point-offset-checkpoint");
    let marker = dir.path().join(".kafka_cleanshutdown");
    let pristine = std::fs::read(&segment)?;
    assert!(marker.exists());

    // Half a batch after a clean close: the writer left no append in flight.
    let mut torn = pristine.clone();
    let mut next_batch = last_bytes.clone();
    next_batch[..8].copy_from_slice(&end.to_be_bytes());
    torn.extend_from_slice(&next_batch[..next_batch.len() / 2]);
    std::fs::write(&segment, &torn)?;
    let at = corrupt_at(ReadOnlyStore::open(dir.path())?.log("t", 0))?;
    assert_eq!(at.path.as_deref(), Some(segment.as_path()));
    assert_eq!(
        (at.position, at.offset),
        (Some(pristine.len() as u64), Some(end))
    );
    corrupt_at(ReadOnlyStore::open(dir.path())?.describe_topic("t"))?;

    // After a crash (no marker) it is the end, at the recovery point.
    std::fs::remove_file(&marker)?;
    std::fs::write(&checkpoint, format!("0\n1\nt 0 {end}\n"))?;
    let reader = ReadOnlyStore::open(dir.path())?;
    assert_eq!(reader.log("t", 0)?.end_offset(), end);
    // A recovery point above it says it was fsynced whole: the next refresh, or open, sees
    // the corruption.
    std::fs::write(&checkpoint, format!("0\n1\nt 0 {}\n", end + 3))?;
    let at = corrupt_at(reader.refresh())?;
    assert_eq!(
        (at.position, at.offset),
        (Some(pristine.len() as u64), Some(end))
    );
    corrupt_at(ReadOnlyStore::open(dir.path())?.log("t", 0))?;
    std::fs::write(&checkpoint, format!("0\n1\nt 0 {end}\n"))?;

    // A bad last batch below the recovery point was fsynced whole: corruption.
    let mut bad = pristine.clone();
    let last_byte = bad.len() - 1;
    bad[last_byte] ^= 0x40;
    std::fs::write(&segment, &bad)?;
    let at = corrupt_at(ReadOnlyStore::open(dir.path())?.log("t", 0))?;
    assert_eq!(
        (at.position, at.offset),
        (Some(last_position), Some(last_base))
    );

    // Above the recovery point it is a torn append: the log ends before it.
    std::fs::write(&checkpoint, format!("0\n1\nt 0 {last_base}\n"))?;
    let reader = ReadOnlyStore::open(dir.path())?;
    let log = reader.log("t", 0)?;
    assert_eq!(log.end_offset(), last_base);
    let mut next = 0;
    while next < last_base {
        check_records(&log.read(next, 1 << 20)?, &mut next)?;
    }
    Ok(())
}
