//! [`ObjRef`]: the counted reference to a managed object that every proxy holds, and how values
//! and proxies are encoded for the manager.
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
//!
//! A proxy carries its timeout to the processes it is sent to (a child's argument, a message);
//! a proxy read from a managed object (a dict of proxies, the root namespace) takes the timeout
//! of the proxy that read it.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::link::{Endpoint, Link, millis};
use crate::codec::{self, Bytes};
use crate::manager::ManagerError;
use crate::manager::protocol::{Call, Control, Op, Owner, Payload, Reply, Wait};

thread_local! {
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
    /// The timeout of the proxy that reads the value, which this manager's proxies in it take.
    timeout: Duration,
}

/// A value encoded for a call, and the proxies inside it, kept alive until the call is
/// answered (the server takes its own references to them when it stores the value).
pub(crate) struct Encoded {
    pub(crate) payload: Payload,
    pub(crate) keep: Vec<ObjRef>,
}

/// A counted reference to an object in a manager, and the timeout of calls made through it:
/// what every proxy holds. Clones share the reference; the last one gives it back.
#[derive(Clone)]
pub(crate) struct ObjRef {
    inner: Arc<RefInner>,
    timeout: Duration,
}

struct RefInner {
    link: Arc<Link>,
    id: u64,
    /// The bound for giving the reference back.
    timeout: Duration,
}

impl Drop for RefInner {
    fn drop(&mut self) {
        self.link.control(&Control::DecRef(self.id), self.timeout);
    }
}

/// How a proxy travels: the manager, the object, the nonce of its reference in transit (none
/// inside the manager's own values), and its timeout.
#[derive(Serialize)]
struct TokenRef<'a> {
    endpoint: &'a Endpoint,
    id: u64,
    transit: Option<u64>,
    timeout_ms: u64,
}

#[derive(Deserialize)]
struct Token {
    endpoint: Endpoint,
    id: u64,
    transit: Option<u64>,
    timeout_ms: u64,
}

impl ObjRef {
    /// Takes over a reference that the server credited to this process.
    pub(crate) fn adopt(link: Arc<Link>, id: u64, timeout: Duration) -> ObjRef {
        ObjRef {
            inner: Arc::new(RefInner { link, id, timeout }),
            timeout,
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.inner.id
    }

    /// The bound of each call made through this reference.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Runs an operation; `accept` turns the answer into the result (an answer that hands
    /// something over is confirmed only if it succeeds).
    pub(crate) fn call<R>(
        &self,
        op: Op,
        accept: impl FnOnce(Reply) -> Result<R, ManagerError>,
    ) -> Result<R, ManagerError> {
        let call = Call::Op {
            id: self.inner.id,
            op,
        };
        self.inner.link.call(&call, self.timeout, accept)
    }

    /// Runs an operation whose answer is [`Reply::Unit`].
    pub(crate) fn unit(&self, op: Op) -> Result<(), ManagerError> {
        self.call(op, |r| match r {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        })
    }

    /// Runs an operation whose answer is a [`Reply::Count`].
    pub(crate) fn count(&self, op: Op) -> Result<usize, ManagerError> {
        self.call(op, |r| match r {
            Reply::Count(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            other => Err(unexpected(other)),
        })
    }

    /// Runs an operation whose answer is a [`Reply::Bool`].
    pub(crate) fn flag(&self, op: Op) -> Result<bool, ManagerError> {
        self.call(op, |r| match r {
            Reply::Bool(b) => Ok(b),
            other => Err(unexpected(other)),
        })
    }

    /// Runs an operation whose answer is a value.
    pub(crate) fn value<T: DeserializeOwned>(&self, op: Op) -> Result<T, ManagerError> {
        self.call(op, |r| self.decode_value(r))
    }

    /// Runs an operation whose answer may be a value.
    pub(crate) fn option<T: DeserializeOwned>(&self, op: Op) -> Result<Option<T>, ManagerError> {
        self.call(op, |r| self.decode_option(r))
    }

    /// Runs an operation whose answer is values.
    pub(crate) fn values<T: DeserializeOwned>(&self, op: Op) -> Result<Vec<T>, ManagerError> {
        self.call(op, |r| self.decode_values(r))
    }

    /// Runs an operation whose answer is encoded keys (plain data).
    pub(crate) fn keys<T: DeserializeOwned>(&self, op: Op) -> Result<Vec<T>, ManagerError> {
        self.call(op, |r| match r {
            Reply::Keys(keys) => keys.iter().map(|k| self.decode_key(k)).collect(),
            other => Err(unexpected(other)),
        })
    }

    /// Who this thread is, for lock ownership.
    pub(crate) fn owner(&self) -> Owner {
        self.inner.link.owner()
    }

    /// Encodes a value for a call to this object's manager.
    pub(crate) fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Encoded, ManagerError> {
        encode_for(self.inner.link.endpoint.id, value)
    }

    /// Encodes every value of `values`, keeping the proxies in them alive in `keep`.
    pub(crate) fn encode_all<T: Serialize>(
        &self,
        values: impl IntoIterator<Item = T>,
        keep: &mut Vec<ObjRef>,
    ) -> Result<Vec<Payload>, ManagerError> {
        values
            .into_iter()
            .map(|v| {
                let e = self.encode(&v)?;
                keep.extend(e.keep);
                Ok(e.payload)
            })
            .collect()
    }

    /// Encodes a dict key, a set element or a value to compare: plain data only.
    pub(crate) fn encode_key<T: Serialize + ?Sized>(&self, key: &T) -> Result<Bytes, ManagerError> {
        let e = codec::encode(key)?;
        if !e.fds.is_empty() {
            return Err(ManagerError::Invalid(
                "a key or a value to compare cannot hold handles".into(),
            ));
        }
        Ok(Bytes(e.bytes))
    }

    /// Encodes every key of `keys`.
    pub(crate) fn encode_keys<T: Serialize>(
        &self,
        keys: impl IntoIterator<Item = T>,
    ) -> Result<Vec<Bytes>, ManagerError> {
        keys.into_iter().map(|k| self.encode_key(&k)).collect()
    }

    /// Decodes a key that the server sent back.
    pub(crate) fn decode_key<T: DeserializeOwned>(&self, key: &Bytes) -> Result<T, ManagerError> {
        Ok(codec::decode(&key.0, Vec::new())?)
    }

    /// Decodes a value from a reply, its proxies taking over the references credited with it
    /// (those it does not hold are given back).
    pub(crate) fn decode<T: DeserializeOwned>(&self, p: Payload) -> Result<T, ManagerError> {
        let link = self.inner.link.clone();
        let credits = Credits {
            link: link.clone(),
            refs: p.refs,
            timeout: self.timeout,
        };
        let outer = CREDITS.with(|c| c.borrow_mut().replace(credits));
        let fds = p.fds.into_iter().map(Into::into).collect();
        let result = codec::decode(&p.bytes.0, fds);
        let left = CREDITS.with(|c| std::mem::replace(&mut *c.borrow_mut(), outer));
        for id in left.map(|c| c.refs).unwrap_or_default() {
            link.control(&Control::DecRef(id), self.timeout);
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
            Reply::Values(v) => self.decode_all(v),
            other => Err(unexpected(other)),
        }
    }

    /// Decodes every payload of `v`.
    pub(crate) fn decode_all<T: DeserializeOwned>(
        &self,
        v: Vec<Payload>,
    ) -> Result<Vec<T>, ManagerError> {
        let mut out = Vec::with_capacity(v.len());
        let mut failed = None;
        for p in v {
            // Every payload is decoded, even after a failure, so that the references credited
            // with each are taken over or given back.
            match self.decode(p) {
                Ok(value) => out.push(value),
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        match failed {
            None => Ok(out),
            Some(e) => Err(e),
        }
    }

    pub(crate) fn debug(&self, f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
        f.debug_struct(name)
            .field("id", &self.inner.id)
            .field("manager", &self.inner.link.endpoint.address)
            .field("timeout", &self.timeout)
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
        let link = &self.inner.link;
        let inside = COLLECT.with(|c| match c.borrow_mut().as_mut() {
            Some(ctx) if ctx.manager == link.endpoint.id => {
                ctx.refs.push(self.inner.id);
                ctx.keep.push(self.clone());
                true
            }
            _ => false,
        });
        let transit = if inside {
            None
        } else {
            let nonce = link.nonce();
            let hold = Control::Hold {
                nonce,
                id: self.inner.id,
            };
            link.control(&hold, self.timeout);
            Some(nonce)
        };
        TokenRef {
            endpoint: &link.endpoint,
            id: self.inner.id,
            transit,
            timeout_ms: millis(self.timeout),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ObjRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = Token::deserialize(d)?;
        // A proxy read from the manager takes the reader's timeout; one that came in a message
        // keeps its sender's.
        let mut timeout = Duration::from_millis(t.timeout_ms);
        // A reference credited with the reply being decoded?
        let credited = CREDITS.with(|c| {
            let mut c = c.borrow_mut();
            let ctx = c.as_mut()?;
            if ctx.link.endpoint.id != t.endpoint.id {
                return None;
            }
            timeout = ctx.timeout;
            let i = ctx.refs.iter().position(|r| *r == t.id)?;
            ctx.refs.swap_remove(i);
            Some(ctx.link.clone())
        });
        let link = match credited {
            Some(link) => link,
            None => {
                let link = Link::for_endpoint(&t.endpoint);
                let msg = match t.transit {
                    Some(nonce) => Control::Claim { nonce, id: t.id },
                    None => Control::IncRef(t.id),
                };
                link.control(&msg, timeout);
                link
            }
        };
        Ok(ObjRef::adopt(link, t.id, timeout))
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
