//! [`OffsetIndex`]: Kafka's `.index`, mapping offsets to byte positions in the `.log`.
//!
//! Entry layout (8 bytes, big-endian):
//!
//! | off | size | field |
//! |----:|----:|-------|
//! | 0 | 4 | relative offset (int32): offset − segment base offset |
//! | 4 | 4 | position (int32): byte position of a batch start in the `.log` |
//!
//! Offsets and positions strictly increase. Each entry maps some batch's last offset to that
//! batch's (or an earlier batch's) start position, so a lookup lands at or before the batch
//! holding the target and the reader scans forward. The file is an
//! [`IndexFile`](crate::io::IndexFile): grown in fallocated steps, valid entries counted up to
//! the first all-zero slot on open.

use std::path::Path;

use crate::error::{Corruption, Error, Result};
use crate::io::{partition_point, IndexAccess, IndexFile, StdFs, Storage};

const RELATIVE_OFFSET_AT: usize = 0;
const POSITION_AT: usize = RELATIVE_OFFSET_AT + 4;
/// Bytes per entry.
pub const ENTRY_SIZE: usize = POSITION_AT + 4;

type Slot = [u8; ENTRY_SIZE];

/// One offset-index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IndexEntry {
    /// An absolute offset (the last offset of the batch it was written for).
    pub offset: i64,
    /// Byte position in the `.log` of a batch whose base offset is at most `offset`.
    pub position: u32,
}

/// Kafka's offset index for one segment. `Send + Sync`: one writer appends while any number
/// of readers look up.
///
/// ```
/// use tidelog::io::StdFs;
/// use tidelog::segment::{IndexEntry, OffsetIndex};
/// # let dir = tempfile::tempdir()?;
/// let index = OffsetIndex::create(&StdFs, &dir.path().join("00000000000000000100.index"), 100, 10 << 20)?;
/// index.append(IndexEntry { offset: 150, position: 4200 })?;
/// assert_eq!(index.lookup(160), IndexEntry { offset: 150, position: 4200 });
/// assert_eq!(index.lookup(120), IndexEntry { offset: 100, position: 0 });
/// index.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct OffsetIndex<S: Storage = StdFs> {
    file: IndexFile<S, ENTRY_SIZE>,
    base_offset: i64,
}

impl<S: Storage> OffsetIndex<S> {
    /// Creates a new, empty index at `path` (which must not exist) for the segment starting at
    /// `base_offset`, holding at most `roundDown(max_index_bytes, 8)` bytes of entries (Kafka's
    /// `segment.index.bytes`). Only the first growth step is allocated now.
    ///
    /// # Errors
    /// [`Error::Io`] (`AlreadyExists`) or [`Error::NoSpace`].
    pub fn create(
        storage: &S,
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
    ) -> Result<Self> {
        Ok(OffsetIndex {
            file: IndexFile::create(storage, path, max_index_bytes)?,
            base_offset,
        })
    }

    /// Opens an existing index. Its entries are the slots before the first all-zero slot (a
    /// preallocated tail left by a crash is not read as entries); a file of a cleanly closed
    /// Kafka or tidelog segment is all entries. Call [`OffsetIndex::sanity_check`] and check
    /// the entries against the log before trusting them; rebuild on any doubt.
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
        Ok(OffsetIndex {
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

    /// Appends an entry.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the index is full or read-only, if `entry.offset` is not
    /// greater than the last entry's offset or not representable relative to the base offset
    /// (`0..=i32::MAX`), or if `entry.position` is not greater than the last entry's position
    /// or exceeds `i32::MAX`; [`Error::NoSpace`]/[`Error::Io`] if growing the file fails.
    pub fn append(&self, entry: IndexEntry) -> Result<()> {
        self.file.append_with(|entries, full| {
            if full {
                return Err(self.invalid(format!("is full ({} entries)", entries.len())));
            }
            let relative = relative_offset(self.base_offset, entry.offset)
                .ok_or_else(|| self.invalid(format!("cannot hold offset {}", entry.offset)))?;
            if i32::try_from(entry.position).is_err() {
                return Err(self.invalid(format!("cannot hold position {}", entry.position)));
            }
            if let Some(last) = entries.last().map(|slot| self.decode(slot)) {
                if entry.offset <= last.offset || entry.position <= last.position {
                    return Err(self.invalid(format!(
                        "entry {entry:?} does not follow the last entry {last:?}"
                    )));
                }
            }
            Ok(Some(encode(relative, entry.position)))
        })?;
        Ok(())
    }

    /// The entry with the largest offset `<= target`, or `(base_offset, 0)` if there is none:
    /// where a reader looking for `target` starts scanning the log.
    pub fn lookup(&self, target: i64) -> IndexEntry {
        self.file.with_entries(|entries| {
            let n = partition_point(entries, |slot| self.decode(slot).offset <= target);
            n.checked_sub(1)
                .and_then(|i| entries.get(i))
                .map(|slot| self.decode(slot))
                .unwrap_or(IndexEntry {
                    offset: self.base_offset,
                    position: 0,
                })
        })
    }

    /// The entry with the smallest offset `>= target`, if any (Kafka's
    /// `fetchUpperBoundOffset`): its position bounds a read that must end before `target`.
    pub fn lookup_ceiling(&self, target: i64) -> Option<IndexEntry> {
        self.file.with_entries(|entries| {
            let n = partition_point(entries, |slot| self.decode(slot).offset < target);
            entries.get(n).map(|slot| self.decode(slot))
        })
    }

    /// Entry `i`, if it exists.
    pub fn entry(&self, i: usize) -> Option<IndexEntry> {
        self.file
            .with_entries(|entries| entries.get(i).map(|slot| self.decode(slot)))
    }

    /// The last entry, if any.
    pub fn last_entry(&self) -> Option<IndexEntry> {
        self.file
            .with_entries(|entries| entries.last().map(|slot| self.decode(slot)))
    }

    /// A copy of every entry.
    pub fn entries(&self) -> Vec<IndexEntry> {
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

    /// Cuts the file to exactly `len() * 8` bytes (on roll and close, as Kafka does). Later
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

    /// Kafka's `sanityCheck`: the file length is a multiple of 8, and the last entry's offset
    /// is at least the base offset. Cheap (it reads one entry).
    ///
    /// # Errors
    /// [`Error::Corrupt`] with the file and position; the caller rebuilds the index.
    pub fn sanity_check(&self) -> Result<()> {
        let file_len = self.file.file_len();
        if !file_len.is_multiple_of(ENTRY_SIZE as u64) {
            return Err(self.corrupt(
                file_len,
                Corruption::Invalid {
                    reason: "offset index length is not a multiple of 8",
                },
            ));
        }
        if let Some(last) = self.last_entry() {
            if last.offset < self.base_offset {
                let at = (self.len() - 1) * ENTRY_SIZE;
                return Err(self.corrupt(
                    at as u64,
                    Corruption::Offsets {
                        reason: format!(
                            "last index offset {} is below the base offset {}",
                            last.offset, self.base_offset
                        ),
                    },
                ));
            }
        }
        Ok(())
    }

    /// A full check of every entry: relative offsets are non-negative and offsets and
    /// positions strictly increase, which binary search needs. Linear in the entries.
    ///
    /// # Errors
    /// [`Error::Corrupt`] at the first bad entry.
    pub fn check_entries(&self) -> Result<()> {
        self.file.with_entries(|entries| {
            let mut previous: Option<IndexEntry> = None;
            for (i, slot) in entries.iter().enumerate() {
                let entry = self.decode(slot);
                let bad = entry.offset < self.base_offset
                    || i32::try_from(entry.position).is_err()
                    || previous
                        .is_some_and(|p| entry.offset <= p.offset || entry.position <= p.position);
                if bad {
                    return Err(self.corrupt(
                        (i * ENTRY_SIZE) as u64,
                        Corruption::Offsets {
                            reason: format!(
                                "index entry {i} {entry:?} breaks the order after {previous:?} \
                                 (base offset {})",
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
    /// As [`OffsetIndex::trim_to_valid_size`] and [`OffsetIndex::sync`].
    pub fn close(self) -> Result<()> {
        self.file.close()
    }

    fn decode(&self, slot: &Slot) -> IndexEntry {
        let [r0, r1, r2, r3] = field(slot, RELATIVE_OFFSET_AT);
        let relative = i32::from_be_bytes([r0, r1, r2, r3]);
        IndexEntry {
            offset: self.base_offset.saturating_add(i64::from(relative)),
            position: u32::from_be_bytes(field(slot, POSITION_AT)),
        }
    }

    fn invalid(&self, what: String) -> Error {
        Error::InvalidArgument(format!(
            "offset index {} (base offset {}) {what}",
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

/// `offset - base` if it fits Kafka's non-negative int32 relative offset.
pub(super) fn relative_offset(base: i64, offset: i64) -> Option<i32> {
    offset
        .checked_sub(base)
        .and_then(|d| i32::try_from(d).ok())
        .filter(|&d| d >= 0)
}

/// The 4 bytes at `at` (a field offset constant of the layout table).
fn field(slot: &Slot, at: usize) -> [u8; 4] {
    let mut out = [0; 4];
    out.copy_from_slice(&slot[at..at + 4]);
    out
}

fn encode(relative: i32, position: u32) -> Slot {
    let mut slot = [0; ENTRY_SIZE];
    slot[RELATIVE_OFFSET_AT..POSITION_AT].copy_from_slice(&relative.to_be_bytes());
    slot[POSITION_AT..].copy_from_slice(&position.to_be_bytes());
    slot
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::io::{OpenMode, StorageFile};

    const MAX: u64 = 10 << 20;

    fn tempdir() -> Result<tempfile::TempDir> {
        tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))
    }

    fn entry(offset: i64, position: u32) -> IndexEntry {
        IndexEntry { offset, position }
    }

    /// The largest entry with offset <= target, by a linear scan.
    fn oracle(entries: &[IndexEntry], base: i64, target: i64) -> IndexEntry {
        entries
            .iter()
            .rev()
            .find(|e| e.offset <= target)
            .copied()
            .unwrap_or(entry(base, 0))
    }

    fn write_raw(path: &Path, bytes: &[u8], len: u64) -> Result<()> {
        let file = StdFs.open(path, OpenMode::CreateNew)?;
        file.set_len(len)?;
        file.write_all_at(bytes, 0)
    }

    fn raw(entries: &[(i32, i32)]) -> Vec<u8> {
        entries
            .iter()
            .flat_map(|(r, p)| r.to_be_bytes().into_iter().chain(p.to_be_bytes()))
            .collect()
    }

    #[test]
    fn append_and_lookup_match_a_linear_scan() -> Result<()> {
        let dir = tempdir()?;
        let base = 1_000;
        let index = OffsetIndex::create(&StdFs, &dir.path().join("i.index"), base, MAX)?;
        let entries: Vec<IndexEntry> = (1..=3000)
            .map(|i| entry(base + i * 3, (i * 4100) as u32))
            .collect();
        assert_eq!(index.lookup(base + 5), entry(base, 0));
        for e in &entries {
            index.append(*e)?;
        }
        assert_eq!(index.entries(), entries);
        assert_eq!(index.len(), 3000);
        assert_eq!(index.last_entry(), entries.last().copied());
        assert_eq!(index.entry(1), Some(entries[1]));
        assert_eq!(index.entry(3000), None);
        for target in (base - 2)..(base + 9010) {
            assert_eq!(
                index.lookup(target),
                oracle(&entries, base, target),
                "{target}"
            );
            let ceiling = entries.iter().find(|e| e.offset >= target).copied();
            assert_eq!(index.lookup_ceiling(target), ceiling, "{target}");
        }
        index.sanity_check()?;
        index.check_entries()?;
        Ok(())
    }

    #[test]
    fn append_enforces_kafka_rules() -> Result<()> {
        let dir = tempdir()?;
        let index = OffsetIndex::create(&StdFs, &dir.path().join("i.index"), 100, MAX)?;
        let bad = |e: Result<()>| matches!(e, Err(Error::InvalidArgument(_)));
        assert!(bad(index.append(entry(99, 10))), "below base");
        assert!(
            bad(index.append(entry(100 + (1 << 31), 10))),
            "relative offset overflows i32"
        );
        assert!(
            bad(index.append(entry(150, 1 << 31))),
            "position overflows i32"
        );
        index.append(entry(150, 4000))?;
        assert!(bad(index.append(entry(150, 9000))), "offset not increasing");
        assert!(bad(index.append(entry(140, 9000))), "offset going back");
        assert!(
            bad(index.append(entry(160, 4000))),
            "position not increasing"
        );
        index.append(entry(100 + i64::from(i32::MAX), i32::MAX as u32))?;
        assert_eq!(index.len(), 2);
        Ok(())
    }

    #[test]
    fn grows_in_fallocated_steps_until_full() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join("i.index");
        // 3001 entries' worth rounds down to 3000 entries = 24000 bytes.
        let index = OffsetIndex::create(&StdFs, &path, 0, 24_007)?;
        assert_eq!(index.max_entries(), 3000);
        let mut lengths = vec![StdFs.file_len(&path)?];
        for i in 1..=3000 {
            assert!(!index.is_full());
            index.append(entry(i, i as u32))?;
            let len = StdFs.file_len(&path)?;
            if lengths.last() != Some(&len) {
                lengths.push(len);
            }
        }
        assert_eq!(lengths, [4096, 8192, 16384, 24000]);
        assert!(index.is_full());
        assert!(index.append(entry(3001, 3001)).is_err());
        index.close()?;
        assert_eq!(StdFs.file_len(&path)?, 24000);
        Ok(())
    }

    #[test]
    fn reopen_after_trim_gives_identical_entries() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join("i.index");
        let index = OffsetIndex::create(&StdFs, &path, 50, MAX)?;
        for i in 1..=700 {
            index.append(entry(50 + 2 * i, 4097 * i as u32))?;
        }
        let before = index.entries();
        index.trim_to_valid_size()?;
        assert_eq!(StdFs.file_len(&path)?, 700 * 8);
        assert_eq!(index.entries(), before);
        // Still appendable after trimming: it grows again.
        index.append(entry(50 + 2 * 701, 4097 * 701))?;
        index.close()?;
        assert_eq!(StdFs.file_len(&path)?, 701 * 8);
        for access in [IndexAccess::ReadWrite, IndexAccess::ReadOnly] {
            let again = OffsetIndex::open(&StdFs, &path, 50, MAX, access)?;
            assert_eq!(again.entries()[..700], before[..]);
            assert_eq!(again.len(), 701);
            again.sanity_check()?;
            again.close()?;
        }
        Ok(())
    }

    #[test]
    fn reopen_untrimmed_kafka_file_with_zero_tail() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join("00000000000000000000.index");
        // What a crashed Kafka broker leaves: exactly 10485760 bytes, a few entries, zeros.
        write_raw(&path, &raw(&[(3, 4730), (7, 9571)]), 10_485_760)?;
        let index = OffsetIndex::open(&StdFs, &path, 0, MAX, IndexAccess::ReadWrite)?;
        assert_eq!(index.entries(), [entry(3, 4730), entry(7, 9571)]);
        index.sanity_check()?;
        assert_eq!(index.lookup(100), entry(7, 9571));
        index.append(entry(12, 14000))?;
        // The first write cut the preallocated tail instead of allocating 10 MiB.
        assert!(StdFs.file_len(&path)? <= 4096);
        index.close()?;
        assert_eq!(StdFs.file_len(&path)?, 24);
        let again = OffsetIndex::open(&StdFs, &path, 0, MAX, IndexAccess::ReadOnly)?;
        assert_eq!(
            again.entries(),
            [entry(3, 4730), entry(7, 9571), entry(12, 14000)]
        );
        Ok(())
    }

    #[test]
    fn sanity_check_failures() -> Result<()> {
        let dir = tempdir()?;
        let torn = dir.path().join("torn.index");
        let mut bytes = raw(&[(3, 4730), (7, 9571)]);
        bytes.extend_from_slice(&[0, 0, 1]);
        write_raw(&torn, &bytes, bytes.len() as u64)?;
        let index = OffsetIndex::open(&StdFs, &torn, 0, MAX, IndexAccess::ReadOnly)?;
        assert_eq!(index.len(), 2);
        let err = index.sanity_check().err();
        let location = err
            .as_ref()
            .and_then(|e| e.location())
            .cloned()
            .unwrap_or_default();
        assert_eq!(location.path.as_deref(), Some(torn.as_path()));
        assert_eq!(location.position, Some(19));

        let below = dir.path().join("below.index");
        write_raw(&below, &raw(&[(5, 100), (-1, 200)]), 16)?;
        let index = OffsetIndex::open(&StdFs, &below, 1000, MAX, IndexAccess::ReadOnly)?;
        let err = index.sanity_check().err();
        assert!(matches!(
            err,
            Some(Error::Corrupt {
                kind: Corruption::Offsets { .. },
                ..
            })
        ));

        let unordered = dir.path().join("unordered.index");
        write_raw(
            &unordered,
            &raw(&[(5, 100), (9, 300), (8, 400), (10, 500)]),
            32,
        )?;
        let index = OffsetIndex::open(&StdFs, &unordered, 0, MAX, IndexAccess::ReadOnly)?;
        index.sanity_check()?; // Kafka's cheap check passes...
        let err = index.check_entries().err(); // ...the full one finds the bad entry.
        let position = err
            .as_ref()
            .and_then(|e| e.location())
            .and_then(|l| l.position);
        assert_eq!(position, Some(16));
        Ok(())
    }

    #[test]
    fn truncate_to_drops_entries_at_and_after() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join("i.index");
        let index = OffsetIndex::create(&StdFs, &path, 0, MAX)?;
        for (o, p) in [(10, 100), (20, 200), (30, 300), (40, 400)] {
            index.append(entry(o, p))?;
        }
        index.truncate_to(41)?;
        assert_eq!(index.len(), 4);
        index.truncate_to(31)?;
        assert_eq!(index.last_entry(), Some(entry(30, 300)));
        index.truncate_to(20)?;
        assert_eq!(index.entries(), [entry(10, 100)]);
        index.append(entry(15, 150))?; // appends resume after the cut
        index.sync()?;
        drop(index);
        let again = OffsetIndex::open(&StdFs, &path, 0, MAX, IndexAccess::ReadWrite)?;
        assert_eq!(again.entries(), [entry(10, 100), entry(15, 150)]);
        again.truncate_all()?;
        assert!(again.is_empty());
        assert_eq!(again.lookup(100), entry(0, 0));
        again.close()?;
        assert_eq!(StdFs.file_len(&path)?, 0);
        Ok(())
    }

    #[test]
    fn concurrent_reader_and_writer() -> Result<()> {
        let dir = tempdir()?;
        let index = Arc::new(OffsetIndex::create(
            &StdFs,
            &dir.path().join("i.index"),
            0,
            MAX,
        )?);
        let done = Arc::new(AtomicBool::new(false));
        let start = Arc::new(std::sync::Barrier::new(4));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (index, done, start) =
                    (Arc::clone(&index), Arc::clone(&done), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    let mut lookups = 0i64;
                    while !done.load(Ordering::Acquire) || lookups < 2000 {
                        // Entry i is (2i + 2, 100i + 100), so position = 50 * offset.
                        let n = index.len() as i64;
                        let target = (lookups * 7919) % (2 * n + 10);
                        let got = index.lookup(target);
                        if got != entry(0, 0) {
                            assert!(
                                got.offset <= target && got.offset % 2 == 0,
                                "{target}: {got:?}"
                            );
                            assert_eq!(i64::from(got.position), 50 * got.offset);
                        }
                        // Every entry present before the lookup is seen by it.
                        let seen = (target / 2 - 1).min(n - 1);
                        assert!(
                            seen < 0 || got.offset >= 2 * seen + 2,
                            "{target}: {got:?} n {n}"
                        );
                        lookups += 1;
                    }
                    lookups
                })
            })
            .collect();
        start.wait();
        for i in 0..20_000i64 {
            index.append(entry(2 * i + 2, 100 * i as u32 + 100))?;
        }
        done.store(true, Ordering::Release);
        for reader in readers {
            let joined = reader.join();
            assert!(joined.is_ok_and(|lookups| lookups >= 2000));
        }
        assert_eq!(index.len(), 20_000);
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
    fn reads_a_genuine_kafka_index() -> Result<()> {
        let Some(path) = kafka_fixture("00000000000000000000.index") else {
            return Ok(());
        };
        // Read-only: the fixture is never opened for writing.
        let index = OffsetIndex::open(&StdFs, &path, 0, MAX, IndexAccess::ReadOnly)?;
        assert_eq!(index.entries(), [entry(3, 4730), entry(7, 9571)]);
        index.sanity_check()?;
        index.check_entries()?;
        assert_eq!(index.lookup(5), entry(3, 4730));
        assert_eq!(index.lookup(2), entry(0, 0));
        Ok(())
    }

    proptest! {
        #[test]
        fn lookups_match_the_oracle(
            base in 0i64..1_000_000,
            steps in proptest::collection::vec((1i64..50, 1u32..9000), 0..2500),
            targets in proptest::collection::vec(-10i64..130_000, 1..50),
            cut in 0i64..130_000,
        ) {
            let dir = tempdir()?;
            let index = OffsetIndex::create(&StdFs, &dir.path().join("p.index"), base, MAX)?;
            let mut entries = Vec::new();
            let (mut offset, mut position) = (base, 0u32);
            for (d_offset, d_position) in steps {
                offset += d_offset;
                position += d_position;
                entries.push(entry(offset, position));
                index.append(entry(offset, position))?;
            }
            for target in targets {
                prop_assert_eq!(index.lookup(base + target), oracle(&entries, base, base + target));
            }
            index.truncate_to(base + cut)?;
            entries.retain(|e| e.offset < base + cut);
            prop_assert_eq!(index.entries(), entries);
        }
    }
}
