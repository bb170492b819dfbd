//! The server side of queues and joinable queues.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::kind::{Cx, Done, Kind, Step};
use crate::manager::protocol::{Failure, Op, Payload, Reply, Wait};

/// The operations of a queue.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum QueueOp {
    /// Adds an item, waiting for room as `wait` says.
    Put {
        item: Payload,
        wait: Wait,
    },
    /// Takes the oldest item, waiting for one as `wait` says; the reply hands it over.
    Get(Wait),
    /// One item taken has been handled (joinable queues).
    TaskDone,
    /// Waits until every item put has been handled.
    Join(Wait),
    Len,
    MaxSize,
    Unfinished,
}

/// A FIFO queue: its items, its bound (0 for none), and for a joinable queue the count of items
/// put and not yet marked done.
pub(crate) struct QueueKind {
    items: VecDeque<Payload>,
    maxsize: u64,
    joinable: bool,
    unfinished: u64,
}

/// A queue operation that waits.
pub(crate) enum QueueWaiter {
    Put(Payload),
    Get,
    Join,
}

impl QueueKind {
    pub(crate) fn new(maxsize: u64, joinable: bool) -> QueueKind {
        QueueKind {
            items: VecDeque::new(),
            maxsize,
            joinable,
            unfinished: 0,
        }
    }

    fn has_room(&self) -> bool {
        self.maxsize == 0 || (self.items.len() as u64) < self.maxsize
    }
}

impl Kind for QueueKind {
    type Op = QueueOp;
    type Waiter = QueueWaiter;
    /// A taken item: it comes back out of the undelivered reply.
    type Handed = ();

    fn name(&self) -> &'static str {
        if self.joinable {
            "JoinableQueue"
        } else {
            "Queue"
        }
    }

    fn op(op: Op) -> Result<QueueOp, Op> {
        match op {
            Op::Queue(op) => Ok(op),
            op => Err(op),
        }
    }

    fn apply(&mut self, op: QueueOp, cx: &mut Cx<'_>) -> Step<Self> {
        match op {
            QueueOp::Put { item, wait } => Step::Wait(QueueWaiter::Put(item), wait),
            QueueOp::Get(wait) => Step::Wait(QueueWaiter::Get, wait),
            QueueOp::Join(wait) => Step::Wait(QueueWaiter::Join, wait),
            QueueOp::TaskDone => {
                if !self.joinable {
                    return Step::fail(Failure::Invalid(
                        "task_done() on a queue that is not joinable".into(),
                    ));
                }
                if self.unfinished == 0 {
                    return Step::fail(Failure::Invalid(
                        "task_done() called too many times".into(),
                    ));
                }
                self.unfinished -= 1;
                if self.unfinished == 0 {
                    cx.notify();
                }
                Step::reply(Reply::Unit)
            }
            QueueOp::Len => Step::reply(Reply::Count(self.items.len() as u64)),
            QueueOp::MaxSize => Step::reply(Reply::Count(self.maxsize)),
            QueueOp::Unfinished => Step::reply(Reply::Count(self.unfinished)),
        }
    }

    fn poll(&mut self, w: &mut QueueWaiter, expired: bool, cx: &mut Cx<'_>) -> Option<Done<()>> {
        match w {
            QueueWaiter::Put(item) => {
                if self.has_room() {
                    let item = std::mem::take(item);
                    cx.store(&item);
                    self.items.push_back(item);
                    self.unfinished += 1;
                    cx.notify();
                    Some(Done::reply(Reply::Unit))
                } else if expired {
                    Some(Done::fail(Failure::Full))
                } else {
                    None
                }
            }
            QueueWaiter::Get => match self.items.pop_front() {
                Some(item) => {
                    let item = cx.moved(item);
                    cx.notify();
                    Some(Done::handing(Reply::Value(Some(item)), ()))
                }
                None if expired => Some(Done::fail(Failure::Empty)),
                None => None,
            },
            QueueWaiter::Join => {
                if self.unfinished == 0 {
                    Some(Done::reply(Reply::Unit))
                } else if expired {
                    Some(Done::reply(Reply::Timeout))
                } else {
                    None
                }
            }
        }
    }

    fn give_back(&mut self, (): (), reply: Reply, cx: &mut Cx<'_>) {
        if let Reply::Value(Some(item)) = reply {
            cx.restore(&item);
            self.items.push_front(item);
            cx.notify();
        }
    }

    fn drain_refs(&mut self) -> Vec<u64> {
        self.items.drain(..).flat_map(|p| p.refs).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::server::kind::testing::{call, now, poll, start};

    fn put(q: &mut QueueKind, b: &[u8]) -> Result<Reply, Failure> {
        call(
            q,
            1,
            QueueOp::Put {
                item: Payload::plain(b),
                wait: Wait::Now,
            },
        )
    }

    fn taken(r: Result<Reply, Failure>) -> Vec<u8> {
        match r {
            Ok(Reply::Value(Some(p))) => p.bytes.0,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn first_in_first_out_and_empty_when_drained() {
        let mut q = QueueKind::new(0, false);
        put(&mut q, b"a").unwrap();
        put(&mut q, b"b").unwrap();
        assert!(matches!(call(&mut q, 1, QueueOp::Len), Ok(Reply::Count(2))));
        let (r, handed) = now(&mut q, 1, QueueOp::Get(Wait::Now));
        assert_eq!(taken(r), b"a");
        assert!(handed.is_some());
        assert_eq!(taken(call(&mut q, 1, QueueOp::Get(Wait::Now))), b"b");
        assert_eq!(
            call(&mut q, 1, QueueOp::Get(Wait::Now)).unwrap_err(),
            Failure::Empty
        );
    }

    #[test]
    fn a_bounded_queue_is_full_at_its_size() {
        let mut q = QueueKind::new(1, true);
        put(&mut q, b"a").unwrap();
        assert_eq!(put(&mut q, b"b").unwrap_err(), Failure::Full);
        let mut w = start(
            &mut q,
            1,
            QueueOp::Put {
                item: Payload::plain(b"b"),
                wait: Wait::Forever,
            },
        );
        assert!(poll(&mut q, 1, &mut w, false).is_none(), "waits for room");
        taken(call(&mut q, 2, QueueOp::Get(Wait::Now)));
        assert!(poll(&mut q, 1, &mut w, false).is_some());
        assert_eq!(taken(call(&mut q, 2, QueueOp::Get(Wait::Now))), b"b");
    }

    #[test]
    fn a_waiting_get_takes_the_item_put_later() {
        let mut q = QueueKind::new(0, false);
        let mut w = start(&mut q, 1, QueueOp::Get(Wait::Forever));
        assert!(poll(&mut q, 1, &mut w, false).is_none());
        put(&mut q, b"x").unwrap();
        let done = poll(&mut q, 1, &mut w, false).unwrap();
        assert_eq!(taken(done.result), b"x");
    }

    #[test]
    fn an_item_given_back_is_next() {
        let mut q = QueueKind::new(0, false);
        put(&mut q, b"a").unwrap();
        put(&mut q, b"b").unwrap();
        let (r, handed) = now(&mut q, 1, QueueOp::Get(Wait::Now));
        assert!(handed.is_some(), "a taken item is handed over");
        crate::manager::server::kind::Cx::test(1, |cx| q.give_back((), r.unwrap(), cx));
        assert_eq!(taken(call(&mut q, 1, QueueOp::Get(Wait::Now))), b"a");
    }

    #[test]
    fn join_waits_for_every_task_done() {
        let mut q = QueueKind::new(0, true);
        put(&mut q, b"a").unwrap();
        assert!(matches!(
            call(&mut q, 1, QueueOp::Join(Wait::Now)),
            Ok(Reply::Timeout)
        ));
        assert!(matches!(
            call(&mut q, 1, QueueOp::Unfinished),
            Ok(Reply::Count(1))
        ));
        call(&mut q, 1, QueueOp::TaskDone).unwrap();
        assert!(matches!(
            call(&mut q, 1, QueueOp::Join(Wait::Now)),
            Ok(Reply::Unit)
        ));
        assert!(call(&mut q, 1, QueueOp::TaskDone).is_err(), "too many");
        let mut plain = QueueKind::new(0, false);
        assert!(call(&mut plain, 1, QueueOp::TaskDone).is_err());
    }
}
