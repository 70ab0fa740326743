//! The file-system seam: every file access of the crate goes through [`Storage`].
//!
//! - [`storage`](Storage): the traits ([`Storage`], [`StorageFile`], [`MapMut`]) and [`OpenMode`];
//! - [`StdFs`]: the real file system (std + rustix: `fallocate`, `fdatasync`);
//! - [`Mmap`]: the one place that memory-maps files, with the SIGBUS contract;
//! - [`IndexFile`]: a file of fixed-size entries mapped and grown in fallocated steps, the
//!   storage half of the offset and time indexes.
//!
//! Test layers (a fault injector, a power-loss simulator) implement [`Storage`] by wrapping
//! [`StdFs`] or memory.

mod index_file;
mod lock;
mod mmap;
mod std_fs;
mod storage;

pub use index_file::{partition_point, IndexAccess, IndexFile, INITIAL_BYTES, WARM_BYTES};
pub use lock::DirLock;
pub use mmap::Mmap;
pub use std_fs::{StdFile, StdFs};
pub use storage::{MapMut, OpenMode, Storage, StorageFile};

#[cfg(test)]
mod tests;
