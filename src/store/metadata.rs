//! tidelog's own store metadata: one versioned text file at the store root.
//!
//! ```text
//! tidelog-store-metadata 1
//! topic <name> <topic-id> <partitions> <state> [<kafka.key>=<value> ...]
//! ```
//!
//! `<state>` is `live`, or `deleting` while a topic deletion is under way (an open finishes
//! it). Topic names, ids and config keys and values contain no white space (Kafka's rules),
//! so fields split on spaces. The file is written atomically (temp file, fsync, rename,
//! directory fsync). A Kafka broker ignores it.

use std::path::Path;

use crate::checkpoint::{write_atomically, TopicId};
use crate::config::TopicConfig;
use crate::error::{Corruption, Error, Result};
use crate::io::{OpenMode, Storage, StorageFile};

/// The metadata file's name.
pub const METADATA_FILE: &str = "tidelog-store-metadata";
const MAGIC: &str = "tidelog-store-metadata";
const VERSION: u32 = 1;

/// A topic as the metadata file records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicRecord {
    pub(crate) name: String,
    pub(crate) id: TopicId,
    pub(crate) partitions: u32,
    pub(crate) deleting: bool,
    pub(crate) config: TopicConfig,
}

pub(crate) fn encode(topics: &[TopicRecord]) -> String {
    let mut out = format!("{MAGIC} {VERSION}\n");
    for t in topics {
        out.push_str(&format!(
            "topic {} {} {} {}",
            t.name,
            t.id,
            t.partitions,
            if t.deleting { "deleting" } else { "live" }
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
    match lines
        .next()
        .map(|(_, l)| l.split_whitespace().collect::<Vec<_>>())
    {
        Some(h) if h.len() == 2 && h[0] == MAGIC && h[1] == VERSION.to_string() => {}
        _ => return Err(bad(0, "not a tidelog store metadata file of version 1")),
    }
    let mut topics = Vec::new();
    for (n, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 || f[0] != "topic" {
            return Err(bad(n, "malformed topic line"));
        }
        let id: TopicId = f[2].parse().map_err(|_| bad(n, "bad topic id"))?;
        let partitions: u32 = f[3].parse().map_err(|_| bad(n, "bad partition count"))?;
        let deleting = match f[4] {
            "live" => false,
            "deleting" => true,
            _ => return Err(bad(n, "bad topic state")),
        };
        // The file is written from validated values only: anything invalid in it is damage.
        crate::segment::validate_topic(f[1]).map_err(|_| bad(n, "bad topic name"))?;
        let mut config = TopicConfig::default();
        for kv in &f[5..] {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad(n, "bad config entry"))?;
            config.set(k, v).map_err(|_| bad(n, "bad config entry"))?;
        }
        topics.push(TopicRecord {
            name: f[1].to_string(),
            id,
            partitions,
            deleting,
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
            format!("topic fl)p {id} 1 live"),
            format!("topic ok {id} 1 live retention.ms=x1"),
            format!("topic ok {id} 1 live no.such.key=1"),
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
        let topics = vec![TopicRecord {
            name: "orders".into(),
            id: TopicId::new([7; 16])?,
            partitions: 3,
            deleting: false,
            config: TopicConfig::default().with("segment.bytes", "4096")?,
        }];
        let text = encode(&topics);
        assert!(text.starts_with("tidelog-store-metadata 1\ntopic orders "));
        assert_eq!(decode(&text, Path::new("m"))?, topics);
        assert!(decode("garbage", Path::new("m")).is_err());
        Ok(())
    }
}
