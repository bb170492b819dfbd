//! The child side of the bootstrap, and how every multiproc process ends.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::{Invocation, Outcome};
use crate::codec::{Bytes, Fd};
use crate::connection::Connection;
use crate::sys;

/// Everything a child needs to become the process its parent described.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Boot {
    pub(crate) entry: i64,
    pub(crate) tag: u64,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) identity: Vec<u32>,
    pub(crate) daemon: bool,
    pub(crate) parent_pid: u32,
    pub(crate) parent_name: String,
    pub(crate) authkey: Bytes,
    pub(crate) log_level: Option<u8>,
    pub(crate) default_method: u8,
    pub(crate) stdio: [Option<Fd>; 3],
    pub(crate) args: Bytes,
    pub(crate) arg_fds: Vec<Fd>,
}

static IS_CHILD: AtomicBool = AtomicBool::new(false);

/// Whether this process is a multiproc child (not the main program).
pub(crate) fn is_child() -> bool {
    IS_CHILD.load(Ordering::Relaxed)
}

/// Runs a child that was started by executing this binary.
pub(crate) fn run_spawned(boot: OwnedFd) -> ! {
    run(boot)
}

/// Runs a child forked from the fork server (`ctl` is the server's control socket).
pub(crate) fn run_forked_from_server(ctl: OwnedFd, boot: OwnedFd) -> ! {
    drop(ctl);
    sys::proc::set_signal_ignored(sys::proc::signal::INT, false);
    run(boot)
}

/// Runs a child made by the `fork` method, in the copy of the parent's memory.
pub(crate) fn run_forked(boot: OwnedFd) -> ! {
    run(boot)
}

fn run(boot_sock: OwnedFd) -> ! {
    IS_CHILD.store(true, Ordering::Relaxed);
    // A forked child holds copies of its parent's children and fork server: not its own.
    crate::process::registry::reset_after_fork();
    super::forkserver::forget();

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
    // Die with the parent. If it already died, our parent is now someone else: stop here.
    let _ = sys::proc::set_parent_death_signal(sys::proc::signal::TERM);
    if sys::proc::getppid() as u32 != boot.parent_pid {
        sys::proc::exit_immediately(1);
    }
    crate::process::current::become_child(&boot);
    sys::proc::set_process_name(&boot.name);
    super::inherit_default_method(boot.default_method);
    crate::logging::inherit(boot.log_level);
    crate::process::exit::install();
    let name = boot.name.clone();
    std::panic::set_hook(Box::new(move |info| {
        let _ = writeln!(std::io::stderr(), "Process {name}:\n{info}");
    }));

    log::info!(target: "multiproc", "child process calling self.run()");
    let entry = sys::target::entry_from_parent::<super::Entry>(boot.entry);
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
            let _ = writeln!(std::io::stderr(), "Process {}:\n{msg}", boot.name);
            1
        }
    };
    // The parent may have dropped its handle: then nobody wants the result.
    let _ = conn.send(&outcome);
    finish(code)
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// Ends a child: runs the exit sequence (finalizers, daemons, joins), logs, flushes and exits
/// with `code` without running the parent's copies of anything else.
pub(crate) fn finish(code: i32) -> ! {
    crate::process::exit::shutdown();
    log::info!(target: "multiproc", "process exiting with exitcode {code}");
    log::logger().flush();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    sys::proc::exit_immediately(code)
}
