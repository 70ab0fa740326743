//! Partition-log benchmarks: appends, sequential and random reads, zero-copy reads and
//! opening (clean and after a crash), each beside the raw file-system cost it is judged
//! against and, where one exists, the same work done by the `commitlog` crate.
//!
//! Record shapes are those of `benches/format.rs` (the same generator and seed): values of
//! exactly `size` bytes (100 or 1024) of text-like bytes, keys of 8–16 bytes, no headers,
//! increasing timestamps. `<shape>` is `<size>B/x<count>` (batches of `count` records) or, for
//! the sequential reads, `<size>B/100KiB` (batches of about 100 KiB). `<codec>` is `none` or
//! `lz4`. Every file lives in a temporary directory under `/var/tmp` (or
//! `$TIDELOG_BENCH_DIR`), removed at the end; everything is read from a warm page cache.
//!
//! Groups (the first id of each list is the baseline; the others are judged against it):
//! - `append/raw_write/<codec>/<shape>`: `File::write_all` of the encoded batch, once per
//!   iteration; `append/batch/<codec>/<shape>`: [`Log::append_batch`] of that pre-built batch
//!   ([`Validation::Shallow`]: framing and CRC); `append/records/<codec>/<shape>`:
//!   [`Log::append`] of the records (encode, compress, CRC, write);
//!   `append/commitlog/none/<shape>`: `commitlog::CommitLog::append` of a reused `MessageBuf`
//!   filled with the same records (key as metadata, value as payload: per-message CRC-32C and
//!   index entry). The files are emptied every 32 MiB written (`set_len(0)`,
//!   [`Log::truncate_to`]`(0)`, a fresh `CommitLog`) and before each sample, outside the
//!   timed region, so every writer reuses page-cache memory the same way. `max.message.bytes`
//!   is raised to 16 MiB so that `1024B/x1000` fits.
//! - `read/pread/<codec>/<size>B/100KiB`: `read_at` of the segment file in 1 MiB chunks into
//!   one reused buffer; `read/decode/...`: [`Log::read_into`] (one reused result) of 1 MiB at a time from offset 0 to
//!   the end, CRC check and decompression included, touching each record's key and value;
//!   `read/commitlog/none/...`: `CommitLog::read` of 1 MiB at a time (its CRC checks), touching
//!   each message's metadata and payload. Logs of 64 MiB.
//! - `read/copy_file_range/none/<size>B/100KiB`: `rustix::fs::copy_file_range` of the whole
//!   segment file to a regular file in the same directory, in the ranges `read_raw` returns
//!   (as many whole batches as fit in 1 MiB: unaligned, which costs the kernel more than
//!   page-aligned 1 MiB chunks do);
//!   `read/raw_copy/...`: [`Log::read_raw`] of 1 MiB at a time and [`FileSlice::copy_to`] to
//!   the same kind of file. The target is emptied before each iteration, untimed.
//! - `random/pread/none/<shape>`: `read_at` of the whole batch holding a random offset (its
//!   position known: a perfect index); `random/read/none/<shape>`: [`Log::read`] at that
//!   offset with `max_bytes` 1 (index lookup, one batch, CRC) and its records from the offset
//!   on; `random/commitlog/none/<shape>`: `CommitLog::read` at the same offsets of a commit
//!   log holding the same records (one append of the shape's records per tidelog batch, so
//!   offsets match), with a limit of the largest message's length, which admits exactly one
//!   message (index lookup, one `pread` of that message into a new buffer, its CRC-32C),
//!   touching its payload. Not the same bytes: tidelog reads and checks the whole batch
//!   holding the offset (the Kafka format's unit: about 12 KiB for `100B/x100`), `commitlog`
//!   only the one message (about 130 bytes). Logs of 64 MiB (`commitlog`'s is larger: 20
//!   bytes of header a record); 4096 random offsets from a fixed seed, in turn. Each
//!   iteration is timed alone, and once a benchmark is done its p50/p90/p99/p99.9 go to
//!   stderr.
//! - `open/pread_crc32c/<log>`: `read_at` of every segment file in 1 MiB chunks, each
//!   CRC-32C'd (the floor of a validating scan); `open/clean/<log>`: [`Log::open`] after
//!   [`Log::close`] (`clean_shutdown`: nothing scanned); `open/crash_last/<log>`: open after a
//!   drop without close, with the recovery point at the last segment's base (that segment is
//!   scanned and its indexes rebuilt); `open/crash_full/<log>`: the same with the recovery
//!   point at 0 (every segment scanned). `<log>` is `256MiB` by default: 4 full 64 MiB
//!   segments of 100-byte records in batches of 100. Set `TIDELOG_BENCH_BIG=1` for `1GiB`
//!   instead (16 segments; building it writes and fsyncs 1 GiB). Only the open is timed; the
//!   close or drop after it is not.
//!
//!   `open/commitlog/<log>`: `CommitLog::new` on a commit log of as many 64 MiB segments,
//!   each holding as many appends of the same 100 records as fit (the same bytes; about 8%
//!   fewer records, at 20 bytes of header each), dropped after it was built. `commitlog` 0.2
//!   has no close and no recovery: its open is the same after a clean stop or a crash, so it
//!   pairs with `open/clean`. What it does (`FileSet::load_log`): lists the directory; opens
//!   each `.log` file, reads its 2-byte magic and takes the file's length as the segment's
//!   end; opens and maps each `.index` file and reads its last 8-byte entry: not zero, the
//!   index is full (a rolled segment's index was cut to its entries); zero, a binary search
//!   for the first all-zero entry finds the end of the active index (preallocated, 8 MiB
//!   here), whose last entry gives the next offset. It reads no message, checks no CRC and
//!   never compares an index with its segment: the index files are trusted as they are. A
//!   segment without an index panics ("TODO: create the index from the segment"); a message
//!   whose index entry was never written (a crash between the two writes) is not found, and
//!   the next append reuses its offset ("TODO: fix missing index updates").
//! - `seam/std_write_at/150B` and `seam/storage_write_at/150B`: positional 150-byte writes
//!   through `std::fs::File` directly and through [`StdFs`]'s [`StorageFile`] (the seam
//!   every log and index call goes through); `seam/std_read_at/4KiB` and
//!   `seam/storage_read_at/4KiB`: the same for 4 KiB reads of a warm file. The seam is
//!   static dispatch (`Log<S = StdFs>`), so each pair should match.
//!
//! Throughput: for `append`, `read` and `random`, bytes of the shape's data as tidelog stores
//! it uncompressed (the `none` batch, or the 64 MiB `none` log) for every id of that shape,
//! baselines, `lz4` and `commitlog` included: MB/s ratios are time ratios and compare across
//! codecs and libraries. `TIDELOG_BENCH_THROUGHPUT=records` reports records/s instead. For
//! `open`: the bytes scanned (the whole log; the last segment for `crash_last`), so
//! `crash_full`'s rate is the recovery scan speed; `clean` and `commitlog` are given the
//! whole log's bytes.
//!
//! Ratios are taken between median times of one run, never across runs, as the baseline's
//! time over the id's time (a throughput ratio: higher is better). The targets: `append/batch`
//! at least 0.8× `append/raw_write`; `append/records/none/100B/x1000` at least 0.45× and
//! faster than `append/commitlog/none/100B/x1000`; `append/records/none/<size>B/x1` at least
//! 0.9×; `read/decode/none` at least 0.35× `read/pread/none` and faster than
//! `read/commitlog`; `read/raw_copy` at least 0.9× `read/copy_file_range`. One run of the key
//! cases prints them, and `random/read` and `open/clean` against `commitlog` (the bencher
//! format gives medians in ns):
//!
//! ```text
//! TIDELOG_BENCH_TIME=cpu cargo bench --bench log -- --warm-up-time 1 --measurement-time 3 --output-format bencher \
//!     '^(append/[a-z_]+/none/100B/x(1|1000)|read/[a-z_]+/none/100B/100KiB|random/[a-z]+/none/100B/x100|open/(clean|commitlog)/256MiB|seam/.*)$' \
//!     | awk '
//!   /^test /{ v = $5; gsub(",", "", v); t[$2] = v; print }
//!   END { for (k in t) { n = split(k, p, "/"); tail = ""; for (i = 3; i <= n; i++) tail = tail "/" p[i]
//!       b = ""; c = ""
//!       if (p[1] == "append" && p[2] != "raw_write") b = "append/raw_write" tail
//!       if (p[1] == "read" && p[2] ~ /^(decode|commitlog)$/) b = "read/pread" tail
//!       if (p[1] == "read" && p[2] == "raw_copy") b = "read/copy_file_range" tail
//!       if (p[1] == "random" && p[2] ~ /^(read|commitlog)$/) b = "random/pread" tail
//!       if (p[1] == "seam" && p[2] ~ /^storage_/) b = "seam/std_" substr(p[2], 9) tail
//!       if (k ~ /^append\/records\/none\//) c = "append/commitlog" tail
//!       if (k ~ /^read\/decode\/none\//) c = "read/commitlog" tail
//!       if (k ~ /^random\/read\/none\//) c = "random/commitlog" tail
//!       if (k ~ /^open\/clean\//) c = "open/commitlog" tail
//!       if (b in t) printf "%-36s %6.3fx %s\n", k, t[b] / t[k], b
//!       if (c in t) printf "%-36s %6.3fx %s\n", k, t[c] / t[k], c } }'
//! ```
//!
//! On a machine shared with other work, set `TIDELOG_BENCH_TIME=cpu` to time every region by
//! the bench thread's CPU time (user and system) instead of wall time: the load then swings
//! the figures far less (see `common::Stopwatch`). The open benches read from the page
//! cache, so they stay CPU-bound and are timed the same way.
//!
//! The `read` pairs are bound by memory bandwidth and swing by up to a third between runs on
//! a busy machine (the baseline as much as tidelog): confirm a ratio near its target with a
//! second run. `open` is best read in criterion's own output (`thrpt:` is the scan rate):
//! `cargo bench --bench log -- --warm-up-time 1 --measurement-time 3 '^open/'`.

#[allow(dead_code, reason = "each bench uses a different part")]
mod common;
use common::{generate_records, Rng, Stopwatch};
use std::cell::OnceCell;
use std::fs::{self, File, OpenOptions};
use std::hint::black_box;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use commitlog::message::{MessageBuf, MessageSet};
use commitlog::{CommitLog, LogOptions, ReadLimit};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use tempfile::TempDir;
use tidelog::config::LogConfig;
use tidelog::io::{OpenMode, StdFs, Storage, StorageFile};
use tidelog::log::{AppendOptions, Isolation, Log, LogOpenOptions, ReadResult, Validation};
use tidelog::record::{encode_batch, BatchOptions, Record};
use tidelog::Compression;

/// Value sizes in bytes.
const VALUE_SIZES: [usize; 2] = [100, 1024];
/// Records per batch for the appends.
const APPEND_COUNTS: [usize; 3] = [1, 100, 1000];
/// The codecs measured.
const CODECS: [Compression; 2] = [Compression::None, Compression::Lz4];
/// Appends empty their file after this many bytes written.
const RESET_BYTES: u64 = 32 << 20;
/// Size of the logs read sequentially and at random.
const READ_LOG_BYTES: u64 = 64 << 20;
/// Target size of a batch for the sequential reads.
const READ_BATCH_BYTES: usize = 100 << 10;
/// The read size of every chunked read, tidelog's and the baselines'.
const CHUNK: usize = 1 << 20;
/// Segment size of the logs that are opened.
const OPEN_SEGMENT_BYTES: u64 = 64 << 20;
/// Random offsets per random-read benchmark (used in turn).
const RANDOM_OFFSETS: usize = 4096;

// ---------------------------------------------------------------------------------------
// Data: the generator of benches/format.rs.

/// One batch shape: its records and the batch each codec makes of them.
struct Shape {
    /// The tail of every id: `<size>B/x<count>` or `<size>B/100KiB`.
    name: String,
    records: Vec<Record>,
    /// Length of the uncompressed batch: the unit of throughput.
    plain_len: usize,
    /// The batch under each codec that works in this build, in `CODECS` order.
    batches: Vec<(Compression, Vec<u8>)>,
}

impl Shape {
    fn new(name: String, size: usize, count: usize) -> Self {
        let records = generate_records(size, count);
        let batches: Vec<_> = CODECS
            .iter()
            .filter_map(|&codec| {
                match encode_batch(BatchOptions::with_compression(codec), &records) {
                    Ok(bytes) => Some((codec, bytes)),
                    Err(e) => {
                        eprintln!("notice: skipping the {codec} benchmarks of {name}: {e}");
                        None
                    }
                }
            })
            .collect();
        let plain_len = encode_batch(BatchOptions::default(), &records)
            .expect("uncompressed encoding of small records cannot fail")
            .len();
        Shape {
            name,
            records,
            plain_len,
            batches,
        }
    }

    fn batch(&self, codec: Compression) -> Option<&[u8]> {
        self.batches
            .iter()
            .find(|(c, _)| *c == codec)
            .map(|(_, b)| b.as_slice())
    }
}

// ---------------------------------------------------------------------------------------
// Shared helpers.

fn scratch_dir(tag: &str) -> TempDir {
    let base = std::env::var_os("TIDELOG_BENCH_DIR").map_or_else(
        || {
            let var_tmp = PathBuf::from("/var/tmp");
            if var_tmp.is_dir() {
                var_tmp
            } else {
                std::env::temp_dir()
            }
        },
        PathBuf::from,
    );
    tempfile::Builder::new()
        .prefix(&format!("tidelog-bench-{tag}-"))
        .tempdir_in(base)
        .expect("a scratch directory")
}

/// The config of every log here: Kafka's defaults but a batch of 16 MiB.
fn log_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        max_message_bytes: 16 << 20,
        ..LogConfig::default()
    }
}

fn commitlog_options(dir: &Path) -> LogOptions {
    let mut opts = LogOptions::new(dir);
    opts.message_max_bytes(16 << 20).index_max_items(1 << 20);
    opts
}

fn segment_path(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!("{base_offset:020}.log"))
}

/// Throughput of `bytes` bytes of data holding `records` records.
fn unit(per_record: bool, bytes: u64, records: u64) -> Throughput {
    if per_record {
        Throughput::Elements(records)
    } else {
        Throughput::Bytes(bytes)
    }
}

fn id(name: &str, codec: Compression, shape: &str) -> BenchmarkId {
    BenchmarkId::new(format!("{name}/{}", codec.name()), shape)
}

/// Runs `step` `iters` times, timing only those calls: `reset` runs untimed before the first
/// call and again after every `RESET_BYTES / bytes_per_step` calls.
fn timed_with_resets<T>(
    state: &mut T,
    iters: u64,
    bytes_per_step: usize,
    mut step: impl FnMut(&mut T),
    mut reset: impl FnMut(&mut T),
) -> Duration {
    let per_reset = (RESET_BYTES / bytes_per_step.max(1) as u64).max(1);
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        reset(state);
        let n = left.min(per_reset);
        let start = Stopwatch::start();
        for _ in 0..n {
            step(state);
        }
        total += start.elapsed();
        left -= n;
    }
    total
}

/// Appends `batch` `n` times to a fresh log in `dir`; returns the log.
fn build_log(dir: &Path, config: LogConfig, batch: &[u8], n: u64) -> Log {
    let log = Log::open(dir, config, LogOpenOptions::default()).expect("a new log");
    for _ in 0..n {
        log.append_batch(batch, Validation::Shallow)
            .expect("a valid batch appends");
    }
    log
}

// ---------------------------------------------------------------------------------------
// append

struct RawFile {
    _dir: TempDir,
    file: File,
}

impl RawFile {
    fn new() -> Self {
        let dir = scratch_dir("raw");
        let file = File::create(dir.path().join("raw.bin")).expect("a scratch file");
        RawFile { _dir: dir, file }
    }

    fn reset(&mut self) {
        self.file.set_len(0).expect("truncate");
        self.file.seek(SeekFrom::Start(0)).expect("seek");
    }
}

struct LogFixture {
    _dir: TempDir,
    log: Log,
}

impl LogFixture {
    fn new(tag: &str) -> Self {
        let dir = scratch_dir(tag);
        let log = Log::open(
            dir.path().join("bench-0"),
            log_config(1 << 30),
            LogOpenOptions::default(),
        )
        .expect("a new log");
        LogFixture { _dir: dir, log }
    }

    fn reset(&mut self) {
        self.log.truncate_to(0).expect("truncate");
    }
}

struct CommitLogFixture {
    dir: TempDir,
    log: Option<CommitLog>,
    buf: MessageBuf,
}

impl CommitLogFixture {
    fn new() -> Self {
        CommitLogFixture {
            dir: scratch_dir("commitlog"),
            log: None,
            buf: MessageBuf::default(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// A fresh, empty commit log.
    fn reset(&mut self) {
        self.log = None;
        let path = self.path();
        if path.exists() {
            fs::remove_dir_all(&path).expect("remove the old commit log");
        }
        self.log = Some(CommitLog::new(commitlog_options(&path)).expect("a new commit log"));
    }

    fn log(&mut self) -> &mut CommitLog {
        self.log.as_mut().expect("reset before use")
    }

    /// Fills the reused buffer with `records` and appends it.
    fn append(&mut self, records: &[Record]) {
        fill_message_buf(&mut self.buf, records);
        let log = self.log.as_mut().expect("reset before use");
        log.append(&mut self.buf).expect("commitlog append");
    }
}

/// Empties `buf` and fills it with `records`: key as metadata, value as payload.
fn fill_message_buf(buf: &mut MessageBuf, records: &[Record]) {
    buf.clear();
    for r in records {
        buf.push_with_metadata(
            r.key.as_deref().unwrap_or_default(),
            r.value.as_deref().unwrap_or_default(),
        )
        .expect("a small message");
    }
}

/// Bytes `commitlog` stores for `r`: a 20-byte header (offset, size, CRC-32C, metadata
/// size), the key and the value.
fn commitlog_message_len(r: &Record) -> u64 {
    20 + r.key.as_ref().map_or(0, Vec::len) as u64 + r.value.as_ref().map_or(0, Vec::len) as u64
}

fn append_shape(g: &mut BenchmarkGroup<'_, WallTime>, shape: &Shape, per_record: bool) {
    g.throughput(unit(
        per_record,
        shape.plain_len as u64,
        shape.records.len() as u64,
    ));
    for &(codec, ref batch) in &shape.batches {
        let batch = batch.as_slice();
        let mut raw: Option<RawFile> = None;
        g.bench_function(id("raw_write", codec, &shape.name), |b| {
            let f = raw.get_or_insert_with(RawFile::new);
            b.iter_custom(|iters| {
                timed_with_resets(
                    f,
                    iters,
                    batch.len(),
                    |f| f.file.write_all(black_box(batch)).expect("write"),
                    RawFile::reset,
                )
            })
        });
        drop(raw);

        let mut fixture: Option<LogFixture> = None;
        g.bench_function(id("batch", codec, &shape.name), |b| {
            let f = fixture.get_or_insert_with(|| LogFixture::new("append"));
            b.iter_custom(|iters| {
                timed_with_resets(
                    f,
                    iters,
                    batch.len(),
                    |f| {
                        f.log
                            .append_batch(black_box(batch), Validation::Shallow)
                            .expect("append_batch");
                    },
                    LogFixture::reset,
                )
            })
        });
        let opts = AppendOptions::with_compression(codec);
        g.bench_function(id("records", codec, &shape.name), |b| {
            let f = fixture.get_or_insert_with(|| LogFixture::new("append"));
            b.iter_custom(|iters| {
                timed_with_resets(
                    f,
                    iters,
                    batch.len(),
                    |f| {
                        f.log
                            .append(black_box(&shape.records), &opts)
                            .expect("append");
                    },
                    LogFixture::reset,
                )
            })
        });
        drop(fixture);

        if codec == Compression::None {
            let mut fixture: Option<CommitLogFixture> = None;
            g.bench_function(id("commitlog", codec, &shape.name), |b| {
                let f = fixture.get_or_insert_with(CommitLogFixture::new);
                b.iter_custom(|iters| {
                    timed_with_resets(
                        f,
                        iters,
                        batch.len(),
                        |f| f.append(black_box(&shape.records)),
                        CommitLogFixture::reset,
                    )
                })
            });
        }
    }
}

// ---------------------------------------------------------------------------------------
// read (sequential) and random

/// A log of uniform batches (every batch holds `count` records and is `batch_len` long),
/// with its single segment file open for the baselines.
struct ReadFixture {
    dir: TempDir,
    log: Log,
    file: File,
    size: u64,
    count: i64,
    batch_len: u64,
}

impl ReadFixture {
    /// `batches` copies of `batch`, which holds `count` records.
    fn new(batch: &[u8], count: usize, batches: u64) -> Self {
        let dir = scratch_dir("read");
        let log_dir = dir.path().join("bench-0");
        let log = build_log(&log_dir, log_config(1 << 30), batch, batches);
        assert_eq!(log.segment_count(), 1, "the read log is one segment");
        let file = File::open(segment_path(&log_dir, 0)).expect("the segment file");
        let size = log.size_bytes();
        ReadFixture {
            dir,
            log,
            file,
            size,
            count: count as i64,
            batch_len: batch.len() as u64,
        }
    }

    /// An empty regular file in the log's directory, for the copies.
    fn target(&self) -> File {
        OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(self.dir.path().join("copy.bin"))
            .expect("a copy target")
    }
}

/// Runs `step` `iters` times in one timed region (by [`Stopwatch`]).
fn timed_iters<R>(iters: u64, mut step: impl FnMut() -> R) -> Duration {
    let start = Stopwatch::start();
    for _ in 0..iters {
        black_box(step());
    }
    start.elapsed()
}

/// Runs `each` `iters` times with `target` emptied (untimed) before every run.
fn timed_copies(iters: u64, target: &mut File, mut each: impl FnMut(&File)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        target.set_len(0).expect("truncate");
        target.seek(SeekFrom::Start(0)).expect("seek");
        let start = Stopwatch::start();
        each(target);
        total += start.elapsed();
    }
    total
}

fn pread_all(file: &File, size: u64, buf: &mut [u8]) -> u64 {
    let mut pos = 0;
    while pos < size {
        let want = buf.len().min((size - pos) as usize);
        file.read_exact_at(&mut buf[..want], pos).expect("read_at");
        black_box(&buf[..want]);
        pos += want as u64;
    }
    pos
}

struct CommitLogRead {
    _dir: TempDir,
    log: CommitLog,
    end: u64,
}

impl CommitLogRead {
    /// As many appends of `records` as make `READ_LOG_BYTES` of commitlog data.
    fn sequential(records: &[Record]) -> Self {
        let per_append: u64 = records.iter().map(commitlog_message_len).sum();
        Self::new(records, READ_LOG_BYTES.div_ceil(per_append))
    }

    /// `appends` appends of `records`, one `MessageBuf` each.
    fn new(records: &[Record], appends: u64) -> Self {
        let mut f = CommitLogFixture::new();
        f.reset();
        for _ in 0..appends {
            f.append(records);
        }
        let end = f.log().next_offset();
        let CommitLogFixture { dir, log, .. } = f;
        CommitLogRead {
            _dir: dir,
            log: log.expect("built"),
            end,
        }
    }
}

fn read_shape(g: &mut BenchmarkGroup<'_, WallTime>, size: usize, per_record: bool) {
    let count = (READ_BATCH_BYTES / (size + 25)).max(1);
    let shape = Shape::new(format!("{size}B/100KiB"), size, count);
    let plain_batches = READ_LOG_BYTES.div_ceil(shape.plain_len as u64);
    g.throughput(unit(
        per_record,
        plain_batches * shape.plain_len as u64,
        plain_batches * count as u64,
    ));
    for &(codec, ref batch) in &shape.batches {
        // The lz4 log holds as many batches (so records) as the `none` one.
        let bytes = plain_batches * batch.len() as u64;
        let fixture = OnceCell::new();
        let get = || {
            fixture.get_or_init(|| {
                let f = ReadFixture::new(batch, count, plain_batches);
                assert_eq!(f.size, bytes);
                f
            })
        };
        let mut buf = vec![0u8; CHUNK];
        g.bench_function(id("pread", codec, &shape.name), |b| {
            let f = get();
            b.iter_custom(|iters| timed_iters(iters, || pread_all(&f.file, f.size, &mut buf)))
        });
        g.bench_function(id("decode", codec, &shape.name), |b| {
            let f = get();
            let end = f.log.end_offset();
            // One result reused across fetches, as a reader in a loop does (`read_into`).
            let mut read = ReadResult::default();
            b.iter_custom(|iters| {
                timed_iters(iters, || {
                    let mut offset = 0;
                    let mut n = 0u64;
                    while offset < end {
                        f.log
                            .read_into(offset, CHUNK, Isolation::Appended, &mut read)
                            .expect("read");
                        for r in read.records() {
                            let r = r.expect("a valid record");
                            black_box(r.key().map_or(0, <[u8]>::len));
                            black_box(r.value().map_or(0, <[u8]>::len));
                            n += 1;
                        }
                        offset = read.next_offset();
                    }
                    n
                })
            })
        });
        if codec == Compression::None {
            let mut commitlog: Option<CommitLogRead> = None;
            g.bench_function(id("commitlog", codec, &shape.name), |b| {
                let c = commitlog.get_or_insert_with(|| CommitLogRead::sequential(&shape.records));
                b.iter_custom(|iters| {
                    timed_iters(iters, || {
                        let mut offset = 0;
                        let mut n = 0u64;
                        while offset < c.end {
                            let buf = c
                                .log
                                .read(offset, ReadLimit::max_bytes(CHUNK))
                                .expect("commitlog read");
                            let mut last = offset;
                            for m in buf.iter() {
                                black_box(m.metadata().len());
                                black_box(m.payload().len());
                                last = m.offset();
                                n += 1;
                            }
                            offset = last + 1;
                        }
                        n
                    })
                })
            });
            drop(commitlog);
            g.bench_function(id("copy_file_range", codec, &shape.name), |b| {
                let f = get();
                let mut target = f.target();
                // The ranges `read_raw` returns: as many whole batches as fit in 1 MiB.
                let chunk = (CHUNK as u64 / f.batch_len * f.batch_len) as usize;
                b.iter_custom(|iters| {
                    timed_copies(iters, &mut target, |out| {
                        let mut off = 0u64;
                        while off < f.size {
                            let before = off;
                            let want = chunk.min((f.size - off) as usize);
                            let n = rustix::fs::copy_file_range(
                                &f.file,
                                Some(&mut off),
                                out,
                                None,
                                want,
                            )
                            .expect("copy_file_range");
                            assert!(n > 0, "copy_file_range copied nothing");
                            off = before + n as u64;
                        }
                    })
                })
            });
            g.bench_function(id("raw_copy", codec, &shape.name), |b| {
                let f = get();
                let mut target = f.target();
                let end = f.log.end_offset();
                b.iter_custom(|iters| {
                    timed_copies(iters, &mut target, |out| {
                        let mut offset = 0;
                        while offset < end {
                            let slice = f.log.read_raw(offset, CHUNK).expect("read_raw");
                            let n = slice.copy_to(out).expect("copy_to");
                            assert_eq!(n, slice.len());
                            // Uniform batches: the next offset follows from the length.
                            offset += (slice.len() / f.batch_len) as i64 * f.count;
                        }
                    })
                })
            });
        }
    }
}

/// Sorted latencies (ns) → p50, p90, p99, p99.9 on stderr.
fn print_percentiles(id: &str, latencies: &mut [u64]) {
    if latencies.is_empty() {
        return;
    }
    latencies.sort_unstable();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q) as usize).min(latencies.len() - 1);
        latencies[i] as f64 / 1000.0
    };
    eprintln!(
        "{id}: p50 {:.2} µs, p90 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs ({} reads)",
        at(0.50),
        at(0.90),
        at(0.99),
        at(0.999),
        latencies.len()
    );
}

/// Times each of `iters` calls of `step(i)` alone, adding each time to `latencies`.
fn timed_each(iters: u64, latencies: &mut Vec<u64>, mut step: impl FnMut(usize)) -> Duration {
    let mut total = Duration::ZERO;
    for i in 0..iters {
        // Wall time: a latency is what a caller waits, and one iteration is too short for
        // a CPU-time clock read (a system call) to stay out of the figure.
        let start = Instant::now();
        step(i as usize);
        let t = start.elapsed();
        latencies.push(t.as_nanos() as u64);
        total += t;
    }
    total
}

fn random_shape(g: &mut BenchmarkGroup<'_, WallTime>, shape: &Shape, per_record: bool) {
    let Some(batch) = shape.batch(Compression::None) else {
        return;
    };
    let count = shape.records.len();
    g.throughput(unit(per_record, batch.len() as u64, count as u64));
    let fixture = OnceCell::new();
    let batches = READ_LOG_BYTES.div_ceil(batch.len() as u64);
    let get = || fixture.get_or_init(|| ReadFixture::new(batch, count, batches));
    let offsets = OnceCell::new();
    let offsets = || {
        offsets.get_or_init(|| {
            let end = get().log.end_offset() as u64;
            let mut rng = Rng(0x7261_6e64_6f6d_2121);
            (0..RANDOM_OFFSETS)
                .map(|_| (rng.next() % end) as i64)
                .collect::<Vec<i64>>()
        })
    };

    let name = format!("random/pread/none/{}", shape.name);
    let mut latencies = Vec::new();
    let mut buf = vec![0u8; batch.len()];
    g.bench_function(id("pread", Compression::None, &shape.name), |b| {
        let f = get();
        let offsets = offsets();
        b.iter_custom(|iters| {
            timed_each(iters, &mut latencies, |i| {
                let offset = offsets[i % offsets.len()];
                let position = (offset / f.count) as u64 * f.batch_len;
                f.file.read_exact_at(&mut buf, position).expect("read_at");
                black_box(&buf);
            })
        })
    });
    print_percentiles(&name, &mut latencies);

    let name = format!("random/read/none/{}", shape.name);
    let mut latencies = Vec::new();
    g.bench_function(id("read", Compression::None, &shape.name), |b| {
        let f = get();
        let offsets = offsets();
        b.iter_custom(|iters| {
            timed_each(iters, &mut latencies, |i| {
                let offset = offsets[i % offsets.len()];
                let read = f.log.read(offset, 1).expect("read");
                debug_assert_eq!(read.batch_count(), 1);
                for r in read.records() {
                    let r = r.expect("a valid record");
                    black_box(r.value().map_or(0, <[u8]>::len));
                }
            })
        })
    });
    print_percentiles(&name, &mut latencies);

    // The same records in a commit log (one append per tidelog batch, so the same offsets),
    // read one message at a time: a limit of the largest message admits exactly one, as
    // two of the smallest are longer.
    let name = format!("random/commitlog/none/{}", shape.name);
    let mut latencies = Vec::new();
    let largest = shape.records.iter().map(commitlog_message_len).max();
    let smallest = shape.records.iter().map(commitlog_message_len).min();
    let (Some(largest), Some(smallest)) = (largest, smallest) else {
        return;
    };
    assert!(2 * smallest > largest, "one message per read");
    let one = ReadLimit::max_bytes(largest as usize);
    let mut commitlog: Option<CommitLogRead> = None;
    g.bench_function(id("commitlog", Compression::None, &shape.name), |b| {
        let c = commitlog.get_or_insert_with(|| {
            let c = CommitLogRead::new(&shape.records, batches);
            assert_eq!(c.end, get().log.end_offset() as u64, "the same records");
            for &offset in offsets() {
                let buf = c.log.read(offset as u64, one).expect("commitlog read");
                assert_eq!(buf.len(), 1, "one message per read");
                assert_eq!(buf.iter().next().map(|m| m.offset()), Some(offset as u64));
            }
            c
        });
        let offsets = offsets();
        b.iter_custom(|iters| {
            timed_each(iters, &mut latencies, |i| {
                let offset = offsets[i % offsets.len()] as u64;
                let buf = c.log.read(offset, one).expect("commitlog read");
                debug_assert_eq!(buf.len(), 1);
                for m in buf.iter() {
                    debug_assert_eq!(m.offset(), offset);
                    black_box(m.payload().len());
                }
            })
        })
    });
    drop(commitlog);
    print_percentiles(&name, &mut latencies);
}

// ---------------------------------------------------------------------------------------
// open

struct OpenFixture {
    _dir: TempDir,
    path: PathBuf,
    config: LogConfig,
    end: i64,
    last_base: i64,
    last_size: u64,
    segments: Vec<PathBuf>,
}

impl OpenFixture {
    fn new(batch: &[u8], count: usize, batches: u64) -> Self {
        let dir = scratch_dir("open");
        let path = dir.path().join("bench-0");
        let config = log_config(OPEN_SEGMENT_BYTES);
        let started = Instant::now();
        let log = build_log(&path, config.clone(), batch, batches);
        let end = log.end_offset();
        let bases = log.segment_base_offsets();
        let last_base = *bases.last().expect("a segment");
        let last_size = (end - last_base) as u64 / count as u64 * batch.len() as u64;
        log.close().expect("a clean close");
        let segments = bases.iter().map(|&b| segment_path(&path, b)).collect();
        eprintln!(
            "built a {} MiB log of {} segments in {:.1} s",
            log.size_bytes() >> 20,
            bases.len(),
            started.elapsed().as_secs_f64()
        );
        OpenFixture {
            _dir: dir,
            path,
            config,
            end,
            last_base,
            last_size,
            segments,
        }
    }

    fn open(&self, options: LogOpenOptions) -> Log {
        Log::open(&self.path, self.config.clone(), options).expect("open")
    }
}

/// A commit log of `OPEN_SEGMENT_BYTES` segments, closed (dropped), for `CommitLog::new`.
struct CommitLogOpen {
    _dir: TempDir,
    options: LogOptions,
    end: u64,
}

impl CommitLogOpen {
    /// `segments` segments, each holding as many appends of `records` as fit.
    fn new(records: &[Record], segments: u64) -> Self {
        let dir = scratch_dir("commitlog-open");
        let path = dir.path().join("log");
        let mut options = commitlog_options(&path);
        options.segment_max_bytes(OPEN_SEGMENT_BYTES as usize);
        let started = Instant::now();
        let per_append: u64 = records.iter().map(commitlog_message_len).sum();
        // A segment starts with a 2-byte magic; it rolls when an append would not fit.
        let per_segment = (OPEN_SEGMENT_BYTES - 2) / per_append;
        let mut log = CommitLog::new(options.clone()).expect("a new commit log");
        let mut buf = MessageBuf::default();
        for _ in 0..per_segment * segments {
            fill_message_buf(&mut buf, records);
            log.append(&mut buf).expect("commitlog append");
        }
        log.flush().expect("commitlog flush");
        let end = log.next_offset();
        drop(log);
        let mut bytes = 0;
        let mut files = 0;
        for entry in fs::read_dir(&path).expect("the commit log directory") {
            let entry = entry.expect("a directory entry");
            if entry.path().extension().is_some_and(|e| e == "log") {
                bytes += entry.metadata().expect("metadata").len();
                files += 1;
            }
        }
        assert_eq!(files, segments, "segments as computed");
        eprintln!(
            "built a {} MiB commit log of {files} segments in {:.1} s",
            bytes >> 20,
            started.elapsed().as_secs_f64()
        );
        CommitLogOpen {
            _dir: dir,
            options,
            end,
        }
    }
}

fn open_group(c: &mut Criterion, per_record: bool) {
    let big = std::env::var("TIDELOG_BENCH_BIG").is_ok_and(|v| v == "1");
    let (bytes, label) = if big {
        (1u64 << 30, "1GiB")
    } else {
        (256u64 << 20, "256MiB")
    };
    let shape = Shape::new("100B/x100".into(), 100, 100);
    let Some(batch) = shape.batch(Compression::None) else {
        return;
    };
    let count = shape.records.len();
    // Whole segments: as many batches as fit in `OPEN_SEGMENT_BYTES`, `bytes / 64 MiB` times.
    let per_segment = OPEN_SEGMENT_BYTES / batch.len() as u64;
    let batches = per_segment * (bytes / OPEN_SEGMENT_BYTES);
    let total = batches * batch.len() as u64;
    let last = per_segment * batch.len() as u64;

    let mut g = c.benchmark_group("open");
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    let fixture = OnceCell::new();
    let get = || {
        fixture.get_or_init(|| {
            let f = OpenFixture::new(batch, count, batches);
            assert_eq!(f.last_size, last, "segments as computed");
            f
        })
    };
    let records = |b: u64| b / batch.len() as u64 * count as u64;

    g.throughput(unit(per_record, total, records(total)));
    let mut buf = vec![0u8; CHUNK];
    g.bench_function(BenchmarkId::new("pread_crc32c", label), |b| {
        let f = get();
        b.iter(|| {
            let mut crc = 0u32;
            for path in &f.segments {
                let file = File::open(path).expect("a segment file");
                let size = file.metadata().expect("metadata").len();
                let mut pos = 0;
                while pos < size {
                    let want = CHUNK.min((size - pos) as usize);
                    file.read_exact_at(&mut buf[..want], pos).expect("read_at");
                    crc ^= crc32c::crc32c(&buf[..want]);
                    pos += want as u64;
                }
            }
            crc
        })
    });
    g.bench_function(BenchmarkId::new("clean", label), |b| {
        let f = get();
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                let start = Stopwatch::start();
                let log = f.open(LogOpenOptions {
                    recovery_point: Some(f.end),
                    clean_shutdown: true,
                    ..Default::default()
                });
                t += start.elapsed();
                assert_eq!(log.recovery_report().segments_scanned, 0);
                assert_eq!(log.end_offset(), f.end);
                log.close().expect("close");
            }
            t
        })
    });
    // Given the same bytes as `clean`: its MB/s ratio is the time ratio.
    let mut commitlog: Option<CommitLogOpen> = None;
    g.bench_function(BenchmarkId::new("commitlog", label), |b| {
        let f = commitlog
            .get_or_insert_with(|| CommitLogOpen::new(&shape.records, bytes / OPEN_SEGMENT_BYTES));
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                let options = f.options.clone();
                let start = Stopwatch::start();
                let log = CommitLog::new(options).expect("commitlog open");
                t += start.elapsed();
                assert_eq!(log.next_offset(), f.end);
                drop(log);
            }
            t
        })
    });
    drop(commitlog);
    for (name, scanned, full) in [("crash_last", last, false), ("crash_full", total, true)] {
        g.throughput(unit(per_record, scanned, records(scanned)));
        g.bench_function(BenchmarkId::new(name, label), |b| {
            let f = get();
            let recovery_point = if full { 0 } else { f.last_base };
            b.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    let start = Stopwatch::start();
                    let log = f.open(LogOpenOptions {
                        recovery_point: Some(recovery_point),
                        clean_shutdown: false,
                        ..Default::default()
                    });
                    t += start.elapsed();
                    let report = log.recovery_report();
                    assert_eq!(report.bytes_scanned, scanned);
                    assert!(report.cuts.is_empty());
                    assert_eq!(log.end_offset(), f.end);
                    drop(log); // a crash: no close
                }
                t
            })
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------

fn log_benches(c: &mut Criterion) {
    let per_record = std::env::var("TIDELOG_BENCH_THROUGHPUT").is_ok_and(|v| v == "records");

    let mut g = c.benchmark_group("append");
    for &size in &VALUE_SIZES {
        for &count in &APPEND_COUNTS {
            let shape = Shape::new(format!("{size}B/x{count}"), size, count);
            append_shape(&mut g, &shape, per_record);
        }
    }
    g.finish();

    let mut g = c.benchmark_group("read");
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    for &size in &VALUE_SIZES {
        read_shape(&mut g, size, per_record);
    }
    g.finish();

    let mut g = c.benchmark_group("random");
    for (size, count) in [(100, 100), (1024, 10)] {
        let shape = Shape::new(format!("{size}B/x{count}"), size, count);
        random_shape(&mut g, &shape, per_record);
    }
    g.finish();

    open_group(c, per_record);
}

// ---------------------------------------------------------------------------------------
// seam

/// The file-system seam's cost: the same positional writes and reads through
/// `std::fs::File` directly and through [`StdFs`]'s [`StorageFile`], which every log and
/// index call goes through. `Log<S = StdFs>` is generic, so the seam is static dispatch: the
/// two should be the same.
fn seam_group(c: &mut Criterion) {
    const WRITE: usize = 150;
    let mut g = c.benchmark_group("seam");
    g.throughput(Throughput::Bytes(WRITE as u64));
    let data = vec![0x5au8; WRITE];
    let dir = scratch_dir("seam");
    let std_file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.path().join("std.bin"))
        .expect("a scratch file");
    let seam_file = StdFs
        .open(&dir.path().join("seam.bin"), OpenMode::Create)
        .expect("a scratch file");
    let per_reset = RESET_BYTES / WRITE as u64;
    g.bench_function("std_write_at/150B", |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                std_file.set_len(0).expect("truncate");
                let n = per_reset.min(iters - done);
                let start = Stopwatch::start();
                for i in 0..n {
                    std_file
                        .write_all_at(black_box(&data), i * WRITE as u64)
                        .expect("write");
                }
                t += start.elapsed();
                done += n;
            }
            t
        })
    });
    g.bench_function("storage_write_at/150B", |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                seam_file.set_len(0).expect("truncate");
                let n = per_reset.min(iters - done);
                let start = Stopwatch::start();
                for i in 0..n {
                    seam_file
                        .write_all_at(black_box(&data), i * WRITE as u64)
                        .expect("write");
                }
                t += start.elapsed();
                done += n;
            }
            t
        })
    });
    // Reads of 4 KiB from a warm 1 MiB file, at a stride that visits every page.
    const READ: usize = 4096;
    const FILE: u64 = 1 << 20;
    std_file.set_len(0).expect("truncate");
    seam_file.set_len(0).expect("truncate");
    let fill = vec![0xa5u8; FILE as usize];
    std_file.write_all_at(&fill, 0).expect("fill");
    seam_file.write_all_at(&fill, 0).expect("fill");
    let mut buf = vec![0u8; READ];
    let position = |i: u64| (i * 7 * READ as u64) % FILE;
    g.throughput(Throughput::Bytes(READ as u64));
    g.bench_function("std_read_at/4KiB", |b| {
        b.iter_custom(|iters| {
            let mut i = 0u64;
            timed_iters(iters, || {
                i += 1;
                std_file.read_exact_at(&mut buf, position(i)).expect("read");
            })
        })
    });
    g.bench_function("storage_read_at/4KiB", |b| {
        b.iter_custom(|iters| {
            let mut i = 0u64;
            timed_iters(iters, || {
                i += 1;
                seam_file
                    .read_exact_at(&mut buf, position(i))
                    .expect("read");
            })
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    log_benches(&mut c);
    seam_group(&mut c);
    c.final_summary();
}
