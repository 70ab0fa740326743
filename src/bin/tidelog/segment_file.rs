//! Read-only access to one segment's files, for `dump` and `verify`.
//!
//! Nothing here opens a file for writing, maps it or takes a lock: the tools must work on
//! Kafka-written files they may not modify and on a store a running application holds open.
//! The `.log` is read front to back through a buffer, one batch at a time (a 1 GiB segment is
//! never held in memory); the indexes are loaded by the library's read-only open
//! ([`IndexAccess::ReadOnly`]), which counts the entries before the first all-zero slot.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use tidelog::io::StdFs;
use tidelog::record::{Batch, DEFAULT_MAX_DECOMPRESSED_BYTES, HEADER_SIZE_UP_TO_MAGIC};
use tidelog::segment::{
    FileKind, IndexAccess, IndexEntry, OffsetIndex, SegmentFileName, TimeIndex, TimeIndexEntry,
};

use crate::CliError;

/// Kafka's smallest legacy message (`RECORD_OVERHEAD_V0`): a size field below it is corrupt.
const MIN_SIZE_FIELD: i32 = 14;
/// The log overhead: Offset (8) and Size (4).
const LOG_OVERHEAD: u64 = 12;
/// What the read-only index open is told the index may hold; only `is_full` uses it.
const MAX_INDEX_BYTES: u64 = 10 << 20;

/// One step of a walk through a `.log` file.
#[derive(Debug)]
pub enum Frame {
    /// A batch whose size field fits in the file; its contents are not checked yet.
    Batch {
        /// Where it starts.
        position: u64,
        /// All of its bytes.
        bytes: Vec<u8>,
    },
    /// The end of the file, exactly after the last batch.
    End,
    /// The last bytes do not hold a whole batch: the torn tail of a crashed write, which
    /// Kafka's reader treats as the end and recovery cuts.
    TornTail {
        /// Where the partial batch starts.
        position: u64,
        /// Bytes from there to the end of the file.
        bytes: u64,
    },
    /// A size field or magic byte no batch can have: the walk cannot go on.
    Invalid {
        /// Where the bad batch starts.
        position: u64,
        /// What is wrong.
        reason: String,
    },
}

/// A `.log` file opened read-only.
#[derive(Debug)]
pub struct LogFile {
    file: File,
    len: u64,
}

impl LogFile {
    /// Opens `path` for reading.
    pub fn open(path: &Path) -> Result<LogFile, CliError> {
        let file = File::open(path).map_err(|e| CliError::io("open", path, &e))?;
        let len = file
            .metadata()
            .map_err(|e| CliError::io("stat", path, &e))?
            .len();
        Ok(LogFile { file, len })
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// A walk over the batches, from the start of the file.
    pub fn frames(&self) -> FrameReader<'_> {
        FrameReader {
            reader: BufReader::with_capacity(256 << 10, &self.file),
            position: 0,
            len: self.len,
            done: false,
        }
    }
}

/// Walks a `.log` file batch by batch, checking framing as Kafka's `FileLogInputStream` does.
#[derive(Debug)]
pub struct FrameReader<'a> {
    reader: BufReader<&'a File>,
    position: u64,
    len: u64,
    done: bool,
}

impl FrameReader<'_> {
    /// The next step; after [`Frame::End`], [`Frame::TornTail`] or [`Frame::Invalid`] it
    /// returns [`Frame::End`].
    pub fn next_frame(&mut self) -> io::Result<Frame> {
        if self.done {
            return Ok(Frame::End);
        }
        let position = self.position;
        let remaining = self.len - position;
        if remaining == 0 {
            self.done = true;
            return Ok(Frame::End);
        }
        if remaining < HEADER_SIZE_UP_TO_MAGIC as u64 {
            self.done = true;
            return Ok(Frame::TornTail {
                position,
                bytes: remaining,
            });
        }
        let mut head = [0u8; HEADER_SIZE_UP_TO_MAGIC];
        self.reader.read_exact(&mut head)?;
        let size_field = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        let magic = head[16] as i8;
        if size_field < MIN_SIZE_FIELD {
            self.done = true;
            return Ok(Frame::Invalid {
                position,
                reason: format!("batch size field {size_field} is below Kafka's minimum of 14"),
            });
        }
        let size = LOG_OVERHEAD + size_field as u64;
        if size > remaining {
            self.done = true;
            return Ok(Frame::TornTail {
                position,
                bytes: remaining,
            });
        }
        if !(0..=2).contains(&magic) {
            self.done = true;
            return Ok(Frame::Invalid {
                position,
                reason: format!("unsupported magic byte {magic}"),
            });
        }
        let mut bytes = vec![0u8; size as usize];
        bytes[..HEADER_SIZE_UP_TO_MAGIC].copy_from_slice(&head);
        self.reader
            .read_exact(&mut bytes[HEADER_SIZE_UP_TO_MAGIC..])?;
        self.position += size;
        Ok(Frame::Batch { position, bytes })
    }
}

/// What the index checks need to know of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSummary {
    /// Where it starts in the `.log`.
    pub position: u64,
    /// First offset.
    pub base_offset: i64,
    /// Last offset.
    pub last_offset: i64,
    /// MaxTimestamp (v2), the message timestamp (v1), -1 (v0).
    pub max_timestamp: i64,
}

/// Parses a batch framed by [`FrameReader`] without checking its CRC.
pub fn parse(bytes: &[u8]) -> Result<Batch<'_>, tidelog::Error> {
    Batch::parse_unverified(bytes)
}

/// The summary of a parsed batch. A legacy compressed wrapper's first offset is inside its
/// compressed value; if that does not decode, its last offset stands in.
pub fn summarize(batch: &Batch<'_>, position: u64, scratch: &mut Vec<u8>) -> BatchSummary {
    let base_offset = batch.shallow_base_offset().unwrap_or_else(|| {
        batch
            .base_offset(scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)
            .unwrap_or(batch.last_offset())
    });
    BatchSummary {
        position,
        base_offset,
        last_offset: batch.last_offset(),
        max_timestamp: batch.max_timestamp(),
    }
}

/// The base offset of a segment file, from its name.
pub fn base_offset_of(path: &Path) -> Option<i64> {
    let name = path.file_name()?.to_str()?;
    SegmentFileName::parse(name)
        .filter(|n| n.suffix().is_none())
        .map(|n| n.base_offset())
}

/// The kind of a segment file, from its name.
pub fn kind_of(path: &Path) -> Option<FileKind> {
    let name = path.file_name()?.to_str()?;
    SegmentFileName::parse(name)
        .filter(|n| n.suffix().is_none())
        .map(|n| n.kind())
}

/// The sibling file of the same segment with another kind (`.log` → `.index`, ...).
pub fn sibling(path: &Path, kind: FileKind) -> Option<PathBuf> {
    let name = SegmentFileName::parse(path.file_name()?.to_str()?)?;
    Some(
        name.with_kind(kind)
            .path_in(path.parent().unwrap_or(Path::new("."))),
    )
}

/// The segments of a partition directory: base offsets of the `.log` files, sorted.
pub fn segments_in(dir: &Path) -> Result<Vec<(i64, PathBuf)>, CliError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| CliError::io("list", dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| CliError::io("list", dir, &e))?;
        let path = entry.path();
        if kind_of(&path) == Some(FileKind::Log) {
            if let Some(base) = base_offset_of(&path) {
                out.push((base, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// An index file loaded read-only, with what its file length says.
#[derive(Debug)]
pub struct LoadedIndex<E> {
    /// The entries before the first all-zero slot.
    pub entries: Vec<E>,
    /// The file's length in bytes.
    pub file_len: u64,
    /// Kafka's `sanityCheck` failure, if any.
    pub sanity: Option<String>,
}

/// Loads a `.index` read-only. `Ok(None)` if the file does not exist.
pub fn load_offset_index(
    path: &Path,
    base_offset: i64,
) -> Result<Option<LoadedIndex<IndexEntry>>, CliError> {
    let file_len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::io("stat", path, &e)),
    };
    let index = OffsetIndex::open(
        &StdFs,
        path,
        base_offset,
        MAX_INDEX_BYTES.max(file_len),
        IndexAccess::ReadOnly,
    )?;
    let sanity = index.sanity_check().err().map(|e| e.to_string());
    Ok(Some(LoadedIndex {
        entries: index.entries(),
        file_len,
        sanity,
    }))
}

/// Loads a `.timeindex` read-only. `Ok(None)` if the file does not exist.
pub fn load_time_index(
    path: &Path,
    base_offset: i64,
) -> Result<Option<LoadedIndex<TimeIndexEntry>>, CliError> {
    let file_len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::io("stat", path, &e)),
    };
    let index = TimeIndex::open(
        &StdFs,
        path,
        base_offset,
        MAX_INDEX_BYTES.max(file_len),
        IndexAccess::ReadOnly,
    )?;
    let sanity = index.sanity_check().err().map(|e| e.to_string());
    Ok(Some(LoadedIndex {
        entries: index.entries(),
        file_len,
        sanity,
    }))
}

/// Checks `.index` entries against the batches of their `.log` (all of them, in order).
/// Returns `(entry number, problem)` pairs.
///
/// The rules hold for every Kafka version (`FORMAT.md` §5): offsets and positions strictly
/// increase; each position is the start of a batch whose first offset is at most the entry's
/// offset; the offset is the last offset of that batch or, for the one-entry-per-append rule
/// of Kafka before 4.0, of a later batch.
pub fn check_offset_index(
    entries: &[IndexEntry],
    base_offset: i64,
    batches: &[BatchSummary],
) -> Vec<(usize, String)> {
    let mut problems = Vec::new();
    let mut previous: Option<IndexEntry> = None;
    for (i, e) in entries.iter().enumerate() {
        if e.offset < base_offset {
            problems.push((
                i,
                format!("offset {} is below the base offset {base_offset}", e.offset),
            ));
        }
        if let Some(p) = previous {
            if e.offset <= p.offset || e.position <= p.position {
                problems.push((
                    i,
                    format!(
                        "entry (offset {}, position {}) does not follow (offset {}, position {}) in order",
                        e.offset, e.position, p.offset, p.position
                    ),
                ));
            }
        }
        previous = Some(*e);
        let at = batches.partition_point(|b| b.position < u64::from(e.position));
        match batches.get(at) {
            Some(b) if b.position == u64::from(e.position) => {
                if b.base_offset > e.offset {
                    problems.push((
                        i,
                        format!(
                            "offset {} is below the first offset {} of the batch at position {}",
                            e.offset, b.base_offset, e.position
                        ),
                    ));
                } else if !batches[at..]
                    .iter()
                    .any(|later| later.last_offset == e.offset)
                {
                    problems.push((
                        i,
                        format!(
                            "offset {} is not the last offset of a batch at or after position {} \
                             (that batch ends at offset {})",
                            e.offset, e.position, b.last_offset
                        ),
                    ));
                }
            }
            _ => problems.push((
                i,
                if batches
                    .last()
                    .is_none_or(|b| u64::from(e.position) > b.position)
                {
                    format!("position {} is past the last batch of the log", e.position)
                } else {
                    format!("position {} is not the start of a batch", e.position)
                },
            )),
        }
    }
    problems
}

/// Checks `.timeindex` entries against the batches of their `.log`. Returns `(entry number,
/// problem)` pairs.
///
/// Rules (`FORMAT.md` §5): timestamps strictly increase and offsets never decrease; each
/// offset lies in a batch whose MaxTimestamp is the entry's timestamp, and no batch up to
/// that one has a larger timestamp (the entry records the running maximum). Any offset in
/// that batch is accepted: Kafka up to 3.7 wrote the exact record offset, later versions
/// the batch's last offset.
pub fn check_time_index(
    entries: &[TimeIndexEntry],
    base_offset: i64,
    batches: &[BatchSummary],
) -> Vec<(usize, String)> {
    let mut problems = Vec::new();
    let mut previous: Option<TimeIndexEntry> = None;
    // Running maximum of MaxTimestamp up to and including each batch.
    let mut running = Vec::with_capacity(batches.len());
    let mut max = i64::MIN;
    for b in batches {
        max = max.max(b.max_timestamp);
        running.push(max);
    }
    for (i, e) in entries.iter().enumerate() {
        if e.offset < base_offset {
            problems.push((
                i,
                format!("offset {} is below the base offset {base_offset}", e.offset),
            ));
        }
        if let Some(p) = previous {
            if e.timestamp <= p.timestamp || e.offset < p.offset {
                problems.push((
                    i,
                    format!(
                        "entry (timestamp {}, offset {}) does not follow (timestamp {}, offset {}) in order",
                        e.timestamp, e.offset, p.timestamp, p.offset
                    ),
                ));
            }
        }
        previous = Some(*e);
        let at = batches.partition_point(|b| b.last_offset < e.offset);
        match batches.get(at) {
            Some(b) if b.base_offset <= e.offset => {
                if b.max_timestamp != e.timestamp {
                    problems.push((
                        i,
                        format!(
                            "timestamp {} differs from the max timestamp {} of the batch holding offset {}",
                            e.timestamp, b.max_timestamp, e.offset
                        ),
                    ));
                } else if running[at] > e.timestamp {
                    problems.push((
                        i,
                        format!(
                            "timestamp {} is below the max timestamp {} of an earlier batch",
                            e.timestamp, running[at]
                        ),
                    ));
                }
            }
            _ => problems.push((i, format!("offset {} is not in the log", e.offset))),
        }
    }
    problems
}
