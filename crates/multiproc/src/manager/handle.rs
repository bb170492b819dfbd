//! [`Manager`]: the handle on a manager, which makes its objects.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::builder::ManagerBuilder;
use super::client::{Link, ObjRef, encode_for, unexpected};
use super::protocol::{Call, Create, Reply};
use super::server::Server;
use super::transport::Address;
use super::{
    ArrayProxy, BarrierProxy, ConditionProxy, DictProxy, EventProxy, JoinableQueueProxy, ListProxy,
    LockProxy, ManagerError, Namespace, QueueProxy, RLockProxy, SemaphoreProxy, SetProxy, Shared,
    SharedProxy, ValueProxy,
};
use crate::Connection;
use crate::process::Handle;

/// A manager: a server process holding shared objects, and the way to make them (Python's
/// `multiprocessing.Manager()`, a `SyncManager`).
///
/// [`Manager::start`] starts the server as a child of this process; dropping the `Manager`
/// (or [`shutdown`](Manager::shutdown)) stops it. Each method makes a new object in the server
/// and returns a proxy to it; see the [module docs](super).
#[doc(alias = "SyncManager", alias = "BaseManager")]
pub struct Manager {
    link: Arc<Link>,
    own: Own,
    timeout: Duration,
}

pub(super) enum Own {
    /// A server process this manager started.
    Child {
        handle: Handle<()>,
        owner: Connection,
    },
    /// A server running on threads of this process.
    Here {
        server: Arc<Server>,
        thread: Option<std::thread::JoinHandle<()>>,
    },
    /// A server that another process runs.
    Remote,
}

impl Manager {
    pub(super) fn new(link: Arc<Link>, own: Own, timeout: Duration) -> Manager {
        Manager { link, own, timeout }
    }

    /// Starts a manager server as a child process, with the defaults (Python's
    /// `multiprocessing.Manager()`).
    ///
    /// It listens on a fresh abstract Unix socket of this machine, and clients authenticate
    /// with this process's [`authkey`](crate::authkey), which children inherit. Use
    /// [`Manager::builder`] to register your own types, set the calls' timeout, give an
    /// initializer, or choose the start method.
    pub fn start() -> Result<Manager, ManagerError> {
        Manager::builder().start()
    }

    /// Serves a manager from this process at `address`, to clients that know `authkey`
    /// (Python's `BaseManager(address, authkey).get_server().serve_forever()`, without the
    /// blocking: the server runs on background threads until the `Manager` is dropped or
    /// [`serve_forever`](Manager::serve_forever) returns). Register types with
    /// [`Manager::builder`] and [`ManagerBuilder::serve`].
    ///
    /// Over TCP, anyone who can reach the port and knows the key can use the manager; the
    /// key is checked with CPython's HMAC handshake, but the traffic is not encrypted.
    pub fn serve(
        address: impl Into<Address>,
        authkey: impl AsRef<[u8]>,
    ) -> Result<Manager, ManagerError> {
        Manager::builder().address(address).authkey(authkey).serve()
    }

    /// Connects to the manager at `address`, served by another program (Python's
    /// `BaseManager(address, authkey).connect()`), within the [default
    /// timeout](super::DEFAULT_TIMEOUT) ([`ManagerBuilder::connect`] sets another). A wrong key
    /// is [`ManagerError::Authentication`].
    ///
    /// Dropping the returned `Manager` leaves the server running;
    /// [`shutdown`](Manager::shutdown) asks it to stop.
    pub fn connect(
        address: impl Into<Address>,
        authkey: impl AsRef<[u8]>,
    ) -> Result<Manager, ManagerError> {
        Manager::builder()
            .address(address)
            .authkey(authkey)
            .connect()
    }

    /// Options for a manager.
    pub fn builder() -> ManagerBuilder<()> {
        ManagerBuilder::new()
    }

    /// Where the server listens: give it to [`Manager::connect`] in another program.
    pub fn address(&self) -> &Address {
        &self.link.endpoint.address
    }

    /// The bound of each call of this manager and of the proxies it makes from now on (see
    /// [Deadlines](super#deadlines)).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sets the bound of each call of this manager and of the proxies it makes from now on
    /// (proxies made before keep theirs: see their `set_timeout`).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Waits until a client asks the server to stop ([`shutdown`](Manager::shutdown) on a
    /// [`connect`](Manager::connect)ed manager), for a server this process
    /// [`serve`](Manager::serve)s (Python's `serve_forever`). The server goes on serving until
    /// this `Manager` is dropped, so the program can read the shared state first. For a
    /// [`start`](Manager::start)ed server, waits until its process ends.
    pub fn serve_forever(&self) -> Result<(), ManagerError> {
        match &self.own {
            Own::Here { server, .. } => server.wait_stop(),
            Own::Child { handle, .. } => {
                handle.wait();
            }
            Own::Remote => {
                return Err(ManagerError::Invalid(
                    "serve_forever: this process does not run the manager's server".into(),
                ));
            }
        }
        Ok(())
    }

    fn call<R>(
        &self,
        call: &Call,
        accept: impl FnOnce(Reply) -> Result<R, ManagerError>,
    ) -> Result<R, ManagerError> {
        self.link.call(call, self.timeout, accept)
    }

    fn created(&self, call: &Call) -> Result<ObjRef, ManagerError> {
        let id = self.call(call, |r| match r {
            Reply::Created(id) => Ok(id),
            other => Err(unexpected(other)),
        })?;
        Ok(ObjRef::adopt(self.link.clone(), id, self.timeout))
    }

    fn make(&self, create: Create) -> Result<ObjRef, ManagerError> {
        self.created(&Call::Create(create))
    }

    /// Encodes `items` as the values of a new object.
    fn payloads<T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<(Vec<super::protocol::Payload>, Vec<ObjRef>), ManagerError> {
        let mut keep = Vec::new();
        let mut payloads = Vec::new();
        for item in items {
            let e = encode_for(self.link.endpoint.id, &item)?;
            keep.extend(e.keep);
            payloads.push(e.payload);
        }
        Ok((payloads, keep))
    }

    /// A new, empty dict (Python's `manager.dict()`).
    pub fn dict<K, V>(&self) -> Result<DictProxy<K, V>, ManagerError>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        self.make(Create::Dict).map(DictProxy::from_ref)
    }

    /// A new, empty list (Python's `manager.list()`).
    pub fn list<T: Serialize + DeserializeOwned>(&self) -> Result<ListProxy<T>, ManagerError> {
        self.make(Create::List(Vec::new())).map(ListProxy::from_ref)
    }

    /// A new list holding `items` (Python's `manager.list(items)`).
    pub fn list_from<T: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ListProxy<T>, ManagerError> {
        let (payloads, _keep) = self.payloads(items)?;
        self.make(Create::List(payloads)).map(ListProxy::from_ref)
    }

    /// A new array holding `items`, whose length is fixed (Python's
    /// `manager.Array(typecode, items)`).
    #[doc(alias = "Array")]
    pub fn array<T: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ArrayProxy<T>, ManagerError> {
        let (payloads, _keep) = self.payloads(items)?;
        self.make(Create::Array(payloads)).map(ArrayProxy::from_ref)
    }

    /// A new, empty set (Python's `manager.set()`).
    pub fn set<T: Serialize + DeserializeOwned>(&self) -> Result<SetProxy<T>, ManagerError> {
        self.set_from(std::iter::empty())
    }

    /// A new set holding `items` (Python's `manager.set(items)`).
    pub fn set_from<T: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<SetProxy<T>, ManagerError> {
        let keys = items
            .into_iter()
            .map(|k| {
                let e = crate::codec::encode(&k)?;
                if !e.fds.is_empty() {
                    return Err(ManagerError::Invalid(
                        "a set element cannot hold handles".into(),
                    ));
                }
                Ok(crate::codec::Bytes(e.bytes))
            })
            .collect::<Result<_, ManagerError>>()?;
        self.make(Create::Set(keys)).map(SetProxy::from_ref)
    }

    /// A new, empty namespace (Python's `manager.Namespace()`).
    #[doc(alias = "Namespace")]
    pub fn namespace(&self) -> Result<Namespace, ManagerError> {
        self.make(Create::Namespace).map(Namespace::from_ref)
    }

    /// The manager's own namespace, which always exists: every client of the manager finds the
    /// same one, so a server can publish proxies in it for clients that connect later.
    pub fn root(&self) -> Result<Namespace, ManagerError> {
        self.created(&Call::Root).map(Namespace::from_ref)
    }

    /// A new value holding `value` (Python's `manager.Value(typecode, value)`).
    #[doc(alias = "Value")]
    pub fn value<T: Serialize + DeserializeOwned>(
        &self,
        value: T,
    ) -> Result<ValueProxy<T>, ManagerError> {
        let e = encode_for(self.link.endpoint.id, &value)?;
        self.make(Create::Value(e.payload))
            .map(ValueProxy::from_ref)
    }

    /// A new, unbounded queue (Python's `manager.Queue()`).
    #[doc(alias = "Queue")]
    pub fn queue<T: Serialize + DeserializeOwned>(&self) -> Result<QueueProxy<T>, ManagerError> {
        self.bounded_queue(0)
    }

    /// A new queue holding at most `maxsize` items, 0 for no limit (Python's
    /// `manager.Queue(maxsize)`).
    pub fn bounded_queue<T: Serialize + DeserializeOwned>(
        &self,
        maxsize: usize,
    ) -> Result<QueueProxy<T>, ManagerError> {
        self.make(Create::Queue {
            maxsize: maxsize as u64,
            joinable: false,
        })
        .map(QueueProxy::from_ref)
    }

    /// A new, unbounded joinable queue (Python's `manager.JoinableQueue()`).
    #[doc(alias = "JoinableQueue")]
    pub fn joinable_queue<T: Serialize + DeserializeOwned>(
        &self,
    ) -> Result<JoinableQueueProxy<T>, ManagerError> {
        self.bounded_joinable_queue(0)
    }

    /// A new joinable queue holding at most `maxsize` items, 0 for no limit (Python's
    /// `manager.JoinableQueue(maxsize)`).
    pub fn bounded_joinable_queue<T: Serialize + DeserializeOwned>(
        &self,
        maxsize: usize,
    ) -> Result<JoinableQueueProxy<T>, ManagerError> {
        self.make(Create::Queue {
            maxsize: maxsize as u64,
            joinable: true,
        })
        .map(JoinableQueueProxy::from_ref)
    }

    /// A new lock (Python's `manager.Lock()`).
    #[doc(alias = "Lock")]
    pub fn lock(&self) -> Result<LockProxy, ManagerError> {
        self.make(Create::Lock).map(LockProxy::from_ref)
    }

    /// A new reentrant lock (Python's `manager.RLock()`).
    #[doc(alias = "RLock")]
    pub fn rlock(&self) -> Result<RLockProxy, ManagerError> {
        self.make(Create::RLock).map(RLockProxy::from_ref)
    }

    /// A new semaphore with count `value` (Python's `manager.Semaphore(value)`).
    #[doc(alias = "Semaphore")]
    pub fn semaphore(&self, value: u32) -> Result<SemaphoreProxy, ManagerError> {
        self.make(Create::Semaphore {
            value,
            bounded: false,
        })
        .map(SemaphoreProxy::from_ref)
    }

    /// A new semaphore that refuses to be released past `value` (Python's
    /// `manager.BoundedSemaphore(value)`).
    #[doc(alias = "BoundedSemaphore")]
    pub fn bounded_semaphore(&self, value: u32) -> Result<SemaphoreProxy, ManagerError> {
        self.make(Create::Semaphore {
            value,
            bounded: true,
        })
        .map(SemaphoreProxy::from_ref)
    }

    /// A new event, not set (Python's `manager.Event()`).
    #[doc(alias = "Event")]
    pub fn event(&self) -> Result<EventProxy, ManagerError> {
        self.make(Create::Event).map(EventProxy::from_ref)
    }

    /// A new condition variable with its own reentrant lock (Python's `manager.Condition()`).
    #[doc(alias = "Condition")]
    pub fn condition(&self) -> Result<ConditionProxy, ManagerError> {
        self.make(Create::Condition).map(ConditionProxy::from_ref)
    }

    /// A new barrier for `parties` parties (Python's `manager.Barrier(parties)`).
    #[doc(alias = "Barrier")]
    pub fn barrier(&self, parties: u32) -> Result<BarrierProxy, ManagerError> {
        self.make(Create::Barrier { parties })
            .map(BarrierProxy::from_ref)
    }

    /// A new instance of the registered type `T`, made in the server by `T::new(init)`
    /// (Python's `manager.<typeid>(...)` after `register`). [`ManagerError::UnknownType`] if
    /// the server's builder did not register `T`.
    pub fn create<T: Shared>(&self, init: T::Init) -> Result<SharedProxy<T>, ManagerError> {
        let e = encode_for(self.link.endpoint.id, &init)?;
        self.make(Create::Shared {
            type_name: std::any::type_name::<T>().to_owned(),
            init: e.payload,
        })
        .map(SharedProxy::new)
    }

    /// How many objects the server holds, its root namespace included (for tests and
    /// debugging: a count that goes back down shows that dropped proxies freed their objects).
    #[doc(alias = "_number_of_objects")]
    pub fn object_count(&self) -> Result<usize, ManagerError> {
        self.call(&Call::ObjectCount, |r| match r {
            Reply::Count(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            other => Err(unexpected(other)),
        })
    }

    /// A round trip to the server and back, doing nothing: whether it answers, within the
    /// timeout.
    pub fn ping(&self) -> Result<(), ManagerError> {
        self.call(&Call::Ping, |r| match r {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        })
    }

    /// The server process's id, if this manager started one.
    pub fn pid(&self) -> Option<u32> {
        match &self.own {
            Own::Child { handle, .. } => Some(handle.pid()),
            Own::Here { .. } | Own::Remote => None,
        }
    }

    /// Stops the server and waits for it to end (at most about two seconds: it is terminated,
    /// then killed, if it does not stop when asked, as Python does). For a
    /// [`connect`](Manager::connect)ed manager, asks the server to stop.
    pub fn shutdown(mut self) -> Result<(), ManagerError> {
        if let Own::Remote = self.own {
            return self.call(&Call::Shutdown, |r| match r {
                Reply::Unit => Ok(()),
                other => Err(unexpected(other)),
            });
        }
        self.stop()
    }

    fn stop(&mut self) -> Result<(), ManagerError> {
        match &mut self.own {
            Own::Child { handle, owner } => {
                if handle.exitcode().is_some() {
                    return Ok(());
                }
                let _ = owner.try_send(&());
                if handle.join_timeout(Duration::from_secs(1)).is_some() {
                    return Ok(());
                }
                log::warn!(target: "multiproc", "manager process did not stop when asked; terminating it");
                let _ = handle.terminate();
                if handle.join_timeout(Duration::from_secs(1)).is_none() {
                    let _ = handle.kill();
                    handle.join_timeout(Duration::from_secs(1));
                }
                Ok(())
            }
            Own::Here { server, thread } => {
                server.close();
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
                Ok(())
            }
            Own::Remote => Ok(()),
        }
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            log::warn!(target: "multiproc", "stopping the manager failed: {e}");
        }
    }
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("address", &self.link.endpoint.address)
            .field("pid", &self.pid())
            .field("timeout", &self.timeout)
            .finish()
    }
}
