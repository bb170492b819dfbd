//! Waiting for events, locks and semaphores from async code (feature `tokio`), through the
//! futex waker (see `crate::reactor::futex`): a waiting task announces itself to the primitive
//! as a blocked thread would, and the waker thread wakes it when the word changes.

use std::future::Future;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};
use std::time::Instant;

use super::event::{SET, WAITERS as EVENT_WAITERS};
use super::owner;
use super::raw_lock::{self, CHECK_INTERVAL, Step, Taken};
use super::semaphore::Sem;
use super::{
    AcquireResult, BoundedSemaphore, Event, HolderDied, Lock, LockGuard, Semaphore, SemaphoreGuard,
};
use crate::reactor::futex::{Attempt, FutexFuture, FutexOp};
use crate::sys::futex;

// ----- Event -----

/// Waiting for an event's flag: sets the waiters bit, then sleeps on the flag word.
struct EventWait<'a> {
    word: &'a AtomicU32,
}

impl FutexOp for EventWait<'_> {
    type Output = ();

    fn attempt(&mut self) -> Attempt<()> {
        let w = self.word;
        loop {
            let s = w.load(Acquire);
            if s & SET != 0 {
                return Attempt::Ready(());
            }
            if s & EVENT_WAITERS == 0
                && w.compare_exchange(s, s | EVENT_WAITERS, Relaxed, Relaxed)
                    .is_err()
            {
                continue;
            }
            return Attempt::sleep(w, s | EVENT_WAITERS, None);
        }
    }
    // `set` wakes every waiter: a dropped wait takes no wake from anyone.
}

impl Event {
    /// Waits until the flag is set, without blocking the thread: [`wait`](Event::wait) for
    /// async code. Bound it with `tokio::time::timeout` (Python's `wait(timeout)`).
    ///
    /// The task waits through multiproc's futex waker thread (see the crate's "Async" part),
    /// so any number of tasks wait at no thread's cost, on any async runtime.
    /// **Cancellation** loses nothing: dropping the future withdraws the wait.
    ///
    /// ```rust,standalone_crate
    /// fn setter(e: multiproc::Event) {
    ///     std::thread::sleep(std::time::Duration::from_millis(50));
    ///     e.set();
    /// }
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     let e = multiproc::Event::new();
    ///     let child = multiproc::spawn(setter, e.clone());
    ///     e.wait_async().await;
    ///     assert!(e.is_set());
    ///     child.join_async().await.unwrap();
    /// }
    /// ```
    pub fn wait_async(&self) -> impl Future<Output = ()> + Send + '_ {
        FutexFuture::new(EventWait { word: self.word() })
    }
}

// ----- Lock -----

/// Acquiring a lock: the blocked acquirer's steps (`raw_lock::lock_step`), one attempt at a
/// time.
struct LockAcquire<'a> {
    word: &'a AtomicU32,
    me: u32,
    /// Whether this task set the waiters bit (and may have taken a release's one wake).
    announced: bool,
    /// When to ask next whether the holder still lives.
    check_at: Instant,
}

impl FutexOp for LockAcquire<'_> {
    type Output = Taken;

    fn attempt(&mut self) -> Attempt<Taken> {
        if !self.announced {
            if let Some(taken) = raw_lock::try_lock(self.word, self.me) {
                return Attempt::Ready(taken);
            }
            self.announced = true;
            self.check_at = Instant::now() + CHECK_INTERVAL;
        }
        match raw_lock::lock_step(self.word, self.me, &mut self.check_at) {
            Step::Taken(taken) => Attempt::Ready(taken),
            Step::Sleep(s) => Attempt::sleep(self.word, s, Some(self.check_at)),
        }
    }

    fn finish(&mut self, completed: bool) {
        if !completed && self.announced {
            // A release wakes one sleeper: if that was this task, pass it on.
            futex::wake(self.word, 1);
        }
    }
}

impl Lock {
    /// Acquires the lock without blocking the thread: [`acquire`](Lock::acquire) for async
    /// code. Bound it with `tokio::time::timeout`.
    ///
    /// As with `acquire`, a holder that died is noticed (within a few tens of milliseconds)
    /// and the guard comes back inside [`HolderDied`]. The lock belongs to this process, not
    /// to a thread, so the guard may be held across `.await`s on a multi-thread runtime.
    /// **Cancellation** loses nothing: a dropped future holds nothing, and passes on a wake
    /// it may have taken from another waiter.
    ///
    /// ```rust,standalone_crate
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     let lock = multiproc::Lock::new();
    ///     let held = lock.acquire_async().await.unwrap();
    ///     let busy = tokio::time::timeout(std::time::Duration::from_millis(10), lock.acquire_async());
    ///     assert!(busy.await.is_err());
    ///     drop(held);
    ///     let _again = lock.acquire_async().await.unwrap();
    /// }
    /// ```
    pub fn acquire_async(&self) -> impl Future<Output = AcquireResult<LockGuard<'_>>> + Send + '_ {
        let me = owner::process_word();
        let op = LockAcquire {
            word: self.word(),
            me,
            announced: false,
            check_at: Instant::now(),
        };
        async move {
            let guard = || LockGuard { lock: self, me };
            match FutexFuture::new(op).await {
                Taken::Clean => Ok(guard()),
                Taken::HolderDied(id) => Err(HolderDied::new(guard(), id)),
            }
        }
    }
}

// ----- Semaphore, BoundedSemaphore -----

/// Taking a unit of a semaphore's count: counts itself among the sleepers, then sleeps on
/// the count while it is 0.
struct SemAcquire<'a> {
    sem: &'a Sem,
    announced: bool,
}

impl FutexOp for SemAcquire<'_> {
    type Output = ();

    fn attempt(&mut self) -> Attempt<()> {
        if self.sem.try_take() {
            return Attempt::Ready(());
        }
        if !self.announced {
            self.announced = true;
            self.sem.sleepers().fetch_add(1, SeqCst);
            // A release that came before the count went up did not see us: look again.
            if self.sem.try_take() {
                return Attempt::Ready(());
            }
        }
        Attempt::sleep(self.sem.value(), 0, None)
    }

    fn finish(&mut self, completed: bool) {
        if !self.announced {
            return;
        }
        self.sem.sleepers().fetch_sub(1, SeqCst);
        if !completed && self.sem.value().load(SeqCst) > 0 {
            // A release wakes one sleeper: if that was this task, pass it on.
            futex::wake(self.sem.value(), 1);
        }
    }
}

impl Sem {
    fn acquire_async(&self) -> impl Future<Output = SemaphoreGuard<'_>> + Send + '_ {
        let op = SemAcquire {
            sem: self,
            announced: false,
        };
        async move {
            FutexFuture::new(op).await;
            SemaphoreGuard { sem: self }
        }
    }
}

impl Semaphore {
    /// Waits without blocking the thread until the count is above zero, then decrements it:
    /// [`acquire`](Semaphore::acquire) for async code. Bound it with `tokio::time::timeout`.
    /// **Cancellation** loses nothing: a dropped future took no unit, and passes on a wake it
    /// may have taken from another waiter.
    ///
    /// ```rust,standalone_crate
    /// fn give(s: multiproc::Semaphore) {
    ///     s.release().unwrap();
    /// }
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     let s = multiproc::Semaphore::new(0);
    ///     let child = multiproc::spawn(give, s.clone());
    ///     let unit = s.acquire_async().await;
    ///     std::mem::forget(unit); // keep the count at 0
    ///     assert_eq!(s.get_value(), 0);
    ///     child.join_async().await.unwrap();
    /// }
    /// ```
    pub fn acquire_async(&self) -> impl Future<Output = SemaphoreGuard<'_>> + Send + '_ {
        self.sem.acquire_async()
    }
}

impl BoundedSemaphore {
    /// Waits without blocking the thread until the count is above zero, then decrements it:
    /// [`acquire`](BoundedSemaphore::acquire) for async code (see
    /// [`Semaphore::acquire_async`]).
    pub fn acquire_async(&self) -> impl Future<Output = SemaphoreGuard<'_>> + Send + '_ {
        self.sem.acquire_async()
    }
}
