//! Measures queues and pipes between two processes, one JSON line per figure:
//!
//! - `queue.small`: 200,000 small integers from a producer process to a consumer process;
//! - `queue.1mib`: 1 MiB byte payloads through a queue;
//! - `pipe.rtt_small`: round trip of a small message over a `Pipe`, beside the round trip of
//!   8 bytes over a raw OS pipe pair and a raw socket pair measured in the same run;
//! - `pipe.1mib`: 1 MiB bytes messages one way over a `Pipe`.
//!
//! Each figure is the median of several runs (`--runs N`, default 5). Run it optimized:
//!
//! ```text
//! cargo run --release -p multiproc --example bench_communication
//! ```

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use multiproc::{Bytes, Connection, Fd, Process, Queue, pipe};

const SMALL_MSGS: u64 = 200_000;
const BIG: usize = 1 << 20;
const BIG_MSGS: u64 = 500;
const RTTS: u64 = 20_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report(name: &str, value: f64, unit: &str, runs: &[f64]) {
    let runs: Vec<String> = runs.iter().map(|r| format!("{r:.4}")).collect();
    println!(
        "{{\"name\": \"{name}\", \"value\": {value:.4}, \"unit\": \"{unit}\", \"runs\": [{}]}}",
        runs.join(", ")
    );
}

// ----- queue.small -----

fn small_producer(args: (Queue<u64>, Connection)) {
    let (q, go) = args;
    let _: u8 = go.recv().unwrap();
    for i in 0..SMALL_MSGS {
        q.put(i).unwrap();
    }
}

fn queue_small() -> f64 {
    let q = Queue::<u64>::new();
    let (go, go_child) = pipe(true);
    let p = Process::new(small_producer, (q.clone(), go_child))
        .start()
        .unwrap();
    let t0 = Instant::now();
    go.send(&1u8).unwrap();
    let mut sum = 0u64;
    for _ in 0..SMALL_MSGS {
        sum += q.get().unwrap();
    }
    let dt = t0.elapsed().as_secs_f64();
    assert_eq!(sum, SMALL_MSGS * (SMALL_MSGS - 1) / 2);
    p.join().unwrap();
    SMALL_MSGS as f64 / dt
}

// ----- queue.1mib -----

fn big_producer(args: (Queue<Bytes>, Connection)) {
    let (q, go) = args;
    let payload = vec![7u8; BIG];
    let _: u8 = go.recv().unwrap();
    for _ in 0..BIG_MSGS {
        q.put(Bytes(payload.clone())).unwrap();
    }
}

fn queue_1mib() -> f64 {
    let q = Queue::<Bytes>::new();
    let (go, go_child) = pipe(true);
    let p = Process::new(big_producer, (q.clone(), go_child))
        .start()
        .unwrap();
    let t0 = Instant::now();
    go.send(&1u8).unwrap();
    let mut total = 0usize;
    for _ in 0..BIG_MSGS {
        total += q.get().unwrap().0.len();
    }
    let dt = t0.elapsed().as_secs_f64();
    assert_eq!(total, BIG * BIG_MSGS as usize);
    p.join().unwrap();
    total as f64 / dt / 1e9
}

// ----- pipe.rtt_small -----

fn typed_echo(conn: Connection) {
    while let Ok(v) = conn.recv::<u64>() {
        conn.send(&v).unwrap();
    }
}

fn bytes_echo(conn: Connection) {
    while let Ok(v) = conn.recv_bytes() {
        conn.send_bytes(&v).unwrap();
    }
}

fn rtt_typed() -> f64 {
    let (a, b) = pipe(true);
    let p = Process::new(typed_echo, b).start().unwrap();
    a.send(&0u64).unwrap();
    a.recv::<u64>().unwrap();
    let t0 = Instant::now();
    for i in 0..RTTS {
        a.send(&i).unwrap();
        assert_eq!(a.recv::<u64>().unwrap(), i);
    }
    let dt = t0.elapsed();
    drop(a);
    p.join().unwrap();
    dt.as_secs_f64() / RTTS as f64 * 1e6
}

fn rtt_bytes() -> f64 {
    let (a, b) = pipe(true);
    let p = Process::new(bytes_echo, b).start().unwrap();
    a.send_bytes(b"warm").unwrap();
    a.recv_bytes().unwrap();
    let t0 = Instant::now();
    for i in 0..RTTS {
        a.send_bytes(&i.to_le_bytes()).unwrap();
        assert_eq!(a.recv_bytes().unwrap().len(), 8);
    }
    let dt = t0.elapsed();
    drop(a);
    p.join().unwrap();
    dt.as_secs_f64() / RTTS as f64 * 1e6
}

fn raw_echo(fds: (Fd, Fd)) {
    let (mut r, mut w) = (std::fs::File::from(fds.0), std::fs::File::from(fds.1));
    let mut buf = [0u8; 8];
    while r.read_exact(&mut buf).is_ok() {
        if w.write_all(&buf).is_err() {
            break;
        }
    }
}

/// Round trip of 8 bytes through a pair of descriptors (`to` carries requests, `from`
/// replies), echoed by a child.
fn rtt_raw(to: (Fd, Fd), from: (Fd, Fd)) -> f64 {
    let (to_r, to_w) = to;
    let (from_r, from_w) = from;
    let p = Process::new(raw_echo, (to_r, from_w)).start().unwrap();
    let (mut w, mut r) = (std::fs::File::from(to_w), std::fs::File::from(from_r));
    let mut buf = [0u8; 8];
    w.write_all(&buf).unwrap();
    r.read_exact(&mut buf).unwrap();
    let t0 = Instant::now();
    for i in 0..RTTS {
        w.write_all(&i.to_le_bytes()).unwrap();
        r.read_exact(&mut buf).unwrap();
    }
    let dt = t0.elapsed();
    drop((w, r));
    p.join().unwrap();
    dt.as_secs_f64() / RTTS as f64 * 1e6
}

// std::io::pipe is newer than the crate's minimum Rust; this benchmark is built with a current
// toolchain, and the library itself does not use it.
#[allow(clippy::incompatible_msrv)]
fn os_pipe() -> (Fd, Fd) {
    let (r, w) = std::io::pipe().unwrap();
    (
        Fd::from(std::os::fd::OwnedFd::from(r)),
        Fd::from(std::os::fd::OwnedFd::from(w)),
    )
}

fn socket_pair() -> (Fd, Fd) {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    (
        Fd::from(std::os::fd::OwnedFd::from(a)),
        Fd::from(std::os::fd::OwnedFd::from(b)),
    )
}

// ----- pipe.1mib -----

fn big_sink(conn: Connection) -> u64 {
    let mut total = 0u64;
    while let Ok(m) = conn.recv_bytes() {
        total += m.len() as u64;
    }
    total
}

fn pipe_1mib() -> f64 {
    let (a, b) = pipe(true);
    let p = Process::new(big_sink, b).start().unwrap();
    let payload = vec![3u8; BIG];
    let t0 = Instant::now();
    for _ in 0..BIG_MSGS {
        a.send_bytes(&payload).unwrap();
    }
    drop(a);
    let total = p.join().unwrap();
    let dt = t0.elapsed().as_secs_f64();
    assert_eq!(total, BIG as u64 * BIG_MSGS);
    total as f64 / dt / 1e6
}

fn runs_of(n: usize, f: impl Fn() -> f64) -> Vec<f64> {
    (0..n).map(|_| f()).collect()
}

fn main() {
    multiproc::init();
    let mut runs = 5;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(5),
            name => only = Some(name.to_owned()),
        }
    }
    let want = |name: &str| only.as_deref().is_none_or(|o| name.starts_with(o));
    if want("queue.small") {
        let r = runs_of(runs, queue_small);
        report("queue.small", median(r.clone()), "msgs/s", &r);
    }
    if want("queue.1mib") {
        let r = runs_of(runs, queue_1mib);
        report("queue.1mib", median(r.clone()), "GB/s", &r);
    }
    if want("pipe.rtt") {
        let raw_pipe = runs_of(runs, || rtt_raw(os_pipe(), os_pipe()));
        report(
            "pipe.rtt_raw_os_pipe",
            median(raw_pipe.clone()),
            "us",
            &raw_pipe,
        );
        let raw_sock = runs_of(runs, || {
            let (a, b) = socket_pair();
            let dup = |f: &Fd| f.try_clone().unwrap();
            rtt_raw((dup(&a), dup(&b)), (b, a))
        });
        report(
            "pipe.rtt_raw_socketpair",
            median(raw_sock.clone()),
            "us",
            &raw_sock,
        );
        let typed = runs_of(runs, rtt_typed);
        report("pipe.rtt_small", median(typed.clone()), "us", &typed);
        let bytes = runs_of(runs, rtt_bytes);
        report("pipe.rtt_small_bytes", median(bytes.clone()), "us", &bytes);
    }
    if want("pipe.1mib") {
        let r = runs_of(runs, pipe_1mib);
        report("pipe.1mib", median(r.clone()), "MB/s", &r);
    }
    std::thread::sleep(Duration::from_millis(10));
}
