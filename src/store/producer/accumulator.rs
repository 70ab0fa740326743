//! The producer's state behind its lock: topics, one batch under construction per
//! partition, and the appends that resolve receipts.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use super::receipt::{Appended, BatchSlot, Receipt};
use super::{ProducerConfig, ProducerRecord};
use crate::config::Clock;
use crate::error::{Error, Result};
use crate::record::varint::{varint_len, MAX_VARINT_LEN, MAX_VARLONG_LEN};
use crate::record::{BatchBuilder, BatchOptions, Header, RECORD_BATCH_OVERHEAD};
use crate::store::partitioner::{FastMod, StickyPartitioner};
use crate::store::Store;

/// One topic as the producer knows it.
#[derive(Debug)]
struct TopicState {
    name: Arc<str>,
    /// Partition count as last read from the store.
    partition_count: u32,
    /// The remainder by `partition_count`, for keys.
    modulus: FastMod,
    /// When the count was read (store clock); `i64::MIN` forces a re-read.
    refreshed_ms: i64,
    /// The largest batch allowed: `max.request.size` and the topic's `max.message.bytes`.
    max_batch_bytes: usize,
    sticky: StickyPartitioner,
    /// Batches by partition, created on first use; may outnumber `partition_count` if the
    /// topic shrank (was recreated), until their batches fail.
    partitions: Vec<Option<Box<PartitionBatch>>>,
}

/// One partition's batch under construction. Its builder's buffers are kept and reused.
#[derive(Debug)]
struct PartitionBatch {
    builder: BatchBuilder,
    /// The pending batch's shared outcome; `None` when no record is pending.
    slot: Option<Arc<BatchSlot>>,
    /// Store clock when the pending batch got its first record.
    created_ms: i64,
}

/// Everything a producer holds, behind one lock shared with its receipts and linger handles.
#[derive(Debug)]
pub(super) struct Accumulator {
    store: Store,
    config: ProducerConfig,
    clock: Arc<dyn Clock>,
    /// This accumulator, for the slots of new batches.
    me: Weak<Mutex<Accumulator>>,
    /// Topics by first use; indexes stay valid (slots keep them), so none is ever removed.
    topics: Vec<TopicState>,
    by_name: HashMap<String, usize>,
    /// The topic of the previous send: a fast path for the usual one-topic stream.
    last_topic: usize,
    /// No pending batch expires before this (store clock); `i64::MAX` when none is pending.
    /// May be early (a batch left by being full), never late.
    next_deadline: i64,
    /// The first append error since the last flush, for the next flush to report.
    unreported: Option<Error>,
}

impl Accumulator {
    /// An empty accumulator; `me` points to the lock it will live in.
    pub(super) fn new(store: &Store, config: ProducerConfig, me: Weak<Mutex<Accumulator>>) -> Self {
        Accumulator {
            store: store.clone(),
            config,
            clock: Arc::clone(&store.config().clock),
            me,
            topics: Vec::new(),
            by_name: HashMap::new(),
            last_topic: 0,
            next_deadline: i64::MAX,
            unreported: None,
        }
    }

    /// The store.
    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    /// The store clock's now for `linger.ms` and metadata ages: its coarse reading (a few
    /// ms behind at most, and cheaper), as these need no precision. Record timestamps take
    /// the precise clock ([`add`](Self::add)).
    pub(super) fn now(&self) -> i64 {
        self.clock.coarse_now_ms()
    }

    /// The first append error since the previous call.
    pub(super) fn take_unreported(&mut self) -> Option<Error> {
        self.unreported.take()
    }

    /// Records in pending batches.
    pub(super) fn pending_records(&self) -> usize {
        self.topics
            .iter()
            .flat_map(|t| t.partitions.iter().flatten())
            .filter(|b| b.slot.is_some())
            .map(|b| b.builder.len())
            .sum()
    }

    /// Appends the pending batch of a partition named by topic, if any.
    pub(super) fn append_named(&mut self, topic: &str, partition: i32) -> Result<()> {
        match self.by_name.get(topic) {
            Some(&ti) => self.append_partition(ti, partition),
            None => Ok(()),
        }
    }

    /// Appends the batches whose linger has passed at `now`, if any may have. Errors
    /// reach the expired batches' receipts and the next flush.
    pub(super) fn expire(&mut self, now: i64) {
        if now >= self.next_deadline {
            let _ = self.flush_expired(now);
        }
    }

    /// Adds one record at `now` ([`now`](Self::now)). A record without a timestamp takes
    /// `*stamp`, read from the precise clock by the first such record of the call.
    pub(super) fn add(
        &mut self,
        record: &ProducerRecord<'_>,
        now: i64,
        stamp: &mut Option<i64>,
    ) -> Result<Receipt> {
        let ti = self.topic_index(record.topic, now)?;
        let size = record_size_upper_bound(record.key, record.value, &record.headers);
        let max_batch = self.topics[ti].max_batch_bytes;
        if RECORD_BATCH_OVERHEAD + size > max_batch {
            return Err(Error::RecordTooLarge {
                size: RECORD_BATCH_OVERHEAD + size,
                max: max_batch,
            });
        }
        let (partition, sticky) = match (record.partition, record.key) {
            (Some(p), _) => {
                let known = |t: &TopicState| p >= 0 && (p as u32) < t.partition_count;
                if !known(&self.topics[ti]) {
                    self.refresh(ti, now)?;
                    if !known(&self.topics[ti]) {
                        return Err(Error::UnknownPartition {
                            topic: record.topic.to_string(),
                            partition: p,
                            partitions: self.topics[ti].partition_count,
                        });
                    }
                }
                (p, false)
            }
            (None, Some(key)) if !self.config.partitioner_ignore_keys => {
                (self.topics[ti].modulus.partition_for_key(key), false)
            }
            (None, _) => {
                let t = &mut self.topics[ti];
                (t.sticky.partition(t.partition_count), true)
            }
        };
        let timestamp = match record.timestamp {
            Some(t) => t,
            None => *stamp.get_or_insert_with(|| self.clock.now_ms()),
        };
        let limit = self.config.batch_size.min(max_batch);
        let linger = i64::try_from(self.config.linger_ms).unwrap_or(i64::MAX);
        let batch = self.batch_mut(ti, partition);
        if !batch.builder.is_empty() && batch.builder.uncompressed_size() + size > limit {
            // The record does not fit: the batch is full.
            let _ = self.append_partition(ti, partition);
        }
        let Accumulator {
            topics,
            me,
            next_deadline,
            ..
        } = self;
        let topic = &mut topics[ti];
        let batch = match topic.partitions.get_mut(partition as usize) {
            Some(Some(b)) => b,
            // `batch_mut` made it, and batches are never removed.
            _ => return Err(Error::InvalidArgument("lost a partition batch".into())),
        };
        let slot = match &batch.slot {
            Some(slot) => Arc::clone(slot),
            None => {
                let slot = Arc::new(BatchSlot {
                    topic: Arc::clone(&topic.name),
                    topic_index: ti,
                    partition,
                    owner: me.clone(),
                    outcome: OnceLock::new(),
                });
                batch.slot = Some(Arc::clone(&slot));
                batch.created_ms = now;
                *next_deadline = (*next_deadline).min(now.saturating_add(linger));
                slot
            }
        };
        let index = batch.builder.len() as u32;
        if let Err(e) = batch
            .builder
            .append(timestamp, record.key, record.value, &record.headers)
        {
            if batch.builder.is_empty() {
                batch.slot = None;
            }
            return Err(e);
        }
        let full = batch.builder.uncompressed_size() >= limit;
        if sticky {
            topic.sticky.record_sent(size, topic.partition_count);
        }
        if full || linger == 0 {
            let _ = self.append_partition(ti, partition);
        }
        Ok(Receipt {
            slot,
            index,
            timestamp,
        })
    }

    /// The index of `name` in `topics`, loading or refreshing its metadata as needed.
    fn topic_index(&mut self, name: &str, now: i64) -> Result<usize> {
        let ti = match self.topics.get(self.last_topic) {
            Some(t) if &*t.name == name => self.last_topic,
            _ => match self.by_name.get(name) {
                Some(&ti) => ti,
                None => {
                    // Checked before anything is recorded, so an unknown name leaves no trace.
                    self.store.topic(name)?;
                    self.topics.push(TopicState {
                        name: name.into(),
                        partition_count: 0,
                        modulus: FastMod::new(1),
                        refreshed_ms: i64::MIN,
                        max_batch_bytes: 0,
                        sticky: StickyPartitioner::new(self.config.batch_size.max(1)),
                        partitions: Vec::new(),
                    });
                    self.by_name.insert(name.to_string(), self.topics.len() - 1);
                    self.topics.len() - 1
                }
            },
        };
        let age = now.saturating_sub(self.topics[ti].refreshed_ms);
        if self.topics[ti].refreshed_ms == i64::MIN
            || age < 0
            || age as u64 >= self.config.metadata_max_age_ms
        {
            self.refresh(ti, now)?;
        }
        self.last_topic = ti;
        Ok(ti)
    }

    /// Reads a topic's partition count and `max.message.bytes` from the store.
    fn refresh(&mut self, ti: usize, now: i64) -> Result<()> {
        let t = &mut self.topics[ti];
        let topic = self.store.topic(&t.name)?;
        t.partition_count = topic.partition_count();
        t.modulus = FastMod::new(t.partition_count);
        t.max_batch_bytes = self
            .config
            .max_request_size
            .min(topic.log_config.read().max_message_bytes as usize);
        if t.partitions.len() < t.partition_count as usize {
            t.partitions
                .resize_with(t.partition_count as usize, || None);
        }
        t.refreshed_ms = now;
        Ok(())
    }

    /// The batch of a partition, created on first use.
    fn batch_mut(&mut self, ti: usize, partition: i32) -> &mut PartitionBatch {
        let config = &self.config;
        let partitions = &mut self.topics[ti].partitions;
        let p = partition as usize;
        if partitions.len() <= p {
            partitions.resize_with(p + 1, || None);
        }
        partitions[p].get_or_insert_with(|| {
            Box::new(PartitionBatch {
                builder: BatchBuilder::new(BatchOptions {
                    compression: config.compression_type,
                    compression_level: config.compression_level,
                    ..BatchOptions::default()
                }),
                slot: None,
                created_ms: 0,
            })
        })
    }

    /// Appends the pending batch of one partition, if any, and resolves its receipts.
    pub(super) fn append_partition(&mut self, ti: usize, partition: i32) -> Result<()> {
        let Accumulator {
            store,
            config,
            topics,
            unreported,
            ..
        } = self;
        let Some(topic) = topics.get_mut(ti) else {
            return Ok(());
        };
        let Some(Some(batch)) = usize::try_from(partition)
            .ok()
            .and_then(|p| topic.partitions.get_mut(p))
        else {
            return Ok(());
        };
        let Some(slot) = batch.slot.take() else {
            return Ok(());
        };
        // Built here, from values: the log trusts its framing and CRC (no second CRC pass)
        // and stamps it in place (no copy).
        let result = batch.builder.finish_mut().and_then(|bytes| {
            store
                .log(&topic.name, partition)?
                .append_built(bytes, config.durability)
        });
        batch.builder.clear();
        match result {
            Ok(info) => {
                let _ = slot.outcome.set(Ok(Appended {
                    first_offset: info.first_offset,
                    append_time: info.append_time,
                }));
                Ok(())
            }
            Err(e) => {
                if matches!(
                    e,
                    Error::UnknownTopic { .. } | Error::UnknownPartition { .. }
                ) {
                    // Deleted or recreated: look the topic up again at the next send.
                    topic.refreshed_ms = i64::MIN;
                }
                let _ = slot.outcome.set(Err(e.duplicate()));
                if unreported.is_none() {
                    *unreported = Some(e.duplicate());
                }
                Err(e)
            }
        }
    }

    /// Appends the pending batches `due` selects (by creation time), in topic and partition
    /// order; returns how many were appended or failed, or the first error.
    pub(super) fn append_all(&mut self, mut due: impl FnMut(i64) -> bool) -> Result<usize> {
        let mut first_error = None;
        let mut appended = 0;
        let mut next_deadline = i64::MAX;
        let linger = i64::try_from(self.config.linger_ms).unwrap_or(i64::MAX);
        for ti in 0..self.topics.len() {
            for p in 0..self.topics[ti].partitions.len() {
                let created = match &self.topics[ti].partitions[p] {
                    Some(b) if b.slot.is_some() => b.created_ms,
                    _ => continue,
                };
                if !due(created) {
                    next_deadline = next_deadline.min(created.saturating_add(linger));
                    continue;
                }
                appended += 1;
                if let Err(e) = self.append_partition(ti, p as i32) {
                    first_error = first_error.or(Some(e));
                }
            }
        }
        self.next_deadline = next_deadline;
        first_error.map_or(Ok(appended), Err)
    }

    /// Appends the batches whose linger has passed at `now` (or whose start is in the
    /// future: a clock that went back must not strand them).
    pub(super) fn flush_expired(&mut self, now: i64) -> Result<usize> {
        let linger = self.config.linger_ms;
        self.append_all(|created| {
            let age = now.saturating_sub(created);
            age < 0 || age as u64 >= linger
        })
    }
}

impl Drop for Accumulator {
    /// Whatever is still pending (the producer panicked mid-call, or a receipt outlived it
    /// by holding the lock last) is appended so that every receipt resolves.
    fn drop(&mut self) {
        let _ = self.append_all(|_| true);
    }
}

/// An upper bound of a record's size inside a batch: exact for its fields, the longest
/// encodings for the timestamp and offset deltas, which depend on the batch (Kafka's
/// `DefaultRecord.sizeInUpperBound`).
pub(super) fn record_size_upper_bound(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    let len = |n: usize| varint_len(i32::try_from(n).unwrap_or(i32::MAX));
    let field = |b: Option<&[u8]>| b.map_or(1, |b| len(b.len()) + b.len());
    let mut body = 1 // attributes
        + MAX_VARLONG_LEN // timestamp delta
        + MAX_VARINT_LEN // offset delta
        + field(key)
        + field(value)
        + len(headers.len());
    for h in headers {
        body += len(h.key.len()) + h.key.len() + field(h.value.as_deref());
    }
    len(body) + body
}
