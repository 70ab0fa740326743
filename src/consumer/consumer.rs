//! [`Consumer`]: reads assigned partitions of a store, fairly, from positions that come
//! from seeks, the group's committed offsets or `auto.offset.reset`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::consumer_record::PollBytes;
use super::group::GroupOffsets;
use super::partition::{PartitionState, Position};
use super::polled::Run;
use super::{
    ConsumerConfig, ConsumerRecord, OffsetAndMetadata, OffsetReset, PolledRecords, TopicPartition,
};
use crate::error::{Error, Result};
use crate::log::AppendSignal;
use crate::store::Store;

/// The most one read of a partition takes (`max.partition.fetch.bytes` and
/// `fetch.max.bytes` may lower it): a few polls' worth of records at typical sizes, small
/// enough that a fetch is decoded and handed out while it is still in the CPU's cache.
/// Kafka's limits are upper bounds; a read never splits a batch, so a larger batch still
/// comes whole.
const READ_BYTES: usize = 128 * 1024;

/// The longest single block (a poll's deadline may be further away, even unbounded).
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// A consumer over partitions of one [`Store`] (Kafka's `KafkaConsumer`, without the
/// network and without group rebalancing: the application assigns partitions itself).
///
/// A consumer is used by one thread at a time (`poll` takes `&mut self`); for parallelism,
/// run one consumer per thread, each assigned its own partitions or in its own group.
///
/// Positions: a newly assigned partition starts at the group's committed offset, else where
/// [`auto_offset_reset`](ConsumerConfig::auto_offset_reset) says, unless the application
/// seeks first. A position found outside the log during a poll is reset the same way.
///
/// Committed offsets are records of Kafka's `__consumer_offsets` topic, as Kafka writes them
/// (see [`offsets_topic`](super::offsets_topic)), so a Kafka directory's commits read back
/// and tidelog's read in Kafka. Each commit appends records and fsyncs them; the topic grows
/// with every commit until the log cleaner (compaction) exists.
///
/// ```
/// use std::time::Duration;
/// use tidelog::config::{StoreConfig, TopicConfig};
/// use tidelog::consumer::{Consumer, ConsumerConfig, OffsetReset};
/// use tidelog::log::AppendOptions;
/// use tidelog::record::Record;
/// use tidelog::store::Store;
/// # let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), StoreConfig::default())?;
/// store.create_topic("orders", 2, TopicConfig::default())?;
/// store.log("orders", 1)?.append(&[Record::new(0, b"hello".to_vec())], &AppendOptions::default())?;
///
/// let mut consumer = Consumer::new(&store, ConsumerConfig {
///     group_id: Some("billing".into()),
///     auto_offset_reset: OffsetReset::Earliest,
///     ..Default::default()
/// })?;
/// consumer.subscribe(&["orders"])?;
/// let records = consumer.poll(Duration::from_millis(100))?;
/// assert_eq!(records[0].value(), Some(&b"hello"[..]));
/// consumer.commit()?; // durable in __consumer_offsets
/// assert_eq!(consumer.committed(&records[0].topic_partition())?, Some(1));
/// consumer.close()?;
/// store.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Consumer {
    store: Store,
    config: ConsumerConfig,
    partitions: Vec<PartitionState>,
    /// Where the next poll starts its round over `partitions`: it moves by one each poll.
    next_start: usize,
    group: Option<GroupOffsets>,
    /// Store-clock time of the next auto-commit.
    next_auto_commit_ms: i64,
    /// The store's append signal: what a poll over several partitions waits on.
    signal: Arc<AppendSignal>,
    /// What the last poll handed out, partition by partition.
    runs: Vec<Run>,
}

impl Consumer {
    /// A consumer of `store` with nothing assigned yet.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] from [`ConsumerConfig::validate`].
    pub fn new(store: &Store, config: ConsumerConfig) -> Result<Consumer> {
        config.validate()?;
        let now = store.config().clock.now_ms();
        Ok(Consumer {
            store: store.clone(),
            group: config.group_id.clone().map(GroupOffsets::new),
            next_auto_commit_ms: now.saturating_add(interval_ms(&config)),
            config,
            partitions: Vec::new(),
            next_start: 0,
            signal: store.append_signal(),
            runs: Vec::new(),
        })
    }

    /// The config in force.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Assigns every partition the given topics have now (partitions added later are not
    /// picked up until the next call). Replaces the assignment, as [`assign`](Self::assign).
    ///
    /// # Errors
    /// [`Error::UnknownTopic`]; [`Error::Closed`].
    pub fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        let mut tps = Vec::new();
        for topic in topics {
            let n = self.store.partition_count(topic)?;
            tps.extend((0..n).map(|p| TopicPartition::new(*topic, p as i32)));
        }
        self.assign(&tps)
    }

    /// Replaces the assignment with `partitions` (duplicates ignored). Partitions that stay
    /// assigned keep their position and buffered records; new ones start from the group's
    /// committed offset, else `auto.offset.reset`. Nothing is changed if any is unknown.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::UnknownPartition`], [`Error::Closed`].
    pub fn assign(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        let mut next: Vec<PartitionState> = Vec::with_capacity(partitions.len());
        for tp in partitions {
            if next.iter().any(|s| &s.tp == tp) {
                continue;
            }
            let log = self.store.log(&tp.topic, tp.partition)?;
            next.push(PartitionState::new(tp.clone(), log));
        }
        for state in &mut next {
            if let Some(i) = self.partitions.iter().position(|s| s.tp == state.tp) {
                std::mem::swap(state, &mut self.partitions[i]);
            }
        }
        self.partitions = next;
        self.next_start = 0;
        Ok(())
    }

    /// Drops the whole assignment.
    pub fn unsubscribe(&mut self) {
        self.partitions.clear();
    }

    /// The assigned partitions, in assignment order.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.partitions.iter().map(|s| s.tp.clone()).collect()
    }

    fn state(&mut self, tp: &TopicPartition) -> Result<&mut PartitionState> {
        self.partitions
            .iter_mut()
            .find(|s| &s.tp == tp)
            .ok_or_else(|| Error::InvalidArgument(format!("{tp} is not assigned to this consumer")))
    }

    /// Sets the position of `tp`: the next poll returns records from `offset` on. An offset
    /// outside the log is found, and reset per `auto.offset.reset`, by that poll.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a negative offset or a partition not assigned.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        if offset < 0 {
            return Err(Error::InvalidArgument(format!(
                "cannot seek {tp} to the negative offset {offset}"
            )));
        }
        self.state(tp)?.seek(Position::At(offset));
        Ok(())
    }

    /// Moves the given partitions (all assigned ones if `partitions` is empty, as Kafka) to
    /// the log start, as of the next poll or [`position`](Self::position).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a partition not assigned.
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_all(partitions, Position::Beginning)
    }

    /// Moves the given partitions (all assigned ones if `partitions` is empty) to the end of
    /// what the consumer may read, as of the next poll or [`position`](Self::position).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a partition not assigned.
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_all(partitions, Position::End)
    }

    fn seek_all(&mut self, partitions: &[TopicPartition], to: Position) -> Result<()> {
        if partitions.is_empty() {
            self.partitions.iter_mut().for_each(|s| s.seek(to));
            return Ok(());
        }
        for tp in partitions {
            self.state(tp)?;
        }
        for tp in partitions {
            self.state(tp)?.seek(to);
        }
        Ok(())
    }

    /// Moves `tp` to the first record with a timestamp at or after `timestamp` (Kafka's
    /// `offsetsForTimes` then `seek`), or to the end if every record is older. Returns the
    /// new position.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a negative timestamp (as Kafka's `offsetsForTimes`; use
    /// [`seek_to_beginning`](Self::seek_to_beginning) or [`seek_to_end`](Self::seek_to_end))
    /// or a partition not assigned; read errors.
    pub fn seek_to_timestamp(&mut self, tp: &TopicPartition, timestamp: i64) -> Result<i64> {
        if timestamp < 0 {
            return Err(Error::InvalidArgument(format!(
                "the target time {timestamp} for {tp} is negative"
            )));
        }
        let isolation = self.config.isolation;
        let state = self.state(tp)?;
        let offset = match state.log.offset_for_timestamp(timestamp)? {
            Some((offset, _)) => offset,
            None => state.visible_end(isolation),
        };
        state.seek(Position::At(offset));
        Ok(offset)
    }

    /// The offset of the next record a poll returns from `tp`, resolving the group's
    /// committed offset or `auto.offset.reset` first if needed.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a partition not assigned; [`Error::NoOffset`] with no
    /// committed offset and `auto.offset.reset` = none; errors loading committed offsets.
    pub fn position(&mut self, tp: &TopicPartition) -> Result<i64> {
        self.state(tp)?;
        self.resolve_positions()?;
        let state = self.state(tp)?;
        state
            .offset()
            .ok_or_else(|| Error::InvalidArgument(format!("{tp} has no position")))
    }

    /// The group's committed offset of `tp` (the next offset to read), read from
    /// `__consumer_offsets` now, so commits by other consumers of the group are seen.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] (`group.id`) without a group; errors loading committed
    /// offsets ([`Error::Corrupt`] for a record that does not decode).
    pub fn committed(&mut self, tp: &TopicPartition) -> Result<Option<i64>> {
        let group = self.group.as_mut().ok_or_else(no_group)?;
        group.refresh(&self.store)?;
        Ok(group.committed(tp).map(|c| c.offset))
    }

    /// Every committed offset of the group, with its leader epoch, metadata and time.
    ///
    /// # Errors
    /// As [`committed`](Self::committed).
    pub fn committed_offsets(&mut self) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
        let group = self.group.as_mut().ok_or_else(no_group)?;
        group.refresh(&self.store)?;
        Ok(group
            .all()
            .iter()
            .map(|(tp, c)| (tp.clone(), c.clone()))
            .collect())
    }

    /// Commits the current position of every assigned partition whose position is known
    /// (Kafka's `commitSync()`): after a poll, everything it returned counts as processed.
    /// Durable when it returns (appended to `__consumer_offsets` and fsynced).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] (`group.id`) without a group; append, fsync and topic
    /// creation errors.
    pub fn commit(&mut self) -> Result<()> {
        self.commit_positions(false)
    }

    /// Commits the given offsets (each the next offset to read) for the group, assigned or
    /// not. Durable when it returns.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] (`group.id`) without a group; [`Error::InvalidArgument`] for
    /// a negative offset; [`Error::UnknownTopic`], [`Error::UnknownPartition`]; append,
    /// fsync and topic creation errors.
    pub fn commit_offsets(&mut self, offsets: &[(TopicPartition, i64)]) -> Result<()> {
        let now = self.store.config().clock.now_ms();
        let mut commits = Vec::with_capacity(offsets.len());
        for (tp, offset) in offsets {
            if *offset < 0 {
                return Err(Error::InvalidArgument(format!(
                    "cannot commit the negative offset {offset} for {tp}"
                )));
            }
            let partitions = self.store.partition_count(&tp.topic)?;
            if tp.partition < 0 || tp.partition as u32 >= partitions {
                return Err(Error::UnknownPartition {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    partitions,
                });
            }
            commits.push((tp.clone(), OffsetAndMetadata::new(*offset, now)));
        }
        let group = self.group.as_mut().ok_or_else(no_group)?;
        group.commit(&self.store, &commits)
    }

    /// Commits positions; with `only_moved`, only those that differ from the group's last
    /// commit known here.
    fn commit_positions(&mut self, only_moved: bool) -> Result<()> {
        let now = self.store.config().clock.now_ms();
        let group = self.group.as_mut().ok_or_else(no_group)?;
        let commits: Vec<_> = self
            .partitions
            .iter()
            .filter_map(|s| {
                let offset = s.offset()?;
                if only_moved && group.committed(&s.tp).map(|c| c.offset) == Some(offset) {
                    return None;
                }
                let mut commit = OffsetAndMetadata::new(offset, now);
                commit.leader_epoch = s.last_epoch;
                Some((s.tp.clone(), commit))
            })
            .collect();
        group.commit(&self.store, &commits)
    }

    fn maybe_auto_commit(&mut self) -> Result<()> {
        if !self.config.enable_auto_commit || self.group.is_none() {
            return Ok(());
        }
        let now = self.store.config().clock.now_ms();
        if now < self.next_auto_commit_ms {
            return Ok(());
        }
        self.next_auto_commit_ms = now.saturating_add(interval_ms(&self.config));
        self.commit_positions(true)
    }

    /// Resolves every partition's position: committed offsets (loading the group's new
    /// commits once), `auto.offset.reset`, and lazy seeks to the beginning or end.
    fn resolve_positions(&mut self) -> Result<()> {
        let isolation = self.config.isolation;
        let unresolved = self
            .partitions
            .iter()
            .any(|s| s.position == Position::Committed);
        if unresolved {
            if let Some(group) = &mut self.group {
                group.refresh(&self.store)?;
            }
        }
        for state in &mut self.partitions {
            if state.position == Position::Committed {
                let committed = self.group.as_ref().and_then(|g| g.committed(&state.tp));
                match (committed, self.config.auto_offset_reset) {
                    (Some(c), _) => {
                        state.seek(Position::At(c.offset));
                        state.last_epoch = c.leader_epoch;
                    }
                    (None, OffsetReset::Earliest) => state.seek(Position::Beginning),
                    (None, OffsetReset::Latest) => state.seek(Position::End),
                    (None, OffsetReset::None) => {
                        return Err(Error::NoOffset {
                            group: self.group.as_ref().map(|g| g.group().to_string()),
                            topic: state.tp.topic.clone(),
                            partition: state.tp.partition,
                        })
                    }
                }
            }
            state.resolve_ends(isolation);
        }
        Ok(())
    }

    /// Returns records from the assigned partitions, blocking until some are there or
    /// `timeout` passes (then it returns none). At most
    /// [`max_poll_records`](ConsumerConfig::max_poll_records), shared fairly: each partition
    /// with data gets an equal share first, unused shares go to the others, and each poll
    /// starts its round one partition further on. Records of each partition come in offset
    /// order; control records (transaction markers) are skipped. Records of aborted
    /// transactions are returned (Kafka's `read_uncommitted`; tidelog writes no
    /// transactions itself).
    ///
    /// With auto-commit on, a poll first commits the positions reached if the interval has
    /// passed.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] with nothing assigned; [`Error::NoOffset`] or
    /// [`Error::OffsetOutOfRange`] with `auto.offset.reset` = none (the latter for a
    /// position outside the log: `requested` is that partition's
    /// [`position`](Self::position); seek to go on); [`Error::Closed`] once the store is
    /// closed; read errors ([`Error::Corrupt`], I/O); auto-commit errors.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let n = self.poll_into_runs(timeout)?;
        let polled = self.polled(n);
        // Keys and values go to one buffer that the records share, topic names once a run.
        let mut shared = PollBytes {
            bytes: Vec::with_capacity(
                polled
                    .iter()
                    .map(|r| r.key().map_or(0, <[u8]>::len) + r.value().map_or(0, <[u8]>::len))
                    .sum(),
            ),
            topics: Vec::with_capacity(polled.runs.len()),
        };
        let mut fields = Vec::with_capacity(n);
        for (i, records) in polled.by_run() {
            let topic = self.partitions.get(i).map(|s| Arc::clone(&s.topic));
            shared.topics.push(topic.unwrap_or_else(|| Arc::from("")));
            for r in records {
                fields.push((shared.push(r.key()), shared.push(r.value())));
            }
        }
        let shared = Arc::new(shared);
        let mut out = Vec::with_capacity(n);
        let mut fields = fields.into_iter();
        for (topic, (_, records)) in polled.by_run().enumerate() {
            for (r, (key, value)) in records.zip(fields.by_ref()) {
                out.push(r.into_record_in(&shared, topic, key, value));
            }
        }
        Ok(out)
    }

    /// As [`poll`](Self::poll), the same records under the same rules (limits, fairness,
    /// positions, auto-commit), but borrowing the consumer's fetch buffers instead of
    /// copying each record out: for a loop that handles each record before the next poll.
    ///
    /// # Errors
    /// As [`poll`](Self::poll).
    pub fn poll_records(&mut self, timeout: Duration) -> Result<PolledRecords<'_>> {
        let n = self.poll_into_runs(timeout)?;
        Ok(self.polled(n))
    }

    fn polled(&self, len: usize) -> PolledRecords<'_> {
        PolledRecords {
            partitions: &self.partitions,
            runs: &self.runs,
            len,
        }
    }

    /// The poll loop: hands out records into `runs` and returns how many.
    fn poll_into_runs(&mut self, timeout: Duration) -> Result<usize> {
        self.runs.clear();
        if self.partitions.is_empty() {
            return Err(Error::InvalidArgument(
                "poll needs an assignment: call subscribe or assign first".into(),
            ));
        }
        self.maybe_auto_commit()?;
        let deadline = Instant::now().checked_add(timeout);
        loop {
            // Read before looking for data, so that an append after the look bumps it and
            // the wait below returns at once.
            let seen = self.signal.seq();
            self.resolve_positions()?;
            let n = self.poll_once()?;
            if n > 0 {
                return Ok(n);
            }
            let now = Instant::now();
            let remaining = match deadline {
                Some(deadline) if deadline <= now => return Ok(0),
                Some(deadline) => deadline - now,
                None => Duration::MAX,
            };
            self.wait(remaining, seen)?;
        }
    }

    /// One round: fills empty buffers within the byte limits, then hands out records into
    /// `runs`; returns how many.
    fn poll_once(&mut self) -> Result<usize> {
        let n = self.partitions.len();
        let start = self.next_start % n;
        self.next_start = (start + 1) % n;
        let order = (0..n).map(|i| (start + i) % n);
        let c = &self.config;
        let mut budget = c.fetch_max_bytes;
        for i in order.clone() {
            if budget == 0 {
                break;
            }
            let max = c.max_partition_fetch_bytes.min(budget).min(READ_BYTES);
            let used = self.partitions[i].fetch(max, c.isolation, c.auto_offset_reset)?;
            budget = budget.saturating_sub(used);
        }
        let ready = self.partitions.iter().filter(|s| s.has_buffered()).count();
        if ready == 0 {
            return Ok(0);
        }
        let max = c.max_poll_records;
        let share = max.div_ceil(ready);
        let mut taken = 0;
        for i in order.clone() {
            let slots = self.partitions[i].take(share.min(max - taken));
            taken += slots.len();
            push_run(&mut self.runs, i, slots);
        }
        for i in order {
            if taken == max {
                break;
            }
            let slots = self.partitions[i].take(max - taken);
            taken += slots.len();
            push_run(&mut self.runs, i, slots);
        }
        Ok(taken)
    }

    /// Blocks until data may have arrived, for at most `remaining`: on the partition's log
    /// alone, or on the store's append signal, from its value `seen` before the poll
    /// looked for data, when there are several.
    fn wait(&mut self, remaining: Duration, seen: u64) -> Result<()> {
        let isolation = self.config.isolation;
        if self.partitions.iter().any(|s| s.has_data(isolation)) {
            return Ok(());
        }
        let state = &self.partitions[self.next_start % self.partitions.len()];
        if let Err(Error::Closed) = self.store.log(&state.tp.topic, state.tp.partition) {
            return Err(Error::Closed);
        }
        let wait = remaining.min(MAX_WAIT);
        if self.partitions.len() == 1 {
            state
                .log
                .wait_for_with(state.fetch_offset(), wait, isolation);
        } else {
            // Any partition's append or flush (of this store) moves the signal.
            self.signal.wait_past(seen, wait);
        }
        Ok(())
    }

    /// Commits the positions reached if auto-commit is on (Kafka commits on close too),
    /// then drops the consumer. Dropping a consumer without closing it commits nothing.
    ///
    /// # Errors
    /// Auto-commit errors.
    pub fn close(mut self) -> Result<()> {
        if self.config.enable_auto_commit && self.group.is_some() {
            self.commit_positions(true)?;
        }
        Ok(())
    }
}

fn interval_ms(config: &ConsumerConfig) -> i64 {
    i64::try_from(config.auto_commit_interval_ms).unwrap_or(i64::MAX)
}

fn no_group() -> Error {
    Error::InvalidConfig {
        key: "group.id",
        value: "none".into(),
        reason: "committed offsets belong to a consumer group: set group_id".into(),
    }
}

/// Records `slots` of partition `partition` as handed out, unless there are none.
fn push_run(runs: &mut Vec<Run>, partition: usize, slots: std::ops::Range<usize>) {
    if !slots.is_empty() {
        runs.push(Run { partition, slots });
    }
}
