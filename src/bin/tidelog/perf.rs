//! `tidelog perf produce|consume`: throughput and latency, like Kafka's
//! `kafka-producer-perf-test` and `kafka-consumer-perf-test`.
//!
//! Both use the topic [`TOPIC`] of the store in `--dir` (created with `--partitions`, 1 if
//! not given, if missing; an existing topic keeps its partitions, with a note only when
//! `--partitions` was given and differs). `produce` sends `--records` unkeyed records of `--record-size` bytes through one
//! [`Producer`] per thread, flushing every `--batch-size` records; a record's latency runs
//! from its `send` to the end of the flush that appended it. `consume` first tops the topic
//! up to `--records` records if it holds fewer (untimed), then reads that many back from the
//! beginning with one [`Consumer`] per thread; its latency is that of each poll.
//!
//! MB/s counts 10^6 bytes of keys and values per second; the on-disk rate counts whole
//! batches as stored (headers, compression). Latencies are in microseconds, from an
//! hdrhistogram with 3 significant digits.

use std::io::Write;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use tidelog::config::TopicConfig;
use tidelog::consumer::{Consumer, ConsumerConfig, OffsetReset, TopicPartition};
use tidelog::log::Durability;
use tidelog::store::{Producer, ProducerConfig, ProducerRecord, Store};

use crate::args::{PerfArgs, PerfCommand};
use crate::output::JsonObject;
use crate::produce::ensure_topic;
use crate::store_open::{open_or_create, with_store};
use crate::CliError;

/// The topic both benchmarks use.
pub const TOPIC: &str = "tidelog-perf";
/// Runs at least this long get a progress bar (when stderr is a terminal).
const PROGRESS_FROM_RECORDS: u64 = 100_000;

pub fn run(command: &PerfCommand, out: &mut dyn Write) -> Result<(), CliError> {
    let (args, consume) = match command {
        PerfCommand::Produce(a) => (a, false),
        PerfCommand::Consume(a) => (a, true),
    };
    let store = open_or_create(&args.dir)?;
    let (report, partitions) = with_store(store, |store| {
        ensure_topic(store, TOPIC, args.partitions, TopicConfig::default())?;
        let report = if consume {
            perf_consume(store, args)?
        } else {
            perf_produce(store, args)?
        };
        Ok((report, store.partition_count(TOPIC)?))
    })?;
    report.print(args, consume, partitions, out)
}

/// What a run measured.
struct Report {
    records: u64,
    /// Bytes of keys and values.
    payload_bytes: u64,
    /// Bytes of whole batches, as stored.
    disk_bytes: u64,
    elapsed: Duration,
    latency_us: Histogram<u64>,
}

impl Report {
    fn print(
        &self,
        args: &PerfArgs,
        consume: bool,
        partitions: u32,
        out: &mut dyn Write,
    ) -> Result<(), CliError> {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let records_per_sec = self.records as f64 / secs;
        let mb_per_sec = self.payload_bytes as f64 / 1e6 / secs;
        let disk_mb_per_sec = self.disk_bytes as f64 / 1e6 / secs;
        let h = &self.latency_us;
        let (p50, p99, p999, max) = (
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max(),
        );
        if args.json {
            let line = JsonObject::new()
                .str("command", if consume { "consume" } else { "produce" })
                .num("records", self.records)
                .num("record_size", args.record_size)
                .num("batch_size", args.batch_size)
                .str("codec", args.codec.compression().name())
                .num("threads", args.threads)
                .num("partitions", partitions)
                .bool("sync", args.sync)
                .float("elapsed_sec", secs)
                .float("records_per_sec", records_per_sec)
                .float("mb_per_sec", mb_per_sec)
                .float("disk_mb_per_sec", disk_mb_per_sec)
                .float("latency_avg_us", h.mean())
                .num("latency_p50_us", p50)
                .num("latency_p99_us", p99)
                .num("latency_p999_us", p999)
                .num("latency_max_us", max)
                .finish();
            writeln!(out, "{line}")?;
        } else {
            writeln!(
                out,
                "{} records {}, {records_per_sec:.1} records/sec ({mb_per_sec:.2} MB/sec, \
                 {disk_mb_per_sec:.2} MB/sec on disk), {:.1} us avg {} latency, {p50} us p50, \
                 {p99} us p99, {p999} us p99.9, {max} us max.",
                self.records,
                if consume { "read" } else { "sent" },
                h.mean(),
                if consume { "poll" } else { "send" },
            )?;
        }
        Ok(())
    }
}

fn histogram() -> Result<Histogram<u64>, CliError> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .map_err(|e| CliError::fail(format!("cannot create a histogram: {e}")))
}

fn progress(records: u64, json: bool) -> ProgressBar {
    if records < PROGRESS_FROM_RECORDS || json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(records);
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:40} {pos}/{len} records, {per_sec}, {elapsed_precise} (eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Kafka's perf test sends random uppercase letters; so does this (a fixed xorshift seed,
/// so runs compress alike).
fn payload(size: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'A' + (x % 26) as u8
        })
        .collect()
}

/// Batch bytes appended and read across the topic's partitions since the store was opened.
fn disk_bytes(store: &Store) -> Result<(u64, u64), CliError> {
    let d = store.describe_topic(TOPIC)?;
    Ok(d.partitions
        .iter()
        .filter_map(|p| p.stats)
        .fold((0, 0), |(w, r), s| (w + s.bytes_appended, r + s.bytes_read)))
}

/// Sends `records` records from one thread.
fn produce_thread(
    store: &Store,
    args: &PerfArgs,
    records: u64,
    seed: u64,
    bar: &ProgressBar,
) -> Result<Histogram<u64>, CliError> {
    let mut latency = histogram()?;
    let mut producer = Producer::new(
        store,
        ProducerConfig {
            batch_size: usize::MAX,
            linger_ms: u64::MAX,
            compression_type: args.codec.compression(),
            durability: if args.sync {
                Durability::Sync
            } else {
                Durability::PageCache
            },
            ..ProducerConfig::default()
        },
    )?;
    let value = payload(args.record_size, seed);
    let batch = args.batch_size as usize;
    let mut sent_at: Vec<Instant> = Vec::with_capacity(batch);
    let mut left = records;
    while left > 0 {
        let n = (batch as u64).min(left);
        for _ in 0..n {
            sent_at.push(Instant::now());
            producer.send(ProducerRecord::unkeyed(TOPIC, &value))?;
        }
        producer.flush()?;
        let done = Instant::now();
        for t in sent_at.drain(..) {
            latency.saturating_record((done - t).as_micros().max(1) as u64);
        }
        left -= n;
        bar.inc(n);
    }
    producer.close()?;
    Ok(latency)
}

fn perf_produce(store: &Store, args: &PerfArgs) -> Result<Report, CliError> {
    let threads = u64::from(args.threads);
    let bar = progress(args.records, args.json);
    let (disk_before, _) = disk_bytes(store)?;
    let started = Instant::now();
    let results: Vec<Result<Histogram<u64>, CliError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let share = args.records / threads + u64::from(t < args.records % threads);
                let bar = &bar;
                scope.spawn(move || produce_thread(store, args, share, 0x9E37_79B9 + t, bar))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(CliError::fail("a producer thread panicked")))
            })
            .collect()
    });
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let mut latency = histogram()?;
    for r in results {
        latency
            .add(r?)
            .map_err(|e| CliError::fail(format!("cannot merge histograms: {e}")))?;
    }
    let (disk_after, _) = disk_bytes(store)?;
    Ok(Report {
        records: args.records,
        payload_bytes: args.records * args.record_size as u64,
        disk_bytes: disk_after - disk_before,
        elapsed,
        latency_us: latency,
    })
}

/// Records held by the topic, per partition: `(partition, log start, log end)`.
fn partition_ranges(store: &Store) -> Result<Vec<(i32, i64, i64)>, CliError> {
    let n = store.partition_count(TOPIC)?;
    (0..n as i32)
        .map(|p| {
            let log = store.log(TOPIC, p)?;
            Ok((p, log.log_start_offset(), log.end_offset()))
        })
        .collect()
}

fn perf_consume(store: &Store, args: &PerfArgs) -> Result<Report, CliError> {
    let held: u64 = partition_ranges(store)?
        .iter()
        .map(|&(_, start, end)| (end - start) as u64)
        .sum();
    if held < args.records {
        let missing = args.records - held;
        eprintln!("tidelog: writing {missing} records to {TOPIC} first (not timed)");
        produce_thread(store, args, missing, 0x9E37_79B9, &ProgressBar::hidden())?;
    }
    // Each partition's share of the records to read, from its start.
    let mut left = args.records;
    let mut work: Vec<(i32, i64, i64)> = Vec::new();
    for (p, start, end) in partition_ranges(store)? {
        let take = ((end - start) as u64).min(left);
        left -= take;
        if take > 0 {
            work.push((p, start, start + take as i64));
        }
    }
    let threads = (args.threads as usize).min(work.len()).max(1);
    let bar = progress(args.records, args.json);
    let (_, read_before) = disk_bytes(store)?;
    let started = Instant::now();
    let results: Vec<Result<ThreadTotals, CliError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let mine: Vec<(i32, i64, i64)> =
                    work.iter().copied().skip(t).step_by(threads).collect();
                let bar = &bar;
                scope.spawn(move || consume_thread(store, &mine, bar))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(CliError::fail("a consumer thread panicked")))
            })
            .collect()
    });
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let (_, read_after) = disk_bytes(store)?;
    let mut latency = histogram()?;
    let (mut records, mut bytes) = (0, 0);
    for r in results {
        let t = r?;
        latency
            .add(t.latency_us)
            .map_err(|e| CliError::fail(format!("cannot merge histograms: {e}")))?;
        records += t.records;
        bytes += t.payload_bytes;
    }
    Ok(Report {
        records,
        payload_bytes: bytes,
        disk_bytes: read_after - read_before,
        elapsed,
        latency_us: latency,
    })
}

/// What one consumer thread read.
struct ThreadTotals {
    latency_us: Histogram<u64>,
    records: u64,
    /// Bytes of keys and values.
    payload_bytes: u64,
}

/// Reads `[start, end)` of each given partition with one consumer.
fn consume_thread(
    store: &Store,
    work: &[(i32, i64, i64)],
    bar: &ProgressBar,
) -> Result<ThreadTotals, CliError> {
    let mut latency = histogram()?;
    let mut consumer = Consumer::new(
        store,
        ConsumerConfig {
            auto_offset_reset: OffsetReset::Earliest,
            enable_auto_commit: false,
            ..ConsumerConfig::default()
        },
    )?;
    let (mut records, mut bytes) = (0u64, 0u64);
    for &(partition, start, end) in work {
        let tp = TopicPartition::new(TOPIC, partition);
        consumer.assign(std::slice::from_ref(&tp))?;
        consumer.seek(&tp, start)?;
        let mut position = start;
        while position < end {
            let t = Instant::now();
            let polled = consumer.poll(Duration::from_secs(1))?;
            latency.saturating_record(t.elapsed().as_micros().max(1) as u64);
            let mut n = 0;
            for r in polled.iter().filter(|r| r.offset() < end) {
                bytes +=
                    r.key().map_or(0, |k| k.len() as u64) + r.value().map_or(0, |v| v.len() as u64);
                n += 1;
            }
            records += n;
            bar.inc(n);
            if let Some(last) = polled.last() {
                position = last.offset() + 1;
            } else if consumer.position(&tp)? >= end {
                break;
            }
        }
    }
    consumer.close()?;
    Ok(ThreadTotals {
        latency_us: latency,
        records,
        payload_bytes: bytes,
    })
}
