//! Every Python script answers for each of its figures, in quick mode, with one result line in
//! the figure's unit. Most of these figures have no multiproc side yet, so nothing else runs
//! the scripts; this keeps them working. Skipped where `python3` is missing.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// (script, figure, extra arguments, unit)
const CASES: &[(&str, &str, &[&str], &str)] = &[
    ("bench_start_join.py", "start_join.async_many", &[], "us"),
    ("bench_queue.py", "queue.small", &[], "msg/s"),
    ("bench_queue.py", "queue.1mib", &[], "MB/s"),
    ("bench_pipe.py", "pipe.rtt_small", &[], "us"),
    ("bench_pipe.py", "pipe.1mib", &[], "MB/s"),
    ("bench_lock.py", "lock.uncontended", &[], "pairs/s"),
    ("bench_lock.py", "lock.contended_incr", &[], "incr/s"),
    ("bench_event.py", "event.pingpong", &[], "round trips/s"),
    ("bench_manager.py", "manager.dict_set_child", &[], "ops/s"),
    ("bench_pool.py", "pool.map_default", &[], "tasks/s"),
    ("bench_pool.py", "pool.map_chunk1", &[], "tasks/s"),
    ("bench_pool.py", "pool.apply_async", &[], "tasks/s"),
    ("bench_wordcount.py", "wordcount.mbps", &[], "MB/s"),
    ("bench_wordcount.py", "wordcount.vs_wc", &[], "x"),
    (
        "bench_wordcount.py",
        "wordcount.mbps",
        &["--variant", "counter"],
        "MB/s",
    ),
];

fn python_available() -> bool {
    Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn every_script_reports_its_figures() {
    if !python_available() {
        eprintln!("python3 is not available; skipping");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("python");
    for (script, figure, extra, unit) in CASES {
        let mut child = Command::new("python3")
            .arg(dir.join(script))
            .arg(figure)
            .arg("--quick")
            .args(*extra)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start python3");
        let start = Instant::now();
        while child.try_wait().expect("try_wait").is_none() {
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("{script} {figure} ran longer than 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("output");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{script} {figure} {extra:?} failed:\n{stderr}"
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "{script} {figure}: one line expected:\n{stdout}"
        );
        let v: Value = serde_json::from_str(lines[0]).expect("a JSON line");
        assert_eq!(v["unit"], *unit, "{script} {figure}: {stdout}");
        let value = v["value"].as_f64().expect("a number");
        assert!(value > 0.0, "{script} {figure}: {stdout}");
    }
}
