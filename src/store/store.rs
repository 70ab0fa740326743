//! [`Store`]: a Kafka log directory of topics, shared across threads.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};

use super::kafka_topics;
use super::log_dir::{self, OffsetMap, CLEAN_SHUTDOWN_FILE};
use super::metadata::{self, Origin, TopicRecord};
use super::topic::{PartitionDescription, Topic, TopicDescription};
use crate::checkpoint::{
    PartitionMetadata, TopicId, LOG_START_OFFSET_CHECKPOINT_FILE, PARTITION_METADATA_FILE,
    RECOVERY_POINT_CHECKPOINT_FILE,
};
use crate::config::{StoreConfig, TopicConfig};
use crate::error::{Error, Result};
use crate::io::{DirLock, StdFs, Storage};
use crate::log::{AppendInfo, AppendSignal, Log, LogOpenOptions, Validation};
use crate::segment::{validate_topic, PartitionDirKind, PartitionDirName};

/// Kafka's internal topic of committed consumer offsets.
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Kafka's default partition count of [`CONSUMER_OFFSETS_TOPIC`] (`offsets.topic.num.partitions`).
pub const KAFKA_OFFSETS_PARTITIONS: u32 = 50;
/// Kafka `offsets.topic.segment.bytes`: the segment size [`CONSUMER_OFFSETS_TOPIC`] is
/// created with (smaller than ordinary topics' 1 GiB so that compaction can work on closed
/// segments sooner).
pub const OFFSETS_TOPIC_SEGMENT_BYTES: u64 = 104_857_600;
/// Kafka's internal topics: only the store creates them (Kafka refuses a user's
/// CreateTopics for them, and for names that collide with them).
const INTERNAL_TOPICS: [&str; 2] = [CONSUMER_OFFSETS_TOPIC, "__transaction_state"];

/// A topic name as Kafka compares names for collisions: '.' and '_' are the same.
fn unified(topic: &str) -> String {
    topic.replace('.', "_")
}
/// The most partitions a topic may have (Kafka sets no limit; a topic's partitions are held
/// in memory, so tidelog does): far past what one machine serves.
pub const MAX_PARTITIONS: u32 = 1 << 20;

/// A store: one data directory (a Kafka log directory) of topics split into partitions.
///
/// `Store` is a cheap handle (`Clone`, `Send + Sync`) to shared state. A writable store holds
/// an exclusive lock on Kafka's `.lock` file until [`close`](Self::close) or until the last
/// handle is dropped; dropping without closing is a crash as far as the next open is
/// concerned (it recovers).
///
/// ```
/// use tidelog::config::{StoreConfig, TopicConfig};
/// use tidelog::store::Store;
/// # let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), StoreConfig::default())?;
/// store.create_topic("orders", 3, TopicConfig::default())?;
/// assert_eq!(store.list_topics(), vec!["orders".to_string()]);
/// store.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Store<S: Storage = StdFs> {
    /// Shared by the user's handles only (not the maintenance thread's): dropped before
    /// `inner`, the last one stops and joins the maintenance thread, so the directory lock
    /// goes as soon as the last handle does, never while a pass still writes.
    _handles: Option<Arc<HandleGuard<S>>>,
    inner: Arc<Inner<S>>,
}

impl<S: Storage> Clone for Store<S> {
    fn clone(&self) -> Self {
        Store {
            _handles: self._handles.clone(),
            inner: Arc::clone(&self.inner),
        }
    }
}

/// Stops the maintenance thread when the last user handle of a store goes.
struct HandleGuard<S: Storage> {
    inner: Arc<Inner<S>>,
}

impl<S: Storage> std::fmt::Debug for HandleGuard<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandleGuard")
    }
}

impl<S: Storage> Drop for HandleGuard<S> {
    fn drop(&mut self) {
        self.inner.stop_maintenance();
    }
}

#[derive(Debug)]
struct Inner<S: Storage> {
    dir: PathBuf,
    storage: S,
    config: StoreConfig,
    /// Released by `close`, so the directory can be reopened while handles linger.
    lock: Mutex<Option<DirLock>>,
    topics: RwLock<BTreeMap<String, Arc<Topic<S>>>>,
    /// Serialises changes to the topic set and the metadata file.
    admin: Mutex<()>,
    /// Serialises checkpoint writes (maintenance, topic creation, close share a `.tmp` file);
    /// a writer that finds the store closed under it writes nothing.
    checkpoints: Mutex<()>,
    closed: AtomicBool,
    /// What the first `close` returned, for later calls; held while a close runs.
    close_outcome: Mutex<Option<std::result::Result<(), Arc<Error>>>>,
    last_error: Mutex<Option<Arc<Error>>>,
    last_retention_ms: AtomicI64,
    last_recovery_checkpoint_ms: AtomicI64,
    last_start_checkpoint_ms: AtomicI64,
    maintenance: Mutex<Option<JoinHandle<()>>>,
    stop: (Mutex<bool>, Condvar),
    /// Producers made by [`Store::producer`], whose lingering batches maintenance appends.
    producers: Mutex<Vec<super::LingerHandle>>,
    id_counter: AtomicU64,
    /// Bumped by every partition's appends and closes, for readers tailing several.
    signal: Arc<AppendSignal>,
}

/// What one [`Store::maintain`] pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Partitions flushed because `flush.ms` had passed.
    pub flushed: u32,
    /// Segments deleted by retention.
    pub segments_deleted: u32,
    /// Bytes deleted by retention.
    pub bytes_deleted: u64,
    /// Checkpoint files written.
    pub checkpoints_written: u32,
}

impl Store {
    /// Opens (or creates) the store in `dir`, taking its lock, and loads every topic and
    /// partition. A directory written by a Kafka broker opens too: its topics come from the
    /// `<topic>-<partition>` directories and get no retention until configured.
    ///
    /// # Errors
    /// [`Error::Locked`] if another handle, process or broker holds the directory;
    /// [`Error::InvalidConfig`]; partition open errors ([`Error::Corrupt`], ...).
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<Store> {
        Store::open_with(StdFs, dir, config)
    }

    /// A producer on this store. Maintenance (a [`maintain`](Self::maintain) call or the
    /// background thread) appends its batches once `linger.ms` has passed, so records of an
    /// idle producer do not wait for its next call.
    ///
    /// # Errors
    /// As [`Producer::new`](super::Producer::new).
    pub fn producer(&self, config: super::ProducerConfig) -> Result<super::Producer> {
        super::Producer::new(self, config)
    }
}

impl<S: Storage> Store<S> {
    /// As [`open`](Store::open), through `storage`: the file-system seam every file access
    /// goes through (the reliability suite's fault-injecting and power-loss layers wrap the
    /// real one). The producer and consumer layers work on stores of the real file system.
    ///
    /// # Errors
    /// As [`open`](Store::open).
    pub fn open_with(storage: S, dir: impl AsRef<Path>, config: StoreConfig) -> Result<Self> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        storage.create_dir_all(&dir)?;
        let lock = storage.lock_dir(&dir)?;
        let clean_marker = log_dir::read_clean_shutdown(&storage, &dir)?;
        let clean = clean_marker.is_some();
        let recovery_points = log_dir::read_recovery_points(&storage, &dir)?;
        let log_starts = log_dir::read_log_starts(&storage, &dir)?;
        if clean {
            // Removed before the first write, so a crash from here on is seen as one.
            storage.remove_file(&dir.join(CLEAN_SHUTDOWN_FILE))?;
            storage.sync_dir(&dir)?;
        }
        let records = metadata::read(&storage, &dir)?.unwrap_or_default();
        let now = config.clock.now_ms();
        let inner = Inner {
            dir,
            storage,
            config,
            lock: Mutex::new(lock),
            topics: RwLock::new(BTreeMap::new()),
            admin: Mutex::new(()),
            checkpoints: Mutex::new(()),
            closed: AtomicBool::new(false),
            close_outcome: Mutex::new(None),
            last_error: Mutex::new(None),
            last_retention_ms: AtomicI64::new(now),
            last_recovery_checkpoint_ms: AtomicI64::new(now),
            last_start_checkpoint_ms: AtomicI64::new(now),
            maintenance: Mutex::new(None),
            stop: (Mutex::new(false), Condvar::new()),
            producers: Mutex::new(Vec::new()),
            id_counter: AtomicU64::new(0),
            signal: Arc::default(),
        };
        let inner = Arc::new(inner);
        let store = Store {
            _handles: Some(Arc::new(HandleGuard {
                inner: Arc::clone(&inner),
            })),
            inner,
        };
        if let Err(e) = store.load(records, clean, &recovery_points, &log_starts) {
            if let Some(bytes) = &clean_marker {
                // Nothing was appended: the directory is as cleanly shut down as it was
                // found. Put the marker back, so that an open that failed (damage found, a
                // bad config) does not make the next one a recovery, which could cut what a
                // clean shutdown had promised.
                let dir = &store.inner.dir;
                if let Err(w) = log_dir::restore_clean_shutdown(&store.inner.storage, dir, bytes) {
                    log::warn!(
                        "{}: cannot restore the clean-shutdown marker: {w}",
                        dir.display()
                    );
                }
            }
            return Err(e);
        }
        let unrecorded = store
            .all_logs()
            .iter()
            .any(|(t, p, _)| !recovery_points.contains_key(&(t.clone(), *p)));
        if unrecorded {
            // A partition without a recovery point could not tell, after power loss, a torn
            // segment from damaged durable data: give it one now.
            store.write_recovery_checkpoint()?;
        }
        if store.inner.config.background_maintenance {
            store.start_maintenance_thread();
        }
        Ok(store)
    }

    /// Loads topics from the metadata records and the partition directories present.
    fn load(
        &self,
        records: Vec<TopicRecord>,
        clean: bool,
        recovery_points: &OffsetMap,
        log_starts: &OffsetMap,
    ) -> Result<()> {
        let inner = &self.inner;
        let mut dirs: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for name in inner.storage.read_dir(&inner.dir)? {
            let Some(name) = name.to_str() else { continue };
            let Some(parsed) = PartitionDirName::parse(name) else {
                continue;
            };
            match parsed.kind() {
                PartitionDirKind::Live => dirs
                    .entry(parsed.topic().to_string())
                    .or_default()
                    .push(parsed.partition()),
                PartitionDirKind::Delete(_) => {
                    // An interrupted topic deletion: finish it.
                    inner.storage.remove_dir_all(&inner.dir.join(name))?;
                }
                PartitionDirKind::Future(_) | PartitionDirKind::Stray(_) => {
                    log::info!("leaving Kafka's {name} alone");
                }
            }
        }
        let mut known: Vec<TopicRecord> = Vec::new();
        let mut changed = false;
        for record in records {
            if record.deleting {
                self.remove_partition_dirs(&record.name, record.partitions)?;
                dirs.remove(&record.name);
                changed = true;
                continue;
            }
            dirs.remove(&record.name);
            known.push(record);
        }
        // Topics of a Kafka directory that tidelog has not recorded yet.
        for (name, partitions) in dirs {
            let Some((count, config)) = kafka_topics::found_topic(&inner.dir, &name, &partitions)?
            else {
                continue;
            };
            let id = self
                .read_partition_topic_id(&name, &partitions)?
                .unwrap_or(self.new_topic_id()?);
            known.push(TopicRecord {
                name,
                id,
                partitions: count,
                deleting: false,
                origin: Origin::Kafka,
                config,
            });
            changed = true;
        }
        let mut topics = BTreeMap::new();
        for record in &known {
            let topic = self.open_topic(record, clean, recovery_points, log_starts)?;
            topics.insert(record.name.clone(), Arc::new(topic));
        }
        *inner.topics.write() = topics;
        if changed {
            metadata::write(&inner.storage, &inner.dir, &known)?;
        }
        Ok(())
    }

    fn open_topic(
        &self,
        record: &TopicRecord,
        clean: bool,
        recovery_points: &OffsetMap,
        log_starts: &OffsetMap,
    ) -> Result<Topic<S>> {
        let inner = &self.inner;
        let log_config =
            kafka_topics::log_config(&record.config, record.origin, &inner.config.log)?;
        let foreign = record.origin == Origin::Kafka;
        let mut partitions = Vec::with_capacity(record.partitions as usize);
        for p in 0..record.partitions as i32 {
            let dir_name = PartitionDirName::new(&record.name, p)?.to_string();
            let dir = inner.dir.join(&dir_name);
            let exists = inner.storage.exists(&dir)?;
            if !exists && (foreign || record.name == CONSUMER_OFFSETS_TOPIC) {
                // A broker holds any subset of a topic's partitions: the others are created
                // on first use, never by an open.
                partitions.push(None);
                continue;
            }
            let key = (record.name.clone(), p);
            let recovery_point = recovery_points.get(&key).copied();
            let log = Log::open_with(
                inner.storage.clone(),
                &dir,
                log_config.clone(),
                LogOpenOptions {
                    recovery_point,
                    log_start_offset: log_starts.get(&key).copied(),
                    clean_shutdown: clean && recovery_point.is_some(),
                    repair: inner.config.repair,
                    clock: Arc::clone(&inner.config.clock),
                },
            )?;
            log.set_append_signal(Arc::clone(&inner.signal));
            // A Kafka partition's own `partition.metadata` (or its absence, before topic ids)
            // is the broker's: an id written here would make the broker refuse the partition.
            if !foreign
                && (!exists
                    || PartitionMetadata::read(&inner.storage, &dir.join(PARTITION_METADATA_FILE))?
                        .is_none())
            {
                PartitionMetadata {
                    topic_id: record.id,
                }
                .write(&inner.storage, &dir.join(PARTITION_METADATA_FILE))?;
            }
            partitions.push(Some(Arc::new(log)));
        }
        Ok(Topic {
            name: record.name.clone(),
            id: record.id,
            config: RwLock::new(record.config.clone()),
            log_config: RwLock::new(log_config),
            partitions: RwLock::new(partitions),
            foreign,
        })
    }

    fn read_partition_topic_id(&self, topic: &str, partitions: &[i32]) -> Result<Option<TopicId>> {
        for &p in partitions {
            let path = self
                .inner
                .dir
                .join(PartitionDirName::new(topic, p)?.to_string())
                .join(PARTITION_METADATA_FILE);
            if let Ok(Some(m)) = PartitionMetadata::read(&self.inner.storage, &path) {
                return Ok(Some(m.topic_id));
            }
        }
        Ok(None)
    }

    /// A fresh random topic id (no RNG crate: the standard library's randomly seeded hasher
    /// over the time, the process id and a counter).
    fn new_topic_id(&self) -> Result<TopicId> {
        let seed = std::collections::hash_map::RandomState::new();
        let mut bytes = [0u8; 16];
        for half in 0..2 {
            let mut h = seed.build_hasher();
            h.write_u64(self.inner.id_counter.fetch_add(1, Ordering::Relaxed));
            h.write_u32(std::process::id());
            h.write_i64(self.inner.config.clock.now_ms());
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            bytes[half * 8..half * 8 + 8].copy_from_slice(&h.finish().to_be_bytes());
        }
        if bytes == [0; 16] {
            bytes[15] = 1;
        }
        TopicId::new(bytes)
    }

    /// Lets maintenance append `producer`'s lingering batches, and close its pending ones.
    pub(crate) fn register_producer(&self, producer: super::LingerHandle) {
        let mut producers = self.inner.producers.lock();
        producers.retain(|p| p.is_alive());
        producers.push(producer);
    }

    /// True once [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The store's config.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// The signal every partition of this store bumps after each append and on close: a
    /// reader tailing several partitions reads its [`seq`](AppendSignal::seq), looks at
    /// them, and waits with [`wait_past`](AppendSignal::wait_past) if none has data (as
    /// [`Consumer::poll`](crate::consumer::Consumer::poll) does).
    pub fn append_signal(&self) -> Arc<AppendSignal> {
        Arc::clone(&self.inner.signal)
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    fn records(&self) -> Vec<TopicRecord> {
        self.inner
            .topics
            .read()
            .values()
            .map(|t| TopicRecord {
                name: t.name.clone(),
                id: t.id,
                partitions: t.partition_count(),
                deleting: false,
                origin: if t.foreign {
                    Origin::Kafka
                } else {
                    Origin::Tidelog
                },
                config: t.config.read().clone(),
            })
            .collect()
    }

    /// Creates a topic with `partitions` partitions and per-topic config overrides.
    ///
    /// # Errors
    /// [`Error::InvalidTopicName`] (also for Kafka's internal topics and names colliding
    /// with them or with an existing topic); [`Error::TopicExists`];
    /// [`Error::InvalidArgument`] for zero partitions; [`Error::InvalidConfig`]; I/O errors.
    pub fn create_topic(&self, name: &str, partitions: u32, config: TopicConfig) -> Result<()> {
        if INTERNAL_TOPICS.iter().any(|t| unified(t) == unified(name)) {
            return Err(Error::InvalidTopicName {
                name: name.to_string(),
                reason: "an internal topic (or a name colliding with one): the store creates it",
            });
        }
        self.create(name, partitions, config)
    }

    /// Creates Kafka's internal [`CONSUMER_OFFSETS_TOPIC`] as Kafka does, unless it exists:
    /// compacted (never subject to retention), [`OFFSETS_TOPIC_SEGMENT_BYTES`] segments, and
    /// the store's `offsets_topic_num_partitions` partitions. The consumer layer calls it at a
    /// group's first commit.
    ///
    /// # Errors
    /// I/O errors; [`Error::Closed`].
    pub fn create_offsets_topic(&self) -> Result<()> {
        if self.has_topic(CONSUMER_OFFSETS_TOPIC) {
            return Ok(());
        }
        let config = TopicConfig::default()
            .with("cleanup.policy", "compact")?
            .with("segment.bytes", &OFFSETS_TOPIC_SEGMENT_BYTES.to_string())?;
        let partitions = self.inner.config.offsets_topic_num_partitions;
        match self.create(CONSUMER_OFFSETS_TOPIC, partitions, config) {
            Ok(()) | Err(Error::TopicExists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn create(&self, name: &str, partitions: u32, config: TopicConfig) -> Result<()> {
        self.check_open()?;
        validate_topic(name)?;
        if partitions == 0 || partitions > MAX_PARTITIONS {
            return Err(Error::InvalidArgument(format!(
                "a topic needs 1..={MAX_PARTITIONS} partitions, not {partitions}"
            )));
        }
        let _admin = self.inner.admin.lock();
        if self.inner.topics.read().contains_key(name) {
            return Err(Error::TopicExists {
                topic: name.to_string(),
            });
        }
        // Kafka's rule: '.' and '_' collide in metric names, so `a.b` and `a_b` cannot both
        // exist.
        if self
            .inner
            .topics
            .read()
            .keys()
            .any(|t| unified(t) == unified(name))
        {
            return Err(Error::InvalidTopicName {
                name: name.to_string(),
                reason: "collides with an existing topic ('.' and '_' are the same to Kafka)",
            });
        }
        config.apply(&self.inner.config.log)?;
        let record = TopicRecord {
            name: name.to_string(),
            id: self.new_topic_id()?,
            partitions,
            deleting: false,
            origin: Origin::Tidelog,
            config,
        };
        // The metadata file is the commit point: partition directories missing after a crash
        // are created by the next open.
        let mut records = self.records();
        records.push(record.clone());
        metadata::write(&self.inner.storage, &self.inner.dir, &records)?;
        crate::failpoint::failpoint!("topic.create.after_metadata");
        let topic = self.open_topic(&record, false, &HashMap::new(), &HashMap::new())?;
        self.inner.storage.sync_dir(&self.inner.dir)?;
        self.inner
            .topics
            .write()
            .insert(name.to_string(), Arc::new(topic));
        // Every partition gets a recovery point at once, not at the first periodic checkpoint.
        self.write_recovery_checkpoint()
    }

    /// Deletes a topic and its data. Safe if interrupted: the metadata marks the topic as
    /// being deleted first, partition directories are renamed to Kafka's `-delete` form and
    /// removed, and the next open finishes whatever was left.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`]; I/O errors.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        self.check_open()?;
        let _admin = self.inner.admin.lock();
        let Some(topic) = self.inner.topics.read().get(name).cloned() else {
            return Err(Error::UnknownTopic {
                topic: name.to_string(),
            });
        };
        let mut records = self.records();
        for r in records.iter_mut().filter(|r| r.name == name) {
            r.deleting = true;
        }
        metadata::write(&self.inner.storage, &self.inner.dir, &records)?;
        crate::failpoint::failpoint!("topic.delete.after_mark");
        self.inner.topics.write().remove(name);
        // Handles taken before the deletion must not write on: an append would be
        // acknowledged and lost, or land in the directory of a topic created anew under
        // the same name. Closed, they refuse writes; their readers keep what they hold.
        for log in topic.partitions.read().iter().flatten() {
            if let Err(e) = log.close() {
                log::debug!("{}: closing a deleted partition: {e}", log.dir().display());
            }
        }
        self.remove_partition_dirs(name, topic.partition_count())?;
        records.retain(|r| r.name != name);
        metadata::write(&self.inner.storage, &self.inner.dir, &records)?;
        Ok(())
    }

    fn remove_partition_dirs(&self, topic: &str, partitions: u32) -> Result<()> {
        let storage = &self.inner.storage;
        for p in 0..partitions as i32 {
            let live = PartitionDirName::new(topic, p)?;
            let from = self.inner.dir.join(live.to_string());
            if !storage.exists(&from)? {
                continue;
            }
            let id = crate::segment::DirId(u128::from_be_bytes(self.new_topic_id()?.to_bytes()));
            let to = self.inner.dir.join(
                live.clone()
                    .with_kind(PartitionDirKind::Delete(id))
                    .to_string(),
            );
            storage.rename(&from, &to)?;
            crate::failpoint::failpoint!("topic.delete.after_rename");
            storage.sync_dir(&self.inner.dir)?;
            storage.remove_dir_all(&to)?;
        }
        storage.sync_dir(&self.inner.dir)
    }

    /// Raises a topic's partition count to `partitions`.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`]; [`Error::InvalidArgument`] if `partitions` is not larger.
    pub fn add_partitions(&self, name: &str, partitions: u32) -> Result<()> {
        self.check_open()?;
        let _admin = self.inner.admin.lock();
        let topic = self.topic(name)?;
        let current = topic.partition_count();
        if partitions <= current || partitions > MAX_PARTITIONS {
            return Err(Error::InvalidArgument(format!(
                "topic {name:?} has {current} partitions; the new count must be larger, and \
                 at most {MAX_PARTITIONS}"
            )));
        }
        let mut records = self.records();
        for r in records.iter_mut().filter(|r| r.name == name) {
            r.partitions = partitions;
        }
        metadata::write(&self.inner.storage, &self.inner.dir, &records)?;
        {
            let mut logs = topic.partitions.write();
            for p in current as i32..partitions as i32 {
                logs.push(Some(self.create_partition(&topic, p)?));
            }
        }
        self.write_recovery_checkpoint()
    }

    fn create_partition(&self, topic: &Topic<S>, partition: i32) -> Result<Arc<Log<S>>> {
        let dir = self
            .inner
            .dir
            .join(PartitionDirName::new(&topic.name, partition)?.to_string());
        let log = Log::open_with(
            self.inner.storage.clone(),
            &dir,
            topic.log_config.read().clone(),
            LogOpenOptions {
                clock: Arc::clone(&self.inner.config.clock),
                ..Default::default()
            },
        )?;
        log.set_append_signal(Arc::clone(&self.inner.signal));
        PartitionMetadata { topic_id: topic.id }
            .write(&self.inner.storage, &dir.join(PARTITION_METADATA_FILE))?;
        self.inner.storage.sync_dir(&self.inner.dir)?;
        Ok(Arc::new(log))
    }

    /// Topic names, sorted.
    pub fn list_topics(&self) -> Vec<String> {
        self.inner.topics.read().keys().cloned().collect()
    }

    pub(crate) fn topic(&self, name: &str) -> Result<Arc<Topic<S>>> {
        self.inner
            .topics
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownTopic {
                topic: name.to_string(),
            })
    }

    /// True if the topic exists.
    pub fn has_topic(&self, name: &str) -> bool {
        self.inner.topics.read().contains_key(name)
    }

    /// A topic's partitions, offsets, sizes and config.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`].
    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        let topic = self.topic(name)?;
        let partitions = topic
            .partitions
            .read()
            .iter()
            .enumerate()
            .map(|(p, log)| PartitionDescription {
                partition: p as i32,
                stats: log.as_ref().map(|l| l.stats()),
            })
            .collect();
        let config = topic.config.read().clone();
        Ok(TopicDescription {
            name: topic.name.clone(),
            id: topic.id,
            config,
            foreign: topic.foreign,
            partitions,
        })
    }

    /// Replaces a topic's config overrides (Kafka's `kafka-configs --alter`), and applies
    /// them to its partition logs at once: appends, rolls, flushes, retention and reads
    /// follow them from now on (segments already there keep their index sizes). What is
    /// not overridden comes from the store's defaults. This is how a topic found in a Kafka
    /// directory, kept without retention, gets some: give it `retention.ms`.
    ///
    /// ```
    /// use tidelog::config::{StoreConfig, TopicConfig};
    /// use tidelog::store::Store;
    /// # let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("events", 1, TopicConfig::default())?;
    /// store.alter_topic_config("events", TopicConfig::default().with("retention.ms", "3600000")?)?;
    /// assert_eq!(store.log("events", 0)?.config().retention_ms, 3_600_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownTopic`]; [`Error::InvalidConfig`] (nothing changes); I/O errors
    /// writing the metadata file (nothing changes either: it is the commit point).
    pub fn alter_topic_config(&self, name: &str, config: TopicConfig) -> Result<()> {
        self.check_open()?;
        let _admin = self.inner.admin.lock();
        let topic = self.topic(name)?;
        let origin = if topic.foreign {
            Origin::Kafka
        } else {
            Origin::Tidelog
        };
        let log_config = kafka_topics::log_config(&config, origin, &self.inner.config.log)?;
        let mut records = self.records();
        for r in records.iter_mut().filter(|r| r.name == name) {
            r.config = config.clone();
        }
        metadata::write(&self.inner.storage, &self.inner.dir, &records)?;
        *topic.config.write() = config;
        *topic.log_config.write() = log_config.clone();
        for log in topic.partitions.read().iter().flatten() {
            log.set_config(log_config.clone())?;
        }
        Ok(())
    }

    /// The number of partitions of a topic.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`].
    pub fn partition_count(&self, name: &str) -> Result<u32> {
        Ok(self.topic(name)?.partition_count())
    }

    /// The log of one partition, for servers and tools.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::UnknownPartition`], [`Error::Closed`].
    pub fn log(&self, topic: &str, partition: i32) -> Result<Arc<Log<S>>> {
        self.check_open()?;
        let t = self.topic(topic)?;
        let unknown = |partitions: u32| Error::UnknownPartition {
            topic: topic.to_string(),
            partition,
            partitions,
        };
        let index = usize::try_from(partition).map_err(|_| unknown(t.partition_count()))?;
        if let Some(Some(log)) = t.partitions.read().get(index) {
            return Ok(Arc::clone(log));
        }
        let mut logs = t.partitions.write();
        match logs.get(index) {
            None => Err(unknown(logs.len() as u32)),
            Some(Some(log)) => Ok(Arc::clone(log)),
            Some(None) => {
                let log = self.create_partition(&t, partition)?;
                logs[index] = Some(Arc::clone(&log));
                Ok(log)
            }
        }
    }

    /// Appends an already-encoded batch to one partition (for servers), never
    /// recompressing it.
    ///
    /// # Errors
    /// As [`log`](Self::log) and [`Log::append_batch`].
    pub fn append_batch(
        &self,
        topic: &str,
        partition: i32,
        batch: &[u8],
        validation: Validation,
    ) -> Result<AppendInfo> {
        self.log(topic, partition)?.append_batch(batch, validation)
    }

    /// Every open partition log, with its topic and partition.
    fn all_logs(&self) -> Vec<(String, i32, Arc<Log<S>>)> {
        let topics = self.inner.topics.read();
        let mut out = Vec::new();
        for t in topics.values() {
            for (p, log) in t.partitions.read().iter().enumerate() {
                if let Some(log) = log {
                    out.push((t.name.clone(), p as i32, Arc::clone(log)));
                }
            }
        }
        out
    }

    /// Flushes every partition.
    ///
    /// # Errors
    /// The first partition's flush error.
    pub fn flush(&self) -> Result<()> {
        for (_, _, log) in self.all_logs() {
            log.flush()?;
        }
        Ok(())
    }

    /// One pass of maintenance: flushes partitions whose `flush.ms` has passed, applies
    /// retention (every `log.retention.check.interval.ms`) to topics whose cleanup policy
    /// includes delete, and writes the recovery-point and log-start checkpoints when their
    /// intervals have passed. The background thread, when enabled, calls this.
    ///
    /// # Errors
    /// The first error met; the pass still visits every partition, and the error is also
    /// kept for [`last_error`](Self::last_error).
    pub fn maintain(&self) -> Result<MaintenanceReport> {
        self.check_open()?;
        let inner = &self.inner;
        let now = inner.config.clock.now_ms();
        let mut report = MaintenanceReport::default();
        let mut first_error = None;
        let retention_due = now - inner.last_retention_ms.load(Ordering::Acquire)
            >= inner.config.retention_check_interval_ms as i64;
        let producers: Vec<super::LingerHandle> = {
            let mut list = inner.producers.lock();
            list.retain(|p| p.is_alive());
            list.clone()
        };
        for producer in &producers {
            if let Err(e) = producer.flush_expired() {
                first_error = first_error.or(Some(e));
            }
        }
        let topics: Vec<Arc<Topic<S>>> = inner.topics.read().values().cloned().collect();
        for topic in &topics {
            let logs: Vec<Arc<Log<S>>> =
                topic.partitions.read().iter().flatten().cloned().collect();
            for log in logs {
                match log.flush_if_due() {
                    Ok(true) => report.flushed += 1,
                    Ok(false) => {}
                    Err(e) => first_error = first_error.or(Some(e)),
                }
                if retention_due && topic.config.read().cleanup_policy().delete {
                    match log.apply_retention() {
                        Ok(r) => {
                            report.segments_deleted += r.segments_deleted;
                            report.bytes_deleted += r.bytes_deleted;
                        }
                        Err(e) => first_error = first_error.or(Some(e)),
                    }
                }
            }
        }
        if retention_due {
            inner.last_retention_ms.store(now, Ordering::Release);
        }
        if now - inner.last_recovery_checkpoint_ms.load(Ordering::Acquire)
            >= inner.config.flush_offset_checkpoint_interval_ms as i64
        {
            match self.write_recovery_checkpoint() {
                Ok(()) => report.checkpoints_written += 1,
                Err(e) => first_error = first_error.or(Some(e)),
            }
            inner
                .last_recovery_checkpoint_ms
                .store(now, Ordering::Release);
        }
        if now - inner.last_start_checkpoint_ms.load(Ordering::Acquire)
            >= inner.config.flush_start_offset_checkpoint_interval_ms as i64
        {
            match self.write_log_start_checkpoint() {
                Ok(()) => report.checkpoints_written += 1,
                Err(e) => first_error = first_error.or(Some(e)),
            }
            inner.last_start_checkpoint_ms.store(now, Ordering::Release);
        }
        match first_error {
            None => Ok(report),
            Some(e) => {
                *inner.last_error.lock() = Some(Arc::new(e.duplicate()));
                Err(e)
            }
        }
    }

    /// The last error the background maintenance thread met, if any.
    pub fn last_error(&self) -> Option<Arc<Error>> {
        self.inner.last_error.lock().clone()
    }

    /// Writes `recovery-point-offset-checkpoint` from every partition's durable offset.
    fn write_recovery_checkpoint(&self) -> Result<()> {
        let _serial = self.inner.checkpoints.lock();
        self.check_open()?;
        let offsets: OffsetMap = self
            .all_logs()
            .into_iter()
            .map(|(t, p, log)| ((t, p), log.recovery_point()))
            .collect();
        log_dir::write_offsets(
            &self.inner.storage,
            &self.inner.dir,
            RECOVERY_POINT_CHECKPOINT_FILE,
            &offsets,
        )
    }

    /// Writes `log-start-offset-checkpoint` with every partition's log start. Kafka writes
    /// only those above the first segment's base, counting on the segments below to stay
    /// deleted; but their removal is durable only at the partition directory's next fsync,
    /// and a power loss before it brings them back, moving the log start back below what
    /// was checkpointed. Kafka reads either form.
    fn write_log_start_checkpoint(&self) -> Result<()> {
        let _serial = self.inner.checkpoints.lock();
        self.check_open()?;
        let offsets: OffsetMap = self
            .all_logs()
            .into_iter()
            .map(|(t, p, log)| ((t, p), log.log_start_offset()))
            .collect();
        log_dir::write_offsets(
            &self.inner.storage,
            &self.inner.dir,
            LOG_START_OFFSET_CHECKPOINT_FILE,
            &offsets,
        )
    }

    fn start_maintenance_thread(&self) {
        let weak = Arc::downgrade(&self.inner);
        let interval = Duration::from_millis(self.inner.config.maintenance_interval_ms);
        let handle = std::thread::Builder::new()
            .name("tidelog-maintenance".into())
            .spawn(move || loop {
                let Some(inner) = weak.upgrade() else { return };
                {
                    let mut stopped = inner.stop.0.lock();
                    if !*stopped {
                        inner.stop.1.wait_for(&mut stopped, interval);
                    }
                    if *stopped {
                        return;
                    }
                }
                let store = Store {
                    _handles: None,
                    inner,
                };
                if let Err(e) = store.maintain() {
                    log::error!("{}: maintenance failed: {e}", store.dir().display());
                }
            });
        match handle {
            Ok(h) => *self.inner.maintenance.lock() = Some(h),
            Err(e) => {
                log::error!("cannot start the maintenance thread: {e}");
                *self.inner.last_error.lock() =
                    Some(Arc::new(Error::io("spawn", &self.inner.dir, e)));
            }
        }
    }

    /// Closes the store cleanly: stops maintenance, closes every partition (trimmed
    /// indexes, everything fsynced), writes the checkpoints and then Kafka's clean-shutdown
    /// marker, so the next open scans nothing. Blocked `wait_for` calls return. Later calls
    /// return what the first returned.
    ///
    /// # Errors
    /// The first partition's close error; the clean-shutdown marker is then not written and
    /// the next open recovers.
    pub fn close(&self) -> Result<()> {
        let mut outcome = self.inner.close_outcome.lock();
        if let Some(first) = outcome.as_ref() {
            return first.clone().map_err(|e| e.duplicate());
        }
        // Records sent to this store's producers but still batched go in while the store
        // is open; a failure reaches their receipts (and the producer's next flush).
        let producers: Vec<super::LingerHandle> = self.inner.producers.lock().drain(..).collect();
        for producer in producers {
            if let Err(e) = producer.flush_all() {
                log::warn!(
                    "{}: a producer's pending batch failed on close: {e}",
                    self.dir().display()
                );
            }
        }
        self.inner.closed.store(true, Ordering::Release);
        let result = self.close_once();
        *outcome = Some(
            result
                .as_ref()
                .map_err(|e| Arc::new(e.duplicate()))
                .copied(),
        );
        result
    }

    fn close_once(&self) -> Result<()> {
        self.inner.stop_maintenance();
        let _admin = self.inner.admin.lock();
        let mut recovery = OffsetMap::new();
        let mut starts = OffsetMap::new();
        let mut first_error = None;
        for (t, p, log) in self.all_logs() {
            match log.close() {
                Ok(state) => {
                    recovery.insert((t.clone(), p), state.recovery_point);
                    // Every partition's, as `write_log_start_checkpoint` (see there).
                    starts.insert((t, p), state.log_start_offset);
                }
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        crate::failpoint::failpoint!("store.close.after_logs");
        let storage = &self.inner.storage;
        let dir = &self.inner.dir;
        {
            let _serial = self.inner.checkpoints.lock();
            log_dir::write_offsets(storage, dir, RECOVERY_POINT_CHECKPOINT_FILE, &recovery)?;
            log_dir::write_offsets(storage, dir, LOG_START_OFFSET_CHECKPOINT_FILE, &starts)?;
            log_dir::write_clean_shutdown(storage, dir)?;
        }
        self.inner.lock.lock().take();
        self.inner.signal.notify();
        Ok(())
    }
}

impl<S: Storage> Inner<S> {
    fn stop_maintenance(&self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(h) = self.maintenance.lock().take() {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

impl<S: Storage> Drop for Inner<S> {
    fn drop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
    }
}
