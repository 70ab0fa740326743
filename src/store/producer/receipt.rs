//! [`Receipt`]: the promise of a sent record's offset, shared per batch.

use std::fmt;
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use super::accumulator::Accumulator;
use crate::error::{Error, Result};

/// Where a record was stored (Kafka's `RecordMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The record's offset in the partition.
    pub offset: i64,
    /// The record's timestamp as stored: LogAppendTime if the topic stamps it, else the
    /// record's CreateTime.
    pub timestamp: i64,
}

/// What an appended batch reported, shared by its receipts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Appended {
    pub(super) first_offset: i64,
    /// LogAppendTime, or -1 for CreateTime.
    pub(super) append_time: i64,
}

/// One batch's outcome, shared by the receipts of its records.
///
/// Invariant: while `outcome` is unset the batch is the pending batch of
/// (`topic_index`, `partition`) in the accumulator `owner` points to, and the outcome is set
/// under that accumulator's lock when the batch leaves it. So a waiter that takes the lock
/// and still finds no outcome can append the batch itself.
pub(super) struct BatchSlot {
    pub(super) topic: Arc<str>,
    pub(super) topic_index: usize,
    pub(super) partition: i32,
    pub(super) owner: Weak<Mutex<Accumulator>>,
    pub(super) outcome: OnceLock<Result<Appended>>,
}

impl fmt::Debug for BatchSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchSlot")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("outcome", &self.outcome.get())
            .finish_non_exhaustive()
    }
}

/// The promise of one sent record's [`RecordMetadata`] (Kafka's `Future<RecordMetadata>`).
///
/// `Send + Sync`, cheap to keep (a shared pointer to its batch's outcome, an index and a
/// timestamp); dropping it changes nothing.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub(super) slot: Arc<BatchSlot>,
    pub(super) index: u32,
    pub(super) timestamp: i64,
}

impl Receipt {
    /// The topic the record was sent to.
    pub fn topic(&self) -> &str {
        &self.slot.topic
    }

    /// The partition the record was routed to (known at send).
    pub fn partition(&self) -> i32 {
        self.slot.partition
    }

    /// True once the record's batch was appended (or failed).
    pub fn is_done(&self) -> bool {
        self.slot.outcome.get().is_some()
    }

    /// The outcome if the batch was appended (or failed), without waiting.
    pub fn try_get(&self) -> Option<Result<RecordMetadata>> {
        self.slot.outcome.get().map(|o| self.metadata(o))
    }

    /// The record's offset and timestamp, once its batch is appended.
    ///
    /// If the batch is still pending in its producer (not full, `linger_ms` not yet
    /// passed), this appends it now, so `wait` never waits for a flush that nothing would
    /// trigger: a caller that waits has nothing to gain from more lingering. It blocks only
    /// while another thread holds the producer (sending, or appending this very batch).
    ///
    /// # Errors
    /// The error that failed the record's batch ([`Error::RecordTooLarge`],
    /// [`Error::Poisoned`], [`Error::UnknownTopic`] if the topic was deleted, I/O errors,
    /// ...); [`Error::Closed`] if the producer vanished without appending it (it panicked).
    pub fn wait(&self) -> Result<RecordMetadata> {
        if let Some(o) = self.slot.outcome.get() {
            return self.metadata(o);
        }
        if let Some(owner) = self.slot.owner.upgrade() {
            let mut acc = owner.lock();
            if self.slot.outcome.get().is_none() {
                // By the slot's invariant this is our batch; its error, if any, lands in
                // the outcome.
                let _ = acc.append_partition(self.slot.topic_index, self.slot.partition);
            }
        }
        match self.slot.outcome.get() {
            Some(o) => self.metadata(o),
            None => Err(Error::Closed),
        }
    }

    fn metadata(&self, outcome: &Result<Appended>) -> Result<RecordMetadata> {
        match outcome {
            Ok(a) => Ok(RecordMetadata {
                topic: self.slot.topic.to_string(),
                partition: self.slot.partition,
                offset: a.first_offset + i64::from(self.index),
                timestamp: if a.append_time >= 0 {
                    a.append_time
                } else {
                    self.timestamp
                },
            }),
            Err(e) => Err(e.duplicate()),
        }
    }
}
