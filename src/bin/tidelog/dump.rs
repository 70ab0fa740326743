//! `tidelog dump`: segment files in the text layout of Kafka's `kafka-dump-log`
//! (`kafka.tools.DumpLogSegments`), or one JSON object per batch and index entry.
//!
//! Read-only: files are opened for reading, indexes loaded without mapping, nothing locked.
//! Problems go to stderr as they are found; any error makes the exit code 1. A torn tail on
//! the last segment of a partition (what a crash leaves and recovery cuts) is a warning.

use std::io::Write;
use std::path::Path;

use tidelog::record::{Batch, LegacyBatch, DEFAULT_MAX_DECOMPRESSED_BYTES};
use tidelog::segment::FileKind;

#[path = "dump_layout.rs"]
mod layout;

use layout::{batch_json, batch_text, record_json, record_text, LegacyCheck};

use crate::args::DumpArgs;
use crate::output::{json_array, Findings, JsonObject};
use crate::segment_file::{self as sf, BatchSummary, Frame, LogFile};
use crate::CliError;

pub fn run(args: &DumpArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let mut dump = Dumper {
        args,
        out,
        findings: Findings::default(),
        scratch: Vec::new(),
    };
    for path in &args.paths {
        dump.path(path)?;
    }
    dump.findings.into_result()
}

struct Dumper<'a> {
    args: &'a DumpArgs,
    out: &'a mut dyn Write,
    findings: Findings,
    scratch: Vec<u8>,
}

impl Dumper<'_> {
    fn path(&mut self, path: &Path) -> Result<(), CliError> {
        let meta = std::fs::metadata(path).map_err(|e| CliError::io("read", path, &e))?;
        if meta.is_dir() {
            let segments = sf::segments_in(path)?;
            if segments.is_empty() {
                return Err(CliError::fail(format!(
                    "{} holds no segment files (is it a partition directory?)",
                    path.display()
                )));
            }
            let last = segments.len().saturating_sub(1);
            for (i, (_, log)) in segments.iter().enumerate() {
                self.segment(log, i == last)?;
            }
            return Ok(());
        }
        match sf::kind_of(path) {
            Some(FileKind::Log) => {
                let last = is_last_segment(path);
                self.segment(path, last)
            }
            Some(FileKind::Index) => {
                let batches = self.log_for_index(path)?;
                self.offset_index(path, batches.as_deref())
            }
            Some(FileKind::TimeIndex) => {
                let batches = self.log_for_index(path)?;
                self.time_index(path, batches.as_deref())
            }
            _ => Err(CliError::fail(format!(
                "{} is not a segment file (.log, .index, .timeindex) or a partition directory",
                path.display()
            ))),
        }
    }

    /// Dumps a `.log` and, with `--index`, its indexes.
    fn segment(&mut self, log: &Path, last: bool) -> Result<(), CliError> {
        let batches = self.log(log, last, true)?;
        if self.args.index {
            for kind in [FileKind::Index, FileKind::TimeIndex] {
                let Some(path) = sf::sibling(log, kind) else {
                    continue;
                };
                if !path.exists() {
                    if kind == FileKind::Index {
                        self.findings
                            .warning(format_args!("{}: missing", path.display()));
                    }
                    continue;
                }
                match kind {
                    FileKind::Index => self.offset_index(&path, Some(&batches))?,
                    _ => self.time_index(&path, Some(&batches))?,
                }
            }
        }
        Ok(())
    }

    /// The batches of the `.log` an index belongs to (walked, not printed), or `None` if
    /// that `.log` is missing.
    fn log_for_index(&mut self, index: &Path) -> Result<Option<Vec<BatchSummary>>, CliError> {
        let Some(log) = sf::sibling(index, FileKind::Log).filter(|p| p.exists()) else {
            self.findings.error(format_args!(
                "{}: no .log file beside it to check the entries against",
                index.display()
            ));
            return Ok(None);
        };
        let last = is_last_segment(&log);
        self.log(&log, last, false).map(Some)
    }

    /// Walks a `.log`, printing it if `print`, and returns its batches.
    fn log(&mut self, path: &Path, last: bool, print: bool) -> Result<Vec<BatchSummary>, CliError> {
        let file = LogFile::open(path)?;
        let base_offset = sf::base_offset_of(path).unwrap_or(0);
        let json = self.args.json;
        if print && !json {
            writeln!(self.out, "Dumping {}", path.display())?;
            writeln!(self.out, "Log starting offset: {base_offset}")?;
        }
        let mut frames = file.frames();
        let mut batches: Vec<BatchSummary> = Vec::new();
        loop {
            let frame = frames
                .next_frame()
                .map_err(|e| CliError::io("read", path, &e))?;
            let (position, bytes) = match frame {
                Frame::Batch { position, bytes } => (position, bytes),
                Frame::End => break,
                Frame::TornTail { position, bytes } => {
                    if print && !json {
                        let name = path.file_name().unwrap_or_default().to_string_lossy();
                        writeln!(self.out, "Found {bytes} invalid bytes at the end of {name}")?;
                    }
                    self.findings.report(
                        last,
                        format_args!(
                            "{} at position {position}: {bytes} bytes at the end hold no whole batch{}",
                            path.display(),
                            if last { " (a torn write; recovery would cut them)" } else { "" }
                        ),
                    );
                    break;
                }
                Frame::Invalid { position, reason } => {
                    self.findings.error(format_args!(
                        "{} at position {position}: {reason}; the rest of the file ({} bytes) cannot be read",
                        path.display(),
                        file.len() - position
                    ));
                    break;
                }
            };
            let batch = match sf::parse(&bytes) {
                Ok(b) => b,
                Err(e) => {
                    self.findings.error(format_args!(
                        "{} at position {position}: {e}",
                        path.display()
                    ));
                    continue;
                }
            };
            let valid = batch.verify_crc().is_ok();
            if !valid {
                let e = batch
                    .verify_crc()
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                self.findings.error(format_args!(
                    "{} at position {position}: {e}",
                    path.display()
                ));
            }
            let summary = sf::summarize(&batch, position, &mut self.scratch);
            if summary.base_offset < base_offset {
                self.findings.error(format_args!(
                    "{} at position {position}: offset {} is below the segment's base offset {base_offset}",
                    path.display(),
                    summary.base_offset
                ));
            }
            if let Some(prev) = batches.last() {
                if summary.base_offset <= prev.last_offset {
                    self.findings.error(format_args!(
                        "{} at position {position}: offset {} does not follow the previous batch's last offset {}",
                        path.display(),
                        summary.base_offset,
                        prev.last_offset
                    ));
                }
            }
            batches.push(summary);
            if print {
                self.print_batch(path, &batch, position, valid)?;
            } else {
                self.check_records(path, &batch, position);
            }
        }
        Ok(batches)
    }

    /// Decodes every record (decompressing if needed) only to check it.
    fn check_records(&mut self, path: &Path, batch: &Batch<'_>, position: u64) {
        let result = batch
            .records(&mut self.scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)
            .and_then(|mut records| records.try_for_each(|r| r.map(|_| ())));
        if let Err(e) = result {
            self.findings.error(format_args!(
                "{} at position {position}: records: {e}",
                path.display()
            ));
        }
    }

    fn print_batch(
        &mut self,
        path: &Path,
        batch: &Batch<'_>,
        position: u64,
        valid: bool,
    ) -> Result<(), CliError> {
        let line = if self.args.json {
            batch_json(path, batch, position, valid)
        } else {
            batch_text(batch, position, valid)
        };
        let mut records_json = Vec::new();
        let print_data = self.args.print_data;
        let json = self.args.json;
        let v2 = match batch {
            Batch::V2(b) => Some(*b),
            Batch::Legacy(_) => None,
        };
        if !json {
            writeln!(self.out, "{line}")?;
        }
        let legacy = match batch {
            Batch::Legacy(entry) if print_data => legacy_checks(*entry, valid, &mut self.scratch),
            _ => Vec::new(),
        };
        let mut record_error = None;
        match batch.records(&mut self.scratch, DEFAULT_MAX_DECOMPRESSED_BYTES) {
            Err(e) => record_error = Some(e),
            Ok(records) => {
                for (i, r) in records.enumerate() {
                    let check = legacy.get(i).copied();
                    match r {
                        Ok(r) if print_data => {
                            if json {
                                records_json.push(record_json(v2.as_ref(), check, batch, &r));
                            } else {
                                let line = record_text(v2.as_ref(), check, batch, &r);
                                writeln!(self.out, "{line}")?;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            record_error = Some(e);
                            break;
                        }
                    }
                }
            }
        }
        if json {
            let mut line = line;
            if print_data {
                line.truncate(line.len() - 1);
                line.push_str(",\"records\":");
                line.push_str(&json_array(records_json));
                line.push('}');
            }
            writeln!(self.out, "{line}")?;
        }
        if let Some(e) = record_error {
            self.findings.error(format_args!(
                "{} at position {position}: records: {e}",
                path.display()
            ));
        }
        Ok(())
    }

    fn offset_index(
        &mut self,
        path: &Path,
        batches: Option<&[BatchSummary]>,
    ) -> Result<(), CliError> {
        let base_offset = sf::base_offset_of(path).unwrap_or(0);
        let Some(index) = sf::load_offset_index(path, base_offset)? else {
            return Err(CliError::fail(format!("{}: not found", path.display())));
        };
        let json = self.args.json;
        if !json {
            writeln!(self.out, "Dumping {}", path.display())?;
            if index.entries.is_empty() {
                writeln!(self.out, "{} is empty.", path.display())?;
            }
        }
        for e in &index.entries {
            if json {
                let o = JsonObject::new()
                    .str("file", &path.display().to_string())
                    .num("offset", e.offset)
                    .num("position", e.position)
                    .finish();
                writeln!(self.out, "{o}")?;
            } else {
                writeln!(self.out, "offset: {} position: {}", e.offset, e.position)?;
            }
        }
        if let Some(reason) = &index.sanity {
            self.findings.error(reason);
        }
        if let Some(batches) = batches {
            for (i, problem) in sf::check_offset_index(&index.entries, base_offset, batches) {
                self.findings
                    .error(format_args!("{} entry {i}: {problem}", path.display()));
            }
        }
        Ok(())
    }

    fn time_index(
        &mut self,
        path: &Path,
        batches: Option<&[BatchSummary]>,
    ) -> Result<(), CliError> {
        let base_offset = sf::base_offset_of(path).unwrap_or(0);
        let Some(index) = sf::load_time_index(path, base_offset)? else {
            return Err(CliError::fail(format!("{}: not found", path.display())));
        };
        let json = self.args.json;
        if !json {
            writeln!(self.out, "Dumping {}", path.display())?;
            if index.entries.is_empty() {
                writeln!(self.out, "{} is empty.", path.display())?;
            }
        }
        for e in &index.entries {
            if json {
                let o = JsonObject::new()
                    .str("file", &path.display().to_string())
                    .num("timestamp", e.timestamp)
                    .num("offset", e.offset)
                    .finish();
                writeln!(self.out, "{o}")?;
            } else {
                writeln!(self.out, "timestamp: {} offset: {}", e.timestamp, e.offset)?;
            }
        }
        if let Some(reason) = &index.sanity {
            self.findings.error(reason);
        }
        if let Some(batches) = batches {
            for (i, problem) in sf::check_time_index(&index.entries, base_offset, batches) {
                self.findings
                    .error(format_args!("{} entry {i}: {problem}", path.display()));
            }
        }
        Ok(())
    }
}

/// True if `log` is the last segment of its directory (where a torn tail is a crash's
/// leftover rather than damage).
fn is_last_segment(log: &Path) -> bool {
    let (Some(dir), Some(base)) = (log.parent(), sf::base_offset_of(log)) else {
        return true;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    match sf::segments_in(dir) {
        Ok(segments) => segments.last().is_none_or(|(last, _)| *last <= base),
        Err(_) => true,
    }
}

/// Kafka's `isValid` and `crc` for each record of a legacy entry, in order: the entry's own
/// (`valid` says whether its CRC matched) for an uncompressed message, a batch of one; each
/// inner message's for a compressed wrapper. Empty if the wrapper does not decode (the
/// record loop reports why).
fn legacy_checks(entry: LegacyBatch<'_>, valid: bool, scratch: &mut Vec<u8>) -> Vec<LegacyCheck> {
    if !entry.is_compressed() {
        return vec![LegacyCheck {
            valid,
            crc: entry.crc(),
        }];
    }
    // Walking the records leaves the decompressed inner message set in `scratch`; its
    // complete entries are the records, one each, in order.
    let decoded = entry
        .records(scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)
        .map(|records| records.count());
    if decoded.is_err() {
        return Vec::new();
    }
    let mut checks = Vec::new();
    let mut rest: &[u8] = scratch;
    while let Ok(inner) = LegacyBatch::parse_unverified(rest) {
        checks.push(LegacyCheck {
            valid: inner.verify_crc().is_ok(),
            crc: inner.crc(),
        });
        rest = rest.get(inner.size()..).unwrap_or_default();
    }
    checks
}
