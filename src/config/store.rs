//! [`StoreConfig`]: settings of a store of topics.

use std::sync::Arc;

use super::{Clock, LogConfig, SystemClock};
use crate::error::{Error, Result};

/// Settings of a [`Store`](crate::store::Store).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Defaults for every topic's logs (Kafka's broker-level `log.*` settings); topics
    /// override them with [`TopicConfig`](super::TopicConfig).
    pub log: LogConfig,
    /// Run maintenance (`flush.ms`, retention, checkpoints) on a store-owned thread. Default:
    /// off; call [`Store::maintain`](crate::store::Store::maintain) instead.
    pub background_maintenance: bool,
    /// How often the maintenance thread wakes. Default: 1000 ms.
    pub maintenance_interval_ms: u64,
    /// Kafka `log.retention.check.interval.ms`: how often maintenance applies retention.
    /// Default: 300000 (5 minutes).
    pub retention_check_interval_ms: u64,
    /// Kafka `log.flush.offset.checkpoint.interval.ms`: how often maintenance writes
    /// `recovery-point-offset-checkpoint`. Default: 60000.
    pub flush_offset_checkpoint_interval_ms: u64,
    /// Kafka `log.flush.start.offset.checkpoint.interval.ms`: how often maintenance writes
    /// `log-start-offset-checkpoint`. Default: 60000.
    pub flush_start_offset_checkpoint_interval_ms: u64,
    /// Kafka `offsets.topic.num.partitions` for a new store's `__consumer_offsets`.
    /// Default here: 1, where Kafka's is 50: one embedded process rarely has the group
    /// traffic that needs more, and each partition is a directory with open files. A Kafka
    /// directory's existing topic keeps Kafka's 50.
    pub offsets_topic_num_partitions: u32,
    /// Opt-in repair of corruption below a partition's recovery point (see
    /// [`LogOpenOptions::repair`](crate::log::LogOpenOptions::repair)).
    pub repair: bool,
    /// The clock for every time-driven rule.
    pub clock: Arc<dyn Clock>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            log: LogConfig::default(),
            background_maintenance: false,
            maintenance_interval_ms: 1000,
            retention_check_interval_ms: 300_000,
            flush_offset_checkpoint_interval_ms: 60_000,
            flush_start_offset_checkpoint_interval_ms: 60_000,
            offsets_topic_num_partitions: 1,
            repair: false,
            clock: Arc::new(SystemClock),
        }
    }
}

impl StoreConfig {
    /// Checks every value's range.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first bad value.
    pub fn validate(&self) -> Result<()> {
        self.log.validate()?;
        if self.maintenance_interval_ms == 0 {
            return Err(Error::InvalidConfig {
                key: "maintenance.interval.ms",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        if self.offsets_topic_num_partitions == 0 {
            return Err(Error::InvalidConfig {
                key: "offsets.topic.num.partitions",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}
