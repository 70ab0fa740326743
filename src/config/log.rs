//! [`LogConfig`]: one partition log's settings, with Kafka's topic-config names and defaults.

use super::CleanupPolicy;
use crate::error::{Error, Result};
use crate::record::{TimestampType, DEFAULT_MAX_DECOMPRESSED_BYTES};

/// Settings of one partition log (Kafka's per-topic configs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Kafka `segment.bytes`: roll the active segment before it would pass this size.
    /// Default: 1 GiB. Minimum 14.
    pub segment_bytes: u64,
    /// Kafka `segment.ms`: roll a non-empty segment whose first batch is older than this.
    /// Default: 7 days.
    pub segment_ms: u64,
    /// Kafka `segment.index.bytes`: the most an offset or time index file may hold.
    /// Default: 10 MiB. Minimum 12. tidelog grows index files towards it in steps.
    pub segment_index_bytes: u32,
    /// Kafka `index.interval.bytes`: log bytes between offset index entries. Default: 4096.
    pub index_interval_bytes: u32,
    /// Kafka `max.message.bytes`: the largest batch accepted on append, including its
    /// 12-byte log overhead. Default: 1048588.
    pub max_message_bytes: u32,
    /// Kafka `retention.ms`: delete segments whose newest record is older than this;
    /// -1 keeps data forever. Default: 7 days.
    pub retention_ms: i64,
    /// Kafka `retention.bytes`: delete the oldest segments while the log is larger than
    /// this; -1 means no size limit. Default: -1.
    pub retention_bytes: i64,
    /// Kafka `flush.messages`: fsync after this many appended records. Default: never
    /// (`u64::MAX`), as Kafka: appends reach the page cache, which survives a process crash.
    pub flush_messages: u64,
    /// Kafka `flush.ms`: fsync when the oldest unflushed append is this old (checked on
    /// append and by maintenance). Default: never (`u64::MAX`).
    pub flush_ms: u64,
    /// Kafka `message.timestamp.type`: keep the producer's CreateTime or stamp
    /// LogAppendTime on append. Default: CreateTime.
    pub message_timestamp_type: TimestampType,
    /// Kafka `file.delete.delay.ms`: how long the files of a segment retention deleted stay
    /// on disk as `.deleted` before they are removed (by a later retention pass; an open
    /// removes any it finds). Default here: 0, where Kafka waits 60 s: Kafka delays deletion
    /// because its readers map files, while tidelog's readers hold open file handles (and
    /// mappings), which stay valid after an unlink on Unix.
    pub file_delete_delay_ms: u64,
    /// Kafka `cleanup.policy`. Default: delete. Besides choosing retention or compaction, it
    /// tells recovery and reads whether offset gaps can be legitimate: a log that was never
    /// compacted has none, so a gap there is lost or damaged data (see
    /// [`allow_offset_gaps`](Self::allow_offset_gaps)).
    pub cleanup_policy: CleanupPolicy,
    /// The log may hold offset gaps whatever its `cleanup.policy` says (no Kafka
    /// equivalent: it records what the log's owner knows of its history). Set it for a log
    /// that was compacted once (its policy changed since) or whose history is unknown, such
    /// as a partition of a Kafka broker's directory: Kafka's cleaner, or a follower fetching
    /// from a compacted leader, leaves gaps that a log held to contiguous offsets would take
    /// for damage. A [`Store`](crate::store::Store) sets it for topics it found in a Kafka
    /// directory. Default: false, so that a gap in a log tidelog wrote (a segment torn by
    /// power loss, a damaged baseOffset) is caught rather than read past.
    pub allow_offset_gaps: bool,
    /// The largest records section a batch may decompress to (no Kafka equivalent): a
    /// guard against memory exhaustion by hostile batches. Default: 128 MiB.
    pub max_decompressed_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            max_message_bytes: 1024 * 1024 + 12,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            flush_messages: u64::MAX,
            flush_ms: u64::MAX,
            message_timestamp_type: TimestampType::CreateTime,
            file_delete_delay_ms: 0,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
            cleanup_policy: CleanupPolicy::DELETE,
            allow_offset_gaps: false,
        }
    }
}

fn invalid(key: &'static str, value: impl ToString, reason: &str) -> Error {
    Error::InvalidConfig {
        key,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

impl LogConfig {
    /// True if batches must follow each other without offset gaps: the log is not
    /// compacted and no gaps are allowed.
    pub fn contiguous_offsets(&self) -> bool {
        !self.cleanup_policy.compact && !self.allow_offset_gaps
    }

    /// Checks every value's range.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the Kafka key of the first bad value.
    pub fn validate(&self) -> Result<()> {
        // Kafka: segment.bytes >= LegacyRecord.RECORD_OVERHEAD_V0 (14). A segment is a
        // 32-bit positioned file (index positions are int32), so cap it at i32::MAX.
        if self.segment_bytes < 14 || self.segment_bytes > i32::MAX as u64 {
            return Err(invalid(
                "segment.bytes",
                self.segment_bytes,
                "must be in 14..=2147483647",
            ));
        }
        if self.segment_ms == 0 {
            return Err(invalid("segment.ms", 0, "must be at least 1"));
        }
        if self.segment_index_bytes < 12 {
            return Err(invalid(
                "segment.index.bytes",
                self.segment_index_bytes,
                "must hold at least one entry (12 bytes)",
            ));
        }
        if self.max_message_bytes < 61 + 12 {
            return Err(invalid(
                "max.message.bytes",
                self.max_message_bytes,
                "must hold at least an empty batch (73 bytes)",
            ));
        }
        if self.retention_ms < -1 {
            return Err(invalid(
                "retention.ms",
                self.retention_ms,
                "must be -1 or non-negative",
            ));
        }
        if self.retention_bytes < -1 {
            return Err(invalid(
                "retention.bytes",
                self.retention_bytes,
                "must be -1 or non-negative",
            ));
        }
        if self.flush_messages == 0 {
            return Err(invalid("flush.messages", 0, "must be at least 1"));
        }
        if self.max_decompressed_bytes == 0 {
            return Err(invalid("max.decompressed.bytes", 0, "must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas_and_valid() -> Result<()> {
        let c = LogConfig::default();
        c.validate()?;
        assert_eq!(c.segment_bytes, 1_073_741_824);
        assert_eq!(c.max_message_bytes, 1_048_588);
        assert_eq!(c.segment_index_bytes, 10_485_760);
        Ok(())
    }

    #[test]
    fn bad_values_name_their_kafka_key() {
        let c = LogConfig {
            segment_bytes: 13,
            ..Default::default()
        };
        assert!(matches!(
            c.validate(),
            Err(Error::InvalidConfig {
                key: "segment.bytes",
                ..
            })
        ));
        let c = LogConfig {
            retention_ms: -2,
            ..Default::default()
        };
        assert!(matches!(
            c.validate(),
            Err(Error::InvalidConfig {
                key: "retention.ms",
                ..
            })
        ));
    }
}
