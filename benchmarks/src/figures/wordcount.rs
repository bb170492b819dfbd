//! `wordcount.mbps`, `wordcount.vs_wc` and `wordcount.peak_rss`: the `wordcount` program with 2
//! workers over a generated ~200 MB corpus (48 MB with `--quick`), against the chapter's
//! `SimpleMapReduce` word count in Python, a single-process Python `Counter`, `wc -w` and `cat`
//! (the speed of reading the file from the page cache), and with 1 worker beside it
//! (`workers1`: the speed of one worker's map step, plus start-up and reduce).
//!
//! `wordcount.vs_wc` is the ratio of wordcount's speed to `wc -w`'s on the same file, both
//! timed back to back in each round, so that a machine whose speed drifts between rounds (other
//! work, frequency changes) moves both sides of the ratio alike.
//!
//! The corpus is the Python script's own generated corpus (`bench_wordcount.py
//! --print-corpus`), concatenated until it reaches the size, so every implementation counts
//! the same kind of text; the Python implementations, far slower, count the 16 MB (4 MB)
//! original rather than its repetitions. Throughput is in MB (10^6 bytes) per second.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::external::{python_dir, run_bounded};
use crate::figure::{BoxError, Figure, Mode, Peer, Script};

/// The figures of this group.
pub(super) fn figures() -> Vec<Box<dyn Figure>> {
    vec![Box::new(Throughput), Box::new(VsWc), Box::new(PeakRss)]
}

const LIMIT: Duration = Duration::from_secs(300);

/// The generated corpus for `mode`: one file of about 200 MB (48 MB quick), made once.
fn corpus(mode: Mode) -> Result<PathBuf, BoxError> {
    let mb: u64 = mode.pick(200, 48);
    let path = std::env::temp_dir().join(format!("multiproc-bench-wordcount-{mb}mb.txt"));
    if path.metadata().is_ok_and(|m| m.len() >= mb * 1_000_000) {
        return Ok(path);
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut args = vec![
        python_dir()
            .join("bench_wordcount.py")
            .display()
            .to_string(),
        "wordcount.mbps".to_owned(),
        "--print-corpus".to_owned(),
    ];
    if mode == Mode::Quick {
        args.push("--quick".to_owned());
    }
    let (ok, stdout, stderr) = run_bounded(Path::new(&python), &args, LIMIT)?;
    if !ok {
        return Err(format!("generating the corpus failed: {stderr}").into());
    }
    let parts: Vec<Vec<u8>> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(std::fs::read)
        .collect::<Result<_, _>>()?;
    let tmp = path.with_extension("partial");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    let mut written = 0u64;
    while written < mb * 1_000_000 {
        for p in &parts {
            std::io::Write::write_all(&mut out, p)?;
            written += p.len() as u64;
        }
    }
    std::io::Write::flush(&mut out)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The release `wordcount` binary beside this harness, built if missing.
fn wordcount_binary() -> Result<PathBuf, BoxError> {
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .ok_or("no directory for the harness binary")?
        .join("wordcount");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--release", "-p", "wordcount"])
            .status()?;
        if !status.success() || !path.exists() {
            return Err("cannot build the wordcount program".into());
        }
    }
    Ok(path)
}

/// The resident memory of `pid` and its descendants, in KiB (from /proc).
fn tree_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let own: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    own + children
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .map(tree_rss_kib)
        .sum::<u64>()
}

/// Runs `wordcount --workers N --format tsv FILE`; returns (MB/s, peak RSS of the process tree
/// in MB, sampled every 2 ms).
fn run_wordcount(mode: Mode, workers: u32) -> Result<(f64, f64), BoxError> {
    let file = corpus(mode)?;
    let bytes = file.metadata()?.len();
    let mut child = Command::new(wordcount_binary()?)
        .args([
            "--workers",
            &workers.to_string(),
            "--format",
            "tsv",
            "--no-progress",
        ])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .stdin(Stdio::null())
        .spawn()?;
    let t0 = Instant::now();
    let mut peak = 0u64;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        peak = peak.max(tree_rss_kib(child.id()));
        if t0.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err("wordcount ran past the time limit".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = t0.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("wordcount failed: {status}").into());
    }
    Ok((bytes as f64 / 1e6 / elapsed, peak as f64 / 1024.0))
}

/// Times a command over the corpus, in MB/s.
fn command_mbps(mode: Mode, program: &str, args: &[&str]) -> Result<f64, BoxError> {
    let file = corpus(mode)?;
    let bytes = file.metadata()?.len();
    let t0 = Instant::now();
    let status = Command::new(program)
        .args(args)
        .arg(&file)
        .stdout(Stdio::null())
        .stdin(Stdio::null())
        .status()?;
    let elapsed = t0.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("{program} failed: {status}").into());
    }
    Ok(bytes as f64 / 1e6 / elapsed)
}

fn wc(mode: Mode) -> Result<f64, BoxError> {
    command_mbps(mode, "wc", &["-w"])
}

fn cat(mode: Mode) -> Result<f64, BoxError> {
    command_mbps(mode, "cat", &[])
}

/// `wordcount --workers 1`, in MB/s.
fn one_worker(mode: Mode) -> Result<f64, BoxError> {
    run_wordcount(mode, 1).map(|(mbps, _)| mbps)
}

/// wordcount's MB/s with `workers` over `wc -w`'s, timed back to back on the same file.
fn ratio_to_wc(mode: Mode, workers: u32) -> Result<f64, BoxError> {
    let wc = wc(mode)?;
    let (ours, _) = run_wordcount(mode, workers)?;
    Ok(ours / wc)
}

/// `wordcount.mbps`.
#[derive(Debug)]
struct Throughput;

impl Figure for Throughput {
    fn name(&self) -> &'static str {
        "wordcount.mbps"
    }

    fn description(&self) -> &'static str {
        "the wordcount program, 2 workers, generated corpus (MB/s)"
    }

    fn unit(&self) -> &'static str {
        "MB/s"
    }

    fn higher_is_better(&self) -> bool {
        true
    }

    fn target(&self) -> Option<f64> {
        Some(1000.0)
    }

    fn measure(&self, mode: Mode) -> Result<f64, BoxError> {
        run_wordcount(mode, 2).map(|(mbps, _)| mbps)
    }

    fn python(&self) -> Option<Script> {
        Some(Script::new("bench_wordcount.py"))
    }

    fn peers(&self) -> Vec<Peer> {
        vec![
            Peer::python(
                "python_counter",
                Script::with_args("bench_wordcount.py", &["--variant", "counter"]),
            ),
            Peer::custom("wc", wc),
            Peer::custom("cat", cat),
            Peer::custom("workers1", one_worker),
        ]
    }
}

/// `wordcount.vs_wc`.
#[derive(Debug)]
struct VsWc;

impl Figure for VsWc {
    fn name(&self) -> &'static str {
        "wordcount.vs_wc"
    }

    fn description(&self) -> &'static str {
        "wordcount.mbps over wc -w's MB/s, both timed on the same file in each round (x)"
    }

    fn unit(&self) -> &'static str {
        "x"
    }

    fn higher_is_better(&self) -> bool {
        true
    }

    fn target(&self) -> Option<f64> {
        Some(5.0)
    }

    fn measure(&self, mode: Mode) -> Result<f64, BoxError> {
        ratio_to_wc(mode, 2)
    }

    fn python(&self) -> Option<Script> {
        Some(Script::new("bench_wordcount.py"))
    }

    fn peers(&self) -> Vec<Peer> {
        vec![Peer::custom("workers1", |mode| ratio_to_wc(mode, 1))]
    }
}

/// `wordcount.peak_rss`.
#[derive(Debug)]
struct PeakRss;

impl Figure for PeakRss {
    fn name(&self) -> &'static str {
        "wordcount.peak_rss"
    }

    fn description(&self) -> &'static str {
        "peak resident memory of wordcount and its workers together (MB)"
    }

    fn unit(&self) -> &'static str {
        "MB"
    }

    fn higher_is_better(&self) -> bool {
        false
    }

    fn measure(&self, mode: Mode) -> Result<f64, BoxError> {
        run_wordcount(mode, 2).map(|(_, mb)| mb)
    }

    fn python(&self) -> Option<Script> {
        None
    }
}
