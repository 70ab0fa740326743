//! Regression tests of the store for bugs an audit found, each named for what now holds:
//!
//! - a config value Kafka writes with a space (`compact, delete`) survives a reopen;
//! - a log handle of a deleted topic takes no more writes (they were acknowledged and lost,
//!   or landed in a topic created anew under the same name);
//! - concurrent maintenance passes never trip over each other's checkpoint temp files;
//! - a second `close` returns what the first did;
//! - dropping the last handle of a store with background maintenance releases the lock at
//!   once, so the directory reopens;
//! - every producer's batches are appended by maintenance once `linger.ms` passes, and by
//!   the store's close;
//! - topic names that Kafka takes as the same (`a.b`, `a_b`) cannot both exist;
//! - an open that fails keeps the clean-shutdown marker it found;
//! - a Kafka directory opens without creating partitions or files in it, with its
//!   `__consumer_offsets` partitions past 50 kept, and a partition number too large for
//!   memory is a typed error;
//! - a topic created with unlimited retention is not taken for a Kafka topic;
//! - a topic found in a Kafka directory gets retention once configured with
//!   `alter_topic_config`, which applies to the open logs at once and survives a reopen;
//! - only the store creates Kafka's internal topics, and no name may collide with them.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tidelog::config::{ManualClock, StoreConfig, TopicConfig};
use tidelog::log::AppendOptions;
use tidelog::record::Record;
use tidelog::store::{Producer, ProducerConfig, ProducerRecord, Store, CLEAN_SHUTDOWN_FILE};
use tidelog::Error;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

fn one(value: &str) -> Vec<Record> {
    vec![Record::new(1, value.as_bytes().to_vec())]
}

#[test]
fn a_config_value_with_a_space_survives_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    let config = TopicConfig::default().with("cleanup.policy", "compact, delete")?;
    store.create_topic("t", 1, config)?;
    store.close()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    let described = store.describe_topic("t")?;
    assert_eq!(
        described.config.get("cleanup.policy"),
        Some("compact,delete")
    );
    assert!(TopicConfig::default()
        .with("retention.ms", "1 000")
        .is_err());
    store.close()?;
    Ok(())
}

#[test]
fn a_deleted_topics_log_takes_no_more_writes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    let small = TopicConfig::default().with("segment.bytes", "200")?;
    store.create_topic("t", 1, small.clone())?;
    let old = store.log("t", 0)?;
    old.append(&one("before"), &AppendOptions::default())?;
    store.delete_topic("t")?;
    assert!(matches!(
        old.append(&one("after"), &AppendOptions::default()),
        Err(Error::Closed)
    ));
    store.create_topic("t", 1, small)?;
    for _ in 0..20 {
        assert!(old
            .append(&one("stale"), &AppendOptions::default())
            .is_err());
    }
    let new = store.log("t", 0)?;
    assert_eq!(new.end_offset(), 0);
    assert_eq!(new.segment_base_offsets(), vec![0]);
    store.close()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    assert_eq!(store.log("t", 0)?.end_offset(), 0);
    store.close()?;
    Ok(())
}

#[test]
fn concurrent_maintenance_passes_share_the_checkpoints() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = StoreConfig {
        flush_offset_checkpoint_interval_ms: 0,
        flush_start_offset_checkpoint_interval_ms: 0,
        ..Default::default()
    };
    let store = Store::open(dir.path(), config)?;
    store.create_topic("t", 4, TopicConfig::default())?;
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            thread::spawn(move || -> Result<(), String> {
                for _ in 0..25 {
                    store.maintain().map_err(|e| e.to_string())?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "a maintenance thread panicked")??;
    }
    store.close()?;
    Ok(())
}

#[test]
fn a_second_close_returns_what_the_first_did() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("t", 1, TopicConfig::default())?;
    store.close()?;
    store.close()?;
    assert!(matches!(store.maintain(), Err(Error::Closed)));
    Ok(())
}

#[test]
fn dropping_a_store_with_background_maintenance_releases_the_lock() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = || StoreConfig {
        background_maintenance: true,
        maintenance_interval_ms: 1,
        flush_offset_checkpoint_interval_ms: 0,
        flush_start_offset_checkpoint_interval_ms: 0,
        ..Default::default()
    };
    let store = Store::open(dir.path(), config())?;
    store.create_topic("t", 8, TopicConfig::default())?;
    drop(store);
    for _ in 0..50 {
        // Dropped while a pass may be running: the open right after must get the lock.
        let store = Store::open(dir.path(), config())?;
        thread::sleep(Duration::from_millis(2));
        drop(store);
    }
    Ok(())
}

#[test]
fn every_producer_lingers_through_maintenance_and_close() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(1_000_000);
    let config = StoreConfig {
        clock: Arc::new(clock.clone()),
        ..Default::default()
    };
    let store = Store::open(dir.path(), config)?;
    store.create_topic("t", 1, TopicConfig::default())?;
    let producer_config = ProducerConfig {
        linger_ms: 100,
        ..Default::default()
    };
    // Made with `Producer::new`, not `Store::producer`.
    let mut producer = Producer::new(&store, producer_config.clone())?;
    let receipt = producer.send(ProducerRecord::new("t", b"k", b"lingering"))?;
    clock.advance(200);
    store.maintain()?;
    assert_eq!(receipt.wait()?.offset, 0);
    let mut second = Producer::new(&store, producer_config)?;
    let pending = second.send(ProducerRecord::new("t", b"k", b"pending at close"))?;
    store.close()?;
    assert_eq!(pending.wait()?.offset, 1);
    let store = Store::open(dir.path(), StoreConfig::default())?;
    assert_eq!(store.log("t", 0)?.end_offset(), 2);
    store.close()?;
    drop((producer, second));
    Ok(())
}

#[test]
fn topic_names_kafka_takes_as_one_cannot_both_exist() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("page.views", 1, TopicConfig::default())?;
    assert!(matches!(
        store.create_topic("page_views", 1, TopicConfig::default()),
        Err(Error::InvalidTopicName { .. })
    ));
    store.create_topic("page-views", 1, TopicConfig::default())?;
    store.close()?;
    Ok(())
}

#[test]
fn a_failed_open_keeps_the_clean_shutdown_marker() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("t", 1, TopicConfig::default())?;
    let log = store.log("t", 0)?;
    for i in 0..20 {
        log.append(&one(&format!("record {i}")), &AppendOptions::default())?;
    }
    store.close()?;
    let marker = std::fs::read(dir.path().join(CLEAN_SHUTDOWN_FILE))?;
    // Damage inside fsynced data: a clean open finds it and refuses.
    let segment = dir.path().join("t-0").join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&segment)?;
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&segment, &bytes)?;
    // Also drop the index, so the open walks the whole segment.
    std::fs::remove_file(dir.path().join("t-0").join(format!("{:020}.index", 0)))?;
    assert!(matches!(
        Store::open(dir.path(), StoreConfig::default()),
        Err(Error::Corrupt { .. })
    ));
    assert_eq!(std::fs::read(dir.path().join(CLEAN_SHUTDOWN_FILE))?, marker);
    Ok(())
}

#[test]
fn a_kafka_directory_opens_without_new_partitions_or_files() -> TestResult {
    let dir = tempfile::tempdir()?;
    for part in [
        "foo-0",
        "foo-7",
        "__consumer_offsets-3",
        "__consumer_offsets-60",
    ] {
        std::fs::create_dir_all(dir.path().join(part))?;
    }
    let store = Store::open(dir.path(), StoreConfig::default())?;
    assert_eq!(store.partition_count("foo")?, 8);
    assert_eq!(store.partition_count("__consumer_offsets")?, 61);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("foo-") || n.starts_with("__consumer_offsets-"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "__consumer_offsets-3",
            "__consumer_offsets-60",
            "foo-0",
            "foo-7"
        ]
    );
    for part in ["foo-0", "foo-7"] {
        assert!(!dir.path().join(part).join("partition.metadata").exists());
    }
    // A partition absent here is created when it is used.
    store
        .log("foo", 2)?
        .append(&one("new"), &AppendOptions::default())?;
    assert!(dir.path().join("foo-2").exists());
    store.close()?;

    let huge = tempfile::tempdir()?;
    std::fs::create_dir_all(huge.path().join("foo-0"))?;
    std::fs::create_dir_all(huge.path().join("foo-2147483647"))?;
    assert!(matches!(
        Store::open(huge.path(), StoreConfig::default()),
        Err(Error::InvalidLayout { .. })
    ));
    Ok(())
}

#[test]
fn unlimited_retention_does_not_make_a_topic_foreign() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    let forever = TopicConfig::default()
        .with("retention.ms", "-1")?
        .with("retention.bytes", "-1")?;
    store.create_topic("keep", 1, forever)?;
    assert!(!store.describe_topic("keep")?.foreign);
    store.close()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    assert!(!store.describe_topic("keep")?.foreign);
    store.close()?;
    Ok(())
}

#[test]
fn a_kafka_topic_gets_retention_once_configured() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(1_000_000_000);
    let config = || StoreConfig {
        clock: Arc::new(clock.clone()),
        retention_check_interval_ms: 0,
        ..Default::default()
    };
    // A topic tidelog finds as a broker's partition directory: kept without retention.
    std::fs::create_dir_all(dir.path().join("events-0"))?;
    let store = Store::open(dir.path(), config())?;
    let log = store.log("events", 0)?;
    assert_eq!(log.config().retention_ms, -1);
    let keep = TopicConfig::default()
        .with("segment.bytes", "200")?
        .with("retention.ms", "-1")?
        .with("retention.bytes", "-1")?;
    store.alter_topic_config("events", keep)?;
    for i in 0..20 {
        log.append(
            &[Record::new(1_000_000_000 + i, b"an old event".to_vec())],
            &AppendOptions::default(),
        )?;
    }
    let segments = log.segment_count();
    assert!(
        segments > 2,
        "segment.bytes applies to the open log at once"
    );
    clock.advance(10 * 24 * 3600 * 1000);
    assert_eq!(store.maintain()?.segments_deleted, 0, "still no retention");
    let day = TopicConfig::default()
        .with("segment.bytes", "200")?
        .with("retention.ms", "86400000")?;
    store.alter_topic_config("events", day)?;
    assert_eq!(store.maintain()?.segments_deleted as usize, segments);
    assert_eq!(log.log_start_offset(), 20);
    assert!(matches!(
        store.alter_topic_config("nope", TopicConfig::default()),
        Err(Error::UnknownTopic { .. })
    ));
    store.close()?;
    // The change is in the metadata file: it holds after a reopen, and the topic is still
    // the broker's (offset gaps allowed, no partition.metadata written).
    let store = Store::open(dir.path(), config())?;
    let described = store.describe_topic("events")?;
    assert!(described.foreign);
    assert_eq!(described.config.get("retention.ms"), Some("86400000"));
    assert_eq!(store.log("events", 0)?.config().retention_ms, 86_400_000);
    assert!(store.log("events", 0)?.config().allow_offset_gaps);
    store.close()?;
    Ok(())
}

#[test]
fn only_the_store_creates_kafkas_internal_topics() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    // A user's __consumer_offsets would take commits under the wrong policy (retention
    // would delete them); a colliding name would make every commit fail.
    for name in [
        "__consumer_offsets",
        "__consumer.offsets",
        "__transaction_state",
    ] {
        assert!(
            matches!(
                store.create_topic(name, 1, TopicConfig::default()),
                Err(Error::InvalidTopicName { .. })
            ),
            "{name}"
        );
    }
    store.create_offsets_topic()?;
    let described = store.describe_topic("__consumer_offsets")?;
    assert_eq!(described.config.get("cleanup.policy"), Some("compact"));
    store.create_offsets_topic()?;
    store.close()?;
    Ok(())
}
