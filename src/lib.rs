//! tidelog: an embeddable, persistent, Kafka-compatible log.
//!
//! Applications link tidelog and host the messaging core in-process: topics split into
//! partitions, append and offset-based read, over segmented, indexed, batch-compressed log
//! files laid out byte for byte as Apache Kafka lays out its log directories. There is no
//! network, no JVM and no async runtime: every call is synchronous.
//!
//! tidelog is not a Kafka broker: it speaks no wire protocol (wrap it in your own server for
//! that) and replicates nothing by itself.
//!
//! # Layers
//!
//! The crate is built bottom-up; a module uses only the layers below it.
//!
//! | layer | modules | holds |
//! |---|---|---|
//! | format | [`record`], [`compression`] | Kafka record batches as bytes and values; no I/O |
//! | files | [`io`], [`segment`], [`checkpoint`] | the file-system seam; one segment's files; checkpoints |
//! | shared | [`error`], [`config`] | one [`Error`] type; config structs with Kafka's names |
//!
//! # Quickstart
//!
//! ```
//! use tidelog::record::{BatchBuilder, BatchOptions, RecordBatch, DEFAULT_MAX_DECOMPRESSED_BYTES};
//! use tidelog::Compression;
//!
//! let mut builder = BatchBuilder::new(BatchOptions::with_compression(Compression::Lz4));
//! builder.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[])?;
//! let bytes = builder.finish()?;
//!
//! let batch = RecordBatch::parse(bytes)?;
//! let mut scratch = Vec::new();
//! for record in batch.records(&mut scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)? {
//!     assert_eq!(record?.value(), Some(&b"value"[..]));
//! }
//! # Ok::<(), tidelog::Error>(())
//! ```

pub mod checkpoint;
pub mod compression;
pub mod config;
pub mod error;
pub mod io;
pub mod log;
pub mod record;
pub mod segment;

pub use compression::Compression;
pub use error::{Corruption, Error, Location, Result};
