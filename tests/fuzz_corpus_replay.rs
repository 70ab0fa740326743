//! Replays the fuzz corpora under `cargo test`: every file in `fuzz/corpus/<target>/` (the
//! committed seeds) and `fuzz/regressions/<target>/` (crash inputs kept after their fix) goes
//! through the same logic as the fuzz target, `fuzz/logic/<target>.rs`, which this test
//! includes as a module. Any panic fails the test, naming the file.
//!
//! The seeds are written by the ignored test `regenerate_seeds`:
//! `cargo test --test fuzz_corpus_replay -- --ignored regenerate_seeds`.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use tidelog::checkpoint::{self, EpochEntry, OffsetEntry, PartitionMetadata, TopicId};
use tidelog::compression::{compress, Compression};
use tidelog::record::varint::{put_varint, put_varlong};
use tidelog::record::{
    encode_batch, BatchIter, BatchOptions, Header, Record, DEFAULT_MAX_DECOMPRESSED_BYTES,
};
use tidelog::Corruption;

#[path = "../fuzz/logic/batch.rs"]
mod batch;
#[path = "../fuzz/logic/checkpoint.rs"]
mod checkpoint_logic;
#[path = "../fuzz/logic/decompress.rs"]
mod decompress;
#[path = "../fuzz/logic/legacy.rs"]
mod legacy;
#[cfg(feature = "test-util")]
#[path = "../fuzz/logic/ops.rs"]
mod ops;
#[cfg(feature = "test-util")]
#[path = "../fuzz/logic/recovery.rs"]
mod recovery;
#[path = "../fuzz/logic/varint.rs"]
mod varint;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Files of `dir`, sorted, skipping dot files; none if `dir` is missing.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Runs `logic` on every seed and regression input of `target`.
fn replay(target: &str, logic: fn(&[u8])) {
    let seeds = files(&fuzz_dir().join("corpus").join(target));
    assert!(!seeds.is_empty(), "no seeds in fuzz/corpus/{target}/");
    let regressions = files(&fuzz_dir().join("regressions").join(target));
    let mut failed = Vec::new();
    for path in seeds.iter().chain(&regressions) {
        let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if panic::catch_unwind(AssertUnwindSafe(|| logic(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "fuzz target {target} panics on (see the messages above): {failed:#?}"
    );
}

#[test]
fn batch_corpus() {
    replay("batch", batch::run);
}

#[test]
fn decompress_corpus() {
    replay("decompress", decompress::run);
}

#[test]
fn varint_corpus() {
    replay("varint", varint::run);
}

#[test]
fn legacy_corpus() {
    replay("legacy", legacy::run);
}

#[test]
fn checkpoint_corpus() {
    replay("checkpoint", checkpoint_logic::run);
}

#[cfg(feature = "test-util")]
#[test]
fn recovery_corpus() {
    replay("recovery", recovery::run);
}

#[cfg(feature = "test-util")]
#[test]
fn ops_corpus() {
    replay("ops", ops::run);
}

// ---------------------------------------------------------------------------------------
// Seed generation.

/// A seed file: its name and content.
type Seed = (&'static str, Vec<u8>);

/// Writes the seed corpora afresh (run once after a format change; commit the result).
#[test]
#[ignore = "writes fuzz/corpus/; run by hand to regenerate the seeds"]
fn regenerate_seeds() {
    #[allow(
        unused_mut,
        reason = "the recovery and ops seeds need the test-util feature"
    )]
    let mut seeds: Vec<(&str, Vec<Seed>)> = vec![
        ("batch", batch_seeds()),
        ("decompress", decompress_seeds()),
        ("varint", varint_seeds()),
        ("legacy", legacy_seeds()),
        ("checkpoint", checkpoint_seeds()),
    ];
    #[cfg(feature = "test-util")]
    {
        seeds.push(("recovery", recovery_seeds()));
        seeds.push(("ops", ops_seeds()));
    }
    for (name, bytes) in &seeds[0].1 {
        assert_valid_segment(name, bytes);
    }
    for (name, bytes) in &seeds[3].1 {
        assert_valid_segment(name, bytes);
    }
    for (target, files) in seeds {
        let dir = fuzz_dir().join("corpus").join(target);
        fs::create_dir_all(&dir).expect("create the corpus directory");
        // Stale seeds go; new ones are renamed into place whole, so that the replay tests,
        // if they run alongside (`--include-ignored`), never see half a file.
        for old in self::files(&dir) {
            if !files
                .iter()
                .any(|(name, _)| old.file_name() == Some(name.as_ref()))
            {
                fs::remove_file(&old).expect("remove an old seed");
            }
        }
        for (name, bytes) in files {
            assert!(bytes.len() < 10 << 10, "seed {target}/{name} is too large");
            let tmp = dir.join(format!(".{name}.tmp"));
            fs::write(&tmp, bytes).expect("write a seed");
            fs::rename(&tmp, dir.join(name)).expect("rename a seed into place");
        }
    }
}

/// Checks that a seed is what it claims: batches whose records all decode (up to a torn
/// tail, for the seeds named so).
fn assert_valid_segment(name: &str, bytes: &[u8]) {
    let mut scratch = Vec::new();
    let mut iter = BatchIter::new(bytes);
    for item in iter.by_ref() {
        let (_, batch) = match item {
            Ok(b) => b,
            Err(e) if name.contains("torn") => {
                assert!(matches!(e.corruption(), Some(Corruption::Truncated { .. })));
                break;
            }
            Err(e) => panic!("seed {name}: {e}"),
        };
        let records = batch
            .records(&mut scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)
            .unwrap_or_else(|e| panic!("seed {name}: {e}"));
        for r in records {
            r.unwrap_or_else(|e| panic!("seed {name}: {e}"));
        }
    }
    assert_eq!(iter.remaining() > 0, name.contains("torn"), "seed {name}");
}

fn sample_records() -> Vec<Record> {
    vec![
        Record::new(1_700_000_000_000, b"first value".to_vec()).with_key(b"key-1".to_vec()),
        Record {
            timestamp: 1_700_000_000_005,
            key: None,
            value: Some(Vec::new()),
            headers: vec![Header::new("trace", b"abc".to_vec())],
        },
        Record {
            timestamp: 1_699_999_999_990,
            key: Some(Vec::new()),
            value: None,
            headers: vec![
                Header::new("h", b"".to_vec()),
                Header {
                    key: "null".into(),
                    value: None,
                },
            ],
        },
        Record::new(1_700_000_000_010, b"hello hello hello hello hello".to_vec()),
    ]
}

fn v2(opts: BatchOptions, records: &[Record]) -> Vec<u8> {
    encode_batch(opts, records).expect("encode a seed batch")
}

/// A magic-2 batch written field by field, for shapes the builder never writes: offset
/// gaps (a compacted batch) and no records at all (a batch the cleaner emptied).
fn raw_v2(records: &[u8], count: i32, last_offset_delta: i32, base_timestamp: i64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&100i64.to_be_bytes()); // base offset
    b.extend_from_slice(&((49 + records.len()) as i32).to_be_bytes()); // length
    b.extend_from_slice(&5i32.to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&[0; 4]); // CRC, below
    b.extend_from_slice(&0u16.to_be_bytes()); // attributes
    b.extend_from_slice(&last_offset_delta.to_be_bytes());
    b.extend_from_slice(&base_timestamp.to_be_bytes());
    b.extend_from_slice(&(base_timestamp + 7).to_be_bytes()); // max timestamp
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(records);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// One magic-2 record: attributes 0, no headers.
fn raw_record(ts_delta: i64, offset_delta: i32, key: Option<&[u8]>, value: &[u8]) -> Vec<u8> {
    let mut body = vec![0u8];
    put_varlong(&mut body, ts_delta);
    put_varint(&mut body, offset_delta);
    match key {
        Some(k) => {
            put_varint(&mut body, k.len() as i32);
            body.extend_from_slice(k);
        }
        None => put_varint(&mut body, -1),
    }
    put_varint(&mut body, value.len() as i32);
    body.extend_from_slice(value);
    put_varint(&mut body, 0);
    let mut out = Vec::new();
    put_varint(&mut out, body.len() as i32);
    out.extend_from_slice(&body);
    out
}

fn batch_seeds() -> Vec<Seed> {
    let records = sample_records();
    let mut seeds = Vec::new();
    for codec in Compression::ALL {
        let name = match codec {
            Compression::None => "v2-none",
            Compression::Gzip => "v2-gzip",
            Compression::Snappy => "v2-snappy",
            Compression::Lz4 => "v2-lz4",
            Compression::Zstd => "v2-zstd",
        };
        seeds.push((name, v2(BatchOptions::with_compression(codec), &records)));
    }
    seeds.push((
        "v2-log-append-time-transactional",
        v2(
            BatchOptions {
                log_append_time: Some(1_700_000_001_000),
                producer_id: 42,
                producer_epoch: 3,
                base_sequence: 17,
                is_transactional: true,
                base_offset: 1_000,
                partition_leader_epoch: 2,
                ..BatchOptions::with_compression(Compression::Lz4)
            },
            &records,
        ),
    ));
    // An end-transaction marker: control batch, key = version 0 + type 1 (commit).
    seeds.push((
        "v2-control-commit",
        v2(
            BatchOptions {
                is_control: true,
                is_transactional: true,
                producer_id: 42,
                producer_epoch: 3,
                ..BatchOptions::default()
            },
            &[Record {
                timestamp: 1_700_000_002_000,
                key: Some(vec![0, 0, 0, 1]),
                value: Some(vec![0, 0, 0, 0, 0, 7]),
                headers: Vec::new(),
            }],
        ),
    ));
    let gappy = [
        raw_record(0, 0, Some(b"a"), b"1"),
        raw_record(3, 2, None, b"2"),
        raw_record(7, 5, Some(b"c"), b""),
    ]
    .concat();
    seeds.push(("v2-compacted-gaps", raw_v2(&gappy, 3, 6, 1_700_000_000_000)));
    seeds.push((
        "v2-emptied-by-cleaner",
        raw_v2(&[], 0, 4, 1_700_000_000_000),
    ));

    // A segment: legacy entries from before an upgrade, two v2 batches, a torn tail.
    let mut segment = legacy_v0(0, 0, Some(b"k"), Some(b"old v0 message"));
    segment.extend(legacy_v1(
        1,
        0,
        1_500_000_000_000,
        None,
        Some(b"old v1 message"),
    ));
    let first = v2(
        BatchOptions {
            base_offset: 2,
            ..BatchOptions::default()
        },
        &records[..2],
    );
    let second = v2(
        BatchOptions {
            base_offset: 4,
            ..BatchOptions::with_compression(Compression::Snappy)
        },
        &records[2..],
    );
    segment.extend_from_slice(&first);
    segment.extend_from_slice(&second);
    segment.extend_from_slice(&first[..20]);
    seeds.push(("segment-mixed-torn-tail", segment));
    seeds
}

/// A magic-0 log entry.
fn legacy_v0(offset: i64, attributes: u8, key: Option<&[u8]>, value: Option<&[u8]>) -> Vec<u8> {
    legacy_entry(offset, 0, attributes, None, key, value)
}

/// A magic-1 log entry.
fn legacy_v1(
    offset: i64,
    attributes: u8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Vec<u8> {
    legacy_entry(offset, 1, attributes, Some(timestamp), key, value)
}

fn legacy_entry(
    offset: i64,
    magic: u8,
    attributes: u8,
    timestamp: Option<i64>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Vec<u8> {
    let mut body = vec![magic, attributes];
    if let Some(t) = timestamp {
        body.extend_from_slice(&t.to_be_bytes());
    }
    for field in [key, value] {
        match field {
            Some(b) => {
                body.extend_from_slice(&(b.len() as i32).to_be_bytes());
                body.extend_from_slice(b);
            }
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    let mut entry = offset.to_be_bytes().to_vec();
    entry.extend_from_slice(&(4 + body.len() as i32).to_be_bytes());
    entry.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    entry.extend_from_slice(&body);
    entry
}

fn compressed(codec: Compression, plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    compress(codec, None, plain, &mut out).expect("compress a seed");
    out
}

fn legacy_seeds() -> Vec<Seed> {
    // Inner message sets: v0 with absolute offsets, v1 with relative ones (0, 1, 2).
    let inner_v0 = [
        legacy_v0(10, 0, Some(b"a"), Some(b"one")),
        legacy_v0(11, 0, None, Some(b"two")),
        legacy_v0(12, 0, Some(b""), None),
    ]
    .concat();
    let inner_v1 = [
        legacy_v1(0, 0, 1_500_000_000_000, Some(b"a"), Some(b"one")),
        legacy_v1(1, 0, 1_500_000_000_001, None, Some(b"two")),
        legacy_v1(2, 0, 1_500_000_000_002, Some(b""), None),
    ]
    .concat();
    let gzip = Compression::Gzip.id();
    let snappy = Compression::Snappy.id();
    let lz4 = Compression::Lz4.id();
    let log_append_time = 0x08;
    vec![
        ("v0-plain", legacy_v0(7, 0, None, Some(b"hi"))),
        ("v0-null-value", legacy_v0(8, 0, Some(b"key"), None)),
        (
            "v1-plain",
            legacy_v1(9, 0, 1_500_000_000_000, Some(b"key"), Some(b"value")),
        ),
        (
            "v0-gzip-wrapper",
            legacy_v0(
                12,
                gzip,
                None,
                Some(&compressed(Compression::Gzip, &inner_v0)),
            ),
        ),
        (
            "v0-lz4-wrapper",
            legacy_v0(
                12,
                lz4,
                None,
                Some(&compressed(Compression::Lz4, &inner_v0)),
            ),
        ),
        (
            "v1-snappy-wrapper",
            legacy_v1(
                52,
                snappy,
                1_500_000_000_002,
                None,
                Some(&compressed(Compression::Snappy, &inner_v1)),
            ),
        ),
        (
            "v1-lz4-wrapper-log-append-time",
            legacy_v1(
                52,
                lz4 | log_append_time,
                1_600_000_000_000,
                None,
                Some(&compressed(Compression::Lz4, &inner_v1)),
            ),
        ),
        (
            "v1-gzip-wrapper-offset-zero",
            legacy_v1(
                0,
                gzip,
                1_500_000_000_002,
                None,
                Some(&compressed(Compression::Gzip, &inner_v1)),
            ),
        ),
    ]
}

fn decompress_seeds() -> Vec<Seed> {
    let plain: Vec<u8> = b"tidelog fuzz seed: "
        .iter()
        .chain(b"0123456789abcdef".repeat(24).iter())
        .copied()
        .collect();
    let with = |selector: u8, payload: &[u8]| [&[selector][..], payload].concat();
    let mut seeds = vec![("none", with(0, &plain))];
    for (name, codec) in [
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ] {
        seeds.push((name, with(codec.id(), &compressed(codec, &plain))));
    }
    // Output already holding bytes (bit 3), limits of 100 bytes (bits 4-5 = 2) and 64 KiB (3).
    seeds.push((
        "gzip-prefix-limit-100",
        with(
            0x28 | Compression::Gzip.id(),
            &compressed(Compression::Gzip, &plain),
        ),
    ));
    seeds.push((
        "zstd-prefix-limit-64k",
        with(
            0x38 | Compression::Zstd.id(),
            &compressed(Compression::Zstd, &plain),
        ),
    ));
    seeds.push((
        "lz4-empty",
        with(Compression::Lz4.id(), &compressed(Compression::Lz4, b"")),
    ));
    seeds
}

fn varint_seeds() -> Vec<Seed> {
    let mut kafka = Vec::new();
    for v in [0, -1, 1, 63, -64, 64, i32::MAX, i32::MIN] {
        put_varint(&mut kafka, v);
    }
    let mut long = Vec::new();
    for v in [i64::MAX, i64::MIN, 1 << 40, -300] {
        put_varlong(&mut long, v);
    }
    vec![
        ("kafka-vectors", kafka),
        ("varlongs", long),
        ("overlong", vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
        (
            "non-minimal",
            vec![0x80, 0x00, 0xff, 0xff, 0xff, 0xff, 0x7f],
        ),
        ("truncated", vec![0xff, 0xff]),
    ]
}

fn checkpoint_seeds() -> Vec<Seed> {
    let epochs = checkpoint::encode(&[
        EpochEntry {
            epoch: 0,
            start_offset: 0,
        },
        EpochEntry {
            epoch: 3,
            start_offset: 150,
        },
    ])
    .expect("encode epochs");
    let offsets = checkpoint::encode(&[
        OffsetEntry {
            topic: "my-topic".into(),
            partition: 0,
            offset: 100,
        },
        OffsetEntry {
            topic: "__consumer_offsets".into(),
            partition: 49,
            offset: 7,
        },
    ])
    .expect("encode offsets");
    let id = TopicId::new(*b"tidelog fuzzing!").expect("a non-zero topic id");
    let metadata = PartitionMetadata { topic_id: id }.encode();
    vec![
        ("leader-epoch", epochs.into_bytes()),
        ("offsets", offsets.into_bytes()),
        ("offsets-crlf", b"0\r\n1\r\nt 0 5\r\n".to_vec()),
        ("partition-metadata", metadata.into_bytes()),
        ("empty", Vec::new()),
    ]
}

/// Partition directories as `recovery` inputs: a closed log of three segments (clean, and
/// unclean with recovery points 0 and 5), its tail torn, a byte of it flipped, its indexes
/// zeroed, and an empty directory.
#[cfg(feature = "test-util")]
fn recovery_seeds() -> Vec<Seed> {
    use std::path::Path;
    use std::sync::Arc;
    use tidelog::config::ManualClock;
    use tidelog::io::{SimFs, Storage};
    use tidelog::log::{Log, LogOpenOptions, Validation};

    let dir = Path::new("/fuzz/t-0");
    let fs = SimFs::new();
    fs.create_dir_all(dir).expect("a directory in memory");
    let log = Log::open_with(
        fs.clone(),
        dir,
        recovery::config(),
        LogOpenOptions {
            clock: Arc::new(ManualClock::new(1_000_000)),
            ..Default::default()
        },
    )
    .expect("open a log in memory");
    let records = sample_records();
    for i in 0..24 {
        let codec = [Compression::None, Compression::Lz4][i % 2];
        let batch = v2(BatchOptions::with_compression(codec), &records[..1 + i % 4]);
        log.append_batch(&batch, Validation::Deep)
            .expect("append a seed batch");
        if i == 10 {
            log.roll().expect("roll");
        }
    }
    log.close().expect("close");
    drop(log);
    assert!(
        fs.list(dir).len() >= 6,
        "the seed log has segments and indexes"
    );
    let opt = recovery::options_byte;
    let mut seeds = vec![
        ("clean", recovery::encode_dir(&fs, dir, opt(true, false, 0))),
        (
            "unclean-rp0",
            recovery::encode_dir(&fs, dir, opt(false, false, 1)),
        ),
        (
            "unclean-rp5",
            recovery::encode_dir(&fs, dir, opt(false, false, 2)),
        ),
        ("empty", vec![opt(false, false, 0)]),
    ];
    let logs: Vec<_> = fs
        .list(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    let last = logs.last().expect("a segment").clone();
    let bytes = fs.read_file(&last).expect("the last segment");
    fs.write_file(&last, &bytes[..bytes.len() - 7]);
    seeds.push((
        "torn-tail",
        recovery::encode_dir(&fs, dir, opt(false, false, 1)),
    ));
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x20;
    fs.write_file(&last, &flipped);
    seeds.push((
        "flipped-clean",
        recovery::encode_dir(&fs, dir, opt(true, false, 0)),
    ));
    seeds.push((
        "flipped-repair",
        recovery::encode_dir(&fs, dir, opt(false, true, 3)),
    ));
    fs.write_file(&last, &bytes);
    for p in fs.list(dir) {
        if p.extension()
            .is_some_and(|e| e == "index" || e == "timeindex")
        {
            let len = fs.read_file(&p).map_or(0, |b| b.len());
            fs.write_file(&p, &vec![0u8; len.max(24)]);
        }
    }
    seeds.push((
        "zeroed-indexes",
        recovery::encode_dir(&fs, dir, opt(true, false, 0)),
    ));
    seeds
}

/// Operation sequences as `ops` inputs: `[crash_after: u16][variant][seed]` then one byte
/// per operation (append 0-2, sync append 3, flush 4, roll 5, retention 6, read 7; an append
/// takes a length byte).
#[cfg(feature = "test-util")]
fn ops_seeds() -> Vec<Seed> {
    let work: Vec<u8> = [
        vec![0, 60, 8, 120, 16, 90, 4],
        vec![3, 40, 1, 200, 5, 2, 150, 0, 30, 6, 7],
        vec![11, 250, 4, 5, 19, 100, 3, 9, 6, 4],
    ]
    .concat();
    let mut seeds = vec![("no-crash", [vec![0, 0, 0, 1], work.clone()].concat())];
    for (name, after, variant) in [
        ("crash-5-a", 5u16, 0u8),
        ("crash-12-b", 12, 1),
        ("crash-20-c", 20, 2),
        ("crash-27-d", 27, 3),
        ("crash-33-e", 33, 4),
        ("crash-40-f", 40, 5),
        ("crash-18-a-trailing", 18, 8),
    ] {
        let head = [after.to_be_bytes().to_vec(), vec![variant, 7]].concat();
        seeds.push((name, [head, work.clone()].concat()));
    }
    seeds
}
