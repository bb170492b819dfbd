//! The fork server's request loop: the one place that forks with `clone(CLONE_PARENT)`.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use super::fd::{self, Interest};
use super::proc::{self, Forked};

/// The error (an errno) with which a server that has other threads refuses to fork.
pub(crate) const MULTI_THREADED: i32 = libc::EDEADLK;

/// Serves fork requests on `ctl` until the other end closes it, then exits the process.
///
/// A request is one byte carrying one descriptor (the child's bootstrap socket). For each, the
/// server forks a child whose parent is the server's parent, calls `child(ctl, boot)` in it
/// (which must not return), and replies with the child's pid as 4 little-endian bytes, or
/// `-errno` if the fork failed. A server that is not single-threaded never forks: it answers
/// every request with `-EDEADLK` ([`MULTI_THREADED`]).
pub(crate) fn serve(ctl: OwnedFd, child: fn(OwnedFd, OwnedFd) -> !) -> ! {
    let single_threaded = proc::thread_count() == 1;
    loop {
        let mut byte = [0u8; 1];
        let mut fds = Vec::new();
        match fd::recv_with_fds(ctl.as_fd(), &mut byte, &mut fds) {
            Ok(0) => proc::exit_immediately(0),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if fd::poll(&[(ctl.as_fd(), Interest::Read)], None).is_err() {
                    proc::exit_immediately(1);
                }
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => proc::exit_immediately(1),
        }
        for boot in fds {
            if !single_threaded {
                drop(boot);
                if write_all_blocking(ctl.as_fd(), &(-MULTI_THREADED).to_le_bytes()).is_err() {
                    proc::exit_immediately(1);
                }
                continue;
            }
            // SAFETY: the fork server is single-threaded (checked above, when this loop began):
            // it enters this loop from the process constructor, before `main`, and the loop
            // starts no thread. The child only runs the bootstrap, which reinitialises
            // multiproc's state.
            let reply = match unsafe { proc::fork_sibling() } {
                Ok(Forked::Child) => child(ctl, boot),
                Ok(Forked::Parent(pid)) => pid,
                Err(e) => -e.raw_os_error().unwrap_or(libc::EAGAIN),
            };
            drop(boot);
            if write_all_blocking(ctl.as_fd(), &reply.to_le_bytes()).is_err() {
                proc::exit_immediately(1);
            }
        }
    }
}

fn write_all_blocking(sock: std::os::fd::BorrowedFd<'_>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match fd::send_with_fds(sock, &[io::IoSlice::new(buf)], &[]) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                fd::poll(&[(sock, Interest::Write)], None)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
