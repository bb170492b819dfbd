//! `peer-procspawn`: the harness's figures measured with procspawn, set up as its
//! documentation says: `procspawn::init()` is the first call in `main`, because a spawned
//! process runs this program again and is caught there.
//!
//! procspawn starts each process by running the program afresh (no fork server, no fork), and
//! its pool runs one call per `Pool::spawn`. It has no channel of its own (its documentation
//! passes ipc-channel endpoints as spawn arguments; see `peer-ipc-channel`), no map, locks,
//! events or manager.

#[allow(dead_code, reason = "shared by the peer programs, each uses a part")]
mod common;

use std::collections::VecDeque;
use std::time::Instant;

use common::{BoxError, Failure, Measured, Mode, Offer, ms_per, per_s};
use procspawn::Pool;

fn main() -> Result<(), Failure> {
    procspawn::init();
    common::run(
        "procspawn",
        &[
            // procspawn has one way to start a process; it is reported beside multiproc's
            // default (forkserver) and beside spawn, which also runs the program afresh.
            Offer {
                figure: "start_join.forkserver",
                measure: start_join,
            },
            Offer {
                figure: "start_join.spawn",
                measure: start_join,
            },
            Offer {
                figure: "pool.apply_async",
                measure: pool_apply,
            },
        ],
        None,
    )
}

fn trivial((): ()) {}

fn square(x: u64) -> u64 {
    x * x
}

/// `procspawn::spawn` of a trivial function and `join`, one process after the other, after
/// 5 unmeasured ones: ms per process.
///
/// Joins use the blocking `join`: `join_timeout` polls with sleeps that start at 1 ms, which
/// would be measured here. The harness bounds the whole program instead.
fn start_join(mode: Mode) -> Measured {
    let n = mode.pick(500, 100);
    for _ in 0..5 {
        procspawn::spawn((), trivial).join()?;
    }
    let t0 = Instant::now();
    for _ in 0..n {
        procspawn::spawn((), trivial).join()?;
    }
    Ok((ms_per(t0.elapsed(), n), "ms"))
}

/// Calls in flight at most. Each pending `Pool::spawn` holds its own ipc-channel sockets, so
/// 20,000 submitted at once (Python's protocol) run out of descriptors; a window of calls,
/// joined in order, keeps every worker busy.
const WINDOW: usize = 256;

/// `Pool::spawn(square, i)` for 20,000 tasks with at most [`WINDOW`] in flight, each result
/// joined in submission order and checked, on a pool of as many processes as CPUs, created
/// and warmed up with 100 calls before the clock starts: tasks per second.
fn pool_apply(mode: Mode) -> Measured {
    let n: u64 = mode.pick(20_000, 5_000);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = Pool::new(workers)?;
    let run = |n: u64| -> Result<(), BoxError> {
        let mut pending = VecDeque::with_capacity(WINDOW);
        let mut results = Vec::with_capacity(n as usize);
        for i in 0..n {
            if pending.len() == WINDOW {
                let handle: procspawn::JoinHandle<u64> =
                    pending.pop_front().expect("the window is full");
                results.push(handle.join()?);
            }
            pending.push_back(pool.spawn(i, square));
        }
        for handle in pending {
            results.push(handle.join()?);
        }
        if results
            .iter()
            .enumerate()
            .any(|(i, r)| *r != square(i as u64))
        {
            return Err("wrong results".into());
        }
        Ok(())
    };
    run(100)?;
    let t0 = Instant::now();
    run(n)?;
    let elapsed = t0.elapsed();
    pool.shutdown();
    Ok((per_s(n, elapsed), "tasks/s"))
}
