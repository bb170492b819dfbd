//! [`Process`] and [`Handle`]: starting a process, and what you hold while it runs.

#![forbid(unsafe_code)]

mod child;
mod current;
mod error;
mod identity;
mod reaper;
mod registry;
mod run;
#[cfg(feature = "tokio")]
mod tokio;

pub use current::{
    ProcessInfo, authkey, cpu_count, current_process, parent_process, set_current_name,
};
pub use error::ProcessError;
pub use registry::active_children;
pub use run::Run;

pub(crate) use current::{become_child, name as current_name};
pub(crate) use identity::Identity;
pub(crate) use registry::stop_children;

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::child::Boot;
use crate::codec::{self, Bytes, Fd};
use crate::deadline::Deadline;
use crate::start::{self, Entry, Outcome, StartMethod};
use crate::sys;
use crate::sys::proc::WaitStatus;
use child::{Child, exitcode};

/// A process that has not started yet: a target, its argument, and options.
///
/// Build it with [`Process::new`] (a function target) or [`Process::from_run`] (a [`Run`]
/// type), set options, then [`start`](Process::start) it to get a [`Handle`]. Like Python's
/// `Process`, it takes its default name `Process-k` when it is created.
///
/// The target is a function item or a closure that captures nothing; state travels as the
/// argument. A capturing closure does not compile:
///
/// ```compile_fail
/// let base = 10u32;
/// let p = multiproc::Process::new(move |x: u32| x + base, 1);
/// ```
///
/// Nor does a `fn` pointer, which is data too (name the function itself instead):
///
/// ```compile_fail
/// fn double(x: u32) -> u32 {
///     x * 2
/// }
/// let f: fn(u32) -> u32 = double;
/// let p = multiproc::Process::new(f, 1);
/// ```
///
/// A `Process` cannot be started twice: `start` consumes it.
///
/// ```compile_fail
/// let p = multiproc::Process::new(|x: u32| x, 1);
/// let a = p.start();
/// let b = p.start();
/// ```
///
/// There is nothing to join before the process starts: only a [`Handle`] has `join`.
///
/// ```compile_fail
/// let p = multiproc::Process::new(|x: u32| x, 1);
/// p.join();
/// ```
#[must_use = "a Process does nothing until it is started"]
pub struct Process<A, R> {
    entry: Entry,
    tag: u64,
    args: A,
    identity: Identity,
    method: Option<StartMethod>,
    _result: PhantomData<fn() -> R>,
}

impl<A, R> Process<A, R>
where
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    /// A process that will call `target(args)` (Python's `Process(target=..., args=...)`).
    pub fn new<F>(target: F, args: A) -> Self
    where
        F: crate::start::Target<A, R>,
    {
        let _ = target;
        start::assert_target::<F>();
        Process {
            entry: start::fn_entry::<F, A, R>,
            tag: start::tag_of::<(F, A, R)>(),
            args,
            identity: new_identity("Process".to_owned()),
            method: None,
            _result: PhantomData,
        }
    }
}

impl<T: Run> Process<T, T::Output> {
    /// A process that will call `job.run()` (Python's subclass of `Process`). Its default name
    /// is `<TypeName>-k`.
    pub fn from_run(job: T) -> Self {
        Process {
            entry: start::run_entry::<T>,
            tag: start::tag_of::<(T, T::Output)>(),
            args: job,
            identity: new_identity(short_type_name::<T>()),
            method: None,
            _result: PhantomData,
        }
    }
}

/// The identity of a new child of kind `kind`, with its default name `<kind>-<position>`.
fn new_identity(kind: String) -> Identity {
    let (position, name) = current::next_child(&kind);
    Identity {
        name,
        kind,
        daemon: false,
        outlives_parent: false,
        position,
    }
}

fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_owned()
}

impl<A: Serialize, R> Process<A, R> {
    /// Names the process (the default is `Process-k`). The child sees it in
    /// [`current_process()`], and `ps` shows it.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.identity.name = name.into();
        self
    }

    /// Makes the process a daemon: when its parent exits, it is sent SIGTERM (and SIGKILL if
    /// it is still running [`DAEMON_GRACE`](crate::DAEMON_GRACE) later), instead of being
    /// joined.
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.identity.daemon = daemon;
        self
    }

    /// Lets the process outlive its parent on purpose (Python's default for non-daemons).
    ///
    /// By default a child is killed (SIGKILL, its parent-death signal) when its parent dies
    /// without running its exit sequence, for example killed by a signal, so that no child is
    /// ever left behind. With `true`, it gets no parent-death signal, and its parent's exit
    /// sequence neither joins nor terminates it: it keeps running, and is adopted by the
    /// system (or the nearest subreaper) when its parent ends.
    pub fn outlives_parent(mut self, outlives: bool) -> Self {
        self.identity.outlives_parent = outlives;
        self
    }

    /// Chooses how the process is created, overriding [`get_start_method`](crate::get_start_method).
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// The name the process will have.
    pub fn get_name(&self) -> &str {
        &self.identity.name
    }

    /// Always `false`: a process that has not started is not alive.
    pub fn is_alive(&self) -> bool {
        false
    }

    /// Always `None`: a process that has not started has no exit code.
    pub fn exitcode(&self) -> Option<i32> {
        None
    }

    /// Starts the process.
    ///
    /// Errors come here, not later at `join`: arguments that cannot be encoded, an operating
    /// system that refuses a process, or a child that dies before it receives its bootstrap.
    pub fn start(self) -> Result<Handle<R>, ProcessError> {
        if let Some(problem) = start::entry_problem() {
            return Err(ProcessError::EntryNotLinked(problem));
        }
        if !crate::child::is_child() {
            crate::child::exit::install();
        }
        registry::reap_finished();
        let encoded = codec::encode(&self.args).map_err(ProcessError::Encode)?;
        let me = current_process();
        let stdio = [0, 1, 2].map(|i| sys::fd::dup(sys::fd::stdio(i)).ok().map(Fd::from));
        let method = self.method.unwrap_or_else(start::get_start_method);
        let boot = Boot {
            entry: sys::target::offset_of(self.entry),
            tag: self.tag,
            identity: self.identity,
            parent_pid: me.pid,
            parent_name: me.name,
            authkey: Bytes(authkey()),
            log: crate::logging::inherited(),
            start_method: method.to_wire(),
            stdio,
            args: Bytes(encoded.bytes),
            arg_fds: encoded.fds.into_iter().map(Fd::from).collect(),
        };
        let (pid, sock) = start::launch(method)?;
        let pidfd = match sys::proc::pidfd_open(pid) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = sys::proc::waitpid(pid);
                return Err(e.into());
            }
        };
        let child = Arc::new(Child::new(pid, pidfd, sock, boot.identity.clone()));
        registry::add(child.clone());
        if child
            .conn
            .send_inner(&boot, Deadline::NEVER, Some(child.pidfd.as_fd()))
            .is_err()
        {
            let status = child.wait(None)?.unwrap_or(WaitStatus::Exited(1));
            return Err(ProcessError::Bootstrap {
                name: child.identity.name.clone(),
                exitcode: exitcode(status),
            });
        }
        Ok(Handle {
            child,
            _result: PhantomData,
        })
    }
}

impl<A, R> fmt::Debug for Process<A, R> {
    /// `<Process(Process-1, initial)>`, as Python prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<{}({}, initial{})>",
            self.identity.kind,
            self.identity.name,
            if self.identity.daemon { " daemon" } else { "" }
        )
    }
}

/// Starts `target(args)` in a new process with default options, like `std::thread::spawn`.
///
/// # Panics
/// If the process cannot be started; use [`Process::start`] to handle that.
pub fn spawn<F, A, R>(target: F, args: A) -> Handle<R>
where
    F: crate::start::Target<A, R>,
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    Process::new(target, args)
        .start()
        .expect("failed to start process")
}

/// An owned permission to join a started process and get its return value.
///
/// Dropping a `Handle` detaches the process, as dropping a `JoinHandle` detaches a thread: it
/// keeps running, its return value is discarded, and it is still reaped as soon as it ends
/// (never left a zombie, even if the program makes no further multiproc call), joined at exit
/// if it is not a daemon, and terminated at exit if it is.
pub struct Handle<R> {
    child: Arc<Child>,
    _result: PhantomData<fn() -> R>,
}

impl<R: DeserializeOwned> Handle<R> {
    /// The child's operating-system process id.
    pub fn pid(&self) -> u32 {
        self.child.pid as u32
    }

    /// The child's name.
    pub fn name(&self) -> &str {
        &self.child.identity.name
    }

    /// Whether the child is a daemon.
    pub fn daemon(&self) -> bool {
        self.child.identity.daemon
    }

    /// A description of the child.
    pub fn info(&self) -> ProcessInfo {
        self.child.info()
    }

    /// Whether the child is still running.
    pub fn is_alive(&self) -> bool {
        self.child.poll().is_none()
    }

    /// `None` while the child runs; then 0 after it returned, `n` after it exited with `n`,
    /// 1 after a panic, and `-s` after signal `s` killed it.
    pub fn exitcode(&self) -> Option<i32> {
        self.child.poll().map(exitcode)
    }

    /// Waits for the child to end and returns what its target returned.
    pub fn join(self) -> Result<R, ProcessError> {
        let status = self.child.wait(None)?.unwrap_or(WaitStatus::Exited(1));
        let name = self.child.identity.name.clone();
        match (self.child.take_outcome(), status) {
            (Some(Outcome::Returned { value, fds }), WaitStatus::Exited(0)) => {
                let fds: Vec<OwnedFd> = fds.into_iter().map(OwnedFd::from).collect();
                codec::decode(&value.0, fds).map_err(|source| ProcessError::Decode { name, source })
            }
            (Some(Outcome::Panicked(message)), _) => Err(ProcessError::Panicked { name, message }),
            (Some(Outcome::Failed(reason)), _) => Err(ProcessError::Failed { name, reason }),
            (_, WaitStatus::Signaled(signal)) => Err(ProcessError::Signaled { name, signal }),
            (_, WaitStatus::Exited(code)) => Err(ProcessError::Exited { name, code }),
        }
    }

    /// Waits for the child to end and returns its exit code, without consuming the handle
    /// (Python's `join()` followed by `exitcode`). The return value stays available to `join`.
    pub fn wait(&self) -> i32 {
        loop {
            if let Some(code) =
                self.join_deadline(sys::fd::deadline_after(Duration::from_secs(3600)))
            {
                return code;
            }
        }
    }

    /// Waits at most `timeout` for the child to end; returns its exit code if it did. The
    /// handle stays usable: call it again, or `join`.
    pub fn join_timeout(&self, timeout: Duration) -> Option<i32> {
        self.join_deadline(sys::fd::deadline_after(timeout))
    }

    /// Waits until `deadline` at most for the child to end; returns its exit code if it did.
    pub fn join_deadline(&self, deadline: Instant) -> Option<i32> {
        self.child.wait(Some(deadline)).ok().flatten().map(exitcode)
    }

    /// Asks the child to stop with SIGTERM (through its pidfd, so never another process).
    /// Its exit code becomes -15 once it is joined.
    pub fn terminate(&self) -> std::io::Result<()> {
        self.child.signal(sys::proc::signal::TERM)
    }

    /// Kills the child with SIGKILL. Its exit code becomes -9.
    pub fn kill(&self) -> std::io::Result<()> {
        self.child.signal(sys::proc::signal::KILL)
    }

    /// Interrupts the child with SIGINT, as Ctrl-C would (Python 3.14's `interrupt()`). Unless
    /// the child handles SIGINT, its exit code becomes -2.
    pub fn interrupt(&self) -> std::io::Result<()> {
        self.child.signal(sys::proc::signal::INT)
    }

    /// A descriptor that becomes readable when the child ends (its pidfd; Python's `sentinel`).
    pub fn sentinel(&self) -> BorrowedFd<'_> {
        self.child.pidfd.as_fd()
    }
}

impl<R> fmt::Debug for Handle<R> {
    /// `<Process(Process-1, started)>`, or `stopped`, `stopped[1]`, `stopped[SIGTERM]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.child.poll() {
            None => "started".to_owned(),
            Some(WaitStatus::Exited(0)) => "stopped".to_owned(),
            Some(WaitStatus::Exited(c)) => format!("stopped[{c}]"),
            Some(WaitStatus::Signaled(s)) => format!("stopped[{}]", sys::proc::signal_name(s)),
        };
        let daemon = if self.child.identity.daemon {
            " daemon"
        } else {
            ""
        };
        write!(
            f,
            "<{}({}, {status}{daemon})>",
            self.child.identity.kind, self.child.identity.name
        )
    }
}

impl<R> Drop for Handle<R> {
    /// Detaches a child that is still running: nobody will read its return value, and the
    /// reaper thread reaps it as soon as it ends.
    fn drop(&mut self) {
        if self.child.is_reaped() {
            return;
        }
        let _ = sys::fd::shutdown(self.child.conn.as_fd());
        if self.child.poll().is_none() {
            reaper::detach(self.child.clone());
        }
    }
}

/// In a `fork` copy: the parent's children and detached children are not ours.
pub(crate) fn forget_parents_children() {
    registry::reset_after_fork();
    reaper::forget();
}
