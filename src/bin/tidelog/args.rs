//! The command surface, as clap derives it. Scripts rely on these names: change them only
//! with a CHANGELOG entry.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// tidelog: inspect, check and use a Kafka-compatible log directory.
#[derive(Debug, Parser)]
#[command(
    name = "tidelog",
    version,
    propagate_version = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the batches, records and index entries of segment files, in the layout of
    /// Kafka's kafka-dump-log (exit 1 if anything is corrupt).
    Dump(DumpArgs),
    /// Check a whole store read-only: every batch's CRC and records, indexes against the log,
    /// checkpoints and metadata (exit 1 on corruption, a bad index or a bad checkpoint).
    Verify(VerifyArgs),
    /// List, describe, create or delete topics.
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Append one record per line of standard input to a topic.
    Produce(ProduceArgs),
    /// Print a topic's records.
    Consume(ConsumeArgs),
    /// Run one pass of the store's maintenance (flush, retention, checkpoints) and close it
    /// cleanly.
    Maintain(DirArgs),
    /// Measure throughput and latency, like kafka-producer-perf-test and
    /// kafka-consumer-perf-test.
    #[command(subcommand)]
    Perf(PerfCommand),
}

/// `tidelog dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// Also print each record: offset, timestamp, key and value sizes, header keys, key and
    /// payload (as UTF-8, control characters escaped).
    #[arg(long)]
    pub print_data: bool,
    /// Also print and check the `.index` and `.timeindex` of each segment dumped.
    #[arg(long)]
    pub index: bool,
    /// One JSON object per line (per batch, per index entry) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Segment files (`.log`, `.index`, `.timeindex`) or partition directories.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// `tidelog verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The store (Kafka log directory) to check; nothing in it is modified.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}

/// Commands that need only the store directory.
#[derive(Debug, Args)]
pub struct DirArgs {
    /// The store (Kafka log directory).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}

/// `tidelog topics ...`.
#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Print the topic names, one per line.
    List(DirArgs),
    /// Print a topic's (or every topic's) partitions, offsets, sizes and config.
    Describe(DescribeArgs),
    /// Create a topic.
    Create(CreateArgs),
    /// Delete a topic and its data.
    Delete(TopicArgs),
    /// Change a topic's config overrides (as `kafka-configs --alter`): `--config` adds or
    /// changes one, `--delete-config` removes one (the store's default applies again).
    Alter(AlterArgs),
}

/// `tidelog topics alter`.
#[derive(Debug, Args)]
pub struct AlterArgs {
    /// The store (Kafka log directory).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The topic's name.
    #[arg(long, value_name = "T")]
    pub topic: String,
    /// A topic config to add or change, by Kafka's dotted key or its snake_case alias;
    /// repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub configs: Vec<(String, String)>,
    /// A topic config to remove, by Kafka's dotted key or its snake_case alias; repeatable.
    #[arg(long = "delete-config", value_name = "KEY")]
    pub delete_configs: Vec<String>,
}

/// `tidelog topics describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The store (Kafka log directory).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The topic; every topic if omitted.
    #[arg(long, value_name = "T")]
    pub topic: Option<String>,
}

/// `tidelog topics create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The store (Kafka log directory); created if missing.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The topic's name.
    #[arg(long, value_name = "T")]
    pub topic: String,
    /// Number of partitions.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub partitions: u32,
    /// A topic config, by Kafka's dotted key (`segment.bytes=1048576`) or its snake_case
    /// alias (`segment_bytes=1048576`); repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub configs: Vec<(String, String)>,
}

/// A command on one topic.
#[derive(Debug, Args)]
pub struct TopicArgs {
    /// The store (Kafka log directory).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The topic's name.
    #[arg(long, value_name = "T")]
    pub topic: String,
}

/// Codecs by Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Codec {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy (xerial framing, as Kafka's Java client).
    Snappy,
    /// LZ4 frames.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Codec {
    /// The library's codec.
    pub fn compression(self) -> tidelog::Compression {
        match self {
            Codec::None => tidelog::Compression::None,
            Codec::Gzip => tidelog::Compression::Gzip,
            Codec::Snappy => tidelog::Compression::Snappy,
            Codec::Lz4 => tidelog::Compression::Lz4,
            Codec::Zstd => tidelog::Compression::Zstd,
        }
    }
}

/// `tidelog produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// The store (Kafka log directory); created if missing.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The topic; created if missing (1 partition unless --partitions).
    #[arg(long, value_name = "T")]
    pub topic: String,
    /// Write every record to this partition instead of choosing by key.
    #[arg(long, value_name = "P")]
    pub partition: Option<i32>,
    /// Compression codec of the batches.
    #[arg(long, value_enum, default_value_t = Codec::None)]
    pub codec: Codec,
    /// Split each line at the first occurrence of SEP into key and value; a line without it
    /// has a null key.
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// Records per batch (as Kafka's console producer counts it).
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Partitions of the topic if it is created here.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub partitions: Option<u32>,
    /// A topic config if the topic is created here (Kafka's dotted key or the snake_case
    /// alias); repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub configs: Vec<(String, String)>,
    /// Make each acknowledged batch durable (fsynced) before reading the next.
    #[arg(long)]
    pub sync: bool,
}

/// Output formats of `consume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One value per line (with --print-key: key, a tab, value).
    Text,
    /// One JSON object per line; key, value and header values in standard base64.
    Json,
}

/// `tidelog consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// The store (Kafka log directory).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The topic.
    #[arg(long, value_name = "T")]
    pub topic: String,
    /// Read only this partition (every partition if omitted).
    #[arg(long, value_name = "P")]
    pub partition: Option<i32>,
    /// Consumer group: start at its committed offsets and commit as records are printed
    /// (takes the store's lock).
    #[arg(long, value_name = "G", conflicts_with = "offset")]
    pub group: Option<String>,
    /// Start at the beginning of the log instead of its end.
    #[arg(long, conflicts_with = "offset")]
    pub from_beginning: bool,
    /// Start at this offset (needs --partition).
    #[arg(long, value_name = "N", requires = "partition")]
    pub offset: Option<i64>,
    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    pub max_records: Option<u64>,
    /// Keep waiting for new records at the end of the log.
    #[arg(long)]
    pub follow: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// In text format, print the key and a tab before the value.
    #[arg(long)]
    pub print_key: bool,
}

/// `tidelog perf ...`.
#[derive(Debug, Subcommand)]
pub enum PerfCommand {
    /// Send records to the topic `tidelog-perf` as fast as possible and report records/s,
    /// MB/s and send latencies.
    Produce(PerfArgs),
    /// Read records of the topic `tidelog-perf` from its beginning (writing what is missing
    /// first, untimed) and report records/s, MB/s and poll latencies.
    Consume(PerfArgs),
}

/// Options of `perf produce` and `perf consume`.
#[derive(Debug, Args)]
pub struct PerfArgs {
    /// The store (created if missing); the topic `tidelog-perf` in it is created if missing.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Number of records.
    #[arg(long, value_name = "N", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub records: u64,
    /// Value size in bytes.
    #[arg(long, value_name = "B", default_value_t = 100)]
    pub record_size: usize,
    /// Records per batch.
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Compression codec.
    #[arg(long, value_enum, default_value_t = Codec::None)]
    pub codec: Codec,
    /// Producer (or consumer) threads.
    #[arg(long, value_name = "T", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: u32,
    /// Partitions of the topic if it is created here (1 unless given); an existing topic
    /// keeps its own, with a note if this differs.
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u32).range(1..))]
    pub partitions: Option<u32>,
    /// Fsync each batch before it counts as sent.
    #[arg(long)]
    pub sync: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Parses `KEY=VALUE`.
fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}
