//! The futex waker: futex wakes in shared memory turned into task wakes, without a thread per
//! waiting task.
//!
//! A task that must wait for a primitive ([`Event`](crate::Event), a queue, a lock, a
//! semaphore) announces itself to the primitive exactly as a blocked thread does (a sleeper
//! count, a waiters bit), reads the word it would sleep on, and hands the word's address and
//! that value to a *waker thread* with its task's `Waker`. One waker thread waits on up to 127
//! words at once with `futex_waitv` (Linux 5.16), plus one word of its own that is bumped when
//! the set changes. When a word is woken, or no longer holds the value the task read, the
//! thread wakes every task registered on it; each task tries its operation again (without
//! blocking) and either completes or registers anew. Tasks that wait on the same word with the
//! same value share one slot, and past 127 distinct words another thread starts, so threads
//! grow with the number of distinct words being waited on, never with the number of tasks.
//!
//! **Why no wake is lost.** Every primitive changes its word before it wakes sleepers (a
//! sequence number, a count, a flag). A wake that comes while the thread is not asleep (busy
//! with an earlier wake) finds the word changed when the thread next calls `futex_waitv`,
//! which then fails with `EAGAIN`; the thread asks each word in turn (a zero-timeout
//! `FUTEX_WAIT`) which ones changed, and wakes their tasks.
//!
//! **Wakes meant for one.** A primitive that hands one permit at a time (a lock release, a
//! semaphore release, a queue item) wakes one sleeper. If the kernel picks this thread, for a
//! task that is then dropped before it tries again, the permit's wake would be lost to threads
//! sleeping on the same word; so a task dropped while waiting passes a wake on
//! ([`FutexOp::finish`]), and so does the thread when it is woken on a word whose tasks have
//! all gone (they withdrew while it slept).
//!
//! **Rechecks.** A registration may carry an instant at which its task is woken anyway (a lock
//! waiter asks periodically whether the holder still lives, as blocked threads do); the thread
//! sleeps no longer than the earliest one.
//!
//! **Older kernels.** Without `futex_waitv` (before Linux 5.16), a waker thread asks each word
//! every [`POLL_INTERVAL`] instead of sleeping on all of them: waits still end, a few
//! milliseconds later.
//!
//! The thread never reads a word itself: it hands addresses to the kernel, which reports an
//! address that was unmapped meanwhile (its task and primitive were dropped) as a fault, not a
//! crash (see `sys::futex_waitv`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::sys::futex_waitv::{self, MAX_WORDS, Probe, WaitAny};

/// How often a waker thread asks its words when the kernel has no `futex_waitv`.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// The sleeping side of one blocking operation on futex words, which [`FutexFuture`] turns
/// into a future.
pub(crate) trait FutexOp {
    /// What the operation gives when it completes.
    type Output;

    /// Tries the operation once, without blocking: its output, or the word to sleep on and the
    /// value it was seen to hold after the operation announced a sleeper.
    fn attempt(&mut self) -> Attempt<Self::Output>;

    /// Called once, after the operation completed (`completed`) or when its future is dropped
    /// before completing, if [`attempt`](FutexOp::attempt) ran at least once: withdraws what
    /// `attempt` announced (a sleeper count), and, when dropped, passes on a wake that this
    /// task may have taken from another sleeper.
    fn finish(&mut self, completed: bool) {
        let _ = completed;
    }
}

/// What one attempt of a [`FutexOp`] came to.
#[derive(Debug)]
pub(crate) enum Attempt<T> {
    /// Done.
    Ready(T),
    /// Not possible now: sleep on the word at `addr` while it holds `expected`, and until
    /// `recheck` at most.
    Sleep {
        addr: usize,
        expected: u32,
        recheck: Option<Instant>,
    },
}

impl<T> Attempt<T> {
    /// Sleep on `word` while it holds `expected` (and until `recheck` at most).
    pub(crate) fn sleep(word: &AtomicU32, expected: u32, recheck: Option<Instant>) -> Self {
        Attempt::Sleep {
            addr: word.as_ptr() as usize,
            expected,
            recheck,
        }
    }
}

/// A [`FutexOp`] as a future: each poll attempts the operation, and registers with the futex
/// waker when it must wait.
///
/// Dropping it before it completes withdraws the registration and calls
/// [`FutexOp::finish`]`(false)`; the operation has then not happened.
#[must_use = "futures do nothing unless awaited"]
pub(crate) struct FutexFuture<O: FutexOp> {
    op: O,
    registration: Option<Registration>,
    attempted: bool,
    finished: bool,
}

impl<O: FutexOp> FutexFuture<O> {
    pub(crate) fn new(op: O) -> Self {
        FutexFuture {
            op,
            registration: None,
            attempted: false,
            finished: false,
        }
    }
}

impl<O: FutexOp + Unpin> Future for FutexFuture<O> {
    type Output = O::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O::Output> {
        let this = &mut *self;
        assert!(!this.finished, "a FutexFuture polled after it completed");
        if let Some(registration) = &this.registration {
            if !registration.fired_or_update(cx.waker()) {
                return Poll::Pending;
            }
            this.registration = None;
        }
        this.attempted = true;
        match this.op.attempt() {
            Attempt::Ready(output) => {
                this.finished = true;
                this.op.finish(true);
                Poll::Ready(output)
            }
            Attempt::Sleep {
                addr,
                expected,
                recheck,
            } => {
                this.registration = Some(register(addr, expected, recheck, cx.waker()));
                Poll::Pending
            }
        }
    }
}

impl<O: FutexOp> Drop for FutexFuture<O> {
    fn drop(&mut self) {
        self.registration = None;
        if self.attempted && !self.finished {
            self.op.finish(false);
        }
    }
}

impl<O: FutexOp> std::fmt::Debug for FutexFuture<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FutexFuture")
            .field("waiting", &self.registration.is_some())
            .finish()
    }
}

/// Sleeps for about `duration` (at least until the waker thread's next turn after it), without
/// a timer of the runtime's: for the short pauses of a retry.
pub(crate) fn sleep(duration: Duration) -> FutexFuture<Pause> {
    FutexFuture::new(Pause {
        until: Instant::now() + duration,
    })
}

/// The operation behind [`sleep`]: waits on a word that never changes, until a recheck time.
#[derive(Debug)]
pub(crate) struct Pause {
    until: Instant,
}

/// A word nobody changes or wakes, to wait on until a recheck time.
static NEVER_WOKEN: AtomicU32 = AtomicU32::new(0);

impl FutexOp for Pause {
    type Output = ();

    fn attempt(&mut self) -> Attempt<()> {
        if Instant::now() >= self.until {
            Attempt::Ready(())
        } else {
            Attempt::sleep(&NEVER_WOKEN, 0, Some(self.until))
        }
    }
}

// ----- the waker threads -----

/// One task's wait.
#[derive(Debug, Default)]
struct Waiter {
    /// Whether the wait is over (its word was woken or changed, or its recheck time came), and
    /// the task's waker until then.
    state: Mutex<(bool, Option<Waker>)>,
}

impl Waiter {
    fn fire(&self) -> Option<Waker> {
        let mut st = lock(&self.state);
        st.0 = true;
        st.1.take()
    }
}

/// The tasks waiting on one word while it holds one value.
#[derive(Debug)]
struct Entry {
    addr: usize,
    expected: u32,
    recheck: Option<Instant>,
    waiters: Vec<Arc<Waiter>>,
}

/// One waker thread's words: at most [`MAX_WORDS`] - 1, besides its own `control` word.
#[derive(Debug)]
struct Shard {
    /// Bumped and woken whenever `entries` gains a word or an earlier recheck, so that the
    /// thread waits on the new set.
    control: AtomicU32,
    entries: Mutex<Vec<Entry>>,
    /// Set when the [`FutexWaker`] goes away: the thread ends.
    closed: AtomicBool,
}

/// How the waker threads wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// On all words at once, with `futex_waitv`.
    WaitMany,
    /// By asking each word every [`POLL_INTERVAL`] (no `futex_waitv`).
    Poll,
}

/// A set of waker threads.
#[derive(Debug)]
struct FutexWaker {
    mode: Mode,
    shards: Mutex<Vec<Arc<Shard>>>,
}

/// A task's registration: withdrawn when dropped.
#[derive(Debug)]
struct Registration {
    shard: Option<Arc<Shard>>,
    waiter: Arc<Waiter>,
    addr: usize,
    expected: u32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The waker threads of this process (a `fork` copy starts its own: threads do not survive
/// a fork).
fn global() -> Arc<FutexWaker> {
    static GLOBAL: Mutex<Option<(u32, Arc<FutexWaker>)>> = Mutex::new(None);
    static MODE: OnceLock<Mode> = OnceLock::new();
    let mode = *MODE.get_or_init(|| {
        if futex_waitv_works() {
            Mode::WaitMany
        } else {
            log::debug!(target: "multiproc", "no futex_waitv: async waits on shared memory poll every {POLL_INTERVAL:?}");
            Mode::Poll
        }
    });
    let pid = std::process::id();
    let mut g = lock(&GLOBAL);
    match &*g {
        Some((owner, w)) if *owner == pid => w.clone(),
        _ => {
            let w = Arc::new(FutexWaker::new(mode));
            *g = Some((pid, w.clone()));
            w
        }
    }
}

/// Whether the kernel has `futex_waitv` (a call on one word that does not hold its value
/// answers at once).
fn futex_waitv_works() -> bool {
    let word = AtomicU32::new(1);
    futex_waitv::wait_any(&[(word.as_ptr() as usize, 0)], Some(Instant::now())) == WaitAny::Changed
}

/// Registers the calling task to be woken through `waker` when the word at `addr` is woken
/// or does not hold `expected`, or at `recheck`.
fn register(addr: usize, expected: u32, recheck: Option<Instant>, waker: &Waker) -> Registration {
    global().register(addr, expected, recheck, waker)
}

impl FutexWaker {
    fn new(mode: Mode) -> FutexWaker {
        FutexWaker {
            mode,
            shards: Mutex::new(Vec::new()),
        }
    }

    fn register(
        &self,
        addr: usize,
        expected: u32,
        recheck: Option<Instant>,
        waker: &Waker,
    ) -> Registration {
        let waiter = Arc::new(Waiter {
            state: Mutex::new((false, Some(waker.clone()))),
        });
        let mut registration = Registration {
            shard: None,
            waiter: waiter.clone(),
            addr,
            expected,
        };
        let mut shards = lock(&self.shards);
        // A shard already waiting on this word and value, else one with room, else a new one.
        let mut chosen = None;
        for shard in shards.iter() {
            let mut entries = lock(&shard.entries);
            if let Some(e) = entries
                .iter_mut()
                .find(|e| e.addr == addr && e.expected == expected)
            {
                e.waiters.push(waiter.clone());
                let earlier = recheck.is_some_and(|r| e.recheck.is_none_or(|old| r < old));
                if earlier {
                    e.recheck = recheck;
                }
                drop(entries);
                if earlier {
                    shard.poke();
                }
                registration.shard = Some(shard.clone());
                return registration;
            }
            if chosen.is_none() && entries.len() < MAX_WORDS - 1 {
                chosen = Some(shard.clone());
            }
        }
        let shard = match chosen {
            Some(s) => s,
            None => match self.start_shard() {
                Some(s) => {
                    shards.push(s.clone());
                    s
                }
                None => {
                    // No thread could be started: the task is woken at once and tries again,
                    // so it waits by polling rather than forever.
                    log::error!(target: "multiproc", "cannot start a futex waker thread; an async wait polls instead");
                    if let Some(w) = waiter.fire() {
                        w.wake();
                    }
                    return registration;
                }
            },
        };
        drop(shards);
        lock(&shard.entries).push(Entry {
            addr,
            expected,
            recheck,
            waiters: vec![waiter],
        });
        shard.poke();
        registration.shard = Some(shard);
        registration
    }

    fn start_shard(&self) -> Option<Arc<Shard>> {
        let shard = Arc::new(Shard {
            control: AtomicU32::new(0),
            entries: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        });
        let s = shard.clone();
        let mode = self.mode;
        std::thread::Builder::new()
            .name("multiproc-futex".into())
            .spawn(move || s.run(mode))
            .ok()?;
        Some(shard)
    }
}

impl Drop for FutexWaker {
    /// Ends the threads. (Only tests drop a `FutexWaker`; the process's own lives as long as
    /// the process, or is forgotten by a `fork` copy, where its threads do not exist.)
    fn drop(&mut self) {
        for shard in lock(&self.shards).iter() {
            shard.closed.store(true, Ordering::SeqCst);
            shard.poke();
        }
    }
}

impl Shard {
    /// Makes the thread look at its entries again.
    fn poke(&self) {
        self.control.fetch_add(1, Ordering::SeqCst);
        crate::sys::futex::wake_all(&self.control);
    }

    fn run(&self, mut mode: Mode) {
        while !self.closed.load(Ordering::SeqCst) {
            let ctl = self.control.load(Ordering::SeqCst);
            let (words, recheck) = {
                let entries = lock(&self.entries);
                let mut words = Vec::with_capacity(entries.len() + 1);
                words.push((self.control.as_ptr() as usize, ctl));
                words.extend(entries.iter().map(|e| (e.addr, e.expected)));
                (words, entries.iter().filter_map(|e| e.recheck).min())
            };
            match mode {
                Mode::WaitMany => match futex_waitv::wait_any(&words, recheck) {
                    WaitAny::Woken(0) | WaitAny::Interrupted => {}
                    WaitAny::Woken(i) => {
                        if !self.fire(|e| (e.addr, e.expected) == words[i]) {
                            // Its tasks went away while this thread slept on the word, and the
                            // wake may have been the one a waker meant for another sleeper (a
                            // blocked thread): pass it on.
                            futex_waitv::wake_addr(words[i].0, 1);
                        }
                    }
                    WaitAny::Changed | WaitAny::Fault => self.fire_changed(),
                    WaitAny::TimedOut => {}
                    WaitAny::Unsupported => {
                        log::warn!(target: "multiproc", "futex_waitv refused; async waits on shared memory poll instead");
                        mode = Mode::Poll;
                    }
                },
                Mode::Poll => {
                    let until = Instant::now() + POLL_INTERVAL;
                    let until = recheck.map_or(until, |r| r.min(until));
                    crate::sys::futex::wait(&self.control, ctl, Some(until));
                    self.fire_changed();
                }
            }
            let now = Instant::now();
            let _ = self.fire(|e| e.recheck.is_some_and(|r| r <= now));
        }
    }

    /// Wakes the tasks of every word that no longer holds its value (or is no longer mapped).
    fn fire_changed(&self) {
        let words: Vec<(usize, u32)> = lock(&self.entries)
            .iter()
            .map(|e| (e.addr, e.expected))
            .collect();
        let changed: Vec<(usize, u32)> = words
            .into_iter()
            .filter(|&(addr, expected)| futex_waitv::probe(addr, expected) != Probe::Same)
            .collect();
        if !changed.is_empty() {
            let _ = self.fire(|e| changed.contains(&(e.addr, e.expected)));
        }
    }

    /// Removes the entries that `which` picks and wakes their tasks; `false` if it picked none.
    fn fire(&self, which: impl Fn(&Entry) -> bool) -> bool {
        let fired: Vec<Entry> = {
            let mut entries = lock(&self.entries);
            let mut fired = Vec::new();
            let mut i = 0;
            while i < entries.len() {
                if which(&entries[i]) {
                    fired.push(entries.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            fired
        };
        for waker in fired
            .iter()
            .flat_map(|e| &e.waiters)
            .filter_map(|w| w.fire())
        {
            waker.wake();
        }
        !fired.is_empty()
    }
}

impl Registration {
    /// Whether the wait is over; if not, `waker` is the one to wake.
    fn fired_or_update(&self, waker: &Waker) -> bool {
        let mut st = lock(&self.waiter.state);
        if st.0 {
            return true;
        }
        if !st.1.as_ref().is_some_and(|w| w.will_wake(waker)) {
            st.1 = Some(waker.clone());
        }
        false
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let Some(shard) = &self.shard else { return };
        if lock(&self.waiter.state).0 {
            return;
        }
        let mut entries = lock(&shard.entries);
        if let Some(i) = entries
            .iter()
            .position(|e| e.addr == self.addr && e.expected == self.expected)
        {
            entries[i].waiters.retain(|w| !Arc::ptr_eq(w, &self.waiter));
            if entries[i].waiters.is_empty() {
                entries.swap_remove(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Count(AtomicU32, AtomicBool);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
            self.1.store(true, Ordering::SeqCst);
        }
    }

    fn wait_for(flag: &AtomicBool) -> bool {
        let d = Instant::now() + Duration::from_secs(10);
        while !flag.load(Ordering::SeqCst) {
            if Instant::now() > d {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    fn both_modes(test: impl Fn(&FutexWaker)) {
        for mode in [Mode::WaitMany, Mode::Poll] {
            if mode == Mode::WaitMany && !futex_waitv_works() {
                continue;
            }
            test(&FutexWaker::new(mode));
        }
    }

    #[test]
    fn a_change_and_wake_fires_the_registration() {
        both_modes(|fw| {
            let word = AtomicU32::new(7);
            let count = Arc::new(Count::default());
            let waker = Waker::from(count.clone());
            let r = fw.register(word.as_ptr() as usize, 7, None, &waker);
            std::thread::sleep(Duration::from_millis(20));
            assert!(!count.1.load(Ordering::SeqCst), "fired before any change");
            word.store(8, Ordering::SeqCst);
            crate::sys::futex::wake_all(&word);
            assert!(wait_for(&count.1), "not fired");
            assert!(r.fired_or_update(&waker));
        });
    }

    #[test]
    fn a_stale_value_fires_at_once() {
        both_modes(|fw| {
            let word = AtomicU32::new(1);
            let count = Arc::new(Count::default());
            let _r = fw.register(word.as_ptr() as usize, 0, None, &Waker::from(count.clone()));
            assert!(wait_for(&count.1));
        });
    }

    #[test]
    fn a_change_without_a_wake_is_noticed() {
        both_modes(|fw| {
            // Two words: the second changes while the thread is awake for the first.
            let (a, b) = (AtomicU32::new(0), AtomicU32::new(0));
            let (ca, cb) = (Arc::new(Count::default()), Arc::new(Count::default()));
            let _ra = fw.register(a.as_ptr() as usize, 0, None, &Waker::from(ca.clone()));
            let _rb = fw.register(b.as_ptr() as usize, 0, None, &Waker::from(cb.clone()));
            std::thread::sleep(Duration::from_millis(20));
            a.store(1, Ordering::SeqCst);
            b.store(1, Ordering::SeqCst);
            crate::sys::futex::wake_all(&a);
            assert!(wait_for(&ca.1) && wait_for(&cb.1));
        });
    }

    #[test]
    fn the_recheck_time_fires() {
        both_modes(|fw| {
            let word = AtomicU32::new(0);
            let count = Arc::new(Count::default());
            let t0 = Instant::now();
            let _r = fw.register(
                word.as_ptr() as usize,
                0,
                Some(t0 + Duration::from_millis(30)),
                &Waker::from(count.clone()),
            );
            assert!(wait_for(&count.1));
            assert!(t0.elapsed() >= Duration::from_millis(30));
        });
    }

    #[test]
    fn a_dropped_registration_is_withdrawn_and_never_fires() {
        both_modes(|fw| {
            let word = AtomicU32::new(0);
            let count = Arc::new(Count::default());
            let r = fw.register(word.as_ptr() as usize, 0, None, &Waker::from(count.clone()));
            drop(r);
            let shards = lock(&fw.shards);
            assert!(shards.iter().all(|s| lock(&s.entries).is_empty()));
            drop(shards);
            word.store(1, Ordering::SeqCst);
            crate::sys::futex::wake_all(&word);
            std::thread::sleep(Duration::from_millis(30));
            assert_eq!(count.0.load(Ordering::SeqCst), 0);
        });
    }

    #[test]
    fn many_words_spread_over_threads() {
        both_modes(|fw| {
            let words: Vec<AtomicU32> = (0..300).map(|_| AtomicU32::new(0)).collect();
            let counts: Vec<Arc<Count>> = (0..300).map(|_| Arc::default()).collect();
            let regs: Vec<Registration> = words
                .iter()
                .zip(&counts)
                .map(|(w, c)| fw.register(w.as_ptr() as usize, 0, None, &Waker::from(c.clone())))
                .collect();
            assert!(lock(&fw.shards).len() >= 3);
            for w in &words {
                w.store(1, Ordering::SeqCst);
                crate::sys::futex::wake_all(w);
            }
            for c in &counts {
                assert!(wait_for(&c.1));
            }
            drop(regs);
        });
    }

    #[test]
    fn sleep_lasts_about_its_duration() {
        let t0 = Instant::now();
        let fut = sleep(Duration::from_millis(30));
        block_on(fut);
        assert!(t0.elapsed() >= Duration::from_millis(30));
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    /// Polls `fut` on this thread until it completes.
    fn block_on<F: Future + Unpin>(mut fut: F) -> F::Output {
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(v) = Pin::new(&mut fut).poll(&mut cx) {
                return v;
            }
            assert!(wait_for(&count.1), "never woken");
            count.1.store(false, Ordering::SeqCst);
        }
    }
}
