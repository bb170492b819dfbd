//! A worker rank: checks the driver's fingerprint, then runs chunks in a local pool until the
//! driver says stop, and exits.
//!
//! Tasks never run in the rank itself but in a one-process [`Pool`] beside it, so a task that
//! crashes its process (`abort`, a signal, `exit`) costs a pool worker, which is replaced, not
//! the rank: the driver gets a task error, as from the local pool, and MPI never sees a rank
//! die. Tasks with a timeout run in a pool built with that timeout, so the pool kills and
//! replaces the process of a task that runs past it, counting from the task's start.
//!
//! A worker gives up on a driver that sends nothing (not even its heartbeat) for longer than
//! the silence timeout the driver gave it: it says so on stderr and exits, so that a rank cut
//! off from its driver does not wait for Open MPI to clean up.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mpi::environment::Universe;
use multiproc::remote::{self, TaskId};
use multiproc::{AsyncResult, Bytes, Pool, PoolError, TaskError};

use crate::DEFAULT_TIMEOUT;
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

/// How long the driver may stay silent: updated by every message that says, and reset
/// whenever the driver is heard.
#[derive(Debug)]
struct DriverWatch {
    last_heard: Instant,
    /// Zero: no bound (the driver sends no heartbeats).
    silence: Duration,
}

impl DriverWatch {
    fn heard(&mut self, silence_ms: Option<u64>) {
        self.last_heard = Instant::now();
        if let Some(ms) = silence_ms {
            self.silence = Duration::from_millis(ms);
        }
    }

    /// Exits this rank if the driver has been silent for too long.
    fn check(&self, rank: mpi::Rank, driver: Option<&Peer>, pool: &Pools) {
        let silent = self.last_heard.elapsed();
        if self.silence.is_zero() || silent <= self.silence {
            return;
        }
        let me = this_peer();
        let who = driver.map_or_else(
            || "the driver".to_owned(),
            |d| format!("the driver (pid {} on {})", d.pid, d.host),
        );
        say(&format!(
            "multiproc-mpi: rank {rank} (pid {} on {}): {who} sent nothing for {:.1} s; exiting",
            me.pid,
            me.host,
            silent.as_secs_f64()
        ));
        pool.terminate();
        // MPI cannot be finalized without the driver.
        std::process::exit(1);
    }
}

/// Serves the driver over `link` (this process's rank is `rank`), then finalizes MPI and
/// exits.
pub(crate) fn serve(universe: Universe, link: Link, rank: mpi::Rank) -> ! {
    // The fingerprint hashes this executable (tens of MiB for a debug build: a second or more
    // on a loaded machine). Computed now, while the driver computes its own, the hello
    // answers the driver's check at once: the driver bounds that wait by its silence timeout.
    remote::fingerprint();
    let mut outbox = Outbox::default();
    let mut watch = DriverWatch {
        last_heard: Instant::now(),
        silence: DEFAULT_TIMEOUT,
    };
    let code = match handshake(&link, &mut outbox, rank, &mut watch) {
        Ok((driver, heartbeat)) => run(&link, &mut outbox, rank, &driver, heartbeat, watch),
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
fn handshake(
    link: &Link,
    outbox: &mut Outbox,
    rank: mpi::Rank,
    watch: &mut DriverWatch,
) -> Result<(Peer, Duration), i32> {
    let mut backoff = Backoff::new();
    let message = loop {
        if let Some((_, bytes)) = link.try_receive() {
            match wire::decode::<ToWorker>(&bytes) {
                Ok(ToWorker::Alive { silence_ms }) => watch.heard(Some(silence_ms)),
                message => break message,
            }
            backoff.reset();
            continue;
        }
        watch.check(rank, None, &Pools::default());
        backoff.wait(Backoff::IDLE);
    };
    let (theirs, driver, heartbeat_ms) = match message {
        Ok(ToWorker::Check {
            fingerprint,
            driver,
            heartbeat_ms,
            silence_ms,
        }) => {
            watch.heard(Some(silence_ms));
            (fingerprint, driver, heartbeat_ms)
        }
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
    mut watch: DriverWatch,
) -> i32 {
    let mut pools = Pools::default();
    let (done_tx, done_rx) = mpsc::channel::<u64>();
    let mut running: HashMap<u64, (AsyncResult<Bytes>, Option<Duration>)> = HashMap::new();
    let mut backoff = Backoff::new();
    let mut last_sent = Instant::now();
    let mut last_watch = Instant::now();
    let mut finished = Vec::new();
    loop {
        let mut busy = outbox.progress();
        while let Some((_, bytes)) = link.try_receive() {
            busy = true;
            watch.heard(None);
            match wire::decode::<ToWorker>(&bytes) {
                Ok(ToWorker::Work {
                    chunk,
                    task,
                    items,
                    timeout_ms,
                }) => {
                    let timeout = timeout_ms.map(Duration::from_millis);
                    let submitted = pools.submit(rank, timeout, |pool| {
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
                            running.insert(chunk, (result, timeout));
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
                Ok(ToWorker::Alive { silence_ms }) => watch.heard(Some(silence_ms)),
                Ok(ToWorker::Stop) => {
                    pools.terminate();
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
            let Some((result, timeout)) = running.remove(&chunk) else {
                continue;
            };
            pools.finished(timeout);
            // The pool calls back just before it stores the result: wait for it.
            let outcome = match result.get_timeout(STORE_GRACE) {
                Ok(reply) => Outcome::Reply(reply),
                Err(PoolError::Task {
                    error: TaskError::WorkerDied { worker, exitcode },
                    ..
                }) => Outcome::WorkerDied { worker, exitcode },
                Err(PoolError::Task {
                    error: TaskError::Timeout(after),
                    ..
                }) => Outcome::TimedOut {
                    after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
                },
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
                pools.terminate();
                // MPI cannot be finalized without the driver.
                std::process::exit(1);
            }
            watch.check(rank, Some(driver), &pools);
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

/// The rank's local pools of one process each: one per task timeout in use (most programs
/// use one). A pool is started when first needed.
#[derive(Debug, Default)]
struct Pools {
    /// Each pool with its timeout and how many of its chunks are running.
    pools: Vec<(Option<Duration>, Pool, usize)>,
}

impl Pools {
    /// Pools kept idle: past this, a new pool replaces an idle one.
    const MAX: usize = 4;

    /// Submits a chunk to the pool for tasks with `timeout`, starting the pool if needed.
    fn submit(
        &mut self,
        rank: mpi::Rank,
        timeout: Option<Duration>,
        submit: impl FnOnce(&Pool) -> Result<AsyncResult<Bytes>, String>,
    ) -> Result<AsyncResult<Bytes>, String> {
        let i = match self.pools.iter().position(|(t, _, _)| *t == timeout) {
            Some(i) => i,
            None => {
                let mut builder = Pool::builder().processes(1);
                if let Some(t) = timeout {
                    builder = builder.task_timeout(t);
                }
                let pool = builder
                    .build()
                    .map_err(|e| format!("rank {rank} cannot start its pool: {}", describe(&e)))?;
                if self.pools.len() >= Self::MAX {
                    // Dropping a pool terminates its process: only an idle one goes.
                    if let Some(idle) = self.pools.iter().position(|p| p.2 == 0) {
                        self.pools.remove(idle);
                    }
                }
                self.pools.push((timeout, pool, 0));
                self.pools.len() - 1
            }
        };
        let result = submit(&self.pools[i].1)?;
        self.pools[i].2 += 1;
        Ok(result)
    }

    /// A chunk submitted with `timeout` is done.
    fn finished(&mut self, timeout: Option<Duration>) {
        if let Some(p) = self.pools.iter_mut().find(|p| p.0 == timeout) {
            p.2 = p.2.saturating_sub(1);
        }
    }

    fn terminate(&self) {
        for (_, pool, _) in &self.pools {
            pool.terminate();
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
