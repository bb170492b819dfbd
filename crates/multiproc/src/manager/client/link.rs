//! [`Link`]: this process's connections to one manager, and how a call goes over them.
//!
//! # A call's bounds
//!
//! A call is given a timeout (its proxy's). Opening a connection and sending the call must
//! finish within it; then the server must say something within it: the answer, or, while the
//! operation waits on the server (a get on an empty queue), that it still waits, which it says
//! well within the caller's timeout. So a call that waits may wait as long as its operation
//! allows, while a server that is stopped, hung or cut off is noticed within the timeout
//! ([`ManagerError::NoAnswer`]). A call that failed that way drops its connection; the next
//! call opens another, under its own bound.
//!
//! An answer that hands something over (a queue item, a lock) is confirmed once this process
//! has it (decoded); until then the server keeps it, and gives it back if this process never
//! confirms. One that this process cannot take (an item that does not decode) is declined, and
//! the call fails only once the server says it has it back, so that the next call, from any
//! process, finds it where it was.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::random_u64;
use crate::Connection;
use crate::codec::Bytes;
use crate::connection::Error as ConnError;
use crate::manager::ManagerError;
use crate::manager::protocol::{Call, Control, Hello, Owner, Reply, Request, Response};
use crate::manager::transport::{self, Address};
use crate::sys::fd::deadline_after;

/// How to reach a manager: its identity, address and authentication key. Every proxy carries
/// one.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Endpoint {
    /// The server's random identity.
    pub(crate) id: u64,
    /// Where it listens.
    pub(crate) address: Address,
    /// The key clients prove they know.
    pub(crate) authkey: Bytes,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &format_args!("{:016x}", self.id))
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// The control connection: reference counting, in order.
struct ControlState {
    conn: Option<Connection>,
    /// An open control connection broke: the server counts this link as ended, so the next
    /// one opens under a new link id.
    broke: bool,
}

/// This process's link to one manager.
pub(crate) struct Link {
    /// Names this process to the server (random; a new one if the control connection broke).
    id: AtomicU64,
    pid: u32,
    pub(crate) endpoint: Endpoint,
    control: Mutex<ControlState>,
    pool: Mutex<Vec<Connection>>,
    nonces: AtomicU64,
}

static LINKS: Mutex<Vec<Weak<Link>>> = Mutex::new(Vec::new());

/// Holds the lock of this process's links while the `fork` start method forks (see
/// `start::fork`).
pub(crate) fn hold_for_fork() -> impl Sized {
    LINKS.lock().unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    /// This thread's number, for lock ownership.
    static THREAD: u64 = {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

/// A timeout as whole milliseconds, at least one (as the server is told it, and as a proxy
/// carries it).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl Link {
    /// This process's link to the manager at `endpoint`, made on first use.
    pub(crate) fn for_endpoint(endpoint: &Endpoint) -> Arc<Link> {
        let pid = std::process::id();
        let mut links = LINKS.lock().unwrap_or_else(|e| e.into_inner());
        links.retain(|w| w.strong_count() > 0);
        for w in links.iter() {
            if let Some(l) = w.upgrade()
                && l.endpoint.id == endpoint.id
                && l.pid == pid
            {
                return l;
            }
        }
        let link = Arc::new(Link {
            id: AtomicU64::new(random_u64()),
            pid,
            endpoint: endpoint.clone(),
            control: Mutex::new(ControlState {
                conn: None,
                broke: false,
            }),
            pool: Mutex::new(Vec::new()),
            nonces: AtomicU64::new(0),
        });
        links.push(Arc::downgrade(&link));
        link
    }

    /// The id the server knows this process by.
    pub(crate) fn id(&self) -> u64 {
        self.id.load(Ordering::Relaxed)
    }

    fn open(&self, hello: &Hello, deadline: Instant) -> Result<Connection, ManagerError> {
        let ep = &self.endpoint;
        let conn = transport::connect(&ep.address, &ep.authkey.0, deadline)?;
        conn.send_deadline(hello, deadline)
            .map_err(|source| ManagerError::Connect {
                address: ep.address.to_string(),
                source,
            })?;
        Ok(conn)
    }

    fn lock_control(&self) -> std::sync::MutexGuard<'_, ControlState> {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens the control connection if it is not open, by `deadline`.
    fn open_control(&self, c: &mut ControlState, deadline: Instant) -> Result<(), ManagerError> {
        if c.conn.is_some() {
            return Ok(());
        }
        if std::mem::take(&mut c.broke) {
            // The server has let the old id go; calls made under it would be refused too.
            self.id.store(random_u64(), Ordering::Relaxed);
            self.pool.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        let hello = Hello::Control {
            link: self.id(),
            pid: self.pid,
        };
        c.conn = Some(self.open(&hello, deadline)?);
        Ok(())
    }

    /// Sends a reference-counting message, best effort, within `timeout`: if the manager is
    /// gone, so are the references.
    pub(crate) fn control(&self, msg: &Control, timeout: Duration) {
        if !self.ours() {
            return;
        }
        let deadline = deadline_after(timeout);
        let mut c = self.lock_control();
        if let Err(e) = self.open_control(&mut c, deadline) {
            log::debug!(target: "multiproc", "manager control connection: {e}");
            return;
        }
        if let Some(conn) = &c.conn
            && let Err(e) = conn.send_deadline(msg, deadline)
        {
            log::debug!(target: "multiproc", "manager control connection: {e}");
            c.conn = None;
            c.broke = true;
        }
    }

    /// Whether this process made this link (a child started by `fork` inherits its parent's
    /// links, whose references and connections are not its own).
    fn ours(&self) -> bool {
        self.pid == std::process::id()
    }

    /// A fresh nonce for a reference in transit.
    pub(crate) fn nonce(&self) -> u64 {
        let n = self.nonces.fetch_add(1, Ordering::Relaxed);
        self.id()
            .rotate_left(17)
            .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn checkout(&self, deadline: Instant) -> Result<Connection, ManagerError> {
        if let Some(c) = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(c);
        }
        self.open_control(&mut self.lock_control(), deadline)?;
        self.open(&Hello::Calls { link: self.id() }, deadline)
    }

    fn checkin(&self, conn: Connection) {
        self.pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
    }

    /// Sends `call` and waits for its answer, which `accept` turns into the result (see the
    /// [module docs](self) for the bounds). An answer that hands something over is confirmed
    /// only if `accept` succeeds.
    pub(crate) fn call<R>(
        &self,
        call: &Call,
        timeout: Duration,
        accept: impl FnOnce(Reply) -> Result<R, ManagerError>,
    ) -> Result<R, ManagerError> {
        let bound = deadline_after(timeout);
        let conn = self.checkout(bound)?;
        let request = Request::Call {
            call,
            patience_ms: millis(timeout),
        };
        match conn.send_deadline(&request, bound) {
            Ok(()) => {}
            Err(ConnError::Encode(e)) => {
                self.checkin(conn);
                return Err(ManagerError::Encode(e));
            }
            Err(ConnError::Timeout) => return Err(ManagerError::NoAnswer),
            Err(e) => return Err(ManagerError::Disconnected(e)),
        }
        loop {
            // (The connection looks for the answer for a few microseconds before it sleeps: an
            // answer often comes that fast.)
            let response = conn.recv_deadline::<Response>(deadline_after(timeout));
            match response {
                Ok(Response::Waiting) => {}
                Ok(Response::Reply(Reply::Error(f))) => {
                    self.checkin(conn);
                    return Err(f.into());
                }
                Ok(Response::Reply(reply)) => {
                    self.checkin(conn);
                    return accept(reply);
                }
                Ok(Response::Handed(reply)) => {
                    let value = match accept(reply) {
                        Ok(value) => value,
                        Err(e) => {
                            self.decline(conn, timeout);
                            return Err(e);
                        }
                    };
                    let ack = Request::<&Call>::Ack;
                    return match conn.send_deadline(&ack, deadline_after(timeout)) {
                        Ok(()) => {
                            self.checkin(conn);
                            Ok(value)
                        }
                        Err(e) => Err(ManagerError::Disconnected(e)),
                    };
                }
                Err(ConnError::Timeout) => return Err(ManagerError::NoAnswer),
                Err(e) => return Err(ManagerError::Disconnected(e)),
            }
        }
    }

    /// Gives back what the server handed over on `conn` and this process cannot take, and
    /// waits until the server has it back. (If it does not say so within `timeout`, the
    /// connection goes, and the server takes it back when it sees the connection end.)
    fn decline(&self, conn: Connection, timeout: Duration) {
        let decline = Request::<&Call>::Decline;
        let back = conn
            .send_deadline(&decline, deadline_after(timeout))
            .is_ok()
            && matches!(
                conn.recv_deadline::<Response>(deadline_after(timeout)),
                Ok(Response::Reply(Reply::Unit))
            );
        if back {
            self.checkin(conn);
        }
    }

    /// Who this thread is, for lock ownership.
    pub(crate) fn owner(&self) -> Owner {
        Owner {
            link: self.id(),
            thread: THREAD.with(|t| *t),
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Every proxy of this process is gone: say so, so that a lock it still holds is known
        // to be handed over, not left by a death.
        let c = self.control.get_mut().unwrap_or_else(|e| e.into_inner());
        if let (true, Some(conn)) = (self.pid == std::process::id(), &c.conn) {
            let _ = conn.send_deadline(&Control::Bye, deadline_after(Duration::from_secs(1)));
        }
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("id", &format_args!("{:016x}", self.id()))
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}
