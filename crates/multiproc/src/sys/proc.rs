//! Process system calls: pidfds, waiting, signals, spawning, forking, and per-process settings.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_long(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitStatus {
    /// It called `exit(code)`.
    Exited(i32),
    /// It was killed by this signal.
    Signaled(i32),
}

/// Opens a pidfd for `pid`. The caller must be sure `pid` is not yet reaped (it is its own child).
pub(crate) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; it returns a new descriptor or -1.
    let fd = cvt_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel just created this descriptor for us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sends `sig` to the process behind `pidfd`. A process that has already exited but is not yet
/// reaped accepts signals silently; one that is reaped gives ESRCH.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    // SAFETY: pidfd_send_signal with a null siginfo and no flags.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

const P_PIDFD: libc::idtype_t = 3;

/// Reaps the child behind `pidfd`. With `block == false`, returns `None` when it still runs.
pub(crate) fn waitid_pidfd(pidfd: BorrowedFd<'_>, block: bool) -> io::Result<Option<WaitStatus>> {
    loop {
        // SAFETY: an all-zero siginfo_t is valid; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | if block { 0 } else { libc::WNOHANG };
        // SAFETY: `info` is a valid siginfo_t to fill; the pidfd is borrowed and open.
        let r = unsafe { libc::waitid(P_PIDFD, pidfd.as_raw_fd() as libc::id_t, &mut info, flags) };
        match cvt(r) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        // SAFETY: waitid succeeded, so si_pid/si_status are the fields of a SIGCHLD siginfo.
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if pid == 0 {
            return Ok(None);
        }
        return Ok(Some(match info.si_code {
            libc::CLD_EXITED => WaitStatus::Exited(status),
            _ => WaitStatus::Signaled(status),
        }));
    }
}

/// Reaps `pid` (by pid, for processes we hold no pidfd for), blocking.
pub(crate) fn waitpid(pid: i32) -> io::Result<WaitStatus> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid int to fill.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        match cvt(r) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        return Ok(if libc::WIFEXITED(status) {
            WaitStatus::Exited(libc::WEXITSTATUS(status))
        } else {
            WaitStatus::Signaled(libc::WTERMSIG(status))
        });
    }
}

/// The descriptor number under which [`spawn`] hands its `pass` descriptor to the child.
pub(crate) const PASSED_FD: i32 = 3;

/// `posix_spawn`s `path` with `argv` and `envp`. The child gets its standard streams, `pass`
/// as descriptor [`PASSED_FD`], and no other descriptor: whatever this process has open without
/// close-on-exec (a library's, a test harness's) is closed in the child before it executes,
/// as Python's `close_fds` does. SIGTERM and SIGINT start with their default action; ignored
/// signals (SIGPIPE in a Rust program) stay ignored.
pub(crate) fn spawn(
    path: &CStr,
    argv: &[CString],
    envp: &[CString],
    pass: BorrowedFd<'_>,
) -> io::Result<i32> {
    let mut argv_ptrs: Vec<*mut libc::c_char> =
        argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv_ptrs.push(std::ptr::null_mut());
    let mut envp_ptrs: Vec<*mut libc::c_char> =
        envp.iter().map(|a| a.as_ptr().cast_mut()).collect();
    envp_ptrs.push(std::ptr::null_mut());

    struct Actions(libc::posix_spawn_file_actions_t);
    impl Drop for Actions {
        fn drop(&mut self) {
            // SAFETY: initialised in `spawn` before this guard was built.
            unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
        }
    }
    struct Attr(libc::posix_spawnattr_t);
    impl Drop for Attr {
        fn drop(&mut self) {
            // SAFETY: initialised in `spawn` before this guard was built.
            unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
        }
    }

    // SAFETY: the init functions fill zeroed structures; each is destroyed by its guard.
    let (mut actions, mut attr) = unsafe {
        let mut a: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        spawn_err(libc::posix_spawn_file_actions_init(&mut a))?;
        let actions = Actions(a);
        let mut t: libc::posix_spawnattr_t = std::mem::zeroed();
        spawn_err(libc::posix_spawnattr_init(&mut t))?;
        (actions, Attr(t))
    };
    // SAFETY: the structures are initialised; the descriptor is borrowed and open for the call.
    unsafe {
        // dup2 onto a different number clears FD_CLOEXEC on the copy; onto itself, glibc
        // (>= 2.29) clears it too.
        spawn_err(libc::posix_spawn_file_actions_adddup2(
            &mut actions.0,
            pass.as_raw_fd(),
            PASSED_FD,
        ))?;
        spawn_err(libc::posix_spawn_file_actions_addclosefrom_np(
            &mut actions.0,
            PASSED_FD + 1,
        ))?;
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        spawn_err(libc::posix_spawnattr_setsigmask(&mut attr.0, &empty))?;
        let mut defaults: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut defaults);
        libc::sigaddset(&mut defaults, libc::SIGTERM);
        libc::sigaddset(&mut defaults, libc::SIGINT);
        spawn_err(libc::posix_spawnattr_setsigdefault(&mut attr.0, &defaults))?;
        spawn_err(libc::posix_spawnattr_setflags(
            &mut attr.0,
            (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as _,
        ))?;
    }
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is valid for the call: path and the null-terminated argv/envp arrays
    // point at CStrings that outlive it, and the actions/attributes are initialised.
    spawn_err(unsafe {
        libc::posix_spawn(
            &mut pid,
            path.as_ptr(),
            &actions.0,
            &attr.0,
            argv_ptrs.as_ptr(),
            envp_ptrs.as_ptr(),
        )
    })?;
    Ok(pid)
}

fn spawn_err(r: libc::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(r))
    }
}

/// Which side of a fork we are on.
#[derive(Debug)]
pub(crate) enum Forked {
    /// In the parent, with the child's pid.
    Parent(i32),
    /// In the child.
    Child,
}

/// `fork(2)` through libc, running its atfork handlers.
///
/// # Safety
/// If the calling process has other threads, the child gets a copy of memory in which locks held
/// by those threads stay locked forever. The caller promises that the child only calls
/// async-signal-safe functions, or that no other thread holds a lock the child will take
/// (allocator included), until it execs or exits.
pub(crate) unsafe fn fork() -> io::Result<Forked> {
    // SAFETY: the caller upholds the contract above.
    let pid = cvt(unsafe { libc::fork() })?;
    Ok(if pid == 0 {
        Forked::Child
    } else {
        Forked::Parent(pid)
    })
}

/// Forks a child whose parent is this process's parent (`clone(CLONE_PARENT)`), so that the
/// caller's parent can reap it and its parent-death signal follows the caller's parent.
///
/// # Safety
/// As for [`fork`]; in addition libc's atfork handlers do not run, so the caller must be
/// single-threaded (or sure that no other thread holds a libc-internal lock) at the call.
pub(crate) unsafe fn fork_sibling() -> io::Result<Forked> {
    let flags = (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: clone with no new stack behaves like fork: the child continues on a copy of this
    // stack. The caller upholds the threading contract above.
    let pid =
        cvt_long(unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) })?;
    Ok(if pid == 0 {
        Forked::Child
    } else {
        Forked::Parent(pid as i32)
    })
}

/// Asks the kernel to send `sig` to this process when its parent (thread) exits.
pub(crate) fn set_parent_death_signal(sig: i32) -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number.
    cvt(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) }).map(drop)
}

/// This process's parent pid.
pub(crate) fn getppid() -> i32 {
    // SAFETY: getppid cannot fail.
    unsafe { libc::getppid() }
}

/// The number of threads of this process (from `/proc/self/task`; 1 if it cannot be read).
pub(crate) fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count().max(1))
}

/// The calling thread's id.
pub(crate) fn gettid() -> i32 {
    // SAFETY: gettid cannot fail.
    unsafe { libc::gettid() }
}

/// Sets the process name that `ps` and `top` show (the main thread's `comm`, 15 bytes at most).
pub(crate) fn set_process_name(name: &str) {
    let mut bytes: Vec<u8> = name.bytes().filter(|b| *b != 0 && *b != b'\n').collect();
    let mut cut = bytes.len().min(15);
    while cut > 0 && !name.is_char_boundary(cut) {
        cut -= 1;
    }
    bytes.truncate(cut);
    let path = format!("/proc/self/task/{}/comm", std::process::id());
    // Best effort: a name that cannot be set changes nothing else.
    let _ = std::fs::write(path, &bytes);
}

/// Ends the process at once with `code`: no atexit handlers, no unwinding, no buffered I/O.
pub(crate) fn exit_immediately(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Ends the process with `code` through the C library's `exit`: handlers registered with
/// `atexit` run and C stdio buffers are flushed (Rust's own buffers must be flushed before).
pub(crate) fn exit(code: i32) -> ! {
    // SAFETY: exit never returns; running the process's exit handlers is its purpose.
    unsafe { libc::exit(code) }
}

unsafe extern "C" {
    // glibc's standard streams and its read-only query of a stream's buffer.
    static stdout: *mut libc::FILE;
    static stderr: *mut libc::FILE;
    fn __fpending(stream: *mut libc::FILE) -> libc::size_t;
}

/// Flushes C's `stdout` and `stderr` if they hold buffered output, for a process about to end
/// with `_exit`. It only writes to a stream that has something to flush, so that a forked
/// child whose C streams are empty does not copy the pages they live on.
pub(crate) fn flush_c_stdio() {
    // SAFETY: `stdout` and `stderr` are glibc's stream pointers, set before any constructor
    // runs and never freed; `__fpending` only reads the stream's buffer pointers, and fflush
    // on a valid stream has no other precondition.
    unsafe {
        for stream in [stdout, stderr] {
            if !stream.is_null() && __fpending(stream) > 0 {
                libc::fflush(stream);
            }
        }
    }
}

/// Registers `f` to run when the process calls `exit` (including returning from `main`).
pub(crate) fn at_exit(f: extern "C" fn()) -> io::Result<()> {
    // SAFETY: `f` is a plain function with 'static lifetime.
    if unsafe { libc::atexit(f) } == 0 {
        Ok(())
    } else {
        Err(io::Error::other("atexit failed"))
    }
}

/// The name of a signal number (`SIGTERM`), or `SIG<n>`.
pub(crate) fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("SIG{sig}"),
    };
    name.to_owned()
}

/// Signal numbers the rest of the crate names.
pub(crate) mod signal {
    /// SIGTERM.
    pub(crate) const TERM: i32 = libc::SIGTERM;
    /// SIGKILL.
    pub(crate) const KILL: i32 = libc::SIGKILL;
    /// SIGINT.
    pub(crate) const INT: i32 = libc::SIGINT;
    /// SIGPIPE.
    pub(crate) const PIPE: i32 = libc::SIGPIPE;
}

/// Blocks or unblocks `sig` for the calling thread. A blocked signal stays pending until it is
/// unblocked; a fork inherits the mask but not the pending signals.
pub(crate) fn set_signal_blocked(sig: i32, blocked: bool) {
    // SAFETY: an all-zero sigset_t is valid storage for sigemptyset to initialise.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid; pthread_sigmask only changes this thread's signal mask.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        let how = if blocked {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

/// Sets how this process handles `sig`: `ignore` or the default action.
pub(crate) fn set_signal_ignored(sig: i32, ignore: bool) {
    let handler = if ignore { libc::SIG_IGN } else { libc::SIG_DFL };
    // SAFETY: installing SIG_IGN or SIG_DFL runs no code of ours in a signal context.
    unsafe { libc::signal(sig, handler) };
}
