//! [`TimeIndex`]: Kafka's `.timeindex`, mapping timestamps to offsets.
//!
//! Entry layout (12 bytes, big-endian):
//!
//! | off | size | field |
//! |----:|----:|-------|
//! | 0 | 8 | timestamp (int64): the segment's running max timestamp |
//! | 8 | 4 | relative offset (int32): an offset of the batch holding that max, − base offset |
//!
//! Timestamps strictly increase and offsets never decrease. An entry `(T, O)` means "every
//! record with timestamp > T comes after offset O". The offset is the batch's last offset
//! (Kafka ≥ 3.8) or the exact record offset (≤ 3.7); readers accept any offset inside the batch.
//! A closed segment ends with one extra entry for its max timestamp, so the time index can have
//! one entry more than the offset index.

use std::path::Path;

use super::offset_index::relative_offset;
use crate::error::{Corruption, Error, Result};
use crate::io::{partition_point, IndexAccess, IndexFile, StdFs, Storage};

const TIMESTAMP_AT: usize = 0;
const RELATIVE_OFFSET_AT: usize = TIMESTAMP_AT + 8;
/// Bytes per entry.
pub const ENTRY_SIZE: usize = RELATIVE_OFFSET_AT + 4;

/// Kafka's "no timestamp" (`RecordBatch.NO_TIMESTAMP`): the timestamp of the lookup fallback
/// and of the implicit last entry of an empty time index.
pub const NO_TIMESTAMP: i64 = -1;

type Slot = [u8; ENTRY_SIZE];

/// One time-index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeIndexEntry {
    /// The largest timestamp seen in the segment up to `offset`'s batch.
    pub timestamp: i64,
    /// An absolute offset inside the batch holding that timestamp.
    pub offset: i64,
}

/// Kafka's time index for one segment. `Send + Sync`: one writer appends while any number
/// of readers look up.
///
/// ```
/// use tidelog::io::StdFs;
/// use tidelog::segment::{TimeIndex, TimeIndexEntry};
/// # let dir = tempfile::tempdir()?;
/// let index = TimeIndex::create(&StdFs, &dir.path().join("00000000000000000000.timeindex"), 0, 10 << 20)?;
/// assert!(index.maybe_append(TimeIndexEntry { timestamp: 1_000, offset: 7 }, false)?);
/// assert!(!index.maybe_append(TimeIndexEntry { timestamp: 1_000, offset: 9 }, false)?); // not newer
/// assert_eq!(index.lookup(1_500), TimeIndexEntry { timestamp: 1_000, offset: 7 });
/// assert_eq!(index.lookup(999), TimeIndexEntry { timestamp: -1, offset: 0 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TimeIndex<S: Storage = StdFs> {
    file: IndexFile<S, ENTRY_SIZE>,
    base_offset: i64,
}

impl<S: Storage> TimeIndex<S> {
    /// Creates a new, empty time index at `path` (which must not exist) for the segment
    /// starting at `base_offset`, holding at most `roundDown(max_index_bytes, 12)` bytes of
    /// entries (10485756 for Kafka's default 10 MiB). Only the first growth step is
    /// allocated now.
    ///
    /// # Errors
    /// [`Error::Io`] (`AlreadyExists`) or [`Error::NoSpace`].
    pub fn create(
        storage: &S,
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
    ) -> Result<Self> {
        Ok(TimeIndex {
            file: IndexFile::create(storage, path, max_index_bytes)?,
            base_offset,
        })
    }

    /// Opens an existing time index; entries are counted as for
    /// [`OffsetIndex::open`](super::OffsetIndex::open).
    ///
    /// # Errors
    /// [`Error::Io`] (`NotFound` if missing).
    pub fn open(
        storage: &S,
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
        access: IndexAccess,
    ) -> Result<Self> {
        Ok(TimeIndex {
            file: IndexFile::open(storage, path, max_index_bytes, access)?,
            base_offset,
        })
    }

    /// The index file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The segment's base offset.
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.file.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.file.is_empty()
    }

    /// The most entries the index may hold.
    pub fn max_entries(&self) -> usize {
        self.file.max_entries()
    }

    /// True when no further entry fits (a reason to roll the segment).
    pub fn is_full(&self) -> bool {
        self.file.is_full()
    }

    /// Kafka's `maybeAppend`: appends `entry` if its timestamp is greater than the last
    /// entry's (initially `(-1, base_offset)`), else does nothing. Returns whether it appended.
    ///
    /// `skip_full_check` is for the final entry written on roll or close: it skips the
    /// up-front "full" refusal, so an entry that would not be appended anyway never fails.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the index is full (unless `skip_full_check` and nothing
    /// is appended) or read-only, if `entry.offset` is below the last entry's offset or not
    /// representable relative to the base offset, or if `entry.timestamp` is below the last
    /// entry's timestamp; [`Error::NoSpace`]/[`Error::Io`] if growing the file fails.
    pub fn maybe_append(&self, entry: TimeIndexEntry, skip_full_check: bool) -> Result<bool> {
        self.file.append_with(|entries, full| {
            if full && !skip_full_check {
                return Err(self.invalid(format!("is full ({} entries)", entries.len())));
            }
            if let Some(last) = entries.last().map(|slot| self.decode(slot)) {
                if entry.offset < last.offset || entry.timestamp < last.timestamp {
                    return Err(self.invalid(format!(
                        "entry {entry:?} goes back from the last entry {last:?}"
                    )));
                }
            }
            let last_timestamp = entries
                .last()
                .map_or(NO_TIMESTAMP, |slot| self.decode(slot).timestamp);
            if entry.timestamp <= last_timestamp {
                return Ok(None);
            }
            let relative = relative_offset(self.base_offset, entry.offset)
                .ok_or_else(|| self.invalid(format!("cannot hold offset {}", entry.offset)))?;
            Ok(Some(encode(entry.timestamp, relative)))
        })
    }

    /// The entry with the largest timestamp `<= timestamp`, or `(-1, base_offset)` if there
    /// is none: records with a larger timestamp all come after its offset.
    pub fn lookup(&self, timestamp: i64) -> TimeIndexEntry {
        self.file.with_entries(|entries| {
            let n = partition_point(entries, |slot| self.decode(slot).timestamp <= timestamp);
            n.checked_sub(1)
                .and_then(|i| entries.get(i))
                .map(|slot| self.decode(slot))
                .unwrap_or(TimeIndexEntry {
                    timestamp: NO_TIMESTAMP,
                    offset: self.base_offset,
                })
        })
    }

    /// Entry `i`, if it exists.
    pub fn entry(&self, i: usize) -> Option<TimeIndexEntry> {
        self.file
            .with_entries(|entries| entries.get(i).map(|slot| self.decode(slot)))
    }

    /// The last entry, if any.
    pub fn last_entry(&self) -> Option<TimeIndexEntry> {
        self.file
            .with_entries(|entries| entries.last().map(|slot| self.decode(slot)))
    }

    /// A copy of every entry.
    pub fn entries(&self) -> Vec<TimeIndexEntry> {
        self.file
            .with_entries(|entries| entries.iter().map(|slot| self.decode(slot)).collect())
    }

    /// Drops every entry with offset `>= offset` (after a log truncation).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if read-only; [`Error::Io`].
    pub fn truncate_to(&self, offset: i64) -> Result<()> {
        let keep = self.file.with_entries(|entries| {
            partition_point(entries, |slot| self.decode(slot).offset < offset)
        });
        self.file.truncate_entries(keep)
    }

    /// Drops every entry.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if read-only; [`Error::Io`].
    pub fn truncate_all(&self) -> Result<()> {
        self.file.truncate_entries(0)
    }

    /// Cuts the file to exactly `len() * 12` bytes (on roll and close, as Kafka does). Later
    /// appends grow it again.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if read-only; [`Error::Io`]/[`Error::NoSpace`].
    pub fn trim_to_valid_size(&self) -> Result<()> {
        self.file.trim()
    }

    /// True if the file holds exactly its entries (trimmed on roll or close), no
    /// preallocated space past them.
    pub fn is_trimmed(&self) -> bool {
        self.file.file_len() == (self.len() * ENTRY_SIZE) as u64
    }

    /// Kafka's `sanityCheck`: the file length is a multiple of 12, the last timestamp is at
    /// least the first, and the last offset is at least the base offset. Cheap.
    ///
    /// # Errors
    /// [`Error::Corrupt`] with the file and position; the caller rebuilds the index.
    pub fn sanity_check(&self) -> Result<()> {
        let file_len = self.file.file_len();
        if !file_len.is_multiple_of(ENTRY_SIZE as u64) {
            return Err(self.corrupt(
                file_len,
                Corruption::Invalid {
                    reason: "time index length is not a multiple of 12",
                },
            ));
        }
        let (first, last) = (self.entry(0), self.last_entry());
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(());
        };
        let at = ((self.len() - 1) * ENTRY_SIZE) as u64;
        if last.timestamp < first.timestamp {
            return Err(self.corrupt(
                at,
                Corruption::Invalid {
                    reason: "last time-index timestamp is below the first",
                },
            ));
        }
        if last.offset < self.base_offset {
            return Err(self.corrupt(
                at,
                Corruption::Offsets {
                    reason: format!(
                        "last time-index offset {} is below the base offset {}",
                        last.offset, self.base_offset
                    ),
                },
            ));
        }
        Ok(())
    }

    /// A full check of every entry: relative offsets are non-negative, timestamps strictly
    /// increase and offsets never decrease. Linear in the entries.
    ///
    /// # Errors
    /// [`Error::Corrupt`] at the first bad entry.
    pub fn check_entries(&self) -> Result<()> {
        self.file.with_entries(|entries| {
            let mut previous: Option<TimeIndexEntry> = None;
            for (i, slot) in entries.iter().enumerate() {
                let entry = self.decode(slot);
                let bad = entry.offset < self.base_offset
                    || previous
                        .is_some_and(|p| entry.timestamp <= p.timestamp || entry.offset < p.offset);
                if bad {
                    return Err(self.corrupt(
                        (i * ENTRY_SIZE) as u64,
                        Corruption::Offsets {
                            reason: format!(
                                "time-index entry {i} {entry:?} breaks the order after \
                                 {previous:?} (base offset {})",
                                self.base_offset
                            ),
                        },
                    ));
                }
                previous = Some(entry);
            }
            Ok(())
        })
    }

    /// Makes the entries durable (write back the mapping, then `fdatasync`); a no-op if
    /// nothing changed since the last sync.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn sync(&self) -> Result<()> {
        self.file.sync()
    }

    /// Trims and syncs the index (if writable), then closes it.
    ///
    /// # Errors
    /// As [`TimeIndex::trim_to_valid_size`] and [`TimeIndex::sync`].
    pub fn close(self) -> Result<()> {
        self.file.close()
    }

    fn decode(&self, slot: &Slot) -> TimeIndexEntry {
        let mut timestamp = [0; 8];
        timestamp.copy_from_slice(&slot[TIMESTAMP_AT..RELATIVE_OFFSET_AT]);
        let mut relative = [0; 4];
        relative.copy_from_slice(&slot[RELATIVE_OFFSET_AT..]);
        TimeIndexEntry {
            timestamp: i64::from_be_bytes(timestamp),
            offset: self
                .base_offset
                .saturating_add(i64::from(i32::from_be_bytes(relative))),
        }
    }

    fn invalid(&self, what: String) -> Error {
        Error::InvalidArgument(format!(
            "time index {} (base offset {}) {what}",
            self.path().display(),
            self.base_offset
        ))
    }

    fn corrupt(&self, position: u64, kind: Corruption) -> Error {
        Error::corrupt(kind)
            .at_path(self.path())
            .at_position(position)
            .at_offset(self.base_offset)
    }
}

fn encode(timestamp: i64, relative: i32) -> Slot {
    let mut slot = [0; ENTRY_SIZE];
    slot[TIMESTAMP_AT..RELATIVE_OFFSET_AT].copy_from_slice(&timestamp.to_be_bytes());
    slot[RELATIVE_OFFSET_AT..].copy_from_slice(&relative.to_be_bytes());
    slot
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::io::{OpenMode, StorageFile};

    const MAX: u64 = 10 << 20;

    fn tempdir() -> Result<tempfile::TempDir> {
        tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))
    }

    fn entry(timestamp: i64, offset: i64) -> TimeIndexEntry {
        TimeIndexEntry { timestamp, offset }
    }

    fn raw(entries: &[(i64, i32)]) -> Vec<u8> {
        entries
            .iter()
            .flat_map(|(t, r)| t.to_be_bytes().into_iter().chain(r.to_be_bytes()))
            .collect()
    }

    fn write_raw(path: &Path, bytes: &[u8], len: u64) -> Result<()> {
        let file = StdFs.open(path, OpenMode::CreateNew)?;
        file.set_len(len)?;
        file.write_all_at(bytes, 0)
    }

    #[test]
    fn maybe_append_follows_kafka_rules() -> Result<()> {
        let dir = tempdir()?;
        let index = TimeIndex::create(&StdFs, &dir.path().join("t.timeindex"), 100, MAX)?;
        let bad = |r: Result<bool>| matches!(r, Err(Error::InvalidArgument(_)));
        // The implicit last entry of an empty index is (-1, base): -1 is not newer.
        assert!(!index.maybe_append(entry(-1, 100), false)?);
        assert!(
            bad(index.maybe_append(entry(5, 99), false)),
            "offset below base"
        );
        assert!(index.maybe_append(entry(1_000, 105), false)?);
        assert!(
            !index.maybe_append(entry(1_000, 107), false)?,
            "same timestamp: skipped"
        );
        assert!(
            bad(index.maybe_append(entry(999, 110), false)),
            "timestamp going back"
        );
        assert!(
            bad(index.maybe_append(entry(2_000, 104), false)),
            "offset going back"
        );
        assert!(
            index.maybe_append(entry(2_000, 105), false)?,
            "same offset is allowed"
        );
        assert_eq!(index.entries(), [entry(1_000, 105), entry(2_000, 105)]);
        Ok(())
    }

    #[test]
    fn lookup_matches_a_linear_scan() -> Result<()> {
        let dir = tempdir()?;
        let base = 5_000;
        let index = TimeIndex::create(&StdFs, &dir.path().join("t.timeindex"), base, MAX)?;
        let entries: Vec<_> = (1..=2000)
            .map(|i| entry(1_700_000_000_000 + 10 * i, base + i / 3))
            .collect();
        for e in &entries {
            assert!(index.maybe_append(*e, false)?);
        }
        for t in (1_700_000_000_000 - 5)..(1_700_000_000_000 + 20_020) {
            let want = entries
                .iter()
                .rev()
                .find(|e| e.timestamp <= t)
                .copied()
                .unwrap_or(entry(NO_TIMESTAMP, base));
            assert_eq!(index.lookup(t), want, "{t}");
        }
        index.sanity_check()?;
        index.check_entries()?;
        Ok(())
    }

    #[test]
    fn grows_until_full_and_the_close_entry() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join("t.timeindex");
        // Kafka's 10 MiB default rounds down to 10485756 bytes; here 1000 entries.
        let index = TimeIndex::create(&StdFs, &path, 0, 12_011)?;
        assert_eq!(index.max_entries(), 1000);
        assert_eq!(StdFs.file_len(&path)?, 4092);
        for i in 1..=1000 {
            index.maybe_append(entry(i, i), false)?;
        }
        assert_eq!(StdFs.file_len(&path)?, 12_000);
        assert!(index.is_full());
        assert!(index.maybe_append(entry(1001, 1001), false).is_err());
        // The close entry: nothing newer → no error even though full.
        assert!(!index.maybe_append(entry(1000, 1000), true)?);
        assert!(index.maybe_append(entry(1001, 1001), true).is_err());
        index.close()?;
        assert_eq!(
            TimeIndex::create(&StdFs, &dir.path().join("k.timeindex"), 0, MAX)?.max_entries() * 12,
            10_485_756
        );
        Ok(())
    }

    #[test]
    fn reopen_untrimmed_kafka_file_and_after_trim() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join("00000000000000000000.timeindex");
        write_raw(&path, &raw(&[(1_000, 3), (2_000, 7)]), 10_485_756)?;
        let index = TimeIndex::open(&StdFs, &path, 0, MAX, IndexAccess::ReadWrite)?;
        assert_eq!(index.entries(), [entry(1_000, 3), entry(2_000, 7)]);
        index.sanity_check()?;
        assert!(index.maybe_append(entry(3_000, 12), true)?);
        index.close()?;
        assert_eq!(StdFs.file_len(&path)?, 36);
        let again = TimeIndex::open(&StdFs, &path, 0, MAX, IndexAccess::ReadWrite)?;
        assert_eq!(
            again.entries(),
            [entry(1_000, 3), entry(2_000, 7), entry(3_000, 12)]
        );
        again.truncate_to(7)?;
        assert_eq!(again.entries(), [entry(1_000, 3)]);
        again.truncate_all()?;
        assert_eq!(again.lookup(i64::MAX), entry(NO_TIMESTAMP, 0));
        Ok(())
    }

    #[test]
    fn sanity_check_failures() -> Result<()> {
        let dir = tempdir()?;
        let torn = dir.path().join("torn.timeindex");
        write_raw(&torn, &raw(&[(1_000, 3)]), 20)?;
        let index = TimeIndex::open(&StdFs, &torn, 0, MAX, IndexAccess::ReadOnly)?;
        assert!(matches!(index.sanity_check(), Err(Error::Corrupt { .. })));

        let backwards = dir.path().join("back.timeindex");
        write_raw(&backwards, &raw(&[(5_000, 3), (6_000, 4), (4_000, 5)]), 36)?;
        let index = TimeIndex::open(&StdFs, &backwards, 0, MAX, IndexAccess::ReadOnly)?;
        let err = index.sanity_check().err();
        let position = err
            .as_ref()
            .and_then(|e| e.location())
            .and_then(|l| l.position);
        assert_eq!(position, Some(24));
        assert!(index.check_entries().is_err());

        let below = dir.path().join("below.timeindex");
        write_raw(&below, &raw(&[(5_000, -3)]), 12)?;
        let index = TimeIndex::open(&StdFs, &below, 10, MAX, IndexAccess::ReadOnly)?;
        assert!(matches!(
            index.sanity_check(),
            Err(Error::Corrupt {
                kind: Corruption::Offsets { .. },
                ..
            })
        ));
        Ok(())
    }

    fn kafka_fixture(name: &str) -> Option<PathBuf> {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/kafka-3.7.0/__consumer_offsets-6"
        );
        let path = Path::new(dir).join(name);
        if path.exists() {
            Some(path)
        } else {
            println!("SKIPPED: Kafka fixture {} is absent", path.display());
            None
        }
    }

    #[test]
    fn reads_a_genuine_kafka_time_index() -> Result<()> {
        let Some(path) = kafka_fixture("00000000000000000000.timeindex") else {
            return Ok(());
        };
        // Read-only: the fixture is never opened for writing.
        let index = TimeIndex::open(&StdFs, &path, 0, MAX, IndexAccess::ReadOnly)?;
        let entries = index.entries();
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries.iter().map(|e| e.offset).collect::<Vec<_>>(),
            [3, 7, 12]
        );
        assert_eq!(entries[0].timestamp, 0x019c_0fcf_81e7);
        index.sanity_check()?;
        index.check_entries()?;
        // The last entry is the close-time entry: the segment's max timestamp.
        assert_eq!(index.lookup(i64::MAX), entries[2]);
        assert_eq!(
            index.lookup(entries[0].timestamp - 1),
            entry(NO_TIMESTAMP, 0)
        );
        Ok(())
    }
}
