//! [`Barrier`]: a meeting point for a fixed number of parties.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::owner;
use super::raw_lock::CHECK_INTERVAL;
use super::spin;
use crate::shared::mapping::{self, Mapping};
use crate::sys::fd::deadline_after;
use crate::sys::futex;

const MAGIC: u32 = mapping::magic(b"BARR");
/// Bumped after every change waiters must see: the futex word.
const WAKE: usize = 4;
/// The state word, see [`State`].
const STATE: usize = 8;
const PARTIES: usize = 16;
/// The pid of the party whose death broke the barrier.
const DEAD_PARTY: usize = 20;
/// The default timeout of `wait`, in nanoseconds; 0 for none.
const TIMEOUT: usize = 24;
/// How long recent waits took (see `spin`).
const SPIN_HINT: usize = 32;
/// Owner words of the processes that take part (see [`Barrier`]'s robustness notes).
const MEMBERS: usize = 40;
const MAX_MEMBERS: usize = 1024;

/// The most parties a barrier can have.
pub const MAX_PARTIES: u32 = u16::MAX as u32;

const BROKEN: u8 = 1;

/// The barrier's state in one atomic word: generation, arrivals in this generation, what the
/// last generation changes were (bit 0 the latest: 1 for a reset, 0 for a normal passage), and
/// the broken flag with its reason.
#[derive(Clone, Copy, PartialEq, Eq)]
struct State(u64);

impl State {
    fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }
    fn count(self) -> u32 {
        ((self.0 >> 16) & 0xffff) as u32
    }
    fn history(self) -> u8 {
        (self.0 >> 8) as u8
    }
    fn flags(self) -> u8 {
        self.0 as u8
    }
    fn broken(self) -> bool {
        self.flags() & BROKEN != 0
    }
    fn make(epoch: u32, count: u32, history: u8, flags: u8) -> State {
        State(
            (u64::from(epoch) << 32)
                | (u64::from(count & 0xffff) << 16)
                | (u64::from(history) << 8)
                | u64::from(flags),
        )
    }
    /// The next generation, after a passage (`reset == false`) or a reset.
    fn next(self, reset: bool) -> State {
        State::make(
            self.epoch().wrapping_add(1),
            0,
            (self.history() << 1) | u8::from(reset),
            0,
        )
    }
}

/// Why a barrier is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BrokenReason {
    /// [`Barrier::abort`] was called.
    Aborted,
    /// A party's wait timed out.
    TimedOut,
    /// A process that takes part died (or panicked) without leaving the barrier.
    PartyDied {
        /// Its process id.
        pid: u32,
    },
    /// The action panicked.
    ActionPanicked,
    /// [`Barrier::reset`] was called while this party waited.
    Reset,
}

impl BrokenReason {
    fn code(self) -> u8 {
        match self {
            BrokenReason::Aborted => 1,
            BrokenReason::TimedOut => 2,
            BrokenReason::PartyDied { .. } => 3,
            BrokenReason::ActionPanicked => 4,
            BrokenReason::Reset => 5,
        }
    }
}

impl fmt::Display for BrokenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokenReason::Aborted => f.write_str("it was aborted"),
            BrokenReason::TimedOut => f.write_str("a party timed out"),
            BrokenReason::PartyDied { pid } => write!(f, "party process {pid} died"),
            BrokenReason::ActionPanicked => f.write_str("its action panicked"),
            BrokenReason::Reset => f.write_str("it was reset"),
        }
    }
}

/// Why a barrier wait did not pass.
#[doc(alias = "BrokenBarrierError")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum BarrierError {
    /// The barrier is broken (Python's `BrokenBarrierError`).
    #[error("the barrier is broken: {0}")]
    Broken(BrokenReason),
    /// This wait timed out; the barrier is now broken for the other parties.
    #[error("timed out waiting at the barrier")]
    Timeout,
}

/// Why a [`Barrier::try_wait`] did not pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum TryBarrierError {
    /// This call would not complete the barrier; nothing changed.
    #[error("the barrier needs more parties")]
    WouldBlock,
    /// The barrier is broken.
    #[error("the barrier is broken: {0}")]
    Broken(BrokenReason),
}

/// What the last party to arrive runs before the barrier releases everyone.
///
/// Implemented by every closure or function `Fn()` that captures nothing, and by
/// [`NoAction`]. The action must not capture state, because the party that runs it may be any
/// process: the type alone must say what it does.
pub trait BarrierAction: Copy + Send + Sync + 'static {
    /// Runs the action.
    fn run(&self);
}

impl<F: Fn() + Copy + Send + Sync + 'static> BarrierAction for F {
    fn run(&self) {
        self()
    }
}

/// The action of a barrier made without one: nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoAction;

impl BarrierAction for NoAction {
    fn run(&self) {}
}

/// The memory, and this process's membership slot.
struct Inner {
    map: Mapping,
    slot: OnceLock<Option<usize>>,
}

impl Inner {
    fn word(&self, off: usize) -> &AtomicU32 {
        self.map.u32_at(off)
    }
    fn state(&self) -> &AtomicU64 {
        self.map.u64_at(STATE)
    }
    fn parties(&self) -> u32 {
        self.word(PARTIES).load(Relaxed)
    }
    fn member_slots(&self) -> usize {
        ((self.map.len() - MEMBERS) / 4).min(MAX_MEMBERS)
    }
    fn member(&self, i: usize) -> &AtomicU32 {
        self.word(MEMBERS + 4 * i)
    }

    /// Wakes every waiter after a state change.
    fn wake_all(&self) {
        let w = self.word(WAKE);
        w.fetch_add(1, Release);
        futex::wake_all(w);
    }

    /// Breaks the barrier for `reason`, unless it is already broken.
    fn break_with(&self, reason: BrokenReason) {
        if let BrokenReason::PartyDied { pid } = reason {
            self.word(DEAD_PARTY).store(pid, Relaxed);
        }
        let st = self.state();
        let mut cur = State(st.load(Acquire));
        while !cur.broken() {
            let next = State::make(
                cur.epoch(),
                cur.count(),
                cur.history(),
                BROKEN | (reason.code() << 1),
            );
            match st.compare_exchange(cur.0, next.0, AcqRel, Acquire) {
                Ok(_) => break,
                Err(now) => cur = State(now),
            }
        }
        self.wake_all();
    }

    fn reason(&self, s: State) -> BrokenReason {
        match s.flags() >> 1 {
            1 => BrokenReason::Aborted,
            2 => BrokenReason::TimedOut,
            3 => BrokenReason::PartyDied {
                pid: self.word(DEAD_PARTY).load(Relaxed),
            },
            4 => BrokenReason::ActionPanicked,
            _ => BrokenReason::Reset,
        }
    }

    /// Records this process as taking part, once per handle family.
    fn join(&self) {
        self.slot.get_or_init(|| {
            let me = owner::process_word();
            (0..self.member_slots()).find(|&i| {
                self.member(i)
                    .compare_exchange(0, me, AcqRel, Relaxed)
                    .is_ok()
            })
        });
    }

    /// Breaks the barrier if a member process died; frees its slot.
    fn check_members(&self) -> bool {
        let me = owner::process_word();
        for i in 0..self.member_slots() {
            let w = self.member(i).load(Acquire);
            if w != 0 && w != me && !owner::is_alive(w) {
                if self
                    .member(i)
                    .compare_exchange(w, 0, AcqRel, Relaxed)
                    .is_ok()
                {
                    self.break_with(BrokenReason::PartyDied {
                        pid: owner::id_of(w),
                    });
                }
                return true;
            }
        }
        false
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(Some(i)) = self.slot.get() {
            let me = owner::process_word();
            if std::thread::panicking() {
                // A party unwinding out of its work will not come back: let the others know.
                self.break_with(BrokenReason::PartyDied {
                    pid: owner::id_of(me),
                });
            }
            let _ = self.member(*i).compare_exchange(me, 0, AcqRel, Relaxed);
        }
    }
}

/// A barrier that processes share (Python's `multiprocessing.Barrier`).
///
/// `parties` processes (or threads) call [`wait`](Barrier::wait); each blocks until all have,
/// then all go on. Each gets a distinct index in `0..parties`. The last to arrive runs the
/// barrier's action first, if it has one. The barrier then starts over, ready for the next
/// round.
///
/// The barrier **breaks** (every waiter and later caller gets [`BarrierError::Broken`]) when it
/// is [aborted](Barrier::abort), when a wait times out, when the action panics, and, unlike in
/// Python, when a process that took part dies: a process that has waited on the barrier is a
/// member until it drops its handle; if it ends without doing so (killed, or unwinding from a
/// panic), the parties still waiting learn it within a few tens of milliseconds.
/// [`reset`](Barrier::reset) makes a broken barrier usable again.
///
/// ```rust,standalone_crate
/// use multiproc::Barrier;
///
/// fn party(b: Barrier) -> usize {
///     b.wait().unwrap()
/// }
///
/// fn main() {
///     multiproc::init();
///     let b = Barrier::new(3);
///     let kids: Vec<_> = (0..2).map(|_| multiproc::spawn(party, b.clone())).collect();
///     let mut indices = vec![b.wait().unwrap()];
///     indices.extend(kids.into_iter().map(|k| k.join().unwrap()));
///     indices.sort();
///     assert_eq!(indices, [0, 1, 2]);
/// }
/// ```
///
/// An action is any function or closure without captures; its type is part of the barrier's,
/// so that a party in another process knows what to run:
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// fn announce() { println!("all arrived"); }
/// let b = multiproc::Barrier::try_with_action(1, announce)?;
/// assert_eq!(b.wait(), Ok(0)); // prints "all arrived"
/// # Ok(()) }
/// ```
pub struct Barrier<A: BarrierAction = NoAction> {
    inner: Arc<Inner>,
    action: A,
}

impl Barrier<NoAction> {
    /// A barrier for `parties` parties, without action or default timeout.
    ///
    /// # Panics
    /// If `parties` is 0 or above [`MAX_PARTIES`], or if the operating system refuses the
    /// shared memory (see [`Barrier::try_new`]).
    pub fn new(parties: u32) -> Barrier {
        Barrier::try_new(parties).expect("cannot create the shared memory of a Barrier")
    }

    /// A barrier for `parties` parties, or the operating system's refusal.
    ///
    /// # Panics
    /// If `parties` is 0 or above [`MAX_PARTIES`].
    pub fn try_new(parties: u32) -> std::io::Result<Barrier> {
        Barrier::try_with_action(parties, NoAction)
    }
}

impl<A: BarrierAction> Barrier<A> {
    /// A barrier whose last arriving party runs `action` before everyone is released
    /// (Python's `Barrier(parties, action)`).
    ///
    /// # Panics
    /// As [`Barrier::new`]; and, at compile time, if `action` captures anything.
    pub fn with_action(parties: u32, action: A) -> Barrier<A> {
        Barrier::try_with_action(parties, action)
            .expect("cannot create the shared memory of a Barrier")
    }

    /// A barrier with an action, or the operating system's refusal.
    ///
    /// # Panics
    /// If `parties` is 0 or above [`MAX_PARTIES`].
    pub fn try_with_action(parties: u32, action: A) -> std::io::Result<Barrier<A>> {
        const {
            assert!(
                std::mem::size_of::<A>() == 0,
                "a barrier action must not capture state"
            )
        };
        assert!(
            (1..=MAX_PARTIES).contains(&parties),
            "a barrier needs between 1 and {MAX_PARTIES} parties, not {parties}"
        );
        let slots = (parties as usize).min(MAX_MEMBERS - 4) + 4;
        let map = Mapping::anonymous("multiproc-barrier", MEMBERS + 4 * slots)?;
        map.u32_at(PARTIES).store(parties, Relaxed);
        map.u32_at(0).store(MAGIC, Release);
        Ok(Barrier {
            inner: Arc::new(Inner {
                map,
                slot: OnceLock::new(),
            }),
            action,
        })
    }

    /// Gives every wait without its own timeout this one (Python's `Barrier(timeout=...)`).
    /// It is shared: every copy of the barrier, in every process, uses it.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        let ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.inner.map.u64_at(TIMEOUT).store(ns, Relaxed);
        self
    }

    /// The default timeout of [`wait`](Barrier::wait), if one was given.
    pub fn timeout(&self) -> Option<Duration> {
        match self.inner.map.u64_at(TIMEOUT).load(Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    /// The number of parties needed to pass (Python's `parties`).
    pub fn parties(&self) -> u32 {
        self.inner.parties()
    }

    /// How many parties wait now (Python's `n_waiting`); 0 when broken.
    pub fn n_waiting(&self) -> u32 {
        let s = State(self.inner.state().load(Acquire));
        if s.broken() { 0 } else { s.count() }
    }

    /// Whether the barrier is broken (Python's `broken`).
    pub fn broken(&self) -> bool {
        State(self.inner.state().load(Acquire)).broken()
    }

    /// Why the barrier is broken, if it is.
    pub fn broken_reason(&self) -> Option<BrokenReason> {
        let s = State(self.inner.state().load(Acquire));
        s.broken().then(|| self.inner.reason(s))
    }

    /// Breaks the barrier (Python's `abort()`): current and future waits fail until
    /// [`reset`](Barrier::reset).
    pub fn abort(&self) {
        self.inner.break_with(BrokenReason::Aborted);
    }

    /// Returns the barrier to its initial, empty state (Python's `reset()`). Parties waiting
    /// now get [`BrokenReason::Reset`].
    pub fn reset(&self) {
        let st = self.inner.state();
        let mut cur = State(st.load(Acquire));
        loop {
            match st.compare_exchange(cur.0, cur.next(true).0, AcqRel, Acquire) {
                Ok(_) => break,
                Err(now) => cur = State(now),
            }
        }
        self.inner.wake_all();
    }

    /// Waits until all parties have arrived (Python's `wait()`), or the default timeout if the
    /// barrier has one. Returns this party's index, distinct among the parties of the round.
    pub fn wait(&self) -> Result<usize, BarrierError> {
        let deadline = self.timeout().map(deadline_after);
        self.wait_until(deadline)
    }

    /// Waits at most `timeout` (Python's `wait(timeout)`). A timeout breaks the barrier, as
    /// in Python.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, BarrierError> {
        self.wait_until(Some(deadline_after(timeout)))
    }

    /// Waits until `deadline` at most. A timeout breaks the barrier.
    pub fn wait_deadline(&self, deadline: Instant) -> Result<usize, BarrierError> {
        self.wait_until(Some(deadline))
    }

    /// Passes the barrier if this call is the last party it waits for; otherwise changes
    /// nothing and returns [`TryBarrierError::WouldBlock`] (it does not break the barrier).
    pub fn try_wait(&self) -> Result<usize, TryBarrierError> {
        let inner = &*self.inner;
        let parties = inner.parties();
        let st = inner.state();
        let mut cur = State(st.load(Acquire));
        let arrived = loop {
            if cur.broken() {
                return Err(TryBarrierError::Broken(inner.reason(cur)));
            }
            if cur.count() + 1 != parties {
                return Err(TryBarrierError::WouldBlock);
            }
            let next = next_of(cur);
            match st.compare_exchange(cur.0, next.0, AcqRel, Acquire) {
                Ok(_) => break next,
                Err(now) => cur = State(now),
            }
        };
        inner.join();
        match self.pass(arrived) {
            Ok(i) => Ok(i),
            Err(BarrierError::Broken(r)) => Err(TryBarrierError::Broken(r)),
            Err(BarrierError::Timeout) => Err(TryBarrierError::Broken(BrokenReason::TimedOut)),
        }
    }

    /// The last party: run the action, then open the barrier.
    fn pass(&self, arrived: State) -> Result<usize, BarrierError> {
        let inner = &*self.inner;
        let index = (arrived.count() - 1) as usize;
        let action = self.action;
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| action.run())) {
            inner.break_with(BrokenReason::ActionPanicked);
            resume_unwind(panic);
        }
        match inner
            .state()
            .compare_exchange(arrived.0, arrived.next(false).0, AcqRel, Acquire)
        {
            Ok(_) => {
                inner.wake_all();
                Ok(index)
            }
            // Broken or reset while the action ran.
            Err(now) => {
                let now = State(now);
                Err(BarrierError::Broken(if now.broken() {
                    inner.reason(now)
                } else {
                    BrokenReason::Reset
                }))
            }
        }
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<usize, BarrierError> {
        let inner = &*self.inner;
        inner.join();
        let parties = inner.parties();
        let st = inner.state();
        let wake = inner.word(WAKE);
        let mut check_at = Instant::now() + CHECK_INTERVAL;
        // Arrive.
        let arrived = loop {
            let w = wake.load(Acquire);
            let cur = State(st.load(Acquire));
            if cur.broken() {
                return Err(BarrierError::Broken(inner.reason(cur)));
            }
            if cur.count() >= parties {
                // The last party of the previous round is running the action.
                self.sleep(wake, w, deadline, &mut check_at)?;
                continue;
            }
            let next = next_of(cur);
            if st.compare_exchange(cur.0, next.0, AcqRel, Acquire).is_ok() {
                break next;
            }
        };
        if arrived.count() == parties {
            return self.pass(arrived);
        }
        let index = (arrived.count() - 1) as usize;
        let my_epoch = arrived.epoch();
        let mut spun = false;
        loop {
            let w = wake.load(Acquire);
            let cur = State(st.load(Acquire));
            if cur.epoch() != my_epoch {
                // Our generation ended: by a passage, or by a reset.
                let d = cur.epoch().wrapping_sub(my_epoch);
                let reset = d <= 8 && cur.history() & (1 << (d - 1)) != 0;
                return if reset {
                    Err(BarrierError::Broken(BrokenReason::Reset))
                } else {
                    Ok(index)
                };
            }
            if cur.broken() {
                return Err(BarrierError::Broken(inner.reason(cur)));
            }
            if !spun {
                spun = true;
                spin::until(inner.word(SPIN_HINT), || wake.load(Acquire) != w);
                continue;
            }
            if let Err(e) = self.sleep(wake, w, deadline, &mut check_at) {
                // Timed out: break the barrier, unless it passed at the last moment.
                let mut cur = State(st.load(Acquire));
                while cur.epoch() == my_epoch && !cur.broken() {
                    let next = State::make(
                        cur.epoch(),
                        cur.count(),
                        cur.history(),
                        BROKEN | (BrokenReason::TimedOut.code() << 1),
                    );
                    match st.compare_exchange(cur.0, next.0, AcqRel, Acquire) {
                        Ok(_) => {
                            inner.wake_all();
                            return Err(e);
                        }
                        Err(now) => cur = State(now),
                    }
                }
                continue;
            }
        }
    }

    /// Sleeps on the wake word (seen as `w`) until woken, the deadline, or the next check of
    /// the members' lives.
    fn sleep(
        &self,
        wake: &AtomicU32,
        w: u32,
        deadline: Option<Instant>,
        check_at: &mut Instant,
    ) -> Result<(), BarrierError> {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Err(BarrierError::Timeout);
        }
        if now >= *check_at {
            *check_at = now + CHECK_INTERVAL;
            if self.inner.check_members() {
                return Ok(());
            }
        }
        let until = deadline.map_or(*check_at, |d| d.min(*check_at));
        futex::wait(wake, w, Some(until));
        Ok(())
    }
}

/// The state after one more arrival.
fn next_of(cur: State) -> State {
    State::make(cur.epoch(), cur.count() + 1, cur.history(), cur.flags())
}

impl<A: BarrierAction> Clone for Barrier<A> {
    fn clone(&self) -> Self {
        Barrier {
            inner: self.inner.clone(),
            action: self.action,
        }
    }
}

impl<A: BarrierAction> fmt::Debug for Barrier<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}

impl<A: BarrierAction> Serialize for Barrier<A> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.inner.map.serialize(s)
    }
}

impl<'de, A: BarrierAction> Deserialize<'de> for Barrier<A> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = mapping::checked(Mapping::deserialize(d)?, "Barrier", MAGIC, MEMBERS)?;
        Ok(Barrier {
            inner: Arc::new(Inner {
                map,
                slot: OnceLock::new(),
            }),
            // The action is the type's one value: it captures nothing.
            action: crate::sys::target::conjure::<A>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[test]
    fn threads_pass_in_rounds_and_action_runs_once_per_round() {
        let b = Barrier::with_action(4, || {
            RUNS.fetch_add(1, Relaxed);
        });
        let ts: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|_| b.wait_timeout(Duration::from_secs(10)).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let all: Vec<Vec<usize>> = ts.into_iter().map(|t| t.join().unwrap()).collect();
        for round in 0..50 {
            let mut idx: Vec<usize> = all.iter().map(|v| v[round]).collect();
            idx.sort();
            assert_eq!(idx, [0, 1, 2, 3]);
        }
        assert_eq!(RUNS.load(Relaxed), 50);
    }

    #[test]
    fn timeout_breaks_the_barrier_and_reset_repairs_it() {
        let b = Barrier::new(2);
        let t0 = Instant::now();
        assert_eq!(
            b.wait_timeout(Duration::from_millis(30)),
            Err(BarrierError::Timeout)
        );
        assert!(t0.elapsed() >= Duration::from_millis(30));
        assert!(b.broken());
        assert_eq!(b.wait(), Err(BarrierError::Broken(BrokenReason::TimedOut)));
        b.reset();
        assert!(!b.broken());
        assert_eq!(b.try_wait(), Err(TryBarrierError::WouldBlock));
        assert_eq!(b.n_waiting(), 0);
    }

    #[test]
    fn abort_wakes_waiters_and_reset_reports_reset() {
        let b = Barrier::new(3);
        let b2 = b.clone();
        let t = std::thread::spawn(move || b2.wait_timeout(Duration::from_secs(10)));
        while b.n_waiting() == 0 {
            std::thread::yield_now();
        }
        b.abort();
        assert_eq!(
            t.join().unwrap(),
            Err(BarrierError::Broken(BrokenReason::Aborted))
        );
        b.reset();
        let b2 = b.clone();
        let t = std::thread::spawn(move || b2.wait_timeout(Duration::from_secs(10)));
        while b.n_waiting() == 0 {
            std::thread::yield_now();
        }
        b.reset();
        assert_eq!(
            t.join().unwrap(),
            Err(BarrierError::Broken(BrokenReason::Reset))
        );
    }

    #[test]
    fn try_wait_completes_only_as_last_party() {
        let b = Barrier::new(2);
        assert_eq!(b.try_wait(), Err(TryBarrierError::WouldBlock));
        let b2 = b.clone();
        let t = std::thread::spawn(move || b2.wait_timeout(Duration::from_secs(10)));
        let deadline = Instant::now() + Duration::from_secs(10);
        let mine = loop {
            match b.try_wait() {
                Ok(i) => break i,
                Err(TryBarrierError::WouldBlock) => {
                    assert!(Instant::now() < deadline);
                    std::thread::yield_now();
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(mine, 1);
        assert_eq!(t.join().unwrap(), Ok(0));
    }
}
