//! [`SimFs`]: an in-memory file system with a power-loss model, in the manner of SQLite's
//! `test6.c`, redb's crash backend and TigerBeetle's simulated storage.
//!
//! # The model
//! - **Files** are byte vectors. Each file (an inode) keeps its *visible* content (what reads
//!   see: the page cache), its *durable* image (what the disk holds), and the writes and
//!   length changes made since the last successful [`StorageFile::sync_data`], in order.
//!   `sync_data` applies those pending changes to the durable image.
//! - **Names** (create, rename, remove) change the visible namespace at once and the durable
//!   one only at [`Storage::sync_dir`] of their directory. Handles and mappings refer to the
//!   inode, so they stay valid after a rename or removal, as on Unix. Directories themselves
//!   are durable as soon as they are created, and [`Storage::remove_dir_all`] and the rename
//!   of a directory are durable at once (a simplification: a harness creates its
//!   directories before the workload, and the crate fsyncs the parent right after its
//!   directory renames).
//! - **Mappings** ([`SimMap`]) are buffers. A mapping takes its content from the file on its
//!   first access (not when it is created, so that a mapping which replaces another sees
//!   what the other stored once that one is dropped), and its stores reach the file when it is
//!   flushed ([`MapMut::flush`], `msync`) or dropped (`munmap`), as whole changed 4 KiB pages
//!   written like ordinary writes. So, as with real files, an index entry becomes durable
//!   only by `msync` followed by `fdatasync` of the file; stores in a live mapping are lost
//!   by a crash. Two mappings of one file are coherent only if at most one is accessed
//!   between write-backs, which is how the crate uses them (a new mapping replaces the old).
//!
//! # Crashes
//! [`SimFs::crash`] returns a new file system holding the disk after a power loss, by a
//! [`CrashVariant`]: (a) unsynced writes dropped, (b) a random subset kept, (c) the last
//! write torn at a 512-byte sector or a random byte, (d) grown files extended with zeros or
//! garbage instead of their data, (e) un-dir-synced namespace changes reverted (a random
//! prefix of them kept, as an ordered journal does), (f) everything written kept except what
//! a failed `fdatasync` dropped. Recovery then runs the real code on the image.
//!
//! **Failed syncs drop their pages (fsyncgate).** With a [`FaultController`] attached
//! ([`SimFs::set_faults`]), a `sync_data` that is made to fail discards the file's pending
//! writes from the durable future while reads still see them; a later sync succeeds without
//! writing them, as Linux does. Short writes store a prefix. [`SimFs::crash_after`] freezes
//! the disk after the N-th mutating call, for enumerating crash points.
//!
//! The file system also checks the SIGBUS contract of [`Storage::map_mut`]: mapping a range
//! that holds a sparse hole, or cutting a file below a live mapping, is recorded in
//! [`SimFs::contract_violations`].
//!
//! ```
//! use tidelog::io::{CrashVariant, OpenMode, SimFs, SimRng, Storage, StorageFile};
//! use std::path::Path;
//! let fs = SimFs::new();
//! fs.create_dir_all(Path::new("/d"))?;
//! let f = fs.open(Path::new("/d/a"), OpenMode::Create)?;
//! f.write_all_at(b"synced", 0)?;
//! f.sync_data()?;
//! fs.sync_dir(Path::new("/d"))?;
//! f.write_all_at(b" and not", 6)?;
//! let after = fs.crash(CrashVariant::DropUnsynced, &mut SimRng::new(1));
//! assert_eq!(after.read_file(Path::new("/d/a")), Some(b"synced".to_vec()));
//! # Ok::<(), tidelog::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::fault::{FaultController, FaultKind, FaultOp};
use super::storage::{MapMut, OpenMode, Storage, StorageFile};
use crate::error::{Error, Result};

/// Granularity of mapping write-back.
const PAGE: usize = 4096;
/// Sector size for torn writes.
const SECTOR: u64 = 512;

/// A small, fast, seeded random generator (SplitMix64) for crash images and tests: the same
/// seed always gives the same images.
#[derive(Debug, Clone)]
pub struct SimRng {
    state: u64,
}

impl SimRng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SimRng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 if `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// True with probability 1/2.
    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_be_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// The disk image [`SimFs::crash`] produces (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashVariant {
    /// (a) Every write since the file's last successful sync is lost.
    DropUnsynced,
    /// (b) Each unsynced write or length change survives with probability 1/2, in order.
    KeepRandomSubset,
    /// (c) Every unsynced change survives except the last write, which is cut at a 512-byte
    /// sector boundary or at a random byte.
    TornLastWrite,
    /// (d) Files keep their durable content but take their new length, the new bytes being
    /// zeros or random garbage (the file size was logged, the data blocks were not).
    ExtendGarbage,
    /// (e) Data as (a), and the creates, renames and removals not made durable by a
    /// directory sync are reverted, except a random prefix of them.
    RevertNamespace,
    /// (f) Every write survives except those a failed `fdatasync` dropped.
    FailedSync,
}

impl CrashVariant {
    /// Every variant, (a) to (f).
    pub const ALL: [CrashVariant; 6] = [
        CrashVariant::DropUnsynced,
        CrashVariant::KeepRandomSubset,
        CrashVariant::TornLastWrite,
        CrashVariant::ExtendGarbage,
        CrashVariant::RevertNamespace,
        CrashVariant::FailedSync,
    ];

    /// The variant's letter in `RELIABILITY.md` (`'a'` to `'f'`).
    pub fn letter(self) -> char {
        match self {
            CrashVariant::DropUnsynced => 'a',
            CrashVariant::KeepRandomSubset => 'b',
            CrashVariant::TornLastWrite => 'c',
            CrashVariant::ExtendGarbage => 'd',
            CrashVariant::RevertNamespace => 'e',
            CrashVariant::FailedSync => 'f',
        }
    }
}

#[derive(Debug, Clone)]
enum Change {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Clone)]
struct Pending {
    seq: u64,
    change: Change,
}

impl Change {
    fn apply(&self, image: &mut Vec<u8>) {
        match self {
            Change::Write { offset, bytes } => write_into(image, *offset, bytes),
            Change::SetLen(len) => image.resize(*len as usize, 0),
        }
    }
}

fn write_into(image: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let start = offset as usize;
    let end = start + bytes.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[start..end].copy_from_slice(bytes);
}

#[derive(Debug, Clone, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<Pending>,
    /// Ranges `[start, end)` of the visible content that are sparse holes.
    holes: Vec<(u64, u64)>,
    /// Live mappings: id → mapped length.
    maps: BTreeMap<u64, u64>,
}

impl Inode {
    fn fill_holes(&mut self, start: u64, end: u64) {
        let mut kept = Vec::new();
        for &(a, b) in &self.holes {
            if b <= start || a >= end {
                kept.push((a, b));
            } else {
                if a < start {
                    kept.push((a, start));
                }
                if b > end {
                    kept.push((end, b));
                }
            }
        }
        self.holes = kept;
    }
}

#[derive(Debug, Clone)]
enum NsOp {
    Link {
        path: PathBuf,
        ino: u64,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        ino: u64,
    },
    Unlink {
        path: PathBuf,
    },
}

impl NsOp {
    fn in_dir(&self, dir: &Path) -> bool {
        let parent = |p: &Path| p.parent() == Some(dir);
        match self {
            NsOp::Link { path, .. } | NsOp::Unlink { path } => parent(path),
            NsOp::Rename { from, to, .. } => parent(from) || parent(to),
        }
    }

    fn apply(&self, names: &mut BTreeMap<PathBuf, u64>) {
        match self {
            NsOp::Link { path, ino } => {
                names.insert(path.clone(), *ino);
            }
            NsOp::Rename { from, to, ino } => {
                names.remove(from);
                names.insert(to.clone(), *ino);
            }
            NsOp::Unlink { path } => {
                names.remove(path);
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
struct SimState {
    inodes: HashMap<u64, Inode>,
    next_ino: u64,
    next_map: u64,
    names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    ns_log: Vec<NsOp>,
    seq: u64,
    faults: Option<FaultController>,
    mutating_calls: u64,
    freeze_after: Option<u64>,
    frozen: Option<Box<SimState>>,
    dead: bool,
    failed_syncs: u64,
    dropped_writes: u64,
    violations: Vec<String>,
}

impl SimState {
    fn inode(&mut self, ino: u64) -> &mut Inode {
        self.inodes.entry(ino).or_default()
    }

    fn record(&mut self, ino: u64, change: Change) {
        self.seq += 1;
        let seq = self.seq;
        self.inode(ino).pending.push(Pending { seq, change });
    }

    fn write(&mut self, ino: u64, offset: u64, bytes: &[u8]) {
        let inode = self.inode(ino);
        let old_len = inode.data.len() as u64;
        if offset > old_len {
            inode.holes.push((old_len, offset));
        }
        write_into(&mut inode.data, offset, bytes);
        inode.fill_holes(offset, offset + bytes.len() as u64);
        self.record(
            ino,
            Change::Write {
                offset,
                bytes: bytes.to_vec(),
            },
        );
    }

    fn set_len(&mut self, ino: u64, len: u64, path: &Path) {
        let inode = self.inode(ino);
        let old = inode.data.len() as u64;
        if let Some(&mapped) = inode.maps.values().max() {
            if len < mapped {
                let msg = format!(
                    "{}: set_len({len}) below a live mapping of {mapped} bytes (SIGBUS)",
                    path.display()
                );
                self.violations.push(msg);
            }
        }
        let inode = self.inode(ino);
        inode.data.resize(len as usize, 0);
        if len > old {
            inode.holes.push((old, len));
        } else {
            inode.fill_holes(len, u64::MAX);
        }
        self.record(ino, Change::SetLen(len));
    }

    /// Called after every mutating call: counts it and freezes the disk at the chosen one.
    fn finish_mutation(&mut self) {
        self.mutating_calls += 1;
        if self.freeze_after == Some(self.mutating_calls) {
            let mut snapshot = self.clone();
            snapshot.faults = None;
            snapshot.freeze_after = None;
            snapshot.frozen = None;
            self.frozen = Some(Box::new(snapshot));
            self.dead = true;
        }
    }

    /// The image of one inode after a crash of `variant`.
    fn image(
        &self,
        ino: u64,
        variant: CrashVariant,
        torn: Option<u64>,
        rng: &mut SimRng,
    ) -> Vec<u8> {
        let Some(inode) = self.inodes.get(&ino) else {
            return Vec::new();
        };
        let mut image = inode.durable.clone();
        match variant {
            CrashVariant::DropUnsynced | CrashVariant::RevertNamespace => {}
            CrashVariant::KeepRandomSubset => {
                for p in &inode.pending {
                    if rng.coin() {
                        p.change.apply(&mut image);
                    }
                }
            }
            CrashVariant::FailedSync => {
                for p in &inode.pending {
                    p.change.apply(&mut image);
                }
            }
            CrashVariant::TornLastWrite => {
                for p in &inode.pending {
                    match (&p.change, torn) {
                        (Change::Write { offset, bytes }, Some(seq)) if seq == p.seq => {
                            let cut = torn_cut(*offset, bytes.len() as u64, rng) as usize;
                            write_into(&mut image, *offset, &bytes[..cut]);
                        }
                        _ => p.change.apply(&mut image),
                    }
                }
            }
            CrashVariant::ExtendGarbage => {
                let len = inode.data.len();
                if len > image.len() {
                    let start = image.len();
                    image.resize(len, 0);
                    if rng.coin() {
                        rng.fill(&mut image[start..]);
                    }
                }
            }
        }
        image
    }
}

/// Where a torn write of `len` bytes at `offset` stops, relative to its start: at a sector
/// boundary inside it, or at a random byte; never the whole write.
fn torn_cut(offset: u64, len: u64, rng: &mut SimRng) -> u64 {
    if len == 0 {
        return 0;
    }
    if rng.coin() {
        let first = offset.div_ceil(SECTOR) * SECTOR;
        let boundaries: Vec<u64> = (first..offset + len)
            .step_by(SECTOR as usize)
            .map(|b| b - offset)
            .collect();
        if boundaries.is_empty() {
            0
        } else {
            boundaries[rng.below(boundaries.len() as u64) as usize]
        }
    } else {
        rng.below(len)
    }
}

/// An in-memory [`Storage`] with a power-loss model (see the module docs). Clones share one
/// file system.
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    state: Arc<Mutex<SimState>>,
}

/// A file opened by [`SimFs`].
pub struct SimFile {
    ino: u64,
    path: PathBuf,
    writable: bool,
    fs: SimFs,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile")
            .field("path", &self.path)
            .field("ino", &self.ino)
            .finish()
    }
}

/// A mapping handed out by [`SimFs`]: a buffer loaded from the file on first access and
/// written back, page by changed page, on [`MapMut::flush`] and on drop.
pub struct SimMap {
    id: u64,
    ino: u64,
    len: usize,
    path: PathBuf,
    fs: SimFs,
    buf: OnceLock<Vec<u8>>,
    /// The content last loaded or written back: what the file holds for this mapping.
    base: Mutex<Vec<u8>>,
}

fn os_error(op: FaultOp, path: &Path, errno: i32) -> Error {
    Error::io(op.name(), path, io::Error::from_raw_os_error(errno))
}

impl SimFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Attaches `faults`: every later call is counted by it and fails as it decides, with the
    /// model's semantics (a failed `sync_data` drops the file's pending writes; a short write
    /// stores a prefix).
    pub fn set_faults(&self, faults: FaultController) {
        self.state.lock().faults = Some(faults);
    }

    /// Freezes the disk right after the `n`-th mutating call from now (1-based): the disk
    /// as it was then is kept for [`frozen`](Self::frozen), and every later call fails with
    /// `EIO`, as on a machine that lost power.
    pub fn crash_after(&self, n: u64) {
        let mut st = self.state.lock();
        st.freeze_after = Some(st.mutating_calls + n);
    }

    /// The disk frozen by [`crash_after`](Self::crash_after), if that point was reached;
    /// call [`crash`](Self::crash) on it for the images.
    pub fn frozen(&self) -> Option<SimFs> {
        let st = self.state.lock();
        st.frozen.as_ref().map(|s| SimFs {
            state: Arc::new(Mutex::new((**s).clone())),
        })
    }

    /// Mutating calls so far (creating opens, writes, length changes, allocations, syncs,
    /// namespace changes, mapping flushes): the crash points of a workload.
    pub fn mutating_calls(&self) -> u64 {
        self.state.lock().mutating_calls
    }

    /// Pending (unsynced) writes and length changes over all files.
    pub fn pending_changes(&self) -> usize {
        self.state
            .lock()
            .inodes
            .values()
            .map(|i| i.pending.len())
            .sum()
    }

    /// `sync_data` calls that failed by injection, and the pending writes they dropped.
    pub fn failed_syncs(&self) -> (u64, u64) {
        let st = self.state.lock();
        (st.failed_syncs, st.dropped_writes)
    }

    /// Breaches of the SIGBUS contract of [`Storage::map_mut`] seen so far.
    pub fn contract_violations(&self) -> Vec<String> {
        self.state.lock().violations.clone()
    }

    /// The visible content of the file `path`, if it exists.
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.state.lock();
        let ino = st.names.get(path)?;
        st.inodes.get(ino).map(|i| i.data.clone())
    }

    /// Replaces (or creates) the file `path` with `bytes`, durably, name included: for
    /// building fixtures and damaging images. The parent directory is created if missing.
    pub fn write_file(&self, path: &Path, bytes: &[u8]) {
        let mut st = self.state.lock();
        if let Some(parent) = path.parent() {
            add_dirs(&mut st.dirs, parent);
        }
        let ino = match st.names.get(path) {
            Some(&ino) => ino,
            None => {
                st.next_ino += 1;
                st.next_ino
            }
        };
        st.names.insert(path.to_path_buf(), ino);
        st.durable_names.insert(path.to_path_buf(), ino);
        let inode = st.inode(ino);
        inode.data = bytes.to_vec();
        inode.durable = bytes.to_vec();
        inode.pending.clear();
        inode.holes.clear();
    }

    /// Removes the file `path` at once and durably (for fixtures). Returns whether it
    /// existed.
    pub fn delete_file(&self, path: &Path) -> bool {
        let mut st = self.state.lock();
        st.durable_names.remove(path);
        st.names.remove(path).is_some()
    }

    /// The visible file names directly in `dir`, sorted.
    pub fn list(&self, dir: &Path) -> Vec<PathBuf> {
        let st = self.state.lock();
        st.names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .cloned()
            .collect()
    }

    /// The disk after a power loss now, by `variant`, as a new file system in which
    /// everything is durable. Handles of this file system do not reach the new one.
    pub fn crash(&self, variant: CrashVariant, rng: &mut SimRng) -> SimFs {
        let st = self.state.lock();
        let mut names = st.durable_names.clone();
        let keep = if variant == CrashVariant::RevertNamespace {
            rng.below(st.ns_log.len() as u64 + 1) as usize
        } else {
            st.ns_log.len()
        };
        for op in &st.ns_log[..keep] {
            op.apply(&mut names);
        }
        let torn = names
            .values()
            .filter_map(|ino| st.inodes.get(ino))
            .flat_map(|i| i.pending.iter())
            .filter(|p| matches!(p.change, Change::Write { .. }))
            .map(|p| p.seq)
            .max();
        let mut out = SimState {
            dirs: st.dirs.clone(),
            next_ino: st.next_ino,
            ..Default::default()
        };
        let mut done: HashMap<u64, Vec<u8>> = HashMap::new();
        for (path, &ino) in &names {
            let image = match done.get(&ino) {
                Some(image) => image.clone(),
                None => {
                    let image = st.image(ino, variant, torn, rng);
                    done.insert(ino, image.clone());
                    image
                }
            };
            out.inodes.insert(
                ino,
                Inode {
                    data: image.clone(),
                    durable: image,
                    ..Default::default()
                },
            );
            out.names.insert(path.clone(), ino);
        }
        out.durable_names = out.names.clone();
        SimFs {
            state: Arc::new(Mutex::new(out)),
        }
    }

    /// Counts a call for the attached controller and fails it if told to, or if the disk
    /// is frozen. `Ok(Some(kind))` asks the caller to apply a partial effect (short writes,
    /// dropped pages) before failing.
    fn gate(&self, st: &mut SimState, op: FaultOp, path: &Path) -> Result<Option<FaultKind>> {
        if st.dead {
            return Err(os_error(op, path, libc::EIO));
        }
        let Some(faults) = &st.faults else {
            return Ok(None);
        };
        match faults.check(op, path) {
            None => Ok(None),
            Some(FaultKind::Eintr) if op.retries_eintr() => Ok(None),
            // An interrupted fdatasync reports no write-back error: nothing is dropped.
            Some(FaultKind::Eintr) => Err(FaultKind::Eintr.error(op, path)),
            Some(FaultKind::ShortWrite) if op == FaultOp::Write => Ok(Some(FaultKind::ShortWrite)),
            Some(kind) if op == FaultOp::SyncData => Ok(Some(kind)),
            Some(kind) => Err(kind.error(op, path)),
        }
    }

    fn file_ino(st: &SimState, path: &Path) -> Result<u64> {
        st.names
            .get(path)
            .copied()
            .ok_or_else(|| os_error(FaultOp::Open, path, libc::ENOENT))
    }
}

fn add_dirs(dirs: &mut BTreeSet<PathBuf>, dir: &Path) {
    for a in dir.ancestors() {
        if a.as_os_str().is_empty() {
            break;
        }
        dirs.insert(a.to_path_buf());
    }
}

/// Renames the directory `from` (and everything under it) to `to`. Durable at once, as
/// directory creation and removal are here (a simplification: the crate fsyncs the parent
/// right after its one directory rename, a topic deletion's).
fn rename_dir(st: &mut SimState, from: &Path, to: &Path) -> Result<()> {
    if !parent_exists(st, to) || st.dirs.contains(to) || st.names.contains_key(to) {
        return Err(os_error(FaultOp::Rename, to, libc::ENOENT));
    }
    let moved = |p: &Path| match p.strip_prefix(from) {
        Ok(rest) if rest.as_os_str().is_empty() => to.to_path_buf(),
        Ok(rest) => to.join(rest),
        Err(_) => p.to_path_buf(),
    };
    st.names = std::mem::take(&mut st.names)
        .into_iter()
        .map(|(p, ino)| (moved(&p), ino))
        .collect();
    st.durable_names = std::mem::take(&mut st.durable_names)
        .into_iter()
        .map(|(p, ino)| (moved(&p), ino))
        .collect();
    st.dirs = std::mem::take(&mut st.dirs)
        .into_iter()
        .map(|p| moved(&p))
        .collect();
    for op in &mut st.ns_log {
        match op {
            NsOp::Link { path, .. } | NsOp::Unlink { path } => *path = moved(path),
            NsOp::Rename { from: f, to: t, .. } => {
                *f = moved(f);
                *t = moved(t);
            }
        }
    }
    st.finish_mutation();
    Ok(())
}

fn parent_exists(st: &SimState, path: &Path) -> bool {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => st.dirs.contains(p),
        _ => true,
    }
}

impl Storage for SimFs {
    type File = SimFile;
    type Map = SimMap;

    fn open(&self, path: &Path, mode: OpenMode) -> Result<SimFile> {
        let mut st = self.state.lock();
        self.gate(&mut st, FaultOp::Open, path)?;
        let existing = st.names.get(path).copied();
        if st.dirs.contains(path) {
            return Err(os_error(FaultOp::Open, path, libc::EISDIR));
        }
        let creates = matches!(
            mode,
            OpenMode::Create | OpenMode::CreateNew | OpenMode::Truncate
        );
        let ino = match (existing, mode) {
            (Some(_), OpenMode::CreateNew) => {
                return Err(os_error(FaultOp::Open, path, libc::EEXIST))
            }
            (Some(ino), OpenMode::Truncate) => {
                if !st.inode(ino).data.is_empty() {
                    st.set_len(ino, 0, path);
                }
                ino
            }
            (Some(ino), _) => ino,
            (None, OpenMode::ReadOnly | OpenMode::ReadWrite) => {
                return Err(os_error(FaultOp::Open, path, libc::ENOENT))
            }
            (None, _) => {
                if !parent_exists(&st, path) {
                    return Err(os_error(FaultOp::Open, path, libc::ENOENT));
                }
                st.next_ino += 1;
                let ino = st.next_ino;
                st.inodes.insert(ino, Inode::default());
                st.names.insert(path.to_path_buf(), ino);
                st.ns_log.push(NsOp::Link {
                    path: path.to_path_buf(),
                    ino,
                });
                ino
            }
        };
        if creates {
            st.finish_mutation();
        }
        Ok(SimFile {
            ino,
            path: path.to_path_buf(),
            writable: mode.is_writable(),
            fs: self.clone(),
        })
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        let mut st = self.state.lock();
        self.gate(&mut st, FaultOp::CreateDir, path)?;
        if st.names.contains_key(path) {
            return Err(os_error(FaultOp::CreateDir, path, libc::EEXIST));
        }
        add_dirs(&mut st.dirs, path);
        st.finish_mutation();
        Ok(())
    }

    fn read_dir(&self, path: &Path) -> Result<Vec<OsString>> {
        let mut st = self.state.lock();
        self.gate(&mut st, FaultOp::ReadDir, path)?;
        if !st.dirs.contains(path) {
            return Err(os_error(FaultOp::ReadDir, path, libc::ENOENT));
        }
        let child = |p: &PathBuf| {
            (p.parent() == Some(path))
                .then(|| p.file_name().map(|n| n.to_os_string()))
                .flatten()
        };
        let mut out: Vec<OsString> = st.names.keys().filter_map(child).collect();
        out.extend(st.dirs.iter().filter_map(child));
        Ok(out)
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut st = self.state.lock();
        self.gate(&mut st, FaultOp::Rename, from)?;
        if st.dirs.contains(from) {
            return rename_dir(&mut st, from, to);
        }
        let ino =
            Self::file_ino(&st, from).map_err(|_| os_error(FaultOp::Rename, from, libc::ENOENT))?;
        if !parent_exists(&st, to) {
            return Err(os_error(FaultOp::Rename, to, libc::ENOENT));
        }
        st.names.remove(from);
        st.names.insert(to.to_path_buf(), ino);
        st.ns_log.push(NsOp::Rename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            ino,
        });
        st.finish_mutation();
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        let mut st = self.state.lock();
        self.gate(&mut st, FaultOp::RemoveFile, path)?;
        if st.names.remove(path).is_none() {
            return Err(os_error(FaultOp::RemoveFile, path, libc::ENOENT));
        }
        st.ns_log.push(NsOp::Unlink {
            path: path.to_path_buf(),
        });
        st.finish_mutation();
        Ok(())
    }

    fn remove_dir_all(&self, path: &Path) -> Result<()> {
        let mut st = self.state.lock();
        self.gate(&mut st, FaultOp::RemoveDir, path)?;
        if !st.dirs.contains(path) {
            return Err(os_error(FaultOp::RemoveDir, path, libc::ENOENT));
        }
        st.names.retain(|p, _| !p.starts_with(path));
        st.durable_names.retain(|p, _| !p.starts_with(path));
        st.dirs.retain(|p| !p.starts_with(path));
        st.ns_log.retain(|op| match op {
            NsOp::Link { path: p, .. } | NsOp::Unlink { path: p } => !p.starts_with(path),
            NsOp::Rename { from, to, .. } => !from.starts_with(path) && !to.starts_with(path),
        });
        st.finish_mutation();
        Ok(())
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        let mut st = self.state.lock();
        self.gate(&mut st, FaultOp::Metadata, path)?;
        Ok(st.names.contains_key(path) || st.dirs.contains(path))
    }

    fn file_len(&self, path: &Path) -> Result<u64> {
        let mut st = self.state.lock();
        self.gate(&mut st, FaultOp::Metadata, path)?;
        let ino = Self::file_ino(&st, path)
            .map_err(|_| os_error(FaultOp::Metadata, path, libc::ENOENT))?;
        Ok(st.inode(ino).data.len() as u64)
    }

    fn sync_dir(&self, path: &Path) -> Result<()> {
        let mut st = self.state.lock();
        self.gate(&mut st, FaultOp::SyncDir, path)?;
        if !st.dirs.contains(path) {
            return Err(os_error(FaultOp::SyncDir, path, libc::ENOENT));
        }
        let log = std::mem::take(&mut st.ns_log);
        let (synced, kept): (Vec<_>, Vec<_>) = log.into_iter().partition(|op| op.in_dir(path));
        for op in &synced {
            op.apply(&mut st.durable_names);
        }
        st.ns_log = kept;
        st.finish_mutation();
        Ok(())
    }

    fn map_mut(&self, file: &SimFile, len: u64) -> Result<SimMap> {
        let mut st = self.state.lock();
        self.gate(&mut st, FaultOp::Map, &file.path)?;
        let inode = st.inode(file.ino);
        let file_len = inode.data.len() as u64;
        if len == 0 || len > file_len {
            return Err(Error::InvalidArgument(format!(
                "cannot map {len} bytes of {} ({file_len} bytes long)",
                file.path.display()
            )));
        }
        let sparse = inode.holes.iter().any(|&(a, b)| a < len && b > a);
        st.next_map += 1;
        let id = st.next_map;
        st.inode(file.ino).maps.insert(id, len);
        if sparse {
            let msg = format!(
                "{}: mapped {len} bytes over a sparse hole (SIGBUS on a full disk)",
                file.path.display()
            );
            st.violations.push(msg);
        }
        Ok(SimMap {
            id,
            ino: file.ino,
            len: len as usize,
            path: file.path.clone(),
            fs: self.clone(),
            buf: OnceLock::new(),
            base: Mutex::new(Vec::new()),
        })
    }
}

impl SimFile {
    fn check_writable(&self, op: FaultOp) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(os_error(op, &self.path, libc::EBADF))
        }
    }
}

impl StorageFile for SimFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let mut st = self.fs.state.lock();
        self.fs.gate(&mut st, FaultOp::Read, &self.path)?;
        let data = &st.inode(self.ino).data;
        let start = (offset as usize).min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let n = self.read_at(buf, offset)?;
        if n < buf.len() {
            return Err(Error::io(
                "read",
                &self.path,
                io::Error::from(io::ErrorKind::UnexpectedEof),
            ));
        }
        Ok(())
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        let mut st = self.fs.state.lock();
        let short = self.fs.gate(&mut st, FaultOp::Write, &self.path)?;
        self.check_writable(FaultOp::Write)?;
        let result = match short {
            Some(kind) => {
                let prefix = &buf[..buf.len() / 2];
                if !prefix.is_empty() {
                    st.write(self.ino, offset, prefix);
                }
                Err(kind.error(FaultOp::Write, &self.path))
            }
            None => {
                st.write(self.ino, offset, buf);
                Ok(())
            }
        };
        st.finish_mutation();
        result
    }

    fn size(&self) -> Result<u64> {
        let mut st = self.fs.state.lock();
        self.fs.gate(&mut st, FaultOp::Metadata, &self.path)?;
        Ok(st.inode(self.ino).data.len() as u64)
    }

    fn set_len(&self, len: u64) -> Result<()> {
        let mut st = self.fs.state.lock();
        self.fs.gate(&mut st, FaultOp::SetLen, &self.path)?;
        self.check_writable(FaultOp::SetLen)?;
        st.set_len(self.ino, len, &self.path);
        st.finish_mutation();
        Ok(())
    }

    fn allocate(&self, offset: u64, len: u64) -> Result<()> {
        let mut st = self.fs.state.lock();
        self.fs.gate(&mut st, FaultOp::Allocate, &self.path)?;
        self.check_writable(FaultOp::Allocate)?;
        if len == 0 {
            return Ok(());
        }
        let end = offset.checked_add(len).ok_or_else(|| {
            Error::InvalidArgument(format!("allocate({offset}, {len}) overflows"))
        })?;
        let inode = st.inode(self.ino);
        inode.fill_holes(offset, end);
        if end > inode.data.len() as u64 {
            inode.data.resize(end as usize, 0);
            st.record(self.ino, Change::SetLen(end));
        }
        st.finish_mutation();
        Ok(())
    }

    fn sync_data(&self) -> Result<()> {
        let mut st = self.fs.state.lock();
        let fault = self.fs.gate(&mut st, FaultOp::SyncData, &self.path)?;
        let result = match fault {
            Some(kind) => {
                // fsyncgate: the kernel marks the pages clean and forgets them; reads still
                // see them, but no later sync writes them.
                let inode = st.inode(self.ino);
                let dropped = inode.pending.len() as u64;
                inode.pending.clear();
                st.failed_syncs += 1;
                st.dropped_writes += dropped;
                Err(kind.error(FaultOp::SyncData, &self.path))
            }
            None => {
                let inode = st.inode(self.ino);
                let pending = std::mem::take(&mut inode.pending);
                for p in &pending {
                    p.change.apply(&mut inode.durable);
                }
                Ok(())
            }
        };
        st.finish_mutation();
        result
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

impl SimMap {
    /// The file's current content for this mapping (zeros past a shorter file).
    fn load(&self) -> Vec<u8> {
        let mut bytes = vec![0u8; self.len];
        {
            let mut st = self.fs.state.lock();
            let data = &st.inode(self.ino).data;
            let n = self.len.min(data.len());
            bytes[..n].copy_from_slice(&data[..n]);
        }
        // Lock order: `base` before the file system's state (as in `write_back`).
        *self.base.lock() = bytes.clone();
        bytes
    }

    /// Writes every changed page back to the file, as ordinary pending writes.
    fn write_back(&self) {
        let Some(buf) = self.buf.get() else {
            return;
        };
        let mut base = self.base.lock();
        let mut st = self.fs.state.lock();
        if st.dead {
            return;
        }
        let file_len = st.inode(self.ino).data.len();
        for (i, (page, old)) in buf.chunks(PAGE).zip(base.chunks(PAGE)).enumerate() {
            if page == old {
                continue;
            }
            let start = i * PAGE;
            // Never past the end of the file: that store would be a SIGBUS, recorded when
            // the file was cut.
            let end = (start + page.len()).min(file_len);
            if end > start {
                st.write(self.ino, start as u64, &page[..end - start]);
            }
        }
        *base = buf.clone();
    }
}

impl Deref for SimMap {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.buf.get_or_init(|| self.load())
    }
}

impl DerefMut for SimMap {
    fn deref_mut(&mut self) -> &mut [u8] {
        if self.buf.get().is_none() {
            let bytes = self.load();
            let _ = self.buf.set(bytes);
        }
        match self.buf.get_mut() {
            Some(buf) => buf,
            None => &mut [],
        }
    }
}

impl MapMut for SimMap {
    fn flush(&self) -> Result<()> {
        {
            let mut st = self.fs.state.lock();
            self.fs.gate(&mut st, FaultOp::MapFlush, &self.path)?;
        }
        self.write_back();
        self.fs.state.lock().finish_mutation();
        Ok(())
    }
}

impl Drop for SimMap {
    fn drop(&mut self) {
        self.write_back();
        let mut st = self.fs.state.lock();
        st.inode(self.ino).maps.remove(&self.id);
    }
}

impl fmt::Debug for SimMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimMap")
            .field("path", &self.path)
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{FaultMode, FaultPlan, FaultTarget};

    fn fs_with_dir() -> Result<(SimFs, PathBuf)> {
        let fs = SimFs::new();
        let dir = PathBuf::from("/d");
        fs.create_dir_all(&dir)?;
        Ok((fs, dir))
    }

    #[test]
    fn unsynced_writes_and_names_are_lost_by_variant() -> Result<()> {
        let (fs, dir) = fs_with_dir()?;
        let a = dir.join("a");
        let f = fs.open(&a, OpenMode::Create)?;
        f.write_all_at(b"hello", 0)?;
        f.sync_data()?;
        let mut rng = SimRng::new(7);
        // The name was never dir-synced: (e) may drop it, (a) keeps it with synced data.
        let e = fs.crash(CrashVariant::RevertNamespace, &mut SimRng::new(0));
        assert!(e.read_file(&a).is_none() || e.read_file(&a) == Some(b"hello".to_vec()));
        fs.sync_dir(&dir)?;
        f.write_all_at(b" world", 5)?;
        let a_img = fs.crash(CrashVariant::DropUnsynced, &mut rng);
        assert_eq!(a_img.read_file(&a), Some(b"hello".to_vec()));
        let f_img = fs.crash(CrashVariant::FailedSync, &mut rng);
        assert_eq!(f_img.read_file(&a), Some(b"hello world".to_vec()));
        let d_img = fs.crash(CrashVariant::ExtendGarbage, &mut rng);
        let d = d_img.read_file(&a).unwrap_or_default();
        assert_eq!((d.len(), &d[..5]), (11, &b"hello"[..]));
        for seed in 0..20 {
            let c = fs.crash(CrashVariant::TornLastWrite, &mut SimRng::new(seed));
            let c = c.read_file(&a).unwrap_or_default();
            assert!(c.len() >= 5 && c.len() < 11 && b"hello world".starts_with(&c));
        }
        Ok(())
    }

    #[test]
    fn failed_sync_drops_pages_and_a_later_sync_succeeds() -> Result<()> {
        let (fs, dir) = fs_with_dir()?;
        let faults = FaultController::new();
        fs.set_faults(faults.clone());
        let f = fs.open(&dir.join("a"), OpenMode::Create)?;
        fs.sync_dir(&dir)?;
        f.write_all_at(b"lost", 0)?;
        faults.arm(FaultPlan::new(
            FaultTarget::Op(FaultOp::SyncData),
            1,
            FaultKind::Eio,
            FaultMode::Transient,
        ));
        assert!(f.sync_data().is_err());
        f.sync_data()?;
        let mut buf = [0u8; 4];
        f.read_exact_at(&mut buf, 0)?;
        assert_eq!(&buf, b"lost");
        let img = fs.crash(CrashVariant::FailedSync, &mut SimRng::new(1));
        assert_eq!(img.read_file(&dir.join("a")), Some(Vec::new()));
        assert_eq!(fs.failed_syncs(), (1, 1));
        Ok(())
    }

    #[test]
    fn mappings_write_back_on_flush_and_drop() -> Result<()> {
        let (fs, dir) = fs_with_dir()?;
        let p = dir.join("i");
        let f = fs.open(&p, OpenMode::Create)?;
        f.allocate(0, 8192)?;
        let mut m = fs.map_mut(&f, 8192)?;
        m[0] = 1;
        m.flush()?;
        f.sync_data()?;
        m[4096] = 2;
        // A second mapping replacing the first sees its stores once the first is dropped.
        let m2 = fs.map_mut(&f, 8192)?;
        drop(m);
        assert_eq!((m2[0], m2[4096]), (1, 2));
        fs.sync_dir(&dir)?;
        let img = fs.crash(CrashVariant::DropUnsynced, &mut SimRng::new(1));
        let data = img.read_file(&p).unwrap_or_default();
        assert_eq!((data[0], data[4096]), (1, 0));
        assert!(fs.contract_violations().is_empty());
        drop(m2);
        f.set_len(100)?;
        let _m3 = fs.map_mut(&f, 100)?;
        f.set_len(50)?;
        f.set_len(4096)?;
        assert_eq!(fs.contract_violations().len(), 1);
        let _m4 = fs.map_mut(&f, 4096)?;
        assert_eq!(fs.contract_violations().len(), 2);
        Ok(())
    }

    #[test]
    fn crash_after_freezes_the_disk() -> Result<()> {
        let (fs, dir) = fs_with_dir()?;
        let f = fs.open(&dir.join("a"), OpenMode::Create)?;
        fs.crash_after(2);
        f.write_all_at(b"1", 0)?;
        f.sync_data()?;
        assert!(f.write_all_at(b"2", 1).is_err());
        let frozen = fs.frozen().ok_or(Error::Closed)?;
        let img = frozen.crash(CrashVariant::FailedSync, &mut SimRng::new(1));
        assert_eq!(img.read_file(&dir.join("a")), Some(b"1".to_vec()));
        Ok(())
    }
}
