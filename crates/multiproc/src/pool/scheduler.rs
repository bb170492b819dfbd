//! The scheduler's logic: which worker runs which chunk, and what a reply, a death or a
//! timeout does to the tasks. It drives workers through the small [`Worker`] trait and starts
//! them through [`Spawn`], and it is told the time, so its rules are unit-tested with mock
//! workers (below); the thread that owns real worker processes is in `driver.rs`.
//!
//! **Dispatch.** Chunks wait in one queue, in order. A chunk goes to the least loaded worker that
//! has room: an idle worker first. A worker may hold several chunks at once (they wait in its
//! socket), so that short tasks do not each pay a round trip; but a chunk in a worker's socket
//! is not yet its own. Until the worker *claims* it on its claim board (see `board.rs`), the
//! scheduler can take it back. Whenever a worker is free and the queue is empty, it looks at the
//! workers that hold chunks: one silent for [`BUSY_AFTER`] is running something long, and half
//! of the chunks waiting behind its running one move to the free worker; one silent for
//! [`STALLED_AFTER`] is stalled (a long task, or SIGSTOP), and everything it has not claimed
//! moves. So no task waits behind a busy or stalled worker while another is free, and a worker
//! that runs short tasks keeps its pipeline.
//!
//! **Timeouts** are per task. A chunk under a timeout is answered task by task (`Stream`): the
//! worker announces the chunk's start and sends each result as soon as it has it, so the
//! scheduler knows when each task started. A task that runs past its limit has its worker
//! killed; it fails with [`TaskError::Timeout`], the tasks of its chunk that finished keep
//! their results, and the others run elsewhere.
//!
//! **Deaths.** When a worker dies, its board says which chunk, and which task in it, was
//! running: that task fails with [`TaskError::WorkerDied`] (unless the scheduler killed the
//! worker itself); every other task it held runs again elsewhere (those that never started, and
//! those that finished but whose results died with the worker).
//!
//! **Initializers.** A worker answers `Ready` once its initializer returned. A worker whose
//! initializer panics breaks the pool at once; a worker that dies before it is ready (an abort
//! or a signal in the initializer) is replaced, but [`MAX_START_FAILURES`] such deaths in a row
//! break it too. A broken pool fails every task that has not started, and every later one, with
//! the initializer's error, and starts no more workers.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::board::{Fate, RING};
use super::error::{TaskError, describe_exit};
use super::job::{ItemResult, Job, Outcome, item_result, outcome_of};
use super::task::{ChunkReply, FromWorker};

/// Most chunks one worker holds at once (sent and not answered, taken-back ones included).
pub(crate) const MAX_IN_FLIGHT: usize = 16;

/// Most payload bytes queued to one worker beyond its first chunk: well under a socket buffer.
pub(crate) const MAX_QUEUED_BYTES: usize = 48 * 1024;

/// Deaths before readiness, in a row, that break the pool.
pub(crate) const MAX_START_FAILURES: u32 = 3;

/// Deaths of ready workers that were running no task while they held a chunk, after which the
/// chunk fails instead of going to yet another worker.
pub(crate) const MAX_UNEXPLAINED_DEATHS: u8 = 3;

/// A worker not heard from for this long while chunks wait behind its running one is busy with
/// something long: a free worker takes half of those chunks. (Longer than a worker that runs
/// short tasks holds its replies for batching.)
const BUSY_AFTER: Duration = Duration::from_millis(5);

/// A worker not heard from for this long is treated as stalled (stopped, or running something
/// long): everything it has not started, its first chunk included, moves to free workers.
const STALLED_AFTER: Duration = Duration::from_millis(20);

const _: () = assert!(
    MAX_IN_FLIGHT < RING,
    "the board must outlast the chunks in flight"
);

/// Why a chunk could not be handed to a worker.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The chunk cannot be encoded; it fails with this text.
    Encode(String),
}

/// One worker, as the scheduler drives it.
pub(crate) trait Worker {
    /// Hands chunk `seq` to the worker: marks it queued on the board and queues its bytes.
    fn send(&mut self, seq: u32, job: &Job) -> Result<(), SendError>;
    /// Takes chunk `seq` back if the worker has not claimed it; true if it will never run there.
    fn revoke(&mut self, seq: u32) -> bool;
    /// What became of chunk `seq`, as the board says.
    fn fate(&self, seq: u32) -> Fate;
    /// Kills the worker. Its death is reported later, through [`Scheduler::exited`].
    fn kill(&mut self);
    /// The worker's name, for errors.
    fn name(&self) -> &str;
}

/// Starts workers.
pub(crate) trait Spawn {
    /// The kind of worker it starts.
    type Worker: Worker;
    /// Why a worker could not start.
    type Error: std::fmt::Display;
    /// Starts one worker.
    fn spawn(&mut self) -> Result<Self::Worker, Self::Error>;
}

/// The pool's shape.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Workers to keep.
    pub(crate) size: usize,
    /// Chunks a worker runs before it is replaced.
    pub(crate) max_tasks: Option<u64>,
    /// Whether workers run an initializer.
    pub(crate) initializer: bool,
}

/// A chunk sent to a worker.
struct Sent {
    seq: u32,
    /// Payload bytes (for the socket's accounting).
    len: usize,
    /// `None` once taken back: the worker will skip it and say so.
    job: Option<Job>,
    /// Results that came one by one (`Stream`): empty, or one slot per task.
    results: Vec<Option<ItemResult>>,
    /// The worker announced its start (`Stream`).
    started: bool,
}

impl Sent {
    fn live(&self) -> bool {
        self.job.is_some()
    }
}

struct Slot<W> {
    worker: W,
    sent: VecDeque<Sent>,
    next_seq: u32,
    ready: bool,
    /// Its initializer's failure, when it reported one.
    init_failure: Option<String>,
    /// Payload bytes of the chunks after the first (they wait in the socket).
    queued_bytes: usize,
    /// When the last message came from it.
    heard: Instant,
    /// When the scheduler last saw a task of its first chunk start, and what the board said of
    /// that chunk then: the time a running task is measured from.
    progress_at: Instant,
    progress: Fate,
    /// Chunks handed to it and not taken back (for `max_tasks`).
    runs: u64,
    /// It takes no more chunks: it exits after those it has (`max_tasks`).
    retiring: bool,
    /// The scheduler killed it (a timeout): its death is nobody's fault.
    killed: bool,
    /// Writing to it failed: it is dying.
    dead: bool,
}

impl<W: Worker> Slot<W> {
    fn new(worker: W, now: Instant) -> Self {
        Slot {
            worker,
            sent: VecDeque::new(),
            next_seq: 0,
            ready: false,
            init_failure: None,
            queued_bytes: 0,
            heard: now,
            progress_at: now,
            progress: Fate::Unknown,
            runs: 0,
            retiring: false,
            killed: false,
            dead: false,
        }
    }

    fn live(&self) -> usize {
        self.sent.iter().filter(|s| s.live()).count()
    }

    fn usable(&self) -> bool {
        !self.retiring && !self.killed && !self.dead
    }

    fn has_room(&self, len: usize) -> bool {
        self.sent.is_empty()
            || (self.sent.len() < MAX_IN_FLIGHT && self.queued_bytes + len <= MAX_QUEUED_BYTES)
    }

    /// A free worker, fit to take work from others: ready, nothing live, nothing it has not
    /// acknowledged (a worker that left taken-back chunks unread may be stopped).
    fn free(&self) -> bool {
        self.usable() && self.ready && self.sent.is_empty()
    }

    /// The live chunks that a free worker may take from this one at `now`, and how many of
    /// them to take: none while it is heard from; half of those behind its first live chunk
    /// once it has been silent for [`BUSY_AFTER`]; all, the first included, once silent for
    /// [`STALLED_AFTER`] (it runs something long, its initializer maybe, or it is stopped).
    /// Chunks it has already claimed cannot be taken: the board refuses.
    fn stealable(&self, now: Instant) -> (Vec<usize>, usize) {
        let silent = now.saturating_duration_since(self.heard);
        if silent < BUSY_AFTER {
            return (Vec::new(), 0);
        }
        let stalled = silent >= STALLED_AFTER;
        let live: Vec<usize> = self
            .sent
            .iter()
            .enumerate()
            .filter(|(_, c)| c.live())
            .skip(usize::from(!stalled))
            .map(|(k, _)| k)
            .collect();
        let want = if stalled {
            live.len()
        } else {
            live.len().div_ceil(2)
        };
        (live, want)
    }

    /// When [`stealable`](Slot::stealable) may next change, if it will.
    fn next_steal_check(&self, now: Instant) -> Option<Instant> {
        let live = self.live();
        let silent = now.saturating_duration_since(self.heard);
        if live >= 2 && silent < BUSY_AFTER {
            Some(self.heard + BUSY_AFTER)
        } else if live >= 1 && silent < STALLED_AFTER {
            Some(self.heard + STALLED_AFTER)
        } else {
            None
        }
    }

    /// The first chunk, removed, with the socket accounting updated.
    fn pop_front(&mut self) -> Option<Sent> {
        let first = self.sent.pop_front()?;
        if let Some(next) = self.sent.front() {
            self.queued_bytes = self.queued_bytes.saturating_sub(next.len);
        }
        Some(first)
    }

    /// The deadline of the task running at the head, if it has a timeout.
    fn deadline(&self) -> Option<Instant> {
        if self.killed || !self.ready {
            return None;
        }
        let head = self.sent.front()?;
        let timeout = head.job.as_ref()?.timeout?;
        head.started.then(|| self.progress_at + timeout)
    }

    /// Notes progress on the head chunk at `now` (what the board says of it matters only for
    /// a chunk under a timeout).
    fn progressed(&mut self, now: Instant) {
        self.progress_at = now;
        self.progress = match self.sent.front() {
            Some(head) if head.job.as_ref().is_some_and(|j| j.timeout.is_some()) => {
                self.worker.fate(head.seq)
            }
            _ => Fate::Unknown,
        };
    }
}

/// The scheduler: the pool's queue, its workers, and the rules between them.
pub(crate) struct Scheduler<S: Spawn> {
    spawner: S,
    config: Config,
    slots: Vec<Slot<S::Worker>>,
    pending: VecDeque<Job>,
    closed: bool,
    broken: Option<TaskError>,
    /// Workers that died before they were ready, in a row.
    start_failures: u32,
}

impl<S: Spawn> Scheduler<S> {
    /// Starts `config.size` workers.
    pub(crate) fn new(mut spawner: S, config: Config, now: Instant) -> Result<Self, S::Error> {
        let mut slots = Vec::with_capacity(config.size);
        for _ in 0..config.size {
            slots.push(Slot::new(spawner.spawn()?, now));
        }
        Ok(Scheduler {
            spawner,
            config,
            slots,
            pending: VecDeque::new(),
            closed: false,
            broken: None,
            start_failures: 0,
        })
    }

    /// The workers, in slot order (the order [`message`](Scheduler::message) and
    /// [`exited`](Scheduler::exited) index).
    pub(crate) fn workers(&self) -> impl Iterator<Item = &S::Worker> {
        self.slots.iter().map(|s| &s.worker)
    }

    /// The workers, mutably, in slot order.
    pub(crate) fn workers_mut(&mut self) -> impl Iterator<Item = &mut S::Worker> {
        self.slots.iter_mut().map(|s| &mut s.worker)
    }

    /// Queues a job (or fails it at once if the pool is broken).
    pub(crate) fn submit(&mut self, job: Job) {
        match &self.broken {
            Some(e) => job.fail(e.clone()),
            None => self.pending.push_back(job),
        }
    }

    /// Takes no more work; [`drained`](Scheduler::drained) says when what is queued is done.
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// Whether the pool is closed and every task is settled.
    pub(crate) fn drained(&self) -> bool {
        self.closed && self.pending.is_empty() && self.slots.iter().all(|s| s.live() == 0)
    }

    /// Kills every worker and fails every task not settled with [`TaskError::Terminated`].
    pub(crate) fn terminate(&mut self) {
        for slot in &mut self.slots {
            slot.worker.kill();
            slot.killed = true;
            for sent in slot.sent.drain(..) {
                if let Some(job) = sent.job {
                    fail_open(job, sent.results, TaskError::Terminated);
                }
            }
        }
        for job in self.pending.drain(..) {
            job.fail(TaskError::Terminated);
        }
    }

    /// Cancels the job carrying `flag` if it has not started; true if it will not run.
    pub(crate) fn cancel(&mut self, flag: &Arc<AtomicBool>) -> bool {
        if let Some(k) = self.pending.iter().position(|j| j.has_flag(flag)) {
            let job = self.pending.remove(k).expect("found");
            job.fail(TaskError::Cancelled);
            return true;
        }
        let max_tasks = self.config.max_tasks;
        for slot in &mut self.slots {
            let found = slot
                .sent
                .iter()
                .position(|s| s.job.as_ref().is_some_and(|j| j.has_flag(flag)));
            if let Some(k) = found {
                let seq = slot.sent[k].seq;
                if !slot.worker.revoke(seq) {
                    return false;
                }
                let job = slot.sent[k].job.take().expect("live");
                take_back(slot, max_tasks);
                job.fail(TaskError::Cancelled);
                return true;
            }
        }
        false
    }

    /// Hands queued chunks to workers, and moves chunks that wait behind busy workers to free
    /// ones.
    pub(crate) fn dispatch(&mut self, now: Instant) {
        loop {
            self.send_pending(now);
            if !self.pending.is_empty() || !self.steal(now) {
                return;
            }
        }
    }

    fn send_pending(&mut self, now: Instant) {
        while let Some(job) = self.pending.front() {
            if job
                .cancelled
                .as_ref()
                .is_some_and(|c| c.load(Ordering::SeqCst))
            {
                let job = self.pending.pop_front().expect("front exists");
                job.fail(TaskError::Cancelled);
                continue;
            }
            let Some(i) = self.pick(job.items.0.len(), now) else {
                return;
            };
            let job = self.pending.pop_front().expect("front exists");
            self.send_to(i, job, now);
        }
    }

    /// The worker for a chunk of `len` bytes: the least loaded one with room, ready ones
    /// first, then the one heard from last; a worker silent for [`BUSY_AFTER`] while it holds
    /// work (it runs something long) only when no other has room. A worker that has not yet
    /// seen that chunks were taken back from it gets nothing: it may be stopped, and the chunk
    /// is better off waiting here for whichever worker is free first.
    fn pick(&self, len: usize, now: Instant) -> Option<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.usable() && s.has_room(len) && s.sent.iter().all(Sent::live))
            .min_by_key(|(_, s)| {
                let busy =
                    !s.sent.is_empty() && now.saturating_duration_since(s.heard) >= BUSY_AFTER;
                (busy, s.sent.len(), !s.ready, std::cmp::Reverse(s.heard))
            })
            .map(|(i, _)| i)
    }

    /// Sends `job` to worker `i` (or fails it, if it cannot be encoded).
    fn send_to(&mut self, i: usize, job: Job, now: Instant) {
        let max_tasks = self.config.max_tasks;
        let slot = &mut self.slots[i];
        let seq = slot.next_seq;
        if let Err(SendError::Encode(msg)) = slot.worker.send(seq, &job) {
            job.fail(TaskError::Failed(msg));
            return;
        }
        slot.next_seq = seq.wrapping_add(1);
        let len = job.items.0.len();
        if slot.sent.is_empty() {
            // Its silence counts from now: an idle worker has nothing to say.
            slot.heard = now;
        } else {
            slot.queued_bytes += len;
        }
        slot.sent.push_back(Sent {
            seq,
            len,
            job: Some(job),
            results: Vec::new(),
            started: false,
        });
        slot.runs += 1;
        slot.retiring = max_tasks.is_some_and(|m| slot.runs >= m);
    }

    /// Gives a free worker the chunks that wait, unclaimed, behind a busy or stalled worker's
    /// running one (see [`Slot::stealable`]). True if any moved.
    fn steal(&mut self, now: Instant) -> bool {
        let Some(thief) = self.slots.iter().position(Slot::free) else {
            return false;
        };
        let victim = self
            .slots
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != thief)
            .map(|(i, s)| (i, s.stealable(now)))
            .filter(|(_, (_, want))| *want > 0)
            .max_by_key(|(_, (_, want))| *want);
        let Some((v, (candidates, want))) = victim else {
            return false;
        };
        let max_tasks = self.config.max_tasks;
        let slot = &mut self.slots[v];
        let mut stolen = Vec::new();
        for k in candidates {
            if stolen.len() == want {
                break;
            }
            let seq = slot.sent[k].seq;
            if slot.worker.revoke(seq) {
                stolen.push(slot.sent[k].job.take().expect("live"));
                take_back(slot, max_tasks);
            }
        }
        if stolen.is_empty() {
            return false;
        }
        // In their order, ahead of anything queued since.
        for job in stolen.into_iter().rev() {
            self.pending.push_front(job);
        }
        true
    }

    /// When to look again for chunks that a free worker should take, if there may be some:
    /// the scheduler wakes then even if nothing else happens.
    pub(crate) fn steal_check(&self, now: Instant) -> Option<Instant> {
        if !self.pending.is_empty() || !self.slots.iter().any(Slot::free) {
            return None;
        }
        self.slots
            .iter()
            .filter_map(|s| s.next_steal_check(now))
            .min()
    }

    /// Handles a message from worker `i`.
    pub(crate) fn message(&mut self, i: usize, msg: FromWorker, now: Instant) {
        let slot = &mut self.slots[i];
        slot.heard = now;
        let in_order =
            |slot: &Slot<S::Worker>, seq: u32| slot.sent.front().is_some_and(|s| s.seq == seq);
        match msg {
            FromWorker::Ready => {
                slot.ready = true;
                slot.progressed(now);
                self.start_failures = 0;
            }
            FromWorker::InitFailed(text) => slot.init_failure = Some(text),
            FromWorker::Skipped { seq } if in_order(slot, seq) => {
                let sent = slot.pop_front().expect("in order");
                debug_assert!(!sent.live(), "a worker skipped a chunk it was given");
                if let Some(job) = sent.job {
                    // Cannot happen (the board forbids it); run it elsewhere rather than lose it.
                    self.pending.push_front(job);
                }
                slot.progressed(now);
            }
            FromWorker::Done { seq, reply } if in_order(slot, seq) => {
                let sent = slot.pop_front().expect("in order");
                slot.progressed(now);
                if let Some(job) = sent.job {
                    deliver(job, sent.results, reply);
                }
            }
            FromWorker::Started { seq } if in_order(slot, seq) => {
                slot.sent[0].started = true;
                slot.progressed(now);
            }
            FromWorker::Item { seq, index, result }
                if in_order(slot, seq) && slot.sent[0].live() =>
            {
                let head = &mut slot.sent[0];
                let n = head.job.as_ref().map_or(0, |j| j.n);
                let index = index as usize;
                if index < n {
                    head.results.resize_with(n, || None);
                    // A task failed for its timeout stays failed, even if it ended meanwhile.
                    if head.results[index].is_none() {
                        head.results[index] = Some(item_result(result));
                    }
                }
                if head.results.len() == n && head.results.iter().all(Option::is_some) {
                    let sent = slot.pop_front().expect("head");
                    let job = sent.job.expect("live");
                    job.remainder(sent.results);
                }
                slot.progressed(now);
            }
            // The last words of a worker killed for a timeout: its chunk was settled already.
            _ if slot.killed => {}
            other => {
                log::error!(
                    target: "multiproc",
                    "pool worker {} sent an unexpected message ({other:?}); killing it",
                    slot.worker.name()
                );
                slot.worker.kill();
            }
        }
    }

    /// Worker `i` could not be written to: it is dying, and gets nothing more.
    pub(crate) fn write_failed(&mut self, i: usize) {
        self.slots[i].dead = true;
    }

    /// Worker `i` ended with `exitcode` (its last messages handled before). It is removed: the
    /// last slot takes index `i`.
    pub(crate) fn exited(&mut self, i: usize, exitcode: i32, now: Instant) {
        let slot = self.slots.swap_remove(i);
        let name = slot.worker.name().to_owned();
        let ready = slot.ready;
        // Who is to blame: the task that was running, unless the scheduler killed the worker.
        let blame = ready && !slot.killed;
        let died = || TaskError::WorkerDied {
            worker: name.clone(),
            exitcode,
        };
        let mut explained = !blame;
        let mut again = Vec::new();
        for sent in slot.sent {
            let Some(job) = sent.job else { continue };
            let mut results = sent.results;
            if let Fate::Running(k) = slot.worker.fate(sent.seq)
                && blame
                && k < job.n
            {
                results.resize_with(job.n, || None);
                if results[k].is_none() {
                    results[k] = Some(Err(died()));
                }
                explained = true;
            }
            // The others run again: those not started, and those that finished but whose
            // results died with the worker.
            if let Some(rest) = job.remainder(results) {
                again.push(rest);
            }
        }
        if !ready {
            self.start_failed(slot.init_failure, exitcode);
        }
        for mut job in again.into_iter().rev() {
            if let Some(e) = &self.broken {
                job.fail(e.clone());
                continue;
            }
            // A ready worker that dies running nothing may have died of what it was handed:
            // after a few such deaths, the chunk fails rather than kill workers forever.
            if !explained {
                job.unexplained_deaths += 1;
                if job.unexplained_deaths >= MAX_UNEXPLAINED_DEATHS {
                    job.fail(died());
                    continue;
                }
            }
            self.pending.push_front(job);
        }
        if self.broken.is_none()
            && self.slots.len() < self.config.size
            && !(self.closed && self.pending.is_empty())
        {
            self.replace(now);
        }
    }

    /// Starts a worker in place of one that ended.
    fn replace(&mut self, now: Instant) {
        match self.spawner.spawn() {
            Ok(w) => self.slots.push(Slot::new(w, now)),
            Err(e) => {
                log::error!(target: "multiproc", "cannot start a pool worker: {e}");
                self.start_failures += 1;
                if self.broken.is_none()
                    && (self.slots.is_empty() || self.start_failures >= MAX_START_FAILURES)
                {
                    self.break_pool(TaskError::Failed(format!(
                        "cannot start a pool worker: {e}"
                    )));
                }
            }
        }
    }

    /// A worker died with `exitcode` before it was ready: its initializer panicked
    /// (`init_failure` says how), or the worker died in it or in its bootstrap.
    fn start_failed(&mut self, init_failure: Option<String>, exitcode: i32) {
        self.start_failures += 1;
        if self.broken.is_some() {
            return;
        }
        let panicked = init_failure.is_some();
        let how = match init_failure {
            Some(text) => text,
            None if self.config.initializer => {
                format!("its worker died in it ({})", describe_exit(exitcode))
            }
            None => format!(
                "a pool worker died before it was ready ({})",
                describe_exit(exitcode)
            ),
        };
        if panicked || self.start_failures >= MAX_START_FAILURES {
            let error = if self.config.initializer {
                TaskError::Initializer(how)
            } else {
                TaskError::Failed(how)
            };
            self.break_pool(error);
        }
    }

    /// Fails everything that has not started, now and later, with `error`.
    fn break_pool(&mut self, error: TaskError) {
        log::error!(target: "multiproc", "the pool is broken: {error}");
        for job in self.pending.drain(..) {
            job.fail(error.clone());
        }
        let max_tasks = self.config.max_tasks;
        for slot in &mut self.slots {
            for k in 0..slot.sent.len() {
                let seq = slot.sent[k].seq;
                if slot.sent[k].live() && slot.worker.revoke(seq) {
                    let job = slot.sent[k].job.take().expect("live");
                    take_back(slot, max_tasks);
                    job.fail(error.clone());
                }
            }
        }
        self.broken = Some(error);
    }

    /// Kills the workers whose running task is past its time, at `now`.
    pub(crate) fn tick(&mut self, now: Instant) {
        for slot in &mut self.slots {
            let Some(deadline) = slot.deadline() else {
                continue;
            };
            if now < deadline {
                continue;
            }
            let head = &slot.sent[0];
            let fate = slot.worker.fate(head.seq);
            if fate != slot.progress {
                // A task started since the scheduler last looked: measure from now.
                slot.progress = fate;
                slot.progress_at = now;
                continue;
            }
            let Fate::Running(k) = fate else {
                // Finished: its result is on its way.
                slot.progress_at = now;
                continue;
            };
            let job = head.job.as_ref().expect("a deadline means a live head");
            let (n, limit) = (job.n, job.timeout.unwrap_or_default());
            slot.worker.kill();
            slot.killed = true;
            let head = &mut slot.sent[0];
            head.results.resize_with(n, || None);
            if k < n && head.results[k].is_none() {
                head.results[k] = Some(Err(TaskError::Timeout(limit)));
            }
            if head.results.iter().all(Option::is_some) {
                // Nothing else to wait for: the caller hears at once.
                let sent = slot.pop_front().expect("head");
                sent.job.expect("live").remainder(sent.results);
            }
        }
    }

    /// When [`tick`](Scheduler::tick) must run next.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.slots.iter().filter_map(Slot::deadline).min()
    }
}

/// A taken-back chunk no longer counts toward the worker's budget.
fn take_back<W: Worker>(slot: &mut Slot<W>, max_tasks: Option<u64>) {
    slot.runs = slot.runs.saturating_sub(1);
    slot.retiring = max_tasks.is_some_and(|m| slot.runs >= m);
}

/// Completes `job` with a worker's reply, joined with results that came one by one.
fn deliver(job: Job, results: Vec<Option<ItemResult>>, reply: ChunkReply) {
    if results.iter().all(Option::is_none) {
        job.finish(outcome_of(reply));
        return;
    }
    // A streamed chunk that failed as a whole after some results: the rest get its error.
    let error = match outcome_of(reply) {
        Outcome::Failed(e) => e,
        _ => TaskError::Failed("a chunk was answered twice".into()),
    };
    fail_open(job, results, error);
}

/// Fails the tasks of `job` that are not settled in `results` with `error`.
fn fail_open(job: Job, mut results: Vec<Option<ItemResult>>, error: TaskError) {
    if results.iter().all(Option::is_none) {
        job.fail(error);
        return;
    }
    for r in results.iter_mut().filter(|r| r.is_none()) {
        *r = Some(Err(error.clone()));
    }
    let rest = job.remainder(results);
    debug_assert!(rest.is_none());
}

#[cfg(test)]
mod tests;
