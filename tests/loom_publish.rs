//! R21 `loom_visibility`: a model check, with `loom`, of the protocol by which the writer
//! publishes appends, rolls and retention to readers that take no lock, and by which
//! `wait_for` and the writer hand each other the wake-up.
//!
//! This is a faithful model, not the crate's code: the real `Log` does its I/O through a
//! `Storage` and its locks are `parking_lot`'s, and swapping both for loom's would reach
//! into the hot paths of `src/log` and `src/segment`. Each modelled step names the file and
//! function it copies, with the same orderings; a change to an ordering there must be made
//! here too. Batch bytes are `loom::cell::UnsafeCell`s, so a read of bytes that the
//! writer's write does not happen-before is a data race that loom reports (the strictest
//! reading: what `pread` of a page or a load through a mapping may see).
//!
//! What every interleaving must satisfy (I9 and I5 of RELIABILITY.md): a read returns whole
//! batches from the requested offset, in order, with the bytes the writer wrote, none past
//! the log end; a read below the end never finds "no batch holds the offset"; a read
//! refused as out of range carries a range that really excludes the offset; a reader's
//! next read goes on where the last one ended (no skip); a waiter never sleeps through an
//! append (a lost wake-up is a deadlock here: the modelled wait has no timeout).
//!
//! Broken variants (a Relaxed publish, no fences, retention publishing before it raises the
//! log start) must each be caught, so the model provably can fail.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release --test loom_publish` (preemption bound
//! `LOOM_MAX_PREEMPTIONS`, 3 by default). Prints one JSON line with the interleavings
//! explored.

#![cfg(loom)]

use std::sync::atomic::AtomicU64 as StdAtomicU64;
use std::time::Instant;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{fence, AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use loom::sync::{Arc, Condvar, Mutex, RwLock};
use loom::thread;

/// Batches a model segment can hold. One batch covers one offset, stored in one slot.
const SLOTS: usize = 3;

/// A batch's content as written: derived from its offset, so a reader can check it.
fn content(offset: i64) -> i64 {
    1_000 + offset
}

/// The orderings under test. `CORRECT` is what `src/` does.
#[derive(Debug, Clone, Copy)]
struct Variant {
    /// `LogSegment::append` (src/segment/segment.rs): `self.size.store(.., Release)`.
    size_store: Ordering,
    /// `Log::write_batch` (src/log/append.rs): `self.end_offset.store(.., Release)`.
    end_store: Ordering,
    /// The `fence(SeqCst)` of `Log::wake_waiters` (src/log/log.rs).
    wake_fence: bool,
    /// The `fence(SeqCst)` of `Log::wait_for` (src/log/log.rs), which pairs with it.
    wait_fence: bool,
    /// `Log::delete_prefix` (src/log/retention.rs) raises the log start before it publishes
    /// the shorter segment list.
    start_before_publish: bool,
}

const CORRECT: Variant = Variant {
    size_store: Ordering::Release,
    end_store: Ordering::Release,
    wake_fence: true,
    wait_fence: true,
    start_before_publish: true,
};

/// Interleavings explored by every model run in this process (each run of a model's body
/// is one interleaving).
static INTERLEAVINGS: StdAtomicU64 = StdAtomicU64::new(0);

/// `LogSegment` (src/segment/segment.rs): the file's bytes and the published `size`.
struct Segment {
    base: i64,
    /// The segment file's batches; slot `i` holds the batch at offset `base + i`.
    slots: Vec<UnsafeCell<i64>>,
    /// `LogSegment::size`, in slots: readers never read past it.
    size: AtomicUsize,
    /// Set when retention removes the files (`LogSegment::delete_files`): a reader holding
    /// the segment keeps reading it through its open handle, as on Unix.
    unlinked: AtomicBool,
}

impl Segment {
    fn new(base: i64) -> Self {
        Segment {
            base,
            slots: (0..SLOTS).map(|_| UnsafeCell::new(0)).collect(),
            size: AtomicUsize::new(0),
            unlinked: AtomicBool::new(false),
        }
    }

    /// `LogSegment::append`: write the bytes at the unpublished end, then publish the size.
    fn append(&self, offset: i64, v: Variant) {
        // `let position = self.size.load(Ordering::Relaxed);` (the writer's own store).
        let position = self.size.load(Ordering::Relaxed);
        assert_eq!(
            self.base + position as i64,
            offset,
            "model: append out of line"
        );
        // `self.log.write_all_at2(head, tail, position)?;`
        self.slots[position].with_mut(|p| {
            // SAFETY: only the writer (holding the writer lock) writes, and only at or past
            // the published size, which no reader reads; loom checks exactly that.
            #[expect(unsafe_code, reason = "loom's UnsafeCell stands for the file bytes")]
            unsafe {
                *p = content(offset);
            }
        });
        // `self.size.store(position + u64::from(info.size), Ordering::Release);`
        self.size.store(position + 1, v.size_store);
    }

    /// `LogSegment::size`: `self.size.load(Ordering::Acquire)`.
    fn size(&self) -> usize {
        self.size.load(Ordering::Acquire)
    }

    /// `LogSegment::read_at` bounded by the size the caller loaded (`find_batch` and
    /// `Log::read_segment_range` read the headers and bytes below `seg_end`).
    fn read_slot(&self, slot: usize) -> i64 {
        self.slots[slot].with(|p| {
            // SAFETY: a read below a size loaded with Acquire; a missing happens-before
            // edge is reported by loom as a data race, which is the point of the model.
            #[expect(unsafe_code, reason = "loom's UnsafeCell stands for the file bytes")]
            unsafe {
                *p
            }
        })
    }
}

/// `Log` (src/log/log.rs), with only the fields the protocol touches.
struct Log {
    /// `segments: RwLock<Arc<Vec<Arc<LogSegment<S>>>>>`.
    segments: RwLock<Arc<Vec<Arc<Segment>>>>,
    segments_gen: AtomicU64,
    writer: Mutex<()>,
    end_offset: AtomicI64,
    log_start_offset: AtomicI64,
    waiters: AtomicUsize,
    wake: (Mutex<()>, Condvar),
    v: Variant,
}

/// What a model read returns.
#[derive(Debug, PartialEq)]
enum Read {
    /// The offsets of the batches read, checked against their content.
    Batches(Vec<i64>),
    /// `Error::OffsetOutOfRange { requested, log_start, log_end }`.
    OutOfRange { log_start: i64, log_end: i64 },
}

impl Log {
    /// A log of segments at `bases`, the first `filled` offsets appended.
    fn new(bases: &[i64], filled: i64, v: Variant) -> Arc<Log> {
        let segments: Vec<Arc<Segment>> =
            bases.iter().map(|&b| Arc::new(Segment::new(b))).collect();
        for offset in 0..filled {
            let seg = segments
                .iter()
                .rev()
                .find(|s| s.base <= offset)
                .expect("model: a segment holds every offset");
            seg.append(offset, CORRECT);
        }
        Arc::new(Log {
            segments: RwLock::new(Arc::new(segments)),
            segments_gen: AtomicU64::new(0),
            writer: Mutex::new(()),
            end_offset: AtomicI64::new(filled),
            log_start_offset: AtomicI64::new(bases[0]),
            waiters: AtomicUsize::new(0),
            wake: (Mutex::new(()), Condvar::new()),
            v,
        })
    }

    /// `Log::end_offset`: `self.end_offset.load(Ordering::Acquire)`.
    fn end_offset(&self) -> i64 {
        self.end_offset.load(Ordering::Acquire)
    }

    /// `Log::log_start_offset`: `self.log_start_offset.load(Ordering::Acquire)`.
    fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// `Log::segments`: `Arc::clone(&self.segments.read())`.
    fn segments(&self) -> Arc<Vec<Arc<Segment>>> {
        Arc::clone(&self.segments.read().expect("model: lock"))
    }

    /// `Log::publish_segments`: swap the list under the write lock, then bump the generation.
    fn publish_segments(&self, segments: Vec<Arc<Segment>>) {
        *self.segments.write().expect("model: lock") = Arc::new(segments);
        self.segments_gen.fetch_add(1, Ordering::Release);
    }

    /// `Log::append` → `Log::write_batch` (src/log/append.rs), writer lock held by the caller:
    /// append to the active segment, raise the end, wake the waiters.
    fn append_locked(&self) {
        // `Log::active_segment`: the generation (Acquire) and the list's last segment.
        let _gen = self.segments_gen.load(Ordering::Acquire);
        let active = Arc::clone(
            self.segments
                .read()
                .expect("model: lock")
                .last()
                .expect("model: active"),
        );
        // `self.end_offset()` is the new batch's base offset (`BatchOptions::base_offset`).
        let offset = self.end_offset();
        active.append(offset, self.v);
        // `self.end_offset.store(info.next_offset(), Ordering::Release);`
        self.end_offset.store(offset + 1, self.v.end_store);
        self.wake_waiters();
    }

    fn append(&self) {
        let _w = self.writer.lock().expect("model: lock");
        self.append_locked();
    }

    /// `Log::roll` → `Log::roll_to` (src/log/append.rs): a new segment at the end offset,
    /// pushed onto a copy of the list, published.
    fn roll(&self) {
        let _w = self.writer.lock().expect("model: lock");
        let mut segments = self.segments().as_ref().clone();
        let base = self.end_offset();
        segments.push(Arc::new(Segment::new(base)));
        self.publish_segments(segments);
    }

    /// `Log::apply_retention` → `Log::delete_prefix` (src/log/retention.rs): delete the
    /// oldest `n` segments (never the active one).
    fn delete_prefix(&self, n: usize) {
        let _w = self.writer.lock().expect("model: lock");
        let segments = self.segments();
        let (gone, kept) = segments.split_at(n);
        let new_start = kept.first().map_or(self.end_offset(), |s| s.base);
        if self.v.start_before_publish {
            // `self.log_start_offset.fetch_max(new_start, Ordering::AcqRel);`
            self.log_start_offset.fetch_max(new_start, Ordering::AcqRel);
            self.publish_segments(kept.to_vec());
        } else {
            self.publish_segments(kept.to_vec());
            self.log_start_offset.fetch_max(new_start, Ordering::AcqRel);
        }
        for segment in gone {
            // `segment.delete_files(&self.storage)?;`: rename to `.deleted`, remove.
            segment.unlinked.store(true, Ordering::Release);
        }
    }

    /// `Log::wake_waiters` (src/log/log.rs).
    fn wake_waiters(&self) {
        if self.v.wake_fence {
            // `std::sync::atomic::fence(Ordering::SeqCst);`
            fence(Ordering::SeqCst);
        }
        // `if self.waiters.load(Ordering::Relaxed) > 0 { lock; notify_all }`
        if self.waiters.load(Ordering::Relaxed) > 0 {
            let _guard = self.wake.0.lock().expect("model: lock");
            self.wake.1.notify_all();
        }
    }

    /// `Log::wait_for` (src/log/log.rs) without the deadline (the model waits for ever, so
    /// a wake-up slept through is a deadlock loom reports) and without `closed`.
    fn wait_for(&self, offset: i64) -> bool {
        if self.end_offset() > offset {
            return true;
        }
        // `self.waiters.fetch_add(1, Ordering::SeqCst);`
        self.waiters.fetch_add(1, Ordering::SeqCst);
        if self.v.wait_fence {
            // `std::sync::atomic::fence(Ordering::SeqCst);`
            fence(Ordering::SeqCst);
        }
        let mut guard = self.wake.0.lock().expect("model: lock");
        let ready = loop {
            if self.end_offset() > offset {
                break true;
            }
            guard = self.wake.1.wait(guard).expect("model: lock");
        };
        drop(guard);
        // `self.waiters.fetch_sub(1, Ordering::AcqRel);`
        self.waiters.fetch_sub(1, Ordering::AcqRel);
        ready
    }

    /// `Log::read` → `read_into` → `fill` (src/log/read.rs), with `check_read_offset`,
    /// `check_snapshot_holds`, `LogSegment::find_batch` and `read_segment_range`.
    fn read(&self, offset: i64) -> Read {
        // `check_read_offset`: the end, then the start, both Acquire.
        let end = self.end_offset();
        let start = self.log_start_offset();
        if offset < start || offset > end {
            return Read::OutOfRange {
                log_start: start,
                log_end: end,
            };
        }
        let visible_end = end;
        if offset >= visible_end {
            return Read::Batches(Vec::new());
        }
        let segments = self.segments();
        // `check_snapshot_holds`: the snapshot lacks `offset` (retention published).
        if offset < segments[0].base {
            return Read::OutOfRange {
                log_start: self.log_start_offset(),
                log_end: self.end_offset(),
            };
        }
        let first = segments
            .partition_point(|s| s.base <= offset)
            .saturating_sub(1);
        let mut next = offset;
        let mut got = Vec::new();
        for segment in &segments[first..] {
            let seg_end = segment.size();
            // `find_batch(target, seg_end)`: walk the headers below `seg_end`.
            let mut head = None;
            for slot in 0..seg_end {
                let value = segment.read_slot(slot);
                assert_eq!(
                    value,
                    content(segment.base + slot as i64),
                    "I9 violated: header bytes below the published size are not the batch's"
                );
                if segment.base + slot as i64 >= next {
                    head = Some(slot);
                    break;
                }
            }
            let Some(head) = head else { continue };
            if segment.base + head as i64 >= visible_end {
                break;
            }
            // `read_segment_range(segment, head.position, read_end, visible_end, ..)`: the
            // bytes up to `seg_end` are read, then batches at or past the visible end dropped.
            let mut slot = head;
            while slot < seg_end {
                let at = segment.base + slot as i64;
                let value = segment.read_slot(slot);
                if at >= visible_end {
                    break;
                }
                assert_eq!(
                    value,
                    content(at),
                    "I9 violated: batch {at} read with other bytes"
                );
                assert_eq!(
                    at, next,
                    "I9 violated: batch {at} read where {next} was due"
                );
                got.push(at);
                next = at + 1;
                slot += 1;
            }
            if slot != seg_end {
                break;
            }
        }
        // `fill`: without compaction, no batch for an offset below the end is corruption.
        assert!(
            !got.is_empty(),
            "I9 violated: no batch holds offset {offset}, below the log end {visible_end} \
             (a false Error::Corrupt)"
        );
        Read::Batches(got)
    }
}

/// Checks one read of `offset` against I9; returns the offset to read next.
fn check_read(log: &Log, offset: i64, read: &Read) -> i64 {
    match read {
        Read::Batches(b) => {
            if let Some(&last) = b.last() {
                assert_eq!(
                    b[0], offset,
                    "I9 violated: a read at {offset} began at {}",
                    b[0]
                );
                assert!(
                    last < log.end_offset(),
                    "I9 violated: batch {last} read past the log end"
                );
                last + 1
            } else {
                offset
            }
        }
        Read::OutOfRange { log_start, log_end } => {
            assert!(
                offset < *log_start || offset > *log_end,
                "I9 violated: offset {offset} refused as out of [{log_start}, {log_end}]"
            );
            offset
        }
    }
}

/// Runs `body` under loom with the preemption bound.
fn model(body: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(move || {
        INTERLEAVINGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        body();
    });
}

/// Appends and a roll against a reader that reads from 0 and then goes on where it ended.
fn append_roll_read(v: Variant) {
    model(move || {
        let log = Log::new(&[0], 1, v);
        let writer = {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                log.append(); // offset 1, into segment 0
                log.roll(); // segment 2
                log.append(); // offset 2, into the new segment
            })
        };
        let mut offset = 0;
        for _ in 0..2 {
            let read = log.read(offset);
            offset = check_read(&log, offset, &read);
        }
        writer.join().expect("writer");
        // After the writer: everything is there, from where the reader stopped.
        while offset < 3 {
            let read = log.read(offset);
            let next = check_read(&log, offset, &read);
            assert!(next > offset, "I9 violated: no progress at {offset}");
            offset = next;
        }
    });
}

/// Retention deletes segment 0 while the writer appends and a reader reads from 0: the
/// reader keeps the segments of its snapshot (pinning) or is refused with the raised start.
fn retention_pinning(v: Variant) {
    model(move || {
        let log = Log::new(&[0, 1], 2, v);
        let retention = {
            let log = Arc::clone(&log);
            thread::spawn(move || log.delete_prefix(1))
        };
        let writer = {
            let log = Arc::clone(&log);
            thread::spawn(move || log.append()) // offset 2, into segment 1
        };
        let read = log.read(0);
        let next = check_read(&log, 0, &read);
        if let Read::Batches(b) = &read {
            assert!(
                b.len() >= 2,
                "I9 violated: segment 0 read without segment 1: {b:?}"
            );
        }
        // The offset after what was read (or the start, if refused) reads on.
        let from = if next == 0 { 1 } else { next };
        let read = log.read(from);
        check_read(&log, from, &read);
        retention.join().expect("retention");
        writer.join().expect("writer");
        assert_eq!(log.log_start_offset(), 1);
        assert!(log
            .segments()
            .iter()
            .all(|s| !s.unlinked.load(Ordering::Acquire)));
    });
}

/// Two tailing readers wait, for offsets 0 and 1, while the writer appends them: both wake.
fn wait_wake(v: Variant) {
    model(move || {
        let log = Log::new(&[0], 0, v);
        let waiters: Vec<_> = (0..2)
            .map(|offset| {
                let log = Arc::clone(&log);
                thread::spawn(move || assert!(log.wait_for(offset)))
            })
            .collect();
        log.append();
        log.append();
        for w in waiters {
            w.join().expect("waiter");
        }
    });
}

/// Prints `line` straight to stdout, past the test harness's capture.
fn emit(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// The broken variants, each with the model it breaks and what loom must report.
type Broken = (&'static str, fn(Variant), Variant, &'static [&'static str]);

fn broken_variants() -> [Broken; 5] {
    [
        // `LogSegment::append` publishing the size Relaxed: a reader that sees the new size
        // without the bytes' write happening before its read (a data race on the bytes).
        (
            "relaxed_segment_size",
            append_roll_read,
            Variant {
                size_store: Ordering::Relaxed,
                ..CORRECT
            },
            &["Causality violation"],
        ),
        // `Log::write_batch` raising the end Relaxed: a reader sees the end but not the
        // segment's size (or the rolled list) and finds no batch below the end.
        (
            "relaxed_end_offset",
            append_roll_read,
            Variant {
                end_store: Ordering::Relaxed,
                ..CORRECT
            },
            &["I9 violated", "Causality violation"],
        ),
        // `wake_waiters` without its fence: its load of the waiter count may be ordered
        // before its store of the end, the waiter's load of the end before its registration
        // is seen, and the waiter sleeps through the append.
        (
            "no_fence_in_wake_waiters",
            wait_wake,
            Variant {
                wake_fence: false,
                ..CORRECT
            },
            &["deadlock"],
        ),
        // The same from the other side: `wait_for` without its fence.
        (
            "no_fence_in_wait_for",
            wait_wake,
            Variant {
                wait_fence: false,
                ..CORRECT
            },
            &["deadlock"],
        ),
        // `delete_prefix` publishing before it raises the start: a reader is refused with a
        // range that holds its offset.
        (
            "publish_before_raising_start",
            retention_pinning,
            Variant {
                start_before_publish: false,
                ..CORRECT
            },
            &["I9 violated"],
        ),
    ]
}

/// The child process of `r21_loom_visibility`: runs the broken variant named by
/// `LOOM_BROKEN_VARIANT` (and nothing without it). A loom failure can abort the process
/// (a deadlock unwinds through loom's own threads), hence a process per variant.
#[test]
fn r21_broken_variant_child() {
    let Ok(name) = std::env::var("LOOM_BROKEN_VARIANT") else {
        return;
    };
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!(
            "interleavings_before_failure={}",
            INTERLEAVINGS.load(std::sync::atomic::Ordering::Relaxed)
        );
        previous(info);
    }));
    let (_, run, variant, _) = broken_variants()
        .into_iter()
        .find(|b| b.0 == name)
        .expect("a known variant");
    run(variant);
}

/// R21: every interleaving (preemption bound 3) of the three models with `src/`'s orderings;
/// then each broken variant, in a child process, which loom must catch. Prints one JSON line.
#[test]
fn r21_loom_visibility() {
    if std::env::var_os("LOOM_BROKEN_VARIANT").is_some() {
        return;
    }
    let started = Instant::now();
    append_roll_read(CORRECT);
    retention_pinning(CORRECT);
    wait_wake(CORRECT);
    let explored = INTERLEAVINGS.load(std::sync::atomic::Ordering::Relaxed);
    let exe = std::env::current_exe().expect("the test binary");
    let mut caught = 0;
    let mut missed = Vec::new();
    for (name, _, _, expected) in broken_variants() {
        let out = std::process::Command::new(&exe)
            .args([
                "--exact",
                "r21_broken_variant_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("LOOM_BROKEN_VARIANT", name)
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("run the child");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let after = stderr
            .lines()
            .find_map(|l| l.strip_prefix("interleavings_before_failure="))
            .unwrap_or("?");
        if out.status.success() {
            missed.push(format!("{name}: loom found nothing"));
        } else if expected.iter().any(|e| stderr.contains(e)) {
            caught += 1;
            emit(&format!(
                "{{\"broken_variant\":\"{name}\",\"caught_after_interleavings\":{after}}}"
            ));
        } else {
            missed.push(format!("{name}: failed for another reason: {stderr}"));
        }
    }
    emit(&format!(
        "{{\"test\":\"r21_loom_visibility\",\"seed\":0,\"trials\":3,\"faults_injected\":0,\
         \"crash_points\":0,\"recoveries_ok\":0,\"clear_errors\":0,\"acked_synced_lost\":0,\
         \"corrupt_returned\":0,\"inconsistent_offsets\":0,\"bytes_dropped_beyond_damage\":0,\
         \"panics\":0,\"interleavings\":{explored},\"preemption_bound\":{},\
         \"broken_variants\":5,\"broken_variants_caught\":{caught},\"wall_ms\":{}}}",
        std::env::var("LOOM_MAX_PREEMPTIONS").unwrap_or_else(|_| "3".into()),
        started.elapsed().as_millis()
    ));
    assert!(missed.is_empty(), "the model failed to catch: {missed:#?}");
}
