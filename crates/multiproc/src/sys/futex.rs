//! Futex wait and wake on 32-bit words in memory shared between processes.
//!
//! The words live in `MAP_SHARED` mappings of a memfd or a `/dev/shm` file, so these use the
//! shared (not `FUTEX_PRIVATE_FLAG`) operations: the kernel keys them by the mapped file page, and
//! a waiter in one process is woken by a waker in another.

use std::io;
use std::sync::atomic::AtomicU32;
use std::time::Instant;

/// Why [`wait`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Woken, interrupted, or the word no longer held `expected`: look again.
    Retry,
    /// The deadline passed.
    TimedOut,
}

/// Sleeps while `*word == expected`, until woken or until `deadline` (forever with `None`).
///
/// Spurious returns are allowed (and happen); callers re-check their condition in a loop.
pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Wake {
    let ts = match deadline {
        None => None,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Wake::TimedOut;
            }
            Some(libc::timespec {
                tv_sec: left.as_secs().min(i64::MAX as u64 / 2) as libc::time_t,
                tv_nsec: left.subsec_nanos() as _,
            })
        }
    };
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned 32-bit atomic for the duration of the call (it is
    // borrowed); FUTEX_WAIT only reads it, and `tsp` is null or points at a live timespec. The
    // kernel reads the word atomically, which is compatible with the atomic accesses of Rust.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            tsp,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if r == 0 {
        return Wake::Retry;
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::ETIMEDOUT) => {
            // A relative timeout rounds; report a timeout only when the deadline really passed.
            if deadline.is_some_and(|d| Instant::now() >= d) {
                Wake::TimedOut
            } else {
                Wake::Retry
            }
        }
        // EAGAIN: the word changed; EINTR: a signal. Anything else cannot happen with a valid
        // word; retrying is the safe answer either way.
        _ => Wake::Retry,
    }
}

/// Wakes at most `n` waiters sleeping on `word`; returns how many were woken.
pub(crate) fn wake(word: &AtomicU32, n: u32) -> usize {
    let n = n.min(i32::MAX as u32) as i32;
    // SAFETY: FUTEX_WAKE only uses the address of `word` as a key; it does not access memory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    r.max(0) as usize
}

/// Wakes every waiter sleeping on `word`.
pub(crate) fn wake_all(word: &AtomicU32) -> usize {
    wake(word, i32::MAX as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    #[test]
    fn wait_times_out_at_deadline() {
        let w = AtomicU32::new(0);
        let start = Instant::now();
        let d = start + Duration::from_millis(50);
        while wait(&w, 0, Some(d)) != Wake::TimedOut {}
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(50), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    #[test]
    fn wait_returns_when_value_differs() {
        let w = AtomicU32::new(1);
        assert_eq!(
            wait(&w, 0, Some(Instant::now() + Duration::from_secs(5))),
            Wake::Retry
        );
    }

    #[test]
    fn wake_wakes_a_sleeper() {
        let w = Arc::new(AtomicU32::new(0));
        let w2 = w.clone();
        let t = std::thread::spawn(move || {
            let d = Instant::now() + Duration::from_secs(5);
            while w2.load(Ordering::Acquire) == 0 {
                if wait(&w2, 0, Some(d)) == Wake::TimedOut {
                    return false;
                }
            }
            true
        });
        std::thread::sleep(Duration::from_millis(20));
        w.store(1, Ordering::Release);
        wake_all(&w);
        assert!(t.join().unwrap());
    }
}
