//! Producer benchmarks: [`Producer::send`] of keyed 100-byte records over a topic of 4
//! partitions, by 1 and 2 threads (one producer each), without compression and with lz4,
//! each beside the work it is judged against, done in the same run.
//!
//! Records are those of `benches/log.rs` (the generator of `benches/format.rs`, same seed):
//! values of exactly 100 bytes of text-like bytes, keys `user-<3 to 11 digits>`, increasing
//! timestamps, no headers. A round is [`ROUND`] records sent with their own timestamps and
//! then [`Producer::flush`]; with Kafka's defaults (`batch.size` 16384, `linger.ms` 5: the
//! rounds take far less, so only full batches and the final flush append) they make about
//! 80 batches of ~16 KiB, about 20 per partition. `t<N>` is the number of threads; each does
//! the same rounds (its own producer, all sharing one store and its 4 partitions).
//!
//! Ids (`<codec>` is `none` or `lz4`):
//! - `producer/send/<codec>/t<N>`: N threads, each sending its rounds through a producer,
//!   one [`Producer::send`] per record.
//! - `producer/send_all/<codec>/t<N>`: the same through [`Producer::send_all`], 1000
//!   records per call (one lock and one clock reading per call instead of per record).
//! - `producer/log_batch/<codec>/t<N>`: the baseline for `none`: N threads, each appending
//!   the very batches one producer round made (read back from a scratch store, so the same
//!   bytes and sizes) straight to one [`Log`] of its own with [`Log::append_batch`]
//!   ([`Validation::Shallow`], as the producer's appends). The difference is what the
//!   producer adds: routing (murmur2), building and CRC-ing batches, receipts.
//! - `producer/lz4_alone/lz4/t<N>`: the baseline for `lz4`: N threads, each compressing the
//!   records sections of the round's uncompressed batches with lz4, and nothing else.
//!
//! Throughput: bytes of the round's uncompressed batches times N, for every id, so MB/s
//! ratios are time ratios. Logs are emptied ([`Log::truncate_to`]`(0)`) every 32 MiB of
//! uncompressed data sent per thread and before each sample, untimed; the timed region is
//! all N threads running their rounds between two barriers.
//!
//! What bounds the `none` ratio: the producer appends its own batches trusted (no second
//! CRC pass, stamped in place, no copy), so its append costs less than `log_batch`'s; but
//! building a batch of these records (copying each key and value, varints, one CRC pass)
//! costs about as much again as the append, before any routing, clock reading, locking or
//! receipt; `send` adds those per record (the clock is read per record, as Kafka's `doSend`
//! does, for `linger.ms` and the default timestamp), `send_all` reads the clock and locks
//! once per call. Last figures (2 shared cores, CPU time): `send/none` 0.32–0.38x,
//! `send_all/none` 0.40–0.51x, `send/lz4` 0.66–0.67x, `send_all/lz4` 0.70–0.73x.
//!
//! On a machine shared with other work, wall time swings with the load; set
//! `TIDELOG_BENCH_TIME=cpu` to time each sample by its threads' mean CPU time instead (Linux's
//! `CLOCK_THREAD_CPUTIME_ID`, system time included): throughput per thread, times N, as
//! if the N threads had N cores to themselves.
//!
//! Ratios are taken between median times of one run, as the baseline's time over the id's
//! (higher is better). Targets: `send/none/t<N>` at least 0.7x `log_batch/none/t<N>`;
//! `send/lz4/t<N>` at least 0.7x `lz4_alone/lz4/t<N>` (and the same for `send_all`). One
//! run prints them:
//!
//! ```text
//! cargo bench --bench producer -- --output-format bencher | awk '
//!   /^test /{ v = $5; gsub(",", "", v); t[$2] = v; print }
//!   END { for (k in t) { split(k, p, "/"); if (p[2] !~ /^send/) continue
//!       b = (p[3] == "lz4") ? "producer/lz4_alone/lz4/" p[4] : "producer/log_batch/none/" p[4]
//!       c = "producer/log_batch/" p[3] "/" p[4]
//!       if (b in t) printf "%-26s %6.3fx %s\n", k, t[b] / t[k], b
//!       if (c != b && c in t) printf "%-26s %6.3fx %s\n", k, t[c] / t[k], c } }'
//! ```

#[allow(dead_code, reason = "each bench uses a different part")]
mod common;
use common::{cpu_time, generate_records, thread_cpu_ns};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use tempfile::TempDir;
use tidelog::compression::compress;
use tidelog::config::{StoreConfig, TopicConfig};
use tidelog::log::{Log, LogOpenOptions, Validation};
use tidelog::record::{Record, RECORD_BATCH_OVERHEAD};
use tidelog::store::{Producer, ProducerConfig, ProducerRecord, Receipt, Store};
use tidelog::Compression;

/// Records per round.
const ROUND: usize = 10_000;
/// Value size in bytes.
const VALUE_SIZE: usize = 100;
/// Partitions of the topic.
const PARTITIONS: u32 = 4;
/// Thread counts measured.
const THREADS: [usize; 2] = [1, 2];
/// Logs are emptied after this many uncompressed bytes per thread.
const RESET_BYTES: usize = 32 << 20;
/// The topic.
const TOPIC: &str = "bench";

/// A round's batches, shared by the threads.
type Batches = Arc<Vec<Vec<u8>>>;
/// A producer thread's state: its producer, the records and a receipts buffer.
type ProducerState = (Producer, Arc<Vec<Record>>, Vec<Receipt>);

// ---------------------------------------------------------------------------------------
// Data: the generator of benches/format.rs.

// ---------------------------------------------------------------------------------------
// Helpers.

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

fn producer_config(codec: Compression) -> ProducerConfig {
    ProducerConfig {
        compression_type: codec,
        ..ProducerConfig::default()
    }
}

/// One round: every record sent, then a flush.
fn send_round(producer: &mut Producer, records: &[Record]) {
    for r in records {
        let key = r.key.as_deref().expect("generated records are keyed");
        let value = r.value.as_deref().expect("generated records have values");
        let record = ProducerRecord::new(TOPIC, key, value).with_timestamp(r.timestamp);
        black_box(producer.send(record).expect("send"));
    }
    producer.flush().expect("flush");
}

/// Records per [`Producer::send_all`] call.
const SEND_ALL_CHUNK: usize = 1000;

/// One round through [`Producer::send_all`], [`SEND_ALL_CHUNK`] records per call.
fn send_all_round(producer: &mut Producer, records: &[Record], receipts: &mut Vec<Receipt>) {
    for chunk in records.chunks(SEND_ALL_CHUNK) {
        let batch = chunk.iter().map(|r| {
            let key = r.key.as_deref().expect("generated records are keyed");
            let value = r.value.as_deref().expect("generated records have values");
            ProducerRecord::new(TOPIC, key, value).with_timestamp(r.timestamp)
        });
        producer.send_all(batch, receipts).expect("send_all");
        black_box(&receipts);
        receipts.clear();
    }
    producer.flush().expect("flush");
}

/// The batches one producer round makes of `records` with `codec`, partition by partition.
fn round_batches(records: &[Record], codec: Compression) -> Vec<Vec<u8>> {
    let dir = scratch_dir("round");
    let store = Store::open(dir.path(), StoreConfig::default()).expect("a store");
    store
        .create_topic(TOPIC, PARTITIONS, TopicConfig::default())
        .expect("a topic");
    let mut producer = Producer::new(&store, producer_config(codec)).expect("a producer");
    send_round(&mut producer, records);
    let mut out = Vec::new();
    for p in 0..PARTITIONS as i32 {
        let log = store.log(TOPIC, p).expect("a partition");
        let fetched = log.read(0, 64 << 20).expect("read back");
        out.extend(fetched.batches().map(|b| b.as_bytes().to_vec()));
    }
    out
}

/// Runs `threads` workers through `iters` rounds each, timing only the rounds: before every
/// `per_reset` rounds the workers wait while `reset` runs. `work(thread, state)` is one round.
fn timed_rounds<S: Send + 'static>(
    threads: usize,
    iters: u64,
    per_reset: u64,
    states: Vec<S>,
    work: impl Fn(&mut S) + Send + Sync + 'static,
    reset: impl Fn(),
) -> Duration {
    let work = Arc::new(work);
    let start = Arc::new(Barrier::new(threads + 1));
    let end = Arc::new(Barrier::new(threads + 1));
    let chunks: Vec<u64> = {
        let mut left = iters;
        let mut v = Vec::new();
        while left > 0 {
            let n = left.min(per_reset);
            v.push(n);
            left -= n;
        }
        v
    };
    let chunks = Arc::new(chunks);
    let cpu = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = states
        .into_iter()
        .map(|mut state| {
            let (work, start, end, chunks) = (
                Arc::clone(&work),
                Arc::clone(&start),
                Arc::clone(&end),
                Arc::clone(&chunks),
            );
            let cpu = Arc::clone(&cpu);
            thread::spawn(move || {
                for &n in chunks.iter() {
                    start.wait();
                    let before = thread_cpu_ns();
                    for _ in 0..n {
                        work(&mut state);
                    }
                    cpu.fetch_add(thread_cpu_ns() - before, Ordering::Relaxed);
                    end.wait();
                }
            })
        })
        .collect();
    let mut total = Duration::ZERO;
    for _ in chunks.iter() {
        reset();
        start.wait();
        let t = Instant::now();
        end.wait();
        total += t.elapsed();
    }
    for h in handles {
        h.join().expect("a worker");
    }
    if cpu_time() {
        Duration::from_nanos(cpu.load(Ordering::Relaxed) / threads as u64)
    } else {
        total
    }
}

// ---------------------------------------------------------------------------------------

fn producer_benches(c: &mut Criterion) {
    let records = Arc::new(generate_records(VALUE_SIZE, ROUND));
    let plain = round_batches(&records, Compression::None);
    let plain_bytes: usize = plain.iter().map(Vec::len).sum();
    let per_reset = (RESET_BYTES / plain_bytes).max(1) as u64;
    eprintln!(
        "notice: a round is {ROUND} records in {} batches, {plain_bytes} bytes uncompressed",
        plain.len()
    );
    let plain = Arc::new(plain);

    let mut g = c.benchmark_group("producer");
    for codec in [Compression::None, Compression::Lz4] {
        if !codec.is_enabled() {
            eprintln!("notice: skipping {codec}: not compiled in");
            continue;
        }
        let batches = Arc::new(round_batches(&records, codec));
        for threads in THREADS {
            g.throughput(Throughput::Bytes((plain_bytes * threads) as u64));
            let shape = format!("t{threads}");

            // The producer.
            let dir = scratch_dir("producer");
            let store = Store::open(dir.path(), StoreConfig::default()).expect("a store");
            store
                .create_topic(TOPIC, PARTITIONS, TopicConfig::default())
                .expect("a topic");
            for bulk in [false, true] {
                let name = if bulk { "send_all" } else { "send" };
                let id = BenchmarkId::new(format!("{name}/{}", codec.name()), &shape);
                g.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        let states: Vec<ProducerState> = (0..threads)
                            .map(|_| {
                                let p = Producer::new(&store, producer_config(codec))
                                    .expect("a producer");
                                (p, Arc::clone(&records), Vec::with_capacity(SEND_ALL_CHUNK))
                            })
                            .collect();
                        let store = store.clone();
                        timed_rounds(
                            threads,
                            iters,
                            per_reset,
                            states,
                            move |(p, records, receipts)| {
                                if bulk {
                                    send_all_round(p, records, receipts)
                                } else {
                                    send_round(p, records)
                                }
                            },
                            move || {
                                for p in 0..PARTITIONS as i32 {
                                    let log = store.log(TOPIC, p).expect("a log");
                                    log.truncate_to(0).expect("truncate");
                                }
                            },
                        )
                    });
                });
            }
            store.close().expect("close");

            // Baseline: the same batches straight to one log per thread.
            let dir = scratch_dir("log");
            let logs: Vec<Arc<Log>> = (0..threads)
                .map(|t| {
                    let log = Log::open(
                        dir.path().join(format!("{TOPIC}-{t}")),
                        Default::default(),
                        LogOpenOptions::default(),
                    )
                    .expect("a log");
                    Arc::new(log)
                })
                .collect();
            let id = BenchmarkId::new(format!("log_batch/{}", codec.name()), &shape);
            g.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let states: Vec<(Arc<Log>, Batches)> = logs
                        .iter()
                        .map(|l| (Arc::clone(l), Arc::clone(&batches)))
                        .collect();
                    let logs = logs.clone();
                    timed_rounds(
                        threads,
                        iters,
                        per_reset,
                        states,
                        |(log, batches)| {
                            for batch in batches.iter() {
                                black_box(
                                    log.append_batch(batch, Validation::Shallow)
                                        .expect("append"),
                                );
                            }
                        },
                        move || {
                            for l in &logs {
                                l.truncate_to(0).expect("truncate");
                            }
                        },
                    )
                });
            });
            for l in logs {
                l.close().expect("close");
            }

            // Baseline for lz4: compressing the same bytes, alone.
            if codec == Compression::Lz4 {
                let id = BenchmarkId::new("lz4_alone/lz4", &shape);
                g.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        let states: Vec<(Vec<u8>, Batches)> = (0..threads)
                            .map(|_| (Vec::with_capacity(1 << 16), Arc::clone(&plain)))
                            .collect();
                        timed_rounds(
                            threads,
                            iters,
                            u64::MAX,
                            states,
                            |(out, plain)| {
                                for batch in plain.iter() {
                                    out.clear();
                                    compress(
                                        Compression::Lz4,
                                        None,
                                        &batch[RECORD_BATCH_OVERHEAD..],
                                        out,
                                    )
                                    .expect("lz4");
                                    black_box(&out);
                                }
                            },
                            || {},
                        )
                    });
                });
            }
        }
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    producer_benches(&mut c);
    c.final_summary();
}
