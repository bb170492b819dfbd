//! The manager across processes: every proxy method from a child, nested proxies, reference
//! counting, concurrent clients, registered types, a manager killed or stopped under its
//! clients, clients killed in the middle of a call, and locks whose holder ended. Scenarios
//! after CPython's `test_multiprocessing` manager tests (provenance:
//! `Lib/test/_test_multiprocessing.py`, `_TestContainers`, `_TestNamespace`, `_TestQueue`,
//! `_TestLock`, `_TestMyManager`, `_TestRemoteManager`, `test_manager_types`).

mod common;

use common::{JoinWithin, STUCK};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use multiproc::Manager;
use multiproc::manager::{
    ArrayProxy, BarrierProxy, ConditionProxy, DictProxy, EventProxy, JoinableQueueProxy, ListProxy,
    LockError, LockProxy, ManagerError, Namespace, QueueProxy, RLockProxy, SemaphoreProxy,
    SetProxy, Shared, SharedProxy, ValueProxy,
};
use serde::{Deserialize, Serialize};

const LONG: Duration = Duration::from_secs(20);

/// Joins `h`, failing the test if it takes longer than [`LONG`].
fn join<R: serde::de::DeserializeOwned>(h: multiproc::Handle<R>) -> R {
    assert!(
        h.join_timeout(LONG).is_some(),
        "child did not finish in time"
    );
    h.join_within(STUCK).expect("child failed")
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
    assert!(matches!(
        lock.try_acquire(),
        Err(LockError::Manager(ManagerError::WouldBlock))
    ));
    assert!(matches!(
        lock.acquire_timeout(Duration::from_millis(50)),
        Err(LockError::Manager(ManagerError::Timeout))
    ));
    // ... and so is the rlock, which this process cannot release.
    assert!(matches!(rlock.release(), Err(ManagerError::NotHeld)));
    assert!(matches!(
        rlock.try_acquire(),
        Err(LockError::Manager(ManagerError::WouldBlock))
    ));
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

// ----- concurrency and failures -----

type Shared10 = (
    DictProxy<(u32, u32), u64>,
    DictProxy<String, u64>,
    LockProxy,
    u32,
);

/// 10,000 dict operations: 5,000 sets and 5,000 gets of this client's own keys; then 50
/// increments of a shared counter under a manager lock (lock, get, set, release).
fn hammer((d, totals, lock, me): Shared10) -> u64 {
    let mut sum = 0;
    for k in 0..5000u32 {
        d.set((me, k), u64::from(k)).unwrap();
    }
    for k in 0..5000u32 {
        sum += d.get(&(me, k)).unwrap().expect("own key");
    }
    for _ in 0..50 {
        let _g = lock.acquire().unwrap();
        let n = totals.get("counter").unwrap().unwrap_or(0);
        totals.set("counter".into(), n + 1).unwrap();
    }
    sum
}

#[multiproc::test]
fn ten_clients_ten_thousand_operations_each() {
    let m = Manager::start().unwrap();
    let d = m.dict().unwrap();
    let totals = m.dict().unwrap();
    let lock = m.lock().unwrap();
    let clients: Vec<_> = (0..10)
        .map(|me| multiproc::spawn(hammer, (d.clone(), totals.clone(), lock.clone(), me)))
        .collect();
    let sums: Vec<u64> = clients.into_iter().map(join).collect();
    let each: u64 = (0..5000).sum();
    assert_eq!(sums, vec![each; 10]);
    assert_eq!(d.len().unwrap(), 50_000);
    assert_eq!(d.values().unwrap().iter().sum::<u64>(), each * 10);
    assert_eq!(totals.get("counter").unwrap(), Some(500));
}

fn block_forever(q: QueueProxy<u32>) {
    let _ = q.get();
}

#[multiproc::test]
fn clients_are_served_concurrently_and_may_die_mid_call() {
    let m = Manager::start().unwrap();
    let q = m.queue::<u32>().unwrap();
    let d = m.dict::<u32, u32>().unwrap();
    // A client blocked in a call does not hold up the others...
    let blocked = multiproc::spawn(block_forever, q.clone());
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    d.set(1, 1).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(2));
    // ... and killing it mid-call costs the server nothing: the item put next is not lost to
    // the dead client's abandoned get.
    blocked.kill().unwrap();
    assert_eq!(blocked.join_timeout(LONG), Some(-9));
    std::thread::sleep(Duration::from_millis(300));
    q.put(7).unwrap();
    assert_eq!(q.get_timeout(LONG).unwrap(), 7);
    assert_eq!(d.get(&1).unwrap(), Some(1));
}

fn call_until_error(d: DictProxy<u32, u32>) -> String {
    let deadline = Instant::now() + LONG;
    loop {
        if let Err(e) = d.set(0, 0) {
            return e.to_string();
        }
        assert!(Instant::now() < deadline, "calls kept succeeding");
    }
}

fn wait_on_queue(q: QueueProxy<u32>) -> String {
    q.get().unwrap_err().to_string()
}

#[multiproc::test]
fn manager_killed_calls_fail_fast() {
    let m = Manager::start().unwrap();
    let d = m.dict::<u32, u32>().unwrap();
    let q = m.queue::<u32>().unwrap();
    d.set(1, 1).unwrap();
    let caller = multiproc::spawn(call_until_error, d.clone());
    let waiter = multiproc::spawn(wait_on_queue, q.clone());
    std::thread::sleep(Duration::from_millis(200));
    let pid = m.pid().expect("a server process");
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let t0 = Instant::now();
    let err = d.get(&1).unwrap_err();
    assert!(err.is_disconnect(), "{err}");
    assert!(!join(caller).is_empty());
    assert!(!join(waiter).is_empty());
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(q.try_get().unwrap_err().is_disconnect());
    drop(m);
}

// ----- registered types -----

/// A bank account kept in the manager.
struct Account {
    balance: i64,
    log: Vec<String>,
}

#[derive(Serialize, Deserialize)]
enum AccountCall {
    Deposit(i64),
    Withdraw(i64),
    Balance,
    Log,
    Explode,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum AccountReply {
    Balance(i64),
    Log(Vec<String>),
}

impl Shared for Account {
    type Init = (String, i64);
    type Call = AccountCall;
    type Reply = AccountReply;

    fn new((owner, balance): (String, i64)) -> Result<Self, String> {
        if balance < 0 {
            return Err(format!("{owner} cannot open an account in debt"));
        }
        Ok(Account {
            balance,
            log: vec![format!("opened by {owner}")],
        })
    }

    fn call(&mut self, call: AccountCall) -> Result<AccountReply, String> {
        match call {
            AccountCall::Deposit(n) => {
                self.balance += n;
                self.log.push(format!("+{n}"));
            }
            AccountCall::Withdraw(n) if n > self.balance => {
                return Err(format!("insufficient funds: {} < {n}", self.balance));
            }
            AccountCall::Withdraw(n) => {
                self.balance -= n;
                self.log.push(format!("-{n}"));
            }
            AccountCall::Balance => {}
            AccountCall::Log => return Ok(AccountReply::Log(self.log.clone())),
            AccountCall::Explode => panic!("boom"),
        }
        Ok(AccountReply::Balance(self.balance))
    }
}

/// Never registered.
struct Unregistered;

impl Shared for Unregistered {
    type Init = ();
    type Call = ();
    type Reply = ();

    fn new(_: ()) -> Result<Self, String> {
        Ok(Unregistered)
    }

    fn call(&mut self, _: ()) -> Result<(), String> {
        Ok(())
    }
}

fn deposit_from_child(account: SharedProxy<Account>) {
    for _ in 0..10 {
        account.call(AccountCall::Deposit(1)).unwrap();
    }
}

#[multiproc::test]
fn registered_types() {
    // A server started by spawning a fresh executable knows the registered types too.
    let m = Manager::builder()
        .register::<Account>()
        .start_method(multiproc::StartMethod::Spawn)
        .start()
        .unwrap();
    let account = m.create::<Account>(("ada".into(), 100)).unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| multiproc::spawn(deposit_from_child, account.clone()))
        .collect();
    children.into_iter().for_each(join);
    assert_eq!(
        account.call(AccountCall::Balance).unwrap(),
        AccountReply::Balance(130)
    );
    let err = account.call(AccountCall::Withdraw(1000)).unwrap_err();
    assert!(matches!(err, ManagerError::Remote(_)));
    assert_eq!(err.to_string(), "insufficient funds: 130 < 1000");
    let err = account.call(AccountCall::Explode).unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    // The server survived the panic.
    assert_eq!(
        account.call(AccountCall::Withdraw(30)).unwrap(),
        AccountReply::Balance(100)
    );
    let AccountReply::Log(log) = account.call(AccountCall::Log).unwrap() else {
        panic!("a log")
    };
    assert_eq!(log.len(), 32);
    assert_eq!(log[0], "opened by ada");
    let err = m.create::<Account>(("bob".into(), -1)).unwrap_err();
    assert_eq!(err.to_string(), "bob cannot open an account in debt");
    let err = m.create::<Unregistered>(()).unwrap_err();
    assert!(matches!(err, ManagerError::UnknownType(_)), "{err}");
}

// ----- proxies travel -----

type Carriers = (
    multiproc::Queue<DictProxy<u32, u32>>,
    QueueProxy<DictProxy<u32, u32>>,
);

fn take_from_queues((q, mq): Carriers) {
    let a = q.get_timeout(LONG).expect("a proxy through a Queue");
    a.set(1, 10).unwrap();
    let b = mq
        .get_timeout(LONG)
        .expect("a proxy through a manager queue");
    b.set(2, 20).unwrap();
}

#[multiproc::test]
fn proxies_pass_through_queues() {
    let m = Manager::start().unwrap();
    let base = m.object_count().unwrap();
    let d = m.dict::<u32, u32>().unwrap();
    let q = multiproc::Queue::new();
    let mq = m.queue().unwrap();
    q.put(d.clone()).unwrap();
    mq.put(d.clone()).unwrap();
    let child = multiproc::spawn(take_from_queues, (q, mq.clone()));
    join(child);
    assert_eq!(d.items().unwrap(), [(1, 10), (2, 20)]);
    drop((d, mq));
    let deadline = Instant::now() + LONG;
    while m.object_count().unwrap() != base {
        assert!(Instant::now() < deadline, "objects were not freed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn proxies_are_send_sync_and_cheap_to_clone() {
    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<DictProxy<String, Vec<u8>>>();
    send_sync::<ListProxy<String>>();
    send_sync::<ArrayProxy<u8>>();
    send_sync::<SetProxy<String>>();
    send_sync::<Namespace>();
    send_sync::<ValueProxy<u8>>();
    send_sync::<QueueProxy<u8>>();
    send_sync::<JoinableQueueProxy<u8>>();
    send_sync::<LockProxy>();
    send_sync::<RLockProxy>();
    send_sync::<SemaphoreProxy>();
    send_sync::<EventProxy>();
    send_sync::<ConditionProxy>();
    send_sync::<BarrierProxy>();
    send_sync::<SharedProxy<Account>>();
    fn send_sync_manager<T: Send + Sync>() {}
    send_sync_manager::<Manager>();
}

#[multiproc::test]
fn threads_of_one_process_share_a_proxy() {
    let m = Manager::start().unwrap();
    let d = m.dict::<(u32, u32), u32>().unwrap();
    let rlock = m.rlock().unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (d, rlock) = (&d, &rlock);
            s.spawn(move || {
                for i in 0..200 {
                    d.set((t, i), i).unwrap();
                }
                // The rlock belongs to a thread: another thread cannot release it.
                let g = rlock.acquire_timeout(LONG).unwrap();
                let g2 = rlock.acquire().unwrap();
                drop(g2);
                drop(g);
            });
        }
    });
    assert_eq!(d.len().unwrap(), 800);
    let g = rlock.acquire().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(matches!(rlock.release(), Err(ManagerError::NotHeld)));
            assert!(matches!(
                rlock.try_acquire(),
                Err(LockError::Manager(ManagerError::WouldBlock))
            ));
        });
    });
    drop(g);
}

fn wait_at_barrier(b: BarrierProxy) -> Result<usize, String> {
    b.wait_timeout(LONG).map_err(|e| e.to_string())
}

#[multiproc::test]
fn resetting_a_barrier_breaks_the_round_in_progress() {
    let m = Manager::start().unwrap();
    let b = m.barrier(2).unwrap();
    let child = multiproc::spawn(wait_at_barrier, b.clone());
    let deadline = Instant::now() + LONG;
    while b.n_waiting().unwrap() != 1 {
        assert!(Instant::now() < deadline, "the child never waited");
        std::thread::sleep(Duration::from_millis(5));
    }
    b.reset().unwrap();
    assert_eq!(join(child), Err("the barrier is broken".to_string()));
    assert!(!b.broken().unwrap());
    // The next round works.
    let child = multiproc::spawn(wait_at_barrier, b.clone());
    let mine = b.wait_timeout(LONG).unwrap();
    assert_eq!(mine + join(child).unwrap(), 1);
}

fn wait_for_ready((cond, ns): (ConditionProxy, Namespace)) -> bool {
    let g = cond.acquire_timeout(LONG).unwrap();
    let ready = || ns.get::<bool>("ready").unwrap_or(false);
    let ok = g.wait_for_deadline(Instant::now() + LONG, ready).unwrap();
    // Still held after the wait: notify the parent back.
    ns.set("seen", &true).unwrap();
    g.notify_all().unwrap();
    ok
}

#[multiproc::test]
fn a_condition_between_processes() {
    let m = Manager::start().unwrap();
    let cond = m.condition().unwrap();
    let ns = m.namespace().unwrap();
    let child = multiproc::spawn(wait_for_ready, (cond.clone(), ns.clone()));
    {
        let g = cond.acquire().unwrap();
        ns.set("ready", &true).unwrap();
        g.notify(1).unwrap();
        // Wait (releasing the lock) until the child has seen it.
        let seen = || ns.get::<bool>("seen").unwrap_or(false);
        assert!(g.wait_for_deadline(Instant::now() + LONG, seen).unwrap());
    }
    assert!(join(child));
    // Waiting or notifying without the lock is an error.
    let other = m.condition().unwrap();
    let g = other.acquire().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            let g2 = other.try_acquire();
            assert!(matches!(
                g2,
                Err(LockError::Manager(ManagerError::WouldBlock))
            ));
        });
    });
    g.release().unwrap();
}

// ----- new kinds and options, from a child -----

type Extras = (
    ArrayProxy<i64>,
    SetProxy<String>,
    ListProxy<i32>,
    JoinableQueueProxy<u32>,
);

fn extras_child((array, set, list, jq): Extras) {
    // Array: fixed length, slices.
    assert_eq!(array.len().unwrap(), 5);
    array.set(0, -1).unwrap();
    array.set_slice(3, [30, 40]).unwrap();
    assert_eq!(array.get(1).unwrap(), 1);
    assert_eq!(array.slice(2..5).unwrap(), [2, 30, 40]);
    assert!(matches!(
        array.set(5, 0),
        Err(ManagerError::IndexOutOfRange { index: 5, len: 5 })
    ));
    assert!(array.set_slice(4, [1, 2]).is_err(), "does not fit");
    // Set.
    assert!(set.insert("x".into()).unwrap());
    assert!(!set.insert("a".into()).unwrap(), "already there");
    assert!(set.remove("b").unwrap());
    assert!(!set.remove("b").unwrap());
    assert!(set.contains("x").unwrap());
    set.difference_update(["a".to_string()]).unwrap();
    assert_eq!(set.to_vec().unwrap(), ["c", "x"]);
    assert_eq!(set.union(["y".to_string()]).unwrap(), ["c", "x", "y"]);
    assert!(set.is_subset(["c", "x", "z"].map(String::from)).unwrap());
    assert!(set.is_disjoint(["q".to_string()]).unwrap());
    // List sort: by T's order, by key, reversed.
    list.sort().unwrap();
    assert_eq!(list.to_vec().unwrap(), [-3, 1, 2, 5]);
    list.sort_by_key(|v| v.abs()).unwrap();
    assert_eq!(list.to_vec().unwrap(), [1, 2, -3, 5]);
    list.sort_by(|a, b| b.cmp(a)).unwrap();
    assert_eq!(list.to_vec().unwrap(), [5, 2, 1, -3]);
    // A bounded joinable queue: full at its size, joined when every item is done.
    assert_eq!(jq.capacity().unwrap(), 2);
    assert_eq!(jq.get_timeout(LONG).unwrap(), 1);
    jq.task_done().unwrap();
    assert_eq!(jq.get_timeout(LONG).unwrap(), 2);
    jq.task_done().unwrap();
}

#[multiproc::test]
fn arrays_sets_sorted_lists_and_bounded_joinable_queues_from_a_child() {
    let m = Manager::start().unwrap();
    let array = m.array(0..5i64).unwrap();
    let set = m.set_from(["a", "b", "c"].map(String::from)).unwrap();
    let list = m.list_from([2, -3, 5, 1]).unwrap();
    let jq = m.bounded_joinable_queue::<u32>(2).unwrap();
    jq.put(1).unwrap();
    jq.put(2).unwrap();
    assert!(matches!(jq.try_put(3), Err(ManagerError::Full)));
    assert!(!jq.join_timeout(Duration::from_millis(50)).unwrap());
    let child = multiproc::spawn(
        extras_child,
        (array.clone(), set.clone(), list.clone(), jq.clone()),
    );
    assert!(jq.join_timeout(LONG).unwrap(), "the child marked both done");
    join(child);
    assert_eq!(array.to_vec().unwrap(), [-1, 1, 2, 30, 40]);
    assert_eq!(set.len().unwrap(), 2);
    assert_eq!(list.to_vec().unwrap(), [5, 2, 1, -3]);
    assert_eq!(jq.unfinished().unwrap(), 0);
}

fn shuffle_list((list, rounds): (ListProxy<u32>, u32)) {
    for i in 0..rounds {
        list.push(1000 + i).unwrap();
        list.reverse().unwrap();
    }
}

#[multiproc::test]
fn a_list_sort_is_atomic_while_another_process_changes_the_list() {
    let m = Manager::start().unwrap();
    let list = m.list_from((0..200u32).rev()).unwrap();
    let child = multiproc::spawn(shuffle_list, (list.clone(), 300));
    for _ in 0..20 {
        list.sort().unwrap();
    }
    join(child);
    list.sort().unwrap();
    let v = list.to_vec().unwrap();
    assert_eq!(v.len(), 500, "no value lost or doubled by a sort");
    assert!(v.windows(2).all(|w| w[0] <= w[1]));
}

// ----- the server's initializer -----

static INITIALIZED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Reads what the initializer left in the server's process.
struct InitSeen;

impl Shared for InitSeen {
    type Init = ();
    type Call = ();
    type Reply = u32;

    fn new(_: ()) -> Result<Self, String> {
        Ok(InitSeen)
    }

    fn call(&mut self, _: ()) -> Result<u32, String> {
        Ok(INITIALIZED.load(std::sync::atomic::Ordering::SeqCst))
    }
}

fn init_server((report, value): (multiproc::Connection, u32)) {
    INITIALIZED.store(value, std::sync::atomic::Ordering::SeqCst);
    report.send(&std::process::id()).unwrap();
}

fn failing_init(_: ()) {
    panic!("no configuration");
}

fn read_init(seen: SharedProxy<InitSeen>) -> u32 {
    seen.call(()).unwrap()
}

#[multiproc::test]
fn an_initializer_runs_in_the_server_process_before_it_serves() {
    let (here, there) = multiproc::pipe(true);
    let m = Manager::builder()
        .register::<InitSeen>()
        .initializer(init_server, (there, 42))
        .start()
        .unwrap();
    let pid: u32 = here.recv_timeout(LONG).unwrap();
    assert_eq!(Some(pid), m.pid(), "it ran in the server's process");
    assert_ne!(pid, std::process::id());
    let seen = m.create::<InitSeen>(()).unwrap();
    assert_eq!(join(multiproc::spawn(read_init, seen)), 42);
    assert_eq!(
        INITIALIZED.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "not here"
    );

    let err = Manager::builder()
        .initializer(failing_init, ())
        .start()
        .unwrap_err();
    assert!(matches!(err, ManagerError::StartFailed(_)), "{err}");
    assert!(err.to_string().contains("no configuration"), "{err}");
}

// ----- nothing handed to a dead client is lost -----

fn get_forever((q, ready): (QueueProxy<u32>, EventProxy)) {
    ready.set().unwrap();
    let _ = q.get();
}

#[multiproc::test]
fn regression_a_client_killed_in_a_blocking_get_swallows_no_item() {
    let m = Manager::start().unwrap();
    let q = m.queue::<u32>().unwrap();
    for round in 0..60u32 {
        let ready = m.event().unwrap();
        let child = multiproc::spawn(get_forever, (q.clone(), ready.clone()));
        assert!(ready.wait_timeout(LONG).unwrap());
        // Give the child's get some time to reach the server (or not: neither may lose the
        // item), then kill it and put an item right away.
        std::thread::sleep(Duration::from_millis(u64::from(round % 5) * 4));
        child.kill().unwrap();
        q.put(round).unwrap();
        assert!(child.join_timeout(LONG).is_some());
        assert_eq!(
            q.get_timeout(LONG).unwrap(),
            round,
            "round {round}: the item went to the dead client"
        );
    }
    assert_eq!(q.len().unwrap(), 0);
}

fn many_getters((q, ready, n): (QueueProxy<u32>, EventProxy, u32)) {
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                let _ = q.get();
            });
        }
        ready.set().unwrap();
    });
}

#[multiproc::test]
fn a_killed_client_with_many_blocked_gets_swallows_no_item() {
    let m = Manager::start().unwrap();
    let q = m.queue::<u32>().unwrap();
    let ready = m.event().unwrap();
    let child = multiproc::spawn(many_getters, (q.clone(), ready.clone(), 8));
    assert!(ready.wait_timeout(LONG).unwrap());
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    for i in 0..8 {
        q.put(i).unwrap();
    }
    assert!(child.join_timeout(LONG).is_some());
    let mut got: Vec<u32> = (0..8).map(|_| q.get_timeout(LONG).unwrap()).collect();
    got.sort();
    assert_eq!(got, (0..8).collect::<Vec<_>>());
}

#[multiproc::test]
fn a_get_whose_item_cannot_be_decoded_leaves_it_in_the_queue() {
    let m = Manager::start().unwrap();
    let q = m.queue::<String>().unwrap();
    q.put("a string".into()).unwrap();
    // The same queue read as another type, through the root namespace.
    m.root().unwrap().set("q", &q).unwrap();
    let wrong: QueueProxy<[u64; 32]> = m.root().unwrap().get("q").unwrap();
    let err = wrong.get_timeout(LONG).unwrap_err();
    assert!(matches!(err, ManagerError::Decode(_)), "{err}");
    assert_eq!(q.len().unwrap(), 1, "the item is still there");
    assert_eq!(q.get_timeout(LONG).unwrap(), "a string");
}

/// For each word from the parent, reads the queue as the wrong type, and answers once the get
/// has failed.
fn get_as_the_wrong_type(args: (QueueProxy<[u64; 32]>, multiproc::Connection)) {
    let (wrong, parent) = args;
    while let Ok(round) = parent.recv::<u32>() {
        let err = wrong.get_timeout(LONG).unwrap_err();
        assert!(matches!(err, ManagerError::Decode(_)), "{err}");
        parent.send(&round).unwrap();
    }
}

/// Regression: a get that could not decode its item failed before the server had the item
/// back, so a call right after it from another process sometimes found the queue empty.
#[multiproc::test]
fn regression_an_undecodable_item_is_back_before_the_get_fails() {
    let _watchdog = common::watchdog();
    let m = Manager::start().unwrap();
    let q = m.queue::<String>().unwrap();
    m.root().unwrap().set("q", &q).unwrap();
    let wrong: QueueProxy<[u64; 32]> = m.root().unwrap().get("q").unwrap();
    let (here, there) = multiproc::connection::pipe(true);
    let child = multiproc::spawn(get_as_the_wrong_type, (wrong, there));
    for round in 0..200u32 {
        q.put(format!("item {round}")).unwrap();
        here.send(&round).unwrap();
        assert_eq!(here.recv_timeout::<u32>(LONG).unwrap(), round);
        assert_eq!(
            q.len().unwrap(),
            1,
            "round {round}: the item is not back yet"
        );
        assert_eq!(q.get_timeout(LONG).unwrap(), format!("item {round}"));
    }
    drop(here);
    join(child);
}

// ----- locks whose holder ended -----

fn acquire_and_return(lock: LockProxy) {
    // Python's hand-over: the lock stays held after this process ends.
    std::mem::forget(lock.acquire().unwrap());
}

#[multiproc::test]
fn regression_a_lock_acquired_by_a_child_that_exits_is_handed_over() {
    let m = Manager::start().unwrap();
    let lock = m.lock().unwrap();
    join(multiproc::spawn(acquire_and_return, lock.clone()));
    assert!(lock.locked().unwrap(), "still held after the child ended");
    // It was handed over, not left by a death: an acquirer waits for a release.
    assert!(matches!(
        lock.acquire_timeout(Duration::from_millis(300)),
        Err(LockError::Manager(ManagerError::Timeout))
    ));
    // Any process may release a Lock, as in Python.
    lock.release()
        .expect("the parent releases the child's lock");
    let g = lock.acquire_timeout(LONG).expect("an ordinary acquire");
    g.release().unwrap();
}

fn hold_until_killed((lock, held): (LockProxy, EventProxy)) {
    std::mem::forget(lock.acquire().unwrap());
    held.set().unwrap();
    std::thread::sleep(LONG);
}

#[multiproc::test]
fn a_lock_whose_holder_was_killed_goes_to_its_next_acquirer_with_the_news() {
    let m = Manager::start().unwrap();
    let lock = m.lock().unwrap();
    let held = m.event().unwrap();
    let holder = multiproc::spawn(hold_until_killed, (lock.clone(), held.clone()));
    let pid = holder.pid();
    assert!(held.wait_timeout(LONG).unwrap());
    std::thread::scope(|s| {
        // An acquirer that was already waiting when the holder died.
        let waiter = s.spawn(|| match lock.acquire_timeout(LONG) {
            Err(LockError::HolderDied(died)) => {
                assert_eq!(died.holder(), pid);
                died.into_inner().release().unwrap();
            }
            other => panic!("expected the holder's death, got {other:?}"),
        });
        std::thread::sleep(Duration::from_millis(200));
        holder.kill().unwrap();
        assert!(holder.join_timeout(LONG).is_some());
        waiter.join().unwrap();
    });
    // Only that acquirer heard of it.
    lock.acquire_timeout(LONG)
        .expect("an ordinary acquire")
        .release()
        .unwrap();

    // Before anyone acquires it, another process may still release it.
    held.clear().unwrap();
    let holder = multiproc::spawn(hold_until_killed, (lock.clone(), held.clone()));
    assert!(held.wait_timeout(LONG).unwrap());
    holder.kill().unwrap();
    assert!(holder.join_timeout(LONG).is_some());
    lock.release().expect("released by another process");
    let g = lock.acquire_timeout(LONG).expect("an ordinary acquire");
    drop(g);
}

fn hold_rlock_and_condition((rlock, cond): (RLockProxy, ConditionProxy)) {
    std::mem::forget(rlock.acquire().unwrap());
    std::mem::forget(rlock.acquire().unwrap());
    std::mem::forget(cond.acquire().unwrap());
}

#[multiproc::test]
fn an_rlock_or_condition_whose_owner_ended_is_taken_over() {
    let m = Manager::start().unwrap();
    let rlock = m.rlock().unwrap();
    let cond = m.condition().unwrap();
    let child = multiproc::spawn(hold_rlock_and_condition, (rlock.clone(), cond.clone()));
    let pid = child.pid();
    join(child);
    // Nobody else may release them, so the next acquirer takes them over.
    assert!(matches!(rlock.release(), Err(ManagerError::NotHeld)));
    let died = rlock.acquire_timeout(LONG).unwrap_err().into_holder_died();
    let g = died.expect("taken over").into_inner();
    assert!(rlock.locked().unwrap());
    drop(g);
    assert!(!rlock.locked().unwrap(), "held once by its new owner");
    let g = match cond.acquire_timeout(LONG) {
        Err(LockError::HolderDied(d)) => {
            assert_eq!(d.holder(), pid);
            d.into_inner()
        }
        other => panic!("expected the holder's death, got {other:?}"),
    };
    g.notify_all().unwrap();
    g.release().unwrap();
    // `?` in a function returning ManagerError turns the news into an error (and releases).
    let as_error = |r: Result<multiproc::manager::ProxyGuard<'_>, LockError<_>>| {
        r.map(drop).map_err(ManagerError::from)
    };
    assert!(as_error(rlock.acquire()).is_ok());
}

fn acquire_blocked((lock, ready): (LockProxy, EventProxy)) {
    ready.set().unwrap();
    let _ = lock.acquire();
}

#[multiproc::test]
fn a_lock_acquired_for_a_client_that_died_waiting_is_not_held() {
    let m = Manager::start().unwrap();
    let lock = m.lock().unwrap();
    let ready = m.event().unwrap();
    let g = lock.acquire().unwrap();
    let child = multiproc::spawn(acquire_blocked, (lock.clone(), ready.clone()));
    assert!(ready.wait_timeout(LONG).unwrap());
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    g.release().unwrap();
    assert!(child.join_timeout(LONG).is_some());
    let g = lock
        .acquire_timeout(LONG)
        .expect("free: the dead waiter did not keep it");
    drop(g);
}

// ----- deadlines: a stopped server -----

/// Sends `signal` (`STOP`, `CONT`) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Continues a stopped process when dropped, even if the test fails.
struct Stopped(u32);

impl Stopped {
    fn new(pid: u32) -> Stopped {
        signal(pid, "STOP");
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

/// A call to run, and its name for the failure message.
type NamedCall<'a> = (
    &'static str,
    Box<dyn FnOnce() -> Result<(), ManagerError> + Send + 'a>,
);

/// Runs every `calls` at once, each on its own thread; each must fail as a disconnect after at
/// least `at_least` and within `bound` of `since`.
fn all_fail_in_time(
    calls: Vec<NamedCall<'_>>,
    since: Instant,
    at_least: Duration,
    bound: Duration,
) {
    std::thread::scope(|s| {
        let runs: Vec<_> = calls
            .into_iter()
            .map(|(name, call)| (name, s.spawn(move || (call(), since.elapsed()))))
            .collect();
        for (name, run) in runs {
            let (result, took) = run.join().unwrap();
            let err = result.expect_err(name);
            assert!(err.is_disconnect(), "{name}: {err}");
            assert!(took >= at_least, "{name} gave up early: {took:?}");
            assert!(took < bound, "{name} took {took:?}: {err}");
        }
    });
}

#[derive(Clone, Serialize, Deserialize)]
struct Everything {
    d: DictProxy<u32, u32>,
    l: ListProxy<u32>,
    a: ArrayProxy<u32>,
    s: SetProxy<u32>,
    ns: Namespace,
    v: ValueProxy<u32>,
    q: QueueProxy<u32>,
    jq: JoinableQueueProxy<u32>,
    lock: LockProxy,
    rlock: RLockProxy,
    sem: SemaphoreProxy,
    event: EventProxy,
    cond: ConditionProxy,
    barrier: BarrierProxy,
    account: SharedProxy<Account>,
}

impl Everything {
    fn new(m: &Manager) -> Everything {
        let e = Everything {
            d: m.dict().unwrap(),
            l: m.list_from([3, 1, 2]).unwrap(),
            a: m.array([0; 3]).unwrap(),
            s: m.set().unwrap(),
            ns: m.namespace().unwrap(),
            v: m.value(0).unwrap(),
            q: m.queue().unwrap(),
            jq: m.joinable_queue().unwrap(),
            lock: m.lock().unwrap(),
            rlock: m.rlock().unwrap(),
            sem: m.semaphore(0).unwrap(),
            event: m.event().unwrap(),
            cond: m.condition().unwrap(),
            barrier: m.barrier(3).unwrap(),
            account: m.create::<Account>(("ada".into(), 1)).unwrap(),
        };
        e.jq.put(1).unwrap();
        e.ns.set("x", &1).unwrap();
        e
    }

    /// Every kind of call that waits on the server for ever.
    fn waits(&self) -> Vec<NamedCall<'_>> {
        vec![
            ("queue get", Box::new(|| self.q.get().map(drop))),
            ("joinable queue join", Box::new(|| self.jq.join())),
            ("event wait", Box::new(|| self.event.wait().map(drop))),
            (
                "semaphore acquire",
                Box::new(|| self.sem.acquire().map(drop)),
            ),
            ("barrier wait", Box::new(|| self.barrier.wait().map(drop))),
            (
                "lock acquire",
                Box::new(|| self.lock.acquire().map(drop).map_err(ManagerError::from)),
            ),
            (
                "condition wait",
                Box::new(|| {
                    let g = self.cond.acquire().map_err(ManagerError::from)?;
                    let r = g.wait().map_err(ManagerError::from);
                    std::mem::forget(g);
                    r
                }),
            ),
        ]
    }

    /// Every kind of call, once.
    fn calls<'a>(&'a self, m: &'a Manager) -> Vec<NamedCall<'a>> {
        let short = Duration::from_secs(60);
        vec![
            ("dict len", Box::new(|| self.d.len().map(drop))),
            ("dict set", Box::new(|| self.d.set(1, 1))),
            ("list push", Box::new(|| self.l.push(1))),
            ("list sort", Box::new(|| self.l.sort())),
            ("array get", Box::new(|| self.a.get(0).map(drop))),
            ("set insert", Box::new(|| self.s.insert(1).map(drop))),
            (
                "namespace get",
                Box::new(|| self.ns.get::<u32>("x").map(drop)),
            ),
            ("value set", Box::new(|| self.v.set(2))),
            ("queue put", Box::new(|| self.q.put(1))),
            (
                "queue get_timeout",
                Box::new(move || self.q.get_timeout(short).map(drop)),
            ),
            ("joinable task_done", Box::new(|| self.jq.task_done())),
            ("lock release", Box::new(|| self.lock.release())),
            (
                "rlock acquire_timeout",
                Box::new(move || {
                    self.rlock
                        .acquire_timeout(short)
                        .map(drop)
                        .map_err(Into::into)
                }),
            ),
            ("semaphore release", Box::new(|| self.sem.release())),
            ("event set", Box::new(|| self.event.set())),
            (
                "event wait_timeout",
                Box::new(move || self.event.wait_timeout(short).map(drop)),
            ),
            (
                "condition acquire",
                Box::new(|| self.cond.acquire().map(drop).map_err(Into::into)),
            ),
            (
                "barrier n_waiting",
                Box::new(|| self.barrier.n_waiting().map(drop)),
            ),
            (
                "registered type call",
                Box::new(|| self.account.call(AccountCall::Balance).map(drop)),
            ),
            ("manager ping", Box::new(|| m.ping())),
            ("manager dict", Box::new(|| m.dict::<u8, u8>().map(drop))),
            ("manager root", Box::new(|| m.root().map(drop))),
            (
                "manager object_count",
                Box::new(|| m.object_count().map(drop)),
            ),
        ]
    }
}

const STOPPED_TIMEOUT: Duration = Duration::from_secs(2);

#[multiproc::test]
fn a_stopped_server_is_an_error_within_the_bound_for_every_kind_of_call() {
    let m = Manager::builder()
        .register::<Account>()
        .timeout(STOPPED_TIMEOUT)
        .start()
        .unwrap();
    let pid = m.pid().unwrap();
    let e = Everything::new(&m);
    let held = e.lock.acquire().unwrap();
    std::mem::forget(held);
    // (An upper bound generous for a loaded machine; the point is that none waits for ever.)
    let bound = STOPPED_TIMEOUT + Duration::from_secs(8);
    {
        // Calls that were already waiting on the server when it stopped...
        std::thread::scope(|s| {
            let waiting = s.spawn(|| {
                let start = Instant::now();
                all_fail_in_time(
                    e.waits(),
                    start,
                    Duration::from_millis(500),
                    bound + Duration::from_millis(500),
                );
            });
            std::thread::sleep(Duration::from_millis(500));
            let _stopped = Stopped::new(pid);
            waiting.join().unwrap();
            // ... and calls made while it is stopped, of every kind.
            let since = Instant::now();
            all_fail_in_time(e.calls(&m), since, STOPPED_TIMEOUT / 2, bound);
        });
    }
    // Continued, the server answers again; the abandoned calls took nothing.
    m.ping().unwrap();
    e.q.put(7).unwrap();
    assert_eq!(e.q.get_timeout(LONG).unwrap(), 7);
    // A timed get returns after its own time, not the connection's timeout.
    let t0 = Instant::now();
    assert!(matches!(
        e.q.get_timeout(Duration::from_secs(1)),
        Err(ManagerError::Empty)
    ));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

fn timed_get(q: QueueProxy<u32>) -> (bool, Duration) {
    let t0 = Instant::now();
    let r = q.get_timeout(Duration::from_secs(2));
    (matches!(r, Err(ManagerError::Empty)), t0.elapsed())
}

#[multiproc::test]
fn regression_a_timed_get_that_must_connect_returns_after_its_own_time() {
    let m = Manager::builder()
        .timeout(Duration::from_secs(30))
        .start()
        .unwrap();
    let q = m.queue::<u32>().unwrap();
    // A fresh process connects on its first call.
    let (empty, took) = join(multiproc::spawn(timed_get, q.clone()));
    assert!(empty);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );
    // A proxy's own timeout bounds it; it travels to the child with the proxy.
    let q = q.with_timeout(Duration::from_millis(1500));
    assert_eq!(q.timeout(), Duration::from_millis(1500));
    let stopped = Stopped::new(m.pid().unwrap());
    let (empty, took) = join(multiproc::spawn(timed_get, q.clone()));
    drop(stopped);
    assert!(!empty, "the server is stopped");
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(8),
        "{took:?}"
    );
}

// ----- leaving no trace -----

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn use_and_die((q, d): (QueueProxy<u32>, DictProxy<u32, u32>)) {
    d.set(1, 1).unwrap();
    let _ = q.get_timeout(LONG);
}

/// The body of `no_descriptor_leak_after_managers_come_and_go`, run alone in a fresh process
/// (descriptor counts mean nothing while other tests run).
fn managers_come_and_go() {
    let cycle = || {
        let m = Manager::builder()
            .timeout(Duration::from_secs(5))
            .start()
            .unwrap();
        let q = m.queue::<u32>().unwrap();
        let d = m.dict::<u32, u32>().unwrap();
        let child = multiproc::spawn(use_and_die, (q.clone(), d.clone()));
        let deadline = Instant::now() + LONG;
        while d.len().unwrap() == 0 {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        assert!(child.join_timeout(LONG).is_some());
        q.put(1).unwrap();
        assert_eq!(q.get_timeout(LONG).unwrap(), 1);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| d.set(2, 2).unwrap());
            }
        });
        m.shutdown().unwrap();
    };
    cycle();
    let before = open_fds();
    for _ in 0..10 {
        cycle();
    }
    assert_eq!(open_fds(), before, "descriptors leaked");
}

#[multiproc::test]
fn no_descriptor_leak_after_managers_come_and_go() {
    if std::env::var_os("MANAGER_LEAK_CHILD").is_some() {
        return managers_come_and_go();
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "no_descriptor_leak_after_managers_come_and_go",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MANAGER_LEAK_CHILD", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}
