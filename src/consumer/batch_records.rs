//! Walks the records of a [`ReadResult`] together with the batch each belongs to, which the
//! consumer needs (control batches, transactions, leader epochs) and `records()` alone does
//! not say.

use crate::error::Result;
use crate::log::ReadResult;
use crate::record::{Batch, RecordRef, TimestampType};

/// What the consumer needs to know of a record's batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BatchMeta {
    /// Offset of the batch's last record.
    pub last_offset: i64,
    /// A control batch (transaction markers): its records are never returned to users.
    pub is_control: bool,
    /// Part of a transaction.
    pub is_transactional: bool,
    /// The producer id, -1 for none.
    pub producer_id: i64,
    /// The partition leader epoch, `None` if unset (-1).
    pub leader_epoch: Option<i32>,
    /// CreateTime or LogAppendTime; `None` for magic 0.
    pub timestamp_type: Option<TimestampType>,
}

impl BatchMeta {
    fn of(batch: &Batch<'_>) -> Self {
        let (is_transactional, producer_id) = match batch {
            Batch::V2(b) => (b.is_transactional(), b.producer_id()),
            Batch::Legacy(_) => (false, -1),
        };
        let epoch = batch.partition_leader_epoch();
        BatchMeta {
            last_offset: batch.last_offset(),
            is_control: batch.is_control(),
            is_transactional,
            producer_id,
            leader_epoch: (epoch >= 0).then_some(epoch),
            timestamp_type: batch.timestamp_type(),
        }
    }
}

/// Calls `f` with each record of `result` at or after `from` and its batch, skipping whole
/// batches that end before `from`.
///
/// # Errors
/// A record's decoding error; `f`'s errors.
#[inline]
pub(super) fn for_each_record(
    result: &ReadResult,
    from: i64,
    mut f: impl FnMut(&BatchMeta, RecordRef<'_>) -> Result<()>,
) -> Result<()> {
    for item in result.batch_records() {
        let (batch, records) = item?;
        if batch.last_offset() < from {
            continue;
        }
        let meta = BatchMeta::of(&batch);
        for record in records {
            let record = record?;
            if record.offset() >= from {
                f(&meta, record)?;
            }
        }
    }
    Ok(())
}
