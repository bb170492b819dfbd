//! A huge word (a file with no separator in it) costs about its size in memory, across all the
//! processes of a run: workers set it aside, the driver reads it back once and lowercases it
//! in place; a pipe is read by the driver itself.
//!
//! Memory is the peak resident size (`VmHWM`) of each process of the run's tree, sampled until
//! the run ends and summed: an upper bound of what they held at any one time.

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{process_tree, status_bytes};

const MIB: u64 = 1 << 20;

/// The word's size: large beside what a run needs without it (about 10 MiB a process).
const WORD: usize = 96 << 20;

/// The size of a word of Greek letters, slower to tokenize and lowercase.
const GREEK_WORD: usize = 32 << 20;

/// What a run of wordcount printed, and the sum of the peak resident sizes of its processes.
struct Run {
    stdout: Vec<u8>,
    peak_sum: u64,
    peaks: HashMap<u32, u64>,
}

/// Waits for `child`, sampling the peak resident size of every process of its tree.
fn watch(mut child: Child) -> Run {
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut out).expect("read stdout");
        out
    });
    let mut peaks: HashMap<u32, u64> = HashMap::new();
    let start = Instant::now();
    let status = loop {
        for pid in process_tree(child.id()) {
            if let Some(hwm) = status_bytes(pid, "VmHWM") {
                let peak = peaks.entry(pid).or_default();
                *peak = (*peak).max(hwm);
            }
        }
        if let Some(status) = child.try_wait().expect("poll") {
            break status;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wordcount ran past 120 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert!(status.success(), "wordcount failed: {stderr}");
    Run {
        stdout: reader.join().expect("stdout reader"),
        peak_sum: peaks.values().sum(),
        peaks,
    }
}

fn wordcount(args: &[&str], path: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_wordcount"))
        .args(["--format", "tsv"])
        .args(args)
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wordcount")
}

/// Checks that `tsv` lists `word` (already lowercase) `n` times, and the `others` lines in
/// their order around it.
fn assert_counts(tsv: &[u8], word: &[u8], n: u64, others: &[&str]) {
    let mut rest = Vec::new();
    let mut found = false;
    for line in tsv.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if line.len() > 1000 {
            let tab = line.iter().rposition(|&b| b == b'\t').expect("a tab");
            assert!(line[..tab] == *word, "the huge word, lowercased");
            assert_eq!(&line[tab + 1..], n.to_string().as_bytes());
            found = true;
        } else {
            rest.push(String::from_utf8(line.to_vec()).expect("UTF-8"));
        }
    }
    assert!(found, "the huge word is listed");
    assert_eq!(rest, others);
}

/// The bound: the word once, and room for what the processes hold without it.
fn assert_held_once(run: &Run, word: usize, what: &str) {
    let bound = word as u64 * 5 / 4 + 64 * MIB;
    assert!(
        run.peak_sum < bound,
        "{what}: the processes together peaked at {} MiB (each: {:?} MiB) for a word of {} MiB",
        run.peak_sum / MIB,
        run.peaks.values().map(|p| p / MIB).collect::<Vec<_>>(),
        word as u64 / MIB
    );
}

/// `pattern` repeated to about [`WORD`] bytes.
fn huge(pattern: &str) -> String {
    pattern.repeat(WORD / pattern.len())
}

#[test]
fn one_huge_word_is_held_once_across_processes_regression() {
    // A 500 MB word cost about four times its size: built by the tokenizer, copied to
    // lowercase, copied into the table, encoded, received, decoded, inserted.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.txt");
    let word = huge("AbCd");
    fs::write(&path, format!("start\n{word}\nend\n")).expect("write");
    let run = watch(wordcount(&["--workers", "2"], &path));
    assert_held_once(&run, WORD, "one ASCII word");
    assert_counts(
        &run.stdout,
        word.to_lowercase().as_bytes(),
        1,
        &["end\t1", "start\t1"],
    );
}

#[test]
fn a_huge_word_repeated_in_chunks_of_two_workers_is_held_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("twice.txt");
    let word = huge("Ab");
    let mut file = fs::File::create(&path).expect("create");
    for line in [
        word.as_str(),
        "middle",
        &word.to_uppercase().to_lowercase(),
        "end",
    ] {
        file.write_all(line.as_bytes()).expect("write");
        file.write_all(b"\n").expect("write");
    }
    drop(file);
    let run = watch(wordcount(&["--workers", "2", "--chunk-size", "1M"], &path));
    // The two occurrences differ in case: each is read back, the second freed at once.
    assert!(
        run.peak_sum < 2 * WORD as u64 + 64 * MIB,
        "{} MiB",
        run.peak_sum / MIB
    );
    assert_counts(
        &run.stdout,
        word.to_lowercase().as_bytes(),
        2,
        &["end\t1", "middle\t1"],
    );

    // Twice the same bytes: read back once.
    fs::write(&path, format!("{word}\nmiddle\n{word}\nend\n")).expect("write");
    let run = watch(wordcount(&["--workers", "2", "--chunk-size", "1M"], &path));
    assert_held_once(&run, WORD, "one word twice");
    assert_counts(
        &run.stdout,
        word.to_lowercase().as_bytes(),
        2,
        &["end\t1", "middle\t1"],
    );
}

#[test]
fn a_huge_greek_word_is_lowercased_in_place() {
    // Capital sigmas (final or not by their context) and letters whose lowercase is longer
    // than they are (Ⱥ: 2 bytes, ⱥ: 3).
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("greek.txt");
    let n = GREEK_WORD / "ΑΣʰΑ".len();
    let word = format!("{}ȺΣ", "ΑΣʰΑ".repeat(n));
    fs::write(&path, format!("{word} end\n")).expect("write");
    let run = watch(wordcount(&["--workers", "2"], &path));
    assert_held_once(&run, GREEK_WORD, "one Greek word");
    // Each Σ but the last is followed by a cased letter (past the case-ignorable ʰ).
    let lower = format!("{}ⱥς", "ασʰα".repeat(n));
    assert_eq!(wordcount::unicode::lower("ΑΣʰΑΑΣʰΑȺΣ"), "ασʰαασʰαⱥς");
    assert_counts(&run.stdout, lower.as_bytes(), 1, &["end\t1"]);
}

#[test]
fn a_huge_word_on_a_pipe_is_held_once() {
    let word = huge("aB");
    let mut child = wordcount(&["--workers", "2"], Path::new("/dev/stdin"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let feed = word.clone();
    let writer = std::thread::spawn(move || {
        stdin.write_all(b"piped\n").expect("write");
        stdin.write_all(feed.as_bytes()).expect("write");
    });
    let run = watch(child);
    writer.join().expect("writer");
    assert_held_once(&run, WORD, "one word on a pipe");
    assert_counts(
        &run.stdout,
        word.to_lowercase().as_bytes(),
        1,
        &["piped\t1"],
    );
}
