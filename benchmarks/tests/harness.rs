//! Runs the `multiproc-bench` binary in its smallest mode and checks what it prints. Speed is
//! never asserted: only the shape of the output.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Runs the harness with `args`, killing it if it runs longer than `limit`.
fn bench(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_multiproc-bench"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start multiproc-bench");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "multiproc-bench {args:?} ran longer than {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn python_available() -> bool {
    Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn quick_forkserver_prints_one_json_line_per_implementation() {
    let out = bench(
        &[
            "start_join.forkserver",
            "--quick",
            "--rounds",
            "1",
            "--json-only",
        ],
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let mut impls = Vec::new();
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
        let obj = v.as_object().expect("a JSON object");
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            ["figure", "impl", "max", "min", "rounds", "unit", "value"],
            "{line}"
        );
        assert_eq!(v["figure"], "start_join.forkserver", "{line}");
        assert_eq!(v["unit"], "ms", "{line}");
        assert_eq!(v["rounds"], 1, "{line}");
        let (value, min, max) = (
            v["value"].as_f64().expect("value is a number"),
            v["min"].as_f64().expect("min is a number"),
            v["max"].as_f64().expect("max is a number"),
        );
        assert!(value > 0.0 && min <= value && value <= max, "{line}");
        impls.push(v["impl"].as_str().expect("impl is a string").to_owned());
    }
    assert!(impls.contains(&"multiproc".to_owned()), "{stdout}");
    if python_available() {
        assert!(impls.contains(&"python".to_owned()), "{stdout}");
    }
    let mut unique = impls.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        impls.len(),
        "one line per implementation: {stdout}"
    );
}

#[test]
fn list_names_the_wired_figures() {
    let out = bench(&["--list"], Duration::from_secs(30));
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for wired in [
        "start_join.forkserver",
        "start_join.spawn",
        "start_join.fork",
        "start_join.async_many",
        "pool.map_default",
        "lock.uncontended",
        "event.pingpong",
        "wordcount.mbps",
        "wordcount.vs_wc",
    ] {
        assert!(names.contains(&wired), "{wired} missing from {names:?}");
    }
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "duplicate names in {names:?}");
    assert!(names.iter().all(|n| {
        n.split_once('.')
            .is_some_and(|(g, f)| !g.is_empty() && !f.is_empty())
    }));
}

#[test]
fn unknown_figure_is_a_usage_error() {
    let out = bench(&["no_such.figure", "--quick"], Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no figure matches"));
    assert!(out.stdout.is_empty());
}
