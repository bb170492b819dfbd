//! Telling whether a process on this machine is still alive, from `/proc`, without being its
//! parent; and a backoff for polling loops.

use std::time::Duration;

use crate::wire::Peer;

/// This process, as a [`Peer`].
pub(crate) fn this_peer() -> Peer {
    let pid = std::process::id();
    Peer {
        pid,
        host: hostname(),
        machine: machine_key(),
        start_time: start_time(pid),
    }
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// This machine's host name (what `MPI_Get_processor_name` says under Open MPI).
fn hostname() -> String {
    let host = read_trimmed("/proc/sys/kernel/hostname");
    if host.is_empty() { "?".into() } else { host }
}

/// Hostname, boot id and pid namespace: two processes that share it see the same pids.
fn machine_key() -> String {
    let host = hostname();
    let boot = read_trimmed("/proc/sys/kernel/random/boot_id");
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    format!("{host}/{boot}/{ns}")
}

/// Field 22 of `/proc/<pid>/stat`, or `None` if the process is gone or a zombie.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything: skip past it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // `rest` starts at field 3 (state); the start time is field 22.
    fields.nth(22 - 4)?.parse().ok()
}

impl Peer {
    /// Whether this process can see `self` in `/proc`.
    pub(crate) fn is_local(&self) -> bool {
        self.machine == machine_key() && self.start_time.is_some()
    }

    /// For a local peer: `false` once it has exited (or its pid was reused). Always `true`
    /// for a peer on another machine.
    pub(crate) fn is_alive(&self) -> bool {
        if !self.is_local() {
            return true;
        }
        start_time(self.pid) == self.start_time
    }
}

/// A polling loop's pause: a few yields, then sleeps that double up to a cap.
///
/// MPI offers no way to sleep until a message arrives (Open MPI's blocking calls spin), so
/// the loops poll. The cap bounds the latency that polling adds while work is in flight;
/// [`IDLE`](Self::IDLE) spares the CPU of a rank that waits for the next call.
#[derive(Debug)]
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    const YIELDS: u32 = 64;
    /// The longest pause while work is in flight.
    pub(crate) const BUSY: Duration = Duration::from_micros(200);
    /// The longest pause of a rank with nothing to do.
    pub(crate) const IDLE: Duration = Duration::from_millis(2);

    pub(crate) fn new() -> Self {
        Backoff { step: 0 }
    }

    pub(crate) fn reset(&mut self) {
        self.step = 0;
    }

    /// How long to wait now (zero: just yield), at most `cap`.
    pub(crate) fn next(&mut self, cap: Duration) -> Duration {
        self.step = self.step.saturating_add(1);
        if self.step <= Self::YIELDS {
            return Duration::ZERO;
        }
        let k = (self.step - Self::YIELDS).min(16);
        (Duration::from_micros(10) * (1 << k)).min(cap)
    }

    /// Waits as [`next`](Self::next) says.
    pub(crate) fn wait(&mut self, cap: Duration) {
        let d = self.next(cap);
        if d.is_zero() {
            std::thread::yield_now();
        } else {
            std::thread::sleep(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_local() {
        let me = this_peer();
        assert!(me.is_local());
        assert!(me.is_alive());
    }

    #[test]
    fn an_exited_process_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let peer = Peer {
            start_time: start_time(pid).or(Some(0)),
            ..this_peer()
        };
        let peer = Peer { pid, ..peer };
        child.wait().unwrap();
        assert!(!peer.is_alive());
    }

    #[test]
    fn a_remote_peer_counts_as_alive() {
        let peer = Peer {
            machine: "elsewhere".into(),
            ..this_peer()
        };
        assert!(!peer.is_local());
        assert!(peer.is_alive());
    }

    #[test]
    fn backoff_grows_to_its_cap() {
        let mut b = Backoff::new();
        assert_eq!(b.next(Backoff::IDLE), Duration::ZERO);
        let waits: Vec<Duration> = (0..200).map(|_| b.next(Backoff::IDLE)).collect();
        assert!(waits.iter().any(|d| !d.is_zero()));
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*waits.last().unwrap(), Backoff::IDLE);
        assert_eq!(b.next(Backoff::BUSY), Backoff::BUSY);
        b.reset();
        assert_eq!(b.next(Backoff::IDLE), Duration::ZERO);
    }
}
