//! tidelog: an embeddable, persistent, Kafka-compatible log.
//!
//! Applications link tidelog and host the messaging core in-process: topics split into
//! partitions, append and offset-based read, over segmented, indexed, batch-compressed log
//! files laid out byte for byte as Apache Kafka lays out its log directories.
//!
//! The crate is built in layers (see `DESIGN.md`): the format layer ([`record`],
//! [`compression`]) turns bytes into values and back with no I/O.

pub mod checkpoint;
pub mod compression;
pub mod error;
pub mod io;
pub mod segment;

pub use compression::Compression;
pub use error::{Corruption, Error, Location, Result};
