//! The small value types of the log's API: options in, reports out.

use std::path::PathBuf;
use std::sync::Arc;

use crate::compression::{Compression, Level};
use crate::config::{Clock, SystemClock};
use crate::record::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE};

/// When an append may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Once the batch is in the OS page cache: a process crash loses nothing, power loss may
    /// lose it until the next flush (by `flush.messages`/`flush.ms` or [`Log::flush`](super::Log::flush)).
    #[default]
    PageCache,
    /// Once the batch (and everything before it) is fsynced.
    Sync,
}

/// Options of one [`Log::append`](super::Log::append).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOptions {
    /// Codec for the batch; it is compressed once and stored as is.
    pub compression: Compression,
    /// Codec level; `None` is the codec's default.
    pub compression_level: Level,
    /// When the call may return.
    pub durability: Durability,
    /// Producer id written into the batch, -1 for none.
    pub producer_id: i64,
    /// Producer epoch, -1 for none.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 for none.
    pub base_sequence: i32,
}

impl Default for AppendOptions {
    fn default() -> Self {
        AppendOptions {
            compression: Compression::None,
            compression_level: None,
            durability: Durability::PageCache,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
        }
    }
}

impl AppendOptions {
    /// Options with this codec.
    pub fn with_compression(compression: Compression) -> Self {
        AppendOptions {
            compression,
            ..Default::default()
        }
    }
}

/// How much of an already-encoded batch [`Log::append_batch`](super::Log::append_batch)
/// checks before storing it. It is never recompressed either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Validation {
    /// Framing, sizes, magic, codec id and CRC: cheap, and enough for trusted producers.
    #[default]
    Shallow,
    /// Also decompress and walk every record (exact counts, lengths, varints, offsets): for
    /// untrusted producers.
    Deep,
}

/// What a read may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Everything appended (Kafka's behaviour with one replica). After power loss, offsets
    /// that were read but not yet durable may be taken back and later reused by new data: a
    /// consumer that must never see that reads [`Isolation::Durable`] instead.
    #[default]
    Appended,
    /// Only data below the durable offset: what survives power loss.
    Durable,
}

/// The state a log's owner keeps for it between runs (in Kafka's log-dir checkpoint files)
/// and hands back on open.
#[derive(Debug, Clone)]
pub struct LogOpenOptions {
    /// Kafka's recovery point: everything below it was fsynced. `None` if unknown, which
    /// makes recovery scan every segment; invalid data in the last segment is then cut as a
    /// torn tail, but in an earlier one it fails the open with [`crate::Error::Corrupt`]
    /// (unless `repair`): without a recovery point tidelog cannot tell power loss after an
    /// unflushed roll from damage, and refuses rather than delete every later segment, as
    /// Kafka (which takes a missing recovery point as 0) would. Keep the
    /// [`CloseState`]'s recovery point (a [`Store`](crate::store::Store) does) to avoid it.
    pub recovery_point: Option<i64>,
    /// The log start offset, if it was raised above the first segment's base.
    pub log_start_offset: Option<i64>,
    /// True if the log was closed cleanly (Kafka's `.kafka_cleanshutdown`): nothing is
    /// scanned on open.
    pub clean_shutdown: bool,
    /// Opt-in repair: an invalid batch below the recovery point (corruption of fsynced
    /// data) is cut and reported instead of failing the open with [`crate::Error::Corrupt`].
    pub repair: bool,
    /// The clock for `segment.ms`, retention, `flush.ms` and LogAppendTime.
    pub clock: Arc<dyn Clock>,
}

impl Default for LogOpenOptions {
    fn default() -> Self {
        LogOpenOptions {
            recovery_point: None,
            log_start_offset: None,
            clean_shutdown: false,
            repair: false,
            clock: Arc::new(SystemClock),
        }
    }
}

/// What [`Log::append`](super::Log::append) and
/// [`Log::append_batch`](super::Log::append_batch) stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record.
    pub first_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The LogAppendTime stamped on the batch, or -1 for CreateTime.
    pub append_time: i64,
    /// The batch's MaxTimestamp as stored.
    pub max_timestamp: i64,
    /// Number of records.
    pub record_count: u32,
    /// Size of the batch on disk.
    pub size: u32,
    /// True if the batch was fsynced before the call returned.
    pub durable: bool,
}

/// What a clean [`Log::close`](super::Log::close) leaves for the owner to checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseState {
    /// Everything below it is fsynced: the next open's recovery point.
    pub recovery_point: i64,
    /// The log start offset.
    pub log_start_offset: i64,
}

/// One cut made by recovery: bytes removed from a segment and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCut {
    /// The `.log` file that was cut.
    pub segment: PathBuf,
    /// Where the cut starts.
    pub position: u64,
    /// The first offset no longer in the log.
    pub offset: i64,
    /// Bytes removed from this segment (later segments removed whole are counted here too).
    pub bytes: u64,
    /// Why the batch at `position` was invalid.
    pub reason: String,
    /// True if the cut was below the recovery point, made only because repair was asked for.
    pub repaired: bool,
}

/// What opening a log found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// True if the open trusted a clean shutdown and scanned nothing.
    pub clean: bool,
    /// Segments whose batches were scanned.
    pub segments_scanned: u32,
    /// Bytes scanned.
    pub bytes_scanned: u64,
    /// Segments whose indexes were rebuilt because they failed their checks.
    pub indexes_rebuilt: u32,
    /// Cuts made (a torn tail after a crash, or repairs).
    pub cuts: Vec<RecoveryCut>,
    /// Leftover files removed (`.deleted`, `.cleaned`, orphan indexes, temporaries).
    pub files_removed: u32,
    /// The recovery point handed in was past the log's end and was lowered (KAFKA-10101).
    pub recovery_point_clamped: bool,
    /// The `leader-epoch-checkpoint` was missing, unreadable or out of line with the batches,
    /// and the epoch cache was rebuilt from the batch headers.
    pub epochs_rebuilt: bool,
}

/// What one retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segments deleted.
    pub segments_deleted: u32,
    /// Bytes deleted.
    pub bytes_deleted: u64,
    /// The log start offset afterwards.
    pub log_start_offset: i64,
}
