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
//! | partition | [`log`] | [`log::Log`]: segments, append, read, roll, flush, retention, recovery |
//! | store | [`store`] | [`store::Store`]: a Kafka log directory of topics and partitions |
//! | services | [`consumer`] | [`consumer::Consumer`]: assignment, fair polling, committed offsets |
//! | shared | [`error`], [`config`] | one [`Error`] type; config structs with Kafka's names |
//!
//! # Quickstart
//!
//! ```
//! use tidelog::config::LogConfig;
//! use tidelog::log::{AppendOptions, Log, LogOpenOptions};
//! use tidelog::record::Record;
//! use tidelog::Compression;
//! # let dir = tempfile::tempdir()?;
//!
//! // One partition: a Kafka partition directory of segments.
//! let log = Log::open(dir.path().join("orders-0"), LogConfig::default(), LogOpenOptions::default())?;
//! let records = [Record::new(1_700_000_000_000, b"hello".to_vec()).with_key(b"k".to_vec())];
//! let info = log.append(&records, &AppendOptions::with_compression(Compression::Lz4))?;
//! log.flush()?; // durable from here on
//!
//! let fetched = log.read(info.first_offset, 1 << 20)?; // whole batches, CRC-checked
//! for record in fetched.records() {
//!     assert_eq!(record?.value(), Some(&b"hello"[..]));
//! }
//! log.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Durability and what readers see
//!
//! [`log::Log::append`] returns once the batch is in the OS page cache: a process crash
//! loses nothing it acknowledged, power loss can lose what was not yet flushed.
//! [`log::Log::flush`] (or Kafka's `flush.messages`/`flush.ms`, or
//! [`log::Durability::Sync`]) makes data durable and raises
//! [`log::Log::durable_offset`]. Readers see everything appended by default, as Kafka's
//! consumers do with one replica; after power loss, offsets that were read but not durable
//! can be taken back and later reused by new data. A reader that must never see that reads
//! with [`log::Isolation::Durable`].

pub mod checkpoint;
pub mod compression;
pub mod config;
pub mod consumer;
pub mod error;
#[cfg(feature = "failpoints")]
pub mod failpoint;
#[cfg(not(feature = "failpoints"))]
mod failpoint;
pub mod io;
pub mod log;
pub mod record;
pub mod segment;
pub mod store;

pub use compression::Compression;
pub use error::{Corruption, Error, Location, Result};
