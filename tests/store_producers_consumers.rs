//! Producers and consumer groups running at once over one store.
//!
//! Four `Producer` threads share the six partitions of one topic, each with its own codec
//! (lz4, zstd, none) and batch size, sending keyed and unkeyed records in bursts, for
//! thousands of batches. At the same time two consumer groups read the topic: the first with
//! three consumers, the second with two, each consumer assigned its own partitions
//! explicitly (there is no rebalance protocol) and committing as it goes; now and then a
//! consumer of the first group is dropped and a new one, with `auto.offset.reset` = none,
//! takes over its partitions from the committed offsets.
//!
//! This proves, for each group: every record is consumed exactly once, in offset order per
//! partition (offsets rise by one from 0 to the log end), at the partition and offset its
//! receipt reported, with the key and value its producer sent (each value is derived from
//! the producer id and sequence number, so a lost, duplicated, torn or misplaced record
//! shows), keyed records where Kafka's partitioner puts them and each producer's records in
//! send order within a partition. The groups' commits survive a clean close and reopen: both
//! groups resume at the log end with nothing delivered again, and then read exactly the
//! records appended after the reopen.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use tidelog::config::{StoreConfig, TopicConfig};
use tidelog::consumer::{Consumer, ConsumerConfig, OffsetReset, TopicPartition};
use tidelog::record::DEFAULT_MAX_DECOMPRESSED_BYTES;
use tidelog::store::{partition_for_key, ProducerConfig, ProducerRecord, Store};
use tidelog::Compression;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const TOPIC: &str = "events";
const PRODUCERS: u32 = 4;
const RECORDS: u32 = 3000;
const PARTITIONS: u32 = 6;
/// Commit once a consumer has taken this many records since its last commit.
const COMMIT_EVERY: usize = 150;
/// A consumer of the first group is replaced after this many of its commits.
const HANDOVER_EVERY: u32 = 4;
/// A run that takes longer than this has hung.
const DEADLINE: Duration = Duration::from_secs(60);

/// The codec of producer `id`.
fn codec_of(id: u32) -> Compression {
    [
        Compression::Lz4,
        Compression::Zstd,
        Compression::None,
        Compression::Zstd,
    ][id as usize % 4]
}

/// Record `seq` of producer `id` is keyed unless `seq % 3 == 1`.
fn key_of(id: u32, seq: u32) -> Option<Vec<u8>> {
    (seq % 3 != 1).then(|| format!("user-{}", (seq * 7 + id * 13) % 61).into_bytes())
}

/// The value of record `seq` of producer `id`: both numbers, then a filler whose length and
/// bytes depend on them (compressible, so the codecs have work).
fn value_of(id: u32, seq: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(80);
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    let filler = (seq.wrapping_mul(2_654_435_761) ^ id) % 64;
    v.extend((0..filler).map(|i| b'a' + ((seq + i) % 7) as u8));
    v
}

/// The (producer, sequence) a value names, if it is exactly the value they derive.
fn parse_value(v: &[u8]) -> Option<(u32, u32)> {
    let id = u32::from_be_bytes(v.get(..4)?.try_into().ok()?);
    let seq = u32::from_be_bytes(v.get(4..8)?.try_into().ok()?);
    (id < PRODUCERS && seq < RECORDS && value_of(id, seq) == v).then_some((id, seq))
}

/// Producer `id`'s whole stream, sent in bursts of 1 to 24 records with `send_all`; every
/// ninth burst waits on its last receipt (appending that batch at once), every fourth
/// pauses for a millisecond. Returns the
/// (partition, offset) each receipt reported, by sequence number.
fn produce(store: &Store, id: u32) -> TestResult<Vec<(i32, i64)>> {
    let mut producer = store.producer(ProducerConfig {
        batch_size: 160 + 96 * id as usize,
        linger_ms: 2,
        compression_type: codec_of(id),
        ..Default::default()
    })?;
    let mut receipts = Vec::with_capacity(RECORDS as usize);
    let mut seq = 0;
    let mut burst_no = 0;
    while seq < RECORDS {
        let n = (1 + (seq * 13 + id * 5) % 24).min(RECORDS - seq);
        let burst: Vec<(Option<Vec<u8>>, Vec<u8>)> = (seq..seq + n)
            .map(|s| (key_of(id, s), value_of(id, s)))
            .collect();
        let records = burst.iter().map(|(key, value)| match key {
            Some(key) => ProducerRecord::new(TOPIC, key, value),
            None => ProducerRecord::unkeyed(TOPIC, value),
        });
        producer.send_all(records, &mut receipts)?;
        burst_no += 1;
        if burst_no % 9 == 0 {
            receipts.last().ok_or("no receipt")?.wait()?;
        }
        if burst_no % 4 == 0 {
            // A pause now and then, so that consumers tail the partitions as they grow
            // rather than reading them after the fact.
            thread::sleep(Duration::from_millis(1));
        }
        seq += n;
    }
    producer.close()?;
    receipts
        .iter()
        .map(|r| {
            r.wait()
                .map(|m| (m.partition, m.offset))
                .map_err(Into::into)
        })
        .collect()
}

/// One record as a consumer saw it.
#[derive(Debug, Clone)]
struct Seen {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

/// What one consumer thread did.
#[derive(Debug, Default)]
struct Consumed {
    seen: Vec<Seen>,
    /// Records taken before the producers had all finished.
    early: usize,
    commits: u32,
    handovers: u32,
}

fn consumer_config(group: &str, reset: OffsetReset) -> ConsumerConfig {
    ConsumerConfig {
        group_id: Some(group.to_string()),
        auto_offset_reset: reset,
        enable_auto_commit: false,
        max_poll_records: 97,
        ..Default::default()
    }
}

fn tps(partitions: &[i32]) -> Vec<TopicPartition> {
    partitions
        .iter()
        .map(|&p| TopicPartition::new(TOPIC, p))
        .collect()
}

/// A consumer of `group` over `partitions`: polls and commits while the producers run, and
/// stops once `ends` is set and its positions reached those ends (committing them). With
/// `handover`, it is replaced every [`HANDOVER_EVERY`] commits by a new consumer that must
/// find the committed offsets (`auto.offset.reset` = none).
fn consume(
    store: &Store,
    group: &str,
    partitions: &[i32],
    ends: &OnceLock<Vec<i64>>,
    handover: bool,
) -> TestResult<Consumed> {
    let started = Instant::now();
    let assigned = tps(partitions);
    let mut consumer = Consumer::new(store, consumer_config(group, OffsetReset::Earliest))?;
    consumer.assign(&assigned)?;
    let mut out = Consumed::default();
    let mut uncommitted = 0;
    loop {
        let final_ends = ends.get();
        let records = consumer.poll(Duration::from_millis(10))?;
        if final_ends.is_none() {
            out.early += records.len();
        }
        for record in records {
            let (partition, offset) = (record.partition(), record.offset());
            let (key, value) = record.into_key_value();
            out.seen.push(Seen {
                partition,
                offset,
                key,
                value,
            });
            uncommitted += 1;
        }
        if let Some(final_ends) = final_ends {
            let mut done = true;
            for tp in &assigned {
                done &= consumer.position(tp)? >= final_ends[tp.partition as usize];
            }
            if done {
                consumer.commit()?;
                out.commits += 1;
                return Ok(out);
            }
        }
        if uncommitted >= COMMIT_EVERY {
            consumer.commit()?;
            out.commits += 1;
            uncommitted = 0;
            if handover && out.commits % HANDOVER_EVERY == 0 {
                // Dropped without closing (auto-commit is off: nothing more is committed);
                // the successor starts from the group's commits or fails.
                consumer = Consumer::new(store, consumer_config(group, OffsetReset::None))?;
                consumer.assign(&assigned)?;
                out.handovers += 1;
            }
        }
        if started.elapsed() > DEADLINE {
            return Err(format!("{group} {partitions:?}: not done after {DEADLINE:?}").into());
        }
    }
}

/// Checks one group's records: per partition, offsets 0..end once each in order, each
/// record where its receipt said with its producer's key and value, keyed records on their
/// key's partition, each producer's records in send order; every record of every producer
/// once.
fn check_group(
    group: &str,
    consumed: &[Consumed],
    ends: &[i64],
    receipts: &HashMap<(u32, u32), (i32, i64)>,
) {
    let mut by_partition: BTreeMap<i32, Vec<&Seen>> = BTreeMap::new();
    for seen in consumed.iter().flat_map(|c| &c.seen) {
        by_partition.entry(seen.partition).or_default().push(seen);
    }
    let mut found: HashMap<(u32, u32), (i32, i64)> = HashMap::new();
    for p in 0..PARTITIONS as i32 {
        let seen = by_partition.remove(&p).unwrap_or_default();
        let offsets: Vec<i64> = seen.iter().map(|s| s.offset).collect();
        let expected: Vec<i64> = (0..ends[p as usize]).collect();
        assert_eq!(
            offsets, expected,
            "{group}: partition {p} offsets, once each in order"
        );
        let mut last_seq: HashMap<u32, u32> = HashMap::new();
        for s in seen {
            let value = s.value.as_deref().unwrap_or_default();
            let Some((id, seq)) = parse_value(value) else {
                panic!("{group}: {p}@{}: not a value any producer sent", s.offset);
            };
            assert_eq!(s.key, key_of(id, seq), "{group}: key of {id}/{seq}");
            if let Some(key) = &s.key {
                assert_eq!(
                    p,
                    partition_for_key(key, PARTITIONS),
                    "{group}: keyed {id}/{seq}"
                );
            }
            if let Some(prev) = last_seq.insert(id, seq) {
                assert!(
                    seq > prev,
                    "{group}: producer {id} on {p}: {seq} after {prev}"
                );
            }
            assert_eq!(
                receipts.get(&(id, seq)),
                Some(&(p, s.offset)),
                "{group}: {id}/{seq} where its receipt said"
            );
            let first = found.insert((id, seq), (p, s.offset));
            assert!(first.is_none(), "{group}: {id}/{seq} consumed twice");
        }
    }
    assert!(by_partition.is_empty(), "{group}: records of no partition");
    assert_eq!(
        found.len(),
        (PRODUCERS * RECORDS) as usize,
        "{group}: every record"
    );
}

/// Counts the topic's batches per codec, checking that each batch holds one producer's
/// records compressed with that producer's codec.
fn batches_per_codec(store: &Store) -> TestResult<BTreeMap<String, usize>> {
    let mut counts = BTreeMap::new();
    let mut scratch = Vec::new();
    for p in 0..PARTITIONS as i32 {
        let log = store.log(TOPIC, p)?;
        let mut offset = log.log_start_offset();
        while offset < log.end_offset() {
            let read = log.read(offset, 256 << 10)?;
            for batch in read.batches() {
                let codec = batch.compression()?;
                let mut ids = Vec::new();
                for record in batch.records(&mut scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)? {
                    let record = record?;
                    let value = record.value().unwrap_or_default();
                    ids.push(parse_value(value).ok_or("a value no producer sent")?.0);
                }
                let id = ids[0];
                assert!(ids.iter().all(|&i| i == id), "one producer per batch");
                assert_eq!(codec, codec_of(id), "producer {id}'s codec");
                *counts.entry(format!("{codec:?}")).or_default() += 1;
            }
            offset = read.next_offset();
        }
    }
    Ok(counts)
}

#[test]
fn producers_and_consumer_groups_run_concurrently_and_resume_after_reopen() -> TestResult {
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    // Small segments: consumers read across rolls while producers roll.
    let topic = TopicConfig::default().with("segment.bytes", "32768")?;
    store.create_topic(TOPIC, PARTITIONS, topic)?;
    let ends: Arc<OnceLock<Vec<i64>>> = Arc::default();

    // Group one: three consumers (partitions p and p + 3), handing over as they go.
    // Group two: two consumers (even and odd partitions).
    let assignments: [(&str, Vec<i32>, bool); 5] = [
        ("group-one", vec![0, 3], true),
        ("group-one", vec![1, 4], true),
        ("group-one", vec![2, 5], true),
        ("group-two", vec![0, 2, 4], false),
        ("group-two", vec![1, 3, 5], false),
    ];
    let consumers: Vec<_> = assignments
        .iter()
        .map(|(group, partitions, handover)| {
            let (store, ends) = (store.clone(), Arc::clone(&ends));
            let (group, partitions, handover) = (group.to_string(), partitions.clone(), *handover);
            thread::spawn(move || consume(&store, &group, &partitions, &ends, handover))
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|id| {
            let store = store.clone();
            thread::spawn(move || produce(&store, id))
        })
        .collect();

    let mut receipts: HashMap<(u32, u32), (i32, i64)> = HashMap::new();
    for (id, handle) in producers.into_iter().enumerate() {
        let sent = handle.join().map_err(|_| "a producer thread panicked")??;
        for (seq, at) in sent.into_iter().enumerate() {
            receipts.insert((id as u32, seq as u32), at);
        }
    }
    let log_ends: Vec<i64> = (0..PARTITIONS as i32)
        .map(|p| store.log(TOPIC, p).map(|l| l.end_offset()))
        .collect::<Result<_, _>>()?;
    assert_eq!(
        log_ends.iter().sum::<i64>(),
        i64::from(PRODUCERS * RECORDS),
        "every record appended once"
    );
    ends.set(log_ends.clone())
        .map_err(|_| "the ends were set twice")?;
    let mut results = Vec::new();
    for handle in consumers {
        results.push(handle.join().map_err(|_| "a consumer thread panicked")??);
    }
    let concurrent = started.elapsed();
    check_group("group-one", &results[..3], &log_ends, &receipts);
    check_group("group-two", &results[3..], &log_ends, &receipts);
    // The groups read while the producers wrote.
    let early: Vec<usize> = [&results[..3], &results[3..]]
        .iter()
        .map(|g| g.iter().map(|c| c.early).sum())
        .collect();
    assert!(
        early.iter().all(|&n| n > 0),
        "records taken early: {early:?}"
    );
    let handovers: u32 = results.iter().map(|c| c.handovers).sum();
    assert!(handovers >= 3, "{handovers} handovers");
    let batches = batches_per_codec(&store)?;
    let total: usize = batches.values().sum();
    assert!(total >= 2000, "{total} batches: {batches:?}");
    assert_eq!(batches.len(), 3, "each codec used: {batches:?}");

    // Every group committed the log end of every partition, and nothing else.
    let expected: BTreeMap<TopicPartition, i64> = (0..PARTITIONS as i32)
        .map(|p| (TopicPartition::new(TOPIC, p), log_ends[p as usize]))
        .collect();
    let committed = |store: &Store, group: &str| -> TestResult<BTreeMap<TopicPartition, i64>> {
        let mut c = Consumer::new(store, consumer_config(group, OffsetReset::None))?;
        Ok(c.committed_offsets()?
            .into_iter()
            .map(|(tp, c)| (tp, c.offset))
            .collect())
    };
    for group in ["group-one", "group-two"] {
        assert_eq!(committed(&store, group)?, expected, "{group} before reopen");
    }
    store.close()?;
    drop(store);

    // Reopen: both groups resume at the log end, nothing is delivered again, and the
    // records appended now are delivered once each.
    let store = Store::open(dir.path(), StoreConfig::default())?;
    let mut resumed = Vec::new();
    for group in ["group-one", "group-two"] {
        assert_eq!(committed(&store, group)?, expected, "{group} after reopen");
        let mut c = Consumer::new(&store, consumer_config(group, OffsetReset::None))?;
        c.subscribe(&[TOPIC])?;
        let again = c.poll(Duration::from_millis(100))?;
        assert!(
            again.is_empty(),
            "{group} re-delivered {} records after the reopen, the first at {}-{}",
            again.len(),
            again[0].partition(),
            again[0].offset()
        );
        for (tp, &end) in &expected {
            assert_eq!(c.position(tp)?, end, "{group} resumes {tp} at the end");
        }
        resumed.push(c);
    }
    let mut producer = store.producer(ProducerConfig::default())?;
    for p in 0..PARTITIONS as i32 {
        for i in 0..2 {
            let value = format!("after-reopen-{p}-{i}");
            producer.send(ProducerRecord::unkeyed(TOPIC, value.as_bytes()).with_partition(p))?;
        }
    }
    producer.close()?;
    for (c, group) in resumed.iter_mut().zip(["group-one", "group-two"]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got: BTreeMap<i32, Vec<(i64, Vec<u8>)>> = BTreeMap::new();
        while got.values().map(Vec::len).sum::<usize>() < 2 * PARTITIONS as usize
            && Instant::now() < deadline
        {
            for r in c.poll(Duration::from_millis(50))? {
                let value = r.value().unwrap_or_default().to_vec();
                got.entry(r.partition())
                    .or_default()
                    .push((r.offset(), value));
            }
        }
        for p in 0..PARTITIONS as i32 {
            let end = log_ends[p as usize];
            let want: Vec<(i64, Vec<u8>)> = (0..2)
                .map(|i| (end + i, format!("after-reopen-{p}-{i}").into_bytes()))
                .collect();
            assert_eq!(got.remove(&p).unwrap_or_default(), want, "{group} {p}");
        }
        assert!(got.is_empty(), "{group}: records of no partition");
        c.commit()?;
    }
    drop(resumed);
    store.close()?;
    eprintln!(
        "{} records in {total} batches {batches:?}, {handovers} handovers, {early:?} taken \
         while producing; concurrent phase {concurrent:?}, whole test {:?}",
        PRODUCERS * RECORDS,
        started.elapsed()
    );
    Ok(())
}
