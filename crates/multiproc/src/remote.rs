//! Running pool tasks in processes that multiproc did not start: the building blocks for
//! executors over other transports, such as the MPI executor (`multiproc-mpi`).
//!
//! A task function is named by a [`TaskId`]: the offset of its monomorphised entry from a fixed
//! anchor in the executable, plus a type tag. It only means something in a process running the
//! very same executable, so a receiver first compares [`fingerprint()`]s, and [`run_chunk`]
//! refuses a task whose type tag does not match.
//!
//! The flow: the driver [`encode_chunk`]s inputs, sends the bytes with the [`TaskId`]; the
//! worker calls [`run_chunk`] and sends back the reply bytes; the driver calls
//! [`decode_reply`]. Panics in tasks come back as [`TaskError::Panicked`]. Descriptors cannot
//! travel this way: a chunk whose values hold handles is refused at [`encode_chunk`].

#![forbid(unsafe_code)]

use std::io::Read;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::pool::task::{self, ChunkReply, Failure, Unwatched};
use crate::pool::{PoolError, TaskEntry, TaskError, decode_outcome};
use crate::sys;

/// A task function `F: Fn(A) -> R`, named so that another process running the same executable
/// can call it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TaskId {
    offset: i64,
    tag: u64,
}

/// The [`TaskId`] of `f`.
pub fn task_id<F, A, R>(f: F) -> TaskId
where
    F: Fn(A) -> R + Copy + Send + 'static,
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    let _ = f;
    const {
        assert!(
            std::mem::size_of::<F>() == 0,
            "a task must not capture state: pass it as its argument"
        )
    };
    TaskId {
        offset: sys::target::offset_of::<TaskEntry<'static>>(task::task_entry::<F, A, R>),
        tag: crate::start::tag_of::<(F, A, R)>(),
    }
}

/// Encodes a chunk of inputs for [`run_chunk`]. Values holding descriptors are refused.
pub fn encode_chunk<A: Serialize>(items: &[A]) -> Result<Vec<u8>, PoolError> {
    let e = codec::encode(items).map_err(PoolError::Encode)?;
    if !e.fds.is_empty() {
        return Err(PoolError::Input(
            "values holding descriptors cannot travel to a remote worker".into(),
        ));
    }
    Ok(e.bytes)
}

/// Runs a chunk in this process and returns the reply for [`decode_reply`]. Each task's panic
/// is caught and reported; the caller must have checked [`fingerprint()`] against the sender's.
pub fn run_chunk(id: &TaskId, chunk: &[u8]) -> Vec<u8> {
    let run = sys::target::entry_from_parent::<TaskEntry<'static>>(id.offset);
    let reply = run(id.tag, chunk, Vec::new(), &mut Unwatched);
    let reply = match reply {
        ChunkReply::Values { fds, .. } if !fds.is_empty() => refuse_fds(),
        ChunkReply::Items(items)
            if items
                .iter()
                .any(|i| i.as_ref().is_ok_and(|(_, f)| !f.is_empty())) =>
        {
            refuse_fds()
        }
        r => r,
    };
    codec::encode(&reply)
        .map(|e| e.bytes)
        .unwrap_or_else(|e| encode_failure(&format!("the reply could not be encoded: {e}")))
}

fn refuse_fds() -> ChunkReply {
    ChunkReply::Failed(Failure::Failed(
        "results holding descriptors cannot travel back from a remote worker".into(),
    ))
}

/// The reply of a chunk that could not run at all (for a worker that cannot even call
/// [`run_chunk`], e.g. after a fingerprint mismatch).
pub fn encode_failure(message: &str) -> Vec<u8> {
    codec::encode(&ChunkReply::Failed(Failure::Failed(message.to_owned())))
        .map(|e| e.bytes)
        .unwrap_or_default()
}

/// Decodes the reply of a chunk of `n` tasks into one result per task.
pub fn decode_reply<R: DeserializeOwned>(
    reply: &[u8],
    n: usize,
) -> Result<Vec<Result<R, TaskError>>, PoolError> {
    let reply: ChunkReply = codec::decode(reply, Vec::new()).map_err(PoolError::Decode)?;
    let out = decode_outcome::<R>(crate::pool::job::outcome_of(reply), n)?;
    if out.len() != n {
        return Err(PoolError::Input(format!(
            "a reply holds {} results for {n} tasks",
            out.len()
        )));
    }
    Ok(out)
}

/// A fingerprint of this executable's file: equal in two processes only if they run the same
/// build. Computed once per process (it reads the whole file).
pub fn fingerprint() -> u64 {
    static FP: OnceLock<u64> = OnceLock::new();
    *FP.get_or_init(|| {
        use std::hash::Hasher;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        match std::fs::File::open("/proc/self/exe") {
            Ok(mut f) => {
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    match f.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => h.write(&buf[..n]),
                        Err(_) => {
                            h.write_u64(u64::MAX);
                            break;
                        }
                    }
                }
            }
            Err(_) => h.write_u64(u64::MAX),
        }
        h.finish()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: u32) -> u32 {
        x * 2
    }

    fn boom(x: u32) -> u32 {
        assert!(x != 2, "two");
        x
    }

    #[test]
    fn chunk_roundtrip_in_process() {
        let id = task_id(double);
        let reply = run_chunk(&id, &encode_chunk(&[1u32, 2, 3]).unwrap());
        let out: Vec<Result<u32, TaskError>> = decode_reply(&reply, 3).unwrap();
        assert_eq!(out, [Ok(2), Ok(4), Ok(6)]);
    }

    #[test]
    fn panics_become_task_errors() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let reply = run_chunk(&task_id(boom), &encode_chunk(&[1u32, 2]).unwrap());
        std::panic::set_hook(prev);
        let out: Vec<Result<u32, TaskError>> = decode_reply(&reply, 2).unwrap();
        assert_eq!(out[0], Ok(1));
        assert!(matches!(&out[1], Err(TaskError::Panicked(p)) if p.message().contains("two")));
    }

    #[test]
    fn mismatched_tag_is_refused() {
        let mut id = task_id(double);
        id.tag ^= 1;
        let reply = run_chunk(&id, &encode_chunk(&[1u32]).unwrap());
        let out: Vec<Result<u32, TaskError>> = decode_reply(&reply, 1).unwrap();
        assert!(matches!(&out[0], Err(TaskError::Failed(m)) if m.contains("mismatch")));
    }

    #[test]
    fn fingerprint_is_stable() {
        assert_eq!(fingerprint(), fingerprint());
    }
}
