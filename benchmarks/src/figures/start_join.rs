//! `start_join.{forkserver,spawn,fork}`: milliseconds per process for a trivial target,
//! started and joined one after the other; `start_join.async_many`: many children awaited
//! at once by tasks on one thread, against one thread per child.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use multiproc::{Event, Handle, Process, StartMethod};

use crate::figure::{BoxError, CROSSMIST, Figure, Mode, PROCSPAWN, Peer, Script};

/// The figures of this group.
pub(super) fn figures() -> Vec<Box<dyn Figure>> {
    vec![
        Box::new(StartJoin(Method::ForkServer)),
        Box::new(StartJoin(Method::Spawn)),
        Box::new(StartJoin(Method::Fork)),
        Box::new(AsyncMany),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Method {
    ForkServer,
    Spawn,
    Fork,
}

/// Start and join a trivial process with one start method.
#[derive(Debug)]
struct StartJoin(Method);

fn trivial(_: ()) {}

impl StartJoin {
    fn start_method(&self) -> StartMethod {
        match self.0 {
            Method::ForkServer => StartMethod::ForkServer,
            Method::Spawn => StartMethod::Spawn,
            // SAFETY: the harness is single-threaded: it starts no threads, and multiproc
            // starts processes from the calling thread when that is the main thread, as it is
            // here. So no other thread can hold a lock when the child is forked.
            Method::Fork => unsafe { StartMethod::fork() },
        }
    }

    /// Processes started per round, and unmeasured ones started before.
    fn counts(&self, mode: Mode) -> (u32, u32) {
        match self.0 {
            Method::ForkServer => (mode.pick(2000, 300), 10),
            Method::Spawn => (mode.pick(500, 100), 5),
            Method::Fork => (mode.pick(2000, 300), 10),
        }
    }
}

/// How long one trivial process may take before the figure fails instead of waiting on.
const LIMIT: Duration = Duration::from_secs(30);

fn start_join(method: StartMethod) -> Result<(), BoxError> {
    let handle = Process::new(trivial, ()).start_method(method).start()?;
    if handle.join_timeout(LIMIT).is_none() {
        let _ = handle.kill();
        return Err(format!("a trivial process ran longer than {LIMIT:?}").into());
    }
    handle.join()?;
    Ok(())
}

impl Figure for StartJoin {
    fn name(&self) -> &'static str {
        match self.0 {
            Method::ForkServer => "start_join.forkserver",
            Method::Spawn => "start_join.spawn",
            Method::Fork => "start_join.fork",
        }
    }

    fn description(&self) -> &'static str {
        match self.0 {
            Method::ForkServer => "start + join of a trivial process, forkserver, sequential",
            Method::Spawn => "start + join of a trivial process, spawn, sequential",
            Method::Fork => "start + join of a trivial process, fork, sequential",
        }
    }

    fn unit(&self) -> &'static str {
        "ms"
    }

    fn higher_is_better(&self) -> bool {
        false
    }

    fn target(&self) -> Option<f64> {
        match self.0 {
            Method::ForkServer => Some(0.4),
            Method::Spawn => Some(1.5),
            Method::Fork => None,
        }
    }

    fn measure(&self, mode: Mode) -> Result<f64, BoxError> {
        let method = self.start_method();
        let (n, warmup) = self.counts(mode);
        for _ in 0..warmup {
            start_join(method)?;
        }
        let t0 = Instant::now();
        for _ in 0..n {
            start_join(method)?;
        }
        Ok(t0.elapsed().as_secs_f64() * 1e3 / f64::from(n))
    }

    fn python(&self) -> Option<Script> {
        Some(Script::new("bench_start_join.py"))
    }

    fn peers(&self) -> Vec<Peer> {
        let mut peers = vec![Peer::c(
            "c",
            "fork_exit_wait",
            include_str!("../../c/fork_exit_wait.c"),
        )];
        // The Rust peers have one way to start a process (running the program afresh, as
        // spawn does): it is compared with our default and with spawn.
        if matches!(self.0, Method::ForkServer | Method::Spawn) {
            peers.extend([Peer::rust(&PROCSPAWN), Peer::rust(&CROSSMIST)]);
        }
        peers
    }
}

/// `start_join.async_many`: N children, started and waiting on an event, are released at once
/// and awaited by N tasks on a `current_thread` tokio runtime (one thread: `join_async` on
/// the reactor); the `threads` peer joins them from N threads instead. Microseconds per child
/// from the release to the last one reaped.
#[derive(Debug)]
struct AsyncMany;

/// Children per round.
fn async_many_count(mode: Mode) -> usize {
    mode.pick(200, 50)
}

/// A child's target: wait for the release.
fn wait_release(go: Event) {
    go.wait_timeout(LIMIT);
}

/// Starts `n` children that wait for `go`.
fn start_waiting(n: usize, go: &Event) -> Result<Vec<Handle<()>>, BoxError> {
    (0..n)
        .map(|_| Ok(Process::new(wait_release, go.clone()).start()?))
        .collect()
}

/// Releases the children: the timed part starts.
fn release(go: &Event) -> Instant {
    let t0 = Instant::now();
    go.set();
    t0
}

fn async_many_tasks(mode: Mode) -> Result<f64, BoxError> {
    let n = async_many_count(mode);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let go = Event::new();
    let handles = start_waiting(n, &go)?;
    let waiting = Arc::new(AtomicUsize::new(0));
    runtime.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for h in handles {
            let waiting = waiting.clone();
            set.spawn(async move {
                waiting.fetch_add(1, Ordering::SeqCst);
                // Its first poll registers the child's pidfd before the task yields.
                tokio::time::timeout(LIMIT, h.join_async()).await
            });
        }
        while waiting.load(Ordering::SeqCst) < n {
            tokio::task::yield_now().await;
        }
        let t0 = release(&go);
        while let Some(joined) = set.join_next().await {
            joined?.map_err(|_| "a child ran past the time limit")??;
        }
        Ok(t0.elapsed().as_secs_f64() * 1e6 / n as f64)
    })
}

fn async_many_threads(mode: Mode) -> Result<f64, BoxError> {
    let n = async_many_count(mode);
    let go = Event::new();
    let handles = start_waiting(n, &go)?;
    let waiting = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = handles
        .into_iter()
        .map(|h| {
            let waiting = waiting.clone();
            std::thread::spawn(move || {
                waiting.fetch_add(1, Ordering::SeqCst);
                h.join_timeout(LIMIT)
                    .ok_or("a child ran past the time limit")
            })
        })
        .collect();
    while waiting.load(Ordering::SeqCst) < n {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Let the last threads get from the count into their wait.
    std::thread::sleep(Duration::from_millis(20));
    let t0 = release(&go);
    for t in threads {
        t.join().map_err(|_| "a joining thread panicked")??;
    }
    Ok(t0.elapsed().as_secs_f64() * 1e6 / n as f64)
}

impl Figure for AsyncMany {
    fn name(&self) -> &'static str {
        "start_join.async_many"
    }

    fn description(&self) -> &'static str {
        "N waiting children released at once, awaited by N tasks on one thread (threads: N threads)"
    }

    fn unit(&self) -> &'static str {
        "us"
    }

    fn higher_is_better(&self) -> bool {
        false
    }

    fn measure(&self, mode: Mode) -> Result<f64, BoxError> {
        async_many_tasks(mode)
    }

    fn python(&self) -> Option<Script> {
        Some(Script::new("bench_start_join.py"))
    }

    fn peers(&self) -> Vec<Peer> {
        vec![Peer::custom("threads", async_many_threads)]
    }
}
