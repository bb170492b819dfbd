//! Semaphore and BoundedSemaphore across processes: CPython's `test_multiprocessing` semaphore
//! scenarios (provenance: `Lib/test/_test_multiprocessing.py`, `_TestSemaphore`), and a bound
//! on concurrency that holds across ten processes.

mod common;

use std::time::{Duration, Instant};

use multiproc::sync::ReleaseError;
use multiproc::{BoundedSemaphore, Event, Semaphore, Value};

/// Holds one unit for a while, counting how many hold one at the same time.
fn worker((sem, active, most): (Semaphore, Value<u32>, Value<u32>)) {
    let _unit = sem
        .acquire_timeout(Duration::from_secs(20))
        .expect("a unit within 20 s");
    let now = active.with_lock(|a| {
        *a += 1;
        *a
    });
    most.with_lock(|m| *m = (*m).max(now));
    std::thread::sleep(Duration::from_millis(30));
    active.with_lock(|a| *a -= 1);
}

fn take_and_return(sem: Semaphore) -> u32 {
    std::mem::forget(sem.acquire());
    sem.get_value()
}

#[multiproc::test]
fn semaphore_of_two_counts() {
    let sem = Semaphore::new(2);
    assert_eq!(sem.get_value(), 2);
    let a = sem.acquire();
    assert_eq!(sem.get_value(), 1);
    // Taken in another process: the count is shared.
    assert_eq!(
        multiproc::spawn(take_and_return, sem.clone())
            .join()
            .unwrap(),
        0
    );
    assert!(sem.try_acquire().is_none());
    assert_eq!(sem.get_value(), 0);
    sem.release().unwrap();
    assert_eq!(sem.get_value(), 1);
    drop(a);
    assert_eq!(sem.get_value(), 2);
    // Unbounded, as in Python: a release beyond the initial value is allowed.
    sem.release().unwrap();
    assert_eq!(sem.get_value(), 3);
}

#[multiproc::test]
fn zero_semaphore_acquire_timeout_gives_up_after_the_timeout() {
    let sem = Semaphore::new(0);
    let t0 = Instant::now();
    assert!(sem.acquire_timeout(Duration::from_millis(100)).is_none());
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(sem.try_acquire().is_none());
}

#[multiproc::test]
fn bounded_semaphore_refuses_an_extra_release() {
    let sem = BoundedSemaphore::new(2);
    assert_eq!(sem.release(), Err(ReleaseError::TooManyReleases));
    std::mem::forget(sem.acquire());
    sem.release().unwrap();
    assert_eq!(sem.release(), Err(ReleaseError::TooManyReleases));
    assert_eq!(sem.get_value(), 2);
}

#[multiproc::test]
fn release_in_one_process_wakes_an_acquirer_in_another() {
    /// Waits far longer (120 s) than the test waits for it (20 s): a lost wake fails the
    /// test instead of ending at the timeout, when the unit would be found all the same.
    fn wait_for_unit((sem, started): (Semaphore, Event)) -> bool {
        started.set();
        sem.acquire_timeout(Duration::from_secs(120))
            .map(std::mem::forget)
            .is_some()
    }
    let (sem, started) = (Semaphore::new(0), Event::new());
    let child = multiproc::spawn(wait_for_unit, (sem.clone(), started.clone()));
    assert!(started.wait_timeout(Duration::from_secs(20)));
    // Asleep in its acquire (unless the machine is too loaded: then the release comes first).
    common::wait_until_asleep(child.pid());
    sem.release().unwrap();
    assert!(common::join_within(child, Duration::from_secs(20)).unwrap());
    assert_eq!(sem.get_value(), 0);
}

#[multiproc::test]
fn ten_processes_never_more_than_three_at_once() {
    let sem = Semaphore::new(3);
    let (active, most) = (Value::new(0u32), Value::new(0u32));
    let kids: Vec<_> = (0..10)
        .map(|_| multiproc::spawn(worker, (sem.clone(), active.clone(), most.clone())))
        .collect();
    for k in kids {
        k.join().unwrap();
    }
    assert!(most.get() <= 3, "{} held a unit at once", most.get());
    assert!(most.get() >= 1);
    assert_eq!(active.get(), 0);
    assert_eq!(sem.get_value(), 3);
}
