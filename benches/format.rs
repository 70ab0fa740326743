//! Format-layer benchmarks: building and reading magic-2 batches, beside the raw costs they
//! are judged against.
//!
//! Every benchmark id ends in a shape, `<size>B/x<count>`: a batch of `count` records (1, 100,
//! 1000) whose values are exactly `size` bytes (100 or 1024), with keys of 8–16 bytes, no
//! headers and increasing timestamps. Values are text-like bytes from a fixed seed (words of a
//! skewed vocabulary, common phrases, some numbers): the records sections of 100- and
//! 1000-record batches compress about 1.8–2.5× with lz4 and snappy and 2.6–4× with gzip and
//! zstd (single-record batches less).
//!
//! Groups:
//! - `baseline/memcpy/<shape>`, `baseline/crc32c/<shape>`, `baseline/memcpy_crc32c/<shape>`:
//!   copy into a reused `Vec`, CRC-32C, and copy then CRC-32C of the copy, each over the whole
//!   uncompressed batch of that shape (N bytes, header included).
//! - `baseline/compress/<codec>/<shape>`, `baseline/decompress/<codec>/<shape>`:
//!   [`compression::compress`] of that batch's uncompressed records section (its bytes after
//!   the 61-byte header) into a reused `Vec`, and [`compression::decompress`] of the section
//!   the codec makes of it: the codec alone, in Kafka's framing, on exactly the bytes a batch
//!   carries.
//! - `encode/<codec>/<shape>`: a reused [`BatchBuilder`]: `clear`, append every record,
//!   `finish` (CRC included, compression included).
//! - `decode/<codec>/<shape>`: [`RecordBatch::parse`] (CRC check), then every record of
//!   [`RecordBatch::records`] (decompressing into one reused scratch `Vec`), touching each
//!   key and value length.
//!
//! `<codec>` is `none`, `gzip`, `snappy`, `lz4` or `zstd` (the codec baselines skip `none`:
//! its baseline is `memcpy`). A codec that fails a round trip at start-up (a disabled feature
//! or a stub) is skipped with a notice on stderr. At start-up each shape's sizes also go to
//! stderr, one line each: `shape <size>B/x<count> <records> <batch bytes> <section bytes>`
//! (the uncompressed batch and its records section); stdout carries criterion's output only.
//!
//! Criterion's own throughput is in bytes of the uncompressed data handled (the batch, or for
//! the codec baselines its records section), so MB/s compare across codecs; with
//! `TIDELOG_BENCH_THROUGHPUT=records` it shows `encode` and `decode` in records/s instead.
//! The report below gives both for every id, from the same medians: a shape's records and
//! bytes per iteration are fixed, so one run yields MB/s and records/s alike.
//!
//! Ratios are taken between median times of one run, never across runs. The acceptance
//! targets: `encode/none` and `decode/none` over `baseline/memcpy_crc32c` at most 3× for
//! `100B/x1000`; `encode/<codec>` over `baseline/compress/<codec>` and `decode/<codec>` over
//! `baseline/decompress/<codec>` at most 1.3×. One run prints them all, with each id's median,
//! MB/s and records/s (the bencher format gives medians in ns; `2>&1` brings in the sizes):
//!
//! ```text
//! cargo bench --bench format -- --warm-up-time 1 --measurement-time 2 \
//!     --output-format bencher '/100B/x1000$' 2>&1 | awk '
//!   /^shape /{ n[$2] = $3; batch[$2] = $4; section[$2] = $5 }
//!   /^test /{ v = $5; gsub(",", "", v); t[$2] = v; m = split($2, p, "/"); s = p[m-1] "/" p[m]
//!     b = $2 ~ /^baseline\/(de)?compress\// ? section[s] : batch[s]
//!     printf "%-36s %10d ns %9.1f MB/s %8.3f M records/s\n", $2, v, b * 1e3 / v, n[s] * 1e3 / v }
//!   END { s = "/100B/x1000"
//!     for (k in t) if (k ~ /^(en|de)code\//) { split(k, p, "/"); c = p[2]
//!       b = c == "none" ? t["baseline/memcpy_crc32c" s] \
//!         : t["baseline/" (k ~ /^en/ ? "compress/" : "decompress/") c s]
//!       if (b) printf "%-24s %6.2fx (target %s)\n", k, t[k] / b, c == "none" ? "3" : "1.3" } }'
//! ```
//!
//! Replace `100B/x1000` (both places) for another shape. Without `--output-format bencher`
//! criterion shows its own estimate (the middle `time:` figure) and the throughput instead.
//!
//! On a loaded machine, `TIDELOG_BENCH_TIME=cpu` times every id by the bench thread's CPU
//! time (`CLOCK_THREAD_CPUTIME_ID`, see `common::Stopwatch`) instead of the wall clock:
//! time spent descheduled, the main noise on a shared machine, is then left out. Nothing here
//! blocks, so the two clocks measure the same work.

#[allow(dead_code, reason = "each bench uses a different part")]
mod common;
use common::{generate_records, Stopwatch};
use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::Throughput;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion};
use tidelog::compression::{self, Compression};
use tidelog::record::{
    encode_batch, BatchBuilder, BatchOptions, Record, RecordBatch, DEFAULT_MAX_DECOMPRESSED_BYTES,
    RECORD_BATCH_OVERHEAD,
};

/// Value sizes in bytes.
const VALUE_SIZES: [usize; 2] = [100, 1024];
/// Records per batch.
const COUNTS: [usize; 3] = [1, 100, 1000];

/// One batch shape: its records and the batches they make.
struct Workload {
    /// `<size>B/x<count>`, the tail of every id.
    shape: String,
    records: Vec<Record>,
    /// The batch uncompressed: what the byte baselines copy and checksum.
    plain: Vec<u8>,
    /// The batch under each codec that works in this build, in id order (`none` first).
    batches: Vec<(Compression, Vec<u8>)>,
}

impl Workload {
    fn new(size: usize, count: usize, codecs: &[Compression]) -> Self {
        let records = generate_records(size, count);
        let plain = encode_batch(BatchOptions::default(), &records)
            .expect("uncompressed encoding of non-empty small records cannot fail");
        let batches = codecs
            .iter()
            .filter_map(|&codec| {
                match encode_batch(BatchOptions::with_compression(codec), &records) {
                    Ok(bytes) => Some((codec, bytes)),
                    Err(e) => {
                        eprintln!(
                            "notice: skipping the {codec} benchmarks of {size}B/x{count}: {e}"
                        );
                        None
                    }
                }
            })
            .collect();
        Workload {
            shape: format!("{size}B/x{count}"),
            records,
            plain,
            batches,
        }
    }

    /// The uncompressed records section: the codec baselines' input.
    fn section(&self) -> &[u8] {
        &self.plain[RECORD_BATCH_OVERHEAD..]
    }
}

/// The codecs that round-trip in this build; the others are reported and skipped.
fn working_codecs() -> Vec<Compression> {
    Compression::ALL
        .into_iter()
        .filter(|&codec| match round_trip(codec) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("notice: skipping the {codec} benchmarks: {e}");
                false
            }
        })
        .collect()
}

fn round_trip(codec: Compression) -> tidelog::Result<()> {
    let records = generate_records(100, 10);
    let bytes = encode_batch(BatchOptions::with_compression(codec), &records)?;
    let mut scratch = Vec::new();
    let count = RecordBatch::parse(&bytes)?.validate_records(&mut scratch, 1 << 20)?;
    let mut compressed = Vec::new();
    compression::compress(
        codec,
        None,
        &bytes[RECORD_BATCH_OVERHEAD..],
        &mut compressed,
    )?;
    let mut out = Vec::new();
    compression::decompress(codec, &compressed, &mut out, 1 << 20)?;
    if count != records.len() || out.len() + RECORD_BATCH_OVERHEAD != bytes.len() {
        return Err(tidelog::Error::InvalidArgument(format!(
            "{codec} did not round-trip"
        )));
    }
    Ok(())
}

/// Runs `step` `iters` times in one timed region, by the clock [`Stopwatch`] picks
/// (`TIDELOG_BENCH_TIME=cpu`: this thread's CPU time).
fn timed_iters<R>(iters: u64, mut step: impl FnMut() -> R) -> Duration {
    let start = Stopwatch::start();
    for _ in 0..iters {
        black_box(step());
    }
    start.elapsed()
}

fn bytes(n: usize) -> Throughput {
    Throughput::Bytes(n as u64)
}

/// Throughput of an `encode` or `decode` benchmark of `w`.
fn batch_throughput(w: &Workload, per_record: bool) -> Throughput {
    if per_record {
        Throughput::Elements(w.records.len() as u64)
    } else {
        bytes(w.plain.len())
    }
}

fn id(name: &str, w: &Workload) -> BenchmarkId {
    BenchmarkId::new(name, &w.shape)
}

fn baseline(g: &mut BenchmarkGroup<'_, WallTime>, w: &Workload) {
    let src = w.plain.as_slice();
    let mut dst = Vec::with_capacity(src.len());
    g.throughput(bytes(src.len()));
    g.bench_function(id("memcpy", w), |b| {
        b.iter_custom(|iters| {
            timed_iters(iters, || {
                dst.clear();
                dst.extend_from_slice(black_box(src));
                black_box(&dst);
            })
        })
    });
    g.bench_function(id("crc32c", w), |b| {
        b.iter_custom(|iters| timed_iters(iters, || crc32c::crc32c(black_box(src))))
    });
    g.bench_function(id("memcpy_crc32c", w), |b| {
        b.iter_custom(|iters| {
            timed_iters(iters, || {
                dst.clear();
                dst.extend_from_slice(black_box(src));
                crc32c::crc32c(black_box(&dst))
            })
        })
    });

    let section = w.section();
    let mut out = Vec::new();
    g.throughput(bytes(section.len()));
    for (codec, batch) in w.batches.iter().filter(|(c, _)| *c != Compression::None) {
        let codec = *codec;
        g.bench_function(id(&format!("compress/{codec}"), w), |b| {
            b.iter_custom(|iters| {
                timed_iters(iters, || {
                    out.clear();
                    compression::compress(codec, None, black_box(section), &mut out)
                        .expect("codec passed its start-up round trip");
                    out.len()
                })
            })
        });
        let compressed = &batch[RECORD_BATCH_OVERHEAD..];
        g.bench_function(id(&format!("decompress/{codec}"), w), |b| {
            b.iter_custom(|iters| {
                timed_iters(iters, || {
                    out.clear();
                    compression::decompress(
                        codec,
                        black_box(compressed),
                        &mut out,
                        DEFAULT_MAX_DECOMPRESSED_BYTES,
                    )
                    .expect("the builder's own output decompresses");
                    out.len()
                })
            })
        });
    }
}

fn encode(g: &mut BenchmarkGroup<'_, WallTime>, w: &Workload, per_record: bool) {
    g.throughput(batch_throughput(w, per_record));
    for &(codec, _) in &w.batches {
        let mut builder = BatchBuilder::new(BatchOptions::with_compression(codec));
        g.bench_function(id(codec.name(), w), |b| {
            b.iter_custom(|iters| {
                timed_iters(iters, || {
                    builder.clear();
                    for r in black_box(&w.records) {
                        builder
                            .append_record(r)
                            .expect("small records fit in a batch");
                    }
                    builder
                        .finish()
                        .expect("codec passed its start-up round trip")
                        .len()
                })
            })
        });
    }
}

fn decode(g: &mut BenchmarkGroup<'_, WallTime>, w: &Workload, per_record: bool) {
    g.throughput(batch_throughput(w, per_record));
    for (codec, batch) in &w.batches {
        let mut scratch = Vec::new();
        g.bench_function(id(codec.name(), w), |b| {
            b.iter_custom(|iters| {
                timed_iters(iters, || {
                    let parsed = RecordBatch::parse(black_box(batch)).expect("the builder's batch");
                    let records = parsed
                        .records(&mut scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)
                        .expect("the builder's batch");
                    for r in records {
                        let r = r.expect("the builder's batch");
                        black_box(r.key().map_or(0, <[u8]>::len));
                        black_box(r.value().map_or(0, <[u8]>::len));
                    }
                })
            })
        });
    }
}

fn format_benches(c: &mut Criterion) {
    let per_record = std::env::var("TIDELOG_BENCH_THROUGHPUT").is_ok_and(|v| v == "records");
    let codecs = working_codecs();
    let workloads: Vec<Workload> = VALUE_SIZES
        .iter()
        .flat_map(|&size| COUNTS.iter().map(move |&count| (size, count)))
        .map(|(size, count)| Workload::new(size, count, &codecs))
        .collect();
    for w in &workloads {
        eprintln!(
            "shape {} {} {} {}",
            w.shape,
            w.records.len(),
            w.plain.len(),
            w.section().len()
        );
    }

    let mut g = c.benchmark_group("baseline");
    for w in &workloads {
        baseline(&mut g, w);
    }
    g.finish();
    let mut g = c.benchmark_group("encode");
    for w in &workloads {
        encode(&mut g, w, per_record);
    }
    g.finish();
    let mut g = c.benchmark_group("decode");
    for w in &workloads {
        decode(&mut g, w, per_record);
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    format_benches(&mut c);
    c.final_summary();
}
