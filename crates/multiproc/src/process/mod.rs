//! [`Process`] and [`Handle`]: starting a process, and what you hold while it runs.

#![forbid(unsafe_code)]

mod child;
pub(crate) mod current;
mod error;
pub(crate) mod exit;
pub(crate) mod registry;
mod run;

pub use current::{
    ProcessInfo, authkey, cpu_count, current_process, parent_process, set_current_name,
};
pub use error::ProcessError;
pub use exit::exit;
pub use registry::active_children;
pub use run::Run;

pub(crate) use current::name as current_name;

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{self, Bytes, Fd};
use crate::deadline::Deadline;
use crate::start::{self, Boot, Entry, Outcome, StartMethod};
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
    identity: Vec<u32>,
    name: String,
    kind: String,
    daemon: bool,
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
        F: Fn(A) -> R + Copy + Send + 'static,
    {
        let _ = target;
        const {
            assert!(
                std::mem::size_of::<F>() == 0,
                "a process target must not capture state: pass what it needs as its argument"
            )
        };
        let (identity, name) = current::next_child("Process");
        Process {
            entry: start::fn_entry::<F, A, R>,
            tag: start::tag_of::<(F, A, R)>(),
            args,
            identity,
            name,
            kind: "Process".to_owned(),
            daemon: false,
            method: None,
            _result: PhantomData,
        }
    }
}

impl<T: Run> Process<T, T::Output> {
    /// A process that will call `job.run()` (Python's subclass of `Process`). Its default name
    /// is `<TypeName>-k`.
    pub fn from_run(job: T) -> Self {
        let kind = short_type_name::<T>();
        let (identity, name) = current::next_child(&kind);
        Process {
            entry: start::run_entry::<T>,
            tag: start::tag_of::<(T, T::Output)>(),
            args: job,
            identity,
            name,
            kind,
            daemon: false,
            method: None,
            _result: PhantomData,
        }
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
        self.name = name.into();
        self
    }

    /// Makes the process a daemon: it is terminated when its parent exits, instead of joined.
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = daemon;
        self
    }

    /// Chooses how the process is created, overriding [`get_start_method`](crate::get_start_method).
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// The name the process will have.
    pub fn get_name(&self) -> &str {
        &self.name
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
        if !start::initialized() {
            return Err(ProcessError::Io(std::io::Error::other(
                "multiproc::init() was not called at the start of main (or the test is not a #[multiproc::test])",
            )));
        }
        registry::reap_finished();
        let encoded = codec::encode(&self.args).map_err(ProcessError::Encode)?;
        let me = current_process();
        let stdio = [0, 1, 2].map(|i| sys::fd::dup(sys::fd::stdio(i)).ok().map(Fd::from));
        let boot = Boot {
            entry: sys::target::offset_of(self.entry),
            tag: self.tag,
            name: self.name.clone(),
            kind: self.kind.clone(),
            identity: self.identity.clone(),
            daemon: self.daemon,
            parent_pid: me.pid,
            parent_name: me.name,
            authkey: Bytes(authkey()),
            log_level: crate::logging::inherited_level(),
            default_method: start::default_method_wire(),
            stdio,
            args: Bytes(encoded.bytes),
            arg_fds: encoded.fds.into_iter().map(Fd::from).collect(),
        };
        let method = self.method.unwrap_or_else(start::get_start_method);
        let (pid, sock) = start::launch(method)?;
        let pidfd = match sys::proc::pidfd_open(pid) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = sys::proc::waitpid(pid);
                return Err(e.into());
            }
        };
        let child = Arc::new(Child::new(
            pid,
            pidfd,
            sock,
            self.name,
            self.kind,
            self.daemon,
            self.identity,
        ));
        registry::add(child.clone());
        if child
            .conn
            .send_inner(&boot, Deadline::NEVER, Some(child.pidfd.as_fd()))
            .is_err()
        {
            let status = child.wait(None)?.unwrap_or(WaitStatus::Exited(1));
            return Err(ProcessError::Bootstrap {
                name: child.name.clone(),
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
            self.kind,
            self.name,
            if self.daemon { " daemon" } else { "" }
        )
    }
}

/// Starts `target(args)` in a new process with default options, like `std::thread::spawn`.
///
/// # Panics
/// If the process cannot be started; use [`Process::start`] to handle that.
pub fn spawn<F, A, R>(target: F, args: A) -> Handle<R>
where
    F: Fn(A) -> R + Copy + Send + 'static,
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
/// keeps running, and it is still reaped (never left a zombie), joined at exit if it is not a
/// daemon, and terminated at exit if it is.
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
        &self.child.name
    }

    /// Whether the child is a daemon.
    pub fn daemon(&self) -> bool {
        self.child.daemon
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
        let name = self.child.name.clone();
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
        let daemon = if self.child.daemon { " daemon" } else { "" };
        write!(
            f,
            "<{}({}, {status}{daemon})>",
            self.child.kind, self.child.name
        )
    }
}
