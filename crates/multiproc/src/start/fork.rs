//! The `fork` start method, and how the library keeps its own state sound across the fork.
//!
//! # The library's locks across a fork
//!
//! Only the forking thread exists in the child. A lock that another thread held at the moment
//! of the fork stays held in the child forever, and whatever it guarded may be half updated.
//! The library runs threads of its own (the starter thread, the reaper, a pool's thread, a
//! manager's server thread, the async API's futex waker threads) and any thread of the
//! program may be inside a library call, so the library cannot ask its caller to keep its own
//! locks free: it keeps them itself, with
//! the pattern of `pthread_atfork`. The forking thread takes every lock of the library's global
//! state ([`LIBRARY_LOCKS`]), forks, and releases them in both processes. Nobody else is inside
//! them at the fork, so the child's copies are free and whole, and the child, which has one
//! thread, uses them as usual. (Locks inside objects, such as a pool's or a connection's, are
//! reachable in the child only through that global state, which forgets the parent's objects.)
//!
//! The locks are taken in one fixed order, the order in which the paths that nest them nest
//! them, so the forking thread never waits for a lock whose holder waits for one it holds:
//! - the fork server's lock comes first: its holder takes the starter's lock, waits for the
//!   starter thread to start a server (which logs), and logs;
//! - the tracker's and the reaper's are held while they log;
//! - the current process's description comes last: every log record of
//!   [`log_to_stderr`](crate::log_to_stderr)'s logger reads it, from under any of the others;
//! - the others are taken with no other global lock held and without waiting on another thread
//!   (the registry of children is taken under a child's own lock, which the fork does not
//!   take).
//!
//! A `Once` or `OnceLock` that another thread is filling at the fork stays "in progress" in
//! the child, which waits for it forever too. The library's are filled before any fork or by
//! the forking thread itself ([`ONCES`] says which and how), and its lazily computed values
//! (the CPU count, the executable's fingerprint) are atomics instead.
//!
//! What remains the caller's promise (see [`StartMethod::fork`](crate::StartMethod::fork)) is
//! everything else a thread of the process may hold: its own locks and other libraries', and
//! std's process-wide ones. The child's bootstrap takes none of those: it writes to
//! descriptor 2 directly, and finds its panic hook ready in its copy of memory (see
//! `child::panic_hook`). But a child that prints, or exits (which flushes stdout), takes
//! std's stdout lock, and one that sets a panic hook or reads the environment takes std's
//! locks for those.

use std::any::Any;
use std::io;
use std::os::fd::OwnedFd;

use super::ForkPermit;
use crate::sys;
use crate::sys::proc::Forked;

/// Forks the caller; the child runs the bootstrap in its copy of memory.
pub(crate) fn launch(permit: ForkPermit) -> io::Result<(i32, OwnedFd)> {
    let (ours, theirs) = sys::fd::socketpair()?;
    // Before the locks: both take locks of their own (std's panic hook; a log record).
    crate::child::install_panic_hook_before_fork();
    crate::sync::owner::register_at_fork();
    let held = hold_library_locks();
    let forked = sys::fork_method::fork(permit);
    // In the parent and in the child alike: in the child, the forking thread's copies of the
    // guards are the only holders there are.
    drop(held);
    match forked? {
        Forked::Child => {
            drop(ours);
            crate::child::run_forked(theirs)
        }
        Forked::Parent(pid) => Ok((pid, ours)),
    }
}

/// A held lock, whatever it guards; dropping it releases the lock.
pub(crate) type Held = Box<dyn Any>;

/// One lock (or a module's few) of the library's global state.
#[derive(Debug)]
pub(crate) struct GlobalLock {
    /// The statics it holds (read by the test that checks the list is complete).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) statics: &'static [&'static str],
    /// Takes it.
    pub(crate) hold: fn() -> Held,
}

/// Every lock of the library's global state, in the order the fork takes them (see the module
/// docs). Whoever adds a global lock to the library adds it here (a test checks that every
/// `static` lock of the crate is listed).
pub(crate) const LIBRARY_LOCKS: &[GlobalLock] = &[
    GlobalLock {
        statics: &["SERVER"],
        hold: || Box::new(super::forkserver::hold_for_fork()),
    },
    GlobalLock {
        statics: &["RUNNER"],
        hold: || Box::new(super::long_lived::hold_for_fork()),
    },
    GlobalLock {
        statics: &["TRACKER"],
        hold: || Box::new(crate::shared::hold_tracker_for_fork()),
    },
    GlobalLock {
        statics: &["LINKS"],
        hold: || Box::new(crate::manager::client::hold_links_for_fork()),
    },
    GlobalLock {
        statics: &["REAPER", "DETACHED"],
        hold: || Box::new(crate::process::hold_reaper_for_fork()),
    },
    GlobalLock {
        statics: &["CHILDREN"],
        hold: || Box::new(crate::process::hold_registry_for_fork()),
    },
    GlobalLock {
        statics: &["FINALIZERS"],
        hold: || Box::new(crate::child::exit::hold_for_fork()),
    },
    GlobalLock {
        statics: &["DEFAULT_METHOD"],
        hold: || Box::new(super::hold_default_for_fork()),
    },
    #[cfg(feature = "tokio")]
    GlobalLock {
        statics: &["GLOBAL"],
        hold: || Box::new(crate::reactor::futex::hold_for_fork()),
    },
    GlobalLock {
        statics: &["ME"],
        hold: || Box::new(crate::process::hold_current_for_fork()),
    },
];

/// The library's `Once`s and `OnceLock`s, and why a fork never finds one in progress.
#[cfg_attr(not(test), allow(dead_code))]
const ONCES: &[(&str, &str)] = &[
    (
        "PROBLEM",
        "read by `Process::start` before it launches: the forking thread waits for it",
    ),
    (
        "AT_FORK",
        "filled by the forking thread before it forks (`launch`)",
    ),
    (
        "BEFORE_FORK",
        "filled by the forking thread before it forks (`launch`)",
    ),
    (
        "HOOK",
        "filled by a pool worker's main thread before its first task, the only thread that fills it",
    ),
];

/// Takes every lock of [`LIBRARY_LOCKS`], in order.
fn hold_library_locks() -> Vec<Held> {
    LIBRARY_LOCKS.iter().map(|lock| (lock.hold)()).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// The names of the `static` items of the crate's sources (outside unit test modules, and
    /// outside modules that this build leaves out) whose type is one of `kinds`.
    fn statics_of(kinds: &[&str]) -> BTreeSet<String> {
        fn walk(dir: &Path, kinds: &[&str], found: &mut BTreeSet<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if !cfg!(feature = "tokio") && path.ends_with("reactor") {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, kinds, found);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") || path.ends_with("tests.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for line in text.lines() {
                    let line = line.trim_start();
                    if line.starts_with("mod tests") {
                        break;
                    }
                    let line = line
                        .trim_start_matches("pub(crate) ")
                        .trim_start_matches("pub ");
                    let Some((name, ty)) = line
                        .strip_prefix("static ")
                        .and_then(|rest| rest.split_once(':'))
                    else {
                        continue;
                    };
                    let ty = ty.trim_start().trim_start_matches("std::sync::");
                    if kinds.iter().any(|k| {
                        ty.starts_with(&format!("{k}<")) || ty.starts_with(&format!("{k} "))
                    }) {
                        found.insert(name.trim().to_owned());
                    }
                }
            }
        }
        let mut found = BTreeSet::new();
        walk(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            kinds,
            &mut found,
        );
        found
    }

    #[test]
    fn every_global_lock_of_the_library_is_held_across_a_fork() {
        let listed: BTreeSet<String> = LIBRARY_LOCKS
            .iter()
            .flat_map(|lock| lock.statics.iter().map(|n| (*n).to_owned()))
            .collect();
        assert_eq!(statics_of(&["Mutex", "RwLock"]), listed);
    }

    #[test]
    fn every_once_of_the_library_is_complete_at_a_fork() {
        let listed: BTreeSet<String> = ONCES.iter().map(|(n, _)| (*n).to_owned()).collect();
        assert_eq!(statics_of(&["Once", "OnceLock", "LazyLock"]), listed);
    }
}
