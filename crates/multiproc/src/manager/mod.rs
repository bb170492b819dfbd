//! Managers: dicts, lists, namespaces, queues and locks kept in a server process, shared by
//! every process that holds a proxy to them, on this machine or others (Python's
//! `multiprocessing.Manager()` and `BaseManager`).
//!
//! [`Manager::start`] starts the server as a child process. Its methods make objects in it and
//! return *proxies*: [`DictProxy`], [`ListProxy`], [`Namespace`], [`ValueProxy`],
//! [`QueueProxy`], [`JoinableQueueProxy`], [`LockProxy`], [`RLockProxy`],
//! [`SemaphoreProxy`], [`EventProxy`], [`ConditionProxy`], [`BarrierProxy`], and
//! [`SharedProxy`] for your own [`Shared`] types. A proxy is cheap to clone and serializable:
//! pass it to a child as its argument, send it through a queue or a connection, or store it in
//! another managed object, and the receiving process reaches the same object. Every method is
//! a call to the server, which serves each client connection on its own thread.
//!
//! ```rust,standalone_crate
//! use multiproc::manager::DictProxy;
//!
//! fn worker((d, key, value): (DictProxy<u32, u32>, u32, u32)) {
//!     d.set(key, value).unwrap();
//! }
//!
//! fn main() {
//!     multiproc::init();
//!     let manager = multiproc::Manager::start().unwrap();
//!     let d = manager.dict().unwrap();
//!     let jobs: Vec<_> = (0..4)
//!         .map(|i| multiproc::spawn(worker, (d.clone(), i, i * 2)))
//!         .collect();
//!     for j in jobs {
//!         j.join().unwrap();
//!     }
//!     assert_eq!(d.len().unwrap(), 4);
//!     assert_eq!(d.get(&3).unwrap(), Some(6));
//! }
//! ```
//!
//! # What is shared, and what is a copy
//!
//! As in Python, a value read through a proxy is a copy: changing a list you got from a
//! [`Namespace`] does not change the namespace; set the attribute again. A *proxy* stored in a
//! managed object is shared: a dict whose values are dict proxies updates the inner dicts in
//! place, wherever they are read from.
//!
//! # Lifetimes
//!
//! The server keeps an object while some process holds a proxy to it (or a stored value
//! refers to it); the last proxy's drop releases it, and a process that dies releases
//! everything it held. Locks held by a process that dies are released too. Dropping the
//! [`Manager`] (or [`Manager::shutdown`]) stops the server; proxies then fail with
//! [`ManagerError::Connect`] or [`ManagerError::Disconnected`], and a call in flight when the
//! server dies returns that error at once rather than waiting.
//!
//! # Remote managers
//!
//! A program serves a manager with [`Manager::serve`] on a TCP address (or a Unix socket
//! path), and programs elsewhere reach it with [`Manager::connect`], proving that they know
//! the authkey with CPython's HMAC handshake; a wrong key is
//! [`ManagerError::Authentication`]. The server publishes proxies in its [`root`](Manager::root)
//! namespace, where clients find them by name (Python registers a `get_queue` callable for
//! this):
//!
//! ```rust,standalone_crate
//! use multiproc::Manager;
//! use multiproc::connection::Address;
//! use multiproc::manager::QueueProxy;
//!
//! fn main() {
//!     multiproc::init();
//!     // The server program:
//!     let server = Manager::serve("127.0.0.1:0".parse::<Address>().unwrap(), b"secret").unwrap();
//!     let jobs = server.queue::<String>().unwrap();
//!     server.root().unwrap().set("jobs", &jobs).unwrap();
//!     jobs.put("a job".into()).unwrap();
//!
//!     // A client program, given the address and the key:
//!     let client = Manager::connect(server.address().clone(), b"secret").unwrap();
//!     let jobs: QueueProxy<String> = client.root().unwrap().get("jobs").unwrap();
//!     assert_eq!(jobs.get().unwrap(), "a job");
//!     assert!(Manager::connect(server.address().clone(), b"guess").is_err());
//! }
//! ```
//!
//! The `manager_server` and `manager_client` examples are the two programs, with commands to
//! run them. A server restarted on the address of one that was killed binds it again (a
//! stale Unix socket file is removed).
//!
//! # Speed
//!
//! Each call is a round trip to the server. Calls that move many values at once
//! ([`DictProxy::update`], [`ListProxy::extend`], [`DictProxy::items`]) cost about one. For
//! data that only processes of this machine share, the shared-memory primitives
//! ([`Value`](crate::Value), [`Array`](crate::Array), [`Lock`](crate::Lock)) are far faster.

#![forbid(unsafe_code)]

/// `Clone`, `Debug`, `Serialize` and `Deserialize` for a proxy type holding `obj: ObjRef` and
/// made by `from_ref`.
macro_rules! proxy_impls {
    ($name:ident $(< $($g:ident),+ >)?) => {
        impl $(< $($g),+ >)? Clone for $name $(< $($g),+ >)? {
            fn clone(&self) -> Self {
                Self::from_ref(self.obj.clone())
            }
        }

        impl $(< $($g),+ >)? std::fmt::Debug for $name $(< $($g),+ >)? {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.obj.debug(f, stringify!($name))
            }
        }

        impl $(< $($g),+ >)? serde::Serialize for $name $(< $($g),+ >)? {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serde::Serialize::serialize(&self.obj, s)
            }
        }

        impl<'de $(, $($g),+)?> serde::Deserialize<'de> for $name $(< $($g),+ >)? {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <$crate::manager::link::ObjRef as serde::Deserialize>::deserialize(d)
                    .map(Self::from_ref)
            }
        }
    };
}
pub(crate) use proxy_impls;

mod barrier;
mod condition;
mod dict;
mod error;
mod event;
pub(crate) mod link;
mod list;
mod lock;
mod namespace;
mod object;
mod ordered;
mod protocol;
mod queue;
mod rlock;
mod semaphore;
mod server;
mod shared;
mod transport;
mod value;

pub use barrier::BarrierProxy;
pub use condition::{ConditionProxy, ConditionProxyGuard};
pub use dict::DictProxy;
pub use error::ManagerError;
pub use event::EventProxy;
pub use list::ListProxy;
pub use lock::{LockProxy, ProxyGuard};
pub use namespace::Namespace;
pub use queue::{JoinableQueueProxy, QueueProxy};
pub use rlock::RLockProxy;
pub use semaphore::SemaphoreProxy;
pub use shared::{Shared, SharedProxy, TypeRegistry, Types};
pub use value::ValueProxy;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec::Bytes;
use crate::deadline::Deadline;
use crate::process::{Handle, Process};
use crate::start::StartMethod;
use crate::sys::fd::deadline_after;
use crate::{Connection, ProcessError};
use link::{Endpoint, Link, ObjRef, encode_for, unexpected};
use protocol::{Call, Create, Reply, Wait};
use server::Server;
use transport::{Acceptor, Address};

/// How long a starting server process may take to say it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A manager: a server process holding shared objects, and the way to make them (Python's
/// `multiprocessing.Manager()`, a `SyncManager`).
///
/// [`Manager::start`] starts the server as a child of this process; dropping the `Manager`
/// (or [`shutdown`](Manager::shutdown)) stops it. Each method makes a new object in the server
/// and returns a proxy to it; see the [module docs](self).
#[doc(alias = "SyncManager", alias = "BaseManager")]
pub struct Manager {
    link: Arc<Link>,
    own: Own,
}

enum Own {
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

/// Options for a manager, made by [`Manager::builder`]: registered types, authentication key,
/// start method.
#[must_use = "a builder does nothing until start() is called"]
pub struct ManagerBuilder<R = ()> {
    address: Option<Address>,
    authkey: Option<Vec<u8>>,
    method: Option<StartMethod>,
    _types: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for ManagerBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerBuilder")
            .field("types", &std::any::type_name::<R>())
            .field("address", &self.address)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// What the server process is given.
#[derive(Serialize, Deserialize)]
struct ServerArgs {
    address: Option<Address>,
    authkey: Bytes,
    owner: Connection,
}

/// What the server process answers once it listens.
#[derive(Serialize, Deserialize)]
enum Started {
    Ready { id: u64, address: Address },
    Failed(String),
}

/// The error and its sources, as one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(c) = source {
        s.push_str(": ");
        s.push_str(&c.to_string());
        source = c.source();
    }
    s
}

/// The server process: listens, says so, and serves until its owner says stop or goes away.
fn server_process<R: Types>(args: ServerArgs) {
    let mut types = TypeRegistry::default();
    R::register(&mut types);
    let address = args.address.unwrap_or_else(transport::local_address);
    let fail = |msg: String| {
        let _ = args.owner.send(&Started::Failed(msg));
    };
    let acceptor = match Acceptor::bind(&address, &args.authkey.0) {
        Ok(a) => a,
        Err(e) => return fail(error_chain(&e)),
    };
    let server = match Server::new(types) {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot set up the server: {e}")),
    };
    let ready = Started::Ready {
        id: server.id,
        address: acceptor.address().clone(),
    };
    if args.owner.send(&ready).is_err() {
        return;
    }
    log::info!(target: "multiproc", "manager serving at {}", acceptor.address());
    server.run(acceptor, Some(args.owner));
    log::info!(target: "multiproc", "manager shutting down");
}

impl Manager {
    /// Starts a manager server as a child process, with the defaults (Python's
    /// `multiprocessing.Manager()`).
    ///
    /// It listens on a fresh abstract Unix socket of this machine, and clients authenticate
    /// with this process's [`authkey`](crate::authkey), which children inherit. Use
    /// [`Manager::builder`] to register your own types or choose the start method.
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
    /// `BaseManager(address, authkey).connect()`). A wrong key is
    /// [`ManagerError::Authentication`].
    ///
    /// Dropping the returned `Manager` leaves the server running;
    /// [`shutdown`](Manager::shutdown) asks it to stop.
    pub fn connect(
        address: impl Into<Address>,
        authkey: impl AsRef<[u8]>,
    ) -> Result<Manager, ManagerError> {
        let address = address.into();
        let authkey = authkey.as_ref().to_vec();
        let deadline = deadline_after(link::CONNECT_TIMEOUT);
        let conn = transport::connect(&address, &authkey, deadline)?;
        let fail = |source| ManagerError::Connect {
            address: address.to_string(),
            source,
        };
        conn.send(&protocol::Hello::Probe).map_err(fail)?;
        let id: u64 = conn.recv_deadline(deadline).map_err(fail)?;
        let endpoint = Endpoint {
            id,
            address,
            authkey: Bytes(authkey),
        };
        Ok(Manager {
            link: Link::for_endpoint(&endpoint),
            own: Own::Remote,
        })
    }

    /// Where the server listens: give it to [`Manager::connect`] in another program.
    pub fn address(&self) -> &Address {
        &self.link.endpoint.address
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

    /// Options for a manager.
    pub fn builder() -> ManagerBuilder<()> {
        ManagerBuilder {
            address: None,
            authkey: None,
            method: None,
            _types: PhantomData,
        }
    }

    fn make(&self, create: Create) -> Result<ObjRef, ManagerError> {
        match self.link.call(&Call::Create(create), Wait::Forever)? {
            Reply::Created(id) => Ok(ObjRef::adopt(self.link.clone(), id)),
            other => Err(unexpected(other)),
        }
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
        let mut keep = Vec::new();
        let mut payloads = Vec::new();
        for item in items {
            let e = encode_for(self.link.endpoint.id, &item)?;
            keep.extend(e.keep);
            payloads.push(e.payload);
        }
        self.make(Create::List(payloads)).map(ListProxy::from_ref)
    }

    /// A new, empty namespace (Python's `manager.Namespace()`).
    #[doc(alias = "Namespace")]
    pub fn namespace(&self) -> Result<Namespace, ManagerError> {
        self.make(Create::Namespace).map(Namespace::from_ref)
    }

    /// The manager's own namespace, which always exists: every client of the manager finds the
    /// same one, so a server can publish proxies in it for clients that connect later.
    pub fn root(&self) -> Result<Namespace, ManagerError> {
        match self.link.call(&Call::Root, Wait::Forever)? {
            Reply::Created(id) => Ok(Namespace::from_ref(ObjRef::adopt(self.link.clone(), id))),
            other => Err(unexpected(other)),
        }
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
        self.make(Create::Queue {
            maxsize: 0,
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
        match self.link.call(&Call::ObjectCount, Wait::Forever)? {
            Reply::Count(n) => Ok(n as usize),
            other => Err(unexpected(other)),
        }
    }

    /// A round trip to the server and back, doing nothing: whether it answers.
    pub fn ping(&self) -> Result<(), ManagerError> {
        match self.link.call(&Call::Ping, Wait::Forever)? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
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
            return match self.link.call(&Call::Shutdown, Wait::Forever)? {
                Reply::Unit => Ok(()),
                other => Err(unexpected(other)),
            };
        }
        self.stop()
    }

    fn stop(&mut self) -> Result<(), ManagerError> {
        match &mut self.own {
            Own::Child { handle, owner } => {
                if handle.exitcode().is_some() {
                    return Ok(());
                }
                let _ = owner.send(&());
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
            .finish()
    }
}

impl<R: Types> ManagerBuilder<R> {
    /// Registers the type `T`, so that clients can make instances of it with
    /// [`Manager::create`] (Python's `BaseManager.register`).
    pub fn register<T: Shared>(self) -> ManagerBuilder<(T, R)> {
        ManagerBuilder {
            address: self.address,
            authkey: self.authkey,
            method: self.method,
            _types: PhantomData,
        }
    }

    /// The key that clients must prove they know (default: this process's
    /// [`authkey`](crate::authkey), which children inherit).
    pub fn authkey(mut self, key: impl AsRef<[u8]>) -> Self {
        self.authkey = Some(key.as_ref().to_vec());
        self
    }

    /// Where the server listens (default: a fresh abstract Unix socket, reachable from this
    /// machine only): a TCP address to serve other machines, or a Unix socket path.
    pub fn address(mut self, address: impl Into<Address>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// Runs the server on threads of this process instead of a child, listening on the
    /// [`address`](Self::address) (Python's `BaseManager(address, authkey).get_server()`).
    /// The returned `Manager` makes objects like any other; dropping it stops the server, and
    /// [`serve_forever`](Manager::serve_forever) waits until a client stops it.
    pub fn serve(self) -> Result<Manager, ManagerError> {
        let mut types = TypeRegistry::default();
        R::register(&mut types);
        let address = self.address.unwrap_or_else(transport::local_address);
        let authkey = self.authkey.unwrap_or_else(crate::authkey);
        let acceptor = Acceptor::bind(&address, &authkey)?;
        let server = Server::new(types).map_err(|e| ManagerError::StartFailed(e.to_string()))?;
        let endpoint = Endpoint {
            id: server.id,
            address: acceptor.address().clone(),
            authkey: Bytes(authkey),
        };
        let runner = server.clone();
        let thread = std::thread::Builder::new()
            .name("manager-server".into())
            .spawn(move || runner.run(acceptor, None))
            .map_err(|e| ManagerError::StartFailed(e.to_string()))?;
        log::info!(target: "multiproc", "manager serving at {}", endpoint.address);
        Ok(Manager {
            link: Link::for_endpoint(&endpoint),
            own: Own::Here {
                server,
                thread: Some(thread),
            },
        })
    }

    /// How the server process is started (default: [`get_start_method`](crate::get_start_method)).
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// Starts the server as a child process (a daemon, named `SyncManager-k`, as Python names
    /// it), and waits until it listens.
    pub fn start(self) -> Result<Manager, ManagerError> {
        let address = self.address;
        let io = |e: std::io::Error| ManagerError::Start(ProcessError::Io(e));
        let (mine, theirs) = crate::sys::fd::socketpair().map_err(io)?;
        let mine = Connection::from_socket(mine, true, true);
        let theirs = Connection::from_socket(theirs, true, true);
        let authkey = self.authkey.unwrap_or_else(crate::authkey);
        let args = ServerArgs {
            address,
            authkey: Bytes(authkey.clone()),
            owner: theirs,
        };
        let mut p = Process::new(server_process::<R>, args).daemon(true);
        let name = p.get_name().replacen("Process", "SyncManager", 1);
        p = p.name(name);
        if let Some(m) = self.method {
            p = p.start_method(m);
        }
        let handle = p.start().map_err(ManagerError::Start)?;
        let started =
            mine.recv_inner::<Started>(Deadline::after(START_TIMEOUT), Some(handle.sentinel()));
        let (id, address) = match started {
            Ok(Started::Ready { id, address }) => (id, address),
            Ok(Started::Failed(msg)) => {
                handle.join_timeout(Duration::from_secs(1));
                return Err(ManagerError::StartFailed(msg));
            }
            Err(e) => {
                let _ = handle.kill();
                let code = handle.join_timeout(Duration::from_secs(1));
                return Err(ManagerError::StartFailed(match code {
                    Some(code) => format!("it exited with code {code}"),
                    None => format!("no word from it: {e}"),
                }));
            }
        };
        let endpoint = Endpoint {
            id,
            address,
            authkey: Bytes(authkey),
        };
        Ok(Manager {
            link: Link::for_endpoint(&endpoint),
            own: Own::Child {
                handle,
                owner: mine,
            },
        })
    }
}
