//! Fuzz logic `checkpoint`: the text decoders of `tidelog::checkpoint`.
//!
//! The same bytes go to [`decode`] as a leader-epoch checkpoint ([`EpochEntry`]) and as an
//! offset checkpoint ([`OffsetEntry`]), and to [`PartitionMetadata::decode`].
//!
//! Checks: no panic; whatever decodes re-encodes ([`encode`], [`PartitionMetadata::encode`])
//! to text that decodes to the same entries (offset entries whose topic the encoder refuses
//! aside: the decoder takes any whitespace-free topic, the encoder only valid Kafka names).
//!
//! Shared by `fuzz/fuzz_targets/checkpoint.rs` and the main crate's corpus replay test; uses
//! tidelog's public API only.

use std::fmt::Debug;

use tidelog::checkpoint::{
    decode, encode, CheckpointEntry, EpochEntry, OffsetEntry, PartitionMetadata, TopicId,
};

/// Runs the checks on one input.
pub fn run(data: &[u8]) {
    round_trip::<EpochEntry>(data, true);
    round_trip::<OffsetEntry>(data, false);

    match PartitionMetadata::decode(data) {
        Ok(meta) => {
            let text = meta.encode();
            assert_eq!(text.len(), 43, "partition.metadata is 43 bytes: {text:?}");
            match PartitionMetadata::decode(text.as_bytes()) {
                Ok(again) => assert_eq!(again, meta),
                Err(e) => panic!("re-encoded partition.metadata {text:?} fails: {e}"),
            }
            let id = meta.topic_id.to_string();
            match id.parse::<TopicId>() {
                Ok(again) => assert_eq!(again, meta.topic_id),
                Err(e) => panic!("topic id {id:?} does not parse back: {e}"),
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(id) = s.parse::<TopicId>() {
            assert_eq!(id.to_string().parse::<TopicId>().ok(), Some(id));
        }
    }
}

fn round_trip<E: CheckpointEntry + PartialEq + Debug>(data: &[u8], always_encodes: bool) {
    let entries = match decode::<E>(data) {
        Ok(entries) => entries,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let text = match encode(&entries) {
        Ok(text) => text,
        Err(e) => {
            assert!(
                !always_encodes,
                "decoded entries {entries:?} do not encode: {e}"
            );
            return;
        }
    };
    match decode::<E>(text.as_bytes()) {
        Ok(again) => assert_eq!(again, entries, "checkpoint {text:?}"),
        Err(e) => panic!("re-encoded checkpoint {text:?} fails: {e}"),
    }
}
