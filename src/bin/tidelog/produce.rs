//! `tidelog produce`: one record per line of standard input, as Kafka's console producer.
//!
//! The topic is created if missing (with `--partitions` and `--config`); an existing topic
//! keeps its settings, with a note on stderr if they differ from the options given. Records
//! go through a [`Producer`]: keyed records to `murmur2(key) % partitions` as Kafka's Java
//! client, unkeyed ones to a sticky partition, unless `--partition` names one. Batches hold
//! up to `--batch-size` records; a batch is also appended as soon as standard input goes
//! quiet, so an interactive session sees its lines appended at once. With `--sync` each batch
//! is fsynced before the next line is read: lines are then read one at a time, each only
//! after the flush of the batch before it returned (without it, a thread reads ahead). At
//! end of input everything is appended and the store is closed cleanly.

use std::io::{BufRead, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
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
    produce_from(store, args, || std::io::stdin().lock(), out)
}

/// Produces the lines of the input `open_input` opens (on the reader thread).
fn produce_from<R: BufRead>(
    store: &Store,
    args: &ProduceArgs,
    open_input: impl FnOnce() -> R + Send + 'static,
    out: &mut dyn Write,
) -> Result<(), CliError> {
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
    // `--sync` reads a line only once the batch before it is durable.
    let mut lines = Lines::spawn(open_input, args.sync);
    let separator = args.key_separator.as_deref().map(str::as_bytes);
    let batch = args.batch_size as usize;
    let mut pending = 0usize;
    loop {
        let line = match lines.next(IDLE_FLUSH)? {
            Next::Line(line) => line,
            Next::Quiet => {
                if pending > 0 {
                    producer.flush()?;
                    pending = 0;
                }
                continue;
            }
            Next::End => break,
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

/// What [`Lines::next`] found.
enum Next {
    /// A line, without its `\n` (or `\r\n`).
    Line(Vec<u8>),
    /// No line within the timeout: the input is quiet.
    Quiet,
    /// The input ended.
    End,
}

/// The input's lines, read on a thread of their own so that quiet input can be noticed (a
/// blocking read cannot time out) and the pending batch appended meanwhile.
///
/// By default the thread reads up to [`READ_AHEAD`] lines ahead of the producer. On demand
/// (`--sync`) it reads a line only when [`next`](Self::next) asks for one, and the producer
/// asks only after the flush of a full batch returned, so such a batch is durable before
/// the next line is read. A batch cut because the input went quiet is flushed while the
/// reader waits for the line it was asked for: a line arriving meanwhile is taken only
/// after that flush returned.
struct Lines {
    lines: Receiver<std::io::Result<Vec<u8>>>,
    /// On demand: one message per line wanted.
    demand: Option<SyncSender<()>>,
    /// On demand: a line was asked for and has not come yet.
    asked: bool,
}

impl Lines {
    /// Starts the reader thread on the input `open_input` opens there.
    fn spawn<R: BufRead>(
        open_input: impl FnOnce() -> R + Send + 'static,
        on_demand: bool,
    ) -> Lines {
        let (tx, lines) = mpsc::sync_channel(if on_demand { 1 } else { READ_AHEAD });
        let (demand, wanted) = if on_demand {
            let (demand, wanted) = mpsc::sync_channel::<()>(1);
            (Some(demand), Some(wanted))
        } else {
            (None, None)
        };
        std::thread::spawn(move || {
            let mut input = open_input();
            loop {
                if let Some(wanted) = &wanted {
                    if wanted.recv().is_err() {
                        return;
                    }
                }
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
        Lines {
            lines,
            demand,
            asked: false,
        }
    }

    /// The next line, or [`Next::Quiet`] if none comes within `timeout`.
    fn next(&mut self, timeout: Duration) -> Result<Next, CliError> {
        if let Some(demand) = &self.demand {
            // At most one line is ever asked for, so the channel of one never blocks; a
            // reader that is gone has ended, as `recv` says below.
            if !self.asked {
                let _ = demand.try_send(());
                self.asked = true;
            }
        }
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.asked = false;
                let line =
                    line.map_err(|e| CliError::fail(format!("cannot read standard input: {e}")))?;
                Ok(Next::Line(line))
            }
            Err(RecvTimeoutError::Timeout) => Ok(Next::Quiet),
            Err(RecvTimeoutError::Disconnected) => Ok(Next::End),
        }
    }
}

/// Splits at the first occurrence of `sep`.
fn split_once<'a>(line: &'a [u8], sep: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = line.windows(sep.len()).position(|w| w == sep)?;
    Some((&line[..at], &line[at + sep.len()..]))
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::io::{BufReader, Read};
    use std::sync::{Arc, Mutex};

    use clap::Parser;
    use tidelog::config::{StoreConfig, TopicConfig};
    use tidelog::log::Log;

    use super::*;
    use crate::args::{Cli, Command};

    /// Input that hands out one line per read and notes, at each read, how many lines it
    /// had handed out and the durable offset of the partition they go to.
    struct Recorder {
        lines: VecDeque<Vec<u8>>,
        given: i64,
        log: Arc<Log>,
        reads: Arc<Mutex<Vec<(i64, i64)>>>,
    }

    impl Read for Recorder {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if let Ok(mut reads) = self.reads.lock() {
                reads.push((self.given, self.log.durable_offset()));
            }
            let Some(line) = self.lines.pop_front() else {
                return Ok(0);
            };
            let n = line.len().min(buf.len());
            buf[..n].copy_from_slice(&line[..n]);
            self.given += 1;
            Ok(n)
        }
    }

    fn produce_args(argv: &[&str]) -> Result<ProduceArgs, Box<dyn std::error::Error>> {
        match Cli::try_parse_from(argv)?.command {
            Command::Produce(args) => Ok(args),
            other => Err(format!("parsed {other:?}").into()),
        }
    }

    /// Runs `produce --sync --batch-size <batch>` over 10 recorded lines; returns, for each
    /// read of the input, the lines given before it and the durable offset then.
    fn sync_reads(batch: &str) -> Result<Vec<(i64, i64)>, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path(), StoreConfig::default())?;
        store.create_topic("t", 1, TopicConfig::default())?;
        let args = produce_args(&[
            "tidelog",
            "produce",
            "--dir",
            "unused",
            "--topic",
            "t",
            "--sync",
            "--batch-size",
            batch,
        ])?;
        let reads = Arc::new(Mutex::new(Vec::new()));
        let input = Recorder {
            lines: (0..10)
                .map(|i| format!("line {i}\n").into_bytes())
                .collect(),
            given: 0,
            log: store.log("t", 0)?,
            reads: Arc::clone(&reads),
        };
        produce_from(
            &store,
            &args,
            move || BufReader::new(input),
            &mut Vec::new(),
        )
        .map_err(|e| e.to_string())?;
        assert_eq!(store.log("t", 0)?.end_offset(), 10);
        store.close()?;
        let reads = reads.lock().map_err(|e| e.to_string())?.clone();
        Ok(reads)
    }

    #[test]
    fn sync_reads_no_line_before_the_full_batch_before_it_is_durable(
    ) -> Result<(), Box<dyn std::error::Error>> {
        for (batch, size) in [("1", 1i64), ("3", 3)] {
            let reads = sync_reads(batch)?;
            // Ten lines and the end of the input.
            assert_eq!(reads.len(), 11, "{reads:?}");
            for &(given, durable) in &reads {
                let whole_batches = given - given % size;
                assert!(
                    durable >= whole_batches,
                    "--batch-size {batch}: line {given} read with offset {durable} durable: {reads:?}"
                );
            }
        }
        Ok(())
    }
}
