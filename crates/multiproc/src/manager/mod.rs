//! Managers: dicts, lists, namespaces, queues and locks kept in a server process, shared by
//! every process that holds a proxy to them, on this machine or others (Python's
//! `multiprocessing.Manager()` and `BaseManager`).
//!
//! [`Manager::start`] starts the server as a child process. Its methods make objects in it and
//! return *proxies*: [`DictProxy`], [`ListProxy`], [`ArrayProxy`], [`SetProxy`],
//! [`Namespace`], [`ValueProxy`], [`QueueProxy`], [`JoinableQueueProxy`], [`LockProxy`],
//! [`RLockProxy`], [`SemaphoreProxy`], [`EventProxy`], [`ConditionProxy`], [`BarrierProxy`],
//! and [`SharedProxy`] for your own [`Shared`] types. A proxy is cheap to clone and serializable:
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
//! everything it held. Dropping the [`Manager`] (or [`Manager::shutdown`]) stops the server;
//! proxies then fail with [`ManagerError::Connect`] or [`ManagerError::Disconnected`], and a
//! call in flight when the server dies returns that error at once rather than waiting.
//!
//! # Deadlines
//!
//! Every call to the manager is bounded by a timeout: [`DEFAULT_TIMEOUT`] unless
//! [`ManagerBuilder::timeout`] or [`Manager::set_timeout`] sets another for a manager and the
//! proxies it makes, or a proxy's own `set_timeout` / `with_timeout` for that proxy. A proxy
//! carries its timeout to the processes it is sent to; a proxy read from a managed object (the
//! [`root`](Manager::root) namespace, a dict of proxies) takes the timeout of the proxy that read
//! it. The timeout bounds how long the server may stay silent:
//!
//! - connecting (or reconnecting) and sending the call take at most the timeout;
//! - a call that does not wait on the server must be answered within it;
//! - a call that waits on the server (`get`, `acquire`, `wait`, `join`) waits as long as its
//!   own time allows, to the time given (`get_timeout(2 s)` returns after 2 s), or for ever;
//!   meanwhile the server says every so often that it still waits.
//!
//! So a server that is stopped (`SIGSTOP`), hung, or cut off by the network is noticed within
//! the timeout, and the call returns [`ManagerError::NoAnswer`] (or [`ManagerError::Connect`]
//! if it could not even connect), whatever it was doing. The same holds for managers on other
//! machines. A call that moves more data than the network carries in the timeout, or a
//! registered type's method that runs longer, needs a longer timeout.
//!
//! # Nothing handed to a dead client is lost
//!
//! A queue item is taken, and a lock acquired, only once the caller has it: the caller
//! confirms each such answer, and until it does the server keeps what it handed over. If the
//! caller dies during its `get` (or its call fails on the way back), the item goes back to the
//! front of its queue for the next `get`, and the lock is released. A server thread waiting on
//! behalf of a caller that is gone notices within a tenth of a second and stops, taking
//! nothing.
//!
//! # Locks whose holder ended
//!
//! A manager lock is held by a thread of a client process. What happens when that process
//! ends while holding it follows Python where Python's programs work, and does not leave a
//! lock held forever where Python would hang:
//!
//! - A [`LockProxy`] may be released by any process. A process that **ends in order** (it had
//!   dropped its last proxy to the manager: a child whose target returned) while holding one
//!   has *handed it over*, as in Python: it stays held until some process calls
//!   [`LockProxy::release`], and acquirers wait for that.
//! - A process that **died** holding one (killed by a signal, crashed, or exited with proxies
//!   still alive) left it: it stays held, and may still be released by another process, but
//!   the next acquirer takes it over and gets [`LockError::HolderDied`], which holds the guard,
//!   instead of waiting forever.
//! - An [`RLockProxy`] or a [`ConditionProxy`]'s lock can only be released by its holding
//!   thread, so once that thread's process has ended, in any way, nobody can: the next
//!   acquirer takes it over with [`LockError::HolderDied`].
//!
//! The manager learns how a client ended from its control connection: a process says goodbye
//! when it drops its last proxy; a connection that ends without a goodbye is a death. For a
//! client of this machine (a Unix socket), the manager also checks that the process is really
//! gone, so a connection lost by a live process is not taken for a death. Over TCP it cannot
//! look: a connection that ends without a goodbye counts as a death, and a client machine that
//! vanishes without closing its connections is noticed only when TCP gives up on them. A
//! semaphore has no holder; a count taken by a process that ends stays taken, as in Python.
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
//! ([`DictProxy::update`], [`ListProxy::extend`], [`DictProxy::items`]) cost about one. A
//! queue `get` or a lock `acquire` adds a one-way confirmation. For
//! data that only processes of this machine share, the shared-memory primitives
//! ([`Value`](crate::Value), [`Array`](crate::Array), [`Lock`](crate::Lock)) are far faster.

#![forbid(unsafe_code)]

mod builder;
pub(crate) mod client;
mod error;
mod handle;
mod protocol;
mod proxy;
mod server;
mod transport;

pub use builder::ManagerBuilder;
pub use error::{LockError, ManagerError};
pub use handle::Manager;
pub use proxy::array::ArrayProxy;
pub use proxy::barrier::BarrierProxy;
pub use proxy::condition::{ConditionProxy, ConditionProxyGuard};
pub use proxy::dict::DictProxy;
pub use proxy::event::EventProxy;
pub use proxy::list::ListProxy;
pub use proxy::lock::{LockProxy, ProxyGuard};
pub use proxy::namespace::Namespace;
pub use proxy::queue::{JoinableQueueProxy, QueueProxy};
pub use proxy::rlock::RLockProxy;
pub use proxy::semaphore::SemaphoreProxy;
pub use proxy::set::SetProxy;
pub use proxy::shared::{Shared, SharedProxy};
pub use proxy::value::ValueProxy;
pub use server::{TypeRegistry, Types};

use std::time::Duration;

/// The bound of each manager call unless one is set: how long a server may stay silent before
/// a call gives up with [`ManagerError::NoAnswer`] (see [Deadlines](self#deadlines)). Set it
/// per manager with [`ManagerBuilder::timeout`] or [`Manager::set_timeout`], per proxy with its
/// `set_timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
