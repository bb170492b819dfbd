//! The server side of barriers.

use serde::{Deserialize, Serialize};

use super::kind::{Cx, Done, Kind, Step};
use crate::manager::protocol::{Failure, Op, Reply, Wait};

/// The operations of a barrier.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum BarrierOp {
    /// Waits for every party, as `wait` says; the reply is this party's arrival index.
    Wait(Wait),
    Abort,
    Reset,
    Parties,
    NWaiting,
    Broken,
}

/// A barrier for `parties` parties.
///
/// A round ends in one of two ways: every party arrives (`generation` moves on), or the barrier
/// breaks (`breaks` moves on: an abort, a reset, a wait that timed out, a party whose caller
/// went away while it waited).
#[derive(Debug)]
pub(crate) struct BarrierKind {
    parties: u32,
    count: u32,
    /// Rounds completed.
    generation: u64,
    /// Rounds broken.
    breaks: u64,
    broken: bool,
}

/// A party waiting for the others: its arrival index, and the round it arrived in.
pub(crate) struct BarrierWaiter {
    index: u32,
    generation: u64,
    breaks: u64,
}

impl BarrierKind {
    pub(crate) fn new(parties: u32) -> Result<BarrierKind, Failure> {
        if parties == 0 {
            return Err(Failure::Invalid(
                "a barrier needs at least one party".into(),
            ));
        }
        Ok(BarrierKind {
            parties,
            count: 0,
            generation: 0,
            breaks: 0,
            broken: false,
        })
    }

    /// Ends the current round in failure: its waiters get `BrokenBarrier`.
    fn break_round(&mut self, cx: &mut Cx<'_>) {
        self.breaks += 1;
        self.count = 0;
        self.broken = true;
        cx.notify();
    }
}

impl Kind for BarrierKind {
    type Op = BarrierOp;
    type Waiter = BarrierWaiter;
    type Handed = super::kind::Never;

    fn name(&self) -> &'static str {
        "Barrier"
    }

    fn op(op: Op) -> Result<BarrierOp, Op> {
        match op {
            Op::Barrier(op) => Ok(op),
            op => Err(op),
        }
    }

    fn apply(&mut self, op: BarrierOp, cx: &mut Cx<'_>) -> Step<Self> {
        match op {
            BarrierOp::Wait(wait) => {
                if self.broken {
                    return Step::fail(Failure::BrokenBarrier);
                }
                let index = self.count;
                self.count += 1;
                if self.count == self.parties {
                    self.count = 0;
                    self.generation += 1;
                    cx.notify();
                    return Step::reply(Reply::Count(u64::from(index)));
                }
                let waiter = BarrierWaiter {
                    index,
                    generation: self.generation,
                    breaks: self.breaks,
                };
                Step::Wait(waiter, wait)
            }
            BarrierOp::Abort => {
                self.break_round(cx);
                Step::reply(Reply::Unit)
            }
            BarrierOp::Reset => {
                // Waiters of the current round see it broken; the barrier starts afresh.
                self.break_round(cx);
                self.broken = false;
                Step::reply(Reply::Unit)
            }
            BarrierOp::Parties => Step::reply(Reply::Count(u64::from(self.parties))),
            BarrierOp::NWaiting => Step::reply(Reply::Count(u64::from(self.count))),
            BarrierOp::Broken => Step::reply(Reply::Bool(self.broken)),
        }
    }

    fn poll(
        &mut self,
        w: &mut BarrierWaiter,
        expired: bool,
        cx: &mut Cx<'_>,
    ) -> Option<Done<Self::Handed>> {
        if self.breaks != w.breaks {
            Some(Done::fail(Failure::BrokenBarrier))
        } else if self.generation != w.generation {
            Some(Done::reply(Reply::Count(u64::from(w.index))))
        } else if expired {
            // A timeout breaks the barrier for every party, as in Python.
            self.break_round(cx);
            Some(Done::fail(Failure::BrokenBarrier))
        } else {
            None
        }
    }

    fn cancel(&mut self, w: BarrierWaiter, cx: &mut Cx<'_>) {
        // A party that is gone will never come back to this round: the others would wait for
        // it forever, so the round breaks.
        if self.breaks == w.breaks && self.generation == w.generation {
            self.break_round(cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::server::kind::Cx;
    use crate::manager::server::kind::testing::{call, poll, start};

    #[test]
    fn the_last_party_releases_the_round() {
        let mut b = BarrierKind::new(3).unwrap();
        let mut w0 = start(&mut b, 1, BarrierOp::Wait(Wait::Forever));
        let mut w1 = start(&mut b, 2, BarrierOp::Wait(Wait::Forever));
        assert!(matches!(
            call(&mut b, 1, BarrierOp::NWaiting),
            Ok(Reply::Count(2))
        ));
        assert!(poll(&mut b, 1, &mut w0, false).is_none());
        assert!(matches!(
            call(&mut b, 3, BarrierOp::Wait(Wait::Forever)),
            Ok(Reply::Count(2))
        ));
        let r0 = poll(&mut b, 1, &mut w0, false).unwrap().result;
        let r1 = poll(&mut b, 2, &mut w1, false).unwrap().result;
        assert!(matches!(
            (r0, r1),
            (Ok(Reply::Count(0)), Ok(Reply::Count(1)))
        ));
        assert!(matches!(
            call(&mut b, 1, BarrierOp::NWaiting),
            Ok(Reply::Count(0))
        ));
    }

    #[test]
    fn a_timeout_or_a_departed_party_breaks_the_round() {
        let mut b = BarrierKind::new(3).unwrap();
        let mut w0 = start(&mut b, 1, BarrierOp::Wait(Wait::Forever));
        let w1 = start(&mut b, 2, BarrierOp::Wait(Wait::Forever));
        Cx::test(2, |cx| b.cancel(w1, cx));
        assert!(matches!(
            poll(&mut b, 1, &mut w0, false).unwrap().result,
            Err(Failure::BrokenBarrier)
        ));
        assert_eq!(
            call(&mut b, 1, BarrierOp::Wait(Wait::Now)).unwrap_err(),
            Failure::BrokenBarrier
        );
        call(&mut b, 1, BarrierOp::Reset).unwrap();
        let mut w = start(&mut b, 1, BarrierOp::Wait(Wait::Forever));
        assert!(matches!(
            poll(&mut b, 1, &mut w, true).unwrap().result,
            Err(Failure::BrokenBarrier)
        ));
        assert!(matches!(
            call(&mut b, 1, BarrierOp::Broken),
            Ok(Reply::Bool(true))
        ));
        assert!(BarrierKind::new(0).is_err());
    }
}
