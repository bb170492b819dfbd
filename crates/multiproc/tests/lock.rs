//! Lock and RLock across processes: CPython's `test_multiprocessing` lock scenarios (provenance:
//! `Lib/test/_test_multiprocessing.py`, `_TestLock.test_lock`, `test_rlock`), a lock held in a
//! child seen from the parent, exact counts under contention, and holders that die.

mod common;

use std::time::{Duration, Instant};

use multiproc::sync::{AcquireTimeoutError, ReleaseError, TryAcquireError};
use multiproc::{Event, Lock, RLock, RawValue};

const LONG: Duration = Duration::from_secs(20);

/// Takes `lock`, says so, and keeps it until `release` is set, or for 120 s: far longer than
/// the test waits for it ([`LONG`]), so that a lost wake fails the test instead of ending
/// the hold late.
fn hold((lock, held, release): (Lock, Event, Event)) -> bool {
    let g = lock.acquire().expect("fresh lock");
    held.set();
    let released = release.wait_timeout(Duration::from_secs(120));
    drop(g);
    released
}

/// Takes `lock` and never gives it back: the process dies with it.
fn hold_forever((lock, held): (Lock, Event)) {
    std::mem::forget(lock.acquire().expect("fresh lock"));
    held.set();
    std::thread::sleep(LONG);
}

/// Takes `lock` and returns with it held.
fn exit_holding(lock: Lock) {
    std::mem::forget(lock.acquire().expect("fresh lock"));
}

fn increment((lock, counter, n): (Lock, RawValue<u64>, u32)) {
    for _ in 0..n {
        let _g = lock.acquire().expect("no holder dies here");
        // A plain read and write: only the lock makes the total exact.
        counter.set(counter.get() + 1);
    }
}

#[multiproc::test]
fn lock_acquire_locked_try_and_extra_release() {
    let lock = Lock::new();
    let g = lock.acquire();
    assert!(g.is_ok(), "acquire succeeds");
    assert!(lock.locked());
    assert!(matches!(
        lock.try_acquire(),
        Err(TryAcquireError::WouldBlock)
    ));
    drop(g);
    assert!(!lock.locked());
    assert_eq!(lock.release(), Err(ReleaseError::NotHeld));
    assert_eq!(
        ReleaseError::NotHeld.to_string(),
        "release of a lock that is not held"
    );
}

#[multiproc::test]
fn lock_held_by_child_is_locked_in_parent() {
    let (lock, held, release) = (Lock::new(), Event::new(), Event::new());
    let child = multiproc::spawn(hold, (lock.clone(), held.clone(), release.clone()));
    assert!(held.wait_timeout(LONG), "the child never took the lock");
    assert!(lock.locked());
    assert_eq!(lock.holder(), Some(child.pid()));
    assert!(matches!(
        lock.try_acquire(),
        Err(TryAcquireError::WouldBlock)
    ));
    let t0 = Instant::now();
    assert!(matches!(
        lock.acquire_timeout(Duration::from_millis(100)),
        Err(AcquireTimeoutError::Timeout)
    ));
    assert!(t0.elapsed() >= Duration::from_millis(100));
    release.set();
    let g = lock.acquire_timeout(LONG);
    if g.is_err() {
        let _ = child.kill();
    }
    drop(g.expect("the child releases when told"));
    assert!(common::join_within(child, LONG).unwrap());
}

#[multiproc::test]
fn lock_released_by_another_process() {
    fn release(lock: Lock) -> bool {
        lock.release().is_ok()
    }
    let lock = Lock::new();
    std::mem::forget(lock.acquire().unwrap());
    assert!(multiproc::spawn(release, lock.clone()).join().unwrap());
    assert!(!lock.locked());
}

#[multiproc::test]
fn two_processes_million_increments_each_are_exact() {
    let lock = Lock::new();
    let counter = RawValue::new(0u64);
    let n = 1_000_000;
    let kids: Vec<_> = (0..2)
        .map(|_| multiproc::spawn(increment, (lock.clone(), counter.clone(), n)))
        .collect();
    for k in kids {
        assert!(k.join_timeout(Duration::from_secs(60)).is_some(), "hung");
        k.join().unwrap();
    }
    assert_eq!(counter.get(), 2 * u64::from(n));
}

#[multiproc::test]
fn lock_of_killed_holder_goes_to_next_acquirer() {
    let (lock, held) = (Lock::new(), Event::new());
    let child = multiproc::spawn(hold_forever, (lock.clone(), held.clone()));
    assert!(held.wait_timeout(LONG));
    let pid = child.pid();
    child.kill().unwrap();
    // Not joined: the dead holder is a zombie, which counts as dead.
    let t0 = Instant::now();
    let died = match lock.acquire_timeout(LONG) {
        Err(AcquireTimeoutError::HolderDied(d)) => d,
        Err(e) => panic!("expected the holder's death, got {e}"),
        Ok(_) => panic!("expected the holder's death, got a clean acquire"),
    };
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(died.holder(), pid);
    assert!(died.to_string().contains("died while holding it"));
    let guard = died.into_inner();
    assert!(lock.locked());
    drop(guard);
    // An ordinary lock again.
    assert!(lock.try_acquire().is_ok());
    assert_eq!(child.wait(), -9);
}

#[multiproc::test]
fn blocked_acquirer_wakes_when_holder_dies() {
    let (lock, held) = (Lock::new(), Event::new());
    let child = multiproc::spawn(hold_forever, (lock.clone(), held.clone()));
    assert!(held.wait_timeout(LONG));
    let t0 = Instant::now();
    let (r, waited) = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(200));
            child.kill().unwrap();
        });
        let r = lock.acquire_timeout(LONG).map(drop);
        (r, t0.elapsed())
    });
    assert!(matches!(r, Err(AcquireTimeoutError::HolderDied(_))));
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    child.wait();
}

#[multiproc::test]
fn lock_of_holder_that_exited_is_reported() {
    let lock = Lock::new();
    let child = multiproc::spawn(exit_holding, lock.clone());
    let pid = child.pid();
    child.join().unwrap();
    assert!(lock.locked());
    let d = lock.acquire().expect_err("the holder exited with the lock");
    assert_eq!(d.holder(), pid);
}

/// Takes the recursive lock three times and dies with it.
fn rhold_forever((lock, held): (RLock, Event)) {
    for _ in 0..3 {
        std::mem::forget(lock.acquire().unwrap());
    }
    held.set();
    std::thread::sleep(LONG);
}

/// From another process: neither release nor enter a lock held elsewhere.
fn foreign_release(lock: RLock) -> (bool, bool) {
    (
        lock.release() == Err(ReleaseError::NotOwner),
        matches!(lock.try_acquire(), Err(TryAcquireError::WouldBlock)),
    )
}

#[multiproc::test]
fn rlock_three_acquires_need_three_releases() {
    let lock = RLock::new();
    for _ in 0..3 {
        std::mem::forget(lock.acquire().unwrap());
    }
    let (refused, blocked) = multiproc::spawn(foreign_release, lock.clone())
        .join()
        .unwrap();
    assert!(refused && blocked);
    for left in (0..3).rev() {
        assert!(lock.locked());
        lock.release().unwrap();
        assert_eq!(lock.count(), left);
    }
    assert!(!lock.locked());
    assert_eq!(lock.release(), Err(ReleaseError::NotOwner));
}

#[multiproc::test]
fn rlock_of_killed_holder_goes_to_next_acquirer() {
    let (lock, held) = (RLock::new(), Event::new());
    let child = multiproc::spawn(rhold_forever, (lock.clone(), held.clone()));
    assert!(held.wait_timeout(LONG));
    child.kill().unwrap();
    let d = lock
        .acquire_timeout(LONG)
        .err()
        .and_then(AcquireTimeoutError::into_holder_died)
        .expect("the holder died");
    assert_ne!(d.holder(), 0);
    let g = d.into_inner();
    assert_eq!(lock.count(), 1, "the dead holder's count is not inherited");
    drop(g);
    assert!(!lock.locked());
    child.wait();
}
