//! [`BarrierProxy`]: a barrier kept in a manager.

use std::time::{Duration, Instant};

use super::ManagerError;
use super::link::{ObjRef, unexpected, wait_until};
use super::lock::flag;
use super::protocol::{Op, Reply, Wait};

/// A barrier kept in a manager (Python's `Manager().Barrier(parties)`): each party's `wait`
/// returns once all `parties` are waiting.
///
/// A wait that times out breaks the barrier for every party, as in Python; so does
/// [`abort`](Self::abort). The parties then get [`ManagerError::BrokenBarrier`] until
/// [`reset`](Self::reset).
///
/// ```rust,standalone_crate
/// fn party(b: multiproc::manager::BarrierProxy) -> usize {
///     b.wait().unwrap()
/// }
///
/// fn main() {
///     multiproc::init();
///     let manager = multiproc::Manager::start().unwrap();
///     let b = manager.barrier(2).unwrap();
///     let child = multiproc::spawn(party, b.clone());
///     let mine = b.wait().unwrap();
///     let theirs = child.join().unwrap();
///     assert_eq!(mine + theirs, 1); // indices 0 and 1
/// }
/// ```
pub struct BarrierProxy {
    obj: ObjRef,
}

impl BarrierProxy {
    pub(crate) fn from_ref(obj: ObjRef) -> Self {
        BarrierProxy { obj }
    }

    fn count(&self, op: Op) -> Result<usize, ManagerError> {
        match self.obj.call(op)? {
            Reply::Count(n) => Ok(n as usize),
            other => Err(unexpected(other)),
        }
    }

    fn wait_inner(&self, wait: Wait) -> Result<usize, ManagerError> {
        match self.obj.call_wait(Op::BarrierWait(wait), wait)? {
            Reply::Count(n) => Ok(n as usize),
            other => Err(unexpected(other)),
        }
    }

    /// Waits for every party; returns this party's arrival index, 0 to `parties - 1`.
    pub fn wait(&self) -> Result<usize, ManagerError> {
        self.wait_inner(Wait::Forever)
    }

    /// Waits at most `timeout`; a timeout breaks the barrier
    /// ([`ManagerError::BrokenBarrier`]).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, ManagerError> {
        self.wait_inner(Wait::For(timeout))
    }

    /// Waits until `deadline` at most; a timeout breaks the barrier.
    pub fn wait_deadline(&self, deadline: Instant) -> Result<usize, ManagerError> {
        self.wait_inner(wait_until(deadline))
    }

    /// Breaks the barrier: waiting parties, and later ones, get
    /// [`ManagerError::BrokenBarrier`].
    pub fn abort(&self) -> Result<(), ManagerError> {
        match self.obj.call(Op::Abort)? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Returns the barrier to its initial state; parties waiting now get
    /// [`ManagerError::BrokenBarrier`].
    pub fn reset(&self) -> Result<(), ManagerError> {
        match self.obj.call(Op::Reset)? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// How many parties it waits for.
    pub fn parties(&self) -> Result<usize, ManagerError> {
        self.count(Op::Parties)
    }

    /// How many parties are waiting now.
    pub fn n_waiting(&self) -> Result<usize, ManagerError> {
        self.count(Op::NWaiting)
    }

    /// Whether the barrier is broken.
    pub fn broken(&self) -> Result<bool, ManagerError> {
        flag(&self.obj, Op::Broken)
    }
}

super::proxy_impls!(BarrierProxy);
