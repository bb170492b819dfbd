//! Reaps children whose handles were dropped, as soon as they end.
//!
//! A dropped [`Handle`](crate::Handle) detaches its child, which keeps running. So that it is
//! never left a zombie, even in a program that makes no further multiproc call, one thread
//! (started at the first detach) waits on the pidfds of detached children and reaps each as
//! soon as it ends.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::child::Child;
use crate::sys;
use crate::sys::fd::Interest;

struct Reaper {
    /// The process that started the thread; in a `fork` copy, the thread does not exist.
    owner: u32,
    /// Written to when a child is added, to wake the thread.
    wake: OwnedFd,
}

static REAPER: Mutex<Option<Reaper>> = Mutex::new(None);
static DETACHED: Mutex<Vec<Arc<Child>>> = Mutex::new(Vec::new());

/// Hands a running child whose handle was dropped to the reaper thread.
pub(crate) fn detach(child: Arc<Child>) {
    DETACHED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(child);
    let mut reaper = REAPER.lock().unwrap_or_else(|e| e.into_inner());
    if reaper
        .as_ref()
        .is_none_or(|r| r.owner != std::process::id())
    {
        *reaper = start();
    }
    match reaper.as_ref() {
        Some(r) => {
            let _ = sys::fd::send_with_fds(r.wake.as_fd(), &[std::io::IoSlice::new(b"w")], &[]);
        }
        // No thread: the child is reaped at the next start, `active_children()` or exit.
        None => {
            log::debug!(target: "multiproc", "no reaper thread; detached children are reaped later")
        }
    }
}

fn start() -> Option<Reaper> {
    let (wake, watch) = sys::fd::socketpair().ok()?;
    std::thread::Builder::new()
        .name("multiproc-reaper".into())
        .spawn(move || run(watch))
        .ok()?;
    Some(Reaper {
        owner: std::process::id(),
        wake,
    })
}

fn run(watch: OwnedFd) {
    loop {
        let children = DETACHED.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut set = vec![(watch.as_fd(), Interest::Read)];
        set.extend(children.iter().map(|c| (c.pidfd.as_fd(), Interest::Read)));
        let Ok(ready) = sys::fd::poll(&set, None) else {
            return;
        };
        if ready[0] {
            let mut buf = [0u8; 64];
            let mut fds = Vec::new();
            if matches!(
                sys::fd::recv_with_fds(watch.as_fd(), &mut buf, &mut fds),
                Ok(0)
            ) {
                return;
            }
        }
        let now = Instant::now();
        let ended: Vec<i32> = children
            .iter()
            .zip(&ready[1..])
            .filter(|(c, ready)| **ready && c.wait(Some(now)).map_or(true, |s| s.is_some()))
            .map(|(c, _)| c.pid)
            .collect();
        if !ended.is_empty() {
            DETACHED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|c| !ended.contains(&c.pid));
        }
    }
}

/// In a `fork` copy: the parent's detached children are not ours.
pub(crate) fn forget() {
    if let Ok(mut list) = DETACHED.try_lock() {
        list.clear();
    }
}
