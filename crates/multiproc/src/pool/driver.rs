//! The pool's thread: it owns the worker processes, waits for their messages, their deaths and
//! the next timeout, and feeds all of it to the [`Scheduler`], which decides.

use std::io::IoSlice;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::board::{Board, Fate};
use super::job::Job;
use super::link::{Reader, Writer};
use super::scheduler::{Scheduler, SendError, Spawn, Worker};
use super::task::{FromWorker, RunRef};
use super::worker::{Initializer, WorkerArgs, worker_main};
use crate::codec::Fd;
use crate::sys;
use crate::sys::fd::Interest;
use crate::{Handle, Process, ProcessError, StartMethod};

/// How long workers have to exit after the pool closed their sockets, all together, before
/// they are killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What the pool asks of its thread.
pub(crate) enum Command {
    Submit(Job),
    /// No more work: finish what is queued, then stop the workers.
    Close,
    /// Stop now: kill the workers, fail what is pending.
    Terminate,
    /// Cancel the job carrying this flag if it has not started; the answer goes back.
    Cancel(Arc<AtomicBool>, Sender<bool>),
}

/// State the pool shares with its thread.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The thread is about to sleep in `poll`: whoever sends it a command must wake it.
    sleeping: AtomicBool,
    finished: Mutex<bool>,
    finished_cv: Condvar,
}

impl Shared {
    /// Waits until `deadline` at most for the thread to finish; whether it did.
    pub(crate) fn wait_finished(&self, deadline: Instant) -> bool {
        let finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        let timeout = deadline.saturating_duration_since(Instant::now());
        let (finished, _) = self
            .finished_cv
            .wait_timeout_while(finished, timeout, |f| !*f)
            .unwrap_or_else(|e| e.into_inner());
        *finished
    }
}

/// The way into the pool's thread: its command channel and its wake-up socket.
#[derive(Debug)]
pub(crate) struct Mailbox {
    tx: Mutex<Option<Sender<Command>>>,
    wake: OwnedFd,
    shared: Arc<Shared>,
}

impl Mailbox {
    /// Sends `cmd` and wakes the thread if it sleeps. False if the thread is gone (or the
    /// channel was closed): the command is dropped.
    pub(crate) fn send(&self, cmd: Command) -> bool {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = tx.as_ref() else {
            return false;
        };
        if tx.send(cmd).is_err() {
            return false;
        }
        // One wake-up per sleep: whoever finds the thread asleep wakes it; later senders find
        // it awake, and it takes their commands with the first one.
        if self.shared.sleeping.swap(false, Ordering::SeqCst) {
            let _ = sys::fd::send_with_fds(self.wake.as_fd(), &[IoSlice::new(b"w")], &[]);
        }
        true
    }

    /// Closes the channel: the thread sees it as a termination once it has read the rest.
    pub(crate) fn hang_up(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }
}

/// A worker process, as the scheduler drives it.
#[derive(Debug)]
pub(crate) struct WorkerProcess {
    handle: Handle<()>,
    sock: OwnedFd,
    reader: Reader,
    writer: Writer,
    board: Board,
}

impl Worker for WorkerProcess {
    fn send(&mut self, seq: u32, job: &Job) -> Result<(), SendError> {
        self.board.queue(seq);
        let run = RunRef {
            seq,
            entry: job.entry,
            tag: job.tag,
            answer: job.answer(),
            items: &job.items,
            fds: &job.fds,
        };
        self.writer
            .push(&run)
            .map_err(|e| SendError::Encode(e.to_string()))
    }

    fn revoke(&mut self, seq: u32) -> bool {
        self.board.revoke(seq)
    }

    fn fate(&self, seq: u32) -> Fate {
        self.board.fate(seq)
    }

    fn kill(&mut self) {
        let _ = self.handle.kill();
    }

    fn name(&self) -> &str {
        self.handle.name()
    }
}

impl WorkerProcess {
    /// Reads what has arrived and appends the messages to `out`. A message that makes no sense
    /// kills the worker.
    fn receive(&mut self, out: &mut Vec<FromWorker>) {
        loop {
            while let Some(msg) = self.reader.next::<FromWorker>() {
                match msg {
                    Ok(m) => out.push(m),
                    Err(e) => {
                        log::error!(
                            target: "multiproc",
                            "pool worker {} sent a bad message ({e}); killing it",
                            self.handle.name()
                        );
                        self.kill();
                        return;
                    }
                }
            }
            match self.reader.fill(self.sock.as_fd(), false) {
                Ok(n) if n > 0 => {}
                Ok(_) => return,
                Err(e) => {
                    log::error!(
                        target: "multiproc",
                        "cannot read from pool worker {} ({e}); killing it",
                        self.handle.name()
                    );
                    self.kill();
                    return;
                }
            }
        }
    }

    /// Sends what the socket takes; false if the worker cannot be written to any more.
    fn flush(&mut self) -> bool {
        self.writer.write(self.sock.as_fd(), false).is_ok()
    }
}

/// Starts worker processes.
#[derive(Debug)]
pub(crate) struct Spawner {
    pub(crate) init: Option<Initializer>,
    pub(crate) max_tasks: Option<u64>,
    pub(crate) method: Option<StartMethod>,
    pub(crate) backtraces: bool,
}

impl Spawn for Spawner {
    type Worker = WorkerProcess;
    type Error = ProcessError;

    fn spawn(&mut self) -> Result<WorkerProcess, ProcessError> {
        let (ours, theirs) = sys::fd::socketpair()?;
        let board = Board::new()?;
        let args = WorkerArgs {
            sock: Fd::from(theirs),
            board: board.try_clone()?,
            init: self.init.as_ref().map(Initializer::duplicate).transpose()?,
            max_tasks: self.max_tasks,
            backtraces: self.backtraces,
        };
        // Daemons, as in Python: a program that exits with a pool alive terminates its workers
        // rather than waiting for them.
        let mut p = Process::new(worker_main, args).daemon(true);
        let name = p.get_name().replacen("Process", "PoolWorker", 1);
        p = p.name(name);
        if let Some(m) = self.method {
            p = p.start_method(m);
        }
        Ok(WorkerProcess {
            handle: p.start()?,
            sock: ours,
            reader: Reader::default(),
            writer: Writer::default(),
            board,
        })
    }
}

/// Starts the pool's thread over `sched`; returns the way in and the thread.
pub(crate) fn start(
    sched: Scheduler<Spawner>,
) -> std::io::Result<(Arc<Mailbox>, std::thread::JoinHandle<()>)> {
    let (wake_r, wake_w) = sys::fd::socketpair()?;
    let (tx, rx) = std::sync::mpsc::channel();
    let shared = Arc::new(Shared::default());
    let mailbox = Arc::new(Mailbox {
        tx: Mutex::new(Some(tx)),
        wake: wake_w,
        shared: shared.clone(),
    });
    let thread = std::thread::Builder::new()
        .name("multiproc-pool".into())
        .spawn(move || run(sched, &rx, &wake_r, &shared))?;
    Ok((mailbox, thread))
}

/// The thread's body.
fn run(
    mut sched: Scheduler<Spawner>,
    commands: &Receiver<Command>,
    wake: &OwnedFd,
    shared: &Shared,
) {
    if event_loop(&mut sched, commands, wake, shared) {
        terminate(&mut sched, commands);
    } else {
        stop(&mut sched);
    }
    *shared.finished.lock().unwrap_or_else(|e| e.into_inner()) = true;
    shared.finished_cv.notify_all();
}

/// Handles one command; true if the pool must terminate.
fn handle(sched: &mut Scheduler<Spawner>, cmd: Command) -> bool {
    match cmd {
        Command::Submit(job) => sched.submit(job),
        Command::Close => sched.close(),
        Command::Terminate => return true,
        Command::Cancel(flag, answer) => {
            let _ = answer.send(sched.cancel(&flag));
        }
    }
    false
}

/// Runs until the pool is closed and drained (false) or terminated (true).
fn event_loop(
    sched: &mut Scheduler<Spawner>,
    commands: &Receiver<Command>,
    wake: &OwnedFd,
    shared: &Shared,
) -> bool {
    let mut messages: Vec<(usize, FromWorker)> = Vec::new();
    let mut inbox = Vec::new();
    loop {
        shared.sleeping.store(false, Ordering::SeqCst);
        loop {
            match commands.try_recv() {
                Ok(cmd) => {
                    if handle(sched, cmd) {
                        return true;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return true,
            }
        }
        sched.dispatch(Instant::now());
        let failed: Vec<usize> = sched
            .workers_mut()
            .enumerate()
            .filter_map(|(i, w)| (!w.flush()).then_some(i))
            .collect();
        for i in failed {
            sched.write_failed(i);
        }
        if sched.drained() {
            return false;
        }
        // Senders wake the thread only while it sleeps: announce it, then look once more for
        // what came before they could see the announcement.
        shared.sleeping.store(true, Ordering::SeqCst);
        match commands.try_recv() {
            Ok(cmd) => {
                if handle(sched, cmd) {
                    return true;
                }
                continue;
            }
            Err(TryRecvError::Disconnected) => return true,
            Err(TryRecvError::Empty) => {}
        }

        // Per worker: its pidfd, its socket (read) until it ends, and its socket (write) while
        // bytes wait.
        let mut set = vec![(wake.as_fd(), Interest::Read)];
        let mut at = Vec::new();
        for w in sched.workers() {
            at.push(set.len());
            set.push((w.handle.sentinel(), Interest::Read));
            if !w.reader.at_eof() {
                set.push((w.sock.as_fd(), Interest::Read));
            }
            if !w.writer.is_empty() {
                set.push((w.sock.as_fd(), Interest::Write));
            }
        }
        let wake_at = match (sched.deadline(), sched.steal_check(Instant::now())) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let ready = match sys::fd::poll(&set, wake_at) {
            Ok(r) => r,
            Err(e) => {
                log::error!(target: "multiproc", "pool thread cannot poll: {e}");
                return true;
            }
        };
        drop(set);
        if ready[0] {
            drain(wake);
        }
        let now = Instant::now();
        let mut dead = Vec::new();
        for (i, w) in sched.workers_mut().enumerate() {
            let k = at[i];
            if ready[k] {
                dead.push(i);
            }
            // Its socket's readiness (the entry after the pidfd, if the socket was asked about).
            if !w.reader.at_eof() && ready[k + 1] {
                w.receive(&mut inbox);
                messages.extend(inbox.drain(..).map(|m| (i, m)));
            }
        }
        for (i, msg) in messages.drain(..) {
            sched.message(i, msg, now);
        }
        // Highest index first: `exited` moves the last worker into the freed index.
        for i in dead.into_iter().rev() {
            let w = sched.workers_mut().nth(i).expect("worker index");
            // Its last words first: what it sent before it ended.
            w.receive(&mut inbox);
            let code = w.handle.wait();
            for msg in inbox.drain(..) {
                sched.message(i, msg, now);
            }
            sched.exited(i, code, now);
        }
        sched.tick(Instant::now());
    }
}

/// Terminates: kills the workers, fails what is pending and what is submitted meanwhile.
fn terminate(sched: &mut Scheduler<Spawner>, commands: &Receiver<Command>) {
    sched.terminate();
    while let Ok(cmd) = commands.try_recv() {
        match cmd {
            Command::Submit(job) => job.fail(super::TaskError::Terminated),
            Command::Cancel(_, answer) => {
                let _ = answer.send(false);
            }
            Command::Close | Command::Terminate => {}
        }
    }
    for w in sched.workers() {
        w.handle.wait();
    }
}

/// Stops the workers of a drained pool: their sockets end, they exit.
fn stop(sched: &mut Scheduler<Spawner>) {
    // Shutting the socket down (rather than only closing our descriptor) ends it for every
    // copy of it: workers started with the `fork` method hold copies of the sockets of the
    // workers started before them.
    for w in sched.workers() {
        let _ = sys::fd::shutdown(w.sock.as_fd());
    }
    let deadline = sys::fd::deadline_after(STOP_GRACE);
    for w in sched.workers_mut() {
        if w.handle.join_deadline(deadline).is_none() {
            w.kill();
            w.handle.wait();
        }
    }
}

fn drain(fd: &OwnedFd) {
    let mut buf = [0u8; 64];
    let mut fds = Vec::new();
    while matches!(sys::fd::recv_with_fds(fd.as_fd(), &mut buf, &mut fds), Ok(n) if n > 0) {}
}
