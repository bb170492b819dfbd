//! Waiting for a descriptor (a pidfd, a socket) on tokio's reactor.

use std::io;
use std::os::fd::BorrowedFd;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};

use crate::sys::async_fd::{self, ReactorFd};

/// What one non-blocking attempt at an operation on a descriptor came to.
#[derive(Debug)]
pub(crate) enum Try<T> {
    /// It finished (successfully or not).
    Done(T),
    /// The descriptor is not ready: wait until the reactor says it may be.
    WouldBlock,
    /// Another thread of this process is in the middle of the same kind of operation on the
    /// same object (holding its lock, perhaps blocked in it): try again shortly.
    Busy,
}

/// The first and the longest pause before trying again while another thread is busy.
const BUSY_PAUSE: (Duration, Duration) = (Duration::from_micros(200), Duration::from_millis(10));

/// Which readiness an operation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Something to read (or the end of the stream, or a process that ended).
    Read,
    /// Room to write.
    Write,
}

/// Runs `attempt` until it is [`Try::Done`], waiting in between until one of `fds` is ready
/// for `direction` on the runtime's reactor.
///
/// The descriptors are registered only if the first attempt would block (as duplicates if the
/// reactor holds them already: another future waits on the same object), and withdrawn when
/// the returned future ends or is dropped. `attempt` must leave
/// the object as it was when it returns `WouldBlock` or `Busy`, so that dropping the future
/// between two attempts loses nothing.
///
/// Fails if no tokio runtime runs the calling task (or a descriptor cannot be duplicated).
pub(crate) async fn until_done<'a, T>(
    fds: &[BorrowedFd<'a>],
    direction: Direction,
    mut attempt: impl FnMut() -> Try<T>,
) -> io::Result<T> {
    let mut registered: Vec<AsyncFd<ReactorFd<'a>>> = Vec::new();
    let mut pause = BUSY_PAUSE.0;
    loop {
        let outcome = if registered.is_empty() {
            match attempt() {
                Try::WouldBlock => {
                    registered = fds
                        .iter()
                        .map(|fd| register(*fd, direction))
                        .collect::<io::Result<_>>()?;
                    continue;
                }
                other => other,
            }
        } else {
            let mut guards =
                std::future::poll_fn(|cx| poll_any(&registered, direction, cx)).await?;
            match attempt() {
                Try::WouldBlock => {
                    // Edge-triggered: the attempt found nothing more, so the next event is
                    // news (one that came since the guard was taken is kept).
                    for guard in &mut guards {
                        guard.clear_ready();
                    }
                    pause = BUSY_PAUSE.0;
                    continue;
                }
                other => other,
            }
        };
        match outcome {
            Try::Done(v) => return Ok(v),
            Try::Busy | Try::WouldBlock => {
                super::futex::sleep(pause).await;
                pause = (pause * 2).min(BUSY_PAUSE.1);
            }
        }
    }
}

/// The readiness guards of those of `fds` that are ready, once one is.
fn poll_any<'a, 'fd>(
    fds: &'a [AsyncFd<ReactorFd<'fd>>],
    direction: Direction,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Vec<AsyncFdReadyGuard<'a, ReactorFd<'fd>>>>> {
    let mut ready = Vec::new();
    for fd in fds {
        let poll = match direction {
            Direction::Read => fd.poll_read_ready(cx),
            Direction::Write => fd.poll_write_ready(cx),
        };
        match poll {
            Poll::Ready(Ok(guard)) => ready.push(guard),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
    }
    if ready.is_empty() {
        Poll::Pending
    } else {
        Poll::Ready(Ok(ready))
    }
}

/// `fd` on the current runtime's reactor.
fn register(fd: BorrowedFd<'_>, direction: Direction) -> io::Result<AsyncFd<ReactorFd<'_>>> {
    let interest = match direction {
        Direction::Read => Interest::READABLE,
        Direction::Write => Interest::WRITABLE,
    };
    async_fd::register(fd, interest)
}
