//! A topic's partitions, and the descriptions the store hands out.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::checkpoint::TopicId;
use crate::config::{LogConfig, TopicConfig};
use crate::io::{StdFs, Storage};
use crate::log::{Log, LogStats};

/// One topic of a store: its id, config and partition logs.
#[derive(Debug)]
pub(crate) struct Topic<S: Storage = StdFs> {
    pub(crate) name: String,
    pub(crate) id: TopicId,
    /// The overrides, and the log config they make; changed together, under the store's
    /// admin lock, by `alter_topic_config`.
    pub(crate) config: RwLock<TopicConfig>,
    pub(crate) log_config: RwLock<LogConfig>,
    /// One log per partition. `None` for a partition of a Kafka directory's topic that is not
    /// present here (Kafka's `__consumer_offsets` has 50, a log dir may hold a few); it is
    /// created on first use.
    pub(crate) partitions: RwLock<Vec<Option<Arc<Log<S>>>>>,
    /// True for topics found in a Kafka log directory rather than created by tidelog.
    pub(crate) foreign: bool,
}

impl<S: Storage> Topic<S> {
    pub(crate) fn partition_count(&self) -> u32 {
        self.partitions.read().len() as u32
    }
}

/// What [`Store::describe_topic`](super::Store::describe_topic) reports.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicDescription {
    /// The topic's name.
    pub name: String,
    /// Its id, as in each partition's `partition.metadata`.
    pub id: TopicId,
    /// The config overrides.
    pub config: TopicConfig,
    /// True if the topic was found in a Kafka log directory (no retention unless configured).
    pub foreign: bool,
    /// Each partition, in order.
    pub partitions: Vec<PartitionDescription>,
}

/// One partition of a [`TopicDescription`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionDescription {
    /// The partition number.
    pub partition: i32,
    /// Offsets, size and counters; `None` if the partition has no directory here yet.
    pub stats: Option<LogStats>,
}
