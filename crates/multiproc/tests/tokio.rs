//! The async API (feature `tokio`), on `current_thread` runtimes: one thread awaits many
//! processes, connections, queues and primitives at once, and other tasks keep running.

#![cfg(feature = "tokio")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use multiproc::{Handle, ProcessError};

/// Aborts the test binary if the test is still running after `limit` (a hung future on a
/// `current_thread` runtime could block the timer that a `tokio::time::timeout` needs).
struct Watchdog(Arc<AtomicBool>);

fn watchdog(limit: Duration) -> Watchdog {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        let start = Instant::now();
        while !d.load(Ordering::SeqCst) {
            if start.elapsed() > limit {
                eprintln!("test still running after {limit:?}: aborting");
                std::process::abort();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    Watchdog(done)
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A task that counts 5 ms ticks until dropped: proof that the runtime's one thread was free.
fn ticker() -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let ticks = Arc::new(AtomicU64::new(0));
    let t = ticks.clone();
    let task = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            t.fetch_add(1, Ordering::SeqCst);
        }
    });
    (ticks, task)
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Whether `pid` is a process that has not been reaped (running, or a zombie).
fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

// ----- processes -----

#[tokio::test(flavor = "current_thread")]
async fn twenty_children_sleeping_half_a_second_are_awaited_together() {
    let _w = watchdog(Duration::from_secs(60));
    let handles: Vec<Handle<u64>> = (0..20).map(|_| multiproc::spawn(nap, 500)).collect();
    let (ticks, ticker) = ticker();
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for h in handles {
        set.spawn(h.join_async());
    }
    let mut results = Vec::new();
    while let Some(r) = set.join_next().await {
        results.push(r.unwrap().unwrap());
    }
    let took = t0.elapsed();
    ticker.abort();
    assert_eq!(results, [500; 20]);
    // Sequential joins would take 10 s; together, about one nap.
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(
        ticks.load(Ordering::SeqCst) >= 10,
        "the runtime's thread was blocked"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn join_async_dropped_by_a_timeout_leaves_the_child_running_then_reaped() {
    let _w = watchdog(Duration::from_secs(60));
    let h = multiproc::spawn(nap, 500);
    let pid = h.pid();
    let r = tokio::time::timeout(Duration::from_millis(50), h.join_async()).await;
    assert!(r.is_err(), "the child cannot have ended yet");
    // Detached, not killed: it still runs.
    assert!(exists(pid) && !is_zombie(pid));
    let give_up = Instant::now() + Duration::from_secs(20);
    while exists(pid) {
        assert!(
            Instant::now() < give_up,
            "child {pid} never reaped (zombie: {})",
            is_zombie(pid)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn wait_async_under_a_timeout_keeps_the_handle() {
    let _w = watchdog(Duration::from_secs(60));
    let h = multiproc::spawn(nap, 300);
    let r = tokio::time::timeout(Duration::from_millis(20), h.wait_async()).await;
    assert!(r.is_err());
    assert_eq!(h.exitcode(), None);
    assert_eq!(h.wait_async().await.unwrap(), 0);
    assert_eq!(
        h.wait_async().await.unwrap(),
        0,
        "a second wait answers at once"
    );
    assert_eq!(h.join_async().await.unwrap(), 300);
}

#[tokio::test(flavor = "current_thread")]
async fn two_tasks_wait_for_one_child_and_two_receive_on_one_end() {
    let _w = watchdog(Duration::from_secs(60));
    // The reactor holds each descriptor once: the second waiter registers a duplicate.
    let h = Arc::new(multiproc::spawn(nap, 100));
    let waits: Vec<_> = (0..2)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.wait_async().await.unwrap() })
        })
        .collect();
    for w in waits {
        assert_eq!(w.await.unwrap(), 0);
    }
    let (a, b) = multiproc::pipe(true);
    let b = Arc::new(b);
    let recvs: Vec<_> = (0..2)
        .map(|_| {
            let b = b.clone();
            tokio::spawn(async move { b.recv_async::<u32>().await.unwrap() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.send(&1u32).unwrap();
    a.send(&2u32).unwrap();
    let mut got = Vec::new();
    for r in recvs {
        got.push(r.await.unwrap());
    }
    got.sort_unstable();
    assert_eq!(got, [1, 2]);
}

fn fail(code: i32) {
    if code == 0 {
        panic!("boom");
    }
    multiproc::exit(code);
}

#[tokio::test(flavor = "current_thread")]
async fn join_async_reports_panics_exits_and_signals_like_join() {
    let _w = watchdog(Duration::from_secs(60));
    match multiproc::spawn(fail, 0).join_async().await {
        Err(ProcessError::Panicked { message, .. }) => assert_eq!(message, "boom"),
        other => panic!("{other:?}"),
    }
    match multiproc::spawn(fail, 3).join_async().await {
        Err(ProcessError::Exited { code: 3, .. }) => {}
        other => panic!("{other:?}"),
    }
    let h = multiproc::spawn(nap, 30_000);
    h.kill().unwrap();
    assert_eq!(h.wait_async().await.unwrap(), -9);
    assert!(matches!(
        h.join_async().await,
        Err(ProcessError::Signaled { signal: 9, .. })
    ));
}

fn big(n: usize) -> Vec<u8> {
    vec![7; n]
}

#[tokio::test(flavor = "current_thread")]
async fn a_result_larger_than_the_socket_buffer_is_collected_while_waiting() {
    let _w = watchdog(Duration::from_secs(60));
    // The child blocks writing its 8 MiB result until the parent reads it.
    let v = multiproc::spawn(big, 8 << 20).join_async().await.unwrap();
    assert_eq!(v.len(), 8 << 20);
}

#[test]
fn join_async_outside_a_runtime_is_an_error_not_a_hang() {
    let h = multiproc::spawn(nap, 5_000);
    let err = poll_once_blocking(h.wait_async());
    assert!(err.unwrap_err().to_string().contains("tokio runtime"));
    h.kill().unwrap();
    assert_eq!(h.wait(), -9);
}

/// Runs `fut` to completion on this thread with a waker that does nothing, polling until it
/// is ready (for futures that complete or fail without a runtime).
fn poll_once_blocking<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        assert!(Instant::now() < give_up, "the future never completed");
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ----- connections -----

/// Answers `n + 1` to each `n`, pausing a millisecond before every tenth answer.
fn echo_plus_one(conn: multiproc::Connection) {
    while let Ok(n) = conn.recv::<u64>() {
        if n % 10 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        conn.send(&(n + 1)).unwrap();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_thousand_message_ping_pong_while_a_ticker_ticks() {
    let _w = watchdog(Duration::from_secs(60));
    let (here, there) = multiproc::pipe(true);
    let child = multiproc::spawn(echo_plus_one, there);
    let (ticks, ticker) = ticker();
    let before = ticks.load(Ordering::SeqCst);
    let t0 = Instant::now();
    let mut n = 0u64;
    for _ in 0..1000 {
        here.send_async(&n).await.unwrap();
        n = here.recv_async().await.unwrap();
    }
    let (took, ticked) = (t0.elapsed(), ticks.load(Ordering::SeqCst) - before);
    ticker.abort();
    assert_eq!(n, 1000);
    // The echo paused 100 times for at least 1 ms: more than 100 ms in which a receive that
    // blocked the runtime's one thread would have stopped the ticker.
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(ticked >= 5, "the ticker ticked {ticked} times in {took:?}");
    drop(here);
    child.join_async().await.unwrap();
}

fn take_bytes(conn: multiproc::Connection) -> Vec<usize> {
    let mut lens = Vec::new();
    while let Ok(m) = conn.recv_bytes() {
        lens.push(m.len());
    }
    lens
}

#[tokio::test(flavor = "current_thread")]
async fn messages_larger_than_the_socket_buffer_go_both_ways() {
    let _w = watchdog(Duration::from_secs(60));
    let (a, b) = multiproc::pipe(true);
    let big: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    let sender = {
        let big = big.clone();
        tokio::spawn(async move {
            a.send_bytes_async(&big).await.unwrap();
            a.send_async(&big).await.unwrap();
            a
        })
    };
    assert!(b.recv_bytes_async().await.unwrap() == big);
    assert!(b.recv_async::<Vec<u8>>().await.unwrap() == big);
    let a = sender.await.unwrap();
    // And to a process that reads with the blocking API.
    let (here, there) = multiproc::pipe(true);
    let child = multiproc::spawn(take_bytes, there);
    for len in [0, 1, 3 << 20, 10] {
        here.send_bytes_async(&vec![1; len]).await.unwrap();
    }
    drop(here);
    assert_eq!(child.join_async().await.unwrap(), [0, 1, 3 << 20, 10]);
    drop(a);
    assert!(matches!(
        b.recv_bytes_async().await,
        Err(multiproc::connection::Error::Disconnected)
    ));
}

fn take_three(conn: multiproc::Connection) -> Vec<u64> {
    (0..3).map(|_| conn.recv::<u64>().unwrap()).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_receive_takes_its_message_only() {
    let _w = watchdog(Duration::from_secs(60));
    let (rx, tx) = multiproc::pipe(false);
    for i in 0..5u64 {
        tx.send(&i).unwrap();
    }
    // This end is shared with a child: what the async receive leaves is the child's.
    assert_eq!(rx.recv_async::<u64>().await.unwrap(), 0);
    let child = multiproc::spawn(take_three, rx.try_clone().unwrap());
    assert_eq!(child.join_async().await.unwrap(), [1, 2, 3]);
    assert_eq!(rx.recv_async::<u64>().await.unwrap(), 4);
}

#[tokio::test(flavor = "current_thread")]
async fn a_receive_dropped_in_the_middle_of_a_message_loses_nothing() {
    let _w = watchdog(Duration::from_secs(60));
    let (a, b) = multiproc::pipe(true);
    let big: Vec<u8> = vec![5; 4 << 20];
    // Half a message: a raw frame header, then half the body, from a thread that pauses.
    let writer = {
        let big = big.clone();
        std::thread::spawn(move || {
            let mut header = (big.len() as u32).to_be_bytes().to_vec();
            header.extend_from_slice(&big[..big.len() / 2]);
            // Through a second (blocking) handle on the same socket.
            use std::io::Write;
            use std::os::fd::AsFd;
            let mut raw = std::fs::File::from(a.as_fd().try_clone_to_owned().unwrap());
            raw.write_all(&header).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            raw.write_all(&big[big.len() / 2..]).unwrap();
            a
        })
    };
    let r = tokio::time::timeout(Duration::from_millis(100), b.recv_bytes_async()).await;
    assert!(r.is_err(), "the message cannot be whole yet");
    // The half that arrived stays with the connection: a blocking receive completes it.
    assert!(b.recv_bytes_timeout(Duration::from_secs(10)).unwrap() == big);
    drop(writer.join().unwrap());
}

#[tokio::test(flavor = "current_thread")]
async fn a_send_dropped_in_the_middle_of_a_message_is_finished_by_the_next_send() {
    let _w = watchdog(Duration::from_secs(60));
    let (a, b) = multiproc::pipe(true);
    let big: Vec<u8> = vec![9; 8 << 20];
    // Nobody reads yet: the send fills the socket and is dropped part way.
    let r = tokio::time::timeout(Duration::from_millis(100), a.send_bytes_async(&big)).await;
    assert!(r.is_err(), "8 MiB cannot fit in the socket");
    // The end holds part of a message: it cannot be cloned or sent meanwhile.
    assert!(a.try_clone().is_err());
    let reader = std::thread::spawn(move || {
        let first = b.recv_bytes_timeout(Duration::from_secs(20)).unwrap();
        let second = b.recv_bytes_timeout(Duration::from_secs(20)).unwrap();
        (first.len(), first.iter().all(|&x| x == 9), second)
    });
    a.send_bytes_async(b"next").await.unwrap();
    let (len, intact, second) = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    assert_eq!((len, intact), (8 << 20, true));
    assert_eq!(second, b"next");
    assert!(a.try_clone().is_ok());
}

#[tokio::test(flavor = "current_thread")]
async fn a_blocking_receive_on_another_thread_and_an_async_one_share_an_end() {
    let _w = watchdog(Duration::from_secs(60));
    let (a, b) = multiproc::pipe(true);
    let b = Arc::new(b);
    let blocked = {
        let b = b.clone();
        std::thread::spawn(move || b.recv::<u64>().unwrap())
    };
    // Let the thread take the receive lock and block in it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        a.send(&1u64).unwrap();
        a.send(&2u64).unwrap();
        a
    });
    let mine = b.recv_async::<u64>().await.unwrap();
    let theirs = tokio::task::spawn_blocking(move || blocked.join().unwrap())
        .await
        .unwrap();
    let mut both = [mine, theirs];
    both.sort_unstable();
    assert_eq!(both, [1, 2]);
    drop(sender.join().unwrap());
}

// ----- queues -----

use multiproc::{Event, JoinableQueue, Lock, Queue, Semaphore, SimpleQueue};

fn produce((q, n): (Queue<u64>, u64)) {
    for i in 0..n {
        q.put(i).unwrap();
    }
}

fn consume_sum((q, n): (Queue<u64>, u64)) -> u64 {
    (0..n).map(|_| q.get().unwrap()).sum()
}

#[tokio::test(flavor = "current_thread")]
async fn ten_thousand_items_through_a_bounded_queue_between_processes() {
    let _w = watchdog(Duration::from_secs(120));
    // From a child, in order.
    let q = Queue::<u64>::bounded(16);
    let child = multiproc::spawn(produce, (q.clone(), 10_000));
    for i in 0..10_000 {
        assert_eq!(q.get_async().await.unwrap(), i);
    }
    child.join_async().await.unwrap();
    // To a child.
    let child = multiproc::spawn(consume_sum, (q.clone(), 10_000));
    for i in 0..10_000 {
        q.put_async(i).await.unwrap();
    }
    assert_eq!(child.join_async().await.unwrap(), 9_999 * 10_000 / 2);
    assert!(q.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_producer_task_and_a_consumer_task_share_one_thread() {
    let _w = watchdog(Duration::from_secs(120));
    // A tiny bound: each side waits for the other thousands of times, on the runtime's one
    // thread. Either side blocking the thread would deadlock (and the watchdog would abort).
    let q = Queue::<u64>::bounded(4);
    let producer = {
        let q = q.clone();
        tokio::spawn(async move {
            for i in 0..10_000 {
                q.put_async(i).await.unwrap();
            }
        })
    };
    let mut expected = 0;
    while expected < 10_000 {
        assert_eq!(q.get_async().await.unwrap(), expected);
        expected += 1;
    }
    producer.await.unwrap();
}

fn work_and_mark_done((q, n): (JoinableQueue<u64>, u64)) {
    for _ in 0..n {
        q.get().unwrap();
        std::thread::sleep(Duration::from_millis(1));
        q.task_done().unwrap();
    }
}

fn put_three(q: SimpleQueue<String>) {
    for s in ["a", "b", "c"] {
        std::thread::sleep(Duration::from_millis(20));
        q.put(s.to_owned()).unwrap();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn joinable_and_simple_queues() {
    let _w = watchdog(Duration::from_secs(60));
    let q = JoinableQueue::<u64>::bounded(8);
    let child = multiproc::spawn(work_and_mark_done, (q.clone(), 50));
    for i in 0..50 {
        q.put_async(i).await.unwrap();
    }
    let (ticks, ticker) = ticker();
    q.join_async().await;
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(
        ticks.load(Ordering::SeqCst) >= 1,
        "the runtime's thread was blocked"
    );
    ticker.abort();
    child.join_async().await.unwrap();

    let sq = SimpleQueue::<String>::new();
    let child = multiproc::spawn(put_three, sq.clone());
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(sq.get_async().await.unwrap());
    }
    assert_eq!(got, ["a", "b", "c"]);
    child.join_async().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_get_takes_nothing_and_a_closed_queue_says_so() {
    let _w = watchdog(Duration::from_secs(60));
    let q = Queue::<u64>::new();
    let r = tokio::time::timeout(Duration::from_millis(20), q.get_async()).await;
    assert!(r.is_err());
    q.put(7).unwrap();
    assert_eq!(q.try_get().unwrap(), 7);
    q.close();
    assert!(matches!(
        q.get_async().await,
        Err(multiproc::queue::GetError::Closed)
    ));
    assert!(matches!(
        q.put_async(1).await,
        Err(multiproc::queue::PutError::Closed(1))
    ));
}

#[test]
fn cancelled_async_getters_never_steal_a_blocked_threads_wake() {
    let _w = watchdog(Duration::from_secs(120));
    let q = Queue::<u64>::new();
    let stop = Arc::new(AtomicBool::new(false));
    // Tasks that keep starting gets and dropping them, on their own runtime thread.
    let churn = {
        let (q, stop) = (q.clone(), stop.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut taken = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(Ok(v)) =
                        tokio::time::timeout(Duration::from_micros(300), q.get_async()).await
                    {
                        taken.push(v);
                    }
                }
                taken
            })
        })
    };
    // A blocked consumer thread must get each item it waits for, whoever was woken. (A wake
    // lost to a withdrawn task would leave it asleep until its bound.)
    let consumer = {
        let q = q.clone();
        std::thread::spawn(move || {
            let mut taken = Vec::new();
            while let Ok(v) = q.get_timeout(Duration::from_secs(30)) {
                if v == u64::MAX {
                    return (taken, Some(Instant::now()));
                }
                taken.push(v);
            }
            (taken, None)
        })
    };
    for i in 0..300 {
        q.put(i).unwrap();
        std::thread::sleep(Duration::from_micros(500));
    }
    stop.store(true, Ordering::SeqCst);
    let mut all = churn.join().unwrap();
    // The last item goes to the blocked consumer (the tasks have stopped): it must wake.
    std::thread::sleep(Duration::from_millis(20));
    let put_at = Instant::now();
    q.put(u64::MAX).unwrap();
    let (theirs, got_at) = consumer.join().unwrap();
    let took = got_at.expect("the blocked consumer never got the last item") - put_at;
    assert!(
        took < Duration::from_secs(5),
        "the blocked consumer slept {took:?}: a lost wake"
    );
    all.extend(theirs);
    all.extend(std::iter::from_fn(|| q.try_get().ok()));
    all.sort_unstable();
    assert_eq!(all, (0..300).collect::<Vec<_>>());
}

// ----- events, locks, semaphores -----

fn set_later((e, ms): (Event, u64)) {
    std::thread::sleep(Duration::from_millis(ms));
    e.set();
}

#[tokio::test(flavor = "current_thread")]
async fn an_event_set_by_a_child_wakes_the_task() {
    let _w = watchdog(Duration::from_secs(60));
    let e = Event::new();
    let child = multiproc::spawn(set_later, (e.clone(), 200));
    let (ticks, ticker) = ticker();
    let t0 = Instant::now();
    e.wait_async().await;
    let took = t0.elapsed();
    ticker.abort();
    assert!(e.is_set());
    assert!(
        took >= Duration::from_millis(100) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert!(
        ticks.load(Ordering::SeqCst) >= 5,
        "the runtime's thread was blocked"
    );
    child.join_async().await.unwrap();
    // Set already: at once. Cleared: a timeout ends the wait.
    e.wait_async().await;
    e.clear();
    let r = tokio::time::timeout(Duration::from_millis(30), e.wait_async()).await;
    assert!(r.is_err());
}

#[tokio::test(flavor = "current_thread")]
async fn two_hundred_tasks_wait_on_two_hundred_events() {
    let _w = watchdog(Duration::from_secs(60));
    // More distinct words than one waker thread takes (127).
    let events: Vec<Event> = (0..200).map(|_| Event::new()).collect();
    let done = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for e in &events {
        let (e, done) = (e.clone(), done.clone());
        set.spawn(async move {
            e.wait_async().await;
            done.fetch_add(1, Ordering::SeqCst);
        });
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(done.load(Ordering::SeqCst), 0);
    // Set from another process, every other one first.
    let setter = multiproc::spawn(set_all, events.iter().step_by(2).cloned().collect());
    setter.join_async().await.unwrap();
    let give_up = Instant::now() + Duration::from_secs(10);
    while done.load(Ordering::SeqCst) < 100 {
        assert!(
            Instant::now() < give_up,
            "{} of 100 woke",
            done.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for e in events.iter().skip(1).step_by(2) {
        e.set();
    }
    while set.join_next().await.is_some() {}
    assert_eq!(done.load(Ordering::SeqCst), 200);
}

fn set_all(events: Vec<Event>) {
    for e in events {
        e.set();
    }
}

fn hold_lock((lock, ready, ms): (Lock, Event, u64)) {
    let _g = lock.acquire().unwrap();
    ready.set();
    std::thread::sleep(Duration::from_millis(ms));
}

fn die_holding((lock, ready): (Lock, Event)) {
    std::mem::forget(lock.acquire().unwrap());
    ready.set();
    std::thread::sleep(Duration::from_millis(50));
    multiproc::exit(0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_lock_held_by_a_child_is_acquired_when_released_or_when_its_holder_dies() {
    let _w = watchdog(Duration::from_secs(60));
    let (lock, ready) = (Lock::new(), Event::new());
    let child = multiproc::spawn(hold_lock, (lock.clone(), ready.clone(), 200));
    ready.wait_async().await;
    let (ticks, ticker) = ticker();
    let guard = lock.acquire_async().await.unwrap();
    ticker.abort();
    assert!(
        ticks.load(Ordering::SeqCst) >= 5,
        "the runtime's thread was blocked"
    );
    let busy = tokio::time::timeout(Duration::from_millis(20), lock.acquire_async()).await;
    assert!(busy.is_err());
    drop(guard);
    child.join_async().await.unwrap();

    let ready = Event::new();
    let child = multiproc::spawn(die_holding, (lock.clone(), ready.clone()));
    ready.wait_async().await;
    match lock.acquire_async().await {
        Err(died) => assert_eq!(died.holder(), child.pid()),
        Ok(_) => panic!("the holder's death was not reported"),
    }
    assert_eq!(child.wait_async().await.unwrap(), 0);
    assert!(!lock.locked());
}

fn release_later((s, ms): (Semaphore, u64)) {
    std::thread::sleep(Duration::from_millis(ms));
    s.release().unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_semaphore_released_by_a_child_admits_one_task() {
    let _w = watchdog(Duration::from_secs(60));
    let s = Semaphore::new(0);
    let child = multiproc::spawn(release_later, (s.clone(), 100));
    let waiter = |s: Semaphore| async move {
        let unit = tokio::time::timeout(Duration::from_millis(600), s.acquire_async()).await;
        unit.map(std::mem::forget).is_ok()
    };
    // One unit for two waiters: one gets it, the other times out.
    let (a, b) = tokio::join!(waiter(s.clone()), waiter(s.clone()));
    assert!(a != b, "{a} {b}");
    assert_eq!(s.get_value(), 0);
    child.join_async().await.unwrap();
}

// ----- pools -----

fn square_slowly(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(20));
    x * x
}

fn fail_on_three(x: u64) -> u64 {
    assert!(x != 3, "three");
    x
}

#[tokio::test(flavor = "current_thread")]
async fn pool_results_are_awaited() {
    let _w = watchdog(Duration::from_secs(120));
    let pool = multiproc::Pool::new(2).unwrap();
    let (ticks, ticker) = ticker();
    assert_eq!(
        pool.apply_async(square_slowly, 7).unwrap().await.unwrap(),
        49
    );
    let squares = pool
        .map_async(square_slowly, 0..20u64)
        .unwrap()
        .await
        .unwrap();
    assert_eq!(squares, (0..20u64).map(|x| x * x).collect::<Vec<_>>());
    // Many at once, from tasks on the one thread.
    let mut set = tokio::task::JoinSet::new();
    for x in 0..16u64 {
        let r = pool.apply_async(square_slowly, x).unwrap();
        set.spawn(async move { (x, r.await.unwrap()) });
    }
    while let Some(r) = set.join_next().await {
        let (x, sq) = r.unwrap();
        assert_eq!(sq, x * x);
    }
    ticker.abort();
    assert!(
        ticks.load(Ordering::SeqCst) >= 10,
        "the runtime's thread was blocked"
    );
    // A failed task is an error, as from `get`.
    let err = pool
        .map_async(fail_on_three, 0..5u64)
        .unwrap()
        .await
        .unwrap_err();
    assert!(
        matches!(err, multiproc::PoolError::Task { index: 3, .. }),
        "{err}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_get_async_keeps_the_result() {
    let _w = watchdog(Duration::from_secs(60));
    let pool = multiproc::Pool::new(1).unwrap();
    let r = pool.apply_async(nap, 200).unwrap();
    let early = tokio::time::timeout(Duration::from_millis(20), r.get_async()).await;
    assert!(early.is_err());
    assert_eq!(r.get_async().await.unwrap(), 200);
    assert!(matches!(
        r.get_async().await,
        Err(multiproc::PoolError::Taken)
    ));
}

// ----- with CPython -----

/// What `python/connection_peer.py` checks: message `seed` of `size` bytes.
fn py_pattern(size: usize, seed: usize) -> Vec<u8> {
    (0..size).map(|i| ((seed * 31 + i) % 251) as u8).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn async_bytes_messages_round_trip_through_cpython() {
    use std::io::BufRead;
    let _w = watchdog(Duration::from_secs(120));
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/connection_peer.py");
    let mut python = std::process::Command::new("python3")
        .arg(script)
        .args(["server", "tcp", "k"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut out = std::io::BufReader::new(python.stdout.take().unwrap());
    let mut address = String::new();
    out.read_line(&mut address).unwrap();
    let address: multiproc::connection::Address = address.trim().parse().unwrap();
    // Connecting and the handshake block: off the runtime's thread.
    let conn = tokio::task::spawn_blocking(move || {
        multiproc::Client::new(address).authkey(b"k").connect()
    })
    .await
    .unwrap()
    .unwrap();
    let sizes = [0, 1, 70_000, 3 << 20];
    for (seed, size) in sizes.into_iter().enumerate() {
        let message = py_pattern(size, seed);
        conn.send_bytes_async(&message).await.unwrap();
        assert!(
            conn.recv_bytes_async().await.unwrap() == message,
            "message {seed}"
        );
    }
    drop(conn);
    let mut done = String::new();
    out.read_line(&mut done).unwrap();
    assert_eq!(done.trim(), "done 4");
    assert!(python.wait().unwrap().success());
}

#[test]
fn cancelled_async_acquires_never_steal_a_blocked_threads_wake() {
    let _w = watchdog(Duration::from_secs(120));
    let s = Semaphore::new(0);
    // Tasks that start acquires and drop them: the waker thread is left asleep on the word,
    // first in the kernel's line for it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let until = Instant::now() + Duration::from_millis(100);
        while Instant::now() < until {
            let r = tokio::time::timeout(Duration::from_micros(300), s.acquire_async()).await;
            assert!(r.is_err(), "no unit was released yet");
        }
    });
    // A thread asleep in acquire, behind it, for the one unit that will be released.
    let blocked = {
        let s = s.clone();
        std::thread::spawn(move || {
            let unit = s.acquire_timeout(Duration::from_secs(30));
            let at = Instant::now();
            unit.map(|u| {
                std::mem::forget(u);
                at
            })
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let released_at = Instant::now();
    s.release().unwrap();
    let got_at = blocked
        .join()
        .unwrap()
        .expect("the blocked thread never got the unit");
    let took = got_at - released_at;
    assert!(
        took < Duration::from_secs(5),
        "the blocked thread slept {took:?}: a lost wake"
    );
    assert_eq!(s.get_value(), 0);
}
