//! [`Listener`]: accepts connections from [`Client`](super::Client)s, ours or CPython's.

use std::fmt;
use std::io::{self, ErrorKind};
use std::net::TcpListener;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Address, Connection, DEFAULT_MAX_FRAME, Error, auth};
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

/// Runs the handshake if there is a key, with a deadline, in the given role.
pub(crate) fn authenticate(
    conn: &mut Connection,
    auth: Option<&Auth>,
    listener: bool,
    deadline: Instant,
) -> Result<(), Error> {
    match auth {
        Some(a) => auth::handshake(conn, &a.key, a.strict, listener, Some(deadline)),
        None => Ok(()),
    }
}

/// A socket that accepts [`Connection`]s (Python's `multiprocessing.connection.Listener`).
///
/// It listens on a Unix path, a Linux abstract name or a TCP address. With an authkey, every
/// accepted connection must pass CPython's handshake before [`accept`](Listener::accept)
/// returns it, so a Python `Client(address, authkey=...)` can connect, and so can ours.
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
    /// a key, there is no handshake, as in Python.
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

    /// How long an accepted client may take over the handshake (default 30 s). A client that
    /// says nothing cannot hold [`accept`](Listener::accept) longer than this.
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
    pub fn bind(self) -> io::Result<Listener> {
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
    pub fn accept(&self) -> Result<Connection, Error> {
        self.accept_inner(None)
    }

    /// Accepts a client only if one is already waiting; else [`Error::Timeout`]. Its handshake
    /// may still take up to the handshake timeout.
    pub fn try_accept(&self) -> Result<Connection, Error> {
        self.accept_inner(Some(Instant::now()))
    }

    /// Accepts a client, waiting at most `timeout` (for the client and its handshake).
    pub fn accept_timeout(&self, timeout: Duration) -> Result<Connection, Error> {
        self.accept_inner(Some(sysfd::deadline_after(timeout)))
    }

    /// Accepts a client, waiting until `deadline` at most (for the client and its handshake).
    pub fn accept_deadline(&self, deadline: Instant) -> Result<Connection, Error> {
        self.accept_inner(Some(deadline))
    }

    fn accept_inner(&self, deadline: Option<Instant>) -> Result<Connection, Error> {
        let fd = loop {
            match self.socket.accept() {
                Ok(fd) => break fd,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let ready = sysfd::poll(&[(self.as_fd(), Interest::Read)], deadline)
                        .map_err(Error::Io)?;
                    if !ready[0] && deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(Error::Timeout);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        };
        let mut conn = Connection::from_socket(fd, true, true);
        conn.set_max_frame_size(self.max_frame);
        let limit = sysfd::deadline_after(self.handshake_timeout);
        let handshake_deadline = match deadline {
            Some(d) if d > Instant::now() => d.min(limit),
            _ => limit,
        };
        authenticate(&mut conn, self.auth.as_ref(), true, handshake_deadline)?;
        Ok(conn)
    }

    /// Stops listening, and removes the socket file of a path address.
    pub fn close(mut self) -> io::Result<()> {
        match self.unlink.take() {
            Some(path) => std::fs::remove_file(path),
            None => Ok(()),
        }
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
        if let Some(path) = self.unlink.take() {
            if let Err(e) = std::fs::remove_file(&path) {
                log::debug!(target: "multiproc", "could not remove {}: {e}", path.display());
            }
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
