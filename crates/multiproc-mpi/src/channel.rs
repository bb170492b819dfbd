//! The driver's side of the link, shared with its heartbeat thread.
//!
//! Worker ranks give up on a driver that stays silent for longer than the silence timeout
//! (a driver cut off from them by the network must not leave them waiting). But the driver
//! is silent whenever the program does something else than run a call: reading its input,
//! computing between two maps. So a thread of its own sends a heartbeat to every worker that
//! has heard nothing for a heartbeat period, whatever the program is doing.
//!
//! MPI is then initialized `MPI_THREAD_SERIALIZED`: both threads make MPI calls, never at
//! once, since every call goes through the [`Channel`] behind one mutex.

use std::collections::HashMap;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mpi::Rank;

use crate::link::Link;
use crate::outbox::Outbox;
use crate::wire::{self, ToWorker};

/// The link and its sends in flight, with when each worker was last sent something.
pub(crate) struct Channel {
    pub(crate) link: Link,
    pub(crate) outbox: Outbox,
    last_sent: HashMap<Rank, Instant>,
    /// The silence timeout the workers are told to apply to the driver.
    silence: Duration,
}

// SAFETY: a `Channel` holds MPI handles (a communicator, requests) and the buffers lent to
// those requests, which are plain memory that any thread may use. MPI is initialized
// `MPI_THREAD_SERIALIZED` whenever a `Channel` is shared with the heartbeat thread
// (`Driver::new` starts that thread only then), so MPI may be called from any thread as long
// as two calls never overlap; every use of a shared `Channel` goes through the one mutex
// of its `Driver`.
#[allow(unsafe_code)]
unsafe impl Send for Channel {}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("link", &self.link)
            .field("outbox", &self.outbox)
            .field("silence", &self.silence)
            .finish()
    }
}

impl Channel {
    /// Starts sending `bytes` to `rank`.
    pub(crate) fn send(&mut self, rank: Rank, bytes: Vec<u8>) {
        self.link.send(&mut self.outbox, rank, bytes);
        self.last_sent.insert(rank, Instant::now());
    }

    /// A message that has arrived, with its sender's rank, if any.
    pub(crate) fn try_receive(&self) -> Option<(Rank, Vec<u8>)> {
        self.link.try_receive()
    }

    /// The silence bound that workers apply to the driver (zero: none).
    pub(crate) fn silence(&self) -> Duration {
        self.silence
    }

    /// Sends a heartbeat to each worker that has been sent nothing for `period`.
    fn beat(&mut self, period: Duration) {
        let silence_ms = millis(self.silence);
        for i in 0..self.link.workers() {
            let rank = self.link.worker_rank(i);
            if self
                .last_sent
                .get(&rank)
                .is_none_or(|t| t.elapsed() >= period)
            {
                self.send(rank, wire::encode(&ToWorker::Alive { silence_ms }));
            }
        }
        self.outbox.progress();
    }
}

/// Whole milliseconds, at least 1 for a non-zero duration.
pub(crate) fn millis(d: Duration) -> u64 {
    if d.is_zero() {
        0
    } else {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
    }
}

/// The heartbeat period for a given silence timeout: often enough that a few can be lost.
pub(crate) fn heartbeat_for(timeout: Duration) -> Duration {
    (timeout / 10).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// The driver's channel, and the thread that keeps the workers hearing from it.
#[derive(Debug)]
pub(crate) struct Driver {
    channel: Arc<Mutex<Channel>>,
    heartbeat: Option<(Sender<()>, JoinHandle<()>)>,
}

impl Driver {
    /// Wraps `link`. If `serialized` (MPI allows calls from any thread, one at a time) and
    /// there are workers, starts the heartbeat thread, and the workers will give up on the
    /// driver after `timeout` of silence; otherwise they have no such bound.
    pub(crate) fn new(link: Link, outbox: Outbox, timeout: Duration, serialized: bool) -> Driver {
        let beating = serialized && link.workers() > 0;
        let channel = Arc::new(Mutex::new(Channel {
            link,
            outbox,
            last_sent: HashMap::new(),
            silence: if beating { timeout } else { Duration::ZERO },
        }));
        let heartbeat = beating
            .then(|| {
                let (stop, stopped) = mpsc::channel::<()>();
                let shared = Arc::clone(&channel);
                std::thread::Builder::new()
                    .name("mpi-heartbeat".into())
                    .spawn(move || heartbeat(&shared, &stopped))
                    .ok()
                    .map(|thread| (stop, thread))
            })
            .flatten();
        if beating && heartbeat.is_none() {
            log::warn!(target: "multiproc_mpi", "cannot start the heartbeat thread; workers will not watch the driver");
            lock(&channel).silence = Duration::ZERO;
        }
        Driver { channel, heartbeat }
    }

    /// The channel, for one burst of MPI calls: keep the guard short, the heartbeat thread
    /// waits for it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Channel> {
        lock(&self.channel)
    }

    /// Changes the silence timeout the workers apply to the driver (if they apply one).
    pub(crate) fn set_timeout(&self, timeout: Duration) {
        let mut channel = self.lock();
        if !channel.silence.is_zero() {
            channel.silence = timeout;
        }
    }

    /// Stops the heartbeat thread and gives the link back.
    pub(crate) fn into_parts(mut self) -> (Link, Outbox) {
        if let Some((stop, thread)) = self.heartbeat.take() {
            let _ = stop.send(());
            if thread.join().is_err() {
                log::warn!(target: "multiproc_mpi", "the heartbeat thread panicked");
            }
        }
        let channel = Arc::try_unwrap(self.channel)
            .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
            .unwrap_or_else(|_| unreachable!("the heartbeat thread, the only other owner, ended"));
        (channel.link, channel.outbox)
    }
}

fn lock(channel: &Mutex<Channel>) -> MutexGuard<'_, Channel> {
    channel.lock().unwrap_or_else(|e| e.into_inner())
}

/// The heartbeat thread: every period, a heartbeat to each worker not sent anything lately.
fn heartbeat(channel: &Mutex<Channel>, stopped: &mpsc::Receiver<()>) {
    loop {
        let period = heartbeat_for(lock(channel).silence);
        match stopped.recv_timeout(period) {
            Err(RecvTimeoutError::Timeout) => lock(channel).beat(period),
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_come_often_enough_and_not_too_often() {
        assert_eq!(
            heartbeat_for(Duration::from_secs(30)),
            Duration::from_secs(1)
        );
        assert_eq!(
            heartbeat_for(Duration::from_secs(2)),
            Duration::from_millis(200)
        );
        assert_eq!(
            heartbeat_for(Duration::from_millis(1)),
            Duration::from_millis(10)
        );
    }

    #[test]
    fn millis_never_rounds_a_bound_down_to_none() {
        assert_eq!(millis(Duration::ZERO), 0);
        assert_eq!(millis(Duration::from_micros(10)), 1);
        assert_eq!(millis(Duration::from_secs(3)), 3000);
    }
}
