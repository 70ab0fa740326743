//! Independent-decoder interop: tidelog and kafka-python read each other's record batches
//! the same way, for every codec.
//!
//! - `tidelog_batches_decode_in_kafka_python`: files of magic-2 batches written by tidelog
//!   (null and empty keys and values, repeated header keys, null header values, negative and
//!   multi-byte timestamp deltas, sections spanning many 64 KiB LZ4 / 32 KiB snappy blocks,
//!   producer fields, a transactional batch, a LogAppendTime batch stamped in place, a batch
//!   re-built from decoded records with `append_ref`) decode and CRC-check in kafka-python to
//!   exactly the records and header fields they were built from.
//! - `kafka_python_batches_decode_in_tidelog`: batches written by kafka-python (magic 0, 1
//!   and 2, every codec it supports, Java-style LZ4 and zstd frames without a content size)
//!   decode in tidelog's `BatchIter` to exactly the records kafka-python was given.
//!
//! Both sides speak the canonical text form of `tests/interop/kafka_python.py` (its
//! docstring defines it). The Python comes from `TIDELOG_INTEROP_PYTHON`, else `python3`; it
//! needs `kafka-python`, `python-snappy`, `lz4`, `zstandard` and `xxhash`. Without one the
//! tests print `SKIPPED: ...` and pass, unless `TIDELOG_REQUIRE_INTEROP=1`, when they fail.

#[path = "interop/python.rs"]
mod interop_python;
use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use tidelog::record::{
    BatchBuilder, BatchIter, BatchOptions, Header, Record, RecordBatch, RecordBatchMut, RecordRef,
    DEFAULT_MAX_DECOMPRESSED_BYTES,
};
use tidelog::Compression;

type TestResult<T = ()> = Result<T, Box<dyn Error>>;

/// A test failure whose `Debug` is its plain text: the test harness prints a returned error
/// with `{:?}`, which would otherwise quote it and escape the diff's newlines.
struct Failure(String);

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Failure {}

fn fail(msg: impl Into<String>) -> Box<dyn Error> {
    Box::new(Failure(msg.into()))
}

// ---------------------------------------------------------------------------------------
// Finding and running the Python side.

/// The Python to use, or `None` (after printing why) if the check is to be skipped.
fn python() -> TestResult<Option<&'static Path>> {
    interop_python::python().map_err(fail)
}

use interop_python::script;

/// Runs the interop script and returns its standard output.
fn run_script(python: &Path, command: &str, arg: &Path) -> TestResult<String> {
    let out = Command::new(python)
        .arg(script())
        .arg(command)
        .arg(arg)
        .output()
        .map_err(|e| fail(format!("cannot run {}: {e}", python.display())))?;
    if !out.status.success() {
        return Err(fail(format!(
            "kafka_python.py {command} {} failed ({}):\n{}",
            arg.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    String::from_utf8(out.stdout).map_err(|e| fail(format!("kafka_python.py output: {e}")))
}

// ---------------------------------------------------------------------------------------
// The canonical text form.

fn fmt_bytes(b: Option<&[u8]>) -> String {
    match b {
        None => "-".to_owned(),
        Some(b) => {
            let mut s = String::with_capacity(1 + 2 * b.len());
            s.push('x');
            for byte in b {
                let _ = write!(s, "{byte:02x}");
            }
            s
        }
    }
}

/// One record line from the inputs a record was built from.
fn record_line(offset: i64, timestamp: i64, r: &Record) -> String {
    let mut line = format!(
        "{offset} {timestamp} {} {}",
        fmt_bytes(r.key.as_deref()),
        fmt_bytes(r.value.as_deref())
    );
    for h in &r.headers {
        let _ = write!(
            line,
            " {}={}",
            fmt_bytes(Some(h.key.as_bytes())),
            fmt_bytes(h.value.as_deref())
        );
    }
    line
}

/// One record line from a record tidelog decoded.
fn decoded_line(r: &RecordRef<'_>) -> String {
    let mut line = format!(
        "{} {} {} {}",
        r.offset(),
        r.timestamp(),
        fmt_bytes(r.key()),
        fmt_bytes(r.value())
    );
    for (k, v) in r.headers() {
        let _ = write!(line, " {}={}", fmt_bytes(Some(k)), fmt_bytes(v));
    }
    line
}

/// Compares two canonical texts line by line; on a difference, the error shows the first
/// mismatching line as a unified-diff hunk with two lines of context.
fn compare(
    what: &str,
    expected: &str,
    expected_from: &str,
    got: &str,
    got_from: &str,
) -> TestResult {
    let e: Vec<&str> = expected.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    let Some(i) = (0..e.len().max(g.len())).find(|&i| e.get(i) != g.get(i)) else {
        return Ok(());
    };
    let mut msg = format!(
        "{what}: outputs differ ({} lines expected, {} got)\n--- expected ({expected_from})\n\
         +++ got ({got_from})\n@@ line {} @@\n",
        e.len(),
        g.len(),
        i + 1
    );
    for line in &e[i.saturating_sub(2)..i] {
        let _ = writeln!(msg, " {line}");
    }
    let _ = writeln!(msg, "-{}", e.get(i).copied().unwrap_or("<end of output>"));
    let _ = writeln!(msg, "+{}", g.get(i).copied().unwrap_or("<end of output>"));
    Err(fail(msg))
}

// ---------------------------------------------------------------------------------------
// (a) tidelog writes, kafka-python reads.

/// Records that exercise the encoding's corners: null vs empty keys, values and header
/// values, repeated, empty and non-ASCII header keys, every byte value, negative timestamp
/// deltas, and deltas needing six-byte varlongs.
fn varied_records(n: usize) -> Vec<Record> {
    let t0 = 1_700_000_000_000i64;
    (0..n)
        .map(|i| {
            let key = match i % 5 {
                0 => None,
                1 => Some(Vec::new()),
                _ => Some(format!("key-{i}").into_bytes()),
            };
            let value = match i % 7 {
                3 => None,
                4 => Some(Vec::new()),
                _ => Some(
                    (0..(i * 37) % 300)
                        .map(|j| (i * 31 + j * 7) as u8)
                        .collect(),
                ),
            };
            let timestamp = match i {
                // Far below the base timestamp: a negative delta of about -1.7e12.
                5 => 0,
                9 => t0 - 365 * 86_400_000,
                _ => t0 + i as i64 * 17 - (i as i64 % 4) * 100,
            };
            let headers: Vec<Header> = match i % 6 {
                0 => vec![],
                1 => vec![
                    Header::new("h", b"1".to_vec()),
                    Header {
                        key: "h".into(),
                        value: None,
                    },
                ],
                2 => vec![
                    Header::new("h", Vec::new()),
                    Header::new("h", b"2".to_vec()),
                    Header::new("h", b"3".to_vec()),
                ],
                3 => vec![Header::new("ключ-✓", vec![0, 0xff, 0x80])],
                4 => vec![
                    Header::new("", b"empty key".to_vec()),
                    Header {
                        key: "".into(),
                        value: None,
                    },
                ],
                _ => vec![Header::new(format!("trace-{i}"), vec![i as u8; 70])],
            };
            Record {
                timestamp,
                key,
                value,
                headers,
            }
        })
        .collect()
}

/// Many records, partly incompressible, whose records section spans several 64 KiB LZ4
/// blocks and 32 KiB snappy blocks; one value alone is larger than an LZ4 block, others sit
/// on varint length boundaries.
fn big_records(n: usize) -> Vec<Record> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let t0 = 1_650_000_000_000i64;
    (0..n)
        .map(|i| {
            let len = match i {
                10 => 70_000,
                11 => 64,
                12 => 8192,
                13 => 63,
                _ => 20 + (next() % 180) as usize,
            };
            let value: Vec<u8> = if i % 3 == 0 {
                (0..len).map(|_| next() as u8).collect()
            } else {
                format!("record {i} ").bytes().cycle().take(len).collect()
            };
            let mut r = Record::new(t0 + (next() % 10_000) as i64 - 5_000, value);
            if i % 4 != 0 {
                r = r.with_key(format!("k{}", i % 97));
            }
            if i % 10 == 0 {
                r = r.with_header("seq", Some(i.to_string().into_bytes()));
            }
            r
        })
        .collect()
}

/// One batch of a file being assembled, and the canonical text it must decode to.
struct FileBuilder {
    codec: Compression,
    bytes: Vec<u8>,
    expected: String,
}

impl FileBuilder {
    /// Appends `batch` (built from `records` with `opts`, optionally stamped LogAppendTime)
    /// and its expected canonical text.
    fn push(
        &mut self,
        batch: &[u8],
        opts: &BatchOptions,
        records: &[Record],
        log_append_time: Option<i64>,
    ) -> TestResult {
        let first_ts = records
            .first()
            .ok_or_else(|| fail("empty batch"))?
            .timestamp;
        let create_max = records.iter().map(|r| r.timestamp).max().unwrap_or(-1);
        // The CRC is the one value not known from the inputs: tidelog computed it, kafka-python
        // checks it and must report the same stored field.
        let crc = RecordBatch::parse(batch)?.crc();
        let line = format!(
            "batch magic=2 codec={} base={} count={} last_delta={} leader_epoch={} \
             crc={crc:08x} ts_type={} first_ts={first_ts} max_ts={} producer={}/{}/{} \
             txn={} control=0",
            self.codec.name(),
            opts.base_offset,
            records.len(),
            records.len() - 1,
            opts.partition_leader_epoch,
            if log_append_time.is_some() {
                "append"
            } else {
                "create"
            },
            log_append_time.unwrap_or(create_max),
            opts.producer_id,
            opts.producer_epoch,
            opts.base_sequence,
            u8::from(opts.is_transactional),
        );
        self.expected.push_str(&line);
        self.expected.push('\n');
        for (i, r) in records.iter().enumerate() {
            // FORMAT.md §1.1 / §9.8: in a LogAppendTime batch every record reads as
            // MaxTimestamp. kafka-python does the same (DefaultRecordBatch._read_msg), so
            // no allowance is needed here.
            let ts = log_append_time.unwrap_or(r.timestamp);
            let _ = writeln!(
                self.expected,
                "{}",
                record_line(opts.base_offset + i as i64, ts, r)
            );
        }
        self.bytes.extend_from_slice(batch);
        Ok(())
    }
}

fn build(opts: &BatchOptions, records: &[Record]) -> TestResult<Vec<u8>> {
    let mut b = BatchBuilder::new(opts.clone());
    for r in records {
        b.append_record(r)?;
    }
    Ok(b.finish_vec()?)
}

/// tidelog's own decoding of a file of magic-2 batches, in the same canonical form as the
/// script's `decode` (batch lines included).
fn tidelog_decode_file(bytes: &[u8]) -> TestResult<String> {
    let mut out = String::new();
    let mut scratch = Vec::new();
    for item in BatchIter::new(bytes) {
        let (pos, batch) = item?;
        let tidelog::record::Batch::V2(b) = batch else {
            return Err(fail(format!("batch at {pos} is not magic 2")));
        };
        let _ = writeln!(
            out,
            "batch magic=2 codec={} base={} count={} last_delta={} leader_epoch={} crc={:08x} \
             ts_type={} first_ts={} max_ts={} producer={}/{}/{} txn={} control={}",
            b.compression()?.name(),
            b.base_offset(),
            b.records_count(),
            b.last_offset_delta(),
            b.partition_leader_epoch(),
            b.crc(),
            match b.timestamp_type() {
                tidelog::record::TimestampType::LogAppendTime => "append",
                tidelog::record::TimestampType::CreateTime => "create",
            },
            b.base_timestamp(),
            b.max_timestamp(),
            b.producer_id(),
            b.producer_epoch(),
            b.base_sequence(),
            u8::from(b.is_transactional()),
            u8::from(b.is_control()),
        );
        for r in b.records(&mut scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)? {
            let _ = writeln!(out, "{}", decoded_line(&r?));
        }
    }
    Ok(out)
}

/// Builds the file of batches for one codec.
fn tidelog_file(codec: Compression) -> TestResult<FileBuilder> {
    let mut file = FileBuilder {
        codec,
        bytes: Vec::new(),
        expected: String::new(),
    };
    let plain = BatchOptions::with_compression(codec);

    // 1. The varied records.
    let varied = varied_records(40);
    let varied_opts = BatchOptions {
        base_offset: 0,
        ..plain.clone()
    };
    let varied_batch = build(&varied_opts, &varied)?;
    file.push(&varied_batch, &varied_opts, &varied, None)?;

    // 2. Many records: the compressed section spans many codec blocks.
    let big = big_records(3000);
    let big_opts = BatchOptions {
        base_offset: 40,
        ..plain.clone()
    };
    let mut builder = BatchBuilder::new(big_opts.clone());
    for r in &big {
        builder.append_record(r)?;
    }
    let raw = builder.uncompressed_size() - tidelog::record::RECORD_BATCH_OVERHEAD;
    assert!(raw > 4 * 64 * 1024, "records section is only {raw} bytes");
    let big_batch = builder.finish_vec()?;
    file.push(&big_batch, &big_opts, &big, None)?;

    // 3. Producer fields, transactional, a leader epoch; the last record's sequence wraps
    //    past i32::MAX to 0.
    let small = varied_records(3);
    let producer_opts = BatchOptions {
        base_offset: 3040,
        producer_id: 123_456_789_012,
        producer_epoch: i16::MAX,
        base_sequence: i32::MAX - 1,
        is_transactional: true,
        partition_leader_epoch: 17,
        ..plain.clone()
    };
    file.push(
        &build(&producer_opts, &small)?,
        &producer_opts,
        &small,
        None,
    )?;

    // 4. LogAppendTime, stamped in place as a broker does (CRC recomputed).
    let lat_records = varied_records(7);
    let lat_opts = BatchOptions {
        base_offset: 1 << 33,
        ..plain.clone()
    };
    let append_time = 1_700_000_999_999i64;
    let mut lat_batch = build(&lat_opts, &lat_records)?;
    RecordBatchMut::new(&mut lat_batch)?.set_log_append_time(append_time);
    file.push(&lat_batch, &lat_opts, &lat_records, Some(append_time))?;

    // 5. Batch 1 decoded by tidelog and re-appended record by record with `append_ref`.
    let again_opts = BatchOptions {
        base_offset: (1 << 33) + 7,
        ..plain
    };
    let mut builder = BatchBuilder::new(again_opts.clone());
    let mut scratch = Vec::new();
    for r in
        RecordBatch::parse(&varied_batch)?.records(&mut scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)?
    {
        builder.append_ref(&r?)?;
    }
    file.push(builder.finish()?, &again_opts, &varied, None)?;

    Ok(file)
}

#[test]
fn tidelog_batches_decode_in_kafka_python() -> TestResult {
    let Some(python) = python()? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    for codec in Compression::ALL {
        if !codec.is_enabled() {
            println!(
                "note: codec {} is disabled in this build; not checked",
                codec.name()
            );
            continue;
        }
        let file = tidelog_file(codec)?;
        let what = format!("tidelog batches, codec {}", codec.name());
        // tidelog's own reading first, so that a kafka-python mismatch is clearly about how
        // the two read the same bytes.
        compare(
            &what,
            &file.expected,
            "the inputs",
            &tidelog_decode_file(&file.bytes)?,
            "tidelog's decoder",
        )?;
        let path = dir.path().join(format!("tidelog-{}.log", codec.name()));
        std::fs::write(&path, &file.bytes)?;
        let got = run_script(python, "decode", &path)?;
        compare(&what, &file.expected, "the inputs", &got, "kafka-python")?;
        println!(
            "{}: {} bytes, {} lines agree with kafka-python",
            codec.name(),
            file.bytes.len(),
            file.expected.lines().count()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// (b) kafka-python writes, tidelog reads.

/// Every file `kafka_python.py write` must produce; a shrinking set fails the test.
fn expected_cases() -> Vec<String> {
    let mut names = Vec::new();
    for magic in [0, 1] {
        for codec in ["none", "gzip", "snappy", "lz4"] {
            names.push(format!("v{magic}-{codec}"));
        }
    }
    for codec in Compression::ALL {
        names.push(format!("v2-{}", codec.name()));
        names.push(format!("v2-{}-two", codec.name()));
    }
    names.push("v2-lz4-java".into());
    names.push("v2-zstd-java".into());
    names
}

/// Magic, codec and variant (`""`, `"two"`, `"java"`) from a case name such as `v2-lz4-java`.
fn parse_case(name: &str) -> TestResult<(i8, Compression, &str)> {
    let mut parts = name.splitn(3, '-');
    let magic = parts
        .next()
        .and_then(|m| m.strip_prefix('v'))
        .and_then(|m| m.parse::<i8>().ok())
        .ok_or_else(|| fail(format!("case {name}: no magic")))?;
    let codec_name = parts
        .next()
        .ok_or_else(|| fail(format!("case {name}: no codec")))?;
    let codec = Compression::ALL
        .into_iter()
        .find(|c| c.name() == codec_name)
        .ok_or_else(|| fail(format!("case {name}: unknown codec {codec_name}")))?;
    Ok((magic, codec, parts.next().unwrap_or("")))
}

/// Checks one kafka-python file with tidelog and returns its canonical text.
fn tidelog_reads_case(name: &str, bytes: &[u8]) -> TestResult<String> {
    let (magic, codec, variant) = parse_case(name)?;
    let mut out = String::new();
    let mut scratch = Vec::new();
    let mut codecs = Vec::new();
    let mut producers = Vec::new();
    for item in BatchIter::new(bytes) {
        let (pos, batch) = item.map_err(|e| fail(format!("{name}: {e}")))?;
        if batch.magic() != magic {
            return Err(fail(format!(
                "{name}: batch at {pos} has magic {}",
                batch.magic()
            )));
        }
        codecs.push(batch.compression()?);
        if let tidelog::record::Batch::V2(b) = batch {
            producers.push((b.producer_id(), b.producer_epoch(), b.base_sequence()));
        }
        let records = batch
            .records(&mut scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)
            .map_err(|e| fail(format!("{name}: batch at {pos}: {e}")))?;
        for r in records {
            let r = r.map_err(|e| fail(format!("{name}: batch at {pos}: {e}")))?;
            let _ = writeln!(out, "{}", decoded_line(&r));
        }
    }
    // The file really exercises its codec. kafka-python's v2 builder quietly writes a batch
    // uncompressed when compressing does not shrink it (FORMAT.md §3), which happens to the
    // tiny first batch of some `-two` files, so those need only one batch in the codec.
    let codec_ok = if variant == "two" {
        codecs.contains(&codec)
    } else {
        !codecs.is_empty() && codecs.iter().all(|&c| c == codec)
    };
    if !codec_ok {
        return Err(fail(format!(
            "{name}: batch codecs {codecs:?}, expected {codec:?}"
        )));
    }
    if variant == "two" && producers != [(-1, -1, -1), (42, 1, 7)] {
        return Err(fail(format!(
            "{name}: producer id/epoch/sequence {producers:?}"
        )));
    }
    if variant == "java" {
        check_java_frame(name, codec, bytes)?;
    }
    Ok(out)
}

/// A Java-style frame, as Kafka's own producer writes it, has no content size.
fn check_java_frame(name: &str, codec: Compression, bytes: &[u8]) -> TestResult {
    const RECORDS: usize = tidelog::record::RECORD_BATCH_OVERHEAD;
    let frame = bytes
        .get(RECORDS..)
        .ok_or_else(|| fail(format!("{name}: too short")))?;
    let (magic, descriptor): (&[u8], _) = match codec {
        Compression::Lz4 => (&[0x04, 0x22, 0x4d, 0x18], frame.get(4)),
        Compression::Zstd => (&[0x28, 0xb5, 0x2f, 0xfd], frame.get(4)),
        _ => {
            return Err(fail(format!(
                "{name}: no Java-style frame check for {codec:?}"
            )))
        }
    };
    if frame.get(..4) != Some(magic) {
        return Err(fail(format!("{name}: frame magic {:02x?}", frame.get(..4))));
    }
    let d = *descriptor.ok_or_else(|| fail(format!("{name}: frame too short")))?;
    match codec {
        // LZ4 FLG: version 01, independent blocks, no checksums, no content size (bit 3).
        Compression::Lz4 if d != 0x60 => Err(fail(format!(
            "{name}: LZ4 FLG {d:#04x}, Kafka's Java writer has 0x60"
        ))),
        // zstd Frame_Header_Descriptor: bits 7-6 Frame_Content_Size_flag, bit 5
        // Single_Segment_flag. Flag 0 means no content size field unless single-segment.
        Compression::Zstd if d >> 6 != 0 || (d >> 5) & 1 != 0 => Err(fail(format!(
            "{name}: zstd frame header descriptor {d:#04x} declares a content size"
        ))),
        _ => Ok(()),
    }
}

#[test]
fn kafka_python_batches_decode_in_tidelog() -> TestResult {
    let Some(python) = python()? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    run_script(python, "write", dir.path())?;
    let mut names: Vec<String> = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".bin").map(str::to_owned)
        })
        .collect();
    names.sort();
    let missing: Vec<String> = expected_cases()
        .into_iter()
        .filter(|n| !names.contains(n))
        .collect();
    if !missing.is_empty() {
        return Err(fail(format!(
            "kafka_python.py write did not produce {missing:?}"
        )));
    }
    for name in &names {
        let (_, codec, _) = parse_case(name)?;
        if !codec.is_enabled() {
            println!(
                "note: {name}: codec {} is disabled in this build; not checked",
                codec.name()
            );
            continue;
        }
        let bytes = std::fs::read(dir.path().join(format!("{name}.bin")))?;
        let expected = std::fs::read_to_string(dir.path().join(format!("{name}.txt")))?;
        let got = tidelog_reads_case(name, &bytes)?;
        compare(name, &expected, "kafka-python's inputs", &got, "tidelog")?;
        println!("{name}: {} records agree", expected.lines().count());
    }
    Ok(())
}
