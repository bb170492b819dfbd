//! The sources of a run in shared memory, claimed one at a time by the workers.
//!
//! Each worker is given one task that claims the next source of the list, counts it into its
//! own table, and claims again until none is left: sources go to whichever worker is free, in
//! input order, and each worker sends back a single table however many sources it counted. The
//! list is written once into a shared mapping that every worker maps, and a worker decodes
//! only the entries it claims. A worker that fails stops the claiming of later sources, so no
//! source after a failed one is started.

use std::io;

use multiproc::Array;
use serde::{Deserialize, Serialize};

use crate::source::Source;

/// Index of the next entry to claim.
const NEXT: usize = 0;
/// Entries from this index on are not claimed (`u64::MAX`: all are).
const STOP: usize = 8;
/// Bytes counted so far.
const COUNTED: usize = 16;
/// Number of entries.
const LEN: usize = 24;
/// Offsets of the entries (one more than there are: the end of the last).
const OFFSETS: usize = 32;

/// A list of sources, each with its position in the input, to be claimed by workers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ClaimList {
    bytes: Array<u8>,
}

fn get(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

fn put(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

impl ClaimList {
    /// Writes `sources` into shared memory.
    pub(crate) fn new(sources: &[(usize, Source)]) -> io::Result<ClaimList> {
        let n = sources.len();
        let header = OFFSETS + 8 * (n + 1);
        let mut bytes = vec![0u8; header];
        put(&mut bytes, STOP, u64::MAX);
        put(&mut bytes, LEN, n as u64);
        for (k, entry) in sources.iter().enumerate() {
            let at = bytes.len() as u64;
            put(&mut bytes, OFFSETS + 8 * k, at);
            let fds = multiproc::codec::encode_into(entry, &mut bytes).map_err(io::Error::other)?;
            debug_assert!(fds.is_empty(), "a source holds no descriptor");
        }
        let end = bytes.len() as u64;
        put(&mut bytes, OFFSETS + 8 * n, end);
        Ok(ClaimList {
            bytes: Array::try_from_slice(&bytes)?,
        })
    }

    /// Claims the next source: its index in this list, its position in the input, and the
    /// source. `None` when every source is claimed, or claiming was stopped before the next.
    pub(crate) fn claim(&self) -> Option<(usize, usize, Source)> {
        let (k, entry) = self.bytes.with_lock(|b| {
            let k = get(b, NEXT);
            if k >= get(b, LEN) || k >= get(b, STOP) {
                return None;
            }
            put(b, NEXT, k + 1);
            let at = OFFSETS + 8 * k as usize;
            let (start, end) = (get(b, at) as usize, get(b, at + 8) as usize);
            Some((k as usize, b[start..end].to_vec()))
        })?;
        let (index, source): (usize, Source) =
            multiproc::codec::decode(&entry, Vec::new()).expect("a claim list entry decodes");
        Some((k, index, source))
    }

    /// Adds `bytes` to the bytes counted.
    pub(crate) fn add_counted(&self, bytes: u64) {
        self.bytes
            .with_lock(|b| put(b, COUNTED, get(b, COUNTED) + bytes));
    }

    /// The bytes counted so far, by all workers.
    pub(crate) fn counted(&self) -> u64 {
        self.bytes.with_lock(|b| get(b, COUNTED))
    }

    /// Stops the claiming of the sources after the `k`-th of this list.
    pub(crate) fn stop_after(&self, k: usize) {
        self.bytes
            .with_lock(|b| put(b, STOP, get(b, STOP).min(k as u64 + 1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Chunk;

    #[test]
    fn sources_are_claimed_once_in_order_until_stopped() {
        let sources: Vec<(usize, Source)> = [3, 5, 8, 13]
            .into_iter()
            .map(|i| (i, Source::File(Chunk::whole(format!("file-{i}")))))
            .collect();
        let list = ClaimList::new(&sources).expect("shared memory");
        let other = list.clone();
        let (k, index, source) = list.claim().expect("first");
        assert_eq!((k, index, &source), (0, 3, &sources[0].1));
        assert_eq!(other.claim().map(|(k, i, _)| (k, i)), Some((1, 5)));
        list.add_counted(10);
        other.add_counted(5);
        assert_eq!(list.counted(), 15);
        other.stop_after(2);
        assert_eq!(list.claim().map(|(k, i, _)| (k, i)), Some((2, 8)));
        assert!(list.claim().is_none());
        assert!(other.claim().is_none());
        let empty = ClaimList::new(&[]).expect("shared memory");
        assert!(empty.claim().is_none());
    }
}
