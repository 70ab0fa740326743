//! The format layer: Kafka records and record batches, as bytes and as values. No I/O.
//!
//! - [`varint`]: zigzag varints with Kafka's length limits.
//! - [`Record`], [`RecordRef`], [`Header`]: owned and borrowed records.
//! - [`BatchBuilder`]: writes complete magic-2 batches.
//! - [`RecordBatch`]: a checked, borrowed view of a magic-2 batch, and its [`Records`].
//! - [`RecordBatchMut`]: the in-place stamps a log applies on append.

mod batch;
mod builder;
mod header;
mod record;
pub mod varint;

pub use batch::{RecordBatch, Records, DEFAULT_MAX_DECOMPRESSED_BYTES, MIN_BATCH_LENGTH};
pub use builder::{encode_batch, BatchBuilder, BatchOptions};
pub use header::{
    RecordBatchMut, TimestampType, HEADER_SIZE_UP_TO_MAGIC, LOG_OVERHEAD, MAGIC_V2,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP,
    RECORD_BATCH_OVERHEAD,
};
pub use record::{Header, HeaderIter, HeadersRef, Record, RecordRef};

#[cfg(test)]
mod tests;
