//! [`ReadOnlyStore`]: a store's topics and partitions, read beside a live writer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use super::kafka_topics;
use super::log_dir::{self, OffsetMap, CLEAN_SHUTDOWN_FILE};
use super::metadata::{self, Origin};
use super::store::Store;
use super::topic::PartitionDescription;
use crate::checkpoint::{PartitionMetadata, TopicId, PARTITION_METADATA_FILE};
use crate::config::{LogConfig, StoreConfig, TopicConfig};
use crate::error::{Error, Result};
use crate::io::{StdFs, Storage};
use crate::log::Log;
use crate::segment::{PartitionDirKind, PartitionDirName};

/// A store opened read-only: topics, partition counts and partition logs of a data directory
/// that another process (or a writable [`Store`] in this one) may be writing, as Kafka's
/// tools read a live broker's log directory.
///
/// It takes no lock and never creates, writes, renames or deletes anything: topics come
/// from tidelog's metadata file and the `<topic>-<partition>` directories, as a writable
/// store finds them, and each partition is a read-only [`Log`]
/// ([`Log::open_read_only`]: positional reads only, no mappings), opened on first use.
/// [`refresh`](Self::refresh) catches up with the writer: new and deleted topics, added
/// partitions, new data, rolls and retention. A tailing reader can also call
/// [`Log::wait_for`] on one partition's log, which refreshes that log until data arrives.
///
/// A bad batch at the end of a partition's last segment reads as the end of the log (the
/// writer's append in flight, or a crash's torn tail), unless the store's files say it
/// cannot be: it lies below the partition's recovery point, or the writer closed cleanly.
/// Then opening or refreshing the partition fails with [`Error::Corrupt`], as it does for
/// damage the log itself can tell from a torn append (see [`Log::open_read_only`]).
///
/// `ReadOnlyStore` is a cheap handle (`Clone`, `Send + Sync`). Dropping it needs no close.
///
/// ```
/// use tidelog::config::{StoreConfig, TopicConfig};
/// use tidelog::log::AppendOptions;
/// use tidelog::record::Record;
/// use tidelog::store::{ReadOnlyStore, Store};
/// # let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), StoreConfig::default())?;
/// store.create_topic("orders", 1, TopicConfig::default())?;
/// let reader = ReadOnlyStore::open(dir.path())?; // beside the live writer, no lock
/// let log = reader.log("orders", 0)?;
/// store.log("orders", 0)?.append(&[Record::new(1, b"hi".to_vec())], &AppendOptions::default())?;
/// assert!(log.wait_for(0, std::time::Duration::from_secs(5)));
/// assert_eq!(log.read(0, 1 << 20)?.records().count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReadOnlyStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    storage: StdFs,
    config: StoreConfig,
    state: RwLock<State>,
}

/// What the last open or refresh found.
#[derive(Debug, Default)]
struct State {
    topics: BTreeMap<String, Arc<ReadOnlyTopic>>,
    /// Kafka's `recovery-point-offset-checkpoint`, or empty.
    recovery_points: OffsetMap,
    /// Kafka's `log-start-offset-checkpoint`, or empty.
    log_starts: OffsetMap,
    /// True if `.kafka_cleanshutdown` is there: no writer has the directory open.
    clean: bool,
}

/// One topic as the reader sees it.
#[derive(Debug)]
struct ReadOnlyTopic {
    name: String,
    id: Option<TopicId>,
    config: TopicConfig,
    log_config: LogConfig,
    foreign: bool,
    /// One entry per partition: the log once opened.
    logs: RwLock<Vec<Option<Arc<Log>>>>,
}

/// A topic as the metadata file and the directories describe it.
#[derive(Debug)]
struct Found {
    name: String,
    id: Option<TopicId>,
    partitions: u32,
    config: TopicConfig,
    foreign: bool,
}

/// What [`ReadOnlyStore::describe_topic`] reports: as
/// [`TopicDescription`](super::TopicDescription), except that the topic id may be unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOnlyTopicDescription {
    /// The topic's name.
    pub name: String,
    /// Its id, from tidelog's metadata or a `partition.metadata` file; `None` for a topic of
    /// a Kafka directory written before topic ids (a writable open assigns one).
    pub id: Option<TopicId>,
    /// The config overrides.
    pub config: TopicConfig,
    /// True if the topic was found in a Kafka log directory rather than created by tidelog.
    pub foreign: bool,
    /// Each partition, in order; `stats` is `None` for a partition without a directory.
    pub partitions: Vec<PartitionDescription>,
}

impl Store {
    /// Opens the store in `dir` read-only, beside a live writer or none: see
    /// [`ReadOnlyStore::open`].
    ///
    /// # Errors
    /// As [`ReadOnlyStore::open`].
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<ReadOnlyStore> {
        ReadOnlyStore::open(dir)
    }
}

impl ReadOnlyStore {
    /// Opens the store in `dir` read-only with the default config: no lock, nothing written.
    ///
    /// # Errors
    /// As [`open_with`](Self::open_with).
    pub fn open(dir: impl AsRef<Path>) -> Result<ReadOnlyStore> {
        ReadOnlyStore::open_with(dir, StoreConfig::default())
    }

    /// Opens the store in `dir` read-only; `config.log` supplies the defaults each topic's
    /// overrides apply to (as for a writable store; a reader needs few of them). Reads the
    /// metadata file, the partition directories and Kafka's checkpoints; partition logs are
    /// opened on first use.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`]; I/O errors (`NotFound` if `dir` is missing);
    /// [`Error::Corrupt`] for a damaged metadata file.
    pub fn open_with(dir: impl AsRef<Path>, config: StoreConfig) -> Result<ReadOnlyStore> {
        config.validate()?;
        let store = ReadOnlyStore {
            inner: Arc::new(Inner {
                dir: dir.as_ref().to_path_buf(),
                storage: StdFs,
                config,
                state: RwLock::new(State::default()),
            }),
        };
        store.reload()?;
        Ok(store)
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Topic names, sorted.
    pub fn list_topics(&self) -> Vec<String> {
        self.inner.state.read().topics.keys().cloned().collect()
    }

    /// True if the topic exists (as of the last open or refresh).
    pub fn has_topic(&self, name: &str) -> bool {
        self.inner.state.read().topics.contains_key(name)
    }

    /// The number of partitions of a topic.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`].
    pub fn partition_count(&self, name: &str) -> Result<u32> {
        Ok(self.topic(name)?.logs.read().len() as u32)
    }

    /// The read-only log of one partition, opened on first use and shared afterwards.
    /// [`Log::refresh`] (or this store's [`refresh`](Self::refresh)) catches it up with the
    /// writer; [`Log::wait_for`] polls it.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::UnknownPartition`]; I/O errors (`NotFound` for a
    /// partition without a directory yet); errors of [`Log::open_read_only`];
    /// [`Error::Corrupt`] if the last segment ends in a bad batch below the partition's
    /// recovery point (`recovery-point-offset-checkpoint`), or after a clean shutdown
    /// (`.kafka_cleanshutdown`): data the writer made durable cannot be a torn append.
    pub fn log(&self, topic: &str, partition: i32) -> Result<Arc<Log>> {
        let t = self.topic(topic)?;
        let unknown = |partitions: usize| Error::UnknownPartition {
            topic: topic.to_string(),
            partition,
            partitions: partitions as u32,
        };
        let index = usize::try_from(partition).map_err(|_| unknown(t.logs.read().len()))?;
        if let Some(Some(log)) = t.logs.read().get(index) {
            return Ok(Arc::clone(log));
        }
        let mut logs = t.logs.write();
        let len = logs.len();
        let slot = logs.get_mut(index).ok_or_else(|| unknown(len))?;
        if let Some(log) = slot {
            return Ok(Arc::clone(log));
        }
        let dir = self.partition_dir(topic, partition)?;
        let log = Arc::new(Log::open_read_only(dir, t.log_config.clone())?);
        self.apply_checkpoints(topic, partition, &log);
        self.check_tail(topic, partition, &log)?;
        *slot = Some(Arc::clone(&log));
        Ok(log)
    }

    /// A topic's id, partitions (with their offsets and sizes; opening each partition's log
    /// that has a directory) and config.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`]; errors of [`log`](Self::log).
    pub fn describe_topic(&self, name: &str) -> Result<ReadOnlyTopicDescription> {
        let topic = self.topic(name)?;
        let count = topic.logs.read().len();
        let mut partitions = Vec::with_capacity(count);
        for p in 0..count as i32 {
            let exists = self.inner.storage.exists(&self.partition_dir(name, p)?)?;
            let stats = if exists {
                Some(self.log(name, p)?.stats())
            } else {
                None
            };
            partitions.push(PartitionDescription {
                partition: p,
                stats,
            });
        }
        Ok(ReadOnlyTopicDescription {
            name: topic.name.clone(),
            id: topic.id,
            config: topic.config.clone(),
            foreign: topic.foreign,
            partitions,
        })
    }

    /// Catches up with the writer: reads the metadata file, the partition directories and
    /// the checkpoints again (topics created, deleted or given more partitions appear as
    /// such; a topic recreated under the same name gets fresh logs), then
    /// [refreshes](Log::refresh) every partition log opened so far. Logs handed out before
    /// stay usable; those of a deleted topic keep reading what they hold open.
    ///
    /// # Errors
    /// As [`open_with`](Self::open_with); the first error of a log's refresh or of its
    /// checks against the checkpoints, as in [`log`](Self::log) (every log is still
    /// visited).
    pub fn refresh(&self) -> Result<()> {
        self.reload()?;
        let topics: Vec<Arc<ReadOnlyTopic>> =
            self.inner.state.read().topics.values().cloned().collect();
        let mut first_error = None;
        for topic in topics {
            let logs: Vec<(i32, Arc<Log>)> = topic
                .logs
                .read()
                .iter()
                .enumerate()
                .filter_map(|(p, log)| log.as_ref().map(|l| (p as i32, Arc::clone(l))))
                .collect();
            for (p, log) in logs {
                let refreshed = log.refresh().and_then(|_| {
                    self.apply_checkpoints(&topic.name, p, &log);
                    self.check_tail(&topic.name, p, &log)
                });
                if let Err(e) = refreshed {
                    first_error = first_error.or(Some(e));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn topic(&self, name: &str) -> Result<Arc<ReadOnlyTopic>> {
        self.inner
            .state
            .read()
            .topics
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownTopic {
                topic: name.to_string(),
            })
    }

    fn partition_dir(&self, topic: &str, partition: i32) -> Result<PathBuf> {
        Ok(self
            .inner
            .dir
            .join(PartitionDirName::new(topic, partition)?.to_string()))
    }

    /// Raises a log's start and durable offset to the checkpointed ones.
    fn apply_checkpoints(&self, topic: &str, partition: i32, log: &Log) {
        let state = self.inner.state.read();
        let key = (topic.to_string(), partition);
        let recovery_point = if state.clean {
            // Closed cleanly: the writer fsynced everything.
            Some(log.end_offset())
        } else {
            state.recovery_points.get(&key).copied()
        };
        log.apply_checkpointed_offsets(state.log_starts.get(&key).copied(), recovery_point);
    }

    /// Fails with [`Error::Corrupt`] if the log's last segment ends in a bad batch that the
    /// checkpoints say must be whole: below the partition's recovery point, or anywhere
    /// after a clean shutdown (see [`Log::open_read_only`] for the whole rule).
    fn check_tail(&self, topic: &str, partition: i32, log: &Log) -> Result<()> {
        let (recovery_point, clean) = {
            let state = self.inner.state.read();
            let key = (topic.to_string(), partition);
            (state.recovery_points.get(&key).copied(), state.clean)
        };
        let marker = self.inner.dir.join(CLEAN_SHUTDOWN_FILE);
        log.check_tail_against(recovery_point, clean, || self.inner.storage.exists(&marker))
    }

    /// Reads the metadata file, the partition directories and the checkpoints, as a writable
    /// open does (without finishing deletions or recording anything), and replaces the
    /// topic set, keeping the opened logs of topics that did not change.
    fn reload(&self) -> Result<()> {
        let inner = &self.inner;
        let storage = &inner.storage;
        let records = metadata::read(storage, &inner.dir)?.unwrap_or_default();
        let mut dirs: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for name in storage.read_dir(&inner.dir)? {
            let Some(name) = name.to_str() else { continue };
            let Some(parsed) = PartitionDirName::parse(name) else {
                continue;
            };
            if parsed.kind() == PartitionDirKind::Live {
                dirs.entry(parsed.topic().to_string())
                    .or_default()
                    .push(parsed.partition());
            }
        }
        let mut found: Vec<Found> = Vec::new();
        for record in records {
            dirs.remove(&record.name);
            if !record.deleting {
                found.push(Found {
                    id: Some(record.id),
                    name: record.name,
                    partitions: record.partitions,
                    config: record.config,
                    foreign: record.origin == Origin::Kafka,
                });
            }
        }
        // Topics of a Kafka directory that tidelog has not recorded (yet): as a writable
        // open would record them.
        for (name, partitions) in dirs {
            let Some((count, config)) = kafka_topics::found_topic(&inner.dir, &name, &partitions)?
            else {
                continue;
            };
            found.push(Found {
                id: self.read_topic_id(&name, &partitions),
                name,
                partitions: count,
                config,
                foreign: true,
            });
        }
        let clean = storage.exists(&inner.dir.join(CLEAN_SHUTDOWN_FILE))?;
        let recovery_points = log_dir::read_recovery_points(storage, &inner.dir)?;
        let log_starts = log_dir::read_log_starts(storage, &inner.dir)?;
        let old = inner.state.read().topics.clone();
        let mut topics = BTreeMap::new();
        for f in found {
            let count = f.partitions as usize;
            let same = old
                .get(&f.name)
                .filter(|t| t.id == f.id && t.config == f.config && t.logs.read().len() <= count);
            let topic = match same {
                Some(t) => {
                    t.logs.write().resize_with(count, || None);
                    Arc::clone(t)
                }
                None => Arc::new(ReadOnlyTopic {
                    log_config: kafka_topics::log_config(
                        &f.config,
                        if f.foreign {
                            Origin::Kafka
                        } else {
                            Origin::Tidelog
                        },
                        &inner.config.log,
                    )?,
                    name: f.name.clone(),
                    id: f.id,
                    config: f.config,
                    foreign: f.foreign,
                    logs: RwLock::new(vec![None; count]),
                }),
            };
            topics.insert(f.name, topic);
        }
        let mut state = inner.state.write();
        state.topics = topics;
        state.recovery_points = recovery_points;
        state.log_starts = log_starts;
        state.clean = clean;
        Ok(())
    }

    /// The id in the first readable `partition.metadata` of a topic's partitions.
    fn read_topic_id(&self, topic: &str, partitions: &[i32]) -> Option<TopicId> {
        partitions.iter().find_map(|&p| {
            let path = self
                .partition_dir(topic, p)
                .ok()?
                .join(PARTITION_METADATA_FILE);
            PartitionMetadata::read(&self.inner.storage, &path)
                .ok()
                .flatten()
                .map(|m| m.topic_id)
        })
    }
}
