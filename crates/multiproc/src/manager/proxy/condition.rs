//! [`ConditionProxy`]: a condition variable kept in a manager.

use std::fmt;
use std::ops::Deref;
use std::time::{Duration, Instant};

use super::lock::{ProxyGuard, acquire};
use crate::manager::client::{ObjRef, unexpected, wait_until};
use crate::manager::protocol::{Op, Reply, Wait};
use crate::manager::server::condition::ConditionOp;
use crate::manager::server::lock::LockOp;
use crate::manager::{LockError, ManagerError};
use crate::sync::HolderDied;

/// A condition variable kept in a manager, with its own reentrant lock (Python's
/// `Manager().Condition()`).
///
/// [`acquire`](Self::acquire) returns a [`ConditionProxyGuard`], which waits and notifies. The
/// lock is a reentrant lock's: its next acquirer (or a waiter taking it back) after the
/// holder's process ended takes it over and gets [`LockError::HolderDied`].
///
/// ```rust,standalone_crate
/// multiproc::init();
/// let manager = multiproc::Manager::start().unwrap();
/// let cond = manager.condition().unwrap();
/// let guard = cond.acquire().unwrap();
/// // Nobody notifies: the wait times out (and takes the lock back).
/// assert!(!guard.wait_timeout(std::time::Duration::from_millis(10)).unwrap());
/// guard.notify_all().unwrap();
/// ```
pub struct ConditionProxy {
    obj: ObjRef,
}

type GuardResult<'a> = Result<ConditionProxyGuard<'a>, LockError<ConditionProxyGuard<'a>>>;

impl ConditionProxy {
    pub(crate) fn from_ref(obj: ObjRef) -> Self {
        ConditionProxy { obj }
    }

    fn take(&self, wait: Wait) -> GuardResult<'_> {
        let (guard, left_by) = acquire(&self.obj, wait)?;
        let guard = ConditionProxyGuard { guard };
        match left_by {
            None => Ok(guard),
            Some(pid) => Err(LockError::HolderDied(HolderDied::new(guard, pid))),
        }
    }

    /// Waits until the condition's lock is acquired.
    pub fn acquire(&self) -> GuardResult<'_> {
        self.take(Wait::Forever)
    }

    /// Acquires the lock if it is free (or this thread's), else
    /// `LockError::Manager(ManagerError::WouldBlock)`.
    pub fn try_acquire(&self) -> GuardResult<'_> {
        self.take(Wait::Now)
    }

    /// Waits at most `timeout` for the lock, else `LockError::Manager(ManagerError::Timeout)`.
    pub fn acquire_timeout(&self, timeout: Duration) -> GuardResult<'_> {
        self.take(Wait::For(timeout))
    }

    /// Waits until `deadline` at most for the lock.
    pub fn acquire_deadline(&self, deadline: Instant) -> GuardResult<'_> {
        self.take(wait_until(deadline))
    }

    /// Whether the condition's lock is held, by anyone.
    pub fn locked(&self) -> Result<bool, ManagerError> {
        self.obj.flag(Op::Lock(LockOp::Locked))
    }
}

super::proxy_impls!(ConditionProxy);

/// Holds a [`ConditionProxy`]'s lock: wait on the condition or notify its waiters. Dropping it
/// releases the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionProxyGuard<'a> {
    guard: ProxyGuard<'a>,
}

impl ConditionProxyGuard<'_> {
    fn wait_inner(&self, wait: Wait) -> Result<bool, LockError<bool>> {
        let op = Op::Condition(ConditionOp::Wait {
            owner: self.guard.owner,
            wait,
        });
        let woke = self.guard.obj.call(op, |r| match r {
            Reply::Woke {
                notified,
                holder_died,
            } => Ok((notified, holder_died)),
            other => Err(unexpected(other)),
        });
        match woke {
            Ok((notified, None)) => Ok(notified),
            Ok((notified, Some(pid))) => Err(LockError::HolderDied(HolderDied::new(notified, pid))),
            Err(e) => {
                // The wait let go of the lock; whether it was taken back is unknown, and the
                // manager gives back a hold that it could not deliver.
                self.guard.disown();
                Err(LockError::Manager(e))
            }
        }
    }

    /// Releases the lock, waits to be notified, and takes the lock back. Taking it back from a
    /// holder whose process ended meanwhile is [`LockError::HolderDied`] (the lock is held
    /// again all the same).
    pub fn wait(&self) -> Result<(), LockError<()>> {
        self.wait_inner(Wait::Forever)
            .map(drop)
            .map_err(|e| e.map(drop))
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`; whether it was notified. The lock
    /// is held again either way.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, LockError<bool>> {
        self.wait_inner(Wait::For(timeout))
    }

    /// Like [`wait`](Self::wait), giving up at `deadline`; whether it was notified.
    pub fn wait_deadline(&self, deadline: Instant) -> Result<bool, LockError<bool>> {
        self.wait_inner(wait_until(deadline))
    }

    /// Waits until `predicate()` holds, checking it first and after each notification
    /// (Python's `wait_for`).
    pub fn wait_for(&self, mut predicate: impl FnMut() -> bool) -> Result<(), LockError<()>> {
        while !predicate() {
            self.wait()?;
        }
        Ok(())
    }

    /// Like [`wait_for`](Self::wait_for), giving up at `deadline`; the predicate's last value.
    pub fn wait_for_deadline(
        &self,
        deadline: Instant,
        mut predicate: impl FnMut() -> bool,
    ) -> Result<bool, LockError<bool>> {
        loop {
            if predicate() {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            self.wait_deadline(deadline)?;
        }
    }

    /// Wakes up to `n` waiters.
    pub fn notify(&self, n: u32) -> Result<(), ManagerError> {
        let owner = self.guard.owner;
        self.guard
            .obj
            .unit(Op::Condition(ConditionOp::Notify { owner, n }))
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) -> Result<(), ManagerError> {
        let owner = self.guard.owner;
        self.guard
            .obj
            .unit(Op::Condition(ConditionOp::NotifyAll { owner }))
    }

    /// Releases the lock now, reporting whether the manager did.
    pub fn release(self) -> Result<(), ManagerError> {
        self.guard.release()
    }
}

impl<'a> Deref for ConditionProxyGuard<'a> {
    type Target = ProxyGuard<'a>;

    fn deref(&self) -> &ProxyGuard<'a> {
        &self.guard
    }
}

impl fmt::Debug for ConditionProxyGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionProxyGuard")
            .field("object", &self.guard.obj.id())
            .finish()
    }
}
