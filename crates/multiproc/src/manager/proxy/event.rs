//! [`EventProxy`]: an event kept in a manager.

use std::time::{Duration, Instant};

use crate::manager::ManagerError;
use crate::manager::client::{ObjRef, wait_until};
use crate::manager::protocol::{Op, Wait};
use crate::manager::server::event::EventOp;

/// An event flag kept in a manager (Python's `Manager().Event()`).
///
/// ```rust,standalone_crate
/// multiproc::init();
/// let manager = multiproc::Manager::start().unwrap();
/// let e = manager.event().unwrap();
/// assert!(!e.wait_timeout(std::time::Duration::from_millis(10)).unwrap());
/// e.set().unwrap();
/// assert!(e.wait().unwrap());
/// ```
pub struct EventProxy {
    obj: ObjRef,
}

impl EventProxy {
    pub(crate) fn from_ref(obj: ObjRef) -> Self {
        EventProxy { obj }
    }

    fn wait_inner(&self, wait: Wait) -> Result<bool, ManagerError> {
        self.obj.flag(Op::Event(EventOp::Wait(wait)))
    }

    /// Sets the flag, waking every waiter.
    pub fn set(&self) -> Result<(), ManagerError> {
        self.obj.unit(Op::Event(EventOp::Set))
    }

    /// Clears the flag.
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.obj.unit(Op::Event(EventOp::Clear))
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> Result<bool, ManagerError> {
        self.obj.flag(Op::Event(EventOp::IsSet))
    }

    /// Waits until the flag is set; returns `true`.
    pub fn wait(&self) -> Result<bool, ManagerError> {
        self.wait_inner(Wait::Forever)
    }

    /// Whether the flag is set, without waiting.
    pub fn try_wait(&self) -> Result<bool, ManagerError> {
        self.wait_inner(Wait::Now)
    }

    /// Waits at most `timeout` for the flag; whether it is set.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, ManagerError> {
        self.wait_inner(Wait::For(timeout))
    }

    /// Waits until `deadline` at most for the flag; whether it is set.
    pub fn wait_deadline(&self, deadline: Instant) -> Result<bool, ManagerError> {
        self.wait_inner(wait_until(deadline))
    }
}

super::proxy_impls!(EventProxy);
