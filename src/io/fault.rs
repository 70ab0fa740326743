//! [`FaultFs`]: a [`Storage`] wrapper that counts every call and fails the ones a test
//! chooses, as SQLite's I/O-error tests and redb's countdown backend do.
//!
//! A [`FaultController`] is shared (it is `Clone`) between the test and every handle the
//! file system hands out. The test arms a [`FaultPlan`]: "fail the N-th call (of any kind,
//! of the mutating kinds, or of one [`FaultOp`]) with a [`FaultKind`]", either
//! [`FaultMode::Transient`] (that call only) or [`FaultMode::Persistent`] (that call and
//! every later matching one). Calls are counted from the moment the plan is armed, and per
//! operation over the controller's whole life ([`FaultController::counts`]).
//!
//! Faults surface as the [`Error`] the real code would see: an injected `ENOSPC` is
//! `Error::io(op, path, io::Error::from_raw_os_error(libc::ENOSPC))`, hence
//! [`Error::NoSpace`]; `EIO` is [`Error::Io`]. A [`FaultKind::ShortWrite`] writes a prefix
//! of the buffer through the wrapped storage and then fails with `ENOSPC`, as a write that
//! fills the disk does. [`FaultKind::Eintr`] interrupts one call: where the real
//! implementation retries `EINTR` (reads, writes, `open`, `set_len`, `allocate`, see
//! [`FaultOp::retries_eintr`]) the call then completes normally; elsewhere (`fdatasync`,
//! directory sync, rename, removal, mapping) the error surfaces with kind `Interrupted`.
//!
//! Stores into a mapping are not calls and cannot fail; [`MapMut::flush`] (`msync`) can.
//!
//! ```
//! use tidelog::io::{FaultController, FaultFs, FaultKind, FaultMode, FaultOp, FaultPlan,
//!     FaultTarget, OpenMode, Storage, StorageFile, StdFs};
//! # let dir = tempfile::tempdir()?;
//! let faults = FaultController::new();
//! let fs = FaultFs::new(StdFs, faults.clone());
//! let file = fs.open(&dir.path().join("a"), OpenMode::Create)?;
//! faults.arm(FaultPlan::new(FaultTarget::Op(FaultOp::Write), 2, FaultKind::Enospc, FaultMode::Transient));
//! file.write_all_at(b"one", 0)?;
//! assert!(file.write_all_at(b"two", 3).is_err_and(|e| e.is_no_space()));
//! file.write_all_at(b"three", 3)?;
//! assert_eq!(faults.count(FaultOp::Write), 3);
//! assert_eq!(faults.injected(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::std_fs::StdFs;
use super::storage::{MapMut, OpenMode, Storage, StorageFile};
use crate::error::{Error, Result};

/// One kind of call through the seam, as counted and targeted by a [`FaultController`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultOp {
    /// [`Storage::open`].
    Open,
    /// [`Storage::create_dir_all`].
    CreateDir,
    /// [`Storage::read_dir`].
    ReadDir,
    /// [`Storage::rename`].
    Rename,
    /// [`Storage::remove_file`].
    RemoveFile,
    /// [`Storage::remove_dir_all`].
    RemoveDir,
    /// [`Storage::exists`], [`Storage::file_len`] and [`StorageFile::size`].
    Metadata,
    /// [`Storage::sync_dir`].
    SyncDir,
    /// [`Storage::map_mut`].
    Map,
    /// [`MapMut::flush`] (`msync`).
    MapFlush,
    /// [`StorageFile::read_at`] and [`StorageFile::read_exact_at`].
    Read,
    /// [`StorageFile::write_all_at`].
    Write,
    /// [`StorageFile::set_len`].
    SetLen,
    /// [`StorageFile::allocate`] (`fallocate`).
    Allocate,
    /// [`StorageFile::sync_data`] (`fdatasync`).
    SyncData,
}

impl FaultOp {
    /// Every operation, in counting order.
    pub const ALL: [FaultOp; 15] = [
        FaultOp::Open,
        FaultOp::CreateDir,
        FaultOp::ReadDir,
        FaultOp::Rename,
        FaultOp::RemoveFile,
        FaultOp::RemoveDir,
        FaultOp::Metadata,
        FaultOp::SyncDir,
        FaultOp::Map,
        FaultOp::MapFlush,
        FaultOp::Read,
        FaultOp::Write,
        FaultOp::SetLen,
        FaultOp::Allocate,
        FaultOp::SyncData,
    ];

    /// The operation's name as [`Error::Io`] reports it (`"write"`, `"fdatasync"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            FaultOp::Open => "open",
            FaultOp::CreateDir => "create_dir",
            FaultOp::ReadDir => "read_dir",
            FaultOp::Rename => "rename",
            FaultOp::RemoveFile => "remove_file",
            FaultOp::RemoveDir => "remove_dir",
            FaultOp::Metadata => "metadata",
            FaultOp::SyncDir => "sync_dir",
            FaultOp::Map => "mmap",
            FaultOp::MapFlush => "msync",
            FaultOp::Read => "read",
            FaultOp::Write => "write",
            FaultOp::SetLen => "set_len",
            FaultOp::Allocate => "fallocate",
            FaultOp::SyncData => "fdatasync",
        }
    }

    /// True for calls that may change what is stored (everything but reads, metadata
    /// queries, directory listings and creating a mapping).
    pub fn is_mutating(self) -> bool {
        !matches!(
            self,
            FaultOp::ReadDir | FaultOp::Metadata | FaultOp::Map | FaultOp::Read
        )
    }

    /// True if the real implementation ([`StdFs`]) retries `EINTR`, so an interrupted call
    /// completes normally.
    pub fn retries_eintr(self) -> bool {
        matches!(
            self,
            FaultOp::Open
                | FaultOp::Read
                | FaultOp::Write
                | FaultOp::SetLen
                | FaultOp::Allocate
                | FaultOp::Metadata
                | FaultOp::ReadDir
                | FaultOp::CreateDir
        )
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// `EIO`: [`Error::Io`].
    Eio,
    /// `ENOSPC`: [`Error::NoSpace`].
    Enospc,
    /// `EFBIG` (a file-size limit): [`Error::NoSpace`].
    Efbig,
    /// A write stores the first half of its buffer, then fails with `ENOSPC`. Other
    /// operations fail with `ENOSPC`.
    ShortWrite,
    /// `EINTR` once, then success: invisible where the real code retries
    /// ([`FaultOp::retries_eintr`]), an `Interrupted` [`Error::Io`] elsewhere.
    Eintr,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 5] = [
        FaultKind::Eio,
        FaultKind::Enospc,
        FaultKind::Efbig,
        FaultKind::ShortWrite,
        FaultKind::Eintr,
    ];

    /// A short lowercase name (`"eio"`, `"short_write"`), for reports.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Eio => "eio",
            FaultKind::Enospc => "enospc",
            FaultKind::Efbig => "efbig",
            FaultKind::ShortWrite => "short_write",
            FaultKind::Eintr => "eintr",
        }
    }

    /// The `errno` the failing call returns.
    pub fn errno(self) -> i32 {
        match self {
            FaultKind::Eio => libc::EIO,
            FaultKind::Enospc | FaultKind::ShortWrite => libc::ENOSPC,
            FaultKind::Efbig => libc::EFBIG,
            FaultKind::Eintr => libc::EINTR,
        }
    }

    /// The error a call of `op` on `path` returns when this fault hits it, built as the
    /// real code builds it ([`Error::io`]).
    pub fn error(self, op: FaultOp, path: &Path) -> Error {
        Error::io(op.name(), path, io::Error::from_raw_os_error(self.errno()))
    }
}

/// Whether a fault hits only the chosen call or every matching call from it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultMode {
    /// Only the N-th matching call fails.
    Transient,
    /// The N-th matching call and every later one fail (a dead disk).
    Persistent,
}

/// Which calls a plan counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultTarget {
    /// Every call.
    Any,
    /// Calls that may change what is stored ([`FaultOp::is_mutating`]).
    Mutating,
    /// Calls of one operation.
    Op(FaultOp),
}

impl FaultTarget {
    /// True if calls of `op` count towards this target.
    pub fn matches(self, op: FaultOp) -> bool {
        match self {
            FaultTarget::Any => true,
            FaultTarget::Mutating => op.is_mutating(),
            FaultTarget::Op(o) => o == op,
        }
    }
}

/// "Fail the `nth` call matching `target` with `kind`", transient or persistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaultPlan {
    /// Which calls are counted.
    pub target: FaultTarget,
    /// The first call to fail, counting matching calls from 1 after the plan is armed.
    pub nth: u64,
    /// What the failing calls do.
    pub kind: FaultKind,
    /// That call only, or every matching call from it on.
    pub mode: FaultMode,
}

impl FaultPlan {
    /// A plan; see the fields.
    pub fn new(target: FaultTarget, nth: u64, kind: FaultKind, mode: FaultMode) -> Self {
        FaultPlan {
            target,
            nth,
            kind,
            mode,
        }
    }
}

/// One fault that was injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFault {
    /// The call that failed.
    pub op: FaultOp,
    /// What it did.
    pub kind: FaultKind,
    /// The file or directory it was applied to.
    pub path: PathBuf,
}

#[derive(Debug, Default)]
struct ControllerState {
    counts: [u64; FaultOp::ALL.len()],
    plan: Option<FaultPlan>,
    /// Matching calls seen since the plan was armed.
    matched: u64,
    injected: Vec<InjectedFault>,
}

/// The shared switchboard of [`FaultFs`] (and of [`SimFs`](super::SimFs)): counts calls and
/// decides which fail. Clones share one state.
#[derive(Debug, Clone, Default)]
pub struct FaultController {
    state: Arc<Mutex<ControllerState>>,
}

impl FaultController {
    /// A controller with no plan armed: every call passes and is counted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms `plan`, replacing any armed plan; matching calls are counted from here on.
    pub fn arm(&self, plan: FaultPlan) {
        let mut st = self.state.lock();
        st.plan = Some(plan);
        st.matched = 0;
    }

    /// Disarms the plan: every later call passes.
    pub fn disarm(&self) {
        self.state.lock().plan = None;
    }

    /// The armed plan, if any.
    pub fn plan(&self) -> Option<FaultPlan> {
        self.state.lock().plan
    }

    /// Calls of `op` so far (faulted or not).
    pub fn count(&self, op: FaultOp) -> u64 {
        self.state.lock().counts[op.index()]
    }

    /// Calls per operation so far, in [`FaultOp::ALL`] order.
    pub fn counts(&self) -> Vec<(FaultOp, u64)> {
        let st = self.state.lock();
        FaultOp::ALL
            .iter()
            .map(|&op| (op, st.counts[op.index()]))
            .collect()
    }

    /// Calls so far that `target` matches.
    pub fn total(&self, target: FaultTarget) -> u64 {
        let st = self.state.lock();
        FaultOp::ALL
            .iter()
            .filter(|&&op| target.matches(op))
            .map(|&op| st.counts[op.index()])
            .sum()
    }

    /// Zeroes the per-operation counts (the armed plan keeps its own count).
    pub fn reset_counts(&self) {
        self.state.lock().counts = Default::default();
    }

    /// Number of faults injected so far.
    pub fn injected(&self) -> u64 {
        self.state.lock().injected.len() as u64
    }

    /// The faults injected so far, in order.
    pub fn injected_faults(&self) -> Vec<InjectedFault> {
        self.state.lock().injected.clone()
    }

    /// Counts one call of `op` on `path` and returns the fault to inject into it, if the
    /// armed plan says so. Storage implementations call this once per call.
    pub fn check(&self, op: FaultOp, path: &Path) -> Option<FaultKind> {
        let mut st = self.state.lock();
        st.counts[op.index()] += 1;
        let plan = st.plan?;
        if !plan.target.matches(op) {
            return None;
        }
        st.matched += 1;
        let hit = match plan.mode {
            FaultMode::Transient => st.matched == plan.nth,
            FaultMode::Persistent => st.matched >= plan.nth,
        };
        if !hit {
            return None;
        }
        st.injected.push(InjectedFault {
            op,
            kind: plan.kind,
            path: path.to_path_buf(),
        });
        Some(plan.kind)
    }

    /// [`check`](Self::check), turned into the call's outcome for calls that have no partial
    /// effect: `Err` with the fault's error, or `Ok` if no fault hits (or an `EINTR` the real
    /// code would retry).
    ///
    /// # Errors
    /// The injected fault's error ([`FaultKind::error`]).
    pub fn gate(&self, op: FaultOp, path: &Path) -> Result<()> {
        match self.check(op, path) {
            None => Ok(()),
            Some(FaultKind::Eintr) if op.retries_eintr() => Ok(()),
            Some(kind) => Err(kind.error(op, path)),
        }
    }
}

/// A [`Storage`] that passes every call to `S` unless its [`FaultController`] fails it.
#[derive(Debug, Clone)]
pub struct FaultFs<S: Storage = StdFs> {
    inner: S,
    faults: FaultController,
}

impl<S: Storage> FaultFs<S> {
    /// Wraps `inner`; `faults` decides which calls fail.
    pub fn new(inner: S, faults: FaultController) -> Self {
        FaultFs { inner, faults }
    }

    /// The wrapped storage.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The controller.
    pub fn controller(&self) -> &FaultController {
        &self.faults
    }
}

/// A file opened by [`FaultFs`].
pub struct FaultFile<S: Storage> {
    inner: S::File,
    faults: FaultController,
}

impl<S: Storage> FaultFile<S> {
    /// The wrapped file.
    pub fn inner(&self) -> &S::File {
        &self.inner
    }
}

impl<S: Storage> fmt::Debug for FaultFile<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultFile")
            .field("inner", &self.inner)
            .finish()
    }
}

/// A mapping handed out by [`FaultFs`]: stores go straight to the wrapped mapping; only
/// [`MapMut::flush`] can fail.
pub struct FaultMap<S: Storage> {
    inner: S::Map,
    path: PathBuf,
    faults: FaultController,
}

impl<S: Storage> Deref for FaultMap<S> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.inner
    }
}

impl<S: Storage> DerefMut for FaultMap<S> {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.inner
    }
}

impl<S: Storage> MapMut for FaultMap<S> {
    fn flush(&self) -> Result<()> {
        self.faults.gate(FaultOp::MapFlush, &self.path)?;
        self.inner.flush()
    }
}

impl<S: Storage> Storage for FaultFs<S> {
    type File = FaultFile<S>;
    type Map = FaultMap<S>;

    fn open(&self, path: &Path, mode: OpenMode) -> Result<FaultFile<S>> {
        self.faults.gate(FaultOp::Open, path)?;
        Ok(FaultFile {
            inner: self.inner.open(path, mode)?,
            faults: self.faults.clone(),
        })
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        self.faults.gate(FaultOp::CreateDir, path)?;
        self.inner.create_dir_all(path)
    }

    fn read_dir(&self, path: &Path) -> Result<Vec<OsString>> {
        self.faults.gate(FaultOp::ReadDir, path)?;
        self.inner.read_dir(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.faults.gate(FaultOp::Rename, from)?;
        self.inner.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        self.faults.gate(FaultOp::RemoveFile, path)?;
        self.inner.remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> Result<()> {
        self.faults.gate(FaultOp::RemoveDir, path)?;
        self.inner.remove_dir_all(path)
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        self.faults.gate(FaultOp::Metadata, path)?;
        self.inner.exists(path)
    }

    fn file_len(&self, path: &Path) -> Result<u64> {
        self.faults.gate(FaultOp::Metadata, path)?;
        self.inner.file_len(path)
    }

    fn sync_dir(&self, path: &Path) -> Result<()> {
        self.faults.gate(FaultOp::SyncDir, path)?;
        self.inner.sync_dir(path)
    }

    fn lock_dir(&self, dir: &Path) -> Result<Option<super::DirLock>> {
        self.inner.lock_dir(dir)
    }

    fn map_mut(&self, file: &FaultFile<S>, len: u64) -> Result<FaultMap<S>> {
        let path = file.inner.path();
        self.faults.gate(FaultOp::Map, path)?;
        Ok(FaultMap {
            inner: self.inner.map_mut(&file.inner, len)?,
            path: path.to_path_buf(),
            faults: self.faults.clone(),
        })
    }
}

impl<S: Storage> StorageFile for FaultFile<S> {
    fn path(&self) -> &Path {
        self.inner.path()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        self.faults.gate(FaultOp::Read, self.inner.path())?;
        self.inner.read_at(buf, offset)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.faults.gate(FaultOp::Read, self.inner.path())?;
        self.inner.read_exact_at(buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        let path = self.inner.path();
        match self.faults.check(FaultOp::Write, path) {
            None | Some(FaultKind::Eintr) => self.inner.write_all_at(buf, offset),
            Some(FaultKind::ShortWrite) => {
                let prefix = &buf[..buf.len() / 2];
                if !prefix.is_empty() {
                    self.inner.write_all_at(prefix, offset)?;
                }
                Err(FaultKind::ShortWrite.error(FaultOp::Write, path))
            }
            Some(kind) => Err(kind.error(FaultOp::Write, path)),
        }
    }

    fn size(&self) -> Result<u64> {
        self.faults.gate(FaultOp::Metadata, self.inner.path())?;
        self.inner.size()
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.faults.gate(FaultOp::SetLen, self.inner.path())?;
        self.inner.set_len(len)
    }

    fn allocate(&self, offset: u64, len: u64) -> Result<()> {
        self.faults.gate(FaultOp::Allocate, self.inner.path())?;
        self.inner.allocate(offset, len)
    }

    fn sync_data(&self) -> Result<()> {
        self.faults.gate(FaultOp::SyncData, self.inner.path())?;
        self.inner.sync_data()
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner.fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir() -> Result<tempfile::TempDir> {
        tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))
    }

    #[test]
    fn transient_fault_hits_one_call_persistent_hits_the_rest() -> Result<()> {
        let dir = tempdir()?;
        let faults = FaultController::new();
        let fs = FaultFs::new(StdFs, faults.clone());
        let f = fs.open(&dir.path().join("f"), OpenMode::Create)?;
        faults.arm(FaultPlan::new(
            FaultTarget::Op(FaultOp::SyncData),
            2,
            FaultKind::Eio,
            FaultMode::Persistent,
        ));
        f.sync_data()?;
        for _ in 0..3 {
            let err = f.sync_data().err();
            assert!(
                matches!(
                    err,
                    Some(Error::Io {
                        op: "fdatasync",
                        ..
                    })
                ),
                "{err:?}"
            );
        }
        f.write_all_at(b"x", 0)?; // other operations are not counted by the plan
        assert_eq!(faults.injected(), 3);
        faults.disarm();
        f.sync_data()?;
        assert_eq!(faults.count(FaultOp::SyncData), 5);
        Ok(())
    }

    #[test]
    fn short_write_leaves_a_prefix_and_reports_no_space() -> Result<()> {
        let dir = tempdir()?;
        let faults = FaultController::new();
        let fs = FaultFs::new(StdFs, faults.clone());
        let f = fs.open(&dir.path().join("f"), OpenMode::Create)?;
        faults.arm(FaultPlan::new(
            FaultTarget::Mutating,
            1,
            FaultKind::ShortWrite,
            FaultMode::Transient,
        ));
        let err = f.write_all_at(b"abcdefgh", 0).err();
        assert!(matches!(err, Some(Error::NoSpace { .. })), "{err:?}");
        assert_eq!(f.size()?, 4);
        Ok(())
    }

    #[test]
    fn eintr_is_retried_where_the_real_code_retries() -> Result<()> {
        let dir = tempdir()?;
        let faults = FaultController::new();
        let fs = FaultFs::new(StdFs, faults.clone());
        let f = fs.open(&dir.path().join("f"), OpenMode::Create)?;
        faults.arm(FaultPlan::new(
            FaultTarget::Any,
            1,
            FaultKind::Eintr,
            FaultMode::Persistent,
        ));
        f.write_all_at(b"abc", 0)?;
        let err = f.sync_data().err();
        assert!(
            matches!(&err, Some(Error::Io { source, .. }) if source.kind() == io::ErrorKind::Interrupted),
            "{err:?}"
        );
        Ok(())
    }

    #[test]
    fn efbig_is_no_space() {
        let e = FaultKind::Efbig.error(FaultOp::Write, Path::new("/x"));
        assert!(e.is_no_space());
        assert!(!FaultKind::Eio
            .error(FaultOp::Write, Path::new("/x"))
            .is_no_space());
    }
}
