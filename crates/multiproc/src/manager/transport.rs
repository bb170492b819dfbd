//! How proxies reach a manager server, and how the server accepts them: the connection
//! module's [`Client`] and [`Listener`], with CPython's authkey handshake.
//!
//! The server accepts without authenticating and lets each connection's own thread run the
//! handshake, so that a client that connects and says nothing holds up nobody else.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Instant;

use super::ManagerError;
use crate::Connection;
use crate::connection::{Client, Error as ConnError, Listener};

pub(crate) use crate::connection::Address;

/// A fresh address for a manager on this machine: an abstract Unix socket, which leaves no file
/// behind.
pub(crate) fn local_address() -> Address {
    Address::Abstract(
        format!("multiproc-manager-{:016x}", super::client::random_u64()).into_bytes(),
    )
}

/// Connects to the manager at `address`, proving knowledge of `authkey`.
pub(crate) fn connect(
    address: &Address,
    authkey: &[u8],
    deadline: Instant,
) -> Result<Connection, ManagerError> {
    Client::new(address)
        .authkey(authkey)
        .connect_deadline(deadline)
        // Only this process's link ever reads it: a child started by fork makes its own.
        .map(Connection::into_private)
        .map_err(|source| match source {
            ConnError::Authentication(_) => ManagerError::Authentication {
                address: address.to_string(),
                source,
            },
            source => ManagerError::Connect {
                address: address.to_string(),
                source,
            },
        })
}

/// A listening socket, and the key its clients must know.
#[derive(Debug)]
pub(crate) struct Acceptor {
    listener: Listener,
    authkey: Key,
}

/// The key a server's clients must know. `Debug` does not print it.
#[derive(Clone)]
pub(crate) struct Key(Arc<[u8]>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

impl Key {
    /// Runs the server's side of the authentication handshake.
    pub(crate) fn authenticate(
        &self,
        conn: &mut Connection,
        deadline: Instant,
    ) -> Result<(), ConnError> {
        crate::connection::auth::handshake(conn, &self.0, false, true, Some(deadline))
    }
}

impl Acceptor {
    /// Listens on `address`. A Unix socket file that no server listens on any more (left by
    /// one that was killed) is removed first, so a restarted server can take its address
    /// again; TCP addresses are reusable at once (`SO_REUSEADDR`).
    pub(crate) fn bind(address: &Address, authkey: &[u8]) -> Result<Acceptor, ManagerError> {
        let fail = |source: io::Error| ManagerError::Bind {
            address: address.to_string(),
            source,
        };
        if let Address::Unix(path) = address
            && path.exists()
        {
            match std::os::unix::net::UnixStream::connect(path) {
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    log::info!(target: "multiproc", "removing the stale socket {}", path.display());
                    std::fs::remove_file(path).map_err(fail)?;
                }
                Ok(_) => return Err(fail(io::ErrorKind::AddrInUse.into())),
                Err(_) => {}
            }
        }
        let listener = Listener::builder(address).bind().map_err(fail)?;
        Ok(Acceptor {
            listener,
            authkey: Key(authkey.into()),
        })
    }

    /// Where it listens (for TCP port 0, the port the system chose).
    pub(crate) fn address(&self) -> &Address {
        self.listener.address()
    }

    /// A waiting client's connection, if there is one.
    pub(crate) fn accept(&self) -> io::Result<Option<Connection>> {
        match self.listener.try_accept() {
            Ok(conn) => Ok(Some(conn)),
            Err(ConnError::Timeout) => Ok(None),
            Err(ConnError::Io(e)) => match e.kind() {
                // A client that gave up before we accepted it.
                io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            },
            Err(e) => Err(io::Error::other(e)),
        }
    }

    /// The key its clients must know.
    pub(crate) fn key(&self) -> &Key {
        &self.authkey
    }
}

impl AsFd for Acceptor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }
}
