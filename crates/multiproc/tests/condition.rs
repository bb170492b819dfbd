//! Condition across processes: CPython's `test_multiprocessing` condition scenarios
//! (provenance: `Lib/test/_test_multiprocessing.py`, `_TestCondition.test_notify_n`,
//! `test_waitfor_timeout`), over its own RLock and over a given Lock.

mod common;

use common::{JoinWithin, STUCK};
use std::time::{Duration, Instant};

use multiproc::{Condition, Lock, Value};

const LONG: Duration = Duration::from_secs(20);

/// Waits once to be notified; counts itself woken.
fn sleeper((cond, woken): (Condition, Value<u32>)) -> bool {
    let mut g = cond.acquire().unwrap();
    let notified = g.wait_timeout(LONG).unwrap();
    woken.with_lock(|w| *w += 1);
    notified
}

/// Raises `state` by one four times, notifying each time.
fn stepper((cond, state): (Condition, Value<u32>)) {
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(20));
        let g = cond.acquire().unwrap();
        state.with_lock(|s| *s += 1);
        g.notify_all();
    }
}

fn wait_until(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + LONG;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[multiproc::test]
fn notify_two_wakes_exactly_two_of_six() {
    let cond = Condition::new();
    let woken = Value::new(0u32);
    let kids: Vec<_> = (0..6)
        .map(|_| multiproc::spawn(sleeper, (cond.clone(), woken.clone())))
        .collect();
    wait_until(|| cond.n_waiting() == 6, "six waiters");
    cond.acquire().unwrap().notify(2);
    wait_until(|| woken.get() == 2, "two wake-ups");
    // Give a third (wrong) wake-up every chance to happen.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(woken.get(), 2);
    assert_eq!(cond.n_waiting(), 4);
    cond.acquire().unwrap().notify_all();
    let notified: Vec<bool> = kids
        .into_iter()
        .map(|k| k.join_within(STUCK).unwrap())
        .collect();
    assert_eq!(notified, [true; 6]);
    assert_eq!(woken.get(), 6);
}

#[multiproc::test]
fn wait_for_with_timeout() {
    let cond = Condition::new();
    let state = Value::new(0u32);
    let mut g = cond.acquire().unwrap();
    let t0 = Instant::now();
    let ok = g
        .wait_for_timeout(|| state.get() == 4, Duration::from_millis(100))
        .unwrap();
    assert!(!ok);
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(100) && took < Duration::from_secs(5));
    let child = multiproc::spawn(stepper, (cond.clone(), state.clone()));
    assert!(g.wait_for_timeout(|| state.get() == 4, LONG).unwrap());
    drop(g);
    child.join_within(STUCK).unwrap();
}

#[multiproc::test]
fn condition_over_a_given_lock_shares_it() {
    fn notify_when_free((cond, flag): (Condition, Value<u8>)) {
        let g = cond.acquire().unwrap();
        flag.set(1);
        g.notify_all();
    }
    let lock = Lock::new();
    let cond = Condition::with_lock(lock.clone());
    let flag = Value::new(0u8);
    let mut g = cond.acquire().unwrap();
    assert!(lock.locked());
    let child = multiproc::spawn(notify_when_free, (cond.clone(), flag.clone()));
    // The child can only notify once the wait has released the lock.
    assert!(g.wait_for_timeout(|| flag.get() == 1, LONG).unwrap());
    assert!(lock.locked());
    drop(g);
    assert!(!lock.locked());
    child.join_within(STUCK).unwrap();
}
