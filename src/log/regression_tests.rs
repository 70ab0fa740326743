//! Regression tests of the partition log for bugs an audit found: each names what used to go
//! wrong. Concurrency races between truncation, reads and flushes live in
//! `tests/log_truncation_races.rs`.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::{Clock, LogConfig, ManualClock};
use crate::error::{Error, Result};
use crate::record::Record;

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))
}

fn open(dir: &std::path::Path, config: LogConfig, clock: &ManualClock) -> Result<Log> {
    Log::open(
        dir,
        config,
        LogOpenOptions {
            clock: Arc::new(clock.clone()),
            ..Default::default()
        },
    )
}

fn reopen_clean(
    dir: &std::path::Path,
    config: LogConfig,
    clock: &ManualClock,
    state: CloseState,
) -> Result<Log> {
    Log::open(
        dir,
        config,
        LogOpenOptions {
            recovery_point: Some(state.recovery_point),
            log_start_offset: Some(state.log_start_offset),
            clean_shutdown: true,
            clock: Arc::new(clock.clone()),
            ..Default::default()
        },
    )
}

fn one(ts: i64, value: &str) -> Vec<Record> {
    vec![Record::new(ts, value.as_bytes().to_vec())]
}

/// `read(o, usize::MAX)` overflowed `position + budget` for a batch not at position 0.
#[test]
fn a_read_with_an_unbounded_budget_reads_to_the_segment_end() -> Result<()> {
    let dir = tempdir()?;
    let log = open(dir.path(), LogConfig::default(), &ManualClock::new(0))?;
    for i in 0..5 {
        log.append(&one(i, "v"), &AppendOptions::default())?;
    }
    let read = log.read(2, usize::MAX)?;
    assert_eq!(read.batch_count(), 3);
    assert_eq!(read.next_offset(), 5);
    Ok(())
}

/// Segments whose records all carry timestamp 0 end their time index with an all-zero entry,
/// which the valid-entry count took for preallocated space: every clean open rebuilt them.
#[test]
fn timestamp_zero_segments_reopen_without_rebuilding() -> Result<()> {
    let dir = tempdir()?;
    let clock = ManualClock::new(0);
    let config = LogConfig {
        segment_bytes: 200,
        retention_ms: -1,
        ..Default::default()
    };
    let log = open(dir.path(), config.clone(), &clock)?;
    for _ in 0..12 {
        log.append(&one(0, "zero o'clock"), &AppendOptions::default())?;
    }
    assert!(log.segment_count() > 2);
    let state = log.close()?;
    let log = reopen_clean(dir.path(), config, &clock, state)?;
    assert_eq!(log.recovery_report().indexes_rebuilt, 0);
    assert_eq!(log.recovery_report().segments_scanned, 0);
    assert_eq!(log.offset_for_timestamp(0)?, Some((0, 0)));
    Ok(())
}

/// Kafka's ListOffsets special timestamps were searched for as timestamps.
#[test]
fn list_offsets_special_timestamps() -> Result<()> {
    let dir = tempdir()?;
    let log = open(dir.path(), LogConfig::default(), &ManualClock::new(0))?;
    assert_eq!(log.offset_for_timestamp(LATEST_TIMESTAMP)?, Some((0, -1)));
    assert_eq!(log.offset_for_timestamp(EARLIEST_TIMESTAMP)?, Some((0, -1)));
    assert_eq!(log.offset_for_timestamp(MAX_TIMESTAMP)?, None);
    for (ts, v) in [(10, "a"), (30, "b"), (20, "c"), (30, "d"), (5, "e")] {
        log.append(&one(ts, v), &AppendOptions::default())?;
    }
    log.delete_records_before(1)?;
    assert_eq!(log.offset_for_timestamp(LATEST_TIMESTAMP)?, Some((5, -1)));
    assert_eq!(log.offset_for_timestamp(EARLIEST_TIMESTAMP)?, Some((1, -1)));
    // The first record holding the largest timestamp.
    assert_eq!(log.offset_for_timestamp(MAX_TIMESTAMP)?, Some((1, 30)));
    assert_eq!(log.offset_for_timestamp(25)?, Some((1, 30)));
    Ok(())
}

/// `segment.ms` above `i64::MAX` (meaning "never") became -1 in a cast: a roll per append.
#[test]
fn a_huge_segment_ms_never_rolls() -> Result<()> {
    let dir = tempdir()?;
    let clock = ManualClock::new(1_000);
    let config = LogConfig {
        segment_ms: u64::MAX,
        ..Default::default()
    };
    let log = open(dir.path(), config, &clock)?;
    for i in 0..10 {
        clock.advance(1_000);
        log.append(&one(i, "v"), &AppendOptions::default())?;
    }
    assert_eq!(log.segment_count(), 1);
    Ok(())
}

/// Retention never deleted the active segment, so an idle partition kept its last
/// segment's data forever; Kafka rolls and then deletes it.
#[test]
fn retention_rolls_and_deletes_an_expired_active_segment() -> Result<()> {
    let dir = tempdir()?;
    let clock = ManualClock::new(1_000_000);
    let config = LogConfig {
        segment_bytes: 300,
        retention_ms: 60_000,
        ..Default::default()
    };
    let log = open(dir.path(), config, &clock)?;
    for i in 0..10 {
        log.append(&one(1_000_000 + i, "old news"), &AppendOptions::default())?;
    }
    let segments = log.segment_count();
    assert!(segments > 1);
    clock.advance(120_000);
    let report = log.apply_retention()?;
    assert_eq!(report.segments_deleted as usize, segments);
    assert_eq!(report.log_start_offset, 10);
    assert_eq!((log.log_start_offset(), log.end_offset()), (10, 10));
    assert_eq!(log.segment_base_offsets(), vec![10]);
    assert!(log.read(10, 1 << 20)?.is_empty());
    // The log goes on at the old end, and an empty active segment is never deleted.
    clock.advance(120_000);
    assert_eq!(log.apply_retention()?.segments_deleted, 0);
    let info = log.append(&one(clock.now_ms(), "new"), &AppendOptions::default())?;
    assert_eq!(info.first_offset, 10);
    Ok(())
}

/// A flush made nothing visible to durable-only tailing readers: they slept out their
/// timeout (the consumer polled in 5 ms slices instead).
#[test]
fn a_flush_wakes_durable_readers() -> Result<()> {
    let dir = tempdir()?;
    let log = Arc::new(open(
        dir.path(),
        LogConfig::default(),
        &ManualClock::new(0),
    )?);
    log.append(&one(0, "v"), &AppendOptions::default())?;
    assert!(!log.wait_for_with(0, Duration::from_millis(10), Isolation::Durable));
    let waiter = Arc::clone(&log);
    let t = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let ready = waiter.wait_for_with(0, Duration::from_secs(30), Isolation::Durable);
        (ready, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(50));
    log.flush()?;
    let (ready, waited) = t
        .join()
        .map_err(|_| Error::InvalidArgument("waiter panicked".into()))?;
    assert!(ready);
    assert!(
        waited < Duration::from_secs(20),
        "woken by the flush, not the timeout"
    );
    Ok(())
}

/// A missing `leader-epoch-checkpoint` after a clean shutdown left the cache empty, and the
/// log stamped epoch 0 after batches of a later epoch.
#[test]
fn a_lost_epoch_checkpoint_never_lets_the_epoch_go_back() -> Result<()> {
    let dir = tempdir()?;
    let clock = ManualClock::new(0);
    let config = LogConfig {
        segment_bytes: 300,
        ..Default::default()
    };
    let mut epoch = 0;
    // Three unclean opens: epochs 0, 1, 2 in the log.
    for _ in 0..3 {
        let log = open(dir.path(), config.clone(), &clock)?;
        epoch = log.leader_epoch();
        for i in 0..4 {
            log.append(&one(i, "epoch"), &AppendOptions::default())?;
        }
        log.flush()?;
    }
    assert_eq!(epoch, 2);
    let log = open(dir.path(), config.clone(), &clock)?;
    let state = log.close()?;
    std::fs::remove_file(
        dir.path()
            .join(crate::checkpoint::LEADER_EPOCH_CHECKPOINT_FILE),
    )
    .map_err(|e| Error::io("remove", dir.path(), e))?;
    let log = reopen_clean(dir.path(), config, &clock, state)?;
    assert!(log.recovery_report().epochs_rebuilt);
    assert!(log.leader_epoch() >= 2, "epoch {}", log.leader_epoch());
    let epochs: Vec<i32> = log
        .leader_epochs()
        .entries()
        .iter()
        .map(|e| e.epoch)
        .collect();
    assert_eq!(epochs, vec![0, 1, 2]);
    Ok(())
}

/// `close` on a poisoned log returned before marking it closed, so a blocked `wait_for`
/// slept out its timeout.
#[cfg(feature = "test-util")]
#[test]
fn closing_a_poisoned_log_wakes_its_waiters() -> Result<()> {
    use crate::io::{FaultController, FaultFs, FaultKind, FaultMode, FaultOp, FaultPlan};
    use crate::io::{FaultTarget, StdFs};
    let dir = tempdir()?;
    let faults = FaultController::new();
    let log = Arc::new(Log::open_with(
        FaultFs::new(StdFs, faults.clone()),
        dir.path(),
        LogConfig::default(),
        LogOpenOptions::default(),
    )?);
    log.append(&one(0, "v"), &AppendOptions::default())?;
    faults.arm(FaultPlan::new(
        FaultTarget::Op(FaultOp::SyncData),
        1,
        FaultKind::Eio,
        FaultMode::Persistent,
    ));
    assert!(log.flush().is_err());
    assert!(log.poisoned().is_some());
    let waiter = Arc::clone(&log);
    let t = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        waiter.wait_for(5, Duration::from_secs(30));
        started.elapsed()
    });
    std::thread::sleep(Duration::from_millis(50));
    assert!(matches!(log.close(), Err(Error::Poisoned { .. })));
    let waited = t
        .join()
        .map_err(|_| Error::InvalidArgument("waiter panicked".into()))?;
    assert!(
        waited < Duration::from_secs(20),
        "woken by close, not the timeout"
    );
    assert!(matches!(log.close(), Err(Error::Closed)));
    Ok(())
}

/// `read_raw` lacked the checks `read` has: a batch whose baseOffset (outside the CRC a
/// client checks) was damaged went out in a slice at the wrong offsets, and an offset it
/// hid gave an empty slice, so a server's client waited forever.
#[test]
fn read_raw_stops_before_a_damaged_base_offset_and_reports_it() -> Result<()> {
    let dir = tempdir()?;
    let clock = ManualClock::new(0);
    let config = LogConfig {
        index_interval_bytes: 100,
        ..Default::default()
    };
    let log = open(dir.path(), config.clone(), &clock)?;
    let mut positions = Vec::new();
    for i in 0..40 {
        positions.push(log.size_bytes());
        log.append(&one(i, "forty batches of one"), &AppendOptions::default())?;
    }
    let state = log.close()?;
    let path = dir.path().join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    // Batch 5's baseOffset moves forward by 2^32: out of line, far below the log end.
    let at = positions[5] as usize + 3;
    bytes[at] ^= 0x01;
    std::fs::write(&path, &bytes).map_err(|e| Error::io("write", &path, e))?;
    let log = reopen_clean(dir.path(), config, &clock, state)?;
    let slice = log.read_raw(0, 1 << 20)?;
    assert_eq!(
        slice.len(),
        positions[5],
        "the slice ends before the damaged batch"
    );
    assert_eq!(slice.next_offset(), 5);
    let raw = log.read_raw(5, 1 << 20);
    assert!(
        matches!(raw, Err(Error::Corrupt { .. })),
        "read_raw(5) = {:?}",
        raw.map(|s| s.len())
    );
    // Offset 6 is whole, in a batch of its own: reads of it go on.
    assert_eq!(log.read_raw(6, 1)?.len(), positions[7] - positions[6]);
    Ok(())
}

/// An interrupted swap (Kafka's cleaner: `.cleaned` → `.swap` → in place) renamed index
/// `.swap` files into place and trusted them; Kafka rebuilds a swapped segment's indexes.
#[test]
fn an_interrupted_swap_rebuilds_the_swapped_segments_indexes() -> Result<()> {
    let clock = ManualClock::new(0);
    let config = LogConfig {
        index_interval_bytes: 50,
        ..Default::default()
    };
    let write = |dir: &std::path::Path, n: i64, value: &str| -> Result<()> {
        let log = open(dir, config.clone(), &clock)?;
        for i in 0..n {
            log.append(&one(i, value), &AppendOptions::default())?;
        }
        log.close().map(drop)
    };
    // The segment the swap brings in (five batches), and the one it replaces (three).
    let (new, old, dir) = (tempdir()?, tempdir()?, tempdir()?);
    write(new.path(), 5, "swapped in")?;
    write(old.path(), 3, "replaced")?;
    let io = |e: std::io::Error| Error::io("fixture", dir.path(), e);
    for ext in ["log", "index", "timeindex"] {
        let name = format!("{:020}.{ext}", 0);
        std::fs::copy(old.path().join(&name), dir.path().join(&name)).map_err(io)?;
        std::fs::copy(
            new.path().join(&name),
            dir.path().join(format!("{name}.swap")),
        )
        .map_err(io)?;
    }
    // An index `.swap` the swap had not finished writing: here the replaced segment's,
    // plausible entries that do not describe the swapped-in log.
    let index = format!("{:020}.index", 0);
    std::fs::copy(
        old.path().join(&index),
        dir.path().join(format!("{index}.swap")),
    )
    .map_err(io)?;
    let log = open(dir.path(), config.clone(), &clock)?;
    assert_eq!(log.end_offset(), 5);
    for o in 0..5 {
        let read = log.read(o, 1)?;
        let value = read
            .records()
            .next()
            .transpose()?
            .and_then(|r| r.value().map(<[u8]>::to_vec));
        assert_eq!(value.as_deref(), Some(&b"swapped in"[..]), "offset {o}");
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .map_err(io)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".swap")), "{names:?}");
    assert!(log.recovery_report().indexes_rebuilt >= 1);
    log.close()?;
    // Rebuilt from the swapped-in log, the index is what that log's own writer made.
    let read = |d: &std::path::Path| std::fs::read(d.join(&index)).map_err(io);
    assert_eq!(read(dir.path())?, read(new.path())?);
    Ok(())
}

/// `file.delete.delay.ms` was parsed and then ignored: retention removed files at once.
#[test]
fn retention_keeps_deleted_files_for_the_delay() -> Result<()> {
    let dir = tempdir()?;
    let clock = ManualClock::new(1_000_000);
    let config = LogConfig {
        segment_bytes: 300,
        retention_bytes: 0,
        file_delete_delay_ms: 60_000,
        ..Default::default()
    };
    let log = open(dir.path(), config, &clock)?;
    for i in 0..10 {
        log.append(&one(1_000_000 + i, "soon gone"), &AppendOptions::default())?;
    }
    let deleted = || -> Result<usize> {
        Ok(std::fs::read_dir(dir.path())
            .map_err(|e| Error::io("list", dir.path(), e))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".deleted"))
            .count())
    };
    let report = log.apply_retention()?;
    assert!(report.segments_deleted > 1);
    assert!(
        deleted()? >= 3 * report.segments_deleted as usize - 3,
        "log and indexes wait"
    );
    clock.advance(59_000);
    log.apply_retention()?;
    assert!(deleted()? > 0, "not yet");
    clock.advance(1_000);
    log.apply_retention()?;
    assert_eq!(deleted()?, 0);
    Ok(())
}

/// Older brokers (and a follower appending several batches at once) wrote one index entry
/// per append: the last offset of the append mapped to the start of its first batch. Both
/// densities read back, through a writable and a read-only open.
#[test]
fn an_index_of_one_entry_per_multi_batch_append_reads_back() -> Result<()> {
    let dir = tempdir()?;
    let clock = ManualClock::new(0);
    let config = LogConfig {
        index_interval_bytes: 1,
        ..Default::default()
    };
    let log = open(dir.path(), config.clone(), &clock)?;
    let mut starts = Vec::new();
    for i in 0..12 {
        starts.push(log.size_bytes() as u32);
        log.append(
            &one(i, "twelve batches of one record"),
            &AppendOptions::default(),
        )?;
    }
    log.close()?;
    // Appends of three batches each: entries (last offset of the third, start of the first).
    let mut index = Vec::new();
    for append in 1..4 {
        let first = append * 3;
        index.extend_from_slice(&((first + 2) as u32).to_be_bytes());
        index.extend_from_slice(&starts[first].to_be_bytes());
    }
    let path = dir.path().join(format!("{:020}.index", 0));
    std::fs::write(&path, &index).map_err(|e| Error::io("write", &path, e))?;
    let check = |log: &Log| -> Result<()> {
        assert_eq!(log.end_offset(), 12);
        for o in 0..12 {
            let read = log.read(o, 1)?;
            let first = read.records().next().transpose()?.map(|r| r.offset());
            assert_eq!(first, Some(o));
        }
        Ok(())
    };
    let ro = Log::open_read_only(dir.path(), config.clone())?;
    check(&ro)?;
    let rw = Log::open(
        dir.path(),
        config,
        LogOpenOptions {
            recovery_point: Some(12),
            clean_shutdown: true,
            clock: Arc::new(clock.clone()),
            ..Default::default()
        },
    )?;
    assert_eq!(
        rw.recovery_report().indexes_rebuilt,
        0,
        "the index is valid as it is"
    );
    check(&rw)?;
    Ok(())
}
