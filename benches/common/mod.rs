//! The record generator every bench shares, so their figures describe the same data:
//! values of exactly `size` bytes of text-like bytes (words, phrases and numbers from a fixed
//! seed, compressing roughly 2-4x), keys of 8-16 bytes, increasing timestamps, no headers.
//! Also the timer the single-threaded benches share ([`Stopwatch`]).

use std::time::{Duration, Instant};

use tidelog::record::Record;

/// Times a region by wall clock or, with `TIDELOG_BENCH_TIME=cpu`, by the calling thread's
/// CPU time (user and system, [`thread_cpu_ns`]).
///
/// On a machine shared with other work, wall time swings with the load while a thread's own
/// CPU time does not (much): cache and memory-bandwidth contention remain. Time spent
/// waiting for the disk or another thread is not CPU time, so use it only for regions that
/// do not block.
pub enum Stopwatch {
    /// Started at this instant.
    Wall(Instant),
    /// Started at this many ns of the thread's CPU time.
    Cpu(u64),
}

impl Stopwatch {
    /// Starts timing, by the clock `TIDELOG_BENCH_TIME` picks.
    pub fn start() -> Self {
        if cpu_time() {
            Stopwatch::Cpu(thread_cpu_ns())
        } else {
            Stopwatch::Wall(Instant::now())
        }
    }

    /// Time since [`start`](Self::start).
    pub fn elapsed(&self) -> Duration {
        match self {
            Stopwatch::Wall(t) => t.elapsed(),
            Stopwatch::Cpu(ns) => Duration::from_nanos(thread_cpu_ns().saturating_sub(*ns)),
        }
    }
}

/// Whether `TIDELOG_BENCH_TIME=cpu` asks for CPU time instead of wall time.
pub fn cpu_time() -> bool {
    std::env::var("TIDELOG_BENCH_TIME").is_ok_and(|v| v == "cpu")
}

/// The calling thread's CPU time in ns (user and system): `CLOCK_THREAD_CPUTIME_ID`, which
/// the kernel brings up to date when read (`/proc/thread-self/schedstat` is only as fresh as
/// the last scheduler tick); 0 where that clock is missing.
pub fn thread_cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    #[expect(unsafe_code, reason = "clock_gettime is a C call")]
    // SAFETY: `t` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return 0;
    }
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

/// Timestamp of the first generated record.
pub const BASE_TIMESTAMP: i64 = 1_700_000_000_000;

/// SplitMix64: a fixed seed gives the same records on every machine and run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`, for small `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `count` records with `size`-byte text-like values, keys of 8–16 bytes and increasing
/// timestamps.
pub fn generate_records(size: usize, count: usize) -> Vec<Record> {
    let mut rng = Rng(0x7469_6465_6c6f_6721);
    let vocabulary: Vec<Vec<u8>> = (0..256)
        .map(|_| {
            let len = 2 + rng.below(8);
            (0..len).map(|_| b'a' + rng.below(26) as u8).collect()
        })
        .collect();
    // Phrases of 2-5 common words: the longer repeats that LZ codecs live on.
    let phrases: Vec<Vec<u8>> = (0..32)
        .map(|_| {
            let words = 2 + rng.below(4);
            let mut phrase = Vec::new();
            for i in 0..words {
                if i > 0 {
                    phrase.push(b' ');
                }
                phrase.extend_from_slice(&vocabulary[rng.below(32)]);
            }
            phrase
        })
        .collect();
    let mut timestamp = BASE_TIMESTAMP;
    (0..count)
        .map(|_| {
            timestamp += 1 + rng.below(5) as i64;
            let key_digits = 3 + rng.below(9);
            let mut key = b"user".to_vec();
            key.push(b'-');
            key.extend((0..key_digits).map(|_| b'0' + rng.below(10) as u8));
            let mut value = Vec::with_capacity(size + 16);
            while value.len() < size {
                if rng.below(6) == 0 {
                    // A number: the part of real payloads that barely compresses.
                    let digits = 3 + rng.below(6);
                    value.extend((0..digits).map(|_| b'0' + rng.below(10) as u8));
                } else if rng.below(3) == 0 {
                    value.extend_from_slice(&phrases[rng.below(phrases.len())]);
                } else {
                    // The smaller of two draws favours low indices: some words are common.
                    let word = rng.below(vocabulary.len()).min(rng.below(vocabulary.len()));
                    value.extend_from_slice(&vocabulary[word]);
                }
                value.push(b' ');
            }
            value.truncate(size);
            Record::new(timestamp, value).with_key(key)
        })
        .collect()
}
