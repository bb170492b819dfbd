//! [`Listener`]: accepts connections from [`Client`](super::Client)s, ours or CPython's.

use std::fmt;
use std::io::{self, ErrorKind};
use std::net::TcpListener;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Address, Connection, DEFAULT_MAX_FRAME, Error, auth};
use crate::deadline::Deadline;
use crate::sys::fd::{self as sysfd, Interest};

/// How long a handshake may take unless the builder says otherwise.
pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The authkey and how strictly to check it.
#[derive(Clone)]
pub(crate) struct Auth {
    pub(crate) key: Vec<u8>,
    pub(crate) strict: bool,
}

impl Auth {
    pub(crate) fn new(key: Option<Key>, strict: bool) -> Option<Auth> {
        key.map(|Key(key)| Auth { key, strict })
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("key", &Key(Vec::new()))
            .field("strict", &self.strict)
            .finish()
    }
}

/// An authkey, which `Debug` never prints.
#[derive(Clone)]
pub(crate) struct Key(pub(crate) Vec<u8>);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

/// Runs the handshake if there is a key, in the given role, by `deadline`.
pub(crate) fn authenticate(
    conn: &Connection,
    auth: Option<&Auth>,
    listener: bool,
    deadline: Deadline,
) -> Result<(), Error> {
    match auth {
        Some(a) => auth::handshake(conn, &a.key, a.strict, listener, deadline),
        None => Ok(()),
    }
}

/// A socket that accepts [`Connection`]s (Python's `multiprocessing.connection.Listener`).
///
/// It listens on a Unix path, a Linux abstract name or a TCP address. With an authkey, every
/// accepted connection must pass CPython's handshake before [`accept`](Listener::accept)
/// returns it, so a Python `Client(address, authkey=...)` can connect, and so can ours.
///
/// `accept` runs that handshake itself, as Python's does, so one client that connects and
/// says nothing holds it for up to the [handshake timeout](ListenerBuilder::handshake_timeout).
/// A server for many clients should instead take connections with
/// [`accept_unauthenticated`](Listener::accept_unauthenticated), which returns at once, and
/// run each [`Unauthenticated::authenticate`] on the thread that serves that client (the
/// `echo_server` example does).
///
/// ```
/// use multiproc::connection::{Address, Client, Listener};
///
/// let listener = Listener::builder("127.0.0.1:0".parse::<Address>().unwrap())
///     .authkey(b"secret")
///     .bind()
///     .unwrap();
/// let address = listener.address().clone();
/// let client = std::thread::spawn(move || {
///     let conn = Client::new(address).authkey(b"secret").connect().unwrap();
///     conn.send_bytes(b"hello").unwrap();
/// });
/// let conn = listener.accept().unwrap();
/// assert_eq!(conn.recv_bytes().unwrap(), b"hello");
/// client.join().unwrap();
/// ```
///
/// A listener on a path removes its socket file when it is closed or dropped.
pub struct Listener {
    socket: Socket,
    address: Address,
    auth: Option<Auth>,
    handshake_timeout: Duration,
    max_frame: u64,
    unlink: Option<PathBuf>,
}

enum Socket {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// Options for a [`Listener`], made by [`Listener::builder`].
#[must_use = "a builder does nothing until bind() is called"]
#[derive(Debug)]
pub struct ListenerBuilder {
    address: Address,
    key: Option<Key>,
    strict: bool,
    backlog: Option<u32>,
    handshake_timeout: Duration,
    max_frame: u64,
}

impl ListenerBuilder {
    /// Requires every client to prove it knows `key` (CPython's authkey handshake). Without
    /// a key, there is no handshake, as in Python. An empty key, which anyone can compute the
    /// digests of, is refused by [`bind`](ListenerBuilder::bind).
    pub fn authkey(mut self, key: impl AsRef<[u8]>) -> Self {
        self.key = Some(Key(key.as_ref().to_vec()));
        self
    }

    /// Refuses the legacy HMAC-MD5 handshake of Python 3.11 and older (default: accepted).
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// How many clients may wait to be accepted (the kernel's default unless set; Python's
    /// default is 1).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = Some(backlog);
        self
    }

    /// How long an accepted client may take over the handshake (default 30 s), counted from
    /// the moment it is accepted. A client that says nothing cannot hold
    /// [`accept`](Listener::accept) or [`Unauthenticated::authenticate`] longer than this.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The largest frame accepted connections take (see
    /// [`Connection::set_max_frame_size`]).
    pub fn max_frame_size(mut self, bytes: u64) -> Self {
        self.max_frame = bytes;
        self
    }

    /// Binds the socket and starts listening.
    ///
    /// An empty authkey is refused ([`io::ErrorKind::InvalidInput`]): it would let any client
    /// in while looking protected. So is a Windows named pipe address (`\\.\pipe\name`),
    /// which Linux does not have.
    pub fn bind(self) -> io::Result<Listener> {
        if self.key.as_ref().is_some_and(|k| k.0.is_empty()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an empty authkey would let any client in; give a key, or none for no handshake",
            ));
        }
        self.address.check_supported()?;
        let (socket, address, unlink) = match &self.address {
            Address::Unix(path) => {
                let l = UnixListener::bind(path)?;
                (Socket::Unix(l), self.address.clone(), Some(path.clone()))
            }
            Address::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                let l = UnixListener::bind_addr(&addr)?;
                (Socket::Unix(l), self.address.clone(), None)
            }
            Address::Tcp(addr) => {
                let l = TcpListener::bind(addr)?;
                let local = l.local_addr()?;
                (Socket::Tcp(l), Address::Tcp(local), None)
            }
        };
        let listener = Listener {
            socket,
            address,
            auth: Auth::new(self.key, self.strict),
            handshake_timeout: self.handshake_timeout,
            max_frame: self.max_frame,
            unlink,
        };
        match &listener.socket {
            Socket::Unix(l) => l.set_nonblocking(true)?,
            Socket::Tcp(l) => l.set_nonblocking(true)?,
        }
        if let Some(backlog) = self.backlog {
            sysfd::listen(listener.as_fd(), backlog)?;
        }
        Ok(listener)
    }
}

impl Listener {
    /// Options for a listener on `address`; finish with [`bind`](ListenerBuilder::bind).
    pub fn builder(address: impl Into<Address>) -> ListenerBuilder {
        ListenerBuilder {
            address: address.into(),
            key: None,
            strict: false,
            backlog: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_frame: DEFAULT_MAX_FRAME,
        }
    }

    /// A listener on `address` with no authkey.
    pub fn bind(address: impl Into<Address>) -> io::Result<Listener> {
        Listener::builder(address).bind()
    }

    /// The address it listens on (for TCP port 0, the port the system chose).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Waits for a client and returns its connection, after the handshake if there is an
    /// authkey. A client that fails the handshake is an [`Error::Authentication`] (it was told
    /// `#FAILURE#` and its connection is closed); accept again for the next client.
    ///
    /// The handshake runs here, so a client that says nothing holds this call for up to the
    /// handshake timeout (then [`Error::Timeout`]); see
    /// [`accept_unauthenticated`](Listener::accept_unauthenticated) for servers of many
    /// clients.
    pub fn accept(&self) -> Result<Connection, Error> {
        self.accept_inner(Deadline::NEVER)
    }

    /// Accepts a client only if one is already waiting; else [`Error::Timeout`]. Its handshake
    /// may still take up to the handshake timeout.
    pub fn try_accept(&self) -> Result<Connection, Error> {
        self.accept_inner(Deadline::now())
    }

    /// Accepts a client, waiting at most `timeout` (for the client and its handshake).
    pub fn accept_timeout(&self, timeout: Duration) -> Result<Connection, Error> {
        self.accept_inner(Deadline::after(timeout))
    }

    /// Accepts a client, waiting until `deadline` at most (for the client and its handshake).
    pub fn accept_deadline(&self, deadline: Instant) -> Result<Connection, Error> {
        self.accept_inner(Deadline::at(deadline))
    }

    fn accept_inner(&self, deadline: Deadline) -> Result<Connection, Error> {
        let pending = self.accept_unauthenticated_inner(deadline)?;
        // A deadline that has passed (try_accept) bounds the wait for a client, not its
        // handshake.
        let handshake = if deadline.has_passed() {
            Deadline::NEVER
        } else {
            deadline
        };
        pending.authenticate_inner(handshake)
    }

    /// Waits for a client and returns its connection before any handshake, at once: the
    /// caller runs the handshake with [`Unauthenticated::authenticate`], typically on the
    /// thread that will serve the client, so that a client that says nothing holds up only
    /// itself, and for no longer than the listener's handshake timeout.
    ///
    /// ```
    /// use multiproc::connection::{Address, Client, Listener};
    /// use std::time::Duration;
    ///
    /// let listener = Listener::builder("127.0.0.1:0".parse::<Address>().unwrap())
    ///     .authkey(b"secret")
    ///     .handshake_timeout(Duration::from_secs(5))
    ///     .bind()
    ///     .unwrap();
    /// let address = listener.address().clone();
    /// let client = std::thread::spawn(move || {
    ///     let conn = Client::new(address).authkey(b"secret").connect().unwrap();
    ///     conn.recv_bytes().unwrap()
    /// });
    /// let pending = listener.accept_unauthenticated().unwrap();
    /// let server = std::thread::spawn(move || {
    ///     let conn = pending.authenticate().unwrap();
    ///     conn.send_bytes(b"welcome").unwrap();
    /// });
    /// assert_eq!(client.join().unwrap(), b"welcome");
    /// server.join().unwrap();
    /// ```
    pub fn accept_unauthenticated(&self) -> Result<Unauthenticated, Error> {
        self.accept_unauthenticated_inner(Deadline::NEVER)
    }

    /// [`accept_unauthenticated`](Listener::accept_unauthenticated) only if a client is
    /// already waiting; else [`Error::Timeout`].
    pub fn try_accept_unauthenticated(&self) -> Result<Unauthenticated, Error> {
        self.accept_unauthenticated_inner(Deadline::now())
    }

    /// [`accept_unauthenticated`](Listener::accept_unauthenticated), waiting at most
    /// `timeout` for a client.
    pub fn accept_unauthenticated_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Unauthenticated, Error> {
        self.accept_unauthenticated_inner(Deadline::after(timeout))
    }

    /// [`accept_unauthenticated`](Listener::accept_unauthenticated), waiting until `deadline`
    /// at most for a client.
    pub fn accept_unauthenticated_deadline(
        &self,
        deadline: Instant,
    ) -> Result<Unauthenticated, Error> {
        self.accept_unauthenticated_inner(Deadline::at(deadline))
    }

    fn accept_unauthenticated_inner(&self, deadline: Deadline) -> Result<Unauthenticated, Error> {
        let fd = loop {
            match self.socket.accept() {
                Ok(fd) => break fd,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let ready = sysfd::poll(&[(self.as_fd(), Interest::Read)], deadline.instant())
                        .map_err(Error::Io)?;
                    if !ready[0] && deadline.has_passed() {
                        return Err(Error::Timeout);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        };
        let mut conn = Connection::from_socket(fd, true, true);
        conn.set_max_frame_size(self.max_frame);
        Ok(Unauthenticated {
            conn,
            auth: self.auth.clone(),
            deadline: sysfd::deadline_after(self.handshake_timeout),
        })
    }

    /// Stops listening, and removes the socket file of a path address.
    pub fn close(mut self) -> io::Result<()> {
        match self.unlink.take() {
            Some(path) => std::fs::remove_file(path),
            None => Ok(()),
        }
    }
}

/// A client's connection, accepted by
/// [`Listener::accept_unauthenticated`] and not authenticated yet.
///
/// [`authenticate`](Unauthenticated::authenticate) runs the listener's handshake (nothing, if
/// the listener has no authkey) and gives the [`Connection`]. The handshake must end by
/// [`deadline`](Unauthenticated::deadline): the moment of the accept plus the listener's
/// handshake timeout. It is `Send`, to be authenticated on another thread. Dropping it closes
/// the connection.
#[must_use = "an accepted client is served only once it is authenticated"]
pub struct Unauthenticated {
    conn: Connection,
    auth: Option<Auth>,
    deadline: Instant,
}

impl Unauthenticated {
    /// Runs the listener's handshake, by [`deadline`](Unauthenticated::deadline) at most, and
    /// returns the connection. A client that fails it is an [`Error::Authentication`] (it was
    /// told `#FAILURE#`); one that says nothing is an [`Error::Timeout`].
    pub fn authenticate(self) -> Result<Connection, Error> {
        self.authenticate_inner(Deadline::NEVER)
    }

    /// [`authenticate`](Unauthenticated::authenticate), giving up at `deadline` if that is
    /// earlier than the handshake's own.
    pub fn authenticate_deadline(self, deadline: Instant) -> Result<Connection, Error> {
        self.authenticate_inner(Deadline::at(deadline))
    }

    fn authenticate_inner(self, deadline: Deadline) -> Result<Connection, Error> {
        let deadline = deadline.earlier(Deadline::at(self.deadline));
        authenticate(&self.conn, self.auth.as_ref(), true, deadline)?;
        Ok(self.conn)
    }

    /// When the handshake must be over: the accept, plus the listener's handshake timeout.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The connection without the listener's handshake: for a handshake of your own
    /// ([`deliver_challenge`](super::deliver_challenge) and
    /// [`answer_challenge`](super::answer_challenge)), or none.
    pub fn into_inner(self) -> Connection {
        self.conn
    }
}

impl AsFd for Unauthenticated {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.conn.as_fd()
    }
}

impl fmt::Debug for Unauthenticated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unauthenticated")
            .field("conn", &self.conn)
            .field("auth", &self.auth)
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Socket {
    fn accept(&self) -> io::Result<OwnedFd> {
        match self {
            Socket::Unix(l) => l.accept().map(|(s, _)| s.into()),
            Socket::Tcp(l) => l.accept().map(|(s, _)| {
                let _ = s.set_nodelay(true);
                s.into()
            }),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(path) = self.unlink.take()
            && let Err(e) = std::fs::remove_file(&path)
        {
            log::debug!(target: "multiproc", "could not remove {}: {e}", path.display());
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.socket {
            Socket::Unix(l) => l.as_fd(),
            Socket::Tcp(l) => l.as_fd(),
        }
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("address", &self.address)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}
