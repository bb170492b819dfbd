//! The robust futex mutex under [`Lock`](super::Lock), [`RLock`](super::RLock) and the locks of
//! shared values.
//!
//! The lock is one 32-bit word in shared memory: 0 when free, otherwise the holder's owner word
//! (a pid or tid with a start-time tag, see `owner`) with bit 31 set when some waiter may
//! sleep. Taking a free lock is one compare-and-swap; releasing is one more. A waiter sleeps on
//! the word with a futex, waking every [`CHECK_INTERVAL`] to ask whether the holder still lives;
//! if it died, the waiter takes the lock over and reports the death.

use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

use super::owner::{self, FLAG_BIT, OWNER_MASK};
use super::{AcquireResult, AcquireTimeoutError, HolderDied, TryAcquireError};
use crate::sys::futex;

/// Set in the lock word while some waiter may be asleep on it.
const WAITERS: u32 = FLAG_BIT;

/// How often a blocked waiter checks that the holder is still alive.
pub(crate) const CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// Attempts at a free lock before a waiter goes to sleep.
const SPINS: u32 = 200;

/// How a lock was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    /// It was free (or released to us).
    Clean,
    /// Its holder, the process or thread with this id, ended while holding it.
    HolderDied(u32),
}

/// The guard `guard()` makes once the lock is held, as an acquire result: inside
/// [`HolderDied`] if the previous holder died with it.
fn outcome<G>(taken: Taken, guard: impl FnOnce() -> G) -> AcquireResult<G> {
    match taken {
        Taken::Clean => Ok(guard()),
        Taken::HolderDied(id) => Err(HolderDied::new(guard(), id)),
    }
}

/// Blocks until `me` holds the lock; then `guard()` makes the guard.
pub(crate) fn acquire<G>(word: &AtomicU32, me: u32, guard: impl FnOnce() -> G) -> AcquireResult<G> {
    match lock(word, me, None) {
        Some(t) => outcome(t, guard),
        None => unreachable!("an acquire without deadline cannot time out"),
    }
}

/// Takes the lock for `me` if it is free (or its holder is dead); then `guard()` makes the guard.
pub(crate) fn try_acquire<G>(
    word: &AtomicU32,
    me: u32,
    guard: impl FnOnce() -> G,
) -> Result<G, TryAcquireError<G>> {
    match try_lock(word, me) {
        Some(t) => outcome(t, guard).map_err(TryAcquireError::HolderDied),
        None => Err(TryAcquireError::WouldBlock),
    }
}

/// Waits until `deadline` at most for `me` to hold the lock; then `guard()` makes the guard.
pub(crate) fn acquire_deadline<G>(
    word: &AtomicU32,
    me: u32,
    deadline: Instant,
    guard: impl FnOnce() -> G,
) -> Result<G, AcquireTimeoutError<G>> {
    match lock(word, me, Some(deadline)) {
        Some(t) => outcome(t, guard).map_err(AcquireTimeoutError::HolderDied),
        None => Err(AcquireTimeoutError::Timeout),
    }
}

/// Takes the lock for `me` if it is free, in one compare-and-swap: the fast path of a caller
/// that has a slow path of its own. `false` if anyone holds it.
#[inline]
pub(crate) fn lock_if_free(word: &AtomicU32, me: u32) -> bool {
    word.compare_exchange(0, me, Acquire, Relaxed).is_ok()
}

/// Takes the lock for `me` if it is free, or if its holder is dead. `None` if a live holder has it.
#[inline]
pub(crate) fn try_lock(word: &AtomicU32, me: u32) -> Option<Taken> {
    if lock_if_free(word, me) {
        return Some(Taken::Clean);
    }
    try_lock_cold(word, me)
}

#[cold]
fn try_lock_cold(word: &AtomicU32, me: u32) -> Option<Taken> {
    loop {
        let s = word.load(Relaxed);
        if s == 0 {
            if word.compare_exchange(0, me, Acquire, Relaxed).is_ok() {
                return Some(Taken::Clean);
            }
            continue;
        }
        if owner::is_alive(s & OWNER_MASK) {
            return None;
        }
        // Keep the waiters bit: someone may sleep on the word.
        if word
            .compare_exchange(s, me | (s & WAITERS), Acquire, Relaxed)
            .is_ok()
        {
            return Some(Taken::HolderDied(owner::id_of(s)));
        }
    }
}

/// Takes the lock for `me`, waiting until `deadline` at most (forever with `None`). `None` if
/// the deadline passed first.
#[inline]
pub(crate) fn lock(word: &AtomicU32, me: u32, deadline: Option<Instant>) -> Option<Taken> {
    if word.compare_exchange(0, me, Acquire, Relaxed).is_ok() {
        return Some(Taken::Clean);
    }
    lock_slow(word, me, deadline)
}

/// Like [`lock`], for a lock held by threads (whose `me` is a thread word): `Err(Reentered)`
/// at once if `me` holds it already, instead of waiting for itself forever.
#[inline]
pub(crate) fn lock_not_reentered(
    word: &AtomicU32,
    me: u32,
    deadline: Option<Instant>,
) -> Result<Option<Taken>, Reentered> {
    if lock_if_free(word, me) {
        return Ok(Some(Taken::Clean));
    }
    lock_contended_not_reentered(word, me, deadline)
}

/// The rest of [`lock_not_reentered`] after its compare-and-swap failed: for a caller that
/// made that attempt itself. No second compare-and-swap before the spin: each one would take
/// the lock's cache line from its holder.
#[cold]
pub(crate) fn lock_contended_not_reentered(
    word: &AtomicU32,
    me: u32,
    deadline: Option<Instant>,
) -> Result<Option<Taken>, Reentered> {
    if holder(word) == me {
        return Err(Reentered);
    }
    Ok(lock_slow(word, me, deadline))
}

/// The caller asked for a lock that it holds already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reentered;

#[cold]
fn lock_slow(word: &AtomicU32, me: u32, deadline: Option<Instant>) -> Option<Taken> {
    for _ in 0..SPINS {
        let s = word.load(Relaxed);
        if s == 0 && word.compare_exchange(0, me, Acquire, Relaxed).is_ok() {
            return Some(Taken::Clean);
        }
        std::hint::spin_loop();
    }
    let mut check_at = Instant::now() + CHECK_INTERVAL;
    loop {
        let s = match lock_step(word, me, &mut check_at) {
            Step::Taken(t) => return Some(t),
            Step::Sleep(s) => s,
        };
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let until = deadline.map_or(check_at, |d| d.min(check_at));
        futex::wait(word, s, Some(until));
    }
}

/// What one step of a wait for the lock came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The lock is taken.
    Taken(Taken),
    /// A live holder has it, and the waiters bit is set: sleep while the word holds this.
    Sleep(u32),
}

/// One step of a waiter (a blocked thread's, or an async task's between two sleeps): takes
/// the lock if it is free, or from its holder if `check_at` has come and the holder is dead
/// (then the next check is set); otherwise sets the waiters bit, so that the release wakes a
/// sleeper, and says what to sleep on.
pub(crate) fn lock_step(word: &AtomicU32, me: u32, check_at: &mut Instant) -> Step {
    loop {
        let s = word.load(Relaxed);
        if s == 0 {
            // We may have been woken by a release that left other sleepers: keep the bit, so
            // our own release wakes the next one.
            if word
                .compare_exchange(0, me | WAITERS, Acquire, Relaxed)
                .is_ok()
            {
                return Step::Taken(Taken::Clean);
            }
            continue;
        }
        let s = if s & WAITERS == 0 {
            match word.compare_exchange(s, s | WAITERS, Relaxed, Relaxed) {
                Ok(_) => s | WAITERS,
                Err(_) => continue,
            }
        } else {
            s
        };
        let now = Instant::now();
        if now >= *check_at {
            if !owner::is_alive(s & OWNER_MASK) {
                if word
                    .compare_exchange(s, me | WAITERS, Acquire, Relaxed)
                    .is_ok()
                {
                    return Step::Taken(Taken::HolderDied(owner::id_of(s)));
                }
                continue;
            }
            *check_at = now + CHECK_INTERVAL;
        }
        return Step::Sleep(s);
    }
}

/// Releases the lock, whoever holds it. `false` if it was not locked.
#[inline]
pub(crate) fn unlock(word: &AtomicU32) -> bool {
    let old = word.swap(0, Release);
    if old & WAITERS != 0 {
        futex::wake(word, 1);
    }
    old != 0
}

/// Releases the lock if `me` holds it; `false` (and nothing changes) if someone else does.
#[inline]
pub(crate) fn unlock_mine(word: &AtomicU32, me: u32) -> bool {
    if word.compare_exchange(me, 0, Release, Relaxed).is_ok() {
        return true;
    }
    unlock_mine_cold(word, me)
}

#[cold]
fn unlock_mine_cold(word: &AtomicU32, me: u32) -> bool {
    let s = word.load(Relaxed);
    if s & OWNER_MASK != me {
        return false;
    }
    // Only the holder changes the owner bits, and waiters only add the waiters bit: the lock is
    // still ours, so release it whatever the bit does meanwhile.
    unlock(word)
}

/// Whether someone holds the lock.
pub(crate) fn is_locked(word: &AtomicU32) -> bool {
    word.load(Relaxed) & OWNER_MASK != 0
}

/// The holder's owner word (0 when free).
pub(crate) fn holder(word: &AtomicU32) -> u32 {
    word.load(Relaxed) & OWNER_MASK
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn lock_unlock_and_try() {
        let w = AtomicU32::new(0);
        let me = owner::process_word();
        assert_eq!(try_lock(&w, me), Some(Taken::Clean));
        assert!(is_locked(&w));
        assert_eq!(try_lock(&w, me), None);
        assert!(unlock_mine(&w, me));
        assert!(!unlock(&w));
    }

    #[test]
    fn dead_holder_is_taken_over() {
        // A thread's owner word stands for a holder that has ended.
        let dead = std::thread::spawn(owner::thread_word).join().unwrap();
        let w = AtomicU32::new(dead);
        let me = owner::process_word();
        assert_eq!(
            try_lock(&w, me),
            Some(Taken::HolderDied(owner::id_of(dead)))
        );
        let w = AtomicU32::new(dead | WAITERS);
        let t0 = Instant::now();
        let got = lock(&w, me, Some(t0 + Duration::from_secs(5)));
        assert_eq!(got, Some(Taken::HolderDied(owner::id_of(dead))));
        assert!(unlock_mine(&w, me));
    }

    #[test]
    fn timeout_while_held() {
        let w = AtomicU32::new(owner::process_word());
        let t0 = Instant::now();
        assert_eq!(
            lock(
                &w,
                owner::process_word(),
                Some(t0 + Duration::from_millis(60))
            ),
            None
        );
        assert!(t0.elapsed() >= Duration::from_millis(60));
    }

    #[test]
    fn threads_exclude_each_other() {
        let w = Arc::new(AtomicU32::new(0));
        let count = Arc::new(AtomicU32::new(0));
        let ts: Vec<_> = (0..4)
            .map(|_| {
                let (w, count) = (w.clone(), count.clone());
                std::thread::spawn(move || {
                    let me = owner::thread_word();
                    for _ in 0..10_000 {
                        lock(&w, me, None).unwrap();
                        // A non-atomic read-modify-write, made safe by the lock.
                        let v = count.load(Relaxed);
                        count.store(v + 1, Relaxed);
                        assert!(unlock_mine(&w, me));
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(count.load(Relaxed), 40_000);
    }
}
