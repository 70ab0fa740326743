//! The store: a Kafka log directory of topics, each split into partitions.
//!
//! - [`Store`]: open (with the directory lock), topics (create, delete, list, describe, add
//!   partitions), partition logs, maintenance, clean close;
//! - [`ReadOnlyStore`]: the same directory read beside a live writer, without the lock;
//! - Kafka's log-dir files it keeps: `recovery-point-offset-checkpoint`,
//!   `log-start-offset-checkpoint`, `.kafka_cleanshutdown`, and each partition's
//!   `partition.metadata`;
//! - tidelog's own metadata: one versioned file, [`METADATA_FILE`].

mod kafka_topics;
mod log_dir;
mod metadata;
mod partitioner;
mod producer;
mod read_only;
#[allow(
    clippy::module_inception,
    reason = "the Store type lives in store/store.rs"
)]
mod store;
mod topic;

pub use log_dir::CLEAN_SHUTDOWN_FILE;
pub use metadata::{read_metadata, RecordedTopic, METADATA_FILE};
pub use partitioner::{murmur2, partition_for_key, to_positive};
pub use producer::{
    LingerHandle, Producer, ProducerConfig, ProducerRecord, Receipt, RecordMetadata,
};
pub use read_only::{ReadOnlyStore, ReadOnlyTopicDescription};
pub use store::{
    MaintenanceReport, Store, CONSUMER_OFFSETS_TOPIC, KAFKA_OFFSETS_PARTITIONS, MAX_PARTITIONS,
    OFFSETS_TOPIC_SEGMENT_BYTES,
};
pub use topic::{PartitionDescription, TopicDescription};

#[cfg(test)]
mod tests;
