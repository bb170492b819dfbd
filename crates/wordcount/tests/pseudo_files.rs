//! Inputs whose size `stat` does not give: files under `/proc` (size 0) and `/sys` (size
//! 4096), FIFOs, empty files. Each is read to its end and counted as Python reads it.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{assert_same_tsv, reference_tsv, wait_bounded, wordcount, wordcount_tsv};

/// Pseudo files whose content does not change while a test runs, that this machine has.
fn stable_pseudo_files() -> Vec<PathBuf> {
    [
        "/proc/version",
        "/proc/filesystems",
        "/proc/sys/kernel/ostype",
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/kernel/mm/transparent_hugepage/defrag",
    ]
    .iter()
    .map(PathBuf::from)
    .filter(|p| fs::read(p).is_ok_and(|b| !b.is_empty()))
    .collect()
}

#[test]
fn proc_and_sys_files_count_as_python_reads_them_regression() {
    // They counted as empty, with exit status 0: `stat` gives /proc files size 0, and /sys
    // files 4096 whatever their content.
    let files = stable_pseudo_files();
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    assert!(
        paths.iter().any(|p| p.starts_with("/proc")),
        "this machine has no readable /proc file of the list"
    );
    for p in &paths {
        let size = fs::metadata(p).expect("stat").len();
        let content = fs::read(p).expect("read").len() as u64;
        assert_ne!(size, content, "{} is not a pseudo file", p.display());
    }
    let reference = reference_tsv(&paths, false);
    assert!(
        reference.split(|&b| b == b'\n').count() > 5,
        "the pseudo files have words"
    );
    for extra in [
        &[][..],
        &["--workers", "2", "--chunk-size", "61"],
        &["--workers", "3", "--chunk-size", "1"],
    ] {
        assert_same_tsv(
            &wordcount_tsv(&paths, extra),
            &reference,
            &format!("pseudo files {extra:?}"),
        );
    }
}

#[test]
fn proc_self_is_the_wordcount_process() {
    // `/proc/self/status` starts with `Name:\twordcount`: it is read by the process the path
    // was given to, not by a worker.
    let tsv =
        String::from_utf8(wordcount_tsv(&[Path::new("/proc/self/status")], &[])).expect("UTF-8");
    assert!(tsv.lines().any(|l| l == "wordcount\t1"), "{tsv}");
    assert!(tsv.lines().any(|l| l.starts_with("vmrss\t")), "{tsv}");
}

#[test]
fn a_fifo_is_read_to_its_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = wordcount::CORPUS
        .iter()
        .map(|f| f.text)
        .collect::<String>()
        .repeat(4);
    let plain = dir.path().join("plain.txt");
    fs::write(&plain, &text).expect("write");
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let other = dir.path().join("other.txt");
    fs::write(&other, "more words after the fifo\n").expect("write");
    for workers in ["1", "3"] {
        // The writer is a process of its own, bounded: it waits for a reader to open the FIFO.
        let mut writer = Command::new("timeout")
            .args(["60", "sh", "-c", "cat \"$1\" > \"$2\"", "sh"])
            .arg(&plain)
            .arg(&fifo)
            .spawn()
            .expect("start the writer");
        let reader = Command::new(env!("CARGO_BIN_EXE_wordcount"))
            .args([
                "--format",
                "tsv",
                "--workers",
                workers,
                "--chunk-size",
                "4K",
            ])
            .arg(&fifo)
            .arg(&other)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run wordcount");
        let out = wait_bounded(reader, Duration::from_secs(60));
        assert!(writer.wait().expect("writer").success());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_same_tsv(
            &out.stdout,
            &reference_tsv(&[&plain, &other], false),
            &format!("a FIFO, {workers} workers"),
        );
    }
}

#[test]
fn empty_files_count_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.txt");
    fs::write(&empty, "").expect("write");
    let out = wordcount(["--format".as_ref(), "tsv".as_ref(), empty.as_os_str()]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert_same_tsv(
        &wordcount_tsv(&[dir.path()], &["--workers", "2"]),
        &reference_tsv(&[&empty], false),
        "a directory with an empty file",
    );
}

#[test]
fn file_names_that_are_not_utf8_are_counted_regression() {
    // A path that is not UTF-8 could not be sent to a worker: the run failed with "an
    // argument cannot be sent to a worker", printed twice.
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    let path = dir.path().join(name);
    fs::write(&path, "Latin one names\nnames\n").expect("write");
    let out = String::from_utf8(wordcount_tsv(&[dir.path()], &["--workers", "2"])).expect("UTF-8");
    assert_eq!(out, "names\t2\nlatin\t1\none\t1\n");
    // An error about such a file names it.
    fs::write(&path, b"bad \xff\n").expect("write");
    let out = wordcount([path.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("caf\u{fffd}.txt: invalid UTF-8 at byte offset 4"),
        "{stderr}"
    );
}
