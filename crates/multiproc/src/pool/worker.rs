//! The pool worker process: runs its initializer, then the chunks it claims, until its socket
//! ends (the pool closed it), its task budget is spent, or the pool goes away.
//!
//! Replies are batched: while more chunks wait in the socket, a reply is held and goes out with
//! the next ones in one write. A held reply never waits long behind a slow task, though: a
//! second thread of the worker (started the first time a reply is held) sends whatever has
//! been held for [`HOLD_MAX`].

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::board::{Board, Claimed};
use super::link::{Reader, Writer};
use super::panic;
use super::task::{Answer, ChunkReply, Failure, FromWorker, ItemReply, Run, TaskEntry, Watch};
use crate::codec::{Bytes, Fd};
use crate::start::{Entry, Invocation, Outcome};
use crate::sys;

/// The longest a finished chunk's reply is held for batching.
const HOLD_MAX: Duration = Duration::from_millis(1);

/// Held replies this large are sent at once.
const HOLD_BYTES: usize = 64 * 1024;

/// How long the flusher keeps its watch after replies were last held before it sleeps until
/// told (so that a busy worker does not wake it for each batch).
const FLUSHER_LINGER: Duration = Duration::from_millis(50);

/// A worker's initializer: an entry for `Fn(A)` and its encoded argument.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Initializer {
    pub(crate) entry: i64,
    pub(crate) tag: u64,
    pub(crate) args: Bytes,
    pub(crate) fds: Vec<Fd>,
}

impl Initializer {
    /// A copy for another worker (the descriptors duplicated).
    pub(crate) fn duplicate(&self) -> std::io::Result<Initializer> {
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
    /// The worker's end of its socket pair with the pool.
    pub(crate) sock: Fd,
    pub(crate) board: Board,
    pub(crate) init: Option<Initializer>,
    pub(crate) max_tasks: Option<u64>,
    /// Capture backtraces of task panics (the pool's process had `RUST_BACKTRACE` set).
    pub(crate) backtraces: bool,
}

/// The worker's main function (a process target).
pub(crate) fn worker_main(args: WorkerArgs) {
    panic::set_backtraces(args.backtraces);
    if !args.board.check() {
        return;
    }
    let sock: OwnedFd = args.sock.into();
    let out = Arc::new(Outbox::new(sock.try_clone().ok()));
    if let Some(init) = args.init {
        if let Err(how) = run_initializer(init) {
            out.push(&FromWorker::InitFailed(how));
            out.flush();
            crate::exit(1);
        }
    }
    out.push(&FromWorker::Ready);
    if !out.flush() {
        return;
    }
    serve(&sock, &args.board, &out, args.max_tasks);
    out.flush();
}

/// Runs chunks until the socket ends or `max_tasks` chunks have run.
fn serve(sock: &OwnedFd, board: &Board, out: &Arc<Outbox>, max_tasks: Option<u64>) {
    let mut reader = Reader::default();
    let mut runs = 0u64;
    while max_tasks.is_none_or(|m| runs < m) {
        if !reader.has_frame() {
            // Nothing more to run now: what is held goes out before the worker waits.
            if !out.flush() {
                return;
            }
            match reader.fill(sock.as_fd(), true) {
                Ok(_) if reader.at_eof() => return,
                Ok(_) => continue,
                Err(_) => return,
            }
        }
        let run: Run = match reader.next() {
            Some(Ok(run)) => run,
            // The pool speaks another language than this worker: nothing can be trusted.
            Some(Err(e)) => {
                log::error!(target: "multiproc", "pool worker: bad message from the pool: {e}");
                return;
            }
            None => continue,
        };
        if !board.claim(run.seq) {
            let held = out.push(&FromWorker::Skipped { seq: run.seq });
            settle(out, held, &reader);
            continue;
        }
        runs += 1;
        let entry = sys::target::entry_from_parent::<TaskEntry<'_>>(run.entry);
        let fds: Vec<OwnedFd> = run.fds.into_iter().map(OwnedFd::from).collect();
        let seq = run.seq;
        let claimed = board.claimed(seq);
        if run.answer == Answer::Stream {
            out.push(&FromWorker::Started { seq });
            out.flush();
            let mut watch = Streamer {
                claimed: &claimed,
                seq,
                out,
                last: None,
            };
            let reply = entry(run.tag, &run.items.0, fds, &mut watch);
            claimed.done();
            if let Some((index, result)) = watch.last.take() {
                out.push(&FromWorker::Item { seq, index, result });
            }
            if !matches!(reply, ChunkReply::Streamed) {
                out.push(&FromWorker::Done { seq, reply });
            }
            out.flush();
        } else {
            let mut watch = Batch {
                claimed: &claimed,
                answer: run.answer,
            };
            let reply = entry(run.tag, &run.items.0, fds, &mut watch);
            claimed.done();
            let held = out.push(&FromWorker::Done { seq, reply });
            settle(out, held, &reader);
        }
    }
}

/// After a reply: sends what is held (`held` bytes) if that is much or nothing else waits to
/// run, else keeps it for the next write, under the flusher's watch.
fn settle(out: &Arc<Outbox>, held: usize, reader: &Reader) {
    if held >= HOLD_BYTES || !reader.has_frame() {
        out.flush();
    } else {
        Outbox::hold(out);
    }
}

/// Runs the initializer; the failure's text (with the panic's location) if it fails.
fn run_initializer(init: Initializer) -> Result<(), String> {
    let entry = sys::target::entry_from_parent::<Entry>(init.entry);
    let inv = Invocation {
        tag: init.tag,
        args: init.args.0,
        fds: init.fds.into_iter().map(OwnedFd::from).collect(),
    };
    // The entry catches its own panic; the hook still saw where it happened.
    match panic::capture(|| entry(inv)) {
        (Ok(Outcome::Returned { .. }), _) => Ok(()),
        (Ok(Outcome::Panicked(_)), Some(seen)) => Err(seen.to_string()),
        (Ok(Outcome::Panicked(m)), None) => Err(format!("panicked: {m}")),
        (Ok(Outcome::Failed(m)), _) => Err(m),
        (Err(p), _) => Err(p.to_string()),
    }
}

/// A chunk answered in one reply: the board follows its tasks.
struct Batch<'a> {
    claimed: &'a Claimed<'a>,
    answer: Answer,
}

impl Watch for Batch<'_> {
    fn answer(&self) -> Answer {
        self.answer
    }

    fn started(&mut self, index: usize) {
        if index > 0 {
            self.claimed.started(index);
        }
    }
}

/// A chunk answered task by task. A task's result goes out once the next task has started (on
/// the board), so that the pool, when it reads the result, sees the next task running.
struct Streamer<'a> {
    claimed: &'a Claimed<'a>,
    seq: u32,
    out: &'a Outbox,
    last: Option<(u32, ItemReply)>,
}

impl Watch for Streamer<'_> {
    fn answer(&self) -> Answer {
        Answer::Stream
    }

    fn started(&mut self, index: usize) {
        if index > 0 {
            self.claimed.started(index);
        }
        if let Some((index, result)) = self.last.take() {
            self.out.push(&FromWorker::Item {
                seq: self.seq,
                index,
                result,
            });
            self.out.flush();
        }
    }

    fn finished(&mut self, index: usize, result: ItemReply) {
        self.last = Some((u32::try_from(index).unwrap_or(u32::MAX), result));
    }
}

/// Replies on their way to the pool, shared by the worker's loop and its flusher thread.
struct Outbox {
    sock: Option<OwnedFd>,
    state: Mutex<Held>,
    cv: Condvar,
}

struct Held {
    writer: Writer,
    /// When the oldest unsent reply was pushed.
    since: Option<Instant>,
    /// When the worker last went on with replies held.
    last_hold: Instant,
    /// The flusher thread runs.
    flusher: bool,
    /// The flusher sleeps until told.
    flusher_asleep: bool,
    /// A write failed: the pool is gone.
    broken: bool,
}

impl Outbox {
    fn new(sock: Option<OwnedFd>) -> Outbox {
        Outbox {
            sock,
            state: Mutex::new(Held {
                writer: Writer::default(),
                since: None,
                last_hold: Instant::now(),
                flusher: false,
                flusher_asleep: false,
                broken: false,
            }),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `msg` to what goes out at the next flush; returns the bytes waiting.
    fn push(&self, msg: &FromWorker) -> usize {
        let mut held = self.lock();
        if let Err(e) = held.writer.push(msg) {
            // Only descriptors that cannot be duplicated get here: say so instead.
            let text = format!("the reply could not be sent: {e}");
            if let Some(failed) = reply_failure(msg, text) {
                let _ = held.writer.push(&failed);
            }
        }
        if held.since.is_none() {
            held.since = Some(Instant::now());
        }
        held.writer.pending()
    }

    /// The worker goes on to its next chunk with replies held: the flusher watches them.
    fn hold(this: &Arc<Outbox>) {
        let mut held = this.lock();
        held.last_hold = Instant::now();
        if !held.flusher {
            let flusher = this.clone();
            held.flusher = std::thread::Builder::new()
                .name("multiproc-pool-flush".into())
                .spawn(move || flusher.watch())
                .is_ok();
        } else if held.flusher_asleep {
            this.cv.notify_one();
        }
    }

    /// Sends everything held; false if the pool is gone.
    fn flush(&self) -> bool {
        let mut held = self.lock();
        self.write(&mut held)
    }

    fn write(&self, held: &mut Held) -> bool {
        held.since = None;
        if held.broken {
            return false;
        }
        let Some(sock) = &self.sock else {
            held.broken = true;
            return false;
        };
        if held.writer.write(sock.as_fd(), true).is_err() {
            held.broken = true;
        }
        !held.broken
    }

    /// The flusher thread: sends replies held for [`HOLD_MAX`]; sleeps while none are held.
    fn watch(&self) {
        let mut held = self.lock();
        loop {
            if held.broken {
                return;
            }
            let now = Instant::now();
            match held.since {
                Some(since) if now >= since + HOLD_MAX => {
                    self.write(&mut held);
                }
                Some(since) => held = self.wait(held, Some(since + HOLD_MAX - now)),
                None if now < held.last_hold + FLUSHER_LINGER => {
                    held = self.wait(held, Some(HOLD_MAX));
                }
                None => {
                    held.flusher_asleep = true;
                    held = self.wait(held, None);
                    held.flusher_asleep = false;
                }
            }
        }
    }

    fn wait<'a>(
        &self,
        held: MutexGuard<'a, Held>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, Held> {
        match timeout {
            Some(t) => {
                self.cv
                    .wait_timeout(held, t)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => self.cv.wait(held).unwrap_or_else(|e| e.into_inner()),
        }
    }
}

/// The failure that replaces a reply that cannot be sent (only replies carry values).
fn reply_failure(msg: &FromWorker, text: String) -> Option<FromWorker> {
    match msg {
        FromWorker::Done { seq, .. } => Some(FromWorker::Done {
            seq: *seq,
            reply: ChunkReply::Failed(Failure::Failed(text)),
        }),
        FromWorker::Item { seq, index, .. } => Some(FromWorker::Item {
            seq: *seq,
            index: *index,
            result: Err(Failure::Failed(text)),
        }),
        _ => None,
    }
}
