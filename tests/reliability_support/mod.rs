//! Shared harness of the `reliability_*` suites: the JSON report line, seeds, scripted
//! workloads with their oracle (what was attempted, acknowledged and reported durable), and
//! the checks of invariants I1-I7 against a reopened log.

#![allow(dead_code, reason = "each suite uses a part of the harness")]

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tidelog::config::{LogConfig, ManualClock};
use tidelog::io::{SimRng, Storage};
use tidelog::log::{Durability, Log, LogOpenOptions, Validation};
use tidelog::record::{encode_batch, BatchOptions, Record};
use tidelog::{Compression, Error};

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// The seed: `LOG_TEST_SEED` (decimal or 0x-hex) if set, else `default`.
pub fn seed(default: u64) -> u64 {
    std::env::var("LOG_TEST_SEED")
        .ok()
        .and_then(|s| {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => s.parse().ok(),
            }
        })
        .unwrap_or(default)
}

/// The counts every harness reports (RELIABILITY.md section 4), printed as one JSON line.
#[derive(Debug)]
pub struct Report {
    pub test: &'static str,
    pub seed: u64,
    pub trials: u64,
    pub faults_injected: u64,
    pub crash_points: u64,
    pub recoveries_ok: u64,
    pub clear_errors: u64,
    pub acked_synced_lost: u64,
    pub corrupt_returned: u64,
    pub inconsistent_offsets: u64,
    pub bytes_dropped_beyond_damage: u64,
    pub panics: u64,
    /// Further figures; those marked `true` must be zero too.
    pub extra: Vec<(&'static str, u64, bool)>,
    /// The first few violations, printed on failure.
    pub notes: Vec<String>,
    start: Instant,
}

impl Report {
    pub fn new(test: &'static str, seed: u64) -> Self {
        Report {
            test,
            seed,
            trials: 0,
            faults_injected: 0,
            crash_points: 0,
            recoveries_ok: 0,
            clear_errors: 0,
            acked_synced_lost: 0,
            corrupt_returned: 0,
            inconsistent_offsets: 0,
            bytes_dropped_beyond_damage: 0,
            panics: 0,
            extra: Vec::new(),
            notes: Vec::new(),
            start: Instant::now(),
        }
    }

    /// Adds `n` to the extra figure `key` (created on first use).
    pub fn add(&mut self, key: &'static str, n: u64, must_be_zero: bool) {
        match self.extra.iter_mut().find(|(k, _, _)| *k == key) {
            Some(e) => e.1 += n,
            None => self.extra.push((key, n, must_be_zero)),
        }
    }

    /// Records a violation's description (the first 20 are kept).
    pub fn note(&mut self, what: impl Into<String>) {
        if self.notes.len() < 20 {
            self.notes.push(what.into());
        }
    }

    pub fn absorb(&mut self, v: &Verdict) {
        self.acked_synced_lost += v.lost_durable + v.lost_acked;
        self.corrupt_returned += v.corrupt;
        self.inconsistent_offsets += v.inconsistent;
        self.bytes_dropped_beyond_damage += v.dropped_beyond;
        if v.holes > 0 {
            self.add("offset_holes", v.holes, true);
        }
        if v.trailing_gap > 0 {
            self.add("trailing_offset_gaps", v.trailing_gap, true);
        }
        for n in &v.notes {
            self.note(n.clone());
        }
    }

    /// Prints the JSON line (straight to stdout, past the test harness's capture) and
    /// fails if a must-be-zero count is not zero.
    pub fn finish(self) {
        let mut line = format!(
            "{{\"test\":\"{}\",\"seed\":{},\"trials\":{},\"faults_injected\":{},\"crash_points\":{},\
             \"recoveries_ok\":{},\"clear_errors\":{},\"acked_synced_lost\":{},\"corrupt_returned\":{},\
             \"inconsistent_offsets\":{},\"bytes_dropped_beyond_damage\":{},\"panics\":{}",
            self.test,
            self.seed,
            self.trials,
            self.faults_injected,
            self.crash_points,
            self.recoveries_ok,
            self.clear_errors,
            self.acked_synced_lost,
            self.corrupt_returned,
            self.inconsistent_offsets,
            self.bytes_dropped_beyond_damage,
            self.panics
        );
        for (k, v, _) in &self.extra {
            line.push_str(&format!(",\"{k}\":{v}"));
        }
        line.push_str(&format!(
            ",\"wall_ms\":{}}}\n",
            self.start.elapsed().as_millis()
        ));
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
        let bad_extra: Vec<_> = self.extra.iter().filter(|(_, v, z)| *z && *v > 0).collect();
        let failed = self.acked_synced_lost
            + self.corrupt_returned
            + self.inconsistent_offsets
            + self.bytes_dropped_beyond_damage
            + self.panics
            > 0
            || !bad_extra.is_empty();
        assert!(
            !failed,
            "{}: invariant violations (replay with LOG_TEST_SEED={}): {line}{:#?}",
            self.test, self.seed, self.notes
        );
    }
}

/// Enforces what a workload's run itself saw (must be zero after every run): a failed write
/// or sync that did not poison the log (`not_poisoned`, RELIABILITY.md §3.5), and an append
/// acknowledged at an offset other than the log end before it (`inconsistent_offsets`, I5).
pub fn check_oracle(report: &mut Report, o: &Oracle, what: &str) {
    report.add("poison_probes", o.poison_probes, false);
    if o.poison_violations > 0 {
        report.add("not_poisoned", o.poison_violations, true);
        report.note(format!(
            "{what}: a failed write or sync did not poison the log"
        ));
    }
    if o.offset_violations > 0 {
        report.inconsistent_offsets += o.offset_violations;
        report.note(format!(
            "{what}: an append got an offset other than the log end"
        ));
    }
}

/// Runs `f`, turning a panic into `None` (and counting it).
pub fn guarded<T>(report: &mut Report, what: &str, f: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(e) => {
            report.panics += 1;
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            report.note(format!("panic in {what}: {msg}"));
            None
        }
    }
}

/// A scratch directory on a RAM file system when there is one (`fsync` is then cheap).
pub fn scratch_dir() -> TestResult<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::Builder::new()
            .prefix("tidelog-rel-")
            .tempdir_in(shm)
        {
            return Ok(d);
        }
    }
    Ok(tempfile::tempdir()?)
}

/// Copies the files of directory `from` into `to` (created).
pub fn copy_dir(from: &Path, to: &Path) -> TestResult {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// A log file name's path: `<dir>/<20-digit base>.<ext>`.
pub fn seg_path(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

/// The base offsets of the `.log` files in `dir`, sorted.
pub fn segment_bases(dir: &Path) -> TestResult<Vec<i64>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".log").filter(|s| s.len() == 20) {
            if let Ok(b) = stem.parse::<i64>() {
                out.push(b);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Open options with a manual clock.
pub fn open_options(clock: &ManualClock, recovery_point: Option<i64>) -> LogOpenOptions {
    LogOpenOptions {
        recovery_point,
        clock: Arc::new(clock.clone()),
        ..Default::default()
    }
}

/// Small segments and dense indexes, so short workloads roll and index.
pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1200,
        index_interval_bytes: 100,
        segment_index_bytes: 4096,
        retention_ms: -1,
        ..Default::default()
    }
}

/// An encoded batch of 1-3 records with values of 10-160 bytes and timestamps from `ts`.
pub fn random_batch(rng: &mut SimRng, ts: i64) -> Vec<u8> {
    let n = 1 + rng.below(3) as usize;
    let records: Vec<Record> = (0..n)
        .map(|i| {
            let len = 10 + rng.below(150) as usize;
            let mut v = vec![0u8; len];
            rng.fill(&mut v);
            Record::new(ts + i as i64, v).with_key(format!("k{}", rng.below(5)).into_bytes())
        })
        .collect();
    let compression = match rng.below(6) {
        0 => Compression::Lz4,
        1 => Compression::Gzip,
        _ => Compression::None,
    };
    encode_batch(BatchOptions::with_compression(compression), &records)
        .unwrap_or_else(|e| panic!("encoding a batch: {e}"))
}

/// Offset, length and magic of the batch at the start of `raw`.
pub fn batch_base(raw: &[u8]) -> i64 {
    i64::from_be_bytes(raw[0..8].try_into().unwrap_or_default())
}

/// Offsets covered by the batch `raw` (its lastOffsetDelta + 1).
pub fn batch_span(raw: &[u8]) -> i64 {
    i64::from(i32::from_be_bytes(
        raw[23..27].try_into().unwrap_or_default(),
    )) + 1
}

/// True if `got` (as read back) is the batch `want` (as appended) at offset `base`: same
/// bytes apart from the base offset and partition leader epoch the log stamps.
pub fn same_batch(got: &[u8], want: &[u8], base: i64) -> bool {
    got.len() == want.len()
        && got.len() >= 61
        && batch_base(got) == base
        && got[8..12] == want[8..12]
        && got[16..] == want[16..]
}

/// Every batch of the log from its start, raw.
pub fn read_raw_batches<S: Storage>(log: &Log<S>) -> Result<Vec<Vec<u8>>, Error> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    loop {
        let r = log.read(next, 1 << 16)?;
        if r.is_empty() {
            break;
        }
        let bytes = r.bytes();
        let mut p = 0;
        while p + 12 <= bytes.len() {
            let len = i32::from_be_bytes(bytes[p + 8..p + 12].try_into().unwrap_or_default());
            let end = p + 12 + len.max(0) as usize;
            out.push(bytes[p..end.min(bytes.len())].to_vec());
            p = end;
        }
        next = r.next_offset();
    }
    Ok(out)
}

/// One append the workload attempted.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The offset it must get: the log end when it was attempted.
    pub base: i64,
    pub bytes: Vec<u8>,
    pub acked: bool,
}

impl Attempt {
    pub fn next(&self) -> i64 {
        self.base + batch_span(&self.bytes)
    }
}

/// What a workload did, as far as its caller saw.
#[derive(Debug, Default, Clone)]
pub struct Oracle {
    pub attempted: Vec<Attempt>,
    /// The largest durable offset the log reported after a call returned.
    pub durable: i64,
    /// The durable offset before the last raise: a recovery point that trails.
    pub durable_prev: i64,
    /// Offsets below this may have been removed by retention.
    pub retention_floor: i64,
    /// Whether the calls failed, and with what.
    pub first_error: Option<String>,
    /// A failed write or sync was not followed by `Error::Poisoned`.
    pub poison_violations: u64,
    /// Times the poisoning was probed (after a failed write or sync).
    pub poison_probes: u64,
    /// An append returned an offset other than the log end before it.
    pub offset_violations: u64,
}

impl Oracle {
    fn saw_durable(&mut self, d: i64) {
        if d > self.durable {
            self.durable_prev = self.durable;
            self.durable = d;
        }
    }
}

/// One step of a scripted workload.
#[derive(Debug, Clone)]
pub enum Step {
    Append { batch: Vec<u8>, sync: bool },
    Flush,
    Roll,
    Retention,
    Read,
}

/// A seeded script: appends (some `Sync`), flushes, explicit rolls, retention passes and reads.
pub fn script(rng: &mut SimRng, appends: usize) -> Vec<Step> {
    let mut steps = Vec::new();
    for i in 0..appends {
        steps.push(Step::Append {
            batch: random_batch(rng, 1_000 + i as i64 * 10),
            sync: rng.below(6) == 0,
        });
        match rng.below(10) {
            0 | 1 => steps.push(Step::Flush),
            2 => steps.push(Step::Roll),
            3 if i > appends / 2 => steps.push(Step::Retention),
            4 => steps.push(Step::Read),
            _ => {}
        }
    }
    steps.push(Step::Flush);
    steps
}

/// Runs `steps` against `log` until the first error; then checks that the log is poisoned
/// (if the error was a failed write or sync). Returns the oracle.
pub fn run_script<S: Storage>(log: &Log<S>, steps: &[Step], clock: &ManualClock) -> Oracle {
    let mut o = Oracle {
        durable: log.durable_offset(),
        durable_prev: log.durable_offset(),
        ..Default::default()
    };
    for step in steps {
        clock.advance(7);
        let result: Result<(), Error> = match step {
            Step::Append { batch, sync } => {
                let base = log.end_offset();
                o.attempted.push(Attempt {
                    base,
                    bytes: batch.clone(),
                    acked: false,
                });
                let durability = if *sync {
                    Durability::Sync
                } else {
                    Durability::PageCache
                };
                log.append_batch_with(batch, Validation::Shallow, durability)
                    .map(|info| {
                        if info.first_offset != base {
                            o.offset_violations += 1;
                        }
                        if let Some(a) = o.attempted.last_mut() {
                            a.acked = true;
                        }
                    })
            }
            Step::Flush => log.flush(),
            Step::Roll => log.roll(),
            Step::Retention => {
                let floor = log.segment_base_offsets().last().copied().unwrap_or(0);
                let r = log.apply_retention().map(drop);
                o.retention_floor = o.retention_floor.max(floor);
                r
            }
            Step::Read => log.read(log.log_start_offset(), 4096).map(drop),
        };
        o.saw_durable(log.durable_offset());
        if let Err(e) = result {
            o.first_error = Some(e.to_string());
            let poisons = matches!(e, Error::Io { .. } | Error::NoSpace { .. })
                && !matches!(step, Step::Read);
            if poisons {
                probe_poisoned(log, &steps_first_batch(steps), &mut o);
            }
            break;
        }
    }
    o
}

/// After a failed write or sync: an append of `batch` must fail with `Error::Poisoned` and
/// a flush must fail too (RELIABILITY.md §3.5); each that does not is a poison violation.
/// An append that succeeds anyway is recorded as acknowledged, so the checks after a
/// reopen hold the log to it.
pub fn probe_poisoned<S: Storage>(log: &Log<S>, batch: &[u8], o: &mut Oracle) {
    o.poison_probes += 1;
    match log.append_batch(batch, Validation::Shallow) {
        Err(Error::Poisoned { .. }) => {}
        Ok(info) => {
            o.poison_violations += 1;
            o.attempted.push(Attempt {
                base: info.first_offset,
                bytes: batch.to_vec(),
                acked: true,
            });
        }
        Err(_) => o.poison_violations += 1,
    }
    if log.flush().is_ok() {
        o.poison_violations += 1;
    }
    o.saw_durable(log.durable_offset());
}

fn steps_first_batch(steps: &[Step]) -> Vec<u8> {
    steps
        .iter()
        .find_map(|s| match s {
            Step::Append { batch, .. } => Some(batch.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The outcome of checking a reopened log against an oracle.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Batches below the durable offset that are missing (I1).
    pub lost_durable: u64,
    /// Acknowledged batches missing where the page cache survived (process crash).
    pub lost_acked: u64,
    /// Batches returned that differ from what was appended there (I3, I4).
    pub corrupt: u64,
    /// Offsets out of line: log end, holes, the next append's offset (I2, I5).
    pub inconsistent: u64,
    /// Bytes of intact batches that recovery dropped (I7).
    pub dropped_beyond: u64,
    /// Batches missing between two recovered ones (I2).
    pub holes: u64,
    /// The log end lies past the last recovered batch (an empty segment after a torn tail):
    /// R01 wants the next offset to be the last recovered one + 1, so this must be zero.
    pub trailing_gap: u64,
    /// Batches recovered.
    pub recovered: usize,
    pub notes: Vec<String>,
}

/// How strictly to check.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// The page cache survived (a process crash, or no crash): every acked batch is kept.
    pub acked_survive: bool,
    /// Batches of the attempt list known intact on disk from the first: recovery must keep
    /// at least these (I7). `None` if unknown.
    pub intact: Option<usize>,
}

/// Checks the reopened `log` against `o`: I1 (durable batches present), I2 (a contiguous run
/// of attempts), I3/I4 (byte-identical batches), I5 (log end and the next append's offset),
/// I7 (at least the intact prefix kept). Appends one batch at the end.
pub fn verify<S: Storage>(log: &Log<S>, o: &Oracle, expect: Expect) -> Verdict {
    let mut v = Verdict::default();
    let got = match read_raw_batches(log) {
        Ok(b) => b,
        Err(e) => {
            v.notes
                .push(format!("reading the recovered log failed: {e}"));
            v.lost_durable += 1;
            return v;
        }
    };
    v.recovered = got.len();
    let mut first_idx = None;
    let mut prev_idx: Option<usize> = None;
    for raw in &got {
        let base = batch_base(raw);
        let idx = o.attempted.binary_search_by_key(&base, |a| a.base).ok();
        match idx {
            Some(i) if same_batch(raw, &o.attempted[i].bytes, base) => {
                if let Some(p) = prev_idx {
                    if i != p + 1 {
                        // A hole in the offsets (I2; see `r08_no_hole_after_a_torn_segment`).
                        v.holes += 1;
                        v.inconsistent += 1;
                        v.notes.push(format!("hole: batch {i} follows batch {p}"));
                    }
                }
                first_idx.get_or_insert(i);
                prev_idx = Some(i);
            }
            _ => {
                v.corrupt += 1;
                v.notes.push(format!(
                    "batch at offset {base} ({} bytes) is not what was appended there",
                    raw.len()
                ));
            }
        }
    }
    let first = first_idx.unwrap_or(o.attempted.len());
    let last = prev_idx.map_or(0, |p| p + 1);
    for (i, a) in o.attempted.iter().enumerate() {
        let missing = if i < first {
            a.next() > o.retention_floor
        } else {
            i >= last
        };
        if !missing {
            continue;
        }
        if a.next() <= o.durable {
            v.lost_durable += 1;
            v.notes.push(format!(
                "durable batch {i} at offset {} lost (durable offset {})",
                a.base, o.durable
            ));
        } else if a.acked && expect.acked_survive {
            v.lost_acked += 1;
            v.notes
                .push(format!("acked batch {i} at offset {} lost", a.base));
        }
    }
    if let Some(intact) = expect.intact {
        let dropped: Vec<usize> = (last..intact)
            .filter(|&i| o.attempted[i].next() > o.retention_floor)
            .collect();
        for &i in &dropped {
            v.dropped_beyond += o.attempted[i].bytes.len() as u64;
        }
        if !dropped.is_empty() {
            v.notes.push(format!(
                "recovery kept batches {first}..{last}, but the first {intact} were intact"
            ));
        }
    }
    let end = log.end_offset();
    if let Some(p) = prev_idx {
        if end > o.attempted[p].next() {
            // The next offset must be the last recovered one + 1 (R01, I2): a log end past
            // it (say an empty segment left past a torn tail) is a hole the next append
            // would open between the recovered data and itself.
            v.trailing_gap += 1;
            v.inconsistent += 1;
            v.notes.push(format!(
                "log end {end} past the end {} of the last recovered batch",
                o.attempted[p].next()
            ));
        } else if end != o.attempted[p].next() {
            v.inconsistent += 1;
            v.notes.push(format!(
                "log end {end} but the last batch ends at {}",
                o.attempted[p].next()
            ));
        }
    }
    if end < o.durable && v.lost_durable == 0 {
        v.inconsistent += 1;
        v.notes.push(format!(
            "log end {end} below the durable offset {}",
            o.durable
        ));
    }
    if log.durable_offset() > end {
        v.inconsistent += 1;
        v.notes.push(format!(
            "durable offset {} past the log end {end}",
            log.durable_offset()
        ));
    }
    let probe = o.attempted.first().map(|a| a.bytes.clone());
    if let Some(batch) = probe {
        match log.append_batch(&batch, Validation::Shallow) {
            Ok(info) if info.first_offset == end => {}
            Ok(info) => {
                v.inconsistent += 1;
                v.notes.push(format!(
                    "append after recovery got offset {} instead of {end}",
                    info.first_offset
                ));
            }
            Err(e) => {
                v.inconsistent += 1;
                v.notes.push(format!("append after recovery failed: {e}"));
            }
        }
    }
    v
}

/// How many attempts, from the first, lie intact and in order in the `.log` files of `dir` on
/// `fs` (before recovery touches them): the prefix recovery must keep (I7).
pub fn intact_prefix(fs: &tidelog::io::SimFs, dir: &Path, o: &Oracle) -> usize {
    let mut logs: Vec<PathBuf> = fs
        .list(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    let mut next: Option<usize> = None;
    for path in logs {
        let data = fs.read_file(&path).unwrap_or_default();
        let mut pos = 0usize;
        while pos < data.len() {
            let Some(len) = data.get(pos + 8..pos + 12) else {
                return next.unwrap_or(0);
            };
            let len = i32::from_be_bytes(len.try_into().unwrap_or_default());
            let end = pos + 12 + len.max(0) as usize;
            let Some(raw) = data.get(pos..end) else {
                return next.unwrap_or(0);
            };
            if len < 49 || tidelog::record::RecordBatch::parse(raw).is_err() {
                return next.unwrap_or(0);
            }
            let base = batch_base(raw);
            let i = match next {
                Some(i) => i,
                None => match o.attempted.binary_search_by_key(&base, |a| a.base) {
                    Ok(i) => i,
                    Err(_) => return 0,
                },
            };
            match o.attempted.get(i) {
                Some(a) if a.base == base && same_batch(raw, &a.bytes, base) => {}
                _ => return next.unwrap_or(0),
            }
            next = Some(i + 1);
            pos = end;
        }
    }
    next.unwrap_or(0)
}

/// Every record's `(offset, timestamp)`, decoded through the log.
pub fn records_of<S: Storage>(log: &Log<S>) -> Result<Vec<(i64, i64)>, tidelog::Error> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    loop {
        let r = log.read(next, 1 << 16)?;
        if r.is_empty() {
            break;
        }
        for rec in r.records() {
            let rec = rec?;
            out.push((rec.offset(), rec.timestamp()));
        }
        next = r.next_offset();
    }
    Ok(out)
}

/// I10: every offset lookup and timestamp lookup equals a linear scan of `records`.
/// Returns (lookups, offset-lookup mismatches, timestamp-lookup mismatches, notes).
pub fn check_lookups<S: Storage>(
    log: &Log<S>,
    records: &[(i64, i64)],
) -> (u64, u64, u64, Vec<String>) {
    let mut lookups = 0;
    let mut bad = 0;
    let mut ts_bad = 0;
    let mut notes = Vec::new();
    for &(offset, _) in records {
        lookups += 1;
        let first = log
            .read(offset, 1)
            .ok()
            .and_then(|r| r.records().next().and_then(|x| x.ok()).map(|x| x.offset()));
        if first != Some(offset) {
            bad += 1;
            notes.push(format!("read({offset}) starts at {first:?}"));
        }
    }
    let mut targets: Vec<i64> = records
        .iter()
        .flat_map(|&(_, t)| [t - 1, t, t + 1])
        .collect();
    targets.sort_unstable();
    targets.dedup();
    for t in targets {
        lookups += 1;
        let want = records
            .iter()
            .find(|&&(_, ts)| ts >= t)
            .map(|&(o, ts)| (o, ts));
        let got = log.offset_for_timestamp(t).ok().flatten();
        if got != want {
            ts_bad += 1;
            notes.push(format!(
                "offset_for_timestamp({t}) = {got:?}, scan says {want:?}"
            ));
        }
    }
    (lookups, bad, ts_bad, notes)
}
