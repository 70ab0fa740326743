//! A store dropped without `close` (a crash: no clean-shutdown marker, the next open
//! recovers) reopens with everything it had, and so does one closed cleanly afterwards.
//!
//! - After topics with config overrides, data in several partitions of several topics
//!   (codecs, keys, headers, null keys and values, several segments, LogAppendTime) and
//!   committed offsets of two groups, a crash and reopen keep the topic list, each topic's
//!   id, partition count and every config override, every partition's offsets, segments and
//!   batches byte for byte (and so every record), and every committed offset with its
//!   epoch, metadata and time. The recovered store takes writes, and a clean close and
//!   reopen keep all of it again.
//! - The same state built by another process (this test binary run again as a child) that
//!   is then SIGKILLed reopens the same: a real process crash loses nothing acknowledged.
//! - A crash right after `create_topic` keeps the topic, its partitions and config; a crash
//!   right after `add_partitions` keeps the new count, the old partitions' data and empty,
//!   writable new partitions.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tidelog::config::{StoreConfig, TopicConfig};
use tidelog::consumer::{Consumer, ConsumerConfig, OffsetAndMetadata, OffsetReset, TopicPartition};
use tidelog::log::AppendOptions;
use tidelog::record::Record;
use tidelog::store::{ProducerConfig, ProducerRecord, Store, CLEAN_SHUTDOWN_FILE};
use tidelog::Compression;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const GROUPS: [&str; 2] = ["billing", "audit-readers"];

/// Set (to the store directory) in the child process of the SIGKILL test.
const CHILD_ENV: &str = "TIDELOG_CRASH_REOPEN_CHILD";
/// Where that child writes the image of the store it built.
const IMAGE_ENV: &str = "TIDELOG_CRASH_REOPEN_IMAGE";
/// The test the child runs.
const CHILD_TEST: &str = "child_fills_a_store_and_waits_for_sigkill";
/// What the child prints once the image is written.
const READY: &str = "@@ ready";

/// One partition as read back through the public API.
#[derive(Debug, PartialEq, Eq)]
struct PartitionImage {
    log_start: i64,
    end: i64,
    segments: Vec<i64>,
    /// Every batch from the log start, as stored.
    bytes: Vec<u8>,
    /// Every record from the log start, with its offset.
    records: Vec<(i64, Record)>,
}

/// One topic as described.
#[derive(Debug, PartialEq, Eq)]
struct TopicImage {
    id: String,
    config: Vec<(String, String)>,
    foreign: bool,
    partitions: Vec<PartitionImage>,
}

/// Everything a store holds that a crash must not change.
#[derive(Debug, PartialEq, Eq)]
struct StoreImage {
    topics: BTreeMap<String, TopicImage>,
    commits: BTreeMap<String, BTreeMap<TopicPartition, OffsetAndMetadata>>,
}

fn image_of(store: &Store) -> TestResult<StoreImage> {
    let mut topics = BTreeMap::new();
    for name in store.list_topics() {
        let described = store.describe_topic(&name)?;
        assert_eq!(
            described.partitions.len() as u32,
            store.partition_count(&name)?
        );
        let mut partitions = Vec::new();
        for p in 0..store.partition_count(&name)? as i32 {
            let log = store.log(&name, p)?;
            let (log_start, end) = (log.log_start_offset(), log.end_offset());
            let mut image = PartitionImage {
                log_start,
                end,
                segments: log.segment_base_offsets(),
                bytes: Vec::new(),
                records: Vec::new(),
            };
            let mut offset = log_start;
            while offset < end {
                let read = log.read(offset, 64 << 10)?;
                image.bytes.extend_from_slice(read.bytes());
                for record in read.records() {
                    let record = record?;
                    image
                        .records
                        .push((record.offset(), record.to_owned_record()));
                }
                offset = read.next_offset();
            }
            partitions.push(image);
        }
        let config = described
            .config
            .overrides()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        topics.insert(
            name,
            TopicImage {
                id: described.id.to_string(),
                config,
                foreign: described.foreign,
                partitions,
            },
        );
    }
    let mut commits = BTreeMap::new();
    for group in GROUPS {
        let mut consumer = Consumer::new(store, group_config(group))?;
        commits.insert(group.to_string(), consumer.committed_offsets()?);
    }
    Ok(StoreImage { topics, commits })
}

fn group_config(group: &str) -> ConsumerConfig {
    ConsumerConfig {
        group_id: Some(group.to_string()),
        auto_offset_reset: OffsetReset::Earliest,
        enable_auto_commit: false,
        ..Default::default()
    }
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// The overrides of each topic the tests create.
fn orders_config() -> TestResult<TopicConfig> {
    Ok(TopicConfig::default()
        .with("segment.bytes", "2048")?
        .with("segment.index.bytes", "4096")?
        .with("index.interval.bytes", "128")?
        .with("max.message.bytes", "65536")?
        .with("retention.ms", "604800001")?
        .with("flush.messages", "1000")?
        .with("message.timestamp.type", "CreateTime")?)
}

fn clicks_config() -> TestResult<TopicConfig> {
    Ok(TopicConfig::default()
        .with("cleanup.policy", "compact, delete")?
        .with("retention.bytes", "1048576")?
        .with("segment.ms", "3600000")?
        .with("delete.retention.ms", "1000")?
        .with("min.compaction.lag.ms", "5")?
        .with("min.cleanable.dirty.ratio", "0.3")?
        .with("file.delete.delay.ms", "100")?
        .with("message.timestamp.type", "LogAppendTime")?)
}

fn quiet_config() -> TestResult<TopicConfig> {
    Ok(TopicConfig::default()
        .with("flush.ms", "10")?
        .with("retention.ms", "-1")?)
}

/// Topics with overrides, data in several partitions of several topics, and commits of two
/// groups (one by explicit offsets, updated once; one by a consumer's position).
fn fill(store: &Store) -> TestResult {
    store.create_topic("orders", 3, orders_config()?)?;
    store.create_topic("clicks.raw", 2, clicks_config()?)?;
    store.create_topic("audit", 1, TopicConfig::default())?;
    store.create_topic("quiet", 2, quiet_config()?)?;

    for (codec, partition) in [(Compression::Lz4, 0), (Compression::Zstd, 1)] {
        let mut producer = store.producer(ProducerConfig {
            compression_type: codec,
            batch_size: 300,
            ..Default::default()
        })?;
        for i in 0..150u32 {
            let key = format!("customer-{}", i % 17);
            let value = format!(
                "order {i} of partition {partition}: {}",
                "x".repeat(i as usize % 40)
            );
            producer.send(
                ProducerRecord::new("orders", key.as_bytes(), value.as_bytes())
                    .with_partition(partition)
                    .with_header("trace", format!("t{i}").into_bytes())
                    .with_timestamp(1_700_000_000_000 + i64::from(i)),
            )?;
        }
        producer.close()?;
    }
    let mut producer = store.producer(ProducerConfig::default())?;
    for i in 0..40u32 {
        let value = format!("click {i}");
        producer.send(ProducerRecord::new("clicks.raw", b"page", value.as_bytes()))?;
        if i % 10 == 0 {
            producer.send(ProducerRecord::tombstone("clicks.raw", b"gone"))?;
        }
    }
    producer.close()?;
    let audit = store.log("audit", 0)?;
    for i in 0..25i64 {
        let mut record = Record::new(1_600_000_000_000 + i, format!("audit {i}").into_bytes())
            .with_header("who", Some(b"root".to_vec()))
            .with_header("empty", None);
        if i % 5 == 0 {
            record.value = None;
            record.key = Some(Vec::new());
        }
        let codec = [Compression::None, Compression::Gzip, Compression::Snappy][i as usize % 3];
        audit.append(&[record], &AppendOptions::with_compression(codec))?;
    }

    let mut billing = Consumer::new(store, group_config("billing"))?;
    billing.commit_offsets(&[(tp("orders", 0), 5), (tp("orders", 1), 3)])?;
    billing.commit_offsets(&[(tp("orders", 0), 12), (tp("clicks.raw", 1), 0)])?;
    let mut audit_readers = Consumer::new(store, group_config("audit-readers"))?;
    audit_readers.assign(&[tp("audit", 0), tp("orders", 2)])?;
    let polled = audit_readers.poll(Duration::from_secs(1))?;
    assert!(!polled.is_empty());
    audit_readers.commit()?;
    Ok(())
}

fn clean_marker(dir: &Path) -> bool {
    dir.join(CLEAN_SHUTDOWN_FILE).exists()
}

#[test]
fn a_crash_and_a_clean_close_keep_topics_configs_records_and_commits() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    fill(&store)?;
    let before = image_of(&store)?;
    // What this test relies on is there: data in several partitions of several topics,
    // several segments, both groups' commits.
    let with_data = before
        .topics
        .values()
        .flat_map(|t| &t.partitions)
        .filter(|p| p.end > 0)
        .count();
    assert!(with_data >= 5, "{with_data} partitions with data");
    assert!(before.topics["orders"].partitions[0].segments.len() > 3);
    assert_eq!(before.commits["billing"].len(), 3);
    assert_eq!(before.commits["billing"][&tp("orders", 0)].offset, 12);
    assert_eq!(before.commits["audit-readers"].len(), 2);
    assert_eq!(before.topics["clicks.raw"].config.len(), 8);

    drop(store); // a crash
    assert!(!clean_marker(dir.path()), "a drop is not a clean shutdown");
    let store = Store::open(dir.path(), StoreConfig::default())?;
    let after_crash = image_of(&store)?;
    assert_eq!(after_crash, before, "after a crash");

    // The recovered store takes writes at the offsets that follow.
    let orders = store.log("orders", 0)?;
    let end = orders.end_offset();
    let info = orders.append(
        &[Record::new(1_700_000_001_000, b"after the crash".to_vec())],
        &AppendOptions::default(),
    )?;
    assert_eq!(info.first_offset, end);
    let mut billing = Consumer::new(&store, group_config("billing"))?;
    billing.commit_offsets(&[(tp("orders", 0), end + 1)])?;
    let before_close = image_of(&store)?;
    store.close()?;
    drop(store);
    assert!(clean_marker(dir.path()), "a close is a clean shutdown");

    let store = Store::open(dir.path(), StoreConfig::default())?;
    assert_eq!(image_of(&store)?, before_close, "after a clean close");
    assert_eq!(
        before_close.commits["billing"][&tp("orders", 0)].offset,
        end + 1
    );
    store.close()?;
    Ok(())
}

/// The child of the SIGKILL test: a no-op unless [`CHILD_ENV`] is set; then it fills a store,
/// writes its image to the file [`IMAGE_ENV`] names, says [`READY`] and waits to be killed.
#[test]
fn child_fills_a_store_and_waits_for_sigkill() -> TestResult {
    let (Ok(dir), Ok(image)) = (std::env::var(CHILD_ENV), std::env::var(IMAGE_ENV)) else {
        return Ok(());
    };
    let store = Store::open(&dir, StoreConfig::default())?;
    fill(&store)?;
    std::fs::write(&image, format!("{:#?}", image_of(&store)?))?;
    // On a line of its own: the harness may have printed the test's name without a newline.
    println!("\n{READY}");
    std::thread::sleep(Duration::from_secs(60));
    Err("not killed within a minute".into())
}

#[test]
fn a_sigkill_keeps_topics_configs_records_and_commits() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("store");
    let image = tmp.path().join("image.txt");
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &dir)
        .env(IMAGE_ENV, &image)
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("the child's stdout")?;
    let ready = BufReader::new(stdout)
        .lines()
        .any(|line| line.is_ok_and(|l| l.contains(READY)));
    child.kill()?; // SIGKILL
    let status = child.wait()?;
    assert!(ready, "the child never got ready: {status}");
    assert_eq!(status.signal(), Some(9), "the child died by SIGKILL");
    assert!(!clean_marker(&dir), "a SIGKILL is not a clean shutdown");
    let before = std::fs::read_to_string(&image)?;

    let store = Store::open(&dir, StoreConfig::default())?;
    assert_eq!(format!("{:#?}", image_of(&store)?), before, "after SIGKILL");
    store.close()?;
    drop(store);
    let store = Store::open(&dir, StoreConfig::default())?;
    assert_eq!(
        format!("{:#?}", image_of(&store)?),
        before,
        "after a clean close"
    );
    store.close()?;
    Ok(())
}

#[test]
fn a_crash_right_after_create_topic_keeps_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("existing", 1, TopicConfig::default())?;
    store.log("existing", 0)?.append(
        &[Record::new(1, b"old".to_vec())],
        &AppendOptions::default(),
    )?;
    store.close()?;
    drop(store);

    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("fresh", 4, orders_config()?)?;
    let before = image_of(&store)?;
    drop(store); // a crash right after the creation
    assert!(!clean_marker(dir.path()));

    let store = Store::open(dir.path(), StoreConfig::default())?;
    assert_eq!(store.list_topics(), vec!["existing", "fresh"]);
    assert_eq!(store.partition_count("fresh")?, 4);
    assert_eq!(image_of(&store)?, before);
    for p in 0..4 {
        assert!(dir.path().join(format!("fresh-{p}")).is_dir());
        let log = store.log("fresh", p)?;
        assert_eq!(log.end_offset(), 0);
        let info = log.append(
            &[Record::new(2, b"new".to_vec())],
            &AppendOptions::default(),
        )?;
        assert_eq!(info.first_offset, 0);
    }
    store.close()?;
    Ok(())
}

#[test]
fn a_crash_right_after_add_partitions_keeps_them() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("grow", 2, clicks_config()?)?;
    let mut producer = store.producer(ProducerConfig {
        compression_type: Compression::Lz4,
        ..Default::default()
    })?;
    for i in 0..60u32 {
        let value = format!("value {i}");
        producer.send(
            ProducerRecord::unkeyed("grow", value.as_bytes()).with_partition((i % 2) as i32),
        )?;
    }
    producer.close()?;
    store.add_partitions("grow", 5)?;
    let before = image_of(&store)?;
    drop(store); // a crash right after adding partitions
    assert!(!clean_marker(dir.path()));

    let store = Store::open(dir.path(), StoreConfig::default())?;
    assert_eq!(store.partition_count("grow")?, 5);
    let after = image_of(&store)?;
    assert_eq!(after, before);
    let grow = &after.topics["grow"];
    assert_eq!(
        grow.partitions.iter().map(|p| p.end).collect::<Vec<_>>(),
        vec![30, 30, 0, 0, 0]
    );
    for p in 2..5 {
        assert!(dir.path().join(format!("grow-{p}")).is_dir());
        let info = store.log("grow", p)?.append(
            &[Record::new(3, b"new".to_vec())],
            &AppendOptions::default(),
        )?;
        assert_eq!(info.first_offset, 0);
    }
    store.close()?;
    Ok(())
}
