//! [`ManagerBuilder`]: a manager's options, and the server process it starts.

use std::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::client::{Endpoint, Link};
use super::handle::{Manager, Own};
use super::protocol::Hello;
use super::server::{Server, TypeRegistry, Types};
use super::transport::{self, Acceptor, Address};
use super::{DEFAULT_TIMEOUT, ManagerError, Shared};
use crate::codec::{self, Bytes, EncodeError, Fd};
use crate::deadline::Deadline;
use crate::process::Process;
use crate::start::{self, Invocation, Outcome, StartMethod};
use crate::sys::fd::deadline_after;
use crate::{Connection, ProcessError, sys};

/// How long a starting server process may take to say it listens (its initializer included).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Options for a manager, made by [`Manager::builder`]: registered types, authentication key,
/// address, the calls' timeout, an initializer, the start method.
#[must_use = "a builder does nothing until start(), serve() or connect() is called"]
pub struct ManagerBuilder<R = ()> {
    address: Option<Address>,
    authkey: Option<Vec<u8>>,
    method: Option<StartMethod>,
    timeout: Duration,
    init: Option<Result<Initializer, EncodeError>>,
    _types: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for ManagerBuilder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerBuilder")
            .field("types", &std::any::type_name::<R>())
            .field("address", &self.address)
            .field("method", &self.method)
            .field("timeout", &self.timeout)
            .field("initializer", &self.init.is_some())
            .finish_non_exhaustive()
    }
}

/// A function the server's process calls before it serves: an entry for `Fn(A)` (named by its
/// offset in this executable, which the server process runs too) and its encoded argument.
#[derive(Debug, Serialize, Deserialize)]
struct Initializer {
    entry: i64,
    tag: u64,
    args: Bytes,
    fds: Vec<Fd>,
}

impl Initializer {
    fn new<F, A>(f: F, args: &A) -> Result<Initializer, EncodeError>
    where
        F: Fn(A) + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
    {
        let _ = f;
        const {
            assert!(
                std::mem::size_of::<F>() == 0,
                "an initializer must not capture state: pass it as its argument"
            )
        };
        let e = codec::encode(args)?;
        Ok(Initializer {
            entry: sys::target::offset_of::<start::Entry>(start::fn_entry::<F, A, ()>),
            tag: start::tag_of::<(F, A, ())>(),
            args: Bytes(e.bytes),
            fds: e.fds.into_iter().map(Fd::from).collect(),
        })
    }

    /// Calls it, in this process; its panic or failure as a message.
    fn run(self) -> Result<(), String> {
        let entry = sys::target::entry_from_parent::<start::Entry>(self.entry);
        let inv = Invocation {
            tag: self.tag,
            args: self.args.0,
            fds: self.fds.into_iter().map(OwnedFd::from).collect(),
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| entry(inv))) {
            Ok(Outcome::Returned { .. }) => Ok(()),
            Ok(Outcome::Panicked(m) | Outcome::Failed(m)) => Err(m),
            Err(p) => Err(start::panic_message(p.as_ref())),
        }
    }
}

/// What the server process is given.
#[derive(Serialize, Deserialize)]
struct ServerArgs {
    address: Option<Address>,
    authkey: Bytes,
    owner: Connection,
    init: Option<Initializer>,
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

/// Whether clients reach `address` through a Unix socket, from this machine.
fn is_local(address: &Address) -> bool {
    matches!(address, Address::Unix(_) | Address::Abstract(_))
}

/// The server process: runs the initializer, listens, says so, and serves until its owner says
/// stop or goes away.
fn server_process<R: Types>(args: ServerArgs) {
    let fail = |msg: String| {
        let _ = args
            .owner
            .send_deadline(&Started::Failed(msg), deadline_after(START_TIMEOUT));
    };
    if let Some(init) = args.init {
        if let Err(m) = init.run() {
            return fail(format!("its initializer failed: {m}"));
        }
    }
    let mut types = TypeRegistry::default();
    R::register(&mut types);
    let address = args.address.unwrap_or_else(transport::local_address);
    let acceptor = match Acceptor::bind(&address, &args.authkey.0) {
        Ok(a) => a,
        Err(e) => return fail(error_chain(&e)),
    };
    let server = match Server::new(types, is_local(acceptor.address())) {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot set up the server: {e}")),
    };
    let ready = Started::Ready {
        id: server.id,
        address: acceptor.address().clone(),
    };
    if args
        .owner
        .send_deadline(&ready, deadline_after(START_TIMEOUT))
        .is_err()
    {
        return;
    }
    log::info!(target: "multiproc", "manager serving at {}", acceptor.address());
    server.run(acceptor, Some(args.owner));
    log::info!(target: "multiproc", "manager shutting down");
}

impl ManagerBuilder<()> {
    pub(super) fn new() -> Self {
        ManagerBuilder {
            address: None,
            authkey: None,
            method: None,
            timeout: DEFAULT_TIMEOUT,
            init: None,
            _types: PhantomData,
        }
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
            timeout: self.timeout,
            init: self.init,
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
    /// machine only): a TCP address to serve other machines, or a Unix socket path. For
    /// [`connect`](Self::connect), where the server is.
    pub fn address(mut self, address: impl Into<Address>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// The bound of each call of this manager and of the proxies it makes (default
    /// [`DEFAULT_TIMEOUT`]; see [Deadlines](super#deadlines)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A function the server's process calls with `args` before it serves (Python's
    /// `SyncManager.start(initializer, initargs)`): to set up logging, signal handling or
    /// state that registered types use. If it panics, [`start`](Self::start) fails with its
    /// message. [`serve`](Self::serve) calls it in this process, before it listens.
    pub fn initializer<F, A>(mut self, f: F, args: A) -> Self
    where
        F: Fn(A) + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
    {
        self.init = Some(Initializer::new(f, &args));
        self
    }

    /// How the server process is started (default: [`get_start_method`](crate::get_start_method)).
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    fn take_init(&mut self) -> Result<Option<Initializer>, ManagerError> {
        self.init.take().transpose().map_err(ManagerError::Encode)
    }

    /// Runs the server on threads of this process instead of a child, listening on the
    /// [`address`](Self::address) (Python's `BaseManager(address, authkey).get_server()`).
    /// The returned `Manager` makes objects like any other; dropping it stops the server, and
    /// [`serve_forever`](Manager::serve_forever) waits until a client stops it.
    pub fn serve(mut self) -> Result<Manager, ManagerError> {
        if let Some(init) = self.take_init()? {
            init.run()
                .map_err(|m| ManagerError::StartFailed(format!("its initializer failed: {m}")))?;
        }
        let mut types = TypeRegistry::default();
        R::register(&mut types);
        let address = self.address.unwrap_or_else(transport::local_address);
        let authkey = self.authkey.unwrap_or_else(crate::authkey);
        let acceptor = Acceptor::bind(&address, &authkey)?;
        let server = Server::new(types, is_local(acceptor.address()))
            .map_err(|e| ManagerError::StartFailed(e.to_string()))?;
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
        Ok(Manager::new(
            Link::for_endpoint(&endpoint),
            Own::Here {
                server,
                thread: Some(thread),
            },
            self.timeout,
        ))
    }

    /// Starts the server as a child process (a daemon, named `SyncManager-k`, as Python names
    /// it), runs the [`initializer`](Self::initializer) there, and waits until it listens.
    pub fn start(mut self) -> Result<Manager, ManagerError> {
        let init = self.take_init()?;
        let io = |e: std::io::Error| ManagerError::Start(ProcessError::Io(e));
        let (mine, theirs) = crate::sys::fd::socketpair().map_err(io)?;
        let mine = Connection::from_socket(mine, true, true);
        let theirs = Connection::from_socket(theirs, true, true);
        let authkey = self.authkey.unwrap_or_else(crate::authkey);
        let args = ServerArgs {
            address: self.address,
            authkey: Bytes(authkey.clone()),
            owner: theirs,
            init,
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
        Ok(Manager::new(
            Link::for_endpoint(&endpoint),
            Own::Child {
                handle,
                owner: mine,
            },
            self.timeout,
        ))
    }

    /// Connects to the manager at the [`address`](Self::address), served by another program
    /// (Python's `BaseManager(address, authkey).connect()`), within the
    /// [`timeout`](Self::timeout). A wrong key is [`ManagerError::Authentication`].
    pub fn connect(self) -> Result<Manager, ManagerError> {
        let address = self.address.ok_or_else(|| {
            ManagerError::Invalid("connect: the builder has no address to connect to".into())
        })?;
        let authkey = self.authkey.unwrap_or_else(crate::authkey);
        let deadline = deadline_after(self.timeout);
        let conn = transport::connect(&address, &authkey, deadline)?;
        let fail = |source| ManagerError::Connect {
            address: address.to_string(),
            source,
        };
        conn.send_deadline(&Hello::Probe, deadline).map_err(fail)?;
        let id: u64 = conn.recv_deadline(deadline).map_err(fail)?;
        let endpoint = Endpoint {
            id,
            address,
            authkey: Bytes(authkey),
        };
        let link: Arc<Link> = Link::for_endpoint(&endpoint);
        Ok(Manager::new(link, Own::Remote, self.timeout))
    }
}
