//! One segment's files: names, the offset index and the time index.
//!
//! - [`file_name`](SegmentFileName): building and parsing segment file and partition
//!   directory names;
//! - [`OffsetIndex`]: Kafka's `.index` (offset → position);
//! - [`TimeIndex`]: Kafka's `.timeindex` (timestamp → offset).
//!
//! Both indexes are memory-mapped through the [`io`](crate::io) seam and grown in fallocated
//! steps; they are derived data, checked against the log and rebuilt when inconsistent.

mod batch_info;
mod file_name;
mod offset_index;
#[allow(
    clippy::module_inception,
    reason = "LogSegment lives in segment/segment.rs"
)]
mod segment;
mod time_index;

pub use crate::io::IndexAccess;
pub use batch_info::{BatchInfo, HEADER_PEEK_BYTES};
pub use file_name::{
    validate_topic, DirId, FileKind, FileSuffix, PartitionDirKind, PartitionDirName,
    SegmentFileName, BASE_OFFSET_WIDTH, MAX_TOPIC_LENGTH,
};
pub use offset_index::{IndexEntry, OffsetIndex, ENTRY_SIZE as OFFSET_INDEX_ENTRY_SIZE};
pub use segment::{LogSegment, ScanOutcome, SegmentConfig};
pub use time_index::{
    TimeIndex, TimeIndexEntry, ENTRY_SIZE as TIME_INDEX_ENTRY_SIZE, NO_TIMESTAMP,
};
