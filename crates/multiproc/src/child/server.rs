//! The fork server process: caught before `main` like a child, it forks children on request.

use std::os::fd::OwnedFd;

use crate::sys;

/// The fork server's life: it dies with its parent, ignores the terminal's SIGINT (its
/// children get their own), and serves fork requests until its parent closes the control
/// socket.
pub(super) fn serve(ctl: OwnedFd, expected_parent: i32) -> ! {
    let _ = sys::proc::set_parent_death_signal(sys::proc::signal::KILL);
    if sys::proc::getppid() != expected_parent {
        sys::proc::exit_immediately(0);
    }
    sys::proc::set_signal_ignored(sys::proc::signal::INT, true);
    sys::proc::set_process_name("mp-forkserver");
    sys::forkserver::serve(ctl, super::bootstrap::run_forked_from_server)
}
