//! [`Kind`]: what a managed kind of object implements on the server side, as a registered
//! type implements [`Shared`](crate::manager::Shared).
//!
//! A kind names its own operations ([`Kind::Op`]) and applies them to its state. An operation
//! that cannot complete yet (a get on an empty queue, an acquire of a held lock) becomes a
//! *waiter*: the server polls it again after every change to the object until it is done, its
//! time runs out, or its caller is gone, in which case it is cancelled. An operation that hands
//! something to its caller (an item, a lock) names it in [`Done::handed`]; if the answer cannot be
//! delivered, the server gives it back with [`Kind::give_back`].
//!
//! Nothing here waits, sleeps or touches a socket: each kind is a plain state machine, unit
//! tested with [`Cx::test`].

use std::convert::Infallible;

use super::super::protocol::{Failure, Op, Payload, Reply, Wait};

/// One kind of managed object: its state, and what its operations do to it.
pub(crate) trait Kind: Send + 'static {
    /// The kind's operations, as its proxy sends them.
    type Op;
    /// An operation that waits for the object to change.
    type Waiter: Send;
    /// What a reply may hand over, for [`give_back`](Kind::give_back).
    type Handed: Send + 'static;

    /// Its name, as Python calls it (for errors and logs).
    fn name(&self) -> &'static str;

    /// This kind's operation out of a wire operation, or the operation back if it belongs to
    /// another kind.
    fn op(op: Op) -> Result<Self::Op, Op>;

    /// Starts an operation.
    fn apply(&mut self, op: Self::Op, cx: &mut Cx<'_>) -> Step<Self>;

    /// Tries a waiting operation again: `Some` once it is done. `expired` says that the time it
    /// was given has run out, so it must finish now unless it is in a phase that ignores time
    /// (a condition wait taking its lock back).
    fn poll(
        &mut self,
        waiter: &mut Self::Waiter,
        expired: bool,
        cx: &mut Cx<'_>,
    ) -> Option<Done<Self::Handed>> {
        let _ = (waiter, expired, cx);
        None
    }

    /// A waiting operation is abandoned: its caller is gone, or the server is closing.
    fn cancel(&mut self, waiter: Self::Waiter, cx: &mut Cx<'_>) {
        let _ = (waiter, cx);
    }

    /// A reply that handed `handed` over could not be delivered: take it back. `reply` is that
    /// reply (a queue item comes back out of it).
    fn give_back(&mut self, handed: Self::Handed, reply: Reply, cx: &mut Cx<'_>) {
        let _ = (handed, reply, cx);
    }

    /// A reply that handed `handed` over was confirmed by its caller.
    fn confirmed(&mut self, handed: Self::Handed, cx: &mut Cx<'_>) {
        let _ = (handed, cx);
    }

    /// Takes every stored value out (the object is being dropped), returning their references.
    fn drain_refs(&mut self) -> Vec<u64> {
        Vec::new()
    }

    /// Client process `link`, which acquired a lock in this object, is gone: `true` if that
    /// changed anything a waiter could be waiting for.
    fn process_ended(&mut self, link: u64, end: End) -> bool {
        let _ = (link, end);
        false
    }
}

/// What an operation does first.
pub(crate) enum Step<K: Kind + ?Sized> {
    /// It is done.
    Done(Done<K::Handed>),
    /// It waits, at most as long as `Wait` says, and is polled after each change.
    Wait(K::Waiter, Wait),
}

impl<K: Kind + ?Sized> Step<K> {
    /// Done with a plain reply.
    pub(crate) fn reply(reply: Reply) -> Self {
        Step::Done(Done::reply(reply))
    }

    /// Done with a failure.
    pub(crate) fn fail(f: Failure) -> Self {
        Step::Done(Done::fail(f))
    }
}

impl<K: Kind + ?Sized> From<Result<Reply, Failure>> for Step<K> {
    fn from(r: Result<Reply, Failure>) -> Self {
        Step::Done(Done {
            result: r,
            handed: None,
        })
    }
}

/// A finished operation: its result, and what its reply hands over.
#[derive(Debug)]
pub(crate) struct Done<H> {
    pub(crate) result: Result<Reply, Failure>,
    pub(crate) handed: Option<H>,
}

impl<H> Done<H> {
    pub(crate) fn reply(reply: Reply) -> Self {
        Done {
            result: Ok(reply),
            handed: None,
        }
    }

    pub(crate) fn fail(f: Failure) -> Self {
        Done {
            result: Err(f),
            handed: None,
        }
    }

    /// A reply that hands `handed` over: the caller must confirm it.
    pub(crate) fn handing(reply: Reply, handed: H) -> Self {
        Done {
            result: Ok(reply),
            handed: Some(handed),
        }
    }
}

/// How a client process ended, as the server saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// It said goodbye: it had dropped its last proxy to this manager.
    InOrder { pid: u32 },
    /// Its control connection ended without a goodbye: it was killed or crashed.
    Died { pid: u32 },
}

impl End {
    /// The process id the client gave.
    pub(crate) fn pid(self) -> u32 {
        match self {
            End::InOrder { pid } | End::Died { pid } => pid,
        }
    }

    pub(crate) fn died(self) -> bool {
        matches!(self, End::Died { .. })
    }
}

/// What an operation does to reference counts besides its own object's, applied by the server.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Stored now: one more reference each (applied before the object is unlocked).
    pub(crate) hold: Vec<u64>,
    /// Sent in the reply: one reference each for the caller's process (applied before the
    /// object is unlocked).
    pub(crate) credit: Vec<u64>,
    /// No longer stored: one reference less each (applied after).
    pub(crate) release: Vec<u64>,
    /// The caller's process now holds a lock in this object.
    pub(crate) locked: bool,
}

/// An operation's context: the effects it has beyond its object.
pub(crate) struct Cx<'a> {
    fx: &'a mut Effects,
    notify: bool,
}

impl<'a> Cx<'a> {
    pub(crate) fn new(fx: &'a mut Effects) -> Cx<'a> {
        Cx { fx, notify: false }
    }

    /// `p` is stored now.
    pub(crate) fn store(&mut self, p: &Payload) {
        self.fx.hold.extend_from_slice(&p.refs);
    }

    /// `p` is no longer stored.
    pub(crate) fn unstore(&mut self, p: &Payload) {
        self.fx.release.extend_from_slice(&p.refs);
    }

    /// A stored payload copied into the reply.
    pub(crate) fn copy(&mut self, p: &Payload) -> Result<Payload, Failure> {
        self.fx.credit.extend_from_slice(&p.refs);
        p.duplicate()
            .map_err(|e| Failure::Invalid(format!("cannot duplicate a descriptor: {e}")))
    }

    /// Copies of every payload of `items`, for a reply.
    pub(crate) fn copy_all<'p>(
        &mut self,
        items: impl IntoIterator<Item = &'p Payload>,
    ) -> Result<Vec<Payload>, Failure> {
        items.into_iter().map(|p| self.copy(p)).collect()
    }

    /// A stored payload moved into the reply.
    pub(crate) fn moved(&mut self, p: Payload) -> Payload {
        self.fx.credit.extend_from_slice(&p.refs);
        self.fx.release.extend_from_slice(&p.refs);
        p
    }

    /// A payload that was moved into a reply that could not be delivered is stored again. (The
    /// references credited with it stay the caller's process's: a dead process's go with it,
    /// and a live caller that read the reply gives them back itself.)
    pub(crate) fn restore(&mut self, p: &Payload) {
        self.store(p);
    }

    /// Waiters on this object should poll again.
    pub(crate) fn notify(&mut self) {
        self.notify = true;
    }

    /// Whether [`notify`](Cx::notify) was called since the last `take_notify`.
    pub(crate) fn take_notify(&mut self) -> bool {
        std::mem::take(&mut self.notify)
    }

    /// The caller's process now holds a lock here: tell this object when that process ends.
    pub(crate) fn locked(&mut self) {
        self.fx.locked = true;
    }
}

#[cfg(test)]
impl Cx<'_> {
    /// Runs `f` with a context, returning its result, the effects, and whether waiters would
    /// be woken. (`link` names the calling process, for the reader of a test.)
    pub(crate) fn test<R>(link: u64, f: impl FnOnce(&mut Cx<'_>) -> R) -> (R, Effects, bool) {
        let _ = link;
        let mut fx = Effects::default();
        let mut cx = Cx::new(&mut fx);
        let r = f(&mut cx);
        let notified = cx.notify;
        (r, fx, notified)
    }
}

/// The waiter and hand-over types of a kind whose operations never wait.
pub(crate) type Never = Infallible;

/// Implements [`Kind`] for a kind whose operations all answer at once (nothing waits, nothing
/// is handed over): its wire operations are `Op::$variant`, its inherent
/// `apply_op(&mut self, op, cx) -> Result<Reply, Failure>` does the work, and `$drain` (with
/// `$this` for the object) takes its stored values out for [`Kind::drain_refs`].
macro_rules! immediate_kind {
    ($kind:ty, $op:ty, $variant:ident, $name:literal, |$this:ident| $drain:expr) => {
        impl $crate::manager::server::kind::Kind for $kind {
            type Op = $op;
            type Waiter = $crate::manager::server::kind::Never;
            type Handed = $crate::manager::server::kind::Never;

            fn name(&self) -> &'static str {
                $name
            }

            fn op(op: $crate::manager::protocol::Op) -> Result<$op, $crate::manager::protocol::Op> {
                match op {
                    $crate::manager::protocol::Op::$variant(op) => Ok(op),
                    op => Err(op),
                }
            }

            fn apply(
                &mut self,
                op: $op,
                cx: &mut $crate::manager::server::kind::Cx<'_>,
            ) -> $crate::manager::server::kind::Step<Self> {
                self.apply_op(op, cx).into()
            }

            fn drain_refs(&mut self) -> Vec<u64> {
                let $this = self;
                $drain
            }
        }
    };
}
pub(crate) use immediate_kind;

/// Test helpers: run a kind's operations the way the server does, without a server.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Applies `op` for process `link`; a waiting operation is polled once as if its time had
    /// run out. Returns the result and whether a waiter should have been woken.
    pub(crate) fn now<K: Kind>(
        kind: &mut K,
        link: u64,
        op: K::Op,
    ) -> (Result<Reply, Failure>, Option<K::Handed>) {
        let (done, _, _) = Cx::test(link, |cx| match kind.apply(op, cx) {
            Step::Done(d) => d,
            Step::Wait(mut w, _) => match kind.poll(&mut w, true, cx) {
                Some(d) => d,
                None => {
                    kind.cancel(w, cx);
                    Done::fail(Failure::Invalid("still waiting".into()))
                }
            },
        });
        (done.result, done.handed)
    }

    /// Applies `op` for process `link` and returns its plain result; what it hands over is
    /// confirmed, as the server does once its caller has the reply.
    pub(crate) fn call<K: Kind>(kind: &mut K, link: u64, op: K::Op) -> Result<Reply, Failure> {
        let (result, handed) = now(kind, link, op);
        if let Some(handed) = handed {
            Cx::test(link, |cx| kind.confirmed(handed, cx));
        }
        result
    }

    /// Starts `op`, expecting it to wait; returns its waiter.
    pub(crate) fn start<K: Kind>(kind: &mut K, link: u64, op: K::Op) -> K::Waiter {
        let (w, _, _) = Cx::test(link, |cx| match kind.apply(op, cx) {
            Step::Wait(w, _) => w,
            Step::Done(d) => panic!("expected a wait, got {:?}", d.result),
        });
        w
    }

    /// Polls `w` once.
    pub(crate) fn poll<K: Kind>(
        kind: &mut K,
        link: u64,
        w: &mut K::Waiter,
        expired: bool,
    ) -> Option<Done<K::Handed>> {
        Cx::test(link, |cx| kind.poll(w, expired, cx)).0
    }
}
