//! Non-blocking sends that own their buffers: the only `unsafe` code of the crate.
//!
//! Blocking sends can deadlock here: the driver may be sending a large chunk to a rank while
//! that rank sends it a large result, and each would wait for the other to receive. So every
//! send is `MPI_Isend`, and both sides keep receiving while their sends complete.
//!
//! rsmpi ties a request's buffer to a scope; an outbox outlives any scope, so its buffers are
//! boxed, lent to MPI as `&'static`, and freed once MPI reports the send complete. If a send
//! never completes (its peer died), [`Outbox::abandon`] leaks the buffer rather than free
//! memory that MPI may still read.

use std::time::Instant;

use mpi::Tag;
use mpi::point_to_point::Destination;
use mpi::request::{Request, StaticScope};

/// One send in flight.
struct Pending {
    /// `None` only while being tested.
    request: Option<Request<'static, [u8], StaticScope>>,
    /// The buffer lent to `request`, from `Box::into_raw`.
    buffer: *mut [u8],
}

/// Sends in flight.
#[derive(Default)]
pub(crate) struct Outbox {
    pending: Vec<Pending>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Outbox {
    /// Starts sending `bytes` to `to` with `tag`; it completes during later
    /// [`progress`](Self::progress) calls.
    pub(crate) fn send<D: Destination>(&mut self, to: &D, tag: Tag, bytes: Vec<u8>) {
        let buffer: *mut [u8] = Box::into_raw(bytes.into_boxed_slice());
        // SAFETY: `buffer` comes from `Box::into_raw` just above, so it is valid and nothing
        // else refers to it. It is freed only in `progress`, after MPI reported the request
        // complete and the request (the only holder of this reference) was consumed; or it
        // is leaked by `abandon`. So the reference stays valid for as long as MPI uses it.
        let lent: &'static [u8] = unsafe { &*buffer };
        let request = to.immediate_send_with_tag(StaticScope, lent, tag);
        self.pending.push(Pending {
            request: Some(request),
            buffer,
        });
    }

    /// Completes what it can; returns whether some send completed.
    pub(crate) fn progress(&mut self) -> bool {
        let before = self.pending.len();
        self.pending.retain_mut(|p| {
            let request = p.request.take().expect("a pending send holds its request");
            match request.test() {
                Ok(_) => {
                    // SAFETY: the request completed and was consumed by `test`, so MPI no
                    // longer reads the buffer and no reference to it is left; `buffer`
                    // came from `Box::into_raw` in `send` and is freed only here, once.
                    drop(unsafe { Box::from_raw(p.buffer) });
                    false
                }
                Err(request) => {
                    p.request = Some(request);
                    true
                }
            }
        });
        self.pending.len() < before
    }

    /// Whether every send has completed.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Completes every send, or gives up at `deadline`; returns whether all completed.
    /// `between` runs between tries (to keep receiving, so that peers can progress).
    pub(crate) fn flush(&mut self, deadline: Instant, mut between: impl FnMut()) -> bool {
        use crate::liveness::Backoff;
        let mut backoff = Backoff::new();
        loop {
            if self.progress() {
                backoff.reset();
            }
            if self.is_empty() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            between();
            backoff.wait(Backoff::BUSY);
        }
    }

    /// Forgets the sends still in flight: their requests are never completed and their
    /// buffers are leaked, since MPI may still read them. For a peer that died.
    pub(crate) fn abandon(&mut self) {
        for p in self.pending.drain(..) {
            std::mem::forget(p.request);
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            log::debug!(
                target: "multiproc_mpi",
                "{} MPI sends never completed; leaking their buffers",
                self.pending.len()
            );
            self.abandon();
        }
    }
}
