//! The communicator between the driver and its workers, whichever way they were started.

use mpi::Rank;
use mpi::point_to_point::MatchedReceiveVec;
use mpi::topology::{InterCommunicator, SimpleCommunicator};
use mpi::traits::*;

use crate::outbox::Outbox;
use crate::wire::TAG;

/// Where the other side is.
pub(crate) enum Link {
    /// Under `mpirun`: a duplicate of the world; the driver is rank 0, worker `i` is rank
    /// `i + 1`.
    World(SimpleCommunicator),
    /// Workers spawned with `MPI_Comm_spawn`: seen from the driver, worker `i` is remote
    /// rank `i`; seen from a worker, the driver is remote rank 0 of its parent.
    Inter(InterCommunicator),
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Link::World(_) => "Link::World",
            Link::Inter(_) => "Link::Inter",
        })
    }
}

/// How the workers were started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkKind {
    /// Ranks of `mpirun`'s world.
    Mpirun,
    /// Spawned by the driver.
    Spawned,
}

impl Link {
    pub(crate) fn kind(&self) -> LinkKind {
        match self {
            Link::World(_) => LinkKind::Mpirun,
            Link::Inter(_) => LinkKind::Spawned,
        }
    }

    /// The MPI rank of worker `i` in this link, as seen from the driver.
    pub(crate) fn worker_rank(&self, i: usize) -> Rank {
        let i = Rank::try_from(i).expect("fewer workers than i32::MAX");
        match self {
            Link::World(_) => i + 1,
            Link::Inter(_) => i,
        }
    }

    /// The number of workers, seen from the driver.
    pub(crate) fn workers(&self) -> usize {
        let n = match self {
            Link::World(c) => c.size() - 1,
            Link::Inter(c) => c.remote_size(),
        };
        usize::try_from(n).unwrap_or(0)
    }

    /// Starts sending `bytes` to rank `rank` (of the other side).
    pub(crate) fn send(&self, outbox: &mut Outbox, rank: Rank, bytes: Vec<u8>) {
        match self {
            Link::World(c) => outbox.send(&c.process_at_rank(rank), TAG, bytes),
            Link::Inter(c) => outbox.send(&c.process_at_rank(rank), TAG, bytes),
        }
    }

    /// A message that has arrived, with its sender's rank, if any.
    pub(crate) fn try_receive(&self) -> Option<(Rank, Vec<u8>)> {
        let probed = match self {
            Link::World(c) => c.any_process().immediate_matched_probe_with_tag(TAG),
            Link::Inter(c) => c.any_process().immediate_matched_probe_with_tag(TAG),
        }?;
        let (bytes, status) = probed.matched_receive_vec::<u8>();
        Some((status.source_rank(), bytes))
    }
}
