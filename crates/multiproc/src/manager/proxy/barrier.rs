//! [`BarrierProxy`]: a barrier kept in a manager.

use std::time::{Duration, Instant};

use crate::manager::ManagerError;
use crate::manager::client::{ObjRef, wait_until};
use crate::manager::protocol::{Op, Wait};
use crate::manager::server::barrier::BarrierOp;

/// A barrier kept in a manager (Python's `Manager().Barrier(parties)`): each party's `wait`
/// returns once all `parties` are waiting.
///
/// A wait that times out breaks the barrier for every party, as in Python; so does
/// [`abort`](Self::abort), and so does a party whose process dies (or whose call gives up) while
/// it waits, since the others would otherwise wait for it forever. The parties then get [`ManagerError::BrokenBarrier`] until
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

    fn wait_inner(&self, wait: Wait) -> Result<usize, ManagerError> {
        self.obj.count(Op::Barrier(BarrierOp::Wait(wait)))
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
        self.obj.unit(Op::Barrier(BarrierOp::Abort))
    }

    /// Returns the barrier to its initial state; parties waiting now get
    /// [`ManagerError::BrokenBarrier`].
    pub fn reset(&self) -> Result<(), ManagerError> {
        self.obj.unit(Op::Barrier(BarrierOp::Reset))
    }

    /// How many parties it waits for.
    pub fn parties(&self) -> Result<usize, ManagerError> {
        self.obj.count(Op::Barrier(BarrierOp::Parties))
    }

    /// How many parties are waiting now.
    pub fn n_waiting(&self) -> Result<usize, ManagerError> {
        self.obj.count(Op::Barrier(BarrierOp::NWaiting))
    }

    /// Whether the barrier is broken.
    pub fn broken(&self) -> Result<bool, ManagerError> {
        self.obj.flag(Op::Barrier(BarrierOp::Broken))
    }
}

super::proxy_impls!(BarrierProxy);
