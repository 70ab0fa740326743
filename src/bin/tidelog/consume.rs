//! `tidelog consume`: print a topic's records, as Kafka's console consumer does.
//!
//! Without `--group` the partitions are read through the read-only open (no lock: an
//! application may be writing the store meanwhile; `--follow` polls for its appends), starting at `--offset N` (one
//! partition), at the beginning with `--from-beginning`, or else at the end. With `--group`
//! a [`Consumer`] of that group starts at its committed offsets (else where
//! `--from-beginning` says, as Kafka's `auto.offset.reset`) and commits the offsets of the
//! records printed, after they are written out: at-least-once. Control records (transaction
//! markers) are skipped, as Kafka consumers skip them. Without `--follow` the command exits
//! once every partition is read to its end.
//!
//! A bad batch ends the command with exit code 1 wherever the library can tell it from the
//! writer's append in flight (see `ReadOnlyStore`): in a segment that is not the last, before
//! valid data, below the recovery point, or after a clean shutdown.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tidelog::consumer::{Consumer, ConsumerConfig, OffsetReset, TopicPartition};
use tidelog::log::Log;
use tidelog::store::{ReadOnlyStore, Store};

use crate::args::{ConsumeArgs, Format};
use crate::output::{base64, json_array, json_string, JsonObject};
use crate::store_open::{open_existing, open_read_only, with_store};
use crate::CliError;

/// Bytes asked of one partition per read.
const READ_BYTES: usize = 1 << 20;
/// How long `--follow` waits on a partition before looking at the others again.
const FOLLOW_WAIT: Duration = Duration::from_millis(200);

pub fn run(args: &ConsumeArgs, out: &mut dyn Write) -> Result<(), CliError> {
    match &args.group {
        Some(group) => with_store(open_existing(&args.dir)?, |store| {
            consume_group(store, group, args, out)
        }),
        None => consume(&open_read_only(&args.dir)?, args, out),
    }
}

/// One partition being read.
struct Reader {
    partition: i32,
    log: Arc<Log>,
    position: i64,
}

fn consume(store: &ReadOnlyStore, args: &ConsumeArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let partitions: Vec<i32> = match args.partition {
        Some(p) => vec![p],
        // Partitions without a directory (Kafka's `__consumer_offsets` in a log dir that
        // holds only some of them) have nothing to read.
        None => store
            .describe_topic(&args.topic)?
            .partitions
            .iter()
            .filter(|p| p.stats.is_some())
            .map(|p| p.partition)
            .collect(),
    };
    let mut readers = Vec::with_capacity(partitions.len());
    for partition in partitions {
        let log = store.log(&args.topic, partition)?;
        let position = match args.offset {
            Some(offset) => {
                let (start, end) = (log.log_start_offset(), log.end_offset());
                if offset < start || offset > end {
                    return Err(CliError::fail(format!(
                        "offset {offset} is outside partition {partition}'s range [{start}, {end}]"
                    )));
                }
                offset
            }
            None if args.from_beginning => log.log_start_offset(),
            None => log.end_offset(),
        };
        readers.push(Reader {
            partition,
            log,
            position,
        });
    }
    let mut printed: u64 = 0;
    let limit = args.max_records.unwrap_or(u64::MAX);
    let mut printer = Printer { args, out };
    loop {
        let mut progressed = false;
        for reader in &mut readers {
            if printed >= limit {
                return Ok(());
            }
            let result = reader.log.read(reader.position, READ_BYTES)?;
            if result.is_empty() {
                continue;
            }
            progressed = true;
            // Control batches hold transaction markers, which consumers never see.
            let control: Vec<(i64, i64)> = result
                .batches()
                .filter(|b| b.is_control())
                .map(|b| (b.shallow_base_offset().unwrap_or(0), b.last_offset()))
                .collect();
            for record in result.records() {
                let record = record?;
                if control
                    .iter()
                    .any(|&(base, last)| (base..=last).contains(&record.offset()))
                {
                    continue;
                }
                let headers: Vec<_> = record.headers().iter().collect();
                printer.print(&View {
                    partition: reader.partition,
                    offset: record.offset(),
                    timestamp: record.timestamp(),
                    key: record.key(),
                    value: record.value(),
                    headers: &headers,
                })?;
                printed += 1;
                if printed >= limit {
                    return Ok(());
                }
            }
            reader.position = result.next_offset();
        }
        if progressed {
            continue;
        }
        if !args.follow {
            return Ok(());
        }
        printer.out.flush()?;
        // Everything is read: wait for new data, one partition at a time.
        let wait = FOLLOW_WAIT / readers.len().max(1) as u32;
        let woke = readers
            .iter()
            .any(|reader| reader.log.wait_for(reader.position, wait));
        if !woke {
            // `wait_for` refreshes quietly; refreshing here too makes corruption found in
            // what the writer left (a bad batch it fsynced or closed cleanly with) an error.
            store.refresh()?;
        }
    }
}

/// Reads with a consumer of `group`, committing what was printed.
fn consume_group(
    store: &Store,
    group: &str,
    args: &ConsumeArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut consumer = Consumer::new(
        store,
        ConsumerConfig {
            group_id: Some(group.to_string()),
            auto_offset_reset: if args.from_beginning {
                OffsetReset::Earliest
            } else {
                OffsetReset::Latest
            },
            enable_auto_commit: false,
            ..ConsumerConfig::default()
        },
    )?;
    match args.partition {
        Some(p) => consumer.assign(&[TopicPartition::new(args.topic.clone(), p)])?,
        None => consumer.subscribe(&[args.topic.as_str()])?,
    }
    let limit = args.max_records.unwrap_or(u64::MAX);
    let mut printed: u64 = 0;
    let mut printer = Printer { args, out };
    let timeout = if args.follow {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(50)
    };
    let result = loop {
        let records = match consumer.poll(timeout) {
            Ok(r) => r,
            Err(e) => break Err(e.into()),
        };
        if records.is_empty() {
            if args.follow {
                continue;
            }
            match at_end(store, &mut consumer) {
                Ok(true) => break Ok(()),
                Ok(false) => continue,
                Err(e) => break Err(e),
            }
        }
        let mut next: Vec<(TopicPartition, i64)> = Vec::new();
        let mut outcome = Ok(());
        for r in &records {
            if printed >= limit {
                break;
            }
            let headers: Vec<_> = r
                .headers()
                .iter()
                .map(|h| (h.key.as_bytes(), h.value.as_deref()))
                .collect();
            outcome = printer.print(&View {
                partition: r.partition(),
                offset: r.offset(),
                timestamp: r.timestamp(),
                key: r.key(),
                value: r.value(),
                headers: &headers,
            });
            if outcome.is_err() {
                break;
            }
            printed += 1;
            let tp = r.topic_partition();
            match next.iter_mut().find(|(t, _)| *t == tp) {
                Some(entry) => entry.1 = r.offset() + 1,
                None => next.push((tp, r.offset() + 1)),
            }
        }
        // Commit only what reached the output.
        let flushed = outcome.and_then(|()| printer.out.flush().map_err(CliError::from));
        if !next.is_empty() {
            if let Err(e) = consumer.commit_offsets(&next) {
                break Err(e.into());
            }
        }
        if let Err(e) = flushed {
            break Err(e);
        }
        if printed >= limit {
            break Ok(());
        }
    };
    consumer.close()?;
    result
}

/// True if every assigned partition's position is at its log end.
fn at_end(store: &Store, consumer: &mut Consumer) -> Result<bool, CliError> {
    for tp in consumer.assignment() {
        let end = store.log(&tp.topic, tp.partition)?.end_offset();
        if consumer.position(&tp)? < end {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One record to print, from either reading path.
struct View<'a> {
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: &'a [(&'a [u8], Option<&'a [u8]>)],
}

struct Printer<'a> {
    args: &'a ConsumeArgs,
    out: &'a mut dyn Write,
}

impl Printer<'_> {
    fn print(&mut self, r: &View<'_>) -> Result<(), CliError> {
        match self.args.format {
            Format::Json => {
                let headers = json_array(r.headers.iter().map(|(k, v)| {
                    let value = v.map_or("null".to_string(), |v| json_string(&base64(v)));
                    format!("[{},{value}]", json_string(&String::from_utf8_lossy(k)))
                }));
                let line = JsonObject::new()
                    .num("partition", r.partition)
                    .num("offset", r.offset)
                    .num("timestamp", r.timestamp)
                    .opt_str("key", r.key.map(base64).as_deref())
                    .opt_str("value", r.value.map(base64).as_deref())
                    .raw("headers", &headers)
                    .finish();
                writeln!(self.out, "{line}")?;
            }
            Format::Text => {
                if self.args.print_key {
                    self.out.write_all(r.key.unwrap_or(b"null"))?;
                    self.out.write_all(b"\t")?;
                }
                self.out.write_all(r.value.unwrap_or(b"null"))?;
                self.out.write_all(b"\n")?;
            }
        }
        Ok(())
    }
}
