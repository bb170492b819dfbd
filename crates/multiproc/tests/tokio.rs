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
    assert!(ticks.load(Ordering::SeqCst) >= 10, "the runtime's thread was blocked");
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
        assert!(Instant::now() < give_up, "child {pid} never reaped (zombie: {})", is_zombie(pid));
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
    assert_eq!(h.wait_async().await.unwrap(), 0, "a second wait answers at once");
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
