//! [`Error`]: why the MPI executor could not start, or stopped working.

use std::time::Duration;

/// Why the MPI executor could not start, or why it stopped working.
///
/// Inside [`Executor::map_each`](multiproc::Executor::map_each) it reaches the caller as
/// [`PoolError::Executor`](multiproc::PoolError::Executor), which displays it as it is and can
/// be downcast to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// This program was started as a single process and has no worker ranks: start it under
    /// `mpirun -np N` (N ≥ 2), or spawn workers with [`Mpi::spawn`](crate::Mpi::spawn).
    #[error(
        "no MPI worker ranks: start the program under `mpirun -np N` with N >= 2, or spawn workers"
    )]
    NoWorkers,
    /// `MPI_Comm_spawn` could not start every worker.
    #[error("MPI could not spawn {failed} of {requested} worker ranks")]
    Spawn {
        /// How many workers were asked for.
        requested: usize,
        /// How many of them failed to start.
        failed: usize,
    },
    /// The path of this executable, needed to spawn workers, is unknown.
    #[error("cannot find this executable to spawn workers: {0}")]
    Executable(String),
    /// A rank runs a different executable than the driver. Nothing was sent to it, and the
    /// executor was not started.
    #[error(
        "MPI rank {rank} (pid {pid} on {host}) runs a different executable than the driver \
         (fingerprint {theirs:016x}, expected {ours:016x}): run the same build at the same path \
         on every node"
    )]
    Fingerprint {
        /// The rank, counted among the workers' communicator.
        rank: i32,
        /// Its host name.
        host: String,
        /// Its process id.
        pid: u32,
        /// Its fingerprint.
        theirs: u64,
        /// The driver's fingerprint.
        ours: u64,
    },
    /// A worker rank died.
    #[error("MPI rank {rank} (pid {pid} on {host}) died")]
    RankDied {
        /// The rank.
        rank: i32,
        /// Its host name.
        host: String,
        /// Its process id.
        pid: u32,
    },
    /// A worker rank that owed the driver a reply sent nothing for too long: it died, it
    /// was stopped, or the network between them is cut (the driver cannot tell which).
    #[error(
        "MPI rank {rank} ({}) sent nothing for {:.1} s; giving up on it",
        where_is(*.pid, host),
        silent.as_secs_f64()
    )]
    RankSilent {
        /// The rank.
        rank: i32,
        /// Its host name.
        host: String,
        /// Its process id (0 before it introduced itself).
        pid: u32,
        /// How long it was silent.
        silent: Duration,
    },
    /// A message between the driver and a rank could not be decoded.
    #[error("garbled MPI message from rank {rank}: {detail}")]
    Protocol {
        /// The sender's rank.
        rank: i32,
        /// What was wrong.
        detail: String,
    },
    /// The executor failed earlier and runs nothing more.
    #[error("the MPI executor failed earlier ({0}) and runs nothing more")]
    Broken(String),
}

/// "pid P on HOST", or what is known of a rank that never introduced itself.
fn where_is(pid: u32, host: &str) -> String {
    if pid == 0 {
        "which never answered the driver".to_owned()
    } else {
        format!("pid {pid} on {host}")
    }
}

impl From<Error> for multiproc::PoolError {
    fn from(e: Error) -> Self {
        multiproc::PoolError::Executor(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_rank_is_named_with_its_host() {
        let e = Error::RankSilent {
            rank: 2,
            host: "node3".into(),
            pid: 4711,
            silent: Duration::from_millis(5020),
        };
        assert_eq!(
            e.to_string(),
            "MPI rank 2 (pid 4711 on node3) sent nothing for 5.0 s; giving up on it"
        );
        let e = Error::RankSilent {
            rank: 2,
            host: "?".into(),
            pid: 0,
            silent: Duration::from_secs(30),
        };
        assert_eq!(
            e.to_string(),
            "MPI rank 2 (which never answered the driver) sent nothing for 30.0 s; giving up on it"
        );
    }

    #[test]
    fn no_message_repeats_its_source() {
        // None of these errors has a source: each message is the whole story, printed once.
        let errors = [
            Error::NoWorkers,
            Error::Spawn {
                requested: 2,
                failed: 1,
            },
            Error::Executable("gone".into()),
            Error::RankDied {
                rank: 1,
                host: "h".into(),
                pid: 3,
            },
            Error::Broken("earlier".into()),
        ];
        for e in &errors {
            assert!(std::error::Error::source(e).is_none(), "{e}");
        }
        let pool: multiproc::PoolError = Error::NoWorkers.into();
        assert_eq!(pool.to_string(), Error::NoWorkers.to_string());
        assert!(std::error::Error::source(&pool).is_none());
    }
}
