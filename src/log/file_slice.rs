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
    /// The offset after the last batch in the range, from the headers the read walked.
    next_offset: i64,
}

impl<F: StorageFile> FileSlice<F> {
    /// The range `[start, start + len)` of `file`, whose last batch ends before
    /// `next_offset` (the requested offset for an empty range).
    pub(crate) fn new(file: Arc<F>, start: u64, len: u64, next_offset: i64) -> Self {
        FileSlice {
            file,
            start,
            len,
            read_pos: 0,
            next_offset,
        }
    }

    /// The offset after the slice's last batch: where the next fetch starts. For an empty
    /// slice (a read at the end of what the read may see) it is the offset asked for.
    ///
    /// It is taken from the batch headers the read walked when it built the slice, so it
    /// always describes these bytes, whatever the log has appended since (a second read
    /// to learn it could return more batches than the slice holds).
    ///
    /// ```
    /// use tidelog::log::{AppendOptions, Log, LogOpenOptions};
    /// use tidelog::record::Record;
    /// # let dir = tempfile::tempdir()?;
    /// let log = Log::open(dir.path().join("events-0"), Default::default(), LogOpenOptions::default())?;
    /// let batch = [Record::new(1, b"a".to_vec()), Record::new(2, b"b".to_vec())];
    /// log.append(&batch, &AppendOptions::default())?;
    /// let slice = log.read_raw(0, 1 << 20)?;
    /// log.append(&batch, &AppendOptions::default())?; // after the slice was taken
    /// assert_eq!(slice.next_offset(), 2);
    /// assert_eq!(log.read_raw(4, 1 << 20)?.next_offset(), 4); // at the end: empty
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_offset(&self) -> i64 {
        self.next_offset
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

#[cfg(test)]
mod tests {
    use crate::error::{Error, Result};
    use crate::log::{AppendOptions, Log, LogOpenOptions};
    use crate::record::{Batch, BatchIter, Record};
    use crate::Compression;

    /// The offset after the last batch in `bytes`, parsed from the bytes themselves.
    fn next_after(bytes: &[u8]) -> Result<Option<i64>> {
        let mut last = None;
        for batch in BatchIter::new(bytes) {
            let (_, batch): (usize, Batch<'_>) = batch?;
            last = Some(batch.next_offset());
        }
        Ok(last)
    }

    #[test]
    fn next_offset_follows_the_last_batch_in_the_slice() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
        let config = crate::config::LogConfig {
            segment_bytes: 2048,
            ..Default::default()
        };
        let log = Log::open(dir.path(), config, LogOpenOptions::default())?;
        for i in 0..40i64 {
            let records: Vec<Record> = (0..3)
                .map(|j| Record::new(i * 3 + j, format!("value {i} {j}").into_bytes()))
                .collect();
            let opts = if i % 2 == 0 {
                AppendOptions::with_compression(Compression::Lz4)
            } else {
                AppendOptions::default()
            };
            log.append(&records, &opts)?;
        }
        let end = log.end_offset();
        // Every offset, with budgets from one batch to everything: each slice ends in a
        // batch whose next offset it reports, and the slices chain to the end.
        for max in [1usize, 200, 700, 1 << 20] {
            let mut offset = 0;
            while offset < end {
                let slice = log.read_raw(offset, max)?;
                let bytes = slice.to_vec()?;
                assert!(!bytes.is_empty(), "a slice below the end at {offset}");
                assert_eq!(
                    Some(slice.next_offset()),
                    next_after(&bytes)?,
                    "at {offset}"
                );
                assert!(slice.next_offset() > offset);
                offset = slice.next_offset();
            }
            assert_eq!(offset, end);
        }
        // From the middle of a batch: the batch holding the offset, and what follows it.
        let slice = log.read_raw(4, 1)?;
        assert_eq!(slice.next_offset(), 6);
        // At the end: empty, at the offset asked for.
        let at_end = log.read_raw(end, 1 << 20)?;
        assert!(at_end.is_empty());
        assert_eq!(at_end.next_offset(), end);

        // Appends after the slice was taken change neither its bytes nor its next offset,
        // while a second read (what a server asking again would see) returns more.
        let slice = log.read_raw(end - 3, 1 << 20)?;
        log.append(
            &[Record::new(1, b"later".to_vec())],
            &AppendOptions::default(),
        )?;
        assert_eq!(slice.next_offset(), end);
        assert_eq!(next_after(&slice.to_vec()?)?, Some(end));
        assert_eq!(log.read(end - 3, 1 << 20)?.next_offset(), end + 1);
        Ok(())
    }
}
