//! A watcher: a process forked from this one that waits for this one to end, however it ends
//! (a return from `main`, `exit`, a panic, SIGKILL), and then runs one routine: the
//! shared-memory tracker's sweep.
//!
//! The watcher holds one end of a socket pair and this process the other (close-on-exec, so
//! only this process, and children forked from it without `exec`, hold it). When every copy
//! of this process's end is closed, the watcher's read returns end of file, and it runs its
//! routine. This process learns that the watcher ended (killed by someone) when its own end
//! hangs up.
//!
//! # Why this fork is sound
//!
//! The process that forks may have other threads, whose locks (the allocator's, stdio's, …)
//! the child inherits locked forever. So the child runs only raw system calls on memory that
//! was prepared before the fork: no allocation, no lock, no panic, no buffered I/O. Its own
//! code is below; the routine it runs carries the same promise ([`Watcher::start`] is `unsafe`
//! for that reason), and builds on [`unlink_if_same`] and [`write_stderr`], which keep it.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use super::fd::{Interest, poll, seqpacket_pair};
use super::proc::{Forked, fork, waitpid};

/// How long a new watcher may take to say it is ready.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// A running watcher: our end of its socket, and its pid.
#[derive(Debug)]
pub(crate) struct Watcher {
    sock: OwnedFd,
    pid: i32,
}

impl Watcher {
    /// Forks a watcher that calls `at_end` once this process has ended (and with it every
    /// child forked from it without `exec`), then exits.
    ///
    /// The watcher ignores the signals that a terminal or a process group would send (SIGINT,
    /// SIGTERM, SIGHUP, SIGQUIT), starts a session of its own, and keeps no descriptor but
    /// stderr and its socket, so that it holds nobody's pipe open.
    ///
    /// # Safety
    /// `at_end` runs in the child of a fork of a process that may have other threads. It must
    /// make only async-signal-safe calls: no allocation, no lock, no panic, no `std::io`
    /// handle; it may read memory that was mapped or allocated before this call.
    pub(crate) unsafe fn start(at_end: &dyn Fn()) -> io::Result<Watcher> {
        let (ours, theirs) = seqpacket_pair()?;
        // SAFETY: the child runs `watch` and then `at_end`, both of which make only
        // async-signal-safe calls on memory prepared before the fork (`watch` below, `at_end`
        // by the caller's promise), and ends with `_exit`: it never returns into code that
        // could take a lock held by another thread at the fork.
        match unsafe { fork() }? {
            Forked::Child => {
                // SAFETY: as above; this is the child, which owns its copies of both ends.
                unsafe { watch(theirs.as_raw_fd(), ours.as_raw_fd()) };
                at_end();
                // SAFETY: ends the watcher without running the parent's atexit handlers.
                unsafe { libc::_exit(0) }
            }
            Forked::Parent(pid) => {
                drop(theirs);
                let watcher = Watcher { sock: ours, pid };
                watcher.wait_ready()?;
                Ok(watcher)
            }
        }
    }

    /// Waits until the watcher says it is ready (it ignores the signals and holds nothing
    /// else), so that nothing is registered with a watcher that a Ctrl-C could still kill.
    fn wait_ready(&self) -> io::Result<()> {
        let deadline = std::time::Instant::now() + READY_WITHIN;
        let ready = poll(&[(self.sock.as_fd(), Interest::Read)], Some(deadline))?;
        let mut byte = 0u8;
        // SAFETY: `byte` is a one-byte writable buffer; the socket is ours.
        let n = ready[0].then(|| unsafe {
            libc::read(self.sock.as_raw_fd(), (&mut byte as *mut u8).cast(), 1)
        });
        if n == Some(1) {
            return Ok(());
        }
        // It died (or hangs): make sure it is gone, and reap it.
        // SAFETY: kill of our own child, which is not reaped yet.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let _ = waitpid(self.pid);
        Err(io::Error::other(
            "the shared memory tracker process failed to start",
        ))
    }

    /// Whether the watcher still waits for this process to end. One that has ended (someone
    /// killed it) is reaped here, so that it does not stay a zombie.
    pub(crate) fn is_alive(&self) -> bool {
        match poll(
            &[(self.sock.as_fd(), Interest::Read)],
            Some(std::time::Instant::now()),
        ) {
            // The watcher never writes: a readable end is a hung-up end.
            Ok(ready) if ready[0] => {
                // Its end closed as it exited: the wait is short.
                let _ = waitpid(self.pid);
                false
            }
            _ => true,
        }
    }
}

/// The watcher's wait, in the child: ignores the signals of terminals and process groups,
/// leaves the parent's session, closes every descriptor but stderr and `sock`, says it is
/// ready, and reads `sock` until end of file.
///
/// # Safety
/// Only for the child of [`Watcher::start`]: it closes descriptors that its owners (copies of
/// the parent's objects) believe open, which is fine only because nothing here uses them again.
unsafe fn watch(sock: libc::c_int, parent_end: libc::c_int) {
    // SAFETY: installing SIG_IGN runs no code of ours; setsid and prctl change only this
    // process; the descriptors closed are this child's copies, which nothing here uses again;
    // PR_SET_NAME reads a NUL-terminated literal.
    unsafe {
        for sig in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGPIPE,
        ] {
            libc::signal(sig, libc::SIG_IGN);
        }
        libc::setsid();
        libc::close(parent_end);
        // Keep only stderr and our socket: holding anyone else's pipes or sockets open would
        // keep their peers from ever seeing an end of file.
        for fd in [0, 1] {
            libc::close(fd);
        }
        close_from(3, sock);
        libc::prctl(
            libc::PR_SET_NAME,
            c"multiproc-shm".as_ptr() as libc::c_ulong,
            0,
            0,
            0,
        );
    }
    let mut byte = b'r';
    // SAFETY: `byte` is a one-byte buffer. If the write fails, the parent sees the end of file
    // (or times out) and gives up on this watcher.
    unsafe { libc::write(sock, (&byte as *const u8).cast(), 1) };
    loop {
        // SAFETY: `byte` is a one-byte writable buffer.
        let n = unsafe { libc::read(sock, (&mut byte as *mut u8).cast(), 1) };
        if n == 0 {
            return;
        }
        if n < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// Closes every descriptor from `low` up, except `keep`.
///
/// # Safety
/// Only for the watcher child, which owns nothing else it still needs.
unsafe fn close_from(low: libc::c_int, keep: libc::c_int) {
    // SAFETY: close_range and close only drop descriptors of this (child) process.
    unsafe {
        let r1 = if keep > low {
            libc::syscall(
                libc::SYS_close_range,
                low as libc::c_uint,
                (keep - 1) as libc::c_uint,
                0u32,
            )
        } else {
            0
        };
        let r2 = libc::syscall(
            libc::SYS_close_range,
            (keep + 1) as libc::c_uint,
            libc::c_uint::MAX,
            0u32,
        );
        if r1 < 0 || r2 < 0 {
            // Kernels before 5.9: close them one by one.
            for fd in low..65536 {
                if fd != keep {
                    libc::close(fd);
                }
            }
        }
    }
}

/// Unlinks `path` if it still names the file with device `dev` and inode `ino` (and not a
/// newer file that took the name). `true` if it was unlinked. Async-signal-safe: fit for a
/// watcher's routine.
pub(crate) fn unlink_if_same(path: &CStr, dev: u64, ino: u64) -> bool {
    // SAFETY: an all-zero stat is a valid buffer for lstat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `st` a valid stat buffer.
    if unsafe { libc::lstat(path.as_ptr(), &mut st) } != 0 {
        return false;
    }
    if st.st_dev != dev || st.st_ino != ino {
        return false;
    }
    // SAFETY: `path` is NUL-terminated.
    unsafe { libc::unlink(path.as_ptr()) == 0 }
}

/// Writes `parts` to stderr with plain `write` calls (no lock, no buffer). Async-signal-safe:
/// fit for a watcher's routine.
pub(crate) fn write_stderr(parts: &[&[u8]]) {
    for part in parts {
        let mut rest = *part;
        while !rest.is_empty() {
            // SAFETY: `rest` is a live buffer of its length.
            let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
            if n <= 0 {
                if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return;
            }
            rest = &rest[n as usize..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn unlinks_only_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(b"x")
            .unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        assert!(!unlink_if_same(&c, meta.dev(), meta.ino() + 1));
        assert!(path.exists());
        assert!(unlink_if_same(&c, meta.dev(), meta.ino()));
        assert!(!path.exists());
        assert!(!unlink_if_same(&c, meta.dev(), meta.ino()));
    }
}
