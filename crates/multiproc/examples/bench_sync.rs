//! Speed of the synchronization primitives, beside a C peer built from POSIX process-shared
//! semaphores (`benchmarks/c/sync_peers.c`, compiled with `cc` at run time).
//!
//! ```text
//! cargo run --release -p multiproc --example bench_sync -- [FIGURE...] [--quick] [--rounds N]
//! ```
//!
//! Figures (the protocols of `benchmarks/python/bench_lock.py` and `bench_event.py`):
//!
//! - `lock.uncontended`: one process acquires and releases a [`Lock`] N times; pairs/s.
//! - `lock.contended_incr`: 2 processes each add 1 to a shared `Value<u64>` N times under its
//!   lock, timed from starting both until both are joined; total increments/s.
//! - `event.pingpong`: the main process sets `ping` and waits for `pong`; the child waits for
//!   `ping`, clears it and sets `pong`; the main process clears `pong`; round trips/s.
//!
//! Implementations alternate, round after round; each line reports the median round. Output:
//! one JSON line per figure and implementation, then a table.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use multiproc::{Event, Lock, Value};

const C_SOURCE: &str = include_str!("../../../benchmarks/c/sync_peers.c");
const TIMEOUT: Duration = Duration::from_secs(30);

fn uncontended(n: u64) -> f64 {
    let lock = Lock::new();
    let t0 = Instant::now();
    for _ in 0..n {
        drop(black_box(lock.acquire().expect("no holder dies")));
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

fn increment((v, n): (Value<u64>, u64)) {
    for _ in 0..n {
        v.with_lock(|x| *x += 1);
    }
}

fn contended_incr(n: u64) -> f64 {
    let v = Value::new(0u64);
    let t0 = Instant::now();
    let kids: Vec<_> = (0..2)
        .map(|_| multiproc::spawn(increment, (v.clone(), n)))
        .collect();
    for k in kids {
        k.join().expect("incrementer");
    }
    let elapsed = t0.elapsed().as_secs_f64();
    assert_eq!(v.get(), 2 * n, "lost increments");
    (2 * n) as f64 / elapsed
}

fn responder((ping, pong, n): (Event, Event, u64)) {
    for _ in 0..n {
        assert!(ping.wait_timeout(TIMEOUT), "ping never came");
        ping.clear();
        pong.set();
    }
}

fn round_trip(ping: &Event, pong: &Event) {
    ping.set();
    assert!(pong.wait_timeout(TIMEOUT), "pong never came");
    pong.clear();
}

fn pingpong(n: u64) -> f64 {
    const WARMUP: u64 = 1000;
    let (ping, pong) = (Event::new(), Event::new());
    let child = multiproc::spawn(responder, (ping.clone(), pong.clone(), WARMUP + n));
    for _ in 0..WARMUP {
        round_trip(&ping, &pong);
    }
    let t0 = Instant::now();
    for _ in 0..n {
        round_trip(&ping, &pong);
    }
    let elapsed = t0.elapsed().as_secs_f64();
    child.join().expect("responder");
    n as f64 / elapsed
}

struct Figure {
    name: &'static str,
    unit: &'static str,
    /// (full, quick) counts for our side.
    counts: (u64, u64),
    run: fn(u64) -> f64,
}

const FIGURES: &[Figure] = &[
    Figure {
        name: "lock.uncontended",
        unit: "pairs/s",
        counts: (100_000_000, 10_000_000),
        run: uncontended,
    },
    Figure {
        name: "lock.contended_incr",
        unit: "incr/s",
        counts: (5_000_000, 1_000_000),
        run: contended_incr,
    },
    Figure {
        name: "event.pingpong",
        unit: "round trips/s",
        counts: (100_000, 20_000),
        run: pingpong,
    },
];

/// Compiles the C peer into the temporary directory; `None` (with a notice) without `cc`.
fn build_c_peer() -> Option<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("multiproc-bench-sync-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let src = dir.join("sync_peers.c");
    let exe = dir.join("sync_peers");
    std::fs::write(&src, C_SOURCE).ok()?;
    let ok = Command::new("cc")
        .args(["-O2", "-pthread", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Some(exe)
    } else {
        eprintln!("notice: cc is missing or failed; no C peer");
        None
    }
}

fn run_c(exe: &std::path::Path, figure: &str, quick: bool) -> Option<f64> {
    let mut cmd = Command::new(exe);
    cmd.arg(figure);
    if quick {
        cmd.arg("--quick");
    }
    let out = cmd.output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    v["value"].as_f64()
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    multiproc::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .unwrap_or(if quick { 3 } else { 5 });
    let wanted: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--rounds"))
        .map(|(_, a)| a)
        .collect();
    let c_peer = build_c_peer();
    let mut table = Vec::new();
    for f in FIGURES {
        if !wanted.is_empty() && !wanted.iter().any(|w| f.name.starts_with(w.as_str())) {
            continue;
        }
        let n = if quick { f.counts.1 } else { f.counts.0 };
        let (mut ours, mut c) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            ours.push((f.run)(n));
            if let Some(v) = c_peer.as_deref().and_then(|exe| run_c(exe, f.name, quick)) {
                c.push(v);
            }
        }
        let mut row = vec![(f.name, "multiproc", median(ours))];
        if !c.is_empty() {
            row.push((f.name, "c", median(c)));
        }
        for (name, imp, (value, min, max)) in &row {
            println!(
                "{{\"figure\": \"{name}\", \"impl\": \"{imp}\", \"value\": {value:.1}, \"unit\": \"{}\", \"rounds\": {rounds}, \"min\": {min:.1}, \"max\": {max:.1}}}",
                f.unit
            );
        }
        table.push((f, row));
    }
    println!();
    println!(
        "{:<22} {:>16} {:>16} {:>8}",
        "figure", "multiproc", "c", "ratio"
    );
    for (f, row) in table {
        let ours = row[0].2.0;
        let c = row.get(1).map(|r| r.2.0);
        let fmt = |v: f64| format!("{:.2} M", v / 1e6);
        println!(
            "{:<22} {:>16} {:>16} {:>8}",
            f.name,
            fmt(ours),
            c.map(fmt).unwrap_or_else(|| "-".into()),
            c.map(|c| format!("{:.2}x", ours / c))
                .unwrap_or_else(|| "-".into())
        );
    }
    if let Some(exe) = c_peer
        && let Some(dir) = exe.parent()
    {
        let _ = std::fs::remove_dir_all(dir);
    }
}
