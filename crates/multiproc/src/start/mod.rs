//! How children come to life: start methods, the entry point, and the child bootstrap.
//!
//! Every child runs the very same executable as its parent. With **forkserver** (the default on
//! Linux) a small server process, executed once from `/proc/self/exe`, forks each child on
//! request; the server forks with `clone(CLONE_PARENT)`, so every child is a direct child of the
//! caller, which reaps it through a pidfd. With **spawn** each child is a fresh `posix_spawn` of
//! `/proc/self/exe`. With **fork** (opt-in, `unsafe`) the child is a `fork(2)` of the caller.
//!
//! Whichever way it starts, the child receives a bootstrap message over a private socket: the
//! target (an offset from a fixed anchor in the executable), its arguments, its name and
//! identity, and the parent's standard streams. Every blocking step of the bootstrap also
//! watches the child's pidfd, so a child that dies early is an error, never a hang.

#![forbid(unsafe_code)]

mod child;
mod entry;
mod fork;
pub(crate) mod forkserver;
mod long_lived;
mod spawn;

pub(crate) use child::{Boot, finish, is_child, panic_message};
pub(crate) use entry::{Entry, Invocation, Outcome, fn_entry, run_entry, tag_of};

pub use crate::sys::fork_method::ForkPermit;

use std::ffi::{CString, OsString};
use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

use crate::sys;

/// How a child process is created. See the [module docs](crate::start) for what each does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StartMethod {
    /// A fork server started once from `/proc/self/exe` forks each child. The default on Linux.
    #[doc(alias = "forkserver")]
    ForkServer,
    /// Each child is a fresh `posix_spawn` of `/proc/self/exe`. Slower, always available.
    Spawn,
    /// The child is a `fork(2)` of the caller. Made only by the `unsafe`
    /// [`StartMethod::fork`], because forking a threaded process is unsound.
    Fork(ForkPermit),
}

impl StartMethod {
    /// Python's name of the method: `"forkserver"`, `"spawn"` or `"fork"`.
    pub fn name(&self) -> &'static str {
        match self {
            StartMethod::ForkServer => "forkserver",
            StartMethod::Spawn => "spawn",
            StartMethod::Fork(_) => "fork",
        }
    }

    fn to_wire(self) -> u8 {
        match self {
            StartMethod::ForkServer => 0,
            StartMethod::Spawn => 1,
            StartMethod::Fork(_) => 2,
        }
    }

    fn from_wire(b: u8, permit: Option<ForkPermit>) -> StartMethod {
        match (b, permit) {
            (1, _) => StartMethod::Spawn,
            (2, Some(p)) => StartMethod::Fork(p),
            _ => StartMethod::ForkServer,
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for a start-method name that is not `forkserver` or `spawn`.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown start method {0:?} (expected \"forkserver\" or \"spawn\"; \"fork\" is only made by StartMethod::fork(), which is `unsafe`)"
)]
pub struct ParseStartMethodError(String);

impl FromStr for StartMethod {
    type Err = ParseStartMethodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "forkserver" => Ok(StartMethod::ForkServer),
            "spawn" => Ok(StartMethod::Spawn),
            _ => Err(ParseStartMethodError(s.to_owned())),
        }
    }
}

static DEFAULT_METHOD: Mutex<Option<StartMethod>> = Mutex::new(None);

/// Sets the start method used by processes that do not choose one (Python's
/// `multiprocessing.set_start_method(method, force=True)`).
pub fn set_start_method(method: StartMethod) {
    *DEFAULT_METHOD.lock().unwrap_or_else(|e| e.into_inner()) = Some(method);
}

/// The start method used by processes that do not choose one: [`StartMethod::ForkServer`]
/// unless [`set_start_method`] chose another.
pub fn get_start_method() -> StartMethod {
    DEFAULT_METHOD
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or(StartMethod::ForkServer)
}

/// A start method bound to a value, like Python's `multiprocessing.get_context(method)`:
/// processes made from it start with that method, whatever the global default is.
///
/// ```
/// # #[derive(serde::Serialize, serde::Deserialize)] struct _Unused;
/// let ctx = multiproc::get_context(multiproc::StartMethod::Spawn);
/// assert_eq!(ctx.start_method().name(), "spawn");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    method: StartMethod,
}

impl Context {
    /// The context's start method.
    pub fn start_method(&self) -> StartMethod {
        self.method
    }

    /// A process to be started with this context's method.
    pub fn process<F, A, R>(&self, target: F, args: A) -> crate::Process<A, R>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: serde::Serialize + serde::de::DeserializeOwned + 'static,
        R: serde::Serialize + serde::de::DeserializeOwned + 'static,
    {
        crate::Process::new(target, args).start_method(self.method)
    }
}

/// A context for `method` (Python's `multiprocessing.get_context`).
pub fn get_context(method: StartMethod) -> Context {
    Context { method }
}

/// How this process re-executes itself to start a child or the fork server.
#[derive(Debug)]
pub(crate) struct Reexec {
    pub(crate) argv: Vec<CString>,
    /// Under a test harness: the harness prints on stdout before the test body runs, so the
    /// child starts with stdout on /dev/null and gets the real one in its bootstrap message.
    pub(crate) quiet_stdout: bool,
}

static REEXEC: OnceLock<Reexec> = OnceLock::new();

pub(crate) fn reexec() -> Option<&'static Reexec> {
    REEXEC.get()
}

const ENV_BOOT: &str = "MULTIPROC_BOOT";
const ENV_FORKSERVER: &str = "MULTIPROC_FORKSERVER";

/// Enters multiproc. Call it first thing in `main` (or use `#[multiproc::main]`).
///
/// In the main program it prepares the process to start children and registers the exit hook
/// that joins non-daemon children and terminates daemons, as Python does at interpreter exit.
/// In a child, it runs the child's target and **never returns**: the child exits with the
/// target's exit code. It does the same in the fork server.
///
/// Calling it more than once is harmless. Code before it runs in every child too, so keep it
/// first.
pub fn init() {
    let argv0 = std::env::args_os()
        .next()
        .unwrap_or_else(|| OsString::from("multiproc-child"));
    enter(Reexec {
        argv: vec![cstring(&argv0)],
        quiet_stdout: false,
    });
}

/// Entry for `#[multiproc::test]`: `module_path` is the test's module path (crate first).
pub(crate) fn enter_test(module_path: &str, name: &str) {
    let test_name = match module_path.split_once("::") {
        Some((_, rest)) => format!("{rest}::{name}"),
        None => name.to_owned(),
    };
    let argv0 = std::env::args_os()
        .next()
        .unwrap_or_else(|| OsString::from("multiproc-test"));
    let mut argv = vec![cstring(&argv0), cstring(test_name.as_ref())];
    for flag in ["--exact", "--nocapture", "--test-threads=1", "-q"] {
        argv.push(cstring(flag.as_ref()));
    }
    enter(Reexec {
        argv,
        quiet_stdout: true,
    });
}

fn enter(reexec: Reexec) {
    let _ = REEXEC.set(reexec);
    if let Some((fd, _)) = inherited(ENV_BOOT) {
        sys::fd::close_inherited_except(fd.as_fd());
        child::run_spawned(fd);
    }
    if let Some((fd, ppid)) = inherited(ENV_FORKSERVER) {
        sys::fd::close_inherited_except(fd.as_fd());
        forkserver::serve(fd, ppid);
    }
    crate::process::exit::install();
}

/// Whether [`init`] (or a test entry) has run in this process.
pub(crate) fn initialized() -> bool {
    REEXEC.get().is_some()
}

/// The descriptor named by environment variable `var` as `fd,ppid`, if it was meant for us.
fn inherited(var: &str) -> Option<(OwnedFd, i32)> {
    let value = std::env::var(var).ok()?;
    let (fd, ppid) = value.split_once(',')?;
    let (fd, ppid): (i32, i32) = (fd.parse().ok()?, ppid.parse().ok()?);
    if sys::proc::getppid() != ppid {
        return None;
    }
    sys::fd::take_inherited(fd).map(|fd| (fd, ppid))
}

/// The environment for a re-executed child: ours without multiproc's variables, plus `extra`.
fn child_env(extra: (&str, String)) -> Vec<CString> {
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != ENV_BOOT && k != ENV_FORKSERVER)
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).unwrap_or_default()
        })
        .collect();
    env.push(CString::new(format!("{}={}", extra.0, extra.1)).expect("no NUL"));
    env
}

fn cstring(s: &std::ffi::OsStr) -> CString {
    CString::new(
        s.as_bytes()
            .iter()
            .copied()
            .filter(|b| *b != 0)
            .collect::<Vec<u8>>(),
    )
    .expect("NULs removed")
}

/// Starts a child with `method`. Returns the child's pid and our end of its bootstrap socket;
/// the child is a child of this process whatever the method.
pub(crate) fn launch(method: StartMethod) -> std::io::Result<(i32, OwnedFd)> {
    match method {
        StartMethod::ForkServer => forkserver::launch(),
        StartMethod::Spawn => spawn::launch(),
        StartMethod::Fork(permit) => fork::launch(permit),
    }
}

/// Wire form of the default start method, for children to inherit.
pub(crate) fn default_method_wire() -> u8 {
    get_start_method().to_wire()
}

/// Restores an inherited default start method in a child.
pub(crate) fn inherit_default_method(b: u8) {
    let permit = match get_start_method() {
        StartMethod::Fork(p) => Some(p),
        _ => None,
    };
    if b != 0 {
        set_start_method(StartMethod::from_wire(b, permit));
    }
}
