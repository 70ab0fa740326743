//! Damage to a closed log on real files: corruption of a sealed, synced segment, in its
//! records and in every batch header field (R05), damaged or lying derived state: indexes,
//! time indexes, the recovery point (ahead of the log end and stale), the leader-epoch
//! checkpoint, the clean marker (R06), and odd directory layouts (R07).
//!
//! Durable data is never dropped silently (I7): damage below the recovery point is a typed
//! `Error::Corrupt` (on open or on read, for the damaged range), or with repair a reported
//! cut. Derived files are advisory: whatever their state, offset and timestamp lookups equal
//! a linear scan (I10). Each test prints one JSON line of counts.

#![cfg(feature = "test-util")]

mod reliability_support;

use std::path::Path;

use reliability_support::*;
use tidelog::config::{LogConfig, ManualClock};
use tidelog::io::SimRng;
use tidelog::log::{Log, LogOpenOptions, Validation};
use tidelog::Error;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 2000,
        index_interval_bytes: 100,
        segment_index_bytes: 4096,
        retention_ms: -1,
        ..Default::default()
    }
}

/// A cleanly closed log of `n` batches over several segments; returns the oracle (every
/// batch durable) and the records' `(offset, timestamp)`.
fn closed_fixture(dir: &Path, seed: u64, n: usize) -> TestResult<(Oracle, Vec<(i64, i64)>)> {
    let clock = ManualClock::new(1_000_000);
    let log = Log::open(dir, config(), open_options(&clock, None))?;
    let mut rng = SimRng::new(seed);
    let mut o = Oracle::default();
    for i in 0..n {
        let ts = 10_000 + i as i64 * 10 - rng.below(25) as i64;
        let batch = random_batch(&mut rng, ts);
        let info = log.append_batch(&batch, Validation::Shallow)?;
        o.attempted.push(Attempt {
            base: info.first_offset,
            bytes: batch,
            acked: true,
        });
    }
    let records = records_of(&log)?;
    let state = log.close()?;
    o.durable = state.recovery_point;
    Ok((o, records))
}

fn opts(clock: &ManualClock, rp: Option<i64>, clean: bool, repair: bool) -> LogOpenOptions {
    LogOpenOptions {
        recovery_point: rp,
        clean_shutdown: clean,
        repair,
        ..open_options(clock, None)
    }
}

/// Sizes of the `.log` files of `dir`, by base offset.
fn log_sizes(dir: &Path) -> TestResult<Vec<(i64, u64)>> {
    segment_bases(dir)?
        .into_iter()
        .map(|b| Ok((b, std::fs::metadata(seg_path(dir, b, "log"))?.len())))
        .collect()
}

/// The batch header's fields (Kafka's v2 layout) R05 damages: the name and the offset of
/// the byte flipped. The CRC covers bytes 21.. (attributes to the end); the base offset,
/// Length, partition leader epoch and magic lie outside it and are checked structurally
/// (RELIABILITY.md §3.3), except the epoch, which nothing in the batch can vouch for.
const HEADER_FIELDS: [(&str, usize); 12] = [
    ("base_offset", 7),
    ("length", 11),
    ("leader_epoch", 15),
    ("magic", 16),
    ("crc", 18),
    ("attributes", 22),
    ("last_offset_delta", 26),
    ("base_timestamp", 34),
    ("max_timestamp", 42),
    ("producer_id", 50),
    ("producer_epoch", 52),
    ("base_sequence", 56),
];

/// `(offset, position)` of every entry of an offset index file's bytes.
fn index_entries(bytes: &[u8], base: i64) -> Vec<(i64, u64)> {
    bytes
        .chunks_exact(8)
        .map(|e| {
            let rel = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
            let pos = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
            (base + i64::from(rel), u64::from(pos))
        })
        .take_while(|&(o, p)| o > base || p == 0 && o == base)
        .collect()
}

/// R05: a byte flipped in a sealed, synced segment: in the records, and in every header
/// field (base offset, Length, partition leader epoch, magic, CRC, attributes,
/// lastOffsetDelta, timestamps, producer id, epoch and sequence), after a clean and an
/// unclean shutdown, with and without a recovery point, and with repair: no batch is ever
/// returned changed; `Error::Corrupt` for the damaged range only (the index interval
/// holding the damaged batch: a read walks there from the index entry before it), later
/// segments intact, no byte removed unless repair was asked for, and then a reported cut.
///
/// The partition leader epoch (bytes 12..16) lies outside the CRC in Kafka's format and no
/// other field constrains it, so a flip there can pass every check and the batch is served
/// with the flipped epoch (its records unchanged). Those reads are counted apart
/// (`leader_epoch_flips_returned`, not enforced: a format limit, not a recovery bug); every
/// other field is enforced.
#[test]
fn r05_midlog_corruption_policy() -> TestResult {
    let seed = seed(0x0005_5EED);
    let mut report = Report::new("r05_midlog_corruption_policy", seed);
    let root = scratch_dir()?;
    let fixture = root.path().join("fixture");
    let (o, _) = closed_fixture(&fixture, seed, 30)?;
    let bases = segment_bases(&fixture)?;
    if bases.len() < 3 {
        return Err("the fixture needs three segments".into());
    }
    let victim_seg = bases[0];
    let seg_bytes = std::fs::read(seg_path(&fixture, victim_seg, "log"))?;
    let entries = index_entries(
        &std::fs::read(seg_path(&fixture, victim_seg, "index"))?,
        victim_seg,
    );
    let in_victim: Vec<&Attempt> = o.attempted.iter().filter(|a| a.base < bases[1]).collect();
    let end = o.durable;
    let mut trial = 0;
    for (k, a) in in_victim.iter().enumerate() {
        let pos: usize = in_victim[..k].iter().map(|x| x.bytes.len()).sum();
        let stamped = &seg_bytes[pos..pos + a.bytes.len()];
        // The damaged range: the batches whose read walks over the damaged header, from the
        // position of the index entry it looks up (the last with an offset at or below the
        // batch's base) to the batch itself.
        let in_damaged_range = |b: &Attempt| {
            let Some(j) = in_victim.iter().position(|x| x.base == b.base) else {
                return false;
            };
            let at: usize = in_victim[..j].iter().map(|x| x.bytes.len()).sum();
            let from = entries
                .iter()
                .rev()
                .find(|e| e.0 <= b.base)
                .map_or(0, |e| e.1 as usize);
            from <= pos && pos <= at
        };
        let fields = std::iter::once(("records", a.bytes.len() - 3)).chain(HEADER_FIELDS);
        for (field, at) in fields {
            for (mode, rp, clean, repair) in [
                ("clean", Some(end), true, false),
                ("unclean", Some(end), false, false),
                ("unclean-no-rp", None, false, false),
                ("repair", None, false, true),
            ] {
                trial += 1;
                let dir = root.path().join(format!("t{trial}"));
                copy_dir(&fixture, &dir)?;
                let mut bytes = seg_bytes.clone();
                bytes[pos + at] ^= 0x10;
                std::fs::write(seg_path(&dir, victim_seg, "log"), &bytes)?;
                let sizes_before = log_sizes(&dir)?;
                report.trials += 1;
                report.faults_injected += 1;
                report.add("header_flips", u64::from(field != "records"), false);
                let what = format!("{field} of batch {k} flipped, {mode}");
                let clock = ManualClock::new(2_000_000);
                let opened = guarded(&mut report, &what, || {
                    Log::open(&dir, config(), opts(&clock, rp, clean, repair))
                });
                let log = match opened {
                    None => continue,
                    Some(Err(Error::Corrupt { .. })) if !repair => {
                        report.clear_errors += 1;
                        if log_sizes(&dir)? != sizes_before {
                            report.bytes_dropped_beyond_damage += 1;
                            report.note(format!("{what}: a failed open changed the files"));
                        }
                        std::fs::remove_dir_all(&dir)?;
                        continue;
                    }
                    Some(Err(e)) => {
                        report.add("open_failures", 1, true);
                        report.note(format!("{what}: open failed: {e}"));
                        continue;
                    }
                    Some(Ok(log)) => log,
                };
                report.recoveries_ok += 1;
                let cuts = log.recovery_report().cuts.clone();
                if repair {
                    // The cut must be reported, at the damaged batch, as a repair.
                    let dropped: u64 = sizes_before.iter().map(|s| s.1).sum::<u64>()
                        - log_sizes(&dir)?.iter().map(|s| s.1).sum::<u64>();
                    let reported: u64 = cuts.iter().map(|c| c.bytes).sum();
                    let at_damage = cuts
                        .first()
                        .is_some_and(|c| c.position == pos as u64 && c.repaired);
                    if dropped != reported || (dropped > 0 && !at_damage) {
                        report.bytes_dropped_beyond_damage += dropped.abs_diff(reported).max(1);
                        report.note(format!(
                            "{what}: dropped {dropped} bytes, reported {cuts:?}"
                        ));
                    }
                } else if !cuts.is_empty() || log_sizes(&dir)? != sizes_before {
                    report.bytes_dropped_beyond_damage +=
                        cuts.iter().map(|c| c.bytes).sum::<u64>().max(1);
                    report.note(format!(
                        "{what}: data below the recovery point cut: {cuts:?}"
                    ));
                }
                // Every batch reads back intact or as a typed error, and (without repair)
                // only batches in the damaged range may be refused.
                for (i, b) in o.attempted.iter().enumerate() {
                    if b.base < log.log_start_offset() || b.base >= log.end_offset() {
                        continue;
                    }
                    match log.read(b.base, 1) {
                        Ok(r) if r.is_empty() => {
                            // See `r05_damaged_length_is_an_error_not_an_empty_read`.
                            report.add("silent_empty_reads", 1, true);
                            report.note(format!("{what}: batch {i} read back empty"));
                        }
                        Ok(r) => {
                            let raw = read_first_raw(r.bytes());
                            if !same_batch(raw, &b.bytes, b.base) {
                                report.corrupt_returned += 1;
                                report.note(format!(
                                    "{what}: batch {i} returned changed: {} bytes from offset {}",
                                    r.bytes().len(),
                                    if raw.len() >= 8 { batch_base(raw) } else { -1 }
                                ));
                            } else if b.base == a.base && raw.get(12..16) != stamped.get(12..16) {
                                // Records intact, the epoch flipped: see the doc comment.
                                report.add("leader_epoch_flips_returned", 1, false);
                                if field != "leader_epoch" {
                                    report.corrupt_returned += 1;
                                    report.note(format!(
                                        "{what}: batch {i} returned with another epoch"
                                    ));
                                }
                            }
                        }
                        Err(Error::Corrupt { .. }) => {
                            report.add("reads_refused_as_corrupt", 1, false);
                            if b.base >= bases[1] {
                                report.add("later_segment_unreadable", 1, true);
                                report.note(format!("{what}: later batch {i} unreadable"));
                            } else if !in_damaged_range(b) && !repair {
                                report.add("refused_outside_damaged_range", 1, true);
                                report.note(format!(
                                    "{what}: batch {i} at offset {} refused; its read does \
                                     not pass the damaged batch {k} at position {pos}",
                                    b.base
                                ));
                            }
                        }
                        Err(e) => {
                            report.add("read_failures", 1, true);
                            report.note(format!("{what}: read of batch {i}: {e}"));
                        }
                    }
                }
                drop(log);
                std::fs::remove_dir_all(&dir)?;
            }
        }
    }
    report.finish();
    Ok(())
}

/// The first batch of a read's raw bytes.
fn read_first_raw(bytes: &[u8]) -> &[u8] {
    let len = bytes
        .get(8..12)
        .map_or(0, |b| i32::from_be_bytes(b.try_into().unwrap_or_default()));
    bytes.get(..12 + len.max(0) as usize).unwrap_or(bytes)
}

type Damage = fn(&Path, i64, &[i64]) -> TestResult;

fn damage_index_file(dir: &Path, base: i64, ext: &str, f: impl FnOnce(&mut Vec<u8>)) -> TestResult {
    let path = seg_path(dir, base, ext);
    let mut bytes = std::fs::read(&path)?;
    f(&mut bytes);
    std::fs::write(&path, &bytes)?;
    Ok(())
}

/// R06: derived state damaged after a clean close (opened with the clean marker and
/// without): indexes deleted, truncated, not a multiple of the entry size, a zero-filled
/// tail, entries past the end or mid-batch, copied from another segment; a time index
/// out of order, lying about its last entry, cut to nothing; the recovery point past the
/// log end (KAFKA-10101) and stale (below the end: the open rescans from it and loses
/// nothing); the clean marker present but the tail torn; the `leader-epoch-checkpoint`
/// deleted, emptied, garbled or stale (epochs never go backwards: the next append's epoch
/// is at least every epoch in the log). Every offset and timestamp lookup must equal a
/// linear scan, every batch must read back intact, and a lying marker must never serve a
/// torn batch.
#[test]
fn r06_derived_state_damage() -> TestResult {
    let seed = seed(0x0006_5EED);
    let mut report = Report::new("r06_derived_state_damage", seed);
    let root = scratch_dir()?;
    let fixture = root.path().join("fixture");
    let (o, records) = closed_fixture(&fixture, seed, 30)?;
    let bases = segment_bases(&fixture)?;
    let end = o.durable;
    let damages: Vec<(&str, Damage)> = vec![
        ("index-deleted", |d, b, _| {
            Ok(std::fs::remove_file(seg_path(d, b, "index"))?)
        }),
        ("timeindex-deleted", |d, b, _| {
            Ok(std::fs::remove_file(seg_path(d, b, "timeindex"))?)
        }),
        ("index-truncated-half", |d, b, _| {
            damage_index_file(d, b, "index", |x| x.truncate(x.len() / 16 * 8))
        }),
        ("index-odd-length", |d, b, _| {
            damage_index_file(d, b, "index", |x| x.extend_from_slice(&[1, 2, 3]))
        }),
        ("index-zero-tail", |d, b, _| {
            damage_index_file(d, b, "index", |x| x.extend_from_slice(&[0; 4096]))
        }),
        ("timeindex-zero-tail", |d, b, _| {
            damage_index_file(d, b, "timeindex", |x| x.extend_from_slice(&[0; 4096]))
        }),
        ("index-past-eof", |d, b, _| {
            let size = std::fs::metadata(seg_path(d, b, "log"))?.len() as u32;
            damage_index_file(d, b, "index", |x| {
                let n = x.len();
                if n >= 8 {
                    x[n - 4..].copy_from_slice(&(size + 1000).to_be_bytes());
                }
            })
        }),
        ("index-mid-batch", |d, b, _| {
            damage_index_file(d, b, "index", |x| {
                for e in x.chunks_mut(8) {
                    let p = u32::from_be_bytes([e[4], e[5], e[6], e[7]]) + 5;
                    e[4..8].copy_from_slice(&p.to_be_bytes());
                }
            })
        }),
        ("index-from-other-segment", |d, b, all| {
            let other = all.iter().copied().find(|&x| x != b).unwrap_or(b);
            std::fs::copy(seg_path(d, other, "index"), seg_path(d, b, "index"))?;
            Ok(())
        }),
        ("timeindex-from-other-segment", |d, b, all| {
            let other = all.iter().copied().find(|&x| x != b).unwrap_or(b);
            std::fs::copy(seg_path(d, other, "timeindex"), seg_path(d, b, "timeindex"))?;
            Ok(())
        }),
        ("timeindex-non-monotonic", |d, b, _| {
            damage_index_file(d, b, "timeindex", |x| {
                if x.len() >= 24 {
                    let (a, rest) = x.split_at_mut(12);
                    a[..8].swap_with_slice(&mut rest[..8]);
                }
            })
        }),
        ("timeindex-last-lies-low", |d, b, _| {
            damage_index_file(d, b, "timeindex", |x| {
                let n = x.len();
                if n >= 12 {
                    x[n - 12..n - 4].copy_from_slice(&1i64.to_be_bytes());
                }
            })
        }),
        ("timeindex-emptied", |d, b, _| {
            damage_index_file(d, b, "timeindex", |x| x.clear())
        }),
        ("timeindex-last-entry-cut", |d, b, _| {
            damage_index_file(d, b, "timeindex", |x| {
                let n = x.len();
                x.truncate(n.saturating_sub(12));
            })
        }),
    ];
    let mut lookups = 0;
    let mut trial = 0;
    for (name, damage) in &damages {
        for &seg in [
            bases[0],
            bases[bases.len() / 2],
            *bases.last().unwrap_or(&0),
        ]
        .iter()
        {
            for clean in [true, false] {
                trial += 1;
                let dir = root.path().join(format!("t{trial}"));
                copy_dir(&fixture, &dir)?;
                damage(&dir, seg, &bases)?;
                let what = format!("{name} in segment {seg} (clean marker {clean})");
                let clock = ManualClock::new(2_000_000);
                report.trials += 1;
                report.faults_injected += 1;
                let rp = Some(end);
                match guarded(&mut report, &what, || {
                    Log::open(&dir, config(), opts(&clock, rp, clean, false))
                }) {
                    Some(Ok(log)) => {
                        report.recoveries_ok += 1;
                        let (n, bad, ts_bad, notes) = check_lookups(&log, &records);
                        lookups += n;
                        if bad > 0 {
                            report.add("lookup_mismatches", bad, true);
                            report.note(format!("{what}: {notes:?}"));
                        }
                        report.add("timestamp_lookup_mismatches", ts_bad, true);
                        let expect = Expect {
                            acked_survive: true,
                            intact: Some(o.attempted.len()),
                        };
                        let v = verify(&log, &o, expect);
                        if v.lost_durable + v.corrupt + v.inconsistent + v.dropped_beyond > 0 {
                            report.note(format!("{what}: {:?}", v.notes));
                        }
                        report.absorb(&v);
                        report.add(
                            "indexes_rebuilt",
                            u64::from(log.recovery_report().indexes_rebuilt),
                            false,
                        );
                    }
                    Some(Err(e)) => {
                        report.add("open_failures", 1, true);
                        report.note(format!("{what}: open failed: {e}"));
                    }
                    None => {}
                }
                std::fs::remove_dir_all(&dir)?;
            }
        }
    }
    // The recovery point past the log end (KAFKA-10101): lowered, never trusted.
    {
        let dir = root.path().join("rp-ahead");
        copy_dir(&fixture, &dir)?;
        let clock = ManualClock::new(2_000_000);
        report.trials += 1;
        let log = Log::open(&dir, config(), opts(&clock, Some(end + 1000), false, false))?;
        report.recoveries_ok += 1;
        if !log.recovery_report().recovery_point_clamped || log.durable_offset() > end {
            report.inconsistent_offsets += 1;
            report.note("a recovery point past the log end was not lowered");
        }
        report.absorb(&verify(
            &log,
            &o,
            Expect {
                acked_survive: true,
                intact: Some(o.attempted.len()),
            },
        ));
    }
    // A stale recovery point (below the real end, as a checkpoint written before the last
    // flushes leaves it): the open rescans every segment from the one holding it and loses
    // nothing; lookups still equal a scan.
    let seg_of = |offset: i64| bases.iter().rposition(|&b| b <= offset).unwrap_or(0);
    let mut stale_points = vec![0, bases[1], bases[1] + 1, bases[bases.len() / 2] + 2];
    stale_points.push(end - 1);
    for rp in stale_points {
        let dir = root.path().join(format!("rp-stale-{rp}"));
        copy_dir(&fixture, &dir)?;
        let clock = ManualClock::new(2_000_000);
        report.trials += 1;
        report.faults_injected += 1;
        let what = format!("stale recovery point {rp} (end {end})");
        let opened = guarded(&mut report, &what, || {
            Log::open(&dir, config(), opts(&clock, Some(rp), false, false))
        });
        let log = match opened {
            None => continue,
            Some(Ok(log)) => log,
            Some(Err(e)) => {
                report.add("open_failures", 1, true);
                report.note(format!("{what}: open failed: {e}"));
                continue;
            }
        };
        report.recoveries_ok += 1;
        let scanned = u64::from(log.recovery_report().segments_scanned);
        let must_scan = (bases.len() - seg_of(rp)) as u64;
        report.add("stale_rp_segments_rescanned", scanned, false);
        if scanned < must_scan || !log.recovery_report().cuts.is_empty() {
            report.add("stale_rp_not_rescanned", 1, true);
            report.note(format!(
                "{what}: scanned {scanned} segments of the {must_scan} from it, cuts {:?}",
                log.recovery_report().cuts
            ));
        }
        let (n, bad, ts_bad, notes) = check_lookups(&log, &records);
        lookups += n;
        if bad + ts_bad > 0 {
            report.note(format!("{what}: {notes:?}"));
        }
        report.add("lookup_mismatches", bad, true);
        report.add("timestamp_lookup_mismatches", ts_bad, true);
        let v = verify(
            &log,
            &o,
            Expect {
                acked_survive: true,
                intact: Some(o.attempted.len()),
            },
        );
        if v.lost_durable + v.corrupt + v.inconsistent + v.dropped_beyond > 0 {
            report.note(format!("{what}: {:?}", v.notes));
        }
        report.absorb(&v);
    }
    // A clean marker, but the tail torn (the marker lies): Corrupt, or never a torn batch.
    let last = *bases.last().ok_or("no segment")?;
    let last_len = std::fs::metadata(seg_path(&fixture, last, "log"))?.len();
    for cut in [last_len - 1, last_len - 30, last_len - 70] {
        let dir = root.path().join(format!("torn-{cut}"));
        copy_dir(&fixture, &dir)?;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(seg_path(&dir, last, "log"))?;
        f.set_len(cut)?;
        drop(f);
        let clock = ManualClock::new(2_000_000);
        report.trials += 1;
        let what = format!("clean marker, tail cut at {cut}");
        match Log::open(&dir, config(), opts(&clock, Some(end), true, false)) {
            Err(Error::Corrupt { .. }) => report.clear_errors += 1,
            Err(e) => {
                report.add("open_failures", 1, true);
                report.note(format!("{what}: {e}"));
            }
            Ok(log) => {
                report.recoveries_ok += 1;
                let fine = read_raw_batches(&log).is_ok_and(|got| {
                    got.iter().all(|raw| {
                        o.attempted
                            .iter()
                            .any(|a| same_batch(raw, &a.bytes, batch_base(raw)))
                    })
                });
                if !fine {
                    report.corrupt_returned += 1;
                    report.note(format!("{what}: served a torn batch"));
                }
            }
        }
    }
    report.add("lookups_checked", lookups, false);
    epoch_checkpoint_damage(&mut report, root.path(), seed)?;
    report.finish();
    Ok(())
}

/// The partition leader epoch of every batch of `log`, in order (bytes 12..16).
fn batch_epochs<S: tidelog::io::Storage>(log: &Log<S>) -> Result<Vec<i32>, Error> {
    Ok(read_raw_batches(log)?
        .iter()
        .map(|raw| i32::from_be_bytes([raw[12], raw[13], raw[14], raw[15]]))
        .collect())
}

/// A log written by four lives (three ending in a crash, the last closed cleanly), so its
/// batches carry leader epochs 0..=3 (a new epoch after every unclean open). Returns the
/// oracle and the recovery point of the clean close.
fn epoch_fixture(dir: &Path, seed: u64) -> TestResult<Oracle> {
    let mut rng = SimRng::new(seed ^ 0xE90C);
    let mut o = Oracle::default();
    let mut rp = None;
    for life in 0..4 {
        let clock = ManualClock::new(1_000_000 + life * 1000);
        let log = Log::open(dir, config(), opts(&clock, rp, false, false))?;
        for i in 0..8 {
            let batch = random_batch(&mut rng, 10_000 + life * 100 + i * 10);
            let info = log.append_batch(&batch, Validation::Shallow)?;
            o.attempted.push(Attempt {
                base: info.first_offset,
                bytes: batch,
                acked: true,
            });
        }
        log.flush()?;
        rp = Some(log.durable_offset());
        if life == 3 {
            rp = Some(log.close()?.recovery_point);
        }
        // Dropped without close: the next life opens after a crash.
    }
    o.durable = rp.unwrap_or(0);
    Ok(o)
}

/// R06, leader epochs: the `leader-epoch-checkpoint` deleted, emptied, garbled, or stale
/// (an older copy with only the first epochs), opened after a clean close and as after a
/// crash (recovery point at the end, and stale): epochs never go backwards, so the next
/// append's partitionLeaderEpoch is at least every epoch already in the log, and nothing
/// is lost.
fn epoch_checkpoint_damage(report: &mut Report, root: &Path, seed: u64) -> TestResult {
    use tidelog::checkpoint::LEADER_EPOCH_CHECKPOINT_FILE;
    let fixture = root.join("epochs");
    let o = epoch_fixture(&fixture, seed)?;
    let end = o.durable;
    let in_log = {
        let clock = ManualClock::new(2_000_000);
        let dir = root.join("epochs-read");
        copy_dir(&fixture, &dir)?;
        let log = Log::open(&dir, config(), opts(&clock, Some(end), true, false))?;
        batch_epochs(&log)?
    };
    let highest = in_log.iter().copied().max().unwrap_or(-1);
    if highest < 3 || in_log.windows(2).any(|w| w[1] < w[0]) {
        return Err(format!("the epoch fixture's batches carry epochs {in_log:?}").into());
    }
    let first_epoch_only = "0\n1\n0 0\n".to_string();
    let damages: [(&str, Option<String>); 5] = [
        ("deleted", None),
        ("emptied", Some(String::new())),
        ("garbled", Some("0\n2\nx y\n".into())),
        ("stale-first-epoch-only", Some(first_epoch_only)),
        ("stale-version-line-only", Some("0\n0\n".into())),
    ];
    let bases = segment_bases(&fixture)?;
    let stale_rp = bases[bases.len() / 2];
    for (name, content) in &damages {
        for (mode, rp, clean) in [
            ("clean", Some(end), true),
            ("unclean", Some(end), false),
            ("unclean-stale-rp", Some(stale_rp), false),
        ] {
            let dir = root.join(format!("epochs-{name}-{mode}"));
            copy_dir(&fixture, &dir)?;
            let path = dir.join(LEADER_EPOCH_CHECKPOINT_FILE);
            match content {
                None => std::fs::remove_file(&path)?,
                Some(text) => std::fs::write(&path, text)?,
            }
            let what = format!("leader-epoch-checkpoint {name}, {mode} open");
            report.trials += 1;
            report.faults_injected += 1;
            let clock = ManualClock::new(3_000_000);
            let opened = guarded(report, &what, || {
                Log::open(&dir, config(), opts(&clock, rp, clean, false))
            });
            let log = match opened {
                None => continue,
                Some(Ok(log)) => log,
                Some(Err(e)) => {
                    report.add("open_failures", 1, true);
                    report.note(format!("{what}: open failed: {e}"));
                    continue;
                }
            };
            report.recoveries_ok += 1;
            // `verify` appends one batch at the end: its epoch is the one to check.
            let v = verify(
                &log,
                &o,
                Expect {
                    acked_survive: true,
                    intact: Some(o.attempted.len()),
                },
            );
            if v.lost_durable + v.corrupt + v.inconsistent + v.dropped_beyond > 0 {
                report.note(format!("{what}: {:?}", v.notes));
            }
            report.absorb(&v);
            let after = batch_epochs(&log)?;
            let appended = after.last().copied().unwrap_or(-1);
            report.add("epoch_checks", 1, false);
            if after.len() != in_log.len() + 1 || appended < highest {
                report.add("epochs_went_backwards", 1, true);
                report.note(format!(
                    "{what}: the next append got epoch {appended}, the log holds epochs up \
                     to {highest} (leader_epoch() {}, cache {:?})",
                    log.leader_epoch(),
                    log.leader_epochs().entries()
                ));
            }
        }
    }
    Ok(())
}

/// Regression test for a bug R06 found: after a clean shutdown, a `leader-epoch-checkpoint`
/// that is missing, empty, unparsable or stale was not rebuilt from the log (a clean open
/// scans nothing), so the log restarted at leader epoch 0 below the epochs its batches
/// carry. Expected: the next append's partitionLeaderEpoch is at least the highest epoch in
/// the log.
#[test]
fn r06_epochs_after_a_clean_open_without_their_checkpoint() -> TestResult {
    let root = scratch_dir()?;
    let dir = root.path().join("log");
    let o = epoch_fixture(&dir, 0x0006_5EED)?;
    std::fs::remove_file(dir.join(tidelog::checkpoint::LEADER_EPOCH_CHECKPOINT_FILE))?;
    let clock = ManualClock::new(3_000_000);
    let log = Log::open(&dir, config(), opts(&clock, Some(o.durable), true, false))?;
    let highest = batch_epochs(&log)?.into_iter().max().unwrap_or(-1);
    log.append_batch(&o.attempted[0].bytes, Validation::Shallow)?;
    let appended = batch_epochs(&log)?.last().copied().unwrap_or(-1);
    assert!(
        appended >= highest,
        "the next append got epoch {appended}, below epoch {highest} already in the log"
    );
    Ok(())
}

/// R07: odd directory layouts: an orphan index, a log without indexes, leftover `.tmp`,
/// `.cleaned`, `.swap` and `.deleted` files, an empty active segment, foreign file names,
/// an overlapping segment, a segment deleted externally. Each opens by the deterministic
/// cleanup rules (or fails with a typed error), and no batch is dropped silently.
#[test]
fn r07_dir_layout_oddities() -> TestResult {
    let seed = seed(0x0007_5EED);
    let mut report = Report::new("r07_dir_layout_oddities", seed);
    let root = scratch_dir()?;
    let fixture = root.path().join("fixture");
    let (o, records) = closed_fixture(&fixture, seed, 30)?;
    let bases = segment_bases(&fixture)?;
    let end = o.durable;
    let mid = bases[bases.len() / 2];
    let last = *bases.last().ok_or("no segment")?;
    type Fixup = Box<dyn Fn(&Path) -> TestResult>;
    let cases: Vec<(&str, Fixup, bool)> = vec![
        (
            "orphan-index",
            Box::new(|d: &Path| {
                std::fs::write(seg_path(d, 99_999, "index"), [0u8; 16])?;
                std::fs::write(seg_path(d, 99_999, "timeindex"), [0u8; 24])?;
                Ok(())
            }),
            true,
        ),
        (
            "log-without-indexes",
            Box::new(move |d: &Path| {
                std::fs::remove_file(seg_path(d, mid, "index"))?;
                std::fs::remove_file(seg_path(d, mid, "timeindex"))?;
                Ok(())
            }),
            true,
        ),
        (
            "leftover-tmp",
            Box::new(|d: &Path| {
                std::fs::write(d.join("leader-epoch-checkpoint.tmp"), b"garbage")?;
                std::fs::write(d.join("x.tmp"), b"garbage")?;
                Ok(())
            }),
            true,
        ),
        (
            "leftover-cleaned",
            Box::new(move |d: &Path| {
                std::fs::copy(
                    seg_path(d, mid, "log"),
                    d.join(format!("{mid:020}.log.cleaned")),
                )?;
                Ok(())
            }),
            true,
        ),
        (
            "leftover-swap-identical",
            Box::new(move |d: &Path| {
                std::fs::copy(
                    seg_path(d, mid, "log"),
                    d.join(format!("{mid:020}.log.swap")),
                )?;
                Ok(())
            }),
            true,
        ),
        (
            "leftover-deleted",
            Box::new(move |d: &Path| {
                std::fs::copy(
                    seg_path(d, mid, "log"),
                    d.join(format!("{mid:020}.log.deleted")),
                )?;
                std::fs::write(d.join("00000000000000000000.index.deleted"), [1u8; 8])?;
                Ok(())
            }),
            true,
        ),
        (
            "empty-active-segment",
            Box::new(move |d: &Path| {
                std::fs::write(seg_path(d, end, "log"), b"")?;
                Ok(())
            }),
            true,
        ),
        (
            "foreign-names",
            Box::new(|d: &Path| {
                std::fs::write(d.join("foo.log"), b"x")?;
                std::fs::write(d.join("00000000000000000000.log.bak"), b"x")?;
                std::fs::write(d.join("README"), b"x")?;
                std::fs::create_dir(d.join("subdir"))?;
                Ok(())
            }),
            true,
        ),
        (
            // Refused by name (`Error::InvalidLayout`) and left in place.
            "short-segment-name",
            Box::new(|d: &Path| {
                std::fs::write(d.join("123.log"), b"x")?;
                Ok(())
            }),
            false,
        ),
        (
            "overlapping-segment",
            Box::new(move |d: &Path| {
                std::fs::copy(seg_path(d, last, "log"), seg_path(d, last + 1, "log"))?;
                Ok(())
            }),
            false,
        ),
        (
            "segment-deleted-externally",
            Box::new(move |d: &Path| {
                for ext in ["log", "index", "timeindex"] {
                    std::fs::remove_file(seg_path(d, mid, ext))?;
                }
                Ok(())
            }),
            false,
        ),
    ];
    for (name, fixup, intact) in &cases {
        for clean in [true, false] {
            let dir = root.path().join(format!("{name}-{clean}"));
            copy_dir(&fixture, &dir)?;
            fixup(&dir)?;
            let what = format!("{name} (clean marker {clean})");
            let clock = ManualClock::new(2_000_000);
            report.trials += 1;
            report.faults_injected += 1;
            let sizes_before = log_sizes(&dir)?;
            match guarded(&mut report, &what, || {
                Log::open(&dir, config(), opts(&clock, Some(end), clean, false))
            }) {
                Some(Ok(log)) => {
                    report.recoveries_ok += 1;
                    if *intact {
                        let (_, bad, ts_bad, notes) = check_lookups(&log, &records);
                        if bad > 0 {
                            report.add("lookup_mismatches", bad, true);
                            report.note(format!("{what}: {notes:?}"));
                        }
                        report.add("timestamp_lookup_mismatches", ts_bad, true);
                        let v = verify(
                            &log,
                            &o,
                            Expect {
                                acked_survive: true,
                                intact: Some(o.attempted.len()),
                            },
                        );
                        if v.lost_durable + v.corrupt + v.inconsistent + v.dropped_beyond > 0 {
                            report.note(format!("{what}: {:?}", v.notes));
                        }
                        report.absorb(&v);
                    } else {
                        // Data is missing or doubled by the fixup: the log must not have
                        // removed any segment file itself.
                        let after: Vec<i64> = log_sizes(&dir)?.iter().map(|s| s.0).collect();
                        let removed = sizes_before
                            .iter()
                            .filter(|s| !after.contains(&s.0))
                            .count();
                        report.add("layout_anomalies_opened", 1, false);
                        if removed > 0 {
                            report.add("unexpected_deletions", removed as u64, true);
                            report.note(format!("{what}: {removed} segment files removed"));
                        }
                    }
                }
                Some(Err(e)) => {
                    let typed = matches!(e, Error::InvalidLayout { .. } | Error::Corrupt { .. });
                    if *intact || !typed {
                        report.add("open_failures", 1, true);
                        report.note(format!("{what}: open failed: {e}"));
                    } else {
                        report.clear_errors += 1;
                    }
                    if log_sizes(&dir)? != sizes_before {
                        report.add("unexpected_deletions", 1, true);
                        report.note(format!("{what}: a failed open changed the segment files"));
                    }
                }
                None => {}
            }
            std::fs::remove_dir_all(&dir)?;
        }
    }
    report.add("fixtures", cases.len() as u64, false);
    report.finish();
    Ok(())
}

/// Regression test for a bug R05 found: a flip in the lastOffsetDelta of a sealed
/// segment's last batch (covered by the CRC) was not detected when the log opened without
/// scanning that segment: the tail walk took the segment's end from the unchecked header,
/// and the open failed with `Error::InvalidLayout` naming the *next* segment. A tail that
/// runs into the next segment now has its segment scanned, which finds the damage where it
/// is: `Error::Corrupt` naming the damaged segment and position, or a repair.
#[test]
fn r05_last_batch_delta_flip_is_corrupt_not_invalid_layout() -> TestResult {
    let root = scratch_dir()?;
    let fixture = root.path().join("fixture");
    let (o, _) = closed_fixture(&fixture, 0x0005_5EED, 30)?;
    let bases = segment_bases(&fixture)?;
    let victim = seg_path(&fixture, bases[0], "log");
    let mut bytes = std::fs::read(&victim)?;
    let last = o
        .attempted
        .iter()
        .rfind(|a| a.base < bases[1])
        .ok_or("an empty first segment")?;
    let pos = bytes.len() - last.bytes.len();
    bytes[pos + 26] ^= 0x10; // lastOffsetDelta + 16
    std::fs::write(&victim, &bytes)?;
    for clean in [true, false] {
        let dir = root.path().join(format!("clean-{clean}"));
        copy_dir(&fixture, &dir)?;
        let clock = ManualClock::new(2_000_000);
        match Log::open(&dir, config(), opts(&clock, Some(o.durable), clean, false)) {
            Err(Error::Corrupt { location, .. }) => {
                assert_eq!(
                    location.path,
                    Some(seg_path(&dir, bases[0], "log")),
                    "the damaged segment is named"
                );
            }
            Ok(log) => {
                // Opening is fine too, if that batch is refused and nothing is changed.
                assert!(
                    matches!(log.read(last.base, 1), Err(Error::Corrupt { .. })),
                    "the damaged batch at {} must read as Error::Corrupt",
                    last.base
                );
            }
            Err(e) => panic!("clean {clean}: expected Error::Corrupt, got {e}"),
        }
    }
    Ok(())
}

/// Regression test for a bug R05 found: a flipped Length byte of a batch in a sealed
/// segment made the header walk of `find_batch` land inside the next batch, and `read`
/// returned an empty result for an offset inside the log instead of `Error::Corrupt`, so a
/// consumer at that offset saw "no data" forever (I4: corruption must surface as a typed
/// error).
#[test]
fn r05_damaged_length_is_an_error_not_an_empty_read() -> TestResult {
    let root = scratch_dir()?;
    let dir = root.path().join("log");
    let (o, _) = closed_fixture(&dir, 0x0005_5EED, 30)?;
    let bases = segment_bases(&dir)?;
    let path = seg_path(&dir, bases[0], "log");
    let mut bytes = std::fs::read(&path)?;
    bytes[11] ^= 0x10; // the first batch's Length grows by 16 bytes
    std::fs::write(&path, &bytes)?;
    let clock = ManualClock::new(2_000_000);
    let log = Log::open(&dir, config(), opts(&clock, Some(o.durable), true, false))?;
    let target = o.attempted[1].base;
    let read = log.read(target, 1);
    assert!(
        !read.as_ref().is_ok_and(|r| r.is_empty()),
        "offset {target} < log end {}: a read there must return data or Error::Corrupt",
        log.end_offset()
    );
    Ok(())
}

/// Regression test for a bug R01 and R06 found: after a clean shutdown, a `.timeindex`
/// cut to nothing passed Kafka's sanity check, the segment looked older than it is, and
/// `offset_for_timestamp` skipped it. An empty time index over batches with timestamps, or a
/// last entry that does not match its batch, now makes open rebuild the segment's indexes.
#[test]
fn r06_emptied_time_index_is_rebuilt() -> TestResult {
    let root = scratch_dir()?;
    let dir = root.path().join("log");
    let (o, records) = closed_fixture(&dir, 0x0006_5EED, 30)?;
    let last = *segment_bases(&dir)?.last().ok_or("no segment")?;
    std::fs::write(seg_path(&dir, last, "timeindex"), b"")?;
    let clock = ManualClock::new(2_000_000);
    let log = Log::open(&dir, config(), opts(&clock, Some(o.durable), true, false))?;
    let (_, _, ts_bad, notes) = check_lookups(&log, &records);
    assert_eq!(ts_bad, 0, "{notes:?}");
    Ok(())
}
