//! Producer unit tests: routing, batching by size and by linger (on a manual clock),
//! receipts, compression, durability of the rules around errors, and the linger handle.

use std::sync::Arc;

use super::accumulator::record_size_upper_bound;
use super::*;
use crate::config::{ManualClock, StoreConfig, TopicConfig};
use crate::log::Log;
use crate::record::{encode_batch, BatchBuilder, BatchOptions, Record, TimestampType};
use crate::store::partition_for_key;

const T0: i64 = 1_700_000_000_000;

fn tmp() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))
}

/// A store on a manual clock with topic `t` of `partitions` partitions.
fn store_with(
    dir: &tempfile::TempDir,
    partitions: u32,
    topic: TopicConfig,
) -> Result<(Store, ManualClock)> {
    let clock = ManualClock::new(T0);
    let store = Store::open(
        dir.path(),
        StoreConfig {
            clock: Arc::new(clock.clone()),
            ..StoreConfig::default()
        },
    )?;
    store.create_topic("t", partitions, topic)?;
    Ok((store, clock))
}

/// Every record of a partition: (offset, key, value, timestamp).
type Row = (i64, Option<Vec<u8>>, Option<Vec<u8>>, i64);

fn read_all(log: &Log) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.end_offset() {
        let fetched = log.read(offset, 1 << 20)?;
        for r in fetched.records() {
            let r = r?;
            out.push((
                r.offset(),
                r.key().map(<[u8]>::to_vec),
                r.value().map(<[u8]>::to_vec),
                r.timestamp(),
            ));
        }
        offset = fetched.next_offset();
    }
    Ok(out)
}

/// (first offset, record count, codec) of every batch of a partition.
fn batches(log: &Log) -> Result<Vec<(i64, usize, Compression)>> {
    let fetched = log.read(0, 64 << 20)?;
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    for b in fetched.batches() {
        let codec = b.compression()?;
        let n = b.records(&mut scratch, 1 << 26)?.count();
        out.push((b.shallow_base_offset().unwrap_or(-1), n, codec));
    }
    Ok(out)
}

#[test]
fn size_estimate_bounds_the_encoded_size() -> Result<()> {
    let headers = vec![Header::new("h", b"v".to_vec())];
    type Case<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, &'a [Header]);
    let cases: [Case<'_>; 4] = [
        (None, None, &[]),
        (Some(b"k"), Some(&[7; 300]), &[]),
        (Some(&[1; 20_000]), None, &headers),
        (None, Some(b""), &headers),
    ];
    for (key, value, hs) in cases {
        let mut b = BatchBuilder::new(BatchOptions::default());
        let empty = b.uncompressed_size();
        b.append(T0, key, value, hs)?;
        let exact = b.uncompressed_size() - empty;
        let bound = record_size_upper_bound(key, value, hs);
        // Exact but for the deltas' 1+1 bytes here versus 10+5 at most.
        assert!(bound >= exact && bound <= exact + 13, "{bound} vs {exact}");
    }
    Ok(())
}

#[test]
fn explicit_partition_wins_and_keys_route_by_murmur2() -> Result<()> {
    let dir = tmp()?;
    let (store, _) = store_with(&dir, 5, TopicConfig::default())?;
    let mut p = Producer::new(&store, ProducerConfig::default())?;
    for i in 0..50 {
        let key = format!("key-{i}");
        let r = p.send(ProducerRecord::new("t", key.as_bytes(), b"v"))?;
        assert_eq!(r.partition(), partition_for_key(key.as_bytes(), 5));
        let again = p.send(ProducerRecord::new("t", key.as_bytes(), b"w"))?;
        assert_eq!(again.partition(), r.partition(), "a key is stable");
        let pinned =
            p.send(ProducerRecord::new("t", key.as_bytes(), b"x").with_partition(i % 5))?;
        assert_eq!(pinned.partition(), i % 5, "an explicit partition wins");
    }
    // Ignoring keys: keyed records go sticky, so 20 small ones share one partition.
    let mut sticky = Producer::new(
        &store,
        ProducerConfig {
            partitioner_ignore_keys: true,
            ..Default::default()
        },
    )?;
    let parts: Vec<i32> = (0..20)
        .map(|i| {
            let key = format!("key-{i}");
            sticky
                .send(ProducerRecord::new("t", key.as_bytes(), b"v"))
                .map(|r| r.partition())
        })
        .collect::<Result<_>>()?;
    assert!(parts.iter().all(|&q| q == parts[0]), "{parts:?}");
    Ok(())
}

#[test]
fn unkeyed_records_stick_then_spread() -> Result<()> {
    let dir = tmp()?;
    let (store, _) = store_with(&dir, 4, TopicConfig::default())?;
    let config = ProducerConfig {
        batch_size: 1000,
        ..Default::default()
    };
    let mut p = Producer::new(&store, config)?;
    let value = [b'x'; 80];
    let mut runs: Vec<(i32, usize)> = Vec::new();
    for _ in 0..400 {
        let part = p.send(ProducerRecord::unkeyed("t", &value))?.partition();
        match runs.last_mut() {
            Some((q, n)) if *q == part => *n += 1,
            _ => runs.push((part, 1)),
        }
    }
    // About a batch (1000 bytes, 10 records of ~100) per partition, then a switch to
    // another one.
    for (_, n) in &runs[..runs.len() - 1] {
        assert!((9..=11).contains(n), "{runs:?}");
    }
    let mut seen: Vec<i32> = runs.iter().map(|r| r.0).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        seen,
        vec![0, 1, 2, 3],
        "unkeyed traffic reaches every partition"
    );
    p.flush()?;
    // Each run filled one batch, so batches are whole.
    let log = store.log("t", runs[0].0)?;
    assert_eq!(batches(&log)?[0].1, runs[0].1);
    Ok(())
}

#[test]
fn receipts_resolve_with_offsets_after_flush() -> Result<()> {
    let dir = tmp()?;
    let (store, clock) = store_with(&dir, 2, TopicConfig::default())?;
    // Something already in partition 1, so offsets do not start at 0 there.
    store.log("t", 1)?.append(
        &[Record::new(T0, b"old".to_vec())],
        &crate::log::AppendOptions::default(),
    )?;
    let config = ProducerConfig {
        linger_ms: 1000,
        ..Default::default()
    };
    let mut p = Producer::new(&store, config)?;
    let mut receipts = Vec::new();
    for i in 0..10i64 {
        let value = format!("v{i}");
        let rec = ProducerRecord::unkeyed("t", value.as_bytes()).with_partition((i % 2) as i32);
        let rec = if i == 3 { rec.with_timestamp(42) } else { rec };
        receipts.push(p.send(rec)?);
        clock.advance(1);
    }
    assert!(receipts
        .iter()
        .all(|r| !r.is_done() && r.try_get().is_none()));
    assert_eq!(p.pending_records(), 10);
    p.flush()?;
    assert_eq!(p.pending_records(), 0);
    for (i, r) in receipts.iter().enumerate() {
        let meta = r.try_get().ok_or(Error::Closed)??;
        let i = i as i64;
        let want_offset = if i % 2 == 0 { i / 2 } else { 1 + i / 2 };
        let want_ts = if i == 3 { 42 } else { T0 + i };
        assert_eq!(
            meta,
            RecordMetadata {
                topic: "t".into(),
                partition: (i % 2) as i32,
                offset: want_offset,
                timestamp: want_ts,
            }
        );
        assert_eq!(r.wait()?, meta);
    }
    let rows = read_all(&*store.log("t", 1)?)?;
    assert_eq!(rows[1], (1, None, Some(b"v1".to_vec()), T0 + 1));
    assert_eq!(rows[2].3, 42);
    Ok(())
}

#[test]
fn a_pending_batch_is_appended_at_the_first_send_after_linger() -> Result<()> {
    let dir = tmp()?;
    let (store, clock) = store_with(&dir, 2, TopicConfig::default())?;
    let config = ProducerConfig {
        linger_ms: 100,
        ..Default::default()
    };
    let mut p = Producer::new(&store, config)?;
    let log0 = store.log("t", 0)?;
    let first = p.send(ProducerRecord::unkeyed("t", b"a").with_partition(0))?;
    clock.advance(99);
    p.send(ProducerRecord::unkeyed("t", b"b").with_partition(0))?;
    p.send(ProducerRecord::unkeyed("t", b"c").with_partition(1))?;
    assert_eq!(log0.end_offset(), 0, "99 ms: still lingering");
    assert_eq!(p.flush_expired()?, 0);
    clock.advance(1);
    // Partition 1's batch started 1 ms after partition 0's: only partition 0's expires now.
    let later = p.send(ProducerRecord::unkeyed("t", b"d").with_partition(0))?;
    assert_eq!(
        log0.end_offset(),
        2,
        "the expired batch went before the new record"
    );
    assert_eq!(first.try_get().ok_or(Error::Closed)??.offset, 0);
    assert!(!later.is_done());
    assert_eq!(store.log("t", 1)?.end_offset(), 0);
    clock.advance(99);
    assert_eq!(p.flush_expired()?, 1, "partition 1's batch, 100 ms old");
    assert_eq!(store.log("t", 1)?.end_offset(), 1);
    assert!(!later.is_done(), "99 ms old");
    // The maintenance thread's way: a linger handle.
    let handle = p.linger_handle();
    clock.advance(1);
    assert_eq!(handle.flush_expired()?, 1);
    assert_eq!(later.try_get().ok_or(Error::Closed)??.offset, 2);
    assert!(handle.is_alive());
    drop(p);
    assert!(!handle.is_alive());
    assert_eq!(handle.flush_expired()?, 0);
    Ok(())
}

#[test]
fn linger_zero_appends_within_send() -> Result<()> {
    let dir = tmp()?;
    let (store, _) = store_with(&dir, 1, TopicConfig::default())?;
    let mut p = Producer::new(
        &store,
        ProducerConfig {
            linger_ms: 0,
            ..Default::default()
        },
    )?;
    for i in 0..3 {
        let r = p.send(ProducerRecord::unkeyed("t", b"x"))?;
        assert_eq!(r.try_get().ok_or(Error::Closed)??.offset, i);
    }
    Ok(())
}

#[test]
fn batch_size_closes_batches() -> Result<()> {
    let dir = tmp()?;
    let (store, _) = store_with(&dir, 1, TopicConfig::default())?;
    let config = ProducerConfig {
        batch_size: 1024,
        ..Default::default()
    };
    let mut p = Producer::new(&store, config)?;
    let value = [b'v'; 100];
    let mut receipts = Vec::new();
    for _ in 0..25 {
        receipts.push(p.send(ProducerRecord::new("t", b"key", &value))?);
    }
    let log = store.log("t", 0)?;
    assert!(
        log.end_offset() > 0,
        "full batches were appended without a flush"
    );
    let appended = receipts.iter().filter(|r| r.is_done()).count() as i64;
    assert_eq!(appended, log.end_offset());
    p.flush()?;
    let sizes: Vec<usize> = batches(&log)?.iter().map(|b| b.1).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 25);
    // A 61-byte header and 8 records of 112 bytes take 957 bytes; a ninth, estimated from
    // above at 125 bytes as Kafka does, would pass 1024.
    assert!(
        sizes[..sizes.len() - 1].iter().all(|&n| n == 8),
        "{sizes:?}"
    );
    // A record larger than batch.size goes alone.
    let big = [b'b'; 3000];
    p.send(ProducerRecord::new("t", b"k", &value))?;
    let r = p.send(ProducerRecord::new("t", b"k", &big))?;
    assert!(r.is_done(), "it filled its batch at once");
    assert_eq!(batches(&log)?.last().map(|b| b.1), Some(1));
    // batch.size 0: one record per batch.
    let mut single = Producer::new(
        &store,
        ProducerConfig {
            batch_size: 0,
            ..Default::default()
        },
    )?;
    let end = log.end_offset();
    single.send(ProducerRecord::new("t", b"k", b"a"))?;
    single.send(ProducerRecord::new("t", b"k", b"b"))?;
    assert_eq!(log.end_offset(), end + 2);
    Ok(())
}

#[test]
fn each_batch_is_stored_compressed_once_with_the_codec() -> Result<()> {
    let dir = tmp()?;
    let (store, _) = store_with(&dir, 1, TopicConfig::default())?;
    for codec in Compression::ALL.into_iter().filter(|c| c.is_enabled()) {
        let mut p = Producer::new(
            &store,
            ProducerConfig {
                compression_type: codec,
                ..Default::default()
            },
        )?;
        let log = store.log("t", 0)?;
        let start = log.end_offset();
        let records: Vec<Record> = (0..100)
            .map(|i| Record::new(T0 + i, format!("value {i} value value").into_bytes()))
            .collect();
        for r in &records {
            p.send(
                ProducerRecord::unkeyed("t", r.value.as_deref().unwrap_or_default())
                    .with_timestamp(r.timestamp),
            )?;
        }
        p.flush()?;
        let fetched = log.read(start, 1 << 20)?;
        let stored: Vec<_> = fetched.batches().collect();
        assert_eq!(stored.len(), 1, "{codec}: one batch");
        assert_eq!(stored[0].compression()?, codec);
        // Byte for byte what one compression of these records gives (offsets aside).
        let mut want = encode_batch(BatchOptions::with_compression(codec), &records)?;
        let got = stored[0].as_bytes();
        want[..8].copy_from_slice(&got[..8]); // base offset
        want[12..16].copy_from_slice(&got[12..16]); // partition leader epoch
        assert_eq!(got, &want[..], "{codec}");
    }
    Ok(())
}

#[test]
fn wait_appends_a_pending_batch_itself() -> Result<()> {
    let dir = tmp()?;
    let (store, _) = store_with(&dir, 1, TopicConfig::default())?;
    let mut p = Producer::new(
        &store,
        ProducerConfig {
            linger_ms: 60_000,
            ..Default::default()
        },
    )?;
    let a = p.send(ProducerRecord::new("t", b"k", b"a"))?;
    let b = p.send(ProducerRecord::new("t", b"k", b"b"))?;
    // Another thread waits: it appends the batch rather than hang.
    let waiter = std::thread::spawn(move || b.wait());
    let meta = waiter
        .join()
        .map_err(|_| Error::InvalidArgument("waiter panicked".into()))??;
    assert_eq!(meta.offset, 1);
    assert_eq!(a.try_get().ok_or(Error::Closed)??.offset, 0);
    assert_eq!(p.pending_records(), 0);
    // Dropping the producer appends what is pending.
    let c = p.send(ProducerRecord::new("t", b"k", b"c"))?;
    drop(p);
    assert_eq!(c.try_get().ok_or(Error::Closed)??.offset, 2);
    Ok(())
}

#[test]
fn log_append_time_topics_give_the_stamped_time() -> Result<()> {
    let dir = tmp()?;
    let topic = TopicConfig::default().with("message.timestamp.type", "LogAppendTime")?;
    let (store, clock) = store_with(&dir, 1, topic)?;
    let mut p = Producer::new(&store, ProducerConfig::default())?;
    let r = p.send(ProducerRecord::new("t", b"k", b"v").with_timestamp(5))?;
    clock.advance(1000);
    p.flush()?;
    assert_eq!(r.wait()?.timestamp, T0 + 1000);
    let log = store.log("t", 0)?;
    let fetched = log.read(0, 1 << 20)?;
    let b = fetched.batches().next().ok_or(Error::Closed)?;
    assert_eq!(b.timestamp_type(), Some(TimestampType::LogAppendTime));
    Ok(())
}

#[test]
fn bad_input_is_refused_at_send_with_typed_errors() -> Result<()> {
    let dir = tmp()?;
    let topic = TopicConfig::default().with("max.message.bytes", "1000")?;
    let (store, _) = store_with(&dir, 3, topic)?;
    store.create_topic("big", 1, TopicConfig::default())?;
    let mut p = Producer::new(&store, ProducerConfig::default())?;
    assert!(matches!(
        p.send(ProducerRecord::new("nope", b"k", b"v")),
        Err(Error::UnknownTopic { topic }) if topic == "nope"
    ));
    for bad in [3, 100, -1] {
        assert!(matches!(
            p.send(ProducerRecord::new("t", b"k", b"v").with_partition(bad)),
            Err(Error::UnknownPartition { partition, partitions: 3, .. }) if partition == bad
        ));
    }
    // Past the topic's max.message.bytes (1000).
    let value = vec![0u8; 1000];
    assert!(matches!(
        p.send(ProducerRecord::new("t", b"k", &value)),
        Err(Error::RecordTooLarge { max: 1000, .. })
    ));
    // Past max.request.size (1 MiB) on a topic that allows about as much.
    let huge = vec![0u8; 1 << 20];
    assert!(matches!(
        p.send(ProducerRecord::new("big", b"k", &huge)),
        Err(Error::RecordTooLarge { max: 1_048_576, .. })
    ));
    assert_eq!(p.pending_records(), 0, "nothing refused was kept");
    // Just under the limit is fine.
    let fits = vec![0u8; 1000 - RECORD_BATCH_OVERHEAD - 30];
    p.send(ProducerRecord::new("t", b"k", &fits).with_partition(0))?;
    p.flush()?;
    // Bad configs.
    let bad = ProducerConfig {
        max_request_size: 10,
        ..Default::default()
    };
    assert!(matches!(
        Producer::new(&store, bad),
        Err(Error::InvalidConfig {
            key: "max.request.size",
            ..
        })
    ));
    if Compression::Zstd.is_enabled() {
        let bad = ProducerConfig {
            compression_type: Compression::Zstd,
            compression_level: Some(99),
            ..Default::default()
        };
        assert!(matches!(
            Producer::new(&store, bad),
            Err(Error::InvalidConfig {
                key: "compression.level",
                ..
            })
        ));
    }
    Ok(())
}

#[test]
fn a_failed_batch_reaches_its_receipts_and_the_next_flush() -> Result<()> {
    let dir = tmp()?;
    let (store, _) = store_with(&dir, 2, TopicConfig::default())?;
    let mut p = Producer::new(
        &store,
        ProducerConfig {
            batch_size: 200,
            ..Default::default()
        },
    )?;
    let pending = p.send(ProducerRecord::new("t", b"k", b"v").with_partition(1))?;
    store.delete_topic("t")?;
    // A big record fills partition 0's batch: appended (and failed) inside send, which
    // itself succeeds.
    let value = [0u8; 300];
    let r = p.send(ProducerRecord::new("t", b"k", &value).with_partition(0))?;
    assert!(matches!(r.wait(), Err(Error::UnknownTopic { .. })));
    assert!(matches!(p.flush(), Err(Error::UnknownTopic { .. })));
    assert!(matches!(pending.wait(), Err(Error::UnknownTopic { .. })));
    p.flush()?; // reported once
                // The topic comes back with more partitions: the producer looks it up again.
    store.create_topic("t", 3, TopicConfig::default())?;
    let r = p.send(ProducerRecord::new("t", b"k", b"v").with_partition(2))?;
    p.flush()?;
    assert_eq!(r.wait()?.offset, 0);
    Ok(())
}

#[test]
fn added_partitions_are_found() -> Result<()> {
    let dir = tmp()?;
    let (store, clock) = store_with(&dir, 1, TopicConfig::default())?;
    let mut p = Producer::new(&store, ProducerConfig::default())?;
    p.send(ProducerRecord::new("t", b"k", b"v"))?;
    store.add_partitions("t", 4)?;
    // An explicit partition past the known count is re-checked at once.
    assert_eq!(
        p.send(ProducerRecord::new("t", b"k", b"v").with_partition(3))?
            .partition(),
        3
    );
    // Keys follow the new count after metadata.max.age.ms.
    clock.advance(300_000);
    let key = b"abc";
    let r = p.send(ProducerRecord::new("t", key, b"v"))?;
    assert_eq!(r.partition(), partition_for_key(key, 4));
    p.close()
}

#[test]
fn producers_are_send_and_receipts_sync() {
    fn is_send<T: Send>() {}
    fn is_send_sync<T: Send + Sync>() {}
    is_send::<Producer>();
    is_send_sync::<Receipt>();
    is_send_sync::<LingerHandle>();
}

#[test]
fn send_all_sends_until_the_first_refused_record() -> Result<()> {
    let dir = tmp()?;
    let (store, clock) = store_with(&dir, 2, TopicConfig::default())?;
    let mut p = Producer::new(&store, ProducerConfig::default())?;
    let first = p.send(ProducerRecord::unkeyed("t", b"0").with_partition(0))?;
    clock.advance(5);
    let values: Vec<Vec<u8>> = (1..=5).map(|i: i32| i.to_string().into_bytes()).collect();
    let records = values.iter().enumerate().map(|(i, v)| {
        // The fourth names a partition the topic lacks.
        let partition = if i == 3 { 9 } else { 0 };
        ProducerRecord::unkeyed("t", v).with_partition(partition)
    });
    let mut receipts = Vec::new();
    let refused = p.send_all(records, &mut receipts);
    assert!(matches!(
        refused,
        Err(Error::UnknownPartition { partition: 9, .. })
    ));
    assert_eq!(
        receipts.len(),
        3,
        "the records before the refused one were sent"
    );
    // One clock reading for the call: linger applied at its start (the first batch went),
    // and records without a timestamp got that reading.
    assert_eq!(first.try_get().ok_or(Error::Closed)??.offset, 0);
    p.flush()?;
    for (i, r) in receipts.iter().enumerate() {
        let meta = r.wait()?;
        assert_eq!((meta.offset, meta.timestamp), (1 + i as i64, T0 + 5));
    }
    Ok(())
}

#[test]
fn trusted_appends_store_batches_that_pass_full_validation() -> Result<()> {
    // The producer's batches skip the CRC check on append and are stamped in place: what
    // lands on disk must still be exactly what a foreign append would accept, for every
    // codec, for LogAppendTime (whose stamp rewrites the CRC) and across several batches.
    for (codec, timestamps) in [
        (Compression::None, "CreateTime"),
        (Compression::Lz4, "CreateTime"),
        (Compression::None, "LogAppendTime"),
        (Compression::Gzip, "LogAppendTime"),
    ] {
        if !codec.is_enabled() {
            continue;
        }
        let dir = tmp()?;
        let topic = TopicConfig::default().with("message.timestamp.type", timestamps)?;
        let (store, _clock) = store_with(&dir, 1, topic)?;
        let config = ProducerConfig {
            compression_type: codec,
            batch_size: 200,
            ..ProducerConfig::default()
        };
        let mut p = Producer::new(&store, config)?;
        for i in 0..50u32 {
            let value = format!("value-{i}");
            p.send(
                ProducerRecord::new("t", b"k", value.as_bytes()).with_timestamp(T0 + i64::from(i)),
            )?;
        }
        p.flush()?;
        let log = store.log("t", 0)?;
        let fetched = log.read(0, 64 << 20)?; // checks framing and CRC of every batch
        assert!(fetched.batch_count() > 1, "{codec}: several batches");
        let mut next = 0;
        let mut scratch = Vec::new();
        for b in fetched.batches() {
            b.verify_crc()?;
            // Re-appending the stored bytes with deep validation accepts them.
            let copy = Log::open(
                dir.path().join(format!("copy-{next}")),
                Default::default(),
                Default::default(),
            )?;
            copy.append_batch(b.as_bytes(), Validation::Deep)?;
            assert_eq!(
                b.shallow_base_offset(),
                Some(next),
                "{codec}: offsets assigned"
            );
            next += b.records(&mut scratch, 1 << 26)?.count() as i64;
        }
        assert_eq!(next, 50);
        let values: Vec<_> = read_all(&log)?.into_iter().map(|r| r.2).collect();
        let expected: Vec<_> = (0..50)
            .map(|i| Some(format!("value-{i}").into_bytes()))
            .collect();
        assert_eq!(values, expected, "{codec} {timestamps}");
        store.close()?;
    }
    Ok(())
}

#[test]
fn trusted_append_refuses_what_is_not_one_whole_batch() -> Result<()> {
    let dir = tmp()?;
    let (store, _clock) = store_with(&dir, 1, TopicConfig::default())?;
    let log = store.log("t", 0)?;
    let mut good = encode_batch(BatchOptions::default(), &[Record::new(T0, b"v".to_vec())])?;
    let cut = good.len() - 1;
    assert!(log
        .append_built(&mut good[..cut], Durability::PageCache)
        .is_err());
    assert!(log
        .append_built(&mut [0u8; 10], Durability::PageCache)
        .is_err());
    let mut two = good.clone();
    two.extend_from_slice(&good);
    assert!(log.append_built(&mut two, Durability::PageCache).is_err());
    assert_eq!(log.end_offset(), 0, "nothing was written");
    log.append_built(&mut good, Durability::PageCache)?;
    assert_eq!(log.end_offset(), 1);
    store.close()?;
    Ok(())
}
