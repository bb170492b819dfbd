//! How a multiproc process ends: the exit hook, finalizers, and [`exit`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::sys;

static INSTALLED: AtomicBool = AtomicBool::new(false);
static DONE: AtomicBool = AtomicBool::new(false);

type Finalizer = Box<dyn FnOnce() + Send>;

static FINALIZERS: Mutex<Vec<(i32, Finalizer)>> = Mutex::new(Vec::new());

/// Registers the exit hook (once per process).
pub(crate) fn install() {
    if !INSTALLED.swap(true, Ordering::SeqCst) && sys::proc::at_exit(on_exit).is_err() {
        log::warn!(target: "multiproc", "could not register the exit hook; children will not be joined at exit");
    }
}

extern "C" fn on_exit() {
    // Nothing may unwind out of an exit hook.
    let _ = catch_unwind(AssertUnwindSafe(shutdown));
}

/// Registers `f` to run when this process shuts down. Finalizers of priority >= 0 run before
/// children are joined, the others after; higher priorities first, then the latest first.
#[allow(dead_code)] // for resources that must be released at exit (shared memory, managers)
pub(crate) fn register_finalizer(priority: i32, f: impl FnOnce() + Send + 'static) {
    FINALIZERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((priority, Box::new(f)));
}

fn run_finalizers(min_priority: Option<i32>) {
    loop {
        let next = {
            let mut list = FINALIZERS.lock().unwrap_or_else(|e| e.into_inner());
            // The highest priority, and among equals the latest registered.
            let best = list
                .iter()
                .enumerate()
                .filter(|(_, (p, _))| min_priority.is_none_or(|m| *p >= m))
                .max_by_key(|(i, (p, _))| (*p, *i))
                .map(|(i, _)| i);
            best.map(|i| list.remove(i).1)
        };
        match next {
            Some(f) => {
                let _ = catch_unwind(AssertUnwindSafe(f));
            }
            None => return,
        }
    }
}

/// The exit sequence, as Python runs it at interpreter exit: finalizers, then daemon children
/// terminated and every child joined, then the remaining finalizers. Runs once.
pub(crate) fn shutdown() {
    if DONE.swap(true, Ordering::SeqCst) {
        return;
    }
    log::info!(target: "multiproc", "process shutting down");
    log::debug!(target: "multiproc", "running all \"atexit\" finalizers with priority >= 0");
    run_finalizers(Some(0));
    let children = super::registry::snapshot();
    for c in children.iter().filter(|c| c.daemon && c.poll().is_none()) {
        log::info!(target: "multiproc", "calling terminate() for daemon {}", c.name);
        let _ = c.signal(sys::proc::signal::TERM);
    }
    for c in &children {
        if c.poll().is_none() {
            log::info!(target: "multiproc", "calling join() for process {}", c.name);
        }
        let _ = c.wait(None);
    }
    log::debug!(target: "multiproc", "running the remaining \"atexit\" finalizers");
    run_finalizers(None);
    crate::start::forkserver::shutdown();
}

/// Ends the current process with `code`, like Python's `sys.exit(code)` in a process.
///
/// In a child, the exit sequence runs (finalizers, daemon children terminated, children
/// joined) and the parent's [`Handle::exitcode`](crate::Handle::exitcode) becomes `code`;
/// `join` then fails with [`ProcessError::Exited`](crate::ProcessError::Exited). In the main
/// program it is `std::process::exit(code)`, which runs the same sequence from the exit hook.
pub fn exit(code: i32) -> ! {
    if crate::start::is_child() {
        crate::start::finish(code)
    } else {
        std::process::exit(code)
    }
}
