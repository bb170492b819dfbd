//! The `forkserver` start method, parent side: a server executed once from `/proc/self/exe`
//! (its loop is in `child::server`) forks children on request.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;

use crate::sys;
use crate::sys::fd::Interest;

#[derive(Debug)]
struct Server {
    ctl: OwnedFd,
    pidfd: OwnedFd,
    /// The process that started the server; a forked copy of this state is not ours.
    owner: u32,
}

static SERVER: Mutex<Option<Server>> = Mutex::new(None);

/// Asks the fork server for a child, starting (or restarting) the server as needed. Returns the
/// child's pid and our end of its bootstrap socket.
pub(crate) fn launch() -> io::Result<(i32, OwnedFd)> {
    let (ours, theirs) = sys::fd::socketpair()?;
    let mut guard = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    if guard
        .as_ref()
        .is_some_and(|s| s.owner != std::process::id())
    {
        *guard = None;
    }
    let mut attempt = 0;
    loop {
        if guard.is_none() {
            *guard = Some(super::long_lived::run(start_server)?);
        }
        let server = guard.as_ref().expect("just set");
        match server.request(&theirs) {
            Ok(pid) => return Ok((pid, ours)),
            Err(e) => {
                if let Some(old) = guard.take() {
                    old.reap();
                }
                attempt += 1;
                if attempt == 2 {
                    return Err(e);
                }
                log::debug!(target: "multiproc", "fork server is gone ({e}); starting a new one");
            }
        }
    }
}

fn start_server() -> io::Result<Server> {
    let (ctl, server_end) = sys::fd::socketpair()?;
    let pid = super::spawn::spawn_self(&server_end, crate::child::ENV_FORKSERVER)?;
    drop(server_end);
    let pidfd = sys::proc::pidfd_open(pid)?;
    log::trace!(target: "multiproc", "started fork server with pid {pid}");
    Ok(Server {
        ctl,
        pidfd,
        owner: std::process::id(),
    })
}

impl Server {
    fn request(&self, boot: &OwnedFd) -> io::Result<i32> {
        let gone = || io::Error::new(io::ErrorKind::BrokenPipe, "the fork server exited");
        let ctl = self.ctl.as_fd();
        loop {
            match sys::fd::send_with_fds(ctl, &[io::IoSlice::new(b"F")], &[boot.as_fd()]) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let ready = sys::fd::poll(
                        &[(ctl, Interest::Write), (self.pidfd.as_fd(), Interest::Read)],
                        None,
                    )?;
                    if ready[1] {
                        return Err(gone());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(gone()),
            }
        }
        let mut reply = [0u8; 4];
        let mut got = 0;
        let mut stray = Vec::new();
        while got < 4 {
            match sys::fd::recv_with_fds(ctl, &mut reply[got..], &mut stray) {
                Ok(0) => return Err(gone()),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let ready = sys::fd::poll(
                        &[(ctl, Interest::Read), (self.pidfd.as_fd(), Interest::Read)],
                        None,
                    )?;
                    if ready[1] && !ready[0] {
                        return Err(gone());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(gone()),
            }
        }
        let pid = i32::from_le_bytes(reply);
        if pid == -sys::forkserver::MULTI_THREADED {
            Err(io::Error::other(
                "the fork server has more than one thread (a constructor of another crate started one), so it cannot fork safely: use StartMethod::Spawn",
            ))
        } else if pid < 0 {
            Err(io::Error::from_raw_os_error(-pid))
        } else {
            Ok(pid)
        }
    }

    /// Kills and reaps a server that failed us.
    fn reap(self) {
        let _ = sys::proc::pidfd_send_signal(self.pidfd.as_fd(), sys::proc::signal::KILL);
        let _ = sys::proc::waitid_pidfd(self.pidfd.as_fd(), true);
    }
}

/// Stops the fork server at exit and waits for it (a second at most, then SIGKILL), so that it
/// never outlives this process, even briefly.
pub(crate) fn shutdown() {
    let server = match SERVER.try_lock() {
        Ok(mut g) => g.take(),
        Err(_) => None,
    };
    let Some(server) = server else { return };
    if server.owner != std::process::id() {
        return;
    }
    let Server { ctl, pidfd, .. } = server;
    // End of stream on its control socket: it exits.
    drop(ctl);
    let deadline = sys::fd::deadline_after(std::time::Duration::from_secs(1));
    if !sys::fd::poll(&[(pidfd.as_fd(), Interest::Read)], Some(deadline)).is_ok_and(|r| r[0]) {
        let _ = sys::proc::pidfd_send_signal(pidfd.as_fd(), sys::proc::signal::KILL);
    }
    let _ = sys::proc::waitid_pidfd(pidfd.as_fd(), true);
}

/// Drops a fork server inherited through `fork` (it belongs to the parent).
pub(crate) fn forget() {
    if let Ok(mut g) = SERVER.try_lock() {
        *g = None;
    }
}
