//! Waiting for a descriptor (a pidfd, a socket) on tokio's reactor.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::sys;

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

/// Runs `attempt` until it is [`Try::Done`], waiting for `fd` to be ready for `interest` on the
/// runtime's reactor in between.
///
/// The descriptor is registered (as a duplicate: a reactor takes each descriptor number once,
/// and several futures may wait on one object at a time) only if the first attempt would
/// block, and withdrawn when the returned future ends or is dropped. `attempt` must leave
/// the object as it was when it returns `WouldBlock` or `Busy`, so that dropping the future
/// between two attempts loses nothing.
///
/// Fails if no tokio runtime with IO enabled runs the calling task (or the descriptor cannot
/// be duplicated).
pub(crate) async fn until_done<T>(
    fd: BorrowedFd<'_>,
    interest: Interest,
    mut attempt: impl FnMut() -> Try<T>,
) -> io::Result<T> {
    let mut registered: Option<AsyncFd<OwnedFd>> = None;
    let mut pause = BUSY_PAUSE.0;
    loop {
        let busy = match &registered {
            None => match attempt() {
                Try::Done(v) => return Ok(v),
                Try::WouldBlock => {
                    registered = Some(register(fd, interest)?);
                    continue;
                }
                Try::Busy => true,
            },
            Some(afd) => {
                let mut guard = afd.ready(interest).await?;
                match attempt() {
                    Try::Done(v) => return Ok(v),
                    Try::WouldBlock => {
                        // Edge-triggered: the attempt found nothing left, so the next event
                        // is news (an event since the guard was taken is kept).
                        guard.clear_ready();
                        false
                    }
                    Try::Busy => true,
                }
            }
        };
        if busy {
            super::futex::sleep(pause).await;
            pause = (pause * 2).min(BUSY_PAUSE.1);
        } else {
            pause = BUSY_PAUSE.0;
        }
    }
}

/// `fd` (duplicated) on the current runtime's reactor.
fn register(fd: BorrowedFd<'_>, interest: Interest) -> io::Result<AsyncFd<OwnedFd>> {
    sys::async_fd::register(sys::fd::dup(fd)?, interest)
}
