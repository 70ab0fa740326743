//! [`TopicConfig`]: per-topic overrides of [`LogConfig`], by Kafka's dotted keys.

use std::collections::BTreeMap;
use std::fmt;

use super::LogConfig;
use crate::error::{Error, Result};
use crate::record::TimestampType;

/// Kafka `cleanup.policy`: what happens to old segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CleanupPolicy {
    /// `delete`: retention by time and size removes whole old segments.
    pub delete: bool,
    /// `compact`: the log cleaner keeps the latest record per key.
    pub compact: bool,
}

impl CleanupPolicy {
    /// Kafka's default: `delete`.
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: false,
    };

    /// Parses `delete`, `compact`, or both separated by a comma.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for anything else.
    pub fn parse(value: &str) -> Result<Self> {
        let mut p = CleanupPolicy {
            delete: false,
            compact: false,
        };
        for part in value.split(',').map(str::trim) {
            match part {
                "delete" => p.delete = true,
                "compact" => p.compact = true,
                _ => {
                    return Err(invalid(
                        "cleanup.policy",
                        value,
                        "expected delete, compact or both",
                    ))
                }
            }
        }
        Ok(p)
    }
}

impl fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.compact, self.delete) {
            (true, true) => f.write_str("compact,delete"),
            (true, false) => f.write_str("compact"),
            _ => f.write_str("delete"),
        }
    }
}

fn invalid(key: &'static str, value: &str, reason: &str) -> Error {
    Error::InvalidConfig {
        key,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// The topic configs tidelog knows, by Kafka's key; the snake_case field names of
/// [`LogConfig`] are accepted as aliases.
const KEYS: &[(&str, &str)] = &[
    ("cleanup.policy", "cleanup_policy"),
    ("delete.retention.ms", "delete_retention_ms"),
    ("file.delete.delay.ms", "file_delete_delay_ms"),
    ("flush.messages", "flush_messages"),
    ("flush.ms", "flush_ms"),
    ("index.interval.bytes", "index_interval_bytes"),
    ("max.message.bytes", "max_message_bytes"),
    ("message.timestamp.type", "message_timestamp_type"),
    ("min.cleanable.dirty.ratio", "min_cleanable_dirty_ratio"),
    ("min.compaction.lag.ms", "min_compaction_lag_ms"),
    ("retention.bytes", "retention_bytes"),
    ("retention.ms", "retention_ms"),
    ("segment.bytes", "segment_bytes"),
    ("segment.index.bytes", "segment_index_bytes"),
    ("segment.ms", "segment_ms"),
];

/// Kafka's dotted key for `key` (itself or its snake_case alias).
fn kafka_key(key: &str) -> Result<&'static str> {
    KEYS.iter()
        .find(|(k, alias)| *k == key || *alias == key)
        .map(|&(k, _)| k)
        .ok_or_else(|| Error::InvalidConfig {
            key: "topic config",
            value: key.to_string(),
            reason: "unknown topic config key".into(),
        })
}

/// Per-topic config overrides, keyed by Kafka's dotted names (`segment.bytes`,
/// `cleanup.policy`, ...). What is not overridden comes from the store's defaults.
///
/// ```
/// use tidelog::config::{LogConfig, TopicConfig};
/// let topic = TopicConfig::default().with("segment.bytes", "1048576")?.with("retention_ms", "-1")?;
/// let config = topic.apply(&LogConfig::default())?;
/// assert_eq!((config.segment_bytes, config.retention_ms), (1 << 20, -1));
/// # Ok::<(), tidelog::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicConfig {
    overrides: BTreeMap<&'static str, String>,
}

impl TopicConfig {
    /// Adds an override. `key` is Kafka's dotted key or the snake_case alias.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an unknown key or a value out of range.
    pub fn with(mut self, key: &str, value: &str) -> Result<Self> {
        self.set(key, value)?;
        Ok(self)
    }

    /// Sets an override, as [`with`](Self::with).
    ///
    /// # Errors
    /// As [`with`](Self::with).
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let kafka_key = kafka_key(key)?;
        let mut value = value.trim().to_string();
        if kafka_key == "cleanup.policy" {
            // Kafka's list form allows spaces ("compact, delete"); one canonical form keeps
            // every value free of white space (the store's metadata file splits on it).
            value = CleanupPolicy::parse(&value)?.to_string();
        }
        if value.chars().any(char::is_whitespace) {
            return Err(invalid(kafka_key, &value, "must not contain white space"));
        }
        let mut probe = self.clone();
        probe.overrides.insert(kafka_key, value);
        probe.apply(&LogConfig::default())?;
        self.overrides = probe.overrides;
        Ok(())
    }

    /// These overrides without `key` (Kafka's dotted key or the snake_case alias), which
    /// then takes the store's default again.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an unknown key.
    pub fn without(mut self, key: &str) -> Result<Self> {
        let kafka_key = kafka_key(key)?;
        self.overrides.remove(kafka_key);
        Ok(self)
    }

    /// The overrides, by Kafka key, in key order.
    pub fn overrides(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.overrides.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// The override for `key` (Kafka's dotted key), if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.overrides.get(key).map(String::as_str)
    }

    /// True if there are no overrides.
    pub fn is_empty(&self) -> bool {
        self.overrides.is_empty()
    }

    /// The topic's `cleanup.policy` (Kafka's default: delete).
    pub fn cleanup_policy(&self) -> CleanupPolicy {
        self.get("cleanup.policy")
            .and_then(|v| CleanupPolicy::parse(v).ok())
            .unwrap_or(CleanupPolicy::DELETE)
    }

    /// `base` with these overrides applied, validated.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first bad key.
    pub fn apply(&self, base: &LogConfig) -> Result<LogConfig> {
        let mut c = base.clone();
        for (&key, value) in &self.overrides {
            match key {
                "segment.bytes" => c.segment_bytes = num(key, value)?,
                "segment.ms" => c.segment_ms = num(key, value)?,
                "segment.index.bytes" => c.segment_index_bytes = num(key, value)?,
                "index.interval.bytes" => c.index_interval_bytes = num(key, value)?,
                "max.message.bytes" => c.max_message_bytes = num(key, value)?,
                "retention.ms" => c.retention_ms = num(key, value)?,
                "retention.bytes" => c.retention_bytes = num(key, value)?,
                "flush.messages" => c.flush_messages = num(key, value)?,
                "flush.ms" => c.flush_ms = num(key, value)?,
                "file.delete.delay.ms" => c.file_delete_delay_ms = num(key, value)?,
                "message.timestamp.type" => {
                    c.message_timestamp_type = match value.as_str() {
                        "CreateTime" => TimestampType::CreateTime,
                        "LogAppendTime" => TimestampType::LogAppendTime,
                        _ => {
                            return Err(invalid(key, value, "expected CreateTime or LogAppendTime"))
                        }
                    }
                }
                "cleanup.policy" => {
                    CleanupPolicy::parse(value)?;
                }
                "delete.retention.ms" | "min.compaction.lag.ms" => {
                    num::<i64>(key, value)?;
                }
                "min.cleanable.dirty.ratio" => {
                    let r: f64 = value
                        .parse()
                        .map_err(|_| invalid(key, value, "expected a number"))?;
                    if !(0.0..=1.0).contains(&r) {
                        return Err(invalid(key, value, "must be in 0..=1"));
                    }
                }
                _ => {}
            }
        }
        c.cleanup_policy = self.cleanup_policy();
        if !c.cleanup_policy.delete {
            // A compacted-only topic is never subject to time or size retention.
            c.retention_ms = -1;
            c.retention_bytes = -1;
        }
        c.validate()?;
        Ok(c)
    }
}

fn num<T: std::str::FromStr>(key: &'static str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| invalid(key, value, "expected a whole number in range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_aliases() -> Result<()> {
        let t = TopicConfig::default()
            .with("segment.bytes", "2048")?
            .with("retention_bytes", "100")?
            .with("cleanup.policy", "compact,delete")?;
        let c = t.apply(&LogConfig::default())?;
        assert_eq!((c.segment_bytes, c.retention_bytes), (2048, 100));
        assert_eq!(t.cleanup_policy().to_string(), "compact,delete");
        assert!(matches!(
            TopicConfig::default().with("segment.bytes", "12"),
            Err(Error::InvalidConfig {
                key: "segment.bytes",
                ..
            })
        ));
        assert!(TopicConfig::default().with("no.such.key", "1").is_err());
        let compact = TopicConfig::default().with("cleanup.policy", "compact")?;
        assert_eq!(compact.apply(&LogConfig::default())?.retention_ms, -1);
        Ok(())
    }
}
