//! The pool worker process: runs chunks until told to stop, its task budget is spent, or the
//! pool goes away.

use std::os::fd::OwnedFd;

use serde::{Deserialize, Serialize};

use super::task::{ChunkReply, Failure, FromWorker, TaskEntry, ToWorker};
use crate::codec::{Bytes, Fd};
use crate::connection::{self, Connection};
use crate::deadline::Deadline;
use crate::start::{Entry, Invocation, Outcome};
use crate::sys;

/// A worker's initializer: an entry for `Fn(A)` and its encoded argument.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Initializer {
    pub(crate) entry: i64,
    pub(crate) tag: u64,
    pub(crate) args: Bytes,
    pub(crate) fds: Vec<Fd>,
}

impl Initializer {
    fn duplicate(&self) -> std::io::Result<Initializer> {
        Ok(Initializer {
            entry: self.entry,
            tag: self.tag,
            args: self.args.clone(),
            fds: self
                .fds
                .iter()
                .map(Fd::try_clone)
                .collect::<std::io::Result<_>>()?,
        })
    }
}

/// What a worker is started with.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WorkerArgs {
    pub(crate) conn: Connection,
    pub(crate) init: Option<Initializer>,
    pub(crate) max_tasks: Option<u64>,
}

impl WorkerArgs {
    pub(crate) fn new(
        conn: Connection,
        init: Option<&Initializer>,
        max_tasks: Option<u64>,
    ) -> std::io::Result<Self> {
        Ok(WorkerArgs {
            conn,
            init: init.map(Initializer::duplicate).transpose()?,
            max_tasks,
        })
    }
}

/// The worker's main function (a process target).
pub(crate) fn worker_main(args: WorkerArgs) {
    // Task panics are reported to the caller with their message, as Python does; the worker
    // prints nothing for them.
    std::panic::set_hook(Box::new(|_| {}));
    let conn = args.conn;
    if let Some(init) = args.init {
        let entry = sys::target::entry_from_parent::<Entry>(init.entry);
        let inv = Invocation {
            tag: init.tag,
            args: init.args.0,
            fds: init.fds.into_iter().map(OwnedFd::from).collect(),
        };
        let failure = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| entry(inv))) {
            Ok(Outcome::Returned { .. }) => None,
            Ok(Outcome::Panicked(m)) | Ok(Outcome::Failed(m)) => Some(m),
            Err(p) => Some(crate::start::panic_message(p.as_ref())),
        };
        if let Some(msg) = failure {
            let _ = conn.send(&FromWorker::InitFailed(msg));
            crate::exit(1);
        }
    }
    let mut done = 0u64;
    // Replies wait here while more work is already buffered, and go out in one write. A task
    // that kills the worker loses the replies held for the chunks before it; the pool re-runs
    // those (see the scheduler).
    let mut held = Vec::new();
    while args.max_tasks.is_none_or(|m| done < m) {
        if !held.is_empty() && !conn.frame_ready() && flush(&conn, &mut held).is_err() {
            return;
        }
        let (reply, exact) = match conn.recv::<ToWorker>() {
            Ok(ToWorker::Run {
                entry,
                tag,
                items,
                fds,
                exact,
            }) => {
                if exact && flush(&conn, &mut held).is_err() {
                    return;
                }
                let run = sys::target::entry_from_parent::<TaskEntry>(entry);
                (
                    run(tag, &items.0, fds.into_iter().map(OwnedFd::from).collect()),
                    exact,
                )
            }
            Err(connection::Error::Decode(e)) => {
                (ChunkReply::Failed(Failure::Failed(e.to_string())), true)
            }
            Err(_) => return, // the pool is gone
        };
        done += 1;
        let mut frame = Vec::new();
        let sent = match connection::frame_typed(&FromWorker::Done(reply), &mut frame) {
            Ok(fds) if fds.is_empty() => {
                held.extend_from_slice(&frame);
                Ok(())
            }
            // Descriptors cannot share a write with other frames' bytes.
            Ok(fds) => flush(&conn, &mut held).and_then(|()| {
                let borrowed: Vec<_> = fds.iter().map(std::os::fd::AsFd::as_fd).collect();
                conn.send_raw(&[&frame], &borrowed, Deadline::NEVER, None)
            }),
            Err(e) => {
                let failed = FromWorker::Done(ChunkReply::Failed(Failure::Failed(format!(
                    "the reply could not be sent: {e}"
                ))));
                connection::frame_typed(&failed, &mut held).map(drop)
            }
        };
        if sent.is_err() || ((exact || held.len() >= 64 * 1024) && flush(&conn, &mut held).is_err())
        {
            return;
        }
    }
    let _ = flush(&conn, &mut held);
}

fn flush(conn: &Connection, held: &mut Vec<u8>) -> Result<(), connection::Error> {
    if held.is_empty() {
        return Ok(());
    }
    let r = conn.send_raw(&[held], &[], Deadline::NEVER, None);
    held.clear();
    r
}
