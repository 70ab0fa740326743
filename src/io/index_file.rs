//! [`IndexFile`]: a file of fixed-size entries, memory-mapped through the seam and grown in
//! fallocated steps. The storage half of the offset and time indexes.
//!
//! # Growth
//! A new file starts at [`INITIAL_BYTES`] worth of entries and doubles, one `allocate` and one
//! fresh mapping per step, up to `roundDown(max_bytes, N)`: a store of many small partitions
//! stays small on disk, and no mapped byte is ever a sparse hole.
//!
//! # Valid entries on open
//! Kafka reads the whole file as entries; a preallocated file left by a crash then holds a
//! zero-filled tail. tidelog counts the entries **before the first all-zero slot after slot
//! 0**. An all-zero slot is never a real entry past the first (offsets, and time-index
//! timestamps, strictly increase from a non-negative start), but the first can be one: a
//! time-index entry for timestamp 0 at the base offset, or an offset-index entry for a
//! one-record batch at position 0. Slot 0 counts when entries follow it, or when the file
//! holds exactly one slot (trimmed, as every sealed or cleanly closed index is); alone at
//! the head of a preallocated file it is taken as no entry, which loses nothing a lookup
//! needs (it equals the lookup's fallback). A file whose last slot holds an entry is a
//! trimmed one, all entries (one look, not a walk through every entry, so a clean open
//! stays cheap); in any other, everything after the first zero slot is ignored and cut on
//! the first write. What remains is checked by the caller against the log and
//! rebuilt if inconsistent; truncation zeroes the slots it drops so that the rule keeps
//! holding after a crash.
//!
//! # Concurrency
//! One writer, any number of readers. Readers hold a read lock while they search the entries;
//! every change (a store into the mapping, growth, trim) holds the write lock, so no `&mut` to
//! the mapping ever aliases a slice a reader holds, and a mapping is dropped only while no
//! reader can see it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

use super::storage::{MapMut, OpenMode, Storage, StorageFile};
use crate::error::{Error, Result};

/// Size of a new index file, and of its first growth step, in bytes (one page).
pub const INITIAL_BYTES: usize = 4096;

/// Size of the warm section searched first by [`partition_point`] (Kafka's value).
pub const WARM_BYTES: usize = 8192;

/// Bytes read per step when loading a read-only index.
const LOAD_CHUNK: usize = 64 * 1024;

/// How an existing index file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexAccess {
    /// Mapped read-write: the owner of the log directory, which may append, truncate and trim.
    ReadWrite,
    /// Read once into memory with positional reads, never mapped and never modified: for a
    /// read-only opener (another process, a tool, files it may not write). The entries are a
    /// snapshot taken at open.
    ReadOnly,
}

/// The bytes behind the entries.
enum Backing<M> {
    /// No entries and no capacity.
    Empty,
    /// A mapping of the file's prefix; its length is the capacity.
    Mapped(M),
    /// The valid entries, loaded by [`IndexAccess::ReadOnly`].
    Loaded(Vec<u8>),
}

impl<M: MapMut> Backing<M> {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Empty => &[],
            Backing::Mapped(map) => map,
            Backing::Loaded(bytes) => bytes,
        }
    }
}

/// Everything the lock protects.
struct State<M> {
    backing: Backing<M>,
    /// Valid entries; `entries * N <= backing.bytes().len()`.
    entries: usize,
    /// The file's length as last set or seen by this handle.
    file_len: u64,
    /// True once the file holds nothing past the valid entries that this handle did not
    /// allocate, so stores into the mapping cannot land on a hole. False after an open.
    prepared: bool,
}

/// A file of `N`-byte entries, memory-mapped and grown in fallocated steps.
pub struct IndexFile<S: Storage, const N: usize> {
    storage: S,
    file: S::File,
    max_entries: usize,
    writable: bool,
    /// Set by every change, cleared by [`IndexFile::sync`]: a clean file is not synced again.
    dirty: AtomicBool,
    /// Whether `state.entries` has reached `max_entries`, kept beside the lock so the
    /// writer's per-append "full?" check (a roll condition) takes no lock. Changed only
    /// under the write lock, with `entries`.
    full: AtomicBool,
    state: RwLock<State<S::Map>>,
}

impl<S: Storage, const N: usize> IndexFile<S, N> {
    /// Creates a new, empty file at `path` (which must not exist) holding at most
    /// `roundDown(max_bytes, N)` bytes of entries, and allocates its first growth step.
    ///
    /// On error the new file is removed (best effort).
    ///
    /// # Errors
    /// [`Error::Io`] (`AlreadyExists` if `path` exists) or [`Error::NoSpace`].
    pub fn create(storage: &S, path: &Path, max_bytes: u64) -> Result<Self> {
        let file = storage.open(path, OpenMode::CreateNew)?;
        let max_entries = max_entries::<N>(max_bytes);
        let index = IndexFile {
            storage: storage.clone(),
            file,
            max_entries,
            writable: true,
            dirty: AtomicBool::new(true),
            full: AtomicBool::new(max_entries == 0),
            state: RwLock::new(State {
                backing: Backing::Empty,
                entries: 0,
                file_len: 0,
                prepared: true,
            }),
        };
        let grown = index.grow(&mut index.state.write());
        match grown {
            Ok(()) => Ok(index),
            Err(e) => {
                drop(index);
                // Best effort: the growth error is what the caller needs; an empty file left
                // behind is a missing index to the loader, which rebuilds it.
                let _ = storage.remove_file(path);
                Err(e)
            }
        }
    }

    /// Opens an existing file and counts its valid entries (see the module docs).
    ///
    /// # Errors
    /// [`Error::Io`] (`NotFound` if `path` is missing).
    pub fn open(storage: &S, path: &Path, max_bytes: u64, access: IndexAccess) -> Result<Self> {
        let writable = access == IndexAccess::ReadWrite;
        let mode = if writable {
            OpenMode::ReadWrite
        } else {
            OpenMode::ReadOnly
        };
        let file = storage.open(path, mode)?;
        let file_len = file.size()?;
        let (backing, entries) = if !writable {
            let bytes = load_valid::<S::File, N>(&file, file_len)?;
            let entries = bytes.len() / N;
            (Backing::Loaded(bytes), entries)
        } else if file_len == 0 {
            (Backing::Empty, 0)
        } else {
            // Reading a hole through a mapping is safe; stores wait for `prepare_write`.
            let map = storage.map_mut(&file, file_len)?;
            let entries = count_valid::<N>(&map, file_len);
            (Backing::Mapped(map), entries)
        };
        let max_entries = max_entries::<N>(max_bytes);
        Ok(IndexFile {
            storage: storage.clone(),
            file,
            max_entries,
            writable,
            dirty: AtomicBool::new(false),
            full: AtomicBool::new(entries >= max_entries),
            state: RwLock::new(State {
                backing,
                entries,
                file_len,
                prepared: false,
            }),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The number of valid entries.
    pub fn len(&self) -> usize {
        self.state.read().entries
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most entries the file may hold: `roundDown(max_bytes, N) / N`.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// True when no further entry fits.
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::Acquire)
    }

    /// True if opened with [`IndexAccess::ReadWrite`] (or created).
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The file's length in bytes as this handle knows it (the length at open, or as last
    /// grown or trimmed).
    pub fn file_len(&self) -> u64 {
        self.state.read().file_len
    }

    /// Calls `f` with the valid entries under the read lock.
    pub fn with_entries<R>(&self, f: impl FnOnce(&[[u8; N]]) -> R) -> R {
        let state = self.state.read();
        f(valid(&state))
    }

    /// Appends the entry `f` returns, if any. `f` sees the valid entries and whether the file
    /// is full, and may refuse with an error; it runs under the write lock, so its checks and
    /// the store are atomic. Returns whether an entry was appended.
    ///
    /// # Errors
    /// What `f` returns; [`Error::InvalidArgument`] if the file is read-only or `f` returns an
    /// entry while the file is full; [`Error::NoSpace`]/[`Error::Io`] from growth.
    pub fn append_with(
        &self,
        f: impl FnOnce(&[[u8; N]], bool) -> Result<Option<[u8; N]>>,
    ) -> Result<bool> {
        let mut state = self.state.write();
        let full = state.entries >= self.max_entries;
        let Some(entry) = f(valid(&state), full)? else {
            return Ok(false);
        };
        self.check_writable()?;
        if full {
            return Err(Error::InvalidArgument(format!(
                "index {} is full ({} entries)",
                self.path().display(),
                self.max_entries
            )));
        }
        self.prepare_write(&mut state)?;
        if (state.entries + 1) * N > state.backing.bytes().len() {
            self.grow(&mut state)?;
        }
        let at = state.entries;
        let Backing::Mapped(map) = &mut state.backing else {
            return Err(self.not_mapped());
        };
        let (slots, _) = map.as_chunks_mut::<N>();
        let Some(slot) = slots.get_mut(at) else {
            return Err(self.not_mapped());
        };
        *slot = entry;
        state.entries += 1;
        self.full
            .store(state.entries >= self.max_entries, Ordering::Release);
        self.dirty.store(true, Ordering::Release);
        Ok(true)
    }

    /// Drops the entries from index `n` on, zeroing their slots. Does nothing if `n >= len()`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if read-only; [`Error::Io`] from preparing the file.
    pub fn truncate_entries(&self, n: usize) -> Result<()> {
        let mut state = self.state.write();
        if n >= state.entries {
            return Ok(());
        }
        self.check_writable()?;
        self.prepare_write(&mut state)?;
        let end = state.entries;
        let Backing::Mapped(map) = &mut state.backing else {
            return Err(self.not_mapped());
        };
        let (slots, _) = map.as_chunks_mut::<N>();
        let Some(dropped) = slots.get_mut(n..end) else {
            return Err(self.not_mapped());
        };
        dropped.fill([0; N]);
        state.entries = n;
        self.full.store(n >= self.max_entries, Ordering::Release);
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }

    /// Cuts the file to exactly its valid entries (`len() * N` bytes), as Kafka leaves the
    /// indexes of a rolled or closed segment. Later appends grow it again.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if read-only; [`Error::Io`]/[`Error::NoSpace`].
    pub fn trim(&self) -> Result<()> {
        let mut state = self.state.write();
        self.check_writable()?;
        self.shrink_to_valid(&mut state)
    }

    /// Makes the entries durable: writes the mapping back, then syncs the file's data and
    /// length. Does nothing if nothing changed since the last sync (or if read-only).
    ///
    /// # Errors
    /// [`Error::Io`]; nothing is then known to be durable.
    pub fn sync(&self) -> Result<()> {
        if !self.writable || !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let result = self.flush_and_sync();
        if result.is_err() {
            self.dirty.store(true, Ordering::Release);
        }
        result
    }

    /// Trims and syncs (if writable), then closes the file.
    ///
    /// # Errors
    /// As [`IndexFile::trim`] and [`IndexFile::sync`].
    pub fn close(self) -> Result<()> {
        if self.writable {
            self.trim()?;
            self.sync()?;
        }
        Ok(())
    }

    fn flush_and_sync(&self) -> Result<()> {
        {
            // Held only for the write-back of mapped pages; the file sync needs no lock.
            let state = self.state.read();
            if let Backing::Mapped(map) = &state.backing {
                map.flush()?;
            }
        }
        self.file.sync_data()
    }

    /// Grows the capacity one step (doubling, at least [`INITIAL_BYTES`], at most the max):
    /// allocate the new range, then map it. On error nothing changes.
    fn grow(&self, state: &mut State<S::Map>) -> Result<()> {
        let capacity = state.backing.bytes().len() / N;
        let initial = (INITIAL_BYTES / N).max(1);
        let target = capacity
            .saturating_mul(2)
            .max(initial)
            .min(self.max_entries);
        if target <= capacity {
            return Ok(());
        }
        let old_len = (capacity * N) as u64;
        let new_len = (target * N) as u64;
        self.file.allocate(old_len, new_len - old_len)?;
        let map = self.storage.map_mut(&self.file, new_len)?;
        state.backing = Backing::Mapped(map);
        state.file_len = state.file_len.max(new_len);
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }

    /// Before the first change to an opened file: cut whatever lies past the valid entries
    /// and allocate the entries' own range, so no later store lands on a hole.
    fn prepare_write(&self, state: &mut State<S::Map>) -> Result<()> {
        if state.prepared {
            return Ok(());
        }
        self.shrink_to_valid(state)?;
        self.file.allocate(0, (state.entries * N) as u64)?;
        state.prepared = true;
        Ok(())
    }

    /// Maps just the valid entries, drops the larger mapping, then cuts the file. The file is
    /// thus never cut below a live mapping, and on error the state stays consistent.
    fn shrink_to_valid(&self, state: &mut State<S::Map>) -> Result<()> {
        let valid_len = (state.entries * N) as u64;
        if state.file_len == valid_len && state.backing.bytes().len() as u64 == valid_len {
            return Ok(());
        }
        state.backing = if valid_len == 0 {
            Backing::Empty
        } else {
            Backing::Mapped(self.storage.map_mut(&self.file, valid_len)?)
        };
        self.file.set_len(valid_len)?;
        state.file_len = valid_len;
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }

    fn check_writable(&self) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(Error::InvalidArgument(format!(
                "index {} was opened read-only",
                self.path().display()
            )))
        }
    }

    fn not_mapped(&self) -> Error {
        Error::InvalidArgument(format!(
            "index {} has no writable mapping for its entries",
            self.path().display()
        ))
    }
}

impl<S: Storage, const N: usize> std::fmt::Debug for IndexFile<S, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexFile")
            .field("path", &self.path())
            .field("entry_size", &N)
            .field("entries", &self.len())
            .field("max_entries", &self.max_entries)
            .field("writable", &self.writable)
            .finish()
    }
}

/// The valid entries of `state`.
fn valid<M: MapMut, const N: usize>(state: &State<M>) -> &[[u8; N]] {
    let (slots, _) = state.backing.bytes().as_chunks::<N>();
    // `entries <= slots.len()` is the invariant of `State`; `get` keeps a broken one from
    // panicking a reader.
    slots.get(..state.entries).unwrap_or(slots)
}

fn max_entries<const N: usize>(max_bytes: u64) -> usize {
    usize::try_from(max_bytes / N as u64).unwrap_or(usize::MAX)
}

/// The number of leading entries for which `pred` holds, for a `pred` that holds for a prefix
/// of `entries` and fails for the rest (a binary search).
///
/// Like Kafka, it first tries the warm section (the last [`WARM_BYTES`] of entries), where
/// tailing readers and the writer look, so most lookups touch only recently used pages.
pub fn partition_point<const N: usize>(
    entries: &[[u8; N]],
    pred: impl Fn(&[u8; N]) -> bool,
) -> usize {
    let n = entries.len();
    let first_hot = n.saturating_sub(1 + WARM_BYTES / N);
    let holds = |i: usize| entries.get(i).is_some_and(&pred);
    let (mut lo, mut hi) = if holds(first_hot) {
        (first_hot + 1, n)
    } else {
        (0, first_hot)
    };
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if holds(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The number of valid entries at the start of `bytes`, the first `bytes.len()` bytes of a
/// file of `file_len` bytes (the rule of the module docs): those before the first all-zero
/// slot, where slot 0 may itself be an all-zero entry when more entries follow it or the
/// file holds exactly that one entry (a trimmed file).
pub fn count_valid<const N: usize>(bytes: &[u8], file_len: u64) -> usize {
    let (slots, _) = bytes.as_chunks::<N>();
    match slots.first() {
        Some(first) if is_zero(first) => {
            let n = first_zero_slot(slots, 1);
            if n > 1 || file_len == N as u64 {
                n
            } else {
                0
            }
        }
        _ => first_zero_slot(slots, 0),
    }
}

fn is_zero<const N: usize>(slot: &[u8; N]) -> bool {
    slot.iter().all(|&b| b == 0)
}

/// The index of the first all-zero slot at or after `from`, or `slots.len()`, for slots
/// that are non-zero up to some point and zero after it (the file's shape; damage that
/// breaks it is caught by the caller's checks against the log). A trimmed file, whose last
/// slot is an entry, costs one look; a preallocated one a binary search, not a walk
/// through every entry.
fn first_zero_slot<const N: usize>(slots: &[[u8; N]], from: usize) -> usize {
    let Some(rest) = slots.get(from..) else {
        return slots.len();
    };
    if rest.last().is_none_or(|last| !is_zero(last)) {
        return slots.len();
    }
    from + rest.partition_point(|slot| !is_zero(slot))
}

/// Reads the valid entries of a file with positional reads, stopping at the first zero slot
/// (slot 0 excepted, as in [`count_valid`]).
fn load_valid<F: StorageFile, const N: usize>(file: &F, file_len: u64) -> Result<Vec<u8>> {
    let whole = usize::try_from(file_len / N as u64).unwrap_or(usize::MAX / N) * N;
    let chunk = (LOAD_CHUNK / N).max(1) * N;
    let mut bytes = Vec::new();
    while bytes.len() < whole {
        let start = bytes.len();
        let want = chunk.min(whole - start);
        bytes.resize(start + want, 0);
        let read = file.read_at(&mut bytes[start..], start as u64)?;
        bytes.truncate(start + read / N * N);
        let (slots, _) = bytes.as_chunks::<N>();
        let from = (start / N).max(1);
        let valid = first_zero_slot(slots, from);
        if valid < slots.len() || read < want {
            bytes.truncate(valid * N);
            break;
        }
    }
    let entries = count_valid::<N>(&bytes, file_len);
    bytes.truncate(entries * N);
    Ok(bytes)
}
