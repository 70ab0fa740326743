//! `verify`, one partition: its segments (batches, then indexes against them), its own
//! files (`leader-epoch-checkpoint`, `partition.metadata`, producer snapshots) and the
//! log-dir checkpoints' offsets for it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tidelog::checkpoint::{
    self, EpochEntry, PartitionMetadata, LEADER_EPOCH_CHECKPOINT_FILE, PARTITION_METADATA_FILE,
};
use tidelog::record::DEFAULT_MAX_DECOMPRESSED_BYTES;
use tidelog::segment::{FileKind, SegmentFileName};
use tidelog::store::METADATA_FILE;

use super::Verifier;
use crate::output::plural;
use crate::segment_file::{self as sf, BatchSummary, Frame, LogFile};
use crate::CliError;

/// What a partition's check needs from the store level.
pub(super) struct PartitionContext {
    pub(super) dir: PathBuf,
    pub(super) clean: bool,
    pub(super) recovery_point: Option<i64>,
    pub(super) log_start: Option<i64>,
    pub(super) topic_id: Option<String>,
}

impl Verifier<'_> {
    pub(super) fn partition(&mut self, ctx: &PartitionContext) -> Result<(), CliError> {
        let (errors_before, warnings_before) = (self.findings.errors, self.findings.warnings);
        let dir = &ctx.dir;
        let mut segments: Vec<(i64, PathBuf)> = Vec::new();
        let mut others: Vec<(SegmentFileName, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| CliError::io("list", dir, &e))? {
            let entry = entry.map_err(|e| CliError::io("list", dir, &e))?;
            let path = entry.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(SegmentFileName::parse)
            else {
                continue;
            };
            if name.suffix().is_some() {
                self.findings.warning(format_args!(
                    "{}: a leftover of an interrupted operation; the next open removes or completes it",
                    path.display()
                ));
            } else if name.kind() == FileKind::Log {
                segments.push((name.base_offset(), path));
            } else {
                others.push((name, path));
            }
        }
        segments.sort();
        let bases: BTreeSet<i64> = segments.iter().map(|(b, _)| *b).collect();
        for (name, path) in &others {
            match name.kind() {
                FileKind::Index | FileKind::TimeIndex | FileKind::TxnIndex
                    if !bases.contains(&name.base_offset()) =>
                {
                    self.findings.warning(format_args!(
                        "{}: an index without its .log; the next open removes it",
                        path.display()
                    ));
                }
                FileKind::Snapshot => self.producer_snapshot(path),
                _ => {}
            }
        }

        let mut state = PartitionState::default();
        for (i, (base, log)) in segments.iter().enumerate() {
            self.totals.segments += 1;
            if let Some(cut) = &state.cut {
                self.findings.warning(format_args!(
                    "{}: after the cut at offset {cut}, recovery would delete this segment",
                    log.display()
                ));
                continue;
            }
            let next_base = segments.get(i + 1).map(|(b, _)| *b);
            self.segment(ctx, *base, log, next_base, &mut state)?;
        }
        let log_end = state
            .next_offset
            .or(segments.last().map(|(b, _)| *b))
            .unwrap_or(0);
        let first_base = segments.first().map_or(0, |(b, _)| *b);
        self.partition_files(ctx, log_end, first_base);

        let errors = self.findings.errors - errors_before;
        let warnings = self.findings.warnings - warnings_before;
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        let verdict = match (errors, warnings) {
            (0, 0) => "ok".to_string(),
            (0, w) => format!("ok, {w} warning{}", plural(w)),
            (e, w) => format!("{e} error{}, {w} warning{}", plural(e), plural(w)),
        };
        writeln!(
            self.out,
            "{name}: {verdict} (offsets {}..{log_end}, {} segment{}, {} batch{}, {} bytes)",
            ctx.log_start.unwrap_or(first_base).max(first_base),
            segments.len(),
            plural(segments.len() as u64),
            state.batches,
            if state.batches == 1 { "" } else { "es" },
            state.bytes
        )?;
        Ok(())
    }

    /// Checks one segment's batches and indexes.
    fn segment(
        &mut self,
        ctx: &PartitionContext,
        base_offset: i64,
        path: &Path,
        next_base: Option<i64>,
        state: &mut PartitionState,
    ) -> Result<(), CliError> {
        let file = LogFile::open(path)?;
        let mut frames = file.frames();
        let mut batches: Vec<BatchSummary> = Vec::new();
        let mut scratch = Vec::new();
        // Without the clean-shutdown marker, Kafka's `LogLoader` recovers every segment whose
        // range reaches the recovery point (all of them if it is unknown), the last one
        // always: problems there are what recovery repairs.
        let recovered = !ctx.clean
            && match (ctx.recovery_point, next_base) {
                (Some(rp), Some(next)) => next > rp,
                _ => true,
            };
        if let Some(prev) = state.next_offset {
            if base_offset < prev {
                self.findings.error(format_args!(
                    "{}: base offset {base_offset} is below the previous segment's end offset {prev}",
                    path.display()
                ));
            }
        }
        let mut cut: Option<(u64, String)> = None;
        loop {
            let frame = frames
                .next_frame()
                .map_err(|e| CliError::io("read", path, &e))?;
            let (position, bytes) = match frame {
                Frame::Batch { position, bytes } => (position, bytes),
                Frame::End => break,
                Frame::TornTail { position, bytes } => {
                    cut = Some((
                        position,
                        format!("{bytes} bytes at the end hold no whole batch"),
                    ));
                    break;
                }
                Frame::Invalid { position, reason } => {
                    cut = Some((position, reason));
                    break;
                }
            };
            let (summary, problem) = self.check_batch(&bytes, position, &mut scratch);
            let floor = batches
                .last()
                .map(|b| b.last_offset + 1)
                .or(state.next_offset)
                .unwrap_or(base_offset)
                .max(base_offset);
            let problem = problem.or_else(|| match summary {
                Some(s) if s.base_offset < floor => Some(format!(
                    "offset {} is below {floor}, where the log had got to",
                    s.base_offset
                )),
                Some(s) if s.last_offset - base_offset > i64::from(i32::MAX) => Some(format!(
                    "offset {} does not fit the segment's 32-bit relative offsets",
                    s.last_offset
                )),
                _ => None,
            });
            match problem {
                // Recovery cuts the log at the first invalid batch of a recovered segment.
                Some(reason) if recovered => {
                    cut = Some((position, reason));
                    break;
                }
                // Elsewhere it is corruption; the framing held, so the walk goes on.
                Some(reason) => self.findings.error(format_args!(
                    "{} at position {position}: {reason}",
                    path.display()
                )),
                None => {}
            }
            // A batch whose header parsed still locates its offsets for the index checks.
            if let Some(s) = summary.filter(|s| s.base_offset >= floor) {
                batches.push(s);
            }
        }
        let size = file.len();
        if let Some((position, reason)) = cut {
            let offset = batches.last().map_or(base_offset, |b| b.last_offset + 1);
            if recovered {
                self.findings.warning(format_args!(
                    "{} at position {position}: {reason}; recovery would cut {} bytes from here (offset {offset} on)",
                    path.display(),
                    size - position
                ));
                state.cut = Some(offset);
            } else {
                self.findings.error(format_args!(
                    "{} at position {position}: {reason}",
                    path.display()
                ));
            }
        }
        self.indexes(path, base_offset, &batches, recovered)?;

        state.batches += batches.len() as u64;
        state.bytes += size;
        self.totals.batches += batches.len() as u64;
        self.totals.bytes += size;
        if let Some(b) = batches.last() {
            state.next_offset = Some(b.last_offset + 1);
        } else if state.next_offset.is_none_or(|n| n < base_offset) {
            state.next_offset = Some(base_offset);
        }
        Ok(())
    }

    /// Parses and fully checks one framed batch (CRC, then every record), counting its
    /// records. Returns its summary if the header parsed, and the first problem found.
    fn check_batch(
        &mut self,
        bytes: &[u8],
        position: u64,
        scratch: &mut Vec<u8>,
    ) -> (Option<BatchSummary>, Option<String>) {
        let batch = match sf::parse(bytes) {
            Ok(b) => b,
            Err(e) => return (None, Some(e.to_string())),
        };
        let summary = Some(sf::summarize(&batch, position, scratch));
        if let Err(e) = batch.verify_crc() {
            return (summary, Some(e.to_string()));
        }
        let records = batch
            .records(scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)
            .and_then(|rs| rs.map(|r| r.map(|_| 1u64)).sum::<Result<u64, _>>());
        match records {
            Ok(n) => {
                self.totals.records += n;
                (summary, None)
            }
            Err(e) => (summary, Some(format!("records: {e}"))),
        }
    }

    /// Checks a segment's `.index` and `.timeindex` against its batches.
    fn indexes(
        &mut self,
        log: &Path,
        base_offset: i64,
        batches: &[BatchSummary],
        recovered: bool,
    ) -> Result<(), CliError> {
        let rebuilt = if recovered {
            "; recovery rebuilds it"
        } else {
            ""
        };
        if let Some(path) = sf::sibling(log, FileKind::Index) {
            match sf::load_offset_index(&path, base_offset)? {
                None => self.findings.warning(format_args!(
                    "{}: missing; the next open rebuilds it",
                    path.display()
                )),
                Some(index) => {
                    let mut problems: Vec<String> = index.sanity.iter().cloned().collect();
                    problems.extend(
                        sf::check_offset_index(&index.entries, base_offset, batches)
                            .into_iter()
                            .map(|(i, p)| format!("entry {i}: {p}")),
                    );
                    for p in problems {
                        self.findings
                            .report(recovered, format_args!("{}: {p}{rebuilt}", path.display()));
                    }
                    let used = (index.entries.len() * 8) as u64;
                    if index.file_len > used && !recovered {
                        self.findings.warning(format_args!(
                            "{}: {} bytes past its {} entries are not trimmed (Kafka would read them as entries)",
                            path.display(),
                            index.file_len - used,
                            index.entries.len()
                        ));
                    }
                }
            }
        }
        if let Some(path) = sf::sibling(log, FileKind::TimeIndex) {
            if let Some(index) = sf::load_time_index(&path, base_offset)? {
                let mut problems: Vec<String> = index.sanity.iter().cloned().collect();
                problems.extend(
                    sf::check_time_index(&index.entries, base_offset, batches)
                        .into_iter()
                        .map(|(i, p)| format!("entry {i}: {p}")),
                );
                for p in problems {
                    self.findings
                        .report(recovered, format_args!("{}: {p}{rebuilt}", path.display()));
                }
                let used = (index.entries.len() * 12) as u64;
                if index.file_len > used && !recovered {
                    self.findings.warning(format_args!(
                        "{}: {} bytes past its {} entries are not trimmed (Kafka would read them as entries)",
                        path.display(),
                        index.file_len - used,
                        index.entries.len()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks a partition's own files and the checkpoints' offsets for it.
    fn partition_files(&mut self, ctx: &PartitionContext, log_end: i64, first_base: i64) {
        let dir = &ctx.dir;
        if let Some(rp) = ctx.recovery_point {
            if rp > log_end {
                self.findings.error(format_args!(
                    "{}: recovery point {rp} is past the log end {log_end}: data reported durable is missing",
                    dir.display()
                ));
            }
        }
        if let Some(start) = ctx.log_start {
            if start > log_end {
                self.findings.error(format_args!(
                    "{}: log start offset {start} is past the log end {log_end}",
                    dir.display()
                ));
            } else if start < first_base {
                self.findings.warning(format_args!(
                    "{}: log start offset {start} is below the first segment's base {first_base} (stale)",
                    dir.display()
                ));
            }
        }
        let path = dir.join(LEADER_EPOCH_CHECKPOINT_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => match checkpoint::decode::<EpochEntry>(&bytes) {
                Err(e) => self
                    .findings
                    .error(format_args!("bad checkpoint {}: {e}", path.display())),
                Ok(entries) => {
                    for pair in entries.windows(2) {
                        if pair[1].epoch <= pair[0].epoch
                            || pair[1].start_offset < pair[0].start_offset
                        {
                            self.findings.error(format_args!(
                                "bad checkpoint {}: entry {:?} does not follow {:?}",
                                path.display(),
                                pair[1],
                                pair[0]
                            ));
                        }
                    }
                    if entries.last().is_some_and(|e| e.start_offset > log_end) {
                        self.findings.warning(format_args!(
                            "{}: an epoch starts past the log end {log_end}; the next open drops it",
                            path.display()
                        ));
                    }
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => self
                .findings
                .error(format_args!("cannot read {}: {e}", path.display())),
        }
        let path = dir.join(PARTITION_METADATA_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => match PartitionMetadata::decode(&bytes) {
                Err(e) => self
                    .findings
                    .error(format_args!("bad metadata {}: {e}", path.display())),
                Ok(m) => {
                    if let Some(id) = &ctx.topic_id {
                        if m.topic_id.to_string() != *id {
                            self.findings.error(format_args!(
                                "{}: topic id {} differs from {id} in {METADATA_FILE}",
                                path.display(),
                                m.topic_id
                            ));
                        }
                    }
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.findings.warning(
                format_args!("{}: missing; the next open writes it", path.display()),
            ),
            Err(e) => self
                .findings
                .error(format_args!("cannot read {}: {e}", path.display())),
        }
    }

    /// Checks a producer-state snapshot (`FORMAT.md` §4): version 1, CRC-32C, entry count.
    /// Kafka deletes a bad one and rebuilds the state from the log: a warning.
    fn producer_snapshot(&mut self, path: &Path) {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                self.findings
                    .error(format_args!("cannot read {}: {e}", path.display()));
                return;
            }
        };
        let problem = if bytes.len() < 10 {
            Some(format!(
                "{} bytes, shorter than a snapshot header",
                bytes.len()
            ))
        } else {
            let version = i16::from_be_bytes([bytes[0], bytes[1]]);
            let stored = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
            let count = i32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]);
            if version != 1 {
                Some(format!("version {version}, not 1"))
            } else if crc32c_of(&bytes[6..]) != stored {
                Some("CRC-32C mismatch".to_string())
            } else if count < 0 || bytes.len() != 10 + 46 * count as usize {
                Some(format!(
                    "{count} entries do not fill its {} bytes",
                    bytes.len()
                ))
            } else {
                None
            }
        };
        if let Some(p) = problem {
            self.findings.warning(format_args!(
                "{}: bad producer snapshot ({p}); Kafka rebuilds it from the log",
                path.display()
            ));
        }
    }
}

/// What the walk of a partition's segments carries from one segment to the next.
#[derive(Debug, Default)]
struct PartitionState {
    /// The offset after the last good batch so far.
    next_offset: Option<i64>,
    /// Set when recovery would cut the log at this offset: later segments would be deleted.
    cut: Option<i64>,
    batches: u64,
    bytes: u64,
}

/// CRC-32C (Castagnoli), bitwise: producer snapshots are small.
fn crc32c_of(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c_of(b"123456789"), 0xE306_9283);
        // FORMAT.md §4: an empty snapshot is 00 01 48 67 4B C7 00 00 00 00.
        assert_eq!(crc32c_of(&[0, 0, 0, 0]), 0x4867_4BC7);
    }
}
