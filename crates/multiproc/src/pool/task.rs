//! What travels between the pool and its workers, and the entries that run tasks in a worker.

use std::os::fd::OwnedFd;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::TaskPanic;
use super::panic;
use crate::codec::{self, Bytes, Encoded, Fd};
use crate::sys;

/// Runs a chunk of tasks in a worker: decodes `Vec<A>`, applies the target to each, and
/// reports through the [`Watch`] as it goes. (`'w` is the watch's lifetime: one entry serves
/// every watch; offsets are taken of `TaskEntry<'static>`.)
pub(crate) type TaskEntry<'w> =
    for<'a, 'b> fn(u64, &'a [u8], Vec<OwnedFd>, &'b mut (dyn Watch + 'w)) -> ChunkReply;

/// How a worker answers a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Answer {
    /// One reply when the chunk is done: the encoded `Vec<R>` if every task returned.
    Whole,
    /// One reply when the chunk is done, with one result per task (a chunk whose results
    /// join those of another run).
    PerTask,
    /// Announces the chunk's start, then sends each task's result as soon as the task ends
    /// (a chunk under a timeout: the pool sees each task start).
    Stream,
}

/// Pool → worker: run a chunk.
#[derive(Debug, Deserialize)]
pub(crate) struct Run {
    /// The chunk's number on this worker's claim board.
    pub(crate) seq: u32,
    pub(crate) entry: i64,
    pub(crate) tag: u64,
    pub(crate) answer: Answer,
    pub(crate) items: Bytes,
    pub(crate) fds: Vec<Fd>,
}

/// The borrowed twin of [`Run`], encoded identically, so that a chunk can be sent again.
#[derive(Debug, Serialize)]
pub(crate) struct RunRef<'a> {
    pub(crate) seq: u32,
    pub(crate) entry: i64,
    pub(crate) tag: u64,
    pub(crate) answer: Answer,
    pub(crate) items: &'a Bytes,
    pub(crate) fds: &'a [Fd],
}

/// Worker → pool.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker {
    /// The initializer returned (or there is none): the worker takes chunks.
    Ready,
    /// The initializer failed (the text says how and where); the worker exits.
    InitFailed(String),
    /// Chunk `seq` is done.
    Done { seq: u32, reply: ChunkReply },
    /// Chunk `seq` (answered [`Answer::Stream`]) starts.
    Started { seq: u32 },
    /// Task `index` of chunk `seq` (answered [`Answer::Stream`]) ended.
    Item {
        seq: u32,
        index: u32,
        result: ItemReply,
    },
    /// Chunk `seq` was taken back by the pool (see the claim board): it did not run.
    Skipped { seq: u32 },
}

/// One task's failure, as a worker reports it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Failure {
    Panicked(TaskPanic),
    Failed(String),
}

/// One task's encoded result, or its failure.
pub(crate) type ItemReply = Result<(Bytes, Vec<Fd>), Failure>;

/// How a chunk went.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ChunkReply {
    /// Every task returned; the encoded `Vec<R>`.
    Values { bytes: Bytes, fds: Vec<Fd> },
    /// One encoded `R` or failure per task.
    Items(Vec<ItemReply>),
    /// Every result was already sent on its own ([`Answer::Stream`]).
    Streamed,
    /// The whole chunk failed before any task ran.
    Failed(Failure),
}

/// What the worker learns of a chunk while it runs.
pub(crate) trait Watch {
    /// How the chunk is answered.
    fn answer(&self) -> Answer;
    /// Task `index` starts.
    fn started(&mut self, _index: usize) {}
    /// Task `index` ended ([`Answer::Stream`] only).
    fn finished(&mut self, _index: usize, _result: ItemReply) {}
}

/// A chunk answered in one reply, watched by nobody (chunks run outside a pool worker).
#[derive(Debug)]
pub(crate) struct Unwatched;

impl Watch for Unwatched {
    fn answer(&self) -> Answer {
        Answer::Whole
    }
}

fn encoded(e: Encoded) -> (Bytes, Vec<Fd>) {
    (Bytes(e.bytes), e.fds.into_iter().map(Fd::from).collect())
}

/// The task entry for `F: Fn(A) -> R`.
pub(crate) fn task_entry<'w, F, A, R>(
    tag: u64,
    items: &[u8],
    fds: Vec<OwnedFd>,
    watch: &mut (dyn Watch + 'w),
) -> ChunkReply
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
    // Panics are captured for the whole chunk: each task then pays only for `catch_unwind`.
    let _scope = panic::Scope::enter();
    let args: Vec<A> = match panic::catch(|| codec::decode::<Vec<A>>(items, fds)) {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            return ChunkReply::Failed(Failure::Failed(format!(
                "the arguments could not be received: {e}"
            )));
        }
        Err(p) => return ChunkReply::Failed(Failure::Panicked(p)),
    };
    let answer = watch.answer();
    if answer == Answer::Stream {
        for (i, a) in args.into_iter().enumerate() {
            watch.started(i);
            let r = match panic::catch(|| f(a)) {
                Ok(v) => encode_one(&v),
                Err(p) => Err(Failure::Panicked(p)),
            };
            watch.finished(i, r);
        }
        return ChunkReply::Streamed;
    }
    let results: Vec<Result<R, Failure>> = args
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            watch.started(i);
            panic::catch(|| f(a)).map_err(Failure::Panicked)
        })
        .collect();
    if answer == Answer::Whole && results.iter().all(Result::is_ok) {
        // In place: the results' buffer becomes the values'.
        let values: Vec<R> = results
            .into_iter()
            .map(|r| match r {
                Ok(v) => v,
                Err(_) => unreachable!("all tasks returned"),
            })
            .collect();
        return match panic::catch(|| codec::encode(&values)) {
            Ok(Ok(e)) => {
                let (bytes, fds) = encoded(e);
                ChunkReply::Values { bytes, fds }
            }
            // Find out which values cannot be encoded.
            _ => ChunkReply::Items(values.iter().map(encode_one).collect()),
        };
    }
    ChunkReply::Items(
        results
            .into_iter()
            .map(|r| r.and_then(|v| encode_one(&v)))
            .collect(),
    )
}

fn encode_one<R: Serialize>(v: &R) -> ItemReply {
    match panic::catch(|| codec::encode(v)) {
        Ok(Ok(e)) => Ok(encoded(e)),
        Ok(Err(e)) => Err(Failure::Failed(format!(
            "the result could not be sent: {e}"
        ))),
        Err(p) => Err(Failure::Panicked(p)),
    }
}

/// Re-encodes the tasks at positions `keep` of a chunk as a chunk of their own (in the pool
/// process), to run again the tasks of a chunk that did not finish.
pub(crate) type SubsetFn = fn(&[u8], &[Fd], &[usize]) -> Option<Encoded>;

/// The [`SubsetFn`] for argument type `A`.
pub(crate) fn subset<A: Serialize + DeserializeOwned>(
    items: &[u8],
    fds: &[Fd],
    keep: &[usize],
) -> Option<Encoded> {
    let fds: Vec<OwnedFd> = fds
        .iter()
        .map(|f| f.try_clone().ok().map(OwnedFd::from))
        .collect::<Option<_>>()?;
    let args: Vec<A> = codec::decode(items, fds).ok()?;
    let picked: Vec<&A> = keep.iter().map(|&k| args.get(k)).collect::<Option<_>>()?;
    codec::encode(&picked).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: u32) -> u32 {
        assert!(x != 3, "no threes");
        x * 2
    }

    struct Recorder {
        answer: Answer,
        started: Vec<usize>,
        finished: Vec<(usize, bool)>,
    }

    impl Watch for Recorder {
        fn answer(&self) -> Answer {
            self.answer
        }
        fn started(&mut self, i: usize) {
            self.started.push(i);
        }
        fn finished(&mut self, i: usize, r: ItemReply) {
            self.finished.push((i, r.is_ok()));
        }
    }

    fn run(items: &[u32], answer: Answer) -> (ChunkReply, Recorder) {
        let mut w = Recorder {
            answer,
            started: Vec::new(),
            finished: Vec::new(),
        };
        let bytes = codec::encode(items).unwrap().bytes;
        (run_double(&bytes, &mut w), w)
    }

    /// Runs `double`'s entry in this process (the entry conjures the zero-sized fn item).
    fn run_double(bytes: &[u8], w: &mut dyn Watch) -> ChunkReply {
        fn call<F: Fn(u32) -> u32 + Copy + 'static>(
            _f: F,
            bytes: &[u8],
            w: &mut dyn Watch,
        ) -> ChunkReply {
            task_entry::<F, u32, u32>(
                crate::start::tag_of::<(F, u32, u32)>(),
                bytes,
                Vec::new(),
                w,
            )
        }
        call(double, bytes, w)
    }

    #[test]
    fn whole_per_task_and_streamed_answers() {
        let (reply, w) = run(&[1, 2], Answer::Whole);
        assert!(matches!(reply, ChunkReply::Values { .. }));
        assert_eq!(w.started, [0, 1]);

        let (reply, _) = run(&[1, 2], Answer::PerTask);
        assert!(matches!(&reply, ChunkReply::Items(v) if v.len() == 2));

        let (reply, w) = run(&[1, 3, 2], Answer::Whole);
        match reply {
            ChunkReply::Items(v) => {
                assert!(v[0].is_ok() && v[2].is_ok());
                match &v[1] {
                    Err(Failure::Panicked(p)) => {
                        assert_eq!(p.message(), "no threes");
                        assert!(p.location().unwrap().contains("task.rs"));
                    }
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(w.started, [0, 1, 2]);

        let (reply, w) = run(&[1, 3], Answer::Stream);
        assert!(matches!(reply, ChunkReply::Streamed));
        assert_eq!(w.started, [0, 1]);
        assert_eq!(w.finished, [(0, true), (1, false)]);
    }

    #[test]
    fn subset_keeps_the_chosen_tasks() {
        let e = codec::encode(&vec![10u32, 11, 12, 13]).unwrap();
        let s = subset::<u32>(&e.bytes, &[], &[1, 3]).unwrap();
        let back: Vec<u32> = codec::decode(&s.bytes, s.fds).unwrap();
        assert_eq!(back, [11, 13]);
        assert!(subset::<u32>(&e.bytes, &[], &[9]).is_none());
    }
}
