//! `tidelog verify --dir DIR`: a full, read-only check of a store (a Kafka log directory).
//!
//! Checked: every batch (framing, CRC, records, offsets in order), each segment's `.index`
//! and `.timeindex` against its `.log`, the log-dir checkpoints, each partition's
//! `leader-epoch-checkpoint` and `partition.metadata`, producer snapshots, and tidelog's
//! metadata file.
//!
//! What a crash leaves and the next open repairs is a **warning**: without Kafka's
//! clean-shutdown marker, the segments from the recovery point on are recovered on open
//! (their invalid tail cut, their indexes rebuilt), exactly as `LogLoader` does. Anything
//! else is an **error**: corruption of data that was fsynced, an index Kafka would trust
//! but that is wrong, a malformed checkpoint. Nothing in the directory is opened for
//! writing, mapped or locked, so a store a running application holds open can be checked
//! (its active segment then reads as unflushed: warnings only).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use tidelog::checkpoint::{
    self, OffsetEntry, CLEANER_OFFSET_CHECKPOINT_FILE, LOG_START_OFFSET_CHECKPOINT_FILE,
    RECOVERY_POINT_CHECKPOINT_FILE, REPLICATION_OFFSET_CHECKPOINT_FILE,
};
use tidelog::segment::{PartitionDirKind, PartitionDirName};
use tidelog::store::{CLEAN_SHUTDOWN_FILE, CONSUMER_OFFSETS_TOPIC, METADATA_FILE};

#[path = "verify_partition.rs"]
mod partition;

use partition::PartitionContext;

use crate::args::VerifyArgs;
use crate::output::{plural, Findings};
use crate::CliError;

/// `(topic, partition) → offset`, from a log-dir checkpoint.
type Offsets = BTreeMap<(String, i32), i64>;

pub fn run(args: &VerifyArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let dir = &args.dir;
    let meta = std::fs::metadata(dir).map_err(|e| CliError::io("read", dir, &e))?;
    if !meta.is_dir() {
        return Err(CliError::fail(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let mut v = Verifier {
        out,
        findings: Findings::default(),
        totals: Totals::default(),
    };
    let clean = dir.join(CLEAN_SHUTDOWN_FILE).exists();
    let recovery_points = v.offsets(dir, RECOVERY_POINT_CHECKPOINT_FILE);
    let log_starts = v.offsets(dir, LOG_START_OFFSET_CHECKPOINT_FILE);
    for file in [
        REPLICATION_OFFSET_CHECKPOINT_FILE,
        CLEANER_OFFSET_CHECKPOINT_FILE,
    ] {
        v.offsets(dir, file);
    }
    let topics = v.store_metadata(dir);

    let mut partitions: BTreeSet<(String, i32)> = BTreeSet::new();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| CliError::io("list", dir, &e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut live = Vec::new();
    for name in names {
        let Some(parsed) = PartitionDirName::parse(&name) else {
            continue;
        };
        match parsed.kind() {
            PartitionDirKind::Live => {
                partitions.insert((parsed.topic().to_string(), parsed.partition()));
                live.push(parsed);
            }
            PartitionDirKind::Delete(_) => v.findings.warning(format_args!(
                "{}: an interrupted topic deletion; the next open removes it",
                dir.join(&name).display()
            )),
            PartitionDirKind::Future(_) | PartitionDirKind::Stray(_) => {
                writeln!(v.out, "{name}: Kafka's, not checked")?;
            }
        }
    }

    // Checkpoint entries and metadata against the partitions present.
    for (what, offsets) in [
        (RECOVERY_POINT_CHECKPOINT_FILE, &recovery_points),
        (LOG_START_OFFSET_CHECKPOINT_FILE, &log_starts),
    ] {
        for (topic, p) in offsets.keys() {
            if !partitions.contains(&(topic.clone(), *p)) {
                v.findings.warning(format_args!(
                    "{}: names {topic}-{p}, which has no directory",
                    dir.join(what).display()
                ));
            }
        }
    }
    if let Some(topics) = &topics {
        for t in topics.values() {
            for p in 0..t.partitions as i32 {
                let missing = !partitions.contains(&(t.name.clone(), p));
                if missing && t.name != CONSUMER_OFFSETS_TOPIC && !t.deleting {
                    v.findings.warning(format_args!(
                        "{}: topic {} has no directory for partition {p}; the next open creates it",
                        dir.join(METADATA_FILE).display(),
                        t.name
                    ));
                }
            }
        }
    }

    for name in &live {
        let key = (name.topic().to_string(), name.partition());
        let topic = topics.as_ref().and_then(|t| t.get(name.topic()));
        if topics.is_some() {
            match topic {
                None => v.findings.warning(format_args!(
                    "{}: topic {} is not in {METADATA_FILE}; the next open adopts it",
                    dir.join(name.to_string()).display(),
                    name.topic()
                )),
                Some(t) if name.partition() as u32 >= t.partitions => {
                    v.findings.warning(format_args!(
                        "{}: partition {} is beyond the {} partitions {METADATA_FILE} records",
                        dir.join(name.to_string()).display(),
                        name.partition(),
                        t.partitions
                    ))
                }
                Some(_) => {}
            }
        }
        let context = PartitionContext {
            dir: dir.join(name.to_string()),
            clean,
            recovery_point: recovery_points.get(&key).copied(),
            log_start: log_starts.get(&key).copied(),
            topic_id: topic.map(|t| t.id.clone()),
        };
        v.partition(&context)?;
    }

    let t = &v.totals;
    writeln!(
        v.out,
        "verified {}: {} topic{}, {} partition{}, {} segment{}, {} batch{}, {} record{}, {} bytes; \
         clean shutdown: {}",
        dir.display(),
        t.topics(&live),
        plural(t.topics(&live)),
        live.len(),
        plural(live.len() as u64),
        t.segments,
        plural(t.segments),
        t.batches,
        if t.batches == 1 { "" } else { "es" },
        t.records,
        plural(t.records),
        t.bytes,
        if clean { "yes" } else { "no" },
    )?;
    writeln!(
        v.out,
        "{} error{}, {} warning{}",
        v.findings.errors,
        plural(v.findings.errors),
        v.findings.warnings,
        plural(v.findings.warnings)
    )?;
    v.findings.into_result()
}

#[derive(Debug, Default)]
struct Totals {
    segments: u64,
    batches: u64,
    records: u64,
    bytes: u64,
}

impl Totals {
    fn topics(&self, live: &[PartitionDirName]) -> u64 {
        live.iter()
            .map(|n| n.topic())
            .collect::<BTreeSet<_>>()
            .len() as u64
    }
}

/// A topic as tidelog's metadata file records it.
#[derive(Debug)]
struct TopicEntry {
    name: String,
    id: String,
    partitions: u32,
    deleting: bool,
}

struct Verifier<'a> {
    out: &'a mut dyn Write,
    findings: Findings,
    totals: Totals,
}

impl Verifier<'_> {
    /// Reads a log-dir offset checkpoint; a missing file has no entries.
    fn offsets(&mut self, dir: &Path, file: &str) -> Offsets {
        let path = dir.join(file);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Offsets::new(),
            Err(e) => {
                self.findings
                    .error(format_args!("cannot read {}: {e}", path.display()));
                return Offsets::new();
            }
        };
        match checkpoint::decode::<OffsetEntry>(&bytes) {
            Ok(entries) => entries
                .into_iter()
                .map(|e| ((e.topic, e.partition), e.offset))
                .collect(),
            Err(e) => {
                self.findings
                    .error(format_args!("bad checkpoint {}: {e}", path.display()));
                Offsets::new()
            }
        }
    }

    /// Reads tidelog's metadata file, if the directory has one.
    fn store_metadata(&mut self, dir: &Path) -> Option<BTreeMap<String, TopicEntry>> {
        let topics = match tidelog::store::read_metadata(dir) {
            Ok(topics) => topics?,
            Err(e) => {
                self.findings.error(format_args!("bad metadata: {e}"));
                return Some(BTreeMap::new());
            }
        };
        let path = dir.join(METADATA_FILE);
        let mut entries = BTreeMap::new();
        for t in topics {
            if t.deleting {
                self.findings.warning(format_args!(
                    "{}: topic {} is being deleted; the next open finishes it",
                    path.display(),
                    t.name
                ));
            }
            entries.insert(
                t.name.clone(),
                TopicEntry {
                    id: t.id.to_string(),
                    name: t.name,
                    partitions: t.partitions,
                    deleting: t.deleting,
                },
            );
        }
        Some(entries)
    }
}
