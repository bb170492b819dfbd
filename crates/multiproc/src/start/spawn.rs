//! The `spawn` start method: `posix_spawn` of `/proc/self/exe`.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::sys;

/// Starts a child by executing this binary; returns its pid and our end of its bootstrap socket.
pub(crate) fn launch() -> io::Result<(i32, OwnedFd)> {
    let (ours, theirs) = sys::fd::socketpair()?;
    let pid = super::long_lived::run(move || spawn_self(&theirs, super::ENV_BOOT))?;
    Ok((pid, ours))
}

/// Executes `/proc/self/exe` with `keep` inherited and named in environment variable `var`.
pub(crate) fn spawn_self(keep: &OwnedFd, var: &str) -> io::Result<i32> {
    let reexec = super::reexec().ok_or_else(not_initialized)?;
    let env = super::child_env((var, format!("{},{}", keep.as_raw_fd(), std::process::id())));
    let devnull = if reexec.quiet_stdout {
        Some(sys::fd::dev_null()?)
    } else {
        None
    };
    let redirect: Vec<_> = devnull.iter().map(|d| (d.as_fd(), 1)).collect();
    sys::proc::spawn(
        c"/proc/self/exe",
        &reexec.argv,
        &env,
        &[keep.as_fd()],
        &redirect,
    )
}

pub(crate) fn not_initialized() -> io::Error {
    io::Error::other(
        "multiproc::init() was not called at the start of main (or the test is not a #[multiproc::test])",
    )
}
