//! Random damage anywhere in a closed store (R04): 1, 8 or 64 random bit flips in one
//! segment, offset index, time index, checkpoint or metadata file; a 4 KiB chunk of a file
//! copied over another place of the same file (Jepsen's copy-file-chunks); and a chunk of a
//! file restored from an older snapshot of the store (Jepsen's snapshot/restore-chunk; the
//! older snapshot holds other batches at the same positions, since the log was truncated
//! and appended to in between).
//!
//! What must hold (I4, I6, I10): no panic; `Store::open` either succeeds or returns a typed
//! error; no read returns a batch other than the one appended at its offset (every batch is
//! compared byte for byte with the oracle); damage to a derived file (an index or a time
//! index) loses nothing and lookups equal a linear scan; damage to a segment surfaces as a
//! typed error (`Error::Corrupt`, ...) for the damaged range, and every batch outside it is
//! returned intact. Prints one JSON line of counts with the seed.

#![cfg(feature = "test-util")]

mod reliability_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use reliability_support::*;
use tidelog::config::{LogConfig, ManualClock, StoreConfig, TopicConfig};
use tidelog::io::SimRng;
use tidelog::log::{Log, Validation};
use tidelog::record::RecordBatch;
use tidelog::store::Store;
use tidelog::Error;

const TOPIC: &str = "flip";
const PARTITIONS: i32 = 2;
const CHUNK: usize = 4096;

fn store_config(clock: &ManualClock) -> StoreConfig {
    StoreConfig {
        log: LogConfig {
            segment_bytes: 2000,
            index_interval_bytes: 100,
            segment_index_bytes: 4096,
            retention_ms: -1,
            ..Default::default()
        },
        clock: Arc::new(clock.clone()),
        ..Default::default()
    }
}

/// What each partition must hold, and what an older snapshot held at the same offsets.
struct PartitionOracle {
    /// The batches of the current history, in offset order (below the log start too).
    batches: Vec<Attempt>,
    /// `(offset, timestamp)` of every record of the current history.
    records: Vec<(i64, i64)>,
    log_start: i64,
}

/// Builds the fixture: a store with one topic of two partitions, closed once (the old
/// snapshot is copied then), reopened, partition 0 truncated and appended to with other
/// batches, partition 1 appended to and its start raised, closed again.
fn build(root: &Path, seed: u64) -> TestResult<(PathBuf, PathBuf, Vec<PartitionOracle>)> {
    let dir = root.join("store");
    let old = root.join("old");
    let clock = ManualClock::new(1_000_000);
    let mut rng = SimRng::new(seed);
    let mut history: Vec<Vec<Attempt>> = vec![Vec::new(); PARTITIONS as usize];
    let mut ts = 10_000;
    let mut append = |log: &Log, h: &mut Vec<Attempt>, rng: &mut SimRng| -> TestResult {
        ts += 10;
        let jitter = rng.below(25) as i64;
        let batch = random_batch(rng, ts - jitter);
        let info = log.append_batch(&batch, Validation::Shallow)?;
        h.push(Attempt {
            base: info.first_offset,
            bytes: batch,
            acked: true,
        });
        Ok(())
    };
    {
        let store = Store::open(&dir, store_config(&clock))?;
        let topic = TopicConfig::default()
            .with("retention.ms", "-1")?
            .with("retention.bytes", "-1")?;
        store.create_topic(TOPIC, PARTITIONS as u32, topic)?;
        for p in 0..PARTITIONS {
            let log = store.log(TOPIC, p)?;
            for _ in 0..40 {
                append(&log, &mut history[p as usize], &mut rng)?;
            }
        }
        store.close()?;
    }
    copy_tree(&dir, &old)?;
    let mut starts = vec![0; PARTITIONS as usize];
    {
        let store = Store::open(&dir, store_config(&clock))?;
        let log = store.log(TOPIC, 0)?;
        let h = &mut history[0];
        let cut = h[h.len() / 2].base;
        log.truncate_to(cut)?;
        h.retain(|a| a.base < cut);
        for _ in 0..30 {
            append(&log, h, &mut rng)?;
        }
        let log = store.log(TOPIC, 1)?;
        let h = &mut history[1];
        for _ in 0..10 {
            append(&log, h, &mut rng)?;
        }
        let report = log.delete_records_before(h[12].base)?;
        starts[1] = report.log_start_offset;
        store.close()?;
    }
    let store = Store::open(&dir, store_config(&clock))?;
    let mut oracles = Vec::new();
    for p in 0..PARTITIONS {
        let log = store.log(TOPIC, p)?;
        let start = log.log_start_offset();
        if start != starts[p as usize] {
            return Err(format!("partition {p}: log start {start}").into());
        }
        // Every batch ever kept, below the log start too: the segment holding the start
        // keeps them on disk, and a damaged log-start checkpoint may expose them again.
        let batches = std::mem::take(&mut history[p as usize]);
        let records = records_of(&log)?;
        oracles.push(PartitionOracle {
            batches,
            records,
            log_start: start,
        });
    }
    store.close()?;
    // The open above rewrote nothing but the clean-shutdown marker and checkpoints, and a
    // clean close writes them back: the fixture is the store as `close` left it.
    Ok((dir, old, oracles))
}

/// Copies a directory tree (files and directories only).
fn copy_tree(from: &Path, to: &Path) -> TestResult {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let ty = e.file_type()?;
        if ty.is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        } else if ty.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// Every file of a tree, relative to its root, sorted.
fn files_of(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> TestResult {
    for e in std::fs::read_dir(root.join(rel))? {
        let e = e?;
        let name = rel.join(e.file_name());
        if e.file_type()?.is_dir() {
            files_of(root, &name, out)?;
        } else {
            out.push(name);
        }
    }
    out.sort();
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Segment,
    Index,
    TimeIndex,
    Checkpoint,
    Metadata,
}

const CLASSES: [Class; 5] = [
    Class::Segment,
    Class::Index,
    Class::TimeIndex,
    Class::Checkpoint,
    Class::Metadata,
];

fn class_of(path: &Path) -> Option<Class> {
    let name = path.file_name()?.to_str()?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("log") => Some(Class::Segment),
        Some("index") => Some(Class::Index),
        Some("timeindex") => Some(Class::TimeIndex),
        _ if name.ends_with("checkpoint") => Some(Class::Checkpoint),
        _ if name == "tidelog-store-metadata" || name == "partition.metadata" => {
            Some(Class::Metadata)
        }
        // The lock file and the empty clean-shutdown marker carry no bits worth flipping.
        _ => None,
    }
}

fn class_name(c: Class) -> &'static str {
    match c {
        Class::Segment => "segment",
        Class::Index => "index",
        Class::TimeIndex => "timeindex",
        Class::Checkpoint => "checkpoint",
        Class::Metadata => "metadata",
    }
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Flips(u32),
    CopyChunk,
    StaleChunk,
}

/// Applies `damage` to `bytes` (the file as the fixture has it; `old` as the older
/// snapshot has it). Returns the number of bits flipped, or `None` if the damage changed
/// nothing (the trial is then not counted).
fn apply(damage: Damage, bytes: &mut Vec<u8>, old: Option<&[u8]>, rng: &mut SimRng) -> Option<u64> {
    let before = bytes.clone();
    let mut flips = 0;
    match damage {
        Damage::Flips(n) => {
            if bytes.is_empty() {
                return None;
            }
            for _ in 0..n {
                let i = rng.below(bytes.len() as u64) as usize;
                bytes[i] ^= 1 << rng.below(8);
                flips += 1;
            }
        }
        Damage::CopyChunk => {
            let len = CHUNK.min(bytes.len() / 2);
            if len == 0 {
                return None;
            }
            let src = rng.below((bytes.len() - len + 1) as u64) as usize;
            let dst = rng.below((bytes.len() - len + 1) as u64) as usize;
            bytes.copy_within(src..src + len, dst);
        }
        Damage::StaleChunk => {
            let old = old?;
            let common = old.len().min(bytes.len());
            if common == 0 {
                return None;
            }
            let at = rng.below(common as u64) as usize;
            let end = (at + CHUNK).min(common);
            bytes[at..end].copy_from_slice(&old[at..end]);
        }
    }
    (*bytes != before).then_some(flips)
}

/// The whole batches of a read result's bytes.
fn split_batches(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut p = 0;
    while p + 12 <= bytes.len() {
        let len = i32::from_be_bytes(bytes[p + 8..p + 12].try_into().unwrap_or_default());
        let end = (p + 12 + len.max(0) as usize).min(bytes.len());
        out.push(&bytes[p..end]);
        p = end;
    }
    out
}

/// The counts of one trial's reads.
#[derive(Default)]
struct Reads {
    intact: u64,
    errors: u64,
    changed: u64,
    /// Batches below the log end that a read there does not return, with no error.
    empty: u64,
    /// Intact batches the scan skipped over without an error.
    skipped: u64,
    stale: u64,
}

/// Reads every batch of `log` from its start, in one pass of large reads as a consumer
/// does, skipping a batch past any read error; each batch returned must be the oracle's at
/// its offset. Then looks up each oracle batch that the pass did not return: it must give
/// an error, never data or nothing.
fn read_checked(
    log: &Log,
    o: &PartitionOracle,
    stale: &[Attempt],
    report: &mut Report,
    what: &str,
) -> Reads {
    let mut r = Reads::default();
    let mut seen = vec![false; o.batches.len()];
    let mut errored = vec![false; o.batches.len()];
    let find = |base: i64| o.batches.binary_search_by_key(&base, |a| a.base).ok();
    let mut next = log.log_start_offset();
    let end = log.end_offset();
    let mut rounds = 0;
    let mut scratch = Vec::new();
    while next < end && rounds < 10_000 {
        rounds += 1;
        match log.read(next, 1 << 14) {
            Ok(res) if res.is_empty() => break,
            Ok(res) => {
                for raw in split_batches(res.bytes()) {
                    let base = batch_base(raw);
                    match find(base) {
                        Some(i) if same_batch(raw, &o.batches[i].bytes, o.batches[i].base) => {
                            seen[i] = true;
                        }
                        _ if stale.iter().any(|a| same_batch(raw, &a.bytes, base)) => {
                            r.stale += 1;
                            report.note(format!(
                                "{what}: a stale batch at offset {base} was returned"
                            ));
                        }
                        _ => {
                            r.changed += 1;
                            report.note(format!(
                                "{what}: batch at offset {base} ({} bytes) is not what was appended",
                                raw.len()
                            ));
                        }
                    }
                    // A returned batch re-validates: CRC, then every record decodes.
                    let valid = RecordBatch::parse(raw)
                        .and_then(|b| b.validate_records(&mut scratch, 1 << 26));
                    if let Err(e) = valid {
                        r.changed += 1;
                        report.note(format!(
                            "{what}: a returned batch does not re-validate: {e}"
                        ));
                    }
                }
                if res.next_offset() <= next {
                    break;
                }
                next = res.next_offset();
            }
            Err(_) => {
                // Skip to the batch after the one that covers `next`.
                let i = o.batches.partition_point(|a| a.next() <= next);
                if let Some(a) = o.batches.get(i) {
                    errored[i] = true;
                    next = a.next().max(next + 1);
                } else {
                    break;
                }
            }
        }
    }
    for (i, a) in o.batches.iter().enumerate() {
        if seen[i] {
            r.intact += 1;
            continue;
        }
        if a.next() <= log.log_start_offset() {
            continue;
        }
        match log.read(a.base.max(log.log_start_offset()), 1) {
            Err(_) => r.errors += 1,
            Ok(res) => match split_batches(res.bytes()).first() {
                None => {
                    r.empty += 1;
                    report.note(format!(
                        "{what}: a read at offset {} inside the log returns nothing",
                        a.base
                    ));
                }
                Some(raw) if same_batch(raw, &a.bytes, a.base) => {
                    if errored[i] {
                        r.errors += 1;
                    } else {
                        r.intact += 1;
                        r.skipped += 1;
                        report.note(format!(
                            "{what}: the scan did not return the intact batch at offset {}",
                            a.base
                        ));
                    }
                }
                Some(raw) => {
                    r.changed += 1;
                    report.note(format!(
                        "{what}: a read at offset {} returns a batch at {} ({} bytes)",
                        a.base,
                        batch_base(raw),
                        raw.len()
                    ));
                }
            },
        }
    }
    r
}

fn is_typed(e: &Error) -> bool {
    matches!(
        e,
        Error::Corrupt { .. }
            | Error::InvalidLayout { .. }
            | Error::UnknownCodec { .. }
            | Error::DecompressionLimit { .. }
            | Error::Io { .. }
            | Error::UnknownPartition { .. }
            | Error::UnknownTopic { .. }
            | Error::InvalidConfig { .. }
    )
}

/// R04: ~1k trials of random damage to one file of a closed store each.
#[test]
fn r04_bitflip_random_all_files() -> TestResult {
    let seed = seed(0x0004_5EED);
    let trials: u64 = std::env::var("TIDELOG_BITFLIP_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let mut report = Report::new("r04_bitflip_random_all_files", seed);
    let root = scratch_dir()?;
    let (fixture, old, oracles) = build(root.path(), seed)?;
    // What the older snapshot held, for telling a restored stale batch from garbage.
    let stale: Vec<Vec<Attempt>> = {
        let clock = ManualClock::new(1_000_000);
        let store = Store::open(&old, store_config(&clock))?;
        let mut out = Vec::new();
        for p in 0..PARTITIONS {
            let log = store.log(TOPIC, p)?;
            let o = &oracles[p as usize];
            let batches = read_raw_batches(&log)?;
            out.push(
                batches
                    .into_iter()
                    .filter(|raw| {
                        let base = batch_base(raw);
                        !o.batches
                            .iter()
                            .any(|a| a.base == base && same_batch(raw, &a.bytes, base))
                    })
                    .map(|raw| Attempt {
                        base: batch_base(&raw),
                        bytes: raw,
                        acked: true,
                    })
                    .collect(),
            );
        }
        store.close()?;
        out
    };
    let mut files = Vec::new();
    files_of(&fixture, Path::new(""), &mut files)?;
    let by_class: Vec<Vec<PathBuf>> = CLASSES
        .iter()
        .map(|&c| {
            files
                .iter()
                .filter(|f| class_of(f) == Some(c))
                .cloned()
                .collect()
        })
        .collect();
    for (c, list) in CLASSES.iter().zip(&by_class) {
        if list.is_empty() {
            return Err(format!("the fixture has no {} file", class_name(*c)).into());
        }
    }
    let originals: Vec<(PathBuf, Vec<u8>)> = files
        .iter()
        .map(|f| Ok((f.clone(), std::fs::read(fixture.join(f))?)))
        .collect::<TestResult<_>>()?;
    let mut rng = SimRng::new(seed);
    let work = root.path().join("trial");
    copy_tree(&fixture, &work)?;
    let mut attempts = 0u64;
    while report.trials < trials && attempts < trials * 4 {
        attempts += 1;
        // Restore the working copy: every file as the fixture has it, nothing else.
        let _ = std::fs::remove_file(work.join(".kafka_cleanshutdown"));
        std::fs::remove_dir_all(&work)?;
        copy_tree(&fixture, &work)?;
        let class = CLASSES[rng.below(CLASSES.len() as u64) as usize];
        let list = &by_class[CLASSES.iter().position(|&c| c == class).unwrap_or(0)];
        let file = &list[rng.below(list.len() as u64) as usize];
        let damage = match rng.below(10) {
            0..=2 => Damage::Flips(1),
            3..=4 => Damage::Flips(8),
            5..=6 => Damage::Flips(64),
            7 => Damage::CopyChunk,
            _ => Damage::StaleChunk,
        };
        let mut bytes = originals
            .iter()
            .find(|(f, _)| f == file)
            .map(|(_, b)| b.clone())
            .unwrap_or_default();
        let old_bytes = std::fs::read(old.join(file)).ok();
        let Some(flips) = apply(damage, &mut bytes, old_bytes.as_deref(), &mut rng) else {
            continue;
        };
        std::fs::write(work.join(file), &bytes)?;
        report.trials += 1;
        report.faults_injected += 1;
        report.add("bit_flips", flips, false);
        report.add(
            match damage {
                Damage::Flips(_) => "flip_trials",
                Damage::CopyChunk => "copy_chunk_trials",
                Damage::StaleChunk => "stale_chunk_trials",
            },
            1,
            false,
        );
        let what = format!("trial {} ({damage:?} in {})", report.trials, file.display());
        let derived = matches!(class, Class::Index | Class::TimeIndex);
        trial(&mut report, &work, &oracles, &stale, class, derived, &what);
    }
    report.finish();
    Ok(())
}

fn trial(
    report: &mut Report,
    dir: &Path,
    oracles: &[PartitionOracle],
    stale: &[Vec<Attempt>],
    class: Class,
    derived: bool,
    what: &str,
) {
    let clock = ManualClock::new(2_000_000);
    let opened = guarded(report, what, || Store::open(dir, store_config(&clock)));
    let store = match opened {
        None => return,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            if derived {
                report.add("derived_damage_open_failures", 1, true);
                report.note(format!("{what}: open failed: {e}"));
            } else if is_typed(&e) {
                report.clear_errors += 1;
            } else {
                report.add("untyped_errors", 1, true);
                report.note(format!("{what}: open failed with {e:?}"));
            }
            return;
        }
    };
    report.recoveries_ok += 1;
    let mut trial_errors = 0;
    for p in 0..PARTITIONS {
        let o = &oracles[p as usize];
        let log = match store.log(TOPIC, p) {
            Ok(l) => l,
            Err(e) => {
                if derived || !is_typed(&e) {
                    report.add("partitions_unreachable", 1, true);
                    report.note(format!("{what}: partition {p}: {e}"));
                } else {
                    trial_errors += 1;
                }
                continue;
            }
        };
        let start = log.log_start_offset();
        if start != o.log_start {
            if class == Class::Checkpoint && start < o.log_start {
                // The log-start checkpoint has no checksum (Kafka's format): a flipped digit,
                // or a file too damaged to read, moves the start down, and records deleted
                // with `delete_records_before` are readable again. Never a loss.
                report.add("log_start_lowered_by_checkpoint_damage", 1, false);
            } else if class == Class::Checkpoint {
                // Up would hide acknowledged records (and let retention delete them): the
                // leader-epoch checkpoint bounds it.
                report.add("log_start_raised_by_checkpoint_damage", 1, true);
                report.note(format!(
                    "{what}: partition {p}: log start raised to {start}"
                ));
            } else {
                report.add("log_start_moved", 1, true);
                report.note(format!("{what}: partition {p}: log start {start}"));
            }
        }
        let o_start = PartitionOracle {
            batches: o
                .batches
                .iter()
                .filter(|a| a.next() > start)
                .cloned()
                .collect(),
            records: o.records.iter().filter(|r| r.0 >= start).copied().collect(),
            log_start: start,
        };
        let r = guarded(report, what, || {
            let mut sub = Report::new("sub", 0);
            let r = read_checked(&log, &o_start, &stale[p as usize], &mut sub, what);
            (r, sub.notes)
        });
        let Some((r, notes)) = r else { continue };
        report.add(
            "batches_checked",
            r.intact + r.errors + r.changed + r.empty,
            false,
        );
        report.corrupt_returned += r.changed;
        report.add("stale_batches_returned", r.stale, true);
        // Corruption must surface as an error, never as "no data here" or a silent skip.
        report.add("silent_empty_reads", r.empty, true);
        report.add("batches_skipped_by_scan", r.skipped, true);
        if class == Class::Segment {
            trial_errors += r.errors;
        } else {
            // Only a damaged segment may make a batch unreadable.
            report.acked_synced_lost += r.errors;
        }
        if r.changed + r.empty + r.skipped + r.stale > 0
            || (class != Class::Segment && r.errors > 0)
        {
            for n in notes {
                report.note(n);
            }
            if class != Class::Segment && r.errors > 0 {
                report.note(format!("{what}: {} batches unreadable", r.errors));
            }
        }
        if derived && r.errors + r.empty == 0 {
            let (lookups, bad, ts_bad, notes) = check_lookups(&log, &o_start.records);
            report.add("lookups_checked", lookups, false);
            report.add("offset_lookup_mismatches", bad, true);
            let key = if class == Class::TimeIndex {
                "timestamp_lookup_mismatches_time_index"
            } else {
                "timestamp_lookup_mismatches_offset_index"
            };
            report.add(key, ts_bad, true);
            if bad + ts_bad > 0 {
                report.note(format!("{what}: {:?}", &notes[..notes.len().min(3)]));
            }
        }
    }
    if trial_errors > 0 {
        report.clear_errors += 1;
    }
    if let Err(e) = store.close() {
        report.note(format!("{what}: close failed: {e}"));
        report.add("close_failures", 1, true);
    }
}
