//! A worker rank: checks the driver's fingerprint, then runs chunks in a local pool until the
//! driver says stop, and exits.
//!
//! Tasks never run in the rank itself but in a one-process [`Pool`] beside it, so a task that
//! crashes its process (`abort`, a signal, `exit`) costs a pool worker, which is replaced, not
//! the rank: the driver gets a task error, as from the local pool, and MPI never sees a rank
//! die.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mpi::environment::Universe;
use multiproc::remote::{self, TaskId};
use multiproc::{AsyncResult, Bytes, Pool, PoolError, TaskError};

use crate::link::Link;
use crate::liveness::{Backoff, this_peer};
use crate::outbox::Outbox;
use crate::wire::{self, FromWorker, Outcome, Peer, ToWorker};

/// The driver's rank, on either kind of link.
const DRIVER: mpi::Rank = 0;

/// How long a result may take to be stored after the pool's callback said it is done.
const STORE_GRACE: Duration = Duration::from_secs(10);

/// How often a worker looks whether a driver on its own machine is still there.
const WATCH_EVERY: Duration = Duration::from_millis(200);

/// The pool target that runs a chunk sent by the driver.
fn run_remote_chunk(job: (TaskId, Bytes)) -> Bytes {
    Bytes(remote::run_chunk(&job.0, &job.1.0))
}

/// Serves the driver over `link` (this process's rank is `rank`), then finalizes MPI and
/// exits.
pub(crate) fn serve(universe: Universe, link: Link, rank: mpi::Rank) -> ! {
    let mut outbox = Outbox::default();
    let code = match handshake(&link, &mut outbox, rank) {
        Ok((driver, heartbeat)) => run(&link, &mut outbox, rank, &driver, heartbeat),
        Err(code) => code,
    };
    let flushed = outbox.flush(Instant::now() + Duration::from_secs(10), || {
        while link.try_receive().is_some() {}
    });
    if flushed {
        finish(universe, link);
    } else {
        log::warn!(target: "multiproc_mpi", "rank {rank}: the driver stopped receiving");
        std::mem::forget(link);
        std::mem::forget(universe);
    }
    multiproc::exit(code)
}

/// Frees the link and finalizes MPI.
fn finish(universe: Universe, link: Link) {
    // Dropping the parent communicator disconnects it. It must happen here: `Universe`'s
    // drop would otherwise disconnect it twice (rsmpi 0.8's `disconnect_parent` does), and
    // crash; once disconnected, MPI no longer reports a parent.
    drop(link);
    drop(universe);
}

/// Waits for the driver's first message. Returns the driver and the heartbeat period if this
/// rank is to serve, or the exit code: 0 if it was told to stop or runs a different
/// executable, 1 if the message made no sense. A rank that refuses exits with 0 on purpose:
/// under `mpirun`, a non-zero exit would end the job before the driver could say why it
/// failed; the driver's failure gives the job its status.
fn handshake(link: &Link, outbox: &mut Outbox, rank: mpi::Rank) -> Result<(Peer, Duration), i32> {
    let mut backoff = Backoff::new();
    let bytes = loop {
        if let Some((_, bytes)) = link.try_receive() {
            break bytes;
        }
        backoff.wait(Backoff::IDLE);
    };
    let (theirs, driver, heartbeat_ms) = match wire::decode::<ToWorker>(&bytes) {
        Ok(ToWorker::Check {
            fingerprint,
            driver,
            heartbeat_ms,
        }) => (fingerprint, driver, heartbeat_ms),
        Ok(ToWorker::Stop) => return Err(0),
        Ok(other) => {
            say(&format!(
                "multiproc-mpi: rank {rank}: expected the driver's check, got {other:?}"
            ));
            return Err(1);
        }
        Err(e) => {
            say(&format!(
                "multiproc-mpi: rank {rank}: garbled first message from the driver: {e}"
            ));
            return Err(1);
        }
    };
    let ours = remote::fingerprint();
    let accepted = ours == theirs;
    let me = this_peer();
    if !accepted {
        say(&format!(
            "multiproc-mpi: rank {rank} (pid {} on {}) runs a different executable than the \
             driver (fingerprint {ours:016x}, driver {theirs:016x}); it runs nothing",
            me.pid, me.host
        ));
    }
    let hello = FromWorker::Hello {
        fingerprint: ours,
        accepted,
        peer: me,
    };
    link.send(outbox, DRIVER, wire::encode(&hello));
    if accepted {
        Ok((driver, Duration::from_millis(heartbeat_ms.max(1))))
    } else {
        Err(0)
    }
}

/// The serving loop. Returns the exit code.
fn run(
    link: &Link,
    outbox: &mut Outbox,
    rank: mpi::Rank,
    driver: &Peer,
    heartbeat: Duration,
) -> i32 {
    let pool = Pool::new(1).map_err(|e| format!("rank {rank} cannot start its pool: {e}"));
    let (done_tx, done_rx) = mpsc::channel::<u64>();
    let mut running: HashMap<u64, AsyncResult<Bytes>> = HashMap::new();
    let mut backoff = Backoff::new();
    let mut last_sent = Instant::now();
    let mut last_watch = Instant::now();
    let mut finished = Vec::new();
    loop {
        let mut busy = outbox.progress();
        while let Some((_, bytes)) = link.try_receive() {
            busy = true;
            match wire::decode::<ToWorker>(&bytes) {
                Ok(ToWorker::Work { chunk, task, items }) => {
                    let submitted = pool.as_ref().map_err(Clone::clone).and_then(|pool| {
                        let (ok, err) = (done_tx.clone(), done_tx.clone());
                        pool.apply_async_with(
                            run_remote_chunk,
                            (task, items),
                            move |_| {
                                let _ = ok.send(chunk);
                            },
                            move |_| {
                                let _ = err.send(chunk);
                            },
                        )
                        .map_err(|e| describe(&e))
                    });
                    match submitted {
                        Ok(result) => {
                            running.insert(chunk, result);
                        }
                        Err(msg) => {
                            let done = FromWorker::Done {
                                chunk,
                                outcome: Outcome::Failed(msg),
                            };
                            link.send(outbox, DRIVER, wire::encode(&done));
                            last_sent = Instant::now();
                        }
                    }
                }
                Ok(ToWorker::Stop) => {
                    if let Ok(pool) = &pool {
                        pool.terminate();
                    }
                    return 0;
                }
                Ok(ToWorker::Check { .. }) => {
                    log::warn!(target: "multiproc_mpi", "rank {rank}: a second check; ignored");
                }
                Err(e) => {
                    say(&format!(
                        "multiproc-mpi: rank {rank}: garbled message from the driver: {e}"
                    ));
                }
            }
        }
        finished.extend(done_rx.try_iter());
        for chunk in finished.drain(..) {
            busy = true;
            let Some(result) = running.remove(&chunk) else {
                continue;
            };
            // The pool calls back just before it stores the result: wait for it.
            let outcome = match result.get_timeout(STORE_GRACE) {
                Ok(reply) => Outcome::Reply(reply),
                Err(PoolError::Task {
                    error: TaskError::WorkerDied { worker, exitcode },
                    ..
                }) => Outcome::WorkerDied { worker, exitcode },
                Err(e) => Outcome::Failed(describe(&e)),
            };
            link.send(
                outbox,
                DRIVER,
                wire::encode(&FromWorker::Done { chunk, outcome }),
            );
            last_sent = Instant::now();
        }
        if !running.is_empty() && last_sent.elapsed() >= heartbeat {
            link.send(outbox, DRIVER, wire::encode(&FromWorker::Alive));
            last_sent = Instant::now();
        }
        if last_watch.elapsed() >= WATCH_EVERY {
            last_watch = Instant::now();
            if !driver.is_alive() {
                say(&format!(
                    "multiproc-mpi: rank {rank}: the driver (pid {} on {}) is gone; exiting",
                    driver.pid, driver.host
                ));
                if let Ok(pool) = &pool {
                    pool.terminate();
                }
                // MPI cannot be finalized without the driver.
                std::process::exit(1);
            }
        }
        if busy {
            backoff.reset();
            continue;
        }
        let pause = backoff.next(if running.is_empty() {
            Backoff::IDLE
        } else {
            Backoff::BUSY
        });
        if pause.is_zero() {
            std::thread::yield_now();
        } else if let Ok(chunk) = done_rx.recv_timeout(pause) {
            finished.push(chunk);
        }
    }
}

/// An error and its sources, on one line.
fn describe(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// Prints a line on stderr in one write, so that `mpirun` does not interleave it with others.
fn say(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}
