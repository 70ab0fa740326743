//! The consumer over a store: every record consumed exactly once per group and in order per
//! partition by concurrent consumers while producers append; committed offsets that survive
//! a store reopen and sit in `__consumer_offsets` in Kafka's layout; `auto.offset.reset` for
//! positions outside the log; typed errors for unknown topics and partitions; control
//! records skipped; `poll` blocking until data or the timeout; fair polls across
//! partitions; and the genuine Kafka 3.7.0 `__consumer_offsets-6` read back as commits.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tidelog::config::{ManualClock, StoreConfig, TopicConfig};
use tidelog::consumer::offsets_topic::{
    decode_key, decode_offset_commit_value, encode_offset_commit_key, encode_offset_commit_value,
};
use tidelog::consumer::{
    partition_for, Consumer, ConsumerConfig, OffsetAndMetadata, OffsetReset, OffsetsKey,
    TopicPartition,
};
use tidelog::log::{AppendOptions, Isolation, Validation};
use tidelog::record::{BatchBuilder, BatchOptions, Record};
use tidelog::store::{Store, CONSUMER_OFFSETS_TOPIC};
use tidelog::Error;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A consumer moves to the thread that polls it.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Consumer>();
};

fn value_for(partition: i32, offset: i64) -> Vec<u8> {
    format!("p{partition}-o{offset}").into_bytes()
}

/// Appends `n` records to `topic`-`partition` in batches of `batch`, each value naming its
/// partition and offset.
fn produce(store: &Store, topic: &str, partition: i32, n: i64, batch: i64) -> TestResult {
    let log = store.log(topic, partition)?;
    let mut sent = 0;
    while sent < n {
        let base = log.end_offset();
        let count = batch.min(n - sent);
        let records: Vec<Record> = (0..count)
            .map(|i| Record::new(1_700_000_000_000 + base + i, value_for(partition, base + i)))
            .collect();
        log.append(&records, &AppendOptions::default())?;
        sent += count;
    }
    Ok(())
}

fn group_config(group: &str, reset: OffsetReset) -> ConsumerConfig {
    ConsumerConfig {
        group_id: Some(group.to_string()),
        auto_offset_reset: reset,
        enable_auto_commit: false,
        ..Default::default()
    }
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// Polls until `want` records were returned or `limit` passes.
fn poll_n(consumer: &mut Consumer, want: usize, limit: Duration) -> TestResult<Vec<(i32, i64)>> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(50))? {
            assert_eq!(r.value(), Some(&value_for(r.partition(), r.offset())[..]));
            got.push((r.partition(), r.offset()));
        }
    }
    Ok(got)
}

/// Checks that `seen` holds offsets `0..per_partition` of each partition exactly once, in
/// order within each partition.
fn assert_exactly_once_in_order(seen: &[(i32, i64)], partitions: i32, per_partition: i64) {
    let mut by_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for &(p, o) in seen {
        by_partition.entry(p).or_default().push(o);
    }
    for p in 0..partitions {
        let offsets = by_partition.remove(&p).unwrap_or_default();
        let expected: Vec<i64> = (0..per_partition).collect();
        assert_eq!(offsets, expected, "partition {p}");
    }
    assert!(by_partition.is_empty(), "records from unknown partitions");
}

#[test]
fn concurrent_consumers_see_every_record_once_per_group_in_order() -> TestResult {
    const PARTITIONS: i32 = 4;
    const PER_PARTITION: i64 = 600;
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("events", PARTITIONS as u32, TopicConfig::default())?;

    let mut handles = Vec::new();
    // Three groups, each one consumer of the whole topic.
    for g in 0..3 {
        let store = store.clone();
        handles.push(thread::spawn(move || -> TestResult<Vec<(i32, i64)>> {
            let config = ConsumerConfig {
                max_poll_records: 37,
                ..group_config(&format!("group-{g}"), OffsetReset::Earliest)
            };
            let mut consumer = Consumer::new(&store, config)?;
            consumer.subscribe(&["events"])?;
            let seen = poll_n(
                &mut consumer,
                (PARTITIONS as i64 * PER_PARTITION) as usize,
                Duration::from_secs(60),
            )?;
            consumer.commit()?;
            Ok(seen)
        }));
    }
    // One more group split over two consumers with distinct partitions, committing as they go.
    for half in 0..2 {
        let store = store.clone();
        handles.push(thread::spawn(move || -> TestResult<Vec<(i32, i64)>> {
            let mut consumer = Consumer::new(&store, group_config("split", OffsetReset::Earliest))?;
            consumer.assign(&[tp("events", half), tp("events", half + 2)])?;
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut seen = Vec::new();
            while seen.len() < 2 * PER_PARTITION as usize && Instant::now() < deadline {
                for r in consumer.poll(Duration::from_millis(50))? {
                    seen.push((r.partition(), r.offset()));
                }
                consumer.commit()?;
            }
            Ok(seen)
        }));
    }
    let producers: Vec<_> = (0..PARTITIONS)
        .map(|p| {
            let store = store.clone();
            thread::spawn(move || produce(&store, "events", p, PER_PARTITION, 7))
        })
        .collect();
    for p in producers {
        p.join().map_err(|_| "producer panicked")??;
    }
    let mut results = Vec::new();
    for h in handles {
        results.push(h.join().map_err(|_| "consumer panicked")??);
    }
    for seen in &results[..3] {
        assert_exactly_once_in_order(seen, PARTITIONS, PER_PARTITION);
    }
    let split: Vec<(i32, i64)> = results[3..].concat();
    assert_exactly_once_in_order(&split, PARTITIONS, PER_PARTITION);

    // Every group committed the log end of every partition.
    for group in ["group-0", "group-1", "group-2", "split"] {
        let mut c = Consumer::new(&store, group_config(group, OffsetReset::None))?;
        for p in 0..PARTITIONS {
            assert_eq!(
                c.committed(&tp("events", p))?,
                Some(PER_PARTITION),
                "{group}"
            );
        }
    }
    store.close()?;
    Ok(())
}

#[test]
fn commits_survive_reopen_in_kafkas_layout() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(1_700_000_000_000);
    let config = || StoreConfig {
        offsets_topic_num_partitions: 3,
        clock: Arc::new(clock.clone()),
        ..Default::default()
    };
    let store = Store::open(dir.path(), config())?;
    store.create_topic("orders", 2, TopicConfig::default())?;
    produce(&store, "orders", 0, 10, 3)?;
    produce(&store, "orders", 1, 10, 10)?;
    let consumer_config = ConsumerConfig {
        max_poll_records: 8,
        ..group_config("billing", OffsetReset::Earliest)
    };
    let mut consumer = Consumer::new(&store, consumer_config.clone())?;
    consumer.subscribe(&["orders"])?;
    assert_eq!(consumer.committed(&tp("orders", 0))?, None);
    let first = consumer.poll(Duration::from_secs(1))?;
    assert_eq!(first.len(), 8);
    consumer.commit()?;
    let positions = [
        consumer.position(&tp("orders", 0))?,
        consumer.position(&tp("orders", 1))?,
    ];
    assert_eq!(positions.iter().sum::<i64>(), 8);
    consumer.close()?;
    store.close()?;

    // Reopen: a new consumer of the group resumes at the committed offsets.
    let store = Store::open(dir.path(), config())?;
    let described = store.describe_topic(CONSUMER_OFFSETS_TOPIC)?;
    assert_eq!(described.partitions.len(), 3);
    assert_eq!(described.config.get("cleanup.policy"), Some("compact"));
    let mut consumer = Consumer::new(&store, consumer_config)?;
    consumer.subscribe(&["orders"])?;
    for (p, &pos) in positions.iter().enumerate() {
        assert_eq!(consumer.committed(&tp("orders", p as i32))?, Some(pos));
        assert_eq!(consumer.position(&tp("orders", p as i32))?, pos);
    }
    let rest = poll_n(&mut consumer, 12, Duration::from_secs(5))?;
    let mut all: Vec<(i32, i64)> = first.iter().map(|r| (r.partition(), r.offset())).collect();
    all.extend(rest);
    assert_exactly_once_in_order(&all, 2, 10);
    consumer.commit()?;

    // The records are Kafka's: key type 1 and value version 3 in the group's partition.
    let log = store.log(CONSUMER_OFFSETS_TOPIC, partition_for("billing", 3))?;
    let read = log.read(0, 1 << 20)?;
    let mut latest = HashMap::new();
    for record in read.records() {
        let record = record?;
        let key = record.key().ok_or("commit without key")?;
        assert_eq!(&key[..2], &[0, 1]);
        let value = record.value().ok_or("commit without value")?;
        assert_eq!(&value[..2], &[0, 3]);
        if let OffsetsKey::OffsetCommit {
            group,
            topic,
            partition,
        } = decode_key(key)?
        {
            assert_eq!((group.as_str(), topic.as_str()), ("billing", "orders"));
            let v = decode_offset_commit_value(value)?;
            assert_eq!(v.commit_timestamp, 1_700_000_000_000);
            latest.insert(partition, v.offset);
        }
    }
    assert_eq!(latest, HashMap::from([(0, 10), (1, 10)]));
    store.close()?;
    Ok(())
}

#[test]
fn auto_commit_follows_the_interval_and_close() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(1_700_000_000_000);
    let store = Store::open(
        dir.path(),
        StoreConfig {
            clock: Arc::new(clock.clone()),
            ..Default::default()
        },
    )?;
    store.create_topic("t", 1, TopicConfig::default())?;
    produce(&store, "t", 0, 10, 10)?;
    let config = ConsumerConfig {
        enable_auto_commit: true,
        auto_commit_interval_ms: 1000,
        max_poll_records: 4,
        ..group_config("auto", OffsetReset::Earliest)
    };
    let mut c = Consumer::new(&store, config.clone())?;
    c.assign(&[tp("t", 0)])?;
    assert_eq!(c.poll(Duration::ZERO)?.len(), 4);
    assert_eq!(c.poll(Duration::ZERO)?.len(), 4); // interval not passed: nothing committed
    assert_eq!(c.committed(&tp("t", 0))?, None);
    clock.advance(1000);
    assert_eq!(c.poll(Duration::ZERO)?.len(), 2); // commits 8 first
    assert_eq!(c.committed(&tp("t", 0))?, Some(8));
    c.close()?; // commits 10
    let mut c = Consumer::new(&store, config)?;
    assert_eq!(c.committed(&tp("t", 0))?, Some(10));
    store.close()?;
    Ok(())
}

#[test]
fn positions_outside_the_log_follow_auto_offset_reset() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("t", 1, TopicConfig::default())?;
    produce(&store, "t", 0, 10, 5)?;
    let t0 = tp("t", 0);

    // No committed offset: none fails, earliest and latest choose their end.
    let mut none = Consumer::new(&store, group_config("g", OffsetReset::None))?;
    none.assign(std::slice::from_ref(&t0))?;
    assert!(matches!(
        none.poll(Duration::ZERO),
        Err(Error::NoOffset { ref topic, partition: 0, ref group })
            if topic == "t" && group.as_deref() == Some("g")
    ));
    let mut latest = Consumer::new(&store, group_config("g", OffsetReset::Latest))?;
    latest.assign(std::slice::from_ref(&t0))?;
    assert_eq!(latest.position(&t0)?, 10);

    // A committed offset past the log end (as after a crash took back a tail).
    latest.commit_offsets(&[(t0.clone(), 100)])?;
    let mut none = Consumer::new(&store, group_config("g", OffsetReset::None))?;
    none.assign(std::slice::from_ref(&t0))?;
    assert_eq!(none.position(&t0)?, 100);
    assert!(matches!(
        none.poll(Duration::ZERO),
        Err(Error::OffsetOutOfRange {
            requested: 100,
            log_start: 0,
            log_end: 10
        })
    ));
    // It stays an error until the application seeks.
    assert!(none.poll(Duration::ZERO).is_err());
    none.seek(&t0, 7)?;
    let got: Vec<i64> = none
        .poll(Duration::ZERO)?
        .iter()
        .map(|r| r.offset())
        .collect();
    assert_eq!(got, vec![7, 8, 9]);

    let mut earliest = Consumer::new(&store, group_config("g", OffsetReset::Earliest))?;
    earliest.assign(std::slice::from_ref(&t0))?;
    let got = earliest.poll(Duration::ZERO)?;
    assert_eq!(got.first().map(|r| r.offset()), Some(0));
    assert_eq!(got.len(), 10);

    let mut latest = Consumer::new(&store, group_config("g", OffsetReset::Latest))?;
    latest.assign(std::slice::from_ref(&t0))?;
    assert!(latest.poll(Duration::ZERO)?.is_empty());
    assert_eq!(latest.position(&t0)?, 10);
    produce(&store, "t", 0, 1, 1)?;
    let got = latest.poll(Duration::from_secs(5))?;
    assert_eq!(got.iter().map(|r| r.offset()).collect::<Vec<_>>(), vec![10]);

    // Seeks: beginning, end, timestamp.
    latest.seek_to_beginning(&[])?;
    assert_eq!(latest.position(&t0)?, 0);
    latest.seek_to_end(std::slice::from_ref(&t0))?;
    assert_eq!(latest.position(&t0)?, 11);
    assert_eq!(latest.seek_to_timestamp(&t0, 1_700_000_000_004)?, 4);
    assert_eq!(latest.poll(Duration::ZERO)?[0].offset(), 4);
    assert_eq!(latest.seek_to_timestamp(&t0, i64::MAX)?, 11);
    store.close()?;
    Ok(())
}

#[test]
fn unknown_topics_and_partitions_are_typed_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("t", 2, TopicConfig::default())?;
    let mut c = Consumer::new(&store, group_config("g", OffsetReset::Earliest))?;
    assert!(
        matches!(c.subscribe(&["t", "nope"]), Err(Error::UnknownTopic { ref topic }) if topic == "nope")
    );
    assert!(matches!(
        c.assign(&[tp("t", 2)]),
        Err(Error::UnknownPartition {
            partition: 2,
            partitions: 2,
            ..
        })
    ));
    assert!(matches!(
        c.assign(&[tp("t", -1)]),
        Err(Error::UnknownPartition { .. })
    ));
    assert!(c.assignment().is_empty(), "a failed assign changes nothing");
    assert!(matches!(
        c.poll(Duration::ZERO),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        c.commit_offsets(&[(tp("nope", 0), 1)]),
        Err(Error::UnknownTopic { .. })
    ));
    assert!(matches!(
        c.commit_offsets(&[(tp("t", 5), 1)]),
        Err(Error::UnknownPartition { partition: 5, .. })
    ));
    assert!(matches!(
        c.commit_offsets(&[(tp("t", 0), -1)]),
        Err(Error::InvalidArgument(_))
    ));
    c.subscribe(&["t"])?;
    assert_eq!(c.assignment(), vec![tp("t", 0), tp("t", 1)]);
    assert!(matches!(
        c.seek(&tp("other", 0), 0),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        c.seek(&tp("t", 0), -5),
        Err(Error::InvalidArgument(_))
    ));

    let mut anonymous = Consumer::new(&store, ConsumerConfig::default())?;
    assert!(matches!(
        anonymous.commit(),
        Err(Error::InvalidConfig {
            key: "group.id",
            ..
        })
    ));
    assert!(matches!(
        anonymous.committed(&tp("t", 0)),
        Err(Error::InvalidConfig {
            key: "group.id",
            ..
        })
    ));
    store.close()?;
    assert!(matches!(
        c.poll(Duration::from_millis(10)),
        Err(Error::Closed)
    ));
    Ok(())
}

/// A control batch (a transaction COMMIT marker) as a transaction coordinator writes it.
fn commit_marker(producer_id: i64) -> TestResult<Vec<u8>> {
    let mut builder = BatchBuilder::new(BatchOptions {
        is_control: true,
        is_transactional: true,
        producer_id,
        producer_epoch: 0,
        ..Default::default()
    });
    // Key: version 0, type 1 (COMMIT); value: version 0, coordinator epoch 0.
    builder.append(
        1_700_000_000_000,
        Some(&[0, 0, 0, 1]),
        Some(&[0, 0, 0, 0, 0, 0]),
        &[],
    )?;
    Ok(builder.finish_vec()?)
}

#[test]
fn control_records_are_skipped() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("t", 1, TopicConfig::default())?;
    produce(&store, "t", 0, 3, 3)?;
    let log = store.log("t", 0)?;
    log.append_batch(&commit_marker(5)?, Validation::Deep)?; // offset 3
    produce(&store, "t", 0, 2, 2)?; // offsets 4, 5
    log.append_batch(&commit_marker(5)?, Validation::Deep)?; // offset 6, the last
    let mut c = Consumer::new(&store, group_config("g", OffsetReset::Earliest))?;
    c.assign(&[tp("t", 0)])?;
    let got: Vec<i64> = c.poll(Duration::ZERO)?.iter().map(|r| r.offset()).collect();
    assert_eq!(got, vec![0, 1, 2, 4, 5]);
    // The position moves past the trailing marker, so a commit does not re-read it.
    assert_eq!(c.position(&tp("t", 0))?, 7);
    assert!(c.poll(Duration::ZERO)?.is_empty());
    store.close()?;
    Ok(())
}

#[test]
fn poll_blocks_until_data_arrives_or_the_timeout_passes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("one", 1, TopicConfig::default())?;
    store.create_topic("three", 3, TopicConfig::default())?;
    for (topic, partition) in [("one", 0), ("three", 2)] {
        let mut c = Consumer::new(&store, group_config("g", OffsetReset::Earliest))?;
        c.subscribe(&[topic])?;
        let started = Instant::now();
        assert!(c.poll(Duration::from_millis(150))?.is_empty());
        assert!(started.elapsed() >= Duration::from_millis(150));

        let writer = {
            let store = store.clone();
            thread::spawn(move || -> TestResult {
                thread::sleep(Duration::from_millis(100));
                produce(&store, topic, partition, 1, 1)
            })
        };
        let started = Instant::now();
        let got = c.poll(Duration::from_secs(30))?;
        let waited = started.elapsed();
        writer.join().map_err(|_| "writer panicked")??;
        assert_eq!(got.len(), 1, "{topic}");
        assert_eq!((got[0].topic(), got[0].partition()), (topic, partition));
        assert!(waited >= Duration::from_millis(90), "{waited:?}");
        assert!(waited < Duration::from_secs(10), "{waited:?}");
    }

    // Durable isolation: appended data shows only once flushed.
    let mut c = Consumer::new(
        &store,
        ConsumerConfig {
            isolation: Isolation::Durable,
            ..group_config("durable", OffsetReset::Earliest)
        },
    )?;
    c.assign(&[tp("one", 0)])?;
    store.log("one", 0)?.flush()?;
    assert_eq!(c.poll(Duration::ZERO)?.len(), 1);
    produce(&store, "one", 0, 2, 2)?;
    assert!(c.poll(Duration::from_millis(50))?.is_empty());
    let flusher = {
        let store = store.clone();
        thread::spawn(move || -> TestResult {
            thread::sleep(Duration::from_millis(50));
            Ok(store.log("one", 0)?.flush()?)
        })
    };
    let got = c.poll(Duration::from_secs(30))?;
    flusher.join().map_err(|_| "flusher panicked")??;
    assert_eq!(
        got.iter().map(|r| r.offset()).collect::<Vec<_>>(),
        vec![1, 2]
    );
    store.close()?;
    Ok(())
}

#[test]
fn polls_share_records_fairly_and_rotate() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("t", 3, TopicConfig::default())?;
    for p in 0..3 {
        produce(&store, "t", p, 10, 10)?;
    }
    let config = ConsumerConfig {
        max_poll_records: 6,
        ..group_config("g", OffsetReset::Earliest)
    };
    let mut c = Consumer::new(&store, config)?;
    c.subscribe(&["t"])?;
    let mut firsts = Vec::new();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let got = c.poll(Duration::ZERO)?;
        assert_eq!(got.len(), 6);
        let partitions: BTreeSet<i32> = got.iter().map(|r| r.partition()).collect();
        assert_eq!(
            partitions.len(),
            3,
            "each poll takes from every partition with data"
        );
        firsts.push(got[0].partition());
        seen.extend(got.iter().map(|r| (r.partition(), r.offset())));
    }
    assert_eq!(
        firsts,
        vec![0, 1, 2, 0, 1],
        "successive polls start one partition on"
    );
    assert_exactly_once_in_order(&seen, 3, 10);

    // Unused shares go to partitions that still have data.
    produce(&store, "t", 1, 9, 9)?;
    let got = c.poll(Duration::ZERO)?;
    assert_eq!(got.len(), 6);
    assert!(got.iter().all(|r| r.partition() == 1));
    store.close()?;
    Ok(())
}

#[test]
fn transactional_commits_and_tombstones_load_as_kafka_applies_them() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("t", 2, TopicConfig::default())?;
    let mut c = Consumer::new(&store, group_config("g", OffsetReset::Earliest))?;
    c.commit_offsets(&[(tp("t", 0), 5), (tp("t", 1), 6)])?;
    let log = store.log(CONSUMER_OFFSETS_TOPIC, partition_for("g", 1))?;

    // A tombstone deletes the commit of t-1.
    let tombstone = Record {
        timestamp: 0,
        key: Some(encode_offset_commit_key("g", "t", 1)?),
        value: None,
        headers: Vec::new(),
    };
    log.append(&[tombstone], &AppendOptions::default())?;
    assert_eq!(c.committed(&tp("t", 1))?, None);
    assert_eq!(c.committed(&tp("t", 0))?, Some(5));

    // A transactional commit applies only at its COMMIT marker.
    let mut builder = BatchBuilder::new(BatchOptions {
        is_transactional: true,
        producer_id: 9,
        producer_epoch: 0,
        base_sequence: 0,
        ..Default::default()
    });
    let value = encode_offset_commit_value(&OffsetAndMetadata::new(42, 0))?;
    builder.append(
        0,
        Some(&encode_offset_commit_key("g", "t", 0)?),
        Some(&value),
        &[],
    )?;
    log.append_batch(&builder.finish_vec()?, Validation::Deep)?;
    assert_eq!(c.committed(&tp("t", 0))?, Some(5));
    log.append_batch(&commit_marker(9)?, Validation::Deep)?;
    assert_eq!(c.committed(&tp("t", 0))?, Some(42));
    assert_eq!(c.committed_offsets()?.len(), 1);
    store.close()?;
    Ok(())
}

/// Copies the read-only Kafka fixture partition into `to`, writable.
fn copy_fixture(from: &Path, to: &Path) -> TestResult {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        std::fs::copy(entry.path(), &target)?;
        let mut perms = std::fs::metadata(&target)?.permissions();
        #[allow(
            clippy::permissions_set_readonly_false,
            reason = "test copies of read-only fixtures"
        )]
        perms.set_readonly(false);
        std::fs::set_permissions(&target, perms)?;
    }
    Ok(())
}

#[test]
fn kafka_commits_read_back_and_ours_join_them() -> TestResult {
    let fixture = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/kafka-3.7.0/__consumer_offsets-6"
    ));
    if !fixture.exists() {
        println!("SKIPPED: Kafka fixture {} is absent", fixture.display());
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    copy_fixture(fixture, &dir.path().join("__consumer_offsets-6"))?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    assert_eq!(store.partition_count(CONSUMER_OFFSETS_TOPIC)?, 50);
    assert_eq!(partition_for("DEVSmileCDR", 50), 6);

    let mut c = Consumer::new(&store, group_config("DEVSmileCDR", OffsetReset::None))?;
    let committed: Vec<(String, i32, i64, Option<i32>, i64)> = c
        .committed_offsets()?
        .into_iter()
        .map(|(tp, v)| {
            (
                tp.topic,
                tp.partition,
                v.offset,
                v.leader_epoch,
                v.commit_timestamp,
            )
        })
        .collect();
    assert_eq!(
        committed,
        vec![
            (
                "Retry.TestTopicPatient".into(),
                0,
                0,
                None,
                1_769_792_518_111
            ),
            ("TestTopicPatient".into(), 0, 3, None, 1_769_793_578_176),
            (
                "batch2.work.notification.SHR_PROD.persistence".into(),
                0,
                0,
                None,
                1_769_791_663_122
            ),
            (
                "subscription.matching.SHR_PROD.persistence".into(),
                0,
                0,
                None,
                1_769_791_783_399
            ),
        ]
    );
    // Another group has nothing there, and looking does not create its partition.
    let mut other = Consumer::new(&store, group_config("billing", OffsetReset::None))?;
    assert!(other.committed_offsets()?.is_empty());
    assert!(!dir.path().join("__consumer_offsets-9").exists());

    // Ours append to Kafka's partition 6 and read back after a reopen.
    store.create_topic("TestTopicPatient", 1, TopicConfig::default())?;
    produce(&store, "TestTopicPatient", 0, 5, 5)?;
    c.assign(&[tp("TestTopicPatient", 0)])?;
    assert_eq!(c.position(&tp("TestTopicPatient", 0))?, 3);
    let got = c.poll(Duration::ZERO)?;
    assert_eq!(
        got.iter().map(|r| r.offset()).collect::<Vec<_>>(),
        vec![3, 4]
    );
    c.commit()?;
    assert_eq!(store.log(CONSUMER_OFFSETS_TOPIC, 6)?.end_offset(), 14);
    store.close()?;

    let store = Store::open(dir.path(), StoreConfig::default())?;
    let mut c = Consumer::new(&store, group_config("DEVSmileCDR", OffsetReset::None))?;
    assert_eq!(c.committed(&tp("TestTopicPatient", 0))?, Some(5));
    assert_eq!(c.committed(&tp("Retry.TestTopicPatient", 0))?, Some(0));
    store.close()?;
    Ok(())
}
