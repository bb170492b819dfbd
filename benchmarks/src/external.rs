//! Running the implementations that live outside this process: Python scripts, C programs.
//!
//! Each is run as `PROGRAM FIGURE [--quick] [ARGS...]` and prints one JSON line
//! `{"value": ..., "unit": ...}` on stdout. Output goes to unlinked temporary files rather
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

use crate::figure::{BoxError, Mode};

/// The directory of the Python scripts.
pub(crate) fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// What an external implementation prints.
#[derive(Debug, Deserialize)]
struct Reported {
    value: f64,
    unit: String,
}

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
    if reported.unit != unit {
        return Err(format!(
            "reported unit {:?}, the figure's unit is {unit:?}",
            reported.unit
        )
        .into());
    }
    if !reported.value.is_finite() || reported.value <= 0.0 {
        return Err(format!("reported value {} is not a positive number", reported.value).into());
    }
    Ok(reported.value)
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
