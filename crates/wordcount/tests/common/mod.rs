//! Helpers shared by the integration tests: running the `wordcount` binary
//! and the Python reference script.

#![allow(dead_code, unreachable_pub)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wordcount::tokenize::{SIMD_ENV, Simd};

/// The crate's directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the `wordcount` binary.
pub fn wordcount<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_wordcount"))
        .args(args)
        .output()
        .expect("run the wordcount binary")
}

/// The Python interpreter: `$PYTHON3`, else `python3`.
fn python() -> String {
    std::env::var("PYTHON3").unwrap_or_else(|_| "python3".to_owned())
}

/// Runs a snippet of Python and returns its stdout; fails the test with a
/// clear message when Python is missing.
pub fn python_eval(code: &str) -> String {
    let out = Command::new(python())
        .args(["-c", code])
        .output()
        .unwrap_or_else(|e| missing_python(&e));
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("python output is UTF-8")
}

fn missing_python(e: &std::io::Error) -> ! {
    panic!(
        "these tests compare wordcount with the Python reference \
         (tests/reference/wordcount.py) and need a Python 3 interpreter: \
         cannot run `{}` ({e}); install python3 or set PYTHON3",
        python()
    )
}

/// Python's `unicodedata.unidata_version`.
pub fn python_unicode_version() -> String {
    python_eval("import unicodedata; print(unicodedata.unidata_version)")
        .trim()
        .to_owned()
}

/// The reference script's TSV for `paths` (errors='replace' when `lossy`).
pub fn reference_tsv(paths: &[&Path], lossy: bool) -> Vec<u8> {
    let script = crate_dir().join("tests/reference/wordcount.py");
    let mut cmd = Command::new(python());
    cmd.arg(script);
    if lossy {
        cmd.arg("--lossy");
    }
    let out = cmd
        .args(paths)
        .output()
        .unwrap_or_else(|e| missing_python(&e));
    assert!(
        out.status.success(),
        "reference script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `wordcount --format tsv` of `paths`, which must succeed.
pub fn wordcount_tsv(paths: &[&Path], extra: &[&str]) -> Vec<u8> {
    tsv(paths, extra, None)
}

/// [`wordcount_tsv`] with the tokenizer forced onto `simd` (`WORDCOUNT_SIMD`).
pub fn wordcount_tsv_on(simd: Simd, paths: &[&Path], extra: &[&str]) -> Vec<u8> {
    tsv(paths, extra, Some(simd))
}

fn tsv(paths: &[&Path], extra: &[&str], simd: Option<Simd>) -> Vec<u8> {
    let mut args: Vec<&OsStr> = vec![OsStr::new("--format"), OsStr::new("tsv")];
    args.extend(extra.iter().map(OsStr::new));
    args.extend(paths.iter().map(|p| p.as_os_str()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wordcount"));
    cmd.args(&args);
    if let Some(simd) = simd {
        cmd.env(SIMD_ENV, simd.name());
    }
    let out = cmd.output().expect("run the wordcount binary");
    assert!(
        out.status.success(),
        "wordcount {args:?} (path {simd:?}) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Asserts two TSV outputs are equal byte for byte, showing the first
/// differing lines rather than megabytes of output.
pub fn assert_same_tsv(ours: &[u8], reference: &[u8], what: &str) {
    if ours == reference {
        return;
    }
    let ours = String::from_utf8_lossy(ours);
    let reference = String::from_utf8_lossy(reference);
    let mut a = ours.lines();
    let mut b = reference.lines();
    let mut line = 1;
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            (x, y) => panic!(
                "{what}: wordcount and the Python reference differ at line {line}:\n  \
                 wordcount: {x:?}\n  python:    {y:?}"
            ),
        }
    }
}

/// A small deterministic pseudo-random generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// The processes of the tree rooted at `pid`: `pid` and its descendants.
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
            for task in tasks.flatten() {
                let children =
                    std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
                out.extend(
                    children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
        }
        i += 1;
    }
    out
}

/// A `kB` field of `/proc/<pid>/status`, in bytes.
pub fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Waits for `child` at most `limit`; kills it and fails the test past that.
pub fn wait_bounded(mut child: std::process::Child, limit: std::time::Duration) -> Output {
    let start = std::time::Instant::now();
    loop {
        match child.try_wait().expect("wait for wordcount") {
            Some(_) => return child.wait_with_output().expect("collect output"),
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("wordcount ran past {limit:?}");
            }
            None => std::thread::sleep(std::time::Duration::from_millis(2)),
        }
    }
}

/// Sends `signal` (`STOP`, `CONT`, ...) to `pid` with kill(1).
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -s {signal} {pid}");
}

/// The processes of the tree rooted at `root` that have `path` open, with the file offset
/// of that descriptor.
pub fn readers_of(root: u32, path: &Path) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    for pid in process_tree(root) {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).ok().as_deref() != Some(path) {
                continue;
            }
            let info = std::fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                fd.file_name().to_string_lossy()
            ))
            .unwrap_or_default();
            if let Some(pos) = info
                .lines()
                .find_map(|l| l.strip_prefix("pos:"))
                .and_then(|v| v.trim().parse().ok())
            {
                out.push((pid, pos));
            }
        }
    }
    out
}
