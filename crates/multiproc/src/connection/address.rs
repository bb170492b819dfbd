//! [`Address`]: where a [`Listener`](super::Listener) listens and a [`Client`](super::Client)
//! connects.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A socket address, in the three families Python's `multiprocessing.connection` uses on
/// Linux.
///
/// Parse one from text: `HOST:PORT` (or `[IPv6]:PORT`) is TCP, `@name` (or a leading NUL
/// byte, as Python writes it) is a Linux abstract socket, anything else is a path.
///
/// ```
/// use multiproc::connection::Address;
///
/// assert!(matches!("127.0.0.1:6000".parse(), Ok(Address::Tcp(_))));
/// assert!(matches!("/tmp/echo.sock".parse(), Ok(Address::Unix(_))));
/// assert!(matches!("@echo".parse(), Ok(Address::Abstract(_))));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Address {
    /// A Unix socket at a path in the file system (Python's `AF_UNIX` with a path).
    #[doc(alias = "AF_UNIX")]
    Unix(PathBuf),
    /// A Linux abstract Unix socket name, with no file behind it (Python's `AF_UNIX` with a
    /// name that starts with a NUL byte). Written `@name`.
    Abstract(Vec<u8>),
    /// A TCP address (Python's `AF_INET` tuple `(host, port)`). Port 0 picks a free port; the
    /// listener's [`address`](super::Listener::address) tells which.
    #[doc(alias = "AF_INET")]
    Tcp(SocketAddr),
}

/// Text that is not an [`Address`].
#[derive(Debug, thiserror::Error)]
#[error("invalid address {text:?}: {reason}")]
#[non_exhaustive]
pub struct ParseAddressError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for Address {
    type Err = ParseAddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| ParseAddressError {
            text: s.to_owned(),
            reason: reason.to_owned(),
        };
        if s.is_empty() {
            return Err(fail("empty"));
        }
        if is_windows_pipe(s) {
            return Err(fail(WINDOWS_PIPE));
        }
        if let Some(name) = s.strip_prefix('@').or_else(|| s.strip_prefix('\0')) {
            return Ok(Address::Abstract(name.as_bytes().to_vec()));
        }
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(Address::Tcp(addr));
        }
        if !s.contains('/')
            && let Some((host, port)) = s.rsplit_once(':')
            && let Ok(port) = port.parse::<u16>()
        {
            if host.is_empty() {
                return Err(fail("no host before the port"));
            }
            let mut addrs = (host, port)
                .to_socket_addrs()
                .map_err(|e| fail(&format!("cannot resolve {host}: {e}")))?;
            return addrs
                .next()
                .map(Address::Tcp)
                .ok_or_else(|| fail(&format!("{host} has no address")));
        }
        Ok(Address::Unix(PathBuf::from(s)))
    }
}

/// Why a Windows named pipe address is refused.
const WINDOWS_PIPE: &str = "a Windows named pipe (\\\\.\\pipe\\name) does not exist on this platform; \
     use a path, an @abstract name or HOST:PORT";

/// Whether `s` is what Python takes for a Windows named pipe (`AF_PIPE`): it starts with two
/// backslashes.
fn is_windows_pipe(s: &str) -> bool {
    s.starts_with("\\\\")
}

impl Address {
    /// Refuses what this platform cannot listen on or connect to: a path that names a Windows
    /// named pipe (`\\.\pipe\name`), which Python refuses too instead of making a socket file
    /// of that name.
    pub(crate) fn check_supported(&self) -> std::io::Result<()> {
        match self {
            Address::Unix(path) if path.to_str().is_some_and(is_windows_pipe) => {
                Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{}: {WINDOWS_PIPE}", path.display()),
                ))
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "{}", p.display()),
            Address::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
            Address::Tcp(a) => write!(f, "{a}"),
        }
    }
}

impl From<SocketAddr> for Address {
    fn from(a: SocketAddr) -> Self {
        Address::Tcp(a)
    }
}

impl From<PathBuf> for Address {
    fn from(p: PathBuf) -> Self {
        Address::Unix(p)
    }
}

impl From<&Path> for Address {
    fn from(p: &Path) -> Self {
        Address::Unix(p.to_owned())
    }
}

impl From<&Address> for Address {
    fn from(a: &Address) -> Self {
        a.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_family() {
        assert_eq!(
            "127.0.0.1:80".parse::<Address>().unwrap(),
            Address::Tcp("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(
            "[::1]:80".parse::<Address>().unwrap(),
            Address::Tcp("[::1]:80".parse().unwrap())
        );
        assert!(matches!(
            "localhost:80".parse::<Address>().unwrap(),
            Address::Tcp(a) if a.port() == 80
        ));
        assert_eq!(
            "\0name".parse::<Address>().unwrap(),
            Address::Abstract(b"name".to_vec())
        );
        assert_eq!(
            "dir/x:1".parse::<Address>().unwrap(),
            Address::Unix("dir/x:1".into())
        );
        assert_eq!(
            "sock".parse::<Address>().unwrap(),
            Address::Unix("sock".into())
        );
        assert!("".parse::<Address>().is_err());
        let pipe = r"\\.\pipe\echo".parse::<Address>().unwrap_err();
        assert!(pipe.reason.contains("Windows named pipe"), "{pipe}");
        let err = Address::Unix(r"\\.\pipe\echo".into())
            .check_supported()
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(Address::Unix("/tmp/x".into()).check_supported().is_ok());
        assert!(":80".parse::<Address>().is_err());
        assert_eq!("@x".parse::<Address>().unwrap().to_string(), "@x");
    }
}
