//! `wordcount --executor mpi` gives output identical to the local run: under `mpirun -np 3`,
//! as a singleton that spawns its worker ranks, and with a hostfile listing localhost twice.
//!
//! Built only with `--features mpi` (it needs Open MPI: `scripts/install-mpi.sh`); run with
//! `cargo test -p wordcount --features mpi --test mpi`. Every run is bounded by `timeout`.
#![cfg(feature = "mpi")]

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

/// One MPI job at a time: each uses every core.
static SERIAL: Mutex<()> = Mutex::new(());

/// `program args`, bounded by `timeout`, with Open MPI allowed to run as root and to put more
/// ranks than cores on this machine.
fn bounded(program: &str) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=5", "60", program])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1");
    cmd
}

fn stdout_of(mut cmd: Command) -> String {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = cmd.output().expect("run wordcount");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

const WORDCOUNT: &str = env!("CARGO_BIN_EXE_wordcount");

fn local(args: &[&str]) -> String {
    let mut cmd = bounded(WORDCOUNT);
    cmd.args(args);
    stdout_of(cmd)
}

fn mpirun(before: &[&str], args: &[&str]) -> String {
    let mut cmd = bounded("mpirun");
    cmd.args(before)
        .args(["-np", "3", WORDCOUNT, "--executor", "mpi"])
        .args(args);
    stdout_of(cmd)
}

fn singleton(args: &[&str]) -> String {
    let mut cmd = bounded(WORDCOUNT);
    cmd.args(["--executor", "mpi", "--workers", "2"]).args(args);
    stdout_of(cmd)
}

/// A few files, one of them large enough to be cut into many chunks.
fn corpus(dir: &Path) -> Vec<String> {
    let words = [
        "Process", "pool", "Queue", "lock", "event", "manager", "the", "naïve", "Straße", "don't",
    ];
    let mut paths = Vec::new();
    for (f, lines) in [(0usize, 40usize), (1, 3000), (2, 7)] {
        let text: String = (0..lines)
            .map(|l| {
                let line: Vec<&str> = (0..12)
                    .map(|i| words[(l * 7 + i * i + f) % words.len()])
                    .collect();
                format!("{}\n", line.join(" "))
            })
            .collect();
        let path = dir.join(format!("part-{f}.txt"));
        std::fs::write(&path, text).unwrap();
        paths.push(path.display().to_string());
    }
    paths
}

#[test]
fn the_built_in_corpus_counts_the_same_in_every_mode() {
    let expected = local(&[]);
    assert!(
        expected.starts_with("TOP 20 WORDS BY FREQUENCY"),
        "{expected}"
    );
    assert_eq!(mpirun(&[], &[]), expected);
    assert_eq!(singleton(&[]), expected);
}

#[test]
fn files_in_many_chunks_count_the_same_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let mut args = vec!["--format", "tsv", "--chunk-size", "8K"];
    args.extend(files.iter().map(String::as_str));
    let expected = local(&args);
    assert!(expected.lines().count() >= 8, "{expected}");
    assert_eq!(mpirun(&[], &args), expected, "under mpirun -np 3");
    assert_eq!(singleton(&args), expected, "spawned from a singleton");
    let hostfile = dir.path().join("hostfile");
    std::fs::write(&hostfile, "localhost\nlocalhost\n").unwrap();
    let hostfile = hostfile.display().to_string();
    assert_eq!(
        mpirun(&["--hostfile", &hostfile], &args),
        expected,
        "with a hostfile listing localhost twice"
    );
    let mut json = vec!["--format", "json"];
    json.extend(files.iter().map(String::as_str));
    assert_eq!(mpirun(&[], &json), local(&json), "json under mpirun");
}

#[test]
fn a_missing_file_is_the_same_error_as_in_the_local_run() {
    let out = Command::new("timeout")
        .args([
            "60",
            WORDCOUNT,
            "--executor",
            "mpi",
            "--workers",
            "1",
            "/nonexistent/file",
        ])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .unwrap();
    let local = Command::new(WORDCOUNT)
        .arg("/nonexistent/file")
        .output()
        .unwrap();
    assert!(!out.status.success() && !local.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&local.stderr)
    );
}

#[test]
fn inputs_read_once_are_read_by_the_driver_rank() {
    // Under mpirun, only rank 0 gets the standard input, and `/proc/self` of a worker rank is
    // that rank: both are read by the driver, as in the local run. A file of many chunks
    // beside them is counted by the worker ranks.
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let args = [
        "--format",
        "tsv",
        "--chunk-size",
        "8K",
        "/dev/stdin",
        "/proc/self/status",
    ];
    let run = |mut cmd: Command| {
        let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let out = cmd
            .args(args)
            .arg(&files[1])
            .stdin(std::fs::File::open(&files[0]).unwrap())
            .output()
            .expect("run wordcount");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let mut mpi = bounded("mpirun");
    mpi.args(["-np", "3", WORDCOUNT, "--executor", "mpi"]);
    let mut plain = bounded(WORDCOUNT);
    plain.args(["--workers", "2"]);
    let (mpi, plain) = (run(mpi), run(plain));
    let count = |tsv: &str, word: &str| {
        tsv.lines()
            .find_map(|l| l.strip_prefix(word)?.strip_prefix('\t'))
            .map(|n| n.parse::<u64>().unwrap())
    };
    for word in ["process", "pool", "queue", "naïve"] {
        assert_eq!(count(&mpi, word), count(&plain, word), "{word}");
        assert!(count(&mpi, word).is_some_and(|n| n > 100), "{word}: {mpi}");
    }
    assert_eq!(count(&mpi, "wordcount"), Some(1), "{mpi}");
}
