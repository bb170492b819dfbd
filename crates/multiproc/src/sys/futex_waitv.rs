//! Waiting on many futex words at once (`futex_waitv`, Linux 5.16), and asking one word whether
//! it still holds a value, for the futex waker of the async API (`crate::reactor::futex`).
//!
//! The words are named by address, not borrowed: the thread that waits does not own the
//! memory they live in, and a word may be unmapped while it is waited on (its future was
//! dropped and its primitive with it). That is sound because nothing here reads the words in
//! user space: the kernel reads them through its fault-checked user access, and a word that is
//! no longer mapped makes the call fail with `EFAULT` instead of misbehaving. The operations
//! are the shared (not `FUTEX_PRIVATE_FLAG`) ones, like those of [`super::futex`], so that a
//! waker in another process reaches the waiter.

use std::io;
use std::time::Instant;

/// The most words one [`wait_any`] call waits on (the kernel's `FUTEX_WAITV_MAX`).
pub(crate) const MAX_WORDS: usize = 128;

/// `FUTEX2_SIZE_U32`: the words are 32 bits wide.
const FUTEX2_SIZE_U32: u32 = 0x02;

/// The kernel's `struct futex_waitv`.
#[repr(C)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// Why [`wait_any`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitAny {
    /// The word at this index was woken.
    Woken(usize),
    /// Some word did not hold its expected value when the call began (which one is not said).
    Changed,
    /// The deadline passed.
    TimedOut,
    /// A signal interrupted the wait.
    Interrupted,
    /// Some address is not mapped any more.
    Fault,
    /// The kernel has no `futex_waitv` (before Linux 5.16), or refuses the arguments.
    Unsupported,
}

/// Sleeps until one of `words` (address, expected value) is woken, or until `deadline`
/// (forever with `None`). At most [`MAX_WORDS`] words.
pub(crate) fn wait_any(words: &[(usize, u32)], deadline: Option<Instant>) -> WaitAny {
    assert!(
        words.len() <= MAX_WORDS,
        "futex_waitv takes at most 128 words"
    );
    let waiters: Vec<FutexWaitv> = words
        .iter()
        .map(|&(addr, expected)| FutexWaitv {
            val: u64::from(expected),
            uaddr: addr as u64,
            flags: FUTEX2_SIZE_U32,
            reserved: 0,
        })
        .collect();
    // futex_waitv takes an absolute CLOCK_MONOTONIC time, the clock of `Instant` on Linux.
    let ts = deadline.map(|d| {
        let left = d.saturating_duration_since(Instant::now());
        let now = monotonic_now();
        let mut sec = now
            .tv_sec
            .saturating_add(left.as_secs().min(i64::MAX as u64 / 2) as _);
        let mut nsec = now.tv_nsec + left.subsec_nanos() as libc::c_long;
        if nsec >= 1_000_000_000 {
            sec = sec.saturating_add(1);
            nsec -= 1_000_000_000;
        }
        libc::timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        }
    });
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `waiters` is a live array of `words.len()` futex_waitv structures laid out as the
    // kernel's, and `tsp` is null or points at a live timespec. The kernel reads the words at
    // the given addresses with fault-checked user access only (an unmapped one is EFAULT; see
    // the module docs), and writes no user memory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex_waitv,
            waiters.as_ptr(),
            waiters.len() as libc::c_uint,
            0 as libc::c_uint,
            tsp,
            libc::CLOCK_MONOTONIC,
        )
    };
    if r >= 0 {
        return WaitAny::Woken(r as usize);
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::EAGAIN) => WaitAny::Changed,
        Some(libc::ETIMEDOUT) => WaitAny::TimedOut,
        Some(libc::EINTR) => WaitAny::Interrupted,
        Some(libc::EFAULT) => WaitAny::Fault,
        _ => WaitAny::Unsupported,
    }
}

/// What [`probe`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// The word holds the expected value.
    Same,
    /// It holds another value.
    Changed,
    /// Its address is not mapped any more.
    Fault,
}

/// Whether the word at `addr` still holds `expected`, asked of the kernel (a futex wait with
/// a zero timeout), so that an address whose memory is gone is an answer, not a crash.
pub(crate) fn probe(addr: usize, expected: u32) -> Probe {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        // SAFETY: FUTEX_WAIT reads the word at `addr` with fault-checked user access (an
        // unmapped address is EFAULT) and `zero` is a live timespec; no user memory is written.
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                addr as *const u32,
                libc::FUTEX_WAIT,
                expected,
                &zero as *const libc::timespec,
                std::ptr::null::<u32>(),
                0u32,
            )
        };
        if r == 0 {
            // Woken within a zero timeout: it held the value when the wait began.
            return Probe::Same;
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::ETIMEDOUT) => return Probe::Same,
            Some(libc::EAGAIN) => return Probe::Changed,
            Some(libc::EINTR) => continue,
            _ => return Probe::Fault,
        }
    }
}

/// Wakes up to `n` waiters on the word at `addr` (shared futex), which need not be mapped any
/// more (then nobody is woken).
pub(crate) fn wake_addr(addr: usize, n: u32) {
    let n = n.min(i32::MAX as u32) as i32;
    // SAFETY: FUTEX_WAKE only uses the address as a key (an unmapped one is EFAULT); it reads
    // and writes no user memory.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            addr as *const u32,
            libc::FUTEX_WAKE,
            n,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

fn monotonic_now() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec for clock_gettime to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    fn addr(w: &AtomicU32) -> usize {
        w.as_ptr() as usize
    }

    #[test]
    fn a_changed_word_is_reported_at_once() {
        let (a, b) = (AtomicU32::new(0), AtomicU32::new(5));
        let d = Some(Instant::now() + Duration::from_secs(5));
        assert_eq!(
            wait_any(&[(addr(&a), 0), (addr(&b), 4)], d),
            WaitAny::Changed
        );
        assert_eq!(probe(addr(&b), 4), Probe::Changed);
        assert_eq!(probe(addr(&b), 5), Probe::Same);
    }

    #[test]
    fn the_deadline_ends_the_wait() {
        let a = AtomicU32::new(0);
        let t0 = Instant::now();
        let r = wait_any(&[(addr(&a), 0)], Some(t0 + Duration::from_millis(50)));
        assert_eq!(r, WaitAny::TimedOut);
        assert!(
            t0.elapsed() >= Duration::from_millis(50),
            "{:?}",
            t0.elapsed()
        );
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_wake_names_its_word() {
        let words = Arc::new([AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)]);
        let w = words.clone();
        let t = std::thread::spawn(move || {
            let set: Vec<_> = w.iter().map(|x| (addr(x), 0)).collect();
            wait_any(&set, Some(Instant::now() + Duration::from_secs(10)))
        });
        std::thread::sleep(Duration::from_millis(50));
        words[2].store(1, Ordering::SeqCst);
        crate::sys::futex::wake(&words[2], 1);
        // The wake came after the wait began (Woken) or the change before (Changed).
        let r = t.join().unwrap();
        assert!(matches!(r, WaitAny::Woken(2) | WaitAny::Changed), "{r:?}");
    }

    #[test]
    fn an_unmapped_word_is_a_fault_not_a_crash() {
        // Below vm.mmap_min_addr: never mapped (an unmapped page elsewhere could be reused by
        // another test's mapping at any moment).
        let a = 0x1000;
        assert_eq!(probe(a, 0), Probe::Fault);
        let d = Some(Instant::now() + Duration::from_secs(5));
        assert_eq!(wait_any(&[(a, 0)], d), WaitAny::Fault);
    }
}
