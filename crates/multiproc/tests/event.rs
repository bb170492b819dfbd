//! Event across processes: CPython's `test_multiprocessing` event scenario (provenance:
//! `Lib/test/_test_multiprocessing.py`, `_TestEvent.test_event`), waking waiters in other
//! processes, and events that travel back from a child.

mod common;

use std::time::{Duration, Instant};

use multiproc::{Event, Semaphore};

/// How long a test waits for waiters to wake: far less than [`WAITER_TIMEOUT`], so that a lost
/// wake fails the test instead of ending the wait at its timeout (when `wait_timeout` finds
/// the flag set and returns `true` all the same).
const WAKE_LIMIT: Duration = Duration::from_secs(20);
const WAITER_TIMEOUT: Duration = Duration::from_secs(120);

/// Says it is about to wait (one unit of `ready`), then waits for `e`.
fn wait_long((e, ready): (Event, Semaphore)) -> bool {
    ready.release().unwrap();
    e.wait_timeout(WAITER_TIMEOUT)
}

fn wait_short(e: Event) -> bool {
    e.wait_timeout(Duration::from_millis(50))
}

fn make_set_event(_: ()) -> Event {
    let e = Event::new();
    e.set();
    e
}

#[multiproc::test]
fn wait_zero_is_false_until_set() {
    let e = Event::new();
    assert!(!e.is_set());
    assert!(!e.wait_timeout(Duration::ZERO));
    assert!(!e.try_wait());
    let t0 = Instant::now();
    assert!(!e.wait_timeout(Duration::from_millis(100)));
    assert!(t0.elapsed() >= Duration::from_millis(100));
    e.set();
    assert!(e.is_set());
    assert!(e.wait());
    assert!(e.wait_timeout(Duration::ZERO));
    e.clear();
    assert!(!e.is_set());
}

#[multiproc::test]
fn set_in_parent_wakes_waiting_children() {
    let e = Event::new();
    let short = multiproc::spawn(wait_short, e.clone());
    assert!(
        !short.join().unwrap(),
        "a timed wait with nothing set is false"
    );
    let ready = Semaphore::new(0);
    let waiters: Vec<_> = (0..4)
        .map(|_| multiproc::spawn(wait_long, (e.clone(), ready.clone())))
        .collect();
    // Every waiter has started its wait, and is asleep in it (unless the machine is too
    // loaded for that within 10 s: then the set comes first, and the test still passes).
    for _ in &waiters {
        let unit = ready.acquire_timeout(WAKE_LIMIT);
        assert!(unit.is_some(), "a waiter never started");
        std::mem::forget(unit);
    }
    for w in &waiters {
        common::wait_until_asleep(w.pid());
    }
    e.set();
    for woken in common::join_all_within(waiters, WAKE_LIMIT) {
        assert!(woken.unwrap());
    }
}

#[multiproc::test]
fn event_made_in_child_comes_back_set() {
    let e = multiproc::spawn(make_set_event, ()).join().unwrap();
    assert!(e.is_set());
    e.clear();
    assert!(!e.wait_timeout(Duration::ZERO));
}
