//! `lock.uncontended`, `lock.contended_incr` and `event.pingpong`: the synchronization
//! primitives, against `python/bench_lock.py` and `python/bench_event.py`, and a C peer built
//! from POSIX process-shared semaphores (`c/sync_peers.c`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use multiproc::{Event, Lock, Value};

use crate::figure::{BoxError, Figure, Mode, Peer, Script};

/// The figures of this group.
pub(super) fn figures() -> Vec<Box<dyn Figure>> {
    vec![
        Box::new(Sync(Kind::Uncontended)),
        Box::new(Sync(Kind::ContendedIncr)),
        Box::new(Sync(Kind::PingPong)),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Uncontended,
    ContendedIncr,
    PingPong,
}

/// One synchronization figure.
#[derive(Debug)]
struct Sync(Kind);

/// How long a peer may keep us waiting before the figure fails instead of hanging.
const TIMEOUT: Duration = Duration::from_secs(30);

fn uncontended(n: u64) -> Result<f64, BoxError> {
    let lock = Lock::new();
    let t0 = Instant::now();
    for _ in 0..n {
        drop(black_box(
            lock.acquire().map_err(|_| "the lock holder died")?,
        ));
    }
    Ok(n as f64 / t0.elapsed().as_secs_f64())
}

fn increment((v, n): (Value<u64>, u64)) {
    for _ in 0..n {
        v.with_lock(|x| *x += 1);
    }
}

fn contended_incr(n: u64) -> Result<f64, BoxError> {
    let v = Value::new(0u64);
    let t0 = Instant::now();
    let kids = (0..2)
        .map(|_| multiproc::Process::new(increment, (v.clone(), n)).start())
        .collect::<Result<Vec<_>, _>>()?;
    for k in kids {
        if k.join_timeout(TIMEOUT).is_none() {
            let _ = k.kill();
            return Err("an incrementing process ran past the time limit".into());
        }
        k.join()?;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    if v.get() != 2 * n {
        return Err(format!("lost increments: {} of {}", v.get(), 2 * n).into());
    }
    Ok((2 * n) as f64 / elapsed)
}

fn responder((ping, pong, n): (Event, Event, u64)) {
    for _ in 0..n {
        if !ping.wait_timeout(TIMEOUT) {
            return;
        }
        ping.clear();
        pong.set();
    }
}

fn round_trip(ping: &Event, pong: &Event) -> Result<(), BoxError> {
    ping.set();
    if !pong.wait_timeout(TIMEOUT) {
        return Err("the responder stopped answering".into());
    }
    pong.clear();
    Ok(())
}

fn pingpong(n: u64) -> Result<f64, BoxError> {
    const WARMUP: u64 = 1000;
    let (ping, pong) = (Event::new(), Event::new());
    let child =
        multiproc::Process::new(responder, (ping.clone(), pong.clone(), WARMUP + n)).start()?;
    for _ in 0..WARMUP {
        round_trip(&ping, &pong)?;
    }
    let t0 = Instant::now();
    for _ in 0..n {
        round_trip(&ping, &pong)?;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    child.join()?;
    Ok(n as f64 / elapsed)
}

impl Figure for Sync {
    fn name(&self) -> &'static str {
        match self.0 {
            Kind::Uncontended => "lock.uncontended",
            Kind::ContendedIncr => "lock.contended_incr",
            Kind::PingPong => "event.pingpong",
        }
    }

    fn description(&self) -> &'static str {
        match self.0 {
            Kind::Uncontended => "acquire/release pairs of a Lock in one process",
            Kind::ContendedIncr => "2 processes incrementing a shared Value under its lock",
            Kind::PingPong => "round trips between 2 processes over two Events",
        }
    }

    fn unit(&self) -> &'static str {
        match self.0 {
            Kind::Uncontended => "pairs/s",
            Kind::ContendedIncr => "incr/s",
            Kind::PingPong => "round trips/s",
        }
    }

    fn higher_is_better(&self) -> bool {
        true
    }

    fn target(&self) -> Option<f64> {
        match self.0 {
            Kind::Uncontended => Some(100e6),
            Kind::ContendedIncr => Some(15e6),
            // At least the C semaphore ping-pong of the same run (see the "c" column).
            Kind::PingPong => None,
        }
    }

    fn measure(&self, mode: Mode) -> Result<f64, BoxError> {
        match self.0 {
            Kind::Uncontended => uncontended(mode.pick(100_000_000, 10_000_000)),
            Kind::ContendedIncr => contended_incr(mode.pick(5_000_000, 1_000_000)),
            Kind::PingPong => pingpong(mode.pick(100_000, 20_000)),
        }
    }

    fn python(&self) -> Option<Script> {
        Some(Script::new(match self.0 {
            Kind::Uncontended | Kind::ContendedIncr => "bench_lock.py",
            Kind::PingPong => "bench_event.py",
        }))
    }

    fn peers(&self) -> Vec<Peer> {
        vec![Peer::c(
            "c",
            "sync_peers",
            include_str!("../../c/sync_peers.c"),
        )]
    }
}
