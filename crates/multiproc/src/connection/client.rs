//! [`Client`]: connects to a [`Listener`](super::Listener), ours or CPython's.

use std::io;
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use super::listener::{Auth, DEFAULT_HANDSHAKE_TIMEOUT, Key, authenticate};
use super::{Address, Connection, DEFAULT_MAX_FRAME, Error};
use crate::deadline::Deadline;
use crate::sys::fd as sysfd;

/// Connects to a listener and returns a [`Connection`] (Python's
/// `multiprocessing.connection.Client`).
///
/// With an authkey, the client answers the listener's challenge and then challenges it in
/// turn, CPython's way, so it can connect to a Python `Listener(address, authkey=...)` as well
/// as to ours. See [`Listener`](super::Listener) for an example.
#[must_use = "a Client does nothing until connect() is called"]
#[derive(Debug)]
pub struct Client {
    address: Address,
    key: Option<Key>,
    strict: bool,
    handshake_timeout: Duration,
    max_frame: u64,
}

impl Client {
    /// A client for `address`, with no authkey.
    pub fn new(address: impl Into<Address>) -> Client {
        Client {
            address: address.into(),
            key: None,
            strict: false,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_frame: DEFAULT_MAX_FRAME,
        }
    }

    /// Authenticates with `key` (the listener must use the same key). An empty key proves
    /// nothing, and is logged as a warning when connecting.
    pub fn authkey(mut self, key: impl AsRef<[u8]>) -> Self {
        self.key = Some(Key(key.as_ref().to_vec()));
        self
    }

    /// Refuses the legacy HMAC-MD5 handshake of Python 3.11 and older (default: accepted).
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// How long [`connect`](Client::connect) waits for the listener to take the connection
    /// and complete the handshake (default 30 s): a listener that never answers, or whose
    /// backlog is full, cannot hold it longer.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The largest frame the connection accepts (see [`Connection::set_max_frame_size`]).
    pub fn max_frame_size(mut self, bytes: u64) -> Self {
        self.max_frame = bytes;
        self
    }

    /// Connects, then runs the handshake if there is an authkey, both within the handshake
    /// timeout ([`Error::Timeout`] after it). A wrong key is an [`Error::Authentication`].
    pub fn connect(self) -> Result<Connection, Error> {
        self.connect_inner(Deadline::NEVER)
    }

    /// Connects and authenticates, within `timeout` in all.
    pub fn connect_timeout(self, timeout: Duration) -> Result<Connection, Error> {
        self.connect_inner(Deadline::after(timeout))
    }

    /// Connects and authenticates, by `deadline` at most.
    pub fn connect_deadline(self, deadline: Instant) -> Result<Connection, Error> {
        self.connect_inner(Deadline::at(deadline))
    }

    fn connect_inner(self, deadline: Deadline) -> Result<Connection, Error> {
        // A listener that never takes the connection (its backlog full) or never answers
        // cannot hold us past the handshake timeout either.
        let deadline = deadline.earlier(Deadline::after(self.handshake_timeout));
        self.address.check_supported().map_err(Error::Io)?;
        let fd = connect_socket(&self.address, deadline).map_err(|e| match e.kind() {
            io::ErrorKind::TimedOut => Error::Timeout,
            _ => Error::Io(e),
        })?;
        let mut conn = Connection::from_socket(fd, true, true);
        conn.set_max_frame_size(self.max_frame);
        if self.key.as_ref().is_some_and(|k| k.0.is_empty()) {
            log::warn!(
                target: "multiproc",
                "connecting to {} with an empty authkey, which proves nothing",
                self.address
            );
        }
        let auth = Auth::new(self.key, self.strict);
        authenticate(&conn, auth.as_ref(), false, deadline)?;
        Ok(conn)
    }
}

fn connect_socket(address: &Address, deadline: Deadline) -> io::Result<OwnedFd> {
    match address {
        Address::Unix(path) => {
            use std::os::unix::ffi::OsStrExt;
            sysfd::connect_unix(path.as_os_str().as_bytes(), false, deadline.instant())
        }
        Address::Abstract(name) => sysfd::connect_unix(name, true, deadline.instant()),
        Address::Tcp(addr) => {
            let stream = match deadline.remaining() {
                None => TcpStream::connect(addr)?,
                Some(left) if left.is_zero() => return Err(io::ErrorKind::TimedOut.into()),
                Some(left) => TcpStream::connect_timeout(addr, left)?,
            };
            stream.set_nodelay(true)?;
            Ok(stream.into())
        }
    }
}
