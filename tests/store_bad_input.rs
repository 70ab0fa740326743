//! Bad input to a store returns the typed error (or, for a committed offset past the log
//! end, the documented `auto.offset.reset`) and changes nothing on disk.
//!
//! Each test snapshots the whole store directory (every file's path, length and a hash of
//! its bytes, and every directory) before the bad calls and compares after them:
//!
//! - invalid topic names (empty, `.`, `..`, 250 characters, characters outside
//!   `[a-zA-Z0-9._-]`, Kafka's `.`/`_` collision) are `Error::InvalidTopicName`, an existing
//!   name `Error::TopicExists`;
//! - unknown topics (a path such as `../orders` included) are `Error::UnknownTopic` from
//!   the store, the producer and the consumer;
//! - unknown partitions (negative, at and past the count) are `Error::UnknownPartition`
//!   naming the partition and the count, and a commit naming one commits nothing;
//! - a partition count of zero (or past the limit, or not larger when adding) is
//!   `Error::InvalidArgument`, an offsets topic of zero partitions `Error::InvalidConfig`;
//! - a second open of the directory is `Error::Locked` naming `.lock`: from this process
//!   (under other spellings of the path too), from another one (this test binary run again
//!   as a child), and beside a lock taken as a Kafka broker takes it (`fcntl`);
//! - a record or batch too large is `Error::RecordTooLarge` from the producer,
//!   `Log::append` and `Store::append_batch`, and the producer's next record takes the next
//!   offset;
//! - a committed offset past the log end resets to the log start (`earliest`) or end
//!   (`latest`), or fails the poll with `Error::OffsetOutOfRange` (`none`), without
//!   committing anything.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tidelog::config::{StoreConfig, TopicConfig};
use tidelog::consumer::{Consumer, ConsumerConfig, OffsetReset, TopicPartition};
use tidelog::log::{AppendOptions, Validation};
use tidelog::record::{BatchBuilder, BatchOptions, Record};
use tidelog::store::{ProducerConfig, ProducerRecord, Store, MAX_PARTITIONS};
use tidelog::Error;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Set (to the store directory) in the child process of the cross-process lock test.
const CHILD_ENV: &str = "TIDELOG_BAD_INPUT_CHILD";
/// The test the child runs.
const CHILD_TEST: &str = "child_opens_the_store";
/// How the child reports the outcome of its open.
const OUTCOME: &str = "@@ open ";

/// What a directory entry is, as far as a snapshot tells: a directory, or a file's length
/// and the hash of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir,
    File { len: u64, hash: u64 },
}

/// Every entry under `dir`, by path relative to it.
fn snapshot(dir: &Path) -> TestResult<BTreeMap<PathBuf, Entry>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) -> TestResult {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let relative = path.strip_prefix(root)?.to_path_buf();
            if path.is_dir() {
                out.insert(relative, Entry::Dir);
                walk(root, &path, out)?;
            } else {
                let bytes = std::fs::read(&path)?;
                let mut hasher = DefaultHasher::new();
                hasher.write(&bytes);
                let (len, hash) = (bytes.len() as u64, hasher.finish());
                out.insert(relative, Entry::File { len, hash });
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

/// Asserts that `dir` holds exactly what `before` recorded, naming what differs.
fn assert_unchanged(dir: &Path, before: &BTreeMap<PathBuf, Entry>, what: &str) -> TestResult {
    let after = snapshot(dir)?;
    let mut changes = Vec::new();
    for (path, entry) in before {
        match after.get(path) {
            None => changes.push(format!("removed {}", path.display())),
            Some(e) if e != entry => {
                changes.push(format!("changed {}: {entry:?} -> {e:?}", path.display()))
            }
            Some(_) => {}
        }
    }
    for (path, entry) in &after {
        if !before.contains_key(path) {
            changes.push(format!("created {}: {entry:?}", path.display()));
        }
    }
    assert!(changes.is_empty(), "{what} changed the store: {changes:#?}");
    Ok(())
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn group_config(group: &str, reset: OffsetReset) -> ConsumerConfig {
    ConsumerConfig {
        group_id: Some(group.to_string()),
        auto_offset_reset: reset,
        enable_auto_commit: false,
        ..Default::default()
    }
}

/// A store with `orders` (3 partitions, 10 records each), `page.views` (1 partition) and
/// `small` (`max.message.bytes` = 1024, 1 partition), no commits yet.
fn fixture(dir: &Path) -> TestResult<Store> {
    let store = Store::open(dir, StoreConfig::default())?;
    store.create_topic("orders", 3, TopicConfig::default())?;
    store.create_topic("page.views", 1, TopicConfig::default())?;
    let small = TopicConfig::default().with("max.message.bytes", "1024")?;
    store.create_topic("small", 1, small)?;
    let mut producer = store.producer(ProducerConfig::default())?;
    for p in 0..3 {
        for i in 0..10 {
            let value = format!("order {i} on {p}");
            producer.send(ProducerRecord::unkeyed("orders", value.as_bytes()).with_partition(p))?;
        }
    }
    producer.send(ProducerRecord::new("page.views", b"home", b"1"))?;
    producer.send(ProducerRecord::new("small", b"k", b"fits"))?;
    producer.close()?;
    Ok(store)
}

/// One valid batch of `n` records of `size`-byte values.
fn batch(n: usize, size: usize) -> TestResult<Vec<u8>> {
    let mut builder = BatchBuilder::new(BatchOptions::default());
    for i in 0..n {
        builder.append(i as i64, Some(b"k"), Some(&vec![b'v'; size]), &[])?;
    }
    Ok(builder.finish_vec()?)
}

fn is_invalid_name(r: tidelog::Result<()>, name: &str) -> bool {
    matches!(r, Err(Error::InvalidTopicName { name: ref n, .. }) if n == name)
}

#[test]
fn invalid_topic_names_are_refused_and_change_nothing() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let store = fixture(dir)?;
    let topics = store.list_topics();
    let before = snapshot(dir)?;

    let too_long = "a".repeat(250);
    let bad: &[&str] = &[
        "",
        ".",
        "..",
        &too_long,
        "with space",
        "slash/name",
        "../escape",
        "back\\slash",
        "colon:name",
        "star*",
        "t\u{f3}pico",
        "nul\0byte",
        "new\nline",
        "tab\tname",
        "plus+name",
    ];
    for name in bad {
        for partitions in [1, 3] {
            let r = store.create_topic(name, partitions, TopicConfig::default());
            assert!(is_invalid_name(r, name), "create_topic({name:?})");
        }
    }
    // Kafka's collision: '.' and '_' are the same in metric names.
    let r = store.create_topic("page_views", 1, TopicConfig::default());
    assert!(
        is_invalid_name(r, "page_views"),
        "page_views beside page.views"
    );
    let r = store.create_topic("page.views", 1, TopicConfig::default());
    assert!(
        matches!(r, Err(Error::TopicExists { ref topic }) if topic == "page.views"),
        "{r:?}"
    );
    assert_eq!(store.list_topics(), topics);
    assert_unchanged(dir, &before, "invalid topic names")?;

    store.create_topic("a.b_c", 1, TopicConfig::default())?;
    let topics = store.list_topics();
    let before = snapshot(dir)?;
    for name in ["a_b.c", "a_b_c", "a.b.c"] {
        let r = store.create_topic(name, 1, TopicConfig::default());
        assert!(is_invalid_name(r, name), "{name} beside a.b_c");
    }
    assert_eq!(store.list_topics(), topics);
    assert_unchanged(dir, &before, "colliding topic names")?;

    // After a reopen the names on disk still collide.
    store.close()?;
    drop(store);
    let store = Store::open(dir, StoreConfig::default())?;
    assert_eq!(store.list_topics(), topics);
    let before = snapshot(dir)?;
    for name in ["page_views", "a_b_c", ".."] {
        let r = store.create_topic(name, 1, TopicConfig::default());
        assert!(is_invalid_name(r, name), "{name} after a reopen");
    }
    assert_unchanged(dir, &before, "invalid topic names after a reopen")?;

    // The longest valid name is taken: the limit is where Kafka puts it.
    let longest = "b".repeat(249);
    store.create_topic(&longest, 1, TopicConfig::default())?;
    assert!(store.has_topic(&longest));
    store.close()?;
    Ok(())
}

#[test]
fn unknown_topics_are_typed_errors_and_change_nothing() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let store = fixture(dir)?;
    let mut producer = store.producer(ProducerConfig::default())?;
    let mut consumer = Consumer::new(&store, group_config("g", OffsetReset::Earliest))?;
    consumer.assign(&[tp("orders", 1)])?;
    let valid = batch(1, 10)?;
    let before = snapshot(dir)?;

    for name in [
        "missing",
        "",
        "../orders",
        "orders-0",
        "Orders",
        "page_views",
    ] {
        let unknown = |e: &Error| matches!(e, Error::UnknownTopic { topic } if topic == name);
        let check = |what: &str, r: Result<(), Error>| match r {
            Err(e) if unknown(&e) => {}
            other => panic!("{what}({name:?}): expected UnknownTopic, got {other:?}"),
        };
        check("log", store.log(name, 0).map(drop));
        check("describe_topic", store.describe_topic(name).map(drop));
        check("partition_count", store.partition_count(name).map(drop));
        check("delete_topic", store.delete_topic(name));
        check("add_partitions", store.add_partitions(name, 5));
        check(
            "append_batch",
            store
                .append_batch(name, 0, &valid, Validation::Deep)
                .map(drop),
        );
        check(
            "send",
            producer
                .send(ProducerRecord::new(name, b"k", b"v"))
                .map(drop),
        );
        check(
            "send to a partition",
            producer
                .send(ProducerRecord::unkeyed(name, b"v").with_partition(0))
                .map(drop),
        );
        check("subscribe", consumer.subscribe(&["orders", name]));
        check("assign", consumer.assign(&[tp("orders", 0), tp(name, 0)]));
        check(
            "commit_offsets",
            consumer.commit_offsets(&[(tp("orders", 0), 1), (tp(name, 0), 1)]),
        );
        assert!(!store.has_topic(name));
        // A failed assignment changes nothing.
        assert_eq!(consumer.assignment(), vec![tp("orders", 1)]);
    }
    assert_eq!(producer.pending_records(), 0);
    assert_eq!(consumer.committed(&tp("orders", 0))?, None);
    assert_unchanged(dir, &before, "unknown topics")?;

    // The producer and the consumer work on: the next record takes the next offset.
    let receipt = producer.send(ProducerRecord::unkeyed("orders", b"next").with_partition(1))?;
    producer.flush()?;
    assert_eq!(receipt.wait()?.offset, 10);
    store.close()?;
    Ok(())
}

#[test]
fn unknown_partitions_are_typed_errors_and_change_nothing() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let store = fixture(dir)?;
    let mut producer = store.producer(ProducerConfig::default())?;
    let mut consumer = Consumer::new(&store, group_config("g", OffsetReset::Earliest))?;
    consumer.assign(&[tp("orders", 2)])?;
    let valid = batch(1, 10)?;
    let before = snapshot(dir)?;

    for partition in [-1, -2, i32::MIN, 3, 4, 1000, i32::MAX] {
        let check = |what: &str, r: Result<(), Error>| match r {
            Err(Error::UnknownPartition {
                topic,
                partition: p,
                partitions: 3,
            }) if topic == "orders" && p == partition => {}
            other => panic!("{what}(orders-{partition}): expected UnknownPartition, got {other:?}"),
        };
        check("log", store.log("orders", partition).map(drop));
        check(
            "append_batch",
            store
                .append_batch("orders", partition, &valid, Validation::Deep)
                .map(drop),
        );
        for record in [
            ProducerRecord::unkeyed("orders", b"v"),
            ProducerRecord::new("orders", b"k", b"v"),
        ] {
            check(
                "send",
                producer.send(record.with_partition(partition)).map(drop),
            );
        }
        check(
            "assign",
            consumer.assign(&[tp("orders", 0), tp("orders", partition)]),
        );
        check(
            "commit_offsets",
            consumer.commit_offsets(&[(tp("orders", 0), 1), (tp("orders", partition), 1)]),
        );
        assert_eq!(consumer.assignment(), vec![tp("orders", 2)]);
    }
    // A negative offset is refused as well, before anything is written.
    assert!(matches!(
        consumer.commit_offsets(&[(tp("orders", 0), -1)]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        consumer.seek(&tp("orders", 2), -1),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(store.partition_count("orders")?, 3);
    assert_eq!(producer.pending_records(), 0);
    assert_eq!(consumer.committed(&tp("orders", 0))?, None);
    assert_unchanged(dir, &before, "unknown partitions")?;
    assert!(
        !dir.join("__consumer_offsets-0").exists(),
        "no offsets topic was created"
    );

    let receipt = producer.send(ProducerRecord::unkeyed("orders", b"next").with_partition(2))?;
    producer.flush()?;
    assert_eq!(receipt.wait()?.offset, 10);
    store.close()?;
    Ok(())
}

#[test]
fn partition_counts_of_zero_are_refused_and_change_nothing() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let store = fixture(dir)?;
    let topics = store.list_topics();
    let before = snapshot(dir)?;

    for partitions in [0, MAX_PARTITIONS + 1, u32::MAX] {
        assert!(
            matches!(
                store.create_topic("fresh", partitions, TopicConfig::default()),
                Err(Error::InvalidArgument(_))
            ),
            "create_topic with {partitions} partitions"
        );
    }
    for partitions in [0, 1, 2, 3, MAX_PARTITIONS + 1, u32::MAX] {
        assert!(
            matches!(
                store.add_partitions("orders", partitions),
                Err(Error::InvalidArgument(_))
            ),
            "add_partitions to {partitions}"
        );
    }
    // An offsets topic of no partitions: refused before the directory is touched (it is
    // locked, so a later check would say Locked instead).
    let config = StoreConfig {
        offsets_topic_num_partitions: 0,
        ..Default::default()
    };
    assert!(matches!(
        Store::open(dir, config),
        Err(Error::InvalidConfig {
            key: "offsets.topic.num.partitions",
            ..
        })
    ));
    assert!(!store.has_topic("fresh"));
    assert_eq!(store.list_topics(), topics);
    assert_eq!(store.partition_count("orders")?, 3);
    assert_unchanged(dir, &before, "partition counts of zero")?;
    store.close()?;
    Ok(())
}

/// The child of the cross-process lock test: a no-op unless [`CHILD_ENV`] is set, then it
/// opens the store named there and reports the outcome on stdout.
#[test]
fn child_opens_the_store() -> TestResult {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return Ok(());
    };
    let outcome = match Store::open(&dir, StoreConfig::default()) {
        Ok(store) => {
            // Closed at once, so the parent's assertions see what this open did.
            let closed = store.close();
            format!("opened (close: {closed:?})")
        }
        Err(Error::Locked { path }) => format!("locked {}", path.display()),
        Err(e) => format!("error {e}"),
    };
    // On a line of its own: the harness may have printed the test's name without a newline.
    println!("\n{OUTCOME}{outcome}");
    Ok(())
}

/// Runs this test binary again as [`CHILD_TEST`] on `dir` and returns what it reported.
fn open_in_another_process(dir: &Path) -> TestResult<String> {
    let output = Command::new(std::env::current_exe()?)
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once(OUTCOME).map(|(_, outcome)| outcome))
        .ok_or_else(|| {
            format!(
                "the child reported nothing ({}): {stdout} {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    Ok(line.to_string())
}

#[test]
fn a_second_open_is_locked_from_this_process_and_another_and_changes_nothing() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let store = fixture(dir)?;
    let before = snapshot(dir)?;

    let lock = dir.join(".lock");
    for _ in 0..3 {
        match Store::open(dir, StoreConfig::default()) {
            Err(Error::Locked { path }) => assert_eq!(path, lock),
            other => panic!("a second open in this process: {:?}", other.map(drop)),
        }
    }
    // The same directory under another spelling is the same lock.
    match Store::open(dir.join("."), StoreConfig::default()) {
        Err(Error::Locked { .. }) => {}
        other => panic!("a second open by another path: {:?}", other.map(drop)),
    }
    let link = tempfile::tempdir()?;
    let linked = link.path().join("store");
    std::os::unix::fs::symlink(dir, &linked)?;
    match Store::open(&linked, StoreConfig::default()) {
        Err(Error::Locked { .. }) => {}
        other => panic!("a second open through a symlink: {:?}", other.map(drop)),
    }
    let outcome = open_in_another_process(dir)?;
    assert_eq!(
        outcome,
        format!("locked {}", lock.display()),
        "another process"
    );
    assert_unchanged(dir, &before, "second opens")?;

    // The holder works on (and the snapshot sees its write), and once it closes the other
    // process opens.
    store.log("orders", 0)?.append(
        &[Record::new(1, b"still mine".to_vec())],
        &AppendOptions::default(),
    )?;
    assert_ne!(snapshot(dir)?, before, "an append shows in a snapshot");
    store.close()?;
    drop(store);
    let outcome = open_in_another_process(dir)?;
    assert!(outcome.starts_with("opened (close: Ok"), "{outcome}");
    Ok(())
}

/// Kafka's JVM locks `.lock` with `FileChannel.tryLock`, a process-associated `fcntl`
/// lock: a store must not open beside a live broker either.
#[test]
fn a_lock_held_as_a_kafka_broker_holds_it_makes_open_locked_and_changes_nothing() -> TestResult {
    use rustix::fs::{fcntl_lock, FlockOperation};
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    fixture(dir)?.close()?;
    let lock = dir.join(".lock");
    // Taken before the lock: this process closing any descriptor of the file (as reading
    // it does) drops its fcntl lock. For the same reason the open is tried once only: a
    // failed open closes the descriptor it opened.
    let before = snapshot(dir)?;
    let broker = std::fs::OpenOptions::new().write(true).open(&lock)?;
    fcntl_lock(&broker, FlockOperation::NonBlockingLockExclusive)?;
    match Store::open(dir, StoreConfig::default()) {
        Err(Error::Locked { path }) => assert_eq!(path, lock),
        other => panic!("an open beside a broker's lock: {:?}", other.map(drop)),
    }
    drop(broker);
    assert_unchanged(dir, &before, "an open beside a broker's lock")?;
    let store = Store::open(dir, StoreConfig::default())?;
    assert_eq!(store.log("orders", 0)?.end_offset(), 10);
    store.close()?;
    Ok(())
}

#[test]
fn records_too_large_are_refused_and_change_nothing() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let store = fixture(dir)?;
    let mut producer = store.producer(ProducerConfig::default())?;
    let mut strict = store.producer(ProducerConfig {
        max_request_size: 512,
        ..Default::default()
    })?;
    let small = store.log("small", 0)?;
    let orders = store.log("orders", 0)?;
    let (small_end, orders_end) = (small.end_offset(), orders.end_offset());
    let before = snapshot(dir)?;

    let too_large = |r: Result<(), Error>, max: usize, what: &str| match r {
        Err(Error::RecordTooLarge { size, max: m }) if m == max && size > max => {}
        other => panic!("{what}: expected RecordTooLarge (max {max}), got {other:?}"),
    };
    let big = vec![b'x'; 2000];
    // The topic's max.message.bytes, through the producer: keyed, unkeyed, pinned, with
    // headers (a small value with a large header).
    too_large(
        producer
            .send(ProducerRecord::new("small", b"k", &big))
            .map(drop),
        1024,
        "producer, keyed",
    );
    too_large(
        producer
            .send(ProducerRecord::unkeyed("small", &big).with_partition(0))
            .map(drop),
        1024,
        "producer, pinned",
    );
    too_large(
        producer
            .send(ProducerRecord::unkeyed("small", b"v").with_header("h", big.clone()))
            .map(drop),
        1024,
        "producer, a large header",
    );
    let mut receipts = Vec::new();
    too_large(
        producer.send_all([ProducerRecord::unkeyed("small", &big)], &mut receipts),
        1024,
        "producer, send_all",
    );
    assert!(receipts.is_empty());
    // The producer's max.request.size, on a topic that would take the record.
    too_large(
        strict
            .send(ProducerRecord::unkeyed("orders", &big[..600]).with_partition(0))
            .map(drop),
        512,
        "producer, max.request.size",
    );
    // Log::append: one large record, and many small ones that are too large together.
    too_large(
        small
            .append(&[Record::new(1, big.clone())], &AppendOptions::default())
            .map(drop),
        1024,
        "Log::append",
    );
    let many: Vec<Record> = (0..40).map(|i| Record::new(i, vec![b'y'; 40])).collect();
    too_large(
        small.append(&many, &AppendOptions::default()).map(drop),
        1024,
        "Log::append, many records",
    );
    too_large(
        store
            .append_batch("small", 0, &batch(1, 2000)?, Validation::Deep)
            .map(drop),
        1024,
        "Store::append_batch",
    );
    too_large(
        small
            .append_batch(&batch(30, 40)?, Validation::Shallow)
            .map(drop),
        1024,
        "Log::append_batch",
    );
    assert_eq!(producer.pending_records(), 0);
    assert_eq!(strict.pending_records(), 0);
    assert_eq!(
        (small.end_offset(), orders.end_offset()),
        (small_end, orders_end)
    );
    assert_unchanged(dir, &before, "records too large")?;

    // What fits goes in at the next offsets.
    let receipt = producer.send(ProducerRecord::new("small", b"k", &big[..500]))?;
    let pinned = strict.send(ProducerRecord::unkeyed("orders", &big[..100]).with_partition(0))?;
    producer.flush()?;
    strict.flush()?;
    assert_eq!(receipt.wait()?.offset, small_end);
    assert_eq!(pinned.wait()?.offset, orders_end);
    store.close()?;
    Ok(())
}

#[test]
fn a_committed_offset_past_the_log_end_resets_or_errors_and_changes_nothing() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let store = fixture(dir)?;
    // Commits past the log end (10) of orders-0 and orders-1, as a crash that took back a
    // tail would leave them.
    let (o0, o1) = (tp("orders", 0), tp("orders", 1));
    let mut committer = Consumer::new(&store, group_config("ahead", OffsetReset::None))?;
    committer.commit_offsets(&[(o0.clone(), 100), (o1.clone(), 10_000)])?;
    let before = snapshot(dir)?;

    // earliest: back to the log start, every record once.
    let mut earliest = Consumer::new(&store, group_config("ahead", OffsetReset::Earliest))?;
    earliest.assign(&[o0.clone(), o1.clone()])?;
    assert_eq!(
        earliest.position(&o0)?,
        100,
        "the committed offset, until a poll"
    );
    let mut got: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for _ in 0..5 {
        for r in earliest.poll(Duration::from_millis(20))? {
            let want = format!("order {} on {}", r.offset(), r.partition());
            assert_eq!(r.value(), Some(want.as_bytes()));
            got.entry(r.partition()).or_default().push(r.offset());
        }
    }
    let all: Vec<i64> = (0..10).collect();
    assert_eq!(got, BTreeMap::from([(0, all.clone()), (1, all)]));
    assert_eq!((earliest.position(&o0)?, earliest.position(&o1)?), (10, 10));

    // latest: to the log end, nothing delivered.
    let mut latest = Consumer::new(&store, group_config("ahead", OffsetReset::Latest))?;
    latest.assign(&[o0.clone(), o1.clone()])?;
    assert!(latest.poll(Duration::from_millis(50))?.is_empty());
    assert_eq!((latest.position(&o0)?, latest.position(&o1)?), (10, 10));

    // none: the poll fails, naming the position and the log's range, and keeps failing.
    for (tp, requested) in [(&o0, 100), (&o1, 10_000)] {
        let mut none = Consumer::new(&store, group_config("ahead", OffsetReset::None))?;
        none.assign(std::slice::from_ref(tp))?;
        for _ in 0..2 {
            match none.poll(Duration::from_millis(20)) {
                Err(Error::OffsetOutOfRange {
                    requested: r,
                    log_start: 0,
                    log_end: 10,
                }) if r == requested => {}
                other => panic!("{tp} with none: {:?}", other.map(|v| v.len())),
            }
        }
        assert_eq!(none.position(tp)?, requested);
    }
    // No group commit was written by any of it.
    let mut check = Consumer::new(&store, group_config("ahead", OffsetReset::None))?;
    assert_eq!(check.committed(&o0)?, Some(100));
    assert_eq!(check.committed(&o1)?, Some(10_000));
    for c in [earliest, latest] {
        c.close()?;
    }
    assert_unchanged(dir, &before, "committed offsets past the log end")?;
    store.close()?;
    Ok(())
}
