//! The `spawn` start method: `posix_spawn` of `/proc/self/exe`.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use crate::sys;

/// Starts a child by executing this binary; returns its pid and our end of its bootstrap socket.
pub(crate) fn launch() -> io::Result<(i32, OwnedFd)> {
    let (ours, theirs) = sys::fd::socketpair()?;
    let pid = super::long_lived::run(move || spawn_self(&theirs, crate::child::ENV_BOOT))?;
    Ok((pid, ours))
}

/// Executes `/proc/self/exe`, with this program's arguments, `pass` inherited and named in the
/// boot marker `var` (the process constructor catches the new process before `main`).
pub(super) fn spawn_self(pass: &OwnedFd, var: &str) -> io::Result<i32> {
    let marker = format!("{},{}", sys::proc::PASSED_FD, std::process::id());
    let env = super::child_env((var, marker));
    sys::proc::spawn(c"/proc/self/exe", &super::child_argv(), &env, pass.as_fd())
}
