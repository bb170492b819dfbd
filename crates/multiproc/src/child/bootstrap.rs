//! The child's bootstrap: receive the parent's description of this process, become it, run the
//! target, report how it ended, and exit.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::codec::{Bytes, Fd};
use crate::connection::Connection;
use crate::process::Identity;
use crate::start::{Entry, Invocation, Outcome, panic_message};
use crate::sys;

/// Everything a child needs to become the process its parent described.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Boot {
    /// The entry function, as an offset from the anchor (see `sys::target`).
    pub(crate) entry: i64,
    pub(crate) tag: u64,
    pub(crate) identity: Identity,
    pub(crate) parent_pid: u32,
    pub(crate) parent_name: String,
    pub(crate) authkey: Bytes,
    pub(crate) log: crate::logging::Inherited,
    /// The start method this child was started with, which becomes its own default.
    pub(crate) start_method: u8,
    pub(crate) stdio: [Option<Fd>; 3],
    pub(crate) args: Bytes,
    pub(crate) arg_fds: Vec<Fd>,
}

static IS_CHILD: AtomicBool = AtomicBool::new(false);
/// Whether this child was executed from `/proc/self/exe` (the spawn method), rather than
/// forked from the fork server or from its parent.
static EXECUTED: AtomicBool = AtomicBool::new(false);

/// Whether this process is a multiproc child (or the fork server), not the main program.
pub(crate) fn is_child() -> bool {
    IS_CHILD.load(Ordering::Relaxed)
}

pub(super) fn mark_child() {
    IS_CHILD.store(true, Ordering::Relaxed);
}

/// Whether this child was executed from `/proc/self/exe` (the spawn method).
pub(super) fn was_executed() -> bool {
    EXECUTED.load(Ordering::Relaxed)
}

/// Runs a child that was started by executing this binary.
pub(super) fn run_spawned(boot: OwnedFd) -> ! {
    EXECUTED.store(true, Ordering::Relaxed);
    run(boot)
}

/// Runs a child forked from the fork server (`ctl` is the server's control socket).
pub(super) fn run_forked_from_server(ctl: OwnedFd, boot: OwnedFd) -> ! {
    drop(ctl);
    sys::proc::set_signal_blocked(sys::proc::signal::INT, false);
    run(boot)
}

/// Runs a child made by the `fork` method, in the copy of the parent's memory.
pub(crate) fn run_forked(boot: OwnedFd) -> ! {
    mark_child();
    // A forked child holds copies of its parent's children, reaper and fork server: not its own.
    crate::process::forget_parents_children();
    crate::start::forget_fork_server();
    super::exit::forget_finalizers();
    run(boot)
}

fn run(boot_sock: OwnedFd) -> ! {
    let conn = Connection::from_socket(boot_sock, true, true);
    let mut boot: Boot = match conn.recv() {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "multiproc: child bootstrap failed: {e}");
            sys::proc::exit_immediately(1);
        }
    };
    // The parent's standard streams become ours; the copies that carried them are closed.
    for (i, fd) in boot.stdio.iter_mut().enumerate() {
        if let Some(fd) = fd.take() {
            let _ = sys::fd::dup_onto(fd.as_fd(), i as i32);
        }
    }
    // Die with the parent, unless asked to outlive it. If it already died, our parent is now
    // someone else: stop here.
    if !boot.identity.outlives_parent {
        let _ = sys::proc::set_parent_death_signal(super::exit::PARENT_DEATH_SIGNAL);
        if sys::proc::getppid() as u32 != boot.parent_pid {
            sys::proc::exit_immediately(1);
        }
    }
    crate::process::become_child(&boot);
    sys::proc::set_process_name(&boot.identity.name);
    crate::start::set_start_method(sys::fork_method::StartMethod::from_wire(boot.start_method));
    crate::logging::inherit(boot.log);
    super::exit::install();
    let name = boot.identity.name.clone();
    std::panic::set_hook(Box::new(move |info| {
        let _ = writeln!(std::io::stderr(), "Process {name}:\n{info}");
    }));

    log::info!(target: "multiproc", "child process calling self.run()");
    let entry = sys::target::entry_from_parent::<Entry>(boot.entry);
    let inv = Invocation {
        tag: boot.tag,
        args: boot.args.0,
        fds: boot.arg_fds.into_iter().map(OwnedFd::from).collect(),
    };
    let outcome = match catch_unwind(AssertUnwindSafe(|| entry(inv))) {
        Ok(o) => o,
        Err(payload) => Outcome::Panicked(panic_message(payload.as_ref())),
    };
    let code = match &outcome {
        Outcome::Returned { .. } => 0,
        Outcome::Panicked(_) => 1,
        Outcome::Failed(msg) => {
            let _ = writeln!(std::io::stderr(), "Process {}:\n{msg}", boot.identity.name);
            1
        }
    };
    // The parent may have dropped its handle: then nobody wants the result.
    let _ = conn.send(&outcome);
    super::finish(code)
}
