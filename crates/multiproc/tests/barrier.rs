//! Barrier across processes: CPython's `test_multiprocessing` barrier scenarios (provenance:
//! `Lib/test/_test_multiprocessing.py`, `_TestBarrier.test_barrier`, `test_wait_return`,
//! `test_action`, `test_abort`), a thousand rounds in lockstep, and parties that die.

mod common;

use common::{JoinWithin, STUCK};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use multiproc::sync::{BarrierAction, BarrierError, BrokenReason};
use multiproc::{Array, Barrier, Event};

const LONG: Duration = Duration::from_secs(30);
const ROUNDS: usize = 1000;

/// Runs the rounds as party `me`, checking after each that every party has reached it.
fn lockstep((b, progress, me): (Barrier, Array<u32>, usize)) -> Vec<usize> {
    let mut indices = Vec::with_capacity(ROUNDS);
    for round in 1..=ROUNDS as u32 {
        progress.set(me, round);
        indices.push(b.wait_timeout(LONG).expect("barrier"));
        let all = progress.to_vec();
        assert!(
            all.iter().all(|&p| p == round || p == round + 1),
            "round {round}: progress {all:?}"
        );
    }
    indices
}

static ACTION_RUNS: AtomicU32 = AtomicU32::new(0);

fn count_action() {
    ACTION_RUNS.fetch_add(1, Ordering::Relaxed);
}

/// Waits `rounds` times; returns how often the action ran in this process.
fn party<A: BarrierAction>((b, rounds): (Barrier<A>, u32)) -> u32 {
    for _ in 0..rounds {
        b.wait_timeout(LONG).expect("barrier");
    }
    ACTION_RUNS.load(Ordering::Relaxed)
}

/// Passes once, says so, then hangs around to be killed.
fn pass_once_then_linger((b, passed): (Barrier, Event)) {
    b.wait_timeout(LONG).expect("first round");
    passed.set();
    std::thread::sleep(LONG);
}

/// Waits once and reports how it ended.
fn wait_once(b: Barrier) -> Result<usize, BarrierError> {
    b.wait_timeout(LONG)
}

fn wait_until(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + LONG;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[multiproc::test]
fn five_processes_pass_a_thousand_rounds_in_lockstep() {
    let b = Barrier::new(5);
    assert_eq!(b.parties(), 5);
    let progress = Array::<u32>::new(5);
    let kids: Vec<_> = (0..5)
        .map(|me| multiproc::spawn(lockstep, (b.clone(), progress.clone(), me)))
        .collect();
    let all: Vec<Vec<usize>> = kids
        .into_iter()
        .map(|k| k.join_within(STUCK).unwrap())
        .collect();
    for round in 0..ROUNDS {
        let mut idx: Vec<usize> = all.iter().map(|v| v[round]).collect();
        idx.sort();
        assert_eq!(idx, [0, 1, 2, 3, 4], "round {round}");
    }
    assert_eq!(b.n_waiting(), 0);
    assert!(!b.broken());
}

#[multiproc::test]
fn action_runs_once_per_round() {
    let b = Barrier::with_action(3, count_action);
    let kids: Vec<_> = (0..2)
        .map(|_| multiproc::spawn(party, (b.clone(), 10)))
        .collect();
    let mine = party((b, 10));
    let total: u32 = mine
        + kids
            .into_iter()
            .map(|k| k.join_within(STUCK).unwrap())
            .sum::<u32>();
    assert_eq!(total, 10);
}

#[multiproc::test]
fn abort_breaks_waiting_children() {
    let b = Barrier::new(3);
    let kids: Vec<_> = (0..2)
        .map(|_| multiproc::spawn(wait_once, b.clone()))
        .collect();
    wait_until(|| b.n_waiting() == 2, "two waiters");
    b.abort();
    assert!(b.broken());
    for k in kids {
        assert_eq!(
            k.join_within(STUCK).unwrap(),
            Err(BarrierError::Broken(BrokenReason::Aborted))
        );
    }
    assert_eq!(b.wait(), Err(BarrierError::Broken(BrokenReason::Aborted)));
    b.reset();
    assert!(!b.broken());
}

#[multiproc::test]
fn timeout_of_one_party_breaks_it_for_the_others() {
    let b = Barrier::new(3);
    let child = multiproc::spawn(wait_once, b.clone());
    wait_until(|| b.n_waiting() == 1, "one waiter");
    assert_eq!(
        b.wait_timeout(Duration::from_millis(100)),
        Err(BarrierError::Timeout)
    );
    assert_eq!(
        child.join_within(STUCK).unwrap(),
        Err(BarrierError::Broken(BrokenReason::TimedOut))
    );
}

#[multiproc::test]
fn killed_party_breaks_the_barrier() {
    let b = Barrier::new(2);
    let passed = Event::new();
    let child = multiproc::spawn(pass_once_then_linger, (b.clone(), passed.clone()));
    assert!(b.wait_timeout(LONG).expect("first round") < 2);
    assert!(passed.wait_timeout(LONG));
    let pid = child.pid();
    child.kill().unwrap();
    let t0 = Instant::now();
    assert_eq!(
        b.wait_timeout(LONG),
        Err(BarrierError::Broken(BrokenReason::PartyDied { pid }))
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(child.wait_within(STUCK), -9);
}

#[multiproc::test]
fn party_killed_while_waiting_breaks_the_barrier() {
    let b = Barrier::new(3);
    let child = multiproc::spawn(wait_once, b.clone());
    wait_until(|| b.n_waiting() == 1, "the child to wait");
    let pid = child.pid();
    child.kill().unwrap();
    assert_eq!(
        b.wait_timeout(LONG),
        Err(BarrierError::Broken(BrokenReason::PartyDied { pid }))
    );
    child.wait_within(STUCK);
}

#[multiproc::test]
fn panicking_party_breaks_the_barrier() {
    fn pass_then_panic(b: Barrier) {
        b.wait_timeout(LONG).expect("first round");
        panic!("this party gives up");
    }
    let b = Barrier::new(2);
    let child = multiproc::spawn(pass_then_panic, b.clone());
    b.wait_timeout(LONG).expect("first round");
    let pid = child.pid();
    assert_eq!(
        b.wait_timeout(LONG),
        Err(BarrierError::Broken(BrokenReason::PartyDied { pid }))
    );
    assert!(child.join_within(STUCK).is_err());
}
