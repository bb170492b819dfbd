//! The messages between the driver (rank 0) and the worker ranks, encoded with postcard and
//! sent as MPI byte messages with one tag on a communicator of their own.

use mpi::Tag;
use multiproc::Bytes;
use multiproc::remote::TaskId;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The tag of every message of this crate.
pub(crate) const TAG: Tag = 0x6d70;

/// Who a process is, on which machine: enough to tell whether a pid can be watched from here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Peer {
    pub(crate) pid: u32,
    pub(crate) host: String,
    /// Hostname, boot id and pid namespace: equal only if pids mean the same thing here.
    pub(crate) machine: String,
    /// The process's start time (in clock ticks after boot), to tell it from a reused pid.
    pub(crate) start_time: Option<u64>,
}

/// Driver → worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// The first message: the driver's fingerprint. The worker compares it with its own.
    Check {
        fingerprint: u64,
        driver: Peer,
        /// How often a worker that owes replies says it is alive.
        heartbeat_ms: u64,
        /// How long the driver may stay silent before the worker gives up on it (0: no
        /// bound; the driver then has no heartbeat of its own).
        silence_ms: u64,
    },
    /// Run a chunk of tasks.
    Work {
        chunk: u64,
        task: TaskId,
        items: Bytes,
        /// Each task's own timeout, counted from its start; a chunk with a timeout holds
        /// one task.
        timeout_ms: Option<u64>,
    },
    /// The driver's heartbeat: it is alive, and how long it may stay silent before the
    /// worker gives up on it (0: no bound).
    Alive { silence_ms: u64 },
    /// Leave: finalize MPI and exit.
    Stop,
}

/// Worker → driver.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker {
    /// The answer to `Check`: the worker's fingerprint and whether it serves.
    Hello {
        fingerprint: u64,
        accepted: bool,
        peer: Peer,
    },
    /// A chunk is done.
    Done { chunk: u64, outcome: Outcome },
    /// Still working.
    Alive,
}

/// How a chunk went on a worker rank.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Outcome {
    /// The reply of `multiproc::remote::run_chunk`.
    Reply(Bytes),
    /// The process running the chunk died (the rank itself lives on).
    WorkerDied { worker: String, exitcode: i32 },
    /// The chunk's one task ran past its timeout; its process was killed and replaced.
    TimedOut { after_ms: u64 },
    /// The chunk could not run at all.
    Failed(String),
}

pub(crate) fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Encoding into a vector fails only on out-of-memory-like conditions of the serializer.
    postcard::to_stdvec(msg).expect("postcard encodes the crate's own messages")
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| e.to_string())
}
