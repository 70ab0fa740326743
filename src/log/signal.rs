//! [`AppendSignal`]: one wake-up shared by many logs, for a reader tailing several at once.

use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// A counter that every log sharing it bumps after each append (and on close), with a wait
/// for it to move: a reader tailing many partitions (a consumer, a server's fetch) blocks
/// on one signal instead of polling each log in turn.
///
/// The pattern: read [`seq`](Self::seq), look at the logs, and if none has data, wait with
/// [`wait_past`](Self::wait_past) from the value read; an append after the read moved the
/// counter, so the wait returns at once and nothing is missed. A [`Store`](crate::store::Store)
/// shares one among all its partitions ([`Store::append_signal`](crate::store::Store::append_signal)).
///
/// ```
/// use std::time::Duration;
/// use tidelog::log::AppendSignal;
/// let signal = AppendSignal::default();
/// let seen = signal.seq();
/// signal.notify();
/// assert!(signal.wait_past(seen, Duration::from_secs(5))); // moved: returns at once
/// assert!(!signal.wait_past(signal.seq(), Duration::from_millis(1)));
/// ```
#[derive(Debug, Default)]
pub struct AppendSignal {
    seq: AtomicU64,
    waiters: AtomicUsize,
    lock: Mutex<()>,
    cond: Condvar,
}

impl AppendSignal {
    /// The counter now: how many appends (and closes) signalled so far.
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::SeqCst)
    }

    /// Bumps the counter and wakes every waiter. Cheap when nobody waits (one atomic add and
    /// a fence).
    pub fn notify(&self) {
        self.seq.fetch_add(1, Ordering::SeqCst);
        // Each side stores one variable and then loads the other (here: seq, then waiters;
        // a waiter: waiters, then seq), so both need a full fence, or each could miss the
        // other's store and the waiter sleep through the wake-up.
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::Relaxed) > 0 {
            let _guard = self.lock.lock();
            self.cond.notify_all();
        }
    }

    /// Blocks until the counter differs from `seen` or `timeout` passes; returns whether it
    /// moved. A wake-up means some log sharing the signal changed, not that a given one did:
    /// look again.
    pub fn wait_past(&self, seen: u64, timeout: Duration) -> bool {
        if self.seq() != seen {
            return true;
        }
        let deadline = Instant::now().checked_add(timeout);
        self.waiters.fetch_add(1, Ordering::SeqCst);
        // Pairs with the fence in `notify` (see there).
        fence(Ordering::SeqCst);
        let mut guard = self.lock.lock();
        let moved = loop {
            if self.seq() != seen {
                break true;
            }
            let timed_out = match deadline {
                Some(deadline) => self.cond.wait_until(&mut guard, deadline).timed_out(),
                None => {
                    self.cond.wait(&mut guard);
                    false
                }
            };
            if timed_out {
                break self.seq() != seen;
            }
        };
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::AcqRel);
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn a_notify_from_another_thread_wakes_the_waiter() {
        let signal = Arc::new(AppendSignal::default());
        let seen = signal.seq();
        let notifier = {
            let signal = Arc::clone(&signal);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                signal.notify();
            })
        };
        let started = Instant::now();
        assert!(signal.wait_past(seen, Duration::from_secs(60)));
        assert!(started.elapsed() < Duration::from_secs(30));
        notifier.join().expect("the notifier thread");
    }

    #[test]
    fn a_notify_before_the_wait_is_not_missed() {
        let signal = AppendSignal::default();
        let seen = signal.seq();
        signal.notify();
        assert!(signal.wait_past(seen, Duration::MAX));
    }
}
