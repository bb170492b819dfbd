//! The children of this process that have not been reaped yet (Python's `_children`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sys;

use super::child::Child;

static CHILDREN: Mutex<Vec<Arc<Child>>> = Mutex::new(Vec::new());

pub(crate) fn add(child: Arc<Child>) {
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(child);
}

/// Drops a reaped child from the registry.
pub(crate) fn forget(pid: i32) {
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|c| c.pid != pid);
}

pub(crate) fn snapshot() -> Vec<Arc<Child>> {
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Reaps every child that has ended, so that none lingers as a zombie.
pub(crate) fn reap_finished() {
    let now = Instant::now();
    for c in snapshot() {
        let _ = c.wait(Some(now));
    }
}

/// In a freshly forked child: the registry holds the parent's children, which are not ours.
pub(crate) fn reset_after_fork() {
    if let Ok(mut g) = CHILDREN.try_lock() {
        g.clear();
    }
}

/// The children's part of the exit sequence, as Python's: daemons get SIGTERM, and those still
/// running after `grace` get SIGKILL; every other child is joined (without a bound, as Python
/// joins them). Children that outlive their parent are left alone.
pub(crate) fn stop_children(grace: Duration) {
    let children: Vec<Arc<Child>> = snapshot()
        .into_iter()
        .filter(|c| !c.identity.outlives_parent)
        .collect();
    let (daemons, others): (Vec<_>, Vec<_>) = children.into_iter().partition(|c| c.identity.daemon);
    let daemons: Vec<_> = daemons.into_iter().filter(|c| c.poll().is_none()).collect();
    for c in &daemons {
        log::info!(target: "multiproc", "calling terminate() for daemon {}", c.identity.name);
        let _ = c.signal(sys::proc::signal::TERM);
    }
    let deadline = Instant::now() + grace;
    for c in &daemons {
        c.wait_or_kill(deadline);
    }
    for c in &others {
        if c.poll().is_none() {
            log::info!(target: "multiproc", "calling join() for process {}", c.identity.name);
        }
        let _ = c.wait(None);
    }
}

/// The children of this process that are still running (Python's
/// `multiprocessing.active_children()`). Calling it also reaps children that have ended.
pub fn active_children() -> Vec<super::ProcessInfo> {
    reap_finished();
    snapshot().iter().map(|c| c.info()).collect()
}
