//! Synchronization between processes: [`Lock`], [`RLock`], [`Semaphore`],
//! [`BoundedSemaphore`], [`Event`], [`Condition`] and [`Barrier`].
//!
//! Each primitive is a small structure in a memfd shared mapping, operated with atomics and
//! futexes: an uncontended acquire and release is two atomic instructions, and no system call.
//! A handle is cheap to clone (the clone is the same primitive) and serializes by sending its
//! memfd out of band, so it can be passed to a child as its argument, returned from one, or sent
//! through a queue or a connection (which Python's primitives cannot).
//!
//! Every blocking operation comes in four forms, as in `crossbeam-channel`: `x` blocks, `try_x`
//! never blocks, `x_timeout` and `x_deadline` give up at a time. With the `tokio` feature,
//! `Event::wait_async`, `Lock::acquire_async` and `acquire_async` on the semaphores wait
//! without blocking the thread. ([`RLock`] and [`Condition`] have no async form: an `RLock`
//! belongs to a thread, and a task moves between threads.)
//!
//! # Beyond Python
//!
//! A process that dies while holding a [`Lock`] or an [`RLock`] (or the thread that holds an
//! `RLock`) does not leave it held forever: the next acquirer takes it and gets
//! [`HolderDied`], in the vocabulary of `std`'s poisoned locks. A party of a [`Barrier`] that
//! dies breaks the barrier for the others instead of leaving them waiting.
//!
//! ```rust,standalone_crate
//! use multiproc::{Event, Lock};
//!
//! fn worker((lock, started): (Lock, Event)) {
//!     started.set();
//!     let _held = lock.acquire().expect("holder died");
//! }
//!
//! fn main() {
//!     multiproc::init();
//!     let (lock, started) = (Lock::new(), Event::new());
//!     let held = lock.acquire().unwrap();
//!     let child = multiproc::spawn(worker, (lock.clone(), started.clone()));
//!     assert!(started.wait_timeout(std::time::Duration::from_secs(10)));
//!     drop(held); // the child can now take the lock
//!     child.join().unwrap();
//! }
//! ```

mod barrier;
mod condition;
mod error;
mod event;
mod lock;
pub(crate) mod owner;
pub(crate) mod raw_lock;
mod rlock;
mod semaphore;
#[cfg(feature = "tokio")]
mod tokio;

pub use barrier::{
    Barrier, BarrierAction, BarrierError, BrokenReason, MAX_PARTIES, NoAction, TryBarrierError,
};
pub use condition::{Condition, ConditionGuard};
pub use error::{AcquireResult, AcquireTimeoutError, HolderDied, ReleaseError, TryAcquireError};
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};

/// Adaptive spinning before a futex sleep: a wake-up that comes within microseconds costs no
/// system call on either side, and where spinning does not pay, it stops.
///
/// Each primitive keeps a *hint* word in its shared memory: a moving average of how long
/// recent spins took to succeed, counting a spin that failed (the waiter had to sleep) as 0. A
/// waiter spins for up to twice the hint, at least [`MIN_SPIN`] and at most [`MAX_SPIN`]. When
/// the processes that would wake each other compete for a core, spinning only delays the
/// waker, spins fail, the hint drops to nothing, and the handoff is a plain futex sleep and
/// wake, as with a C semaphore. Only successes teach it to spin longer, so the waits that
/// spinning itself makes longer cannot; one wait in [`EXPLORE_EVERY`] spins the longest, to
/// find out whether spinning has started to pay.
pub(crate) mod spin {
    use std::sync::OnceLock;
    use std::sync::atomic::AtomicU32;
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::{Duration, Instant};

    /// The least a waiter spins: about the time a spinning partner takes to answer.
    const MIN_SPIN: Duration = Duration::from_nanos(400);
    /// The most a waiter spins.
    const MAX_SPIN: Duration = Duration::from_micros(50);
    /// One wait in this many (per thread) spins for [`MAX_SPIN`].
    const EXPLORE_EVERY: u32 = 256;

    thread_local! {
        static WAITS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }

    fn multicore() -> bool {
        static CPUS: OnceLock<usize> = OnceLock::new();
        *CPUS.get_or_init(crate::process::cpu_count) >= 2
    }

    /// Spins until `done()` or the budget that `hint` gives runs out, and updates the hint.
    /// Returns `done()`'s last answer.
    pub(crate) fn until(hint: &AtomicU32, mut done: impl FnMut() -> bool) -> bool {
        // One core: whoever would change the state cannot run while we spin.
        if !multicore() {
            return done();
        }
        let n = WAITS.with(|w| {
            w.set(w.get().wrapping_add(1));
            w.get()
        });
        let old = hint.load(Relaxed);
        let budget = if n.is_multiple_of(EXPLORE_EVERY) {
            MAX_SPIN
        } else {
            Duration::from_nanos(u64::from(old) * 2).clamp(MIN_SPIN, MAX_SPIN)
        };
        let start = Instant::now();
        loop {
            // A pause is tens of nanoseconds: look at the clock every few.
            for _ in 0..4 {
                if done() {
                    let took = start.elapsed().min(MAX_SPIN).as_nanos() as u32;
                    learn(hint, old, took);
                    return true;
                }
                std::hint::spin_loop();
            }
            if start.elapsed() >= budget {
                learn(hint, old, 0);
                return done();
            }
        }
    }

    /// Moves the hint a quarter of the way to `took` (0 for a spin that failed).
    fn learn(hint: &AtomicU32, old: u32, took: u32) {
        let old = i64::from(old);
        let new = old + (i64::from(took) - old) / 4;
        hint.store(new.clamp(0, MAX_SPIN.as_nanos() as i64) as u32, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Array, Connection, RawArray, RawValue, Value};

    type All = (
        (Lock, RLock, Semaphore, BoundedSemaphore),
        (Event, Condition, Barrier),
        (Value<u32>, RawValue<u32>, Array<u8>, RawArray<u8>),
    );

    #[test]
    fn every_primitive_travels_through_a_connection() {
        let (a, b) = Connection::pair(true).unwrap();
        let all: All = (
            (
                Lock::new(),
                RLock::new(),
                Semaphore::new(0),
                BoundedSemaphore::new(1),
            ),
            (Event::new(), Condition::new(), Barrier::new(2)),
            (
                Value::new(1),
                RawValue::new(2),
                Array::new(3),
                RawArray::new(4),
            ),
        );
        a.send(&all).unwrap();
        let got: All = b.recv().unwrap();
        let ((l, r, s, bs), (e, c, br), (v, rv, ar, rar)) = &got;
        std::mem::forget(all.0.0.acquire().unwrap());
        assert!(l.locked());
        std::mem::forget(all.0.1.acquire().unwrap());
        assert!(r.locked());
        all.0.2.release().unwrap();
        assert_eq!(s.get_value(), 1);
        std::mem::forget(all.0.3.acquire());
        assert_eq!(bs.get_value(), 0);
        all.1.0.set();
        assert!(e.is_set());
        let _g = all.1.1.acquire().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| assert!(matches!(c.try_acquire(), Err(TryAcquireError::WouldBlock))));
        });
        all.1.2.abort();
        assert!(br.broken());
        all.2.0.set(10);
        all.2.1.set(20);
        all.2.2.set(2, 30);
        all.2.3.set(3, 40);
        assert_eq!((v.get(), rv.get()), (10, 20));
        assert_eq!((ar.get(2), rar.get(3)), (Some(30), Some(40)));
    }
}
