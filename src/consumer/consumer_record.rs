//! [`ConsumerRecord`]: one record as [`Consumer::poll`](super::Consumer::poll) returns it.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use super::partition::Field;
use super::TopicPartition;
use crate::record::{Header, TimestampType};

/// One record returned by [`Consumer::poll`](super::Consumer::poll): owned, with the topic,
/// partition and offset it was read at (Kafka's `ConsumerRecord`).
///
/// The keys and values of the records of one poll share one buffer (one allocation per poll
/// instead of two per record), which lives as long as any of them.
#[derive(Clone)]
pub struct ConsumerRecord {
    pub(super) shared: Arc<PollBytes>,
    /// Index of the topic name in `shared.topics`.
    pub(super) topic: usize,
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) timestamp: i64,
    pub(super) timestamp_type: Option<TimestampType>,
    pub(super) leader_epoch: Option<i32>,
    /// Ranges of `shared.bytes`, `None` for null.
    pub(super) key: Option<Range<usize>>,
    pub(super) value: Option<Range<usize>>,
    pub(super) headers: Vec<Header>,
}

/// What the records of one poll share: their keys' and values' bytes, and topic names.
#[derive(Debug, Default)]
pub(super) struct PollBytes {
    pub(super) bytes: Vec<u8>,
    pub(super) topics: Vec<Arc<str>>,
}

impl PollBytes {
    /// Copies `field` to the end of the bytes and returns its range.
    pub(super) fn push(&mut self, field: Option<&[u8]>) -> Option<Range<usize>> {
        let f = field?;
        let start = self.bytes.len();
        self.bytes.extend_from_slice(f);
        Some(start..self.bytes.len())
    }

    /// The bytes of a range [`push`](Self::push) returned (always in bounds; empty should
    /// that ever break, rather than a panic).
    fn get(&self, range: &Option<Range<usize>>) -> Option<&[u8]> {
        range
            .as_ref()
            .map(|r| self.bytes.get(r.clone()).unwrap_or_default())
    }
}

impl ConsumerRecord {
    /// The topic.
    pub fn topic(&self) -> &str {
        self.shared.topics.get(self.topic).map_or("", |t| t)
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The topic and partition together.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic(), self.partition)
    }

    /// The record's offset in its partition.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The timestamp in milliseconds since the epoch (-1 for none); its meaning is given by
    /// [`timestamp_type`](Self::timestamp_type).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// CreateTime or LogAppendTime; `None` for a magic-0 message, which has no timestamp.
    pub fn timestamp_type(&self) -> Option<TimestampType> {
        self.timestamp_type
    }

    /// The partition leader epoch stamped on the record's batch, if any.
    pub fn leader_epoch(&self) -> Option<i32> {
        self.leader_epoch
    }

    /// The key; `None` is a null key, distinct from an empty one.
    pub fn key(&self) -> Option<&[u8]> {
        self.shared.get(&self.key)
    }

    /// The value; `None` is a null value (a tombstone).
    pub fn value(&self) -> Option<&[u8]> {
        self.shared.get(&self.value)
    }

    /// The headers, in order, duplicates kept.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// Copies out the key and value (they live in a buffer shared with the other records
    /// of their poll).
    pub fn into_key_value(self) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        (
            self.key().map(<[u8]>::to_vec),
            self.value().map(<[u8]>::to_vec),
        )
    }
}

impl PartialEq for ConsumerRecord {
    /// Records are equal when what they say is: where they were read, their timestamps,
    /// key, value and headers (not which buffer holds them).
    fn eq(&self, other: &Self) -> bool {
        self.partition == other.partition
            && self.offset == other.offset
            && self.timestamp == other.timestamp
            && self.timestamp_type == other.timestamp_type
            && self.leader_epoch == other.leader_epoch
            && self.topic() == other.topic()
            && self.key() == other.key()
            && self.value() == other.value()
            && self.headers == other.headers
    }
}

impl Eq for ConsumerRecord {}

impl fmt::Debug for ConsumerRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerRecord")
            .field("topic", &self.topic())
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("timestamp", &self.timestamp)
            .field("timestamp_type", &self.timestamp_type)
            .field("leader_epoch", &self.leader_epoch)
            .field("key", &self.key())
            .field("value", &self.value())
            .field("headers", &self.headers)
            .finish()
    }
}

/// One record of a [`PolledRecords`](super::PolledRecords), borrowing the consumer's fetch
/// buffer: what [`ConsumerRecord`] holds, without copying or allocating. Turn it into a
/// [`ConsumerRecord`] with [`to_record`](Self::to_record) to keep it past the next poll.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerRecordRef<'a> {
    pub(super) topic: &'a str,
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) timestamp: i64,
    pub(super) timestamp_type: Option<TimestampType>,
    pub(super) leader_epoch: Option<i32>,
    pub(super) key: Option<&'a [u8]>,
    pub(super) value: Option<&'a [u8]>,
    /// The buffer the header fields point into, and the fields.
    pub(super) arena: &'a [u8],
    pub(super) headers: &'a [(Field, Field)],
}

impl<'a> ConsumerRecordRef<'a> {
    /// The topic.
    pub fn topic(&self) -> &'a str {
        self.topic
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The topic and partition together.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic, self.partition)
    }

    /// The record's offset in its partition.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The timestamp in milliseconds since the epoch (-1 for none); its meaning is given by
    /// [`timestamp_type`](Self::timestamp_type).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// CreateTime or LogAppendTime; `None` for a magic-0 message, which has no timestamp.
    pub fn timestamp_type(&self) -> Option<TimestampType> {
        self.timestamp_type
    }

    /// The partition leader epoch stamped on the record's batch, if any.
    pub fn leader_epoch(&self) -> Option<i32> {
        self.leader_epoch
    }

    /// The key; `None` is a null key, distinct from an empty one.
    pub fn key(&self) -> Option<&'a [u8]> {
        self.key
    }

    /// The value; `None` is a null value (a tombstone).
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }

    /// The headers, in order, duplicates kept: `(key, value)` pairs, a null value `None`.
    pub fn headers(&self) -> ConsumerHeaders<'a> {
        ConsumerHeaders {
            arena: self.arena,
            fields: self.headers.iter(),
        }
    }

    /// Copies the record into an owned [`ConsumerRecord`] (header keys that are not UTF-8
    /// are converted lossily).
    pub fn to_record(&self) -> ConsumerRecord {
        let mut shared = PollBytes {
            bytes: Vec::with_capacity(
                self.key.map_or(0, <[u8]>::len) + self.value.map_or(0, <[u8]>::len),
            ),
            topics: vec![Arc::from(self.topic)],
        };
        let (key, value) = (shared.push(self.key), shared.push(self.value));
        self.into_record_in(&Arc::new(shared), 0, key, value)
    }

    /// The owned record, its key and value at `key` and `value` of `shared`, its topic
    /// name at index `topic` there.
    pub(super) fn into_record_in(
        self,
        shared: &Arc<PollBytes>,
        topic: usize,
        key: Option<Range<usize>>,
        value: Option<Range<usize>>,
    ) -> ConsumerRecord {
        ConsumerRecord {
            shared: Arc::clone(shared),
            topic,
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            timestamp_type: self.timestamp_type,
            leader_epoch: self.leader_epoch,
            key,
            value,
            headers: self
                .headers()
                .map(|(k, v)| Header {
                    key: String::from_utf8_lossy(k).into_owned(),
                    value: v.map(<[u8]>::to_vec),
                })
                .collect(),
        }
    }
}

/// The headers of a [`ConsumerRecordRef`]: an iterator of `(key, value)` pairs borrowing
/// the consumer's fetch buffer.
#[derive(Debug, Clone)]
pub struct ConsumerHeaders<'a> {
    pub(super) arena: &'a [u8],
    pub(super) fields: std::slice::Iter<'a, (Field, Field)>,
}

impl<'a> Iterator for ConsumerHeaders<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        let (k, v) = self.fields.next()?;
        Some((k.get(self.arena).unwrap_or_default(), v.get(self.arena)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.fields.size_hint()
    }
}

impl ExactSizeIterator for ConsumerHeaders<'_> {}
