//! Configuration structs with Kafka's names and defaults, and the injectable clock.
//!
//! Each field names the Kafka config it mirrors. Where an embedded default is clearly better
//! than Kafka's, the field's doc says so and why. `validate()` rejects out-of-range values
//! with [`Error::InvalidConfig`](crate::Error::InvalidConfig); nothing is clamped.
//!
//! - [`LogConfig`]: one partition log (Kafka's topic configs);
//! - [`TopicConfig`]: per-topic overrides by Kafka's dotted keys;
//! - [`StoreConfig`]: a store of topics;
//! - [`Clock`], [`SystemClock`], [`ManualClock`].

mod clock;
mod log;
mod store;
mod topic;

pub use clock::{Clock, ManualClock, SystemClock};
pub use log::LogConfig;
pub use store::StoreConfig;
pub use topic::{CleanupPolicy, TopicConfig};
