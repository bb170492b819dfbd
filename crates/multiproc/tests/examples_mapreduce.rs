//! The MapReduce example: counting the chapter's own pages, compared with the chapter's Python
//! script run by the real `python3` on the same files.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpora/pymotw-multiprocessing");
    dir.is_dir().then_some(dir)
}

const FILES: [&str; 4] = [
    "basics.rst",
    "communication.rst",
    "index.rst",
    "mapreduce.rst",
];

#[test]
fn mapreduce_wordcount_matches_the_chapter_script() {
    let Some(dir) = corpus() else {
        eprintln!("skipped: the shared corpus is not beside the repository");
        return;
    };
    let mut cmd = common::example("mapreduce_wordcount");
    cmd.current_dir(&dir).args(FILES);
    let out = common::run_bounded(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = String::from_utf8(out.stdout).unwrap();

    // One "reading" line per file, from pool workers, before the table.
    let (reading, table) = out
        .split_once("\nTOP 20 WORDS BY FREQUENCY\n")
        .expect("table header");
    let mut read: Vec<&str> = reading.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(read.len(), 4, "{out}");
    for l in &read {
        assert!(l.starts_with("PoolWorker-"), "{l}");
    }
    read.sort_by_key(|l| l.split_once(" reading ").map(|(_, f)| f.to_owned()));
    for (l, f) in read.iter().zip(FILES) {
        assert!(l.ends_with(&format!(" reading {f}")), "{l}");
    }

    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/chapter_wordcount.py");
    let mut py = Command::new("python3");
    py.current_dir(&dir).arg(script).args(FILES);
    let py = common::run_bounded(py, Duration::from_secs(60));
    assert!(
        py.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&py.stderr)
    );
    let py = String::from_utf8(py.stdout).unwrap();
    let (_, py_table) = py
        .split_once("\nTOP 20 WORDS BY FREQUENCY\n")
        .expect("python table header");
    assert_eq!(table, py_table);
    assert_eq!(table.lines().filter(|l| !l.is_empty()).count(), 20);
}
