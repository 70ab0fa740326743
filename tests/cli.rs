//! The `tidelog` command-line tool, run as a user runs it: every command through the built
//! binary, checking its output, its exit code (0 success, 1 error or corruption, 2 bad
//! usage) and that errors are one line on stderr.
//!
//! Stores are written with the library (or with `tidelog produce`) in temporary
//! directories. The Kafka 3.7.0 fixture lives in `../shared/fixtures/` beside the clone;
//! the tests that need it print `SKIPPED:` and pass when it is absent.

#![cfg(feature = "cli")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tidelog::config::{StoreConfig, TopicConfig};
use tidelog::log::AppendOptions;
use tidelog::record::Record;
use tidelog::store::Store;
use tidelog::Compression;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/fixtures/kafka-3.7.0/__consumer_offsets-6"
);

/// Runs the binary with `args`, feeding `stdin` if given.
fn tidelog(args: &[&str], stdin: Option<&str>) -> TestResult<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidelog"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().ok_or("no stdin pipe")?;
        match pipe.write_all(input.as_bytes()) {
            // A command that fails before reading its input (a locked store) closes the
            // pipe first: its exit code and stderr tell what happened.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other?,
        }
    }
    Ok(child.wait_with_output()?)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing the output if it differs.
fn assert_code(o: &Output, code: i32, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{what}: stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// A store with topic `orders` (2 partitions): 3 batches of 100 records in partition 0
/// (one gzip-compressed, with keys and headers), one record in partition 1; closed cleanly.
/// Small segments and index interval so that the indexes have entries and there are
/// several segments.
fn written_store() -> TestResult<(tempfile::TempDir, PathBuf)> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("store");
    let store = Store::open(&dir, StoreConfig::default())?;
    let config = TopicConfig::default()
        .with("segment.bytes", "8192")?
        .with("index.interval.bytes", "512")?;
    store.create_topic("orders", 2, config)?;
    let log = store.log("orders", 0)?;
    for batch in 0..3i64 {
        let records: Vec<Record> = (0..100i64)
            .map(|i| {
                Record::new(
                    1_700_000_000_000 + batch * 1000 + i,
                    format!("value-{batch}-{i}"),
                )
                .with_key(format!("key-{i}"))
                .with_header("trace", Some(b"t".to_vec()))
            })
            .collect();
        let opts = if batch == 1 {
            AppendOptions::with_compression(Compression::Gzip)
        } else {
            AppendOptions::default()
        };
        log.append(&records, &opts)?;
    }
    store.log("orders", 1)?.append(
        &[Record::new(1_700_000_000_000, "lonely")],
        &AppendOptions::default(),
    )?;
    store.close()?;
    Ok((tmp, dir))
}

/// Every file under `dir` with its length and modification time.
fn snapshot(dir: &Path) -> TestResult<Vec<(PathBuf, u64, std::time::SystemTime)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                out.push((entry.path(), meta.len(), meta.modified()?));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[test]
fn help_everywhere() -> TestResult {
    let commands: &[&[&str]] = &[
        &[],
        &["dump"],
        &["verify"],
        &["topics"],
        &["topics", "list"],
        &["topics", "describe"],
        &["topics", "create"],
        &["topics", "delete"],
        &["produce"],
        &["consume"],
        &["maintain"],
        &["perf"],
        &["perf", "produce"],
        &["perf", "consume"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let o = tidelog(&args, None)?;
        assert_code(&o, 0, &format!("{args:?}"));
        assert!(
            stdout(&o).contains("Usage: tidelog"),
            "{args:?}: {}",
            stdout(&o)
        );
    }
    Ok(())
}

#[test]
fn bad_usage_exits_2_with_one_line() -> TestResult {
    let cases: &[&[&str]] = &[
        &["no-such-command"],
        &["dump"],
        &["verify"],
        &["topics", "create", "--dir", "/tmp/x"],
        &["dump", "--no-such-flag", "x"],
        &[
            "consume", "--dir", "/tmp/x", "--topic", "t", "--offset", "3",
        ],
        &[
            "consume",
            "--dir",
            "/tmp/x",
            "--topic",
            "t",
            "--offset",
            "3",
            "--partition",
            "0",
            "--from-beginning",
        ],
        &[
            "produce", "--dir", "/tmp/x", "--topic", "t", "--codec", "brotli",
        ],
        &[
            "topics",
            "create",
            "--dir",
            "/tmp/x",
            "--topic",
            "t",
            "--partitions",
            "0",
        ],
        &[
            "topics",
            "create",
            "--dir",
            "/tmp/x",
            "--topic",
            "t",
            "--config",
            "nokeyvalue",
        ],
    ];
    for args in cases {
        let o = tidelog(args, None)?;
        assert_code(&o, 2, &format!("{args:?}"));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("tidelog: error: "), "{args:?}: {err}");
    }
    // A config key the library does not know is bad usage too, caught before anything is
    // written.
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("store");
    let o = tidelog(
        &[
            "topics",
            "create",
            "--dir",
            path_str(&dir),
            "--topic",
            "t",
            "--config",
            "no.such.key=1",
        ],
        None,
    )?;
    assert_code(&o, 2, "unknown config key");
    assert!(stderr(&o).contains("no.such.key"), "{}", stderr(&o));
    assert!(!dir.exists());
    Ok(())
}

#[test]
fn topics_create_list_describe_alter_delete() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("store");
    let d = path_str(&dir);
    let o = tidelog(
        &[
            "topics",
            "create",
            "--dir",
            d,
            "--topic",
            "orders",
            "--partitions",
            "3",
            "--config",
            "segment.bytes=1048576",
            "--config",
            "retention_ms=60000",
        ],
        None,
    )?;
    assert_code(&o, 0, "create");
    assert_eq!(stdout(&o), "Created topic orders.\n");
    assert_code(
        &tidelog(&["topics", "create", "--dir", d, "--topic", "audit"], None)?,
        0,
        "create",
    );

    let o = tidelog(&["topics", "list", "--dir", d], None)?;
    assert_code(&o, 0, "list");
    assert_eq!(stdout(&o), "audit\norders\n");

    let o = tidelog(
        &["topics", "describe", "--dir", d, "--topic", "orders"],
        None,
    )?;
    assert_code(&o, 0, "describe");
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("Topic: orders\tTopicId: "), "{text}");
    assert!(
        lines[0].ends_with("PartitionCount: 3\tConfigs: retention.ms=60000,segment.bytes=1048576"),
        "{text}"
    );
    assert_eq!(
        lines[2],
        "\tTopic: orders\tPartition: 1\tLogStartOffset: 0\tLogEndOffset: 0\tSize: 0\tSegments: 1"
    );

    let o = tidelog(
        &[
            "topics",
            "alter",
            "--dir",
            d,
            "--topic",
            "orders",
            "--config",
            "retention.ms=120000",
            "--config",
            "cleanup.policy=compact, delete",
            "--delete-config",
            "segment_bytes",
        ],
        None,
    )?;
    assert_code(&o, 0, "alter");
    assert_eq!(
        stdout(&o),
        "Altered topic orders: cleanup.policy=compact,delete,retention.ms=120000 \
         (was retention.ms=60000,segment.bytes=1048576).\n"
    );
    let o = tidelog(
        &["topics", "describe", "--dir", d, "--topic", "orders"],
        None,
    )?;
    assert!(
        stdout(&o).contains("Configs: cleanup.policy=compact,delete,retention.ms=120000\n"),
        "{}",
        stdout(&o)
    );
    let o = tidelog(&["topics", "alter", "--dir", d, "--topic", "orders"], None)?;
    assert_code(&o, 2, "alter with nothing to change");
    let o = tidelog(
        &[
            "topics",
            "alter",
            "--dir",
            d,
            "--topic",
            "orders",
            "--config",
            "segment.bytes=1",
        ],
        None,
    )?;
    assert_code(&o, 2, "alter to a bad value");

    let o = tidelog(&["topics", "create", "--dir", d, "--topic", "orders"], None)?;
    assert_code(&o, 1, "create twice");
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));

    let o = tidelog(&["topics", "delete", "--dir", d, "--topic", "orders"], None)?;
    assert_code(&o, 0, "delete");
    assert!(!dir.join("orders-0").exists());
    let o = tidelog(&["topics", "list", "--dir", d], None)?;
    assert_eq!(stdout(&o), "audit\n");

    let o = tidelog(
        &["topics", "describe", "--dir", d, "--topic", "orders"],
        None,
    )?;
    assert_code(&o, 1, "describe a deleted topic");
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));

    let missing = tmp.path().join("missing");
    let o = tidelog(&["topics", "list", "--dir", path_str(&missing)], None)?;
    assert_code(&o, 1, "list a missing store");
    assert!(
        !missing.exists(),
        "a read command must not create the store"
    );
    Ok(())
}

#[test]
fn dump_kafka_fixture_with_index() -> TestResult {
    let fixture = Path::new(FIXTURE);
    if !fixture.is_dir() {
        println!("SKIPPED: Kafka fixture {} is absent", fixture.display());
        return Ok(());
    }
    let before = snapshot(fixture)?;
    let o = tidelog(&["dump", "--index", FIXTURE], None)?;
    assert_code(&o, 0, "dump --index of the fixture");
    assert_eq!(stderr(&o), "");
    let text = stdout(&o);
    let batches: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("baseOffset: "))
        .collect();
    assert_eq!(batches.len(), 13, "{text}");
    assert_eq!(
        batches[0],
        "baseOffset: 0 lastOffset: 0 count: 1 baseSequence: -1 lastSequence: -1 producerId: -1 \
         producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false \
         deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: 1769791662955 size: 1780 \
         magic: 2 compresscodec: none crc: 3425803576 isvalid: true"
    );
    for (i, line) in batches.iter().enumerate() {
        assert!(
            line.starts_with(&format!("baseOffset: {i} lastOffset: {i} count: 1 ")),
            "{line}"
        );
        assert!(line.ends_with("isvalid: true"), "{line}");
    }
    let index: Vec<&str> = text.lines().filter(|l| l.starts_with("offset: ")).collect();
    assert_eq!(
        index,
        ["offset: 3 position: 4730", "offset: 7 position: 9571"]
    );
    let time_index: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("timestamp: "))
        .collect();
    assert_eq!(time_index.len(), 3, "{text}");
    assert!(text.starts_with("Dumping "), "{text}");
    assert!(text.contains("\nLog starting offset: 0\n"), "{text}");

    // The index file alone, checked against its log, and JSON.
    let index_file = format!("{FIXTURE}/00000000000000000000.index");
    let o = tidelog(&["dump", &index_file], None)?;
    assert_code(&o, 0, "dump of the .index");
    assert!(stdout(&o).ends_with("offset: 3 position: 4730\noffset: 7 position: 9571\n"));
    let o = tidelog(&["dump", "--json", "--print-data", FIXTURE], None)?;
    assert_code(&o, 0, "dump --json");
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 13);
    for line in text.lines() {
        assert!(line.starts_with('{') && line.ends_with("]}"), "{line}");
        assert!(line.contains("\"isvalid\":true") && line.contains("\"records\":[{\"offset\":"));
    }
    assert_eq!(snapshot(fixture)?, before, "dump must not write anything");
    Ok(())
}

#[test]
fn dump_written_store() -> TestResult {
    let (_tmp, dir) = written_store()?;
    let partition = dir.join("orders-0");
    let o = tidelog(
        &["dump", "--print-data", "--index", path_str(&partition)],
        None,
    )?;
    assert_code(&o, 0, "dump --print-data --index");
    let text = stdout(&o);
    let batches: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("baseOffset: "))
        .collect();
    assert_eq!(batches.len(), 3, "{text}");
    assert!(
        batches[1].contains(" compresscodec: gzip "),
        "{}",
        batches[1]
    );
    assert!(
        batches[0].starts_with("baseOffset: 0 lastOffset: 99 count: 100 "),
        "{}",
        batches[0]
    );
    let records: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("| offset: "))
        .collect();
    assert_eq!(records.len(), 300);
    assert_eq!(
        records[101],
        "| offset: 101 CreateTime: 1700000001001 keySize: 5 valueSize: 9 sequence: -1 \
         headerKeys: [trace] key: key-1 payload: value-1-1"
    );
    let o = tidelog(
        &[
            "dump",
            "--json",
            path_str(&partition.join("00000000000000000000.log")),
        ],
        None,
    )?;
    assert_code(&o, 0, "dump --json of a .log");
    let first = stdout(&o).lines().next().unwrap_or_default().to_string();
    assert!(
        first.contains("\"baseOffset\":0,\"lastOffset\":99,\"count\":100,"),
        "{first}"
    );
    assert!(first.contains("\"CreateTime\":1700000000099,"), "{first}");
    Ok(())
}

#[test]
fn dump_reports_corruption() -> TestResult {
    let (_tmp, dir) = written_store()?;
    let log = dir.join("orders-0").join("00000000000000000000.log");
    flip_byte(&log, 200)?;
    let o = tidelog(&["dump", path_str(&log)], None)?;
    assert_code(&o, 1, "dump of a corrupt segment");
    assert!(stdout(&o).contains(" isvalid: false"), "{}", stdout(&o));
    assert!(stderr(&o).contains("checksum mismatch"), "{}", stderr(&o));
    Ok(())
}

/// Flips one byte of a file.
fn flip_byte(path: &Path, at: usize) -> TestResult {
    let mut bytes = std::fs::read(path)?;
    bytes[at] ^= 0x40;
    std::fs::write(path, bytes)?;
    Ok(())
}

/// A store with topic `t` of one partition: 300 records in 50 batches, closed cleanly.
/// With `segment_bytes` small the batches spread over several segments; the index interval
/// is large so that a reader walks each segment from its start.
fn sealed_store(segment_bytes: &str) -> TestResult<(tempfile::TempDir, PathBuf)> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("store");
    let store = Store::open(&dir, StoreConfig::default())?;
    let config = TopicConfig::default()
        .with("segment.bytes", segment_bytes)?
        .with("index.interval.bytes", "1048576")?;
    store.create_topic("t", 1, config)?;
    let log = store.log("t", 0)?;
    for batch in 0..50i64 {
        let records: Vec<Record> = (0..6i64)
            .map(|i| {
                Record::new(
                    1_700_000_000_000 + batch * 6 + i,
                    format!("v{}", batch * 6 + i),
                )
            })
            .collect();
        log.append(&records, &AppendOptions::default())?;
    }
    drop(log);
    store.close()?;
    Ok((tmp, dir))
}

/// Asserts that stderr is exactly one line, an error naming `what`.
fn assert_one_error_line(o: &Output, what: &str) {
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("tidelog: error: "), "{err}");
    assert!(err.contains(what), "{err}");
}

#[test]
fn read_commands_exit_1_on_a_flipped_byte_in_sealed_data() -> TestResult {
    // One segment, a byte flipped in its middle, closed cleanly.
    let (_tmp, dir) = sealed_store("1073741824")?;
    let d = path_str(&dir);
    let segment = dir.join("t-0").join("00000000000000000000.log");
    let len = std::fs::metadata(&segment)?.len() as usize;
    flip_byte(&segment, len / 2)?;
    let o = tidelog(
        &["consume", "--dir", d, "--topic", "t", "--from-beginning"],
        None,
    )?;
    assert_code(&o, 1, "consume of a corrupt store");
    assert_one_error_line(&o, &format!("corrupt data in {}", segment.display()));
    assert!(stdout(&o).lines().count() < 300, "{}", stdout(&o));
    let o = tidelog(&["topics", "describe", "--dir", d, "--topic", "t"], None)?;
    assert_code(&o, 1, "describe of a corrupt store");
    assert_one_error_line(&o, &format!("corrupt data in {}", segment.display()));
    let o = tidelog(&["dump", path_str(&segment)], None)?;
    assert_code(&o, 1, "dump of a corrupt segment");
    assert!(stderr(&o).contains("checksum mismatch"), "{}", stderr(&o));
    let o = tidelog(&["verify", "--dir", d], None)?;
    assert_code(&o, 1, "verify of a corrupt store");
    assert!(stderr(&o).contains("checksum mismatch"), "{}", stderr(&o));

    // Several segments, the first damaged, and no clean-shutdown marker: damage in a
    // segment the writer finished is corruption whatever the writer's state.
    let (_tmp, dir) = sealed_store("1024")?;
    let d = path_str(&dir);
    std::fs::remove_file(dir.join(".kafka_cleanshutdown"))?;
    std::fs::write(
        dir.join("recovery-point-offset-checkpoint"),
        b"0\n1\nt 0 0\n",
    )?;
    let first = dir.join("t-0").join("00000000000000000000.log");
    let len = std::fs::metadata(&first)?.len() as usize;
    flip_byte(&first, len / 2)?;
    let o = tidelog(
        &["consume", "--dir", d, "--topic", "t", "--from-beginning"],
        None,
    )?;
    assert_code(&o, 1, "consume of a corrupt first segment");
    assert_one_error_line(&o, &format!("corrupt data in {}", first.display()));
    let o = tidelog(&["topics", "describe", "--dir", d], None)?;
    assert_code(&o, 1, "describe of a corrupt first segment");
    assert_one_error_line(&o, &format!("corrupt data in {}", first.display()));
    Ok(())
}

#[test]
fn consume_reads_a_torn_tail_after_a_crash_as_the_end() -> TestResult {
    let (_tmp, dir) = sealed_store("1073741824")?;
    let d = path_str(&dir);
    // A crash: no marker, the recovery point at the end, and half a batch after it.
    std::fs::remove_file(dir.join(".kafka_cleanshutdown"))?;
    let segment = dir.join("t-0").join("00000000000000000000.log");
    let bytes = std::fs::read(&segment)?;
    let mut torn = bytes.clone();
    torn.extend_from_slice(&bytes[..40]);
    std::fs::write(&segment, &torn)?;
    let o = tidelog(
        &["consume", "--dir", d, "--topic", "t", "--from-beginning"],
        None,
    )?;
    assert_code(&o, 0, "consume after a crash");
    assert_eq!(stdout(&o).lines().count(), 300);
    assert!(stdout(&o).ends_with("v299\n"), "{}", stdout(&o));
    let o = tidelog(&["topics", "describe", "--dir", d, "--topic", "t"], None)?;
    assert_code(&o, 0, "describe after a crash");
    assert!(stdout(&o).contains("LogEndOffset: 300"), "{}", stdout(&o));
    // The same tail after a clean shutdown cannot be an append in flight.
    std::fs::write(dir.join(".kafka_cleanshutdown"), b"")?;
    let o = tidelog(
        &["consume", "--dir", d, "--topic", "t", "--from-beginning"],
        None,
    )?;
    assert_code(&o, 1, "consume of a torn tail after a clean shutdown");
    assert_one_error_line(&o, "truncated");
    Ok(())
}

#[test]
fn verify_good_and_corrupt_stores() -> TestResult {
    let (_tmp, dir) = written_store()?;
    let d = path_str(&dir);
    let before = snapshot(&dir)?;
    let o = tidelog(&["verify", "--dir", d], None)?;
    assert_code(&o, 0, "verify of a good store");
    let text = stdout(&o);
    assert!(text.contains("orders-0: ok (offsets 0..300,"), "{text}");
    assert!(text.contains("orders-1: ok (offsets 0..1,"), "{text}");
    assert!(text.contains(" 301 records, "), "{text}");
    assert!(text.ends_with("0 errors, 0 warnings\n"), "{text}");
    assert_eq!(snapshot(&dir)?, before, "verify must not write anything");

    // A flipped byte in fsynced data (the store was closed cleanly): corruption.
    flip_byte(&dir.join("orders-0").join("00000000000000000000.log"), 300)?;
    let o = tidelog(&["verify", "--dir", d], None)?;
    assert_code(&o, 1, "verify of a corrupt store");
    assert!(stderr(&o).contains("checksum mismatch"), "{}", stderr(&o));
    assert!(stdout(&o).contains("orders-0: 1 error"), "{}", stdout(&o));
    Ok(())
}

#[test]
fn verify_torn_tail_after_crash_is_a_warning() -> TestResult {
    let (_tmp, dir) = written_store()?;
    // A crash: no clean-shutdown marker, and half a batch at the end of the active segment.
    std::fs::remove_file(dir.join(".kafka_cleanshutdown"))?;
    let log = dir.join("orders-1").join("00000000000000000000.log");
    let bytes = std::fs::read(&log)?;
    let mut torn = bytes.clone();
    torn.extend_from_slice(&bytes[..bytes.len() / 2]);
    std::fs::write(&log, torn)?;
    let o = tidelog(&["verify", "--dir", path_str(&dir)], None)?;
    assert_code(&o, 0, "verify after a crash");
    assert!(stderr(&o).contains("warning: "), "{}", stderr(&o));
    assert!(stderr(&o).contains("recovery would cut"), "{}", stderr(&o));
    // The same torn tail after a clean shutdown is damage.
    std::fs::write(dir.join(".kafka_cleanshutdown"), b"")?;
    let o = tidelog(&["verify", "--dir", path_str(&dir)], None)?;
    assert_code(&o, 1, "verify of a torn tail after a clean shutdown");
    Ok(())
}

#[test]
fn verify_bad_index_and_checkpoint() -> TestResult {
    let (_tmp, dir) = written_store()?;
    let index = dir.join("orders-0").join("00000000000000000000.index");
    let mut bytes = std::fs::read(&index)?;
    assert!(
        bytes.len() >= 8,
        "the test store's first segment has index entries"
    );
    bytes[7] ^= 0x01; // a position that is no batch start
    std::fs::write(&index, &bytes)?;
    let o = tidelog(&["verify", "--dir", path_str(&dir)], None)?;
    assert_code(&o, 1, "verify with a bad index");
    assert!(
        stderr(&o).contains(".index: entry 0: position"),
        "{}",
        stderr(&o)
    );

    let (_tmp2, dir) = written_store()?;
    std::fs::write(
        dir.join("recovery-point-offset-checkpoint"),
        b"0\n2\norders 0 300\n",
    )?;
    let o = tidelog(&["verify", "--dir", path_str(&dir)], None)?;
    assert_code(&o, 1, "verify with a bad checkpoint");
    assert!(stderr(&o).contains("bad checkpoint"), "{}", stderr(&o));
    Ok(())
}

#[test]
fn verify_kafka_fixture() -> TestResult {
    let fixture = Path::new(FIXTURE);
    let Some(root) = fixture.parent().filter(|_| fixture.is_dir()) else {
        println!("SKIPPED: Kafka fixture {} is absent", fixture.display());
        return Ok(());
    };
    let o = tidelog(&["verify", "--dir", path_str(root)], None)?;
    assert_code(&o, 0, "verify of the Kafka fixture");
    assert!(stdout(&o).contains("__consumer_offsets-6: ok (offsets 0..13, 1 segment, 13 batches"));
    Ok(())
}

#[test]
fn maintain_applies_retention_and_closes_cleanly() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("store");
    let store = Store::open(&dir, StoreConfig::default())?;
    let config = TopicConfig::default()
        .with("segment.bytes", "1024")?
        .with("retention.bytes", "2048")?;
    store.create_topic("events", 1, config)?;
    let log = store.log("events", 0)?;
    for i in 0..40 {
        log.append(
            &[Record::new(1_700_000_000_000 + i, vec![b'x'; 200])],
            &AppendOptions::default(),
        )?;
    }
    let segments_before = log.segment_count();
    drop(log);
    store.close()?;
    assert!(segments_before > 4);

    let o = tidelog(&["maintain", "--dir", path_str(&dir)], None)?;
    assert_code(&o, 0, "maintain");
    let text = stdout(&o);
    assert!(
        text.starts_with(&format!("maintenance of {}: ", dir.display())),
        "{text}"
    );
    assert!(!text.contains(" 0 segments (0 bytes) deleted"), "{text}");
    assert!(text.trim_end().ends_with("closed cleanly"), "{text}");
    assert!(dir.join(".kafka_cleanshutdown").exists());
    let o = tidelog(&["verify", "--dir", path_str(&dir)], None)?;
    assert_code(&o, 0, "verify after maintain");
    Ok(())
}

/// A store with topic `events`: record `a` (key `k1`, header `h`=`v`), a transaction
/// commit marker (a control batch), record `b` (null key, a header with a null value).
fn store_with_control_batch() -> TestResult<(tempfile::TempDir, PathBuf)> {
    use tidelog::log::Validation;
    use tidelog::record::{encode_batch, BatchOptions};
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("store");
    let store = Store::open(&dir, StoreConfig::default())?;
    store.create_topic("events", 1, TopicConfig::default())?;
    let log = store.log("events", 0)?;
    log.append(
        &[Record::new(1_700_000_000_000, "a")
            .with_key("k1")
            .with_header("h", Some(b"v".to_vec()))],
        &AppendOptions::default(),
    )?;
    let marker = encode_batch(
        BatchOptions {
            is_control: true,
            is_transactional: true,
            producer_id: 7,
            producer_epoch: 0,
            ..BatchOptions::default()
        },
        &[Record::new(1_700_000_000_001, vec![0, 0, 0, 0, 0, 5]).with_key(vec![0, 0, 0, 1])],
    )?;
    log.append_batch(&marker, Validation::Deep)?;
    log.append(
        &[Record::new(1_700_000_000_002, "b").with_header("n", None)],
        &AppendOptions::default(),
    )?;
    drop(log);
    store.close()?;
    Ok((tmp, dir))
}

#[test]
fn consume_text_json_offsets_and_control_records() -> TestResult {
    let (_tmp, dir) = store_with_control_batch()?;
    let d = path_str(&dir);
    let base = ["consume", "--dir", d, "--topic", "events"];
    let run = |extra: &[&str]| -> TestResult<Output> {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        tidelog(&args, None)
    };
    let o = run(&["--from-beginning"])?;
    assert_code(&o, 0, "consume --from-beginning");
    assert_eq!(stdout(&o), "a\nb\n", "the control record is skipped");

    let o = run(&["--from-beginning", "--print-key"])?;
    assert_eq!(stdout(&o), "k1\ta\nnull\tb\n");

    let o = run(&["--from-beginning", "--format", "json"])?;
    assert_code(&o, 0, "consume --format json");
    assert_eq!(
        stdout(&o),
        "{\"partition\":0,\"offset\":0,\"timestamp\":1700000000000,\"key\":\"azE=\",\"value\":\"YQ==\",\"headers\":[[\"h\",\"dg==\"]]}\n\
         {\"partition\":0,\"offset\":2,\"timestamp\":1700000000002,\"key\":null,\"value\":\"Yg==\",\"headers\":[[\"n\",null]]}\n"
    );

    let o = run(&["--partition", "0", "--offset", "1"])?;
    assert_eq!(stdout(&o), "b\n");
    let o = run(&["--from-beginning", "--max-records", "1"])?;
    assert_eq!(stdout(&o), "a\n");
    let o = run(&[])?;
    assert_code(&o, 0, "consume from the end");
    assert_eq!(
        stdout(&o),
        "",
        "without --from-beginning, reading starts at the end"
    );
    let o = run(&["--partition", "0", "--offset", "9"])?;
    assert_code(&o, 1, "an offset past the end");
    assert_eq!(stderr(&o).lines().count(), 1);
    let o = run(&["--partition", "3"])?;
    assert_code(&o, 1, "a partition the topic lacks");

    // The dump shows the marker as Kafka's does.
    let o = tidelog(
        &["dump", "--print-data", path_str(&dir.join("events-0"))],
        None,
    )?;
    assert_code(&o, 0, "dump of a control batch");
    assert!(
        stdout(&o).contains(" isTransactional: true isControl: true "),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains(" endTxnMarker: COMMIT coordinatorEpoch: 5\n"),
        "{}",
        stdout(&o)
    );
    Ok(())
}

#[test]
fn consume_with_a_group_commits_as_it_goes() -> TestResult {
    let (_tmp, dir) = store_with_control_batch()?;
    let d = path_str(&dir);
    let args = [
        "consume",
        "--dir",
        d,
        "--topic",
        "events",
        "--group",
        "g",
        "--from-beginning",
        "--max-records",
        "1",
    ];
    let o = tidelog(&args, None)?;
    assert_code(&o, 0, "first group read");
    assert_eq!(stdout(&o), "a\n");
    let o = tidelog(&args, None)?;
    assert_eq!(
        stdout(&o),
        "b\n",
        "the second run starts at the committed offset"
    );
    let o = tidelog(&args, None)?;
    assert_code(&o, 0, "third group read");
    assert_eq!(stdout(&o), "", "everything was committed");
    Ok(())
}

#[test]
fn verify_and_dump_a_store_an_application_holds_open() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("store");
    let store = Store::open(&dir, StoreConfig::default())?;
    let config = TopicConfig::default().with("index.interval.bytes", "256")?;
    store.create_topic("live", 1, config)?;
    let log = store.log("live", 0)?;
    for i in 0..50 {
        log.append(
            &[Record::new(1_700_000_000_000 + i, vec![b'x'; 100])],
            &AppendOptions::default(),
        )?;
    }
    // The application keeps the store open (its lock held, the active segment's indexes
    // mapped and not trimmed, no clean-shutdown marker) while the tools read it.
    let before = snapshot(&dir)?;
    let o = tidelog(&["verify", "--dir", path_str(&dir)], None)?;
    assert_code(&o, 0, "verify of a store held open");
    assert!(stdout(&o).contains("live-0: ok"), "{}", stdout(&o));
    let o = tidelog(&["dump", "--index", path_str(&dir.join("live-0"))], None)?;
    assert_code(&o, 0, "dump of a store held open");
    assert_eq!(
        stdout(&o)
            .lines()
            .filter(|l| l.starts_with("baseOffset: "))
            .count(),
        50
    );
    assert!(
        stdout(&o).lines().any(|l| l.starts_with("offset: ")),
        "{}",
        stdout(&o)
    );
    assert_eq!(snapshot(&dir)?, before, "the tools must not write");
    drop(log);
    store.close()?;
    Ok(())
}

/// One magic-1 log entry (`FORMAT.md` §10) with a null key: uncompressed if `attributes`
/// is 0, else a wrapper whose `value` is the compressed inner message set.
fn legacy_v1(offset: i64, attributes: u8, timestamp: i64, value: &[u8]) -> Vec<u8> {
    let mut message = vec![1u8, attributes]; // magic 1; codec in bits 0-2, CreateTime
    message.extend_from_slice(&timestamp.to_be_bytes());
    message.extend_from_slice(&(-1i32).to_be_bytes()); // null key
    message.extend_from_slice(&(value.len() as i32).to_be_bytes());
    message.extend_from_slice(value);
    let crc = crc32fast::hash(&message);
    let mut entry = offset.to_be_bytes().to_vec();
    entry.extend_from_slice(&((message.len() + 4) as i32).to_be_bytes());
    entry.extend_from_slice(&crc.to_be_bytes());
    entry.extend_from_slice(&message);
    entry
}

/// One uncompressed magic-1 log entry.
fn legacy_v1_entry(offset: i64, timestamp: i64, value: &[u8]) -> Vec<u8> {
    legacy_v1(offset, 0, timestamp, value)
}

/// The CRC-32 stored in a legacy entry.
fn legacy_crc(entry: &[u8]) -> u32 {
    u32::from_be_bytes([entry[12], entry[13], entry[14], entry[15]])
}

#[test]
fn dump_legacy_messages() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("old-0");
    std::fs::create_dir(&dir)?;
    let hello = legacy_v1_entry(0, 1_600_000_000_000, b"hello");
    let world = legacy_v1_entry(1, 1_600_000_000_001, b"world");
    // A gzip wrapper of two inner messages (relative offsets 0 and 1) ending at offset 3.
    let inner_a = legacy_v1_entry(0, 1_600_000_000_002, b"deep-a");
    let inner_b = legacy_v1_entry(1, 1_600_000_000_003, b"deep-b");
    let mut gzipped = Vec::new();
    tidelog::compression::compress(
        Compression::Gzip,
        None,
        &[inner_a.as_slice(), inner_b.as_slice()].concat(),
        &mut gzipped,
    )?;
    let wrapper = legacy_v1(3, 1, 1_600_000_000_003, &gzipped);
    let segment = [hello.as_slice(), &world, &wrapper].concat();
    let log = dir.join("00000000000000000000.log");
    std::fs::write(&log, &segment)?;
    let o = tidelog(&["dump", "--print-data", path_str(&log)], None)?;
    assert_code(&o, 0, "dump of legacy messages");
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[2].starts_with("offset: 0 position: 0 CreateTime: 1600000000000 size: 39 magic: 1 compresscodec: none crc: "),
        "{text}"
    );
    assert!(lines[2].ends_with(" isvalid: true"), "{text}");
    // Kafka's record line for a legacy record: its own isValid and crc (and the brace that
    // Kafka's format string leaves behind) before the key and payload.
    assert_eq!(
        lines[3],
        format!(
            "| offset: 0 CreateTime: 1600000000000 keySize: -1 valueSize: 5 isValid: true crc: {}}} payload: hello",
            legacy_crc(&hello)
        )
    );
    assert!(lines[4].starts_with("offset: 1 position: 39 "), "{text}");
    assert_eq!(
        lines[5],
        format!(
            "| offset: 1 CreateTime: 1600000000001 keySize: -1 valueSize: 5 isValid: true crc: {}}} payload: world",
            legacy_crc(&world)
        )
    );
    assert!(
        lines[6].starts_with("offset: 3 position: 78 CreateTime: 1600000000003 ")
            && lines[6].contains(" magic: 1 compresscodec: gzip crc: "),
        "{text}"
    );
    // The records of a wrapper are its inner messages, each with its own CRC.
    assert_eq!(
        lines[7],
        format!(
            "| offset: 2 CreateTime: 1600000000002 keySize: -1 valueSize: 6 isValid: true crc: {}}} payload: deep-a",
            legacy_crc(&inner_a)
        )
    );
    assert_eq!(
        lines[8],
        format!(
            "| offset: 3 CreateTime: 1600000000003 keySize: -1 valueSize: 6 isValid: true crc: {}}} payload: deep-b",
            legacy_crc(&inner_b)
        )
    );
    assert_eq!(lines.len(), 9, "{text}");

    let o = tidelog(&["dump", "--print-data", "--json", path_str(&log)], None)?;
    assert_code(&o, 0, "dump --json of legacy messages");
    let json = stdout(&o);
    assert!(
        json.lines().next().is_some_and(|l| l.contains(&format!(
            "\"keySize\":-1,\"valueSize\":5,\"isValid\":true,\"crc\":{},\"key\":null,\"payload\":\"hello\"",
            legacy_crc(&hello)
        ))),
        "{json}"
    );

    // A damaged message: isValid false, with the CRC it stores.
    flip_byte(&log, 39 + world.len() - 1)?;
    let o = tidelog(&["dump", "--print-data", path_str(&log)], None)?;
    assert_code(&o, 1, "dump of a damaged legacy message");
    assert!(
        stdout(&o).contains(&format!(
            "| offset: 1 CreateTime: 1600000000001 keySize: -1 valueSize: 5 isValid: false crc: {}}} payload: worl$",
            legacy_crc(&world)
        )),
        "{}",
        stdout(&o)
    );
    Ok(())
}

#[test]
fn produce_lines_then_consume_them_back() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("store");
    let d = path_str(&dir);
    let input = "k1:first\nsecond\nk2:with:colons\n\nlast\n";
    let o = tidelog(
        &[
            "produce",
            "--dir",
            d,
            "--topic",
            "lines",
            "--key-separator",
            ":",
            "--codec",
            "lz4",
            "--batch-size",
            "2",
            "--sync",
            "--config",
            "segment.bytes=4096",
        ],
        Some(input),
    )?;
    assert_code(&o, 0, "produce");
    assert_eq!(stderr(&o), "");

    let consume = |extra: &[&str]| -> TestResult<Output> {
        let mut args = vec![
            "consume",
            "--dir",
            d,
            "--topic",
            "lines",
            "--from-beginning",
        ];
        args.extend_from_slice(extra);
        tidelog(&args, None)
    };
    let o = consume(&[])?;
    assert_code(&o, 0, "consume text");
    assert_eq!(stdout(&o), "first\nsecond\nwith:colons\n\nlast\n");
    let o = consume(&["--print-key"])?;
    assert_eq!(
        stdout(&o),
        "k1\tfirst\nnull\tsecond\nk2\twith:colons\nnull\t\nnull\tlast\n"
    );
    let o = consume(&["--format", "json"])?;
    assert_code(&o, 0, "consume json");
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[0].starts_with("{\"partition\":0,\"offset\":0,\"timestamp\":"),
        "{text}"
    );
    assert!(
        lines[0].ends_with(",\"key\":\"azE=\",\"value\":\"Zmlyc3Q=\",\"headers\":[]}"),
        "{text}"
    );
    assert!(
        lines[1].ends_with(",\"key\":null,\"value\":\"c2Vjb25k\",\"headers\":[]}"),
        "{text}"
    );
    assert!(
        lines[3].ends_with(",\"key\":null,\"value\":\"\",\"headers\":[]}"),
        "{text}"
    );

    // Batches of two records, lz4, as asked.
    let o = tidelog(&["dump", path_str(&dir.join("lines-0"))], None)?;
    assert_code(&o, 0, "dump of produced data");
    let batches: Vec<String> = stdout(&o)
        .lines()
        .filter(|l| l.starts_with("baseOffset: "))
        .map(str::to_string)
        .collect();
    assert_eq!(batches.len(), 3, "{}", stdout(&o));
    assert!(batches[0].contains(" count: 2 ") && batches[0].contains(" compresscodec: lz4 "));

    // An existing topic keeps its settings; a note says so.
    let o = tidelog(
        &[
            "produce",
            "--dir",
            d,
            "--topic",
            "lines",
            "--partitions",
            "4",
            "--partition",
            "0",
        ],
        Some("more\n"),
    )?;
    assert_code(&o, 0, "produce to an existing topic");
    assert!(
        stderr(&o).contains("note: topic lines exists with 1 partition"),
        "{}",
        stderr(&o)
    );
    let o = tidelog(
        &[
            "consume",
            "--dir",
            d,
            "--topic",
            "lines",
            "--partition",
            "0",
            "--offset",
            "5",
        ],
        None,
    )?;
    assert_code(&o, 0, "consume from an offset");
    assert_eq!(stdout(&o), "more\n");
    let o = tidelog(
        &[
            "produce",
            "--dir",
            d,
            "--topic",
            "lines",
            "--partition",
            "7",
        ],
        Some("x\n"),
    )?;
    assert_code(&o, 1, "produce to a partition the topic lacks");
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));

    // Keys spread over partitions as Kafka's partitioner spreads them.
    let input: String = (0..200).map(|i| format!("key-{i}|v{i}\n")).collect();
    let o = tidelog(
        &[
            "produce",
            "--dir",
            d,
            "--topic",
            "keyed",
            "--partitions",
            "3",
            "--key-separator",
            "|",
        ],
        Some(&input),
    )?;
    assert_code(&o, 0, "produce keyed");
    let o = tidelog(
        &["topics", "describe", "--dir", d, "--topic", "keyed"],
        None,
    )?;
    let text = stdout(&o);
    let ends: Vec<i64> = text
        .lines()
        .filter_map(|l| l.split("LogEndOffset: ").nth(1))
        .filter_map(|rest| rest.split('\t').next()?.parse().ok())
        .collect();
    assert_eq!(ends.len(), 3, "{text}");
    assert_eq!(ends.iter().sum::<i64>(), 200);
    assert!(ends.iter().all(|&n| n > 30), "{text}");
    let o = tidelog(
        &[
            "consume",
            "--dir",
            d,
            "--topic",
            "keyed",
            "--from-beginning",
        ],
        None,
    )?;
    assert_eq!(stdout(&o).lines().count(), 200);
    Ok(())
}

/// The number after `"key":` in a one-line JSON object.
fn json_number(json: &str, key: &str) -> Option<f64> {
    let rest = json.split(&format!("\"{key}\":")).nth(1)?;
    let end = rest.find([',', '}'])?;
    rest[..end].parse().ok()
}

#[test]
fn perf_produce_and_consume_report_rates() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("perf");
    let d = path_str(&dir);
    let o = tidelog(
        &[
            "perf",
            "produce",
            "--dir",
            d,
            "--records",
            "5000",
            "--record-size",
            "50",
            "--batch-size",
            "100",
            "--threads",
            "2",
            "--partitions",
            "2",
            "--json",
        ],
        None,
    )?;
    assert_code(&o, 0, "perf produce --json");
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 1, "{text}");
    let rate = json_number(&text, "records_per_sec").ok_or("no records_per_sec")?;
    assert!(rate > 0.0, "{text}");
    assert!(
        json_number(&text, "mb_per_sec").is_some_and(|v| v > 0.0),
        "{text}"
    );
    assert!(
        json_number(&text, "disk_mb_per_sec").is_some_and(|v| v > 0.0),
        "{text}"
    );
    assert_eq!(json_number(&text, "records"), Some(5000.0));
    assert_eq!(json_number(&text, "partitions"), Some(2.0));
    for key in [
        "latency_p50_us",
        "latency_p99_us",
        "latency_p999_us",
        "latency_max_us",
    ] {
        assert!(json_number(&text, key).is_some(), "{key}: {text}");
    }

    let o = tidelog(
        &["perf", "consume", "--dir", d, "--records", "4000", "--json"],
        None,
    )?;
    assert_code(&o, 0, "perf consume --json");
    let text = stdout(&o);
    assert_eq!(json_number(&text, "records"), Some(4000.0), "{text}");
    assert!(
        json_number(&text, "records_per_sec").is_some_and(|v| v > 0.0),
        "{text}"
    );

    let o = tidelog(
        &[
            "perf",
            "produce",
            "--dir",
            d,
            "--records",
            "1000",
            "--sync",
            "--codec",
            "zstd",
        ],
        None,
    )?;
    assert_code(&o, 0, "perf produce text");
    assert!(
        stdout(&o).starts_with("1000 records sent, "),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains(" us p99.9, "), "{}", stdout(&o));

    let o = tidelog(&["verify", "--dir", d], None)?;
    assert_code(&o, 0, "verify after perf");
    Ok(())
}

#[test]
fn perf_notes_an_ignored_partition_count_only_when_one_was_given() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let d = path_str(tmp.path());
    let perf = |command: &str, extra: &[&str]| {
        let mut args = vec!["perf", command, "--dir", d, "--records", "200", "--json"];
        args.extend_from_slice(extra);
        tidelog(&args, None)
    };
    let o = perf("produce", &["--partitions", "2"])?;
    assert_code(&o, 0, "perf produce --partitions 2");
    assert_eq!(stderr(&o), "");
    // The topic exists with 2 partitions; no --partitions given, so nothing to note.
    for command in ["consume", "produce"] {
        let o = perf(command, &[])?;
        assert_code(&o, 0, command);
        assert_eq!(stderr(&o), "", "perf {command} without --partitions");
        assert_eq!(json_number(&stdout(&o), "partitions"), Some(2.0));
    }
    let o = perf("consume", &["--partitions", "3"])?;
    assert_code(&o, 0, "perf consume --partitions 3");
    assert!(
        stderr(&o).contains("exists with 2 partitions; --partitions 3 is ignored"),
        "{}",
        stderr(&o)
    );
    Ok(())
}

/// Reads partition 0 of `topic` from the beginning with the read-only `consume`.
fn consume_all(dir: &str, topic: &str) -> TestResult<String> {
    let o = tidelog(
        &[
            "consume",
            "--dir",
            dir,
            "--topic",
            topic,
            "--from-beginning",
        ],
        None,
    )?;
    assert_code(&o, 0, "consume");
    Ok(stdout(&o))
}

#[test]
fn produce_sync_appends_each_line_of_a_quiet_input_at_once() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("store");
    let d = path_str(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidelog"))
        .args(["produce", "--dir", d, "--topic", "s", "--sync"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or("no stdin pipe")?;
    // Each line, typed into an input that then goes quiet, is appended (and fsynced)
    // without waiting for the batch to fill or the input to end.
    for (i, line) in ["first", "second"].iter().enumerate() {
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let seen = if dir.join("s-0").exists() {
                consume_all(d, "s")?
            } else {
                String::new()
            };
            if seen.lines().count() == i + 1 {
                assert_eq!(seen.lines().last(), Some(*line));
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{line} never appeared: {seen:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    drop(stdin);
    let o = child.wait_with_output()?;
    assert_code(&o, 0, "produce --sync");
    assert_eq!(consume_all(d, "s")?, "first\nsecond\n");
    Ok(())
}

/// The lines a child writes to its stdout, as they come.
fn stdout_lines(child: &mut std::process::Child) -> TestResult<std::sync::mpsc::Receiver<String>> {
    use std::io::BufRead;
    let out = child.stdout.take().ok_or("no stdout pipe")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

/// The next `expected.len()` lines of `lines`, each within a generous timeout.
fn expect_lines(lines: &std::sync::mpsc::Receiver<String>, expected: &[&str]) -> TestResult {
    for want in expected {
        match lines.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok(got) => assert_eq!(got, *want),
            Err(e) => return Err(format!("waiting for {want:?}: {e}").into()),
        }
    }
    Ok(())
}

/// Appends one record per line to topic `topic` with `tidelog produce`.
fn produce_lines(dir: &str, topic: &str, input: &str) -> TestResult<Output> {
    tidelog(&["produce", "--dir", dir, "--topic", topic], Some(input))
}

#[test]
fn consume_follow_prints_what_another_process_appends() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("store");
    let d = path_str(&dir);
    assert_code(&produce_lines(d, "f", "a\nb\n")?, 0, "produce");
    let mut follower = Command::new(env!("CARGO_BIN_EXE_tidelog"))
        .args([
            "consume",
            "--dir",
            d,
            "--topic",
            "f",
            "--from-beginning",
            "--follow",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let lines = stdout_lines(&mut follower)?;
    let result = (|| -> TestResult {
        expect_lines(&lines, &["a", "b"])?;
        // Another process appends (the follower takes no lock): the follower prints it.
        assert_code(&produce_lines(d, "f", "c\n")?, 0, "produce while followed");
        expect_lines(&lines, &["c"])?;
        assert_code(&produce_lines(d, "f", "d\ne\n")?, 0, "produce again");
        expect_lines(&lines, &["d", "e"])?;
        assert!(follower.try_wait()?.is_none(), "--follow keeps running");
        Ok(())
    })();
    follower.kill()?;
    follower.wait()?;
    result
}

#[test]
fn consume_follow_with_a_group_commits_as_it_prints_and_keeps_running() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("store");
    let d = path_str(&dir);
    assert_code(&produce_lines(d, "f", "a\nb\n")?, 0, "produce");
    let mut follower = Command::new(env!("CARGO_BIN_EXE_tidelog"))
        .args([
            "consume",
            "--dir",
            d,
            "--topic",
            "f",
            "--group",
            "g",
            "--from-beginning",
            "--follow",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let lines = stdout_lines(&mut follower)?;
    let result = (|| -> TestResult {
        expect_lines(&lines, &["a", "b"])?;
        // The commit of what it printed lands in __consumer_offsets.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let committed = || -> TestResult<bool> {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                if !entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with("__consumer_offsets-")
                {
                    continue;
                }
                for file in std::fs::read_dir(entry.path())? {
                    let file = file?;
                    let is_log = file.path().extension().is_some_and(|e| e == "log");
                    if is_log && file.metadata()?.len() > 0 {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        };
        while !committed()? {
            assert!(std::time::Instant::now() < deadline, "no commit");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(follower.try_wait()?.is_none(), "--follow keeps running");
        // A group consumer owns the store (it commits): a producer is refused meanwhile.
        let o = produce_lines(d, "f", "c\n")?;
        assert_code(&o, 1, "produce beside a group consumer");
        assert_one_error_line(&o, "locked");
        Ok(())
    })();
    follower.kill()?;
    follower.wait()?;
    result?;
    // What it printed was committed: the group goes on after it.
    assert_code(
        &produce_lines(d, "f", "c\n")?,
        0,
        "produce after the follower",
    );
    let o = tidelog(
        &[
            "consume",
            "--dir",
            d,
            "--topic",
            "f",
            "--group",
            "g",
            "--from-beginning",
        ],
        None,
    )?;
    assert_code(&o, 0, "consume --group after the follower");
    assert_eq!(stdout(&o), "c\n");
    Ok(())
}
