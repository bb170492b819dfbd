//! The Rust peers' programs (`peers/`), run as the harness runs them: each offers exactly the
//! figures the harness runs it for, measures each of them with the figure's unit (or says
//! why it cannot run here), refuses the others with a clear error, and leaves no process or
//! file behind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The peers: the harness's `impl` name and the program.
const PEERS: [(&str, &str); 3] = [
    ("procspawn", env!("CARGO_BIN_EXE_peer-procspawn")),
    ("ipc-channel", env!("CARGO_BIN_EXE_peer-ipc-channel")),
    ("crossmist", env!("CARGO_BIN_EXE_peer-crossmist")),
];

/// Held by every test that runs a peer program, so that the leak check sees only its own.
static RUNNING: Mutex<()> = Mutex::new(());

/// How long one run of a peer program may take before the test fails.
const LIMIT: Duration = Duration::from_secs(120);

/// Runs `program args...` with `TMPDIR` set to `tmp`, killing it after [`LIMIT`].
fn run(program: &str, args: &[&str], tmp: &Path) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .env("TMPDIR", tmp)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the peer program starts");
    let deadline = Instant::now() + LIMIT;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} {args:?} ran longer than {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("the peer program's output")
}

/// The harness's figures as `--list --json-only` prints them, by name.
fn harness_figures() -> BTreeMap<String, Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_multiproc-bench"))
        .args(["--list", "--json-only"])
        .output()
        .expect("the harness runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            (v["figure"].as_str().expect("a figure name").to_owned(), v)
        })
        .collect()
}

/// The figures the harness runs `peer` for.
fn offered_by(figures: &BTreeMap<String, Value>, peer: &str) -> BTreeSet<String> {
    figures
        .iter()
        .filter(|(_, v)| {
            v["impls"]
                .as_array()
                .expect("impls")
                .iter()
                .any(|i| i == peer)
        })
        .map(|(name, _)| name.clone())
        .collect()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn each_peer_offers_exactly_the_figures_the_harness_runs_it_for() {
    let _running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let figures = harness_figures();
    for (peer, program) in PEERS {
        let out = run(program, &["--list"], tmp.path());
        assert!(out.status.success(), "{peer}: {out:?}");
        let listed: BTreeSet<String> = stdout(&out).lines().map(str::to_owned).collect();
        assert_eq!(listed, offered_by(&figures, peer), "{peer}");
        assert!(!listed.is_empty(), "{peer} offers nothing");
        for (name, figure) in &figures {
            let lacks = figure["not_offered"].get(peer).is_some();
            assert_ne!(lacks, listed.contains(name), "{peer} for {name}");
        }
    }
}

#[test]
fn each_peer_measures_what_it_offers_in_the_figures_unit_and_leaves_nothing_behind() {
    let _running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let figures = harness_figures();
    for (peer, program) in PEERS {
        for name in offered_by(&figures, peer) {
            let out = run(program, &[&name, "--quick"], tmp.path());
            let printed = stdout(&out);
            assert!(out.status.success(), "{peer} {name}: {out:?}");
            let line: Value = serde_json::from_str(printed.trim())
                .unwrap_or_else(|e| panic!("{peer} {name} printed {printed:?}: {e}"));
            if let Some(why) = line["unavailable"].as_str() {
                // Only crossmist is known not to run here (its releases up to 1.1.2 panic
                // in spawn when built by current Rust); the others must measure.
                assert_eq!(peer, "crossmist", "{peer} {name} is unavailable: {why}");
                assert!(why.contains("spawn panics"), "{why}");
                continue;
            }
            let value = line["value"].as_f64().expect("a value");
            assert!(value.is_finite() && value > 0.0, "{peer} {name}: {value}");
            assert_eq!(line["unit"], figures[&name]["unit"], "{peer} {name}");
        }
    }
    // No child of a peer program outlives it, and ipc-channel's one-shot servers remove
    // their socket directories.
    let programs: Vec<_> = PEERS
        .iter()
        .map(|(_, p)| Path::new(p).canonicalize().expect("the program exists"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<_> = std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(|e| std::fs::read_link(e.ok()?.path().join("exe")).ok())
            .filter(|exe| programs.contains(exe))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left running: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let files: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("the temporary directory")
        .collect();
    assert!(files.is_empty(), "left in TMPDIR: {files:?}");
}

#[test]
fn a_peer_asked_for_a_figure_it_lacks_fails_and_says_so() {
    let _running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let out = run(
        env!("CARGO_BIN_EXE_peer-ipc-channel"),
        &["start_join.spawn", "--quick"],
        tmp.path(),
    );
    assert!(!out.status.success());
    assert!(stdout(&out).is_empty(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ipc-channel has no counterpart of \"start_join.spawn\""),
        "{stderr}"
    );
    let out = run(env!("CARGO_BIN_EXE_peer-procspawn"), &[], tmp.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("usage: peer-procspawn FIGURE"),
        "{out:?}"
    );
}
