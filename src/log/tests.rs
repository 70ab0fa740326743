//! Unit tests of the partition log: appends and reads through rolls, reopen after clean and
//! unclean shutdowns, the recovery rule, retention, truncation and lookups.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::{LogConfig, ManualClock};
use crate::error::{Error, Result};
use crate::record::{Record, TimestampType};
use crate::Compression;

fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        retention_ms: -1,
        ..Default::default()
    }
}

fn records(first: i64, n: usize, size: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let v = format!("value-{}-", first + i as i64).repeat(size / 10 + 1);
            Record::new(1_000 + first + i as i64, v.into_bytes())
                .with_key(format!("k{}", (first + i as i64) % 7).into_bytes())
        })
        .collect()
}

fn open(
    dir: &std::path::Path,
    config: LogConfig,
    clock: &ManualClock,
    opts: LogOpenOptions,
) -> Result<Log> {
    Log::open(
        dir,
        config,
        LogOpenOptions {
            clock: Arc::new(clock.clone()),
            ..opts
        },
    )
}

fn read_all(log: &Log, from: i64) -> Result<Vec<(i64, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut next = from;
    loop {
        let r = log.read(next, 1000)?;
        if r.is_empty() {
            break;
        }
        for rec in r.records() {
            let rec = rec?;
            out.push((rec.offset(), rec.value().unwrap_or_default().to_vec()));
        }
        next = r.next_offset();
    }
    Ok(out)
}

#[test]
fn append_and_read_back_across_rolls_and_codecs() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(1_000_000);
    let log = open(
        dir.path(),
        small_config(),
        &clock,
        LogOpenOptions::default(),
    )?;
    let mut expected = Vec::new();
    for (i, codec) in Compression::ALL.iter().cycle().take(40).enumerate() {
        let batch = records(log.end_offset(), 1 + i % 5, 300);
        let info = log.append(&batch, &AppendOptions::with_compression(*codec))?;
        assert_eq!(info.first_offset, expected.len() as i64);
        for r in &batch {
            expected.push(r.value.clone().unwrap_or_default());
        }
    }
    assert!(
        log.segment_count() > 1,
        "small segments roll: {}",
        log.segment_count()
    );
    let got = read_all(&log, 0)?;
    assert_eq!(got.len(), expected.len());
    for (i, (offset, value)) in got.iter().enumerate() {
        assert_eq!(*offset, i as i64);
        assert_eq!(value, &expected[i]);
    }
    // Reading from the middle of a batch skips the records before the offset.
    let mid = read_all(&log, 7)?;
    assert_eq!(mid.first().map(|r| r.0), Some(7));
    // At the end: nothing; past it: a typed error with the range.
    assert!(log.read(log.end_offset(), 100)?.is_empty());
    assert!(matches!(
        log.read(log.end_offset() + 1, 100),
        Err(Error::OffsetOutOfRange { log_start: 0, .. })
    ));
    let state = log.close()?;
    assert_eq!(state.recovery_point, expected.len() as i64);
    Ok(())
}

#[test]
fn clean_reopen_scans_nothing_and_keeps_appending() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(1_000_000);
    let log = open(
        dir.path(),
        small_config(),
        &clock,
        LogOpenOptions::default(),
    )?;
    for i in 0..30 {
        log.append(&records(i * 3, 3, 40), &AppendOptions::default())?;
    }
    let before = read_all(&log, 0)?;
    let state = log.close()?;
    let log = open(
        dir.path(),
        small_config(),
        &clock,
        LogOpenOptions {
            recovery_point: Some(state.recovery_point),
            clean_shutdown: true,
            ..Default::default()
        },
    )?;
    assert_eq!(log.recovery_report().segments_scanned, 0);
    assert_eq!(log.end_offset(), 90);
    assert_eq!(read_all(&log, 0)?, before);
    let info = log.append(&records(90, 2, 40), &AppendOptions::default())?;
    assert_eq!(info.first_offset, 90);
    assert_eq!(read_all(&log, 0)?.len(), 92);
    Ok(())
}

#[test]
fn crash_cuts_a_torn_tail_and_nothing_else() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(1_000_000);
    let log = open(
        dir.path(),
        small_config(),
        &clock,
        LogOpenOptions::default(),
    )?;
    for i in 0..20 {
        log.append(&records(i * 2, 2, 40), &AppendOptions::default())?;
    }
    log.flush()?;
    let durable = log.durable_offset();
    for i in 20..25 {
        log.append(&records(i * 2, 2, 40), &AppendOptions::default())?;
    }
    let active = log
        .segments()
        .last()
        .map(|s| (s.log_path(), s.size()))
        .unwrap_or_default();
    drop(log); // a crash: no close
               // Tear the last batch in half.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&active.0)
        .map_err(|e| Error::io("open", &active.0, e))?;
    f.set_len(active.1 - 20)
        .map_err(|e| Error::io("set_len", &active.0, e))?;
    let log = open(
        dir.path(),
        small_config(),
        &clock,
        LogOpenOptions {
            recovery_point: Some(durable),
            ..Default::default()
        },
    )?;
    let report = log.recovery_report();
    assert_eq!(report.cuts.len(), 1, "{report:?}");
    assert!(!report.cuts[0].repaired);
    assert_eq!(
        log.end_offset(),
        48,
        "only the torn batch (offsets 48-49) is gone"
    );
    assert_eq!(read_all(&log, 0)?.len(), 48);
    // A new epoch starts after the unclean open.
    assert_eq!(log.leader_epoch(), 1);
    let info = log.append(&records(48, 1, 40), &AppendOptions::default())?;
    assert_eq!(info.first_offset, 48);
    Ok(())
}

/// The bytes of every `.index` and `.timeindex` file in `dir`, by name.
fn index_files(dir: &std::path::Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("read_dir", dir, e))? {
        let path = entry.map_err(|e| Error::io("read_dir", dir, e))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.ends_with(".index") || name.ends_with(".timeindex") {
            out.push((
                name,
                std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?,
            ));
        }
    }
    out.sort();
    Ok(out)
}

#[test]
fn recovery_seals_every_segment_it_scans() -> Result<()> {
    // Kafka's `LogSegment.recover` ends with the close-time time-index entry and trims both
    // indexes: a recovered segment's indexes are byte for byte those of a clean close.
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(1_000_000);
    // No offset-index entries: each time index holds only its close-time entry.
    let config = LogConfig {
        index_interval_bytes: 1 << 20,
        ..small_config()
    };
    let log = open(
        dir.path(),
        config.clone(),
        &clock,
        LogOpenOptions::default(),
    )?;
    for i in 0..40 {
        log.append(&records(i * 2, 2, 100), &AppendOptions::default())?;
    }
    let segments = log.segment_count();
    assert!(segments >= 3, "{segments} segments");
    log.close()?;
    let sealed = index_files(dir.path())?;
    assert!(sealed
        .iter()
        .any(|(name, bytes)| name.ends_with(".timeindex") && bytes.len() == 12));
    // The clean-shutdown marker is lost: every segment is scanned and its indexes rebuilt.
    let log = open(dir.path(), config, &clock, LogOpenOptions::default())?;
    assert_eq!(log.recovery_report().segments_scanned as usize, segments);
    assert_eq!(index_files(dir.path())?, sealed);
    Ok(())
}

#[test]
fn damage_below_the_recovery_point_is_corruption_unless_repairing() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(1_000_000);
    let log = open(
        dir.path(),
        small_config(),
        &clock,
        LogOpenOptions::default(),
    )?;
    for i in 0..10 {
        log.append(&records(i, 1, 40), &AppendOptions::default())?;
    }
    log.flush()?;
    let path = log.segments()[0].log_path();
    drop(log);
    let mut bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    bytes[200] ^= 0x40; // inside the second or third batch, under the CRC
    std::fs::write(&path, &bytes).map_err(|e| Error::io("write", &path, e))?;
    let opts = LogOpenOptions {
        recovery_point: Some(10),
        ..Default::default()
    };
    let Err(err) = open(dir.path(), small_config(), &clock, opts.clone()) else {
        panic!("damage below the recovery point must not open");
    };
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(".log"), "{err}");
    let log = open(
        dir.path(),
        small_config(),
        &clock,
        LogOpenOptions {
            repair: true,
            ..opts
        },
    )?;
    let cut = &log.recovery_report().cuts[0];
    assert!(cut.repaired);
    assert!(log.end_offset() < 10);
    Ok(())
}

#[test]
fn retention_by_size_and_time_deletes_whole_old_segments() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(10_000);
    let config = LogConfig {
        retention_bytes: 8192,
        retention_ms: 60_000,
        ..small_config()
    };
    let log = open(dir.path(), config, &clock, LogOpenOptions::default())?;
    for i in 0..100 {
        log.append(&records(i, 1, 200), &AppendOptions::default())?;
    }
    let segments = log.segment_count();
    let report = log.apply_retention()?;
    assert!(report.segments_deleted > 0);
    assert!(log.size_bytes() <= 8192 + 4096);
    assert_eq!(
        log.segment_count(),
        segments - report.segments_deleted as usize
    );
    assert_eq!(log.log_start_offset(), log.segment_base_offsets()[0]);
    assert!(matches!(
        log.read(0, 100),
        Err(Error::OffsetOutOfRange { .. })
    ));
    // Record timestamps are ~1_000..1_100: far older than 60 s at clock 10_000 + 60_000.
    clock.advance(60_001);
    log.apply_retention()?;
    assert_eq!(log.segment_count(), 1, "only the active segment stays");
    Ok(())
}

#[test]
fn delete_records_before_and_truncate_to() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(10_000);
    let log = open(
        dir.path(),
        small_config(),
        &clock,
        LogOpenOptions::default(),
    )?;
    for i in 0..50 {
        log.append(&records(i * 2, 2, 60), &AppendOptions::default())?;
    }
    log.delete_records_before(31)?;
    assert_eq!(log.log_start_offset(), 31);
    assert!(matches!(
        log.read(30, 100),
        Err(Error::OffsetOutOfRange {
            requested: 30,
            log_start: 31,
            ..
        })
    ));
    assert_eq!(read_all(&log, 31)?.first().map(|r| r.0), Some(31));
    log.truncate_to(61)?;
    assert_eq!(log.end_offset(), 60, "the batch holding 60-61 goes whole");
    let info = log.append(&records(60, 1, 60), &AppendOptions::default())?;
    assert_eq!(info.first_offset, 60);
    assert_eq!(read_all(&log, 31)?.len(), 30);
    Ok(())
}

#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(10_000);
    let log = open(
        dir.path(),
        small_config(),
        &clock,
        LogOpenOptions::default(),
    )?;
    for i in 0..40 {
        log.append(&records(i * 3, 3, 60), &AppendOptions::default())?;
    }
    // Record at offset o has timestamp 1000 + o.
    assert_eq!(log.offset_for_timestamp(1000 + 50)?, Some((50, 1050)));
    assert_eq!(log.offset_for_timestamp(0)?, Some((0, 1000)));
    assert_eq!(log.offset_for_timestamp(5000)?, None);
    Ok(())
}

/// A flipped baseOffset (outside the CRC) in a sealed segment after a clean shutdown: a read
/// of an offset the damaged batch held is `Error::Corrupt`, never an empty "end of log".
#[test]
fn read_of_an_offset_hidden_by_a_damaged_header_is_corrupt() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(10_000);
    let log = open(
        dir.path(),
        small_config(),
        &clock,
        LogOpenOptions::default(),
    )?;
    for i in 0..40 {
        log.append(&records(i * 3, 3, 60), &AppendOptions::default())?;
    }
    let state = log.close()?;
    drop(log);
    let path = dir.path().join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    bytes[0] ^= 0x40; // the first batch's baseOffset, far past the log end
    std::fs::write(&path, &bytes).map_err(|e| Error::io("write", &path, e))?;
    let opts = LogOpenOptions {
        recovery_point: Some(state.recovery_point),
        clean_shutdown: true,
        ..Default::default()
    };
    let log = open(dir.path(), small_config(), &clock, opts)?;
    for offset in [0, 1, 2] {
        let read = log.read(offset, 1);
        assert!(
            matches!(read, Err(Error::Corrupt { .. })),
            "read({offset}) = {:?}",
            read.map(|r| r.batch_count())
        );
    }
    // Past the next index entry, reads go on as before.
    assert_eq!(read_all(&log, 60)?.len(), 60);
    Ok(())
}

/// Every offset index entry pointing at its segment's last indexed batch after a clean
/// shutdown: the timestamp lookup checks the index hit, as reads do, and still finds the
/// right record.
#[test]
fn offset_for_timestamp_survives_a_damaged_offset_index() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(10_000);
    let log = open(
        dir.path(),
        small_config(),
        &clock,
        LogOpenOptions::default(),
    )?;
    for i in 0..40 {
        log.append(&records(i * 3, 3, 60), &AppendOptions::default())?;
    }
    let bases = log.segment_base_offsets();
    let state = log.close()?;
    drop(log);
    for base in bases {
        let path = dir.path().join(format!("{base:020}.index"));
        let mut bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        // Every entry takes the last one's position: a batch start, but too late for all
        // the offsets before it.
        let n = bytes.len() / 8 * 8;
        if n >= 8 {
            let last: [u8; 4] = [bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]];
            for entry in bytes[..n].chunks_exact_mut(8) {
                entry[4..].copy_from_slice(&last);
            }
        }
        std::fs::write(&path, &bytes).map_err(|e| Error::io("write", &path, e))?;
    }
    let opts = LogOpenOptions {
        recovery_point: Some(state.recovery_point),
        clean_shutdown: true,
        ..Default::default()
    };
    let log = open(dir.path(), small_config(), &clock, opts)?;
    for o in [0, 1, 50, 61, 100, 119] {
        assert_eq!(log.offset_for_timestamp(1000 + o)?, Some((o, 1000 + o)));
    }
    Ok(())
}

/// The last batch of a cleanly closed segment gets a baseOffset below the segment's base
/// (outside the CRC; found by the `recovery` fuzz target). A clean open walks the tail's
/// headers to find the log end: it must not take that end from the damaged header (it made
/// the log start and end negative, and the next append unreadable).
#[test]
fn clean_open_refuses_a_tail_header_with_offsets_out_of_line() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(10_000);
    let log = open(
        dir.path(),
        small_config(),
        &clock,
        LogOpenOptions::default(),
    )?;
    let mut last_len = 0;
    for i in 0..5 {
        last_len = log
            .append(&records(i * 3, 3, 60), &AppendOptions::default())?
            .size;
    }
    let state = log.close()?;
    drop(log);
    let path = dir.path().join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    let at = bytes.len() - last_len as usize;
    bytes[at..at + 8].copy_from_slice(&(-30i64).to_be_bytes());
    std::fs::write(&path, &bytes).map_err(|e| Error::io("write", &path, e))?;
    let opts = LogOpenOptions {
        recovery_point: Some(state.recovery_point),
        clean_shutdown: true,
        ..Default::default()
    };
    match open(dir.path(), small_config(), &clock, opts) {
        Err(Error::Corrupt { .. }) => {}
        Ok(log) => panic!(
            "opened with offsets [{}, {})",
            log.log_start_offset(),
            log.end_offset()
        ),
        Err(e) => panic!("{e}"),
    }
    let repair = LogOpenOptions {
        recovery_point: Some(state.recovery_point),
        clean_shutdown: true,
        repair: true,
        ..Default::default()
    };
    let log = open(dir.path(), small_config(), &clock, repair)?;
    assert_eq!((log.log_start_offset(), log.end_offset()), (0, 12));
    Ok(())
}

/// As above, for the batch the last offset index entry points at, its baseOffset moved far
/// forward: the clean open's walk starts one entry earlier, so that batch is checked too.
#[test]
fn clean_open_checks_the_batch_at_the_last_index_entry() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(10_000);
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..small_config()
    };
    let log = open(
        dir.path(),
        config.clone(),
        &clock,
        LogOpenOptions::default(),
    )?;
    for i in 0..30 {
        log.append(&records(i * 3, 3, 60), &AppendOptions::default())?;
    }
    let state = log.close()?;
    drop(log);
    let index = dir.path().join(format!("{:020}.index", 0));
    let entries = std::fs::read(&index).map_err(|e| Error::io("read", &index, e))?;
    assert!(entries.len() >= 16, "two index entries at least");
    let n = entries.len();
    let position = u32::from_be_bytes([
        entries[n - 4],
        entries[n - 3],
        entries[n - 2],
        entries[n - 1],
    ]) as usize;
    let path = dir.path().join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    let base = i64::from_be_bytes(bytes[position..position + 8].try_into().unwrap_or_default());
    bytes[position..position + 8].copy_from_slice(&(base + 1_000_000).to_be_bytes());
    std::fs::write(&path, &bytes).map_err(|e| Error::io("write", &path, e))?;
    let opts = LogOpenOptions {
        recovery_point: Some(state.recovery_point),
        clean_shutdown: true,
        ..Default::default()
    };
    match open(dir.path(), config, &clock, opts) {
        Err(Error::Corrupt { .. }) => {}
        Ok(log) => panic!("opened with log end {}", log.end_offset()),
        Err(e) => panic!("{e}"),
    }
    Ok(())
}

/// A batch in the middle of a cleanly closed segment gets its baseOffset moved forward
/// (outside the CRC; found by the `recovery` fuzz target). A read running over it returns
/// `Error::Corrupt`, never its records at offsets they never had.
#[test]
fn a_read_refuses_a_batch_out_of_line() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(10_000);
    let log = open(
        dir.path(),
        small_config(),
        &clock,
        LogOpenOptions::default(),
    )?;
    let mut sizes = Vec::new();
    for i in 0..6 {
        sizes.push(
            log.append(&records(i * 3, 3, 60), &AppendOptions::default())?
                .size,
        );
    }
    let state = log.close()?;
    drop(log);
    // The third batch (offsets 6..9) claims to start at 16.
    let at = (sizes[0] + sizes[1]) as usize;
    let path = dir.path().join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    bytes[at..at + 8].copy_from_slice(&16i64.to_be_bytes());
    std::fs::write(&path, &bytes).map_err(|e| Error::io("write", &path, e))?;
    let opts = LogOpenOptions {
        recovery_point: Some(state.recovery_point),
        clean_shutdown: true,
        ..Default::default()
    };
    let log = open(dir.path(), small_config(), &clock, opts)?;
    // A budget that ends with the damaged batch: no later batch shows the step back.
    let read = log.read(0, at + sizes[2] as usize);
    assert!(
        matches!(read, Err(Error::Corrupt { .. })),
        "read(0) = {:?}",
        read.map(|r| r
            .records()
            .filter_map(|r| r.ok())
            .map(|r| r.offset())
            .collect::<Vec<_>>())
    );
    Ok(())
}

#[test]
fn read_raw_copies_whole_batches_by_kernel() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(10_000);
    let log = open(
        dir.path(),
        LogConfig::default(),
        &clock,
        LogOpenOptions::default(),
    )?;
    for i in 0..10 {
        log.append(
            &records(i, 1, 100),
            &AppendOptions::with_compression(Compression::Lz4),
        )?;
    }
    let slice = log.read_raw(3, 1 << 20)?;
    let out_path = dir.path().join("out.bin");
    let out = std::fs::File::create(&out_path).map_err(|e| Error::io("create", &out_path, e))?;
    assert_eq!(slice.copy_to(&out)?, slice.len());
    let copied = std::fs::read(&out_path).map_err(|e| Error::io("read", &out_path, e))?;
    assert_eq!(copied, slice.to_vec()?);
    assert_eq!(copied, log.read(3, 1 << 20)?.bytes());
    // Through a pipe (sendfile), and through Read.
    let mut via_read = Vec::new();
    std::io::Read::read_to_end(&mut log.read_raw(3, 1 << 20)?, &mut via_read)
        .map_err(|e| Error::io("read", "slice", e))?;
    assert_eq!(via_read, copied);
    Ok(())
}

#[test]
fn wait_for_wakes_on_append() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let log = Arc::new(Log::open(
        dir.path(),
        LogConfig::default(),
        LogOpenOptions::default(),
    )?);
    assert!(!log.wait_for(0, Duration::from_millis(10)));
    let l2 = Arc::clone(&log);
    let t = std::thread::spawn(move || l2.wait_for(0, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(20));
    log.append(&records(0, 1, 10), &AppendOptions::default())?;
    assert!(t.join().unwrap_or(false));
    Ok(())
}

#[test]
fn limits_and_log_append_time() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(777_000);
    let config = LogConfig {
        max_message_bytes: 500,
        message_timestamp_type: TimestampType::LogAppendTime,
        ..small_config()
    };
    let log = open(dir.path(), config, &clock, LogOpenOptions::default())?;
    assert!(matches!(
        log.append(&records(0, 10, 100), &AppendOptions::default()),
        Err(Error::RecordTooLarge { max: 500, .. })
    ));
    let info = log.append(&records(0, 2, 10), &AppendOptions::default())?;
    assert_eq!(info.append_time, 777_000);
    // A pre-built CreateTime batch is stamped LogAppendTime in a copy of its header; the
    // new CRC covers the records section written from the caller's buffer.
    for codec in [Compression::None, Compression::Lz4] {
        let opts = crate::record::BatchOptions {
            compression: codec,
            ..Default::default()
        };
        let batch = crate::record::encode_batch(opts, &records(2, 3, 10))?;
        let before = batch.clone();
        clock.advance(5);
        let info = log.append_batch(&batch, Validation::Shallow)?;
        assert_eq!(batch, before, "the caller's bytes are not modified");
        assert_eq!(info.append_time, crate::config::Clock::now_ms(&clock));
        assert_eq!(info.size as usize, batch.len());
    }
    let r = log.read(0, 10_000)?;
    let mut times = Vec::new();
    for b in r.batches() {
        // Parsing from the log's bytes checks the restamped CRC.
        crate::record::RecordBatch::parse(b.as_bytes())?;
    }
    for rec in r.records() {
        times.push(rec?.timestamp());
    }
    assert_eq!(
        times,
        [777_000, 777_000, 777_005, 777_005, 777_005, 777_010, 777_010, 777_010]
    );
    Ok(())
}

#[test]
fn index_entries_follow_kafkas_rule() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(10_000);
    let config = LogConfig {
        index_interval_bytes: 4096,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config, &clock, LogOpenOptions::default())?;
    let mut positions = Vec::new();
    let mut pos = 0u64;
    for i in 0..60 {
        let info = log.append(&records(i, 1, 300), &AppendOptions::default())?;
        positions.push((info.last_offset, pos, info.size));
        pos += u64::from(info.size);
    }
    // Model Kafka's LogSegment.append: an entry when bytes since the last entry > 4096,
    // checked before adding the batch.
    let mut want = Vec::new();
    let mut since = 0u64;
    for &(last, position, size) in &positions {
        if since > 4096 {
            want.push((last, position as u32));
            since = 0;
        }
        since += u64::from(size);
    }
    let got: Vec<_> = log.segments()[0]
        .offset_index()
        .entries()
        .iter()
        .map(|e| (e.offset, e.position))
        .collect();
    assert_eq!(got, want);
    Ok(())
}

#[test]
fn a_reused_read_result_holds_only_the_latest_read() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
    let clock = ManualClock::new(1_000);
    let log = open(
        dir.path(),
        small_config(),
        &clock,
        LogOpenOptions::default(),
    )?;
    for i in 0..4 {
        log.append(&records(i * 5, 5, 40), &AppendOptions::default())?;
    }
    let mut out = ReadResult::default();
    log.read_into(0, 1 << 20, Isolation::Appended, &mut out)?;
    let big = out.bytes().len();
    assert_eq!(out.records().count(), 20);
    // A smaller read into the same result: the longer buffer it keeps must not show.
    log.read_into(15, 1, Isolation::Appended, &mut out)?;
    let fresh = log.read(15, 1)?;
    assert!(out.bytes().len() < big);
    assert_eq!(out.bytes(), fresh.bytes());
    let offsets: Vec<i64> = out
        .records()
        .map(|r| r.map(|r| r.offset()))
        .collect::<Result<_>>()?;
    assert_eq!(offsets, [15, 16, 17, 18, 19]);
    // A read at the end leaves it empty.
    log.read_into(20, 1 << 20, Isolation::Appended, &mut out)?;
    assert!(out.is_empty() && out.bytes().is_empty());
    Ok(())
}
