//! [`DirLock`]: the exclusive lock a writable store holds on Kafka's `.lock` file.
//!
//! It is an open-file-description lock (`F_OFD_SETLK`). It conflicts with the POSIX record
//! lock a Kafka broker's JVM takes on the same file (`FileChannel.tryLock`), so a live broker
//! and tidelog exclude each other; and unlike a process-wide POSIX lock it also refuses a
//! second open of the same directory inside one process. It is released explicitly on drop,
//! and the kernel drops it when the process dies.
//!
//! The explicit unlock matters: a child process that another thread forks shares the open
//! file description until it execs (`O_CLOEXEC` closes it only then), so merely closing the
//! descriptor would leave the lock held by that child for a while, and a reopen right after
//! a close would fail with `Locked`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// An exclusive lock on a directory's `.lock` file, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    file: File,
    path: PathBuf,
}

impl DirLock {
    /// Creates (if needed) and locks `dir/.lock`.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the lock file if another process, another handle in this
    /// process, or a Kafka broker holds it; I/O errors.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(".lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        match ofd_lock(&file, true) {
            Ok(()) => Ok(DirLock { file, path }),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => {
                Err(Error::Locked { path })
            }
            Err(e) => Err(Error::io("lock", &path, e)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open lock file (kept open: closing it releases the lock).
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if let Err(e) = ofd_lock(&self.file, false) {
            log::warn!("unlocking {}: {e}", self.path.display());
        }
    }
}

/// Takes (`take`) or releases the exclusive lock on the whole file.
#[cfg(target_os = "linux")]
fn ofd_lock(file: &File, take: bool) -> io::Result<()> {
    let l_type = if take { libc::F_WRLCK } else { libc::F_UNLCK };
    // SAFETY: `flock` is a plain C struct for which all-zero bytes are a valid value.
    #[expect(unsafe_code, reason = "zero-initialising a C struct for fcntl")]
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = l_type as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = 0;
    lock.l_len = 0; // the whole file
    lock.l_pid = 0; // required to be 0 for OFD locks
                    // SAFETY: the descriptor is open for the duration of the call (borrowed from `file`),
                    // and `lock` is a valid, initialised `flock` that outlives the call; F_OFD_SETLK reads
                    // it and does not keep the pointer.
    #[expect(
        unsafe_code,
        reason = "fcntl(F_OFD_SETLK) has no safe wrapper in rustix"
    )]
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &lock) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn ofd_lock(file: &File, take: bool) -> io::Result<()> {
    // Elsewhere (macOS) fall back to flock(2): per open file description as well, though it
    // does not conflict with a JVM's fcntl lock.
    let op = if take {
        rustix::fs::FlockOperation::NonBlockingLockExclusive
    } else {
        rustix::fs::FlockOperation::Unlock
    };
    rustix::fs::flock(file, op).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_in_the_same_process_is_refused() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
        let first = DirLock::acquire(dir.path())?;
        match DirLock::acquire(dir.path()) {
            Err(Error::Locked { path }) => assert_eq!(path, first.path()),
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        DirLock::acquire(dir.path())?;
        Ok(())
    }
}
