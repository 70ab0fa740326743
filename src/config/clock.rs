//! The injectable clock: everything time-driven reads it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch.
///
/// Everything time-driven (`segment.ms`, retention, `flush.ms`, LogAppendTime) reads this,
/// so tests can drive time with [`ManualClock`] instead of sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// Milliseconds since the Unix epoch, possibly a few milliseconds behind
    /// [`now_ms`](Self::now_ms): for checks that need no precision (`segment.ms`,
    /// `flush.ms`), read on every append, so a clock may answer them more cheaply. The
    /// default is [`now_ms`](Self::now_ms).
    fn coarse_now_ms(&self) -> i64 {
        self.now_ms()
    }
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            // Whole seconds times 1000 plus the millisecond part: the same value as
            // `as_millis`, without its 128-bit division (this runs once per produced
            // record).
            .map(|d| {
                i64::try_from(d.as_secs())
                    .unwrap_or(i64::MAX / 1000)
                    .saturating_mul(1000)
                    .saturating_add(i64::from(d.subsec_millis()))
            })
            .unwrap_or(0)
    }

    /// Linux's `CLOCK_REALTIME_COARSE`: the time of the last timer tick (1-4 ms behind), read
    /// from the vDSO without touching the clock hardware; elsewhere [`now_ms`](Self::now_ms).
    ///
    /// Through the C library rather than `rustix`, whose own vDSO lookup crashes under
    /// valgrind.
    #[allow(
        clippy::useless_conversion,
        reason = "time_t and c_long are narrower than i64 on 32-bit targets"
    )]
    fn coarse_now_ms(&self) -> i64 {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let mut t = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            #[expect(unsafe_code, reason = "clock_gettime is a C call")]
            // SAFETY: `t` is a valid, writable timespec for the duration of the call, and
            // CLOCK_REALTIME_COARSE is a clock id every Linux since 2.6.32 knows.
            let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut t) };
            if rc != 0 {
                return self.now_ms();
            }
            i64::from(t.tv_sec)
                .saturating_mul(1000)
                .saturating_add(i64::from(t.tv_nsec) / 1_000_000)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            self.now_ms()
        }
    }
}

/// A clock that moves only when told to: for tests.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock reading `now_ms`.
    pub fn new(now_ms: i64) -> Self {
        ManualClock {
            now: Arc::new(AtomicI64::new(now_ms)),
        }
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, now_ms: i64) {
        self.now.store(now_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_when_told() {
        let c = ManualClock::new(5);
        c.advance(10);
        assert_eq!(c.now_ms(), 15);
        assert_eq!(c.coarse_now_ms(), 15);
    }

    #[test]
    fn system_coarse_clock_trails_the_precise_one_by_a_few_ms_at_most() {
        let c = SystemClock;
        for _ in 0..100 {
            let before = c.now_ms();
            let coarse = c.coarse_now_ms();
            let after = c.now_ms();
            // The tick is at most 10 ms (HZ=100); allow for a descheduled thread too.
            assert!(coarse <= after, "coarse {coarse} after precise {after}");
            assert!(coarse >= before - 50, "coarse {coarse} far behind {before}");
        }
    }
}
