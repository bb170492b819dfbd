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
