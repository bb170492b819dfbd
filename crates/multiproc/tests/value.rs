//! Value and Array across processes: CPython's `test_multiprocessing` shared-value scenarios
//! (provenance: `Lib/test/_test_multiprocessing.py`, `_TestValue.test_value`,
//! `_TestArray.test_array`), exact counts under the value's lock, a dead lock holder, and
//! values built on an existing lock (Python's `lock=` argument).

use std::time::{Duration, Instant};

use multiproc::shared::SharedLock;
use multiproc::sync::AcquireTimeoutError;
use multiproc::{Array, Event, Lock, RLock, RawArray, RawValue, Value};

const LONG: Duration = Duration::from_secs(20);

#[derive(serde::Serialize, serde::Deserialize)]
struct Shared {
    int: Value<i32>,
    float: Value<f64>,
    pair: Value<[u8; 2]>,
    raw: RawValue<i64>,
    arr: Array<i32>,
    raw_arr: RawArray<u16>,
}

/// Changes everything, as CPython's `_test` helpers do.
fn change(s: Shared) {
    s.int.set(-s.int.get());
    s.float.with_lock(|f| *f *= -1.0);
    *s.pair.lock().unwrap() = [b'x', b'y'];
    s.raw.set(-7);
    let mut a = s.arr.lock().unwrap();
    for (i, x) in a.iter_mut().enumerate() {
        *x = *x * 10 + i as i32;
    }
    drop(a);
    s.raw_arr.set(2, 99);
}

fn add((v, n): (Value<u64>, u32)) {
    for _ in 0..n {
        v.with_lock(|x| *x += 1);
    }
}

fn lock_and_die((v, held): (Value<u32>, Event)) {
    let mut g = v.lock().unwrap();
    *g = 13;
    std::mem::forget(g);
    held.set();
    std::thread::sleep(LONG);
}

#[multiproc::test]
fn values_and_arrays_changed_in_child_are_seen_by_parent() {
    let s = Shared {
        int: Value::new(5),
        float: Value::new(1.25),
        pair: Value::new([b'a', b'b']),
        raw: RawValue::new(7),
        arr: Array::from_slice(&[1, 2, 3, 4]),
        raw_arr: RawArray::new(4),
    };
    assert_eq!(s.raw_arr.to_vec(), [0, 0, 0, 0], "zero-filled");
    let copy = Shared {
        int: s.int.clone(),
        float: s.float.clone(),
        pair: s.pair.clone(),
        raw: s.raw.clone(),
        arr: s.arr.clone(),
        raw_arr: s.raw_arr.clone(),
    };
    multiproc::spawn(change, copy).join().unwrap();
    assert_eq!(s.int.get(), -5);
    assert_eq!(s.float.get(), -1.25);
    assert_eq!(&s.pair.get(), b"xy");
    assert_eq!(s.raw.get(), -7);
    assert_eq!(s.arr.to_vec(), [10, 21, 32, 43]);
    assert_eq!(s.raw_arr.to_vec(), [0, 0, 99, 0]);
}

#[multiproc::test]
fn new_arrays_are_zero_filled() {
    let a = Array::<u64>::new(1000);
    assert!(a.to_vec().iter().all(|&x| x == 0));
    assert_eq!(a.len(), 1000);
    assert_eq!(a.get(1000), None);
}

#[multiproc::test]
fn locked_increments_from_four_processes_are_exact() {
    let v = Value::new(0u64);
    let kids: Vec<_> = (0..4)
        .map(|_| multiproc::spawn(add, (v.clone(), 20_000)))
        .collect();
    for k in kids {
        k.join().unwrap();
    }
    assert_eq!(v.get(), 80_000);
}

#[multiproc::test]
fn value_locked_by_a_killed_process_is_recovered() {
    let (v, held) = (Value::new(0u32), Event::new());
    let child = multiproc::spawn(lock_and_die, (v.clone(), held.clone()));
    assert!(held.wait_timeout(LONG));
    child.kill().unwrap();
    let t0 = Instant::now();
    match v.lock_timeout(LONG) {
        Err(AcquireTimeoutError::HolderDied(d)) => {
            assert_eq!(d.holder(), child.pid());
            let mut g = d.into_inner();
            assert_eq!(*g, 13, "what the dead holder wrote stays");
            *g = 14;
        }
        Err(e) => panic!("expected the holder's death, got {e}"),
        Ok(_) => panic!("expected the holder's death"),
    }
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(v.get(), 14);
    child.wait();
}

/// Sets the value and fills the array, each under its lock (the shared one first).
fn write_both((v, a, started, done): (Value<u32>, Array<u32>, Event, Event)) {
    started.set();
    v.set(1);
    a.with_lock(|xs| xs.fill(2));
    done.set();
}

#[multiproc::test]
fn a_value_and_an_array_on_one_lock_wait_for_its_holder() {
    let lock = Lock::new();
    let v = Value::new_with_lock(0u32, lock.clone());
    let a = Array::new_with_lock(3, lock.clone());
    let (started, done) = (Event::new(), Event::new());
    let held = lock.acquire().unwrap();
    // Held here (by another process than the child's): the value's own lock is free, yet
    // nobody gets at it.
    assert!(v.try_lock().is_err());
    let child = multiproc::spawn(
        write_both,
        (v.clone(), a.clone(), started.clone(), done.clone()),
    );
    assert!(started.wait_timeout(LONG));
    assert!(
        !done.wait_timeout(Duration::from_millis(300)),
        "the child wrote while the shared lock was held"
    );
    drop(held);
    assert!(done.wait_timeout(LONG), "the child never got the lock");
    child.join().unwrap();
    assert_eq!((v.get(), a.to_vec()), (1, vec![2, 2, 2]));
}

/// Moves `n` units from `from` to `to`, one at a time, under the RLock both values share: the
/// lock travels with the values, so `shared_lock` finds it.
fn transfer((from, to, n): (Value<i64>, Value<i64>, u32)) -> u32 {
    let Some(SharedLock::RLock(lock)) = from.shared_lock().cloned() else {
        panic!("the value arrived without its lock");
    };
    let mut broken = 0;
    for _ in 0..n {
        let _both = lock.acquire().unwrap();
        // The thread that holds the RLock may still take each value's lock.
        if from.get() + to.get() != 1000 {
            broken += 1;
        }
        from.set(from.get() - 1);
        to.set(to.get() + 1);
    }
    broken
}

#[multiproc::test]
fn values_on_one_rlock_change_together_across_processes() {
    let lock = RLock::new();
    let a = Value::new_with_lock(1000i64, lock.clone());
    let b = Value::new_with_lock(0i64, lock.clone());
    let kids: Vec<_> = (0..3)
        .map(|i| {
            let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
            multiproc::spawn(transfer, (from.clone(), to.clone(), 2000))
        })
        .collect();
    let mut seen_broken = 0;
    for _ in 0..200 {
        let _both = lock.acquire().unwrap();
        seen_broken += u32::from(a.get() + b.get() != 1000);
    }
    for k in kids {
        assert_eq!(k.join().unwrap(), 0, "a child saw a half-done move");
    }
    assert_eq!(seen_broken, 0, "the parent saw a half-done move");
    // Two children moved 2000 each from a to b, one 2000 back.
    assert_eq!((a.get(), b.get()), (-1000, 2000));
}
