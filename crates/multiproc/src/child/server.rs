//! The fork server process: caught before `main` like a child, it forks children on request.

use std::os::fd::OwnedFd;

use crate::sys;

/// The fork server's life: it dies with its parent, keeps the terminal's SIGINT blocked (its
/// children get their own), and serves fork requests until its parent closes the control
/// socket.
///
/// SIGINT is blocked rather than ignored so that a child can never miss one: a SIGINT sent to
/// a child between its fork and its bootstrap stays pending, and is delivered when the child
/// unblocks it (an ignored one would be lost).
pub(super) fn serve(ctl: OwnedFd, expected_parent: i32) -> ! {
    let _ = sys::proc::set_parent_death_signal(sys::proc::signal::KILL);
    if sys::proc::getppid() != expected_parent {
        sys::proc::exit_immediately(0);
    }
    sys::proc::set_signal_blocked(sys::proc::signal::INT, true);
    sys::proc::set_process_name("mp-forkserver");
    sys::forkserver::serve(ctl, super::bootstrap::run_forked_from_server)
}
