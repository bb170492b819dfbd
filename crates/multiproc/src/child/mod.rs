//! The child side of a process: how it is caught before `main`, its bootstrap, and how every
//! multiproc process ends.
//!
//! A child (or the fork server) is this same executable, started with a *boot marker* in its
//! environment: `MULTIPROC_BOOT=<fd>,<parent pid>` for a child, `MULTIPROC_FORKSERVER=…` for
//! the fork server. The constructor in [`crate::sys::entry`] calls [`enter`] before `main`; if
//! the marker is there, meant for this process (its parent pid matches and the descriptor is
//! open), and the process is not running in secure-execution mode, the rest of the program's
//! constructors run and then the child's job (or the server's loop), and the process exits
//! without ever running `main`. Otherwise [`enter`] returns and the program starts as usual.

#![forbid(unsafe_code)]

mod bootstrap;
pub(crate) mod exit;
mod server;

pub(crate) use bootstrap::{Boot, is_child, run_forked};
pub(crate) use exit::finish;

use std::ffi::OsStr;

use crate::sys;
use crate::sys::entry::LaterConstructors;

/// The environment variable that marks a child; its value is `<fd>,<parent pid>`.
pub(crate) const ENV_BOOT: &str = "MULTIPROC_BOOT";
/// The environment variable that marks the fork server; its value is `<fd>,<parent pid>`.
pub(crate) const ENV_FORKSERVER: &str = "MULTIPROC_FORKSERVER";

/// What a boot marker asks this process to become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Child,
    ForkServer,
}

/// A boot marker that was meant for this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Marker {
    role: Role,
    fd: i32,
    parent: i32,
}

impl Marker {
    /// Reads a marker from `value` (the variable's value, if set). It is ours only if it
    /// names our parent, and never in a secure-execution process, whose environment may come
    /// from a less privileged user.
    fn parse(role: Role, value: Option<&OsStr>, parent: i32, secure: bool) -> Option<Marker> {
        if secure {
            return None;
        }
        let (fd, ppid) = value?.to_str()?.split_once(',')?;
        let (fd, ppid): (i32, i32) = (fd.parse().ok()?, ppid.parse().ok()?);
        (ppid == parent && fd >= 3).then_some(Marker { role, fd, parent })
    }
}

/// Called by the process constructor before `main`: becomes a child or the fork server if a
/// boot marker says so (and never returns then), or returns at once in any other program.
pub(crate) fn enter(later: LaterConstructors) {
    let boot = std::env::var_os(ENV_BOOT);
    let server = std::env::var_os(ENV_FORKSERVER);
    if boot.is_none() && server.is_none() {
        return;
    }
    let (parent, secure) = (sys::proc::getppid(), sys::entry::secure_execution());
    let marker = Marker::parse(Role::Child, boot.as_deref(), parent, secure)
        .or_else(|| Marker::parse(Role::ForkServer, server.as_deref(), parent, secure));
    let Some(marker) = marker else { return };
    let Some(fd) = sys::fd::take_inherited(marker.fd) else {
        return;
    };
    bootstrap::mark_child();
    // What Rust's `main` wrapper would have done before `main`: a broken pipe is an error
    // (EPIPE), not a signal that kills the process.
    sys::proc::set_signal_ignored(sys::proc::signal::PIPE, true);
    // The constructors after ours, which the C runtime will never reach now.
    later.run();
    match marker.role {
        Role::Child => bootstrap::run_spawned(fd),
        Role::ForkServer => server::serve(fd, marker.parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str, parent: i32, secure: bool) -> Option<Marker> {
        Marker::parse(Role::Child, Some(OsStr::new(value)), parent, secure)
    }

    #[test]
    fn marker_for_our_parent_is_taken() {
        assert_eq!(
            parse("3,1234", 1234, false),
            Some(Marker {
                role: Role::Child,
                fd: 3,
                parent: 1234
            })
        );
    }

    #[test]
    fn marker_is_ignored_in_secure_execution() {
        assert_eq!(parse("3,1234", 1234, true), None);
    }

    #[test]
    fn marker_for_another_parent_is_ignored() {
        assert_eq!(parse("3,1234", 99, false), None);
    }

    #[test]
    fn malformed_markers_are_ignored() {
        for bad in [
            "", "3", "3,", ",1234", "x,1234", "3,y", "1,1234", "-1,1234", "3,1234,5",
        ] {
            assert_eq!(parse(bad, 1234, false), None, "{bad:?}");
        }
        assert_eq!(Marker::parse(Role::Child, None, 1234, false), None);
    }
}
