//! `tidelog topics list|describe|create|delete|alter` and `tidelog maintain`.

use std::io::Write;

use tidelog::config::TopicConfig;
use tidelog::store::{PartitionDescription, Store};

use crate::args::{AlterArgs, CreateArgs, DescribeArgs, DirArgs, TopicArgs};
use crate::store_open::{open_existing, open_or_create, open_read_only, with_store};
use crate::CliError;

/// Builds topic overrides from `--config` pairs; a bad key or value is bad usage.
pub fn topic_config(pairs: &[(String, String)]) -> Result<TopicConfig, CliError> {
    let mut config = TopicConfig::default();
    for (k, v) in pairs {
        config.set(k, v).map_err(|e| match e {
            tidelog::Error::InvalidConfig { reason, .. } => {
                CliError::usage(format!("--config {k}={v}: {reason}"))
            }
            e => CliError::usage(format!("--config {k}={v}: {e}")),
        })?;
    }
    Ok(config)
}

/// `key=value,key=value`, or `-` for none.
pub fn config_text(config: &TopicConfig) -> String {
    let pairs: Vec<String> = config
        .overrides()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if pairs.is_empty() {
        "-".to_string()
    } else {
        pairs.join(",")
    }
}

pub fn list(args: &DirArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let store = open_read_only(&args.dir)?;
    for name in store.list_topics() {
        writeln!(out, "{name}")?;
    }
    Ok(())
}

pub fn describe(args: &DescribeArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let store = open_read_only(&args.dir)?;
    let names = match &args.topic {
        Some(t) => vec![t.clone()],
        None => store.list_topics(),
    };
    for name in names {
        let d = store.describe_topic(&name)?;
        let id = d.id.map_or("-".to_string(), |id| id.to_string());
        print_description(&d.name, &id, &d.config, &d.partitions, out)?;
    }
    Ok(())
}

/// Kafka's `kafka-topics --describe` layout: a topic line, then one tab-indented line per
/// partition, with offsets and sizes where Kafka shows leaders and replicas.
fn print_description(
    name: &str,
    id: &str,
    config: &TopicConfig,
    partitions: &[PartitionDescription],
    out: &mut dyn Write,
) -> Result<(), CliError> {
    writeln!(
        out,
        "Topic: {name}\tTopicId: {id}\tPartitionCount: {}\tConfigs: {}",
        partitions.len(),
        config_text(config)
    )?;
    for p in partitions {
        match &p.stats {
            Some(s) => writeln!(
                out,
                "\tTopic: {}\tPartition: {}\tLogStartOffset: {}\tLogEndOffset: {}\tSize: {}\tSegments: {}",
                name, p.partition, s.log_start_offset, s.log_end_offset, s.size_bytes, s.segments
            )?,
            None => writeln!(
                out,
                "\tTopic: {name}\tPartition: {}\t(no directory yet)",
                p.partition
            )?,
        }
    }
    Ok(())
}

pub fn create(args: &CreateArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let config = topic_config(&args.configs)?;
    with_store(open_or_create(&args.dir)?, |store| {
        store.create_topic(&args.topic, args.partitions, config)?;
        writeln!(out, "Created topic {}.", args.topic)?;
        Ok(())
    })
}

pub fn delete(args: &TopicArgs, out: &mut dyn Write) -> Result<(), CliError> {
    with_store(open_existing(&args.dir)?, |store| {
        store.delete_topic(&args.topic)?;
        writeln!(out, "Deleted topic {}.", args.topic)?;
        Ok(())
    })
}

pub fn alter(args: &AlterArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if args.configs.is_empty() && args.delete_configs.is_empty() {
        return Err(CliError::usage(
            "nothing to change: give --config KEY=VALUE or --delete-config KEY",
        ));
    }
    with_store(open_existing(&args.dir)?, |store| {
        let current = store.describe_topic(&args.topic)?.config;
        // Unchanged overrides, then the additions (a later one wins), minus the deletions.
        let mut pairs: Vec<(String, String)> = current
            .overrides()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        pairs.extend(args.configs.iter().cloned());
        let mut config = topic_config(&pairs)?;
        for key in &args.delete_configs {
            config = config.without(key).map_err(|e| match e {
                tidelog::Error::InvalidConfig { reason, .. } => {
                    CliError::usage(format!("--delete-config {key}: {reason}"))
                }
                e => CliError::usage(format!("--delete-config {key}: {e}")),
            })?;
        }
        store.alter_topic_config(&args.topic, config.clone())?;
        writeln!(
            out,
            "Altered topic {}: {} (was {}).",
            args.topic,
            config_text(&config),
            config_text(&current)
        )?;
        Ok(())
    })
}

pub fn maintain(args: &DirArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let store = open_existing(&args.dir)?;
    report_recovery(&store, out)?;
    with_store(store, |store| {
        let r = store.maintain()?;
        writeln!(
            out,
            "maintenance of {}: {} partition{} flushed, {} segment{} ({} bytes) deleted by retention, \
             {} checkpoint{} written; closed cleanly",
            store.dir().display(),
            r.flushed,
            crate::output::plural(u64::from(r.flushed)),
            r.segments_deleted,
            crate::output::plural(u64::from(r.segments_deleted)),
            r.bytes_deleted,
            r.checkpoints_written,
            crate::output::plural(u64::from(r.checkpoints_written)),
        )?;
        Ok(())
    })
}

/// What the open had to recover, one line per partition that needed it.
fn report_recovery(store: &Store, out: &mut dyn Write) -> Result<(), CliError> {
    for topic in store.list_topics() {
        let d = store.describe_topic(&topic)?;
        for p in d.partitions.iter().filter(|p| p.stats.is_some()) {
            let p = p.partition;
            let log = store.log(&topic, p)?;
            let r = log.recovery_report();
            if r.clean || (r.cuts.is_empty() && r.indexes_rebuilt == 0 && r.files_removed == 0) {
                continue;
            }
            writeln!(
                out,
                "{topic}-{p}: recovered: {} segment{} scanned, {} index{} rebuilt, {} leftover file{} removed",
                r.segments_scanned,
                crate::output::plural(u64::from(r.segments_scanned)),
                r.indexes_rebuilt,
                if r.indexes_rebuilt == 1 { "" } else { "es" },
                r.files_removed,
                crate::output::plural(u64::from(r.files_removed)),
            )?;
            for cut in &r.cuts {
                writeln!(
                    out,
                    "{topic}-{p}: cut {} bytes of {} at position {} (offset {} on): {}",
                    cut.bytes,
                    cut.segment.display(),
                    cut.position,
                    cut.offset,
                    cut.reason
                )?;
            }
        }
    }
    Ok(())
}
