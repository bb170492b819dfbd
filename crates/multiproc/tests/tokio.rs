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
