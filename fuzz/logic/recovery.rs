//! Fuzz logic `recovery` (R28): arbitrary segment, offset index, time index and leader-epoch
//! checkpoint bytes in a partition directory (on the in-memory `SimFs`), opened with
//! arbitrary recovery options.
//!
//! Input: one options byte (bit 0 clean shutdown, bit 1 repair, bits 2-3 the recovery
//! point: none, 0, 5 or 1000), then files, each `[tag][length: u16 BE][bytes]`: the tag's
//! low 2 bits pick the kind (`.log`, `.index`, `.timeindex`, `leader-epoch-checkpoint`) and
//! its high 6 bits the segment's base offset (`slot * 4`). Index parsing is reachable only
//! through these files, so this target covers it too.
//!
//! Checks (I6, I4): `Log::open` returns a log or an error, never panics; every v2 batch a
//! read returns re-validates (CRC, records decode) and follows the one before exactly, every
//! record of a read decodes; `offset_for_timestamp` does not panic; after `close`, a clean reopen and an unclean reopen from the closed state's
//! recovery point both read exactly the same batches and stop at the same error, and cut
//! nothing (recovery is idempotent; the unclean reopen may refuse damage that the first
//! open trusted and a read then met).
//!
//! Shared by `fuzz/fuzz_targets/recovery.rs` and the main crate's corpus replay test; uses
//! tidelog's public API only (with its `test-util` feature, for `SimFs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tidelog::config::{LogConfig, ManualClock};
use tidelog::io::{SimFs, Storage};
use tidelog::log::{Log, LogOpenOptions};
use tidelog::record::RecordBatch;

const DIR: &str = "/fuzz/t-0";
const KINDS: [&str; 4] = ["log", "index", "timeindex", "leader-epoch-checkpoint"];

/// The log configuration of the target: small segments and limits, so inputs stay small.
pub fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 128,
        segment_index_bytes: 4096,
        max_decompressed_bytes: 1 << 20,
        retention_ms: -1,
        ..Default::default()
    }
}

/// The options byte of an input.
pub fn options_byte(clean: bool, repair: bool, recovery_point: u8) -> u8 {
    u8::from(clean) | (u8::from(repair) << 1) | ((recovery_point & 3) << 2)
}

/// Encodes the files of a partition directory on `fs` as an input (for seeds): every file
/// whose name this target can express.
pub fn encode_dir(fs: &SimFs, dir: &Path, options: u8) -> Vec<u8> {
    let mut out = vec![options];
    for path in fs.list(dir) {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let (tag, bytes) = if name == KINDS[3] {
            (3u8, fs.read_file(&path).unwrap_or_default())
        } else {
            let Some((stem, ext)) = name.split_once('.') else {
                continue;
            };
            let Some(kind) = KINDS[..3].iter().position(|k| *k == ext) else {
                continue;
            };
            let Ok(base) = stem.parse::<u64>() else {
                continue;
            };
            if base % 4 != 0 || base / 4 > 63 {
                continue;
            }
            (
                ((base / 4) as u8) << 2 | kind as u8,
                fs.read_file(&path).unwrap_or_default(),
            )
        };
        let bytes = &bytes[..bytes.len().min(u16::MAX as usize)];
        out.push(tag);
        out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

/// Writes the files of input `data` into a fresh `SimFs`; returns it with the options byte.
fn decode_input(data: &[u8]) -> Option<(SimFs, u8)> {
    let (&options, mut rest) = data.split_first()?;
    let fs = SimFs::new();
    let dir = PathBuf::from(DIR);
    fs.create_dir_all(&dir).ok()?;
    while rest.len() >= 3 {
        let tag = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        let bytes = &rest[3..(3 + len).min(rest.len())];
        rest = &rest[(3 + len).min(rest.len())..];
        let kind = usize::from(tag & 3);
        let name = if kind == 3 {
            KINDS[3].to_string()
        } else {
            format!("{:020}.{}", u64::from(tag >> 2) * 4, KINDS[kind])
        };
        fs.write_file(&dir.join(name), bytes);
    }
    Some((fs, options))
}

fn open(fs: &SimFs, clean: bool, repair: bool, rp: Option<i64>) -> tidelog::Result<Log<SimFs>> {
    Log::open_with(
        fs.clone(),
        DIR,
        config(),
        LogOpenOptions {
            recovery_point: rp,
            clean_shutdown: clean,
            repair,
            clock: Arc::new(ManualClock::new(1_000_000)),
            ..Default::default()
        },
    )
}

/// What reading a log from its start gives: the raw batches, then the offset of the first
/// read error if any.
#[derive(Debug, PartialEq, Eq)]
struct Contents {
    start: i64,
    end: i64,
    batches: Vec<Vec<u8>>,
    error_at: Option<i64>,
}

fn read_all(log: &Log<SimFs>) -> Contents {
    let mut out = Contents {
        start: log.log_start_offset(),
        end: log.end_offset(),
        batches: Vec::new(),
        error_at: None,
    };
    let mut scratch = Vec::new();
    let mut next = out.start;
    let mut last_next = i64::MIN;
    while next < out.end {
        let res = match log.read(next, 1 << 16) {
            Ok(res) => res,
            Err(e) => {
                let _ = e.to_string();
                out.error_at = Some(next);
                break;
            }
        };
        if res.is_empty() {
            break;
        }
        let bytes = res.bytes();
        let mut p = 0;
        while p + 17 <= bytes.len() {
            let length =
                i32::from_be_bytes([bytes[p + 8], bytes[p + 9], bytes[p + 10], bytes[p + 11]]);
            let size = 12 + usize::try_from(length).expect("a returned batch has a sane length");
            if bytes[p + 16] != 2 {
                // A legacy message: its records are checked below, its offsets carry no delta.
                last_next = i64::MIN;
                out.batches.push(bytes[p..p + size].to_vec());
                p += size;
                continue;
            }
            let batch = match RecordBatch::parse(&bytes[p..p + size]) {
                Ok(b) => b,
                Err(e) => panic!("a returned batch at byte {p} of a read at {next} fails: {e}"),
            };
            if let Err(e) = batch.validate_records(&mut scratch, 1 << 20) {
                panic!(
                    "a returned batch at offset {} does not decode: {e}",
                    batch.base_offset()
                );
            }
            // The log is never compacted: v2 batches follow each other exactly.
            assert!(
                last_next == i64::MIN || batch.base_offset() == last_next,
                "batch at {} after one ending at {}",
                batch.base_offset(),
                last_next - 1
            );
            last_next = batch.last_offset() + 1;
            out.batches.push(bytes[p..p + size].to_vec());
            p += size;
        }
        for record in res.records() {
            if let Err(e) = record {
                panic!("a record of a read at {next} does not decode: {e}");
            }
        }
        assert!(res.next_offset() > next, "read at {next} made no progress");
        next = res.next_offset();
    }
    out
}

/// Runs the checks on one input.
pub fn run(data: &[u8]) {
    let Some((fs, options)) = decode_input(data) else {
        return;
    };
    let clean = options & 1 != 0;
    let repair = options & 2 != 0;
    let rp = match (options >> 2) & 3 {
        0 => None,
        1 => Some(0),
        2 => Some(5),
        _ => Some(1000),
    };
    let log = match open(&fs, clean, repair, rp) {
        Ok(log) => log,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let first = read_all(&log);
    for ts in [i64::MIN, -1, 0, 1_000_000, i64::MAX] {
        let _ = log.offset_for_timestamp(ts);
    }
    let state = match log.close() {
        Ok(state) => state,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    drop(log);
    for again_clean in [true, false] {
        let again = match open(&fs, again_clean, false, Some(state.recovery_point)) {
            Ok(log) => log,
            // Damage the first open trusted (a clean shutdown) and a read then met is
            // durable data: a scan on reopen may refuse it.
            Err(e) if first.error_at.is_some() && !again_clean => {
                let _ = e.to_string();
                continue;
            }
            Err(e) => panic!("reopen (clean {again_clean}) after close fails: {e}"),
        };
        assert!(
            again.recovery_report().cuts.is_empty(),
            "reopen (clean {again_clean}) cut {:?}",
            again.recovery_report().cuts
        );
        let second = read_all(&again);
        assert_eq!(
            first, second,
            "reopen (clean {again_clean}) reads otherwise"
        );
    }
}
