//! Producers through the public API: several producer threads sharing one store and its
//! partitions deliver every record exactly once, in send order per producer and partition,
//! at the offsets their receipts report, and the data survives a clean close and reopen;
//! keyed records land where Kafka's Java client would put them.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;

use tidelog::config::{StoreConfig, TopicConfig};
use tidelog::record::DEFAULT_MAX_DECOMPRESSED_BYTES;
use tidelog::store::{partition_for_key, Producer, ProducerConfig, ProducerRecord, Store};
use tidelog::{Compression, Error};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PRODUCERS: u32 = 4;
const PARTITIONS: u32 = 6;
const RECORDS: u32 = 5000;

/// The value of record `seq` of producer `id`: both numbers, then a filler that depends on
/// them, so a torn or misplaced record shows.
fn value(id: u32, seq: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(40);
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    let filler = (id.wrapping_mul(31) ^ seq) % 32;
    v.extend(std::iter::repeat_n((seq % 251) as u8, filler as usize));
    v
}

fn parse(v: &[u8]) -> Option<(u32, u32)> {
    let id = u32::from_be_bytes(v.get(..4)?.try_into().ok()?);
    let seq = u32::from_be_bytes(v.get(4..8)?.try_into().ok()?);
    (value(id, seq) == v).then_some((id, seq))
}

/// Producer `id`'s stream: keyed, unkeyed and pinned records; every 97th receipt is
/// waited on at once (appending its batch early). Returns (seq, partition, offset) of each.
fn produce(store: &Store, id: u32) -> TestResult<Vec<(u32, i32, i64)>> {
    let codecs = [
        Compression::None,
        Compression::Lz4,
        Compression::Zstd,
        Compression::Snappy,
    ];
    let codec = codecs[id as usize % codecs.len()];
    let config = ProducerConfig {
        batch_size: 400,
        linger_ms: 1,
        compression_type: if codec.is_enabled() {
            codec
        } else {
            Compression::None
        },
        ..Default::default()
    };
    let mut producer = Producer::new(store, config)?;
    let mut receipts = Vec::with_capacity(RECORDS as usize);
    for seq in 0..RECORDS {
        let v = value(id, seq);
        let key = format!("key-{}", seq % 101);
        let record = match seq % 3 {
            0 => ProducerRecord::new("events", key.as_bytes(), &v),
            1 => ProducerRecord::unkeyed("events", &v),
            _ => ProducerRecord::unkeyed("events", &v).with_partition((seq % PARTITIONS) as i32),
        };
        let receipt = producer.send(record)?;
        if seq % 3 == 0 {
            assert_eq!(
                receipt.partition(),
                partition_for_key(key.as_bytes(), PARTITIONS)
            );
        }
        if seq % 97 == 0 {
            receipt.wait()?;
        }
        receipts.push((seq, receipt));
    }
    producer.close()?;
    receipts
        .into_iter()
        .map(|(seq, r)| {
            let meta = r.wait()?;
            Ok((seq, meta.partition, meta.offset))
        })
        .collect()
}

#[test]
fn concurrent_producers_deliver_every_record_once_in_order() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    let topic = TopicConfig::default().with("segment.bytes", "65536")?;
    store.create_topic("events", PARTITIONS, topic)?;
    let store = Arc::new(store);
    let handles: Vec<_> = (0..PRODUCERS)
        .map(|id| {
            let store = Arc::clone(&store);
            thread::spawn(move || produce(&store, id))
        })
        .collect();
    let mut reported: HashMap<(u32, u32), (i32, i64)> = HashMap::new();
    for (id, h) in handles.into_iter().enumerate() {
        let sent = h.join().map_err(|_| "producer thread panicked")??;
        for (seq, p, o) in sent {
            reported.insert((id as u32, seq), (p, o));
        }
    }
    assert_eq!(reported.len(), (PRODUCERS * RECORDS) as usize);
    store.close()?;

    // Reopen, and read every partition back.
    let store = Store::open(dir.path(), StoreConfig::default())?;
    let mut found: HashMap<(u32, u32), (i32, i64)> = HashMap::new();
    let mut batches = 0;
    for p in 0..PARTITIONS as i32 {
        let log = store.log("events", p)?;
        let mut last_seq: HashMap<u32, u32> = HashMap::new();
        let mut offset = 0;
        let mut scratch = Vec::new();
        while offset < log.end_offset() {
            let fetched = log.read(offset, 256 << 10)?;
            for batch in fetched.batches() {
                batches += 1;
                let codec = batch.compression()?;
                let mut ids = Vec::new();
                for r in batch.records(&mut scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)? {
                    let r = r?;
                    assert_eq!(r.offset(), offset, "offsets are dense");
                    offset += 1;
                    let (id, seq) = parse(r.value().ok_or("null value")?).ok_or("bad value")?;
                    ids.push(id);
                    if let Some(prev) = last_seq.insert(id, seq) {
                        assert!(seq > prev, "producer {id} on {p}: {seq} after {prev}");
                    }
                    let first = found.insert((id, seq), (p, r.offset()));
                    assert!(first.is_none(), "record {id}/{seq} stored twice");
                }
                // One producer per batch, compressed with its codec.
                assert!(ids.iter().all(|&i| i == ids[0]));
                let codecs = [
                    Compression::None,
                    Compression::Lz4,
                    Compression::Zstd,
                    Compression::Snappy,
                ];
                let want = codecs[ids[0] as usize % codecs.len()];
                if want.is_enabled() {
                    assert_eq!(codec, want);
                }
            }
        }
    }
    assert!(batches >= 1000, "{batches} batches");
    assert_eq!(found, reported, "every record once, where its receipt said");
    store.close()?;
    Ok(())
}

/// Keys and the partitions Kafka's Java client gives them among 1000 (kafka-python's
/// `test_murmur2_java_compatibility`), sent to a topic of 8 partitions (8 divides 1000, so
/// the partition there is the one among 1000 modulo 8), plus hashes from Kafka's
/// `UtilsTest.testMurmur2` and librdkafka's `java_murmur2_results`, modulo 7.
#[test]
fn keyed_records_land_where_the_java_client_puts_them() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreConfig::default())?;
    store.create_topic("eight", 8, TopicConfig::default())?;
    store.create_topic("narrow", 7, TopicConfig::default())?;
    let mut producer = Producer::new(&store, ProducerConfig::default())?;
    let wide: [(&[u8], i32); 6] = [
        (b"", 681),
        (b"a", 524),
        (b"ab", 434),
        (b"abc", 107),
        (b"123456789", 566),
        (b"\x00 ", 742),
    ];
    let narrow: [(&[u8], i32); 6] = [
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"kafka", 0xd067_cf64_u32 as i32),
        (b"giberish123456789", 0x8f55_2b0c_u32 as i32),
        (b"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x7842_4f1c),
    ];
    let mut receipts = Vec::new();
    for (key, partition) in wide {
        let r = producer.send(ProducerRecord::new("eight", key, b"v"))?;
        receipts.push((r, partition % 8));
    }
    for (key, hash) in narrow {
        let partition = (hash & 0x7fff_ffff) % 7;
        receipts.push((
            producer.send(ProducerRecord::new("narrow", key, b"v"))?,
            partition,
        ));
    }
    producer.flush()?;
    let mut next: HashMap<(String, i32), i64> = HashMap::new();
    for (r, partition) in receipts {
        let meta = r.wait()?;
        let offset = next.entry((meta.topic.clone(), partition)).or_default();
        assert_eq!(
            (meta.partition, meta.offset),
            (partition, *offset),
            "{}",
            meta.topic
        );
        *offset += 1;
    }
    for ((topic, partition), end) in next {
        assert_eq!(store.log(&topic, partition)?.end_offset(), end);
    }
    // Bad input through the public API: typed errors at send.
    assert!(matches!(
        producer.send(ProducerRecord::new("missing", b"k", b"v")),
        Err(Error::UnknownTopic { .. })
    ));
    assert!(matches!(
        producer.send(ProducerRecord::new("narrow", b"k", b"v").with_partition(7)),
        Err(Error::UnknownPartition { partitions: 7, .. })
    ));
    let huge = vec![0u8; 2 << 20];
    assert!(matches!(
        producer.send(ProducerRecord::unkeyed("narrow", &huge)),
        Err(Error::RecordTooLarge { .. })
    ));
    producer.close()?;
    store.close()?;
    Ok(())
}
