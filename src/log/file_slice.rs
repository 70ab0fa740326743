//! [`FileSlice`]: a range of whole batches in a segment file, sent without copying.

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::StorageFile;

/// Bytes of whole batches in one segment file, as [`Log::read_raw`](super::Log::read_raw)
/// returns them: what a Kafka Fetch response carries.
///
/// It holds the file open, so it stays readable after the segment is rolled, truncated or
/// deleted. [`copy_to`](Self::copy_to) hands the range to the kernel (`copy_file_range`,
/// or `sendfile` for sockets and pipes) at explicit offsets, so the bytes never pass through
/// user space; it also implements [`Read`] for everything else.
#[derive(Debug)]
pub struct FileSlice<F: StorageFile> {
    file: Arc<F>,
    start: u64,
    len: u64,
    read_pos: u64,
}

impl<F: StorageFile> FileSlice<F> {
    pub(crate) fn new(file: Arc<F>, start: u64, len: u64) -> Self {
        FileSlice {
            file,
            start,
            len,
            read_pos: 0,
        }
    }

    /// Position of the first byte in the segment file.
    pub fn position(&self) -> u64 {
        self.start
    }

    /// Number of bytes in the slice.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True if the slice holds no bytes (a read at the log end).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads the whole slice into a new buffer.
    ///
    /// # Errors
    /// [`Error::Io`] if the read fails or the file was cut short meanwhile.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; self.len as usize];
        self.file.read_exact_at(&mut buf, self.start)?;
        Ok(buf)
    }

    /// Sends the slice to `out` (a socket, pipe or file) by kernel copy, at the file's
    /// current position for files. Returns the bytes sent: the slice's length, or fewer only
    /// if the log was truncated below the slice meanwhile.
    ///
    /// # Errors
    /// [`Error::Io`] if the kernel copy and the fallback both fail.
    pub fn copy_to(&self, out: impl AsFd) -> Result<u64> {
        let out = out.as_fd();
        let Some(input) = self.file.fd() else {
            return self.copy_through_user_space(out);
        };
        let mut off = self.start;
        let end = self.start + self.len;
        let mut use_sendfile = false;
        while off < end {
            let want = (end - off).min(1 << 30) as usize;
            let before = off;
            let res = if use_sendfile {
                rustix::fs::sendfile(out, input, Some(&mut off), want)
            } else {
                rustix::fs::copy_file_range(input, Some(&mut off), out, None, want)
            };
            match res {
                Ok(0) => break, // end of file: the segment was truncated meanwhile
                Ok(n) => {
                    // Some kernels advance `off` themselves; make sure it moved exactly n.
                    off = before + n as u64;
                }
                Err(e) if e == rustix::io::Errno::INTR => {}
                Err(e)
                    if !use_sendfile
                        && [
                            rustix::io::Errno::INVAL,
                            rustix::io::Errno::XDEV,
                            rustix::io::Errno::NOSYS,
                            rustix::io::Errno::OPNOTSUPP,
                            rustix::io::Errno::BADF,
                        ]
                        .contains(&e) =>
                {
                    // copy_file_range only copies between regular files: sockets and pipes
                    // take sendfile.
                    off = before;
                    use_sendfile = true;
                }
                Err(e) if use_sendfile && off == self.start => {
                    let _ = e;
                    return self.copy_through_user_space(out);
                }
                Err(e) => {
                    return Err(Error::io("copy", self.file.path(), io::Error::from(e)));
                }
            }
        }
        Ok(off - self.start)
    }

    fn copy_through_user_space(&self, out: std::os::fd::BorrowedFd<'_>) -> Result<u64> {
        let mut buf = vec![0u8; (self.len.min(1 << 20)) as usize];
        let mut done = 0u64;
        while done < self.len {
            let want = ((self.len - done) as usize).min(buf.len());
            let n = self.file.read_at(&mut buf[..want], self.start + done)?;
            if n == 0 {
                break;
            }
            let mut written = 0;
            while written < n {
                match rustix::io::write(out, &buf[written..n]) {
                    Ok(0) => {
                        return Err(Error::io(
                            "write",
                            self.file.path(),
                            io::Error::from(io::ErrorKind::WriteZero),
                        ))
                    }
                    Ok(w) => written += w,
                    Err(e) if e == rustix::io::Errno::INTR => {}
                    Err(e) => return Err(Error::io("write", self.file.path(), e.into())),
                }
            }
            done += n as u64;
        }
        Ok(done)
    }
}

impl<F: StorageFile> Read for FileSlice<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len - self.read_pos;
        let want = (left.min(buf.len() as u64)) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self
            .file
            .read_at(&mut buf[..want], self.start + self.read_pos)
            .map_err(io::Error::other)?;
        self.read_pos += n as u64;
        Ok(n)
    }
}
