//! The one error type of the crate, with the context a caller needs to act on it.
//!
//! Every fallible call returns [`Result<T>`]. Variants carry where a problem was found
//! (file, byte position, offset) and what was expected, so an operator can find the bad
//! bytes with `tidelog dump` and a program can branch on the variant instead of the text.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The result type of every fallible tidelog call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a problem was found: any of file, byte position in that file, and record offset.
///
/// The format layer knows none of these (it sees bytes only) and leaves them empty; the
/// layers above fill in what they know with [`Error::at_path`], [`Error::at_position`] and
/// [`Error::at_offset`] as the error travels up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The file holding the bad bytes.
    pub path: Option<PathBuf>,
    /// Byte position in that file (or in the buffer being decoded) where the bad item starts.
    pub position: Option<u64>,
    /// The record offset of the item (a batch's base offset), where known.
    pub offset: Option<i64>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, " in {}", path.display())?;
        }
        if let Some(position) = self.position {
            write!(f, " at position {position}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, " (offset {offset})")?;
        }
        Ok(())
    }
}

/// What exactly is wrong with bytes that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Corruption {
    /// Fewer bytes are present than a header or length field requires.
    #[error("truncated: needed {needed} bytes, {available} available")]
    Truncated {
        /// Bytes the item declares or requires.
        needed: u64,
        /// Bytes actually present.
        available: u64,
    },
    /// A batch or message length field is outside the valid range.
    #[error("invalid length field {length} (valid: {min}..={max})")]
    Length {
        /// The value read.
        length: i64,
        /// Smallest valid value.
        min: i64,
        /// Largest valid value here.
        max: i64,
    },
    /// The magic byte is not one tidelog reads here.
    #[error("unsupported magic byte {magic}")]
    Magic {
        /// The value read.
        magic: i8,
    },
    /// The stored checksum does not match the bytes.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc {
        /// Checksum stored in the header.
        stored: u32,
        /// Checksum computed over the covered bytes.
        computed: u32,
    },
    /// A varint ran past Kafka's limit (5 bytes for varint, 10 for varlong) or past the end.
    #[error("malformed varint: {reason}")]
    Varint {
        /// Which limit was broken.
        reason: &'static str,
    },
    /// The records section held a different number of records than the header declares.
    #[error("record count mismatch: header declares {declared}, found {found}")]
    RecordCount {
        /// RecordsCount from the header.
        declared: i64,
        /// Records actually decoded before the section ended.
        found: i64,
    },
    /// A record's fields did not consume exactly its declared length.
    #[error("record length mismatch: declared {declared}, fields take {actual}")]
    RecordLength {
        /// The record's Length varint.
        declared: i64,
        /// Bytes its fields occupied.
        actual: i64,
    },
    /// Bytes were left after the last declared record.
    #[error("{count} bytes left over after the last record")]
    TrailingBytes {
        /// How many.
        count: u64,
    },
    /// A length or count field is negative where Kafka forbids it.
    #[error("invalid {field}: {value}")]
    Field {
        /// Which field.
        field: &'static str,
        /// The value read.
        value: i64,
    },
    /// The compressed payload could not be decoded by its codec.
    #[error("{codec} payload does not decode: {reason}")]
    Decompress {
        /// Codec name.
        codec: &'static str,
        /// What the decoder reported.
        reason: String,
    },
    /// Offsets in the data break an ordering rule (non-monotonic, overflowing, out of segment).
    #[error("bad offsets: {reason}")]
    Offsets {
        /// Which rule.
        reason: String,
    },
    /// Any other structural rule of the format.
    #[error("{reason}")]
    Invalid {
        /// The rule that was broken.
        reason: &'static str,
    },
}

/// Every error tidelog returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O call failed.
    #[error("I/O error during {op} of {}: {source}", path.display())]
    Io {
        /// The operation that failed (`"open"`, `"write"`, `"fsync"`, ...).
        op: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file system is full (`ENOSPC`, `EDQUOT` or `EFBIG`). Free space, then reopen.
    #[error("no space left during {op} of {}: {source}", path.display())]
    NoSpace {
        /// The operation that failed.
        op: &'static str,
        /// The file it was applied to.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Stored or supplied bytes failed validation.
    #[error("corrupt data{location}: {kind}")]
    Corrupt {
        /// Where.
        location: Location,
        /// What is wrong.
        kind: Corruption,
    },
    /// A batch names a compression codec id that does not exist (5..=7, or 4 in legacy messages).
    #[error("unknown compression codec id {id}{location}")]
    UnknownCodec {
        /// The codec id from the attributes.
        id: u8,
        /// Where.
        location: Location,
    },
    /// A batch uses a codec whose cargo feature is not compiled in.
    #[error("compression codec {codec} is not compiled in: enable the cargo feature `{codec}`")]
    CodecDisabled {
        /// The codec's name, which is also its cargo feature.
        codec: &'static str,
    },
    /// Decompressing a batch would produce more bytes than the configured limit.
    #[error("batch decompresses to more than the limit of {limit} bytes{location}")]
    DecompressionLimit {
        /// The limit in force.
        limit: usize,
        /// Where.
        location: Location,
    },
    /// A record or batch is larger than the configured maximum (Kafka's `max.message.bytes`).
    #[error("batch of {size} bytes exceeds max.message.bytes = {max}")]
    RecordTooLarge {
        /// Size of the batch, including its 12-byte log overhead.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A read asked for an offset outside the log. The valid range is `[log_start, log_end]`.
    #[error("offset {requested} is outside the log's range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        requested: i64,
        /// First offset still in the log.
        log_start: i64,
        /// Offset the next append will get.
        log_end: i64,
    },
    /// A caller passed a value that breaks the API's contract.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A configuration value is out of range.
    #[error("invalid config {key} = {value}: {reason}")]
    InvalidConfig {
        /// Kafka's dotted key for the setting (`segment.bytes`).
        key: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A directory holds files that cannot be arranged into a valid log.
    #[error("invalid log layout in {}: {reason}", path.display())]
    InvalidLayout {
        /// The directory or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An earlier write or fsync failed, so the handle refuses writes until it is reopened.
    #[error("log is poisoned by an earlier failure, reopen it: {first}")]
    Poisoned {
        /// The first failure.
        first: Arc<Error>,
    },
    /// Another handle (in this process or another one, or a Kafka broker) holds the directory.
    #[error("{} is locked by another process or handle", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A topic name Kafka would refuse.
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName {
        /// The name given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The topic does not exist.
    #[error("unknown topic {topic:?}")]
    UnknownTopic {
        /// The topic asked for.
        topic: String,
    },
    /// A topic of that name exists already.
    #[error("topic {topic:?} already exists")]
    TopicExists {
        /// The topic.
        topic: String,
    },
    /// The topic has no such partition.
    #[error("topic {topic:?} has no partition {partition} (it has {partitions})")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// How many partitions the topic has.
        partitions: u32,
    },
    /// The handle was closed.
    #[error("the handle is closed")]
    Closed,
    /// A consumer's group has no committed offset for a partition and its
    /// `auto.offset.reset` is `none` (Kafka's `NoOffsetForPartitionException`): seek first.
    #[error(
        "group {} has no committed offset for {topic}-{partition} and auto.offset.reset is none",
        group.as_deref().unwrap_or("(none)")
    )]
    NoOffset {
        /// The consumer group, if any.
        group: Option<String>,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
}

impl Error {
    /// A corruption error with no location yet.
    pub fn corrupt(kind: Corruption) -> Self {
        Error::Corrupt {
            location: Location::default(),
            kind,
        }
    }

    /// An I/O error, classified by [`io::ErrorKind`]: a full disk becomes [`Error::NoSpace`].
    pub fn io(op: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        let path = path.as_ref().to_path_buf();
        let no_space = matches!(
            source.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge
        );
        if no_space {
            Error::NoSpace { op, path, source }
        } else {
            Error::Io { op, path, source }
        }
    }

    /// The location this error carries, if it is of a kind that has one.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Error::Corrupt { location, .. }
            | Error::UnknownCodec { location, .. }
            | Error::DecompressionLimit { location, .. } => Some(location),
            _ => None,
        }
    }

    fn location_mut(&mut self) -> Option<&mut Location> {
        match self {
            Error::Corrupt { location, .. }
            | Error::UnknownCodec { location, .. }
            | Error::DecompressionLimit { location, .. } => Some(location),
            _ => None,
        }
    }

    /// Sets the file of a located error unless a file is already recorded.
    pub fn at_path(mut self, path: impl AsRef<Path>) -> Self {
        if let Some(loc) = self.location_mut() {
            if loc.path.is_none() {
                loc.path = Some(path.as_ref().to_path_buf());
            }
        }
        self
    }

    /// Adds `base` to a located error's position, or sets it if none is recorded.
    ///
    /// Decoders report positions relative to the buffer they were given; the caller that
    /// knows where the buffer sits in the file adds its start here.
    pub fn at_position(mut self, base: u64) -> Self {
        if let Some(loc) = self.location_mut() {
            loc.position = Some(base.saturating_add(loc.position.unwrap_or(0)));
        }
        self
    }

    /// Sets the offset of a located error unless one is already recorded.
    pub fn at_offset(mut self, offset: i64) -> Self {
        if let Some(loc) = self.location_mut() {
            if loc.offset.is_none() {
                loc.offset = Some(offset);
            }
        }
        self
    }

    /// The corruption kind, if this is [`Error::Corrupt`].
    pub fn corruption(&self) -> Option<&Corruption> {
        match self {
            Error::Corrupt { kind, .. } => Some(kind),
            _ => None,
        }
    }

    /// A copy of this error for [`Error::Poisoned`] to keep while the original goes to the
    /// caller that hit it. I/O errors are copied by kind and message (an OS error cannot be
    /// cloned); everything else is copied whole.
    pub(crate) fn duplicate(&self) -> Error {
        let io_copy = |e: &io::Error| io::Error::new(e.kind(), e.to_string());
        match self {
            Error::Io { op, path, source } => Error::Io {
                op,
                path: path.clone(),
                source: io_copy(source),
            },
            Error::NoSpace { op, path, source } => Error::NoSpace {
                op,
                path: path.clone(),
                source: io_copy(source),
            },
            Error::Corrupt { location, kind } => Error::Corrupt {
                location: location.clone(),
                kind: kind.clone(),
            },
            Error::UnknownCodec { id, location } => Error::UnknownCodec {
                id: *id,
                location: location.clone(),
            },
            Error::CodecDisabled { codec } => Error::CodecDisabled { codec },
            Error::DecompressionLimit { limit, location } => Error::DecompressionLimit {
                limit: *limit,
                location: location.clone(),
            },
            Error::RecordTooLarge { size, max } => Error::RecordTooLarge {
                size: *size,
                max: *max,
            },
            Error::OffsetOutOfRange {
                requested,
                log_start,
                log_end,
            } => Error::OffsetOutOfRange {
                requested: *requested,
                log_start: *log_start,
                log_end: *log_end,
            },
            Error::InvalidArgument(s) => Error::InvalidArgument(s.clone()),
            Error::InvalidConfig { key, value, reason } => Error::InvalidConfig {
                key,
                value: value.clone(),
                reason: reason.clone(),
            },
            Error::InvalidLayout { path, reason } => Error::InvalidLayout {
                path: path.clone(),
                reason: reason.clone(),
            },
            Error::Poisoned { first } => Error::Poisoned {
                first: Arc::clone(first),
            },
            Error::Locked { path } => Error::Locked { path: path.clone() },
            Error::InvalidTopicName { name, reason } => Error::InvalidTopicName {
                name: name.clone(),
                reason,
            },
            Error::UnknownTopic { topic } => Error::UnknownTopic {
                topic: topic.clone(),
            },
            Error::TopicExists { topic } => Error::TopicExists {
                topic: topic.clone(),
            },
            Error::UnknownPartition {
                topic,
                partition,
                partitions,
            } => Error::UnknownPartition {
                topic: topic.clone(),
                partition: *partition,
                partitions: *partitions,
            },
            Error::Closed => Error::Closed,
            Error::NoOffset {
                group,
                topic,
                partition,
            } => Error::NoOffset {
                group: group.clone(),
                topic: topic.clone(),
                partition: *partition,
            },
        }
    }

    /// True for errors caused by the disk being full.
    pub fn is_no_space(&self) -> bool {
        matches!(self, Error::NoSpace { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_is_filled_from_the_outside_in() {
        let err = Error::corrupt(Corruption::Crc {
            stored: 1,
            computed: 2,
        })
        .at_position(10)
        .at_offset(7)
        .at_path("/tmp/x.log")
        .at_position(100)
        .at_offset(9);
        let loc = err.location().cloned().unwrap_or_default();
        assert_eq!(loc.position, Some(110));
        assert_eq!(loc.offset, Some(7));
        assert_eq!(loc.path.as_deref(), Some(Path::new("/tmp/x.log")));
        let text = err.to_string();
        assert!(
            text.contains("/tmp/x.log at position 110 (offset 7)"),
            "{text}"
        );
        assert!(text.contains("stored 0x00000001"), "{text}");
    }

    #[test]
    fn full_disk_is_classified_by_kind() {
        let e = Error::io("write", "/x", io::Error::from(io::ErrorKind::StorageFull));
        assert!(e.is_no_space());
        let e = Error::io(
            "write",
            "/x",
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert!(!e.is_no_space());
    }
}
