//! Event across processes: CPython's `test_multiprocessing` event scenario (provenance:
//! `Lib/test/_test_multiprocessing.py`, `_TestEvent.test_event`), waking waiters in other
//! processes, and events that travel back from a child.

mod common;

use common::{JoinWithin, STUCK};
use std::time::{Duration, Instant};

use multiproc::Event;

fn wait_long(e: Event) -> bool {
    e.wait_timeout(Duration::from_secs(20))
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
        !short.join_within(STUCK).unwrap(),
        "a timed wait with nothing set is false"
    );
    let waiters: Vec<_> = (0..4)
        .map(|_| multiproc::spawn(wait_long, e.clone()))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    e.set();
    for w in waiters {
        assert!(w.join_within(STUCK).unwrap());
    }
}

#[multiproc::test]
fn event_made_in_child_comes_back_set() {
    let e = multiproc::spawn(make_set_event, ())
        .join_within(STUCK)
        .unwrap();
    assert!(e.is_set());
    e.clear();
    assert!(!e.wait_timeout(Duration::ZERO));
}
