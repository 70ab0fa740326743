//! [`PolledRecords`]: what [`Consumer::poll_records`](super::Consumer::poll_records)
//! returns, records borrowing the consumer's fetch buffers.

use std::ops::Range;

use super::partition::PartitionState;
use super::ConsumerRecordRef;

/// A run of records of one partition handed out by a poll, in the order the poll chose.
#[derive(Debug, Clone)]
pub(super) struct Run {
    /// Index of the partition in the consumer's assignment.
    pub(super) partition: usize,
    /// Its slots handed out.
    pub(super) slots: Range<usize>,
}

/// The records of one poll, borrowing the consumer's fetch buffers (Kafka's
/// `ConsumerRecords`): no allocation or copy per record. It borrows the consumer, so it is
/// used up before the next poll; [`ConsumerRecordRef::to_record`] keeps a record longer.
///
/// ```
/// use std::time::Duration;
/// use tidelog::config::{StoreConfig, TopicConfig};
/// use tidelog::consumer::{Consumer, ConsumerConfig, OffsetReset};
/// use tidelog::store::{Producer, ProducerConfig, ProducerRecord, Store};
/// # let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), StoreConfig::default())?;
/// store.create_topic("clicks", 2, TopicConfig::default())?;
/// let mut producer = Producer::new(&store, ProducerConfig::default())?;
/// producer.send(ProducerRecord::new("clicks", b"user-1", b"/cart"))?;
/// producer.flush()?;
///
/// let config = ConsumerConfig { auto_offset_reset: OffsetReset::Earliest, ..Default::default() };
/// let mut consumer = Consumer::new(&store, config)?;
/// consumer.subscribe(&["clicks"])?;
/// let records = consumer.poll_records(Duration::from_millis(100))?;
/// assert_eq!(records.len(), 1);
/// for record in &records {
///     assert_eq!(record.value(), Some(&b"/cart"[..]));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PolledRecords<'a> {
    pub(super) partitions: &'a [PartitionState],
    pub(super) runs: &'a [Run],
    pub(super) len: usize,
}

impl<'a> PolledRecords<'a> {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the poll returned nothing (its timeout passed).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Each run of records of one partition, with the partition's index in the assignment.
    pub(super) fn by_run(&self) -> impl Iterator<Item = (usize, PolledIter<'a>)> + '_ {
        self.runs.iter().map(|run| {
            let records = PolledRecords {
                partitions: self.partitions,
                runs: std::slice::from_ref(run),
                len: run.slots.len(),
            };
            (run.partition, records.iter())
        })
    }

    /// The records, in the order the poll handed them out: per partition in offset order.
    pub fn iter(&self) -> PolledIter<'a> {
        PolledIter {
            partitions: self.partitions,
            runs: self.runs.iter(),
            current: None,
            left: self.len,
        }
    }
}

impl<'a> IntoIterator for &PolledRecords<'a> {
    type Item = ConsumerRecordRef<'a>;
    type IntoIter = PolledIter<'a>;

    fn into_iter(self) -> PolledIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for PolledRecords<'a> {
    type Item = ConsumerRecordRef<'a>;
    type IntoIter = PolledIter<'a>;

    fn into_iter(self) -> PolledIter<'a> {
        self.iter()
    }
}

/// Iterator over [`PolledRecords`].
#[derive(Debug, Clone)]
pub struct PolledIter<'a> {
    partitions: &'a [PartitionState],
    runs: std::slice::Iter<'a, Run>,
    /// The partition being walked and its slots left.
    current: Option<(&'a PartitionState, Range<usize>)>,
    left: usize,
}

impl<'a> Iterator for PolledIter<'a> {
    type Item = ConsumerRecordRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<ConsumerRecordRef<'a>> {
        loop {
            if let Some((state, slots)) = &mut self.current {
                if let Some(i) = slots.next() {
                    // Runs name slots a poll handed out, which stay until the next poll.
                    let Some(slot) = state.slots().get(i) else {
                        continue;
                    };
                    self.left = self.left.saturating_sub(1);
                    let bytes = state.bytes_of(slot);
                    return Some(ConsumerRecordRef {
                        topic: &state.topic,
                        partition: state.tp.partition,
                        offset: slot.offset,
                        timestamp: slot.timestamp,
                        timestamp_type: slot.timestamp_type,
                        leader_epoch: slot.leader_epoch,
                        key: slot.key.get(bytes),
                        value: slot.value.get(bytes),
                        arena: &state.arena,
                        headers: state.headers_of(slot),
                    });
                }
            }
            let run = self.runs.next()?;
            self.current = self
                .partitions
                .get(run.partition)
                .map(|state| (state, run.slots.clone()));
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for PolledIter<'_> {}
