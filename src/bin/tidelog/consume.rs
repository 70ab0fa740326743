//! `tidelog consume`: print a topic's records, as Kafka's console consumer does.
//!
//! Without `--group` the partitions are read directly, starting at `--offset N` (one
//! partition), at the beginning with `--from-beginning`, or else at the end. Control records
//! (transaction markers) are skipped, as Kafka consumers skip them. Without `--follow` the
//! command exits once every partition is read to its end.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tidelog::log::Log;
use tidelog::record::RecordRef;
use tidelog::store::Store;

use crate::args::{ConsumeArgs, Format};
use crate::output::{base64, json_array, json_string, JsonObject};
use crate::store_open::{open_existing, with_store};
use crate::CliError;

/// Bytes asked of one partition per read.
const READ_BYTES: usize = 1 << 20;
/// How long `--follow` waits on a partition before looking at the others again.
const FOLLOW_WAIT: Duration = Duration::from_millis(200);

pub fn run(args: &ConsumeArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if args.group.is_some() {
        return Err(CliError::fail(
            "consume --group is not available yet: it needs the consumer's group offsets",
        ));
    }
    with_store(open_existing(&args.dir)?, |store| consume(store, args, out))
}

/// One partition being read.
struct Reader {
    partition: i32,
    log: Arc<Log>,
    position: i64,
}

fn consume(store: &Store, args: &ConsumeArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let count = store.partition_count(&args.topic)?;
    let partitions: Vec<i32> = match args.partition {
        Some(p) => vec![p],
        None => (0..count as i32).collect(),
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
                printer.print(reader.partition, &record)?;
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
        for reader in &readers {
            if reader.log.wait_for(reader.position, wait) {
                break;
            }
        }
    }
}

struct Printer<'a> {
    args: &'a ConsumeArgs,
    out: &'a mut dyn Write,
}

impl Printer<'_> {
    fn print(&mut self, partition: i32, r: &RecordRef<'_>) -> Result<(), CliError> {
        match self.args.format {
            Format::Json => {
                let headers = json_array(r.headers().iter().map(|(k, v)| {
                    let value = v.map_or("null".to_string(), |v| json_string(&base64(v)));
                    format!("[{},{value}]", json_string(&String::from_utf8_lossy(k)))
                }));
                let line = JsonObject::new()
                    .num("partition", partition)
                    .num("offset", r.offset())
                    .num("timestamp", r.timestamp())
                    .opt_str("key", r.key().map(base64).as_deref())
                    .opt_str("value", r.value().map(base64).as_deref())
                    .raw("headers", &headers)
                    .finish();
                writeln!(self.out, "{line}")?;
            }
            Format::Text => {
                if self.args.print_key {
                    self.out.write_all(r.key().unwrap_or(b"null"))?;
                    self.out.write_all(b"\t")?;
                }
                self.out.write_all(r.value().unwrap_or(b"null"))?;
                self.out.write_all(b"\n")?;
            }
        }
        Ok(())
    }
}
