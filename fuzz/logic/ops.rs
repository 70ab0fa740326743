//! Fuzz logic `ops` (R29): an arbitrary sequence of log operations on the in-memory `SimFs`,
//! a power loss after an arbitrary number of mutating I/O calls, one of the crash image
//! variants (a)-(f), then recovery, checked against a model of what the operations were
//! told (redb's `fuzz_redb` method).
//!
//! Input: `[crash_after: u16 BE][variant][seed]` then one byte per operation (at most 64):
//! `b % 8` picks append (0-2), append with `Durability::Sync` (3), flush (4), roll (5),
//! retention (6), read (7); an append takes the next byte for its values' length and
//! `b / 8 % 3 + 1` records. `crash_after` 0 means no power loss: the log is then dropped
//! without `close` (a process crash, the page cache survives). Bit 3 of `variant` reopens
//! with the durable offset before the last raise (a trailing recovery point).
//!
//! Checks (I1-I8): recovery opens; every batch read back is one that was appended, byte for
//! byte, at the offset its append returned, and the batches form one contiguous run of the
//! appends (no holes); nothing reported durable is missing (nor anything acknowledged, when
//! the page cache survived), except below a retention pass; the log end is exactly the end
//! of the last recovered batch; the durable offset does not pass the log end; the next
//! append gets the log end as its offset.
//!
//! Shared by `fuzz/fuzz_targets/ops.rs` and the main crate's corpus replay test; uses
//! tidelog's public API only (with its `test-util` feature, for `SimFs`).

use std::path::Path;
use std::sync::Arc;

use tidelog::config::{LogConfig, ManualClock};
use tidelog::io::{CrashVariant, SimFs, SimRng, Storage};
use tidelog::log::{Durability, Log, LogOpenOptions, Validation};
use tidelog::record::{encode_batch, BatchOptions, Record};

const DIR: &str = "/fuzz/t-0";
const MAX_OPS: usize = 64;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 100,
        segment_index_bytes: 4096,
        retention_bytes: 2000,
        retention_ms: -1,
        ..Default::default()
    }
}

fn options(clock: &ManualClock, rp: Option<i64>) -> LogOpenOptions {
    LogOpenOptions {
        recovery_point: rp,
        clock: Arc::new(clock.clone()),
        ..Default::default()
    }
}

struct Attempt {
    base: i64,
    next: i64,
    bytes: Vec<u8>,
    acked: bool,
}

#[derive(Default)]
struct Model {
    attempts: Vec<Attempt>,
    durable: i64,
    durable_prev: i64,
    retention_floor: i64,
}

impl Model {
    fn saw_durable(&mut self, d: i64) {
        if d > self.durable {
            self.durable_prev = self.durable;
            self.durable = d;
        }
    }
}

fn batch(n: usize, len: u8, ts: i64) -> Vec<u8> {
    let records: Vec<Record> = (0..n)
        .map(|i| Record::new(ts + i as i64, vec![b'a' + i as u8; usize::from(len)]))
        .collect();
    encode_batch(BatchOptions::default(), &records).expect("a small batch encodes")
}

/// True if `got` is `want` as the log stores it at `base` (base offset and partition leader
/// epoch stamped by the log).
fn same_batch(got: &[u8], want: &[u8], base: i64) -> bool {
    got.len() == want.len()
        && got.len() >= 61
        && got[..8] == base.to_be_bytes()
        && got[8..12] == want[8..12]
        && got[16..] == want[16..]
}

/// Runs the operations until the first error (after a power loss every call fails).
fn run_ops(log: &Log<SimFs>, ops: &[u8], clock: &ManualClock, m: &mut Model) {
    let mut i = 0;
    let mut count = 0;
    while i < ops.len() && count < MAX_OPS {
        let b = ops[i];
        i += 1;
        count += 1;
        clock.advance(5);
        let result = match b % 8 {
            0..=3 => {
                let len = ops.get(i).copied().unwrap_or(10);
                i += 1;
                let bytes = batch(usize::from(b / 8 % 3) + 1, len, 1_000 + count as i64);
                let base = log.end_offset();
                let sync = b % 8 == 3;
                let durability = if sync {
                    Durability::Sync
                } else {
                    Durability::PageCache
                };
                let r = log.append_batch_with(&bytes, Validation::Shallow, durability);
                let acked = match &r {
                    Ok(info) => {
                        assert_eq!(info.first_offset, base, "append got another offset");
                        true
                    }
                    Err(_) => false,
                };
                let next = base + i64::from(b / 8 % 3) + 1;
                m.attempts.push(Attempt {
                    base,
                    next,
                    bytes,
                    acked,
                });
                r.map(drop)
            }
            4 => log.flush(),
            5 => log.roll(),
            6 => {
                let floor = log.segment_base_offsets().last().copied().unwrap_or(0);
                let r = log.apply_retention().map(drop);
                m.retention_floor = m.retention_floor.max(floor);
                r
            }
            _ => log.read(log.log_start_offset(), 2048).map(drop),
        };
        m.saw_durable(log.durable_offset());
        if result.is_err() {
            break;
        }
    }
}

/// Checks the recovered `log` against the model.
fn check(log: &Log<SimFs>, m: &Model, acked_survive: bool) {
    let mut got = Vec::new();
    let mut next = log.log_start_offset();
    loop {
        let r = match log.read(next, 1 << 16) {
            Ok(r) => r,
            Err(e) => panic!("reading the recovered log at {next}: {e}"),
        };
        if r.is_empty() {
            break;
        }
        let bytes = r.bytes();
        let mut p = 0;
        while p + 12 <= bytes.len() {
            let len = i32::from_be_bytes(bytes[p + 8..p + 12].try_into().expect("4 bytes"));
            let end = p + 12 + len.max(0) as usize;
            got.push(bytes[p..end.min(bytes.len())].to_vec());
            p = end;
        }
        next = r.next_offset();
    }
    let mut prev: Option<usize> = None;
    let mut first: Option<usize> = None;
    for raw in &got {
        let base = i64::from_be_bytes(raw[..8].try_into().expect("8 bytes"));
        let i = m
            .attempts
            .iter()
            .position(|a| a.base == base && same_batch(raw, &a.bytes, base))
            .unwrap_or_else(|| panic!("batch at offset {base} was never appended there"));
        if let Some(p) = prev {
            assert_eq!(i, p + 1, "batch {i} follows batch {p}: a hole");
        }
        first.get_or_insert(i);
        prev = Some(i);
    }
    let first = first.unwrap_or(m.attempts.len());
    let last = prev.map_or(first, |p| p + 1);
    for (i, a) in m.attempts.iter().enumerate() {
        let present = i >= first && i < last;
        if present || (i < first && a.next <= m.retention_floor) {
            continue;
        }
        assert!(
            a.next > m.durable,
            "batch {i} at {} lost, below the durable offset {}",
            a.base,
            m.durable
        );
        assert!(
            !(a.acked && acked_survive),
            "acknowledged batch {i} at {} lost without a power loss",
            a.base
        );
    }
    let end = log.end_offset();
    if let Some(p) = prev {
        // R01: the next offset is the last recovered one + 1; a log end past it would open
        // a hole between the recovered data and the next append.
        assert_eq!(
            end, m.attempts[p].next,
            "log end {end} is not the end of the last recovered batch {p}"
        );
    }
    assert!(
        end >= m.durable,
        "log end {end} below the durable offset {}",
        m.durable
    );
    assert!(
        log.durable_offset() <= end,
        "durable offset past the log end"
    );
    let probe = batch(1, 3, 9_999);
    match log.append_batch(&probe, Validation::Shallow) {
        Ok(info) => assert_eq!(info.first_offset, end, "append after recovery"),
        Err(e) => panic!("append after recovery failed: {e}"),
    }
}

/// Runs the checks on one input.
pub fn run(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let crash_after = u64::from(u16::from_be_bytes([data[0], data[1]]));
    let variant = CrashVariant::ALL[usize::from(data[2] % 8) % CrashVariant::ALL.len()];
    let trailing = data[2] & 8 != 0;
    let seed = u64::from(data[3]);
    let ops = &data[4..];

    let sim = SimFs::new();
    sim.create_dir_all(Path::new(DIR))
        .expect("a directory in memory");
    if crash_after > 0 {
        sim.crash_after(crash_after);
    }
    let clock = ManualClock::new(1_000_000);
    let mut m = Model::default();
    match Log::open_with(sim.clone(), DIR, config(), options(&clock, None)) {
        Ok(log) => run_ops(&log, ops, &clock, &mut m),
        Err(_) => {
            assert!(crash_after > 0, "opening an empty directory failed");
            return;
        }
    }
    let (image, acked_survive) = match sim.frozen() {
        Some(frozen) => (frozen.crash(variant, &mut SimRng::new(seed)), false),
        None => {
            // The power loss never came: take it off before recovery runs on this disk.
            sim.crash_after(u64::MAX / 2);
            (sim, true)
        }
    };
    let rp = if trailing { m.durable_prev } else { m.durable };
    let clock = ManualClock::new(2_000_000);
    let log = match Log::open_with(image, DIR, config(), options(&clock, Some(rp))) {
        Ok(log) => log,
        Err(e) => panic!("recovery failed on an image that kept every sync: {e}"),
    };
    check(&log, &m, acked_survive);
}
