//! [`Semaphore`] and [`BoundedSemaphore`]: counters that bound concurrent access.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::ReleaseError;
use super::spin;
use crate::shared::mapping::{self, Mapping};
use crate::sys::fd::deadline_after;
use crate::sys::futex::{self, Wake};

const MAGIC: u32 = mapping::magic(b"SEMA");
/// The count (the futex word).
const VALUE: usize = 4;
/// How many acquirers may be asleep.
const SLEEPERS: usize = 8;
/// The largest count a release may reach.
const MAX: usize = 12;
/// How long recent waits took (see `spin`).
const SPIN_HINT: usize = 16;
const LEN: usize = 20;

/// The shared memory and algorithm of both semaphore kinds.
#[derive(Clone)]
pub(super) struct Sem {
    map: Arc<Mapping>,
}

impl Sem {
    fn new(value: u32, max: u32, name: &str) -> std::io::Result<Sem> {
        let map = Mapping::anonymous(name, LEN)?;
        map.u32_at(VALUE).store(value, Relaxed);
        map.u32_at(MAX).store(max, Relaxed);
        map.u32_at(0).store(MAGIC, Release);
        Ok(Sem { map: Arc::new(map) })
    }

    pub(super) fn value(&self) -> &AtomicU32 {
        self.map.u32_at(VALUE)
    }

    /// How many acquirers may be asleep (they are woken by a release).
    #[cfg(feature = "tokio")]
    pub(super) fn sleepers(&self) -> &AtomicU32 {
        self.map.u32_at(SLEEPERS)
    }

    pub(super) fn try_take(&self) -> bool {
        let v = self.value();
        let mut cur = v.load(Relaxed);
        while cur > 0 {
            match v.compare_exchange_weak(cur, cur - 1, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
        false
    }

    fn take(&self, deadline: Option<Instant>) -> bool {
        if self.try_take() {
            return true;
        }
        let hint = self.map.u32_at(SPIN_HINT);
        (spin::until(hint, || self.value().load(Relaxed) > 0) && self.try_take())
            || self.sleep_until(deadline)
    }

    fn sleep_until(&self, deadline: Option<Instant>) -> bool {
        let sleepers = self.map.u32_at(SLEEPERS);
        loop {
            if self.try_take() {
                return true;
            }
            sleepers.fetch_add(1, SeqCst);
            let r = futex::wait(self.value(), 0, deadline);
            sleepers.fetch_sub(1, SeqCst);
            if r == Wake::TimedOut {
                return self.try_take();
            }
        }
    }

    fn give(&self) -> Result<(), ReleaseError> {
        let v = self.value();
        let max = self.map.u32_at(MAX).load(Relaxed);
        let mut cur = v.load(Relaxed);
        loop {
            if cur >= max {
                return Err(ReleaseError::TooManyReleases);
            }
            match v.compare_exchange_weak(cur, cur + 1, SeqCst, Relaxed) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        // SeqCst on both sides: either we see the sleeper's registration, or its futex wait
        // sees the new count and does not sleep.
        if self.map.u32_at(SLEEPERS).load(SeqCst) > 0 {
            futex::wake(v, 1);
        }
        Ok(())
    }

    fn get_value(&self) -> u32 {
        self.value().load(Relaxed)
    }
}

macro_rules! semaphore_api {
    ($ty:ident, $kind:literal) => {
        impl $ty {
            /// Blocks until the count is above zero, then decrements it. The guard increments
            /// it again when dropped.
            pub fn acquire(&self) -> SemaphoreGuard<'_> {
                self.sem.take(None);
                self.guard()
            }

            /// Decrements the count if it is above zero (Python's `acquire(False)`).
            pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
                self.sem.try_take().then(|| self.guard())
            }

            /// Waits at most `timeout` for the count to be above zero (Python's
            /// `acquire(timeout=...)`). `None` if the time ran out.
            pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
                self.acquire_deadline(deadline_after(timeout))
            }

            /// Waits until `deadline` at most for the count to be above zero.
            pub fn acquire_deadline(&self, deadline: Instant) -> Option<SemaphoreGuard<'_>> {
                self.sem.take(Some(deadline)).then(|| self.guard())
            }

            /// The current count (Python's `get_value()`).
            pub fn get_value(&self) -> u32 {
                self.sem.get_value()
            }

            fn guard(&self) -> SemaphoreGuard<'_> {
                SemaphoreGuard { sem: &self.sem }
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("value", &self.get_value())
                    .finish()
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.sem.map.serialize(s)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let map = mapping::checked(Mapping::deserialize(d)?, "semaphore", MAGIC, LEN)?;
                let max = map.u32_at(MAX).load(Relaxed);
                if (max == u32::MAX) != ($kind == "Semaphore") {
                    return Err(crate::codec::de_error(
                        concat!("shared memory does not hold a ", $kind).to_owned(),
                    ));
                }
                Ok($ty {
                    sem: Sem { map: Arc::new(map) },
                })
            }
        }
    };
}

/// A counter that processes share, to bound how many of them use a resource at once (Python's
/// `multiprocessing.Semaphore`).
///
/// [`acquire`](Semaphore::acquire) waits for the count to be above zero and decrements it;
/// dropping the guard (or [`release`](Semaphore::release)) increments it. Releases beyond the
/// initial value are allowed, as in Python; [`BoundedSemaphore`] refuses them.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let s = multiproc::Semaphore::try_new(2)?;
/// let a = s.acquire();
/// let b = s.acquire();
/// assert_eq!(s.get_value(), 0);
/// assert!(s.try_acquire().is_none());
/// drop((a, b));
/// assert_eq!(s.get_value(), 2);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Semaphore {
    pub(super) sem: Sem,
}

impl Semaphore {
    /// A semaphore whose count starts at `value`.
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; see [`Semaphore::try_new`].
    pub fn new(value: u32) -> Semaphore {
        Semaphore::try_new(value).expect("cannot create the shared memory of a Semaphore")
    }

    /// A semaphore whose count starts at `value`, or the operating system's refusal.
    pub fn try_new(value: u32) -> std::io::Result<Semaphore> {
        let value = value.min(u32::MAX - 1);
        Ok(Semaphore {
            sem: Sem::new(value, u32::MAX, "multiproc-semaphore")?,
        })
    }

    /// Increments the count, waking one waiter (Python's `release()`), for a guard forgotten
    /// with `std::mem::forget` or a count given without an acquire. Fails only if the count
    /// would overflow.
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.sem.give()
    }
}

semaphore_api!(Semaphore, "Semaphore");

/// A semaphore whose count may not go above its initial value (Python's
/// `multiprocessing.BoundedSemaphore`): a release too many is an error.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let s = multiproc::BoundedSemaphore::try_new(1)?;
/// assert!(s.release().is_err());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    pub(super) sem: Sem,
}

impl BoundedSemaphore {
    /// A bounded semaphore whose count starts at, and may not exceed, `value`.
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; see [`BoundedSemaphore::try_new`].
    pub fn new(value: u32) -> BoundedSemaphore {
        BoundedSemaphore::try_new(value)
            .expect("cannot create the shared memory of a BoundedSemaphore")
    }

    /// A bounded semaphore whose count starts at, and may not exceed, `value`, or the
    /// operating system's refusal.
    pub fn try_new(value: u32) -> std::io::Result<BoundedSemaphore> {
        let value = value.min(u32::MAX - 1);
        Ok(BoundedSemaphore {
            sem: Sem::new(value, value, "multiproc-bounded-semaphore")?,
        })
    }

    /// Increments the count, waking one waiter. An increment above the initial value is
    /// [`ReleaseError::TooManyReleases`] (Python's `ValueError`), and changes nothing.
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.sem.give()
    }
}

semaphore_api!(BoundedSemaphore, "BoundedSemaphore");

/// One unit of a semaphore's count; dropping it gives the unit back.
#[must_use = "the unit is given back as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    pub(super) sem: &'a Sem,
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        // Only fails if someone else released more than they acquired; the count is at its
        // bound then, which is what this release would have restored.
        let _ = self.sem.give();
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_semaphore_times_out() {
        let s = Semaphore::new(0);
        let t0 = Instant::now();
        assert!(s.acquire_timeout(Duration::from_millis(100)).is_none());
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(100) && took < Duration::from_secs(5));
    }

    #[test]
    fn release_wakes_a_waiter() {
        let s = Semaphore::new(0);
        let s2 = s.clone();
        let t = std::thread::spawn(move || {
            s2.acquire_timeout(Duration::from_secs(5))
                .map(std::mem::forget)
                .is_some()
        });
        std::thread::sleep(Duration::from_millis(20));
        s.release().unwrap();
        assert!(t.join().unwrap());
        assert_eq!(s.get_value(), 0);
    }

    #[test]
    fn bounded_refuses_over_release_and_kinds_stay_apart() {
        let b = BoundedSemaphore::new(2);
        assert_eq!(b.release(), Err(ReleaseError::TooManyReleases));
        let g = b.acquire();
        assert_eq!(b.get_value(), 1);
        drop(g);
        assert_eq!(b.get_value(), 2);
        let e = crate::codec::encode(&b).unwrap();
        assert!(crate::codec::decode::<Semaphore>(&e.bytes, e.fds).is_err());
        let e = crate::codec::encode(&b).unwrap();
        let b2: BoundedSemaphore = crate::codec::decode(&e.bytes, e.fds).unwrap();
        std::mem::forget(b2.acquire());
        assert_eq!(b.get_value(), 1);
    }

    #[test]
    fn unbounded_may_exceed_initial_value() {
        let s = Semaphore::new(1);
        s.release().unwrap();
        assert_eq!(s.get_value(), 2);
    }
}
