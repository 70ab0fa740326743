//! Whole partition directories written by tidelog's [`Log`] pass an independent check of
//! Kafka's on-disk rules: `kafka_python.py checkdir` (in `tests/interop/`) decodes every batch
//! of every segment with kafka-python (CRC checked), checks that batches and segments are
//! contiguous, recomputes the `.index` and `.timeindex` entries from the batches by Kafka's
//! rules (FORMAT.md section 5) and compares them byte for byte with the trimmed files, and
//! checks `leader-epoch-checkpoint` against the batches' leader epochs (section 7). The
//! record lines it prints must be exactly what was appended.
//!
//! - `each_codec_log_dir_matches_kafka_rules`: per codec, a log of several 16 KiB segments,
//!   with `index.interval.bytes` = 1024, a few hundred batches of 1 B to 10 KiB, and record
//!   timestamps that go backwards (so the time index's running max matters), closed cleanly;
//! - `reopened_log_continues_its_indexes`: closed, reopened after a clean shutdown and
//!   appended to, then reopened as after an unclean one (the active segment is recovered and a
//!   new leader epoch starts) and appended to again: the reopened active segment's indexes
//!   continue by the same rules, with the close-time entries Kafka leaves;
//! - `crash_recovery_rebuilds_and_seals_segments`: dropped without `close`, reopened with a
//!   recovery point in its second segment, appended to and closed: every recovered segment has
//!   Kafka's rebuilt indexes, final time-index entry included, trimmed;
//! - `explicit_rolls_seal_each_segment`: `roll()` between appends, twice in a row, and
//!   right before close (an empty last segment).
//!
//! The Python comes from `TIDELOG_INTEROP_PYTHON`, else `python3`; it needs `kafka-python`,
//! `python-snappy`, `lz4`, `zstandard` and `xxhash`. Without one the tests print
//! `SKIPPED: ...` and pass, unless `TIDELOG_REQUIRE_INTEROP=1`, when they fail.

#[path = "interop/python.rs"]
mod interop_python;
use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use tidelog::config::LogConfig;
use tidelog::log::{AppendOptions, CloseState, Log, LogOpenOptions};
use tidelog::record::{Header, Record};
use tidelog::Compression;

type TestResult<T = ()> = Result<T, Box<dyn Error>>;

/// A test failure whose `Debug` is its plain text: the test harness prints a returned error
/// with `{:?}`, which would otherwise quote it and escape the report's newlines.
struct Failure(String);

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Failure {}

fn fail(msg: impl Into<String>) -> Box<dyn Error> {
    Box::new(Failure(msg.into()))
}

/// `index.interval.bytes` of every log here, and the `INTERVAL` handed to `checkdir`.
const INDEX_INTERVAL_BYTES: u32 = 1024;

// ---------------------------------------------------------------------------------------
// Finding and running the Python side (as in `interop_kafka_python.rs`).

/// The Python to use, or `None` (after printing why) if the check is to be skipped.
fn python() -> TestResult<Option<&'static Path>> {
    interop_python::python().map_err(fail)
}

use interop_python::script;

/// A reopen the checker must know about: the log end offset then, and how it was reopened.
#[derive(Debug, Clone, Copy)]
enum Reopen {
    /// Closed cleanly and reopened as is: the active segment keeps its close-time entry.
    Closed(i64),
    /// Reopened after an unclean shutdown: the active segment was recovered there.
    Recovered(i64),
}

/// What `checkdir` counted (its `summary` line).
#[derive(Debug, Default)]
struct Summary {
    segments: u64,
    batches: u64,
    index_entries: u64,
    time_index_entries: u64,
    reopen_entries: u64,
    epochs: u64,
}

/// Runs `checkdir` on `dir`; returns its record lines and counts, or its failures.
fn checkdir(python: &Path, dir: &Path, reopens: &[Reopen]) -> TestResult<(String, Summary)> {
    let mut cmd = Command::new(python);
    cmd.arg(script())
        .arg("checkdir")
        .arg(dir)
        .arg(INDEX_INTERVAL_BYTES.to_string());
    for r in reopens {
        match r {
            Reopen::Closed(at) => cmd.arg("--closed-at").arg(at.to_string()),
            Reopen::Recovered(at) => cmd.arg("--recovered-at").arg(at.to_string()),
        };
    }
    let out = cmd
        .output()
        .map_err(|e| fail(format!("cannot run {}: {e}", python.display())))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(fail(format!(
            "kafka_python.py checkdir {} failed ({}):\n{stderr}",
            dir.display(),
            out.status
        )));
    }
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("summary "))
        .ok_or_else(|| fail(format!("checkdir printed no summary:\n{stderr}")))?;
    let mut summary = Summary::default();
    for field in line.split_whitespace() {
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| fail(format!("summary field {field:?}")))?;
        let value: u64 = value.parse()?;
        match key {
            "segments" => summary.segments = value,
            "batches" => summary.batches = value,
            "index_entries" => summary.index_entries = value,
            "time_index_entries" => summary.time_index_entries = value,
            "reopen_entries" => summary.reopen_entries = value,
            "epochs" => summary.epochs = value,
            _ => {}
        }
    }
    let lines = String::from_utf8(out.stdout).map_err(|e| fail(format!("checkdir output: {e}")))?;
    Ok((lines, summary))
}

// ---------------------------------------------------------------------------------------
// The canonical text form (the script's docstring defines it).

fn fmt_bytes(b: Option<&[u8]>) -> String {
    match b {
        None => "-".to_owned(),
        Some(b) => {
            let mut s = String::with_capacity(1 + 2 * b.len());
            s.push('x');
            for byte in b {
                let _ = write!(s, "{byte:02x}");
            }
            s
        }
    }
}

/// One record line from the inputs a record was built from.
fn record_line(offset: i64, timestamp: i64, r: &Record) -> String {
    let mut line = format!(
        "{offset} {timestamp} {} {}",
        fmt_bytes(r.key.as_deref()),
        fmt_bytes(r.value.as_deref())
    );
    for h in &r.headers {
        let _ = write!(
            line,
            " {}={}",
            fmt_bytes(Some(h.key.as_bytes())),
            fmt_bytes(h.value.as_deref())
        );
    }
    line
}

/// Compares two canonical texts line by line; on a difference, the error shows the first
/// mismatching line as a unified-diff hunk with two lines of context.
fn compare(what: &str, expected: &str, got: &str) -> TestResult {
    let e: Vec<&str> = expected.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    let Some(i) = (0..e.len().max(g.len())).find(|&i| e.get(i) != g.get(i)) else {
        return Ok(());
    };
    let mut msg = format!(
        "{what}: outputs differ ({} lines expected, {} got)\n--- expected (appended)\n\
         +++ got (kafka-python)\n@@ line {} @@\n",
        e.len(),
        g.len(),
        i + 1
    );
    for line in &e[i.saturating_sub(2)..i] {
        let _ = writeln!(msg, " {line}");
    }
    let _ = writeln!(msg, "-{}", e.get(i).copied().unwrap_or("<end of output>"));
    let _ = writeln!(msg, "+{}", g.get(i).copied().unwrap_or("<end of output>"));
    Err(fail(msg))
}

// ---------------------------------------------------------------------------------------
// Writing logs.

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 16 * 1024,
        // A segment read back from disk ages from its first batch's timestamp (as in Kafka),
        // and the records here are from 2023: without this, a reopened log would roll on its
        // first append instead of continuing its active segment.
        segment_ms: 1 << 42,
        index_interval_bytes: INDEX_INTERVAL_BYTES,
        retention_ms: -1,
        ..Default::default()
    }
}

/// Deterministic batches of varied sizes (one small record to about 10 KiB, most under
/// 1 KiB, compressible and not), keys, headers and timestamps. Batch timestamps mostly rise,
/// but every fifth batch is older than everything before it and some batches hold negative
/// deltas, so the running max of the time index differs from the batches' own max
/// timestamps; a few batches have no timestamps at all (-1).
struct Batches {
    state: u64,
    next_batch: u64,
}

impl Batches {
    fn new(seed: u64) -> Self {
        Batches {
            state: seed | 1,
            next_batch: 0,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// The timestamps of batch `j` are about this.
    fn t0(j: u64) -> i64 {
        1_700_000_000_000i64 + j as i64 * 1_000
    }

    /// Three batches that leave the time index's running max above its last entry, so that
    /// a close (or a recovery) right after them writes an entry of its own:
    /// - one record of 2000 random bytes (more than `index.interval.bytes` whatever the
    ///   codec), with an old timestamp;
    /// - a tiny record, old too: its batch starts over 1024 bytes after any earlier batch,
    ///   so it is indexed (or it starts a new segment);
    /// - a tiny record newer than everything so far: its batch starts a few bytes after the
    ///   indexed one (or at position 0), so it is never indexed and only the close-time
    ///   entry holds its timestamp.
    fn tail(&mut self) -> [Vec<Record>; 3] {
        let j = self.next_batch;
        self.next_batch += 3;
        let old = Self::t0(j) - 900_000;
        let big: Vec<u8> = (0..2_000).map(|_| self.next_u64() as u8).collect();
        [
            vec![Record::new(old, big)],
            vec![Record::new(old + 1, b"tail".to_vec()).with_key("t1")],
            vec![Record::new(Self::t0(j + 2), b"tail".to_vec()).with_key("t2")],
        ]
    }

    fn batch(&mut self) -> Vec<Record> {
        let j = self.next_batch;
        self.next_batch += 1;
        let t0 = Self::t0(j);
        let count = match self.below(10) {
            0 => 1,
            1 => 10 + self.below(10),
            _ => 1 + self.below(4),
        };
        let no_timestamps = j % 41 == 17;
        let back_in_time = j % 5 == 3;
        (0..count)
            .map(|i| {
                let len = match self.below(16) {
                    0 => 0,
                    1 => 1_000 + self.below(1_500),
                    2..=4 => 100 + self.below(300),
                    _ => self.below(60),
                } as usize;
                let value = if self.below(2) == 0 {
                    (0..len).map(|_| self.next_u64() as u8).collect()
                } else {
                    format!("batch {j} record {i} ")
                        .bytes()
                        .cycle()
                        .take(len)
                        .collect::<Vec<u8>>()
                };
                let timestamp = if no_timestamps {
                    -1
                } else if back_in_time {
                    t0 - 600_000 - self.below(1_000) as i64
                } else {
                    // Within a batch, some records older than the first: negative deltas.
                    t0 + self.below(900) as i64 - 300
                };
                let mut r = Record::new(timestamp, value);
                match self.below(3) {
                    0 => {}
                    1 => r.key = Some(Vec::new()),
                    _ => r = r.with_key(format!("key-{}", self.below(50))),
                }
                if self.below(4) == 0 {
                    r.headers.push(Header::new("h", vec![i as u8; 3]));
                    r.headers.push(Header {
                        key: "h".into(),
                        value: None,
                    });
                }
                r
            })
            .collect()
    }
}

/// Appends `records` as one batch and adds their record lines to `expected`.
fn append(log: &Log, records: &[Record], codec: Compression, expected: &mut String) -> TestResult {
    let end = log.end_offset();
    let info = log.append(records, &AppendOptions::with_compression(codec))?;
    if info.first_offset != end {
        return Err(fail(format!(
            "append at log end {end} got first offset {}",
            info.first_offset
        )));
    }
    for (k, r) in records.iter().enumerate() {
        let _ = writeln!(expected, "{}", record_line(end + k as i64, r.timestamp, r));
    }
    Ok(())
}

/// Appends `n` batches from `gen` with `codecs` in turn.
fn append_batches(
    log: &Log,
    gen: &mut Batches,
    n: usize,
    codecs: &[Compression],
    expected: &mut String,
) -> TestResult {
    for i in 0..n {
        append(log, &gen.batch(), codecs[i % codecs.len()], expected)?;
    }
    Ok(())
}

/// Prepares the log for a close or crash that the test reopens from: appends batches until
/// the active segment is at most a third full (so that, reopened, it keeps growing and
/// indexing), then [`Batches::tail`] (so that the close leaves an entry of its own).
fn append_before_reopen(
    log: &Log,
    gen: &mut Batches,
    codecs: &[Compression],
    expected: &mut String,
) -> TestResult {
    let limit = config().segment_bytes / 3;
    for i in 0.. {
        let base = log
            .segment_base_offsets()
            .last()
            .copied()
            .ok_or_else(|| fail("no segments"))?;
        let size = std::fs::metadata(log.dir().join(format!("{base:020}.log")))?.len();
        if size <= limit {
            break;
        }
        append(log, &gen.batch(), codecs[i % codecs.len()], expected)?;
    }
    for (i, records) in gen.tail().iter().enumerate() {
        append(log, records, codecs[i % codecs.len()], expected)?;
    }
    Ok(())
}

fn enabled_codecs() -> Vec<Compression> {
    let (on, off): (Vec<_>, Vec<_>) = Compression::ALL.into_iter().partition(|c| c.is_enabled());
    for c in off {
        println!(
            "note: codec {} is disabled in this build; not checked",
            c.name()
        );
    }
    on
}

/// Opens `dir` as the owner would after `close` returned `state` (clean) or after a crash.
fn reopen(dir: &Path, state: CloseState, clean: bool) -> TestResult<Log> {
    let log = Log::open(
        dir,
        config(),
        LogOpenOptions {
            recovery_point: Some(state.recovery_point),
            log_start_offset: Some(state.log_start_offset),
            clean_shutdown: clean,
            ..Default::default()
        },
    )?;
    Ok(log)
}

/// True if the log's active segment already holds data (so appends continue a segment that
/// was read back from disk).
fn active_segment_has_data(log: &Log) -> bool {
    log.segment_base_offsets()
        .last()
        .is_some_and(|&base| base < log.end_offset())
}

/// The offsets of the `.index` entries of the segment at `base`, read straight from the file.
fn index_offsets(dir: &Path, base: i64) -> TestResult<Vec<i64>> {
    let bytes = std::fs::read(dir.join(format!("{base:020}.index")))?;
    Ok(bytes
        .chunks_exact(8)
        .map(|e| base + i64::from(i32::from_be_bytes([e[0], e[1], e[2], e[3]])))
        .collect())
}

/// Fails unless the segment at `base` got offset index entries past `reopened_at`: its
/// indexes really continued after the reopen.
fn check_continued(dir: &Path, base: i64, reopened_at: i64, what: &str) -> TestResult {
    let offsets = index_offsets(dir, base)?;
    if offsets.iter().any(|&o| o >= reopened_at) {
        Ok(())
    } else {
        Err(fail(format!(
            "{what}: segment {base} has no index entry past the reopen at {reopened_at} \
             ({offsets:?}); the test data no longer exercises a continued index"
        )))
    }
}

// ---------------------------------------------------------------------------------------
// The tests.

#[test]
fn each_codec_log_dir_matches_kafka_rules() -> TestResult {
    let Some(python) = python()? else {
        return Ok(());
    };
    let root = tempfile::tempdir()?;
    for codec in enabled_codecs() {
        let dir = root.path().join(format!("orders-{}", codec.id()));
        let log = Log::open(&dir, config(), LogOpenOptions::default())?;
        let mut expected = String::new();
        append_batches(
            &log,
            &mut Batches::new(7 + u64::from(codec.id())),
            300,
            &[codec],
            &mut expected,
        )?;
        let segments = log.segment_count() as u64;
        log.close()?;
        drop(log);
        let (got, summary) = checkdir(python, &dir, &[])?;
        compare(&format!("codec {}", codec.name()), &expected, &got)?;
        // The data really exercised what is checked.
        assert_eq!(summary.segments, segments);
        assert!(segments >= 3, "{}: only {segments} segments", codec.name());
        assert_eq!(summary.batches, 300);
        assert!(
            summary.index_entries >= 3 * segments && summary.time_index_entries >= segments,
            "{}: {summary:?}",
            codec.name()
        );
        assert_eq!(summary.epochs, 1);
        println!("{}: {summary:?} agree with kafka-python", codec.name());
    }
    Ok(())
}

#[test]
fn reopened_log_continues_its_indexes() -> TestResult {
    let Some(python) = python()? else {
        return Ok(());
    };
    let root = tempfile::tempdir()?;
    let codecs = enabled_codecs();
    // Each codec in turn as the first of the rotation, so each writes some of every phase.
    for first in 0..codecs.len() {
        let rotation: Vec<Compression> = codecs
            .iter()
            .cycle()
            .skip(first)
            .take(codecs.len())
            .copied()
            .collect();
        let name = rotation[0].name();
        let dir = root.path().join(format!("reopened-{first}"));
        let mut gen = Batches::new(1_000 + first as u64);
        let mut expected = String::new();

        // 1. Written, closed cleanly.
        let log = Log::open(&dir, config(), LogOpenOptions::default())?;
        append_batches(&log, &mut gen, 70 + 7 * first, &rotation, &mut expected)?;
        append_before_reopen(&log, &mut gen, &rotation, &mut expected)?;
        let closed = log.close()?;
        let closed_at = log.end_offset();
        drop(log);
        let mut continued = Vec::new();

        // 2. Reopened after the clean shutdown: nothing is scanned, the active segment's
        //    indexes continue where they stopped.
        let log = reopen(&dir, closed, true)?;
        assert!(log.recovery_report().clean);
        assert!(
            active_segment_has_data(&log),
            "{name}: reopened at a segment boundary"
        );
        assert_eq!(log.leader_epoch(), 0);
        continued.extend(log.segment_base_offsets().last().map(|&b| (b, closed_at)));
        append_batches(&log, &mut gen, 90, &rotation, &mut expected)?;
        append_before_reopen(&log, &mut gen, &rotation, &mut expected)?;
        let closed_again = log.close()?;
        let recovered_at = log.end_offset();
        drop(log);

        // 3. Reopened as after a crash at the same point (the owner lost the clean-shutdown
        //    marker): the active segment is recovered
        //    (indexes rebuilt from its batches) and a new leader epoch starts.
        let log = reopen(&dir, closed_again, false)?;
        assert!(
            active_segment_has_data(&log),
            "{name}: recovered at a segment boundary"
        );
        assert_eq!(log.recovery_report().segments_scanned, 1);
        assert_eq!(log.leader_epoch(), 1);
        continued.extend(
            log.segment_base_offsets()
                .last()
                .map(|&b| (b, recovered_at)),
        );
        append_batches(&log, &mut gen, 90, &rotation, &mut expected)?;
        log.close()?;
        drop(log);

        let reopens = [Reopen::Closed(closed_at), Reopen::Recovered(recovered_at)];
        let (got, summary) = checkdir(python, &dir, &reopens)?;
        compare(&format!("reopened, {name} first"), &expected, &got)?;
        assert_eq!(summary.epochs, 2, "{name}: {summary:?}");
        // Both reopens left a time-index entry the rule alone would not have written, and
        // both reopened segments kept growing their offset index.
        assert_eq!(summary.reopen_entries, 2, "{name}: {summary:?}");
        for (base, at) in continued {
            check_continued(&dir, base, at, name)?;
        }
        println!("reopened, {name} first: {summary:?} agree with kafka-python");
    }
    Ok(())
}

#[test]
fn crash_recovery_rebuilds_and_seals_segments() -> TestResult {
    let Some(python) = python()? else {
        return Ok(());
    };
    let root = tempfile::tempdir()?;
    for codec in enabled_codecs() {
        let dir = root.path().join(format!("crashed-{}", codec.id()));
        let mut gen = Batches::new(555 + u64::from(codec.id()));
        let mut expected = String::new();
        let log = Log::open(&dir, config(), LogOpenOptions::default())?;
        append_batches(&log, &mut gen, 150, &[codec], &mut expected)?;
        append_before_reopen(&log, &mut gen, &[codec], &mut expected)?;
        let bases = log.segment_base_offsets();
        assert!(bases.len() >= 4, "{}: segments {bases:?}", codec.name());
        let crashed_at = log.end_offset();
        // Dropped without `close`: a crash as far as recovery is concerned. The active
        // segment's indexes are left untrimmed and without their final entry.
        drop(log);

        // Recovery from a recovery point inside the second segment: that segment and every
        // later one are scanned and their indexes rebuilt, each ending (as Kafka's
        // `LogSegment.recover`) with the close-style time-index entry, trimmed.
        let log = Log::open(
            &dir,
            config(),
            LogOpenOptions {
                recovery_point: Some(bases[1] + 1),
                ..Default::default()
            },
        )?;
        let report = log.recovery_report();
        assert_eq!(report.segments_scanned as usize, bases.len() - 1);
        assert!(report.cuts.is_empty(), "{}: {report:?}", codec.name());
        assert!(active_segment_has_data(&log));
        assert_eq!(log.leader_epoch(), 1);
        let active = bases.last().copied().unwrap_or_default();
        append_batches(&log, &mut gen, 40, &[codec], &mut expected)?;
        log.close()?;
        drop(log);

        let (got, summary) = checkdir(python, &dir, &[Reopen::Recovered(crashed_at)])?;
        compare(&format!("crashed, codec {}", codec.name()), &expected, &got)?;
        assert_eq!(summary.epochs, 2, "{}: {summary:?}", codec.name());
        assert_eq!(summary.reopen_entries, 1, "{}: {summary:?}", codec.name());
        check_continued(&dir, active, crashed_at, codec.name())?;
        println!(
            "crashed, codec {}: {summary:?} agree with kafka-python",
            codec.name()
        );
    }
    Ok(())
}

#[test]
fn explicit_rolls_seal_each_segment() -> TestResult {
    let Some(python) = python()? else {
        return Ok(());
    };
    let root = tempfile::tempdir()?;
    for codec in enabled_codecs() {
        let dir = root.path().join(format!("rolled-{}", codec.id()));
        let log = Log::open(&dir, config(), LogOpenOptions::default())?;
        let mut gen = Batches::new(99 + u64::from(codec.id()));
        let mut expected = String::new();
        // A roll of an empty log re-creates the same empty segment.
        log.roll()?;
        assert_eq!(log.segment_base_offsets(), [0]);
        let mut rolls = 0;
        for (i, n) in [1usize, 3, 12, 2, 25, 0, 9, 40, 5].into_iter().enumerate() {
            append_batches(&log, &mut gen, n, &[codec], &mut expected)?;
            log.roll()?;
            rolls += usize::from(n > 0);
            if i % 3 == 1 {
                // A second roll in a row: the active segment is empty, nothing changes.
                let before = log.segment_base_offsets();
                log.roll()?;
                assert_eq!(log.segment_base_offsets(), before);
            }
        }
        // The log is closed with an empty active segment after the last roll.
        let bases = log.segment_base_offsets();
        assert_eq!(bases.last().copied(), Some(log.end_offset()));
        log.close()?;
        drop(log);
        let (got, summary) = checkdir(python, &dir, &[])?;
        compare(&format!("rolled, codec {}", codec.name()), &expected, &got)?;
        assert_eq!(summary.segments, bases.len() as u64);
        assert!(
            summary.segments > rolls as u64,
            "{}: {summary:?}",
            codec.name()
        );
        println!(
            "rolled, codec {}: {summary:?} agree with kafka-python",
            codec.name()
        );
    }
    Ok(())
}
