//! Shared pieces of the child-process crash harness (`tests/reliability_crash.rs`):
//!
//! - [`XorShift`]: a tiny seeded RNG, so every run is replayable from its printed seed;
//! - [`value_for`] / [`value_is_genuine`]: record values derived from (seed, generation,
//!   offset), so a record read back at the wrong offset, torn or altered, shows;
//! - [`ChildProc`]: the test binary re-executed as a child, its `@@ ` protocol lines read by a
//!   thread;
//! - [`Oracle`]: the acknowledged history (RELIABILITY.md §4) and the checks of a recovered
//!   log against it (I1 no acked loss, I2 prefix, I3 atomicity, I4 no corrupt data, I5
//!   offsets never reused);
//! - [`Report`]: the one JSON line each harness prints.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tidelog::log::Log;
use tidelog::record::{Batch, Record, DEFAULT_MAX_DECOMPRESSED_BYTES};

/// The error type of every test and helper here.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Environment variable that turns the test binary into a child of the given role.
pub const ROLE_ENV: &str = "TIDELOG_CRASH_ROLE";
/// Prefix of every protocol line a child writes to stdout.
pub const LINE_PREFIX: &str = "@@ ";
/// Bytes in front of every generated value: offset (8), seed (8), generation (4).
pub const VALUE_HEADER: usize = 20;

/// The seed of a run: `LOG_TEST_SEED` (decimal or 0x-hex) if set, else from the clock.
/// Printed in every report.
pub fn test_seed() -> u64 {
    if let Some(seed) = std::env::var("LOG_TEST_SEED").ok().and_then(|s| {
        let s = s.trim();
        match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        }
    }) {
        return seed;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    splitmix(nanos ^ u64::from(std::process::id()))
}

/// A `u64` from the environment, or `default`.
pub fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

/// SplitMix64: spreads a seed over all bits.
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// xorshift64*: small, fast, good enough to pick sizes, operations and kill times.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded by `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        XorShift(splitmix(seed) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// The value of the record at `offset` written by generation `generation` of a run seeded
/// `seed`: a header naming all three, then `len - 20` bytes derived from them.
pub fn value_for(seed: u64, generation: u32, offset: i64, len: usize) -> Vec<u8> {
    let len = len.max(VALUE_HEADER);
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&offset.to_be_bytes());
    v.extend_from_slice(&seed.to_be_bytes());
    v.extend_from_slice(&generation.to_be_bytes());
    let mut rng = XorShift::new(seed ^ (offset as u64).rotate_left(21) ^ u64::from(generation));
    while v.len() < len {
        let word = rng.next_u64().to_be_bytes();
        let take = (len - v.len()).min(word.len());
        v.extend_from_slice(&word[..take]);
    }
    v
}

/// True if `value`, read at `offset`, is exactly what [`value_for`] wrote there for `seed`
/// (whatever its generation).
pub fn value_is_genuine(seed: u64, offset: i64, value: &[u8]) -> bool {
    let field = |at: usize| -> Option<[u8; 8]> { value.get(at..at + 8)?.try_into().ok() };
    let (Some(off), Some(s), Some(g)) = (
        field(0),
        field(8),
        value.get(16..20).and_then(|b| <[u8; 4]>::try_from(b).ok()),
    ) else {
        return false;
    };
    if i64::from_be_bytes(off) != offset || u64::from_be_bytes(s) != seed {
        return false;
    }
    value == value_for(seed, u32::from_be_bytes(g), offset, value.len()).as_slice()
}

/// One batch the writer appends: `n` records from `first`, values of random length, and the
/// CRC-32 of the concatenated values (what the `ack` line carries).
pub fn make_batch(
    rng: &mut XorShift,
    seed: u64,
    generation: u32,
    first: i64,
    max_records: u64,
    max_len: u64,
    timestamp: i64,
) -> (Vec<Record>, u32) {
    let n = 1 + rng.below(max_records);
    let mut crc = crc32fast::Hasher::new();
    let records = (0..n as i64)
        .map(|i| {
            let len = VALUE_HEADER + rng.below(max_len) as usize;
            let v = value_for(seed, generation, first + i, len);
            crc.update(&v);
            Record::new(timestamp, v)
        })
        .collect();
    (records, crc.finalize())
}

/// A scratch directory on a RAM file system when there is one: a process crash keeps the
/// page cache, so the crash tests lose nothing by it, and its fsyncs are cheap.
///
/// # Errors
/// If no temporary directory can be created.
pub fn scratch_dir() -> TestResult<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::Builder::new()
            .prefix("tidelog-crash-")
            .tempdir_in(shm)
        {
            return Ok(d);
        }
    }
    Ok(tempfile::tempdir()?)
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Writes one protocol line to stdout, unbuffered and outside the test harness's capture,
/// and only after the call it reports has returned.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A write to a closed pipe means the parent is gone: nothing left to report to.
    let _ = writeln!(out, "{LINE_PREFIX}{line}");
    let _ = out.flush();
}

// ---------------------------------------------------------------------------------------
// Child processes

/// The test binary re-executed as a child running `crash_child` with a role.
pub struct ChildProc {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Option<JoinHandle<String>>,
    started: Instant,
}

/// How a child ended and everything it reported.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its protocol lines, prefix removed, in order.
    pub lines: Vec<String>,
    /// The tail of its stderr.
    pub stderr: String,
    /// True if it was ended by SIGKILL.
    pub killed: bool,
}

impl ChildProc {
    /// Starts `current_exe --exact crash_child` with `ROLE_ENV = role` and `env`.
    ///
    /// # Errors
    /// If the process cannot be started.
    pub fn spawn(role: &str, env: &[(&str, String)]) -> TestResult<ChildProc> {
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(exe);
        cmd.args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(ROLE_ENV, role)
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take().ok_or("child has no stdout")?;
        let stderr = child.stderr.take().ok_or("child has no stderr")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest writes "test crash_child ... " without a newline before the test
                // runs, so a protocol line may follow it on the same line.
                if let Some(i) = line.find(LINE_PREFIX) {
                    if tx.send(line[i + LINE_PREFIX.len()..].to_string()).is_err() {
                        break;
                    }
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut s);
            if s.len() > 4000 {
                let cut = s.len() - 4000;
                let cut = (cut..s.len())
                    .find(|&i| s.is_char_boundary(i))
                    .unwrap_or(cut);
                s.drain(..cut);
            }
            s
        });
        Ok(ChildProc {
            child,
            lines: rx,
            seen: Vec::new(),
            stderr: Some(stderr),
            started,
        })
    }

    /// When the child was started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Waits up to `timeout` for a line starting with `prefix`; every line read on the way
    /// is kept for [`finish`](Self::finish).
    pub fn wait_line(&mut self, prefix: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Sends SIGKILL (`Child::kill` on Unix). A child that already exited is not an error.
    ///
    /// # Errors
    /// If the signal cannot be sent.
    pub fn sigkill(&mut self) -> TestResult {
        match self.child.kill() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits for the child to exit (SIGKILLing it after `timeout`), then collects every line
    /// it wrote.
    ///
    /// # Errors
    /// If waiting fails.
    pub fn finish(mut self, timeout: Duration) -> TestResult<Finished> {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                self.child.kill()?;
                break self.child.wait()?;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        // The reader thread ends at EOF, which follows the child's exit.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            self.seen.push(line);
        }
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        Ok(Finished {
            killed: status.signal() == Some(libc::SIGKILL),
            status,
            lines: std::mem::take(&mut self.seen),
            stderr,
        })
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        // A test that fails half-way must not leave a writer running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Reading a log back

/// One batch as read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRec {
    /// First offset.
    pub first: i64,
    /// Last offset.
    pub last: i64,
    /// CRC-32 of the concatenated record values.
    pub crc: u32,
}

/// A batch read back, with what its bytes say about themselves.
#[derive(Debug, Clone, Copy)]
pub struct Observed {
    /// Offsets and value CRC.
    pub rec: BatchRec,
    /// Every record sits at the offset its value names and its value is genuine.
    pub genuine: bool,
    /// The batch's partition leader epoch.
    pub epoch: i32,
}

/// The offsets, value CRC and self-consistency of one decoded batch.
///
/// # Errors
/// Decoding errors.
pub fn observe(batch: Batch<'_>, seed: u64, scratch: &mut Vec<u8>) -> TestResult<Observed> {
    let first = batch
        .shallow_base_offset()
        .ok_or("a legacy batch in a log written as magic 2")?;
    let last = batch.last_offset();
    let epoch = batch.partition_leader_epoch();
    let mut crc = crc32fast::Hasher::new();
    let mut genuine = true;
    let mut expect = first;
    for r in batch.records(scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)? {
        let r = r?;
        let v = r.value().unwrap_or_default();
        genuine &= r.offset() == expect && value_is_genuine(seed, r.offset(), v);
        expect = r.offset() + 1;
        crc.update(v);
    }
    genuine &= expect == last + 1;
    Ok(Observed {
        rec: BatchRec {
            first,
            last,
            crc: crc.finalize(),
        },
        genuine,
        epoch,
    })
}

/// Every batch of `log` from its start to its end, through `Log::read`.
///
/// # Errors
/// Read and decoding errors.
pub fn read_all(log: &Log, seed: u64) -> TestResult<Vec<Observed>> {
    let end = log.end_offset();
    let mut offset = log.log_start_offset();
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    while offset < end {
        let result = log.read(offset, 256 * 1024)?;
        if result.is_empty() {
            return Err(format!("read at {offset} below the end {end} returned nothing").into());
        }
        for batch in result.batches() {
            out.push(observe(batch, seed, &mut scratch)?);
        }
        offset = result.next_offset();
    }
    Ok(out)
}

/// One batch found by scanning a `.log` file's bytes directly.
#[derive(Debug, Clone, Copy)]
pub struct RawBatch {
    /// Its position in the file.
    pub position: u64,
    /// First offset.
    pub first: i64,
    /// Last offset.
    pub last: i64,
}

/// The valid batches at the start of a segment file, and how many bytes follow them.
///
/// # Errors
/// I/O errors.
pub fn scan_segment_file(path: &Path) -> TestResult<(Vec<RawBatch>, u64)> {
    let bytes = std::fs::read(path)?;
    let mut pos = 0usize;
    let mut out = Vec::new();
    while pos < bytes.len() {
        let Ok(batch) = Batch::parse(&bytes[pos..]) else {
            break;
        };
        let first = batch.shallow_base_offset().ok_or("legacy batch")?;
        out.push(RawBatch {
            position: pos as u64,
            first,
            last: batch.last_offset(),
        });
        pos += batch.size();
    }
    Ok((out, (bytes.len() - pos) as u64))
}

/// The base offsets of the `.log` files in `dir`, in order.
///
/// # Errors
/// I/O errors.
pub fn segment_bases(dir: &Path) -> TestResult<Vec<i64>> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(".log") {
            if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
                bases.push(stem.parse()?);
            }
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// A segment file's path.
pub fn segment_path(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

// ---------------------------------------------------------------------------------------
// The oracle

/// Violation counts, named as in RELIABILITY.md §4, with the first few descriptions.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    /// Batches acknowledged (or observed and adopted) so far.
    pub acked_batches: u64,
    /// Batches that survived a crash without having been acknowledged (in flight).
    pub unacked_survivors: u64,
    /// Acknowledged batches missing after recovery (I1 and the process-crash promise).
    pub acked_lost: u64,
    /// Of those, below the last durable offset reported (I1).
    pub acked_synced_lost: u64,
    /// Records returned that differ from what was written (I4, I3).
    pub corrupt_returned: u64,
    /// Holes, overlaps, reused offsets, more than one unacknowledged survivor, log start or
    /// durable offset moving the wrong way (I2, I5, I8).
    pub inconsistent_offsets: u64,
    /// Panics in the parent's open or in a child.
    pub panics: u64,
    /// Opens, reads or children that failed where they must not.
    pub errors: u64,
    /// The first descriptions.
    pub details: Vec<String>,
}

impl Counters {
    /// Every count that must be zero.
    pub fn violations(&self) -> u64 {
        self.acked_lost
            + self.acked_synced_lost
            + self.corrupt_returned
            + self.inconsistent_offsets
            + self.panics
            + self.errors
    }

    /// Records a description (the first 20 are kept).
    pub fn note(&mut self, what: String) {
        if self.details.len() < 20 {
            self.details.push(what);
        }
    }
}

/// The acknowledged history of one log and what the writer reported about it.
#[derive(Debug)]
pub struct Oracle {
    /// The run's seed (values are checked against it).
    pub seed: u64,
    /// Acknowledged or adopted batches, contiguous, by first offset.
    history: BTreeMap<i64, BatchRec>,
    /// Where the history starts.
    base: i64,
    /// The highest durable offset reported by a call that returned.
    pub synced: i64,
    /// The log start offset last reported by retention or found by recovery.
    pub log_start: i64,
    /// A retention pass was started and not reported finished.
    pub retention_in_flight: bool,
    /// The last crash was not recovered by the parent: the next writer recovers it itself,
    /// and its `open` line may show the one batch that was in flight.
    pub unverified: bool,
    /// Batches known only by their offsets (from such an `open` line), CRC still unknown.
    unknown_crc: BTreeSet<i64>,
    /// Violation counts.
    pub c: Counters,
}

impl Oracle {
    /// An empty history for a new log.
    pub fn new(seed: u64) -> Self {
        Oracle {
            seed,
            history: BTreeMap::new(),
            base: 0,
            synced: 0,
            log_start: 0,
            retention_in_flight: false,
            unverified: false,
            unknown_crc: BTreeSet::new(),
            c: Counters::default(),
        }
    }

    /// The offset after the history.
    pub fn end(&self) -> i64 {
        self.history
            .last_key_value()
            .map_or(self.base, |(_, b)| b.last + 1)
    }

    /// The batch holding `offset`, if the history has it.
    pub fn batch_at(&self, offset: i64) -> Option<BatchRec> {
        self.history
            .range(..=offset)
            .next_back()
            .map(|(_, b)| *b)
            .filter(|b| b.last >= offset)
    }

    /// The batches of the history from `from` on.
    pub fn batches_from(&self, from: i64) -> impl Iterator<Item = BatchRec> + '_ {
        self.history.range(from..).map(|(_, b)| *b)
    }

    /// Drops the history from `offset` on: batches a test damaged itself past the recovery
    /// point, which recovery may legitimately cut (they were never promised durable).
    pub fn forget_from(&mut self, offset: i64) {
        let _ = self.history.split_off(&offset);
        self.unknown_crc.retain(|&o| o < offset);
    }

    /// Records an acknowledged append. It must start at the end of the history (I5).
    pub fn ack(&mut self, rec: BatchRec) {
        let end = self.end();
        if rec.first != end || rec.last < rec.first {
            self.c.inconsistent_offsets += 1;
            self.c.note(format!(
                "acked batch {}..={} does not start at the history end {end}",
                rec.first, rec.last
            ));
            // Resynchronise so that one fault is counted once.
            let _ = self.history.split_off(&rec.first);
        }
        self.history.insert(rec.first, rec);
        self.c.acked_batches += 1;
    }

    /// Applies one protocol line of a writer. Returns an error line's text, if it is one.
    pub fn on_line(&mut self, line: &str) -> Option<String> {
        let mut words = line.split_whitespace();
        let word = words.next().unwrap_or_default();
        let mut num = || words.next().and_then(|w| w.parse::<i64>().ok());
        match word {
            "ack" => match (num(), num(), num()) {
                (Some(first), Some(last), Some(crc)) => self.ack(BatchRec {
                    first,
                    last,
                    crc: crc as u32,
                }),
                _ => return Some(format!("malformed line {line:?}")),
            },
            "synced" => {
                let d = num().unwrap_or(-1);
                if d > self.end() {
                    self.c.inconsistent_offsets += 1;
                    self.c.note(format!(
                        "durable offset {d} reported past the acknowledged end {} (I8)",
                        self.end()
                    ));
                }
                self.synced = self.synced.max(d);
            }
            "retaining" => self.retention_in_flight = true,
            "retained" => {
                let start = num().unwrap_or(-1);
                if start < self.log_start {
                    self.c.inconsistent_offsets += 1;
                    self.c.note(format!(
                        "retention reported log start {start} below {}",
                        self.log_start
                    ));
                }
                self.log_start = self.log_start.max(start);
                self.retention_in_flight = false;
            }
            "open" => {
                let (start, end) = (num().unwrap_or(-1), num().unwrap_or(-1));
                if std::mem::take(&mut self.unverified) {
                    // The writer recovered the crash itself: the batch in flight then may
                    // have survived (one at most, I2), and an interrupted retention pass may
                    // have moved the start. Both are checked when the parent next reads it.
                    let hist_end = self.end();
                    if end > hist_end {
                        let rec = BatchRec {
                            first: hist_end,
                            last: end - 1,
                            crc: 0,
                        };
                        self.history.insert(hist_end, rec);
                        self.unknown_crc.insert(hist_end);
                        self.c.unacked_survivors += 1;
                    }
                    if std::mem::take(&mut self.retention_in_flight) && start > self.log_start {
                        self.log_start = start;
                    }
                }
                if start != self.log_start || end != self.end() {
                    self.c.inconsistent_offsets += 1;
                    self.c.note(format!(
                        "the writer opened [{start}, {end}) where the parent had verified [{}, {})",
                        self.log_start,
                        self.end()
                    ));
                }
            }
            "error" => return Some(line.to_string()),
            _ => {}
        }
        None
    }

    /// Checks a recovered log against the history (I1–I5, and that the durable offset is
    /// `min(recovery_point, end)`), then adopts the unacknowledged batch that survived, if
    /// any, so that later runs must keep it too (it has now been read). Returns whether no
    /// new violation was found.
    pub fn verify(&mut self, log: &Log, recovery_point: i64) -> bool {
        let before = self.c.violations();
        let start = log.log_start_offset();
        let end = log.end_offset();
        let durable = log.durable_offset();
        if durable != recovery_point.min(end) {
            self.c.inconsistent_offsets += 1;
            self.c.note(format!(
                "durable offset {durable} after opening with recovery point {recovery_point} \
                 and end {end}"
            ));
        }
        let observed = match read_all(log, self.seed) {
            Ok(o) => o,
            Err(e) => {
                self.c.errors += 1;
                self.c
                    .note(format!("reading the recovered log failed: {e}"));
                return false;
            }
        };
        // Contiguity: [start, end) is covered by whole batches with no hole or overlap.
        let mut next = start;
        for o in &observed {
            if o.rec.first != next {
                self.c.inconsistent_offsets += 1;
                self.c.note(format!(
                    "batch {}..={} follows offset {} (hole or overlap)",
                    o.rec.first,
                    o.rec.last,
                    next - 1
                ));
            }
            if !o.genuine {
                self.c.corrupt_returned += 1;
                self.c.note(format!(
                    "batch {}..={} holds altered records",
                    o.rec.first, o.rec.last
                ));
            }
            next = o.rec.last + 1;
        }
        if next != end {
            self.c.inconsistent_offsets += 1;
            self.c.note(format!(
                "batches end at {next} but the log end offset is {end}"
            ));
        }
        // Log start: only retention moves it, only forwards, and only to a batch boundary.
        if start < self.log_start {
            self.c.inconsistent_offsets += 1;
            self.c.note(format!(
                "log start went back from {} to {start}",
                self.log_start
            ));
        } else if start > self.log_start && !self.retention_in_flight {
            let gone: Vec<_> = self
                .history
                .range(self.log_start..start)
                .map(|(_, b)| *b)
                .collect();
            self.count_lost(&gone, "below a log start no retention reported");
        }
        if start < self.end() && !self.history.contains_key(&start) {
            self.c.inconsistent_offsets += 1;
            self.c.note(format!(
                "log start {start} is not a batch boundary of the history"
            ));
        }
        // Recovered batches against the history; at most one unacknowledged survivor.
        let hist_end = self.end();
        let mut survivors = Vec::new();
        for o in &observed {
            if o.rec.first >= hist_end {
                survivors.push(o.rec);
                continue;
            }
            match self.history.get(&o.rec.first) {
                Some(h) if *h == o.rec => {}
                Some(h) if h.last == o.rec.last && self.unknown_crc.remove(&h.first) => {
                    // Seen now for the first time: from here on it must stay as it is.
                    self.history.insert(o.rec.first, o.rec);
                }
                Some(h) if h.last == o.rec.last => {
                    self.c.corrupt_returned += 1;
                    self.c.note(format!(
                        "batch {}..={} has value CRC {:#x}, acknowledged {:#x}",
                        h.first, h.last, o.rec.crc, h.crc
                    ));
                }
                _ => {
                    self.c.inconsistent_offsets += 1;
                    self.c.note(format!(
                        "batch {}..={} matches no acknowledged batch (I3/I5)",
                        o.rec.first, o.rec.last
                    ));
                }
            }
        }
        let recovered_end = observed.last().map_or(start, |o| o.rec.last + 1);
        if recovered_end < hist_end {
            let lost: Vec<_> = self
                .history
                .range(recovered_end.max(start)..)
                .map(|(_, b)| *b)
                .collect();
            self.count_lost(&lost, "after recovery");
            let _ = self.history.split_off(&recovered_end);
        }
        if survivors.len() > 1 {
            self.c.inconsistent_offsets += 1;
            self.c.note(format!(
                "{} unacknowledged batches survived; one append at most was in flight",
                survivors.len()
            ));
        }
        for s in survivors {
            if s.first == self.end() {
                self.history.insert(s.first, s);
                self.c.unacked_survivors += 1;
            }
        }
        self.log_start = start;
        self.retention_in_flight = false;
        self.unverified = false;
        self.c.violations() == before
    }

    fn count_lost(&mut self, lost: &[BatchRec], when: &str) {
        for b in lost {
            self.c.acked_lost += 1;
            if b.last < self.synced {
                self.c.acked_synced_lost += 1;
            }
        }
        if let (Some(first), Some(last)) = (lost.first(), lost.last()) {
            self.c.note(format!(
                "{} acknowledged batches {}..={} lost {when} (durable offset {})",
                lost.len(),
                first.first,
                last.last,
                self.synced
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The JSON line

/// The fields every harness reports, in RELIABILITY.md §4's order (`test` first, `wall_ms`
/// last).
pub const REPORT_FIELDS: [&str; 11] = [
    "trials",
    "faults_injected",
    "crash_points",
    "recoveries_ok",
    "clear_errors",
    "acked_synced_lost",
    "corrupt_returned",
    "inconsistent_offsets",
    "bytes_dropped_beyond_damage",
    "panics",
    "wall_ms",
];

/// One JSON line of named figures (RELIABILITY.md §4): always `test`, `seed`, every field of
/// [`REPORT_FIELDS`] (0 unless set; `wall_ms` measured from [`new`](Self::new) unless set),
/// then the test's own figures.
#[derive(Debug)]
pub struct Report {
    test: String,
    seed: u64,
    /// The §4 fields, in order.
    standard: Vec<(&'static str, String)>,
    /// Further figures, in the order added.
    extra: Vec<(&'static str, String)>,
    started: Instant,
}

impl Report {
    /// A report for `test`, run with `seed` (print the seed `LOG_TEST_SEED` replays).
    pub fn new(test: &str, seed: u64) -> Self {
        Report {
            test: test.to_string(),
            seed,
            standard: REPORT_FIELDS
                .iter()
                .map(|&k| (k, "0".to_string()))
                .collect(),
            extra: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Sets a §4 field, or adds (or replaces) a figure of the test's own.
    fn set(mut self, key: &'static str, value: String) -> Self {
        if key == "seed" {
            self.seed = value.parse().unwrap_or(self.seed);
            return self;
        }
        let slot = self
            .standard
            .iter_mut()
            .chain(self.extra.iter_mut())
            .find(|(k, _)| *k == key);
        match slot {
            Some(slot) => slot.1 = value,
            None => self.extra.push((key, value)),
        }
        self
    }

    /// Sets an integer.
    pub fn int(self, key: &'static str, value: impl Into<i128>) -> Self {
        self.set(key, value.into().to_string())
    }

    /// Sets a number with one decimal.
    pub fn float(self, key: &'static str, value: f64) -> Self {
        self.set(key, format!("{value:.1}"))
    }

    /// Sets a string.
    pub fn text(self, key: &'static str, value: &str) -> Self {
        self.set(key, format!("{value:?}"))
    }

    /// The value of a field as printed, if set or standard.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.standard
            .iter()
            .chain(&self.extra)
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The line.
    pub fn line(&self) -> String {
        let wall = self.started.elapsed().as_millis().to_string();
        let mut body = vec![
            format!("\"test\":{:?}", self.test),
            format!("\"seed\":{}", self.seed),
        ];
        for (k, v) in self.standard.iter().filter(|(k, _)| *k != "wall_ms") {
            body.push(format!("\"{k}\":{v}"));
        }
        for (k, v) in &self.extra {
            body.push(format!("\"{k}\":{v}"));
        }
        let wall = match self.get("wall_ms") {
            Some(v) if v != "0" => v.to_string(),
            _ => wall,
        };
        body.push(format!("\"wall_ms\":{wall}"));
        format!("{{{}}}", body.join(","))
    }

    /// Prints the line to stdout past the harness's capture, and appends it to the file
    /// named by `TIDELOG_RELIABILITY_JSON` if that is set.
    pub fn emit(&self) {
        let line = self.line();
        let _ = writeln!(std::io::stdout().lock(), "{line}");
        if let Ok(path) = std::env::var("TIDELOG_RELIABILITY_JSON") {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{line}");
            }
        }
    }
}

/// The `q`-quantile (0..=1) of `samples`, in the samples' unit.
pub fn quantile(samples: &[f64], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let i = ((s.len() - 1) as f64 * q).round() as usize;
    s[i.min(s.len() - 1)]
}
