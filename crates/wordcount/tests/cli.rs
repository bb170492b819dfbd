//! The `wordcount` program: formats, options and errors.

mod common;

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};

use common::{crate_dir, wordcount};

fn stdout_of(args: &[&str]) -> String {
    let out = wordcount(args);
    assert!(
        out.status.success(),
        "wordcount {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn tsv_rows(tsv: &str) -> Vec<(String, u64)> {
    tsv.lines()
        .map(|line| {
            let (word, count) = line.split_once('\t').expect("word<TAB>count");
            (word.to_owned(), count.parse().expect("count"))
        })
        .collect()
}

#[test]
fn text_table_is_the_chapters() {
    let text = stdout_of(&[]);
    let rows = tsv_rows(&stdout_of(&["--format", "tsv"]));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("TOP 20 WORDS BY FREQUENCY"));
    assert_eq!(lines.next(), Some(""));
    let top = &rows[..20];
    let longest = top
        .iter()
        .map(|(w, _)| w.chars().count())
        .max()
        .expect("rows");
    for ((word, count), line) in top.iter().zip(lines.by_ref()) {
        // print('%-*s: %5s' % (longest + 1, word, count))
        let expected = format!("{word:<width$}: {count:>5}", width = longest + 1);
        assert_eq!(line, expected);
    }
    assert_eq!(lines.next(), None, "exactly 20 rows");
    assert!(text.contains("\nprocess         :    "), "{text}");
    assert!(text.contains("\nmultiprocessing :    "), "{text}");
}

#[test]
fn top_limits_the_table() {
    let text = stdout_of(&["--top", "3"]);
    assert!(
        text.starts_with("TOP 3 WORDS BY FREQUENCY\n\nprocess "),
        "{text}"
    );
    assert_eq!(text.lines().count(), 5);
    assert_eq!(stdout_of(&["--top", "0"]), "TOP 0 WORDS BY FREQUENCY\n\n");
    // tsv and json ignore --top.
    let all = stdout_of(&["--format", "tsv"]);
    assert_eq!(stdout_of(&["--format", "tsv", "--top", "3"]), all);
    assert!(all.lines().count() > 500);
}

#[test]
fn json_lists_the_same_words_as_tsv() {
    let rows = tsv_rows(&stdout_of(&["--format", "tsv"]));
    let json: serde_json::Value =
        serde_json::from_str(&stdout_of(&["--format", "json"])).expect("valid JSON");
    let entries = json.as_array().expect("an array");
    assert_eq!(entries.len(), rows.len());
    for (entry, (word, count)) in entries.iter().zip(&rows) {
        assert_eq!(entry["word"].as_str(), Some(word.as_str()));
        assert_eq!(entry["count"].as_u64(), Some(*count));
    }
}

#[test]
fn embedded_corpus_equals_its_files() {
    let corpus = crate_dir().join("corpus");
    let files: Vec<String> = wordcount::CORPUS
        .iter()
        .map(|f| corpus.join(f.name).display().to_string())
        .collect();
    let mut args = vec!["--format", "tsv"];
    args.extend(files.iter().map(String::as_str));
    assert_eq!(stdout_of(&args), stdout_of(&["--format", "tsv"]));
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.txt");
    fs::write(&good, "some words here\n").expect("write");
    let missing = dir.path().join("missing.txt");
    let out = wordcount([good.as_os_str(), missing.as_os_str()]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no partial table");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing.txt"), "{stderr}");
    assert!(stderr.contains("No such file"), "{stderr}");
}

#[test]
fn invalid_utf8_fails_without_partial_output_unless_lossy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("a-good.txt");
    fs::write(&good, "valid words first\n".repeat(100)).expect("write");
    let bad = dir.path().join("b-bad.txt");
    let mut bytes = b"fine line\n".repeat(50);
    bytes.extend_from_slice(b"broken \xff\xfe word\nafter\n");
    fs::write(&bad, &bytes).expect("write");

    for format in ["text", "tsv", "json"] {
        let out = Command::new(env!("CARGO_BIN_EXE_wordcount"))
            .args(["--format", format, "--workers", "2", "--chunk-size", "64"])
            .arg(dir.path())
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty(), "no partial {format} output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("b-bad.txt"), "{stderr}");
        assert!(
            stderr.contains("invalid UTF-8 at byte offset 507"),
            "{stderr}"
        );
        assert!(stderr.contains("--lossy"), "{stderr}");
    }

    let out = Command::new(env!("CARGO_BIN_EXE_wordcount"))
        .args(["--format", "tsv", "--lossy"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(out.status.success());
    let rows = tsv_rows(&String::from_utf8(out.stdout).expect("UTF-8"));
    let get = |w: &str| rows.iter().find(|(x, _)| x == w).map(|r| r.1);
    assert_eq!(get("fine"), Some(50));
    assert_eq!(get("valid"), Some(100));
    assert_eq!(get("broken"), Some(1));
    assert_eq!(get("word"), Some(1));
    assert_eq!(get("after"), Some(1));
}

#[test]
fn directories_are_walked_recursively() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    fs::create_dir_all(root.join("a/b/c")).expect("mkdir");
    fs::write(root.join("top.txt"), "alpha beta\n").expect("write");
    fs::write(root.join("a/one.rst"), "beta gamma\n.. skipped line\n").expect("write");
    fs::write(root.join("a/b/c/deep.txt"), "gamma delta Gamma\n").expect("write");
    let out = stdout_of(&["--format", "tsv", &root.display().to_string()]);
    assert_eq!(out, "gamma\t3\nbeta\t2\nalpha\t1\ndelta\t1\n");
    let files = ["top.txt", "a/one.rst", "a/b/c/deep.txt"].map(|f| root.join(f));
    let mut args = vec!["--format".to_owned(), "tsv".to_owned()];
    args.extend(files.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(stdout_of(&args), out);
}

#[test]
fn many_chunks_equal_one_chunk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.txt");
    let corpus: String = wordcount::CORPUS.iter().map(|f| f.text).collect();
    // CRLF and lone CR line ends, multi-byte characters, 0.5 MB.
    let text = format!(
        "{corpus}\r\nΟΔΟΣ naïve 中文\r\n{}",
        corpus.replace('\n', "\r")
    )
    .repeat(10);
    fs::write(&path, &text).expect("write");
    let p = path.display().to_string();
    let one = stdout_of(&[
        "--format",
        "tsv",
        "--workers",
        "1",
        "--chunk-size",
        "1G",
        &p,
    ]);
    for (workers, size) in [("2", "1"), ("2", "100"), ("3", "4096"), ("1", "64K")] {
        let many = stdout_of(&[
            "--format",
            "tsv",
            "--workers",
            workers,
            "--chunk-size",
            size,
            &p,
        ]);
        assert_eq!(many, one, "{workers} workers, {size}-byte chunks");
    }
    let plan = wordcount::plan_with(
        &[&path],
        &wordcount::PlanOptions {
            chunk_size: 100,
            lossy: false,
        },
    )
    .expect("plan");
    assert!(plan.len() > 1000, "{} chunks", plan.len());
}

#[test]
fn pipes_are_read_to_their_end() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wordcount"))
        .args(["--format", "tsv", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all("Piped words, piped\r\nwords and more".as_bytes())
        .expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert_eq!(out.stdout, b"piped\t2\nwords\t2\nmore\t1\n");
}

#[test]
fn usage_errors() {
    // Built with the `mpi` feature, `--executor mpi` is no usage error (tests/mpi.rs runs it).
    if cfg!(not(feature = "mpi")) {
        let out = wordcount(["--executor", "mpi"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("built without MPI support"), "{stderr}");
    }

    for bad in [
        &["--workers", "0"][..],
        &["--format", "xml"],
        &["--chunk-size", "0"],
    ] {
        let out = wordcount(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn progress_flags_do_not_change_the_output() {
    let corpus = crate_dir().join("corpus");
    let c = corpus.display().to_string();
    let plain = stdout_of(&["--format", "tsv", &c]);
    assert_eq!(stdout_of(&["--format", "tsv", "--no-progress", &c]), plain);
    let out = wordcount(["--format", "tsv", "--progress", c.as_str()]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).expect("UTF-8"), plain);
}

#[test]
fn bad_simd_path_is_an_error_before_counting() {
    let run = |value: &str| {
        Command::new(env!("CARGO_BIN_EXE_wordcount"))
            .env("WORDCOUNT_SIMD", value)
            .output()
            .expect("run wordcount")
    };
    let out = run("sse9");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WORDCOUNT_SIMD: unknown path `sse9`"),
        "{stderr}"
    );
    for simd in wordcount::tokenize::Simd::ALL {
        let out = run(simd.name());
        if simd.is_available() {
            assert!(out.status.success(), "{simd}");
            assert_eq!(out.stdout, wordcount(["--top", "20"]).stdout, "{simd}");
        } else {
            assert_eq!(out.status.code(), Some(1), "{simd}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("cannot run the"), "{stderr}");
        }
    }
}
