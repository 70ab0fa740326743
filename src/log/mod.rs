//! The partition log: one Kafka partition directory of segments.
//!
//! - [`Log`]: open or create, append, read, roll, flush, retention, truncation, recovery;
//!   or open read-only beside a live writer ([`Log::open_read_only`], [`Log::refresh`]);
//! - [`FileSlice`]: whole batches of one segment file, for zero-copy sends;
//! - [`ReadResult`]: decoded batches whose records borrow one buffer;
//! - [`LeaderEpochCache`]: Kafka's `leader-epoch-checkpoint` in memory;
//! - [`AppendSignal`]: one wake-up shared by many logs, for readers tailing several.
//!
//! Files: `log.rs` (the type, its state and accessors), `recovery.rs` (open), `append.rs`
//! (append, roll, flush), `read.rs` (reads and timestamp lookups), `retention.rs`
//! (retention, `delete_records_before`, `truncate_to`), `read_only.rs` (the read-only open
//! beside a live writer, `refresh`), `signal.rs` ([`AppendSignal`]).

mod append;
mod file_slice;
mod leader_epoch;
#[allow(clippy::module_inception, reason = "the Log type lives in log/log.rs")]
mod log;
mod options;
mod read;
mod read_only;
mod recovery;
mod retention;
mod signal;

pub use file_slice::FileSlice;
pub use leader_epoch::LeaderEpochCache;
pub use log::{Log, LogStats};
pub use options::{
    AppendInfo, AppendOptions, CloseState, Durability, Isolation, LogOpenOptions, RecoveryCut,
    RecoveryReport, RetentionReport, Validation,
};
pub use read::{ReadRecords, ReadResult, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_TIMESTAMP};
pub use signal::AppendSignal;

#[cfg(test)]
mod regression_tests;
#[cfg(test)]
mod tests;
