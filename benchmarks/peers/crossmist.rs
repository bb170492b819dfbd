//! `peer-crossmist`: the harness's figures measured with crossmist, set up as its
//! documentation says: `main` carries `#[crossmist::main]` and every function that runs in a
//! child is a `#[crossmist::func]`.
//!
//! crossmist starts each process by running the program afresh (`clone` + `exec` of
//! `/proc/self/exe`), and passes typed channels (`channel`, `duplex`) to it as arguments. It
//! has no fork start method, pool, locks, events or manager, and no multi-consumer queue: the
//! `queue.*` figures, which have one producer and one consumer, use a channel.

#[allow(dead_code, reason = "shared by the peer programs, each uses a part")]
mod common;

use std::time::Instant;

use common::{Availability, BoxError, MIB, Measured, Mode, Offer, mb_per_s, ms_per, per_s, us_per};
use crossmist::{Duplex, Receiver, Sender};

#[crossmist::main]
fn main() -> Result<(), common::Failure> {
    common::run(
        "crossmist",
        &[
            // crossmist has one way to start a process; it is reported beside multiproc's
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
                figure: "queue.small",
                measure: queue_small,
            },
            Offer {
                figure: "queue.1mib",
                measure: queue_big,
            },
            Offer {
                figure: "pipe.rtt_small",
                measure: pipe_rtt,
            },
            Offer {
                figure: "pipe.1mib",
                measure: pipe_big,
            },
        ],
        Some(can_spawn),
    )
}

/// Whether crossmist can start a process when built by this compiler.
///
/// Its releases up to 1.1.2 tell plain-old-data types apart with a probe that relies on
/// `[T; 1]::clone` copying a `Copy` element without calling its `Clone::clone`. Current Rust
/// no longer does that (the standard library's clone specialization now keys on its own
/// marker trait), so every type looks non-trivial, and every `spawn` panics with "entered
/// unreachable code" while it encodes the child's entry, before any process is started. This
/// catches that panic, so that the harness reports crossmist as unavailable instead of
/// failing the run; with a compiler or a release where spawning works, it starts and joins
/// one trivial process.
fn can_spawn() -> Result<Availability, BoxError> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(|| trivial.spawn().and_then(|child| child.join()));
    std::panic::set_hook(hook);
    match outcome {
        Ok(started) => {
            started?;
            Ok(Availability::Ready)
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Ok(Availability::Unavailable(format!(
                "crossmist's spawn panics when built by this compiler ({message:?}): its \
                 plain-old-data probe relies on array clone skipping Clone::clone for Copy \
                 types, which current Rust no longer does"
            )))
        }
    }
}

#[crossmist::func]
fn trivial() {}

/// `trivial.spawn()` and `join`, one process after the other, after 5 unmeasured ones: ms
/// per process.
fn start_join(mode: Mode) -> Measured {
    let n = mode.pick(500, 100);
    for _ in 0..5 {
        trivial.spawn()?.join()?;
    }
    let t0 = Instant::now();
    for _ in 0..n {
        trivial.spawn()?.join()?;
    }
    Ok((ms_per(t0.elapsed(), n), "ms"))
}

#[crossmist::func]
fn produce_small(mut items: Sender<Option<u64>>, n: u64) {
    for i in 0..n {
        items.send(&Some(i)).expect("the consumer is gone");
    }
    items.send(&None).expect("the consumer is gone");
}

#[crossmist::func]
fn consume_small(mut items: Receiver<Option<u64>>) -> u64 {
    let mut count = 0;
    while let Some(Some(_)) = items.recv().expect("the producer is gone") {
        count += 1;
    }
    count
}

#[crossmist::func]
fn produce_big(mut items: Sender<Option<Vec<u8>>>, n: u64) {
    let payload = vec![0u8; MIB];
    for _ in 0..n {
        items
            .send(&Some(payload.clone()))
            .expect("the consumer is gone");
    }
    items.send(&None).expect("the consumer is gone");
}

#[crossmist::func]
fn consume_big(mut items: Receiver<Option<Vec<u8>>>) -> (u64, u64) {
    let (mut count, mut bytes) = (0, 0);
    while let Some(Some(item)) = items.recv().expect("the producer is gone") {
        count += 1;
        bytes += item.len() as u64;
    }
    (count, bytes)
}

/// One producer and one consumer process over a channel, timed from starting both until
/// both are joined; the consumer's count is checked.
fn queue_small(mode: Mode) -> Measured {
    let n: u64 = mode.pick(200_000, 50_000);
    let (tx, rx) = crossmist::channel()?;
    let t0 = Instant::now();
    let consumer = consume_small.spawn(rx)?;
    let producer = produce_small.spawn(tx, n)?;
    producer.join()?;
    let count = consumer.join()?;
    let elapsed = t0.elapsed();
    if count != n {
        return Err(format!("the consumer saw {count} items, expected {n}").into());
    }
    Ok((per_s(count, elapsed), "msg/s"))
}

/// As [`queue_small`], with 1 MiB `Vec<u8>` payloads.
fn queue_big(mode: Mode) -> Measured {
    let n: u64 = mode.pick(400, 100);
    let (tx, rx) = crossmist::channel()?;
    let t0 = Instant::now();
    let consumer = consume_big.spawn(rx)?;
    let producer = produce_big.spawn(tx, n)?;
    producer.join()?;
    let (count, bytes) = consumer.join()?;
    let elapsed = t0.elapsed();
    if count != n {
        return Err(format!("the consumer saw {count} items, expected {n}").into());
    }
    Ok((mb_per_s(bytes, elapsed), "MB/s"))
}

/// Sends every message back until the other end closes.
#[crossmist::func]
fn echo(mut conn: Duplex<i64, i64>) {
    while let Some(v) = conn.recv().expect("the parent is gone") {
        conn.send(&v).expect("the parent is gone");
    }
}

/// Round trips of an `i64` over a `duplex` with an echoing child, 20,000 after 100
/// unmeasured ones: µs per round trip.
fn pipe_rtt(mode: Mode) -> Measured {
    let n: u64 = mode.pick(20_000, 5_000);
    let (mut ours, theirs) = crossmist::duplex::<i64, i64>()?;
    let child = echo.spawn(theirs)?;
    for i in 0..100 {
        ours.request(&i)?;
    }
    let t0 = Instant::now();
    for i in 0..n as i64 {
        if ours.request(&i)? != i {
            return Err("the echo came back wrong".into());
        }
    }
    let elapsed = t0.elapsed();
    drop(ours);
    child.join()?;
    Ok((us_per(elapsed, n), "us"))
}

/// Receives `n` payloads and answers with their total size.
#[crossmist::func]
fn sink(mut conn: Duplex<u64, Vec<u8>>, n: u64) -> u64 {
    conn.send(&0).expect("the parent is gone"); // ready
    let mut total = 0;
    for _ in 0..n {
        total += conn
            .recv()
            .expect("the parent is gone")
            .map_or(0, |m| m.len() as u64);
    }
    conn.send(&total).expect("the parent is gone");
    total
}

/// 1 MiB `Vec<u8>` messages one way over a `duplex` to a child that has said it is ready,
/// timed until it answers with the byte count: MB/s.
fn pipe_big(mode: Mode) -> Measured {
    let n: u64 = mode.pick(500, 100);
    let (mut ours, theirs) = crossmist::duplex::<Vec<u8>, u64>()?;
    let child = sink.spawn(theirs, n)?;
    ours.recv()?.ok_or("the child did not start")?;
    let payload = vec![0u8; MIB];
    let t0 = Instant::now();
    for _ in 0..n {
        ours.send(&payload)?;
    }
    let total = ours.recv()?.ok_or("the child closed early")?;
    let elapsed = t0.elapsed();
    child.join()?;
    if total != n * MIB as u64 {
        return Err(format!("the child received {total} bytes").into());
    }
    Ok((mb_per_s(total, elapsed), "MB/s"))
}
