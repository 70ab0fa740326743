//! Quickstart: a store with a topic of 3 partitions; keyed records produced with lz4
//! compression; consumed in a group that commits its offsets; the store reopened and the
//! group resuming where it left off.
//!
//! Run with `cargo run --release --example quickstart`. It writes under the system's temp
//! directory and removes what it wrote at the end.

use std::time::{Duration, Instant};

use tidelog::config::{StoreConfig, TopicConfig};
use tidelog::consumer::{Consumer, ConsumerConfig, OffsetReset};
use tidelog::store::{ProducerConfig, ProducerRecord, Store};
use tidelog::Compression;

fn consumer(store: &Store) -> tidelog::Result<Consumer> {
    let mut consumer = Consumer::new(
        store,
        ConsumerConfig {
            group_id: Some("billing".into()),
            auto_offset_reset: OffsetReset::Earliest,
            enable_auto_commit: false,
            ..Default::default()
        },
    )?;
    consumer.subscribe(&["orders"])?;
    Ok(consumer)
}

/// Polls until `want` records arrived; returns them per partition.
fn consume(consumer: &mut Consumer, want: usize) -> tidelog::Result<[usize; 3]> {
    let mut per_partition = [0usize; 3];
    let mut got = 0;
    while got < want {
        let records = consumer.poll(Duration::from_millis(200))?;
        if records.is_empty() {
            break;
        }
        for r in &records {
            per_partition[r.partition() as usize] += 1;
        }
        got += records.len();
    }
    Ok(per_partition)
}

fn main() -> tidelog::Result<()> {
    let dir = std::env::temp_dir().join(format!("tidelog-quickstart-{}", std::process::id()));

    // A store is a Kafka log directory: one `orders-<p>` directory per partition.
    let store = Store::open(&dir, StoreConfig::default())?;
    store.create_topic(
        "orders",
        3,
        TopicConfig::default().with("retention.ms", "604800000")?,
    )?;
    println!(
        "created topic orders with 3 partitions in {}",
        dir.display()
    );

    // Produce keyed records: the key picks the partition (Kafka's murmur2), each batch is
    // compressed once with lz4 and stored as it is.
    let started = Instant::now();
    let mut producer = store.producer(ProducerConfig {
        compression_type: Compression::Lz4,
        ..Default::default()
    })?;
    let mut last = None;
    for i in 0..100_000u32 {
        let key = format!("customer-{}", i % 97);
        let value = format!("{{\"order\":{i},\"amount\":{}}}", i * 7 % 1000);
        last = Some(producer.send(ProducerRecord::new(
            "orders",
            key.as_bytes(),
            value.as_bytes(),
        ))?);
    }
    producer.flush()?;
    if let Some(receipt) = last {
        let meta = receipt.wait()?;
        println!(
            "produced 100000 records in {:.0} ms; the last went to partition {} at offset {}",
            started.elapsed().as_secs_f64() * 1e3,
            meta.partition,
            meta.offset
        );
    }
    store.flush()?; // durable from here on

    // Consume the first half in a group and commit (into __consumer_offsets, as Kafka does).
    let mut first = consumer(&store)?;
    let seen = consume(&mut first, 50_000)?;
    first.commit()?;
    println!(
        "group billing consumed {} records (per partition {seen:?}) and committed",
        seen.iter().sum::<usize>()
    );
    drop(first);

    // Close cleanly; the reopened store scans nothing and the group resumes from its commit.
    store.close()?;
    let started = Instant::now();
    let store = Store::open(&dir, StoreConfig::default())?;
    println!(
        "reopened in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let mut resumed = consumer(&store)?;
    let rest = consume(&mut resumed, 100_000)?;
    let total_rest: usize = rest.iter().sum();
    println!("after the reopen the group resumed and read the other {total_rest} records");
    assert_eq!(seen.iter().sum::<usize>() + total_rest, 100_000);
    resumed.commit()?;
    drop(resumed);
    store.close()?;
    std::fs::remove_dir_all(&dir).map_err(|e| tidelog::Error::io("remove", &dir, e))?;
    Ok(())
}
