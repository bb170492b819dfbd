//! The children of this process that have not been reaped yet (Python's `_children`).

use std::sync::{Arc, Mutex};
use std::time::Instant;

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

/// The children of this process that are still running (Python's
/// `multiprocessing.active_children()`). Calling it also reaps children that have ended.
pub fn active_children() -> Vec<super::ProcessInfo> {
    reap_finished();
    snapshot().iter().map(|c| c.info()).collect()
}
