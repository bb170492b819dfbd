//! The shared-memory tracker: a small forked process that removes the named segments a process
//! created and did not unlink, once that process has ended, however it ended.
//!
//! Python's resource tracker does the same job. Ours is forked directly: the child only makes
//! raw system calls on memory prepared before the fork (no allocation, no locks), so forking a
//! process with threads is sound. The creator keeps one end of a `SOCK_SEQPACKET` socket pair
//! and sends one fixed-size record per segment it creates (register) or unlinks (unregister).
//! The tracker ignores SIGINT and SIGTERM, closes every other descriptor, and waits; when the
//! creator ends, its end of the socket closes, and the tracker unlinks whatever is still
//! registered, checking device and inode first so that it never removes a newer segment that
//! reuses the name.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Where named segments live.
pub(crate) const SHM_DIR: &[u8] = b"/dev/shm/";

/// The longest segment name (a file name in [`SHM_DIR`]).
pub(crate) const NAME_MAX: usize = 255;

/// How many segments one tracker can hold.
pub(crate) const CAPACITY: usize = 1024;

const REGISTER: u8 = 1;
const UNREGISTER: u8 = 2;

/// One registration, as sent and as stored by the tracker.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct Record {
    op: u8,
    len: u8,
    _pad: [u8; 6],
    dev: u64,
    ino: u64,
    name: [u8; NAME_MAX],
}

impl Record {
    const EMPTY: Record = Record {
        op: 0,
        len: 0,
        _pad: [0; 6],
        dev: 0,
        ino: 0,
        name: [0; NAME_MAX],
    };

    fn new(op: u8, name: &[u8], dev: u64, ino: u64) -> Record {
        let mut r = Record::EMPTY;
        let n = name.len().min(NAME_MAX);
        r.op = op;
        r.len = n as u8;
        r.dev = dev;
        r.ino = ino;
        r.name[..n].copy_from_slice(&name[..n]);
        r
    }

    fn name(&self) -> &[u8] {
        &self.name[..(self.len as usize).min(NAME_MAX)]
    }

    fn same(&self, other: &Record) -> bool {
        self.dev == other.dev && self.ino == other.ino && self.name() == other.name()
    }

    fn as_bytes(&self) -> &[u8] {
        // SAFETY: Record is repr(C), Copy, made of integers and byte arrays; its padding bytes
        // are named fields (`_pad`), so every byte is initialised.
        unsafe {
            std::slice::from_raw_parts(
                (self as *const Record).cast(),
                std::mem::size_of::<Record>(),
            )
        }
    }
}

/// A running tracker: our end of its socket.
#[derive(Debug)]
pub(crate) struct Tracker {
    sock: OwnedFd,
}

impl Tracker {
    /// Forks a tracker for this process.
    pub(crate) fn start() -> io::Result<Tracker> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a valid array of two ints for the kernel to fill.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: socketpair just created both descriptors; each has one owner.
        let (ours, theirs) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // Everything the child needs is allocated now, before the fork.
        let mut table = vec![Record::EMPTY; CAPACITY].into_boxed_slice();
        // SAFETY: the child runs `serve`, which makes only async-signal-safe system calls on
        // memory allocated above, and ends with `_exit`; it never returns into Rust code that
        // could take a lock held by another thread at the fork.
        match unsafe { super::proc::fork() }? {
            super::proc::Forked::Child => serve(theirs.as_raw_fd(), ours.as_raw_fd(), &mut table),
            super::proc::Forked::Parent(_) => {
                drop(theirs);
                Ok(Tracker { sock: ours })
            }
        }
    }

    /// Asks the tracker to remove `name` (with this device and inode) when we end.
    pub(crate) fn register(&self, name: &[u8], dev: u64, ino: u64) -> io::Result<()> {
        self.send(&Record::new(REGISTER, name, dev, ino))
    }

    /// Tells the tracker that `name` needs no removal any more.
    pub(crate) fn unregister(&self, name: &[u8], dev: u64, ino: u64) -> io::Result<()> {
        self.send(&Record::new(UNREGISTER, name, dev, ino))
    }

    fn send(&self, r: &Record) -> io::Result<()> {
        send_record(self.sock_fd(), r)
    }

    fn sock_fd(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.sock)
    }
}

fn send_record(sock: BorrowedFd<'_>, r: &Record) -> io::Result<()> {
    let bytes = r.as_bytes();
    loop {
        // SAFETY: `bytes` is a live buffer of its length for the call.
        let n = unsafe {
            libc::send(
                sock.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The tracker's whole life. Only async-signal-safe calls from here on, and no allocation:
/// the parent may have had other threads at the fork.
fn serve(sock: libc::c_int, parent_end: libc::c_int, table: &mut [Record]) -> ! {
    // Every call in this function is a plain system call wrapper listed as async-signal-safe
    // (signal, close, prctl, recv, lstat, unlink, write, _exit), on descriptors this child
    // owns and on memory allocated before the fork.
    // SAFETY: installing SIG_IGN runs no code of ours; the descriptors closed are this child's
    // copies, which nothing here uses again; PR_SET_NAME reads a NUL-terminated literal.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
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
    let mut used = 0usize;
    let mut buf = Record::EMPTY;
    loop {
        // SAFETY: `buf` is a Record-sized writable buffer; every byte pattern is a valid Record
        // (integers and byte arrays).
        let n = unsafe {
            libc::recv(
                sock,
                (&mut buf as *mut Record).cast(),
                std::mem::size_of::<Record>(),
                0,
            )
        };
        if n == 0 {
            break;
        }
        if n < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        if n as usize != std::mem::size_of::<Record>() {
            continue;
        }
        match buf.op {
            REGISTER => {
                if let Some(slot) = table.get_mut(used) {
                    *slot = buf;
                    used += 1;
                }
            }
            UNREGISTER => {
                let mut i = 0;
                while i < used {
                    if table[i].same(&buf) {
                        used -= 1;
                        table[i] = table[used];
                    } else {
                        i += 1;
                    }
                }
            }
            _ => {}
        }
    }
    for r in table.iter().take(used) {
        remove_if_same(r);
    }
    // SAFETY: ends the tracker without running any of the parent's atexit handlers.
    unsafe { libc::_exit(0) }
}

/// Closes every descriptor from `low` up, except `keep`.
///
/// # Safety
/// Only for the tracker child, which owns nothing else it still needs.
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

/// Unlinks the segment of record `r` if the name still denotes the same file, and says so on
/// stderr, as Python's resource tracker does.
fn remove_if_same(r: &Record) {
    let mut path = [0u8; SHM_DIR.len() + NAME_MAX + 1];
    let name = r.name();
    path[..SHM_DIR.len()].copy_from_slice(SHM_DIR);
    path[SHM_DIR.len()..SHM_DIR.len() + name.len()].copy_from_slice(name);
    // SAFETY: an all-zero stat is a valid buffer; `path` is NUL-terminated (zero-filled past
    // the name); lstat, unlink and write are async-signal-safe.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::lstat(path.as_ptr().cast(), &mut st) != 0 {
            return;
        }
        if st.st_dev != r.dev || st.st_ino != r.ino {
            return;
        }
        if libc::unlink(path.as_ptr().cast()) == 0 {
            let parts: [&[u8]; 3] = [
                b"multiproc: removed leaked shared memory segment '",
                name,
                b"'\n",
            ];
            for p in parts {
                libc::write(2, p.as_ptr().cast(), p.len());
            }
        }
    }
}
