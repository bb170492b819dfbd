//! The ways the platform can create a child, and the permit that makes `fork` `unsafe`.
//!
//! [`StartMethod`] is defined here, beside the one `unsafe fn` that makes its `Fork` variant;
//! its names, parsing and contexts live in [`crate::start`], which re-exports it.

use std::io;

use super::proc::{self, Forked};

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

/// Proof that the program opted in to the `fork` start method through an `unsafe` call.
///
/// It can only be made by [`StartMethod::fork`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ForkPermit(());

impl StartMethod {
    /// The `fork` start method: the child is a copy of the calling process made by `fork(2)`,
    /// like Python's `fork` start method. It is the cheapest way to start a process.
    ///
    /// A child started with it uses it for its own children too, as Python's do.
    ///
    /// # Safety
    /// Only the calling thread exists in the child. If another thread holds a lock at the moment
    /// of the fork, the child inherits it locked forever and may deadlock or see half-updated
    /// state.
    ///
    /// multiproc keeps its own state sound: while it forks, it holds every lock of its global
    /// state, so neither its own threads (the starter thread, the reaper, a pool's thread,
    /// a manager's threads) nor another thread of the program inside a multiproc call can
    /// leave one held in the child. The child's bootstrap takes none of std's process-wide
    /// locks either.
    ///
    /// The caller promises the rest: that whenever a process is started with this method, no
    /// other thread of the process is inside a critical section that the child will enter.
    /// That covers the program's own `Mutex`es and those of other libraries (a logger
    /// installed with the `log` crate, a runtime), the allocator if it is not the system's
    /// (glibc's `malloc` prepares itself for `fork`), and std's process-wide locks: stdout's
    /// (a `println!` in progress; the child takes it when it prints, and when it exits, to
    /// flush), stderr's (an `eprintln!` in progress; the child takes it when it writes to
    /// stderr through std, and a `map` progress bar draws through it), the panic hook's (a
    /// thread that is panicking or setting a hook; the child takes it when it panics or sets a
    /// hook) and the environment's (`std::env::set_var`). In practice: start processes with
    /// this method while the program's other threads, if any, are idle or inside multiproc
    /// calls.
    ///
    /// A child started with this method uses it for its own children too, and a
    /// [`Pool`](crate::Pool) built with it forks replacement workers from its own thread at any
    /// time: the promise then covers the child's threads, and the whole life of the pool.
    pub unsafe fn fork() -> StartMethod {
        StartMethod::Fork(ForkPermit(()))
    }

    /// The method a child was started with, from its one-byte wire form (0 forkserver, 1 spawn,
    /// 2 fork); an unknown byte means the default, forkserver.
    ///
    /// A `2` only ever comes from a parent that held a permit: the program took on the contract
    /// of [`StartMethod::fork`], and this child runs the same program.
    pub(crate) fn from_wire(b: u8) -> StartMethod {
        match b {
            1 => StartMethod::Spawn,
            2 => StartMethod::Fork(ForkPermit(())),
            _ => StartMethod::ForkServer,
        }
    }

    /// The one-byte wire form of the method (see [`StartMethod::from_wire`]).
    pub(crate) fn to_wire(self) -> u8 {
        match self {
            StartMethod::ForkServer => 0,
            StartMethod::Spawn => 1,
            StartMethod::Fork(_) => 2,
        }
    }
}

/// Forks the calling process. The caller (`start::fork`) holds every lock of the library's
/// global state.
pub(crate) fn fork(_permit: ForkPermit) -> io::Result<Forked> {
    // SAFETY: a ForkPermit exists only if the program called the `unsafe fn StartMethod::fork`
    // and so took on its contract (directly, or through the parent that started this process
    // with it): no other thread is in a critical section of the program's or of std's that the
    // child enters. The library's own locks are held by this thread (`start::fork::launch`).
    unsafe { proc::fork() }
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::Process;
    use crate::start::LIBRARY_LOCKS;

    #[test]
    fn wire_form_round_trips() {
        // SAFETY: the method is only compared, never used to start a process.
        let fork = unsafe { StartMethod::fork() };
        for m in [StartMethod::ForkServer, StartMethod::Spawn, fork] {
            assert_eq!(StartMethod::from_wire(m.to_wire()), m);
        }
        assert_eq!(StartMethod::from_wire(200), StartMethod::ForkServer);
    }

    /// Takes lock `i` of [`LIBRARY_LOCKS`](crate::start::LIBRARY_LOCKS) (after the bootstrap, which takes several), and
    /// ends, as a process whose parent held that lock until it forked.
    fn take_lock(i: usize) -> usize {
        drop((LIBRARY_LOCKS[i].hold)());
        i
    }

    /// Runs this unit test alone in a fresh process of the test binary (the `fork` method's
    /// promise cannot be kept among the harness's other test threads); true there.
    fn alone(name: &str) -> bool {
        const VAR: &str = "MULTIPROC_UNIT_TEST_ALONE";
        if std::env::var_os(VAR).is_some_and(|v| v == name) {
            return true;
        }
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--test-threads=1"])
            .env(VAR, name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(180);
        let timed_out = loop {
            if child.try_wait().unwrap().is_some() {
                break false;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break true;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !timed_out && out.status.success() && stdout.contains("1 passed"),
            "{name} failed in its own process{}\nstdout:\n{stdout}\nstderr:\n{}",
            if timed_out {
                " (ran longer than 180 s)"
            } else {
                ""
            },
            String::from_utf8_lossy(&out.stderr)
        );
        false
    }

    /// Regression (each lock on its own, deterministically): a child started with `fork`
    /// blocked forever on a library lock that another thread held when it forked.
    ///
    /// For each lock, another thread takes it just before the fork and lets it go as soon as
    /// the fork has returned, or after a while if the fork waits for it. The child then takes
    /// the same lock, and must end within a bound.
    #[test]
    fn regression_fork_child_does_not_inherit_a_held_library_lock() {
        if !alone(
            "sys::fork_method::tests::regression_fork_child_does_not_inherit_a_held_library_lock",
        ) {
            return;
        }
        // SAFETY: this test runs alone in a process of its own; its other threads are the
        // harness's main thread, which waits for it, and the one below, which holds only
        // library locks (and is the point of the test).
        let fork = unsafe { StartMethod::fork() };
        let mut children = Vec::new();
        for (i, lock) in LIBRARY_LOCKS.iter().enumerate() {
            let (go, hold) = mpsc::channel::<()>();
            let (holding, held) = mpsc::channel::<()>();
            let (forked, release) = mpsc::channel::<()>();
            let holder = std::thread::spawn(move || {
                hold.recv().unwrap();
                let guard = (LIBRARY_LOCKS[i].hold)();
                holding.send(()).unwrap();
                // Until the fork has returned (the lock was inherited held), or for a while if
                // the fork waits for the lock.
                let _ = release.recv_timeout(Duration::from_millis(300));
                drop(guard);
            });
            let h = Process::new(take_lock, i)
                .start_method(fork)
                .start_with(|method| {
                    go.send(()).unwrap();
                    held.recv().unwrap();
                    let launched = crate::start::launch(method);
                    let _ = forked.send(());
                    launched
                })
                .unwrap();
            holder.join().unwrap();
            children.push((lock.statics, h));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut stuck = Vec::new();
        for (names, h) in children {
            if h.join_deadline(deadline).is_none() {
                let _ = h.kill();
                let _ = h.join_timeout(Duration::from_secs(10));
                stuck.push(names);
            } else {
                assert!(h.join().is_ok(), "the child for {names:?} failed");
            }
        }
        assert!(stuck.is_empty(), "children waited forever for {stuck:?}");
    }
}
