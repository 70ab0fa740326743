//! R19 `enospc_ext4_loop` (nightly tier, `#[ignore]`d): a real full disk on ext4, whose
//! delayed allocation can surface ENOSPC at `fsync` or `close` rather than at `write`.
//!
//! As root, the test makes a 32 MiB ext4 image (`mkfs.ext4 -m 0`), mounts it on a loop
//! device, leaves a few dozen KiB free with a filler file, and fills the rest through a
//! `Log` (large segments, then small rolling segments with growing index files) and through
//! a `Store` (two partitions, maintenance and checkpoints). Each run must end in a typed
//! `Error::NoSpace`, after which the log is `Error::Poisoned`. Then the file system is
//! unmounted and mounted again (the page cache is gone), a reopen with the disk still full
//! either works or fails with `Error::NoSpace`, and after the filler is removed the reopen
//! works, nothing acknowledged and synced is lost (I1), batches read back byte-identical
//! (I3, I4) with no hole (I2), and appends resume.
//!
//! Without root, `mkfs.ext4` or a free loop device it prints `SKIPPED: <reason>` and
//! passes (fails under `LOG_REQUIRE_PRIVILEGED=1`). Run:
//! `cargo test --release --features test-util --test reliability_ext4 -- --ignored --nocapture`.

#![cfg(feature = "test-util")]

mod reliability_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use reliability_support::*;
use tidelog::config::{LogConfig, ManualClock, StoreConfig, TopicConfig};
use tidelog::io::SimRng;
use tidelog::log::{Log, Validation};
use tidelog::store::Store;
use tidelog::Error;

/// Size of the ext4 image.
const IMAGE_BYTES: u64 = 32 << 20;

/// A 32 MiB ext4 file system on a loop device, unmounted on drop.
struct Ext4Loop {
    image: PathBuf,
    mnt: PathBuf,
    mounted: bool,
    _dir: tempfile::TempDir,
}

impl Ext4Loop {
    /// Makes and mounts it, or says why it cannot.
    fn create() -> Result<Ext4Loop, String> {
        if !is_root() {
            return Err("not root (mkfs.ext4 and mount -o loop need it)".into());
        }
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let image = dir.path().join("ext4.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).map_err(|e| format!("mkdir: {e}"))?;
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(IMAGE_BYTES))
            .map_err(|e| format!("image: {e}"))?;
        // No blocks reserved for root: the test runs as root and must see the disk full.
        run("mkfs.ext4", &["-q", "-F", "-m", "0"], &image)
            .map_err(|e| format!("cannot make an ext4 image: {e}"))?;
        let mut fs = Ext4Loop {
            image,
            mnt,
            mounted: false,
            _dir: dir,
        };
        fs.mount()
            .map_err(|e| format!("cannot mount an ext4 image on a loop device: {e}"))?;
        Ok(fs)
    }

    fn mount(&mut self) -> Result<(), String> {
        let out = Command::new("mount")
            .args(["-t", "ext4", "-o", "loop"])
            .arg(&self.image)
            .arg(&self.mnt)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        self.mounted = true;
        Ok(())
    }

    /// Unmounts (writing back and dropping the page cache) and mounts again.
    fn remount(&mut self) -> TestResult {
        run("umount", &[], &self.mnt)?;
        self.mounted = false;
        self.mount()?;
        Ok(())
    }
}

impl Drop for Ext4Loop {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.mnt).status();
        }
    }
}

/// True if the effective user is root (from `/proc/self/status`).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Runs `cmd args path`, failing with its stderr.
fn run(cmd: &str, args: &[&str], path: &Path) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .arg(path)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Free bytes of the file system at `path`.
fn free_bytes(path: &Path) -> TestResult<u64> {
    let st = rustix::fs::statvfs(path)?;
    Ok(st.f_bavail * st.f_frsize)
}

/// Fills the file system at `mnt` with a synced filler file, leaving about `left` bytes.
fn fill(mnt: &Path, left: u64) -> TestResult<PathBuf> {
    let filler = mnt.join("filler");
    let size = free_bytes(mnt)?.saturating_sub(left);
    let mut f = std::fs::File::create(&filler)?;
    let chunk = vec![0xAAu8; 1 << 16];
    let mut written = 0;
    while written < size {
        let n = chunk.len().min((size - written) as usize);
        if f.write_all(&chunk[..n]).is_err() {
            break;
        }
        written += n as u64;
    }
    let _ = f.sync_all();
    Ok(filler)
}

/// Prints `line` straight to stdout, past the test harness's capture.
fn emit(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Notes a failure that must be `NoSpace`.
fn expect_no_space(report: &mut Report, what: &str, e: &Error) {
    report.add("enospc_events", 1, false);
    report.clear_errors += 1;
    if !e.is_no_space() {
        report.add("wrong_error_kind", 1, true);
        report.note(format!("{what}: expected NoSpace, got {e}"));
    }
}

/// After a failed append or flush: the log refuses appends and flushes until reopened.
fn expect_poisoned<S: tidelog::io::Storage>(
    report: &mut Report,
    what: &str,
    log: &Log<S>,
    batch: &[u8],
) {
    match log.append_batch(batch, Validation::Shallow) {
        Err(Error::Poisoned { .. }) => {}
        other => {
            report.add("not_poisoned", 1, true);
            report.note(format!("{what}: append after ENOSPC: {other:?}"));
        }
    }
    if log.flush().is_ok() {
        report.add("not_poisoned", 1, true);
        report.note(format!("{what}: flush after ENOSPC succeeded"));
    }
}

/// Appends to `log` until the disk is full, flushing every 8 appends and closing at the
/// end if nothing failed before. Returns the oracle.
fn fill_log(report: &mut Report, what: &str, log: &Log, seed: u64) -> Oracle {
    let mut rng = SimRng::new(seed);
    let mut o = Oracle::default();
    for i in 0..100_000i64 {
        let batch = random_batch(&mut rng, 1_000 + i);
        let base = log.end_offset();
        o.attempted.push(Attempt {
            base,
            bytes: batch.clone(),
            acked: false,
        });
        match log.append_batch(&batch, Validation::Shallow) {
            Ok(info) => {
                if info.first_offset != base {
                    o.offset_violations += 1;
                }
                if let Some(a) = o.attempted.last_mut() {
                    a.acked = true;
                }
            }
            Err(e) => {
                expect_no_space(report, &format!("{what}: append"), &e);
                report.add("enospc_at_append", 1, false);
                expect_poisoned(report, what, log, &batch);
                return o;
            }
        }
        if i % 8 == 7 {
            if let Err(e) = log.flush() {
                expect_no_space(report, &format!("{what}: flush"), &e);
                report.add("enospc_at_flush", 1, false);
                expect_poisoned(report, what, log, &batch);
                return o;
            }
            o.durable = log.durable_offset();
        }
    }
    report.add("disk_never_filled", 1, true);
    report.note(format!("{what}: 100000 appends and the disk is not full"));
    o
}

/// Checks the oracle against the reopened `log` (appending one batch at the end).
fn check_reopened<S: tidelog::io::Storage>(
    report: &mut Report,
    what: &str,
    log: &Log<S>,
    o: &Oracle,
) {
    report.recoveries_ok += 1;
    report.inconsistent_offsets += o.offset_violations;
    let v = verify(
        log,
        o,
        Expect {
            acked_survive: false,
            intact: None,
        },
    );
    if v.lost_durable + v.corrupt + v.inconsistent > 0 {
        report.note(format!("{what}: {:?}", v.notes));
    }
    report.add("batches_recovered", v.recovered as u64, false);
    report.absorb(&v);
}

/// One `Log` run: fill, remount, reopen full, free, reopen, check.
fn log_scenario(
    report: &mut Report,
    fs: &mut Ext4Loop,
    name: &str,
    config: LogConfig,
    left: u64,
) -> TestResult {
    let what = format!("{name} (left {left})");
    let dir = fs.mnt.join(name);
    let filler = fill(&fs.mnt, left)?;
    let clock = ManualClock::new(1_000_000);
    report.trials += 1;
    let o = match Log::open(&dir, config.clone(), open_options(&clock, None)) {
        Ok(log) => {
            let o = fill_log(report, &what, &log, report.seed ^ left);
            // Whatever the page cache holds goes to the disk at unmount, or fails there.
            drop(log);
            o
        }
        Err(e) => {
            expect_no_space(report, &format!("{what}: open"), &e);
            Oracle::default()
        }
    };
    fs.remount()?;
    // Still full: a reopen works or says the disk is full.
    match Log::open(&dir, config.clone(), open_options(&clock, Some(o.durable))) {
        Ok(log) => {
            report.add("reopened_while_full", 1, false);
            drop(log);
        }
        Err(e) => expect_no_space(report, &format!("{what}: reopen while full"), &e),
    }
    std::fs::remove_file(&filler)?;
    let clock = ManualClock::new(2_000_000);
    match Log::open(&dir, config, open_options(&clock, Some(o.durable))) {
        Ok(log) => {
            check_reopened(report, &what, &log, &o);
            log.close()?;
        }
        Err(e) => {
            report.add("reopen_failures", 1, true);
            report.note(format!("{what}: reopen after freeing space: {e}"));
        }
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// The `Store` run: two partitions filled in turn, maintenance every 16 appends, then the
/// same remount, reopen and checks per partition.
fn store_scenario(report: &mut Report, fs: &mut Ext4Loop, left: u64) -> TestResult {
    let what = format!("store (left {left})");
    let dir = fs.mnt.join("store");
    let clock = ManualClock::new(1_000_000);
    let config = StoreConfig {
        background_maintenance: false,
        clock: Arc::new(clock.clone()),
        ..Default::default()
    };
    let topic = TopicConfig::default()
        .with("segment.bytes", "8192")?
        .with("segment.index.bytes", "65536")?;
    // The store's own files first, with space to spare.
    let store = Store::open(&dir, config.clone())?;
    store.create_topic("t", 2, topic)?;
    let filler = fill(&fs.mnt, left)?;
    report.trials += 1;
    let mut rng = SimRng::new(report.seed ^ left ^ 0x5707E);
    let mut oracles = [Oracle::default(), Oracle::default()];
    let mut poisoned = false;
    let mut checkpoint_failed = false;
    'fill: for i in 0..100_000i64 {
        let p = (i % 2) as usize;
        let log = store.log("t", p as i32)?;
        let batch = random_batch(&mut rng, 1_000 + i);
        let o = &mut oracles[p];
        let base = log.end_offset();
        o.attempted.push(Attempt {
            base,
            bytes: batch.clone(),
            acked: false,
        });
        match store.append_batch("t", p as i32, &batch, Validation::Shallow) {
            Ok(info) => {
                if info.first_offset != base {
                    o.offset_violations += 1;
                }
                if let Some(a) = o.attempted.last_mut() {
                    a.acked = true;
                }
            }
            Err(e) => {
                expect_no_space(report, &format!("{what}: append"), &e);
                report.add("enospc_at_append", 1, false);
                expect_poisoned(report, &what, &log, &batch);
                poisoned = true;
                break 'fill;
            }
        }
        if i % 16 == 15 {
            clock.advance(61_000);
            let flushed = store.flush();
            // Maintenance writes the checkpoints: a failure there poisons no partition.
            let maintained = (flushed.is_ok() && !checkpoint_failed).then(|| store.maintain());
            for (q, o) in oracles.iter_mut().enumerate() {
                o.durable = o.durable.max(store.log("t", q as i32)?.durable_offset());
            }
            if let Err(e) = &flushed {
                expect_no_space(report, &format!("{what}: flush"), e);
                report.add("enospc_at_flush", 1, false);
                let logs = [store.log("t", 0)?, store.log("t", 1)?];
                match logs.iter().find_map(|l| l.poisoned()) {
                    Some(first) if first.is_no_space() => {}
                    other => {
                        report.add("not_poisoned", 1, true);
                        report.note(format!("{what}: after a failed flush, poison {other:?}"));
                    }
                }
                poisoned = true;
                break 'fill;
            }
            if let Some(Err(e)) = maintained {
                // The partitions go on: fill on until they meet the full disk too.
                expect_no_space(report, &format!("{what}: maintain"), &e);
                report.add("enospc_at_checkpoint", 1, false);
                checkpoint_failed = true;
            }
        }
        if i == 99_999 {
            report.add("disk_never_filled", 1, true);
        }
    }
    // A partition poisoned by the full disk fails the close with `Poisoned` (carrying the
    // `NoSpace`); else the close itself may meet the full disk.
    match store.close() {
        Ok(()) if poisoned => {
            report.add("closed_despite_poison", 1, true);
            report.note(format!("{what}: close succeeded with a poisoned partition"));
        }
        Ok(()) => report.add("store_closed_when_full", 1, false),
        Err(Error::Poisoned { first }) if poisoned => {
            if !first.is_no_space() {
                report.add("wrong_error_kind", 1, true);
                report.note(format!("{what}: close: poisoned by {first}"));
            }
        }
        Err(e) => {
            expect_no_space(report, &format!("{what}: close"), &e);
            report.add("enospc_at_close", 1, false);
        }
    }
    drop(store);
    fs.remount()?;
    match Store::open(&dir, config.clone()) {
        Ok(store) => {
            report.add("reopened_while_full", 1, false);
            drop(store);
        }
        Err(e) => expect_no_space(report, &format!("{what}: reopen while full"), &e),
    }
    std::fs::remove_file(&filler)?;
    match Store::open(&dir, config) {
        Ok(store) => {
            for (p, o) in oracles.iter().enumerate() {
                let log = store.log("t", p as i32)?;
                check_reopened(report, &format!("{what}, partition {p}"), &log, o);
            }
            store.close()?;
        }
        Err(e) => {
            report.add("reopen_failures", 1, true);
            report.note(format!("{what}: reopen after freeing space: {e}"));
        }
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// R19: a 32 MiB ext4 image on a loop device fills through a `Log` (large and rolling
/// segments) and a `Store`, at three free-space levels each.
#[test]
#[ignore = "nightly tier: needs root, mkfs.ext4 and a loop device"]
fn r19_enospc_ext4_loop() -> TestResult {
    let seed = seed(0x0019_5EED);
    let mut report = Report::new("r19_enospc_ext4_loop", seed);
    let mut fs = match Ext4Loop::create() {
        Ok(fs) => fs,
        Err(reason) => {
            assert!(
                std::env::var("LOG_REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
                "r19_enospc_ext4_loop: LOG_REQUIRE_PRIVILEGED=1 but {reason}"
            );
            emit(&format!("r19_enospc_ext4_loop: SKIPPED: {reason}"));
            return Ok(());
        }
    };
    let big = LogConfig {
        segment_bytes: 1 << 20,
        retention_ms: -1,
        ..Default::default()
    };
    let rolling = LogConfig {
        segment_bytes: 8192,
        index_interval_bytes: 256,
        segment_index_bytes: 1 << 16,
        retention_ms: -1,
        ..Default::default()
    };
    for left in [64 << 10, 256 << 10, 1 << 20] {
        log_scenario(&mut report, &mut fs, "big", big.clone(), left)?;
        log_scenario(&mut report, &mut fs, "rolling", rolling.clone(), left)?;
        store_scenario(&mut report, &mut fs, left)?;
    }
    report.finish();
    Ok(())
}
