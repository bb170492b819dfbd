//! Run multiproc pools and MapReduce on MPI: the same program, from one machine to a cluster.
//!
//! [`MpiExecutor`] implements [`multiproc::Executor`], the trait that the local
//! [`Pool`](multiproc::Pool) implements too, so [`SimpleMapReduce`](multiproc::SimpleMapReduce)
//! and every `map` written against the trait run on MPI ranks unchanged. It is modelled on
//! `mpi4py.futures.MPIPoolExecutor`, on Open MPI through the [`mpi`] crate, in two modes:
//!
//! - **under `mpirun -np N`**: rank 0 runs `main` and drives; ranks 1 to N-1 serve;
//! - **as a single process** (a *singleton*): the program spawns N worker ranks of its own
//!   executable with `MPI_Comm_spawn`.
//!
//! ```no_run
//! use multiproc::Executor;
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // First thing in main: on worker ranks this serves the driver and never returns.
//!     let mpi = multiproc_mpi::init();
//!     // Under mpirun: the other ranks. Alone: spawn 2 worker ranks.
//!     let executor = mpi.executor_or_spawn(2)?;
//!     let squares = executor.map(square, (0..100).collect(), None)?;
//!     assert_eq!(squares[7], 49);
//!     Ok(())
//! }
//! ```
//!
//! Run it with `mpirun -np 3 target/release/examples/NAME`, or just
//! `target/release/examples/NAME`.
//!
//! # Safety nets
//!
//! - **Same binary.** A task travels as a [`TaskId`](multiproc::remote::TaskId), an offset
//!   into the executable, which only means something to the very same build. Before anything
//!   else, every worker rank compares the fingerprint of its executable with the driver's
//!   ([`multiproc::remote::fingerprint`]); a rank that differs is sent nothing, and starting
//!   the executor fails with [`Error::Fingerprint`].
//! - **Panics and crashes are task errors.** A worker rank runs its tasks in a one-process
//!   local pool beside it. A panic comes back as [`TaskError::Panicked`](multiproc::TaskError),
//!   and a task that kills its process (`abort`, a signal) as `TaskError::WorkerDied`; the rank
//!   replaces the process and goes on, and MPI never sees a rank die.
//! - **Never a hang.** The driver only uses non-blocking MPI calls. It watches the worker
//!   ranks on its own machine, and hears a heartbeat from every rank that owes it a reply; a
//!   rank that dies or falls silent for longer than [`Mpi::timeout`], on this machine or
//!   another, fails the call with a clear [`Error`] naming the rank and its host (when a rank
//!   or a node dies, Open MPI usually ends the job first, with a report of its own).
//! - **Workers watch their driver.** A thread of the driver sends every worker a heartbeat,
//!   whatever `main` does between calls; a worker that hears nothing for [`Mpi::timeout`]
//!   says so and exits, so a rank cut off from its driver does not wait for Open MPI.
//! - **Per-task timeouts** ([`Mpi::task_timeout`], [`MpiExecutor::map_each_timeout`]): each
//!   task's own, counted from its start on its rank; only that task fails.
//!
//! # Entry
//!
//! [`init`] must be the first statement of `main` (it calls [`multiproc::init`] itself):
//! everything before it runs on every rank. On a worker rank it serves the driver, then
//! finalizes MPI and exits. On the driver it returns an [`Mpi`], to turn into an executor.
//!
//! See the crate's README, "Running on a cluster", for hostfiles, ssh, the keepalive
//! parameters that ship with it (`mca-params.conf`), every listener and how to pin it, and
//! what a user sees when something breaks.

#![deny(unsafe_code)]

mod channel;
mod error;
mod executor;
mod link;
mod liveness;
#[allow(unsafe_code)]
mod outbox;
mod wire;
mod worker;

use std::time::Duration;

use channel::Driver;
use mpi::Threading;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

pub use error::Error;
pub use executor::MpiExecutor;

use link::Link;
use outbox::Outbox;

/// The default of [`Mpi::timeout`].
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// MPI, initialized on the driver (rank 0): turn it into an [`MpiExecutor`] with
/// [`executor`](Mpi::executor), [`spawn`](Mpi::spawn) or
/// [`executor_or_spawn`](Mpi::executor_or_spawn).
///
/// Dropping it unused stops the worker ranks and finalizes MPI.
#[must_use = "an Mpi does nothing until it becomes an executor"]
pub struct Mpi {
    /// `None` once consumed.
    parts: Option<(Universe, Driver)>,
    world_size: usize,
    timeout: Duration,
    task_timeout: Option<Duration>,
    /// Whether MPI may be called from any thread, one at a time (for the heartbeat thread).
    serialized: bool,
}

impl std::fmt::Debug for Mpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mpi")
            .field("world_size", &self.world_size)
            .field("timeout", &self.timeout)
            .field("task_timeout", &self.task_timeout)
            .finish()
    }
}

/// Initializes MPI (`MPI_THREAD_SERIALIZED`) and decides this process's part. Call it first
/// thing in `main`.
///
/// It first calls [`multiproc::init`], so the local pools of worker ranks can start their
/// processes. Then:
///
/// - on a worker rank (rank 1 and up under `mpirun`, or a rank spawned by a driver) it serves
///   the driver until told to stop, finalizes MPI and **exits**; it never returns;
/// - on the driver (rank 0, or a program started without `mpirun`) it returns an [`Mpi`].
///
/// # Panics
///
/// If MPI was already initialized in this process.
pub fn init() -> Mpi {
    multiproc::init();
    // Serialized: the driver's heartbeat thread makes MPI calls too, never at once with the
    // thread that uses the executor.
    let (universe, provided) = mpi::initialize_with_threading(Threading::Serialized)
        .expect("MPI is already initialized: call multiproc_mpi::init() once, first thing in main");
    let world = universe.world();
    if let Some(parent) = world.parent() {
        worker::serve(universe, Link::Inter(parent), world.rank());
    }
    // A communicator of our own, so that our messages never meet the program's.
    let comm = world.duplicate();
    if comm.rank() != 0 {
        let rank = comm.rank();
        worker::serve(universe, Link::World(comm), rank);
    }
    let world_size = usize::try_from(comm.size()).unwrap_or(0);
    let serialized = provided >= Threading::Serialized;
    // The workers that mpirun started hear from the driver from now on, whatever `main`
    // does before it makes an executor.
    let driver = Driver::new(
        Link::World(comm),
        Outbox::default(),
        DEFAULT_TIMEOUT,
        serialized,
    );
    Mpi {
        parts: Some((universe, driver)),
        world_size,
        timeout: DEFAULT_TIMEOUT,
        task_timeout: None,
        serialized,
    }
}

impl Mpi {
    /// The number of ranks that `mpirun` started, this one included (1 without `mpirun`).
    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// How long a peer may stay silent before it is given up on, both ways. Default: 30
    /// seconds.
    ///
    /// - A worker rank that owes the driver a reply and sends nothing for longer fails the
    ///   call with [`Error::RankSilent`], naming the rank and its host; this is also how long
    ///   the ranks have to answer at start. Busy ranks send a heartbeat every tenth of it (at
    ///   most every second), so long tasks do not count as silence.
    /// - A worker rank that hears nothing from the driver for longer says so on stderr and
    ///   exits (status 1), so a rank cut off from its driver does not wait for Open MPI to
    ///   clean up. The driver sends a heartbeat just as often, from a thread of its own, so
    ///   whatever `main` does between calls does not count as silence. (Until it first hears
    ///   from the driver, a rank waits the default, 30 seconds.)
    ///
    /// A partition shorter than this heals without an error; keep it well above the longest
    /// network outage that should be survived.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        if let Some((_, driver)) = &self.parts {
            driver.set_timeout(timeout);
        }
        self
    }

    /// A default timeout for each task: a task that runs longer on its rank has its process
    /// killed (and replaced), and fails alone with
    /// [`TaskError::Timeout`](multiproc::TaskError::Timeout), as on a local
    /// [`Pool`](multiproc::Pool) built with `task_timeout`. Counted from when the task
    /// starts, not from when it was sent. Default: none. A call can give its own with
    /// [`MpiExecutor::map_each_timeout`].
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = Some(timeout);
        self
    }

    /// The executor over the worker ranks that `mpirun` started (ranks 1 and up).
    ///
    /// Fails with [`Error::NoWorkers`] if there are none, and with [`Error::Fingerprint`] if
    /// a rank runs a different executable.
    pub fn executor(mut self) -> Result<MpiExecutor, Error> {
        let (universe, driver) = self.parts.take().expect("an Mpi is consumed once");
        executor::start(universe, driver, self.timeout, self.task_timeout)
    }

    /// Spawns `n` worker ranks running this executable, with the same arguments
    /// (`MPI_Comm_spawn`), and returns the executor over them. Works without `mpirun`
    /// (Open MPI then starts its runtime in the background). Worker ranks that `mpirun`
    /// started, if any, are stopped.
    ///
    /// Fails with [`Error::Spawn`] if MPI could not start them all (an MPI error may also end
    /// the process, as MPI's default error handler does), and as [`executor`](Mpi::executor)
    /// does.
    pub fn spawn(mut self, n: usize) -> Result<MpiExecutor, Error> {
        let (universe, driver) = self.parts.take().expect("an Mpi is consumed once");
        // The ranks that `mpirun` started, if any, are not used.
        let (comm, outbox) = driver.into_parts();
        stop(comm, outbox);
        let exe = match std::env::current_exe() {
            Ok(exe) if n > 0 => exe,
            Ok(_) => return Err(Error::NoWorkers),
            Err(e) => return Err(Error::Executable(e.to_string())),
        };
        let mut command = std::process::Command::new(exe);
        command.args(std::env::args_os().skip(1));
        let requested = mpi::Rank::try_from(n).unwrap_or(mpi::Rank::MAX);
        match SimpleCommunicator::self_comm()
            .this_process()
            .spawn(&command, requested)
        {
            Ok(inter) => {
                let driver = Driver::new(
                    Link::Inter(inter),
                    Outbox::default(),
                    self.timeout,
                    self.serialized,
                );
                executor::start(universe, driver, self.timeout, self.task_timeout)
            }
            Err(e) => {
                // Some workers may have started: finalizing could wait for them forever.
                std::mem::forget(universe);
                Err(match e {
                    mpi::MpiError::Spawn(failed, _) => Error::Spawn {
                        requested: n,
                        failed: usize::try_from(failed).unwrap_or(n),
                    },
                    other => Error::Executable(other.to_string()),
                })
            }
        }
    }

    /// [`executor`](Mpi::executor) under `mpirun -np N` with N ≥ 2, [`spawn`](Mpi::spawn)`(n)`
    /// otherwise.
    pub fn executor_or_spawn(self, n: usize) -> Result<MpiExecutor, Error> {
        if self.world_size() > 1 {
            self.executor()
        } else {
            self.spawn(n)
        }
    }
}

/// Tells the workers of `link` to stop and waits (bounded) until they have the message.
fn stop(link: Link, mut outbox: Outbox) {
    for i in 0..link.workers() {
        link.send(
            &mut outbox,
            link.worker_rank(i),
            wire::encode(&wire::ToWorker::Stop),
        );
    }
    outbox.flush(std::time::Instant::now() + Duration::from_secs(10), || {
        while link.try_receive().is_some() {}
    });
    // Unsent stop messages are abandoned with the outbox: those ranks are gone.
    drop(outbox);
    drop(link);
}

impl Drop for Mpi {
    fn drop(&mut self) {
        if let Some((universe, driver)) = self.parts.take() {
            let workers: Vec<mpi::Rank> = (1..self.world_size)
                .filter_map(|r| mpi::Rank::try_from(r).ok())
                .collect();
            executor::shut_down(universe, driver, &workers, true);
        }
    }
}
