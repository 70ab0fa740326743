//! [`TopicPartition`]: the name of one partition of one topic.

use std::fmt;

/// One partition of one topic, as Kafka's `TopicPartition`. Displayed as `topic-partition`,
/// the name of its directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition, from 0.
    pub partition: i32,
}

impl TopicPartition {
    /// Names partition `partition` of `topic`.
    ///
    /// ```
    /// use tidelog::consumer::TopicPartition;
    /// assert_eq!(TopicPartition::new("orders", 2).to_string(), "orders-2");
    /// ```
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}
