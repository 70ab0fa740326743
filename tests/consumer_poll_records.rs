//! `Consumer::poll_records`, the borrowing poll, hands out exactly what `poll` would: the
//! same records under `max.poll.records`, the same fair rotation across partitions, the same
//! positions and commits; keys, values, null fields and headers intact, from uncompressed
//! and compressed batches alike; control records skipped.

use std::collections::BTreeSet;
use std::time::Duration;

use tidelog::config::{StoreConfig, TopicConfig};
use tidelog::consumer::{Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, TopicPartition};
use tidelog::log::AppendOptions;
use tidelog::record::Record;
use tidelog::store::{Producer, ProducerConfig, ProducerRecord, Store};
use tidelog::Compression;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn config(max_poll_records: usize) -> ConsumerConfig {
    ConsumerConfig {
        group_id: Some(format!("g-{max_poll_records}")),
        auto_offset_reset: OffsetReset::Earliest,
        enable_auto_commit: false,
        max_poll_records,
        ..ConsumerConfig::default()
    }
}

/// Fills `topic` (3 partitions): records with keys, values, tombstones, null keys and
/// headers, some partitions in several batches, with `codec`.
fn fill(store: &Store, topic: &str, codec: Compression) -> TestResult {
    store.create_topic(topic, 3, TopicConfig::default())?;
    let mut producer = Producer::new(
        store,
        ProducerConfig {
            compression_type: codec,
            batch_size: 300,
            ..ProducerConfig::default()
        },
    )?;
    for i in 0..40i32 {
        let partition = i % 3 + i32::from(i >= 30) * (2 - i % 3); // partition 2 gets more
        let key = format!("key-{i}");
        let value = format!("value-{i}");
        let record = match i % 7 {
            0 => ProducerRecord::tombstone(topic, key.as_bytes()),
            1 => ProducerRecord::unkeyed(topic, value.as_bytes()),
            2 => ProducerRecord::new(topic, key.as_bytes(), value.as_bytes())
                .with_header("trace", format!("t{i}"))
                .with_header("empty", Vec::new()),
            _ => ProducerRecord::new(topic, key.as_bytes(), value.as_bytes()),
        };
        producer.send(
            record
                .with_partition(partition)
                .with_timestamp(1_700_000_000_000 + i64::from(i)),
        )?;
    }
    producer.close()?;
    Ok(())
}

/// Polls twice over, with `poll` and with `poll_records`, from two consumers in lock step,
/// checking that each poll returns the same records and leaves the same positions.
fn same_as_poll(store: &Store, topic: &str, max_poll_records: usize) -> TestResult<usize> {
    let mut owned = Consumer::new(store, config(max_poll_records))?;
    let mut borrowed = Consumer::new(store, config(max_poll_records))?;
    owned.subscribe(&[topic])?;
    borrowed.subscribe(&[topic])?;
    let mut total = 0;
    loop {
        let a = owned.poll(Duration::ZERO)?;
        let polled = borrowed.poll_records(Duration::ZERO)?;
        assert_eq!(polled.len(), polled.iter().len());
        let b: Vec<ConsumerRecord> = polled.iter().map(|r| r.to_record()).collect();
        for (r, o) in polled.iter().zip(&a) {
            assert_eq!(r.topic(), o.topic());
            assert_eq!(r.topic_partition(), o.topic_partition());
            assert_eq!(r.key(), o.key());
            assert_eq!(r.value(), o.value());
            let headers: Vec<(Vec<u8>, Option<Vec<u8>>)> = r
                .headers()
                .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                .collect();
            let expected: Vec<(Vec<u8>, Option<Vec<u8>>)> = o
                .headers()
                .iter()
                .map(|h| (h.key.clone().into_bytes(), h.value.clone()))
                .collect();
            assert_eq!(headers, expected);
        }
        assert_eq!(a, b, "one poll");
        assert!(a.len() <= max_poll_records);
        for p in 0..3 {
            let tp = TopicPartition::new(topic, p);
            assert_eq!(owned.position(&tp)?, borrowed.position(&tp)?);
        }
        if a.is_empty() {
            break;
        }
        total += a.len();
    }
    borrowed.commit()?;
    for p in 0..3 {
        let tp = TopicPartition::new(topic, p);
        assert_eq!(
            borrowed.committed(&tp)?,
            Some(store.log(topic, p)?.end_offset())
        );
    }
    Ok(total)
}

#[test]
fn poll_records_returns_what_poll_returns() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    for codec in [Compression::None, Compression::Lz4, Compression::Zstd] {
        if !codec.is_enabled() {
            continue;
        }
        let topic = format!("t-{}", codec.name());
        fill(&store, &topic, codec)?;
        for max in [1, 4, 7, 500] {
            assert_eq!(same_as_poll(&store, &topic, max)?, 40, "{codec} max {max}");
        }
    }
    store.close()?;
    Ok(())
}

#[test]
fn poll_records_shares_fairly_and_rotates() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("t", 3, TopicConfig::default())?;
    for p in 0..3 {
        let log = store.log("t", p)?;
        let records: Vec<Record> = (0..10).map(|i| Record::new(i, vec![p as u8; 3])).collect();
        log.append(&records, &AppendOptions::default())?;
    }
    let mut c = Consumer::new(&store, config(6))?;
    c.subscribe(&["t"])?;
    let mut firsts = Vec::new();
    for _ in 0..5 {
        let polled = c.poll_records(Duration::ZERO)?;
        assert_eq!(polled.len(), 6);
        let partitions: BTreeSet<i32> = polled.iter().map(|r| r.partition()).collect();
        assert_eq!(partitions.len(), 3, "each poll takes from every partition");
        firsts.push(polled.iter().next().map(|r| r.partition()));
        for r in &polled {
            assert_eq!(r.value(), Some(&[r.partition() as u8; 3][..]));
        }
    }
    assert_eq!(firsts, [Some(0), Some(1), Some(2), Some(0), Some(1)]);
    store.close()?;
    Ok(())
}

#[test]
fn a_seek_between_borrowing_polls_drops_what_was_fetched() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("t", 1, TopicConfig::default())?;
    let log = store.log("t", 0)?;
    let records: Vec<Record> = (0..20).map(|i| Record::new(i, vec![i as u8])).collect();
    log.append(&records, &AppendOptions::default())?;
    let mut c = Consumer::new(&store, config(5))?;
    c.subscribe(&["t"])?;
    let tp = TopicPartition::new("t", 0);
    let first: Vec<i64> = c
        .poll_records(Duration::ZERO)?
        .iter()
        .map(|r| r.offset())
        .collect();
    assert_eq!(first, [0, 1, 2, 3, 4]);
    c.seek(&tp, 12)?;
    let next: Vec<i64> = c
        .poll_records(Duration::ZERO)?
        .iter()
        .map(|r| r.offset())
        .collect();
    assert_eq!(next, [12, 13, 14, 15, 16]);
    assert_eq!(c.position(&tp)?, 17);
    store.close()?;
    Ok(())
}
