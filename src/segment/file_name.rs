//! File and directory names: the one place that builds and parses them.
//!
//! A segment's files are `<base offset, 20 digits zero-padded>.<kind>` (`.log`, `.index`,
//! `.timeindex`, `.txnindex`, `.snapshot`), optionally followed by a state suffix
//! (`.deleted`, `.cleaned`, `.swap`). A partition directory is `<topic>-<partition>`; a
//! partition being deleted, moved between log dirs or left stray is
//! `<topic>-<partition>.<32 hex uuid>-delete` (`-future`, `-stray`).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Width of the zero-padded base offset in a segment file name.
pub const BASE_OFFSET_WIDTH: usize = 20;

/// Longest legal topic name (Kafka's `Topic.MAX_NAME_LENGTH`).
pub const MAX_TOPIC_LENGTH: usize = 249;

/// What a segment file holds, named by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    /// `.log`: the record batches.
    Log,
    /// `.index`: the offset index.
    Index,
    /// `.timeindex`: the time index.
    TimeIndex,
    /// `.txnindex`: the aborted-transaction index.
    TxnIndex,
    /// `.snapshot`: a producer-state snapshot.
    Snapshot,
}

impl FileKind {
    /// Every kind.
    pub const ALL: [FileKind; 5] = [
        FileKind::Log,
        FileKind::Index,
        FileKind::TimeIndex,
        FileKind::TxnIndex,
        FileKind::Snapshot,
    ];

    /// The extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            FileKind::Log => "log",
            FileKind::Index => "index",
            FileKind::TimeIndex => "timeindex",
            FileKind::TxnIndex => "txnindex",
            FileKind::Snapshot => "snapshot",
        }
    }

    fn from_extension(ext: &str) -> Option<FileKind> {
        FileKind::ALL.into_iter().find(|k| k.extension() == ext)
    }
}

/// A state suffix after a segment file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileSuffix {
    /// `.deleted`: scheduled for asynchronous deletion.
    Deleted,
    /// `.cleaned`: compaction output not yet swapped in.
    Cleaned,
    /// `.swap`: compaction output being swapped in.
    Swap,
}

impl FileSuffix {
    /// Every suffix.
    pub const ALL: [FileSuffix; 3] = [FileSuffix::Deleted, FileSuffix::Cleaned, FileSuffix::Swap];

    /// The suffix, without the dot.
    pub fn as_str(self) -> &'static str {
        match self {
            FileSuffix::Deleted => "deleted",
            FileSuffix::Cleaned => "cleaned",
            FileSuffix::Swap => "swap",
        }
    }

    fn from_str(s: &str) -> Option<FileSuffix> {
        FileSuffix::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// The name of one segment file: base offset, kind and optional state suffix.
///
/// ```
/// use tidelog::segment::{FileKind, FileSuffix, SegmentFileName};
/// let name = SegmentFileName::new(368769, FileKind::Index)?.with_suffix(FileSuffix::Swap);
/// assert_eq!(name.to_string(), "00000000000000368769.index.swap");
/// assert_eq!(SegmentFileName::parse("00000000000000368769.index.swap"), Some(name));
/// # Ok::<(), tidelog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentFileName {
    base_offset: i64,
    kind: FileKind,
    suffix: Option<FileSuffix>,
}

impl SegmentFileName {
    /// The name of `kind` for the segment starting at `base_offset`, with no suffix.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `base_offset` is negative.
    pub fn new(base_offset: i64, kind: FileKind) -> Result<SegmentFileName> {
        if base_offset < 0 {
            return Err(Error::InvalidArgument(format!(
                "segment base offset {base_offset} is negative"
            )));
        }
        Ok(SegmentFileName {
            base_offset,
            kind,
            suffix: None,
        })
    }

    /// The same name with `suffix` added (or replaced).
    pub fn with_suffix(self, suffix: FileSuffix) -> SegmentFileName {
        SegmentFileName {
            suffix: Some(suffix),
            ..self
        }
    }

    /// The same name with no suffix.
    pub fn without_suffix(self) -> SegmentFileName {
        SegmentFileName {
            suffix: None,
            ..self
        }
    }

    /// The same base offset and suffix with another kind.
    pub fn with_kind(self, kind: FileKind) -> SegmentFileName {
        SegmentFileName { kind, ..self }
    }

    /// The segment's base offset.
    pub fn base_offset(self) -> i64 {
        self.base_offset
    }

    /// The file's kind.
    pub fn kind(self) -> FileKind {
        self.kind
    }

    /// The state suffix, if any.
    pub fn suffix(self) -> Option<FileSuffix> {
        self.suffix
    }

    /// The path of this file inside directory `dir`.
    pub fn path_in(self, dir: &Path) -> PathBuf {
        dir.join(self.to_string())
    }

    /// Parses a file name, or returns `None` for a file that is not a segment file.
    ///
    /// Like Kafka (`Long.parseLong` of the part before the first `.`) the offset may have any
    /// width, so `5.log` is offset 5; it must be plain ASCII digits (no sign) and fit an `i64`.
    pub fn parse(name: &str) -> Option<SegmentFileName> {
        let (digits, rest) = name.split_once('.')?;
        let base_offset = parse_digits(digits)?;
        let (ext, suffix) = match rest.split_once('.') {
            Some((ext, suffix)) => (ext, Some(FileSuffix::from_str(suffix)?)),
            None => (rest, None),
        };
        Some(SegmentFileName {
            base_offset,
            kind: FileKind::from_extension(ext)?,
            suffix,
        })
    }
}

impl fmt::Display for SegmentFileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:0width$}.{}",
            self.base_offset,
            self.kind.extension(),
            width = BASE_OFFSET_WIDTH
        )?;
        if let Some(suffix) = self.suffix {
            write!(f, ".{}", suffix.as_str())?;
        }
        Ok(())
    }
}

/// A non-negative integer written in plain ASCII digits, fitting `i64`.
fn parse_digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Checks a topic name as Kafka does: 1 to 249 characters from `[a-zA-Z0-9._-]`, and not
/// `.` or `..`.
///
/// # Errors
/// [`Error::InvalidTopicName`] saying which rule the name breaks.
pub fn validate_topic(topic: &str) -> Result<()> {
    let reason = if topic.is_empty() {
        "is empty"
    } else if topic == "." || topic == ".." {
        "cannot be \".\" or \"..\""
    } else if topic.len() > MAX_TOPIC_LENGTH {
        "is longer than 249 characters"
    } else if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        "contains a character outside [a-zA-Z0-9._-]"
    } else {
        return Ok(());
    };
    Err(Error::InvalidTopicName {
        name: topic.to_string(),
        reason,
    })
}

/// The 128-bit id in the name of a partition directory being deleted, moved or left stray
/// (a random UUID, written as 32 lowercase hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DirId(pub u128);

impl fmt::Display for DirId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// What a partition directory is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionDirKind {
    /// `<topic>-<partition>`: the live partition.
    Live,
    /// `<topic>-<partition>.<id>-delete`: scheduled for deletion.
    Delete(DirId),
    /// `<topic>-<partition>.<id>-future`: a copy being moved in from another log dir.
    Future(DirId),
    /// `<topic>-<partition>.<id>-stray`: a partition the cluster no longer assigns here.
    Stray(DirId),
}

impl PartitionDirKind {
    fn suffix(self) -> Option<(&'static str, DirId)> {
        match self {
            PartitionDirKind::Live => None,
            PartitionDirKind::Delete(id) => Some(("-delete", id)),
            PartitionDirKind::Future(id) => Some(("-future", id)),
            PartitionDirKind::Stray(id) => Some(("-stray", id)),
        }
    }
}

/// The name of a partition directory.
///
/// Kafka caps `-delete` and `-stray` names at 255 bytes by cutting the topic, so the topic
/// of such a directory may be a prefix of the real one.
///
/// ```
/// use tidelog::segment::{PartitionDirKind, PartitionDirName};
/// let dir = PartitionDirName::parse("my-topic-3").ok_or("not a partition directory")?;
/// assert_eq!((dir.topic(), dir.partition(), dir.kind()), ("my-topic", 3, PartitionDirKind::Live));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionDirName {
    topic: String,
    partition: i32,
    kind: PartitionDirKind,
}

impl PartitionDirName {
    /// The live directory of `topic`'s partition `partition`.
    ///
    /// # Errors
    /// [`Error::InvalidTopicName`] if the topic is invalid ([`validate_topic`]) or the partition
    /// is negative.
    pub fn new(topic: &str, partition: i32) -> Result<PartitionDirName> {
        validate_topic(topic)?;
        if partition < 0 {
            return Err(Error::InvalidArgument(format!(
                "partition {partition} is negative"
            )));
        }
        Ok(PartitionDirName {
            topic: topic.to_owned(),
            partition,
            kind: PartitionDirKind::Live,
        })
    }

    /// The same partition with another kind. The name is not shortened to Kafka's 255-byte
    /// cap; callers renaming for deletion of very long topics cut the topic themselves.
    pub fn with_kind(mut self, kind: PartitionDirKind) -> PartitionDirName {
        self.kind = kind;
        self
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition number.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// What the directory is for.
    pub fn kind(&self) -> PartitionDirKind {
        self.kind
    }

    /// Parses a directory name, or returns `None` if it is not a partition directory.
    ///
    /// As Kafka does, the partition is what follows the **last** `-` (topics may contain `-`).
    pub fn parse(name: &str) -> Option<PartitionDirName> {
        let (base, kind) = split_kind(name)?;
        let (topic, partition) = base.rsplit_once('-')?;
        validate_topic(topic).ok()?;
        Some(PartitionDirName {
            topic: topic.to_owned(),
            partition: parse_digits(partition)?,
            kind,
        })
    }
}

/// Splits `<base>.<32 hex><suffix>` into `base` and the kind; a plain name is `Live`.
fn split_kind(name: &str) -> Option<(&str, PartitionDirKind)> {
    type Make = fn(DirId) -> PartitionDirKind;
    let suffixed: [(&str, Make); 3] = [
        ("-delete", PartitionDirKind::Delete),
        ("-future", PartitionDirKind::Future),
        ("-stray", PartitionDirKind::Stray),
    ];
    for (suffix, make) in suffixed {
        if let Some(rest) = name.strip_suffix(suffix) {
            let (base, id) = rest.rsplit_once('.')?;
            if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let id = u128::from_str_radix(id, 16).ok()?;
            return Some((base, make(DirId(id))));
        }
    }
    Some((name, PartitionDirKind::Live))
}

impl fmt::Display for PartitionDirName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)?;
        if let Some((suffix, id)) = self.kind.suffix() {
            write!(f, ".{id}{suffix}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip() -> Result<()> {
        for kind in FileKind::ALL {
            for suffix in [
                None,
                Some(FileSuffix::Deleted),
                Some(FileSuffix::Cleaned),
                Some(FileSuffix::Swap),
            ] {
                for base in [0, 1, 368_769, i64::MAX] {
                    let mut name = SegmentFileName::new(base, kind)?;
                    if let Some(s) = suffix {
                        name = name.with_suffix(s);
                    }
                    let text = name.to_string();
                    assert_eq!(SegmentFileName::parse(&text), Some(name), "{text}");
                    assert!(text.starts_with(&format!("{base:020}.")), "{text}");
                }
            }
        }
        assert_eq!(
            SegmentFileName::new(0, FileKind::TimeIndex)?.to_string(),
            "00000000000000000000.timeindex"
        );
        assert_eq!(
            SegmentFileName::new(13, FileKind::Snapshot)?.to_string(),
            "00000000000000000013.snapshot"
        );
        Ok(())
    }

    #[test]
    fn kafka_width_rule_accepts_short_offsets() {
        let name = SegmentFileName::parse("5.log").map(|n| (n.base_offset(), n.kind()));
        assert_eq!(name, Some((5, FileKind::Log)));
    }

    #[test]
    fn foreign_segment_names_are_rejected() {
        for bad in [
            "",
            "log",
            ".log",
            "00000000000000000000",
            "00000000000000000000.",
            "00000000000000000000.txt",
            "-0000000000000000001.log",
            "+0000000000000000001.log",
            "0000000000000000000a.log",
            "00000000000000000000.log.tmp",
            "00000000000000000000.log.deleted.deleted",
            "99999999999999999999.log",
            "00000000000000000000.LOG",
            "leader-epoch-checkpoint",
            "partition.metadata",
        ] {
            assert_eq!(SegmentFileName::parse(bad), None, "{bad:?}");
        }
        assert!(SegmentFileName::new(-1, FileKind::Log).is_err());
    }

    #[test]
    fn partition_dirs_round_trip() -> Result<()> {
        let live = PartitionDirName::new("__consumer_offsets", 6)?;
        assert_eq!(live.to_string(), "__consumer_offsets-6");
        assert_eq!(
            PartitionDirName::parse("__consumer_offsets-6"),
            Some(live.clone())
        );
        let id = DirId(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        for kind in [
            PartitionDirKind::Delete(id),
            PartitionDirKind::Future(id),
            PartitionDirKind::Stray(id),
        ] {
            let dir = live.clone().with_kind(kind);
            let text = dir.to_string();
            assert_eq!(PartitionDirName::parse(&text), Some(dir), "{text}");
        }
        assert_eq!(
            live.with_kind(PartitionDirKind::Delete(id)).to_string(),
            "__consumer_offsets-6.0123456789abcdef0011223344556677-delete"
        );
        Ok(())
    }

    #[test]
    fn partition_is_after_the_last_dash() {
        let dir = PartitionDirName::parse("a-b-c-12");
        assert_eq!(
            dir.as_ref().map(|d| (d.topic(), d.partition())),
            Some(("a-b-c", 12))
        );
        // Kafka's rule: topic "t-", partition 1.
        let dir = PartitionDirName::parse("t--1");
        assert_eq!(
            dir.as_ref().map(|d| (d.topic(), d.partition())),
            Some(("t-", 1))
        );
        let dir = PartitionDirName::parse("t-0.0123456789ABCDEF0123456789abcdef-stray");
        assert_eq!(
            dir.map(|d| d.kind()),
            Some(PartitionDirKind::Stray(DirId(
                0x0123456789abcdef0123456789abcdef
            )))
        );
    }

    #[test]
    fn foreign_dirs_are_rejected() {
        let long = format!("{}-0", "t".repeat(250));
        for bad in [
            "",
            "topic",
            "-0",
            "topic-",
            "topic-x",
            "topic-+1",
            "topic-2147483648",
            "to pic-0",
            "tópico-0",
            ".-0",
            "..-0",
            long.as_str(),
            "topic-0-delete",
            "topic-0.abc-delete",
            "topic-0.0123456789abcdef0123456789abcdeg-delete",
            "topic-0.0123456789abcdef0123456789abcdef-deleted",
            "recovery-point-offset-checkpoint",
            ".lock",
        ] {
            assert_eq!(PartitionDirName::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn topic_rules() {
        assert!(validate_topic("orders.v2_EU-west").is_ok());
        assert!(validate_topic(&"t".repeat(249)).is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "ä"] {
            assert!(validate_topic(bad).is_err(), "{bad:?}");
        }
        assert!(validate_topic(&"t".repeat(250)).is_err());
        assert!(PartitionDirName::new("t", -1).is_err());
    }
}
