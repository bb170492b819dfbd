//! [`wait`]: waiting for any of several connections, listeners and processes.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use super::stream::PARTIAL_PAUSE;
use super::{Connection, Listener};
use crate::deadline::Deadline;
use crate::process::Handle;
use crate::sys::fd::{self as sysfd, Interest};

/// Something [`wait`] can wait for: a [`Connection`] (a message or the end of the stream can
/// be received), a [`Listener`] (a client is waiting), a process [`Handle`] or its
/// [`sentinel`](Handle::sentinel) (the process has ended), or any descriptor that becomes
/// readable.
pub trait Waitable {
    /// The descriptor that becomes readable when the object may be ready.
    fn wait_fd(&self) -> BorrowedFd<'_>;

    /// Whether the object is ready now, without waiting. The default polls
    /// [`wait_fd`](Waitable::wait_fd) once.
    fn is_ready(&self) -> bool {
        sysfd::poll(&[(self.wait_fd(), Interest::Read)], Some(Instant::now()))
            .map(|r| r[0])
            .unwrap_or(true)
    }
}

impl Waitable for Connection {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self)
    }

    /// A message can be received now: it has arrived (whole, or its first 64 KiB for a
    /// larger one), or the stream has ended. See [`Connection::poll`].
    fn is_ready(&self) -> bool {
        self.ready_now()
    }
}

impl Waitable for Listener {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self)
    }
}

impl<R: serde::de::DeserializeOwned> Waitable for Handle<R> {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        self.sentinel()
    }
}

impl Waitable for BorrowedFd<'_> {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        *self
    }
}

impl Waitable for OwnedFd {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self)
    }
}

impl<T: Waitable + ?Sized> Waitable for &T {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        (**self).wait_fd()
    }

    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }
}

impl<T: Waitable + ?Sized> Waitable for Box<T> {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        (**self).wait_fd()
    }

    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }
}

/// Waits until at least one of `objects` is ready, or `timeout` passes (`None`: no limit), and
/// returns the ready ones, in their order in `objects` (Python's
/// `multiprocessing.connection.wait`). An empty result means the time ran out.
///
/// `objects` is anything that yields references: `&vec`, `&slice[1..]`, `[&a, &b]`. Mix kinds
/// with `&dyn Waitable`:
///
/// ```
/// use multiproc::connection::{Waitable, pipe, wait};
/// use std::time::Duration;
///
/// let (a, b) = pipe(true);
/// let (c, d) = pipe(true);
/// b.send(&1u8).unwrap();
/// let ready = wait([&a, &c], Some(Duration::from_secs(5))).unwrap();
/// assert_eq!(ready.len(), 1);
/// assert!(std::ptr::eq(ready[0], &a));
///
/// let objects: [&dyn Waitable; 2] = [&c, &a];
/// assert_eq!(wait(objects, Some(Duration::ZERO)).unwrap().len(), 1);
/// # drop(d);
/// ```
pub fn wait<'a, W, I>(objects: I, timeout: Option<Duration>) -> std::io::Result<Vec<&'a W>>
where
    I: IntoIterator<Item = &'a W>,
    W: Waitable + ?Sized + 'a,
{
    wait_deadline(objects, timeout.map(sysfd::deadline_after))
}

/// [`wait`] with a deadline instead of a timeout (`None`: no limit).
pub fn wait_deadline<'a, W, I>(objects: I, deadline: Option<Instant>) -> std::io::Result<Vec<&'a W>>
where
    I: IntoIterator<Item = &'a W>,
    W: Waitable + ?Sized + 'a,
{
    let objects: Vec<&'a W> = objects.into_iter().collect();
    if objects.is_empty() && deadline.is_none() {
        // Nothing can ever become ready; Python would block forever here.
        return Ok(Vec::new());
    }
    let deadline = Deadline::from(deadline);
    let mut pause = PARTIAL_PAUSE.0;
    loop {
        let ready: Vec<&'a W> = objects.iter().copied().filter(|o| o.is_ready()).collect();
        if !ready.is_empty() || deadline.has_passed() {
            return Ok(ready);
        }
        let set: Vec<(BorrowedFd<'_>, Interest)> = objects
            .iter()
            .map(|o| (o.wait_fd(), Interest::Read))
            .collect();
        let readable = sysfd::poll(&set, deadline.instant())?;
        // A readable descriptor may still hold only part of a message: check again.
        let ready: Vec<&'a W> = objects
            .iter()
            .copied()
            .zip(&readable)
            .filter(|(o, r)| **r && o.is_ready())
            .map(|(o, _)| o)
            .collect();
        if !ready.is_empty() || deadline.has_passed() {
            return Ok(ready);
        }
        if readable.contains(&true) {
            // Part of a message is here and the rest is on its way (or a receive holds the
            // connection): a readable descriptor would wake poll at once, so sleep a little.
            let left = deadline.remaining().unwrap_or(pause);
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(PARTIAL_PAUSE.1);
        }
    }
}
