//! The messages between proxies and the manager server.
//!
//! Every connection opens with a [`Hello`]. A *control* connection (one per process and manager)
//! then carries [`Control`] messages, which get no reply: reference counting, which must keep its
//! order per process. A *call* connection carries [`Call`]s, each answered by exactly one
//! [`Reply`], in order; a process opens one per thread that is calling at the same time.
//!
//! Values travel as [`Payload`]s: the postcard bytes of the value, the descriptors it holds, and
//! the ids of this manager's objects that proxies inside it refer to. The server never decodes a
//! value; it stores and compares the bytes. A payload that the server stores holds a reference to
//! each object in its `refs` (so a dict of dict proxies keeps the inner dicts alive), and a
//! payload in a reply credits one reference per entry of its `refs` to the caller's process,
//! which the proxies decoded from it take over.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::codec::{Bytes, Fd};

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
}

/// The first message on every connection.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Hello {
    /// The process's control connection: its references live as long as this connection.
    Control {
        /// The client process's link id.
        link: u64,
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
}

/// How long a blocking operation may wait on the server.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) enum Wait {
    /// Not at all.
    Now,
    /// At most this long.
    For(Duration),
    /// Until it can complete.
    Forever,
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

/// An operation on an object. The server checks that the object is of a kind that has it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Op {
    // ----- shared by several kinds -----
    Len,
    Clear,
    // ----- dict -----
    Get(Bytes),
    Insert {
        key: Bytes,
        value: Payload,
        old: bool,
    },
    Remove(Bytes),
    Contains(Bytes),
    Keys,
    Values,
    Items,
    Update(Vec<(Bytes, Payload)>),
    SetDefault(Bytes, Payload),
    PopItem,
    // ----- list -----
    Push(Payload),
    Extend(Vec<Payload>),
    InsertAt(u64, Payload),
    Pop(Option<u64>),
    RemoveValue(Bytes),
    Index(Bytes),
    Count(Bytes),
    GetAt(u64),
    SetAt(u64, Payload),
    Reverse,
    Snapshot,
    // ----- namespace -----
    GetAttr(String),
    SetAttr(String, Payload),
    DelAttr(String),
    Attrs,
    // ----- value -----
    Load,
    Store(Payload),
    Swap(Payload),
    // ----- queue -----
    Put {
        item: Payload,
        wait: Wait,
    },
    Take(Wait),
    TaskDone,
    JoinQueue(Wait),
    Unfinished,
    MaxSize,
    // ----- lock, rlock, semaphore, condition -----
    Acquire {
        owner: Owner,
        wait: Wait,
    },
    Release {
        owner: Owner,
    },
    Locked,
    SemValue,
    // ----- event -----
    SetFlag,
    ClearFlag,
    IsSet,
    WaitFlag(Wait),
    // ----- condition -----
    CondWait {
        owner: Owner,
        wait: Wait,
    },
    Notify(u32),
    NotifyAll,
    // ----- barrier -----
    BarrierWait(Wait),
    Abort,
    Reset,
    Parties,
    NWaiting,
    Broken,
    // ----- registered types -----
    Method(Payload),
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
