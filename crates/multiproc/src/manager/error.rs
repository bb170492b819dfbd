//! [`ManagerError`]: what can go wrong when starting, reaching or calling a manager; and
//! [`LockError`], what a manager lock's acquire returns besides a guard.

use std::fmt;

use super::protocol::Failure;
use crate::ProcessError;
use crate::codec::{DecodeError, EncodeError};
use crate::connection;
use crate::sync::HolderDied;

/// An error from a [`Manager`](super::Manager) or one of its proxies.
///
/// Transport failures ([`Connect`](ManagerError::Connect),
/// [`Disconnected`](ManagerError::Disconnected), [`NoAnswer`](ManagerError::NoAnswer)) mean the
/// manager could not be reached or stopped answering; the others are the answer of a manager
/// that is alive, and the proxy remains usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// The manager's server process could not be started.
    #[error("cannot start the manager process")]
    Start(#[source] ProcessError),
    /// The server process started but did not come up.
    #[error("the manager process did not start: {0}")]
    StartFailed(String),
    /// The server could not listen on its address.
    #[error("cannot listen on {address}")]
    Bind {
        /// The address.
        address: String,
        /// The operating system's refusal.
        #[source]
        source: std::io::Error,
    },
    /// The manager could not be reached (it is gone, or the address is wrong).
    #[error("cannot reach the manager at {address}")]
    Connect {
        /// The manager's address.
        address: String,
        /// What went wrong.
        #[source]
        source: connection::Error,
    },
    /// The manager refused this process's authentication key, or proved it does not know it.
    #[doc(alias = "AuthenticationError")]
    #[error("wrong authentication key for the manager at {address}")]
    Authentication {
        /// The manager's address.
        address: String,
        /// The handshake's error.
        #[source]
        source: connection::Error,
    },
    /// The connection to the manager broke during a call: the manager ended, or the network
    /// failed. Whether the call took effect is unknown, except that nothing it would have
    /// handed to this process (a queue item, a lock) is lost: the manager keeps it.
    #[error("lost the connection to the manager")]
    Disconnected(#[source] connection::Error),
    /// The manager said nothing for longer than the call's timeout: it is stopped, hung, or cut
    /// off (see [Deadlines](super#deadlines)). The call's connection is dropped; the next call
    /// opens another. Whether the call took effect is unknown, except that nothing it would
    /// have handed to this process is lost.
    #[error("the manager did not answer in time")]
    NoAnswer,
    /// A blocking operation could not complete in the time it was given.
    #[error("timed out")]
    Timeout,
    /// A `try_` operation could not complete at once.
    #[error("the operation would block")]
    WouldBlock,
    /// A value could not be encoded; nothing was sent.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A value that came back could not be decoded as the proxy's type (was the object made
    /// with another type?).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A namespace has no attribute of that name (Python's `AttributeError`).
    #[doc(alias = "AttributeError")]
    #[error("'Namespace' object has no attribute '{0}'")]
    NoAttribute(String),
    /// A list index past the end (Python's `IndexError`).
    #[doc(alias = "IndexError")]
    #[error("list index {index} out of range for a list of {len}")]
    IndexOutOfRange {
        /// The index given.
        index: u64,
        /// The list's length.
        len: u64,
    },
    /// A value that is not in the list (Python's `ValueError` of `remove` and `index`).
    #[error("value not in list")]
    NotInList,
    /// A queue stayed empty until the time given ran out (Python's `queue.Empty`).
    #[error("the queue is empty")]
    Empty,
    /// A queue stayed full until the time given ran out (Python's `queue.Full`).
    #[error("the queue is full")]
    Full,
    /// Release of a lock that the caller does not hold.
    #[error("cannot release un-acquired lock")]
    NotHeld,
    /// A manager lock was taken over from a holder whose process ended holding it (its process
    /// id), and released again: what a [`LockError::HolderDied`] becomes when it is converted
    /// into a `ManagerError` (with `?`), which drops its guard.
    #[error("the holder of the lock (process {holder}) died while holding it")]
    HolderDied {
        /// The process id of the holder that died.
        holder: u32,
    },
    /// A bounded semaphore released more often than acquired.
    #[error("semaphore released too many times")]
    TooManyReleases,
    /// A barrier was broken (aborted, reset, or a wait timed out) while or before waiting.
    #[doc(alias = "BrokenBarrierError")]
    #[error("the barrier is broken")]
    BrokenBarrier,
    /// The object is gone from the manager: every proxy to it was dropped, or the manager
    /// restarted.
    #[error("the manager holds no object #{0}")]
    NoSuchObject(u64),
    /// The object is of another kind than the proxy expects.
    #[error("object #{id} of the manager is a {kind}, which has no such operation")]
    WrongKind {
        /// The object's id.
        id: u64,
        /// What it is.
        kind: String,
    },
    /// No registered type of that name (register it on the server's builder).
    #[error("no type {0} is registered with the manager")]
    UnknownType(String),
    /// A registered type's method (or constructor) failed; this is its message.
    #[error("{0}")]
    Remote(String),
    /// An operation that cannot be done: its text says why.
    #[error("{0}")]
    Invalid(String),
    /// The manager is shutting down.
    #[error("the manager is shutting down")]
    ShuttingDown,
}

impl From<Failure> for ManagerError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::NoSuchObject(id) => ManagerError::NoSuchObject(id),
            Failure::WrongKind { id, kind } => ManagerError::WrongKind { id, kind },
            Failure::NoAttribute(name) => ManagerError::NoAttribute(name),
            Failure::IndexOutOfRange { index, len } => ManagerError::IndexOutOfRange { index, len },
            Failure::NotInList => ManagerError::NotInList,
            Failure::Empty => ManagerError::Empty,
            Failure::Full => ManagerError::Full,
            Failure::NotHeld => ManagerError::NotHeld,
            Failure::BrokenBarrier => ManagerError::BrokenBarrier,
            Failure::TooManyReleases => ManagerError::TooManyReleases,
            Failure::UnknownType(t) => ManagerError::UnknownType(t),
            Failure::Method(m) => ManagerError::Remote(m),
            Failure::Invalid(m) => ManagerError::Invalid(m),
            Failure::ShuttingDown => ManagerError::ShuttingDown,
        }
    }
}

impl ManagerError {
    /// Whether the manager could not be reached or stopped answering (as opposed to an answer
    /// from a live manager).
    pub fn is_disconnect(&self) -> bool {
        matches!(
            self,
            ManagerError::Connect { .. }
                | ManagerError::Disconnected(_)
                | ManagerError::NoAnswer
                | ManagerError::ShuttingDown
        )
    }
}

/// Why a manager lock's acquire (or a condition's wait) returned no plain guard.
///
/// As with the shared-memory locks, a lock whose holder's process ended leaving it is taken
/// over by the next acquirer, which learns of it through [`HolderDied`]: the lock is held all
/// the same, and [`HolderDied::into_inner`] gives the guard. Anything else is a
/// [`ManagerError`] and no guard: the manager could not be reached, the time ran out
/// ([`ManagerError::Timeout`]), or the lock was busy ([`ManagerError::WouldBlock`]).
///
/// ```rust,standalone_crate
/// use multiproc::manager::{LockError, ManagerError};
///
/// fn main() -> Result<(), ManagerError> {
///     multiproc::init();
///     let manager = multiproc::Manager::start()?;
///     let lock = manager.lock()?;
///     // Take the guard even from a dead holder; any other failure is an error.
///     let guard = lock.acquire().or_else(LockError::recover)?;
///     guard.release()
/// }
/// ```
#[non_exhaustive]
pub enum LockError<G> {
    /// The lock was taken over from a holder whose process ended holding it: see
    /// [Locks whose holder ended](super#locks-whose-holder-ended).
    HolderDied(HolderDied<G>),
    /// The call failed, and no lock is held.
    Manager(ManagerError),
}

impl<G> LockError<G> {
    /// The guard if the lock was taken over from a dead holder, else the error: for
    /// `acquire().or_else(LockError::recover)`.
    pub fn recover(self) -> Result<G, ManagerError> {
        match self {
            LockError::HolderDied(d) => Ok(d.into_inner()),
            LockError::Manager(e) => Err(e),
        }
    }

    /// The [`HolderDied`] news, if that is what this is.
    pub fn into_holder_died(self) -> Option<HolderDied<G>> {
        match self {
            LockError::HolderDied(d) => Some(d),
            LockError::Manager(_) => None,
        }
    }

    /// The manager's error, if that is what this is.
    pub fn manager_error(&self) -> Option<&ManagerError> {
        match self {
            LockError::HolderDied(_) => None,
            LockError::Manager(e) => Some(e),
        }
    }

    pub(crate) fn map<H>(self, f: impl FnOnce(G) -> H) -> LockError<H> {
        match self {
            LockError::HolderDied(d) => LockError::HolderDied(d.map(f)),
            LockError::Manager(e) => LockError::Manager(e),
        }
    }
}

impl<G> From<ManagerError> for LockError<G> {
    fn from(e: ManagerError) -> Self {
        LockError::Manager(e)
    }
}

impl<G> From<LockError<G>> for ManagerError {
    /// A dead holder becomes [`ManagerError::HolderDied`]; its guard is dropped, which releases
    /// the lock.
    fn from(e: LockError<G>) -> Self {
        match e {
            LockError::HolderDied(d) => ManagerError::HolderDied { holder: d.holder() },
            LockError::Manager(e) => e,
        }
    }
}

impl<G> fmt::Debug for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::HolderDied(d) => f.debug_tuple("HolderDied").field(d).finish(),
            LockError::Manager(e) => f.debug_tuple("Manager").field(e).finish(),
        }
    }
}

impl<G> fmt::Display for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::HolderDied(d) => fmt::Display::fmt(d, f),
            LockError::Manager(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl<G> std::error::Error for LockError<G> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LockError::HolderDied(_) => None,
            LockError::Manager(e) => e.source(),
        }
    }
}
