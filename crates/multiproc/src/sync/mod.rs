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
//! ```
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

/// Brief spinning before a futex sleep: a wake-up that comes within a few microseconds costs
/// no system call on either side.
pub(crate) mod spin {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    /// How long a waiter spins before it sleeps.
    const SPIN_FOR: Duration = Duration::from_micros(20);

    /// Spins until `done()` or [`SPIN_FOR`] passes; returns `done()`'s last answer.
    pub(crate) fn until(mut done: impl FnMut() -> bool) -> bool {
        // One core: whoever would change the state cannot run while we spin.
        static CPUS: OnceLock<usize> = OnceLock::new();
        if *CPUS.get_or_init(crate::process::cpu_count) < 2 {
            return done();
        }
        let start = Instant::now();
        loop {
            for _ in 0..64 {
                if done() {
                    return true;
                }
                std::hint::spin_loop();
            }
            if start.elapsed() >= SPIN_FOR {
                return done();
            }
        }
    }
}
