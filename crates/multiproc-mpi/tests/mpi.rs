//! The MPI executor end to end: the examples run under `mpirun -np 3`, as a singleton that
//! spawns its workers, and with a hostfile, and are checked against the local pool's results
//! from the same run; then the failures: panics, crashing tasks, a rank that dies, a rank that
//! falls silent, and a rank that runs a different executable.
//!
//! Needs Open MPI (`scripts/install-mpi.sh`). Every run is bounded by `timeout`; the runs are
//! serialized, since each uses every core.
//!
//! The same tests run across the nodes of a simulated cluster (`scripts/test-cluster.sh`):
//! there Open MPI's default hostfile (`OMPI_MCA_orte_default_hostfile`) lists the nodes, and
//! files that every rank reads go to `MULTIPROC_MPI_SHARED_DIR`, a directory that every node
//! sees (each node has a /tmp of its own).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One MPI job at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// The longest any one job may take.
const LIMIT: Duration = Duration::from_secs(60);

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/<this test> → target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("the test's path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the target directory")
        .join("examples")
        .join(name);
    assert!(path.exists(), "{} is not built", path.display());
    path
}

/// `program args`, bounded by `timeout`, with Open MPI allowed to run as root and to put
/// more ranks than cores on this machine.
fn bounded(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=5", &LIMIT.as_secs().to_string()])
        .arg(program)
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1");
    cmd
}

fn mpirun(np: usize, example_name: &str, args: &[&str]) -> Command {
    let mut cmd = bounded("mpirun", &["-np", &np.to_string()]);
    cmd.arg(example(example_name)).args(args);
    cmd
}

fn singleton(example_name: &str, args: &[&str]) -> Command {
    bounded(example(example_name), args)
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

fn run(mut cmd: Command) -> Run {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run the job");
    let run = Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        took: started.elapsed(),
    };
    assert_ne!(run.code, Some(124), "timed out:\n{}", run.describe());
    run
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.took, self.stdout, self.stderr
        )
    }

    fn line(&self, prefix: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?}:\n{}", self.describe()))
    }

    /// The silences reported on stderr ("… sent nothing for 2.3 s …"), in seconds, with the
    /// text before each on its line.
    fn silences(&self) -> Vec<(&str, f64)> {
        self.stderr
            .lines()
            .filter_map(|l| {
                let (before, after) = l.split_once(" sent nothing for ")?;
                let secs = after.split_once(" s")?.0.parse().ok()?;
                Some((before, secs))
            })
            .collect()
    }

    /// Some line reports a silence, of at least `timeout` (no upper bound: a loaded machine
    /// may look later than the timeout), from a speaker whose text contains `who`.
    fn assert_silence(&self, who: &str, timeout: f64) {
        assert!(
            self.silences()
                .iter()
                .any(|(before, secs)| before.contains(who) && *secs >= timeout),
            "no silence of {timeout} s or more from {who:?}:\n{}",
            self.describe()
        );
    }

    /// The example succeeded, and its MPI and local results are equal.
    fn assert_equal(&self) {
        assert_eq!(self.code, Some(0), "{}", self.describe());
        assert_eq!(self.line("equal:"), "equal: true", "{}", self.describe());
        let mpi = self.line("mpi:").trim_start_matches("mpi:").trim();
        let local = self.line("local:").trim_start_matches("local:").trim();
        assert_eq!(mpi, local, "{}", self.describe());
    }
}

const SQUARES: &str = "1000 results, sum 332833500, errors []";

#[test]
fn mpirun_np3_map_equals_the_local_pool() {
    let r = run(mpirun(3, "mpi_map", &[]));
    r.assert_equal();
    // Ranks 1 and 2 on the second and third slots of the hostfile (here: this host).
    let slots = slots();
    assert_eq!(
        r.line("workers:"),
        format!("workers: 2 (mpirun, hosts: {}, {})", slots[1], slots[2])
    );
    assert!(r.line("mpi:").ends_with(SQUARES), "{}", r.describe());
    assert_eq!(r.line("again:"), "again: 0 and [0, 1, 4, 9, 16]");
}

#[test]
fn a_singleton_spawns_its_workers_and_map_equals_the_local_pool() {
    let r = run(singleton("mpi_map", &["--spawn", "2"]));
    r.assert_equal();
    assert!(
        r.line("workers:").starts_with("workers: 2 (spawned"),
        "{}",
        r.describe()
    );
    assert!(r.line("mpi:").ends_with(SQUARES), "{}", r.describe());
    assert_eq!(r.line("again:"), "again: 0 and [0, 1, 4, 9, 16]");
}

#[test]
fn a_hostfile_listing_localhost_twice() {
    let dir = tempfile::tempdir().unwrap();
    let hostfile = dir.path().join("hostfile");
    std::fs::write(&hostfile, "localhost\nlocalhost\n").unwrap();
    let mut cmd = bounded("mpirun", &["--hostfile"]);
    cmd.arg(&hostfile)
        .args(["-np", "3"])
        .arg(example("mpi_map"));
    let r = run(cmd);
    r.assert_equal();
    assert!(
        r.line("workers:").starts_with("workers: 2 (mpirun"),
        "{}",
        r.describe()
    );
}

#[test]
fn panics_come_back_as_task_errors() {
    let r = run(mpirun(3, "mpi_map", &["--panic"]));
    r.assert_equal();
    assert!(
        r.line("mpi:").ends_with("errors [13: panicked: thirteen]"),
        "{}",
        r.describe()
    );
}

#[test]
fn a_task_that_aborts_is_a_task_error_and_the_run_goes_on() {
    for cmd in [
        mpirun(3, "mpi_map", &["--abort"]),
        singleton("mpi_map", &["--abort", "--spawn", "2"]),
    ] {
        let r = run(cmd);
        r.assert_equal();
        // SIGABRT is signal 6; the other 999 tasks ran.
        assert!(
            r.line("mpi:").ends_with("errors [13: died: -6]"),
            "{}",
            r.describe()
        );
        assert!(
            r.line("mpi:")
                .starts_with("mpi:   1000 results, sum 332833331"),
            "{}",
            r.describe()
        );
    }
}

#[test]
fn a_rank_that_dies_under_mpirun_ends_the_job_within_bounds() {
    let r = run(mpirun(3, "mpi_map", &["--kill-rank"]));
    assert_ne!(r.code, Some(0), "{}", r.describe());
    assert!(r.took < Duration::from_secs(20), "{}", r.describe());
    // The driver says it, or Open MPI does (whichever comes first), naming the rank.
    let ours = r.stderr.contains("died");
    let open_mpi = r.stderr.contains("exited on signal 9");
    assert!(ours || open_mpi, "{}", r.describe());
    assert!(!r.stdout.contains("mpi:"), "{}", r.describe());
}

#[test]
fn a_spawned_rank_that_dies_fails_the_run_with_a_clear_error() {
    let r = run(singleton("mpi_map", &["--kill-rank", "--spawn", "2"]));
    assert_ne!(r.code, Some(0), "{}", r.describe());
    assert!(r.took < Duration::from_secs(20), "{}", r.describe());
    let ours = r.code == Some(1)
        && r.stderr.contains("mpi_map: the MPI map failed: MPI rank ")
        && r.stderr.contains(" died");
    // A rank on another node: the driver cannot see it die (it would see it fall silent),
    // and Open MPI ends the job first, naming the rank and its node.
    let open_mpi = across_nodes() && r.stderr.contains("exited on signal 9");
    assert!(ours || open_mpi, "{}", r.describe());
}

#[test]
fn a_silent_rank_fails_the_run_after_the_timeout() {
    for cmd in [
        mpirun(3, "mpi_map", &["--stop-rank", "--timeout", "2"]),
        singleton(
            "mpi_map",
            &["--stop-rank", "--timeout", "2", "--spawn", "2"],
        ),
    ] {
        let r = run(cmd);
        assert_ne!(r.code, Some(0), "{}", r.describe());
        r.assert_silence("MPI rank ", 2.0);
        assert!(
            r.took >= Duration::from_secs(2) && r.took < Duration::from_secs(20),
            "{}",
            r.describe()
        );
    }
}

#[test]
fn a_rank_running_a_different_executable_is_sent_nothing() {
    let dir = shared_dir();
    let other = dir.path().join("mpi_map_other");
    // The same program, one byte longer: another build as far as the fingerprint goes.
    let mut bytes = std::fs::read(example("mpi_map")).unwrap();
    bytes.push(0);
    std::fs::write(&other, bytes).unwrap();
    std::fs::set_permissions(&other, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut cmd = bounded("mpirun", &["-np", "2"]);
    cmd.arg(example("mpi_map"))
        .args(["--panic", ":", "-np", "1"])
        .arg(&other)
        .arg("--panic");
    let r = run(cmd);
    assert_ne!(r.code, Some(0), "{}", r.describe());
    // The driver refuses to start; the odd rank says it runs nothing.
    assert!(
        r.stderr.contains("mpi_map: MPI rank 2 (pid ")
            && r.stderr
                .contains("runs a different executable than the driver"),
        "{}",
        r.describe()
    );
    assert!(
        r.stderr.contains("multiproc-mpi: rank 2 "),
        "{}",
        r.describe()
    );
    assert!(r.stderr.contains("it runs nothing"), "{}", r.describe());
    // No task ran anywhere: task 13 would have panicked with "thirteen".
    assert!(!r.stdout.contains("mpi:"), "{}", r.describe());
    assert!(!r.stderr.contains("thirteen"), "{}", r.describe());
}

/// A few files of words, for the MapReduce word count.
fn corpus(dir: &std::path::Path) -> Vec<String> {
    let words = [
        "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
    ];
    (0..6)
        .map(|f| {
            let text: Vec<&str> = (0..(500 + f * 97))
                .map(|i| words[(i * i + f) % words.len()])
                .collect();
            let path = dir.join(format!("part-{f}.txt"));
            std::fs::write(&path, text.join(" ")).unwrap();
            path.display().to_string()
        })
        .collect()
}

#[test]
fn mapreduce_word_count_equals_the_local_pool_in_both_modes() {
    let dir = shared_dir();
    let files = corpus(dir.path());
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let mut spawn_args = vec!["--spawn", "2"];
    spawn_args.extend(&files);
    for cmd in [
        mpirun(3, "mpi_wordcount", &files),
        singleton("mpi_wordcount", &spawn_args),
    ] {
        let r = run(cmd);
        r.assert_equal();
        assert_eq!(r.line("workers:"), "workers: 2, files: 6");
        assert!(
            r.line("mpi:").starts_with("mpi:   8 words; top: "),
            "{}",
            r.describe()
        );
    }
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// Whether Open MPI's default hostfile places ranks on several nodes.
fn across_nodes() -> bool {
    std::env::var_os("OMPI_MCA_orte_default_hostfile").is_some()
}

/// The host of each slot, in the order Open MPI fills them: from the default hostfile if
/// there is one (`node slots=N` lines), else this host.
fn slots() -> Vec<String> {
    let Some(path) = std::env::var_os("OMPI_MCA_orte_default_hostfile") else {
        return vec![host(); 3];
    };
    let text = std::fs::read_to_string(path).expect("the default hostfile");
    let mut slots = Vec::new();
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        let Some(node) = words.next().filter(|w| !w.starts_with('#')) else {
            continue;
        };
        let n = words
            .find_map(|w| w.strip_prefix("slots="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        slots.extend(std::iter::repeat_n(node.to_owned(), n));
    }
    slots
}

/// A temporary directory that every rank can read: in `MULTIPROC_MPI_SHARED_DIR` if set
/// (on a cluster, a shared file system), else the system's.
fn shared_dir() -> tempfile::TempDir {
    match std::env::var_os("MULTIPROC_MPI_SHARED_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("a temporary directory")
}

#[test]
fn a_task_that_hangs_times_out_alone_as_on_the_local_pool() {
    let args = ["--hang", "--task-timeout", "1000", "--tasks", "100"];
    let mut spawn = args.to_vec();
    spawn.extend(["--spawn", "2"]);
    for cmd in [mpirun(3, "mpi_map", &args), singleton("mpi_map", &spawn)] {
        let r = run(cmd);
        r.assert_equal();
        // Only task 13 failed: the tasks queued behind it on its rank ran in full.
        assert!(
            r.line("mpi:").ends_with("errors [13: timed out after 1s]"),
            "{}",
            r.describe()
        );
        assert!(r.took < Duration::from_secs(40), "{}", r.describe());
    }
}

#[test]
fn worker_ranks_give_up_on_a_driver_that_falls_silent() {
    for cmd in [
        mpirun(3, "mpi_map", &["--stop-driver", "--timeout", "2"]),
        singleton(
            "mpi_map",
            &["--stop-driver", "--timeout", "2", "--spawn", "2"],
        ),
    ] {
        let started = Instant::now();
        let r = run(cmd);
        assert_ne!(r.code, Some(0), "{}", r.describe());
        assert!(r.stdout.contains("mpi:   1000 results"), "{}", r.describe());
        // Each worker names the driver and how long it was silent, then exits.
        r.assert_silence("): the driver (pid ", 2.0);
        assert!(
            r.stderr.contains("multiproc-mpi: rank "),
            "{}",
            r.describe()
        );
        assert!(
            started.elapsed() >= Duration::from_secs(2) && r.took < Duration::from_secs(30),
            "{}",
            r.describe()
        );
    }
}

#[test]
fn worker_ranks_wait_for_a_driver_busy_between_calls() {
    // The driver does something else for 7 s, more than twice the 3 s silence timeout: its
    // heartbeat thread keeps the workers waiting, and the second call works. (A timeout of
    // 1 s failed under load: a rank took longer than that to answer the driver's check.)
    for cmd in [
        mpirun(3, "mpi_map", &["--pause-ms", "7000", "--timeout", "3"]),
        singleton(
            "mpi_map",
            &["--pause-ms", "7000", "--timeout", "3", "--spawn", "2"],
        ),
    ] {
        let r = run(cmd);
        r.assert_equal();
        assert!(!r.stderr.contains("sent nothing"), "{}", r.describe());
    }
}
