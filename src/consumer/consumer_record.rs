//! [`ConsumerRecord`]: one record as [`Consumer::poll`](super::Consumer::poll) returns it.

use std::sync::Arc;

use super::partition::Field;
use super::TopicPartition;
use crate::record::{Header, TimestampType};

/// One record returned by [`Consumer::poll`](super::Consumer::poll): owned, with the topic,
/// partition and offset it was read at (Kafka's `ConsumerRecord`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub(super) topic: Arc<str>,
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) timestamp: i64,
    pub(super) timestamp_type: Option<TimestampType>,
    pub(super) leader_epoch: Option<i32>,
    pub(super) key: Option<Vec<u8>>,
    pub(super) value: Option<Vec<u8>>,
    pub(super) headers: Vec<Header>,
}

impl ConsumerRecord {
    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The topic and partition together.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(&*self.topic, self.partition)
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
        self.key.as_deref()
    }

    /// The value; `None` is a null value (a tombstone).
    pub fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }

    /// The headers, in order, duplicates kept.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// Takes the key and value without copying them.
    pub fn into_key_value(self) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        (self.key, self.value)
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
        ConsumerRecord {
            topic: Arc::from(self.topic),
            ..self.into_record_in(None)
        }
    }

    /// As [`to_record`](Self::to_record), sharing `topic` (the same name) if given.
    pub(super) fn into_record_in(self, topic: Option<&Arc<str>>) -> ConsumerRecord {
        ConsumerRecord {
            topic: topic.map_or_else(|| Arc::from(self.topic), Arc::clone),
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            timestamp_type: self.timestamp_type,
            leader_epoch: self.leader_epoch,
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.map(<[u8]>::to_vec),
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
