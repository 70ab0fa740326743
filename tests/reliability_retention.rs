//! Retention against a model (R24): random record timestamps and batch sizes, time and size
//! retention driven by a `ManualClock`, explicit rolls, and passes of `apply_retention`.
//!
//! The model knows every batch (offsets, bytes, newest timestamp) and, before each pass,
//! the log's segment boundaries; from those alone it computes which segments Kafka's rule
//! deletes (oldest first: newest record older than `retention.ms`, then while the log minus
//! the segment is still at least `retention.bytes`; the active segment too once it holds
//! data, after a roll that leaves the log an empty segment at its end, never an empty active
//! segment). The log must delete exactly those: whole segments, a prefix (or all of them and
//! one fresh segment at the old end), the log start only rising; reads below
//! the start fail with `Error::OffsetOutOfRange`; every batch from the start on reads back
//! byte for byte. Prints one JSON line of counts.
//!
//! `r24_retention_crash` loses power in the middle of retention on `SimFs`: after every
//! mutating call of a pass (segment renames to `.deleted` and removals, the leader-epoch
//! checkpoint, `delete_records_before`, the store's log-start checkpoint, flushes), with
//! every image variant (a)-(f). Reopened with the checkpoints on the image, the log start
//! is at least the durable one (last checkpointed, or the first segment once a flush made
//! the removals durable) and at most the highest the log reached; nothing acknowledged and
//! synced at or above it is lost (I1), the batches from it on are a hole-free run of whole
//! segments' batches (I2, I3), and reads below it are refused.

#![cfg(feature = "test-util")]

mod reliability_support;

use std::cell::RefCell;
use std::sync::Arc;

use proptest::prelude::*;
use reliability_support::*;
use tidelog::config::{LogConfig, ManualClock};
use tidelog::log::{Log, LogOpenOptions, Validation};
use tidelog::record::{encode_batch, BatchOptions, Record};
use tidelog::Error;

#[derive(Debug, Clone)]
enum Op {
    /// Records with timestamps `now - back[i]` and values of `sizes[i]` bytes.
    Append {
        back: Vec<u16>,
        sizes: Vec<u16>,
    },
    Advance(u16),
    Roll,
    Retention,
}

#[derive(Debug, Clone)]
struct Params {
    retention_ms: i64,
    retention_bytes: i64,
    segment_bytes: u64,
}

struct Batch {
    base: i64,
    next: i64,
    bytes: Vec<u8>,
    max_ts: i64,
}

#[derive(Default)]
struct Totals {
    cases: u64,
    passes: u64,
    segments_deleted: u64,
    /// Passes that deleted every segment, the active one after a roll.
    active_deleted: u64,
    reads_below_start: u64,
}

thread_local! {
    static TOTALS: RefCell<Totals> = RefCell::new(Totals::default());
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (prop::collection::vec(0u16..20_000, 1..4), prop::collection::vec(1u16..400, 1..4))
            .prop_map(|(back, sizes)| Op::Append { back, sizes }),
        3 => (0u16..5_000).prop_map(Op::Advance),
        1 => Just(Op::Roll),
        3 => Just(Op::Retention),
    ]
}

fn params() -> impl Strategy<Value = Params> {
    (
        prop_oneof![Just(-1i64), 0i64..30_000],
        prop_oneof![Just(-1i64), 0i64..6_000],
        prop::sample::select(vec![600u64, 1500, 4000]),
    )
        .prop_map(|(retention_ms, retention_bytes, segment_bytes)| Params {
            retention_ms,
            retention_bytes,
            segment_bytes,
        })
}

/// The number of leading segments the model says a pass deletes, given the segment bases.
fn model_deletes(p: &Params, batches: &[Batch], bases: &[i64], start: i64, now: i64) -> usize {
    let seg = |k: usize| {
        let lo = bases[k];
        let hi = bases.get(k + 1).copied().unwrap_or(i64::MAX);
        batches.iter().filter(move |b| b.base >= lo && b.base < hi)
    };
    let size = |k: usize| seg(k).map(|b| b.bytes.len() as u64).sum::<u64>();
    // Kafka's rule: the active segment counts once it holds data (the log rolls first).
    let deletable = match bases.len().checked_sub(1) {
        Some(last) if size(last) > 0 => bases.len(),
        _ => bases.len().saturating_sub(1),
    };
    let mut n = 0;
    if p.retention_ms >= 0 {
        while n < deletable {
            let newest = seg(n).map(|b| b.max_ts).max();
            match newest {
                Some(t) if now - t > p.retention_ms => n += 1,
                _ => break,
            }
        }
    }
    if p.retention_bytes >= 0 {
        let limit = p.retention_bytes as u64;
        let mut total: u64 = (n..bases.len()).map(size).sum();
        while n < deletable && total > limit && total - size(n) >= limit {
            total -= size(n);
            n += 1;
        }
    }
    while n + 1 < bases.len() && bases[n + 1] <= start {
        n += 1;
    }
    n
}

fn run(p: &Params, ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = scratch_dir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let clock = ManualClock::new(1_000_000);
    let config = LogConfig {
        segment_bytes: p.segment_bytes,
        index_interval_bytes: 256,
        retention_ms: p.retention_ms,
        retention_bytes: p.retention_bytes,
        ..Default::default()
    };
    let opts = LogOpenOptions {
        clock: Arc::new(clock.clone()),
        ..Default::default()
    };
    let log: Log = Log::open(dir.path(), config, opts).map_err(fail)?;
    let mut batches: Vec<Batch> = Vec::new();
    let mut start = 0i64;
    let mut appended_since_roll = false;
    let mut totals = Totals::default();
    for op in ops {
        match op {
            Op::Append { back, sizes } => {
                let now = clock_now(&clock);
                let records: Vec<Record> = back
                    .iter()
                    .zip(sizes.iter().cycle())
                    .enumerate()
                    .map(|(i, (&b, &s))| {
                        Record::new(now - i64::from(b), vec![i as u8; usize::from(s)])
                    })
                    .collect();
                let bytes = encode_batch(BatchOptions::default(), &records).map_err(fail)?;
                let info = log
                    .append_batch(&bytes, Validation::Shallow)
                    .map_err(fail)?;
                let max_ts = back.iter().map(|&b| now - i64::from(b)).max().unwrap_or(0);
                prop_assert_eq!(info.first_offset, batches.last().map_or(0, |b| b.next));
                batches.push(Batch {
                    base: info.first_offset,
                    next: info.last_offset + 1,
                    bytes,
                    max_ts,
                });
                appended_since_roll = true;
            }
            Op::Advance(ms) => clock.advance(i64::from(*ms)),
            Op::Roll => {
                // A roll of an empty active segment would make an empty segment, whose age
                // is its creation time rather than a record's: not what this model covers.
                if appended_since_roll {
                    log.roll().map_err(fail)?;
                    appended_since_roll = false;
                }
            }
            Op::Retention => {
                totals.passes += 1;
                let before = log.segment_base_offsets();
                let now = clock_now(&clock);
                let want = model_deletes(p, &batches, &before, start, now);
                let report = log.apply_retention().map_err(fail)?;
                let after = log.segment_base_offsets();
                prop_assert!(!after.is_empty(), "the log was left without a segment");
                if want == before.len() {
                    // Every segment went, the active one after a roll to the log end.
                    let end = batches.last().map_or(0, |b| b.next);
                    prop_assert_eq!(&after[..], &[end][..], "all deleted at now={}", now);
                    appended_since_roll = false;
                    totals.active_deleted += 1;
                } else {
                    prop_assert_eq!(
                        &after[..],
                        &before[before.len() - after.len()..],
                        "retention must delete a prefix of whole segments"
                    );
                    prop_assert_eq!(
                        before.len() - after.len(),
                        want,
                        "segments deleted at now={} (bases before {:?})",
                        now,
                        before
                    );
                }
                prop_assert_eq!(report.segments_deleted as usize, want);
                totals.segments_deleted += want as u64;
                let new_start = log.log_start_offset();
                prop_assert!(
                    new_start >= start,
                    "log start fell: {} -> {}",
                    start,
                    new_start
                );
                prop_assert_eq!(new_start, start.max(after[0]));
                start = new_start;
                if start > 0 {
                    totals.reads_below_start += 1;
                    match log.read(start - 1, 1024) {
                        Err(Error::OffsetOutOfRange { .. }) => {}
                        other => prop_assert!(
                            false,
                            "read below the start {}: {:?}",
                            start,
                            other.map(|r| r.batch_count())
                        ),
                    }
                }
            }
        }
    }
    // Every batch from the start on reads back as appended; the start lies on a boundary.
    let kept: Vec<&Batch> = batches.iter().filter(|b| b.next > start).collect();
    let got = read_raw_batches(&log).map_err(fail)?;
    prop_assert_eq!(got.len(), kept.len());
    for (g, b) in got.iter().zip(&kept) {
        prop_assert!(
            same_batch(g, &b.bytes, b.base),
            "batch at {} changed",
            b.base
        );
    }
    totals.cases = 1;
    TOTALS.with(|t| {
        let mut t = t.borrow_mut();
        t.cases += totals.cases;
        t.passes += totals.passes;
        t.segments_deleted += totals.segments_deleted;
        t.active_deleted += totals.active_deleted;
        t.reads_below_start += totals.reads_below_start;
    });
    Ok(())
}

fn clock_now(clock: &ManualClock) -> i64 {
    use tidelog::config::Clock;
    clock.now_ms()
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// R24: 256 cases of up to 60 operations.
#[test]
fn r24_retention_props() {
    let seed = seed(0x0024_5EED);
    let mut config = proptest::test_runner::Config {
        cases: cases(),
        failure_persistence: None,
        ..Default::default()
    };
    config.rng_algorithm = proptest::test_runner::RngAlgorithm::ChaCha;
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_be_bytes());
    let mut runner = proptest::test_runner::TestRunner::new_with_rng(
        config,
        proptest::test_runner::TestRng::from_seed(
            proptest::test_runner::RngAlgorithm::ChaCha,
            &seed_bytes,
        ),
    );
    let mut report = Report::new("r24_retention_props", seed);
    let result = runner.run(
        &(params(), prop::collection::vec(op(), 1..60)),
        |(p, ops)| run(&p, &ops),
    );
    TOTALS.with(|t| {
        let t = t.borrow();
        report.trials = t.cases;
        report.add("retention_passes", t.passes, false);
        report.add("segments_deleted", t.segments_deleted, false);
        report.add("active_segments_deleted", t.active_deleted, false);
        report.add("reads_below_start_refused", t.reads_below_start, false);
    });
    if let Err(e) = result {
        report.inconsistent_offsets += 1;
        report.note(e.to_string());
    }
    report.finish();
}

/// One operation of a retention pass, as `Store::maintain` drives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PassOp {
    /// `Log::apply_retention`.
    Retention,
    /// `Log::flush`: fsyncs the directory, making the deletions durable.
    Flush,
    /// The store's `log-start-offset-checkpoint` (and, in memory, its recovery point).
    Checkpoint,
    /// `Log::delete_records_before` the middle of the second segment.
    DeleteMid,
    /// `Log::delete_records_before` the base of the third segment.
    DeleteAtBase,
    /// An append (page cache only) and one with `Durability::Sync`.
    Append,
    SyncAppend,
}

/// The passes run after the setup, each with a power loss at every mutating call.
const PASSES: &[&[PassOp]] = {
    use PassOp::*;
    &[
        // `Store::maintain`: retention, then the checkpoints; the directory is synced later.
        &[Retention, Checkpoint, Flush],
        &[Retention, Flush, Checkpoint],
        &[DeleteMid, Checkpoint, Retention, Checkpoint, Flush],
        &[DeleteAtBase, Checkpoint, Retention, Checkpoint, Flush],
        &[
            Append, Retention, Checkpoint, SyncAppend, Retention, Flush, Checkpoint,
        ],
    ]
};

fn crash_dir() -> std::path::PathBuf {
    std::path::PathBuf::from("/data/t-0")
}

fn start_checkpoint() -> tidelog::checkpoint::OffsetCheckpoint {
    tidelog::checkpoint::OffsetCheckpoint::new(
        std::path::Path::new("/data").join(tidelog::checkpoint::LOG_START_OFFSET_CHECKPOINT_FILE),
    )
}

fn crash_config() -> LogConfig {
    LogConfig {
        retention_bytes: 1000,
        ..small_config()
    }
}

/// What a pass did, as its caller saw it.
#[derive(Default)]
struct PassRun {
    oracle: Oracle,
    /// The recovery point the store holds (checkpointed with the log start).
    recovery_point: Option<i64>,
    /// The highest log start known durable: the last log-start checkpoint written, or the
    /// first segment's base after a flush made the deletions durable.
    durable_start: i64,
    /// The highest log start the log reported: nothing at or above it may be removed.
    max_start: i64,
    /// Every segment base the log had.
    bases: std::collections::BTreeSet<i64>,
}

impl PassRun {
    fn observe(&mut self, log: &Log<tidelog::io::SimFs>) {
        let d = log.durable_offset();
        if d > self.oracle.durable {
            self.oracle.durable_prev = self.oracle.durable;
            self.oracle.durable = d;
        }
        self.max_start = self.max_start.max(log.log_start_offset());
        self.oracle.retention_floor = self.max_start;
        self.bases.extend(log.segment_base_offsets());
    }
}

/// Appends one pre-built batch; false on an error.
fn pass_append(
    log: &Log<tidelog::io::SimFs>,
    o: &mut Oracle,
    rng: &mut tidelog::io::SimRng,
    sync: bool,
) -> bool {
    let base = log.end_offset();
    let batch = random_batch(rng, 5_000 + base);
    o.attempted.push(Attempt {
        base,
        bytes: batch.clone(),
        acked: false,
    });
    let durability = if sync {
        tidelog::log::Durability::Sync
    } else {
        tidelog::log::Durability::PageCache
    };
    match log.append_batch_with(&batch, Validation::Shallow, durability) {
        Ok(info) if info.first_offset == base => {
            if let Some(a) = o.attempted.last_mut() {
                a.acked = true;
            }
            true
        }
        Ok(_) => {
            o.offset_violations += 1;
            false
        }
        Err(_) => false,
    }
}

/// Writes the log-start checkpoint as `Store::write_log_start_checkpoint` does: the log
/// start, even when it is the first segment's base.
fn write_start_checkpoint(log: &Log<tidelog::io::SimFs>, sim: &tidelog::io::SimFs) -> bool {
    let entries = [tidelog::checkpoint::OffsetEntry {
        topic: "t".into(),
        partition: 0,
        offset: log.log_start_offset(),
    }];
    start_checkpoint().write(sim, &entries).is_ok()
}

/// The setup (12 batches over several segments, the first 8 flushed, then all), then
/// `ops`, on `sim`; stops at the first error (after a power loss every call fails).
fn run_pass(sim: &tidelog::io::SimFs, ops: &[PassOp], seed: u64) -> PassRun {
    use tidelog::io::Storage;
    let clock = ManualClock::new(1_000_000);
    let mut rng = tidelog::io::SimRng::new(seed);
    let mut r = PassRun {
        recovery_point: Some(0),
        ..Default::default()
    };
    let _ = sim.create_dir_all(&crash_dir());
    let Ok(log) = Log::open_with(
        sim.clone(),
        crash_dir(),
        crash_config(),
        open_options(&clock, None),
    ) else {
        return r;
    };
    let setup_ok = (0..8).all(|_| pass_append(&log, &mut r.oracle, &mut rng, false))
        && log.flush().is_ok()
        && (0..4).all(|_| pass_append(&log, &mut r.oracle, &mut rng, false))
        && log.flush().is_ok()
        && write_start_checkpoint(&log, sim);
    r.observe(&log);
    r.recovery_point = Some(log.recovery_point());
    if !setup_ok {
        return r;
    }
    for &op in ops {
        clock.advance(7);
        let bases = log.segment_base_offsets();
        let ok = match op {
            PassOp::Retention => log.apply_retention().is_ok(),
            PassOp::Flush => {
                let ok = log.flush().is_ok();
                if ok {
                    // The directory is synced: the first segment is durably the first.
                    let first = log.segment_base_offsets().first().copied().unwrap_or(0);
                    r.durable_start = r.durable_start.max(first);
                }
                ok
            }
            PassOp::Checkpoint => {
                let start = log.log_start_offset();
                let ok = write_start_checkpoint(&log, sim);
                if ok {
                    r.durable_start = r.durable_start.max(start);
                    r.recovery_point = Some(log.recovery_point());
                }
                ok
            }
            PassOp::DeleteMid => {
                let target = bases.get(1).map_or(0, |&b| {
                    let next = bases.get(2).copied().unwrap_or(b + 2);
                    b + (next - b) / 2
                });
                log.delete_records_before(target).is_ok()
            }
            PassOp::DeleteAtBase => {
                let target = bases.get(2).copied().unwrap_or(0);
                log.delete_records_before(target).is_ok()
            }
            PassOp::Append => pass_append(&log, &mut r.oracle, &mut rng, false),
            PassOp::SyncAppend => pass_append(&log, &mut r.oracle, &mut rng, true),
        };
        r.observe(&log);
        if !ok {
            break;
        }
    }
    r
}

/// Checks the image `img` of a pass that lost power: reopened with the checkpoints on the
/// image (the recovery point as the store held it), the log meets I1-I7, its start is at
/// least what was durable and at most what the log reached, whole segments only are gone,
/// and reads below the start are refused.
fn check_pass_image(report: &mut Report, img: &tidelog::io::SimFs, r: &PassRun, what: &str) {
    let intact = intact_prefix(img, &crash_dir(), &r.oracle);
    let checkpointed = match start_checkpoint().read(img) {
        Ok(entries) => entries
            .unwrap_or_default()
            .into_iter()
            .find(|e| e.topic == "t" && e.partition == 0)
            .map(|e| e.offset),
        Err(e) => {
            // Written atomically: never half there.
            report.inconsistent_offsets += 1;
            report.note(format!("{what}: log-start checkpoint unreadable: {e}"));
            None
        }
    };
    let clock = ManualClock::new(2_000_000);
    report.trials += 1;
    let opened = guarded(report, what, || {
        Log::open_with(
            img.clone(),
            crash_dir(),
            crash_config(),
            tidelog::log::LogOpenOptions {
                log_start_offset: checkpointed,
                ..open_options(&clock, r.recovery_point)
            },
        )
    });
    let Some(opened) = opened else { return };
    let log = match opened {
        Ok(log) => log,
        Err(e) => {
            report.clear_errors += 1;
            report.add("open_failures", 1, true);
            report.note(format!("{what}: open failed: {e}"));
            return;
        }
    };
    report.recoveries_ok += 1;
    let start = log.log_start_offset();
    if start < r.durable_start {
        report.add("log_start_below_durable", 1, true);
        report.note(format!(
            "{what}: log start {start} below the durable log start {}",
            r.durable_start
        ));
    }
    if start > r.max_start {
        report.add("log_start_above_reached", 1, true);
        report.note(format!(
            "{what}: log start {start} above any the log reached ({})",
            r.max_start
        ));
    }
    let bases = log.segment_base_offsets();
    // A segment the log never published can only be the one a failed append was rolling
    // to when the power went (its files created, the roll not finished).
    let in_flight = r
        .oracle
        .attempted
        .last()
        .filter(|a| !a.acked)
        .map(|a| a.base);
    if let Some(b) = bases
        .iter()
        .find(|&&b| !r.bases.contains(&b) && Some(b) != in_flight)
    {
        report.add("partial_segments", 1, true);
        report.note(format!("{what}: segment {b} is no segment the log had"));
    }
    match read_raw_batches(&log) {
        Ok(got) => {
            // The first batch read holds the start, in the first segment: no hole between
            // the log start and the data.
            if let Some(first) = got.first() {
                let base = batch_base(first);
                let next = base + batch_span(first);
                let first_segment = bases.first().copied().unwrap_or(i64::MAX);
                if first_segment > base || start < base || start >= next {
                    report.add("hole_at_log_start", 1, true);
                    report.note(format!(
                        "{what}: first batch [{base}, {next}) vs log start {start}, segments {bases:?}"
                    ));
                }
            }
        }
        Err(e) => {
            report.corrupt_returned += 1;
            report.note(format!("{what}: reading from the log start failed: {e}"));
        }
    }
    if start > 0 {
        report.add("reads_below_start_refused", 1, false);
        if !matches!(
            log.read(start - 1, 1024),
            Err(Error::OffsetOutOfRange { .. })
        ) {
            report.inconsistent_offsets += 1;
            report.note(format!(
                "{what}: a read below the start {start} was not refused"
            ));
        }
    }
    let expect = Expect {
        acked_survive: false,
        intact: Some(intact),
    };
    let Some(v) = guarded(report, what, || verify(&log, &r.oracle, expect)) else {
        return;
    };
    if v.lost_durable + v.corrupt + v.inconsistent + v.dropped_beyond > 0 {
        report.note(format!("{what}: {:?}", v.notes));
    }
    report.absorb(&v);
}

/// R24, power loss mid-retention: every pass of `PASSES` on `SimFs`, with a power loss
/// after every mutating call of the pass (segment renames and removals, the leader-epoch and
/// log-start checkpoints, the flushes) and every image variant (a)-(f), four seeds.
#[test]
fn r24_retention_crash() -> TestResult {
    let seed = seed(0x0024_C8A5);
    let mut report = Report::new("r24_retention_crash", seed);
    for s in (0..4).map(|i| seed.wrapping_add(i)) {
        for (p, ops) in PASSES.iter().enumerate() {
            let setup_calls = {
                let sim = tidelog::io::SimFs::new();
                run_pass(&sim, &[], s);
                sim.mutating_calls()
            };
            let total = {
                let dry = tidelog::io::SimFs::new();
                let r = run_pass(&dry, ops, s);
                if r.oracle.offset_violations > 0 {
                    report.inconsistent_offsets += r.oracle.offset_violations;
                }
                // Without a crash the pass must have deleted something: else it tests nothing.
                if r.max_start == 0 {
                    report.add("passes_deleting_nothing", 1, true);
                    report.note(format!("pass {p} ({ops:?}) deleted nothing"));
                }
                dry.mutating_calls()
            };
            for k in setup_calls + 1..=total {
                let sim = tidelog::io::SimFs::new();
                sim.crash_after(k);
                let r = run_pass(&sim, ops, s);
                let Some(frozen) = sim.frozen() else {
                    continue;
                };
                report.crash_points += 1;
                for variant in tidelog::io::CrashVariant::ALL {
                    let mut rng = tidelog::io::SimRng::new(s ^ (k << 8) ^ variant.letter() as u64);
                    let img = frozen.crash(variant, &mut rng);
                    let what = format!(
                        "seed {s}, pass {p} {ops:?}, power loss after call {k}, variant ({})",
                        variant.letter()
                    );
                    check_pass_image(&mut report, &img, &r, &what);
                }
            }
        }
    }
    report.finish();
    Ok(())
}
