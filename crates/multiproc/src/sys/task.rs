//! What the kernel says about a process or a thread (a *task*): whether it exists, its state
//! and when it started; and a hook that runs in the child of every `fork`.

use std::io;

/// A task's state letter and start time, from `/proc/<id>/stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskStat {
    /// The state letter: `R`, `S`, `D`, … `Z` for a zombie, `X`/`x` for a dead task.
    pub(crate) state: u8,
    /// The start time, in clock ticks since boot (field 22).
    pub(crate) start: u64,
}

impl TaskStat {
    /// Whether the task has ended (a zombie, or dead and not yet gone).
    pub(crate) fn ended(&self) -> bool {
        matches!(self.state, b'Z' | b'X' | b'x')
    }
}

/// The state and start time of process or thread `id`. `Ok(None)` if there is no such task.
pub(crate) fn stat(id: i32) -> io::Result<Option<TaskStat>> {
    let text = match std::fs::read(format!("/proc/{id}/stat")) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(None),
        Err(e) => return Err(e),
    };
    parse_stat(&text).map(Some)
}

/// Parses "pid (comm) S ppid ...". The command may hold spaces and parentheses, so the fields
/// are split after the last ')'. Field 3 (the state) comes first there; field 22 is the start
/// time.
fn parse_stat(text: &[u8]) -> io::Result<TaskStat> {
    let malformed = || io::Error::other("malformed /proc stat");
    let close = text
        .iter()
        .rposition(|b| *b == b')')
        .ok_or_else(malformed)?;
    let rest = std::str::from_utf8(&text[close + 1..]).map_err(|_| malformed())?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields
        .next()
        .and_then(|s| s.bytes().next())
        .ok_or_else(malformed)?;
    let start = fields
        .nth(18)
        .and_then(|s| s.parse().ok())
        .ok_or_else(malformed)?;
    Ok(TaskStat { state, start })
}

/// Whether a process with id `pid` exists (a zombie counts), for when `/proc` cannot be read.
pub(crate) fn exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let r = unsafe { libc::kill(pid, 0) };
    !(r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH))
}

/// Registers `f` to run in the child of every later `fork` (of this process or its threads),
/// before `fork` returns there. `f` should only touch atomics and thread-locals: the child of a
/// threaded process may hold locks that no thread will ever release.
pub(crate) fn at_fork_in_child(f: extern "C" fn()) -> io::Result<()> {
    // SAFETY: pthread_atfork only records the function pointer, which is 'static.
    let r = unsafe { libc::pthread_atfork(None, None, Some(f)) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_stat_runs_and_starts_after_boot() {
        let s = stat(std::process::id() as i32).unwrap().unwrap();
        assert!(!s.ended());
        assert!(s.start > 0);
        assert!(exists(std::process::id() as i32));
    }

    #[test]
    fn command_names_with_parentheses_parse() {
        let line = b"42 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 777 19 20\n";
        let s = parse_stat(line).unwrap();
        assert_eq!((s.state, s.start), (b'S', 777));
        assert!(parse_stat(b"42 (x").is_err());
    }

    #[test]
    fn unknown_ids_have_no_stat() {
        // Linux never hands out ids of 2^22 or more.
        assert_eq!(stat(1 << 22).unwrap(), None);
    }
}
