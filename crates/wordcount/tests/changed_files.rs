//! A file that changes while wordcount reads it (truncated, grown, rewritten, replaced) is an
//! error naming it, exit status 1 and no table: never counts of no version of the file.
//!
//! Each test stops the process that reads the file in the middle of its reading (found by
//! its open descriptor and that descriptor's offset in `/proc`), changes the file, and lets
//! it go on: real processes, real files, no hook in the program.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{readers_of, signal, wait_bounded};

/// How the file is changed while its reader is stopped.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// Cut to a tenth of its size: before the reader's offset.
    TruncatedBehind,
    /// Cut to just before its end: after the reader's offset.
    TruncatedAhead,
    /// Grown by a line.
    Grown,
    /// Some bytes written over, the size kept.
    Rewritten,
    /// Another file of the same size renamed onto its path.
    Replaced,
}

/// Text of about `size` bytes: lines of words.
fn text(size: usize) -> Vec<u8> {
    let line = b"alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu\n";
    line.repeat(size / line.len() + 1)
}

fn start(path: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_wordcount"))
        .args(["--format", "tsv"])
        .args(args)
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wordcount")
}

/// Stops a process of `child`'s tree that has `path` open in the middle of its reading:
/// returns its pid, or `None` when the reading ended (or never began) before it could be
/// caught.
fn stop_mid_read(child: &mut Child, path: &Path, size: u64) -> Option<u32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if child.try_wait().expect("poll").is_some() {
            return None;
        }
        for (pid, pos) in readers_of(child.id(), path) {
            if pos == 0 || pos >= size {
                continue;
            }
            signal(pid, "STOP");
            // Stopped, its offset no longer moves: it must still be inside the file.
            let still = readers_of(child.id(), path)
                .into_iter()
                .any(|(p, pos)| p == pid && pos > 0 && pos < size);
            if still {
                return Some(pid);
            }
            signal(pid, "CONT");
        }
    }
    None
}

fn apply(change: Change, path: &Path, size: u64) {
    // A tick of the file system's clock passes: the times it stamps cannot equal those seen.
    std::thread::sleep(Duration::from_millis(20));
    match change {
        Change::TruncatedBehind => {
            let f = OpenOptions::new().write(true).open(path).expect("open");
            f.set_len(size / 10).expect("truncate");
        }
        Change::TruncatedAhead => {
            let f = OpenOptions::new().write(true).open(path).expect("open");
            f.set_len(size - 10).expect("truncate");
        }
        Change::Grown => {
            let mut f = OpenOptions::new().append(true).open(path).expect("open");
            f.write_all(b"grown words\n").expect("append");
        }
        Change::Rewritten => {
            let mut f = OpenOptions::new().write(true).open(path).expect("open");
            f.write_all(b"ALPHA").expect("overwrite");
        }
        Change::Replaced => {
            let new = path.with_extension("new");
            fs::write(&new, text(size as usize)).expect("write");
            fs::rename(&new, path).expect("rename");
        }
    }
}

/// Runs wordcount on a file, changes the file while it is being read, and checks that the
/// run fails naming the file and saying how it changed. The file doubles in size until the
/// reader is caught in the middle of it.
fn changed_mid_read(change: Change, args: &[&str], expect: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("counted.txt");
    for attempt in 0..6 {
        let bytes = text((8 << 20) << attempt);
        fs::write(&path, &bytes).expect("write");
        let size = bytes.len() as u64;
        let mut child = start(&path, args);
        let Some(pid) = stop_mid_read(&mut child, &path, size) else {
            let out = wait_bounded(child, Duration::from_secs(60));
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        };
        apply(change, &path, size);
        signal(pid, "CONT");
        let out = wait_bounded(child, Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{change:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{change:?}: no counts");
        assert!(
            stderr.contains(&format!("{}: changed while being counted", path.display())),
            "{change:?}: {stderr}"
        );
        assert!(
            expect.iter().any(|e| stderr.contains(e)),
            "{change:?}: {stderr} says none of {expect:?}"
        );
        assert_eq!(
            stderr.lines().count(),
            1,
            "one error, printed once: {stderr}"
        );
        return;
    }
    panic!("{change:?}: wordcount was never caught in the middle of reading the file");
}

const RESIZED: &str = "its size went from";

#[test]
fn a_file_truncated_mid_read_is_an_error_regression() {
    // It gave the counts of the part read, with exit status 0.
    changed_mid_read(Change::TruncatedBehind, &["--workers", "1"], &[RESIZED]);
    changed_mid_read(Change::TruncatedAhead, &["--workers", "1"], &[RESIZED]);
}

#[test]
fn a_file_cut_in_chunks_and_truncated_mid_read_is_an_error() {
    let args = ["--workers", "2", "--chunk-size", "1M"];
    changed_mid_read(
        Change::TruncatedBehind,
        &args,
        &[RESIZED, "it ended at byte"],
    );
    changed_mid_read(
        Change::TruncatedAhead,
        &args,
        &[RESIZED, "it ended at byte"],
    );
}

#[test]
fn a_file_grown_mid_read_is_an_error() {
    changed_mid_read(Change::Grown, &["--workers", "1"], &[RESIZED]);
    changed_mid_read(
        Change::Grown,
        &["--workers", "2", "--chunk-size", "1M"],
        &[RESIZED],
    );
}

#[test]
fn a_file_rewritten_mid_read_is_an_error() {
    changed_mid_read(
        Change::Rewritten,
        &["--workers", "1"],
        &["its modification or status-change time moved"],
    );
}

#[test]
fn a_file_replaced_mid_read_is_an_error() {
    changed_mid_read(
        Change::Replaced,
        &["--workers", "1"],
        &["its path now names another file"],
    );
    changed_mid_read(
        Change::Replaced,
        &["--workers", "2", "--chunk-size", "1M"],
        &["its path now names another file"],
    );
}
