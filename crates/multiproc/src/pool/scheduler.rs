//! The scheduler: a thread that owns the workers, hands them chunks, collects their replies,
//! and turns deaths and timeouts into per-task errors.
//!
//! Each worker has its own connection. A worker may hold several small chunks at once (they
//! wait in its socket), so short tasks do not pay a round trip each; a worker only ever gets a
//! new chunk when the socket has room for it, so sending never blocks on a busy worker. The
//! worker runs chunks in order, so the oldest unanswered chunk is the one it is running: when
//! a worker dies, that chunk fails (or is re-run task by task, so that only the task that
//! crashes fails) and the others go back to the queue.

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::error::TaskError;
use super::task::{ChunkReply, Failure, FromWorker};
use super::worker::{Initializer, WorkerArgs, worker_main};
use crate::codec::{Bytes, Encoded, Fd};
use crate::connection::{self, Connection};
use crate::deadline::Deadline;
use crate::sys;
use crate::sys::fd::Interest;
use crate::{Handle, Process, StartMethod};

/// Most chunks waiting in one worker's socket.
const MAX_QUEUED_PER_WORKER: usize = 16;
/// Most payload bytes queued to one worker beyond the chunk it runs: well under a socket buffer.
const MAX_QUEUED_BYTES: usize = 48 * 1024;

/// How a chunk ended, as the submitter sees it.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Every task returned: the encoded `Vec<R>`.
    Values { bytes: Bytes, fds: Vec<Fd> },
    /// Per task: an encoded `R`, or the task's error.
    Items(Vec<ItemResult>),
    /// The chunk failed as a whole; every task in it gets this error.
    Failed(TaskError),
}

/// Where a chunk's outcome goes. Runs on the scheduler thread.
pub(crate) type Sink = Box<dyn FnOnce(Outcome) + Send>;

/// Re-encodes each task of a chunk on its own.
pub(crate) type SplitFn = fn(&[u8], &[Fd]) -> Option<Vec<Encoded>>;

/// A chunk of tasks to run.
pub(crate) struct Job {
    pub(crate) entry: i64,
    pub(crate) tag: u64,
    pub(crate) items: Bytes,
    pub(crate) fds: Vec<Fd>,
    pub(crate) n: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) sink: Sink,
    pub(crate) split: Option<SplitFn>,
    pub(crate) cancelled: Option<Arc<AtomicBool>>,
    /// Answered at once by the worker, with nothing held before it: its start and end are
    /// exact (for timeouts and for blaming a crash). Non-exact chunks may have their replies
    /// batched by the worker.
    pub(crate) exact: bool,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("n", &self.n)
            .field("bytes", &self.items.0.len())
            .finish_non_exhaustive()
    }
}

/// What the pool asks of the scheduler.
pub(crate) enum Command {
    Submit(Job),
    /// No more work: finish what is queued, then stop the workers.
    Close,
    /// Stop now: kill the workers, fail what is pending.
    Terminate,
}

/// The borrowed twin of `ToWorker::Run`, encoded identically, so a job can be sent again.
#[derive(Serialize)]
enum ToWorkerRef<'a> {
    Run {
        entry: i64,
        tag: u64,
        items: &'a Bytes,
        fds: &'a [Fd],
        exact: bool,
    },
}

/// How workers are made.
pub(crate) struct WorkerSpec {
    pub(crate) init: Option<Initializer>,
    pub(crate) max_tasks: Option<u64>,
    pub(crate) method: Option<StartMethod>,
}

struct Slot {
    handle: Handle<()>,
    conn: Connection,
    in_flight: VecDeque<Job>,
    head_started: Instant,
    queued_bytes: usize,
    sent: u64,
    retiring: bool,
    /// The head job already failed (timeout); the death that follows is expected.
    head_failed: bool,
    /// Sending to it failed: it is dying; give it nothing more.
    dead: bool,
}

/// State the pool shares with its scheduler.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The scheduler is about to sleep in `poll`: submitters must wake it.
    pub(crate) sleeping: AtomicBool,
    pub(crate) finished: Mutex<bool>,
    pub(crate) finished_cv: Condvar,
    pub(crate) broken: Mutex<Option<String>>,
}

pub(crate) struct Scheduler {
    slots: Vec<Slot>,
    pending: VecDeque<Job>,
    commands: Receiver<Command>,
    wake: OwnedFd,
    spec: WorkerSpec,
    size: usize,
    closed: bool,
    shared: Arc<Shared>,
}

/// Starts one worker.
pub(crate) fn start_worker(
    spec: &WorkerSpec,
) -> Result<(Handle<()>, Connection), crate::ProcessError> {
    let (ours, theirs) = sys::fd::socketpair()?;
    let ours = Connection::private(ours);
    let args = WorkerArgs::new(
        Connection::private(theirs),
        spec.init.as_ref(),
        spec.max_tasks,
    )?;
    // Daemons, as in Python: a program that exits with a pool alive terminates its workers
    // rather than waiting for them.
    let mut p = Process::new(worker_main, args).daemon(true);
    let name = p.get_name().replacen("Process", "PoolWorker", 1);
    p = p.name(name);
    if let Some(m) = spec.method {
        p = p.start_method(m);
    }
    Ok((p.start()?, ours))
}

impl Scheduler {
    pub(crate) fn new(
        workers: Vec<(Handle<()>, Connection)>,
        commands: Receiver<Command>,
        wake: OwnedFd,
        spec: WorkerSpec,
        shared: Arc<Shared>,
    ) -> Scheduler {
        let size = workers.len();
        let slots = workers.into_iter().map(|(h, c)| Slot::new(h, c)).collect();
        Scheduler {
            slots,
            pending: VecDeque::new(),
            commands,
            wake,
            spec,
            size,
            closed: false,
            shared,
        }
    }

    /// The scheduler thread's body.
    pub(crate) fn run(mut self) {
        let terminated = self.event_loop();
        if terminated {
            self.terminate();
        } else {
            self.stop_workers();
        }
        *self
            .shared
            .finished
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.finished_cv.notify_all();
    }

    /// Runs until the pool is closed and drained (false) or terminated (true).
    fn event_loop(&mut self) -> bool {
        loop {
            self.shared.sleeping.store(false, Ordering::SeqCst);
            if self.take_commands() {
                return true;
            }
            self.dispatch();
            if self.closed
                && self.pending.is_empty()
                && self.slots.iter().all(|s| s.in_flight.is_empty())
            {
                return false;
            }
            // Submitters wake us only while we sleep: announce it, then look once more for what
            // came in before they could see the announcement.
            self.shared.sleeping.store(true, Ordering::SeqCst);
            match self.commands.try_recv() {
                Ok(cmd) => {
                    if self.handle_command(cmd) {
                        return true;
                    }
                    continue;
                }
                Err(TryRecvError::Disconnected) => return true,
                Err(TryRecvError::Empty) => {}
            }

            let mut set = vec![(self.wake.as_fd(), Interest::Read)];
            for s in &self.slots {
                set.push((s.conn.as_fd(), Interest::Read));
                set.push((s.handle.sentinel(), Interest::Read));
            }
            let deadline = self.slots.iter().filter_map(Slot::deadline).min();
            let ready = match sys::fd::poll(&set, deadline) {
                Ok(r) => r,
                Err(e) => {
                    log::error!(target: "multiproc", "pool scheduler cannot poll: {e}");
                    return true;
                }
            };
            if ready[0] {
                drain_pipe(&self.wake);
            }
            let mut dead = Vec::new();
            for (i, slot) in self.slots.iter_mut().enumerate() {
                if ready[1 + 2 * i] {
                    if let Some(msg) = slot.read_replies() {
                        *self.shared.broken.lock().unwrap_or_else(|e| e.into_inner()) = Some(msg);
                    }
                }
                if ready[2 + 2 * i] {
                    dead.push(i);
                }
            }
            self.check_timeouts();
            // Highest index first, so that removals keep the other indices valid.
            for i in dead.into_iter().rev() {
                self.worker_died(i);
            }
            if let Some(msg) = self.broken() {
                self.fail_everything(TaskError::Initializer(msg));
            }
        }
    }

    /// Takes every queued command; true if the pool must terminate.
    fn take_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(cmd) => {
                    if self.handle_command(cmd) {
                        return true;
                    }
                }
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => return true,
            }
        }
    }

    /// Handles one command; true if the pool must terminate.
    fn handle_command(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::Submit(job) => {
                if let Some(msg) = self.broken() {
                    (job.sink)(Outcome::Failed(TaskError::Initializer(msg)));
                } else {
                    self.pending.push_back(job);
                }
                false
            }
            Command::Close => {
                self.closed = true;
                false
            }
            Command::Terminate => true,
        }
    }

    fn broken(&self) -> Option<String> {
        self.shared
            .broken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn dispatch(&mut self) {
        // Frames for each worker, written at the end in one system call per worker.
        let mut batches: Vec<(Vec<u8>, usize)> =
            (0..self.slots.len()).map(|_| (Vec::new(), 0)).collect();
        while let Some(job) = self.pending.front() {
            if job
                .cancelled
                .as_ref()
                .is_some_and(|c| c.load(Ordering::SeqCst))
            {
                let job = self.pending.pop_front().expect("front exists");
                (job.sink)(Outcome::Failed(TaskError::Cancelled));
                continue;
            }
            let len = job.items.0.len();
            // An idle worker first, then one with room in its socket.
            let pick = self
                .slots
                .iter()
                .position(|s| s.usable() && s.in_flight.is_empty())
                .or_else(|| {
                    self.slots
                        .iter()
                        .position(|s| s.usable() && s.has_room(len))
                });
            let Some(i) = pick else { break };
            let job = self.pending.pop_front().expect("front exists");
            let slot = &mut self.slots[i];
            let msg = ToWorkerRef::Run {
                entry: job.entry,
                tag: job.tag,
                items: &job.items,
                fds: &job.fds,
                exact: job.exact,
            };
            let sent = if job.fds.is_empty() {
                connection::frame_typed(&msg, &mut batches[i].0).map(|_| batches[i].1 += 1)
            } else {
                // Descriptors ride on their own frame; what is batched goes first, in order.
                slot.flush(&mut batches[i]).and_then(|()| {
                    slot.conn
                        .send_inner(&msg, Deadline::NEVER, Some(slot.handle.sentinel()))
                })
            };
            match sent {
                Ok(()) => {}
                Err(connection::Error::Encode(e)) => {
                    (job.sink)(Outcome::Failed(TaskError::Failed(e.to_string())));
                    continue;
                }
                Err(_) => {
                    // It is dying: its death is handled when its pidfd fires.
                    slot.dead = true;
                    self.pending.push_front(job);
                    continue;
                }
            }
            if slot.in_flight.is_empty() {
                slot.head_started = Instant::now();
            } else {
                slot.queued_bytes += len;
            }
            slot.in_flight.push_back(job);
            slot.sent += 1;
            if self.spec.max_tasks.is_some_and(|m| slot.sent >= m) {
                slot.retiring = true;
            }
        }
        for (slot, batch) in self.slots.iter_mut().zip(batches.iter_mut()) {
            let count = batch.1;
            if slot.flush(batch).is_err() {
                // The batch did not reach the worker intact: those jobs never started.
                slot.dead = true;
                for _ in 0..count {
                    if let Some(job) = slot.in_flight.pop_back() {
                        self.pending.push_front(job);
                    }
                }
            }
        }
    }

    fn check_timeouts(&mut self) {
        let now = Instant::now();
        for slot in &mut self.slots {
            if slot.head_failed || slot.deadline().is_none_or(|d| d > now) {
                continue;
            }
            let _ = slot.handle.kill();
            slot.head_failed = true;
            slot.dead = true;
            let job = slot
                .in_flight
                .pop_front()
                .expect("a deadline means a running job");
            let limit = job.timeout.unwrap_or_default();
            // The job is gone from the worker's queue; its successors go back to the pool's.
            slot.push_head_placeholder();
            (job.sink)(Outcome::Failed(TaskError::Timeout(limit)));
        }
    }

    fn worker_died(&mut self, i: usize) {
        let mut slot = self.slots.swap_remove(i);
        if let Some(msg) = slot.read_replies() {
            *self.shared.broken.lock().unwrap_or_else(|e| e.into_inner()) = Some(msg);
        }
        let exitcode = slot.handle.wait();
        let worker = slot.handle.name().to_owned();
        let mut jobs: Vec<Job> = slot.in_flight.drain(..).collect();
        let mut culprit = None;
        if slot.head_failed {
            // A placeholder for the job its timeout already failed.
            jobs.remove(0);
        } else if jobs.first().is_some_and(|j| j.exact) {
            // An exact job runs with every earlier reply sent: it is the one that died.
            culprit = Some(jobs.remove(0));
        }
        // The others go back to the front of the queue, in order. A non-exact one may have
        // finished with its reply still held in the dead worker, or may be the one that
        // crashed: it runs again, exactly, task by task.
        for job in jobs.into_iter().rev() {
            if job.exact {
                self.pending.push_front(job);
            } else {
                self.rerun_exact(job);
            }
        }
        if let Some(head) = culprit {
            if head.n > 1 && head.split.is_some() {
                // Find which of its tasks crashes.
                self.rerun_exact(head);
            } else {
                (head.sink)(Outcome::Failed(TaskError::WorkerDied { worker, exitcode }));
            }
        }
        if self.broken().is_none()
            && !(self.closed && self.pending.is_empty())
            && self.slots.len() < self.size
        {
            match start_worker(&self.spec) {
                Ok((h, c)) => self.slots.push(Slot::new(h, c)),
                Err(e) => {
                    log::error!(target: "multiproc", "cannot replace a pool worker: {e}");
                    if self.slots.is_empty() {
                        self.fail_everything(TaskError::Failed(format!(
                            "cannot start a pool worker: {e}"
                        )));
                    }
                }
            }
        }
    }

    /// Queues `job` again, at the front, as exact one-task jobs (or as one exact job if it
    /// cannot be split), so that a crash among them is blamed on the task that caused it.
    fn rerun_exact(&mut self, mut job: Job) {
        let parts = match (job.n > 1, job.split) {
            (true, Some(split)) => split(&job.items.0, &job.fds).filter(|p| p.len() == job.n),
            _ => None,
        };
        let Some(parts) = parts else {
            job.exact = true;
            job.split = None;
            self.pending.push_front(job);
            return;
        };
        let gather = Arc::new(Mutex::new(Gather {
            items: (0..job.n).map(|_| None).collect(),
            left: job.n,
            sink: Some(job.sink),
        }));
        for (k, part) in parts.into_iter().enumerate().rev() {
            let gather = gather.clone();
            self.pending.push_front(Job {
                entry: job.entry,
                tag: job.tag,
                items: Bytes(part.bytes),
                fds: part.fds.into_iter().map(Fd::from).collect(),
                n: 1,
                timeout: job.timeout,
                split: None,
                cancelled: None,
                exact: true,
                sink: Box::new(move |o| Gather::put(&gather, k, o)),
            });
        }
    }

    fn fail_everything(&mut self, error: TaskError) {
        for job in self.pending.drain(..) {
            (job.sink)(Outcome::Failed(error.clone()));
        }
        for slot in &mut self.slots {
            for job in slot.in_flight.drain(..).skip(usize::from(slot.head_failed)) {
                (job.sink)(Outcome::Failed(error.clone()));
            }
            slot.head_failed = false;
        }
    }

    fn terminate(&mut self) {
        for s in &self.slots {
            let _ = s.handle.kill();
        }
        self.fail_everything(TaskError::Terminated);
        // Submissions that raced with the termination.
        while let Ok(cmd) = self.commands.try_recv() {
            if let Command::Submit(job) = cmd {
                (job.sink)(Outcome::Failed(TaskError::Terminated));
            }
        }
        for s in &self.slots {
            s.handle.wait();
        }
        self.slots.clear();
    }

    fn stop_workers(&mut self) {
        // Closing our ends tells each worker to exit after what it holds (nothing, here).
        let handles: Vec<Handle<()>> = self.slots.drain(..).map(|s| s.handle).collect();
        for h in &handles {
            if h.join_timeout(Duration::from_secs(10)).is_none() {
                let _ = h.kill();
            }
            h.wait();
        }
    }
}

impl Slot {
    fn new(handle: Handle<()>, conn: Connection) -> Slot {
        Slot {
            handle,
            conn,
            in_flight: VecDeque::new(),
            head_started: Instant::now(),
            queued_bytes: 0,
            sent: 0,
            retiring: false,
            head_failed: false,
            dead: false,
        }
    }

    /// Writes the frames batched for this worker.
    fn flush(&mut self, batch: &mut (Vec<u8>, usize)) -> Result<(), connection::Error> {
        if batch.0.is_empty() {
            return Ok(());
        }
        let r = self.conn.send_raw(
            &[&batch.0],
            &[],
            Deadline::NEVER,
            Some(self.handle.sentinel()),
        );
        batch.0.clear();
        batch.1 = 0;
        r
    }

    fn usable(&self) -> bool {
        !self.retiring && !self.dead
    }

    fn has_room(&self, len: usize) -> bool {
        self.in_flight.len() < MAX_QUEUED_PER_WORKER && self.queued_bytes + len <= MAX_QUEUED_BYTES
    }

    fn deadline(&self) -> Option<Instant> {
        if self.head_failed {
            return None;
        }
        let job = self.in_flight.front()?;
        let limit = job.timeout?.checked_mul(job.n as u32)?;
        Some(self.head_started + limit)
    }

    /// After a timeout: the killed worker's running job was answered; keep a marker in its
    /// place so that `worker_died` treats the next job as never started.
    fn push_head_placeholder(&mut self) {
        self.in_flight.push_front(Job {
            entry: 0,
            tag: 0,
            items: Bytes::default(),
            fds: Vec::new(),
            n: 0,
            timeout: None,
            sink: Box::new(|_| {}),
            split: None,
            cancelled: None,
            exact: true,
        });
    }

    /// Reads every reply available now. Returns an initializer failure, if one came.
    fn read_replies(&mut self) -> Option<String> {
        let mut init_failed = None;
        loop {
            match self.conn.recv_inner::<FromWorker>(Deadline::now(), None) {
                Ok(FromWorker::Done(reply)) => {
                    let Some(job) = self.in_flight.pop_front() else {
                        break;
                    };
                    if let Some(next) = self.in_flight.front() {
                        self.queued_bytes = self.queued_bytes.saturating_sub(next.items.0.len());
                    }
                    self.head_started = Instant::now();
                    (job.sink)(outcome_of(reply));
                }
                Ok(FromWorker::InitFailed(msg)) => init_failed = Some(msg),
                Err(connection::Error::Timeout) => break,
                Err(_) => break,
            }
        }
        init_failed
    }
}

pub(crate) fn outcome_of(reply: ChunkReply) -> Outcome {
    match reply {
        ChunkReply::Values { bytes, fds } => Outcome::Values { bytes, fds },
        ChunkReply::Items(items) => {
            Outcome::Items(items.into_iter().map(|r| r.map_err(task_error)).collect())
        }
        ChunkReply::Failed(f) => Outcome::Failed(task_error(f)),
    }
}

fn task_error(f: Failure) -> TaskError {
    match f {
        Failure::Panicked(m) => TaskError::Panicked(m),
        Failure::Failed(m) => TaskError::Failed(m),
    }
}

/// One task's encoded value (with its descriptors) or its error.
type ItemResult = Result<(Bytes, Vec<Fd>), TaskError>;

/// Collects the one-task re-runs of a chunk back into one outcome.
struct Gather {
    items: Vec<Option<ItemResult>>,
    left: usize,
    sink: Option<Sink>,
}

impl Gather {
    fn put(this: &Mutex<Gather>, k: usize, outcome: Outcome) {
        let mut g = this.lock().unwrap_or_else(|e| e.into_inner());
        let item = match outcome {
            // A one-task chunk's `Vec<R>`: the encoded length prefix (1), then the value.
            Outcome::Values { bytes, fds } => match crate::codec::single_element(&bytes.0) {
                Some(v) => Ok((Bytes(v.to_vec()), fds)),
                None => Err(TaskError::Failed("malformed one-task reply".into())),
            },
            Outcome::Items(mut v) if v.len() == 1 => v.pop().expect("one item"),
            Outcome::Items(_) => Err(TaskError::Failed("malformed one-task reply".into())),
            Outcome::Failed(e) => Err(e),
        };
        g.items[k] = Some(item);
        g.left -= 1;
        if g.left == 0 {
            let items = g
                .items
                .drain(..)
                .map(|i| i.expect("every part answered"))
                .collect();
            if let Some(sink) = g.sink.take() {
                drop(g);
                sink(Outcome::Items(items));
            }
        }
    }
}

fn drain_pipe(fd: &OwnedFd) {
    let mut buf = [0u8; 64];
    let mut fds = Vec::new();
    while matches!(sys::fd::recv_with_fds(fd.as_fd(), &mut buf, &mut fds), Ok(n) if n > 0) {}
}
