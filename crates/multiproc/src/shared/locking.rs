//! The locks of a [`Value`](super::Value) or an [`Array`](super::Array): its own, a robust lock
//! word in its memory, and optionally a [`Lock`] or an [`RLock`] that it shares with other
//! values (Python's `lock=` argument).
//!
//! The own lock is always taken, last: it alone makes the `&mut` that a guard hands out
//! exclusive. A shared lock is taken first, and only groups values: whoever releases it
//! behind a guard's back (Python lets any process release a `Lock`) cannot reach the data
//! while the guard lives. The own lock belongs to a thread, so a thread that asks again for a
//! value it holds is told so at once (a panic for the blocking forms, `WouldBlock` for
//! `try_`), instead of waiting for itself forever.

use std::fmt;
use std::sync::atomic::AtomicU32;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::sync::raw_lock::{self, Taken};
use crate::sync::{
    AcquireResult, AcquireTimeoutError, HolderDied, Lock, RLock, TryAcquireError, owner,
};

/// A lock that a [`Value`](super::Value) or an [`Array`](super::Array) shares with other
/// values, made with their `new_with_lock` constructors (Python's `Value(..., lock=lock)`).
///
/// Every lock and access of the value first takes this lock, then the value's own. Share an
/// [`RLock`] to work on several values under one acquisition: the thread that holds the
/// `RLock` may still call `get`, `set` and `with_lock` on each of them. With a [`Lock`],
/// which is not reentrant, those calls would wait for the holder, as in Python.
///
/// ```
/// use multiproc::shared::SharedLock;
/// use multiproc::{RLock, Value};
/// # fn main() -> std::io::Result<()> {
/// let lock = RLock::try_new()?;
/// let (from, to) = (
///     Value::try_new_with_lock(10u32, lock.clone())?,
///     Value::try_new_with_lock(0u32, lock.clone())?,
/// );
/// {
///     let _both = lock.acquire().unwrap(); // nobody sees the move half done
///     from.set(from.get() - 3);
///     to.set(to.get() + 3);
/// }
/// assert_eq!((from.get(), to.get()), (7, 3));
/// assert!(matches!(from.shared_lock(), Some(SharedLock::RLock(_))));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum SharedLock {
    /// A [`Lock`]: held by a process.
    Lock(Lock),
    /// An [`RLock`]: held by a thread, which may take it again.
    RLock(RLock),
}

impl From<Lock> for SharedLock {
    fn from(l: Lock) -> Self {
        SharedLock::Lock(l)
    }
}

impl From<RLock> for SharedLock {
    fn from(l: RLock) -> Self {
        SharedLock::RLock(l)
    }
}

/// Both locks of a value, held: the own one is released first, then the shared one. (The
/// shared lock's guard is not kept: a guard this small keeps the critical section short, and
/// the shared lock is released through its handle, as its guard would.)
pub(super) struct Held<'a> {
    own: &'a AtomicU32,
    me: u32,
    shared: Option<&'a SharedLock>,
}

impl Drop for Held<'_> {
    #[inline]
    fn drop(&mut self) {
        raw_lock::unlock_mine(self.own, self.me);
        if let Some(lock) = self.shared {
            release_shared(lock);
        }
    }
}

/// Releases a shared lock taken by [`take_shared`], as dropping its guard would.
#[cold]
#[inline(never)]
fn release_shared(lock: &SharedLock) {
    match lock {
        SharedLock::Lock(l) => l.release_mine(),
        SharedLock::RLock(l) => {
            let _ = l.release();
        }
    }
}

impl fmt::Debug for Held<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Held").finish_non_exhaustive()
    }
}

/// How long to wait.
#[derive(Clone, Copy)]
enum Wait {
    No,
    Until(Instant),
    Forever,
}

/// What a take gave.
enum Got<'a> {
    /// Both locks, free (or released to us).
    Clean(Held<'a>),
    /// Both locks; one was taken over from this dead holder.
    Died(Held<'a>, u32),
    /// A live holder has one of them (or the deadline passed).
    Busy,
}

fn take<'a>(own: &'a AtomicU32, shared: Option<&'a SharedLock>, wait: Wait) -> Got<'a> {
    let died = match shared {
        None => None,
        Some(lock) => match take_shared(lock, wait) {
            Some(died) => died,
            None => return Got::Busy,
        },
    };
    let me = owner::thread_word();
    // This thread may hold the value already (through a shared RLock, it got this far): a
    // second guard would alias the first.
    let taken = match wait {
        Wait::No if raw_lock::holder(own) == me => None,
        Wait::No => raw_lock::try_lock(own, me),
        Wait::Until(_) | Wait::Forever => {
            let deadline = match wait {
                Wait::Until(d) => Some(d),
                _ => None,
            };
            match raw_lock::lock_not_reentered(own, me, deadline) {
                Ok(t) => t,
                Err(_) => {
                    if let Some(lock) = shared {
                        release_shared(lock);
                    }
                    panic!("{REENTERED}");
                }
            }
        }
    };
    let Some(taken) = taken else {
        if let Some(lock) = shared {
            release_shared(lock);
        }
        return Got::Busy;
    };
    let held = Held { own, me, shared };
    match (died, taken) {
        (Some(id), _) | (None, Taken::HolderDied(id)) => Got::Died(held, id),
        (None, Taken::Clean) => Got::Clean(held),
    }
}

/// What a thread that locks a value it holds already is told.
const REENTERED: &str = "this thread already holds the lock of this shared value";

/// Takes a shared lock (its guard is forgotten: [`Held`] releases it). `Some` with the dead
/// holder's id if it was taken over; `None` if it is busy.
#[cold]
fn take_shared(lock: &SharedLock, wait: Wait) -> Option<Option<u32>> {
    match lock {
        SharedLock::Lock(l) => take_one(
            wait,
            || l.acquire(),
            || l.try_acquire(),
            |d| l.acquire_deadline(d),
        ),
        SharedLock::RLock(l) => take_one(
            wait,
            || l.acquire(),
            || l.try_acquire(),
            |d| l.acquire_deadline(d),
        ),
    }
}

/// Takes one shared lock with the form that `wait` asks for, and forgets its guard (the lock
/// stays held). `Some` with the dead holder's id if it was taken over; `None` if it is busy.
fn take_one<G>(
    wait: Wait,
    block: impl FnOnce() -> AcquireResult<G>,
    try_: impl FnOnce() -> Result<G, TryAcquireError<G>>,
    until: impl FnOnce(Instant) -> Result<G, AcquireTimeoutError<G>>,
) -> Option<Option<u32>> {
    let died = |d: HolderDied<G>| {
        let id = d.holder();
        std::mem::forget(d.into_inner());
        Some(id)
    };
    let clean = |g: G| {
        std::mem::forget(g);
        None
    };
    match wait {
        Wait::Forever => Some(block().map_or_else(died, clean)),
        Wait::No => match try_() {
            Ok(g) => Some(clean(g)),
            Err(e) => e.into_holder_died().map(died),
        },
        Wait::Until(d) => match until(d) {
            Ok(g) => Some(clean(g)),
            Err(e) => e.into_holder_died().map(died),
        },
    }
}

/// Blocks until this thread holds both locks; then `guard` makes the guard.
///
/// # Panics
/// If this thread holds the value already.
#[inline]
pub(super) fn acquire<'a, G>(
    own: &'a AtomicU32,
    shared: Option<&'a SharedLock>,
    guard: impl FnOnce(Held<'a>) -> G,
) -> AcquireResult<G> {
    // The common case, a value of its own: one compare-and-swap when its lock is free, and
    // straight to the spin when it is not.
    if shared.is_none() {
        let me = owner::thread_word();
        let taken = if raw_lock::lock_if_free(own, me) {
            Taken::Clean
        } else {
            match raw_lock::lock_contended_not_reentered(own, me, None) {
                Ok(Some(t)) => t,
                Ok(None) => unreachable!("an acquire without deadline cannot time out"),
                Err(_) => panic!("{REENTERED}"),
            }
        };
        let held = Held {
            own,
            me,
            shared: None,
        };
        return match taken {
            Taken::Clean => Ok(guard(held)),
            Taken::HolderDied(id) => Err(HolderDied::new(guard(held), id)),
        };
    }
    match take(own, shared, Wait::Forever) {
        Got::Clean(h) => Ok(guard(h)),
        Got::Died(h, id) => Err(HolderDied::new(guard(h), id)),
        Got::Busy => unreachable!("an acquire without deadline cannot time out"),
    }
}

/// Takes both locks if they are free now.
pub(super) fn try_acquire<'a, G>(
    own: &'a AtomicU32,
    shared: Option<&'a SharedLock>,
    guard: impl FnOnce(Held<'a>) -> G,
) -> Result<G, TryAcquireError<G>> {
    match take(own, shared, Wait::No) {
        Got::Clean(h) => Ok(guard(h)),
        Got::Died(h, id) => Err(TryAcquireError::HolderDied(HolderDied::new(guard(h), id))),
        Got::Busy => Err(TryAcquireError::WouldBlock),
    }
}

/// Waits until `deadline` at most for both locks.
///
/// # Panics
/// If this thread holds the value already.
pub(super) fn acquire_deadline<'a, G>(
    own: &'a AtomicU32,
    shared: Option<&'a SharedLock>,
    deadline: Instant,
    guard: impl FnOnce(Held<'a>) -> G,
) -> Result<G, AcquireTimeoutError<G>> {
    match take(own, shared, Wait::Until(deadline)) {
        Got::Clean(h) => Ok(guard(h)),
        Got::Died(h, id) => Err(AcquireTimeoutError::HolderDied(HolderDied::new(
            guard(h),
            id,
        ))),
        Got::Busy => Err(AcquireTimeoutError::Timeout),
    }
}
