//! [`PartitionState`]: one assigned partition's position, fetch offset and fetched records.
//!
//! Fetched records are decoded once, at the fetch, into plain slots whose keys, values and
//! headers are copied into one byte arena the partition keeps and reuses: no allocation per
//! record, and a poll hands out records by borrowing that arena
//! ([`PolledRecords`](super::PolledRecords)) or copies them into owned
//! [`ConsumerRecord`](super::ConsumerRecord)s.
//!
//! Invariant: with the position resolved to `At(p)`, the slots from `next` on are exactly the
//! non-control records of `[p, fetch_offset)`, in order; when none is left, `p` equals
//! `fetch_offset`, so a poll moves the position past control records and offset gaps.

use std::ops::Range;
use std::sync::Arc;

use super::batch_records::for_each_record;
use super::{OffsetReset, TopicPartition};
use crate::error::{Error, Result};
use crate::log::{Isolation, Log, ReadResult};
use crate::record::TimestampType;

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

/// A key, value or header field: a range of the fetched bytes or of the arena (the slot
/// says which); `len` is [`Field::NULL`] for a null one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Field {
    start: u32,
    len: u32,
}

impl Field {
    const NULL: u32 = u32::MAX;
    const NONE: Field = Field {
        start: 0,
        len: Self::NULL,
    };

    /// The field of `bytes` where they lie inside `buf` (the fetched bytes), without
    /// copying; `None` if they lie elsewhere (a decompressed batch) or do not fit the
    /// field's widths.
    #[inline]
    fn within(buf: &[u8], bytes: Option<&[u8]>) -> Option<Field> {
        let Some(b) = bytes else {
            return Some(Self::NONE);
        };
        // Addresses compared as integers: no pointer is made from them.
        let start = (b.as_ptr() as usize).checked_sub(buf.as_ptr() as usize)?;
        if start.checked_add(b.len())? > buf.len() {
            return None;
        }
        Some(Field {
            start: u32::try_from(start).ok()?,
            len: u32::try_from(b.len()).ok().filter(|&n| n != Self::NULL)?,
        })
    }

    /// Copies `bytes` to the end of `arena`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the arena would pass 4 GiB.
    fn push(arena: &mut Vec<u8>, bytes: Option<&[u8]>) -> Result<Field> {
        let Some(b) = bytes else {
            return Ok(Self::NONE);
        };
        let too_large = || Error::InvalidArgument("a fetch decoded to more than 4 GiB".into());
        let start = u32::try_from(arena.len()).map_err(|_| too_large())?;
        let len = u32::try_from(b.len())
            .ok()
            .filter(|&n| n != Self::NULL && start.checked_add(n).is_some())
            .ok_or_else(too_large)?;
        arena.extend_from_slice(b);
        Ok(Field { start, len })
    }

    /// The field's bytes in `buf`, `None` if null. Fields are only made by
    /// [`within`](Self::within) or [`push`](Self::push) from the buffer they are read
    /// from, so the range is always in bounds; an empty slice stands in should that ever
    /// break, rather than a panic.
    #[inline]
    pub(super) fn get(self, buf: &[u8]) -> Option<&[u8]> {
        if self.len == Self::NULL {
            return None;
        }
        let (start, len) = (self.start as usize, self.len as usize);
        Some(buf.get(start..start + len).unwrap_or_default())
    }
}

/// One fetched record: its key and value in the fetched bytes or (for a decompressed
/// batch) the arena, its headers in the arena.
#[derive(Debug, Clone, Copy)]
pub(super) struct Slot {
    pub(super) offset: i64,
    pub(super) timestamp: i64,
    pub(super) key: Field,
    pub(super) value: Field,
    /// Key and value are in the arena rather than the fetched bytes.
    pub(super) in_arena: bool,
    /// Its headers: a range of the partition's `headers`.
    pub(super) headers: (u32, u32),
    pub(super) leader_epoch: Option<i32>,
    pub(super) timestamp_type: Option<TimestampType>,
}

/// One assigned partition.
#[derive(Debug)]
pub(super) struct PartitionState {
    pub(super) tp: TopicPartition,
    pub(super) topic: Arc<str>,
    pub(super) log: Arc<Log>,
    pub(super) position: Position,
    /// Where the next read starts.
    fetch_offset: i64,
    /// The last read, whose buffers are reused by the next.
    fetched: ReadResult,
    /// The records of the last fetch, in offset order; those before `next` were handed out.
    slots: Vec<Slot>,
    next: usize,
    /// Keys, values and header fields of `slots`.
    pub(super) arena: Vec<u8>,
    /// Header (key, value) fields, ranges of which the slots name.
    pub(super) headers: Vec<(Field, Field)>,
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
            fetched: ReadResult::default(),
            slots: Vec::new(),
            next: 0,
            arena: Vec::new(),
            headers: Vec::new(),
            last_epoch: None,
        }
    }

    /// Moves the position, dropping fetched records.
    pub(super) fn seek(&mut self, position: Position) {
        self.position = position;
        self.clear_fetched();
        self.last_epoch = None;
        if let Position::At(offset) = position {
            self.fetch_offset = offset;
        }
    }

    fn clear_fetched(&mut self) {
        self.slots.clear();
        self.next = 0;
        self.arena.clear();
        self.headers.clear();
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

    /// Fetched records not handed out yet.
    pub(super) fn buffered(&self) -> usize {
        self.slots.len() - self.next
    }

    pub(super) fn has_buffered(&self) -> bool {
        self.next < self.slots.len()
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

    /// Reads up to about `max_bytes` if nothing fetched is left and the position is
    /// resolved, decoding the records once. A position outside the log is reset per
    /// `reset`. Returns the bytes read.
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
        self.clear_fetched();
        let mut reset_once = false;
        loop {
            match self
                .log
                .read_into(self.fetch_offset, max_bytes, isolation, &mut self.fetched)
            {
                Ok(()) => break,
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
        }
        if let Err(e) = self.decode() {
            // Nothing of a fetch that failed to decode is handed out; the next poll reads
            // it again (and fails again, as a read of a corrupt batch does).
            self.clear_fetched();
            return Err(e);
        }
        self.fetch_offset = self.fetch_offset.max(self.fetched.next_offset());
        if self.slots.is_empty() {
            self.position = Position::At(self.fetch_offset);
        }
        Ok(self.fetched.bytes().len())
    }

    /// Decodes the records of `fetched` from the fetch offset on into `slots`: keys and
    /// values stay where they are in the fetched bytes (copied to the arena only for
    /// decompressed batches), headers go to the arena.
    fn decode(&mut self) -> Result<()> {
        let from = self.fetch_offset;
        let PartitionState {
            fetched,
            slots,
            arena,
            headers,
            ..
        } = self;
        let data = fetched.bytes();
        for_each_record(fetched, from, |meta, record| {
            if meta.is_control {
                return Ok(());
            }
            let (key, value) = (record.key(), record.value());
            let (key, value, in_arena) =
                match (Field::within(data, key), Field::within(data, value)) {
                    (Some(k), Some(v)) => (k, v, false),
                    _ => (Field::push(arena, key)?, Field::push(arena, value)?, true),
                };
            let record_headers = record.headers();
            let first = headers.len();
            if !record_headers.is_empty() {
                for (k, v) in record_headers {
                    headers.push((Field::push(arena, Some(k))?, Field::push(arena, v)?));
                }
            }
            let index = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            slots.push(Slot {
                offset: record.offset(),
                timestamp: record.timestamp(),
                key,
                value,
                in_arena,
                headers: (index(first), index(headers.len())),
                leader_epoch: meta.leader_epoch,
                timestamp_type: meta.timestamp_type,
            });
            Ok(())
        })
    }

    /// The bytes a slot's key and value point into.
    #[inline]
    pub(super) fn bytes_of(&self, slot: &Slot) -> &[u8] {
        if slot.in_arena {
            &self.arena
        } else {
            self.fetched.bytes()
        }
    }

    /// Hands out up to `max` fetched records, advancing the position past them. Returns the
    /// range of [`slots`](Self::slots) handed out.
    pub(super) fn take(&mut self, max: usize) -> Range<usize> {
        let n = max.min(self.buffered());
        let taken = self.next..self.next + n;
        if let Some(last) = self.slots.get(taken.clone()).and_then(<[Slot]>::last) {
            self.position = Position::At(last.offset + 1);
            self.last_epoch = last.leader_epoch;
        }
        self.next += n;
        if !self.has_buffered() && self.offset().is_some() {
            self.position = Position::At(self.fetch_offset);
        }
        taken
    }

    /// Fetched records by index (those handed out stay until the next fetch or seek).
    pub(super) fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// The header fields of one slot.
    pub(super) fn headers_of(&self, slot: &Slot) -> &[(Field, Field)] {
        self.headers
            .get(slot.headers.0 as usize..slot.headers.1 as usize)
            .unwrap_or_default()
    }
}
