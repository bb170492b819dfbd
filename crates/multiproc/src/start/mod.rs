//! How children are launched: start methods and contexts.
//!
//! Every child runs the very same executable as its parent. With **forkserver** (the default on
//! Linux) a small server process, executed once from `/proc/self/exe`, forks each child on
//! request; the server forks with `clone(CLONE_PARENT)`, so every child is a direct child of the
//! caller, which reaps it through a pidfd. With **spawn** each child is a fresh `posix_spawn` of
//! `/proc/self/exe`. With **fork** (opt-in, `unsafe`) the child is a `fork(2)` of the caller.
//!
//! A child executed from `/proc/self/exe` (the fork server, or a child started with spawn) is
//! caught before `main` by multiproc's process constructor, so no code of `main` runs in it;
//! it sees the parent's `std::env::args()`. Whichever way it starts, the child receives a
//! bootstrap message over a private socket: the target (an offset from a fixed anchor in the
//! executable), its arguments, its identity, and the parent's standard streams. Every blocking
//! step of the bootstrap also watches the child's pidfd, so a child that dies early is an
//! error, never a hang.

#![forbid(unsafe_code)]

mod entry;
mod fork;
mod forkserver;
mod long_lived;
mod spawn;

pub use entry::Target;
pub(crate) use entry::{
    Entry, Invocation, Outcome, assert_target, fn_entry, panic_message, run_entry, tag_of,
};
pub(crate) use forkserver::{forget as forget_fork_server, shutdown as shutdown_fork_server};

pub use crate::sys::fork_method::{ForkPermit, StartMethod};

use std::ffi::CString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

use crate::sys;

impl StartMethod {
    /// Python's name of the method: `"forkserver"`, `"spawn"` or `"fork"`.
    pub fn name(&self) -> &'static str {
        match self {
            StartMethod::ForkServer => "forkserver",
            StartMethod::Spawn => "spawn",
            StartMethod::Fork(_) => "fork",
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
        F: crate::start::Target<A, R>,
        A: serde::Serialize + serde::de::DeserializeOwned + 'static,
        R: serde::Serialize + serde::de::DeserializeOwned + 'static,
    {
        crate::Process::new(target, args).start_method(self.method)
    }
}

/// A context for `method` (Python's `multiprocessing.get_context`). A child started from it
/// reports `method` from [`get_start_method`] and uses it for its own children.
pub fn get_context(method: StartMethod) -> Context {
    Context { method }
}

/// The names of the start methods this platform offers, the default first (Python's
/// `multiprocessing.get_all_start_methods()`): `["forkserver", "spawn", "fork"]` unless
/// [`set_start_method`] chose another default.
///
/// ```
/// assert_eq!(multiproc::get_all_start_methods(), ["forkserver", "spawn", "fork"]);
/// ```
pub fn get_all_start_methods() -> Vec<&'static str> {
    let default = get_start_method().name();
    let mut names = vec![default];
    names.extend(
        ["forkserver", "spawn", "fork"]
            .into_iter()
            .filter(|n| *n != default),
    );
    names
}

/// Prepares this program to start processes. Calling it is optional and harmless.
///
/// Children are caught before `main` by multiproc's process constructor, so a program needs no
/// call at all: `main` runs once, in the parent only. `init` remains for programs written for
/// earlier versions: it registers the exit hook that joins non-daemon children and terminates
/// daemons (the first start does this too), and refers to the constructor, which keeps it
/// linked. Whether the constructor ran is checked at the first start, which fails with
/// [`ProcessError::EntryNotLinked`](crate::ProcessError::EntryNotLinked) if it did not.
pub fn init() {
    if !crate::child::is_child() {
        let _ = sys::entry::constructor_ran();
        crate::child::exit::install();
    }
}

/// Entry for `#[multiproc::test]`: the same as [`init`].
pub(crate) fn enter_test(_module_path: &str, _name: &str) {
    init();
}

/// Why children cannot be started from this program, if they cannot (checked once).
pub(crate) fn entry_problem() -> Option<&'static str> {
    static PROBLEM: OnceLock<Option<&'static str>> = OnceLock::new();
    *PROBLEM.get_or_init(|| {
        let ran = sys::entry::constructor_ran();
        entry_problem_of(ran, ran && sys::entry::in_main_executable())
    })
}

/// What is wrong, given whether the process constructor ran and whether it is part of the
/// main executable.
fn entry_problem_of(ran: bool, in_main_executable: bool) -> Option<&'static str> {
    if !ran {
        Some(
            "multiproc's process constructor did not run in this program, so a child would run `main` instead of its target: this platform does not run `.init_array` constructors (multiproc needs Linux)",
        )
    } else if !in_main_executable {
        Some(
            "multiproc is part of a shared library, but children run the program's main executable (/proc/self/exe), which does not contain it: link multiproc into the executable itself",
        )
    } else {
        None
    }
}

/// The program's arguments, which every child executed from `/proc/self/exe` gets too.
fn child_argv() -> Vec<CString> {
    let mut argv: Vec<CString> = std::env::args_os().map(|a| cstring(&a)).collect();
    if argv.is_empty() {
        argv.push(c"multiproc-child".to_owned());
    }
    argv
}

/// The environment for a re-executed child: ours without multiproc's markers, plus `marker`.
fn child_env(marker: (&str, String)) -> Vec<CString> {
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != crate::child::ENV_BOOT && k != crate::child::ENV_FORKSERVER)
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            cstring(std::ffi::OsStr::from_bytes(&kv))
        })
        .collect();
    env.push(CString::new(format!("{}={}", marker.0, marker.1)).expect("no NUL"));
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
pub(crate) fn launch(method: StartMethod) -> std::io::Result<(i32, std::os::fd::OwnedFd)> {
    match method {
        StartMethod::ForkServer => forkserver::launch(),
        StartMethod::Spawn => spawn::launch(),
        StartMethod::Fork(permit) => fork::launch(permit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_problems_say_what_is_wrong() {
        assert_eq!(entry_problem_of(true, true), None);
        assert!(
            entry_problem_of(false, false)
                .unwrap()
                .contains("did not run")
        );
        assert!(
            entry_problem_of(true, false)
                .unwrap()
                .contains("shared library")
        );
        // In this test binary, the constructor ran in the main executable.
        assert_eq!(entry_problem(), None);
    }

    #[test]
    fn entry_problem_is_a_dedicated_error() {
        let e = crate::ProcessError::EntryNotLinked(entry_problem_of(false, false).unwrap());
        assert!(
            e.to_string()
                .starts_with("cannot start a process: multiproc's process constructor did not run")
        );
        assert!(e.exitcode().is_none());
    }

    #[test]
    fn all_start_methods_put_the_default_first() {
        assert_eq!(get_all_start_methods(), ["forkserver", "spawn", "fork"]);
    }
}
