//! [`GroupOffsets`]: one consumer group's committed offsets, loaded from and committed to
//! the group's partition of `__consumer_offsets`.
//!
//! Loading scans the partition in offset order: the last commit per (topic, partition) key
//! wins, a tombstone deletes it, commits of other groups and group-metadata records are
//! skipped, and transactional commits (Kafka's `sendOffsetsToTransaction`) apply only when
//! their transaction's COMMIT marker is read. The scan is incremental: each refresh reads
//! only what was appended since the last one, so commits made by other consumers of the
//! group in this process are seen too.

use std::collections::HashMap;
use std::sync::Arc;

use super::batch_records::{for_each_record, BatchMeta};
use super::offsets_topic::{
    decode_control_key, decode_key, decode_offset_commit_value, encode_offset_commit_key,
    encode_offset_commit_value, partition_for, OffsetAndMetadata, OffsetsKey,
};
use super::TopicPartition;
use crate::error::{Error, Result};
use crate::log::{AppendOptions, Durability, Log};
use crate::record::{Record, RecordRef};
use crate::store::{Store, CONSUMER_OFFSETS_TOPIC};

/// Bytes read per step when loading.
const LOAD_FETCH_BYTES: usize = 1 << 20;

/// About the most record bytes written in one batch of a commit: a commit of many
/// partitions is split into batches that stay well below `max.message.bytes` (1 MiB).
const COMMIT_BATCH_BYTES: usize = 512 * 1024;

/// Control record type of a transaction's COMMIT marker (0 is ABORT).
const CONTROL_COMMIT: i16 = 1;

/// One group's committed offsets, as far as its partition of `__consumer_offsets` has been
/// read.
#[derive(Debug)]
pub(super) struct GroupOffsets {
    group: String,
    offsets: HashMap<TopicPartition, OffsetAndMetadata>,
    /// Transactional commits waiting for their marker, by producer id.
    pending: HashMap<i64, Vec<(TopicPartition, Option<OffsetAndMetadata>)>>,
    /// The group's partition, once it exists.
    log: Option<Arc<Log>>,
    /// The offset the next refresh reads from.
    scanned_to: i64,
}

impl GroupOffsets {
    pub(super) fn new(group: String) -> Self {
        GroupOffsets {
            group,
            offsets: HashMap::new(),
            pending: HashMap::new(),
            log: None,
            scanned_to: 0,
        }
    }

    pub(super) fn group(&self) -> &str {
        &self.group
    }

    /// The committed offset of `tp`, as of the last refresh.
    pub(super) fn committed(&self, tp: &TopicPartition) -> Option<&OffsetAndMetadata> {
        self.offsets.get(tp)
    }

    /// Every committed offset of the group, as of the last refresh.
    pub(super) fn all(&self) -> &HashMap<TopicPartition, OffsetAndMetadata> {
        &self.offsets
    }

    /// Reads the commits appended to the group's partition since the last refresh.
    pub(super) fn refresh(&mut self, store: &Store) -> Result<()> {
        if self.log.is_none() {
            self.log = group_log(store, &self.group)?;
        }
        let Some(log) = self.log.clone() else {
            return Ok(());
        };
        if self.scanned_to < log.log_start_offset() || self.scanned_to > log.end_offset() {
            // The head was removed, or a crash took back a tail that was read (neither
            // happens to commits, which are synced and never retained): read it all again.
            self.offsets.clear();
            self.pending.clear();
            self.scanned_to = log.log_start_offset();
        }
        while self.scanned_to < log.end_offset() {
            let result = log.read(self.scanned_to, LOAD_FETCH_BYTES)?;
            if result.is_empty() {
                break;
            }
            for_each_record(&result, self.scanned_to, |meta, record| {
                self.apply(meta, record)
                    .map_err(|e| e.at_offset(record.offset()).at_path(log.dir()))
            })?;
            self.scanned_to = result.next_offset();
        }
        Ok(())
    }

    fn apply(&mut self, meta: &BatchMeta, record: RecordRef<'_>) -> Result<()> {
        if meta.is_control {
            if meta.is_transactional {
                let pending = self.pending.remove(&meta.producer_id);
                let committed = match record.key() {
                    Some(key) => decode_control_key(key)?.1 == CONTROL_COMMIT,
                    None => false,
                };
                if committed {
                    for (tp, value) in pending.into_iter().flatten() {
                        self.put(tp, value);
                    }
                }
            }
            return Ok(());
        }
        let Some(key) = record.key() else {
            return Ok(());
        };
        let OffsetsKey::OffsetCommit {
            group,
            topic,
            partition,
        } = decode_key(key)?
        else {
            return Ok(());
        };
        if group != self.group {
            return Ok(());
        }
        let value = record.value().map(decode_offset_commit_value).transpose()?;
        let tp = TopicPartition { topic, partition };
        if meta.is_transactional {
            self.pending
                .entry(meta.producer_id)
                .or_default()
                .push((tp, value));
        } else {
            self.put(tp, value);
        }
        Ok(())
    }

    fn put(&mut self, tp: TopicPartition, value: Option<OffsetAndMetadata>) {
        match value {
            Some(v) => {
                self.offsets.insert(tp, v);
            }
            None => {
                self.offsets.remove(&tp);
            }
        }
    }

    /// Appends the commits to the group's partition (creating `__consumer_offsets` if
    /// missing), fsyncs them, and reads them back. Durable when it returns.
    pub(super) fn commit(
        &mut self,
        store: &Store,
        commits: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<()> {
        if commits.is_empty() {
            return Ok(());
        }
        let log = match &self.log {
            Some(log) => Arc::clone(log),
            None => {
                store.create_offsets_topic()?;
                let n = store.partition_count(CONSUMER_OFFSETS_TOPIC)?;
                store.log(CONSUMER_OFFSETS_TOPIC, partition_for(&self.group, n))?
            }
        };
        let mut batch = Vec::new();
        let mut bytes = 0;
        for (tp, value) in commits {
            let record = Record {
                timestamp: value.commit_timestamp,
                key: Some(encode_offset_commit_key(
                    &self.group,
                    &tp.topic,
                    tp.partition,
                )?),
                value: Some(encode_offset_commit_value(value)?),
                headers: Vec::new(),
            };
            bytes += record.key.as_ref().map_or(0, Vec::len)
                + record.value.as_ref().map_or(0, Vec::len)
                + 32;
            batch.push(record);
            if bytes >= COMMIT_BATCH_BYTES {
                append_synced(&log, &batch)?;
                batch.clear();
                bytes = 0;
            }
        }
        if !batch.is_empty() {
            append_synced(&log, &batch)?;
        }
        self.log = Some(log);
        self.refresh(store)
    }
}

fn append_synced(log: &Log, records: &[Record]) -> Result<()> {
    let opts = AppendOptions {
        durability: Durability::Sync,
        ..Default::default()
    };
    log.append(records, &opts).map(|_| ())
}

/// The group's partition of `__consumer_offsets`, if the topic and that partition exist.
/// A partition absent from a Kafka directory is not created by looking.
fn group_log(store: &Store, group: &str) -> Result<Option<Arc<Log>>> {
    if !store.has_topic(CONSUMER_OFFSETS_TOPIC) {
        return Ok(None);
    }
    let described = match store.describe_topic(CONSUMER_OFFSETS_TOPIC) {
        Ok(d) => d,
        Err(Error::UnknownTopic { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let n = u32::try_from(described.partitions.len()).unwrap_or(u32::MAX);
    let partition = partition_for(group, n);
    let present = usize::try_from(partition)
        .ok()
        .and_then(|p| described.partitions.get(p))
        .is_some_and(|d| d.stats.is_some());
    if !present {
        return Ok(None);
    }
    store.log(CONSUMER_OFFSETS_TOPIC, partition).map(Some)
}
