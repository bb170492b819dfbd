//! Sending and receiving from async code (feature `tokio`): each step tries the socket
//! without blocking, and the runtime's reactor says when to try again.

use std::future::Future;
use std::os::fd::AsFd;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::frame::{self, MAX_HEADER};
use super::stream::{NowError, Outgoing, Progress};
use super::{Connection, Error, typed};
use crate::reactor::fd::{Direction, Try, until_done};

/// An async step's outcome as the reactor loop's.
fn step<T>(r: Result<Option<T>, NowError>) -> Try<Result<T, Error>> {
    match r {
        Ok(Some(v)) => Try::Done(Ok(v)),
        Ok(None) => Try::WouldBlock,
        Err(NowError::Busy) => Try::Busy,
        Err(NowError::Failed(e)) => Try::Done(Err(e)),
    }
}

/// # Async
///
/// With the `tokio` feature, a connection is also used from async code: `send_async`,
/// `recv_async` and their bytes forms wait on the tokio runtime's reactor instead of
/// blocking the thread, so one thread serves many connections. They need a tokio runtime with
/// IO enabled (`#[tokio::main]` has one). The messages are the same as the blocking methods'
/// (an async end talks to a blocking one, or to Python), and so is the rule of decision 14:
/// a receive takes its own message and nothing of the next, so the end may be shared with
/// other processes.
///
/// **Cancellation.** A receive future is cancel-safe: a message is taken only by the poll
/// that returns it, and the part of a message that has arrived when the future is dropped
/// stays with the connection, for the next receive (blocking or async) to complete. A send
/// future dropped before any byte went out sends nothing. Dropped after part of its message
/// went out (a message larger than the socket's free room, under a timeout), it leaves the
/// rest with the connection, and the next send on this `Connection`, blocking or async,
/// sends that rest before its own message: the peer never sees a message cut short or
/// interleaved, but it waits for the rest until that next send (and sees
/// [`Error::Truncated`] if this end is closed first). Meanwhile the end cannot be cloned or
/// sent to another process.
///
/// A step that finds another thread of this process inside a blocking send or receive on the
/// same `Connection` tries again every few milliseconds until that thread is done.
///
/// ```rust,standalone_crate
/// fn echo(conn: multiproc::Connection) {
///     while let Ok(n) = conn.recv::<u64>() {
///         conn.send(&(n + 1)).unwrap();
///     }
/// }
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() {
///     let (here, there) = multiproc::pipe(true);
///     let child = multiproc::spawn(echo, there);
///     let mut n = 0u64;
///     for _ in 0..100 {
///         here.send_async(&n).await.unwrap();
///         n = here.recv_async().await.unwrap();
///     }
///     assert_eq!(n, 100);
///     drop(here);
///     child.join_async().await.unwrap();
/// }
/// ```
impl Connection {
    /// Sends a serde value (with any handles it holds), waiting without blocking the thread
    /// while the socket is full: [`send`](Connection::send) for async code.
    ///
    /// The value is encoded when `send_async` is called (a value that cannot be encoded is an
    /// [`Error::Encode`] when the future is awaited, and nothing is sent); see "Async" above
    /// for what dropping the future does.
    pub fn send_async<'a, T: Serialize + ?Sized>(
        &'a self,
        value: &T,
    ) -> impl Future<Output = Result<(), Error>> + Send + use<'a, T> {
        let frame = self.check_writable().and_then(|()| {
            let mut bytes = Vec::with_capacity(128);
            let (start, fds) = typed::frame_typed_at(value, &mut bytes)?;
            Ok(Outgoing::new(bytes, start, fds))
        });
        async move { self.send_frame(frame?).await }
    }

    /// Sends `buf` as one bytes message (CPython's `recv_bytes` reads it), waiting without
    /// blocking the thread while the socket is full: [`send_bytes`](Connection::send_bytes)
    /// for async code. The message is copied when `send_bytes_async` is called.
    pub fn send_bytes_async(
        &self,
        buf: &[u8],
    ) -> impl Future<Output = Result<(), Error>> + Send + use<'_> {
        let frame = self.check_writable().map(|()| {
            let mut header = [0u8; MAX_HEADER];
            let start = frame::write_header(&mut header, buf.len() as u64);
            let mut bytes = Vec::with_capacity(MAX_HEADER - start + buf.len());
            bytes.extend_from_slice(&header[start..]);
            bytes.extend_from_slice(buf);
            Outgoing::new(bytes, 0, Vec::new())
        });
        async move { self.send_frame(frame?).await }
    }

    async fn send_frame(&self, mut frame: Outgoing) -> Result<(), Error> {
        until_done(&[self.as_fd()], Direction::Write, || {
            match self.stream.send_now(&mut frame) {
                Ok(Progress::Sent) => Try::Done(Ok(())),
                Ok(Progress::WouldBlock) => Try::WouldBlock,
                Ok(Progress::Busy) => Try::Busy,
                Err(e) => Try::Done(Err(e)),
            }
        })
        .await
        .map_err(Error::Io)?
    }

    /// Receives a serde value, waiting without blocking the thread until one arrives or the
    /// peer closes: [`recv`](Connection::recv) for async code. Cancel-safe (see "Async"
    /// above).
    pub async fn recv_async<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.check_readable()?;
        until_done(&[self.as_fd()], Direction::Read, || {
            step(self.stream.recv_typed_now::<T>(self.max_frame))
        })
        .await
        .map_err(Error::Io)?
    }

    /// Receives one bytes message, waiting without blocking the thread until one arrives or
    /// the peer closes: [`recv_bytes`](Connection::recv_bytes) for async code. Cancel-safe
    /// (see "Async" above).
    ///
    /// The message gathers in the connection's buffer as it arrives, within the frame limit
    /// ([`set_max_frame_size`](Connection::set_max_frame_size)), and is copied out once whole.
    pub async fn recv_bytes_async(&self) -> Result<Vec<u8>, Error> {
        self.check_readable()?;
        until_done(&[self.as_fd()], Direction::Read, || {
            step(self.stream.recv_bytes_now(self.max_frame))
        })
        .await
        .map_err(Error::Io)?
    }
}
