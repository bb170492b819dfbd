//! [`pipe`]: a connected pair of connections.

use super::Connection;
use crate::sys::fd as sysfd;

/// A connected pair of [`Connection`]s (Python's `multiprocessing.Pipe`).
///
/// With `duplex`, both ends send and receive. Without, the first end only receives and the
/// second only sends, as in Python. Either end can be given to a process as (part of) its
/// argument, or sent through another connection.
///
/// ```
/// let (reader, writer) = multiproc::connection::pipe(false);
/// writer.send(&[1u8, 2, 3]).unwrap();
/// assert_eq!(reader.recv::<[u8; 3]>().unwrap(), [1, 2, 3]);
/// assert!(reader.send(&0u8).is_err());
/// ```
///
/// # Panics
/// If the operating system refuses a socket pair (out of descriptors);
/// [`Connection::pair`] reports that instead.
#[doc(alias = "Pipe")]
pub fn pipe(duplex: bool) -> (Connection, Connection) {
    Connection::pair(duplex).expect("failed to create a pipe")
}

impl Connection {
    /// [`pipe`], reporting the operating system's refusal instead of panicking.
    pub fn pair(duplex: bool) -> std::io::Result<(Connection, Connection)> {
        let (a, b) = sysfd::socketpair()?;
        Ok((
            Connection::from_socket(a, true, duplex),
            Connection::from_socket(b, duplex, true),
        ))
    }
}
