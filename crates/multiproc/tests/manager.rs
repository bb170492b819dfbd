//! The manager across processes: every proxy method from a child, nested proxies, reference
//! counting, concurrent clients, registered types, and a manager killed under its clients.
//! Scenarios after CPython's `test_multiprocessing` manager tests (provenance:
//! `Lib/test/_test_multiprocessing.py`, `_TestContainers`, `_TestNamespace`, `_TestQueue`,
//! `_TestMyManager`, `_TestRemoteManager`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use multiproc::Manager;
use multiproc::manager::{
    BarrierProxy, ConditionProxy, DictProxy, EventProxy, JoinableQueueProxy, ListProxy, LockProxy,
    ManagerError, Namespace, QueueProxy, RLockProxy, SemaphoreProxy, Shared, SharedProxy,
    ValueProxy,
};
use serde::{Deserialize, Serialize};

const LONG: Duration = Duration::from_secs(20);

/// Joins `h`, failing the test if it takes longer than [`LONG`].
fn join<R: serde::de::DeserializeOwned>(h: multiproc::Handle<R>) -> R {
    assert!(
        h.join_timeout(LONG).is_some(),
        "child did not finish in time"
    );
    h.join().expect("child failed")
}

// ----- dict -----

fn dict_child(d: DictProxy<String, i64>) -> Vec<String> {
    let mut seen = Vec::new();
    d.set("a".into(), 1).unwrap();
    assert_eq!(d.insert("b".into(), 2).unwrap(), None);
    assert_eq!(d.insert("b".into(), 3).unwrap(), Some(2));
    assert_eq!(d.get("b").unwrap(), Some(3));
    assert_eq!(d.get("zzz").unwrap(), None);
    assert!(d.contains_key("a").unwrap());
    assert!(!d.contains_key("zzz").unwrap());
    assert_eq!(d.len().unwrap(), 3, "the parent put one entry before");
    d.update([("c".to_string(), 4), ("d".to_string(), 5)])
        .unwrap();
    assert_eq!(d.remove("d").unwrap(), Some(5));
    assert_eq!(d.remove("d").unwrap(), None);
    assert_eq!(d.setdefault("e".into(), 6).unwrap(), 6);
    assert_eq!(d.setdefault("e".into(), 7).unwrap(), 6);
    assert_eq!(d.pop_item().unwrap(), Some(("e".to_string(), 6)));
    seen.extend(d.keys().unwrap());
    assert_eq!(d.values().unwrap(), [0, 1, 3, 4]);
    assert_eq!(
        d.items().unwrap(),
        [
            ("first".to_string(), 0),
            ("a".to_string(), 1),
            ("b".to_string(), 3),
            ("c".to_string(), 4)
        ]
    );
    let copy: HashMap<String, i64> = d.copy().unwrap();
    assert_eq!(copy.len(), 4);
    seen
}

#[multiproc::test]
fn every_dict_method_from_a_child() {
    let m = Manager::start().unwrap();
    let d = m.dict::<String, i64>().unwrap();
    d.set("first".into(), 0).unwrap();
    let keys = join(multiproc::spawn(dict_child, d.clone()));
    assert_eq!(keys, ["first", "a", "b", "c"], "insertion order is kept");
    assert_eq!(d.len().unwrap(), 4);
    d.clear().unwrap();
    assert!(d.is_empty().unwrap());
}

// ----- list -----

fn list_child(l: ListProxy<u32>) {
    l.push(1).unwrap();
    l.extend([2, 3, 2]).unwrap();
    l.insert(0, 9).unwrap();
    l.insert(100, 7).unwrap(); // past the end: appended, as in Python
    assert_eq!(l.to_vec().unwrap(), [9, 1, 2, 3, 2, 7]);
    assert_eq!(l.len().unwrap(), 6);
    assert_eq!(l.get(0).unwrap(), Some(9));
    assert_eq!(l.get(6).unwrap(), None);
    l.set(0, 8).unwrap();
    assert!(matches!(
        l.set(6, 0),
        Err(ManagerError::IndexOutOfRange { index: 6, len: 6 })
    ));
    assert_eq!(l.index(&2).unwrap(), 2);
    assert_eq!(l.count(&2).unwrap(), 2);
    assert!(l.contains(&3).unwrap());
    assert!(!l.contains(&42).unwrap());
    l.remove(&2).unwrap();
    assert!(matches!(l.remove(&42), Err(ManagerError::NotInList)));
    assert!(matches!(l.index(&42), Err(ManagerError::NotInList)));
    assert_eq!(l.pop().unwrap(), Some(7));
    assert_eq!(l.pop_at(0).unwrap(), 8);
    l.reverse().unwrap();
    assert_eq!(l.to_vec().unwrap(), [2, 3, 1]);
}

#[multiproc::test]
fn every_list_method_from_a_child() {
    let m = Manager::start().unwrap();
    let l = m.list::<u32>().unwrap();
    join(multiproc::spawn(list_child, l.clone()));
    assert_eq!(l.to_vec().unwrap(), [2, 3, 1]);
    l.clear().unwrap();
    assert!(l.is_empty().unwrap());
    assert_eq!(l.pop().unwrap(), None);
    let from = m.list_from(["x".to_string(), "y".to_string()]).unwrap();
    assert_eq!(from.to_vec().unwrap(), ["x", "y"]);
}

// ----- namespace and value -----

fn namespace_child((ns, v): (Namespace, ValueProxy<Vec<u8>>)) {
    assert_eq!(ns.get::<String>("set_by_parent").unwrap(), "hello");
    let err = ns.get::<u32>("value").unwrap_err();
    assert_eq!(
        err.to_string(),
        "'Namespace' object has no attribute 'value'"
    );
    ns.set("value", &42u32).unwrap();
    ns.set("gone", &()).unwrap();
    ns.delete("gone").unwrap();
    assert!(matches!(ns.delete("gone"), Err(ManagerError::NoAttribute(n)) if n == "gone"));
    assert!(ns.contains("value").unwrap());
    assert_eq!(ns.names().unwrap(), ["set_by_parent", "value"]);
    assert_eq!(v.get().unwrap(), [1, 2]);
    assert_eq!(v.swap(vec![3]).unwrap(), [1, 2]);
    v.set(vec![4, 5]).unwrap();
}

#[multiproc::test]
fn namespace_and_value_from_a_child() {
    let m = Manager::start().unwrap();
    let ns = m.namespace().unwrap();
    ns.set("set_by_parent", "hello").unwrap();
    let v = m.value(vec![1u8, 2]).unwrap();
    join(multiproc::spawn(namespace_child, (ns.clone(), v.clone())));
    assert_eq!(ns.get::<u32>("value").unwrap(), 42);
    assert_eq!(v.get().unwrap(), [4, 5]);
}

// ----- queues -----

fn queue_child((q, jq): (QueueProxy<String>, JoinableQueueProxy<u32>)) {
    q.put("from child".into()).unwrap();
    for _ in 0..3 {
        let n = jq.get_timeout(LONG).unwrap();
        assert!(n < 3);
        jq.task_done().unwrap();
    }
}

#[multiproc::test]
fn queues_from_a_child() {
    let m = Manager::start().unwrap();
    let q = m.queue::<String>().unwrap();
    let jq = m.joinable_queue::<u32>().unwrap();
    for i in 0..3 {
        jq.put(i).unwrap();
    }
    assert_eq!(jq.unfinished().unwrap(), 3);
    assert!(!jq.try_join().unwrap());
    let child = multiproc::spawn(queue_child, (q.clone(), jq.clone()));
    assert_eq!(q.get_timeout(LONG).unwrap(), "from child");
    assert!(jq.join_timeout(LONG).unwrap());
    join(child);
    assert!(matches!(jq.task_done(), Err(ManagerError::Invalid(m)) if m.contains("too many")));
    assert!(q.is_empty().unwrap());
    assert!(matches!(q.try_get(), Err(ManagerError::Empty)));
    let t0 = Instant::now();
    assert!(matches!(
        q.get_timeout(Duration::from_millis(100)),
        Err(ManagerError::Empty)
    ));
    assert!(t0.elapsed() >= Duration::from_millis(100));
    let bounded = m.bounded_queue::<u8>(1).unwrap();
    bounded.put(1).unwrap();
    assert!(bounded.is_full().unwrap());
    assert!(matches!(bounded.try_put(2), Err(ManagerError::Full)));
    assert!(matches!(
        bounded.put_deadline(2, Instant::now() + Duration::from_millis(50)),
        Err(ManagerError::Full)
    ));
    assert_eq!(bounded.len().unwrap(), 1);
    assert_eq!(bounded.capacity().unwrap(), 1);
}

// ----- locks and friends -----

type SyncSet = (
    LockProxy,
    RLockProxy,
    SemaphoreProxy,
    EventProxy,
    ConditionProxy,
    BarrierProxy,
);

fn sync_child((lock, rlock, sem, event, cond, barrier): SyncSet) -> usize {
    // The parent holds the lock: it is busy here.
    assert!(lock.locked().unwrap());
    assert!(matches!(lock.try_acquire(), Err(ManagerError::WouldBlock)));
    assert!(matches!(
        lock.acquire_timeout(Duration::from_millis(50)),
        Err(ManagerError::Timeout)
    ));
    // ... and so is the rlock, which this process cannot release.
    assert!(matches!(rlock.release(), Err(ManagerError::NotHeld)));
    assert!(matches!(rlock.try_acquire(), Err(ManagerError::WouldBlock)));
    let s = sem.acquire().unwrap();
    assert_eq!(sem.get_value().unwrap(), 0);
    drop(s);
    event.set().unwrap();
    {
        let g = cond.acquire().unwrap();
        g.notify_all().unwrap();
    }
    barrier.wait_timeout(LONG).unwrap()
}

#[multiproc::test]
fn locks_events_conditions_barriers_from_a_child() {
    let m = Manager::start().unwrap();
    let set: SyncSet = (
        m.lock().unwrap(),
        m.rlock().unwrap(),
        m.semaphore(1).unwrap(),
        m.event().unwrap(),
        m.condition().unwrap(),
        m.barrier(2).unwrap(),
    );
    let (lock, rlock, sem, event, cond, barrier) = &set;
    let held = lock.acquire().unwrap();
    let r1 = rlock.acquire().unwrap();
    let r2 = rlock.acquire().unwrap();
    let child = multiproc::spawn(sync_child, set.clone());
    assert!(event.wait_timeout(LONG).unwrap());
    let mine = barrier.wait_timeout(LONG).unwrap();
    let theirs = join(child);
    assert_eq!(mine + theirs, 1);
    drop(held);
    assert!(!lock.locked().unwrap());
    assert!(matches!(lock.release(), Err(ManagerError::NotHeld)));
    drop(r2);
    assert!(rlock.locked().unwrap());
    drop(r1);
    assert!(!rlock.locked().unwrap());
    assert_eq!(sem.get_value().unwrap(), 1);
    let bounded = m.bounded_semaphore(1).unwrap();
    assert!(matches!(
        bounded.release(),
        Err(ManagerError::TooManyReleases)
    ));
    let g = cond.acquire().unwrap();
    assert!(!g.wait_timeout(Duration::from_millis(20)).unwrap());
    assert!(
        cond.locked().unwrap(),
        "a timed-out wait takes the lock back"
    );
    drop(g);
    assert!(barrier.wait_timeout(Duration::from_millis(20)).is_err());
    assert!(barrier.broken().unwrap(), "a timeout breaks the barrier");
    barrier.reset().unwrap();
    assert!(!barrier.broken().unwrap());
    assert_eq!(barrier.parties().unwrap(), 2);
    assert_eq!(barrier.n_waiting().unwrap(), 0);
    barrier.abort().unwrap();
    assert!(matches!(barrier.wait(), Err(ManagerError::BrokenBarrier)));
    event.clear().unwrap();
    assert!(!event.is_set().unwrap());
    assert!(!event.try_wait().unwrap());
}

// ----- nested proxies -----

fn bump_inner(outer: DictProxy<String, DictProxy<String, u32>>) {
    let inner = outer.get("inner").unwrap().expect("inner dict");
    inner.set("count".into(), 1).unwrap();
}

#[multiproc::test]
fn nested_proxies_propagate_updates_and_plain_values_are_copies() {
    let m = Manager::start().unwrap();
    let outer = m.dict::<String, DictProxy<String, u32>>().unwrap();
    let inner = m.dict::<String, u32>().unwrap();
    outer.set("inner".into(), inner.clone()).unwrap();
    drop(inner); // the outer dict keeps the inner one alive
    join(multiproc::spawn(bump_inner, outer.clone()));
    let inner = outer.get("inner").unwrap().unwrap();
    assert_eq!(inner.get("count").unwrap(), Some(1));

    // A plain nested value is a copy, as in Python.
    let ns = m.namespace().unwrap();
    ns.set("my_list", &Vec::<String>::new()).unwrap();
    let mut local: Vec<String> = ns.get("my_list").unwrap();
    local.push("changed".into());
    assert!(ns.get::<Vec<String>>("my_list").unwrap().is_empty());
}

#[multiproc::test]
fn dropped_proxies_free_their_objects() {
    let m = Manager::start().unwrap();
    let base = m.object_count().unwrap();
    {
        let outer = m.dict::<u32, ListProxy<u32>>().unwrap();
        for i in 0..5 {
            let l = m.list::<u32>().unwrap();
            l.push(i).unwrap();
            outer.set(i, l).unwrap();
        }
        assert_eq!(m.object_count().unwrap(), base + 6);
        // Passed to a child and back: still one object each.
        let copy = join(multiproc::spawn(
            |d: DictProxy<u32, ListProxy<u32>>| d,
            outer.clone(),
        ));
        assert_eq!(copy.get(&3).unwrap().unwrap().to_vec().unwrap(), [3]);
        assert_eq!(outer.remove(&0).unwrap().unwrap().pop().unwrap(), Some(0));
    }
    // Reference drops are messages: allow them a moment to arrive.
    let deadline = Instant::now() + LONG;
    while m.object_count().unwrap() != base {
        assert!(Instant::now() < deadline, "objects were not freed");
        std::thread::sleep(Duration::from_millis(10));
    }
}
