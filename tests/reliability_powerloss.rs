//! Power loss, simulated with `SimFs`: crash images after every I/O call of scripted
//! workloads (R08), the flush policies' loss window (R10), the directory fsync after a roll
//! (R11) and an fsync that fails and drops its pages (R15).
//!
//! After every crash the real recovery runs on the image, with the recovery point a store
//! would have checkpointed, and the reopened log is checked against what the workload was
//! told: nothing reported durable is lost (I1), the log is a contiguous run of the appends
//! (I2) made of whole, byte-identical batches (I3, I4), offsets go on from the recovered end
//! (I5), the intact prefix of the image is kept (I7), and nothing is reported durable that a
//! failed sync covered (I8). Every run, with or without a crash, is also held to what it saw
//! itself: each append got the log end as its offset, and each failed write or sync
//! poisoned the log (`check_oracle`). Each test prints one JSON line of counts.

#![cfg(feature = "test-util")]

mod reliability_support;

use std::path::PathBuf;

use reliability_support::*;
use tidelog::config::{LogConfig, ManualClock};
use tidelog::io::{
    CrashVariant, FaultController, FaultKind, FaultMode, FaultOp, FaultPlan, FaultTarget, SimFs,
    SimRng, Storage,
};
use tidelog::log::{AppendOptions, Durability, Log, Validation};

fn part_dir() -> PathBuf {
    PathBuf::from("/data/t-0")
}

/// Runs `steps` on a fresh `SimFs`, frozen after mutating call `crash_at` if given.
fn run_sim(
    steps: &[Step],
    config: &LogConfig,
    crash_at: Option<u64>,
    faults: Option<&FaultController>,
) -> (SimFs, Oracle) {
    let sim = SimFs::new();
    let dir = part_dir();
    let _ = sim.create_dir_all(&dir);
    if let Some(k) = crash_at {
        sim.crash_after(k);
    }
    if let Some(f) = faults {
        sim.set_faults(f.clone());
    }
    let clock = ManualClock::new(1_000_000);
    let oracle = match Log::open_with(
        sim.clone(),
        &dir,
        config.clone(),
        open_options(&clock, None),
    ) {
        Ok(log) => run_script(&log, steps, &clock),
        Err(e) => Oracle {
            first_error: Some(e.to_string()),
            ..Default::default()
        },
    };
    (sim, oracle)
}

/// Opens the crash image `img` with recovery point `rp` and checks it against `oracle`.
fn recover_and_check(
    report: &mut Report,
    img: &SimFs,
    config: &LogConfig,
    oracle: &Oracle,
    rp: i64,
    what: &str,
) -> Option<Log<SimFs>> {
    let dir = part_dir();
    let intact = intact_prefix(img, &dir, oracle);
    let clock = ManualClock::new(2_000_000);
    report.trials += 1;
    let opened = guarded(report, what, || {
        Log::open_with(
            img.clone(),
            &dir,
            config.clone(),
            open_options(&clock, Some(rp)),
        )
    })?;
    match opened {
        Ok(log) => {
            report.recoveries_ok += 1;
            let verdict = guarded(report, what, || {
                verify(
                    &log,
                    oracle,
                    Expect {
                        acked_survive: false,
                        intact: Some(intact),
                    },
                )
            })?;
            if verdict.lost_durable + verdict.corrupt + verdict.inconsistent > 0
                || verdict.dropped_beyond > 0
            {
                report.note(format!("{what}: {:?}", verdict.notes));
            }
            report.absorb(&verdict);
            Some(log)
        }
        Err(e) => {
            // Every image keeps what was synced, so a refusal to open is a violation.
            report.clear_errors += 1;
            report.add("open_failures", 1, true);
            report.note(format!("{what}: open failed: {e}"));
            None
        }
    }
}

/// R08: power loss after every mutating I/O call of a scripted workload (appends, `Sync`
/// appends, flushes, rolls, retention, reads), every image variant (a)-(f), two seeds (the
/// second reopening with a recovery point that trails the durable offset).
#[test]
fn r08_simfs_powerloss() -> TestResult {
    let seed = seed(0x0008_5EED);
    let mut report = Report::new("r08_simfs_powerloss", seed);
    let config = LogConfig {
        retention_bytes: 2400,
        ..small_config()
    };
    for (round, s) in [seed, seed.wrapping_add(1)].into_iter().enumerate() {
        let steps = script(&mut SimRng::new(s), 36);
        let (dry, dry_oracle) = run_sim(&steps, &config, None, None);
        check_oracle(
            &mut report,
            &dry_oracle,
            &format!("seed {s} without a crash"),
        );
        let total = dry.mutating_calls();
        report.add("calls_per_workload", total, false);
        for k in 1..=total {
            let (sim, oracle) = run_sim(&steps, &config, Some(k), None);
            check_oracle(
                &mut report,
                &oracle,
                &format!("seed {s} crash after call {k}"),
            );
            let Some(frozen) = sim.frozen() else {
                continue;
            };
            report.crash_points += 1;
            let rp = if round == 0 {
                oracle.durable
            } else {
                oracle.durable_prev
            };
            for variant in CrashVariant::ALL {
                let mut rng = SimRng::new(s ^ (k << 8) ^ variant.letter() as u64);
                let img = frozen.crash(variant, &mut rng);
                let what = format!(
                    "seed {s} crash after call {k} variant ({})",
                    variant.letter()
                );
                recover_and_check(&mut report, &img, &config, &oracle, rp, &what);
            }
        }
    }
    report.finish();
    Ok(())
}

/// Records in a batch (the header's RecordsCount).
fn records_in(batch: &[u8]) -> u64 {
    u64::from(u32::from_be_bytes(
        batch[57..61].try_into().unwrap_or_default(),
    ))
}

/// R10: the flush policies (`flush.messages` = 1 / 4 / never, `flush.ms` = 40 with a
/// manual clock) with image (a) after every call of an append-only workload: the loss is a
/// suffix no longer than the policy's unsynced window, and `durable_offset()` never
/// overstates.
#[test]
fn r10_fsync_policy_contract() -> TestResult {
    let seed = seed(0x0010_5EED);
    let mut report = Report::new("r10_fsync_policy_contract", seed);
    // (name, flush.messages, flush.ms, bound on lost records given the step of 7 ms)
    let policies: [(&str, u64, u64, Option<u64>); 4] = [
        ("always", 1, u64::MAX, Some(3)),
        ("every_4", 4, u64::MAX, Some(4 - 1 + 3)),
        ("never", u64::MAX, u64::MAX, None),
        ("every_40ms", u64::MAX, 40, Some((40 / 7 + 1) * 3 + 3)),
    ];
    for (name, messages, ms, bound) in policies {
        let config = LogConfig {
            flush_messages: messages,
            flush_ms: ms,
            ..small_config()
        };
        let mut rng = SimRng::new(seed ^ messages ^ ms.rotate_left(7));
        let steps: Vec<Step> = (0..24)
            .map(|i| Step::Append {
                batch: random_batch(&mut rng, 1_000 + i * 10),
                sync: false,
            })
            .collect();
        let (dry, dry_oracle) = run_sim(&steps, &config, None, None);
        check_oracle(
            &mut report,
            &dry_oracle,
            &format!("policy {name} without a crash"),
        );
        let mut max_lost = 0;
        for k in 1..=dry.mutating_calls() {
            let (sim, oracle) = run_sim(&steps, &config, Some(k), None);
            check_oracle(
                &mut report,
                &oracle,
                &format!("policy {name}, crash after call {k}"),
            );
            let Some(frozen) = sim.frozen() else {
                continue;
            };
            report.crash_points += 1;
            let img = frozen.crash(CrashVariant::DropUnsynced, &mut SimRng::new(k));
            let what = format!("policy {name}, crash after call {k}");
            let Some(log) =
                recover_and_check(&mut report, &img, &config, &oracle, oracle.durable, &what)
            else {
                continue;
            };
            // The appends beyond the recovered end (before the probe append of `verify`).
            let recovered_end = log.end_offset() - probe_span(&oracle);
            let lost: u64 = oracle
                .attempted
                .iter()
                .filter(|a| a.next() > recovered_end)
                .map(|a| records_in(&a.bytes))
                .sum();
            max_lost = max_lost.max(lost);
            if bound.is_some_and(|b| lost > b) {
                report.add("window_violations", 1, true);
                report.note(format!("{what}: lost {lost} records, bound {bound:?}"));
            }
        }
        report.add(
            match name {
                "always" => "max_lost_records_always",
                "every_4" => "max_lost_records_every_4",
                "never" => "max_lost_records_never",
                _ => "max_lost_records_every_40ms",
            },
            max_lost,
            false,
        );
    }
    report.finish();
    Ok(())
}

/// Offsets taken by the probe batch `verify` appends.
fn probe_span(o: &Oracle) -> i64 {
    o.attempted.first().map_or(0, |a| batch_span(&a.bytes))
}

/// R11: power loss right after the first synced append into a freshly rolled segment
/// (rolled by size under `flush.messages = 1`, and by an explicit `roll` followed by a
/// `Sync` append): the record survives every image, including those that revert every
/// directory change not made durable by a directory fsync.
#[test]
fn r11_dir_fsync_required() -> TestResult {
    let seed = seed(0x0011_5EED);
    let mut report = Report::new("r11_dir_fsync_required", seed);
    let dir = part_dir();
    for explicit_roll in [false, true] {
        let config = LogConfig {
            flush_messages: if explicit_roll { u64::MAX } else { 1 },
            ..small_config()
        };
        let sim = SimFs::new();
        sim.create_dir_all(&dir)?;
        let clock = ManualClock::new(1_000_000);
        let log = Log::open_with(
            sim.clone(),
            &dir,
            config.clone(),
            open_options(&clock, None),
        )?;
        let mut rng = SimRng::new(seed);
        let mut oracle = Oracle::default();
        let segments = log.segment_count();
        loop {
            let batch = random_batch(&mut rng, clock_ms(&clock));
            if explicit_roll && oracle.attempted.len() == 3 {
                log.roll()?;
            }
            let base = log.end_offset();
            let info = log.append_batch_with(&batch, Validation::Shallow, Durability::Sync)?;
            if info.first_offset != base {
                oracle.offset_violations += 1;
            }
            oracle.attempted.push(Attempt {
                base,
                bytes: batch,
                acked: true,
            });
            oracle.durable = log.durable_offset();
            if !info.durable || log.durable_offset() < info.last_offset + 1 {
                report.inconsistent_offsets += 1;
                report.note("a Sync append returned without being durable");
            }
            if log.segment_count() > segments {
                break;
            }
        }
        check_oracle(
            &mut report,
            &oracle,
            &format!("roll {explicit_roll} before the power loss"),
        );
        report.crash_points += 1;
        let mut variants = vec![(CrashVariant::DropUnsynced, 0)];
        variants.extend((0..16).map(|s| (CrashVariant::RevertNamespace, s)));
        variants.push((CrashVariant::KeepRandomSubset, 1));
        for (variant, s) in variants {
            let img = sim.crash(variant, &mut SimRng::new(seed ^ s));
            let what = format!("roll {explicit_roll} variant ({}) {s}", variant.letter());
            recover_and_check(&mut report, &img, &config, &oracle, oracle.durable, &what);
        }
        drop(log);
    }
    report.finish();
    Ok(())
}

fn clock_ms(clock: &ManualClock) -> i64 {
    use tidelog::config::Clock;
    clock.now_ms()
}

/// R15: the N-th `fdatasync` (and, separately, directory sync and `msync`) fails with EIO
/// and drops the pages it covered, while the next sync would succeed (Linux): the log is
/// poisoned, never reports durable anything the failed sync covered, and a crash image with
/// every surviving write (f) or none (a) recovers with nothing durable lost.
#[test]
fn r15_fsync_fail_then_succeed() -> TestResult {
    let seed = seed(0x0015_5EED);
    let mut report = Report::new("r15_fsync_fail_then_succeed", seed);
    let config = small_config();
    let steps = script(&mut SimRng::new(seed), 24);
    let counter = FaultController::new();
    let (_, dry_oracle) = run_sim(&steps, &config, None, Some(&counter));
    check_oracle(&mut report, &dry_oracle, "no fault");
    for op in [FaultOp::SyncData, FaultOp::SyncDir, FaultOp::MapFlush] {
        for n in 1..=counter.count(op) {
            let faults = FaultController::new();
            faults.arm(FaultPlan::new(
                FaultTarget::Op(op),
                n,
                FaultKind::Eio,
                FaultMode::Transient,
            ));
            let (sim, oracle) = run_sim(&steps, &config, None, Some(&faults));
            report.faults_injected += faults.injected();
            report.crash_points += 1;
            check_oracle(&mut report, &oracle, &format!("{op:?} #{n} fails"));
            for variant in [CrashVariant::FailedSync, CrashVariant::DropUnsynced] {
                let img = sim.crash(variant, &mut SimRng::new(n));
                let what = format!("{op:?} #{n} fails, variant ({})", variant.letter());
                recover_and_check(&mut report, &img, &config, &oracle, oracle.durable, &what);
            }
        }
    }
    // The Linux sequence itself: a failed sync, then one that succeeds, on the same file.
    let sim = SimFs::new();
    let faults = FaultController::new();
    sim.set_faults(faults.clone());
    let dir = part_dir();
    sim.create_dir_all(&dir)?;
    let clock = ManualClock::new(1_000_000);
    let log = Log::open_with(
        sim.clone(),
        &dir,
        config.clone(),
        open_options(&clock, None),
    )?;
    let records = [tidelog::record::Record::new(
        5,
        b"covered by the failed sync".to_vec(),
    )];
    log.append(&records, &AppendOptions::default())?;
    faults.arm(FaultPlan::new(
        FaultTarget::Op(FaultOp::SyncData),
        1,
        FaultKind::Eio,
        FaultMode::Transient,
    ));
    let before = log.durable_offset();
    let failed = log.flush().is_err();
    let later = log.flush();
    report.trials += 1;
    if !failed
        || !matches!(later, Err(tidelog::Error::Poisoned { .. }))
        || log.durable_offset() != before
        || log.poisoned().is_none()
    {
        report.inconsistent_offsets += 1;
        report.note(format!(
            "after a failed fsync: second flush {later:?}, durable {} (was {before})",
            log.durable_offset()
        ));
    }
    report.add("pages_dropped", sim.failed_syncs().1, false);
    report.finish();
    Ok(())
}

/// Regression test for a bug R08 (variant (b)) and R15 (variant (f)) found: after power
/// loss, a segment whose unsynced tail was lost was followed by the next segment, whose own
/// unsynced data survived, and recovery kept both: the lost offsets became a hole a reader
/// skipped silently (I2 "prefix, no holes"). A log that is never compacted now treats a gap
/// between segments past the recovery point as a torn tail and cuts there.
#[test]
fn r08_no_hole_after_a_torn_segment() -> TestResult {
    let dir = part_dir();
    let sim = SimFs::new();
    sim.create_dir_all(&dir)?;
    let clock = ManualClock::new(1_000_000);
    let config = small_config();
    let log = Log::open_with(
        sim.clone(),
        &dir,
        config.clone(),
        open_options(&clock, None),
    )?;
    let mut rng = SimRng::new(1);
    let first = random_batch(&mut rng, 1_000);
    let torn = random_batch(&mut rng, 1_010);
    let survivor = random_batch(&mut rng, 1_020);
    log.append_batch_with(&first, Validation::Shallow, Durability::Sync)?;
    let durable = log.durable_offset();
    let torn_at = log.end_offset();
    log.append_batch(&torn, Validation::Shallow)?;
    log.roll()?;
    log.append_batch(&survivor, Validation::Shallow)?;
    // Power loss: every write reached the disk but the torn batch's.
    let img = sim.crash(CrashVariant::FailedSync, &mut SimRng::new(1));
    let first_segment = dir.join(format!("{:020}.log", 0));
    let bytes = img.read_file(&first_segment).unwrap_or_default();
    img.write_file(&first_segment, &bytes[..first.len()]);
    let log = Log::open_with(img, &dir, config, open_options(&clock, Some(durable)))?;
    let batches = read_raw_batches(&log)?;
    let bases: Vec<i64> = batches.iter().map(|b| batch_base(b)).collect();
    assert_eq!(
        bases,
        vec![0],
        "offsets {torn_at}.. were lost, so nothing may follow them"
    );
    Ok(())
}
