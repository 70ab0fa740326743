//! The format layer: Kafka records and record batches, as bytes and as values. No I/O.
//!
//! - [`varint`]: zigzag varints with Kafka's length limits.
//! - [`Record`], [`RecordRef`], [`Header`]: owned and borrowed records.
//! - [`BatchBuilder`]: writes complete magic-2 batches.
//! - [`RecordBatch`]: a checked, borrowed view of a magic-2 batch, and its [`Records`].
//! - [`RecordBatchMut`]: the in-place stamps a log applies on append.
//! - [`LegacyBatch`]: a checked, read-only view of a legacy (magic 0/1) log entry, and its
//!   [`LegacyRecords`].
//! - [`Batch`]: either format behind one view, and [`BatchIter`] over a buffer of batches.

mod batch;
mod builder;
mod entry;
mod header;
mod legacy;
#[allow(
    clippy::module_inception,
    reason = "record.rs holds Kafka's Record type; the file is named for what it holds"
)]
mod record;
pub mod varint;

pub use batch::{RecordBatch, Records, DEFAULT_MAX_DECOMPRESSED_BYTES, MIN_BATCH_LENGTH};
pub use builder::{encode_batch, BatchBuilder, BatchOptions};
pub use entry::{Batch, BatchIter, BatchRecords};
pub(crate) use header::{records_count_and_log_append_time, BatchHead};
pub use header::{
    RecordBatchMut, TimestampType, HEADER_SIZE_UP_TO_MAGIC, LOG_OVERHEAD, MAGIC_V2,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP,
    RECORD_BATCH_OVERHEAD,
};
pub use legacy::{
    LegacyBatch, LegacyRecords, MAGIC_V0, MAGIC_V1, RECORD_OVERHEAD_V0, RECORD_OVERHEAD_V1,
};
pub use record::{Header, HeaderIter, HeadersRef, Record, RecordRef};

#[cfg(test)]
mod legacy_tests;
#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "the magic-2 tests assert on `unwrap_err()` of results known to fail"
)]
mod tests;
