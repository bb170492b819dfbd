//! Descriptors, Unix sockets with descriptor passing (SCM_RIGHTS), and `poll`.

use std::io::{self, IoSlice};
use std::mem::{MaybeUninit, size_of};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// The most descriptors one `sendmsg`/`recvmsg` carries. Larger sets are sent in several calls.
pub(crate) const MAX_FDS_PER_MSG: usize = 253;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_size(r: libc::ssize_t) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Takes ownership of a descriptor returned by a successful system call.
fn owned(fd: libc::c_int) -> OwnedFd {
    debug_assert!(fd >= 0);
    // SAFETY: `fd` was just returned by a successful system call that created it, so it is open
    // and owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A connected pair of close-on-exec Unix stream sockets.
pub(crate) fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for the kernel to fill.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    Ok((owned(fds[0]), owned(fds[1])))
}

/// Connects a new close-on-exec Unix stream socket to `name`: a path, or with `abstract_name`
/// a Linux abstract socket name (no leading NUL byte). A listener whose backlog is full makes
/// the connect wait until `deadline` at most (then [`io::ErrorKind::TimedOut`]): the kernel
/// bounds it by the socket's send timeout, which is set for the connect only.
pub(crate) fn connect_unix(
    name: &[u8],
    abstract_name: bool,
    deadline: Option<Instant>,
) -> io::Result<OwnedFd> {
    // SAFETY: an all-zero sockaddr_un is a valid empty address.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let start = usize::from(abstract_name);
    // A path needs a terminating NUL; an abstract name is counted by the length alone.
    let end = start + name.len() + usize::from(!abstract_name);
    if end > addr.sun_path.len() || (!abstract_name && name.contains(&0)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a Unix socket address (too long, or a path with a NUL byte)",
        ));
    }
    for (slot, b) in addr.sun_path[start..].iter_mut().zip(name) {
        *slot = *b as libc::c_char;
    }
    let len = (std::mem::offset_of!(libc::sockaddr_un, sun_path) + end) as libc::socklen_t;
    // SAFETY: plain socket creation; the descriptor is owned at once below.
    let sock = owned(cvt(unsafe {
        libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)
    })?);
    let set_send_timeout = |t: Duration| {
        let tv = libc::timeval {
            tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_usec: t.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: SO_SNDTIMEO reads one timeval through the pointer, which points at `tv`.
        cvt(unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDTIMEO,
                (&tv as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        })
    };
    if let Some(d) = deadline {
        let left = d.saturating_duration_since(Instant::now());
        // A zero timeout means none at all.
        if left < Duration::from_micros(1) {
            return Err(io::ErrorKind::TimedOut.into());
        }
        set_send_timeout(left)?;
    }
    loop {
        // SAFETY: `addr` is a valid sockaddr_un and `len` stays within it.
        let r = unsafe {
            libc::connect(
                sock.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                len,
            )
        };
        match cvt(r) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(io::ErrorKind::TimedOut.into());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && deadline.is_some() => {
                return Err(io::ErrorKind::TimedOut.into());
            }
            Err(e) => return Err(e),
        }
    }
    if deadline.is_some() {
        set_send_timeout(Duration::ZERO)?;
    }
    Ok(sock)
}

/// Duplicates a descriptor (close-on-exec).
pub(crate) fn dup(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    fd.try_clone_to_owned()
}

/// Makes `target` (0, 1 or 2 in practice) refer to the same file as `fd`.
pub(crate) fn dup_onto(fd: BorrowedFd<'_>, target: RawFd) -> io::Result<()> {
    if fd.as_raw_fd() == target {
        return Ok(());
    }
    // SAFETY: dup3 only changes the descriptor table; replacing `target` is what the caller asked
    // for, and callers use it only on the standard streams, which std does not hold as OwnedFd.
    cvt(unsafe { libc::dup3(fd.as_raw_fd(), target, 0) }).map(drop)
}

/// Borrows one of the standard streams (0, 1, 2), which live as long as the process.
pub(crate) fn stdio(n: RawFd) -> BorrowedFd<'static> {
    assert!((0..=2).contains(&n));
    // SAFETY: the standard streams are open for the life of the process unless the program closes
    // them by hand; a closed one makes the later system call fail with EBADF, not misbehave.
    unsafe { BorrowedFd::borrow_raw(n) }
}

/// Sends `bufs` on a stream socket, with `fds` attached to the first byte, without blocking and
/// without SIGPIPE. Returns the number of bytes the kernel took (it may be short).
pub(crate) fn send_with_fds(
    sock: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    fds: &[BorrowedFd<'_>],
) -> io::Result<usize> {
    send_msg(sock, bufs, fds, false)
}

/// Like [`send_with_fds`], blocking in the kernel until everything is taken when `block` is
/// set (a signal may still cut it short).
pub(crate) fn send_msg(
    sock: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    fds: &[BorrowedFd<'_>],
    block: bool,
) -> io::Result<usize> {
    assert!(fds.len() <= MAX_FDS_PER_MSG);
    let mut cmsg_buf = [MaybeUninit::<u64>::uninit(); cmsg_words(MAX_FDS_PER_MSG)];
    // SAFETY: an all-zero msghdr is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec; // IoSlice is ABI-compatible with iovec
    msg.msg_iovlen = bufs.len() as _;
    if !fds.is_empty() {
        let payload = (fds.len() * size_of::<libc::c_int>()) as libc::c_uint;
        // SAFETY: CMSG_SPACE is a pure computation.
        let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
        msg.msg_control = cmsg_buf.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: msg_control points at a buffer of at least `space` bytes (cmsg_words sizes it
        // for MAX_FDS_PER_MSG descriptors), so the first header and its data fit.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(payload) as _;
            let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
            for (i, fd) in fds.iter().enumerate() {
                data.add(i).write_unaligned(fd.as_raw_fd());
            }
        }
    }
    let flags = if block {
        libc::MSG_NOSIGNAL
    } else {
        libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT
    };
    // SAFETY: `msg` points at live iovecs and a control buffer set up above.
    let r = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, flags) };
    cvt_size(r)
}

const fn cmsg_words(nfds: usize) -> usize {
    // Header plus payload, rounded up, in u64 words (aligned for cmsghdr).
    (size_of::<libc::cmsghdr>() + nfds * size_of::<libc::c_int>() + 2 * size_of::<u64>())
        / size_of::<u64>()
}

/// Receives into `buf` without blocking; descriptors that arrive are appended to `fds`
/// (close-on-exec). Returns 0 at end of stream.
pub(crate) fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length; the kernel writes only initialized bytes.
    unsafe { recv_raw(sock, buf.as_mut_ptr(), buf.len(), fds, false) }
}

/// Like [`recv_with_fds`], into memory that need not be initialized, and blocking in the
/// kernel until something arrives when `block` is set. Returns how many bytes at the front of
/// `buf` are now initialized.
pub(crate) fn recv_uninit(
    sock: BorrowedFd<'_>,
    buf: &mut [MaybeUninit<u8>],
    fds: &mut Vec<OwnedFd>,
    block: bool,
) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length, and MaybeUninit<u8> has u8's layout.
    unsafe { recv_raw(sock, buf.as_mut_ptr().cast(), buf.len(), fds, block) }
}

/// Receives at most `max` bytes onto the end of `buf` (into its spare capacity, which must
/// hold `max` bytes), blocking in the kernel when `block` is set. Returns the count appended.
pub(crate) fn recv_append(
    sock: BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    max: usize,
    fds: &mut Vec<OwnedFd>,
    block: bool,
) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    assert!(
        spare.len() >= max,
        "recv_append needs {max} bytes of spare capacity"
    );
    let n = recv_uninit(sock, &mut spare[..max], fds, block)?;
    // SAFETY: recvmsg initialized the first `n` bytes of the spare capacity (n <= max, which is
    // within the capacity, as asserted above).
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// Like [`recv_with_fds`], blocking in the kernel until something arrives when `block` is set.
pub(crate) fn recv_blocking(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
    block: bool,
) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length; the kernel writes only initialized bytes.
    unsafe { recv_raw(sock, buf.as_mut_ptr(), buf.len(), fds, block) }
}

/// `recvmsg` into `len` bytes at `ptr`, collecting `SCM_RIGHTS` descriptors.
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes for the duration of the call.
unsafe fn recv_raw(
    sock: BorrowedFd<'_>,
    ptr: *mut u8,
    len: usize,
    fds: &mut Vec<OwnedFd>,
    block: bool,
) -> io::Result<usize> {
    let mut cmsg_buf = [MaybeUninit::<u64>::uninit(); cmsg_words(MAX_FDS_PER_MSG)];
    let mut iov = libc::iovec {
        iov_base: ptr.cast(),
        iov_len: len,
    };
    // SAFETY: an all-zero msghdr is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg_buf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cmsg_buf) as _;
    let flags = if block {
        libc::MSG_CMSG_CLOEXEC
    } else {
        libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT
    };
    // SAFETY: `msg` points at the caller's buffer (valid for writes of `len` bytes, as the
    // caller promises) and at a control buffer on our stack.
    let r = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
    let n = cvt_size(r)?;
    // SAFETY: after a successful recvmsg the kernel has filled msg_control up to msg_controllen
    // with well-formed headers; the CMSG_* walk stays inside that buffer.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                let len = (*cmsg).cmsg_len as usize - (data as usize - cmsg as usize);
                for i in 0..len / size_of::<libc::c_int>() {
                    fds.push(owned(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::other("too many descriptors in one message"));
    }
    Ok(n)
}

/// Copies up to `buf.len()` bytes from the front of a stream socket's queue without taking
/// them and without waiting. Descriptors riding on those bytes stay queued (no control buffer
/// is given, so none are installed). Returns 0 at end of stream.
pub(crate) fn peek(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length.
    let r = unsafe {
        libc::recv(
            sock.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    cvt_size(r)
}

/// Whether the peer of a stream socket has closed its sending side (or the socket failed),
/// checked without waiting.
pub(crate) fn peer_closed(sock: BorrowedFd<'_>) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid pollfd; a zero timeout does not wait.
    cvt(unsafe { libc::poll(&mut pfd, 1, 0) })?;
    Ok(pfd.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0)
}

/// How many bytes wait in a socket's receive queue (`FIONREAD`).
pub(crate) fn bytes_queued(sock: BorrowedFd<'_>) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, which points at `n`.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::FIONREAD, &mut n) })?;
    Ok(n.max(0) as usize)
}

/// Closes `fd`, reporting the error that dropping an `OwnedFd` would ignore.
pub(crate) fn close(fd: OwnedFd) -> io::Result<()> {
    // SAFETY: `into_raw_fd` gives up ownership, so the descriptor is closed exactly once, here.
    cvt(unsafe { libc::close(fd.into_raw_fd()) }).map(drop)
}

/// Shuts down both directions of a socket (every duplicate of it sees the end of stream).
pub(crate) fn shutdown(sock: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: shutdown only changes the state of the socket behind the descriptor.
    cvt(unsafe { libc::shutdown(sock.as_raw_fd(), libc::SHUT_RDWR) }).map(drop)
}

/// Readiness interest for [`poll`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    /// Readable, or hung up.
    Read,
    /// Writable.
    Write,
}

/// Waits until one of `fds` is ready or `deadline` passes. Returns, for each descriptor, whether it
/// is ready (errors and hang-ups count as ready, so that the next call reports them).
pub(crate) fn poll(
    fds: &[(BorrowedFd<'_>, Interest)],
    deadline: Option<Instant>,
) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|(fd, i)| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: match i {
                Interest::Read => libc::POLLIN,
                Interest::Write => libc::POLLOUT,
            },
            revents: 0,
        })
        .collect();
    loop {
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: t.subsec_nanos() as _,
        });
        let tsp = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `pfds` is a valid array of pollfd of the given length; `tsp` is null or points
        // at a live timespec.
        let r = unsafe { libc::ppoll(pfds.as_mut_ptr(), pfds.len() as _, tsp, std::ptr::null()) };
        match cvt(r) {
            Ok(_) => return Ok(pfds.iter().map(|p| p.revents != 0).collect()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Converts a relative timeout into a deadline, saturating far in the future.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(86400 * 365 * 30))
}

/// Takes ownership of descriptor `fd` inherited across `exec` (named in an environment
/// variable by our parent), and marks it close-on-exec. Returns `None` if it is not open.
pub(crate) fn take_inherited(fd: RawFd) -> Option<OwnedFd> {
    if fd < 3 {
        return None;
    }
    // SAFETY: F_GETFD/F_SETFD only inspect and flag the descriptor.
    unsafe {
        if libc::fcntl(fd, libc::F_GETFD) < 0 {
            return None;
        }
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
    }
    // SAFETY: the descriptor is open (checked above) and was created by our parent for this
    // process alone; nothing else in this process knows its number, so we become its only owner.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets the backlog of a listening socket (calling `listen` again only changes the backlog).
pub(crate) fn listen(sock: BorrowedFd<'_>, backlog: u32) -> io::Result<()> {
    let backlog = backlog.min(libc::c_int::MAX as u32) as libc::c_int;
    // SAFETY: listen only changes the state of the socket behind the descriptor.
    cvt(unsafe { libc::listen(sock.as_raw_fd(), backlog) }).map(drop)
}

/// A connected pair of close-on-exec Unix sequenced-packet sockets: message boundaries are kept
/// and each message carries its own descriptors.
pub(crate) fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for the kernel to fill.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    Ok((owned(fds[0]), owned(fds[1])))
}
