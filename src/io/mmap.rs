//! [`Mmap`]: the only memory-mapping code of the crate (the [`MapMut`] of [`StdFs`]).
//!
//! Mapping a file is `unsafe` because the mapped bytes can change or vanish under the
//! program. tidelog keeps that from happening by contract:
//!
//! - **Exclusive ownership.** One process owns a data directory (it holds the store lock), and
//!   within it exactly one handle maps a given file. Read-only openers in other processes
//!   never map; they use positional reads.
//! - **No truncation below a mapping (SIGBUS).** The crate never cuts a file below the length
//!   of a live mapping of it: the index code drops its mapping before `set_len` and maps again
//!   after. [`Mmap::map`] refuses lengths past the end of the file.
//! - **No holes under a mapping (SIGBUS on a full disk).** Only ranges that were written or
//!   [`allocate`](super::StorageFile::allocate)d (real `fallocate`, not a sparse `ftruncate`)
//!   are mapped, so a store into the mapping never needs a new disk block.
//!
//! [`StdFs`]: super::StdFs

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

use memmap2::{MmapMut as RawMmapMut, MmapOptions};

use super::std_fs::StdFile;
use super::storage::{MapMut, StorageFile};
use crate::error::{Error, Result};

/// A shared, writable mapping of a file's prefix.
#[derive(Debug)]
pub struct Mmap {
    map: RawMmapMut,
    path: PathBuf,
}

impl Mmap {
    /// Maps the first `len` bytes of `file` (see [`Storage::map_mut`](super::Storage::map_mut)).
    pub(super) fn map(file: &StdFile, len: u64) -> Result<Mmap> {
        let path = file.path().to_path_buf();
        let file_len = file.size()?;
        if len == 0 || len > file_len {
            return Err(Error::InvalidArgument(format!(
                "cannot map {len} bytes of {} ({file_len} bytes long)",
                path.display()
            )));
        }
        let len = usize::try_from(len).map_err(|_| {
            Error::InvalidArgument(format!("mapping of {len} bytes exceeds the address space"))
        })?;
        #[expect(
            unsafe_code,
            reason = "memory-mapping a file is unsafe; the contract in this module's docs keeps it sound"
        )]
        // SAFETY: the range [0, len) lies inside the file (checked above) and the caller has
        // allocated it (SIGBUS contract of `Storage::map_mut`, kept by `io::index_file`, the only
        // caller). No other handle of this process maps or truncates the file while this mapping
        // lives (the index code unmaps before `set_len`), and no other process writes it (the
        // store lock). So the bytes behind the slice stay valid for the mapping's lifetime.
        let map = unsafe { MmapOptions::new().len(len).map_mut(file.as_std()) };
        let map = map.map_err(|e| Error::io("mmap", &path, e))?;
        Ok(Mmap { map, path })
    }
}

impl Deref for Mmap {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.map
    }
}

impl DerefMut for Mmap {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }
}

impl MapMut for Mmap {
    fn flush(&self) -> Result<()> {
        self.map
            .flush()
            .map_err(|e| Error::io("msync", &self.path, e))
    }
}
