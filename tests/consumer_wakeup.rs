//! A poll over several partitions blocks on all of them at once: an append to any assigned
//! partition wakes it long before its timeout (it used to look at one partition at a time),
//! records appended to other topics of the store do not end it early, and closing the store
//! ends a blocked poll.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tidelog::config::{StoreConfig, TopicConfig};
use tidelog::consumer::{Consumer, ConsumerConfig, OffsetReset, TopicPartition};
use tidelog::log::AppendOptions;
use tidelog::record::Record;
use tidelog::store::Store;
use tidelog::Error;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Far longer than any wake-up may take; a poll that runs into it failed the test.
const TIMEOUT: Duration = Duration::from_secs(60);

fn tailing_consumer(store: &Store, topic: &str, partitions: i32) -> TestResult<Consumer> {
    let mut c = Consumer::new(
        store,
        ConsumerConfig {
            auto_offset_reset: OffsetReset::Latest,
            enable_auto_commit: false,
            ..ConsumerConfig::default()
        },
    )?;
    let tps: Vec<_> = (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    c.assign(&tps)?;
    for tp in &tps {
        c.position(tp)?; // resolve "latest" now, before anything is appended
    }
    Ok(c)
}

#[test]
fn an_append_to_any_of_four_partitions_wakes_the_poll() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("t", 4, TopicConfig::default())?;
    store.create_topic("other", 1, TopicConfig::default())?;
    let mut consumer = tailing_consumer(&store, "t", 4)?;
    for partition in [3, 0, 2, 1] {
        let appender = {
            let store = store.clone();
            thread::spawn(move || -> TestResult {
                thread::sleep(Duration::from_millis(30));
                // Another topic's append wakes the poll, which finds nothing and waits on.
                store
                    .log("other", 0)?
                    .append(&[Record::new(0, b"x".to_vec())], &AppendOptions::default())?;
                thread::sleep(Duration::from_millis(30));
                let log = store.log("t", partition)?;
                log.append(
                    &[Record::new(0, vec![partition as u8])],
                    &AppendOptions::default(),
                )?;
                Ok(())
            })
        };
        let started = Instant::now();
        let got = consumer.poll(TIMEOUT)?;
        let waited = started.elapsed();
        appender.join().map_err(|_| "the appender panicked")??;
        assert_eq!(got.len(), 1, "partition {partition}");
        assert_eq!(got[0].partition(), partition);
        assert_eq!(got[0].value(), Some(&[partition as u8][..]));
        assert!(
            waited < TIMEOUT / 2,
            "partition {partition}: woke after {waited:?}"
        );
    }
    store.close()?;
    Ok(())
}

#[test]
fn a_poll_with_nothing_to_read_waits_out_its_timeout() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("t", 4, TopicConfig::default())?;
    let mut consumer = tailing_consumer(&store, "t", 4)?;
    let started = Instant::now();
    assert!(consumer.poll(Duration::from_millis(50))?.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(50));
    store.close()?;
    Ok(())
}

#[test]
fn closing_the_store_ends_a_blocked_poll() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("t", 4, TopicConfig::default())?;
    let mut consumer = tailing_consumer(&store, "t", 4)?;
    let closer = {
        let store = store.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            store.close()
        })
    };
    let started = Instant::now();
    let result = consumer.poll(TIMEOUT);
    assert!(matches!(result, Err(Error::Closed)), "{result:?}");
    assert!(started.elapsed() < TIMEOUT / 2);
    closer.join().map_err(|_| "the closer panicked")??;
    Ok(())
}

#[test]
fn the_store_signal_moves_with_every_append() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("t", 2, TopicConfig::default())?;
    let signal = store.append_signal();
    let seen = signal.seq();
    store
        .log("t", 1)?
        .append(&[Record::new(0, b"x".to_vec())], &AppendOptions::default())?;
    assert!(signal.seq() > seen);
    assert!(Arc::clone(&signal).wait_past(seen, Duration::ZERO));
    store.close()?;
    Ok(())
}
