//! R13 `crash_points_deterministic` (RELIABILITY.md §6): `abort()` at every hit of every
//! named crash point that the workload makes (about 360 children).
//!
//! The test binary re-executes itself as a child (`crash_child`, role `fp_workload`, as in
//! `tests/reliability_crash.rs`) with `LOG_CRASHPOINT=<point>:<hit>`. The child runs a
//! scripted workload on a [`Store`] that passes every point at least three times: three
//! rounds of open, appends with small segments and a small index interval (rolls, index
//! entries), `Sync` appends and flushes, `delete_records_before` (retention), `truncate_to`,
//! creating, filling and deleting a two-partition topic, and a clean close. It announces
//! each operation before starting it and acknowledges it after it returns (`@@ ` lines).
//! The `failpoints` feature makes the library abort at the chosen hit; the parent checks that
//! the child died by SIGABRT, then checks the state left on disk and reopened:
//!
//! - every checkpoint file left by the crash parses (offsets, leader epochs, partition
//!   metadata; the store metadata is parsed by the open);
//! - the store opens;
//! - topic `main` holds exactly the acknowledged history (abort keeps the page cache, so
//!   every acknowledged batch, synced or not, is there with its content), offsets
//!   contiguous, plus at most the one append in flight; a retention pass in flight is seen
//!   wholly done or not at all; a truncation in flight leaves a prefix of the log that holds
//!   everything below the cut (the pre-state cut at a segment boundary at or past the target;
//!   `truncate_to` is not atomic across segments, but never leaves a hole or a mix);
//! - a topic being created or deleted is either fully there (every partition, every
//!   acknowledged batch) or fully gone (no API view, no partition directory).
//!
//! `r13_registry_every_point_hit` runs the workload once without aborting and checks that
//! every declared point was hit (at least three times); `r13_truncate_crash_leaves_no_hole`
//! is the regression test of the bug R13 found in `truncate_to`. Prints one JSON line with
//! RELIABILITY.md §4's counts (violations classified as acknowledged batches lost, records
//! altered, offsets out of line, or other) and the points × hits covered. The workload's
//! values derive from `LOG_TEST_SEED` (default 0x5EED0013, printed as `seed`);
//! `TIDELOG_CRASHPOINT_JOBS` sets the parallelism (default 2), `TIDELOG_R13_MAX_HIT` caps
//! the hits tried per point (default: all), `TIDELOG_R13_VERBOSE=1` prints each trial.

#![cfg(feature = "failpoints")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{
    env_u64, make_batch, now_ms, read_all, say, BatchRec, ChildProc, Finished, Report, TestResult,
    XorShift, ROLE_ENV,
};
use tidelog::checkpoint::{
    decode, EpochEntry, OffsetEntry, PartitionMetadata, LEADER_EPOCH_CHECKPOINT_FILE,
    LOG_START_OFFSET_CHECKPOINT_FILE, PARTITION_METADATA_FILE, RECOVERY_POINT_CHECKPOINT_FILE,
};
use tidelog::config::{LogConfig, StoreConfig, TopicConfig};
use tidelog::failpoint;
use tidelog::log::{AppendOptions, Durability, Log};
use tidelog::store::Store;
use tidelog::Error;

/// The workload's seed: `LOG_TEST_SEED` if set (children inherit it), else a fixed one; one
/// seed for every child of a run, so that all of them meet the points in the same order.
fn workload_seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED
        .get_or_init(|| std::env::var("LOG_TEST_SEED").map_or(0x5EED_0013, |_| common::test_seed()))
}
/// Rounds of the workload (each passes every point at least once).
const ROUNDS: u32 = 3;
/// Partitions of each round's temporary topic.
const TMP_PARTITIONS: i32 = 2;

fn store_config() -> StoreConfig {
    StoreConfig {
        log: LogConfig {
            segment_bytes: 2048,
            index_interval_bytes: 256,
            retention_ms: -1,
            retention_bytes: -1,
            ..Default::default()
        },
        background_maintenance: false,
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------
// The child

/// The child entry point: a no-op unless `TIDELOG_CRASH_ROLE` is set.
#[test]
fn crash_child() -> TestResult {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return Ok(());
    };
    die_with_parent();
    match role.as_str() {
        "fp_workload" => workload_child(),
        other => Err(format!("unknown child role {other}").into()),
    }
}

/// Reports an error line, then hands the error on.
fn fail(e: Error) -> Box<dyn std::error::Error> {
    say(&format!("error {e}"));
    e.into()
}

/// Appends one seeded batch to `log`, announcing it as `begin` and acknowledging it as
/// `ack_prefix <first> <last> <crc>`.
fn append_one(
    log: &Log,
    rng: &mut XorShift,
    generation: u32,
    durability: Durability,
    begin: &str,
    ack_prefix: &str,
) -> TestResult {
    let first = log.end_offset();
    let (records, crc) = make_batch(rng, workload_seed(), generation, first, 4, 200, now_ms());
    say(begin);
    let opts = AppendOptions {
        durability,
        ..Default::default()
    };
    let info = log.append(&records, &opts).map_err(fail)?;
    say(&format!(
        "{ack_prefix} {} {} {crc}",
        info.first_offset, info.last_offset
    ));
    if info.durable {
        say(&format!("synced {}", log.durable_offset()));
    }
    Ok(())
}

/// The scripted workload: three rounds that each pass every crash point.
fn workload_child() -> TestResult {
    let dir = PathBuf::from(std::env::var("TIDELOG_CRASH_DIR")?);
    let mut rng = XorShift::new(workload_seed());
    for round in 0..ROUNDS {
        say(&format!("opening {round}"));
        let store = Store::open(&dir, store_config()).map_err(fail)?;
        say("opened");
        if round == 0 {
            say("creating main");
            store
                .create_topic("main", 1, TopicConfig::default())
                .map_err(fail)?;
            say("created main");
        }
        let log = store.log("main", 0).map_err(fail)?;
        let generation = round * 10;
        for i in 0..24 {
            let durability = if i % 6 == 5 {
                Durability::Sync
            } else {
                Durability::PageCache
            };
            append_one(&log, &mut rng, generation, durability, "appending", "ack")?;
        }
        say("flushing");
        log.flush().map_err(fail)?;
        say(&format!("synced {}", log.durable_offset()));
        // Retention of exactly the oldest segment.
        let bases = log.segment_base_offsets();
        if let Some(&target) = bases.get(1) {
            say(&format!("retaining {target}"));
            let report = log.delete_records_before(target).map_err(fail)?;
            say(&format!("retained {}", report.log_start_offset));
        }
        // Truncation to the start of the tenth batch from the end (the child tracks its own
        // batch boundaries from the acks it sent).
        let cut = truncation_target(&log)?;
        say(&format!(
            "truncating {cut} {}",
            hits_of("retention.after_rename")
        ));
        log.truncate_to(cut).map_err(fail)?;
        say(&format!("truncated {}", log.end_offset()));
        for _ in 0..4 {
            append_one(
                &log,
                &mut rng,
                generation + 1,
                Durability::PageCache,
                "appending",
                "ack",
            )?;
        }
        // A temporary topic: created, filled, deleted.
        let tmp = format!("tmp{round}");
        say(&format!("creating {tmp}"));
        store
            .create_topic(&tmp, TMP_PARTITIONS as u32, TopicConfig::default())
            .map_err(fail)?;
        say(&format!("created {tmp}"));
        for p in 0..TMP_PARTITIONS {
            let tlog = store.log(&tmp, p).map_err(fail)?;
            for _ in 0..3 {
                append_one(
                    &tlog,
                    &mut rng,
                    generation + 2,
                    Durability::PageCache,
                    &format!("tappending {tmp} {p}"),
                    &format!("tack {tmp} {p}"),
                )?;
            }
        }
        say(&format!("deleting {tmp}"));
        store.delete_topic(&tmp).map_err(fail)?;
        say(&format!("deleted {tmp}"));
        drop(log);
        say("closing");
        store.close().map_err(fail)?;
        say("closed");
    }
    let hits: Vec<String> = failpoint::hits()
        .iter()
        .map(|(name, n)| format!("{name}={n}"))
        .collect();
    say(&format!("hits {}", hits.join(" ")));
    say("done");
    Ok(())
}

/// How often `point` was hit so far in this process.
fn hits_of(point: &str) -> u64 {
    failpoint::hits()
        .iter()
        .find(|(k, _)| *k == point)
        .map_or(0, |(_, n)| *n)
}

/// The first offset of the tenth batch from the end of `log`.
fn truncation_target(log: &Log) -> TestResult<i64> {
    let batches = read_all(log, workload_seed())?;
    let i = batches.len().saturating_sub(10);
    Ok(batches.get(i).map_or(log.end_offset(), |b| b.rec.first))
}

/// Asks the kernel to SIGKILL this child if the parent test dies first.
fn die_with_parent() {
    // SAFETY: prctl(PR_SET_PDEATHSIG, sig) takes integer arguments only and reads or writes
    // no memory of this process.
    #[expect(unsafe_code, reason = "prctl has no safe wrapper in std")]
    let _ = unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
}

// ---------------------------------------------------------------------------------------
// What the child reported

/// The acknowledged history of one partition and the operation in flight on it.
#[derive(Debug, Default, Clone)]
struct PartHistory {
    /// Acknowledged batches by first offset.
    acked: BTreeMap<i64, BatchRec>,
    /// An append was announced and not acknowledged.
    append_in_flight: bool,
}

impl PartHistory {
    fn ack(&mut self, first: i64, last: i64, crc: u32) {
        self.acked.insert(first, BatchRec { first, last, crc });
        self.append_in_flight = false;
    }

    fn end(&self, start: i64) -> i64 {
        self.acked
            .last_key_value()
            .map_or(start, |(_, b)| b.last + 1)
    }
}

/// The state of a temporary topic as the child reported it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum TopicPhase {
    #[default]
    Creating,
    Created,
    Deleting,
    Deleted,
}

/// Everything the child's lines say about the state it left.
#[derive(Debug, Default)]
struct Model {
    main_phase: Option<TopicPhase>,
    main: PartHistory,
    /// Log start of `main` as last reported, and a retention target in flight.
    start: i64,
    retaining: Option<i64>,
    /// A truncation target in flight.
    truncating: Option<i64>,
    /// The highest durable offset reported.
    synced: i64,
    tmp: BTreeMap<String, (TopicPhase, Vec<PartHistory>)>,
    hits: Vec<(String, u64)>,
    done: bool,
    errors: Vec<String>,
    /// Every line, in order.
    lines_seen: Vec<String>,
}

impl Model {
    fn from_lines(lines: &[String]) -> Model {
        let mut m = Model {
            lines_seen: lines.to_vec(),
            ..Model::default()
        };
        for line in lines {
            let w: Vec<&str> = line.split_whitespace().collect();
            let num = |i: usize| w.get(i).and_then(|s| s.parse::<i64>().ok()).unwrap_or(-1);
            match w.first().copied().unwrap_or_default() {
                "creating" if w.get(1) == Some(&"main") => {
                    m.main_phase = Some(TopicPhase::Creating)
                }
                "created" if w.get(1) == Some(&"main") => m.main_phase = Some(TopicPhase::Created),
                "creating" => {
                    let parts = vec![PartHistory::default(); TMP_PARTITIONS as usize];
                    m.tmp
                        .insert(w[1].to_string(), (TopicPhase::Creating, parts));
                }
                "created" | "deleting" | "deleted" => {
                    let phase = match w[0] {
                        "created" => TopicPhase::Created,
                        "deleting" => TopicPhase::Deleting,
                        _ => TopicPhase::Deleted,
                    };
                    if let Some(t) = m.tmp.get_mut(w[1]) {
                        t.0 = phase;
                    }
                }
                "appending" => m.main.append_in_flight = true,
                "ack" => m.main.ack(num(1), num(2), num(3) as u32),
                "tappending" | "tack" => {
                    let Some(t) = m.tmp.get_mut(w[1]) else {
                        m.errors.push(format!("line for an unknown topic: {line}"));
                        continue;
                    };
                    let Some(part) = t.1.get_mut(num(2) as usize) else {
                        m.errors
                            .push(format!("line for an unknown partition: {line}"));
                        continue;
                    };
                    if w[0] == "tack" {
                        part.ack(num(3), num(4), num(5) as u32);
                    } else {
                        part.append_in_flight = true;
                    }
                }
                "synced" => m.synced = m.synced.max(num(1)),
                "retaining" => m.retaining = Some(num(1)),
                "retained" => {
                    // Batches below the new start are gone by the operation's contract.
                    m.start = num(1);
                    m.retaining = None;
                    m.main.acked = m.main.acked.split_off(&m.start);
                }
                "truncating" => m.truncating = Some(num(1)),
                "truncated" => {
                    let _ = m.main.acked.split_off(&num(1));
                    m.truncating = None;
                }
                "hits" => {
                    m.hits = w[1..]
                        .iter()
                        .filter_map(|kv| {
                            let (k, v) = kv.split_once('=')?;
                            Some((k.to_string(), v.parse().ok()?))
                        })
                        .collect();
                }
                "done" => m.done = true,
                "error" => m.errors.push(line.clone()),
                _ => {}
            }
        }
        m
    }
}

// ---------------------------------------------------------------------------------------
// The checks

/// The violations of one trial, described, and counted by what they break (RELIABILITY.md
/// §4): acknowledged batches lost (of them, below the durable offset reported), records
/// returned altered, offsets out of line (holes, overlaps, a wrong log start or end, a batch
/// that was never acknowledged); the rest (a store that does not reopen, a topic half
/// there, a checkpoint that does not parse, a child that failed) counts as a violation only.
#[derive(Debug, Default)]
struct Found {
    all: Vec<String>,
    lost: u64,
    lost_synced: u64,
    corrupt: u64,
    offsets: u64,
}

impl Found {
    fn other(&mut self, what: String) {
        self.all.push(what);
    }

    fn lost(&mut self, synced: bool, what: String) {
        self.lost += 1;
        self.lost_synced += u64::from(synced);
        self.all.push(what);
    }

    fn corrupt(&mut self, what: String) {
        self.corrupt += 1;
        self.all.push(what);
    }

    fn offsets(&mut self, what: String) {
        self.offsets += 1;
        self.all.push(what);
    }

    fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}

/// The violations found in the state a child left in `dir`, described.
fn check_state(dir: &Path, m: &Model) -> Found {
    let mut v = Found::default();
    check_checkpoint_files(dir, &mut v);
    let store = match Store::open(dir, store_config()) {
        Ok(s) => s,
        Err(e) => {
            v.other(format!("reopening the store failed: {e}"));
            return v;
        }
    };
    // Topic `main`.
    match m.main_phase {
        None => {
            if store.has_topic("main") {
                v.other("topic main exists though its creation never started".into());
            }
        }
        Some(TopicPhase::Creating) => {
            if store.has_topic("main") {
                check_partition(
                    &store,
                    "main",
                    0,
                    &PartHistory::default(),
                    0,
                    &[0],
                    None,
                    0,
                    &mut v,
                );
            } else {
                check_no_dirs(dir, "main", &mut v);
            }
        }
        Some(_) => {
            let mut starts = vec![m.start];
            starts.extend(m.retaining);
            check_partition(
                &store,
                "main",
                0,
                &m.main,
                m.start,
                &starts,
                m.truncating,
                m.synced,
                &mut v,
            );
        }
    }
    // The temporary topics: wholly there or wholly gone.
    for (name, (phase, parts)) in &m.tmp {
        let present = store.has_topic(name);
        match (phase, present) {
            (TopicPhase::Creating | TopicPhase::Deleting, false) | (TopicPhase::Deleted, false) => {
                check_no_dirs(dir, name, &mut v);
            }
            (TopicPhase::Deleted, true) => {
                v.other(format!("topic {name} is back after its deletion"))
            }
            (TopicPhase::Created, false) => {
                v.lost(false, format!("topic {name} lost after its creation"))
            }
            (_, true) => {
                match store.partition_count(name) {
                    Ok(n) if n == TMP_PARTITIONS as u32 => {}
                    other => v.other(format!("topic {name} has {other:?} partitions")),
                }
                for (p, part) in parts.iter().enumerate() {
                    check_partition(&store, name, p as i32, part, 0, &[0], None, 0, &mut v);
                }
            }
        }
    }
    for topic in store.list_topics() {
        if topic != "main" && !m.tmp.contains_key(&topic) {
            v.other(format!("unexpected topic {topic}"));
        }
    }
    if let Err(e) = store.close() {
        v.other(format!("closing the reopened store failed: {e}"));
    }
    v
}

/// Checks one partition against its history: log start one of `starts`, the acknowledged
/// batches from the start, or (with a truncation to `truncating` in flight) those below it,
/// plus at most the announced append; every batch genuine and offsets contiguous. `synced`
/// is the durable offset the child last reported (for counting synced batches lost).
#[allow(
    clippy::too_many_arguments,
    reason = "a checker with the model's parts"
)]
fn check_partition(
    store: &Store,
    topic: &str,
    partition: i32,
    h: &PartHistory,
    pre_start: i64,
    starts: &[i64],
    truncating: Option<i64>,
    synced: i64,
    v: &mut Found,
) {
    let what = format!("{topic}-{partition}");
    let log = match store.log(topic, partition) {
        Ok(log) => log,
        Err(e) => {
            v.lost(false, format!("{what}: no log: {e}"));
            return;
        }
    };
    let start = log.log_start_offset();
    let end = log.end_offset();
    if !starts.contains(&start) {
        v.offsets(format!(
            "{what}: log start {start}, expected one of {starts:?}"
        ));
    }
    let observed = match read_all(&log, workload_seed()) {
        Ok(o) => o,
        Err(e) => {
            v.other(format!("{what}: reading failed: {e}"));
            return;
        }
    };
    let mut next = start;
    for o in &observed {
        if o.rec.first != next {
            v.offsets(format!(
                "{what}: batch {}..={} follows offset {} (hole or overlap)",
                o.rec.first,
                o.rec.last,
                next - 1
            ));
        }
        if !o.genuine {
            v.corrupt(format!(
                "{what}: batch {}..={} altered",
                o.rec.first, o.rec.last
            ));
        }
        next = o.rec.last + 1;
    }
    if next != end {
        v.offsets(format!(
            "{what}: batches end at {next}, the log end is {end}"
        ));
    }
    let expected: Vec<BatchRec> = h
        .acked
        .range(start.max(pre_start)..)
        .map(|(_, b)| *b)
        .collect();
    let matching = observed
        .iter()
        .zip(&expected)
        .take_while(|(o, e)| o.rec == **e)
        .count();
    let mut allowed = BTreeSet::from([expected.len()]);
    if let Some(x) = truncating {
        // `truncate_to` removes whole segments newest first, then cuts the last one kept: a
        // crash part-way leaves a prefix of the log that holds everything below `x`, as if
        // truncated at a later segment boundary; never a hole, never a mix of old and new.
        let post = expected.iter().filter(|b| b.last < x).count();
        allowed.extend(post..expected.len());
    }
    let extra = observed.len().saturating_sub(matching);
    let ok = allowed.contains(&matching)
        && (extra == 0
            || (extra == 1
                && h.append_in_flight
                && matching == expected.len()
                && observed[matching].rec.first == h.end(start)));
    if !ok {
        let what = format!(
            "{what}: recovered {} batches [{start}, {end}), {matching} match the {} acknowledged \
             (allowed {allowed:?}, append in flight {}); synced up to {synced}",
            observed.len(),
            expected.len(),
            h.append_in_flight,
        );
        let fewest = allowed.first().copied().unwrap_or(expected.len());
        if matching < fewest {
            // Acknowledged batches missing (an abort keeps the page cache: none may go).
            let below_synced = expected[matching..fewest].iter().any(|b| b.first < synced);
            v.lost(below_synced, what);
        } else {
            v.offsets(what);
        }
    }
}

/// No partition directory of `topic` (live or being deleted) may remain.
fn check_no_dirs(dir: &Path, topic: &str, v: &mut Found) {
    let prefix = format!("{topic}-");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) {
                v.other(format!(
                    "topic {topic} is gone but directory {name} remains"
                ));
            }
        }
    }
}

/// Every checkpoint file the crash left (not `.tmp`) parses.
fn check_checkpoint_files(dir: &Path, v: &mut Found) {
    for name in [
        RECOVERY_POINT_CHECKPOINT_FILE,
        LOG_START_OFFSET_CHECKPOINT_FILE,
    ] {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            if let Err(e) = decode::<OffsetEntry>(&bytes) {
                v.other(format!("{name} does not parse: {e}"));
            }
        }
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        v.other(format!("{} is not readable", dir.display()));
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if !path.is_dir() {
            continue;
        }
        if let Ok(bytes) = std::fs::read(path.join(LEADER_EPOCH_CHECKPOINT_FILE)) {
            if let Err(e) = decode::<EpochEntry>(&bytes) {
                v.other(format!(
                    "{}: leader epochs do not parse: {e}",
                    path.display()
                ));
            }
        }
        if let Ok(bytes) = std::fs::read(path.join(PARTITION_METADATA_FILE)) {
            if let Err(e) = PartitionMetadata::decode(&bytes) {
                v.other(format!(
                    "{}: partition metadata does not parse: {e}",
                    path.display()
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The tests

/// One child run: what it reported, how it ended, what the checks found.
struct Trial {
    label: String,
    aborted: bool,
    model: Model,
    violations: Found,
    /// The child panicked.
    panicked: bool,
    stderr: String,
}

/// Runs the workload in a child with `LOG_CRASHPOINT = crashpoint` (none if `None`), then
/// checks the state it left.
fn run_trial(crashpoint: Option<(&str, u64)>) -> TestResult<Trial> {
    let tmp = common::scratch_dir()?;
    let dir = tmp.path().join("store");
    let mut env = vec![("TIDELOG_CRASH_DIR", dir.display().to_string())];
    let label = match crashpoint {
        Some((name, hit)) => {
            env.push((failpoint::CRASHPOINT_ENV, format!("{name}:{hit}")));
            format!("{name}:{hit}")
        }
        None => "no crash point".to_string(),
    };
    let child = ChildProc::spawn("fp_workload", &env)?;
    let Finished {
        status,
        lines,
        stderr,
        ..
    } = child.finish(Duration::from_secs(60))?;
    let aborted = status.signal() == Some(libc::SIGABRT);
    let model = Model::from_lines(&lines);
    let finished = status.success() && model.done;
    let mut violations = check_state(&dir, &model);
    if !(aborted || finished) {
        violations.other(format!("child ended with {status} without finishing"));
    }
    for e in &model.errors {
        violations.other(e.clone());
    }
    Ok(Trial {
        label,
        aborted,
        model,
        violations,
        panicked: stderr.contains("panicked"),
        stderr,
    })
}

/// The registry: the workload, run once without aborting, passes every declared point at
/// least three times (so that every trial of the matrix below aborts), and its final state
/// checks out.
#[test]
fn r13_registry_every_point_hit() -> TestResult {
    if std::env::var(ROLE_ENV).is_ok() {
        return Ok(());
    }
    let trial = run_trial(None)?;
    assert!(
        trial.violations.is_empty(),
        "violations without a crash: {:?}\n{}",
        trial.violations.all,
        trial.stderr
    );
    let hits = &trial.model.hits;
    for name in failpoint::declared() {
        let n = hits.iter().find(|(k, _)| k == name).map_or(0, |(_, n)| *n);
        assert!(
            n >= 3,
            "crash point {name} was hit {n} times (at least 3 needed)"
        );
    }
    Ok(())
}

/// The bug R13 found: `truncate_to` removed the segments past the cut oldest first, so a
/// crash after the first rename left a hole that the next open refused ("offsets .. are
/// missing before segment .."). Aborts at the first segment-file rename of the first
/// truncation and checks the store reopens to a prefix of the log (kept as a named test
/// of that one hit, which the full sweep also reaches).
#[test]
fn r13_truncate_crash_leaves_no_hole() -> TestResult {
    if std::env::var(ROLE_ENV).is_ok() {
        return Ok(());
    }
    let baseline = run_trial(None)?;
    let renames_before = baseline
        .model
        .lines_seen
        .iter()
        .find_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.first() == Some(&"truncating")).then(|| w.get(2)?.parse::<u64>().ok())?
        })
        .ok_or("the workload reported no truncation")?;
    let trial = run_trial(Some(("retention.after_rename", renames_before + 1)))?;
    assert!(trial.aborted, "the child did not abort: {}", trial.stderr);
    assert!(
        trial.model.truncating.is_some(),
        "the abort was not inside truncate_to"
    );
    assert!(
        trial.violations.is_empty(),
        "violations: {:?}",
        trial.violations.all
    );
    Ok(())
}

/// R13: abort at every hit of every declared point the workload makes (each point's hits
/// counted by a run without aborting); the state is the pre- or post-operation state, never
/// a mix. `TIDELOG_R13_MAX_HIT=<n>` caps the hits tried per point (a quick local run).
#[test]
fn r13_crash_points_deterministic() -> TestResult {
    if std::env::var(ROLE_ENV).is_ok() {
        return Ok(());
    }
    let started = Instant::now();
    let seed = workload_seed();
    let baseline = run_trial(None)?;
    let points = failpoint::declared();
    let never_hit = points
        .iter()
        .filter(|name| {
            !baseline
                .model
                .hits
                .iter()
                .any(|(k, n)| k == *name && *n > 0)
        })
        .count();
    // Every hit of every point: the workload is deterministic for its seed, so hit `n` of a
    // point is the same place in every child. About 360 children, ~15 s at 2 jobs here.
    let max_hit = env_u64("TIDELOG_R13_MAX_HIT", u64::MAX);
    let tasks: Vec<(&str, u64)> = points
        .iter()
        .flat_map(|&name| {
            let made = baseline
                .model
                .hits
                .iter()
                .find(|(k, _)| k == name)
                .map_or(0, |(_, n)| *n);
            (1..=max_hit.min(made)).map(move |hit| (name, hit))
        })
        .collect();
    let jobs = env_u64("TIDELOG_CRASHPOINT_JOBS", 2).max(1) as usize;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Result<Trial, String>>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&task) = tasks.get(i) else { break };
                let r = run_trial(Some(task)).map_err(|e| format!("{task:?}: {e}"));
                results.lock().unwrap_or_else(|p| p.into_inner()).push(r);
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    let verbose = env_u64("TIDELOG_R13_VERBOSE", 0) == 1;
    if verbose {
        eprintln!("R13 baseline hits: {:?}", baseline.model.hits);
    }
    let mut aborts = 0u64;
    let mut recoveries_ok = 0u64;
    let mut panics = u64::from(baseline.panicked);
    let (mut lost, mut lost_synced, mut corrupt, mut offsets) = (0u64, 0u64, 0u64, 0u64);
    let mut violations = baseline.violations.all.len() as u64;
    let mut details: Vec<String> = baseline
        .violations
        .all
        .iter()
        .map(|d| format!("no crash point: {d}"))
        .collect();
    for r in results {
        let t = r?;
        if t.aborted {
            aborts += 1;
        } else {
            violations += 1;
            details.push(format!("{}: the child did not abort", t.label));
        }
        panics += u64::from(t.panicked);
        let found = &t.violations;
        violations += found.all.len() as u64;
        lost += found.lost;
        lost_synced += found.lost_synced;
        corrupt += found.corrupt;
        offsets += found.offsets;
        recoveries_ok += u64::from(found.is_empty());
        if verbose {
            let last = |prefix: &str| {
                t.model
                    .lines_seen
                    .iter()
                    .rev()
                    .find(|l| !l.starts_with(prefix))
                    .cloned()
                    .unwrap_or_default()
            };
            eprintln!(
                "R13 {}: aborted {} after {:?}; main acked {} batches, start {}, retaining {:?}, \
                 truncating {:?}, synced {}",
                t.label,
                t.aborted,
                last("synced"),
                t.model.main.acked.len(),
                t.model.start,
                t.model.retaining,
                t.model.truncating,
                t.model.synced
            );
        }
        for d in &found.all {
            details.push(format!("{}: {d}", t.label));
        }
        if !found.is_empty() && !t.stderr.is_empty() {
            details.push(format!("{}: child stderr: {}", t.label, t.stderr.trim()));
        }
    }
    let hits_made: u64 = baseline.model.hits.iter().map(|(_, n)| *n).sum();
    Report::new("R13_crash_points", seed)
        .int("trials", tasks.len() as u64)
        .int("faults_injected", aborts)
        .int("crash_points", tasks.len() as u64)
        .int("recoveries_ok", recoveries_ok)
        .int("acked_synced_lost", lost_synced)
        .int("corrupt_returned", corrupt)
        .int("inconsistent_offsets", offsets)
        .int("panics", panics)
        .int("points", points.len() as u64)
        .int("hits_made", hits_made)
        .int("hits_tried", tasks.len() as u64)
        .int("aborts", aborts)
        .int("acked_lost", lost)
        .int("violations", violations)
        .int("points_never_hit", never_hit as u64)
        .int("wall_ms", started.elapsed().as_millis() as u64)
        .emit();
    for d in details.iter().take(30) {
        eprintln!("R13: {d}");
    }
    assert_eq!(never_hit, 0, "points never hit by the workload");
    assert_eq!(
        violations, 0,
        "R13 violations (LOG_TEST_SEED={seed}): {details:#?}"
    );
    Ok(())
}
