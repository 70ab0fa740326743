//! The traits of the file-system seam: [`Storage`], its [`StorageFile`] and [`MapMut`].
//!
//! Every file access of the crate goes through these traits, so a test layer can wrap the
//! real implementation ([`StdFs`](super::StdFs)): a fault injector that fails the N-th call,
//! or an in-memory power-loss model that keeps durable and pending bytes apart. Dispatch is
//! static (generic parameters), so the real file system costs no indirection.
//!
//! Every call returns [`crate::Result`]; I/O failures are built with [`Error::io`], which
//! carries the operation and path and turns a full disk into [`Error::NoSpace`].
//!
//! [`Error::io`]: crate::Error::io
//! [`Error::NoSpace`]: crate::Error::NoSpace

use std::ffi::OsString;
use std::ops::{Deref, DerefMut};
use std::os::fd::BorrowedFd;
use std::path::Path;

use crate::error::Result;

/// How [`Storage::open`] opens a file. Every mode but [`OpenMode::ReadOnly`] opens for
/// reading and writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenMode {
    /// Read only; the file must exist.
    ReadOnly,
    /// Read and write; the file must exist.
    ReadWrite,
    /// Read and write; create the file (empty) if it is missing.
    Create,
    /// Read and write; create the file, failing if it already exists.
    CreateNew,
    /// Read and write; create the file if missing, and cut it to 0 bytes if present.
    ///
    /// Never use this on a file that may be memory-mapped (see the SIGBUS contract in
    /// [`Storage::map_mut`]).
    Truncate,
}

impl OpenMode {
    /// True if files opened in this mode can be written.
    pub fn is_writable(self) -> bool {
        self != OpenMode::ReadOnly
    }
}

/// A file system: the seam every file access of the crate goes through.
///
/// Implementations are cheap handles (`Clone`), shared by every segment, index and
/// checkpoint of a store.
pub trait Storage: Send + Sync + Clone + 'static {
    /// An open file.
    type File: StorageFile;
    /// A shared, writable memory mapping of a file's prefix.
    type Map: MapMut;

    /// Opens `path` in `mode`.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) (for example `NotFound`, `AlreadyExists`,
    /// `PermissionDenied`) or [`Error::NoSpace`](crate::Error::NoSpace).
    fn open(&self, path: &Path, mode: OpenMode) -> Result<Self::File>;

    /// Creates `path` and every missing parent directory.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) or [`Error::NoSpace`](crate::Error::NoSpace).
    fn create_dir_all(&self, path: &Path) -> Result<()>;

    /// The names of the entries of directory `path` (not `.` or `..`), in no particular order.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io).
    fn read_dir(&self, path: &Path) -> Result<Vec<OsString>>;

    /// Atomically renames `from` to `to`, replacing `to` if it exists. The change is durable
    /// only after [`Storage::sync_dir`] of the parent directory (or directories).
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) or [`Error::NoSpace`](crate::Error::NoSpace).
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;

    /// Removes the file `path`. Handles and mappings that are open stay valid.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io).
    fn remove_file(&self, path: &Path) -> Result<()>;

    /// Removes the directory `path` and everything in it.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io).
    fn remove_dir_all(&self, path: &Path) -> Result<()>;

    /// True if `path` names an existing file or directory.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if existence cannot be determined (for example
    /// `PermissionDenied` on a parent).
    fn exists(&self, path: &Path) -> Result<bool>;

    /// The length in bytes of the file `path`.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io).
    fn file_len(&self, path: &Path) -> Result<u64>;

    /// Makes the directory `path`'s entries (creates, renames, removals) durable.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io). A failed sync must never be retried and reported as
    /// success: the caller poisons what depended on it.
    fn sync_dir(&self, path: &Path) -> Result<()>;

    /// Takes the exclusive lock of the store directory `dir` (Kafka's `.lock`), held until
    /// the returned lock is dropped. The default takes none: a file system that is not the
    /// machine's own (a simulation) has no other process to keep out.
    ///
    /// # Errors
    /// [`Error::Locked`](crate::Error::Locked) if another holder has it; I/O errors.
    fn lock_dir(&self, dir: &Path) -> Result<Option<super::DirLock>> {
        let _ = dir;
        Ok(None)
    }

    /// Maps the first `len` bytes of `file` shared and writable: stores into the mapping
    /// reach the file, and [`MapMut::flush`] writes them back.
    ///
    /// `len` must be > 0 and at most the file's length.
    ///
    /// **SIGBUS contract** (kept by every caller): the range is fully allocated (written or
    /// [`StorageFile::allocate`]d, never a sparse hole), and the file is never cut below `len`
    /// while the mapping lives. Breaking either can kill the process with SIGBUS on a full
    /// disk or on access past the end of the file.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) if `len` is 0 or longer than
    /// the file; [`Error::Io`](crate::Error::Io) if the mapping fails.
    fn map_mut(&self, file: &Self::File, len: u64) -> Result<Self::Map>;
}

/// An open file of a [`Storage`]. All I/O is positional, so one handle serves any number of
/// threads without a shared cursor.
pub trait StorageFile: Send + Sync + std::fmt::Debug + 'static {
    /// The path the file was opened with (used in error messages).
    fn path(&self) -> &Path;

    /// Reads up to `buf.len()` bytes at `offset`, stopping early only at the end of the file.
    /// Returns the number of bytes read.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize>;

    /// Reads exactly `buf.len()` bytes at `offset`.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io), with kind `UnexpectedEof` if the file ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;

    /// Writes all of `buf` at `offset`, growing the file if needed.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) or [`Error::NoSpace`](crate::Error::NoSpace). After a
    /// failure some prefix of `buf` may have been written.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()>;

    /// Writes `first` and then `second` contiguously at `offset`, as one write where the
    /// platform has a vectored one (`pwritev`), so a caller need not copy two pieces into
    /// one buffer first.
    ///
    /// The default joins the two and makes one [`write_all_at`](Self::write_all_at) call,
    /// which keeps a test file system's call counting and short-write behaviour the same as
    /// for a single buffer.
    ///
    /// # Errors
    /// As [`write_all_at`](Self::write_all_at).
    fn write_all_at2(&self, first: &[u8], second: &[u8], offset: u64) -> Result<()> {
        if second.is_empty() {
            return self.write_all_at(first, offset);
        }
        let mut joined = Vec::with_capacity(first.len() + second.len());
        joined.extend_from_slice(first);
        joined.extend_from_slice(second);
        self.write_all_at(&joined, offset)
    }

    /// The current length of the file in bytes.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io).
    fn size(&self) -> Result<u64>;

    /// Cuts or extends the file to `len` bytes. Extension makes a sparse hole: never map it
    /// without [`StorageFile::allocate`], and never cut a file below a live mapping.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) or [`Error::NoSpace`](crate::Error::NoSpace).
    fn set_len(&self, len: u64) -> Result<()>;

    /// Reserves disk blocks for `[offset, offset + len)`, extending the file if the range
    /// ends past it, so later writes (including stores through a mapping) cannot fail for
    /// lack of space. Bytes already present are unchanged; new bytes read as zeros.
    ///
    /// # Errors
    /// [`Error::NoSpace`](crate::Error::NoSpace) if the disk is full,
    /// [`Error::Io`](crate::Error::Io) otherwise.
    fn allocate(&self, offset: u64, len: u64) -> Result<()>;

    /// Makes the file's data (and the metadata needed to read it, such as its length)
    /// durable: `fdatasync`, or `F_FULLFSYNC` on macOS.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io). Never retry a failed sync and report success; the
    /// kernel may already have dropped the unwritten pages.
    fn sync_data(&self) -> Result<()>;

    /// The OS file descriptor, for kernel copies (`copy_file_range`, `sendfile`), or `None`
    /// when the file is not an OS file (a simulated file system). Callers then copy through
    /// [`StorageFile::read_at`].
    fn fd(&self) -> Option<BorrowedFd<'_>>;
}

/// A shared, writable memory mapping handed out by [`Storage::map_mut`].
///
/// Stores through `DerefMut` reach the file's page cache at once; [`MapMut::flush`] writes
/// them back. An in-memory file system may substitute a buffer it copies back on flush.
pub trait MapMut: Deref<Target = [u8]> + DerefMut + Send + Sync + 'static {
    /// Writes modified pages back to the file and waits for the write (`msync(MS_SYNC)`).
    /// The file's [`StorageFile::sync_data`] is still needed for durability of its length.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io).
    fn flush(&self) -> Result<()>;
}
