//! tidelog's own store metadata: one versioned text file at the store root (the format is
//! documented on [`METADATA_FILE`]).

use std::path::Path;

use crate::checkpoint::{write_atomically, TopicId};
use crate::config::TopicConfig;
use crate::error::{Corruption, Error, Result};
use crate::io::{OpenMode, Storage, StorageFile};

/// The name of tidelog's own metadata file at the store root, `tidelog-store-metadata`: the
/// topics tidelog knows, written atomically (temp file, fsync, rename, directory fsync) at
/// every change. A Kafka broker ignores it. Its text, version 2:
///
/// ```text
/// tidelog-store-metadata 2
/// topic <name> <topic-id> <partitions> <state> <origin> [<kafka.key>=<value> ...]
/// ```
///
/// - `<topic-id>`: the id in each partition's `partition.metadata`, Kafka's base64 form;
/// - `<partitions>`: the partition count, 1 to [`MAX_PARTITIONS`](super::MAX_PARTITIONS);
/// - `<state>`: `live`, or `deleting` while a topic deletion is under way (the next open
///   finishes it);
/// - `<origin>`: `tidelog` for topics tidelog created, `kafka` for topics found as partition
///   directories of a Kafka broker, whose history tidelog does not know (no retention until
///   configured; offset gaps, as Kafka's cleaner leaves, are data, not damage);
/// - config overrides by Kafka's dotted keys, values in canonical form.
///
/// Names, ids, keys and values hold no white space (Kafka's rules; values are normalised
/// when set), so fields split on spaces. Version 1 files (no `<origin>`) are read too.
pub const METADATA_FILE: &str = "tidelog-store-metadata";
const MAGIC: &str = "tidelog-store-metadata";
const VERSION: u32 = 2;

/// Where a topic came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Created by tidelog.
    Tidelog,
    /// Found as a Kafka broker's partition directories.
    Kafka,
}

/// A topic as the metadata file records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicRecord {
    pub(crate) name: String,
    pub(crate) id: TopicId,
    pub(crate) partitions: u32,
    pub(crate) deleting: bool,
    pub(crate) origin: Origin,
    pub(crate) config: TopicConfig,
}

pub(crate) fn encode(topics: &[TopicRecord]) -> String {
    let mut out = format!("{MAGIC} {VERSION}\n");
    for t in topics {
        out.push_str(&format!(
            "topic {} {} {} {} {}",
            t.name,
            t.id,
            t.partitions,
            if t.deleting { "deleting" } else { "live" },
            match t.origin {
                Origin::Tidelog => "tidelog",
                Origin::Kafka => "kafka",
            }
        ));
        for (k, v) in t.config.overrides() {
            out.push_str(&format!(" {k}={v}"));
        }
        out.push('\n');
    }
    out
}

pub(crate) fn decode(text: &str, path: &Path) -> Result<Vec<TopicRecord>> {
    let bad = |line: usize, reason: &'static str| {
        Error::corrupt(Corruption::Invalid { reason })
            .at_path(path)
            .at_position(line as u64)
    };
    let mut lines = text.lines().enumerate();
    let version = match lines
        .next()
        .map(|(_, l)| l.split_whitespace().collect::<Vec<_>>())
    {
        Some(h) if h.len() == 2 && h[0] == MAGIC && (h[1] == "1" || h[1] == "2") => {
            if h[1] == "1" {
                1
            } else {
                2
            }
        }
        _ => {
            return Err(bad(
                0,
                "not a tidelog store metadata file of version 1 or 2",
            ))
        }
    };
    let fixed = if version == 1 { 5 } else { 6 };
    let mut topics = Vec::new();
    for (n, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < fixed || f[0] != "topic" {
            return Err(bad(n, "malformed topic line"));
        }
        // The file is written from validated values only: anything invalid in it is damage.
        crate::segment::validate_topic(f[1]).map_err(|_| bad(n, "bad topic name"))?;
        let id: TopicId = f[2].parse().map_err(|_| bad(n, "bad topic id"))?;
        let partitions: u32 = f[3]
            .parse()
            .ok()
            .filter(|p| (1..=super::MAX_PARTITIONS).contains(p))
            .ok_or_else(|| bad(n, "bad partition count"))?;
        let deleting = match f[4] {
            "live" => false,
            "deleting" => true,
            _ => return Err(bad(n, "bad topic state")),
        };
        let mut config = TopicConfig::default();
        for kv in &f[fixed..] {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad(n, "bad config entry"))?;
            config.set(k, v).map_err(|_| bad(n, "bad config entry"))?;
        }
        let origin = match (version, f.get(5).copied()) {
            (2, Some("tidelog")) => Origin::Tidelog,
            (2, Some("kafka")) => Origin::Kafka,
            (2, _) => return Err(bad(n, "bad topic origin")),
            // Version 1 recorded a Kafka topic by its retention overrides alone.
            _ if config.get("retention.ms") == Some("-1")
                && config.get("retention.bytes") == Some("-1") =>
            {
                Origin::Kafka
            }
            _ => Origin::Tidelog,
        };
        topics.push(TopicRecord {
            name: f[1].to_string(),
            id,
            partitions,
            deleting,
            origin,
            config,
        });
    }
    Ok(topics)
}

pub(crate) fn read<S: Storage>(storage: &S, dir: &Path) -> Result<Option<Vec<TopicRecord>>> {
    let path = dir.join(METADATA_FILE);
    if !storage.exists(&path)? {
        return Ok(None);
    }
    let file = storage.open(&path, OpenMode::ReadOnly)?;
    let mut buf = vec![0u8; file.size()? as usize];
    file.read_exact_at(&mut buf, 0)?;
    let text = String::from_utf8(buf).map_err(|_| {
        Error::corrupt(Corruption::Invalid {
            reason: "metadata file is not UTF-8",
        })
        .at_path(&path)
    })?;
    decode(&text, &path).map(Some)
}

/// A topic as tidelog's metadata file ([`METADATA_FILE`]) records it, for tools that check
/// a store without opening it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedTopic {
    /// The topic's name.
    pub name: String,
    /// Its id, as in each partition's `partition.metadata`.
    pub id: TopicId,
    /// The partition count.
    pub partitions: u32,
    /// True while a deletion is under way (the next open finishes it).
    pub deleting: bool,
    /// True for a topic found in a Kafka broker's directory rather than created by tidelog.
    pub foreign: bool,
    /// The config overrides.
    pub config: TopicConfig,
}

/// Reads tidelog's metadata file in the store directory `dir`, never writing: `None` if
/// there is none (a new directory, or one only a Kafka broker wrote).
///
/// # Errors
/// [`Error::Corrupt`] naming the line of anything the file could not have been written
/// with; I/O errors.
pub fn read_metadata(dir: &Path) -> Result<Option<Vec<RecordedTopic>>> {
    let topics = read(&crate::io::StdFs, dir)?;
    Ok(topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| RecordedTopic {
                name: t.name,
                id: t.id,
                partitions: t.partitions,
                deleting: t.deleting,
                foreign: t.origin == Origin::Kafka,
                config: t.config,
            })
            .collect()
    }))
}

pub(crate) fn write<S: Storage>(storage: &S, dir: &Path, topics: &[TopicRecord]) -> Result<()> {
    write_atomically(storage, &dir.join(METADATA_FILE), encode(topics).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_names_and_configs_are_corruption() {
        let path = Path::new("/store/tidelog-store-metadata");
        let id = TopicId::new([7; 16])
            .map(|id| id.to_string())
            .unwrap_or_default();
        for line in [
            format!("topic fl)p {id} 1 live tidelog"),
            format!("topic ok {id} 1 live tidelog retention.ms=x1"),
            format!("topic ok {id} 1 live tidelog no.such.key=1"),
            format!("topic ok {id} 0 live tidelog"),
            format!("topic ok {id} 3000000000 live tidelog"),
            format!("topic ok {id} 1 live elsewhere"),
            format!("topic ok {id} 1 live"),
        ] {
            let text = format!("{MAGIC} {VERSION}\n{line}\n");
            let result = decode(&text, path);
            assert!(
                matches!(result, Err(Error::Corrupt { .. })),
                "{line}: {result:?}"
            );
        }
    }

    #[test]
    fn round_trip() -> Result<()> {
        let topics = vec![
            TopicRecord {
                name: "orders".into(),
                id: TopicId::new([7; 16])?,
                partitions: 3,
                deleting: false,
                origin: Origin::Tidelog,
                config: TopicConfig::default().with("cleanup.policy", "compact, delete")?,
            },
            TopicRecord {
                name: "from-kafka".into(),
                id: TopicId::new([8; 16])?,
                partitions: 50,
                deleting: true,
                origin: Origin::Kafka,
                config: TopicConfig::default(),
            },
        ];
        let text = encode(&topics);
        assert!(text.starts_with("tidelog-store-metadata 2\ntopic orders "));
        assert!(text.contains(" live tidelog cleanup.policy=compact,delete\n"));
        assert_eq!(decode(&text, Path::new("m"))?, topics);
        assert!(decode("garbage", Path::new("m")).is_err());
        Ok(())
    }

    #[test]
    fn version_1_files_still_read() -> Result<()> {
        let id = TopicId::new([7; 16])?;
        let text = format!(
            "{MAGIC} 1\ntopic mine {id} 2 live segment.bytes=4096\n\
             topic theirs {id} 4 live retention.bytes=-1 retention.ms=-1\n"
        );
        let topics = decode(&text, Path::new("m"))?;
        assert_eq!(topics.len(), 2);
        assert_eq!(
            (topics[0].origin, topics[0].partitions),
            (Origin::Tidelog, 2)
        );
        assert_eq!((topics[1].origin, topics[1].partitions), (Origin::Kafka, 4));
        Ok(())
    }
}
