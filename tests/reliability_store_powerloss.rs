//! Power loss in a whole store (R08 at the store level), on `SimFs`: a scripted workload of
//! topic creations, appends to several partitions, store-wide flushes, maintenance passes
//! that write Kafka's checkpoints (temp file, fsync, rename, directory fsync), a topic
//! deletion, an alteration of a topic's config and a clean close, with a power loss after
//! every mutating I/O call and each image variant (a)-(f).
//!
//! The store reopened on every image must open (power loss never damages what was fsynced)
//! and hold what the workload was told:
//! - a topic whose `create_topic` returned is there, with its partitions; one whose
//!   `delete_topic` returned is gone; one being created or deleted is wholly there or wholly
//!   gone (its data then intact);
//! - every record of a partition below the durable end its last successful `flush` reached is
//!   there, at its offset, byte for byte (I1); each partition is a hole-free prefix of what
//!   was appended (I2, I3) and never returns bytes that differ (I4);
//! - an altered config, once `alter_topic_config` returned, is the one in force;
//! - after a `close` that returned, the next open scans nothing.
//!
//! Prints one JSON line of counts.

#![cfg(feature = "test-util")]

mod reliability_support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use reliability_support::{seed, Report};
use tidelog::config::{LogConfig, ManualClock, StoreConfig, TopicConfig};
use tidelog::io::{CrashVariant, SimFs, SimRng, Storage};
use tidelog::log::AppendOptions;
use tidelog::record::Record;
use tidelog::store::Store;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

fn root() -> PathBuf {
    PathBuf::from("/data")
}

fn config(clock: &ManualClock) -> StoreConfig {
    StoreConfig {
        clock: Arc::new(clock.clone()),
        flush_offset_checkpoint_interval_ms: 0,
        flush_start_offset_checkpoint_interval_ms: 0,
        log: LogConfig {
            retention_ms: -1,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn small() -> TopicConfig {
    TopicConfig::default()
        .with("segment.bytes", "400")
        .unwrap_or_default()
}

/// The value of record `i` of partition `p` of `topic`: names its place, so a misplaced or
/// altered record shows.
fn value(topic: &str, p: i32, i: i64) -> Vec<u8> {
    format!("{topic}-{p} record {i:05} ........").into_bytes()
}

/// What the workload was told, as it went.
#[derive(Debug, Default, Clone)]
struct Told {
    /// Topics and their partition counts, once `create_topic` returned.
    created: BTreeMap<String, u32>,
    /// A topic whose creation was under way (no return yet).
    creating: Option<String>,
    /// Topics whose `delete_topic` returned.
    deleted: Vec<String>,
    /// A topic whose deletion was under way.
    deleting: Option<String>,
    /// Records appended per partition, in offset order (offset = index): acknowledged, and
    /// attempted (one more while an append is in flight; it may survive a crash).
    appended: BTreeMap<(String, i32), i64>,
    attempted: BTreeMap<(String, i32), i64>,
    /// Per partition, the durable end the last successful flush reached.
    durable: BTreeMap<(String, i32), i64>,
    /// `retention.ms` of topic `a` once an alteration returned.
    altered: Option<String>,
    closed: bool,
}

fn append(
    store: &Store<SimFs>,
    told: &mut Told,
    topic: &str,
    p: i32,
    n: i64,
) -> tidelog::Result<()> {
    let log = store.log(topic, p)?;
    let key = (topic.to_string(), p);
    for _ in 0..n {
        let i = *told.appended.get(&key).unwrap_or(&0);
        told.attempted.insert(key.clone(), i + 1);
        let info = log.append(
            &[Record::new(1_000 + i, value(topic, p, i))],
            &AppendOptions::default(),
        )?;
        assert_eq!(info.first_offset, i, "appends go on at the log end");
        told.appended.insert(key.clone(), i + 1);
    }
    Ok(())
}

fn flush(store: &Store<SimFs>, told: &mut Told) -> tidelog::Result<()> {
    store.flush()?;
    for (key, &n) in &told.appended {
        if told.created.contains_key(&key.0) {
            told.durable.insert(key.clone(), n);
        }
    }
    Ok(())
}

/// The workload; stops at the first error (the disk froze).
fn workload(store: &Store<SimFs>, told: &mut Told) -> tidelog::Result<()> {
    told.creating = Some("a".into());
    store.create_topic("a", 2, small())?;
    told.created.insert("a".into(), 2);
    told.creating = None;
    append(store, told, "a", 0, 6)?;
    append(store, told, "a", 1, 3)?;
    flush(store, told)?;
    store.maintain()?;
    told.creating = Some("b".into());
    store.create_topic("b", 1, TopicConfig::default())?;
    told.created.insert("b".into(), 1);
    told.creating = None;
    append(store, told, "b", 0, 4)?;
    append(store, told, "a", 0, 5)?;
    flush(store, told)?;
    store.alter_topic_config("a", small().with("retention.ms", "86400000")?)?;
    told.altered = Some("86400000".into());
    append(store, told, "a", 1, 4)?;
    store.maintain()?;
    told.deleting = Some("b".into());
    store.delete_topic("b")?;
    told.created.remove("b");
    told.deleted.push("b".into());
    told.deleting = None;
    append(store, told, "a", 0, 2)?;
    store.close()?;
    for (key, &n) in &told.appended {
        if told.created.contains_key(&key.0) {
            told.durable.insert(key.clone(), n);
        }
    }
    told.closed = true;
    Ok(())
}

/// Runs the workload on a fresh `SimFs`, frozen after mutating call `crash_at` if given.
fn run(crash_at: Option<u64>) -> (SimFs, Told) {
    let sim = SimFs::new();
    let _ = sim.create_dir_all(&root());
    if let Some(k) = crash_at {
        sim.crash_after(k);
    }
    let clock = ManualClock::new(1_000_000);
    let mut told = Told::default();
    if let Ok(store) = Store::open_with(sim.clone(), root(), config(&clock)) {
        if let Err(e) = workload(&store, &mut told) {
            if crash_at.is_none() {
                eprintln!("workload failed without a crash: {e}");
            }
        }
    }
    (sim, told)
}

/// Checks the store on `image` against `told`; returns the problems found.
fn check(image: &SimFs, told: &Told, counts: &mut Report) -> Vec<String> {
    let clock = ManualClock::new(2_000_000);
    let store = match Store::open_with(image.clone(), root(), config(&clock)) {
        Ok(store) => store,
        Err(e) => return vec![format!("open failed: {e}")],
    };
    let mut problems = Vec::new();
    let topics = store.list_topics();
    for (topic, &count) in &told.created {
        let being_deleted = told.deleting.as_deref() == Some(topic.as_str());
        if !topics.contains(topic) && !being_deleted {
            problems.push(format!("topic {topic} was created and is gone"));
        } else if topics.contains(topic) && store.partition_count(topic).ok() != Some(count) {
            problems.push(format!("topic {topic} lost partitions"));
        }
    }
    for topic in &told.deleted {
        if topics.contains(topic) {
            problems.push(format!("topic {topic} was deleted and is back"));
        }
    }
    for topic in &topics {
        let known = told.created.contains_key(topic)
            || told.creating.as_deref() == Some(topic.as_str())
            || told.deleting.as_deref() == Some(topic.as_str());
        if !known {
            problems.push(format!("topic {topic} appeared from nowhere"));
        }
    }
    if let (Some(want), true) = (&told.altered, topics.contains(&"a".to_string())) {
        match store.describe_topic("a") {
            Ok(d) if d.config.get("retention.ms") == Some(want.as_str()) => {}
            Ok(d) => problems.push(format!("altered config lost: {:?}", d.config)),
            Err(e) => problems.push(format!("describe: {e}")),
        }
    }
    for topic in &topics {
        let Ok(count) = store.partition_count(topic) else {
            continue;
        };
        for p in 0..count as i32 {
            let key = (topic.clone(), p);
            let attempted = told.attempted.get(&key).copied().unwrap_or(0);
            let durable = told.durable.get(&key).copied().unwrap_or(0);
            let log = match store.log(topic, p) {
                Ok(log) => log,
                Err(e) => {
                    problems.push(format!("{topic}-{p}: {e}"));
                    continue;
                }
            };
            let end = log.end_offset();
            if end < durable {
                counts.acked_synced_lost += (durable - end) as u64;
                problems.push(format!("{topic}-{p}: end {end} below durable {durable}"));
            }
            if end > attempted {
                counts.inconsistent_offsets += 1;
                problems.push(format!(
                    "{topic}-{p}: end {end} past what was appended ({attempted})"
                ));
            }
            let mut next = 0;
            while next < end {
                let read = match log.read(next, 4096) {
                    Ok(read) => read,
                    Err(e) => {
                        counts.clear_errors += 1;
                        problems.push(format!("{topic}-{p}: read({next}): {e}"));
                        break;
                    }
                };
                for r in read.records() {
                    match r {
                        Ok(r)
                            if r.offset() == next
                                && r.value() == Some(&value(topic, p, next)[..]) =>
                        {
                            next += 1;
                        }
                        Ok(r) => {
                            counts.corrupt_returned += 1;
                            problems.push(format!("{topic}-{p}: offset {} read wrong", r.offset()));
                            next = end;
                            break;
                        }
                        Err(e) => {
                            problems.push(format!("{topic}-{p}: record at {next}: {e}"));
                            next = end;
                            break;
                        }
                    }
                }
                if read.is_empty() {
                    problems.push(format!(
                        "{topic}-{p}: nothing at {next} below the end {end}"
                    ));
                    break;
                }
            }
        }
    }
    if told.closed {
        let clean = store
            .list_topics()
            .iter()
            .flat_map(|t| {
                (0..store.partition_count(t).unwrap_or(0) as i32).map(move |p| (t.clone(), p))
            })
            .filter_map(|(t, p)| store.log(&t, p).ok())
            .all(|log| log.recovery_report().clean);
        if !clean {
            problems.push("a closed store was not opened clean".into());
        }
    }
    if let Err(e) = store.close() {
        problems.push(format!("close after recovery: {e}"));
    }
    problems
}

#[test]
fn r08_store_power_loss_after_every_call() -> TestResult {
    let seed = seed(0x5EED_0808);
    let mut report = Report::new("r08_store_power_loss", seed);
    let (dry, told) = run(None);
    assert!(
        told.closed,
        "the workload runs to its end without a crash: {told:?}"
    );
    let calls = dry.mutating_calls();
    let mut rng = SimRng::new(seed);
    let mut problems: Vec<String> = Vec::new();
    for k in 1..=calls {
        let (sim, told) = run(Some(k));
        // The disk freezes when a call follows the k-th; after the last there is none, and
        // the disk as the workload left it is the image.
        let frozen = sim.frozen().or_else(|| (k == calls).then(|| sim.clone()));
        let Some(frozen) = frozen else {
            problems.push(format!(
                "crash point {k} of {calls} was never reached ({} calls)",
                sim.mutating_calls()
            ));
            continue;
        };
        report.crash_points += 1;
        for variant in CrashVariant::ALL {
            let image = frozen.crash(variant, &mut rng);
            report.trials += 1;
            let found = check(&image, &told, &mut report);
            if found.is_empty() {
                report.recoveries_ok += 1;
            }
            for p in found {
                report.add("violations", 1, true);
                report.note(format!(
                    "crash after call {k}, variant ({}): {p}",
                    variant.letter()
                ));
            }
        }
    }
    report.add("mutating_calls", calls, false);
    report.add("unreached_crash_points", problems.len() as u64, true);
    for p in problems {
        report.note(p);
    }
    report.finish();
    Ok(())
}
