//! How a multiproc process ends: the exit sequence, `atexit` handlers, and [`exit`].
//!
//! The main program runs the sequence from a C `atexit` hook (registered at the first start,
//! or by [`init`](crate::init)), so it runs when `main` returns or `std::process::exit` is
//! called. A child runs it when its target returns (see [`finish`]).

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::sys;

/// How long a daemon child has, after the SIGTERM sent when its parent exits, before it is
/// killed with SIGKILL. A daemon that ignores or handles SIGTERM therefore delays its parent's
/// exit by this much at most.
pub const DAEMON_GRACE: Duration = Duration::from_secs(3);

/// The signal a child gets when its parent dies without running its exit sequence (killed by
/// a signal, or ended by `_exit`). It is SIGKILL: the parent is gone and cannot give its
/// children a grace period, and a child that ignored SIGTERM would otherwise escape. See
/// [`Process::outlives_parent`](crate::Process::outlives_parent) to opt out.
pub(crate) const PARENT_DEATH_SIGNAL: i32 = sys::proc::signal::KILL;

static INSTALLED: AtomicBool = AtomicBool::new(false);
static DONE: AtomicBool = AtomicBool::new(false);

type Handler = Box<dyn FnOnce() + Send>;

/// `atexit` handlers (priority 0) and multiproc's own finalizers.
static FINALIZERS: Mutex<Vec<(i32, Handler)>> = Mutex::new(Vec::new());

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

/// Registers `f` to run when this process ends (Python's `atexit.register`): in the main
/// program when `main` returns or [`exit`] (or `std::process::exit`) is called; in a child
/// when its target returns or it calls [`exit`]. Handlers run latest first, before the
/// process waits for its children; a panic in one is printed and the others still run.
///
/// ```rust,standalone_crate
/// fn worker(n: u32) {
///     multiproc::atexit(move || println!("worker {n}: goodbye"));
///     println!("worker {n}: working");
/// }
///
/// fn main() {
///     multiproc::spawn(worker, 1).join().unwrap(); // "working", then "goodbye"
/// }
/// ```
pub fn atexit(f: impl FnOnce() + Send + 'static) {
    if !super::is_child() {
        install();
    }
    register_finalizer(0, f);
}

/// Registers `f` to run when this process shuts down. Finalizers of priority >= 0 run before
/// children are joined, the others after; higher priorities first, then the latest first.
pub(crate) fn register_finalizer(priority: i32, f: impl FnOnce() + Send + 'static) {
    FINALIZERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((priority, Box::new(f)));
}

/// In a `fork` copy: the handlers registered by the parent are the parent's.
pub(super) fn forget_finalizers() {
    if let Ok(mut list) = FINALIZERS.try_lock() {
        list.clear();
    }
    DONE.store(false, Ordering::SeqCst);
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
/// terminated (and killed after [`DAEMON_GRACE`]) and every other child joined, then the
/// remaining finalizers. Runs once.
pub(crate) fn shutdown() {
    if DONE.swap(true, Ordering::SeqCst) {
        return;
    }
    log::info!(target: "multiproc", "process shutting down");
    log::debug!(target: "multiproc", "running all \"atexit\" finalizers with priority >= 0");
    run_finalizers(Some(0));
    crate::process::stop_children(DAEMON_GRACE);
    log::debug!(target: "multiproc", "running the remaining \"atexit\" finalizers");
    run_finalizers(None);
    crate::start::shutdown_fork_server();
}

/// Ends the current process with `code`, like Python's `sys.exit(code)` in a process.
///
/// In a child, the exit sequence runs (`atexit` handlers, daemon children terminated,
/// children joined) and the parent's [`Handle::exitcode`](crate::Handle::exitcode) becomes
/// `code`; `join` then fails with [`ProcessError::Exited`](crate::ProcessError::Exited). In the
/// main program it is `std::process::exit(code)`, which runs the same sequence from the exit
/// hook.
pub fn exit(code: i32) -> ! {
    if super::is_child() {
        finish(code)
    } else {
        std::process::exit(code)
    }
}

/// Ends a child: runs the exit sequence (with the child's [`atexit`] handlers), logs, flushes
/// Rust's and C's standard streams and exits with `code`.
///
/// A child that was executed (the spawn method) is a program of its own: it ends through the
/// C library's `exit`, so C `atexit` handlers registered in it run too. A child forked from the
/// fork server or by the `fork` method ends with `_exit` after the flush, as Python's forked
/// children do: the C handlers it holds are mostly copies of another process's, and a full C
/// `exit` would add its cost to every such child.
pub(crate) fn finish(code: i32) -> ! {
    shutdown();
    log::info!(target: "multiproc", "process exiting with exitcode {code}");
    log::logger().flush();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    sys::proc::flush_c_stdio();
    if super::bootstrap::was_executed() {
        sys::proc::exit(code)
    }
    sys::proc::exit_immediately(code)
}
