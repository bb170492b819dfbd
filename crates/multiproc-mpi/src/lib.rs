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
//!   rank that dies or falls silent for longer than [`Mpi::timeout`] fails the call with a
//!   clear [`Error`] (under `mpirun`, Open MPI usually ends the job first and says which rank
//!   died). Worker ranks exit if a driver on their machine disappears.
//!
//! # Entry
//!
//! [`init`] must be the first statement of `main` (it calls [`multiproc::init`] itself):
//! everything before it runs on every rank. On a worker rank it serves the driver, then
//! finalizes MPI and exits. On the driver it returns an [`Mpi`], to turn into an executor.
//!
//! See the crate's README, "Running on a cluster", for hostfiles, ssh and firewall ports.

#![deny(unsafe_code)]

mod error;
mod executor;
mod link;
mod liveness;
#[allow(unsafe_code)]
mod outbox;
mod wire;
mod worker;

use std::time::Duration;

use mpi::Threading;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

pub use error::Error;
pub use executor::MpiExecutor;

use link::Link;

/// MPI, initialized on the driver (rank 0): turn it into an [`MpiExecutor`] with
/// [`executor`](Mpi::executor), [`spawn`](Mpi::spawn) or
/// [`executor_or_spawn`](Mpi::executor_or_spawn).
///
/// Dropping it unused stops the worker ranks and finalizes MPI.
#[must_use = "an Mpi does nothing until it becomes an executor"]
pub struct Mpi {
    /// `None` once consumed.
    parts: Option<(Universe, SimpleCommunicator)>,
    timeout: Duration,
}

impl std::fmt::Debug for Mpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mpi")
            .field("world_size", &self.world_size())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Initializes MPI and decides this process's part. Call it first thing in `main`.
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
    let (universe, _) = mpi::initialize_with_threading(Threading::Funneled)
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
    Mpi {
        parts: Some((universe, comm)),
        timeout: Duration::from_secs(30),
    }
}

impl Mpi {
    /// The number of ranks that `mpirun` started, this one included (1 without `mpirun`).
    pub fn world_size(&self) -> usize {
        self.parts
            .as_ref()
            .map_or(0, |(_, c)| usize::try_from(c.size()).unwrap_or(0))
    }

    /// How long a worker rank that owes the driver a reply may stay silent before the call
    /// fails with [`Error::RankSilent`]; also how long the ranks have to answer at start.
    /// Busy ranks send a heartbeat every tenth of it (at most every second), so long tasks
    /// do not count as silence. Default: 30 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The executor over the worker ranks that `mpirun` started (ranks 1 and up).
    ///
    /// Fails with [`Error::NoWorkers`] if there are none, and with [`Error::Fingerprint`] if
    /// a rank runs a different executable.
    pub fn executor(mut self) -> Result<MpiExecutor, Error> {
        let (universe, comm) = self.parts.take().expect("an Mpi is consumed once");
        executor::start(universe, Link::World(comm), self.timeout)
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
        let (universe, comm) = self.parts.take().expect("an Mpi is consumed once");
        // The ranks that `mpirun` started, if any, are not used.
        let unused: Vec<mpi::Rank> = (1..comm.size()).collect();
        drop(stop(&comm, &unused));
        drop(comm);
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
            Ok(inter) => executor::start(universe, Link::Inter(inter), self.timeout),
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

/// Tells `ranks` of `comm` to stop and waits (bounded) until they have the message.
fn stop(comm: &SimpleCommunicator, ranks: &[mpi::Rank]) -> outbox::Outbox {
    let mut outbox = outbox::Outbox::default();
    for &rank in ranks {
        outbox.send(
            &comm.process_at_rank(rank),
            wire::TAG,
            wire::encode(&wire::ToWorker::Stop),
        );
    }
    outbox.flush(std::time::Instant::now() + Duration::from_secs(10), || {});
    outbox
}

impl Drop for Mpi {
    fn drop(&mut self) {
        if let Some((universe, comm)) = self.parts.take() {
            let workers: Vec<mpi::Rank> = (1..comm.size()).collect();
            executor::shut_down(
                universe,
                Link::World(comm),
                Default::default(),
                &workers,
                true,
            );
        }
    }
}
