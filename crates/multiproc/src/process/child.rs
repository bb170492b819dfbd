//! The parent's view of one child: its pidfd, its bootstrap socket, and what it reported.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;
use std::time::Instant;

use super::Identity;
use crate::connection::{self, Connection};
use crate::deadline::Deadline;
use crate::start::Outcome;
use crate::sys;
use crate::sys::fd::Interest;
use crate::sys::proc::WaitStatus;

/// A started child, shared by its [`Handle`](crate::Handle) and the registry of children.
#[derive(Debug)]
pub(crate) struct Child {
    pub(crate) pid: i32,
    pub(crate) pidfd: OwnedFd,
    pub(crate) identity: Identity,
    pub(crate) conn: Connection,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    outcome: Option<Outcome>,
    status: Option<WaitStatus>,
    conn_done: bool,
}

/// Python's exit code for a wait status: the code, or minus the signal.
pub(crate) fn exitcode(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(c) => c,
        WaitStatus::Signaled(s) => -s,
    }
}

impl Child {
    pub(crate) fn new(pid: i32, pidfd: OwnedFd, sock: OwnedFd, identity: Identity) -> Child {
        Child {
            pid,
            pidfd,
            identity,
            conn: Connection::from_socket(sock, true, true),
            state: Mutex::new(State::default()),
        }
    }

    /// Waits until the child has ended (and is reaped) or `deadline` passes, collecting what it
    /// sends meanwhile so that it never blocks on a full socket. `None` means still running.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> io::Result<Option<WaitStatus>> {
        loop {
            let conn_done = {
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(s) = st.status {
                    return Ok(Some(s));
                }
                self.drain(&mut st);
                if let Some(s) = sys::proc::waitid_pidfd(self.pidfd.as_fd(), false)? {
                    // It is gone: everything it wrote is in our socket now.
                    self.drain(&mut st);
                    st.status = Some(s);
                    drop(st);
                    super::registry::forget(self.pid);
                    return Ok(Some(s));
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(None);
                }
                st.conn_done
            };
            let mut set = vec![(self.pidfd.as_fd(), Interest::Read)];
            if !conn_done {
                set.push((self.conn.as_fd(), Interest::Read));
            }
            sys::fd::poll(&set, deadline)?;
        }
    }

    /// The exit status, if the child has ended (checks without waiting).
    pub(crate) fn poll(&self) -> Option<WaitStatus> {
        self.wait(Some(Instant::now())).ok().flatten()
    }

    fn drain(&self, st: &mut State) {
        while !st.conn_done {
            match self.conn.recv_inner::<Outcome>(Deadline::now(), None) {
                Ok(o) => st.outcome = Some(o),
                Err(connection::Error::Timeout) => break,
                Err(_) => st.conn_done = true,
            }
        }
    }

    /// Takes what the child reported about its target.
    pub(crate) fn take_outcome(&self) -> Option<Outcome> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .outcome
            .take()
    }

    /// Sends `sig`; a child that has already been reaped is left alone.
    pub(crate) fn signal(&self, sig: i32) -> io::Result<()> {
        if self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .status
            .is_some()
        {
            return Ok(());
        }
        match sys::proc::pidfd_send_signal(self.pidfd.as_fd(), sig) {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            r => r,
        }
    }

    pub(crate) fn info(&self) -> super::ProcessInfo {
        self.identity.info(self.pid as u32)
    }

    /// Whether the child has been reaped (checks without a system call).
    pub(crate) fn is_reaped(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .status
            .is_some()
    }

    /// Waits until the child has ended or `deadline` passes; if it has not ended by then, kills
    /// it with SIGKILL and waits for that.
    pub(crate) fn wait_or_kill(&self, deadline: Instant) {
        if matches!(self.wait(Some(deadline)), Ok(None)) {
            log::info!(target: "multiproc", "killing {} which did not end within the grace period", self.identity.name);
            let _ = self.signal(sys::proc::signal::KILL);
            let _ = self.wait(None);
        }
    }
}
