//! The layout of `dump`'s lines: Kafka's `DumpLogSegments` (`printBatchLevel` and the record
//! lines of `--print-data-log`), field for field, and the same names as JSON.

use std::path::Path;

use tidelog::record::{Batch, RecordBatch, RecordRef, NO_SEQUENCE};

use crate::output::{json_array, json_string, text, JsonObject};

/// Kafka's `DefaultRecordBatch.incrementSequence`: wraps at `i32::MAX` to 0.
fn increment_sequence(sequence: i32, delta: i64) -> i32 {
    if sequence == NO_SEQUENCE {
        return NO_SEQUENCE;
    }
    let delta = i32::try_from(delta).unwrap_or(i32::MAX);
    if sequence > i32::MAX - delta {
        delta - (i32::MAX - sequence) - 1
    } else {
        sequence + delta
    }
}

fn timestamp_type(batch: &Batch<'_>) -> &'static str {
    batch
        .timestamp_type()
        .map_or("NoTimestampType", |t| t.name())
}

fn codec_name(batch: &Batch<'_>) -> &'static str {
    batch.compression().map_or("unknown", |c| c.name())
}

fn crc(batch: &Batch<'_>) -> u32 {
    match batch {
        Batch::V2(b) => b.crc(),
        Batch::Legacy(b) => b.crc(),
    }
}

/// Kafka prints `batch.deleteHorizonMs`, a Java `OptionalLong`.
fn delete_horizon(b: &RecordBatch<'_>) -> Option<i64> {
    b.has_delete_horizon().then(|| b.base_timestamp())
}

/// One batch line, as `DumpLogSegments.printBatchLevel` writes it.
pub(super) fn batch_text(batch: &Batch<'_>, position: u64, valid: bool) -> String {
    let head = match batch {
        Batch::V2(b) => format!(
            "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} \
             producerId: {} producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} \
             isControl: {} deleteHorizonMs: {}",
            b.base_offset(),
            b.last_offset(),
            b.records_count(),
            b.base_sequence(),
            increment_sequence(b.base_sequence(), i64::from(b.last_offset_delta())),
            b.producer_id(),
            b.producer_epoch(),
            b.partition_leader_epoch(),
            b.is_transactional(),
            b.is_control(),
            delete_horizon(b).map_or("OptionalLong.empty".to_string(), |t| format!(
                "OptionalLong[{t}]"
            )),
        ),
        Batch::Legacy(b) => format!("offset: {}", b.last_offset()),
    };
    format!(
        "{head} position: {position} {}: {} size: {} magic: {} compresscodec: {} crc: {} isvalid: {valid}",
        timestamp_type(batch),
        batch.max_timestamp(),
        batch.size(),
        batch.magic(),
        codec_name(batch),
        crc(batch),
    )
}

/// One batch as JSON, with the text layout's names.
pub(super) fn batch_json(path: &Path, batch: &Batch<'_>, position: u64, valid: bool) -> String {
    let mut o = JsonObject::new().str("file", &path.display().to_string());
    o = match batch {
        Batch::V2(b) => o
            .num("baseOffset", b.base_offset())
            .num("lastOffset", b.last_offset())
            .num("count", b.records_count())
            .num("baseSequence", b.base_sequence())
            .num(
                "lastSequence",
                increment_sequence(b.base_sequence(), i64::from(b.last_offset_delta())),
            )
            .num("producerId", b.producer_id())
            .num("producerEpoch", b.producer_epoch())
            .num("partitionLeaderEpoch", b.partition_leader_epoch())
            .bool("isTransactional", b.is_transactional())
            .bool("isControl", b.is_control())
            .opt_num("deleteHorizonMs", delete_horizon(b)),
        Batch::Legacy(b) => o.num("offset", b.last_offset()),
    };
    o.num("position", position)
        .num(timestamp_type(batch), batch.max_timestamp())
        .num("size", batch.size())
        .num("magic", batch.magic())
        .str("compresscodec", codec_name(batch))
        .num("crc", crc(batch))
        .bool("isvalid", valid)
        .finish()
}

/// Kafka's `ControlRecordType` names.
fn control_type_name(id: i16) -> &'static str {
    match id {
        0 => "ABORT",
        1 => "COMMIT",
        2 => "LEADER_CHANGE",
        3 => "SNAPSHOT_HEADER",
        4 => "SNAPSHOT_FOOTER",
        5 => "KRAFT_VERSION",
        6 => "KRAFT_VOTERS",
        _ => "UNKNOWN",
    }
}

/// What a control record says: `(type name, type id, coordinator epoch of a transaction
/// marker)`.
fn control_info(r: &RecordRef<'_>) -> Option<(&'static str, i16, Option<i32>)> {
    let key = r.key()?;
    let id = i16::from_be_bytes([*key.get(2)?, *key.get(3)?]);
    let epoch = if id == 0 || id == 1 {
        r.value()
            .and_then(|v| v.get(2..6))
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    } else {
        None
    };
    Some((control_type_name(id), id, epoch))
}

fn sizes(r: &RecordRef<'_>) -> (i64, i64) {
    let len = |b: Option<&[u8]>| b.map_or(-1, |b| b.len() as i64);
    (len(r.key()), len(r.value()))
}

/// What Kafka prints of a legacy (magic 0 or 1) record of its own: in Kafka a legacy record
/// is a message with its own CRC (an uncompressed message is its own batch; each inner
/// message of a compressed wrapper has one too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LegacyCheck {
    /// The message's CRC-32 matches its bytes (`isValid`).
    pub valid: bool,
    /// The message's stored CRC-32 (`checksum`).
    pub crc: u32,
}

/// One record line, as `DumpLogSegments.dumpLog` writes it with `--print-data-log`.
/// `legacy` is given for the records of a legacy batch.
pub(super) fn record_text(
    v2: Option<&RecordBatch<'_>>,
    legacy: Option<LegacyCheck>,
    batch: &Batch<'_>,
    r: &RecordRef<'_>,
) -> String {
    let (key_size, value_size) = sizes(r);
    let mut line = format!(
        "| offset: {} {}: {} keySize: {key_size} valueSize: {value_size}",
        r.offset(),
        timestamp_type(batch),
        r.timestamp()
    );
    if let Some(check) = legacy {
        // Kafka's format string (`s" isValid: ${r.isValid} crc: ${r.checksum}}"`) has one
        // closing brace too many, which lands in its output; scripts comparing the two
        // tools' lines see the same text.
        line.push_str(&format!(" isValid: {} crc: {}}}", check.valid, check.crc));
    }
    if let Some(b) = v2 {
        let keys: Vec<String> = r
            .headers()
            .iter()
            .map(|(k, _)| text(k).into_owned())
            .collect();
        line.push_str(&format!(
            " sequence: {} headerKeys: [{}]",
            increment_sequence(b.base_sequence(), r.offset() - b.base_offset()),
            keys.join(",")
        ));
        if b.is_control() {
            match control_info(r) {
                Some((name, _, Some(epoch))) => {
                    line.push_str(&format!(" endTxnMarker: {name} coordinatorEpoch: {epoch}"));
                }
                Some((name, id, None)) => line.push_str(&format!(" controlType: {name}({id})")),
                None => line.push_str(" controlType: UNKNOWN"),
            }
            return line;
        }
    }
    if let Some(k) = r.key() {
        line.push_str(" key: ");
        line.push_str(&text(k));
    }
    if let Some(v) = r.value() {
        line.push_str(" payload: ");
        line.push_str(&text(v));
    }
    line
}

/// One record as JSON, with the text layout's names (`isValid` and `crc` for legacy
/// records, without the text's stray brace).
pub(super) fn record_json(
    v2: Option<&RecordBatch<'_>>,
    legacy: Option<LegacyCheck>,
    batch: &Batch<'_>,
    r: &RecordRef<'_>,
) -> String {
    let (key_size, value_size) = sizes(r);
    let mut o = JsonObject::new()
        .num("offset", r.offset())
        .num(timestamp_type(batch), r.timestamp())
        .num("keySize", key_size)
        .num("valueSize", value_size);
    if let Some(check) = legacy {
        o = o.bool("isValid", check.valid).num("crc", check.crc);
    }
    if let Some(b) = v2 {
        o = o
            .num(
                "sequence",
                increment_sequence(b.base_sequence(), r.offset() - b.base_offset()),
            )
            .raw(
                "headerKeys",
                &json_array(
                    r.headers()
                        .iter()
                        .map(|(k, _)| json_string(&String::from_utf8_lossy(k))),
                ),
            );
        if b.is_control() {
            return match control_info(r) {
                Some((name, _, Some(epoch))) => {
                    o.str("endTxnMarker", name).num("coordinatorEpoch", epoch)
                }
                Some((name, _, None)) => o.str("controlType", name),
                None => o.str("controlType", "UNKNOWN"),
            }
            .finish();
        }
    }
    o.opt_str("key", r.key().map(String::from_utf8_lossy).as_deref())
        .opt_str("payload", r.value().map(String::from_utf8_lossy).as_deref())
        .finish()
}
