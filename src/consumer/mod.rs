//! The consumer: reading a store's partitions from positions that survive restarts.
//!
//! A services-layer module, built only on the public API of [`Store`](crate::store::Store)
//! and [`Log`](crate::log::Log); the store knows nothing of groups.
//!
//! - [`Consumer`]: an assignment (whole topics or explicit partitions), seeks, a fair,
//!   blocking [`poll`](Consumer::poll), and commits; [`ConsumerRecord`] is what a poll
//!   returns, [`TopicPartition`] names a partition;
//! - [`ConsumerConfig`]: Kafka's consumer settings and defaults, with
//!   [`OffsetReset`] (`auto.offset.reset`);
//! - committed offsets live where Kafka keeps them, as records of the compacted internal
//!   topic `__consumer_offsets` ([`CONSUMER_OFFSETS_TOPIC`](crate::store::CONSUMER_OFFSETS_TOPIC)),
//!   one partition per group ([`partition_for`]), in Kafka's key and value layouts
//!   ([`offsets_topic`]). A Kafka directory's commits read back, and tidelog's read in Kafka.
//!   A new store creates the topic on the first commit with
//!   [`StoreConfig::offsets_topic_num_partitions`](crate::config::StoreConfig::offsets_topic_num_partitions)
//!   partitions; a Kafka directory's topic counts as Kafka's 50 whatever subset is present.
//!   The topic is compacted and never subject to retention; until the log cleaner exists it
//!   grows with every commit (auto-commit writes only positions that moved).

mod batch_records;
mod config;
#[allow(
    clippy::module_inception,
    reason = "the Consumer type lives in consumer/consumer.rs"
)]
mod consumer;
mod consumer_record;
mod group;
pub mod offsets_topic;
mod partition;
mod polled;
mod topic_partition;

pub use crate::store::OFFSETS_TOPIC_SEGMENT_BYTES;
pub use config::{ConsumerConfig, OffsetReset};
pub use consumer::Consumer;
pub use consumer_record::{ConsumerHeaders, ConsumerRecord, ConsumerRecordRef};
pub use offsets_topic::{java_string_hash, partition_for, OffsetAndMetadata, OffsetsKey};
pub use polled::{PolledIter, PolledRecords};
pub use topic_partition::TopicPartition;
