//! The claim board: one page of shared memory per worker, where the pool and the worker settle,
//! without a message, who runs a chunk that waits in the worker's socket.
//!
//! The pool writes chunks into a worker's socket ahead of time (pipelining), so that short tasks
//! do not each pay a round trip. A chunk in the socket is not yet the worker's: before running
//! it, the worker *claims* it on the board, and the pool may *revoke* it first, to hand it to a
//! worker that is free while this one is busy or stopped. Both are one compare-and-swap on the
//! chunk's word, so exactly one side wins, even against a worker that is frozen (SIGSTOP) in the
//! middle of its loop: a revoked chunk never runs, a claimed chunk never runs twice.
//!
//! The worker also records which task of a claimed chunk it is running, and when the chunk is
//! done. When a worker dies, the pool reads the board to tell the task that killed it from the
//! tasks that never started (which run elsewhere) and those that finished.
//!
//! Layout: [`RING`] words, each on its own cache line, indexed by the chunk's sequence number
//! modulo [`RING`]. A word holds the sequence number in its high half (so a stale word is never
//! mistaken for a newer chunk's) and the chunk's state in its low half.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::shared::mapping::Mapping;

/// Chunks a worker may hold at once (sent and not yet answered): the ring's length.
pub(crate) const RING: usize = 32;

/// Bytes between two words: one cache line, so that the pool writing the next chunk's word and
/// the worker writing its running chunk's word do not contend.
const STRIDE: usize = 64;

const QUEUED: u32 = 0;
const REVOKED: u32 = 1;
const DONE: u32 = 2;
/// `RUNNING + i`: running task `i` of the chunk.
const RUNNING: u32 = 3;

/// What became of a chunk, as its word says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// In the socket; not claimed. The pool can still take it back.
    Queued,
    /// Taken back by the pool; the worker skips it.
    Revoked,
    /// Claimed, running the task at this index.
    Running(usize),
    /// Every task ran (the reply may still be on its way, or lost with the worker).
    Done,
    /// The word belongs to another chunk: this one was never queued here.
    Unknown,
}

/// One worker's claim board (both sides hold a mapping of the same memory).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Board {
    map: Mapping,
}

fn pack(seq: u32, state: u32) -> u64 {
    (u64::from(seq) << 32) | u64::from(state)
}

impl Board {
    /// A new, empty board.
    pub(crate) fn new() -> std::io::Result<Board> {
        Ok(Board {
            map: Mapping::anonymous("multiproc-pool-board", RING * STRIDE)?,
        })
    }

    /// A second mapping of the same board (to hand to the worker).
    pub(crate) fn try_clone(&self) -> std::io::Result<Board> {
        let e = crate::codec::encode(self).map_err(std::io::Error::other)?;
        crate::codec::decode(&e.bytes, e.fds).map_err(std::io::Error::other)
    }

    /// Whether a received mapping is large enough to be a board.
    pub(crate) fn check(&self) -> bool {
        self.map.len() >= RING * STRIDE
    }

    fn word(&self, seq: u32) -> &AtomicU64 {
        self.map.u64_at((seq as usize % RING) * STRIDE)
    }

    // ----- the pool's side -----

    /// Marks chunk `seq` as queued, just before it is written to the worker. The chunk that
    /// used this word before (`seq - RING`) must be settled: the pool keeps fewer than `RING`
    /// chunks in flight per worker.
    pub(crate) fn queue(&self, seq: u32) {
        // The worker sees it only after the chunk's bytes, which the socket orders after this.
        self.word(seq).store(pack(seq, QUEUED), Ordering::Release);
    }

    /// Takes chunk `seq` back if the worker has not claimed it; true if it never will run.
    pub(crate) fn revoke(&self, seq: u32) -> bool {
        self.word(seq)
            .compare_exchange(
                pack(seq, QUEUED),
                pack(seq, REVOKED),
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
    }

    /// The state of chunk `seq`.
    pub(crate) fn fate(&self, seq: u32) -> Fate {
        let v = self.word(seq).load(Ordering::Acquire);
        if (v >> 32) as u32 != seq {
            return Fate::Unknown;
        }
        match v as u32 {
            QUEUED => Fate::Queued,
            REVOKED => Fate::Revoked,
            DONE => Fate::Done,
            n => Fate::Running((n - RUNNING) as usize),
        }
    }

    // ----- the worker's side -----

    /// Claims chunk `seq` before running it; false if the pool took it back (skip it).
    pub(crate) fn claim(&self, seq: u32) -> bool {
        self.word(seq)
            .compare_exchange(
                pack(seq, QUEUED),
                pack(seq, RUNNING),
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
    }

    /// The word of the claimed chunk `seq`, to record its progress.
    pub(crate) fn claimed(&self, seq: u32) -> Claimed<'_> {
        Claimed {
            word: self.word(seq),
            seq,
        }
    }
}

/// The word of a chunk the worker claimed: where it records which task runs.
#[derive(Debug)]
pub(crate) struct Claimed<'a> {
    word: &'a AtomicU64,
    seq: u32,
}

impl Claimed<'_> {
    /// Records that task `index` starts.
    pub(crate) fn started(&self, index: usize) {
        let state = u32::try_from(index)
            .ok()
            .and_then(|i| i.checked_add(RUNNING))
            .unwrap_or(u32::MAX);
        self.word.store(pack(self.seq, state), Ordering::Release);
    }

    /// Records that every task ran.
    pub(crate) fn done(&self) {
        self.word.store(pack(self.seq, DONE), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_and_revoke_exclude_each_other() {
        let b = Board::new().unwrap();
        b.queue(7);
        assert_eq!(b.fate(7), Fate::Queued);
        assert!(b.revoke(7));
        assert!(!b.claim(7), "a revoked chunk cannot be claimed");
        assert_eq!(b.fate(7), Fate::Revoked);

        b.queue(8);
        assert!(b.claim(8));
        assert!(!b.revoke(8), "a claimed chunk cannot be revoked");
        assert_eq!(b.fate(8), Fate::Running(0));
        b.claimed(8).started(5);
        assert_eq!(b.fate(8), Fate::Running(5));
        b.claimed(8).done();
        assert_eq!(b.fate(8), Fate::Done);
    }

    #[test]
    fn a_word_reused_by_a_later_chunk_is_not_mistaken_for_the_old_one() {
        let b = Board::new().unwrap();
        b.queue(3);
        b.queue(3 + RING as u32);
        assert_eq!(b.fate(3), Fate::Unknown);
        assert!(!b.revoke(3));
        assert!(!b.claim(3));
        assert_eq!(b.fate(3 + RING as u32), Fate::Queued);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let b = Board::new().unwrap();
        b.queue(u32::MAX);
        assert!(b.claim(u32::MAX));
        b.queue(0);
        assert_eq!(b.fate(0), Fate::Queued);
        assert_eq!(b.fate(u32::MAX), Fate::Running(0));
    }

    #[test]
    fn travels_to_another_process_encoding() {
        let b = Board::new().unwrap();
        b.queue(1);
        let e = crate::codec::encode(&b).unwrap();
        let copy: Board = crate::codec::decode(&e.bytes, e.fds).unwrap();
        assert!(copy.check());
        assert!(copy.claim(1));
        assert_eq!(b.fate(1), Fate::Running(0));
    }
}
