//! Walks the records of a [`ReadResult`] together with the batch each belongs to, which the
//! consumer needs (control batches, transactions, leader epochs) and `records()` alone does
//! not say.

use crate::error::{Corruption, Error, Result};
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

/// Calls `f` with each record of `result` (from the offset that was read on) and its batch.
///
/// `records()` yields records in offset order across the batches `batches()` yields, so the
/// batch of a record is the first batch not yet passed whose last offset reaches it.
///
/// # Errors
/// A record's decoding error; [`Error::Corrupt`] if a record lies past every batch (which
/// the read's own checks rule out); `f`'s errors.
pub(super) fn for_each_record(
    result: &ReadResult,
    mut f: impl FnMut(&BatchMeta, RecordRef<'_>) -> Result<()>,
) -> Result<()> {
    let mut batches = result.batches();
    let mut current: Option<BatchMeta> = None;
    for record in result.records() {
        let record = record?;
        let meta = loop {
            if let Some(m) = current.filter(|m| m.last_offset >= record.offset()) {
                break m;
            }
            let batch = batches.next().ok_or_else(|| {
                Error::corrupt(Corruption::Invalid {
                    reason: "a record lies past the last batch read",
                })
                .at_offset(record.offset())
            })?;
            current = Some(BatchMeta::of(&batch));
        };
        f(&meta, record)?;
    }
    Ok(())
}
