//! `manager.dict_set_child`: a child process setting keys in a manager dict, one call per
//! key, as `python/bench_manager.py` measures `Manager().dict()`.
//!
//! Each set is a round trip to the manager's server, so the peers give the floor and the way
//! around it, measured in the same run and the same unit:
//!
//! - `rtt_floor`: round trips per second of a typed message (a `(u64, u64)` and its echo)
//!   over a `Connection` between two processes: what any one-call-per-set protocol over our
//!   connections can reach at best;
//! - `raw_socketpair_rtt`: round trips per second of 16 raw bytes over a socket pair, below
//!   any framing;
//! - `update_batches`: the same sets sent with `DictProxy::update` in batches of 1,000, one
//!   round trip per batch.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use multiproc::manager::DictProxy;
use multiproc::{Connection, Fd, Handle, Manager, Process, pipe};
use serde::de::DeserializeOwned;

use crate::figure::{BoxError, Figure, Mode, Peer, Script};

/// The figures of this group.
pub(super) fn figures() -> Vec<Box<dyn Figure>> {
    vec![Box::new(DictSetChild)]
}

/// `manager.dict_set_child`.
#[derive(Debug)]
struct DictSetChild;

const LIMIT: Duration = Duration::from_secs(60);

/// Python's figure on this machine is 17k sets/s; the project's target is three times that.
const PYTHON_REFERENCE: f64 = 17e3;

fn count(mode: Mode) -> u64 {
    mode.pick(20_000, 5_000)
}

/// Joins a process, killing it if it runs past the time limit.
fn join<R: DeserializeOwned>(h: Handle<R>) -> Result<R, BoxError> {
    if h.join_timeout(LIMIT).is_none() {
        let _ = h.kill();
        return Err(format!("{} ran past the time limit", h.name()).into());
    }
    Ok(h.join()?)
}

/// The child: `d[i] = i` for `i` in `0..n`.
fn setter((d, n): (DictProxy<u64, u64>, u64)) -> Result<(), String> {
    for i in 0..n {
        d.set(i, i).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The child of `update_batches`: the same keys, 1,000 per call.
fn batch_setter((d, n): (DictProxy<u64, u64>, u64)) -> Result<(), String> {
    let mut i = 0;
    while i < n {
        let end = (i + 1000).min(n);
        d.update((i..end).map(|k| (k, k)))
            .map_err(|e| e.to_string())?;
        i = end;
    }
    Ok(())
}

fn sets_per_second<F>(mode: Mode, child: F) -> Result<f64, BoxError>
where
    F: Fn((DictProxy<u64, u64>, u64)) -> Result<(), String> + Copy + Send + 'static,
{
    let n = count(mode);
    let manager = Manager::start()?;
    let d = manager.dict::<u64, u64>()?;
    let t0 = Instant::now();
    let h = Process::new(child, (d.clone(), n)).start()?;
    join(h)??;
    let elapsed = t0.elapsed().as_secs_f64();
    let len = d.len()? as u64;
    if len != n {
        return Err(format!("the dict has {len} keys, expected {n}").into());
    }
    Ok(n as f64 / elapsed)
}

fn update_batches(mode: Mode) -> Result<f64, BoxError> {
    sets_per_second(mode, batch_setter)
}

/// Echoes `(u64, u64)` messages until the other end closes.
fn echo(conn: Connection) {
    while let Ok(v) = conn.recv::<(u64, u64)>() {
        if conn.send(&v).is_err() {
            return;
        }
    }
}

fn rtt_floor(mode: Mode) -> Result<f64, BoxError> {
    let n = count(mode);
    let (a, b) = pipe(true);
    let child = Process::new(echo, b).start()?;
    for i in 0..100 {
        a.send(&(i, i))?;
        a.recv_timeout::<(u64, u64)>(LIMIT)?;
    }
    let t0 = Instant::now();
    for i in 0..n {
        a.send(&(i, i))?;
        if a.recv_timeout::<(u64, u64)>(LIMIT)? != (i, i) {
            return Err("the echo came back wrong".into());
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    drop(a);
    join(child)?;
    Ok(n as f64 / elapsed)
}

/// Echoes 16-byte messages on a raw socket until end of stream.
fn raw_echo(sock: Fd) {
    let mut s = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(sock));
    let mut buf = [0u8; 16];
    while s.read_exact(&mut buf).is_ok() {
        if s.write_all(&buf).is_err() {
            return;
        }
    }
}

fn raw_socketpair_rtt(mode: Mode) -> Result<f64, BoxError> {
    let n = count(mode);
    let (mut a, b) = std::os::unix::net::UnixStream::pair()?;
    let child = Process::new(raw_echo, Fd::from(std::os::fd::OwnedFd::from(b))).start()?;
    let mut buf = [0u8; 16];
    for _ in 0..100 {
        a.write_all(&buf)?;
        a.read_exact(&mut buf)?;
    }
    let t0 = Instant::now();
    for i in 0..n {
        buf[..8].copy_from_slice(&i.to_le_bytes());
        a.write_all(&buf)?;
        a.read_exact(&mut buf)?;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    drop(a);
    join(child)?;
    Ok(n as f64 / elapsed)
}

impl Figure for DictSetChild {
    fn name(&self) -> &'static str {
        "manager.dict_set_child"
    }

    fn description(&self) -> &'static str {
        "a child process setting keys in a manager dict, one call per key"
    }

    fn unit(&self) -> &'static str {
        "ops/s"
    }

    fn higher_is_better(&self) -> bool {
        true
    }

    fn target(&self) -> Option<f64> {
        Some(3.0 * PYTHON_REFERENCE)
    }

    fn measure(&self, mode: Mode) -> Result<f64, BoxError> {
        sets_per_second(mode, setter)
    }

    fn python(&self) -> Option<Script> {
        Some(Script::new("bench_manager.py"))
    }

    fn peers(&self) -> Vec<Peer> {
        vec![
            Peer::custom("rtt_floor", rtt_floor),
            Peer::custom("raw_socketpair_rtt", raw_socketpair_rtt),
            Peer::custom("update_batches", update_batches),
        ]
    }
}
