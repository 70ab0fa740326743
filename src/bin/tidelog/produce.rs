//! `tidelog produce`: one record per line of standard input, as Kafka's console producer.
//!
//! The topic is created if missing (with `--partitions` and `--config`); an existing topic
//! keeps its settings, with a note on stderr if they differ from the options given. Records
//! go through a [`Producer`]: keyed records to `murmur2(key) % partitions` as Kafka's Java
//! client, unkeyed ones to a sticky partition, unless `--partition` names one. Batches hold
//! up to `--batch-size` records; a batch is also appended as soon as standard input goes
//! quiet, so an interactive session sees its lines appended at once. With `--sync` each batch
//! is fsynced before the next line is read. At end of input everything is appended and the
//! store is closed cleanly.

use std::io::{BufRead, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use tidelog::log::Durability;
use tidelog::store::{Producer, ProducerConfig, ProducerRecord, Store};

use crate::args::ProduceArgs;
use crate::store_open::{open_or_create, with_store};
use crate::topics::{config_text, topic_config};
use crate::CliError;

/// How long standard input may stay quiet before the pending batch is appended.
const IDLE_FLUSH: Duration = Duration::from_millis(50);
/// Lines read ahead of the producer.
const READ_AHEAD: usize = 4096;

pub fn run(args: &ProduceArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let config = topic_config(&args.configs)?;
    if args.key_separator.as_deref() == Some("") {
        return Err(CliError::usage("--key-separator must not be empty"));
    }
    let store = open_or_create(&args.dir)?;
    with_store(store, |store| {
        ensure_topic(store, &args.topic, args.partitions, config)?;
        produce(store, args, out)
    })
}

/// Creates the topic if missing; notes on stderr where an existing one differs from what
/// was asked.
pub fn ensure_topic(
    store: &Store,
    topic: &str,
    partitions: Option<u32>,
    config: tidelog::config::TopicConfig,
) -> Result<(), CliError> {
    if !store.has_topic(topic) {
        store.create_topic(topic, partitions.unwrap_or(1), config)?;
        return Ok(());
    }
    let d = store.describe_topic(topic)?;
    if let Some(p) = partitions.filter(|&p| p as usize != d.partitions.len()) {
        eprintln!(
            "tidelog: note: topic {topic} exists with {} partition{}; --partitions {p} is ignored",
            d.partitions.len(),
            crate::output::plural(d.partitions.len() as u64)
        );
    }
    if !config.is_empty() && config.overrides().any(|(k, v)| d.config.get(k) != Some(v)) {
        eprintln!(
            "tidelog: note: topic {topic} exists; its config ({}) is kept, not {}",
            config_text(&d.config),
            config_text(&config)
        );
    }
    Ok(())
}

fn produce(store: &Store, args: &ProduceArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if let Some(p) = args.partition {
        // Fail before reading any input if the partition does not exist.
        store.log(&args.topic, p)?;
    }
    let mut producer = Producer::new(
        store,
        ProducerConfig {
            // Batches are cut by record count (`--batch-size`) and by quiet input, below.
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
    // A reader thread, so that a quiet terminal flushes the pending batch.
    let (tx, rx) = mpsc::sync_channel::<std::io::Result<Vec<u8>>>(READ_AHEAD);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        loop {
            let mut line = Vec::new();
            match input.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => {
                    if line.ends_with(b"\n") {
                        line.pop();
                        if line.ends_with(b"\r") {
                            line.pop();
                        }
                    }
                    if tx.send(Ok(line)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    let separator = args.key_separator.as_deref().map(str::as_bytes);
    let batch = args.batch_size as usize;
    let mut pending = 0usize;
    loop {
        let line = match rx.recv_timeout(IDLE_FLUSH) {
            Ok(line) => {
                line.map_err(|e| CliError::fail(format!("cannot read standard input: {e}")))?
            }
            Err(RecvTimeoutError::Timeout) => {
                if pending > 0 {
                    producer.flush()?;
                    pending = 0;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let (key, value) = match separator.and_then(|sep| split_once(&line, sep)) {
            Some((k, v)) => (Some(k), v),
            None => (None, &line[..]),
        };
        let mut record = match key {
            Some(k) => ProducerRecord::new(&args.topic, k, value),
            None => ProducerRecord::unkeyed(&args.topic, value),
        };
        if let Some(p) = args.partition {
            record = record.with_partition(p);
        }
        producer.send(record)?;
        pending += 1;
        if pending >= batch {
            producer.flush()?;
            pending = 0;
        }
    }
    producer.close()?;
    out.flush()?;
    Ok(())
}

/// Splits at the first occurrence of `sep`.
fn split_once<'a>(line: &'a [u8], sep: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = line.windows(sep.len()).position(|w| w == sep)?;
    Some((&line[..at], &line[at + sep.len()..]))
}
