//! Retention against a model (R24): random record timestamps and batch sizes, time and size
//! retention driven by a `ManualClock`, explicit rolls, and passes of `apply_retention`.
//!
//! The model knows every batch (offsets, bytes, newest timestamp) and, before each pass,
//! the log's segment boundaries; from those alone it computes which segments Kafka's rule
//! deletes (oldest first: newest record older than `retention.ms`, then while the log minus
//! the segment is still at least `retention.bytes`; never the active segment). The log must
//! delete exactly those: whole segments, a prefix, the log start only rising; reads below
//! the start fail with `Error::OffsetOutOfRange`; every batch from the start on reads back
//! byte for byte. Prints one JSON line of counts.

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
    let deletable = bases.len().saturating_sub(1);
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
    while n < deletable && bases[n + 1] <= start {
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
                prop_assert!(!after.is_empty(), "the active segment was deleted");
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
        report.add("reads_below_start_refused", t.reads_below_start, false);
    });
    if let Err(e) = result {
        report.inconsistent_offsets += 1;
        report.note(e.to_string());
    }
    report.finish();
}
