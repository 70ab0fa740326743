//! A tailing consumer: one thread produces while a consumer follows the topic's end with a
//! blocking `poll`, as a consumer at the head of a partition does.
//!
//! Run with `cargo run --release --example tail`.

use std::time::{Duration, Instant};

use tidelog::config::{StoreConfig, TopicConfig};
use tidelog::consumer::{Consumer, ConsumerConfig, OffsetReset};
use tidelog::store::{ProducerConfig, ProducerRecord, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("tidelog-tail-{}", std::process::id()));
    let store = Store::open(&dir, StoreConfig::default())?;
    store.create_topic("ticks", 1, TopicConfig::default())?;

    let mut consumer = Consumer::new(
        &store,
        ConsumerConfig {
            auto_offset_reset: OffsetReset::Earliest,
            ..Default::default()
        },
    )?;
    consumer.subscribe(&["ticks"])?;

    let producer_store = store.clone();
    let producer = std::thread::spawn(move || -> tidelog::Result<()> {
        // linger 0: each record is appended by the `send` that adds it.
        let mut producer = producer_store.producer(ProducerConfig {
            linger_ms: 0,
            ..Default::default()
        })?;
        for i in 0..200u32 {
            let value = format!("tick {i}");
            producer.send(ProducerRecord::new("ticks", b"clock", value.as_bytes()))?;
            std::thread::sleep(Duration::from_micros(500));
        }
        producer.close()
    });

    let started = Instant::now();
    let mut next = 0i64;
    while next < 200 {
        // Blocks until records arrive (or the timeout passes).
        let records = consumer.poll(Duration::from_secs(5))?;
        if records.is_empty() {
            return Err("no data for 5 s".into());
        }
        for record in records {
            assert_eq!(record.offset(), next, "every offset once, in order");
            next += 1;
        }
    }
    producer.join().map_err(|_| "producer panicked")??;
    println!(
        "followed {next} records as they were produced, in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    drop(consumer);
    store.close()?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
