//! I/O errors: the N-th call of a scripted workload fails, for every N, every error kind,
//! transient and persistent (R14, SQLite's method), and a real full file system (R17, R18).
//!
//! A failed call must surface as an error, never a panic; a failed write or sync poisons the
//! log (`Error::Poisoned` until reopened); nothing is acknowledged falsely: after a reopen
//! with the faults gone every acknowledged append is there (the page cache survived), and
//! after a power loss everything reported durable is (I8). Each test prints one JSON line.

#![cfg(feature = "test-util")]

mod reliability_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use reliability_support::*;
use tidelog::config::{LogConfig, ManualClock};
use tidelog::io::{
    CrashVariant, FaultController, FaultFs, FaultKind, FaultMode, FaultPlan, FaultTarget, SimFs,
    SimRng, StdFs, Storage,
};
use tidelog::log::{Log, Validation};
use tidelog::Error;

/// Every (kind, mode) pair the countdown runs; EINTR is transient by nature.
fn combos() -> Vec<(FaultKind, FaultMode)> {
    let mut out = Vec::new();
    for kind in FaultKind::ALL {
        out.push((kind, FaultMode::Transient));
        if kind != FaultKind::Eintr {
            out.push((kind, FaultMode::Persistent));
        }
    }
    out
}

fn config() -> LogConfig {
    LogConfig {
        retention_bytes: 2400,
        ..small_config()
    }
}

/// Runs the script on `storage` with `plan` armed after the open; returns the oracle and
/// the faults injected.
fn faulty_run<S: Storage>(
    storage: S,
    faults: &FaultController,
    dir: &Path,
    steps: &[Step],
    plan: Option<FaultPlan>,
) -> Result<Oracle, Error> {
    let clock = ManualClock::new(1_000_000);
    let log = Log::open_with(storage, dir, config(), open_options(&clock, None))?;
    faults.reset_counts();
    if let Some(plan) = plan {
        faults.arm(plan);
    }
    let oracle = run_script(&log, steps, &clock);
    faults.disarm();
    Ok(oracle)
}

/// R14: FaultFs over real files (on a RAM file system when there is one): call N of the
/// workload fails, N = 1..total, every kind, transient and persistent. Then the same
/// countdown over SimFs, whose failed fsyncs drop their pages, followed by a power loss:
/// nothing reported durable may be missing (I8).
#[test]
fn r14_io_error_countdown() -> TestResult {
    let seed = seed(0x0014_5EED);
    let mut report = Report::new("r14_io_error_countdown", seed);
    let steps = script(&mut SimRng::new(seed), 14);
    let root = scratch_dir()?;

    // Real files.
    let counter = FaultController::new();
    let dry = root.path().join("dry");
    faulty_run(
        FaultFs::new(StdFs, counter.clone()),
        &counter,
        &dry,
        &steps,
        None,
    )?;
    let total = counter.total(FaultTarget::Any);
    report.add("calls_real", total, false);
    let mut trial = 0u64;
    for (kind, mode) in combos() {
        for n in 1..=total {
            trial += 1;
            let dir = root.path().join(format!("t{trial}"));
            let faults = FaultController::new();
            let fs = FaultFs::new(StdFs, faults.clone());
            let plan = FaultPlan::new(FaultTarget::Any, n, kind, mode);
            let what = format!("real {} {mode:?} call {n}", kind.name());
            report.trials += 1;
            let Some(run) = guarded(&mut report, &what, || {
                faulty_run(fs, &faults, &dir, &steps, Some(plan))
            }) else {
                continue;
            };
            report.faults_injected += faults.injected();
            let oracle = run?;
            check_oracle(&mut report, &oracle, &what);
            report.clear_errors += u64::from(oracle.first_error.is_some());
            // Reopen on the real file system, faults gone: a process crash, so every
            // acknowledged append must be there.
            let clock = ManualClock::new(2_000_000);
            let reopened = guarded(&mut report, &what, || {
                Log::open_with(
                    StdFs,
                    &dir,
                    config(),
                    open_options(&clock, Some(oracle.durable)),
                )
            });
            match reopened {
                Some(Ok(log)) => {
                    report.recoveries_ok += 1;
                    let expect = Expect {
                        acked_survive: true,
                        intact: None,
                    };
                    if let Some(v) = guarded(&mut report, &what, || verify(&log, &oracle, expect)) {
                        if v.lost_acked + v.lost_durable + v.corrupt + v.inconsistent > 0 {
                            report.note(format!("{what}: {:?}", v.notes));
                        }
                        report.absorb(&v);
                    }
                }
                Some(Err(e)) => {
                    report.add("reopen_failures", 1, true);
                    report.note(format!("{what}: reopen failed: {e}"));
                }
                None => {}
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    // SimFs: failed fsyncs drop pages; then power loss (a) and (f).
    let counter = FaultController::new();
    let sim = SimFs::new();
    sim.set_faults(counter.clone());
    let dir = PathBuf::from("/data/t-0");
    sim.create_dir_all(&dir)?;
    faulty_run(sim, &counter, &dir, &steps, None)?;
    let total = counter.total(FaultTarget::Any);
    report.add("calls_sim", total, false);
    for (kind, mode) in combos() {
        for n in 1..=total {
            let faults = FaultController::new();
            let sim = SimFs::new();
            sim.create_dir_all(&dir)?;
            sim.set_faults(faults.clone());
            let plan = FaultPlan::new(FaultTarget::Any, n, kind, mode);
            let what = format!("sim {} {mode:?} call {n}", kind.name());
            report.trials += 1;
            let Some(run) = guarded(&mut report, &what, || {
                faulty_run(sim.clone(), &faults, &dir, &steps, Some(plan))
            }) else {
                continue;
            };
            report.faults_injected += faults.injected();
            let oracle = run?;
            check_oracle(&mut report, &oracle, &what);
            report.clear_errors += u64::from(oracle.first_error.is_some());
            for variant in [CrashVariant::DropUnsynced, CrashVariant::FailedSync] {
                report.crash_points += 1;
                let img = sim.crash(variant, &mut SimRng::new(n));
                let intact = intact_prefix(&img, &dir, &oracle);
                let clock = ManualClock::new(2_000_000);
                let opened = guarded(&mut report, &what, || {
                    Log::open_with(
                        img.clone(),
                        &dir,
                        config(),
                        open_options(&clock, Some(oracle.durable)),
                    )
                });
                match opened {
                    Some(Ok(log)) => {
                        report.recoveries_ok += 1;
                        let expect = Expect {
                            acked_survive: false,
                            intact: Some(intact),
                        };
                        if let Some(v) =
                            guarded(&mut report, &what, || verify(&log, &oracle, expect))
                        {
                            if v.lost_durable + v.corrupt + v.inconsistent + v.dropped_beyond > 0 {
                                report.note(format!(
                                    "{what} variant ({}): {:?}",
                                    variant.letter(),
                                    v.notes
                                ));
                            }
                            report.absorb(&v);
                        }
                    }
                    Some(Err(e)) => {
                        report.add("reopen_failures", 1, true);
                        report.note(format!("{what}: reopen failed: {e}"));
                    }
                    None => {}
                }
            }
        }
    }
    report.finish();
    Ok(())
}

/// A 256 KiB tmpfs mounted for the test, unmounted on drop.
struct SmallTmpfs {
    path: PathBuf,
    _parent: tempfile::TempDir,
}

impl SmallTmpfs {
    /// Mounts it, or says why it cannot.
    fn mount() -> Result<SmallTmpfs, String> {
        let parent = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let path = parent.path().join("mnt");
        std::fs::create_dir(&path).map_err(|e| format!("mkdir: {e}"))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cannot mount a tmpfs (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallTmpfs {
            path,
            _parent: parent,
        })
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Mounts the small tmpfs or skips (fails under `LOG_REQUIRE_PRIVILEGED=1`).
fn small_tmpfs(test: &str) -> Option<SmallTmpfs> {
    match SmallTmpfs::mount() {
        Ok(m) => Some(m),
        Err(reason) => {
            assert!(
                std::env::var("LOG_REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
                "{test}: LOG_REQUIRE_PRIVILEGED=1 but {reason}"
            );
            use std::io::Write;
            let _ = std::io::stdout()
                .lock()
                .write_all(format!("{test}: SKIPPED: {reason}\n").as_bytes());
            None
        }
    }
}

/// Fills the file system at `mnt` with a filler file, leaving about `left` bytes free.
fn fill(mnt: &Path, left: u64) -> TestResult<PathBuf> {
    let filler = mnt.join("filler");
    let stat = rustix_statvfs(mnt)?;
    let size = stat.saturating_sub(left);
    let f = std::fs::File::create(&filler)?;
    use std::io::Write;
    let mut w = std::io::BufWriter::new(f);
    let chunk = vec![0xAAu8; 4096];
    let mut written = 0;
    while written < size {
        if w.write_all(&chunk).is_err() {
            break;
        }
        written += chunk.len() as u64;
    }
    let _ = w.flush();
    Ok(filler)
}

/// Free bytes of the file system at `path`, from `df`.
fn rustix_statvfs(path: &Path) -> TestResult<u64> {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(path)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0))
}

/// One full-disk scenario: appends until the disk is full, then checks the error, the
/// poisoning, that existing data reads back, and that a reopen after freeing space resumes.
fn full_disk_scenario(
    report: &mut Report,
    mnt: &Path,
    name: &str,
    config: LogConfig,
    left: u64,
    batch_values: usize,
) -> TestResult {
    let dir = mnt.join(name);
    let filler = fill(mnt, left)?;
    let clock = ManualClock::new(1_000_000);
    let log = Log::open(&dir, config.clone(), open_options(&clock, None));
    let log = match log {
        Ok(log) => log,
        Err(e) if e.is_no_space() => {
            report.add("enospc_events", 1, false);
            report.clear_errors += 1;
            std::fs::remove_file(&filler)?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let mut rng = SimRng::new(report.seed ^ left);
    let mut oracle = Oracle::default();
    report.trials += 1;
    for i in 0..10_000i64 {
        let mut batch = random_batch(&mut rng, 1_000 + i);
        if batch_values > 0 {
            let records: Vec<_> = (0..batch_values)
                .map(|j| tidelog::record::Record::new(1_000 + i, vec![j as u8; 16]))
                .collect();
            batch = tidelog::record::encode_batch(Default::default(), &records)?;
        }
        let base = log.end_offset();
        oracle.attempted.push(Attempt {
            base,
            bytes: batch.clone(),
            acked: false,
        });
        match log.append_batch(&batch, Validation::Shallow) {
            Ok(_) => {
                if let Some(a) = oracle.attempted.last_mut() {
                    a.acked = true;
                }
            }
            Err(e) => {
                report.add("enospc_events", 1, false);
                report.clear_errors += 1;
                if !e.is_no_space() {
                    report.add("wrong_error_kind", 1, true);
                    report.note(format!("{name}: expected NoSpace, got {e}"));
                }
                match log.append_batch(&batch, Validation::Shallow) {
                    Err(Error::Poisoned { .. }) => {}
                    other => {
                        report.add("not_poisoned", 1, true);
                        report.note(format!("{name}: after ENOSPC: {other:?}"));
                    }
                }
                break;
            }
        }
        if i % 8 == 7 {
            if let Err(e) = log.flush() {
                report.add("enospc_events", 1, false);
                report.clear_errors += 1;
                if !e.is_no_space() {
                    report.note(format!("{name}: flush: {e}"));
                }
                break;
            }
            oracle.durable = log.durable_offset();
        }
    }
    // Existing data stays readable on the poisoned log.
    match read_raw_batches(&log) {
        Ok(got) => {
            let acked = oracle.attempted.iter().filter(|a| a.acked).count();
            if got.len() < acked {
                report.acked_synced_lost += (acked - got.len()) as u64;
                report.note(format!("{name}: read {} of {acked} batches", got.len()));
            }
            for (raw, a) in got.iter().zip(&oracle.attempted) {
                if !same_batch(raw, &a.bytes, a.base) {
                    report.corrupt_returned += 1;
                }
            }
        }
        Err(e) => {
            report.add("unreadable_after_enospc", 1, true);
            report.note(format!("{name}: reading after ENOSPC: {e}"));
        }
    }
    drop(log);
    std::fs::remove_file(&filler)?;
    let clock = ManualClock::new(2_000_000);
    match Log::open(&dir, config, open_options(&clock, Some(oracle.durable))) {
        Ok(log) => {
            report.recoveries_ok += 1;
            let v = verify(
                &log,
                &oracle,
                Expect {
                    acked_survive: true,
                    intact: None,
                },
            );
            report.absorb(&v);
            log.close()?;
        }
        Err(e) => {
            report.add("reopen_failures", 1, true);
            report.note(format!("{name}: reopen after freeing space: {e}"));
        }
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// R17: a 256 KiB tmpfs fills during appends of large batches, during rolls of small
/// segments, and while index files grow: `Error::NoSpace`, then `Error::Poisoned`; the data
/// already there reads back; after space is freed a reopen resumes appending.
#[test]
fn r17_enospc_tmpfs() -> TestResult {
    let seed = seed(0x0017_5EED);
    let mut report = Report::new("r17_enospc_tmpfs", seed);
    let Some(mnt) = small_tmpfs("r17_enospc_tmpfs") else {
        return Ok(());
    };
    let big = LogConfig {
        segment_bytes: 1 << 20,
        retention_ms: -1,
        ..Default::default()
    };
    let rolling = LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 256,
        segment_index_bytes: 1 << 16,
        retention_ms: -1,
        ..Default::default()
    };
    for left in [20_000, 48_000, 90_000] {
        full_disk_scenario(&mut report, &mnt.path, "big", big.clone(), left, 0)?;
        full_disk_scenario(&mut report, &mnt.path, "rolling", rolling.clone(), left, 0)?;
    }
    report.finish();
    Ok(())
}

/// R18: the mapped index files fill the disk (an index entry for every tiny batch, index
/// files growing in fallocated steps): ENOSPC is an error, never a SIGBUS (which would kill
/// this test process).
#[test]
fn r18_enospc_mmap_sigbus() -> TestResult {
    let seed = seed(0x0018_5EED);
    let mut report = Report::new("r18_enospc_mmap_sigbus", seed);
    let Some(mnt) = small_tmpfs("r18_enospc_mmap_sigbus") else {
        return Ok(());
    };
    let dense = LogConfig {
        segment_bytes: 1 << 20,
        index_interval_bytes: 1,
        segment_index_bytes: 1 << 20,
        retention_ms: -1,
        ..Default::default()
    };
    for left in [4096, 12_288, 36_000, 70_000] {
        full_disk_scenario(&mut report, &mnt.path, "dense", dense.clone(), left, 1)?;
    }
    report.add("sigbus", 0, true);
    report.finish();
    Ok(())
}
