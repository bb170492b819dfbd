//! The server side of condition variables: a reentrant lock and a queue of waiters.

use std::collections::{HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::kind::{Cx, Done, End, Kind, Step};
use super::lock::{LockKind, LockOp};
use crate::manager::protocol::{Failure, Op, Owner, Reply, Wait};

/// The operations of a condition; its lock takes [`LockOp`]s too.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ConditionOp {
    Lock(LockOp),
    /// Releases the lock, waits to be notified (as `wait` says), takes the lock back.
    Wait {
        owner: Owner,
        wait: Wait,
    },
    Notify {
        owner: Owner,
        n: u32,
    },
    NotifyAll {
        owner: Owner,
    },
}

/// A condition variable: its lock, the tickets of its waiters in order, and those notified.
pub(crate) struct ConditionKind {
    lock: LockKind,
    waiters: VecDeque<u64>,
    notified: HashSet<u64>,
    next_ticket: u64,
}

/// A condition operation that waits.
pub(crate) enum ConditionWaiter {
    /// An acquire of the lock.
    Acquire(Owner),
    /// A wait: first for a notification, then for the lock, which it takes back `depth` deep.
    Wait {
        owner: Owner,
        ticket: u64,
        depth: u32,
        /// `Some(notified)` once it waits for the lock again.
        reacquire: Option<bool>,
    },
}

impl ConditionKind {
    pub(crate) fn new() -> ConditionKind {
        ConditionKind {
            lock: LockKind::rlock(),
            waiters: VecDeque::new(),
            notified: HashSet::new(),
            next_ticket: 0,
        }
    }

    fn check_owner(&self, owner: Owner) -> Result<(), Failure> {
        if self.lock.is_held_by(owner) {
            Ok(())
        } else {
            Err(Failure::NotHeld)
        }
    }

    fn notify(&mut self, n: Option<u32>, cx: &mut Cx<'_>) {
        let n = n.map_or(self.waiters.len(), |n| n as usize);
        for _ in 0..n {
            match self.waiters.pop_front() {
                Some(t) => {
                    self.notified.insert(t);
                }
                None => break,
            }
        }
        cx.notify();
    }
}

impl Kind for ConditionKind {
    type Op = ConditionOp;
    type Waiter = ConditionWaiter;
    /// The owner who got the lock, and how deep.
    type Handed = (Owner, u32);

    fn name(&self) -> &'static str {
        "Condition"
    }

    fn op(op: Op) -> Result<ConditionOp, Op> {
        match op {
            Op::Condition(op) => Ok(op),
            Op::Lock(op) => Ok(ConditionOp::Lock(op)),
            op => Err(op),
        }
    }

    fn apply(&mut self, op: ConditionOp, cx: &mut Cx<'_>) -> Step<Self> {
        match op {
            ConditionOp::Lock(LockOp::Acquire { owner, wait }) => {
                Step::Wait(ConditionWaiter::Acquire(owner), wait)
            }
            ConditionOp::Lock(op) => self.lock.apply_now(op, cx).into(),
            ConditionOp::Wait { owner, wait } => {
                // Release the lock entirely, remember how deep it was held, and queue up.
                let Some(depth) = self.lock.release_all(owner) else {
                    return Step::fail(Failure::NotHeld);
                };
                let ticket = self.next_ticket;
                self.next_ticket += 1;
                self.waiters.push_back(ticket);
                cx.notify();
                Step::Wait(
                    ConditionWaiter::Wait {
                        owner,
                        ticket,
                        depth,
                        reacquire: None,
                    },
                    wait,
                )
            }
            ConditionOp::Notify { owner, n } => {
                if let Err(f) = self.check_owner(owner) {
                    return Step::fail(f);
                }
                self.notify(Some(n), cx);
                Step::reply(Reply::Unit)
            }
            ConditionOp::NotifyAll { owner } => {
                if let Err(f) = self.check_owner(owner) {
                    return Step::fail(f);
                }
                self.notify(None, cx);
                Step::reply(Reply::Unit)
            }
        }
    }

    fn poll(
        &mut self,
        w: &mut ConditionWaiter,
        expired: bool,
        cx: &mut Cx<'_>,
    ) -> Option<Done<(Owner, u32)>> {
        match w {
            ConditionWaiter::Acquire(owner) => {
                let done = self.lock.poll_acquire(*owner, expired, cx)?;
                Some(Done {
                    result: done.result,
                    handed: done.handed.map(|o| (o, 1)),
                })
            }
            ConditionWaiter::Wait {
                owner,
                ticket,
                depth,
                reacquire,
            } => {
                if reacquire.is_none() {
                    if self.notified.remove(ticket) {
                        *reacquire = Some(true);
                    } else if expired {
                        self.waiters.retain(|t| t != ticket);
                        *reacquire = Some(false);
                    } else {
                        return None;
                    }
                }
                // Take the lock back, however long that takes (as Python's Condition.wait
                // does).
                let left_by = self.lock.try_take(*owner, *depth)?;
                cx.locked();
                Some(Done::handing(
                    Reply::Woke {
                        notified: reacquire.unwrap_or(false),
                        holder_died: left_by,
                    },
                    (*owner, *depth),
                ))
            }
        }
    }

    fn cancel(&mut self, w: ConditionWaiter, cx: &mut Cx<'_>) {
        if let ConditionWaiter::Wait {
            ticket,
            reacquire: None,
            ..
        } = w
        {
            self.waiters.retain(|t| *t != ticket);
            // A notification this waiter can no longer use goes to the next one.
            if self.notified.remove(&ticket) {
                self.notify(Some(1), cx);
            }
        }
    }

    fn give_back(&mut self, (owner, depth): (Owner, u32), _: Reply, cx: &mut Cx<'_>) {
        if self.lock.undo(owner, depth) {
            cx.notify();
        }
    }

    fn confirmed(&mut self, (owner, _): (Owner, u32), cx: &mut Cx<'_>) {
        if self.lock.confirm(owner) {
            cx.notify();
        }
    }

    fn process_ended(&mut self, link: u64, end: End) -> bool {
        self.lock.holder_ended(link, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::server::kind::testing::{call, poll, start};

    const A: Owner = Owner { link: 1, thread: 1 };
    const B: Owner = Owner { link: 2, thread: 1 };

    fn acquire(c: &mut ConditionKind, owner: Owner) {
        let op = ConditionOp::Lock(LockOp::Acquire {
            owner,
            wait: Wait::Now,
        });
        assert!(matches!(call(c, owner.link, op), Ok(Reply::Acquired(None))));
    }

    fn wait(c: &mut ConditionKind, owner: Owner) -> ConditionWaiter {
        start(
            c,
            owner.link,
            ConditionOp::Wait {
                owner,
                wait: Wait::Forever,
            },
        )
    }

    #[test]
    fn a_wait_releases_the_lock_and_takes_it_back_when_notified() {
        let mut c = ConditionKind::new();
        acquire(&mut c, A);
        acquire(&mut c, A);
        let mut w = wait(&mut c, A);
        assert!(!c.lock.is_held(), "released entirely while waiting");
        acquire(&mut c, B);
        call(&mut c, 2, ConditionOp::Notify { owner: B, n: 1 }).unwrap();
        assert!(
            poll(&mut c, 1, &mut w, false).is_none(),
            "B still holds the lock"
        );
        call(&mut c, 2, ConditionOp::Lock(LockOp::Release { owner: B })).unwrap();
        let done = poll(&mut c, 1, &mut w, false).unwrap();
        assert!(matches!(
            done.result,
            Ok(Reply::Woke {
                notified: true,
                holder_died: None
            })
        ));
        assert_eq!(done.handed, Some((A, 2)));
        call(&mut c, 1, ConditionOp::Lock(LockOp::Release { owner: A })).unwrap();
        assert!(c.lock.is_held(), "held twice again");
    }

    #[test]
    fn a_timed_out_wait_is_not_notified_but_has_the_lock() {
        let mut c = ConditionKind::new();
        acquire(&mut c, A);
        let mut w = wait(&mut c, A);
        let done = poll(&mut c, 1, &mut w, true).unwrap();
        assert!(matches!(
            done.result,
            Ok(Reply::Woke {
                notified: false,
                ..
            })
        ));
        assert!(c.waiters.is_empty());
    }

    #[test]
    fn notify_needs_the_lock_and_wakes_in_order() {
        let mut c = ConditionKind::new();
        assert_eq!(
            call(&mut c, 1, ConditionOp::NotifyAll { owner: A }).unwrap_err(),
            Failure::NotHeld
        );
        acquire(&mut c, A);
        let mut first = wait(&mut c, A);
        acquire(&mut c, B);
        let mut second = wait(&mut c, B);
        acquire(&mut c, A);
        call(&mut c, 1, ConditionOp::Notify { owner: A, n: 1 }).unwrap();
        call(&mut c, 1, ConditionOp::Lock(LockOp::Release { owner: A })).unwrap();
        assert!(
            poll(&mut c, 2, &mut second, false).is_none(),
            "not notified"
        );
        assert!(poll(&mut c, 1, &mut first, false).is_some());
    }

    #[test]
    fn a_cancelled_notified_waiter_passes_its_notification_on() {
        let mut c = ConditionKind::new();
        acquire(&mut c, A);
        let first = wait(&mut c, A);
        acquire(&mut c, B);
        let mut second = wait(&mut c, B);
        acquire(&mut c, A);
        call(&mut c, 1, ConditionOp::Notify { owner: A, n: 1 }).unwrap();
        crate::manager::server::kind::Cx::test(1, |cx| c.cancel(first, cx));
        call(&mut c, 1, ConditionOp::Lock(LockOp::Release { owner: A })).unwrap();
        let done = poll(&mut c, 2, &mut second, false).unwrap();
        assert!(matches!(
            done.result,
            Ok(Reply::Woke { notified: true, .. })
        ));
    }

    #[test]
    fn a_lock_left_by_an_ended_process_is_taken_back_with_the_news() {
        let mut c = ConditionKind::new();
        acquire(&mut c, A);
        let mut w = wait(&mut c, A);
        acquire(&mut c, B);
        call(&mut c, 2, ConditionOp::NotifyAll { owner: B }).unwrap();
        assert!(c.process_ended(2, End::Died { pid: 77 }));
        let done = poll(&mut c, 1, &mut w, false).unwrap();
        assert!(matches!(
            done.result,
            Ok(Reply::Woke {
                notified: true,
                holder_died: Some(77)
            })
        ));
    }
}
