//! Consumer benchmarks: [`Consumer::poll`] throughput beside [`Log::read`] of the same
//! partitions in the same run, and the end-to-end latency from [`Producer::send`] to a
//! tailing consumer's receipt.
//!
//! Records are those of `benches/producer.rs` (the shared generator of `benches/common`,
//! same seed): keys `user-<3 to 11 digits>`, values of exactly 100 bytes of text-like
//! bytes, increasing timestamps, no headers. Every file lives in a temporary directory under
//! `/var/tmp` (or `$TIDELOG_BENCH_DIR`), removed at the end; everything is read from a warm
//! page cache.
//!
//! Groups (`<codec>` is `none` or `lz4`):
//! - `consume/log_read/<codec>/100B`: the baseline. A topic of 4 partitions × [`PER_PARTITION`]
//!   records, filled once by a [`Producer`] (Kafka's defaults: `batch.size` 16384, so batches
//!   of ~16 KiB, compressed with `<codec>`), each record sent to partition `i % 4`. One
//!   iteration is [`Log::read`] of 1 MiB at a time from offset 0 to the end of every
//!   partition in turn (CRC check and decompression included), touching each record's key
//!   and value.
//! - `consume/consumer/<codec>/100B`: one [`Consumer`] (group `bench`, auto-commit off,
//!   `max.poll.records` [`MAX_POLL_RECORDS`], other settings Kafka's) assigned the same 4
//!   partitions; one iteration is [`Consumer::seek_to_beginning`] and [`Consumer::poll`] until
//!   all 4 × [`PER_PARTITION`] records are seen, touching each record's key and value. The
//!   difference is what the consumer adds: positions and fairness across partitions, one
//!   owned [`ConsumerRecord`](tidelog::consumer::ConsumerRecord) per record (keys and values
//!   copied into one buffer per poll, which the records share), a `Vec` per poll.
//! - `consume/consumer_ref/<codec>/100B`: the same consumer and loop through
//!   [`Consumer::poll_records`], whose records borrow the consumer's fetch buffers (no copy,
//!   no allocation per record): what the consumer costs beyond `Log::read` itself.
//! - `e2e/latency/p<N>`: a topic of N partitions (1 or 4). The bench thread is the producer
//!   (`linger.ms` 0: each record is appended within its `send`), sending one keyed 100-byte
//!   record at a time whose value starts with the send time; a consumer thread tails the
//!   topic with `poll` (from the log end) and takes each record's latency from the send call
//!   to the poll's return. Closed loop: the next record is sent once the consumer has the
//!   previous one, so the figure holds no queueing. Criterion's time is the mean latency per
//!   record; once a benchmark is done, p50/p99/p99.9/max of every record it sent (warm-up
//!   included) go to stderr. With one partition `poll` blocks on the log's condition
//!   variable; with several on the store's append signal, which every partition bumps.
//!
//! Throughput: records (`Throughput::Elements`): 4 × [`PER_PARTITION`] for `consume`.
//!
//! On a machine shared with other work, wall time swings with the load; set
//! `TIDELOG_BENCH_TIME=cpu` to time the `consume` ids by the bench thread's CPU time
//! instead (`CLOCK_THREAD_CPUTIME_ID`, system time included).
//!
//! Ratios are taken between median times of one run, never across runs, as the baseline's
//! time over the id's time (higher is better): `consume/consumer/<codec>/100B` and
//! `consume/consumer_ref/<codec>/100B` against `consume/log_read/<codec>/100B`. One run
//! prints them (the bencher format gives medians in ns; the `e2e` percentiles are on
//! stderr):
//!
//! ```text
//! TIDELOG_BENCH_TIME=cpu cargo bench --bench consumer -- --warm-up-time 1 \
//!     --measurement-time 3 --output-format bencher | awk '
//!   /^test /{ v = $5; gsub(",", "", v); t[$2] = v; print }
//!   END { for (k in t) { split(k, p, "/"); if (p[2] !~ /^consumer/) continue
//!       b = "consume/log_read/" p[3] "/" p[4]
//!       if (b in t) printf "%-30s %6.3fx %s\n", k, t[b] / t[k], b } }'
//! ```
//!
//! Last figures (2 cores shared with other builds, CPU time): `consumer_ref` 0.70–0.74x of
//! `log_read` uncompressed and 0.79–0.81x with lz4; `consumer` (owned records) 0.33–0.35x
//! and 0.56x; `e2e/latency` p50/p99 about 5 µs / 23 µs with 1 partition and 5 µs / 11–28 µs
//! with 4.

#[allow(dead_code, reason = "each bench uses a different part")]
mod common;
use common::{generate_records, thread_cpu_ns};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use tempfile::TempDir;
use tidelog::config::{StoreConfig, TopicConfig};
use tidelog::consumer::{Consumer, ConsumerConfig, OffsetReset, TopicPartition};
use tidelog::store::{Producer, ProducerConfig, ProducerRecord, Store};
use tidelog::Compression;

/// Records per partition of the `consume` topics.
const PER_PARTITION: usize = 50_000;
/// Partitions of the `consume` topics.
const PARTITIONS: u32 = 4;
/// Value size in bytes.
const VALUE_SIZE: usize = 100;
/// `max_bytes` of each [`Log::read`](tidelog::log::Log::read) of the baseline.
const CHUNK: usize = 1 << 20;
/// `max.poll.records` of the consumer (Kafka's default).
const MAX_POLL_RECORDS: usize = 500;
/// Partition counts of the `e2e` topics.
const E2E_PARTITIONS: [u32; 2] = [1, 4];

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

fn partitions(topic: &str, n: u32) -> Vec<TopicPartition> {
    (0..n as i32)
        .map(|p| TopicPartition::new(topic, p))
        .collect()
}

/// Creates `topic` and fills each of its [`PARTITIONS`] with [`PER_PARTITION`] records.
fn fill_topic(store: &Store, topic: &str, codec: Compression) {
    store
        .create_topic(topic, PARTITIONS, TopicConfig::default())
        .expect("a topic");
    let mut producer = Producer::new(
        store,
        ProducerConfig {
            compression_type: codec,
            ..ProducerConfig::default()
        },
    )
    .expect("a producer");
    let records = generate_records(VALUE_SIZE, PER_PARTITION * PARTITIONS as usize);
    for (i, r) in records.iter().enumerate() {
        let key = r.key.as_deref().expect("generated records are keyed");
        let value = r.value.as_deref().expect("generated records have values");
        let record = ProducerRecord::new(topic, key, value)
            .with_partition((i % PARTITIONS as usize) as i32)
            .with_timestamp(r.timestamp);
        producer.send(record).expect("send");
    }
    producer.flush().expect("flush");
}

/// Runs `f` `iters` times and returns the time taken: wall time, or with
/// `TIDELOG_BENCH_TIME=cpu` the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`,
/// system time included), which other work on a shared machine disturbs less.
fn timed<T>(iters: u64, mut f: impl FnMut() -> T) -> Duration {
    let cpu = std::env::var("TIDELOG_BENCH_TIME").is_ok_and(|v| v == "cpu");
    let (wall, before) = (Instant::now(), thread_cpu_ns());
    for _ in 0..iters {
        black_box(f());
    }
    if cpu {
        Duration::from_nanos(thread_cpu_ns().saturating_sub(before))
    } else {
        wall.elapsed()
    }
}

/// Percentile `q` (0..=1) of sorted `v`.
fn percentile(v: &[Duration], q: f64) -> Duration {
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

// ---------------------------------------------------------------------------------------

fn consume_benches(c: &mut Criterion) {
    let total = PER_PARTITION * PARTITIONS as usize;
    let dir = scratch_dir("consume");
    let store = Store::open(dir.path(), StoreConfig::default()).expect("a store");

    let mut g = c.benchmark_group("consume");
    g.throughput(Throughput::Elements(total as u64));
    for codec in [Compression::None, Compression::Lz4] {
        if !codec.is_enabled() {
            eprintln!("notice: skipping {codec}: not compiled in");
            continue;
        }
        let topic = format!("consume-{}", codec.name());
        fill_topic(&store, &topic, codec);
        let shape = format!("{VALUE_SIZE}B");

        // Baseline: Log::read of every partition.
        let logs: Vec<_> = (0..PARTITIONS as i32)
            .map(|p| store.log(&topic, p).expect("a partition"))
            .collect();
        let id = BenchmarkId::new(format!("log_read/{}", codec.name()), &shape);
        g.bench_function(id, |b| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    let mut n = 0usize;
                    for log in &logs {
                        let end = log.end_offset();
                        let mut offset = 0;
                        while offset < end {
                            let read = log.read(offset, CHUNK).expect("read");
                            for r in read.records() {
                                let r = r.expect("a valid record");
                                black_box(r.key().map_or(0, <[u8]>::len));
                                black_box(r.value().map_or(0, <[u8]>::len));
                                n += 1;
                            }
                            offset = read.next_offset();
                        }
                    }
                    assert_eq!(n, total);
                    n
                })
            })
        });

        // The consumer.
        let mut consumer = Consumer::new(
            &store,
            ConsumerConfig {
                group_id: Some("bench".into()),
                auto_offset_reset: OffsetReset::Earliest,
                enable_auto_commit: false,
                max_poll_records: MAX_POLL_RECORDS,
                ..ConsumerConfig::default()
            },
        )
        .expect("a consumer");
        consumer
            .assign(&partitions(&topic, PARTITIONS))
            .expect("assign");
        let id = BenchmarkId::new(format!("consumer/{}", codec.name()), &shape);
        g.bench_function(id, |b| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    consumer.seek_to_beginning(&[]).expect("seek");
                    let mut n = 0usize;
                    while n < total {
                        let records = consumer.poll(Duration::from_secs(1)).expect("poll");
                        assert!(!records.is_empty(), "poll returned nothing at {n}/{total}");
                        for r in &records {
                            black_box(r.key().map_or(0, <[u8]>::len));
                            black_box(r.value().map_or(0, <[u8]>::len));
                        }
                        n += records.len();
                    }
                    assert_eq!(n, total);
                    n
                })
            })
        });
        let id = BenchmarkId::new(format!("consumer_ref/{}", codec.name()), &shape);
        g.bench_function(id, |b| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    consumer.seek_to_beginning(&[]).expect("seek");
                    let mut n = 0usize;
                    while n < total {
                        let records = consumer.poll_records(Duration::from_secs(1)).expect("poll");
                        assert!(!records.is_empty(), "poll returned nothing at {n}/{total}");
                        for r in &records {
                            black_box(r.key().map_or(0, <[u8]>::len));
                            black_box(r.value().map_or(0, <[u8]>::len));
                        }
                        n += records.len();
                    }
                    assert_eq!(n, total);
                    n
                })
            })
        });
        consumer.close().expect("close");
    }
    g.finish();
    store.close().expect("close");
}

/// Sends `iters` records one at a time through `producer` to `topic` while a consumer thread
/// tails it, each once the consumer has the previous one; pushes each record's latency onto
/// `latencies` and returns their sum.
fn e2e_round(
    store: &Store,
    producer: &mut Producer,
    topic: &str,
    partition_count: u32,
    keys: &[Vec<u8>],
    iters: u64,
    latencies: &mut Vec<Duration>,
) -> Duration {
    let epoch = Instant::now();
    let received = Arc::new(AtomicU64::new(0));
    let mut consumer = Consumer::new(
        store,
        ConsumerConfig {
            enable_auto_commit: false,
            max_poll_records: MAX_POLL_RECORDS,
            ..ConsumerConfig::default()
        },
    )
    .expect("a consumer");
    let tps = partitions(topic, partition_count);
    consumer.assign(&tps).expect("assign");
    for tp in &tps {
        let end = store
            .log(&tp.topic, tp.partition)
            .expect("a partition")
            .end_offset();
        consumer.seek(tp, end).expect("seek");
    }
    let tail = {
        let received = Arc::clone(&received);
        thread::spawn(move || {
            let mut out = Vec::with_capacity(iters as usize);
            while (out.len() as u64) < iters {
                let records = consumer.poll(Duration::from_millis(100)).expect("poll");
                let now = epoch.elapsed();
                for r in &records {
                    let value = r.value().expect("a value");
                    let sent = u64::from_be_bytes(value[..8].try_into().expect("8 bytes"));
                    out.push(now.saturating_sub(Duration::from_nanos(sent)));
                }
                received.fetch_add(records.len() as u64, Ordering::Release);
            }
            consumer.close().expect("close");
            out
        })
    };
    let mut value = [b'x'; VALUE_SIZE];
    for i in 0..iters {
        let key = &keys[i as usize % keys.len()];
        let sent = epoch.elapsed().as_nanos() as u64;
        value[..8].copy_from_slice(&sent.to_be_bytes());
        black_box(
            producer
                .send(ProducerRecord::new(topic, key, &value))
                .expect("send"),
        );
        while received.load(Ordering::Acquire) <= i {
            thread::yield_now();
        }
    }
    let out = tail.join().expect("the consumer thread");
    let sum = out.iter().sum();
    latencies.extend(out);
    sum
}

fn e2e_benches(c: &mut Criterion) {
    let dir = scratch_dir("e2e");
    let store = Store::open(dir.path(), StoreConfig::default()).expect("a store");
    let keys: Vec<Vec<u8>> = generate_records(VALUE_SIZE, 1024)
        .into_iter()
        .map(|r| r.key.expect("generated records are keyed"))
        .collect();

    let mut g = c.benchmark_group("e2e");
    for n in E2E_PARTITIONS {
        let topic = format!("e2e-p{n}");
        store
            .create_topic(&topic, n, TopicConfig::default())
            .expect("a topic");
        let mut producer = Producer::new(
            &store,
            ProducerConfig {
                linger_ms: 0,
                ..ProducerConfig::default()
            },
        )
        .expect("a producer");
        let latencies = Mutex::new(Vec::new());
        let id = BenchmarkId::new("latency", format!("p{n}"));
        g.bench_function(id.clone(), |b| {
            b.iter_custom(|iters| {
                let mut l = latencies.lock().expect("not poisoned");
                e2e_round(&store, &mut producer, &topic, n, &keys, iters, &mut l)
            })
        });
        producer.flush().expect("flush");
        let mut l = latencies.into_inner().expect("not poisoned");
        if !l.is_empty() {
            l.sort_unstable();
            eprintln!(
                "e2e/latency/p{n}: {} records: p50 {:?} p99 {:?} p99.9 {:?} max {:?}",
                l.len(),
                percentile(&l, 0.50),
                percentile(&l, 0.99),
                percentile(&l, 0.999),
                l[l.len() - 1],
            );
        }
    }
    g.finish();
    store.close().expect("close");
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    consume_benches(&mut c);
    e2e_benches(&mut c);
    c.final_summary();
}
