//! Running the implementations that live outside this process: Python scripts, C programs,
//! the Rust peers' programs.
//!
//! Each is run as `PROGRAM FIGURE [--quick] [ARGS...]` and prints one JSON line
//! `{"value": ..., "unit": ...}` on stdout, or `{"unavailable": REASON}` when it cannot run
//! on this machine (the harness reports that, and it is not a failure of the run). Output
//! goes to unlinked temporary files rather
//! than pipes, so that no reader threads are needed (the harness stays single-threaded, which
//! the `fork` start method requires) and a program that runs too long is killed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::figure::{BoxError, Mode, RUST_PEERS};

/// The directory of the Python scripts.
pub(crate) fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// What an external implementation prints.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Reported {
    Value { value: f64, unit: String },
    Unavailable { unavailable: String },
}

/// An implementation that cannot run on this machine, and why (its own words).
#[derive(Debug)]
pub(crate) struct Unavailable(pub(crate) String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not measured here: {}", self.0)
    }
}

impl std::error::Error for Unavailable {}

/// Runs `program args...` and returns the value it reports in `unit`.
pub(crate) fn measure(
    program: &Path,
    args: &[String],
    unit: &str,
    limit: Duration,
) -> Result<f64, BoxError> {
    let (status, stdout, stderr) = run_bounded(program, args, limit)?;
    let shown = || {
        let tail: String = stderr
            .lines()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        format!("{} {}: {tail}", program.display(), args.join(" "))
    };
    if !status {
        return Err(format!("failed: {}", shown()).into());
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| format!("printed nothing: {}", shown()))?;
    let reported: Reported = serde_json::from_str(line)
        .map_err(|e| format!("printed {line:?}, not a result line ({e}): {}", shown()))?;
    let (value, reported_unit) = match reported {
        Reported::Value { value, unit } => (value, unit),
        Reported::Unavailable { unavailable } => return Err(Unavailable(unavailable).into()),
    };
    if reported_unit != unit {
        return Err(
            format!("reported unit {reported_unit:?}, the figure's unit is {unit:?}").into(),
        );
    }
    if !value.is_finite() || value <= 0.0 {
        return Err(format!("reported value {value} is not a positive number").into());
    }
    Ok(value)
}

/// Runs a program to completion (killing it after `limit`); returns (success, stdout, stderr).
pub(crate) fn run_bounded(
    program: &Path,
    args: &[String],
    limit: Duration,
) -> Result<(bool, String, String), BoxError> {
    let mut out = scratch_file()?;
    let mut err = scratch_file()?;
    let mut child = Command::new(program)
        .args(args)
        // Its own process group, so that a timeout kills the program's children too.
        .process_group(0)
        // No __pycache__ directories in the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(err.try_clone()?)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} {} ran longer than {limit:?} and was killed",
                program.display(),
                args.join(" ")
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok((status.success(), read_all(&mut out)?, read_all(&mut err)?))
}

/// An empty file that is already unlinked: it disappears when its last handle closes.
fn scratch_file() -> std::io::Result<File> {
    let path = std::env::temp_dir().join(format!(
        "multiproc-bench-{}-{}",
        std::process::id(),
        SCRATCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

static SCRATCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn read_all(file: &mut File) -> std::io::Result<String> {
    file.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The arguments every external implementation gets: the figure, then `--quick` if quick.
pub(crate) fn standard_args(figure: &str, mode: Mode, extra: &[String]) -> Vec<String> {
    let mut args = vec![figure.to_owned()];
    if mode == Mode::Quick {
        args.push("--quick".to_owned());
    }
    args.extend(extra.iter().cloned());
    args
}

/// Whether `python` runs, with its version for the report.
pub(crate) fn python_version(python: &Path) -> Result<String, BoxError> {
    let (ok, stdout, stderr) = run_bounded(python, &["--version".to_owned()], limit(5))?;
    if !ok {
        return Err(format!("{} --version failed: {stderr}", python.display()).into());
    }
    Ok(format!("{}{}", stdout.trim(), stderr.trim()))
}

fn limit(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// Compiles C peers into the target directory, once per program and run.
#[derive(Debug, Default)]
pub(crate) struct CBuilder {
    built: HashMap<&'static str, Result<PathBuf, String>>,
}

impl CBuilder {
    /// The binary for `program`, compiled from `source` unless an identical build exists.
    pub(crate) fn binary(
        &mut self,
        program: &'static str,
        source: &'static str,
    ) -> Result<PathBuf, String> {
        self.built
            .entry(program)
            .or_insert_with(|| compile(program, source).map_err(|e| e.to_string()))
            .clone()
    }
}

/// `target/<profile>/multiproc-bench-c/`, beside this executable.
fn c_dir() -> Result<PathBuf, BoxError> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or("the executable has no directory")?
        .join("multiproc-bench-c");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn compile(program: &str, source: &str) -> Result<PathBuf, BoxError> {
    let dir = c_dir()?;
    let src = dir.join(format!("{program}.c"));
    let bin = dir.join(program);
    let unchanged = std::fs::read_to_string(&src).is_ok_and(|s| s == source);
    if unchanged && bin.exists() {
        return Ok(bin);
    }
    std::fs::write(&src, source)?;
    let (ok, _, stderr) = run_bounded(
        Path::new("cc"),
        &[
            "-O2".to_owned(),
            "-o".to_owned(),
            bin.display().to_string(),
            src.display().to_string(),
        ],
        limit(60),
    )
    .map_err(|e| format!("cc is not available ({e})"))?;
    if !ok {
        let _ = std::fs::remove_file(&bin);
        return Err(format!("cc failed on {}: {stderr}", src.display()).into());
    }
    Ok(bin)
}

/// Builds the Rust peers' programs (binaries of this package, `peers/`) with cargo on first
/// use, into the directory of this executable and with its profile, so that a
/// `cargo run --release -p multiproc-bench` measures peers built from the same sources. Cargo
/// finds nothing to do when they are up to date.
#[derive(Debug, Default)]
pub(crate) struct RustBuilder {
    built: Option<Result<PathBuf, String>>,
}

/// How long building the peers' programs may take (their dependencies the first time).
const BUILD_LIMIT: Duration = Duration::from_secs(1200);

impl RustBuilder {
    /// The path of `program`, building all the peers' programs the first time.
    pub(crate) fn binary(&mut self, program: &str, quiet: bool) -> Result<PathBuf, String> {
        let dir = self
            .built
            .get_or_insert_with(|| build_peers(quiet).map_err(|e| e.to_string()))
            .clone()?;
        Ok(dir.join(program))
    }
}

fn build_peers(quiet: bool) -> Result<PathBuf, BoxError> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or("the executable has no directory")?;
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(name) => name,
        None => return Err("the executable's directory has no name".into()),
    };
    let target_dir = dir
        .parent()
        .ok_or("the executable is not in a target directory")?;
    // `cargo run` tells the program which cargo it is; otherwise the one on PATH.
    let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
    let mut args: Vec<String> = [
        "build",
        "--quiet",
        "--manifest-path",
        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        "--profile",
        profile,
        "--target-dir",
    ]
    .map(str::to_owned)
    .into();
    args.push(target_dir.display().to_string());
    for peer in RUST_PEERS {
        args.extend(["--bin".to_owned(), peer.program.to_owned()]);
    }
    if !quiet {
        let names: Vec<_> = RUST_PEERS
            .iter()
            .map(|p| format!("{} {}", p.name, p.version))
            .collect();
        eprintln!("building the Rust peers' programs: {}", names.join(", "));
    }
    let (ok, _, stderr) = run_bounded(&cargo, &args, BUILD_LIMIT)
        .map_err(|e| format!("cannot run {} ({e})", cargo.display()))?;
    if !ok {
        return Err(format!("{} {} failed: {stderr}", cargo.display(), args.join(" ")).into());
    }
    Ok(dir.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, unit: &str, limit: Duration) -> Result<f64, BoxError> {
        measure(
            Path::new("sh"),
            &["-c".to_owned(), script.to_owned()],
            unit,
            limit,
        )
    }

    const LIMIT: Duration = Duration::from_secs(10);

    #[test]
    fn reads_the_last_result_line() {
        let v = sh(
            r#"echo noise; echo '{"value": 1.5, "unit": "ms"}'; echo progress >&2"#,
            "ms",
            LIMIT,
        )
        .unwrap();
        assert_eq!(v, 1.5);
    }

    #[test]
    fn a_different_unit_is_an_error() {
        let e = sh(r#"echo '{"value": 1.5, "unit": "s"}'"#, "ms", LIMIT).unwrap_err();
        assert!(e.to_string().contains("unit"), "{e}");
    }

    #[test]
    fn a_failing_program_is_an_error_with_its_stderr() {
        let e = sh("echo 'Traceback: boom' >&2; exit 3", "ms", LIMIT).unwrap_err();
        assert!(e.to_string().contains("boom"), "{e}");
    }

    #[test]
    fn output_that_is_not_a_result_is_an_error() {
        let e = sh("echo 12", "ms", LIMIT).unwrap_err();
        assert!(e.to_string().contains("not a result line"), "{e}");
        let e = sh(r#"echo '{"value": -1, "unit": "ms"}'"#, "ms", LIMIT).unwrap_err();
        assert!(e.to_string().contains("not a positive number"), "{e}");
    }

    #[test]
    fn an_unavailable_implementation_says_why_and_is_no_value() {
        let e = sh(
            r#"echo '{"unavailable": "needs an older compiler"}'"#,
            "ms",
            LIMIT,
        )
        .unwrap_err();
        let why = e
            .downcast_ref::<Unavailable>()
            .expect("an Unavailable error");
        assert_eq!(why.0, "needs an older compiler");
    }

    #[test]
    fn a_program_that_runs_too_long_is_killed() {
        let start = Instant::now();
        let e = sh("sleep 30 & sleep 30", "ms", Duration::from_millis(200)).unwrap_err();
        assert!(e.to_string().contains("killed"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn standard_args_put_the_figure_first() {
        assert_eq!(
            standard_args("a.b", Mode::Quick, &["x".to_owned()]),
            ["a.b", "--quick", "x"]
        );
        assert_eq!(standard_args("a.b", Mode::Full, &[]), ["a.b"]);
    }
}
