//! Topics a Kafka broker left in a log directory: what tidelog makes of partition
//! directories its metadata file does not record, for the writable and the read-only open
//! alike.

use super::metadata::Origin;
use super::{CONSUMER_OFFSETS_TOPIC, KAFKA_OFFSETS_PARTITIONS, MAX_PARTITIONS};
use crate::config::{LogConfig, TopicConfig};
use crate::error::{Error, Result};
use crate::segment::validate_topic;

/// How tidelog takes a Kafka topic found as the partition directories `partitions` (the
/// partition numbers present): `None` for a name Kafka would not have made (the directory
/// is left alone).
///
/// The partition count is one more than the highest partition present (a broker may hold
/// any subset); `__consumer_offsets` has at least Kafka's 50. The config keeps Kafka users'
/// data: no retention until the user configures it, and `__consumer_offsets` compacted.
///
/// # Errors
/// [`Error::InvalidLayout`] for a partition number past [`MAX_PARTITIONS`].
pub(crate) fn found_topic(
    dir: &std::path::Path,
    name: &str,
    partitions: &[i32],
) -> Result<Option<(u32, TopicConfig)>> {
    if validate_topic(name).is_err() {
        return Ok(None);
    }
    let highest = partitions.iter().copied().max().unwrap_or(0);
    let count = u32::try_from(highest)
        .ok()
        .and_then(|p| p.checked_add(1))
        .filter(|&n| n <= MAX_PARTITIONS)
        .ok_or_else(|| Error::InvalidLayout {
            path: dir.join(format!("{name}-{highest}")),
            reason: format!("partition {highest} is past the limit of {MAX_PARTITIONS}"),
        })?;
    let mut config = TopicConfig::default()
        .with("retention.ms", "-1")?
        .with("retention.bytes", "-1")?;
    let count = if name == CONSUMER_OFFSETS_TOPIC {
        config.set("cleanup.policy", "compact")?;
        count.max(KAFKA_OFFSETS_PARTITIONS)
    } else {
        count
    };
    Ok(Some((count, config)))
}

/// The log config of a recorded topic: the store's defaults with the topic's overrides, and
/// for a topic from a Kafka directory, offset gaps allowed (Kafka's cleaner, or a follower
/// of a compacted leader, leaves them; tidelog does not know the topic's history).
///
/// # Errors
/// [`Error::InvalidConfig`] from the overrides.
pub(crate) fn log_config(
    topic: &TopicConfig,
    origin: Origin,
    base: &LogConfig,
) -> Result<LogConfig> {
    let mut config = topic.apply(base)?;
    if origin == Origin::Kafka {
        config.allow_offset_gaps = true;
    }
    Ok(config)
}
