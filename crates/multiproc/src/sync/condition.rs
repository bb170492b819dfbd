//! [`Condition`]: waiting for a change that another process announces.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{AcquireResult, AcquireTimeoutError, HolderDied, TryAcquireError};
use super::{Lock, LockGuard, RLock, RLockGuard};
use crate::shared::mapping::{self, Mapping};
use crate::sys::fd::deadline_after;
use crate::sys::futex::{self, Wake};

const MAGIC: u32 = mapping::magic(b"COND");
/// Bumped by every notify that wakes someone: the futex word waiters sleep on.
const GEN: usize = 4;
/// Waiters registered and not yet granted a wake-up (changed with the lock held).
const WAITERS: usize = 8;
/// Wake-ups granted and not yet taken.
const TOKENS: usize = 12;
const LEN: usize = 16;

/// The lock under a condition.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Under {
    Lock(Lock),
    RLock(RLock),
}

/// A condition variable that processes share (Python's `multiprocessing.Condition`).
///
/// It pairs a lock (by default its own [`RLock`]) with a way to wait for a notification. As in
/// Python: take the lock with [`acquire`](Condition::acquire), then [`wait`](ConditionGuard::wait)
/// (which releases the lock while it sleeps and takes it back before it returns), or change the
/// shared state and [`notify`](ConditionGuard::notify). Waiting needs the lock held, and so does
/// notifying: both are methods of the [`ConditionGuard`].
///
/// `notify(n)` wakes exactly `min(n, waiting)` of the processes that were waiting when it was
/// called, never one that started to wait afterwards. (Waiting has timeout and deadline forms;
/// a wait that never blocks would never be notified, so there is no `try_wait`.) Prefer
/// [`wait_for`](ConditionGuard::wait_for) with a predicate over shared state: it cannot miss a
/// notification that came before the wait.
///
/// ```rust,standalone_crate
/// use multiproc::{Condition, Value};
///
/// fn stage_2((cond, ready): (Condition, Value<u8>)) {
///     let mut g = cond.acquire().unwrap();
///     g.wait_for(|| ready.get() == 1).unwrap();
/// }
///
/// fn main() {
///     multiproc::init();
///     let cond = Condition::new();
///     let ready = Value::new(0u8);
///     let child = multiproc::spawn(stage_2, (cond.clone(), ready.clone()));
///     let g = cond.acquire().unwrap();
///     ready.set(1);
///     g.notify_all();
///     drop(g);
///     child.join().unwrap();
/// }
/// ```
#[derive(Clone)]
pub struct Condition {
    map: Arc<Mapping>,
    lock: Under,
}

impl Condition {
    /// A condition over a new [`RLock`] (Python's default).
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; see [`Condition::try_new`].
    pub fn new() -> Condition {
        Condition::try_new().expect("cannot create the shared memory of a Condition")
    }

    /// A condition over a new [`RLock`], or the operating system's refusal.
    pub fn try_new() -> std::io::Result<Condition> {
        Condition::make(Under::RLock(RLock::try_new()?))
    }

    /// A condition over `lock` (Python's `Condition(lock)`).
    ///
    /// # Panics
    /// If the operating system refuses the shared memory.
    pub fn with_lock(lock: Lock) -> Condition {
        Condition::make(Under::Lock(lock)).expect("cannot create the shared memory of a Condition")
    }

    /// A condition over the recursive `lock`.
    ///
    /// # Panics
    /// If the operating system refuses the shared memory.
    pub fn with_rlock(lock: RLock) -> Condition {
        Condition::make(Under::RLock(lock)).expect("cannot create the shared memory of a Condition")
    }

    fn make(lock: Under) -> std::io::Result<Condition> {
        let map = Mapping::anonymous("multiproc-condition", LEN)?;
        map.u32_at(0).store(MAGIC, Release);
        Ok(Condition {
            map: Arc::new(map),
            lock,
        })
    }

    fn word(&self, off: usize) -> &AtomicU32 {
        self.map.u32_at(off)
    }

    fn guard<'a>(&'a self, held: Held<'a>) -> ConditionGuard<'a> {
        ConditionGuard { cond: self, held }
    }

    /// Blocks until the condition's lock is held (Python's `acquire()`, or `with cond:`).
    pub fn acquire(&self) -> AcquireResult<ConditionGuard<'_>> {
        match &self.lock {
            Under::Lock(l) => {
                let wrap = |g| self.guard(Held::Lock(g));
                l.acquire().map(wrap).map_err(|e| e.map(wrap))
            }
            Under::RLock(l) => {
                let wrap = |g| self.guard(Held::RLock(g));
                l.acquire().map(wrap).map_err(|e| e.map(wrap))
            }
        }
    }

    /// Acquires the condition's lock if it is free.
    pub fn try_acquire(&self) -> Result<ConditionGuard<'_>, TryAcquireError<ConditionGuard<'_>>> {
        match &self.lock {
            Under::Lock(l) => {
                let wrap = |g| self.guard(Held::Lock(g));
                l.try_acquire().map(wrap).map_err(|e| e.map(wrap))
            }
            Under::RLock(l) => {
                let wrap = |g| self.guard(Held::RLock(g));
                l.try_acquire().map(wrap).map_err(|e| e.map(wrap))
            }
        }
    }

    /// Waits at most `timeout` for the condition's lock.
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ConditionGuard<'_>, AcquireTimeoutError<ConditionGuard<'_>>> {
        self.acquire_deadline(deadline_after(timeout))
    }

    /// Waits until `deadline` at most for the condition's lock.
    pub fn acquire_deadline(
        &self,
        deadline: Instant,
    ) -> Result<ConditionGuard<'_>, AcquireTimeoutError<ConditionGuard<'_>>> {
        match &self.lock {
            Under::Lock(l) => {
                let wrap = |g| self.guard(Held::Lock(g));
                l.acquire_deadline(deadline)
                    .map(wrap)
                    .map_err(|e| e.map(wrap))
            }
            Under::RLock(l) => {
                let wrap = |g| self.guard(Held::RLock(g));
                l.acquire_deadline(deadline)
                    .map(wrap)
                    .map_err(|e| e.map(wrap))
            }
        }
    }

    /// How many processes (or threads) wait on the condition and have not been notified.
    pub fn n_waiting(&self) -> u32 {
        self.word(WAITERS).load(Relaxed)
    }

    /// Takes one granted wake-up, if one is left.
    fn take_token(&self) -> bool {
        let t = self.word(TOKENS);
        let mut cur = t.load(Relaxed);
        while cur > 0 {
            match t.compare_exchange_weak(cur, cur - 1, AcqRel, Relaxed) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
        false
    }
}

impl Default for Condition {
    fn default() -> Self {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .field("waiting", &self.n_waiting())
            .finish()
    }
}

#[derive(Serialize)]
struct WireRef<'a> {
    map: &'a Mapping,
    lock: &'a Under,
}

#[derive(Deserialize)]
struct Wire {
    map: Mapping,
    lock: Under,
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WireRef {
            map: &self.map,
            lock: &self.lock,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        let map = mapping::checked(w.map, "Condition", MAGIC, LEN)?;
        Ok(Condition {
            map: Arc::new(map),
            lock: w.lock,
        })
    }
}

enum Held<'a> {
    Lock(LockGuard<'a>),
    RLock(RLockGuard<'a>),
}

/// The condition's lock, held. Waiting and notifying happen through it.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a> {
    cond: &'a Condition,
    held: Held<'a>,
}

impl ConditionGuard<'_> {
    /// Releases the lock, waits until notified (Python's `wait()`), and takes the lock back.
    ///
    /// `Err` if the lock, while this waiter did not hold it, was held by a process that died:
    /// the lock is held again all the same.
    pub fn wait(&mut self) -> Result<(), HolderDied<()>> {
        self.wait_until(None).map(drop).map_err(|d| d.map(drop))
    }

    /// Waits at most `timeout` to be notified (Python's `wait(timeout)`); returns whether it
    /// was. The lock is held again when it returns, either way.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<bool, HolderDied<bool>> {
        self.wait_until(Some(deadline_after(timeout)))
    }

    /// Waits until `deadline` at most to be notified; returns whether it was.
    pub fn wait_deadline(&mut self, deadline: Instant) -> Result<bool, HolderDied<bool>> {
        self.wait_until(Some(deadline))
    }

    /// Waits until `predicate` is true (Python's `wait_for(predicate)`). The predicate is
    /// called with the lock held, first before any wait, so a change made (and notified) before
    /// this call is not missed.
    pub fn wait_for(&mut self, mut predicate: impl FnMut() -> bool) -> Result<(), HolderDied<()>> {
        let mut died = None;
        while !predicate() {
            if let Err(d) = self.wait() {
                died = Some(d.holder());
            }
        }
        match died {
            Some(id) => Err(HolderDied::new((), id)),
            None => Ok(()),
        }
    }

    /// Waits at most `timeout` for `predicate` to be true (Python's `wait_for(predicate,
    /// timeout)`); returns the predicate's last value.
    pub fn wait_for_timeout(
        &mut self,
        predicate: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<bool, HolderDied<bool>> {
        self.wait_for_deadline(predicate, deadline_after(timeout))
    }

    /// Waits until `deadline` at most for `predicate` to be true; returns its last value.
    pub fn wait_for_deadline(
        &mut self,
        mut predicate: impl FnMut() -> bool,
        deadline: Instant,
    ) -> Result<bool, HolderDied<bool>> {
        let mut died = None;
        let mut result = predicate();
        while !result {
            if Instant::now() >= deadline {
                break;
            }
            if let Err(d) = self.wait_until(Some(deadline)) {
                died = Some(d.holder());
            }
            result = predicate();
        }
        match died {
            Some(id) => Err(HolderDied::new(result, id)),
            None => Ok(result),
        }
    }

    /// Wakes at most `n` of the waiters (Python's `notify(n)`). Wakes none if none waits.
    pub fn notify(&self, n: u32) {
        let c = self.cond;
        // The lock is held: no waiter registers or gives up meanwhile.
        let k = n.min(c.word(WAITERS).load(Relaxed));
        if k == 0 {
            return;
        }
        c.word(WAITERS).fetch_sub(k, Relaxed);
        c.word(TOKENS).fetch_add(k, Release);
        let epoch = c.word(GEN);
        epoch.fetch_add(1, Release);
        futex::wake(epoch, k);
    }

    /// Wakes every waiter (Python's `notify_all()`).
    pub fn notify_all(&self) {
        self.notify(u32::MAX);
    }

    /// The condition this guard belongs to.
    pub fn condition(&self) -> &Condition {
        self.cond
    }

    fn wait_until(&mut self, deadline: Option<Instant>) -> Result<bool, HolderDied<bool>> {
        let c = self.cond;
        let epoch = c.word(GEN);
        // Registered with the lock held, so a notify either counts us or comes later.
        c.word(WAITERS).fetch_add(1, Relaxed);
        let registered_at = epoch.load(Acquire);
        let saved = self.release();
        let mut notified = false;
        loop {
            let g = epoch.load(Acquire);
            // Only a notify issued after we registered may wake us.
            if g != registered_at && c.take_token() {
                notified = true;
                break;
            }
            if futex::wait(epoch, g, deadline) == Wake::TimedOut {
                break;
            }
        }
        let died = self.restore(saved);
        if !notified {
            // With the lock held again: a notify that counted us while we gave up left its
            // wake-up for us to take; otherwise we leave the count of waiters.
            if epoch.load(Acquire) != registered_at && c.take_token() {
                notified = true;
            } else {
                c.word(WAITERS).fetch_sub(1, Relaxed);
            }
        }
        match died {
            Some(id) => Err(HolderDied::new(notified, id)),
            None => Ok(notified),
        }
    }

    fn release(&self) -> u32 {
        match &self.held {
            Held::Lock(g) => {
                g.release_for_wait();
                1
            }
            Held::RLock(g) => g.lock().release_all(),
        }
    }

    fn restore(&self, saved: u32) -> Option<u32> {
        match &self.held {
            Held::Lock(g) => g.reacquire(),
            Held::RLock(g) => g.lock().restore(saved),
        }
    }
}

impl fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionGuard").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_timeout_without_notify() {
        for c in [
            Condition::new(),
            Condition::with_lock(Lock::new()),
            Condition::with_rlock(RLock::new()),
        ] {
            let mut g = c.acquire().unwrap();
            let t0 = Instant::now();
            assert!(!g.wait_timeout(Duration::from_millis(30)).unwrap());
            assert!(t0.elapsed() >= Duration::from_millis(30));
            assert_eq!(c.n_waiting(), 0);
            g.notify(1); // nobody waits: a no-op
        }
    }

    #[test]
    fn notify_wakes_a_thread_waiter_and_lock_is_released_while_waiting() {
        let c = Condition::with_lock(Lock::new());
        let c2 = c.clone();
        let t = std::thread::spawn(move || {
            let mut g = c2.acquire().unwrap();
            g.wait_timeout(Duration::from_secs(5)).unwrap()
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while c.n_waiting() == 0 {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(1));
        }
        let g = c.acquire().unwrap();
        g.notify(1);
        drop(g);
        assert!(t.join().unwrap());
    }

    #[test]
    fn rlock_recursion_is_restored_after_wait() {
        let l = RLock::new();
        let c = Condition::with_rlock(l.clone());
        let _outer = l.acquire().unwrap();
        let mut g = c.acquire().unwrap();
        assert_eq!(l.count(), 2);
        assert!(!g.wait_timeout(Duration::from_millis(10)).unwrap());
        assert_eq!(l.count(), 2);
    }

    #[test]
    fn wait_for_with_timeout_returns_predicate() {
        let c = Condition::new();
        let mut g = c.acquire().unwrap();
        let t0 = Instant::now();
        assert!(
            !g.wait_for_timeout(|| false, Duration::from_millis(50))
                .unwrap()
        );
        assert!(t0.elapsed() >= Duration::from_millis(50));
        assert!(g.wait_for_timeout(|| true, Duration::ZERO).unwrap());
    }
}
