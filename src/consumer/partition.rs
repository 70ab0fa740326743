//! [`PartitionState`]: one assigned partition's position, fetch offset and buffered records.
//!
//! Invariant: with the position resolved to `At(p)`, the buffer holds exactly the
//! non-control records of `[p, fetch_offset)`, in order; when it is empty, `p` equals
//! `fetch_offset`, so a poll moves the position past control records and offset gaps.

use std::collections::VecDeque;
use std::sync::Arc;

use super::batch_records::for_each_record;
use super::{ConsumerRecord, OffsetReset, TopicPartition};
use crate::error::{Error, Result};
use crate::log::{Isolation, Log};

/// Where a partition's next record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Position {
    /// The group's committed offset, else `auto.offset.reset`: resolved at the next poll.
    Committed,
    /// The log start, resolved at the next poll (Kafka's lazy `seekToBeginning`).
    Beginning,
    /// The end of what may be read, resolved at the next poll (lazy `seekToEnd`).
    End,
    /// The offset of the next record to return.
    At(i64),
}

/// One assigned partition.
#[derive(Debug)]
pub(super) struct PartitionState {
    pub(super) tp: TopicPartition,
    topic: Arc<str>,
    pub(super) log: Arc<Log>,
    pub(super) position: Position,
    /// Where the next read starts.
    fetch_offset: i64,
    buffered: VecDeque<ConsumerRecord>,
    /// The leader epoch of the last record returned, committed with the position.
    pub(super) last_epoch: Option<i32>,
}

impl PartitionState {
    pub(super) fn new(tp: TopicPartition, log: Arc<Log>) -> Self {
        PartitionState {
            topic: Arc::from(tp.topic.as_str()),
            tp,
            log,
            position: Position::Committed,
            fetch_offset: 0,
            buffered: VecDeque::new(),
            last_epoch: None,
        }
    }

    /// Moves the position, dropping buffered records.
    pub(super) fn seek(&mut self, position: Position) {
        self.position = position;
        self.buffered.clear();
        self.last_epoch = None;
        if let Position::At(offset) = position {
            self.fetch_offset = offset;
        }
    }

    /// The resolved position, if it is.
    pub(super) fn offset(&self) -> Option<i64> {
        match self.position {
            Position::At(offset) => Some(offset),
            _ => None,
        }
    }

    /// The end of what `isolation` may read.
    pub(super) fn visible_end(&self, isolation: Isolation) -> i64 {
        match isolation {
            Isolation::Appended => self.log.end_offset(),
            Isolation::Durable => self.log.durable_offset().min(self.log.end_offset()),
        }
    }

    /// Resolves [`Position::Beginning`] and [`Position::End`] against the log now.
    pub(super) fn resolve_ends(&mut self, isolation: Isolation) {
        match self.position {
            Position::Beginning => self.seek(Position::At(self.log.log_start_offset())),
            Position::End => self.seek(Position::At(self.visible_end(isolation))),
            Position::Committed | Position::At(_) => {}
        }
    }

    pub(super) fn has_buffered(&self) -> bool {
        !self.buffered.is_empty()
    }

    /// True if a poll would return records or move the position now.
    pub(super) fn has_data(&self, isolation: Isolation) -> bool {
        if self.has_buffered() {
            return true;
        }
        let f = self.fetch_offset;
        // Out of range counts: the fetch applies `auto.offset.reset`.
        self.offset().is_some()
            && (f < self.visible_end(isolation)
                || f < self.log.log_start_offset()
                || f > self.log.end_offset())
    }

    /// Where a tailing poll waits for data.
    pub(super) fn fetch_offset(&self) -> i64 {
        self.fetch_offset
    }

    /// Reads up to about `max_bytes` into the buffer if it is empty and the position is
    /// resolved. A position outside the log is reset per `reset`. Returns the bytes read.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] for a position outside the log with `reset` = none;
    /// read errors.
    pub(super) fn fetch(
        &mut self,
        max_bytes: usize,
        isolation: Isolation,
        reset: OffsetReset,
    ) -> Result<usize> {
        if self.has_buffered() || self.offset().is_none() {
            return Ok(0);
        }
        let mut reset_once = false;
        let result = loop {
            match self.log.read_with(self.fetch_offset, max_bytes, isolation) {
                Ok(result) => break result,
                Err(Error::OffsetOutOfRange {
                    requested,
                    log_start,
                    log_end,
                }) if !reset_once => {
                    reset_once = true;
                    let to = match reset {
                        OffsetReset::Earliest => log_start,
                        OffsetReset::Latest => self.visible_end(isolation),
                        OffsetReset::None => {
                            return Err(Error::OffsetOutOfRange {
                                requested,
                                log_start,
                                log_end,
                            })
                        }
                    };
                    log::info!(
                        "consumer position {requested} of {} is outside [{log_start}, {log_end}]: \
                         auto.offset.reset moves it to {to}",
                        self.tp
                    );
                    self.seek(Position::At(to));
                }
                Err(e) => return Err(e),
            }
        };
        let from = self.fetch_offset;
        let (topic, partition) = (&self.topic, self.tp.partition);
        let buffered = &mut self.buffered;
        for_each_record(&result, |meta, record| {
            if !meta.is_control && record.offset() >= from {
                let owned = record.to_owned_record();
                buffered.push_back(ConsumerRecord {
                    topic: Arc::clone(topic),
                    partition,
                    offset: record.offset(),
                    timestamp: owned.timestamp,
                    timestamp_type: meta.timestamp_type,
                    leader_epoch: meta.leader_epoch,
                    key: owned.key,
                    value: owned.value,
                    headers: owned.headers,
                });
            }
            Ok(())
        })?;
        self.fetch_offset = self.fetch_offset.max(result.next_offset());
        if self.buffered.is_empty() {
            self.position = Position::At(self.fetch_offset);
        }
        Ok(result.bytes().len())
    }

    /// Moves up to `max` buffered records to `out`, advancing the position. Returns how many.
    pub(super) fn drain(&mut self, max: usize, out: &mut Vec<ConsumerRecord>) -> usize {
        let n = max.min(self.buffered.len());
        for record in self.buffered.drain(..n) {
            self.position = Position::At(record.offset + 1);
            self.last_epoch = record.leader_epoch;
            out.push(record);
        }
        if self.buffered.is_empty() && self.offset().is_some() {
            self.position = Position::At(self.fetch_offset);
        }
        n
    }
}
