//! Errors of the synchronization primitives.

use std::fmt;

/// The previous holder of a lock ended while holding it: its process died, or (for an
/// [`RLock`](super::RLock)) its thread exited.
///
/// Python would leave such a lock held forever. Here the next acquirer takes it and learns of
/// the death, as `std` reports a poisoned `Mutex`: the lock is held by the caller all the same,
/// and [`into_inner`](HolderDied::into_inner) gives the guard back. Whatever the dead holder
/// protected may be half updated. Only the one acquirer that took the lock over is told; the
/// lock is an ordinary lock again afterwards.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let lock = multiproc::Lock::try_new()?;
/// // Recover from a dead holder by taking the guard anyway:
/// let guard = lock.acquire().unwrap_or_else(multiproc::sync::HolderDied::into_inner);
/// # drop(guard); Ok(()) }
/// ```
pub struct HolderDied<G> {
    inner: G,
    holder: u32,
}

impl<G> HolderDied<G> {
    pub(crate) fn new(inner: G, holder: u32) -> Self {
        HolderDied { inner, holder }
    }

    /// The guard (or result) that the call would have returned: the lock is held.
    pub fn into_inner(self) -> G {
        self.inner
    }

    /// A reference to the guard.
    pub fn get_ref(&self) -> &G {
        &self.inner
    }

    /// A mutable reference to the guard.
    pub fn get_mut(&mut self) -> &mut G {
        &mut self.inner
    }

    /// The id of the holder that died: a process id for a `Lock`, a thread id for an `RLock`
    /// and for the own lock of a `Value` or an `Array` (the main thread's id is its process's).
    pub fn holder(&self) -> u32 {
        self.holder
    }

    pub(crate) fn map<H>(self, f: impl FnOnce(G) -> H) -> HolderDied<H> {
        HolderDied {
            inner: f(self.inner),
            holder: self.holder,
        }
    }
}

impl<G> fmt::Debug for HolderDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HolderDied")
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl<G> fmt::Display for HolderDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the holder of the lock ({}) died while holding it",
            self.holder
        )
    }
}

impl<G> std::error::Error for HolderDied<G> {}

/// The result of a blocking acquire: the guard, or the guard wrapped in [`HolderDied`].
pub type AcquireResult<G> = Result<G, HolderDied<G>>;

/// Why a `try_acquire` returned no guard.
#[non_exhaustive]
pub enum TryAcquireError<G> {
    /// A live holder has the lock.
    WouldBlock,
    /// The lock was taken, from a holder that died: see [`HolderDied`].
    HolderDied(HolderDied<G>),
}

/// Why an `acquire_timeout` or `acquire_deadline` returned no guard.
#[non_exhaustive]
pub enum AcquireTimeoutError<G> {
    /// The time ran out before the lock was free.
    Timeout,
    /// The lock was taken, from a holder that died: see [`HolderDied`].
    HolderDied(HolderDied<G>),
}

macro_rules! acquire_error_impls {
    ($name:ident, $other:ident, $text:literal) => {
        impl<G> $name<G> {
            pub(crate) fn map<H>(self, f: impl FnOnce(G) -> H) -> $name<H> {
                match self {
                    $name::HolderDied(d) => $name::HolderDied(d.map(f)),
                    $name::$other => $name::$other,
                }
            }

            /// The guard, if the lock was taken over from a dead holder.
            pub fn into_holder_died(self) -> Option<HolderDied<G>> {
                match self {
                    $name::HolderDied(d) => Some(d),
                    $name::$other => None,
                }
            }
        }

        impl<G> From<HolderDied<G>> for $name<G> {
            fn from(d: HolderDied<G>) -> Self {
                $name::HolderDied(d)
            }
        }

        impl<G> fmt::Debug for $name<G> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $name::$other => f.write_str(stringify!($other)),
                    $name::HolderDied(d) => f.debug_tuple("HolderDied").field(d).finish(),
                }
            }
        }

        impl<G> fmt::Display for $name<G> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $name::$other => f.write_str($text),
                    $name::HolderDied(d) => fmt::Display::fmt(d, f),
                }
            }
        }

        impl<G> std::error::Error for $name<G> {}
    };
}

acquire_error_impls!(TryAcquireError, WouldBlock, "the lock is held");
acquire_error_impls!(
    AcquireTimeoutError,
    Timeout,
    "timed out waiting for the lock"
);

/// A release that is not allowed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
pub enum ReleaseError {
    /// The lock is not held (Python: "semaphore or lock released too many times").
    #[error("release of a lock that is not held")]
    NotHeld,
    /// The `RLock` is held by another thread, or not held (Python: "cannot release
    /// un-acquired lock").
    #[error("release of a lock that this thread does not hold")]
    NotOwner,
    /// A bounded semaphore would go above its initial value, or a semaphore above `u32::MAX`.
    #[error("semaphore released too many times")]
    TooManyReleases,
}
