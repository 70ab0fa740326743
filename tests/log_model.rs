//! The partition log behaves exactly like a simple in-memory model (a `Vec` of batches plus
//! log-start and durable bookkeeping) under random sequences of appends (every codec, null
//! keys and values, pre-built batches), reads (decoded, raw and durable-only, at random
//! offsets and byte budgets), rolls, truncations, `delete_records_before`, retention,
//! flushes, clean close and reopen, and simulated crashes that cut the active segment's
//! `.log` at a random byte.
//!
//! After a crash the log must reopen with exactly a prefix of the model: every batch that
//! lies wholly before the cut survives and nothing else (batch atomicity, no holes). A torn
//! batch below the durable offset is `Error::Corrupt`, or with `repair` a reported, repaired
//! cut; nothing durable is dropped silently. Findings are frozen as named regression tests
//! at the end of the file.
//!
//! The case count is 256, or `PROPTEST_CASES` when set.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tidelog::config::{LogConfig, ManualClock};
use tidelog::log::{AppendOptions, Isolation, Log, LogOpenOptions, ReadResult, Validation};
use tidelog::record::{encode_batch, Batch, BatchOptions, Header, Record, RecordRef};
use tidelog::{Compression, Error};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const MAX_DECOMPRESSED: usize = 64 << 20;

/// The per-case log settings: small segments so rolls happen, small index intervals so
/// indexes have entries, and sometimes tiny indexes so full indexes force rolls too.
#[derive(Debug, Clone)]
struct Params {
    segment_bytes: u64,
    index_interval_bytes: u32,
    segment_index_bytes: u32,
}

impl Params {
    fn config(&self) -> LogConfig {
        LogConfig {
            segment_bytes: self.segment_bytes,
            index_interval_bytes: self.index_interval_bytes,
            segment_index_bytes: self.segment_index_bytes,
            retention_ms: -1,
            ..Default::default()
        }
    }
}

/// One step of a case. `at` fields pick an offset as a fraction of the current range, so a
/// shrunk case stays meaningful whatever the log's length.
#[derive(Clone)]
enum Op {
    Append {
        records: Vec<Record>,
        codec: Compression,
        /// Append as an encoded batch through `append_batch` with this validation.
        prebuilt: Option<Validation>,
    },
    Read {
        at: u32,
        max_bytes: usize,
    },
    ReadDurable {
        at: u32,
        max_bytes: usize,
    },
    ReadRaw {
        at: u32,
        max_bytes: usize,
    },
    Walk {
        at: u32,
        max_bytes: usize,
    },
    Roll,
    Flush,
    Truncate {
        at: u32,
    },
    DeleteBefore {
        at: u32,
    },
    Retention,
    Reopen,
    Crash {
        cut: u32,
        mode: CutMode,
        repair: bool,
    },
}

/// Where a simulated crash cuts the active segment's `.log`.
#[derive(Debug, Clone, Copy)]
enum CutMode {
    /// At or above where its durable data ends.
    Tail,
    /// At any byte.
    Anywhere,
    /// Exactly between two batches (or at either end of the file).
    Boundary,
}

/// Short enough to read a shrunk case: appends show their shape, not their bytes.
impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Append {
                records,
                codec,
                prebuilt,
            } => {
                let sizes: Vec<usize> = records
                    .iter()
                    .map(|r| r.value.as_ref().map_or(0, Vec::len))
                    .collect();
                write!(f, "Append({codec:?}, {prebuilt:?}, value sizes {sizes:?})")
            }
            Op::Read { at, max_bytes } => write!(f, "Read({at}, {max_bytes})"),
            Op::ReadDurable { at, max_bytes } => write!(f, "ReadDurable({at}, {max_bytes})"),
            Op::ReadRaw { at, max_bytes } => write!(f, "ReadRaw({at}, {max_bytes})"),
            Op::Walk { at, max_bytes } => write!(f, "Walk({at}, {max_bytes})"),
            Op::Roll => write!(f, "Roll"),
            Op::Flush => write!(f, "Flush"),
            Op::Truncate { at } => write!(f, "Truncate({at})"),
            Op::DeleteBefore { at } => write!(f, "DeleteBefore({at})"),
            Op::Retention => write!(f, "Retention"),
            Op::Reopen => write!(f, "Reopen"),
            Op::Crash { cut, mode, repair } => {
                write!(f, "Crash({cut}, {mode:?}, repair {repair})")
            }
        }
    }
}

/// `lo..=hi` scaled by `at / 2^32`.
fn pick(at: u32, lo: i64, hi: i64) -> i64 {
    let span = (hi - lo + 1) as u128;
    lo + ((u128::from(at) * span) >> 32) as i64
}

#[derive(Debug, Clone)]
struct ModelBatch {
    base: i64,
    records: Vec<Record>,
    codec: Compression,
    size: u64,
}

impl ModelBatch {
    fn last(&self) -> i64 {
        self.base + self.records.len() as i64 - 1
    }
    fn next(&self) -> i64 {
        self.base + self.records.len() as i64
    }
}

#[derive(Debug, Default)]
struct Model {
    batches: Vec<ModelBatch>,
    /// Where the model's history starts: 0, or where a truncation below the log start
    /// restarted the log.
    origin: i64,
    end: i64,
    log_start: i64,
    durable: i64,
}

impl Model {
    /// Index of the batch holding `offset` (the first whose last offset is `>= offset`).
    fn batch_index(&self, offset: i64) -> usize {
        self.batches.partition_point(|b| b.last() < offset)
    }

    fn record(&self, offset: i64) -> Option<&Record> {
        let b = self.batches.get(self.batch_index(offset))?;
        b.records.get(usize::try_from(offset - b.base).ok()?)
    }

    fn end_after_truncation(&self) -> i64 {
        self.batches.last().map_or(self.origin, ModelBatch::next)
    }
}

struct Harness {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    params: Params,
    clock: ManualClock,
    log: Option<Log>,
    model: Model,
}

fn open_log(
    dir: &Path,
    params: &Params,
    clock: &ManualClock,
    opts: LogOpenOptions,
) -> tidelog::Result<Log> {
    Log::open(
        dir,
        params.config(),
        LogOpenOptions {
            clock: Arc::new(clock.clone()),
            ..opts
        },
    )
}

fn check_record(got: &RecordRef<'_>, offset: i64, want: &Record) {
    assert_eq!(got.offset(), offset, "record offset");
    assert_eq!(got.timestamp(), want.timestamp, "timestamp at {offset}");
    assert_eq!(got.key(), want.key.as_deref(), "key at {offset}");
    assert_eq!(got.value(), want.value.as_deref(), "value at {offset}");
    let headers: Vec<Header> = got
        .headers()
        .iter()
        .map(|(k, v)| Header {
            key: String::from_utf8_lossy(k).into_owned(),
            value: v.map(<[u8]>::to_vec),
        })
        .collect();
    assert_eq!(headers, want.headers, "headers at {offset}");
}

/// The `.log` files of `dir` as (base offset, path), oldest first.
fn segment_logs(dir: &Path) -> TestResult<Vec<(i64, PathBuf)>> {
    let mut logs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(stem) = name.strip_suffix(".log") {
            if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
                logs.push((stem.parse::<i64>()?, path));
            }
        }
    }
    logs.sort();
    Ok(logs)
}

impl Harness {
    fn new(params: Params) -> TestResult<Self> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("topic-0");
        let clock = ManualClock::new(1_700_000_000_000);
        let log = open_log(&dir, &params, &clock, LogOpenOptions::default())?;
        Ok(Harness {
            _tmp: tmp,
            dir,
            params,
            clock,
            log: Some(log),
            model: Model::default(),
        })
    }

    fn log(&self) -> &Log {
        self.log
            .as_ref()
            .expect("the harness always reopens the log")
    }

    fn run(&mut self, ops: &[Op]) -> TestResult {
        for (step, op) in ops.iter().enumerate() {
            self.apply(op)
                .map_err(|e| format!("step {step} ({op:?}): {e}"))?;
            self.check_state();
        }
        let start = self.model.log_start;
        self.walk(start, 3000)?;
        self.log().close()?;
        Ok(())
    }

    fn check_state(&self) {
        let log = self.log();
        assert_eq!(log.end_offset(), self.model.end, "end offset");
        assert_eq!(
            log.log_start_offset(),
            self.model.log_start,
            "log start offset"
        );
        assert_eq!(log.durable_offset(), self.model.durable, "durable offset");
        assert!(log.log_start_offset() <= log.end_offset(), "start <= end");
    }

    fn apply(&mut self, op: &Op) -> TestResult {
        let end = self.model.end;
        match op {
            Op::Append {
                records,
                codec,
                prebuilt,
            } => self.append(records, *codec, *prebuilt)?,
            Op::Read { at, max_bytes } => {
                self.read(pick(*at, 0, end + 1), *max_bytes, Isolation::Appended)?;
            }
            Op::ReadDurable { at, max_bytes } => {
                self.read(pick(*at, 0, end + 1), *max_bytes, Isolation::Durable)?;
            }
            Op::ReadRaw { at, max_bytes } => self.read_raw(pick(*at, 0, end + 1), *max_bytes)?,
            Op::Walk { at, max_bytes } => {
                self.walk(pick(*at, self.model.log_start, end), *max_bytes)?;
            }
            Op::Roll => self.log().roll()?,
            Op::Flush => {
                self.log().flush()?;
                self.model.durable = self.model.end;
            }
            Op::Truncate { at } => self.truncate(pick(*at, 0, end + 1))?,
            Op::DeleteBefore { at } => self.delete_before(pick(*at, 0, end + 1))?,
            Op::Retention => {
                let report = self.log().apply_retention()?;
                assert_eq!(report.log_start_offset, self.model.log_start);
            }
            Op::Reopen => self.reopen()?,
            Op::Crash { cut, mode, repair } => self.crash(*cut, *mode, *repair)?,
        }
        Ok(())
    }

    fn append(
        &mut self,
        records: &[Record],
        codec: Compression,
        prebuilt: Option<Validation>,
    ) -> TestResult {
        self.clock.advance(1);
        let info = match prebuilt {
            Some(validation) => {
                let bytes = encode_batch(BatchOptions::with_compression(codec), records)?;
                self.log().append_batch(&bytes, validation)?
            }
            None => self
                .log()
                .append(records, &AppendOptions::with_compression(codec))?,
        };
        let n = records.len() as i64;
        assert_eq!(info.first_offset, self.model.end, "first offset");
        assert_eq!(info.last_offset, self.model.end + n - 1, "last offset");
        assert_eq!(i64::from(info.record_count), n, "record count");
        self.model.batches.push(ModelBatch {
            base: self.model.end,
            records: records.to_vec(),
            codec,
            size: u64::from(info.size),
        });
        self.model.end += n;
        Ok(())
    }

    /// Checks one read against the model: the range check, the batch holding `offset`
    /// first and whole, contiguous model batches after it within the budget, and every
    /// record from `offset` on.
    fn read(&self, offset: i64, max_bytes: usize, isolation: Isolation) -> TestResult {
        let m = &self.model;
        let result = self.log().read_with(offset, max_bytes, isolation);
        if offset < m.log_start || offset > m.end {
            match result {
                Err(Error::OffsetOutOfRange {
                    requested,
                    log_start,
                    log_end,
                }) => {
                    assert_eq!(
                        (requested, log_start, log_end),
                        (offset, m.log_start, m.end)
                    );
                    return Ok(());
                }
                other => panic!(
                    "read at {offset} outside [{}, {}]: {other:?}",
                    m.log_start, m.end
                ),
            }
        }
        let result = result?;
        let visible = match isolation {
            Isolation::Appended => m.end,
            Isolation::Durable => m.durable.min(m.end),
        };
        self.check_read_result(&result, offset, max_bytes, visible)
    }

    fn check_read_result(
        &self,
        result: &ReadResult,
        offset: i64,
        max_bytes: usize,
        visible: i64,
    ) -> TestResult {
        let m = &self.model;
        if offset >= visible {
            assert!(
                result.is_empty(),
                "read at {offset} >= visible end {visible}"
            );
            assert_eq!(result.next_offset(), offset);
            assert!(result.bytes().is_empty());
            return Ok(());
        }
        assert!(
            !result.is_empty(),
            "read at {offset} below {visible} is empty"
        );
        let first = m.batch_index(offset);
        let first_size = m.batches[first].size as usize;
        let mut total = 0usize;
        let mut count = 0;
        for (k, batch) in result.batches().enumerate() {
            let want = m
                .batches
                .get(first + k)
                .expect("a read returns no batch the model lacks");
            assert_eq!(batch.shallow_base_offset(), Some(want.base), "batch base");
            assert_eq!(batch.last_offset(), want.last(), "batch last offset");
            assert_eq!(batch.size() as u64, want.size, "batch size");
            assert_eq!(batch.compression()?, want.codec, "batch codec");
            assert!(want.next() <= visible, "batch past the visible end");
            total += batch.size();
            count += 1;
        }
        assert_eq!(count, result.batch_count());
        assert_eq!(result.bytes().len(), total, "bytes are the whole batches");
        assert!(
            total <= max_bytes.max(first_size),
            "{total} bytes read for a budget of {max_bytes} (first batch {first_size})"
        );
        let next = m.batches[first + count - 1].next();
        assert_eq!(result.next_offset(), next);
        let mut expected = offset;
        for record in result.records() {
            let record = record?;
            let want = m.record(expected).expect("model holds every offset read");
            check_record(&record, expected, want);
            expected += 1;
        }
        assert_eq!(
            expected, next,
            "records run from the offset to the batch end"
        );
        Ok(())
    }

    fn read_raw(&self, offset: i64, max_bytes: usize) -> TestResult {
        let m = &self.model;
        let slice = self.log().read_raw(offset, max_bytes);
        if offset < m.log_start || offset > m.end {
            assert!(
                matches!(slice, Err(Error::OffsetOutOfRange { .. })),
                "raw read at {offset}: {slice:?}"
            );
            return Ok(());
        }
        let bytes = slice?.to_vec()?;
        if offset == m.end {
            assert!(bytes.is_empty());
            return Ok(());
        }
        let first = m.batch_index(offset);
        let first_size = m.batches[first].size as usize;
        assert!(bytes.len() <= max_bytes.max(first_size));
        let mut pos = 0;
        let mut k = first;
        let mut scratch = Vec::new();
        while pos < bytes.len() {
            let batch = Batch::parse(&bytes[pos..])?;
            let want = m.batches.get(k).expect("raw batches are model batches");
            assert_eq!(batch.shallow_base_offset(), Some(want.base));
            assert_eq!(batch.size() as u64, want.size);
            for (i, record) in batch.records(&mut scratch, MAX_DECOMPRESSED)?.enumerate() {
                check_record(&record?, want.base + i as i64, &want.records[i]);
            }
            pos += batch.size();
            k += 1;
        }
        assert!(k > first, "a raw read below the end returns a batch");
        Ok(())
    }

    /// Follows `next_offset()` from `from` to the end: every model offset after `from` is
    /// visited once, in order.
    fn walk(&self, from: i64, max_bytes: usize) -> TestResult {
        let m = &self.model;
        let mut next = from;
        let mut rounds = 0;
        loop {
            let result = self.log().read(next, max_bytes)?;
            if result.is_empty() {
                break;
            }
            rounds += 1;
            assert!(rounds <= m.batches.len(), "the walk does not progress");
            for record in result.records() {
                let record = record?;
                let want = m.record(next).expect("model holds every offset read");
                check_record(&record, next, want);
                next += 1;
            }
            assert_eq!(
                result.next_offset(),
                next,
                "next offset follows the records"
            );
        }
        assert_eq!(next, m.end, "the walk from {from} reaches the end");
        Ok(())
    }

    fn truncate(&mut self, offset: i64) -> TestResult {
        self.log().truncate_to(offset)?;
        let m = &mut self.model;
        if offset >= m.end {
            return Ok(());
        }
        if offset < m.log_start {
            // Nothing stays: the log restarts at `offset`.
            m.batches.clear();
            m.origin = offset;
        } else {
            // The batch holding `offset` goes whole.
            m.batches.retain(|b| b.last() < offset);
        }
        m.end = m.end_after_truncation();
        m.log_start = if offset < m.log_start {
            offset
        } else {
            m.log_start.min(m.end)
        };
        m.durable = m.durable.min(m.end);
        Ok(())
    }

    fn delete_before(&mut self, offset: i64) -> TestResult {
        let result = self.log().delete_records_before(offset);
        if offset > self.model.end {
            assert!(
                matches!(result, Err(Error::OffsetOutOfRange { .. })),
                "delete_records_before({offset}) past the end: {result:?}"
            );
            return Ok(());
        }
        let report = result?;
        self.model.log_start = self.model.log_start.max(offset);
        assert_eq!(report.log_start_offset, self.model.log_start);
        Ok(())
    }

    fn reopen(&mut self) -> TestResult {
        let state = self.log().close()?;
        assert_eq!(state.recovery_point, self.model.end);
        assert_eq!(state.log_start_offset, self.model.log_start);
        self.log = None;
        let log = open_log(
            &self.dir,
            &self.params,
            &self.clock,
            LogOpenOptions {
                recovery_point: Some(state.recovery_point),
                log_start_offset: Some(state.log_start_offset),
                clean_shutdown: true,
                ..Default::default()
            },
        )?;
        let report = log.recovery_report();
        assert!(report.clean, "clean open");
        assert_eq!(report.segments_scanned, 0, "a clean open scans nothing");
        assert_eq!(report.bytes_scanned, 0, "a clean open scans nothing");
        assert_eq!(
            report.indexes_rebuilt, 0,
            "a clean close leaves sane indexes"
        );
        assert!(report.cuts.is_empty());
        self.model.durable = self.model.end;
        self.log = Some(log);
        Ok(())
    }

    /// Drops the handle without closing it, cuts the active segment's `.log` at a byte, and
    /// reopens as after a crash with the last durable offset as the recovery point.
    fn crash(&mut self, cut: u32, mode: CutMode, repair: bool) -> TestResult {
        self.log = None;
        let logs = segment_logs(&self.dir)?;
        let (active_base, active_path) = logs.last().cloned().expect("a log has a segment");
        let len = std::fs::metadata(&active_path)?.len();
        let m = &self.model;
        // The active segment's batches and their positions, from the model.
        let mut batches = Vec::new();
        let mut pos = 0u64;
        for b in m.batches.iter().filter(|b| b.base >= active_base) {
            batches.push((pos, b.size, b.next()));
            pos += b.size;
        }
        assert_eq!(pos, len, "the model knows the active segment's size");
        let durable_pos = batches
            .iter()
            .filter(|&&(_, _, next)| next <= m.durable)
            .map(|&(p, s, _)| p + s)
            .max()
            .unwrap_or(0);
        let cut_at = match mode {
            CutMode::Tail => pick(cut, durable_pos as i64, len as i64) as u64,
            CutMode::Anywhere => pick(cut, 0, len as i64) as u64,
            CutMode::Boundary => {
                let k = pick(cut, 0, batches.len() as i64) as usize;
                batches.get(k).map_or(len, |&(p, _, _)| p)
            }
        };
        std::fs::OpenOptions::new()
            .write(true)
            .open(&active_path)?
            .set_len(cut_at)?;
        let kept: Vec<_> = batches
            .iter()
            .filter(|&&(p, s, _)| p + s <= cut_at)
            .collect();
        let kept_bytes = kept.last().map_or(0, |&&(p, s, _)| p + s);
        let prefix_end = kept.last().map_or(active_base, |&&(_, _, next)| next);
        let torn = cut_at != kept_bytes;
        let rp = m.durable;
        let options = |repair| LogOpenOptions {
            recovery_point: Some(rp),
            log_start_offset: Some(m.log_start),
            clean_shutdown: false,
            repair,
            ..Default::default()
        };
        let below_durable = prefix_end < rp;
        let log = if torn && below_durable && !repair {
            match open_log(&self.dir, &self.params, &self.clock, options(false)) {
                Err(Error::Corrupt { location, .. }) => {
                    assert_eq!(location.path.as_deref(), Some(active_path.as_path()));
                    assert_eq!(location.position, Some(kept_bytes));
                }
                Ok(_) => panic!("a torn batch below the recovery point {rp} opened"),
                Err(e) => return Err(e.into()),
            }
            open_log(&self.dir, &self.params, &self.clock, options(true))?
        } else {
            open_log(&self.dir, &self.params, &self.clock, options(repair))?
        };
        let report = log.recovery_report();
        assert!(!report.clean);
        assert!(report.segments_scanned >= 1, "an unclean open scans");
        if torn {
            assert_eq!(report.cuts.len(), 1, "one cut: {report:?}");
            let c = &report.cuts[0];
            assert_eq!(c.segment, active_path);
            assert_eq!(c.position, kept_bytes);
            assert_eq!(c.offset, prefix_end);
            assert_eq!(c.bytes, cut_at - kept_bytes);
            assert_eq!(
                c.repaired, below_durable,
                "repaired iff below the recovery point"
            );
        } else {
            assert!(report.cuts.is_empty(), "no torn batch, no cut: {report:?}");
        }
        // A file cut exactly between batches below the recovery point has no invalid batch
        // to report: the recovery point is lowered to the end and that is reported.
        assert_eq!(report.recovery_point_clamped, below_durable);
        let m = &mut self.model;
        m.batches.retain(|b| b.next() <= prefix_end);
        m.end = prefix_end;
        m.durable = rp.min(prefix_end);
        m.log_start = m.log_start.min(prefix_end);
        self.log = Some(log);
        Ok(())
    }
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        (any::<u8>(), 0usize..300).prop_map(|(b, n)| vec![b; n]),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    let timestamp = prop_oneof![Just(-1i64), 1_699_999_000_000i64..1_700_001_000_000];
    let key = prop::option::of(prop::collection::vec(any::<u8>(), 0..12));
    let value = prop::option::weighted(0.85, value());
    let header = (
        "[a-z]{0,6}",
        prop::option::of(prop::collection::vec(any::<u8>(), 0..8)),
    )
        .prop_map(|(key, value)| Header { key, value });
    let headers = prop::collection::vec(header, 0..3);
    (timestamp, key, value, headers).prop_map(|(timestamp, key, value, headers)| Record {
        timestamp,
        key,
        value,
        headers,
    })
}

fn codec() -> impl Strategy<Value = Compression> {
    prop::sample::select(Compression::ALL.to_vec())
}

fn op() -> impl Strategy<Value = Op> {
    let prebuilt = prop_oneof![
        6 => Just(None),
        1 => Just(Some(Validation::Shallow)),
        1 => Just(Some(Validation::Deep)),
    ];
    let budget = prop_oneof![0usize..200, 0usize..6000];
    prop_oneof![
        12 => (prop::collection::vec(record(), 1..20), codec(), prebuilt)
            .prop_map(|(records, codec, prebuilt)| Op::Append { records, codec, prebuilt }),
        4 => (any::<u32>(), budget.clone()).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        1 => (any::<u32>(), budget.clone())
            .prop_map(|(at, max_bytes)| Op::ReadDurable { at, max_bytes }),
        2 => (any::<u32>(), budget.clone())
            .prop_map(|(at, max_bytes)| Op::ReadRaw { at, max_bytes }),
        2 => (any::<u32>(), budget).prop_map(|(at, max_bytes)| Op::Walk { at, max_bytes }),
        1 => Just(Op::Roll),
        2 => Just(Op::Flush),
        1 => any::<u32>().prop_map(|at| Op::Truncate { at }),
        1 => any::<u32>().prop_map(|at| Op::DeleteBefore { at }),
        1 => Just(Op::Retention),
        1 => Just(Op::Reopen),
        2 => (any::<u32>(), cut_mode(), any::<bool>())
            .prop_map(|(cut, mode, repair)| Op::Crash { cut, mode, repair }),
    ]
}

fn cut_mode() -> impl Strategy<Value = CutMode> {
    prop::sample::select(vec![CutMode::Tail, CutMode::Anywhere, CutMode::Boundary])
}

fn params() -> impl Strategy<Value = Params> {
    (
        prop::sample::select(vec![2048u64, 4096, 8192]),
        prop::sample::select(vec![128u32, 512]),
        prop::sample::select(vec![96u32, 10 << 20]),
    )
        .prop_map(
            |(segment_bytes, index_interval_bytes, segment_index_bytes)| Params {
                segment_bytes,
                index_interval_bytes,
                segment_index_bytes,
            },
        )
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2048,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("proptest-regressions/log_model.txt"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn log_matches_model(params in params(), ops in prop::collection::vec(op(), 1..40)) {
        Harness::new(params)
            .and_then(|mut h| h.run(&ops))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}

// ---- Named cases, and findings of the model test frozen as regression tests. ----

fn rec(offset: i64, size: usize) -> Record {
    Record::new(1_700_000_000_000 + offset, vec![offset as u8; size])
}

fn default_params() -> Params {
    Params {
        segment_bytes: 4096,
        index_interval_bytes: 128,
        segment_index_bytes: 10 << 20,
    }
}

fn append(n: usize, size: usize, codec: Compression) -> Op {
    Op::Append {
        records: (0..n).map(|i| rec(i as i64, size)).collect(),
        codec,
        prebuilt: None,
    }
}

#[test]
fn crash_cut_inside_durable_batch_is_corrupt_then_repaired() -> TestResult {
    let mut h = Harness::new(default_params())?;
    h.run(&[
        append(5, 100, Compression::None),
        append(3, 50, Compression::Gzip),
        Op::Flush,
        Op::Crash {
            cut: u32::MAX / 3,
            mode: CutMode::Anywhere,
            repair: false,
        },
    ])
}

/// Found by the model: `delete_records_before(1)` inside the batch 0..=2, then
/// `truncate_to(1)`, removed that batch whole (end 0) but left the log start at 1, above the
/// end: the end could not be read and records appended at 0 were hidden. The start now
/// drops to the new end, as a reopen would set it.
#[test]
fn truncate_inside_the_log_start_batch_lowers_the_log_start() -> TestResult {
    let mut h = Harness::new(default_params())?;
    h.run(&[
        append(3, 0, Compression::None),
        append(2, 0, Compression::None),
        Op::DeleteBefore { at: 613_566_757 }, // offset 1
        Op::Truncate { at: 613_566_757 },     // offset 1
        Op::Read {
            at: 0,
            max_bytes: 100,
        },
        append(2, 10, Compression::Lz4),
        Op::Walk {
            at: 0,
            max_bytes: 0,
        },
    ])?;
    assert_eq!(h.model.log_start, 0);
    Ok(())
}

/// Appends three batches, flushes, crashes, and cuts the `.log` exactly at the end of the
/// first batch: two fsynced batches are gone without a torn batch to point at.
type Reopened = (tempfile::TempDir, tidelog::Result<Log>, i64);

fn boundary_cut_below_recovery_point(repair: bool) -> TestResult<Reopened> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("topic-0");
    let params = default_params();
    let clock = ManualClock::new(1_700_000_000_000);
    let log = open_log(&dir, &params, &clock, LogOpenOptions::default())?;
    let first = log.append(&[rec(0, 100)], &AppendOptions::default())?;
    log.append(&[rec(1, 100)], &AppendOptions::default())?;
    log.append(&[rec(2, 100)], &AppendOptions::default())?;
    log.flush()?;
    let rp = log.durable_offset();
    drop(log);
    let (_, path) = segment_logs(&dir)?.pop().expect("the log has a segment");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)?
        .set_len(u64::from(first.size))?;
    let reopened = open_log(
        &dir,
        &params,
        &clock,
        LogOpenOptions {
            recovery_point: Some(rp),
            repair,
            ..Default::default()
        },
    );
    Ok((tmp, reopened, rp))
}

/// What the library does today (and what the model test checks): the open succeeds, the
/// recovery point is lowered to the end, and only `recovery_point_clamped` tells of it.
#[test]
fn boundary_cut_below_recovery_point_is_reported_as_clamped() -> TestResult {
    let (_tmp, log, rp) = boundary_cut_below_recovery_point(false)?;
    let log = log?;
    assert_eq!(rp, 3);
    assert_eq!(log.end_offset(), 1);
    assert_eq!(log.durable_offset(), 1);
    assert!(log.recovery_report().recovery_point_clamped);
    assert!(log.recovery_report().cuts.is_empty());
    Ok(())
}
