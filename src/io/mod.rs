//! The file-system seam: every file access of the crate goes through [`Storage`].
//!
//! - [`storage`](Storage): the traits ([`Storage`], [`StorageFile`], [`MapMut`]) and [`OpenMode`];
//! - [`StdFs`]: the real file system (std + rustix: `fallocate`, `fdatasync`);
//! - [`Mmap`]: the one place that memory-maps files, with the SIGBUS contract;
//! - [`IndexFile`]: a file of fixed-size entries mapped and grown in fallocated steps, the
//!   storage half of the offset and time indexes.
//!
//! Test layers, behind the cargo feature `test-util`, implement [`Storage`] too:
//! `FaultFs` (fails the N-th call of a wrapped storage) and `SimFs` (an in-memory file
//! system with a power-loss model).

#[cfg(feature = "test-util")]
mod fault;
mod index_file;
mod lock;
mod mmap;
#[cfg(feature = "test-util")]
mod sim;
mod std_fs;
mod storage;

#[cfg(feature = "test-util")]
pub use fault::{
    FaultController, FaultFile, FaultFs, FaultKind, FaultMap, FaultMode, FaultOp, FaultPlan,
    FaultTarget, InjectedFault,
};
pub use index_file::{partition_point, IndexAccess, IndexFile, INITIAL_BYTES, WARM_BYTES};
pub use lock::DirLock;
pub use mmap::Mmap;
#[cfg(feature = "test-util")]
pub use sim::{CrashVariant, SimFile, SimFs, SimMap, SimRng};
pub use std_fs::{StdFile, StdFs};
pub use storage::{MapMut, OpenMode, Storage, StorageFile};

#[cfg(test)]
mod tests;
