//! Value and Array across processes: CPython's `test_multiprocessing` shared-value scenarios
//! (provenance: `Lib/test/_test_multiprocessing.py`, `_TestValue.test_value`,
//! `_TestArray.test_array`), exact counts under the value's lock, and a dead lock holder.

use std::time::{Duration, Instant};

use multiproc::sync::AcquireTimeoutError;
use multiproc::{Array, Event, RawArray, RawValue, Value};

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
