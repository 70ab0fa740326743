//! [`ConsumerConfig`] and [`OffsetReset`]: a consumer's settings, with Kafka's names.

use crate::error::{Error, Result};
use crate::log::Isolation;

/// Kafka `auto.offset.reset`: where a consumer starts in a partition for which its group
/// has no committed offset, or whose position lies outside the log (below the log start
/// after retention, or past the log end after a crash took back an unflushed tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// `earliest`: the log start offset.
    Earliest,
    /// `latest`: the end of what the consumer may read (the log end, or the durable offset
    /// with [`Isolation::Durable`]). Kafka's default.
    #[default]
    Latest,
    /// `none`: fail [`Consumer::poll`](super::Consumer::poll) and
    /// [`Consumer::position`](super::Consumer::position) with
    /// [`Error::NoOffset`] (no committed offset) or [`Error::OffsetOutOfRange`] (position
    /// outside the log) until the application seeks.
    None,
}

/// Settings of a [`Consumer`](super::Consumer), named after Kafka's consumer configs.
///
/// ```
/// use tidelog::consumer::{ConsumerConfig, OffsetReset};
/// let config = ConsumerConfig {
///     group_id: Some("billing".into()),
///     auto_offset_reset: OffsetReset::Earliest,
///     ..Default::default()
/// };
/// config.validate()?;
/// # Ok::<(), tidelog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// Kafka `group.id`: the consumer group whose committed offsets are loaded and written.
    /// `None` (Kafka's default): no committed offsets; positions come from
    /// [`auto_offset_reset`](Self::auto_offset_reset) and seeks, and committing fails.
    pub group_id: Option<String>,
    /// Kafka `auto.offset.reset`. Default: [`OffsetReset::Latest`], as Kafka.
    pub auto_offset_reset: OffsetReset,
    /// Kafka `enable.auto.commit`: commit the positions reached, at most every
    /// [`auto_commit_interval_ms`](Self::auto_commit_interval_ms), at the start of
    /// [`poll`](super::Consumer::poll) (so a record is committed only once the poll after
    /// the one that returned it has begun: at-least-once), and in
    /// [`close`](super::Consumer::close). Only partitions whose position moved since the
    /// group's last commit are written, since `__consumer_offsets` grows with every commit
    /// until compaction exists. Ignored without a group. Default: true, as Kafka.
    pub enable_auto_commit: bool,
    /// Kafka `auto.commit.interval.ms`, measured on the store's clock. Default: 5000.
    pub auto_commit_interval_ms: u64,
    /// Kafka `max.poll.records`: the most records one poll returns. Default: 500.
    pub max_poll_records: usize,
    /// Kafka `fetch.max.bytes`: about the most bytes one poll reads across partitions (a
    /// batch larger than it is still read whole, so a consumer never gets stuck).
    /// Default: 52428800 (50 MiB).
    pub fetch_max_bytes: usize,
    /// Kafka `max.partition.fetch.bytes`: about the most bytes read from one partition at a
    /// time. Default: 1048576 (1 MiB).
    pub max_partition_fetch_bytes: usize,
    /// What the consumer may read: everything appended ([`Isolation::Appended`], the
    /// default, as a Kafka consumer with one replica), or only data that survives power
    /// loss ([`Isolation::Durable`]: nothing past the partition's durable offset).
    pub isolation: Isolation,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            group_id: None,
            auto_offset_reset: OffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval_ms: 5000,
            max_poll_records: 500,
            fetch_max_bytes: 52_428_800,
            max_partition_fetch_bytes: 1_048_576,
            isolation: Isolation::Appended,
        }
    }
}

impl ConsumerConfig {
    /// Checks every value's range.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first bad value: an empty `group.id` or one
    /// longer than Kafka's int16 string limit, or a zero `max.poll.records`,
    /// `fetch.max.bytes` or `max.partition.fetch.bytes`.
    pub fn validate(&self) -> Result<()> {
        if let Some(group) = &self.group_id {
            if group.is_empty() || group.len() > i16::MAX as usize {
                return Err(Error::InvalidConfig {
                    key: "group.id",
                    value: format!("{:.64}", group),
                    reason: format!("must be 1..={} bytes of UTF-8", i16::MAX),
                });
            }
        }
        for (key, value) in [
            ("max.poll.records", self.max_poll_records),
            ("fetch.max.bytes", self.fetch_max_bytes),
            ("max.partition.fetch.bytes", self.max_partition_fetch_bytes),
        ] {
            if value == 0 {
                return Err(Error::InvalidConfig {
                    key,
                    value: "0".into(),
                    reason: "must be at least 1".into(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas_and_bad_values_are_refused() {
        let c = ConsumerConfig::default();
        assert_eq!(c.auto_offset_reset, OffsetReset::Latest);
        assert!(c.enable_auto_commit);
        assert_eq!((c.max_poll_records, c.auto_commit_interval_ms), (500, 5000));
        assert!(c.validate().is_ok());
        let bad = ConsumerConfig {
            group_id: Some(String::new()),
            ..Default::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(Error::InvalidConfig {
                key: "group.id",
                ..
            })
        ));
        let bad = ConsumerConfig {
            max_poll_records: 0,
            ..Default::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(Error::InvalidConfig {
                key: "max.poll.records",
                ..
            })
        ));
    }
}
