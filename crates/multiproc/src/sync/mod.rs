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
//! never blocks, `x_timeout` and `x_deadline` give up at a time.
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

#![forbid(unsafe_code)]

mod barrier;
mod condition;
mod error;
mod event;
mod lock;
pub(crate) mod raw_lock;
mod rlock;
mod semaphore;

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

    /// The least a waiter spins.
    const MIN_SPIN: Duration = Duration::from_nanos(100);
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

    /// Spins until `done()` or the hint's budget runs out; returns `done()`'s last answer.
    pub(crate) fn until(hint: &AtomicU32, mut done: impl FnMut() -> bool) -> bool {
        // One core: whoever would change the state cannot run while we spin.
        if !multicore() {
            return done();
        }
        let n = WAITS.with(|w| {
            w.set(w.get().wrapping_add(1));
            w.get()
        });
        let budget = if n % EXPLORE_EVERY == 0 {
            MAX_SPIN
        } else {
            Duration::from_nanos(u64::from(hint.load(Relaxed)) * 2).clamp(MIN_SPIN, MAX_SPIN)
        };
        let start = Instant::now();
        loop {
            for _ in 0..32 {
                if done() {
                    return true;
                }
                std::hint::spin_loop();
            }
            if start.elapsed() >= budget {
                return done();
            }
        }
    }

    /// Records how a spin that began at `start` ended: `spun` when it saw the change.
    pub(crate) fn learn(hint: &AtomicU32, start: Instant, spun: bool) {
        let target = if spun {
            start.elapsed().min(MAX_SPIN).as_nanos() as i64
        } else {
            0
        };
        let old = i64::from(hint.load(Relaxed));
        let new = old + (target - old) / 4;
        hint.store(new.clamp(0, MAX_SPIN.as_nanos() as i64) as u32, Relaxed);
    }
}
