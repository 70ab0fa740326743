//! [`Producer`]: routes records to partitions, batches them per partition, compresses each
//! batch once and appends it to the partition's log, as Kafka's producer does, in-process.
//!
//! No hidden thread. A partition's batch is appended:
//! - when it is full (`batch_size`), by the [`send`](Producer::send) that fills it or the
//!   first one that does not fit;
//! - when `linger_ms` has passed since its first record, by the next call on the producer
//!   ([`send`](Producer::send), [`flush_expired`](Producer::flush_expired)) or by whoever
//!   holds a [`LingerHandle`] (the store's maintenance thread, once it knows producers);
//! - on [`flush`](Producer::flush), [`close`](Producer::close) or drop;
//! - when a [`Receipt`] of one of its records is [`wait`](Receipt::wait)ed on.
//!
//! Each [`Receipt`] gives its record's partition at once, and its offset and timestamp (or
//! the batch's error) once the batch is appended. [`Producer::send_all`] sends many records
//! for the locking and clock reading of one.

//!
//! Files: this one (config, record, [`Producer`], [`LingerHandle`]), `receipt.rs`
//! ([`Receipt`], [`RecordMetadata`]), `accumulator.rs` (the state behind the producer's lock:
//! routing, batches, appends).

mod accumulator;
mod receipt;

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use self::accumulator::Accumulator;
pub use self::receipt::{Receipt, RecordMetadata};
use super::Store;
use crate::compression::{self, Compression};
use crate::error::{Error, Result};
use crate::log::{AppendInfo, Durability, Validation};
use crate::record::{Header, RECORD_BATCH_OVERHEAD};

/// Settings of a [`Producer`], with the names and defaults of Kafka's producer configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// Kafka `batch.size`: a partition's batch is appended once its records take this many
    /// bytes before compression, header included (Kafka estimates the compressed size
    /// instead; tidelog counts what it can know exactly, so batches are never larger than
    /// asked). A record larger than this goes alone in its batch; 0 appends every record
    /// in a batch of its own. Default: 16384.
    pub batch_size: usize,
    /// Kafka `linger.ms`: how long a batch that is not full may wait for more records.
    /// Default: 5, Kafka 4.0's (KIP-1030; it was 0 before): bigger batches compress better
    /// and cost less per record, and lingering costs no latency to a caller that waits,
    /// since [`Receipt::wait`] appends the batch at once. 0 appends each record within the
    /// `send` that adds it.
    pub linger_ms: u64,
    /// Kafka `compression.type`: the codec of every batch, applied once by the producer and
    /// stored as is. Default: none.
    pub compression_type: Compression,
    /// Kafka `compression.gzip.level` / `compression.lz4.level` / `compression.zstd.level`
    /// for the chosen codec; `None` is the codec's default. Default: `None`.
    pub compression_level: Option<i32>,
    /// Kafka `max.request.size`: the largest batch the producer builds, and so the largest
    /// record it accepts (its size as a batch of one, estimated from above as Kafka does).
    /// A topic's `max.message.bytes` limits it further. Default: 1048576.
    pub max_request_size: usize,
    /// Kafka `partitioner.ignore.keys`: route keyed records as unkeyed ones (sticky)
    /// instead of by key. Default: false.
    pub partitioner_ignore_keys: bool,
    /// Kafka `metadata.max.age.ms`: how long a topic's partition count is trusted before the
    /// producer reads it again (at its next send to the topic), so keys follow added
    /// partitions. An explicit partition past the known count is always re-checked.
    /// Default: 300000.
    pub metadata_max_age_ms: u64,
    /// When a batch append may return: in the page cache (Kafka's `acks=all` on one
    /// replica), or fsynced. Default: [`Durability::PageCache`].
    pub durability: Durability,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            batch_size: 16384,
            linger_ms: 5,
            compression_type: Compression::None,
            compression_level: None,
            max_request_size: 1024 * 1024,
            partitioner_ignore_keys: false,
            metadata_max_age_ms: 300_000,
            durability: Durability::PageCache,
        }
    }
}

impl ProducerConfig {
    /// Checks every value.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for `max.request.size` below the size of a batch header, or
    /// a compression level out of the codec's range; [`Error::CodecDisabled`] for a codec
    /// this build lacks.
    pub fn validate(&self) -> Result<()> {
        if self.max_request_size <= RECORD_BATCH_OVERHEAD {
            return Err(Error::InvalidConfig {
                key: "max.request.size",
                value: self.max_request_size.to_string(),
                reason: format!("must be larger than a batch header ({RECORD_BATCH_OVERHEAD})"),
            });
        }
        // A trial run finds a disabled codec or a bad level now rather than at the first
        // append.
        let mut out = Vec::new();
        compression::compress(self.compression_type, self.compression_level, b"", &mut out).map_err(
            |e| match e {
                Error::InvalidArgument(reason) => Error::InvalidConfig {
                    key: "compression.level",
                    value: format!("{:?}", self.compression_level),
                    reason,
                },
                other => other,
            },
        )
    }
}

/// A record to send: where it goes and what it holds. It borrows its bytes, which
/// [`Producer::send`] copies into the partition's batch at once (as Kafka's serializers
/// copy into the producer's buffer), so sending costs no allocation per record.
///
/// ```
/// use tidelog::store::ProducerRecord;
/// let r = ProducerRecord::new("orders", b"customer-7", b"{\"total\":12}")
///     .with_partition(2)
///     .with_header("trace", b"abc")
///     .with_timestamp(1_700_000_000_000);
/// assert_eq!(r.partition, Some(2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord<'a> {
    /// The topic.
    pub topic: &'a str,
    /// An explicit partition, which always wins; `None` lets the partitioner choose (by
    /// key, or sticky for unkeyed records).
    pub partition: Option<i32>,
    /// The key; `None` is a null key (distinct from an empty one).
    pub key: Option<&'a [u8]>,
    /// The value; `None` is a null value (a tombstone under compaction).
    pub value: Option<&'a [u8]>,
    /// Headers, in order.
    pub headers: Vec<Header>,
    /// CreateTime in ms since the epoch; `None` takes the store clock's now at send.
    pub timestamp: Option<i64>,
}

impl<'a> ProducerRecord<'a> {
    /// A keyed record with a value.
    pub fn new(topic: &'a str, key: &'a [u8], value: &'a [u8]) -> Self {
        ProducerRecord {
            topic,
            partition: None,
            key: Some(key),
            value: Some(value),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// A record with a value and a null key (routed sticky).
    pub fn unkeyed(topic: &'a str, value: &'a [u8]) -> Self {
        ProducerRecord {
            key: None,
            ..ProducerRecord::new(topic, b"", value)
        }
    }

    /// A tombstone: a key with a null value, which compaction eventually removes.
    pub fn tombstone(topic: &'a str, key: &'a [u8]) -> Self {
        ProducerRecord {
            value: None,
            ..ProducerRecord::new(topic, key, b"")
        }
    }

    /// Sends to this partition, whatever the key.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Appends a header with a value.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }

    /// Sets the CreateTime.
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }
}

/// A producer: batches records per partition and appends them to a [`Store`].
///
/// One producer per thread (it is `Send`; its calls take `&mut self`); any number of
/// producers may share a store, even its partitions: each appends whole batches, in the
/// order of its sends per partition.
///
/// ```
/// use tidelog::config::{StoreConfig, TopicConfig};
/// use tidelog::store::{Producer, ProducerConfig, ProducerRecord, Store};
/// use tidelog::Compression;
/// # let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), StoreConfig::default())?;
/// store.create_topic("orders", 3, TopicConfig::default())?;
/// let config = ProducerConfig { compression_type: Compression::Lz4, ..Default::default() };
/// let mut producer = Producer::new(&store, config)?;
/// let receipt = producer.send(ProducerRecord::new("orders", b"customer-7", b"hello"))?;
/// producer.flush()?;
/// let meta = receipt.wait()?;
/// assert_eq!((meta.partition, meta.offset), (receipt.partition(), 0));
/// producer.close()?;
/// store.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Producer {
    shared: Arc<Mutex<Accumulator>>,
    config: ProducerConfig,
}

/// A weak handle on a producer's pending batches, for a thread that applies `linger_ms`
/// while the producer is idle (the store's maintenance thread). It keeps nothing alive.
#[derive(Debug, Clone)]
pub struct LingerHandle {
    shared: Weak<Mutex<Accumulator>>,
}

impl LingerHandle {
    /// Appends the producer's batches whose `linger_ms` has passed, by the store's clock,
    /// and returns how many. Does nothing (returns 0) if the producer is gone, or busy in
    /// a call of its own (which applies `linger_ms` itself): it never waits for the lock.
    ///
    /// # Errors
    /// The first append error (also given to the batch's receipts and reported by the
    /// producer's next [`flush`](Producer::flush)).
    pub fn flush_expired(&self) -> Result<usize> {
        let Some(shared) = self.shared.upgrade() else {
            return Ok(0);
        };
        let Some(mut acc) = shared.try_lock() else {
            return Ok(0);
        };
        let now = acc.now();
        acc.flush_expired(now)
    }

    /// Appends every pending batch of the producer now, waiting for it if it is busy, and
    /// returns how many batches went. What the store's [`close`](Store::close) does to its
    /// producers, so records sent before the close are not left unappended.
    ///
    /// # Errors
    /// The first append error (also given to the batch's receipts).
    pub fn flush_all(&self) -> Result<usize> {
        let Some(shared) = self.shared.upgrade() else {
            return Ok(0);
        };
        let mut acc = shared.lock();
        acc.append_all(|_| true)
    }

    /// True while the producer exists.
    pub fn is_alive(&self) -> bool {
        self.shared.strong_count() > 0
    }
}

impl Producer {
    /// A producer appending to `store`'s partitions.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] or [`Error::CodecDisabled`], from
    /// [`ProducerConfig::validate`].
    pub fn new(store: &Store, config: ProducerConfig) -> Result<Producer> {
        config.validate()?;
        let shared =
            Arc::new_cyclic(|me| Mutex::new(Accumulator::new(store, config.clone(), me.clone())));
        let producer = Producer { shared, config };
        // The store's maintenance appends its lingering batches, and its close the rest.
        store.register_producer(producer.linger_handle());
        Ok(producer)
    }

    /// The producer's config.
    pub fn config(&self) -> &ProducerConfig {
        &self.config
    }

    /// Adds a record to its partition's batch and returns its receipt.
    ///
    /// First appends every batch whose `linger_ms` has passed. Routing: an explicit
    /// partition wins; else a keyed record goes to `murmur2(key)` modulo the partition
    /// count (as Kafka's Java client); else (or with `partitioner_ignore_keys`) the
    /// topic's sticky partition. A missing timestamp is the store clock's now. The batch is
    /// appended here if the record fills it (or did not fit and so closed the previous
    /// one); errors of such appends go to their own records' receipts, and to the next
    /// [`flush`](Self::flush), never to this call.
    ///
    /// # Errors
    /// Immediately, and nothing is sent: [`Error::UnknownTopic`];
    /// [`Error::UnknownPartition`] for an explicit partition the topic lacks;
    /// [`Error::RecordTooLarge`] for a record that would not fit in a batch of
    /// `max.request.size` or the topic's `max.message.bytes` (its size as a batch of one,
    /// estimated from above as Kafka does). After the store is closed, records are still
    /// batched; their appends fail with [`Error::Closed`] (in the receipts and the next
    /// flush).
    pub fn send(&mut self, record: ProducerRecord<'_>) -> Result<Receipt> {
        let mut acc = self.shared.lock();
        let now = acc.now();
        acc.expire(now);
        acc.add(&record, now, &mut None)
    }

    /// Sends several records in one call, pushing a receipt per record onto `receipts` (as
    /// librdkafka's `rd_kafka_produce_batch`): the same as a [`send`](Self::send) of each,
    /// but the producer is locked and the clock read once for the call, so `linger_ms` is
    /// applied at its start and records without a timestamp all get that reading. For
    /// callers that have records at hand in bulk; it saves most of what a send costs beyond
    /// copying the record.
    ///
    /// ```
    /// use tidelog::config::{StoreConfig, TopicConfig};
    /// use tidelog::store::{Producer, ProducerConfig, ProducerRecord, Store};
    /// # let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("clicks", 2, TopicConfig::default())?;
    /// let mut producer = Producer::new(&store, ProducerConfig::default())?;
    /// let pages = ["/", "/cart", "/pay"];
    /// let mut receipts = Vec::new();
    /// producer.send_all(
    ///     pages.iter().map(|p| ProducerRecord::new("clicks", b"user-1", p.as_bytes())),
    ///     &mut receipts,
    /// )?;
    /// producer.flush()?;
    /// let offsets = receipts.iter().map(|r| r.wait().map(|m| m.offset));
    /// assert_eq!(offsets.collect::<Result<Vec<_>, _>>()?, [0, 1, 2]); // one key: one partition
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`send`](Self::send), for the first record refused; the call stops there, the
    /// records before it are sent and their receipts pushed.
    pub fn send_all<'a>(
        &mut self,
        records: impl IntoIterator<Item = ProducerRecord<'a>>,
        receipts: &mut Vec<Receipt>,
    ) -> Result<()> {
        let mut acc = self.shared.lock();
        let now = acc.now();
        acc.expire(now);
        let mut stamp = None;
        for record in records {
            receipts.push(acc.add(&record, now, &mut stamp)?);
        }
        Ok(())
    }

    /// Appends every pending batch, partition by partition.
    ///
    /// # Errors
    /// The first error of a batch appended since the previous `flush`, whether by this
    /// call, by a send, by a receipt's wait or by a [`LingerHandle`]; each failed batch's
    /// receipts carry their own error.
    pub fn flush(&mut self) -> Result<()> {
        let mut acc = self.shared.lock();
        let result = acc.append_all(|_| true);
        let unreported = acc.take_unreported();
        result?;
        unreported.map_or(Ok(()), Err)
    }

    /// Appends the batches whose `linger_ms` has passed (what every send does first), and
    /// returns how many. For a producer that may go quiet with batches pending and has no
    /// maintenance thread to apply `linger_ms` for it.
    ///
    /// # Errors
    /// The first append error (also in the batch's receipts and the next
    /// [`flush`](Self::flush)).
    pub fn flush_expired(&mut self) -> Result<usize> {
        let mut acc = self.shared.lock();
        let now = acc.now();
        acc.flush_expired(now)
    }

    /// Records waiting in batches that are not appended yet.
    pub fn pending_records(&self) -> usize {
        self.shared.lock().pending_records()
    }

    /// A weak handle that appends this producer's expired batches from another thread.
    pub fn linger_handle(&self) -> LingerHandle {
        LingerHandle {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Appends an already-encoded batch (from a remote producer or a server's client) to
    /// one partition, never recompressing it, after this producer's pending batch for that
    /// partition, so its order is kept. Servers that own no producer use
    /// [`Store::append_batch`].
    ///
    /// # Errors
    /// As [`Store::append_batch`]; the pending batch's own error goes to its receipts and
    /// the next [`flush`](Self::flush).
    pub fn append_batch(
        &mut self,
        topic: &str,
        partition: i32,
        batch: &[u8],
        validation: Validation,
    ) -> Result<AppendInfo> {
        let mut acc = self.shared.lock();
        let _ = acc.append_named(topic, partition);
        acc.store().log(topic, partition)?.append_batch_with(
            batch,
            validation,
            self.config.durability,
        )
    }

    /// Appends every pending batch and drops the producer.
    ///
    /// # Errors
    /// As [`flush`](Self::flush).
    pub fn close(mut self) -> Result<()> {
        self.flush()
    }
}

impl Drop for Producer {
    /// Appends what is pending, so that no receipt is left unresolved; errors go to the
    /// receipts (and the `log` facade).
    fn drop(&mut self) {
        let mut acc = self.shared.lock();
        if let Err(e) = acc.append_all(|_| true) {
            log::warn!("producer dropped: appending its pending batches failed: {e}");
        }
    }
}

#[cfg(test)]
#[path = "producer_tests.rs"]
mod tests;
