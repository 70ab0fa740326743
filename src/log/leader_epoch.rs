//! The leader-epoch cache: which epoch wrote which offsets, as Kafka's
//! `leader-epoch-checkpoint` records it (epoch → first offset of that epoch).
//!
//! A mirror or follower compares epochs to tell a log that lost an unsynced tail and then
//! grew again from one that did not; tidelog starts a new epoch at each open after an unclean
//! shutdown for exactly that reason.

use crate::checkpoint::EpochEntry;

/// Epoch entries in increasing epoch and offset order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// A cache of `entries`, keeping only those that increase in both epoch and offset (the
    /// checkpoint file is advisory and could hold anything).
    pub fn new(entries: Vec<EpochEntry>) -> Self {
        let mut cache = LeaderEpochCache::default();
        for e in entries {
            cache.assign(e.epoch, e.start_offset);
        }
        cache
    }

    /// The entries.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The newest epoch, if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`, if it is newer than the latest epoch
    /// (as Kafka's `LeaderEpochFileCache.assign`). Returns whether the cache changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 {
            return false;
        }
        match self.entries.last() {
            Some(last) if epoch <= last.epoch || start_offset < last.start_offset => false,
            _ => {
                self.entries.push(EpochEntry {
                    epoch,
                    start_offset,
                });
                true
            }
        }
    }

    /// Drops entries that start at or after `end_offset` (the log was truncated there).
    /// Returns whether the cache changed.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        before != self.entries.len()
    }

    /// Moves the log start to `start_offset`: entries wholly below it go, and the epoch in
    /// force there now starts there. Returns whether the cache changed.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let below = self
            .entries
            .iter()
            .take_while(|e| e.start_offset <= start_offset)
            .count();
        if below == 0 {
            return false;
        }
        let keep = below - 1;
        let changed = keep > 0 || self.entries[keep].start_offset != start_offset;
        self.entries.drain(..keep);
        self.entries[0].start_offset = start_offset;
        changed
    }

    /// The epoch in force at `offset`, if known.
    pub fn epoch_for(&self, offset: i64) -> Option<i32> {
        self.entries
            .iter()
            .take_while(|e| e.start_offset <= offset)
            .last()
            .map(|e| e.epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(epoch: i32, start_offset: i64) -> EpochEntry {
        EpochEntry {
            epoch,
            start_offset,
        }
    }

    #[test]
    fn assign_keeps_only_newer_epochs() {
        let mut c = LeaderEpochCache::default();
        assert!(c.assign(0, 0));
        assert!(!c.assign(0, 5));
        assert!(c.assign(2, 10));
        assert!(!c.assign(1, 20));
        assert!(!c.assign(3, 5), "offsets never go back");
        assert_eq!(c.entries(), &[e(0, 0), e(2, 10)]);
        assert_eq!(c.epoch_for(9), Some(0));
        assert_eq!(c.epoch_for(10), Some(2));
    }

    #[test]
    fn truncation_from_both_ends() {
        let mut c = LeaderEpochCache::new(vec![e(0, 0), e(1, 10), e(2, 20)]);
        assert!(c.truncate_from_end(20));
        assert_eq!(c.entries(), &[e(0, 0), e(1, 10)]);
        assert!(c.truncate_from_start(15));
        assert_eq!(c.entries(), &[e(1, 15)]);
        assert!(!c.truncate_from_start(15));
        assert!(!c.truncate_from_start(3));
    }
}
