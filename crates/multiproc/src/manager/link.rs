//! The client side: a process's [`Link`] to one manager, its connections, and [`ObjRef`], the
//! reference to a managed object that every proxy holds.
//!
//! # References
//!
//! The server drops an object when nothing refers to it any more. A process's references are
//! counted on its *control* connection, which lives as long as the process has a proxy to the
//! manager, so a process that dies releases everything it held.
//!
//! - An object created by a call is credited to the calling process, and the proxy adopts that
//!   reference; the proxy's last clone gives it back when dropped (`DecRef`).
//! - A proxy that leaves the process inside a message (a child's argument, a queue item) sends
//!   `Hold` with a fresh nonce, which keeps the object alive while in transit; the process that
//!   decodes it sends `Claim` with that nonce and takes the reference over. Messages on one
//!   control connection are handled in order, so the sender's `Hold` always comes before its
//!   own `DecRef`, whenever the receiver's `Claim` arrives.
//! - A proxy stored *in* the manager (a dict of dict proxies) is listed in its payload's
//!   `refs`: the stored value holds a reference, and a reply that carries the value credits the
//!   caller one reference per proxy, which the decoded proxies adopt.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ManagerError;
use super::protocol::{Call, Control, Hello, Op, Owner, Payload, Reply, Wait};
use super::transport::{self, Address};
use crate::Connection;
use crate::codec::{self, Bytes};
use crate::connection::Error as ConnError;
use crate::sys::fd::deadline_after;

/// How long opening a connection to a manager may take (connect and handshake).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// How long past the time an operation allows the caller waits for the server's answer before
/// it gives up on the connection.
pub(crate) const GRACE: Duration = Duration::from_secs(5);

/// A random 64-bit number (not for cryptography).
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

/// How to reach a manager: its identity, address and authentication key. Every proxy carries
/// one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
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

enum ControlState {
    Unopened,
    Open(Connection),
    Failed,
}

/// A connection for calls.
struct Pooled {
    conn: Connection,
}

/// This process's link to one manager.
pub(crate) struct Link {
    /// Names this process to the server (random).
    pub(crate) id: u64,
    pid: u32,
    pub(crate) endpoint: Endpoint,
    control: Mutex<ControlState>,
    pool: Mutex<Vec<Pooled>>,
    nonces: AtomicU64,
}

static LINKS: Mutex<Vec<Weak<Link>>> = Mutex::new(Vec::new());

thread_local! {
    /// This thread's number, for lock ownership.
    static THREAD: u64 = {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
    /// While a value is encoded for a call: the manager it goes to, and its proxies found.
    static COLLECT: RefCell<Option<Collect>> = const { RefCell::new(None) };
    /// While a reply's value is decoded: the references credited to this process.
    static CREDITS: RefCell<Option<Credits>> = const { RefCell::new(None) };
}

struct Collect {
    manager: u64,
    refs: Vec<u64>,
    keep: Vec<ObjRef>,
}

struct Credits {
    link: Arc<Link>,
    refs: Vec<u64>,
}

impl Link {
    /// This process's link to the manager at `endpoint`, made on first use.
    pub(crate) fn for_endpoint(endpoint: &Endpoint) -> Arc<Link> {
        let pid = std::process::id();
        let mut links = LINKS.lock().unwrap_or_else(|e| e.into_inner());
        links.retain(|w| w.strong_count() > 0);
        for w in links.iter() {
            if let Some(l) = w.upgrade() {
                if l.endpoint.id == endpoint.id && l.pid == pid {
                    return l;
                }
            }
        }
        let link = Arc::new(Link {
            id: random_u64(),
            pid,
            endpoint: endpoint.clone(),
            control: Mutex::new(ControlState::Unopened),
            pool: Mutex::new(Vec::new()),
            nonces: AtomicU64::new(0),
        });
        links.push(Arc::downgrade(&link));
        link
    }

    fn open(&self, hello: &Hello) -> Result<Connection, ManagerError> {
        let ep = &self.endpoint;
        let conn = transport::connect(&ep.address, &ep.authkey.0, deadline_after(CONNECT_TIMEOUT))?;
        conn.send(hello).map_err(|source| ManagerError::Connect {
            address: ep.address.to_string(),
            source,
        })?;
        Ok(conn)
    }

    /// Opens the control connection if it is not open yet.
    fn ensure_control(&self) -> Result<(), ManagerError> {
        let mut c = self.control.lock().unwrap_or_else(|e| e.into_inner());
        if let ControlState::Unopened = *c {
            match self.open(&Hello::Control { link: self.id }) {
                Ok(conn) => *c = ControlState::Open(conn),
                Err(e) => {
                    *c = ControlState::Failed;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Sends a reference-counting message, best effort: if the manager is gone, so are the
    /// references.
    pub(crate) fn control(&self, msg: &Control) {
        let mut c = self.control.lock().unwrap_or_else(|e| e.into_inner());
        if let ControlState::Unopened = *c {
            *c = match self.open(&Hello::Control { link: self.id }) {
                Ok(conn) => ControlState::Open(conn),
                Err(e) => {
                    log::debug!(target: "multiproc", "manager control connection: {e}");
                    ControlState::Failed
                }
            };
        }
        if let ControlState::Open(conn) = &*c {
            if let Err(e) = conn.send(msg) {
                log::debug!(target: "multiproc", "manager control connection: {e}");
                *c = ControlState::Failed;
            }
        }
    }

    /// A fresh nonce for a reference in transit.
    fn nonce(&self) -> u64 {
        let n = self.nonces.fetch_add(1, Ordering::Relaxed);
        self.id
            .rotate_left(17)
            .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn checkout(&self) -> Result<Pooled, ManagerError> {
        if let Some(p) = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(p);
        }
        self.ensure_control()?;
        let conn = self.open(&Hello::Calls { link: self.id })?;
        Ok(Pooled { conn })
    }

    fn checkin(&self, p: Pooled) {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).push(p);
    }

    /// Sends `call` and waits for its reply. `wait` is how long the operation itself may
    /// block on the server; the reply is awaited that long plus [`GRACE`].
    pub(crate) fn call(&self, call: &Call, wait: Wait) -> Result<Reply, ManagerError> {
        let deadline = match wait {
            Wait::Forever => None,
            Wait::Now => Some(deadline_after(GRACE)),
            Wait::For(d) => Some(deadline_after(d.saturating_add(GRACE))),
        };
        let p = self.checkout()?;
        match p.conn.send(call) {
            Ok(()) => {}
            Err(ConnError::Encode(e)) => {
                self.checkin(p);
                return Err(ManagerError::Encode(e));
            }
            Err(e) => return Err(ManagerError::Disconnected(e)),
        }
        // (The connection looks for the reply for a few microseconds before it sleeps: a
        // reply often comes that fast.)
        let reply = match deadline {
            None => p.conn.recv::<Reply>(),
            Some(d) => p.conn.recv_deadline::<Reply>(d),
        };
        match reply {
            Ok(r) => {
                self.checkin(p);
                match r {
                    Reply::Error(f) => Err(f.into()),
                    r => Ok(r),
                }
            }
            Err(ConnError::Timeout) => Err(ManagerError::NoAnswer),
            Err(e) => Err(ManagerError::Disconnected(e)),
        }
    }

    /// Who this thread is, for lock ownership.
    pub(crate) fn owner(&self) -> Owner {
        Owner {
            link: self.id,
            thread: THREAD.with(|t| *t),
        }
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("id", &format_args!("{:016x}", self.id))
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// A value encoded for a call, and the proxies inside it, kept alive until the call is
/// answered (the server takes its own references to them when it stores the value).
pub(crate) struct Encoded {
    pub(crate) payload: Payload,
    pub(crate) keep: Vec<ObjRef>,
}

/// A counted reference to an object in a manager: what every proxy holds. Clones share the
/// reference; the last one gives it back.
#[derive(Clone)]
pub(crate) struct ObjRef(Arc<RefInner>);

struct RefInner {
    link: Arc<Link>,
    id: u64,
}

impl Drop for RefInner {
    fn drop(&mut self) {
        self.link.control(&Control::DecRef(self.id));
    }
}

/// How a proxy travels: the manager, the object, and the nonce of its reference in transit
/// (none inside the manager's own values).
#[derive(Serialize)]
struct TokenRef<'a> {
    endpoint: &'a Endpoint,
    id: u64,
    transit: Option<u64>,
}

#[derive(Deserialize)]
struct Token {
    endpoint: Endpoint,
    id: u64,
    transit: Option<u64>,
}

impl ObjRef {
    /// Takes over a reference that the server credited to this process.
    pub(crate) fn adopt(link: Arc<Link>, id: u64) -> ObjRef {
        ObjRef(Arc::new(RefInner { link, id }))
    }

    pub(crate) fn id(&self) -> u64 {
        self.0.id
    }

    /// Runs an operation that does not wait on the server.
    pub(crate) fn call(&self, op: Op) -> Result<Reply, ManagerError> {
        self.call_wait(op, Wait::Forever)
    }

    /// Runs an operation that may wait on the server as `wait` says.
    pub(crate) fn call_wait(&self, op: Op, wait: Wait) -> Result<Reply, ManagerError> {
        self.0.link.call(&Call::Op { id: self.0.id, op }, wait)
    }

    /// Who this thread is, for lock ownership.
    pub(crate) fn owner(&self) -> Owner {
        self.0.link.owner()
    }

    /// Encodes a value for a call to this object's manager.
    pub(crate) fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Encoded, ManagerError> {
        encode_for(self.0.link.endpoint.id, value)
    }

    /// Encodes a dict key or a value to compare: plain data only.
    pub(crate) fn encode_key<T: Serialize + ?Sized>(&self, key: &T) -> Result<Bytes, ManagerError> {
        let e = codec::encode(key)?;
        if !e.fds.is_empty() {
            return Err(ManagerError::Invalid(
                "a key or a value to compare cannot hold handles".into(),
            ));
        }
        Ok(Bytes(e.bytes))
    }

    /// Decodes a key that the server sent back.
    pub(crate) fn decode_key<T: DeserializeOwned>(&self, key: &Bytes) -> Result<T, ManagerError> {
        Ok(codec::decode(&key.0, Vec::new())?)
    }

    /// Decodes a value from a reply, its proxies taking over the references credited with it.
    pub(crate) fn decode<T: DeserializeOwned>(&self, p: Payload) -> Result<T, ManagerError> {
        let link = self.0.link.clone();
        let credits = Credits {
            link: link.clone(),
            refs: p.refs,
        };
        let outer = CREDITS.with(|c| c.borrow_mut().replace(credits));
        let fds = p.fds.into_iter().map(Into::into).collect();
        let result = codec::decode(&p.bytes.0, fds);
        let left = CREDITS.with(|c| std::mem::replace(&mut *c.borrow_mut(), outer));
        for id in left.map(|c| c.refs).unwrap_or_default() {
            link.control(&Control::DecRef(id));
        }
        Ok(result?)
    }

    /// Decodes the value of a [`Reply::Value`] that must hold one.
    pub(crate) fn decode_value<T: DeserializeOwned>(
        &self,
        reply: Reply,
    ) -> Result<T, ManagerError> {
        match reply {
            Reply::Value(Some(p)) => self.decode(p),
            other => Err(unexpected(other)),
        }
    }

    /// Decodes the value of a [`Reply::Value`] that may hold one.
    pub(crate) fn decode_option<T: DeserializeOwned>(
        &self,
        reply: Reply,
    ) -> Result<Option<T>, ManagerError> {
        match reply {
            Reply::Value(Some(p)) => self.decode(p).map(Some),
            Reply::Value(None) => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// Decodes every value of a [`Reply::Values`].
    pub(crate) fn decode_values<T: DeserializeOwned>(
        &self,
        reply: Reply,
    ) -> Result<Vec<T>, ManagerError> {
        match reply {
            Reply::Values(v) => v.into_iter().map(|p| self.decode(p)).collect(),
            other => Err(unexpected(other)),
        }
    }

    pub(crate) fn debug(&self, f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
        f.debug_struct(name)
            .field("id", &self.0.id)
            .field("manager", &self.0.link.endpoint.address)
            .finish()
    }
}

/// Encodes `value` for a call to manager `manager`, collecting that manager's proxies in it.
pub(crate) fn encode_for<T: Serialize + ?Sized>(
    manager: u64,
    value: &T,
) -> Result<Encoded, ManagerError> {
    let collect = Collect {
        manager,
        refs: Vec::new(),
        keep: Vec::new(),
    };
    let outer = COLLECT.with(|c| c.borrow_mut().replace(collect));
    let result = codec::encode(value);
    let collect = COLLECT
        .with(|c| std::mem::replace(&mut *c.borrow_mut(), outer))
        .expect("collection context");
    let e = result?;
    Ok(Encoded {
        payload: Payload {
            bytes: Bytes(e.bytes),
            fds: e.fds.into_iter().map(Into::into).collect(),
            refs: collect.refs,
        },
        keep: collect.keep,
    })
}

/// The error for a reply of the wrong shape.
pub(crate) fn unexpected(reply: Reply) -> ManagerError {
    match reply {
        Reply::Error(f) => f.into(),
        Reply::Timeout => ManagerError::Timeout,
        other => ManagerError::Invalid(format!("unexpected reply from the manager: {other:?}")),
    }
}

impl Serialize for ObjRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let link = &self.0.link;
        let inside = COLLECT.with(|c| match c.borrow_mut().as_mut() {
            Some(ctx) if ctx.manager == link.endpoint.id => {
                ctx.refs.push(self.0.id);
                ctx.keep.push(self.clone());
                true
            }
            _ => false,
        });
        let transit = if inside {
            None
        } else {
            let nonce = link.nonce();
            link.control(&Control::Hold {
                nonce,
                id: self.0.id,
            });
            Some(nonce)
        };
        TokenRef {
            endpoint: &link.endpoint,
            id: self.0.id,
            transit,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ObjRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = Token::deserialize(d)?;
        // A reference credited with the reply being decoded?
        let credited = CREDITS.with(|c| {
            let mut c = c.borrow_mut();
            let ctx = c.as_mut()?;
            if ctx.link.endpoint.id != t.endpoint.id {
                return None;
            }
            let i = ctx.refs.iter().position(|r| *r == t.id)?;
            ctx.refs.swap_remove(i);
            Some(ctx.link.clone())
        });
        let link = match credited {
            Some(link) => link,
            None => {
                let link = Link::for_endpoint(&t.endpoint);
                match t.transit {
                    Some(nonce) => link.control(&Control::Claim { nonce, id: t.id }),
                    None => link.control(&Control::IncRef(t.id)),
                }
                link
            }
        };
        Ok(ObjRef::adopt(link, t.id))
    }
}

impl fmt::Debug for ObjRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.debug(f, "ObjRef")
    }
}

/// A deadline as the time left, for the server.
pub(crate) fn wait_until(deadline: Instant) -> Wait {
    Wait::For(deadline.saturating_duration_since(Instant::now()))
}
