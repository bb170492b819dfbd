//! [`AsyncResult`]: the result of a task submitted without waiting.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::PoolError;
use super::driver::{Command, Mailbox};

/// The longest `cancel` waits for the pool's thread to answer (it answers at once unless the
/// machine is overloaded).
const CANCEL_WAIT: Duration = Duration::from_secs(10);

enum State<T> {
    Pending,
    Done(Result<T, PoolError>),
    Taken,
}

struct Slot<T> {
    state: Mutex<State<T>>,
    cv: Condvar,
    /// The tasks awaiting the result (the async API), registered under the `state` lock.
    wakers: Mutex<Vec<std::task::Waker>>,
}

/// The result of [`Pool::apply_async`](super::Pool::apply_async),
/// [`map_async`](super::Pool::map_async) or [`submit`](super::Pool::submit) (Python's
/// `AsyncResult`, and the future of `ProcessPoolExecutor.submit`).
///
/// Waiting never cancels the task: a `get_timeout` that times out leaves the task running, and
/// a later `get` takes its result.
pub struct AsyncResult<T> {
    slot: Arc<Slot<T>>,
    cancelled: Arc<AtomicBool>,
    /// Where to ask for a cancellation (single tasks only).
    mailbox: Option<Arc<Mailbox>>,
}

impl<T> std::fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish()
    }
}

/// The scheduler's side of an [`AsyncResult`].
pub(crate) struct Completer<T> {
    slot: Arc<Slot<T>>,
}

impl<T> Completer<T> {
    pub(crate) fn complete(self, r: Result<T, PoolError>) {
        *self.slot.state.lock().unwrap_or_else(|e| e.into_inner()) = State::Done(r);
        self.slot.cv.notify_all();
        let wakers =
            std::mem::take(&mut *self.slot.wakers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in wakers {
            w.wake();
        }
    }
}

impl<T> AsyncResult<T> {
    pub(crate) fn new(mailbox: Option<Arc<Mailbox>>) -> (AsyncResult<T>, Completer<T>) {
        let slot = Arc::new(Slot {
            state: Mutex::new(State::Pending),
            cv: Condvar::new(),
            wakers: Mutex::new(Vec::new()),
        });
        (
            AsyncResult {
                slot: slot.clone(),
                cancelled: Arc::new(AtomicBool::new(false)),
                mailbox,
            },
            Completer { slot },
        )
    }

    pub(crate) fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancelled.clone()
    }

    /// Whether the task has finished (Python's `ready()`).
    pub fn ready(&self) -> bool {
        !matches!(
            *self.slot.state.lock().unwrap_or_else(|e| e.into_inner()),
            State::Pending
        )
    }

    /// `Some(true)` if the task finished and succeeded, `Some(false)` if it failed, `None`
    /// while it runs (Python's `successful()`, which raises instead of `None`).
    pub fn successful(&self) -> Option<bool> {
        match &*self.slot.state.lock().unwrap_or_else(|e| e.into_inner()) {
            State::Pending => None,
            State::Done(r) => Some(r.is_ok()),
            State::Taken => Some(true),
        }
    }

    /// Waits until the task finishes (Python's `wait()`).
    pub fn wait(&self) {
        let g = self.slot.state.lock().unwrap_or_else(|e| e.into_inner());
        let _g = self
            .slot
            .cv
            .wait_while(g, |s| matches!(s, State::Pending))
            .unwrap_or_else(|e| e.into_inner());
    }

    /// Waits at most `timeout`; returns whether the task finished (Python's `wait(timeout)`).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let g = self.slot.state.lock().unwrap_or_else(|e| e.into_inner());
        let (g, _) = self
            .slot
            .cv
            .wait_timeout_while(g, timeout, |s| matches!(s, State::Pending))
            .unwrap_or_else(|e| e.into_inner());
        !matches!(*g, State::Pending)
    }

    /// Waits until `deadline` at most; returns whether the task finished.
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_timeout(deadline.saturating_duration_since(Instant::now()))
    }

    /// Waits for the task and takes its result (Python's `get()`). A second `get` after a
    /// successful one fails with [`PoolError::Taken`].
    pub fn get(&self) -> Result<T, PoolError> {
        self.wait();
        self.take()
    }

    /// Waits at most `timeout` for the result. On [`PoolError::Timeout`] the task keeps running
    /// and the result stays available (Python's `get(timeout)`).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, PoolError> {
        if self.wait_timeout(timeout) {
            self.take()
        } else {
            Err(PoolError::Timeout)
        }
    }

    /// Waits until `deadline` at most for the result.
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, PoolError> {
        self.get_timeout(deadline.saturating_duration_since(Instant::now()))
    }

    /// Takes the result if the task has finished; [`PoolError::Timeout`] if not.
    pub fn try_get(&self) -> Result<T, PoolError> {
        self.get_timeout(Duration::ZERO)
    }

    /// Cancels the task if it has not started (Python's `Future.cancel()`); returns whether it
    /// will not run. A cancelled task's result is [`TaskError::Cancelled`](super::TaskError).
    ///
    /// A task that waits in a worker's socket has not started: it is taken back. A task that
    /// runs or has finished is not cancelled (`false`). Only single tasks (`apply_async`,
    /// `submit`) can be cancelled; for a `map_async` this returns `false`.
    pub fn cancel(&self) -> bool {
        if self.ready() {
            return matches!(self.peek_error(), Some(super::TaskError::Cancelled));
        }
        let Some(mailbox) = &self.mailbox else {
            return false;
        };
        self.cancelled.store(true, Ordering::SeqCst);
        let (tx, rx) = std::sync::mpsc::channel();
        let asked = mailbox.send(Command::Cancel(self.cancelled.clone(), tx));
        let cancelled = asked && rx.recv_timeout(CANCEL_WAIT).unwrap_or(false);
        cancelled || matches!(self.peek_error(), Some(super::TaskError::Cancelled))
    }

    fn peek_error(&self) -> Option<super::TaskError> {
        match &*self.slot.state.lock().unwrap_or_else(|e| e.into_inner()) {
            State::Done(Err(e)) => e.task_error().cloned(),
            _ => None,
        }
    }

    /// Takes the result if the task has finished; otherwise the task of `cx` is woken when
    /// it does (the async API's poll).
    #[cfg(feature = "tokio")]
    pub(super) fn poll_take(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<T, PoolError>> {
        {
            let state = self.slot.state.lock().unwrap_or_else(|e| e.into_inner());
            if matches!(*state, State::Pending) {
                // Under the state lock: `complete` stores the result first, then wakes.
                let mut wakers = self.slot.wakers.lock().unwrap_or_else(|e| e.into_inner());
                if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    wakers.push(cx.waker().clone());
                }
                return std::task::Poll::Pending;
            }
        }
        std::task::Poll::Ready(self.take())
    }

    fn take(&self) -> Result<T, PoolError> {
        let mut g = self.slot.state.lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *g, State::Taken) {
            State::Done(Ok(v)) => Ok(v),
            State::Done(Err(e)) => {
                // Keep the error visible to `successful()`; a second `get` sees it again.
                let again = clone_error(&e);
                *g = State::Done(Err(again));
                Err(e)
            }
            State::Taken => Err(PoolError::Taken),
            State::Pending => {
                *g = State::Pending;
                Err(PoolError::Timeout)
            }
        }
    }
}

fn clone_error(e: &PoolError) -> PoolError {
    match e {
        PoolError::Task { index, error } => PoolError::Task {
            index: *index,
            error: error.clone(),
        },
        PoolError::Closed => PoolError::Closed,
        PoolError::Timeout => PoolError::Timeout,
        PoolError::Taken => PoolError::Taken,
        other => PoolError::Input(other.to_string()),
    }
}
