//! The server side of locks, reentrant locks and semaphores.
//!
//! # Holders that end
//!
//! A lock is held by a thread of a client process. When that process ends, the server is told
//! how ([`End`]):
//!
//! - A [`Lock`](LockKind) may be released by anyone, so a process that ends **in order** (it
//!   dropped its last proxy, saying goodbye) has handed it over, as in Python: it stays held
//!   until some process releases it. A process that **died** (killed, crashed: no goodbye)
//!   left it: it stays held too, and may still be released, but the next acquirer takes it over
//!   and learns of the death ([`Reply::Acquired`] with the dead holder's process id) instead of
//!   waiting forever.
//! - A reentrant lock (and a condition's lock) can only be released by the thread that holds
//!   it, so once that thread's process has ended, in order or not, nobody can: the next
//!   acquirer takes it over and learns of it.
//!
//! A holder counts from the moment its caller confirms the reply that handed the lock over.
//! An end learnt before that waits for the outcome: a reply that is not confirmed gives the
//! lock back (nobody hears of a death that held nothing), a confirmed one makes the end count.

use serde::{Deserialize, Serialize};

use super::kind::{Cx, Done, End, Kind, Step};
use crate::manager::protocol::{Failure, Op, Owner, Reply, Wait};

/// The operations of a lock, a reentrant lock or a semaphore.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum LockOp {
    /// Acquires, waiting as `wait` says; the reply hands the lock over.
    Acquire {
        owner: Owner,
        wait: Wait,
    },
    Release {
        owner: Owner,
    },
    Locked,
    /// A semaphore's count.
    Value,
}

/// Who holds a lock, how deep, and whether its process died holding it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Holder {
    owner: Owner,
    count: u32,
    /// The process id of a holder whose process ended leaving the lock to the next acquirer.
    left_by: Option<u32>,
    /// The reply that handed it over is not confirmed yet: whether the holder got the lock at
    /// all is still open (see [`confirm`](LockKind::confirm)).
    unconfirmed: bool,
    /// How the holder's process ended, if that was learnt while `unconfirmed`.
    ended: Option<End>,
}

/// A lock's state: [`Lock`](LockKind::lock) or reentrant.
#[derive(Debug)]
pub(crate) struct LockKind {
    holder: Option<Holder>,
    reentrant: bool,
}

impl LockKind {
    /// A lock that anyone may release (Python's `Lock`).
    pub(crate) fn lock() -> LockKind {
        LockKind {
            holder: None,
            reentrant: false,
        }
    }

    /// A lock that its holding thread may take again and must release as often (`RLock`).
    pub(crate) fn rlock() -> LockKind {
        LockKind {
            holder: None,
            reentrant: true,
        }
    }

    /// Whether anyone holds it.
    pub(crate) fn is_held(&self) -> bool {
        self.holder.is_some()
    }

    /// Whether `owner` holds it (and its process is alive).
    pub(crate) fn is_held_by(&self, owner: Owner) -> bool {
        self.holder
            .is_some_and(|h| h.owner == owner && h.left_by.is_none())
    }

    /// Takes the lock for `owner`, `depth` levels deep, if it can: `Some(None)` if it was free
    /// (or `owner`'s, for a reentrant lock), `Some(Some(pid))` if it was taken over from a
    /// holder that ended, `None` if another holder has it.
    pub(crate) fn try_take(&mut self, owner: Owner, depth: u32) -> Option<Option<u32>> {
        match &mut self.holder {
            None => {}
            Some(h) if self.reentrant && h.owner == owner && h.left_by.is_none() => {
                h.count += depth;
                return Some(None);
            }
            Some(Holder {
                left_by: Some(_), ..
            }) => {}
            Some(_) => return None,
        }
        let left_by = self.holder.take().and_then(|h| h.left_by);
        self.holder = Some(Holder {
            owner,
            count: depth,
            left_by: None,
            unconfirmed: true,
            ended: None,
        });
        Some(left_by)
    }

    /// Releases one level for `owner` (any caller, for a plain lock): `Ok(true)` if the lock is
    /// free now.
    pub(crate) fn release(&mut self, owner: Owner) -> Result<bool, Failure> {
        match &mut self.holder {
            None => Err(Failure::NotHeld),
            Some(_) if !self.reentrant => {
                self.holder = None;
                Ok(true)
            }
            Some(h) if h.owner == owner && h.left_by.is_none() => {
                h.count -= 1;
                if h.count == 0 {
                    self.holder = None;
                    return Ok(true);
                }
                Ok(false)
            }
            Some(_) => Err(Failure::NotHeld),
        }
    }

    /// Releases every level `owner` holds (for a condition wait): the depth it held.
    pub(crate) fn release_all(&mut self, owner: Owner) -> Option<u32> {
        match self.holder {
            Some(h) if h.owner == owner && h.left_by.is_none() => {
                self.holder = None;
                Some(h.count)
            }
            _ => None,
        }
    }

    /// Takes back a hold that `owner` got but never received (its process may have been
    /// counted as ended meanwhile: the hold goes all the same).
    pub(crate) fn undo(&mut self, owner: Owner, depth: u32) -> bool {
        match &mut self.holder {
            Some(h) if h.owner == owner => {
                if h.count > depth {
                    h.count -= depth;
                    false
                } else {
                    self.holder = None;
                    true
                }
            }
            _ => false,
        }
    }

    /// The process of `link` ended: leaves the lock to the next acquirer if it held it and
    /// nobody else may release it (see the [module docs](self)).
    ///
    /// A holder whose hand-over is not confirmed yet may never have got the lock: its end is
    /// kept until the reply is confirmed ([`confirm`](Self::confirm)) or taken back
    /// ([`undo`](Self::undo)), so that the next acquirer does not take over a lock that the
    /// server is about to get back (and hear of a death that held nothing).
    pub(crate) fn holder_ended(&mut self, link: u64, end: End) -> bool {
        match &mut self.holder {
            Some(h) if h.owner.link == link && h.unconfirmed => {
                h.ended = Some(end);
                false
            }
            Some(h) if h.owner.link == link => Self::left(h, self.reentrant, end),
            _ => false,
        }
    }

    /// `h`'s process ended as `end` says: whether that leaves the lock to the next acquirer.
    fn left(h: &mut Holder, reentrant: bool, end: End) -> bool {
        if h.left_by.is_none() && (reentrant || end.died()) {
            h.left_by = Some(end.pid());
            true
        } else {
            false
        }
    }

    /// The reply that handed the lock to `owner` was confirmed: `owner` holds it. An end of
    /// its process learnt meanwhile counts now; true if that leaves the lock to the next
    /// acquirer.
    pub(crate) fn confirm(&mut self, owner: Owner) -> bool {
        match &mut self.holder {
            Some(h) if h.owner == owner && h.unconfirmed => {
                h.unconfirmed = false;
                h.ended
                    .take()
                    .is_some_and(|end| Self::left(h, self.reentrant, end))
            }
            _ => false,
        }
    }

    /// Polls an acquire by `owner`.
    pub(crate) fn poll_acquire(
        &mut self,
        owner: Owner,
        expired: bool,
        cx: &mut Cx<'_>,
    ) -> Option<Done<Owner>> {
        match self.try_take(owner, 1) {
            Some(left_by) => {
                cx.locked();
                Some(Done::handing(Reply::Acquired(left_by), owner))
            }
            None if expired => Some(Done::reply(Reply::Timeout)),
            None => None,
        }
    }

    /// Applies an operation other than an acquire.
    pub(crate) fn apply_now(&mut self, op: LockOp, cx: &mut Cx<'_>) -> Result<Reply, Failure> {
        match op {
            LockOp::Release { owner } => {
                if self.release(owner)? {
                    cx.notify();
                }
                Ok(Reply::Unit)
            }
            LockOp::Locked => Ok(Reply::Bool(self.is_held())),
            LockOp::Acquire { .. } | LockOp::Value => Err(Failure::Invalid(
                "a lock has no count; that is a semaphore's".into(),
            )),
        }
    }
}

impl Kind for LockKind {
    type Op = LockOp;
    /// The owner who waits to acquire.
    type Waiter = Owner;
    /// The owner the lock was handed to.
    type Handed = Owner;

    fn name(&self) -> &'static str {
        if self.reentrant { "RLock" } else { "Lock" }
    }

    fn op(op: Op) -> Result<LockOp, Op> {
        match op {
            Op::Lock(op) => Ok(op),
            op => Err(op),
        }
    }

    fn apply(&mut self, op: LockOp, cx: &mut Cx<'_>) -> Step<Self> {
        match op {
            LockOp::Acquire { owner, wait } => Step::Wait(owner, wait),
            op => self.apply_now(op, cx).into(),
        }
    }

    fn poll(&mut self, owner: &mut Owner, expired: bool, cx: &mut Cx<'_>) -> Option<Done<Owner>> {
        self.poll_acquire(*owner, expired, cx)
    }

    fn give_back(&mut self, owner: Owner, _: Reply, cx: &mut Cx<'_>) {
        if self.undo(owner, 1) {
            cx.notify();
        }
    }

    fn confirmed(&mut self, owner: Owner, cx: &mut Cx<'_>) {
        if self.confirm(owner) {
            cx.notify();
        }
    }

    fn process_ended(&mut self, link: u64, end: End) -> bool {
        self.holder_ended(link, end)
    }
}

/// A counting semaphore; `bound` is a bounded semaphore's initial value.
#[derive(Debug)]
pub(crate) struct SemaphoreKind {
    value: u32,
    bound: Option<u32>,
}

impl SemaphoreKind {
    pub(crate) fn new(value: u32, bounded: bool) -> SemaphoreKind {
        SemaphoreKind {
            value,
            bound: bounded.then_some(value),
        }
    }
}

impl Kind for SemaphoreKind {
    type Op = LockOp;
    type Waiter = ();
    type Handed = ();

    fn name(&self) -> &'static str {
        if self.bound.is_some() {
            "BoundedSemaphore"
        } else {
            "Semaphore"
        }
    }

    fn op(op: Op) -> Result<LockOp, Op> {
        LockKind::op(op)
    }

    fn apply(&mut self, op: LockOp, cx: &mut Cx<'_>) -> Step<Self> {
        match op {
            LockOp::Acquire { wait, .. } => Step::Wait((), wait),
            LockOp::Release { .. } => {
                if self.bound.is_some_and(|b| self.value >= b) || self.value == u32::MAX {
                    return Step::fail(Failure::TooManyReleases);
                }
                self.value += 1;
                cx.notify();
                Step::reply(Reply::Unit)
            }
            LockOp::Locked => Step::reply(Reply::Bool(self.value == 0)),
            LockOp::Value => Step::reply(Reply::Count(u64::from(self.value))),
        }
    }

    fn poll(&mut self, (): &mut (), expired: bool, _: &mut Cx<'_>) -> Option<Done<()>> {
        if self.value > 0 {
            self.value -= 1;
            Some(Done::handing(Reply::Acquired(None), ()))
        } else if expired {
            Some(Done::reply(Reply::Timeout))
        } else {
            None
        }
    }

    fn give_back(&mut self, (): (), _: Reply, cx: &mut Cx<'_>) {
        self.value += 1;
        cx.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::server::kind::testing::{call, now, poll, start};

    const A: Owner = Owner { link: 1, thread: 1 };
    const A2: Owner = Owner { link: 1, thread: 2 };
    const B: Owner = Owner { link: 2, thread: 1 };

    fn acquire(owner: Owner) -> LockOp {
        LockOp::Acquire {
            owner,
            wait: Wait::Now,
        }
    }

    fn acquired(r: Result<Reply, Failure>) -> Option<u32> {
        match r {
            Ok(Reply::Acquired(died)) => died,
            other => panic!("not acquired: {other:?}"),
        }
    }

    #[test]
    fn a_lock_is_exclusive_and_anyone_may_release_it() {
        let mut l = LockKind::lock();
        let (r, handed) = now(&mut l, 1, acquire(A));
        assert_eq!(acquired(r), None);
        assert_eq!(handed, Some(A));
        assert!(
            matches!(call(&mut l, 1, acquire(A)), Ok(Reply::Timeout)),
            "not reentrant"
        );
        assert!(matches!(call(&mut l, 2, acquire(B)), Ok(Reply::Timeout)));
        call(&mut l, 2, LockOp::Release { owner: B }).expect("anyone may release a Lock");
        assert_eq!(
            call(&mut l, 2, LockOp::Release { owner: B }).unwrap_err(),
            Failure::NotHeld
        );
    }

    #[test]
    fn an_rlock_is_reentrant_and_only_its_owner_releases_it() {
        let mut l = LockKind::rlock();
        acquired(call(&mut l, 1, acquire(A)));
        acquired(call(&mut l, 1, acquire(A)));
        assert!(
            matches!(call(&mut l, 1, acquire(A2)), Ok(Reply::Timeout)),
            "another thread"
        );
        assert_eq!(
            call(&mut l, 2, LockOp::Release { owner: B }).unwrap_err(),
            Failure::NotHeld
        );
        call(&mut l, 1, LockOp::Release { owner: A }).unwrap();
        assert!(l.is_held(), "held twice, released once");
        call(&mut l, 1, LockOp::Release { owner: A }).unwrap();
        assert!(!l.is_held());
    }

    #[test]
    fn a_lock_handed_over_in_order_stays_held_until_released() {
        let mut l = LockKind::lock();
        acquired(call(&mut l, 1, acquire(A)));
        assert!(!l.holder_ended(1, End::InOrder { pid: 10 }));
        let mut w = start(
            &mut l,
            2,
            LockOp::Acquire {
                owner: B,
                wait: Wait::Forever,
            },
        );
        assert!(poll(&mut l, 2, &mut w, false).is_none(), "still held");
        call(&mut l, 3, LockOp::Release { owner: B }).unwrap();
        let done = poll(&mut l, 2, &mut w, false).unwrap();
        assert_eq!(acquired(done.result), None, "an ordinary acquire");
    }

    #[test]
    fn a_lock_left_by_a_death_goes_to_the_next_acquirer_with_the_news() {
        let mut l = LockKind::lock();
        acquired(call(&mut l, 1, acquire(A)));
        let mut w = start(
            &mut l,
            2,
            LockOp::Acquire {
                owner: B,
                wait: Wait::Forever,
            },
        );
        assert!(poll(&mut l, 2, &mut w, false).is_none());
        assert!(l.holder_ended(1, End::Died { pid: 10 }));
        let done = poll(&mut l, 2, &mut w, false).unwrap();
        assert_eq!(acquired(done.result), Some(10));
        assert!(l.is_held_by(B));
        // Only the one acquirer hears of it.
        call(&mut l, 2, LockOp::Release { owner: B }).unwrap();
        assert_eq!(acquired(call(&mut l, 2, acquire(B))), None);
    }

    #[test]
    fn a_lock_left_by_a_death_may_still_be_released_by_another() {
        let mut l = LockKind::lock();
        acquired(call(&mut l, 1, acquire(A)));
        l.holder_ended(1, End::Died { pid: 10 });
        assert!(matches!(
            call(&mut l, 2, LockOp::Locked),
            Ok(Reply::Bool(true))
        ));
        call(&mut l, 2, LockOp::Release { owner: B }).unwrap();
        assert_eq!(acquired(call(&mut l, 2, acquire(B))), None);
    }

    #[test]
    fn an_rlock_whose_owner_ended_in_any_way_is_taken_over() {
        for end in [End::InOrder { pid: 5 }, End::Died { pid: 5 }] {
            let mut l = LockKind::rlock();
            acquired(call(&mut l, 1, acquire(A)));
            acquired(call(&mut l, 1, acquire(A)));
            assert!(l.holder_ended(1, end));
            assert_eq!(acquired(call(&mut l, 2, acquire(B))), Some(5));
            call(&mut l, 2, LockOp::Release { owner: B }).unwrap();
            assert!(!l.is_held(), "the new holder holds it once");
        }
    }

    #[test]
    fn an_acquire_that_was_not_delivered_is_undone() {
        let mut l = LockKind::rlock();
        acquired(call(&mut l, 1, acquire(A)));
        let (_, handed) = now(&mut l, 1, acquire(A));
        crate::manager::server::kind::Cx::test(1, |cx| {
            l.give_back(handed.unwrap(), Reply::Unit, cx)
        });
        assert!(l.is_held_by(A), "the first hold remains");
        call(&mut l, 1, LockOp::Release { owner: A }).unwrap();
        assert!(!l.is_held());
    }

    #[test]
    fn regression_an_undelivered_acquire_is_undone_even_after_its_process_was_counted_dead() {
        let mut l = LockKind::lock();
        let (_, handed) = now(&mut l, 1, acquire(A));
        // The control connection's end is seen before the answer's failure: it is kept until
        // the answer is settled.
        assert!(!l.holder_ended(1, End::Died { pid: 3 }));
        crate::manager::server::kind::Cx::test(1, |cx| {
            l.give_back(handed.unwrap(), Reply::Unit, cx)
        });
        assert!(!l.is_held(), "free, not left to the next acquirer");
        assert_eq!(acquired(call(&mut l, 2, acquire(B))), None);
    }

    #[test]
    fn regression_a_lock_handed_to_a_dead_waiter_is_not_taken_over_before_it_comes_back() {
        // A waiter's process is killed; the lock is handed to its acquire before the server
        // notices, and its end is seen before the failed answer is taken back. Another
        // acquirer in that window took the lock over and heard of a death that held nothing.
        let mut l = LockKind::lock();
        let (_, handed) = now(&mut l, 1, acquire(A));
        assert!(!l.holder_ended(1, End::Died { pid: 3 }));
        let mut w = start(
            &mut l,
            2,
            LockOp::Acquire {
                owner: B,
                wait: Wait::Forever,
            },
        );
        assert!(poll(&mut l, 2, &mut w, false).is_none(), "waits for the answer");
        crate::manager::server::kind::Cx::test(1, |cx| {
            l.give_back(handed.unwrap(), Reply::Unit, cx)
        });
        let done = poll(&mut l, 2, &mut w, false).unwrap();
        assert_eq!(acquired(done.result), None, "no death to hear of");
    }

    #[test]
    fn an_end_seen_before_the_confirmation_counts_once_it_comes() {
        let mut l = LockKind::lock();
        let (_, handed) = now(&mut l, 1, acquire(A));
        assert!(!l.holder_ended(1, End::Died { pid: 3 }));
        let (_, _, notified) = crate::manager::server::kind::Cx::test(1, |cx| {
            l.confirmed(handed.unwrap(), cx)
        });
        assert!(notified, "waiters may take it over now");
        assert_eq!(acquired(call(&mut l, 2, acquire(B))), Some(3));
    }

    #[test]
    fn semaphores_count_and_bounded_ones_refuse_extra_releases() {
        let mut s = SemaphoreKind::new(2, true);
        acquired(call(&mut s, 1, acquire(A)));
        acquired(call(&mut s, 2, acquire(B)));
        assert!(matches!(call(&mut s, 1, acquire(A)), Ok(Reply::Timeout)));
        assert!(matches!(
            call(&mut s, 1, LockOp::Value),
            Ok(Reply::Count(0))
        ));
        call(&mut s, 1, LockOp::Release { owner: A }).unwrap();
        call(&mut s, 1, LockOp::Release { owner: A }).unwrap();
        assert_eq!(
            call(&mut s, 1, LockOp::Release { owner: A }).unwrap_err(),
            Failure::TooManyReleases
        );
        let mut free = SemaphoreKind::new(0, false);
        call(&mut free, 1, LockOp::Release { owner: A }).unwrap();
        assert!(matches!(
            call(&mut free, 1, LockOp::Value),
            Ok(Reply::Count(1))
        ));
    }
}
