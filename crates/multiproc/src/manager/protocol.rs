//! The messages between proxies and the manager server.
//!
//! Every connection opens with a [`Hello`]. A *control* connection (one per process and manager)
//! then carries [`Control`] messages, which get no reply: reference counting, which must keep its
//! order per process, and the process's goodbye. A *call* connection carries [`Request`]s, each
//! call answered by one [`Response::Reply`] or [`Response::Handed`], possibly after some
//! [`Response::Waiting`]; a process opens one per thread that is calling at the same time.
//!
//! # Deadlines and hand-overs
//!
//! A call says how long its caller listens without hearing anything (its *patience*). While an
//! operation waits on the server (a get on an empty queue, an acquire), the server says
//! [`Response::Waiting`] well within that time, so that a caller can tell a server that waits
//! for it from one that is stopped or cut off.
//!
//! A reply that hands something over (a queue item taken, a lock acquired) comes as
//! [`Response::Handed`], and the caller confirms it with [`Request::Ack`] once it has it. Until
//! then the server keeps it: if the caller is gone before it confirms, the item goes back to
//! the front of its queue, the lock is released. A caller that cannot take it (an item that
//! does not decode as the caller's type) says [`Request::Decline`]; the server gives it back
//! the same way and then answers [`Reply::Unit`], so that the item is back before the caller's
//! call fails.
//!
//! # Values
//!
//! Values travel as [`Payload`]s: the postcard bytes of the value, the descriptors it holds, and
//! the ids of this manager's objects that proxies inside it refer to. The server never decodes a
//! value; it stores and compares the bytes. A payload that the server stores holds a reference to
//! each object in its `refs` (so a dict of dict proxies keeps the inner dicts alive), and a
//! payload in a reply credits one reference per entry of its `refs` to the caller's process,
//! which the proxies decoded from it take over.
//!
//! Each managed kind defines its own operations (`DictOp`, `QueueOp`, ...) next to its server
//! code; [`Op`] only says which kind an operation is for.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::server::array::ArrayOp;
use super::server::barrier::BarrierOp;
use super::server::condition::ConditionOp;
use super::server::dict::DictOp;
use super::server::event::EventOp;
use super::server::list::ListOp;
use super::server::lock::LockOp;
use super::server::namespace::NamespaceOp;
use super::server::queue::QueueOp;
use super::server::set::SetOp;
use super::server::value::ValueOp;
use crate::codec::{Bytes, Fd};
use crate::deadline::Deadline;

/// An encoded value, as a proxy sends it and the server stores it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Payload {
    /// The value's serde bytes.
    pub(crate) bytes: Bytes,
    /// Descriptors the value holds (a `Lock`, a `Connection`, ...), in order.
    pub(crate) fds: Vec<Fd>,
    /// This manager's objects that proxies inside the value refer to (one entry per proxy).
    pub(crate) refs: Vec<u64>,
}

impl Payload {
    /// A copy for a reply, the descriptors duplicated.
    pub(crate) fn duplicate(&self) -> std::io::Result<Payload> {
        Ok(Payload {
            bytes: self.bytes.clone(),
            fds: self
                .fds
                .iter()
                .map(Fd::try_clone)
                .collect::<std::io::Result<_>>()?,
            refs: self.refs.clone(),
        })
    }

    /// A payload of plain bytes (no descriptors, no proxies).
    #[cfg(test)]
    pub(crate) fn plain(bytes: &[u8]) -> Payload {
        Payload {
            bytes: Bytes(bytes.to_vec()),
            ..Payload::default()
        }
    }
}

/// The first message on every connection.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Hello {
    /// The process's control connection: its references live as long as this connection.
    Control {
        /// The client process's link id.
        link: u64,
        /// The client's process id (on its own machine), to tell whether it died.
        pid: u32,
    },
    /// A connection for calls.
    Calls {
        /// The client process's link id.
        link: u64,
    },
    /// Asks who the server is: it answers with its id (a `u64`) and closes.
    Probe,
}

/// Reference counting, on the control connection. No replies.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Control {
    /// One more reference for this process.
    IncRef(u64),
    /// One reference less for this process.
    DecRef(u64),
    /// A proxy left this process inside a message: keep the object alive, under `nonce`, until
    /// the receiving process claims it.
    Hold {
        /// Names this reference in transit.
        nonce: u64,
        /// The object.
        id: u64,
    },
    /// A proxy that left another process under `nonce` arrived here: its reference is now this
    /// process's.
    Claim {
        /// The nonce of the [`Control::Hold`].
        nonce: u64,
        /// The object.
        id: u64,
    },
    /// The process is done with this manager, in order (it dropped its last proxy): locks it
    /// still holds were handed over, not left by a death.
    Bye,
}

/// How long a blocking operation may wait on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Wait {
    /// Not at all.
    Now,
    /// At most this long.
    For(Duration),
    /// Until it can complete.
    Forever,
}

impl Wait {
    /// When the wait gives up, counted from now (where the server starts the operation).
    pub(crate) fn deadline(self) -> Deadline {
        match self {
            Wait::Now => Deadline::now(),
            Wait::For(d) => Deadline::after(d),
            Wait::Forever => Deadline::NEVER,
        }
    }
}

/// Who holds a lock: a thread of a client process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Owner {
    /// The client process's link id.
    pub(crate) link: u64,
    /// The thread, numbered within its process.
    pub(crate) thread: u64,
}

/// What the server makes for [`Call::Create`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Create {
    Dict,
    List(Vec<Payload>),
    Namespace,
    Value(Payload),
    Array(Vec<Payload>),
    Set(Vec<Bytes>),
    Queue {
        maxsize: u64,
        joinable: bool,
    },
    Lock,
    RLock,
    Semaphore {
        value: u32,
        bounded: bool,
    },
    Event,
    Condition,
    Barrier {
        parties: u32,
    },
    /// An instance of a registered type, by its type name.
    Shared {
        type_name: String,
        init: Payload,
    },
}

/// What a call connection carries to the server.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request<C> {
    /// A call, and how long its caller listens for a word from the server (milliseconds).
    Call { call: C, patience_ms: u64 },
    /// The caller has what the last [`Response::Handed`] gave it.
    Ack,
    /// The caller cannot take what the last [`Response::Handed`] gave it: give it back, then
    /// answer [`Reply::Unit`].
    Decline,
}

/// A request on a call connection.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Call {
    /// Makes an object; the reply is [`Reply::Created`], with one reference for the caller.
    Create(Create),
    /// An operation on an object.
    Op { id: u64, op: Op },
    /// The root namespace's id (it always exists); the reply credits a reference.
    Root,
    /// Stops the server (replies first).
    Shutdown,
    /// How many objects the server holds.
    ObjectCount,
    /// Does nothing: a round trip, for measuring and for liveness.
    Ping,
}

/// An operation on an object: the kind it is for, and that kind's own operation. The server
/// checks that the object is of that kind.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Op {
    Dict(DictOp),
    List(ListOp),
    Namespace(NamespaceOp),
    Value(ValueOp),
    Array(ArrayOp),
    Set(SetOp),
    Queue(QueueOp),
    /// A lock, a reentrant lock or a semaphore.
    Lock(LockOp),
    Condition(ConditionOp),
    Event(EventOp),
    Barrier(BarrierOp),
    /// A call of a registered type's method.
    Method(Payload),
}

/// What a call connection carries back.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Response {
    /// The answer.
    Reply(Reply),
    /// The answer, handing something over: confirm with [`Request::Ack`].
    Handed(Reply),
    /// The operation is still waiting on the server.
    Waiting,
}

/// The server's answer to a [`Call`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    Unit,
    Bool(bool),
    Count(u64),
    Created(u64),
    Value(Option<Payload>),
    Values(Vec<Payload>),
    Keys(Vec<Bytes>),
    Items(Vec<(Bytes, Payload)>),
    Names(Vec<String>),
    /// A lock was acquired; from a holder whose process died (its process id), if so.
    Acquired(Option<u32>),
    /// A condition wait ended, the lock held again: whether it was notified, and the process
    /// id of a holder that died with the lock meanwhile.
    Woke {
        notified: bool,
        holder_died: Option<u32>,
    },
    /// A list's values and the version they are of.
    Versioned {
        version: u64,
        values: Vec<Payload>,
    },
    /// The operation could not complete in the time it was given.
    Timeout,
    /// The operation failed.
    Error(Failure),
}

/// Why an operation failed on the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Failure {
    NoSuchObject(u64),
    WrongKind { id: u64, kind: String },
    NoAttribute(String),
    IndexOutOfRange { index: u64, len: u64 },
    NotInList,
    Empty,
    Full,
    NotHeld,
    BrokenBarrier,
    TooManyReleases,
    UnknownType(String),
    Method(String),
    Invalid(String),
    ShuttingDown,
}
