//! `queue.small`, `queue.1mib`, `pipe.rtt_small` and `pipe.1mib`: messages between processes,
//! with the protocols of `python/bench_queue.py` and `python/bench_pipe.py`, the round trip
//! of 8 bytes over a raw OS pipe pair and a raw socket pair as peers of `pipe.rtt_small`, and
//! the channels of ipc-channel and crossmist as peers of all four.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use multiproc::{Bytes, Connection, Fd, Handle, Process, Queue, pipe};
use serde::de::DeserializeOwned;

use crate::figure::{BoxError, CROSSMIST, Figure, IPC_CHANNEL, Mode, Peer, Script};

/// The figures of this group.
pub(super) fn figures() -> Vec<Box<dyn Figure>> {
    vec![
        Box::new(Comm(Kind::QueueSmall)),
        Box::new(Comm(Kind::QueueBig)),
        Box::new(Comm(Kind::PipeRtt)),
        Box::new(Comm(Kind::PipeBig)),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    QueueSmall,
    QueueBig,
    PipeRtt,
    PipeBig,
}

/// One message-passing figure.
#[derive(Debug)]
struct Comm(Kind);

const MIB: usize = 1 << 20;
const LIMIT: Duration = Duration::from_secs(60);

/// Joins a process, killing it if it runs past the time limit.
fn join<R: DeserializeOwned>(h: Handle<R>) -> Result<R, BoxError> {
    if h.join_timeout(LIMIT).is_none() {
        let _ = h.kill();
        return Err(format!("{} ran past the time limit", h.name()).into());
    }
    Ok(h.join()?)
}

/// The producer of `queue.small`: `n` small ints, then the end marker.
fn produce_small((q, n): (Queue<Option<u64>>, u64)) {
    for i in 0..n {
        q.put(Some(i)).expect("queue open");
    }
    q.put(None).expect("queue open");
}

/// The producer of `queue.1mib`: `n` payloads of 1 MiB, then the end marker.
fn produce_big((q, n): (Queue<Option<Bytes>>, u64)) {
    let payload = vec![0u8; MIB];
    for _ in 0..n {
        q.put(Some(Bytes(payload.clone()))).expect("queue open");
    }
    q.put(None).expect("queue open");
}

/// The consumer: counts items (and bytes) until the end marker.
fn consume_small(q: Queue<Option<u64>>) -> (u64, u64) {
    let mut count = 0;
    while q.get().expect("queue open").is_some() {
        count += 1;
    }
    (count, 0)
}

fn consume_big(q: Queue<Option<Bytes>>) -> (u64, u64) {
    let (mut count, mut bytes) = (0, 0);
    while let Some(b) = q.get().expect("queue open") {
        count += 1;
        bytes += b.0.len() as u64;
    }
    (count, bytes)
}

fn queue_small(n: u64) -> Result<f64, BoxError> {
    let q = Queue::new();
    let t0 = Instant::now();
    let consumer = Process::new(consume_small, q.clone()).start()?;
    let producer = Process::new(produce_small, (q, n)).start()?;
    join(producer)?;
    let (count, _) = join(consumer)?;
    let elapsed = t0.elapsed().as_secs_f64();
    if count != n {
        return Err(format!("the consumer saw {count} items, expected {n}").into());
    }
    Ok(count as f64 / elapsed)
}

fn queue_big(n: u64) -> Result<f64, BoxError> {
    let q = Queue::new();
    let t0 = Instant::now();
    let consumer = Process::new(consume_big, q.clone()).start()?;
    let producer = Process::new(produce_big, (q, n)).start()?;
    join(producer)?;
    let (count, bytes) = join(consumer)?;
    let elapsed = t0.elapsed().as_secs_f64();
    if count != n {
        return Err(format!("the consumer saw {count} items, expected {n}").into());
    }
    Ok(bytes as f64 / 1e6 / elapsed)
}

/// Echoes small ints until the other end closes.
fn echo(conn: Connection) {
    while let Ok(v) = conn.recv::<i64>() {
        if conn.send(&v).is_err() {
            return;
        }
    }
}

fn pipe_rtt(n: u64) -> Result<f64, BoxError> {
    const WARMUP: u64 = 100;
    let (a, b) = pipe(true);
    let child = Process::new(echo, b).start()?;
    for i in 0..WARMUP {
        a.send(&(i as i64))?;
        a.recv_timeout::<i64>(LIMIT)?;
    }
    let t0 = Instant::now();
    for i in 0..n {
        a.send(&(i as i64))?;
        if a.recv_timeout::<i64>(LIMIT)? != i as i64 {
            return Err("the echo came back wrong".into());
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    drop(a);
    join(child)?;
    Ok(elapsed / n as f64 * 1e6)
}

/// Receives `n` bytes messages and answers with their total size.
fn sink((conn, n): (Connection, u64)) {
    let _ = conn.send(&0u64); // ready
    let mut total = 0u64;
    for _ in 0..n {
        match conn.recv_bytes() {
            Ok(m) => total += m.len() as u64,
            Err(_) => return,
        }
    }
    let _ = conn.send(&total);
}

fn pipe_big(n: u64) -> Result<f64, BoxError> {
    let (a, b) = pipe(true);
    let child = Process::new(sink, (b, n)).start()?;
    let _: u64 = a.recv_timeout(LIMIT)?;
    let payload = vec![0u8; MIB];
    let t0 = Instant::now();
    for _ in 0..n {
        a.send_bytes(&payload)?;
    }
    let total: u64 = a.recv_timeout(LIMIT)?;
    let elapsed = t0.elapsed().as_secs_f64();
    join(child)?;
    if total != n * MIB as u64 {
        return Err(format!("the child received {total} bytes").into());
    }
    Ok(total as f64 / 1e6 / elapsed)
}

/// Echoes 8-byte messages between two raw descriptors until end of stream.
fn raw_echo((from, to): (Fd, Fd)) {
    let (mut r, mut w) = (std::fs::File::from(from), std::fs::File::from(to));
    let mut buf = [0u8; 8];
    while r.read_exact(&mut buf).is_ok() {
        if w.write_all(&buf).is_err() {
            return;
        }
    }
}

/// Round trips of 8 bytes: `to` carries requests to a child echoing on `back`.
fn raw_rtt(n: u64, to: (Fd, Fd), back: (Fd, Fd)) -> Result<f64, BoxError> {
    let child = Process::new(raw_echo, (to.0, back.1)).start()?;
    let (mut w, mut r) = (std::fs::File::from(to.1), std::fs::File::from(back.0));
    let mut buf = [0u8; 8];
    for _ in 0..100 {
        w.write_all(&buf)?;
        r.read_exact(&mut buf)?;
    }
    let t0 = Instant::now();
    for i in 0..n {
        w.write_all(&i.to_le_bytes())?;
        r.read_exact(&mut buf)?;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    drop((w, r));
    join(child)?;
    Ok(elapsed / n as f64 * 1e6)
}

fn os_pipe() -> Result<(Fd, Fd), BoxError> {
    let (r, w) = std::io::pipe()?;
    Ok((
        Fd::from(std::os::fd::OwnedFd::from(r)),
        Fd::from(std::os::fd::OwnedFd::from(w)),
    ))
}

fn raw_pipe(mode: Mode) -> Result<f64, BoxError> {
    raw_rtt(rtt_count(mode), os_pipe()?, os_pipe()?)
}

fn raw_socketpair(mode: Mode) -> Result<f64, BoxError> {
    let (a, b) = std::os::unix::net::UnixStream::pair()?;
    let (a, b) = (std::os::fd::OwnedFd::from(a), std::os::fd::OwnedFd::from(b));
    let (a2, b2) = (a.try_clone()?, b.try_clone()?);
    // Requests go a -> b, replies b -> a.
    raw_rtt(
        rtt_count(mode),
        (Fd::from(b), Fd::from(a)),
        (Fd::from(a2), Fd::from(b2)),
    )
}

fn rtt_count(mode: Mode) -> u64 {
    mode.pick(20_000, 5_000)
}

impl Figure for Comm {
    fn name(&self) -> &'static str {
        match self.0 {
            Kind::QueueSmall => "queue.small",
            Kind::QueueBig => "queue.1mib",
            Kind::PipeRtt => "pipe.rtt_small",
            Kind::PipeBig => "pipe.1mib",
        }
    }

    fn description(&self) -> &'static str {
        match self.0 {
            Kind::QueueSmall => "small ints through a Queue, producer process to consumer process",
            Kind::QueueBig => {
                "1 MiB payloads through a Queue, producer process to consumer process"
            }
            Kind::PipeRtt => "round trip of a small message over a Pipe",
            Kind::PipeBig => "1 MiB bytes messages one way over a Pipe",
        }
    }

    fn unit(&self) -> &'static str {
        match self.0 {
            Kind::QueueSmall => "msg/s",
            Kind::QueueBig | Kind::PipeBig => "MB/s",
            Kind::PipeRtt => "us",
        }
    }

    fn higher_is_better(&self) -> bool {
        !matches!(self.0, Kind::PipeRtt)
    }

    fn target(&self) -> Option<f64> {
        match self.0 {
            Kind::QueueSmall => Some(3e6),
            Kind::QueueBig => Some(4000.0),
            // No slower than the raw pipe round trip of the same run (see "others").
            Kind::PipeRtt | Kind::PipeBig => None,
        }
    }

    fn measure(&self, mode: Mode) -> Result<f64, BoxError> {
        match self.0 {
            Kind::QueueSmall => queue_small(mode.pick(200_000, 50_000)),
            Kind::QueueBig => queue_big(mode.pick(400, 100)),
            Kind::PipeRtt => pipe_rtt(rtt_count(mode)),
            Kind::PipeBig => pipe_big(mode.pick(500, 100)),
        }
    }

    fn python(&self) -> Option<Script> {
        Some(Script::new(match self.0 {
            Kind::QueueSmall | Kind::QueueBig => "bench_queue.py",
            Kind::PipeRtt | Kind::PipeBig => "bench_pipe.py",
        }))
    }

    fn peers(&self) -> Vec<Peer> {
        let mut peers = match self.0 {
            Kind::PipeRtt => vec![
                Peer::custom("raw_pipe", raw_pipe),
                Peer::custom("raw_socketpair", raw_socketpair),
            ],
            _ => Vec::new(),
        };
        // Neither has a multi-consumer queue: the queue figures (one producer, one consumer)
        // use a channel.
        peers.extend([Peer::rust(&IPC_CHANNEL), Peer::rust(&CROSSMIST)]);
        peers
    }
}
