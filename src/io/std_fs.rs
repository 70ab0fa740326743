//! [`StdFs`]: the real file system, through `std::fs` and `rustix`.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::mmap::Mmap;
use super::storage::{OpenMode, Storage, StorageFile};
use crate::error::{Error, Result};

/// The real file system: the default [`Storage`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StdFs;

/// A file opened by [`StdFs`].
#[derive(Debug)]
pub struct StdFile {
    file: File,
    path: PathBuf,
}

impl StdFile {
    /// The underlying `std` file, for the mapping code of this module.
    pub(super) fn as_std(&self) -> &File {
        &self.file
    }
}

impl Storage for StdFs {
    type File = StdFile;
    type Map = Mmap;

    fn open(&self, path: &Path, mode: OpenMode) -> Result<StdFile> {
        let mut options = OpenOptions::new();
        options.read(true).write(mode.is_writable());
        match mode {
            OpenMode::ReadOnly | OpenMode::ReadWrite => {}
            OpenMode::Create => {
                options.create(true);
            }
            OpenMode::CreateNew => {
                options.create_new(true);
            }
            OpenMode::Truncate => {
                options.create(true).truncate(true);
            }
        }
        let file = options.open(path).map_err(|e| Error::io("open", path, e))?;
        Ok(StdFile {
            file,
            path: path.to_path_buf(),
        })
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        fs::create_dir_all(path).map_err(|e| Error::io("create_dir", path, e))
    }

    fn read_dir(&self, path: &Path) -> Result<Vec<OsString>> {
        let entries = fs::read_dir(path).map_err(|e| Error::io("read_dir", path, e))?;
        entries
            .map(|entry| {
                entry
                    .map(|e| e.file_name())
                    .map_err(|e| Error::io("read_dir", path, e))
            })
            .collect()
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        fs::rename(from, to).map_err(|e| Error::io("rename", from, e))
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        fs::remove_file(path).map_err(|e| Error::io("remove_file", path, e))
    }

    fn remove_dir_all(&self, path: &Path) -> Result<()> {
        fs::remove_dir_all(path).map_err(|e| Error::io("remove_dir", path, e))
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        path.try_exists()
            .map_err(|e| Error::io("metadata", path, e))
    }

    fn file_len(&self, path: &Path) -> Result<u64> {
        fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| Error::io("metadata", path, e))
    }

    fn sync_dir(&self, path: &Path) -> Result<()> {
        let dir = File::open(path).map_err(|e| Error::io("open", path, e))?;
        full_sync(&dir, false).map_err(|e| Error::io("sync_dir", path, e))
    }

    fn map_mut(&self, file: &StdFile, len: u64) -> Result<Mmap> {
        Mmap::map(file, len)
    }

    fn lock_dir(&self, dir: &Path) -> Result<Option<super::DirLock>> {
        super::DirLock::acquire(dir).map(Some)
    }
}

impl StorageFile for StdFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done as u64;
            match self.file.read_at(&mut buf[done..], at) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("read", &self.path, e)),
            }
        }
        Ok(done)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| Error::io("read", &self.path, e))
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.file
            .write_all_at(buf, offset)
            .map_err(|e| Error::io("write", &self.path, e))
    }

    fn write_all_at2(&self, first: &[u8], second: &[u8], offset: u64) -> Result<()> {
        let mut bufs = [IoSlice::new(first), IoSlice::new(second)];
        let mut bufs = &mut bufs[..];
        let mut offset = offset;
        // Drop empty slices up front: a write of nothing left would look like a zero write.
        IoSlice::advance_slices(&mut bufs, 0);
        while !bufs.is_empty() {
            match rustix::io::pwritev(&self.file, bufs, offset) {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::WriteZero, "pwritev wrote nothing");
                    return Err(Error::io("write", &self.path, e));
                }
                Ok(n) => {
                    offset += n as u64;
                    IoSlice::advance_slices(&mut bufs, n);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(Error::io("write", &self.path, e.into())),
            }
        }
        Ok(())
    }

    fn size(&self) -> Result<u64> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| Error::io("metadata", &self.path, e))
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.file
            .set_len(len)
            .map_err(|e| Error::io("set_len", &self.path, e))
    }

    fn allocate(&self, offset: u64, len: u64) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        let end = offset.checked_add(len).ok_or_else(|| {
            Error::InvalidArgument(format!("allocate({offset}, {len}) overflows"))
        })?;
        if native_allocate(&self.file, offset, len)
            .map_err(|e| Error::io("fallocate", &self.path, e))?
        {
            return Ok(());
        }
        // The file system cannot reserve blocks: write real zeros past the end instead, so the
        // range is backed by blocks and never a sparse hole. Bytes already inside the file are
        // left alone; files the crate maps are never sparse inside (they grow only through here).
        let current = self.size()?;
        let mut at = offset.max(current);
        let zeros = [0u8; 64 * 1024];
        while at < end {
            let n = (end - at).min(zeros.len() as u64) as usize;
            self.write_all_at(&zeros[..n], at)?;
            at += n as u64;
        }
        Ok(())
    }

    fn sync_data(&self) -> Result<()> {
        full_sync(&self.file, true).map_err(|e| Error::io("fdatasync", &self.path, e))
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.file.as_fd())
    }
}

/// `fallocate(fd, 0, offset, len)`, retried on `EINTR`. Returns `Ok(false)` if the file
/// system does not support it (the caller falls back to writing zeros).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn native_allocate(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    use rustix::fs::{fallocate, FallocateFlags};
    use rustix::io::Errno;
    loop {
        match fallocate(file, FallocateFlags::empty(), offset, len) {
            Ok(()) => return Ok(true),
            Err(Errno::INTR) => {}
            Err(Errno::OPNOTSUPP | Errno::NOSYS) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Elsewhere (macOS), `rustix::fs::fallocate` may cut a file longer than the range, so the
/// zero-writing fallback is used.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn native_allocate(_file: &File, _offset: u64, _len: u64) -> io::Result<bool> {
    Ok(false)
}

/// Makes a file (or directory) durable: `fdatasync` when `data_only`, else `fsync`; on Apple
/// platforms `F_FULLFSYNC`, since their `fsync` does not flush the drive's cache.
fn full_sync(file: &File, data_only: bool) -> io::Result<()> {
    #[cfg(target_vendor = "apple")]
    {
        let _ = data_only;
        rustix::fs::fcntl_fullfsync(file)?;
    }
    #[cfg(not(target_vendor = "apple"))]
    {
        if data_only {
            rustix::fs::fdatasync(file)?;
        } else {
            rustix::fs::fsync(file)?;
        }
    }
    Ok(())
}
