//! [`ConsumerRecord`]: one record as [`Consumer::poll`](super::Consumer::poll) returns it.

use std::sync::Arc;

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
