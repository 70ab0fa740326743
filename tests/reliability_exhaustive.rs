//! Bounded exhaustive operation sequences with power loss (R09, CrashMonkey's B3 method):
//! every sequence of at most two operations from {append records, append a pre-built batch,
//! flush, roll, retention, checkpoint the recovery point, close and reopen}, run on `SimFs`
//! after a small setup, with a power loss after every mutating I/O call of the sequence and
//! every image variant (a)-(f).
//!
//! Recovery opens each image with the recovery point last checkpointed (as a store would),
//! and the log must meet I1-I8: nothing reported durable lost, a contiguous run of whole,
//! byte-identical batches, offsets going on from the recovered end, the image's intact
//! prefix kept, no durability reported for what a sync did not cover. Every run, the dry run
//! and each run cut short by the power loss, is held to what it saw itself: appends at the
//! log end, and a log poisoned by its first failed write or sync. Prints one JSON line of
//! counts.

#![cfg(feature = "test-util")]

mod reliability_support;

use std::path::PathBuf;

use reliability_support::*;
use tidelog::config::{LogConfig, ManualClock};
use tidelog::io::{CrashVariant, SimFs, SimRng, Storage};
use tidelog::log::{AppendOptions, Durability, Log, LogOpenOptions, Validation};
use tidelog::record::Record;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Append,
    Batch,
    Flush,
    Roll,
    Retention,
    Checkpoint,
    Close,
}

const OPS: [Op; 7] = [
    Op::Append,
    Op::Batch,
    Op::Flush,
    Op::Roll,
    Op::Retention,
    Op::Checkpoint,
    Op::Close,
];

fn dir() -> PathBuf {
    PathBuf::from("/data/t-0")
}

fn config() -> LogConfig {
    LogConfig {
        retention_bytes: 1500,
        ..small_config()
    }
}

/// What a run did: the oracle, and the recovery point a store would have checkpointed.
struct Run {
    oracle: Oracle,
    checkpoint: Option<i64>,
}

/// A log on `sim` with the run's clock.
fn open(sim: &SimFs, clock: &ManualClock, rp: Option<i64>, clean: bool) -> Option<Log<SimFs>> {
    Log::open_with(
        sim.clone(),
        dir(),
        config(),
        LogOpenOptions {
            clean_shutdown: clean,
            ..open_options(clock, rp)
        },
    )
    .ok()
}

/// Appends `batch` (pre-built) or records, recording the attempt; false on an error.
fn append(
    log: &Log<SimFs>,
    o: &mut Oracle,
    rng: &mut SimRng,
    prebuilt: bool,
    known: &[Attempt],
) -> bool {
    let base = log.end_offset();
    let result = if prebuilt {
        let batch = random_batch(rng, 5_000 + base);
        o.attempted.push(Attempt {
            base,
            bytes: batch.clone(),
            acked: false,
        });
        log.append_batch_with(&batch, Validation::Shallow, Durability::PageCache)
    } else {
        let records: Vec<Record> = (0..2)
            .map(|i| Record::new(5_000 + base + i, vec![b'r'; 40 + 10 * i as usize]))
            .collect();
        // The log encodes the batch: the oracle takes the bytes the run without a crash read
        // back (the encoding depends only on the records, their offsets and the clock).
        let bytes = known
            .iter()
            .find(|a| a.base == base)
            .map(|a| a.bytes.clone())
            .unwrap_or_default();
        o.attempted.push(Attempt {
            base,
            bytes,
            acked: false,
        });
        log.append(&records, &AppendOptions::default())
    };
    match result {
        Ok(info) if info.first_offset == base => {
            let bytes_known = o.attempted.last().is_some_and(|a| !a.bytes.is_empty());
            if !prebuilt && !bytes_known {
                let raw = read_raw_batches(log)
                    .ok()
                    .and_then(|all| all.into_iter().find(|b| batch_base(b) == base));
                match raw {
                    Some(raw) => {
                        if let Some(a) = o.attempted.last_mut() {
                            a.bytes = raw;
                        }
                    }
                    None => {
                        o.offset_violations += 1;
                        return false;
                    }
                }
            }
            if let Some(a) = o.attempted.last_mut() {
                a.acked = true;
            }
            true
        }
        Ok(_) => {
            o.offset_violations += 1;
            false
        }
        Err(_) => {
            if o.attempted.last().is_some_and(|a| a.bytes.is_empty()) {
                // Never acknowledged, and its bytes are unknown: it cannot be checked.
                o.attempted.pop();
            }
            false
        }
    }
}

/// The setup (4 appends, a flush, 2 more appends) then `ops`, on `sim`. Stops at the first
/// error (after a crash every call fails).
fn run(sim: &SimFs, ops: &[Op], seed: u64, known: &[Attempt]) -> Run {
    let clock = ManualClock::new(1_000_000);
    let mut rng = SimRng::new(seed);
    let mut o = Oracle::default();
    // A store checkpoints a new partition's recovery point (0) when it creates it.
    let mut checkpoint = Some(0);
    let _ = sim.create_dir_all(&dir());
    let Some(mut log) = open(sim, &clock, None, false) else {
        return Run {
            oracle: o,
            checkpoint,
        };
    };
    let setup_ok = (0..4).all(|_| append(&log, &mut o, &mut rng, true, known))
        && log.flush().is_ok()
        && (0..2).all(|_| append(&log, &mut o, &mut rng, true, known));
    o.durable = o.durable.max(log.durable_offset());
    if !setup_ok {
        return Run {
            oracle: o,
            checkpoint,
        };
    }
    for &op in ops {
        clock.advance(7);
        let ok = match op {
            Op::Append => append(&log, &mut o, &mut rng, false, known),
            Op::Batch => append(&log, &mut o, &mut rng, true, known),
            Op::Flush => log.flush().is_ok(),
            Op::Roll => log.roll().is_ok(),
            Op::Retention => {
                let floor = log.segment_base_offsets().last().copied().unwrap_or(0);
                let ok = log.apply_retention().is_ok();
                o.retention_floor = o.retention_floor.max(floor);
                ok
            }
            Op::Checkpoint => {
                // A store writes this value to its recovery-point checkpoint.
                checkpoint = Some(log.recovery_point());
                true
            }
            Op::Close => match log.close() {
                Ok(state) => {
                    checkpoint = Some(state.recovery_point);
                    drop(log);
                    match open(sim, &clock, checkpoint, true) {
                        Some(l) => {
                            log = l;
                            true
                        }
                        None => {
                            return Run {
                                oracle: o,
                                checkpoint,
                            }
                        }
                    }
                }
                Err(_) => false,
            },
        };
        let d = log.durable_offset();
        if d > o.durable {
            o.durable_prev = o.durable;
            o.durable = d;
        }
        if !ok {
            // A failed write or sync poisons the log (a failed close leaves nothing to
            // probe; a checkpoint here makes no call).
            if !matches!(op, Op::Close | Op::Checkpoint) {
                let probe = o.attempted.first().map(|a| a.bytes.clone());
                if let Some(probe) = probe {
                    probe_poisoned(&log, &probe, &mut o);
                }
            }
            break;
        }
    }
    Run {
        oracle: o,
        checkpoint,
    }
}

/// Every sequence of at most `max_len` operations.
fn sequences(max_len: usize) -> Vec<Vec<Op>> {
    let mut out = vec![Vec::new()];
    let mut frontier = vec![Vec::new()];
    for _ in 0..max_len {
        let mut next = Vec::new();
        for s in &frontier {
            for &op in &OPS {
                let mut t: Vec<Op> = s.clone();
                t.push(op);
                next.push(t);
            }
        }
        out.extend(next.iter().cloned());
        frontier = next;
    }
    out
}

/// R09: every sequence of at most 2 operations (3 with `TIDELOG_EXHAUSTIVE_OPS=3`) × a
/// power loss after every mutating call of the sequence × image variants (a)-(f).
#[test]
fn r09_bounded_exhaustive_ops() -> TestResult {
    let seed = seed(0x0009_5EED);
    let max_len = std::env::var("TIDELOG_EXHAUSTIVE_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let mut report = Report::new("r09_bounded_exhaustive_ops", seed);
    let seqs = sequences(max_len);
    report.add("sequences", seqs.len() as u64, false);
    // The setup's own calls: crash points before the sequence are R08's business.
    let setup_calls = {
        let sim = SimFs::new();
        run(&sim, &[], seed, &[]);
        sim.mutating_calls()
    };
    for ops in &seqs {
        let dry = SimFs::new();
        let clean = run(&dry, ops, seed, &[]);
        check_oracle(
            &mut report,
            &clean.oracle,
            &format!("{ops:?} without a crash"),
        );
        let total = dry.mutating_calls();
        for k in setup_calls + 1..=total {
            let sim = SimFs::new();
            sim.crash_after(k);
            let r = run(&sim, ops, seed, &clean.oracle.attempted);
            check_oracle(
                &mut report,
                &r.oracle,
                &format!("{ops:?}, crash after call {k}"),
            );
            let Some(frozen) = sim.frozen() else {
                continue;
            };
            report.crash_points += 1;
            for variant in CrashVariant::ALL {
                let mut rng = SimRng::new(seed ^ (k << 8) ^ variant.letter() as u64);
                let img = frozen.crash(variant, &mut rng);
                let what = format!(
                    "{ops:?}, crash after call {k}, variant ({})",
                    variant.letter()
                );
                check_image(&mut report, &img, &r, &what);
            }
        }
    }
    report.finish();
    Ok(())
}

fn check_image(report: &mut Report, img: &SimFs, r: &Run, what: &str) {
    let intact = intact_prefix(img, &dir(), &r.oracle);
    let clock = ManualClock::new(2_000_000);
    report.trials += 1;
    let opened = guarded(report, what, || {
        Log::open_with(
            img.clone(),
            dir(),
            config(),
            open_options(&clock, r.checkpoint),
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
