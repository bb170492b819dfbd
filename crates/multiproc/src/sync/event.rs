//! [`Event`]: a flag that processes wait for.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::spin;
use crate::shared::mapping::{self, Mapping};
use crate::sys::fd::deadline_after;
use crate::sys::futex::{self, Wake};

const MAGIC: u32 = mapping::magic(b"EVNT");
/// The flag word: [`SET`] and [`WAITERS`].
const WORD: usize = 4;
/// How long recent waits took (see `spin`).
const SPIN_HINT: usize = 8;
const LEN: usize = 12;

pub(super) const SET: u32 = 1;
/// Some waiter may be asleep on the word.
pub(super) const WAITERS: u32 = 2;

/// A flag that processes can set, clear and wait for (Python's `multiprocessing.Event`).
///
/// ```rust,standalone_crate
/// fn waiter(e: multiproc::Event) -> bool {
///     e.wait_timeout(std::time::Duration::from_secs(10))
/// }
///
/// fn main() {
///     multiproc::init();
///     let e = multiproc::Event::new();
///     let child = multiproc::spawn(waiter, e.clone());
///     e.set();
///     assert!(child.join().unwrap());
/// }
/// ```
#[derive(Clone)]
pub struct Event {
    map: Arc<Mapping>,
}

impl Event {
    /// A new event, not set.
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; see [`Event::try_new`].
    pub fn new() -> Event {
        Event::try_new().expect("cannot create the shared memory of an Event")
    }

    /// A new event, not set, or the operating system's refusal.
    pub fn try_new() -> std::io::Result<Event> {
        let map = Mapping::anonymous("multiproc-event", LEN)?;
        map.u32_at(0).store(MAGIC, Release);
        Ok(Event { map: Arc::new(map) })
    }

    pub(super) fn word(&self) -> &AtomicU32 {
        self.map.u32_at(WORD)
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.word().load(Acquire) & SET != 0
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let w = self.word();
        // Always a store, even when already set: it publishes what the caller wrote before.
        if w.swap(SET, AcqRel) & WAITERS != 0 {
            futex::wake_all(w);
        }
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.word().fetch_and(!SET, Release);
    }

    /// Blocks until the flag is set. Returns `true`, as Python's `wait()` does.
    pub fn wait(&self) -> bool {
        self.wait_until(None)
    }

    /// Whether the flag is set, without waiting (the form of [`wait`](Event::wait) that never
    /// blocks; Python's `wait(0)`).
    pub fn try_wait(&self) -> bool {
        self.is_set()
    }

    /// Waits at most `timeout` for the flag; returns whether it is set (Python's
    /// `wait(timeout)`).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Some(deadline_after(timeout)))
    }

    /// Waits until `deadline` at most for the flag; returns whether it is set.
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_until(Some(deadline))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        if self.is_set() {
            return true;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        spin::until(self.map.u32_at(SPIN_HINT), || self.is_set()) || self.sleep_until(deadline)
    }

    fn sleep_until(&self, deadline: Option<Instant>) -> bool {
        let w = self.word();
        loop {
            let s = w.load(Acquire);
            if s & SET != 0 {
                return true;
            }
            if s & WAITERS == 0
                && w.compare_exchange(s, s | WAITERS, Relaxed, Relaxed)
                    .is_err()
            {
                continue;
            }
            if futex::wait(w, s | WAITERS, deadline) == Wake::TimedOut {
                return self.is_set();
            }
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = mapping::checked(Mapping::deserialize(d)?, "Event", MAGIC, LEN)?;
        Ok(Event { map: Arc::new(map) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_clear_and_zero_wait() {
        let e = Event::new();
        assert!(!e.is_set());
        assert!(!e.wait_timeout(Duration::ZERO));
        e.set();
        assert!(e.is_set() && e.wait() && e.wait_timeout(Duration::ZERO));
        e.clear();
        assert!(!e.try_wait());
    }

    #[test]
    fn set_wakes_sleeping_threads() {
        let e = Event::new();
        let ts: Vec<_> = (0..3)
            .map(|_| {
                let e = e.clone();
                std::thread::spawn(move || e.wait_timeout(Duration::from_secs(5)))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(30));
        e.set();
        for t in ts {
            assert!(t.join().unwrap());
        }
    }

    #[test]
    fn timed_wait_returns_false_after_the_timeout() {
        let e = Event::new();
        let t0 = Instant::now();
        assert!(!e.wait_timeout(Duration::from_millis(50)));
        assert!(t0.elapsed() >= Duration::from_millis(50));
    }
}
