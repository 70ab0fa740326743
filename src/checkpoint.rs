//! Kafka's checkpoint text files and `partition.metadata`, read and written atomically.
//!
//! A checkpoint file is a version line, an entry-count line, then one entry per line, each
//! ending in `\n` (Kafka's `CheckpointFile`); fields are separated by whitespace. A 0-byte file
//! holds no entries (Kafka leaves `cleaner-offset-checkpoint` empty until the cleaner runs).
//! Writes go to `<file>.tmp`, which is synced, renamed over the file, and made durable by a
//! sync of the directory ([`write_atomically`]), so a reader sees the old or the new content.
//!
//! ```
//! use tidelog::checkpoint::{EpochEntry, LeaderEpochCheckpoint};
//! use tidelog::io::StdFs;
//! # let dir = tempfile::tempdir()?;
//! let file = LeaderEpochCheckpoint::new(dir.path().join("leader-epoch-checkpoint"));
//! file.write(&StdFs, &[EpochEntry { epoch: 0, start_offset: 0 }])?;
//! assert_eq!(std::fs::read(file.path())?, b"0\n1\n0 0\n");
//! assert_eq!(file.read(&StdFs)?, Some(vec![EpochEntry { epoch: 0, start_offset: 0 }]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::{self, Write as _};
use std::io;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Corruption, Error, Result};
use crate::io::{OpenMode, Storage, StorageFile};
use crate::segment::validate_topic;

/// `leader-epoch-checkpoint`, in each partition directory.
pub const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
/// `partition.metadata`, in each partition directory.
pub const PARTITION_METADATA_FILE: &str = "partition.metadata";
/// `recovery-point-offset-checkpoint`, in the log directory.
pub const RECOVERY_POINT_CHECKPOINT_FILE: &str = "recovery-point-offset-checkpoint";
/// `log-start-offset-checkpoint`, in the log directory.
pub const LOG_START_OFFSET_CHECKPOINT_FILE: &str = "log-start-offset-checkpoint";
/// `replication-offset-checkpoint`, in the log directory.
pub const REPLICATION_OFFSET_CHECKPOINT_FILE: &str = "replication-offset-checkpoint";
/// `cleaner-offset-checkpoint`, in the log directory.
pub const CLEANER_OFFSET_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";

/// One line of a checkpoint file.
pub trait CheckpointEntry: Sized {
    /// The version the file's first line carries.
    const VERSION: i32;

    /// Parses a line's whitespace-separated fields, or `None` if malformed.
    fn parse(fields: &[&str]) -> Option<Self>;

    /// Appends the line, without its newline, to `out`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the entry cannot be written so that it reads back.
    fn write_to(&self, out: &mut String) -> Result<()>;
}

/// A leader-epoch checkpoint line: `<epoch> <start offset>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: i32,
    /// The first offset written in that epoch.
    pub start_offset: i64,
}

impl CheckpointEntry for EpochEntry {
    const VERSION: i32 = 0;

    fn parse(fields: &[&str]) -> Option<Self> {
        let [epoch, start_offset] = fields else {
            return None;
        };
        Some(EpochEntry {
            epoch: epoch.parse().ok()?,
            start_offset: start_offset.parse().ok()?,
        })
    }

    fn write_to(&self, out: &mut String) -> Result<()> {
        write_fmt(out, format_args!("{} {}", self.epoch, self.start_offset))
    }
}

/// An offset checkpoint line: `<topic> <partition> <offset>` (recovery point, log start
/// offset, high watermark, cleaner position).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OffsetEntry {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
    /// The offset recorded for it.
    pub offset: i64,
}

impl CheckpointEntry for OffsetEntry {
    const VERSION: i32 = 0;

    fn parse(fields: &[&str]) -> Option<Self> {
        let [topic, partition, offset] = fields else {
            return None;
        };
        Some(OffsetEntry {
            topic: (*topic).to_owned(),
            partition: partition.parse().ok()?,
            offset: offset.parse().ok()?,
        })
    }

    fn write_to(&self, out: &mut String) -> Result<()> {
        validate_topic(&self.topic)?;
        write_fmt(
            out,
            format_args!("{} {} {}", self.topic, self.partition, self.offset),
        )
    }
}

/// A checkpoint file of `E` lines at a path.
#[derive(Debug, Clone)]
pub struct CheckpointFile<E> {
    path: PathBuf,
    entry: PhantomData<fn() -> E>,
}

/// A partition's `leader-epoch-checkpoint`.
pub type LeaderEpochCheckpoint = CheckpointFile<EpochEntry>;

/// A log directory's `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`,
/// `replication-offset-checkpoint` or `cleaner-offset-checkpoint`.
pub type OffsetCheckpoint = CheckpointFile<OffsetEntry>;

impl<E: CheckpointEntry> CheckpointFile<E> {
    /// The checkpoint file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CheckpointFile {
            path: path.into(),
            entry: PhantomData,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the entries, or `None` if the file does not exist. A 0-byte file has none.
    ///
    /// # Errors
    /// [`Error::Corrupt`] (with the path and the bad line's position) for a bad version, a
    /// malformed line or an entry count that does not match the lines; [`Error::Io`].
    pub fn read<S: Storage>(&self, storage: &S) -> Result<Option<Vec<E>>> {
        let Some(bytes) = read_if_exists(storage, &self.path)? else {
            return Ok(None);
        };
        decode(&bytes).map(Some).map_err(|e| e.at_path(&self.path))
    }

    /// Replaces the file's content with `entries`, atomically and durably
    /// ([`write_atomically`]).
    ///
    /// # Errors
    /// [`Error::InvalidTopicName`] for an entry that cannot be written (a topic name Kafka
    /// would refuse); [`Error::Io`]/[`Error::NoSpace`].
    pub fn write<S: Storage>(&self, storage: &S, entries: &[E]) -> Result<()> {
        write_atomically(storage, &self.path, encode(entries)?.as_bytes())
    }
}

/// The text of a checkpoint file holding `entries`.
///
/// # Errors
/// [`Error::InvalidTopicName`] for an entry that cannot be written.
pub fn encode<E: CheckpointEntry>(entries: &[E]) -> Result<String> {
    let mut out = String::new();
    write_fmt(
        &mut out,
        format_args!("{}\n{}\n", E::VERSION, entries.len()),
    )?;
    for entry in entries {
        entry.write_to(&mut out)?;
        out.push('\n');
    }
    Ok(out)
}

/// Parses the bytes of a checkpoint file.
///
/// # Errors
/// [`Error::Corrupt`] with the position of the bad line (no path; callers add it).
pub fn decode<E: CheckpointEntry>(bytes: &[u8]) -> Result<Vec<E>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| malformed(e.valid_up_to(), "checkpoint is not UTF-8 text"))?;
    let mut lines = Lines::new(text);
    let Some((_, version)) = lines.next() else {
        return Ok(Vec::new());
    };
    let version: i32 = version
        .parse()
        .map_err(|_| malformed(0, "malformed checkpoint version line"))?;
    if version != E::VERSION {
        return Err(Error::corrupt(Corruption::Field {
            field: "checkpoint version",
            value: i64::from(version),
        })
        .at_position(0));
    }
    let (at, count) = lines
        .next()
        .ok_or_else(|| malformed(text.len(), "checkpoint has no entry count line"))?;
    let declared: usize = count
        .parse()
        .map_err(|_| malformed(at, "malformed checkpoint entry count line"))?;
    let mut entries = Vec::new();
    for (at, line) in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let entry =
            E::parse(&fields).ok_or_else(|| malformed(at, "malformed checkpoint entry line"))?;
        entries.push(entry);
    }
    if entries.len() != declared {
        return Err(Error::corrupt(Corruption::RecordCount {
            declared: declared as i64,
            found: entries.len() as i64,
        })
        .at_position(text.len() as u64));
    }
    Ok(entries)
}

/// Writes `bytes` as the whole content of `path`, atomically and durably: write
/// `<path>.tmp`, sync it, rename it over `path`, sync the directory.
///
/// # Errors
/// [`Error::Io`]/[`Error::NoSpace`]. After an error `path` holds its old or its new content,
/// and a stale `<path>.tmp` may remain (it is replaced by the next write).
pub fn write_atomically<S: Storage>(storage: &S, path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let file = storage.open(&tmp, OpenMode::Truncate)?;
        file.write_all_at(bytes, 0)?;
        file.sync_data()?;
    }
    crate::failpoint::failpoint!("checkpoint.after_tmp_write");
    storage.rename(&tmp, path)?;
    crate::failpoint::failpoint!("checkpoint.after_rename");
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    storage.sync_dir(dir)
}

/// The whole content of `path`, or `None` if it does not exist.
fn read_if_exists<S: Storage>(storage: &S, path: &Path) -> Result<Option<Vec<u8>>> {
    let file = match storage.open(path, OpenMode::ReadOnly) {
        Ok(file) => file,
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let len = usize::try_from(file.size()?)
        .map_err(|_| Error::InvalidArgument(format!("{} is too large to read", path.display())))?;
    let mut bytes = vec![0; len];
    let read = file.read_at(&mut bytes, 0)?;
    bytes.truncate(read);
    Ok(Some(bytes))
}

/// Lines of `text` with the byte position of each, split on `\n` (a `\r` before it is
/// dropped); a final line without `\n` counts too, as for Java's `readLine`.
struct Lines<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines { text, at: 0 }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        let rest = self.text.get(self.at..).filter(|r| !r.is_empty())?;
        let start = self.at;
        let (line, consumed) = match rest.find('\n') {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        self.at += consumed;
        Some((start, line.strip_suffix('\r').unwrap_or(line)))
    }
}

fn malformed(position: usize, reason: &'static str) -> Error {
    Error::corrupt(Corruption::Invalid { reason }).at_position(position as u64)
}

fn write_fmt(out: &mut String, args: fmt::Arguments<'_>) -> Result<()> {
    out.write_fmt(args)
        .map_err(|_| Error::InvalidArgument("formatting a checkpoint line failed".into()))
}

/// A topic's 128-bit id (Kafka's `Uuid`), written as 22 characters of URL-safe base64
/// without padding. The zero id is not a valid topic id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicId([u8; 16]);

impl TopicId {
    /// The id with these 16 bytes (big-endian, as Kafka's two longs).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for the zero id.
    pub fn new(bytes: [u8; 16]) -> Result<TopicId> {
        if bytes == [0; 16] {
            return Err(Error::InvalidArgument(
                "the zero UUID is not a topic id".into(),
            ));
        }
        Ok(TopicId(bytes))
    }

    /// The 16 bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0
    }
}

impl fmt::Display for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64url::encode(&self.0))
    }
}

impl fmt::Debug for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TopicId({self})")
    }
}

impl FromStr for TopicId {
    type Err = Error;

    /// Parses Kafka's `Uuid.fromString` form: 22 characters of URL-safe base64 (Java's
    /// decoder also accepts 24 with `==` padding).
    fn from_str(s: &str) -> Result<TopicId> {
        let bytes = base64url::decode_16(s)
            .ok_or_else(|| Error::InvalidArgument(format!("{s:?} is not a base64 topic id")))?;
        TopicId::new(bytes)
    }
}

/// The content of `partition.metadata`: `version: 0\ntopic_id: <id>` with no trailing
/// newline (43 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartitionMetadata {
    /// The partition's topic id.
    pub topic_id: TopicId,
}

impl PartitionMetadata {
    /// The only version Kafka writes and reads.
    pub const VERSION: i32 = 0;

    /// The file's text.
    pub fn encode(&self) -> String {
        format!("version: {}\ntopic_id: {}", Self::VERSION, self.topic_id)
    }

    /// Parses the file's text. As Kafka's reader does, each line splits into key and value at
    /// a `:` followed by whitespace; lines after the second are ignored.
    ///
    /// # Errors
    /// [`Error::Corrupt`] with the position of the bad line (no path; callers add it).
    pub fn decode(bytes: &[u8]) -> Result<PartitionMetadata> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| malformed(e.valid_up_to(), "partition.metadata is not UTF-8 text"))?;
        let mut lines = Lines::new(text);
        let (_, version) = key_value(lines.next(), "version", text.len())?;
        let version: i32 = version
            .parse()
            .map_err(|_| malformed(0, "malformed partition.metadata version"))?;
        if version != Self::VERSION {
            return Err(Error::corrupt(Corruption::Field {
                field: "partition.metadata version",
                value: i64::from(version),
            })
            .at_position(0));
        }
        let (at, id) = key_value(lines.next(), "topic_id", text.len())?;
        let topic_id = id.parse().map_err(|_| {
            malformed(
                at,
                "partition.metadata topic_id is not a non-zero base64 UUID",
            )
        })?;
        Ok(PartitionMetadata { topic_id })
    }

    /// Reads `path`, or returns `None` if it does not exist.
    ///
    /// # Errors
    /// [`Error::Corrupt`] (with the path) if malformed; [`Error::Io`].
    pub fn read<S: Storage>(storage: &S, path: &Path) -> Result<Option<PartitionMetadata>> {
        let Some(bytes) = read_if_exists(storage, path)? else {
            return Ok(None);
        };
        Self::decode(&bytes).map(Some).map_err(|e| e.at_path(path))
    }

    /// Writes `path` atomically and durably ([`write_atomically`]).
    ///
    /// # Errors
    /// [`Error::Io`]/[`Error::NoSpace`].
    pub fn write<S: Storage>(&self, storage: &S, path: &Path) -> Result<()> {
        write_atomically(storage, path, self.encode().as_bytes())
    }
}

/// Splits a `partition.metadata` line at `:\s+` and checks its key.
fn key_value<'a>(
    line: Option<(usize, &'a str)>,
    key: &str,
    end: usize,
) -> Result<(usize, &'a str)> {
    let (at, line) = line.ok_or_else(|| malformed(end, "partition.metadata is missing a line"))?;
    let split = line.split_once(':').and_then(|(k, v)| {
        let value = v.trim_start();
        (k == key && value.len() < v.len() && !value.is_empty()).then_some(value)
    });
    split
        .map(|value| (at, value))
        .ok_or_else(|| malformed(at, "malformed partition.metadata line"))
}

/// URL-safe base64 without padding, for 16-byte ids only.
mod base64url {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    /// 22 characters for 16 bytes.
    pub(super) fn encode(bytes: &[u8; 16]) -> String {
        let mut out = String::with_capacity(22);
        let mut put = |six: u32| out.push(char::from(ALPHABET[(six & 63) as usize]));
        for group in bytes.chunks(3) {
            let mut n = 0u32;
            for (i, &b) in group.iter().enumerate() {
                n |= u32::from(b) << (16 - 8 * i);
            }
            // A full group of 3 bytes gives 4 characters; the last single byte gives 2.
            let chars = group.len() + 1;
            for i in 0..chars {
                put(n >> (18 - 6 * i));
            }
        }
        out
    }

    /// Decodes 22 characters (or 24 ending in `==`) into 16 bytes.
    pub(super) fn decode_16(s: &str) -> Option<[u8; 16]> {
        let s = match s.len() {
            22 => s,
            24 => s.strip_suffix("==")?,
            _ => return None,
        };
        let mut bits = 0u32;
        let mut nbits = 0;
        let mut out = [0u8; 16];
        let mut len = 0;
        for c in s.bytes() {
            let six = ALPHABET.iter().position(|&a| a == c)? as u32;
            bits = (bits << 6) | six;
            nbits += 6;
            if nbits >= 8 {
                nbits -= 8;
                *out.get_mut(len)? = (bits >> nbits) as u8;
                len += 1;
                bits &= (1 << nbits) - 1;
            }
        }
        (len == 16).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::StdFs;

    fn tempdir() -> Result<tempfile::TempDir> {
        tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))
    }

    fn read_bytes(path: &Path) -> Result<Vec<u8>> {
        std::fs::read(path).map_err(|e| Error::io("read", path, e))
    }

    fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
        std::fs::write(path, bytes).map_err(|e| Error::io("write", path, e))
    }

    #[test]
    fn leader_epoch_checkpoint_exact_bytes() -> Result<()> {
        let dir = tempdir()?;
        let file = LeaderEpochCheckpoint::new(dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE));
        assert_eq!(file.read(&StdFs)?, None);
        let entries = [EpochEntry {
            epoch: 0,
            start_offset: 0,
        }];
        file.write(&StdFs, &entries)?;
        assert_eq!(read_bytes(file.path())?, b"0\n1\n0 0\n");
        assert_eq!(file.read(&StdFs)?.as_deref(), Some(&entries[..]));
        let entries = [
            EpochEntry {
                epoch: 0,
                start_offset: 0,
            },
            EpochEntry {
                epoch: 3,
                start_offset: 1_234_567_890_123,
            },
        ];
        file.write(&StdFs, &entries)?;
        assert_eq!(read_bytes(file.path())?, b"0\n2\n0 0\n3 1234567890123\n");
        assert_eq!(file.read(&StdFs)?.as_deref(), Some(&entries[..]));
        // The temporary file was renamed away.
        assert_eq!(StdFs.read_dir(dir.path())?.len(), 1);
        Ok(())
    }

    #[test]
    fn offset_checkpoint_exact_bytes() -> Result<()> {
        let dir = tempdir()?;
        let file = OffsetCheckpoint::new(dir.path().join(RECOVERY_POINT_CHECKPOINT_FILE));
        let entries = vec![
            OffsetEntry {
                topic: "__consumer_offsets".into(),
                partition: 22,
                offset: 0,
            },
            OffsetEntry {
                topic: "orders".into(),
                partition: 1,
                offset: 42,
            },
        ];
        // A stale temporary file from a crash is replaced.
        write_bytes(
            &dir.path().join("recovery-point-offset-checkpoint.tmp"),
            b"junk junk junk",
        )?;
        file.write(&StdFs, &entries)?;
        assert_eq!(
            read_bytes(file.path())?,
            b"0\n2\n__consumer_offsets 22 0\norders 1 42\n"
        );
        assert_eq!(file.read(&StdFs)?, Some(entries));
        file.write(&StdFs, &[])?;
        assert_eq!(read_bytes(file.path())?, b"0\n0\n");
        let bad = OffsetEntry {
            topic: "a b".into(),
            partition: 0,
            offset: 0,
        };
        assert!(matches!(
            file.write(&StdFs, &[bad]),
            Err(Error::InvalidTopicName { .. })
        ));
        Ok(())
    }

    #[test]
    fn empty_file_has_no_entries() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join(CLEANER_OFFSET_CHECKPOINT_FILE);
        write_bytes(&path, b"")?;
        assert_eq!(OffsetCheckpoint::new(&path).read(&StdFs)?, Some(Vec::new()));
        Ok(())
    }

    #[test]
    fn malformed_checkpoints_are_typed_errors_with_the_path() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE);
        let file = LeaderEpochCheckpoint::new(&path);
        let cases: [(&[u8], u64); 6] = [
            (b"0\n2\n0 0\n", 8),       // count mismatch, reported at the end
            (b"0\n1\n0 0\n1 5\n", 12), // too many entries
            (b"1\n1\n0 0\n", 0),       // unknown version
            (b"x\n0\n", 0),            // malformed version line
            (b"0\n1\n0 zero\n", 4),    // malformed entry line
            (b"0\n", 2),               // no count line
        ];
        for (bytes, position) in cases {
            write_bytes(&path, bytes)?;
            let err = file.read(&StdFs).err();
            let location = err
                .as_ref()
                .and_then(|e| e.location())
                .cloned()
                .unwrap_or_default();
            assert_eq!(location.path.as_deref(), Some(path.as_path()), "{bytes:?}");
            assert_eq!(location.position, Some(position), "{bytes:?}");
        }
        write_bytes(&path, b"0\n2\n0 0\n")?;
        assert!(matches!(
            file.read(&StdFs),
            Err(Error::Corrupt {
                kind: Corruption::RecordCount {
                    declared: 2,
                    found: 1
                },
                ..
            })
        ));
        write_bytes(&path, b"1\n0\n")?;
        assert!(matches!(
            file.read(&StdFs),
            Err(Error::Corrupt {
                kind: Corruption::Field { value: 1, .. },
                ..
            })
        ));
        // Fields split on any whitespace; CRLF line ends are tolerated.
        write_bytes(&path, b"0\r\n1\r\n4 \t 100\r\n")?;
        assert_eq!(
            file.read(&StdFs)?,
            Some(vec![EpochEntry {
                epoch: 4,
                start_offset: 100
            }])
        );
        Ok(())
    }

    #[test]
    fn topic_id_base64() -> Result<()> {
        let id = TopicId::new([0xff; 16])?;
        assert_eq!(id.to_string(), "_____________________w");
        let id = TopicId::new(std::array::from_fn(|i| i as u8))?;
        assert_eq!(id.to_string(), "AAECAwQFBgcICQoLDA0ODw");
        assert_eq!("AAECAwQFBgcICQoLDA0ODw".parse::<TopicId>()?, id);
        assert_eq!("AAECAwQFBgcICQoLDA0ODw==".parse::<TopicId>()?, id);
        for bad in [
            "AAAAAAAAAAAAAAAAAAAAAA",
            "AAECAwQFBgcICQoLDA0OD",
            "AAECAwQFBgcICQoLDA0OD+",
            "",
        ] {
            assert!(bad.parse::<TopicId>().is_err(), "{bad}");
        }
        assert!(TopicId::new([0; 16]).is_err());
        Ok(())
    }

    #[test]
    fn partition_metadata_exact_bytes() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join(PARTITION_METADATA_FILE);
        assert_eq!(PartitionMetadata::read(&StdFs, &path)?, None);
        let topic_id: TopicId = "gSnfpEbtQfSDpxM2lhEn9A".parse()?;
        assert_eq!(
            topic_id.to_bytes(),
            [
                0x81, 0x29, 0xdf, 0xa4, 0x46, 0xed, 0x41, 0xf4, 0x83, 0xa7, 0x13, 0x36, 0x96, 0x11,
                0x27, 0xf4
            ]
        );
        let meta = PartitionMetadata { topic_id };
        meta.write(&StdFs, &path)?;
        let bytes = read_bytes(&path)?;
        assert_eq!(bytes, b"version: 0\ntopic_id: gSnfpEbtQfSDpxM2lhEn9A");
        assert_eq!(bytes.len(), 43);
        assert_eq!(PartitionMetadata::read(&StdFs, &path)?, Some(meta));
        assert_eq!(
            PartitionMetadata::decode(b"version:  0\ntopic_id:\tgSnfpEbtQfSDpxM2lhEn9A\n")?,
            meta
        );
        for bad in [
            &b"version: 1\ntopic_id: gSnfpEbtQfSDpxM2lhEn9A"[..],
            b"version:0\ntopic_id: gSnfpEbtQfSDpxM2lhEn9A",
            b"version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA",
            b"version: 0\ntopic: gSnfpEbtQfSDpxM2lhEn9A",
            b"version: 0\n",
            b"",
        ] {
            write_bytes(&path, bad)?;
            let err = PartitionMetadata::read(&StdFs, &path).err();
            let location = err
                .as_ref()
                .and_then(|e| e.location())
                .cloned()
                .unwrap_or_default();
            assert_eq!(location.path.as_deref(), Some(path.as_path()), "{bad:?}");
        }
        Ok(())
    }

    #[test]
    fn reads_genuine_kafka_files() -> Result<()> {
        let dir = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/kafka-3.7.0/__consumer_offsets-6"
        ));
        if !dir.exists() {
            println!("SKIPPED: Kafka fixtures are absent at {}", dir.display());
            return Ok(());
        }
        let epochs =
            LeaderEpochCheckpoint::new(dir.join(LEADER_EPOCH_CHECKPOINT_FILE)).read(&StdFs)?;
        assert_eq!(
            epochs,
            Some(vec![EpochEntry {
                epoch: 0,
                start_offset: 0
            }])
        );
        let meta = PartitionMetadata::read(&StdFs, &dir.join(PARTITION_METADATA_FILE))?;
        assert_eq!(
            meta.map(|m| m.topic_id.to_string()).as_deref(),
            Some("gSnfpEbtQfSDpxM2lhEn9A")
        );
        Ok(())
    }
}
