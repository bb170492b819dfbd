//! What travels between the pool and its workers, and the entries that run tasks in a worker.

use std::os::fd::OwnedFd;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec::{self, Bytes, Encoded, Fd};
use crate::sys;

/// Runs a chunk of tasks in a worker: decodes `Vec<A>`, applies the target to each, encodes.
pub(crate) type TaskEntry = fn(u64, &[u8], Vec<OwnedFd>) -> ChunkReply;

/// Pool → worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// Run a chunk of tasks. With `exact`, the worker first sends every reply it holds and
    /// answers this chunk at once, so the pool knows exactly when it started and ended.
    Run {
        entry: i64,
        tag: u64,
        items: Bytes,
        fds: Vec<Fd>,
        exact: bool,
    },
}

/// Worker → pool.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker {
    /// The next chunk, in order, is done.
    Done(ChunkReply),
    /// The initializer failed; the worker exits.
    InitFailed(String),
}

/// One task's failure, as a worker reports it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Failure {
    Panicked(String),
    Failed(String),
}

/// How a chunk went.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ChunkReply {
    /// Every task returned; the encoded `Vec<R>`.
    Values { bytes: Bytes, fds: Vec<Fd> },
    /// Some tasks failed: one encoded `R` or failure per task.
    Items(Vec<Result<(Bytes, Vec<Fd>), Failure>>),
    /// The whole chunk failed before any task ran.
    Failed(Failure),
}

fn encoded(e: Encoded) -> (Bytes, Vec<Fd>) {
    (Bytes(e.bytes), e.fds.into_iter().map(Fd::from).collect())
}

/// The task entry for `F: Fn(A) -> R`.
pub(crate) fn task_entry<F, A, R>(tag: u64, items: &[u8], fds: Vec<OwnedFd>) -> ChunkReply
where
    F: Fn(A) -> R + Copy + 'static,
    A: DeserializeOwned,
    R: Serialize,
{
    if tag != crate::start::tag_of::<(F, A, R)>() {
        return ChunkReply::Failed(Failure::Failed(format!(
            "target mismatch: the worker found a different function than {}",
            std::any::type_name::<F>()
        )));
    }
    let f: F = sys::target::conjure::<F>();
    let args: Vec<A> = match catch_unwind(AssertUnwindSafe(|| codec::decode::<Vec<A>>(items, fds)))
    {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            return ChunkReply::Failed(Failure::Failed(format!(
                "the arguments could not be received: {e}"
            )));
        }
        Err(p) => {
            return ChunkReply::Failed(Failure::Panicked(crate::start::panic_message(p.as_ref())));
        }
    };
    let results: Vec<Result<R, Failure>> = args
        .into_iter()
        .map(|a| {
            catch_unwind(AssertUnwindSafe(|| f(a)))
                .map_err(|p| Failure::Panicked(crate::start::panic_message(p.as_ref())))
        })
        .collect();
    if results.iter().all(Result::is_ok) {
        let values: Vec<R> = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|_| unreachable!()))
            .collect();
        match catch_unwind(AssertUnwindSafe(|| codec::encode(&values))) {
            Ok(Ok(e)) => {
                let (bytes, fds) = encoded(e);
                return ChunkReply::Values { bytes, fds };
            }
            // Find out which values cannot be encoded.
            _ => return ChunkReply::Items(values.iter().map(encode_one).collect()),
        }
    }
    ChunkReply::Items(
        results
            .into_iter()
            .map(|r| match r {
                Ok(v) => encode_one(&v),
                Err(f) => Err(f),
            })
            .collect(),
    )
}

fn encode_one<R: Serialize>(v: &R) -> Result<(Bytes, Vec<Fd>), Failure> {
    match catch_unwind(AssertUnwindSafe(|| codec::encode(v))) {
        Ok(Ok(e)) => Ok(encoded(e)),
        Ok(Err(e)) => Err(Failure::Failed(format!(
            "the result could not be sent: {e}"
        ))),
        Err(p) => Err(Failure::Panicked(crate::start::panic_message(p.as_ref()))),
    }
}

/// Re-encodes each task of a chunk on its own, to re-run them one by one (in the pool process).
pub(crate) fn split_chunk<A: Serialize + DeserializeOwned>(
    items: &[u8],
    fds: &[Fd],
) -> Option<Vec<Encoded>> {
    let fds: Vec<OwnedFd> = fds
        .iter()
        .map(|f| f.try_clone().ok().map(OwnedFd::from))
        .collect::<Option<_>>()?;
    let args: Vec<A> = codec::decode(items, fds).ok()?;
    args.iter().map(|a| codec::encode(&vec![a]).ok()).collect()
}
