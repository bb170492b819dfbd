//! `start_join.{forkserver,spawn,fork}`: milliseconds per process for a trivial target,
//! started and joined one after the other.

use std::time::{Duration, Instant};

use multiproc::{Process, StartMethod};

use crate::figure::{BoxError, CROSSMIST, Figure, Mode, PROCSPAWN, Peer, Script};

/// The figures of this group.
pub(super) fn figures() -> Vec<Box<dyn Figure>> {
    vec![
        Box::new(StartJoin(Method::ForkServer)),
        Box::new(StartJoin(Method::Spawn)),
        Box::new(StartJoin(Method::Fork)),
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
