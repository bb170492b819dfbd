//! `wordcount`: the word frequencies of files, as the "Counting Words in
//! Files" MapReduce example of the multiprocessing chapter of *Python Module
//! of the Week* computes them.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use wordcount::report::{Format, write_report};
use wordcount::{
    Dispatch, Error, PlanOptions, RunError, Source, count_on, embedded_sources, plan_with,
};

/// Counts words the way the multiprocessing chapter's MapReduce example does:
/// lines starting with `..` are skipped, punctuation becomes space, words are
/// lowercased and kept when alphabetic and not stop words (Python 3
/// semantics).
#[derive(Debug, Parser)]
#[command(name = "wordcount", version)]
struct Cli {
    /// Files or directories (walked recursively) to count; the chapter's own
    /// source, built in, when none is given.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Number of worker processes [default: the available parallelism].
    #[arg(long, short = 'j', value_name = "N")]
    workers: Option<NonZeroUsize>,

    /// Number of words in the `text` table.
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,

    /// Output format: `text` is the chapter's table of the top words; `tsv`
    /// and `json` list all words, by count descending then word ascending.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,

    /// Where the map and reduce steps run.
    #[arg(long, value_enum, default_value_t = Executor::Local)]
    executor: Executor,

    /// Show a progress bar (by bytes) on stderr [default: only when stderr
    /// is a terminal].
    #[arg(long, overrides_with = "no_progress")]
    progress: bool,

    /// Never show a progress bar.
    #[arg(long, overrides_with = "progress")]
    no_progress: bool,

    /// Replace invalid UTF-8 by U+FFFD, as Python's `errors='replace'` does,
    /// instead of failing.
    #[arg(long)]
    lossy: bool,

    /// Target size of the chunks large files are split into, at line
    /// boundaries: bytes, or with a K, M or G suffix (powers of 1024).
    #[arg(long, value_name = "SIZE", default_value = "4M", value_parser = parse_size)]
    chunk_size: u64,

    /// With `--executor mpi`: seconds of silence after which an MPI rank is given up on
    /// (a worker rank that owes a result, by the driver; the driver, by its worker ranks).
    /// Keep it above Open MPI's OOB keepalive bound (11 s with the project's settings).
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = parse_seconds)]
    mpi_timeout: f64,
}

/// Parses a positive number of seconds.
fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x < 1e9 => Ok(x),
        _ => Err(format!("`{s}` is not a positive number of seconds")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// The chapter's table of the top words.
    Text,
    /// `word<TAB>count` lines, all words.
    Tsv,
    /// A JSON array of {"word", "count"} objects, all words.
    Json,
}

impl From<OutputFormat> for Format {
    fn from(f: OutputFormat) -> Self {
        match f {
            OutputFormat::Text => Format::Text,
            OutputFormat::Tsv => Format::Tsv,
            OutputFormat::Json => Format::Json,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Executor {
    /// Worker processes on this machine.
    Local,
    /// MPI ranks: those of `mpirun -np N`, or `--workers` ranks spawned
    /// when started alone (needs a build with `--features mpi`).
    Mpi,
}

/// Parses `4096`, `64K`, `4M`, `1G` (also `4MiB`, `4mb`): powers of 1024.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(digits_end);
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => return Err(format!("`{t}`: unknown size unit (use K, M or G)")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{t}` is not a size in bytes"))?;
    let size = n
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{t}` is too large"))?;
    if size == 0 {
        return Err("the chunk size must be at least 1 byte".to_owned());
    }
    Ok(size)
}

fn main() -> ExitCode {
    // First: in a worker process this runs the worker and never returns.
    multiproc::init();
    let cli = Cli::parse();
    // A tokenizer path forced by the environment must exist before any worker counts (under
    // `mpirun`, every rank checks it before MPI starts).
    if let Err(e) = wordcount::tokenize::Simd::from_env() {
        return exit(Err(e.into()));
    }
    #[cfg(feature = "mpi")]
    if cli.executor == Executor::Mpi {
        // Before anything else: on worker ranks this serves and never returns.
        let mpi = multiproc_mpi::init();
        return exit(run_mpi(&cli, mpi));
    }
    exit(run(&cli))
}

/// Why the program failed.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// `--executor mpi` in a build without MPI.
    #[error(
        "the `mpi` executor is not available: wordcount was built without MPI support \
         (build it with `--features mpi`)"
    )]
    #[cfg_attr(feature = "mpi", allow(dead_code))]
    NoMpi,
    /// `WORDCOUNT_SIMD` names a path that cannot run.
    #[error(transparent)]
    Simd(#[from] wordcount::tokenize::SimdError),
    /// Planning failed.
    #[error(transparent)]
    Plan(#[from] Error),
    /// The workers could not be started.
    #[error("cannot start the workers")]
    Start(#[source] Box<dyn std::error::Error>),
    /// Counting failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The report could not be written.
    #[error("cannot write the output")]
    Output(#[source] io::Error),
}

/// The exit status of `result`, after printing the error, if any, on stderr.
fn exit(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("wordcount: error: {}", describe(&failure));
            ExitCode::FAILURE
        }
    }
}

/// The message of `failure` followed by those of its causes, each once, and a hint for
/// invalid UTF-8.
fn describe(failure: &Failure) -> String {
    let mut message = failure.to_string();
    let mut invalid_utf8 = matches!(
        failure,
        Failure::Plan(Error::InvalidUtf8 { .. })
            | Failure::Run(RunError::Input(Error::InvalidUtf8 { .. }))
    );
    let mut cause = std::error::Error::source(failure);
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        invalid_utf8 |= matches!(c.downcast_ref::<Error>(), Some(Error::InvalidUtf8 { .. }));
        cause = c.source();
    }
    if invalid_utf8 {
        message.push_str(" (pass --lossy to replace invalid sequences)");
    }
    message
}

fn run(cli: &Cli) -> Result<(), Failure> {
    if cli.executor == Executor::Mpi {
        return Err(Failure::NoMpi);
    }
    let sources = sources(cli)?;
    let workers = cli.workers.unwrap_or_else(wordcount::default_workers).get();
    let pool = multiproc::Pool::new(workers).map_err(|e| Failure::Start(Box::new(e)))?;
    count_and_report(cli, &pool, Dispatch::Claim, sources)
}

/// Counts on MPI ranks: those of `mpirun -np N`, or, started alone, `--workers` spawned ones.
/// The ranks open the files by the paths given: on a cluster, a shared file system.
#[cfg(feature = "mpi")]
fn run_mpi(cli: &Cli, mpi: multiproc_mpi::Mpi) -> Result<(), Failure> {
    let workers = cli.workers.unwrap_or_else(wordcount::default_workers).get();
    let executor = mpi
        .timeout(Duration::from_secs_f64(cli.mpi_timeout))
        .executor_or_spawn(workers)
        .map_err(|e| Failure::Start(Box::new(e)))?;
    let sources = sources(cli)?;
    count_and_report(cli, &executor, Dispatch::Groups, sources)
}

/// What to count: the files given, cut into chunks, or the built-in corpus.
fn sources(cli: &Cli) -> Result<Vec<Source>, Error> {
    if cli.paths.is_empty() {
        return Ok(embedded_sources());
    }
    let options = PlanOptions {
        chunk_size: cli.chunk_size,
        lossy: cli.lossy,
    };
    let chunks = plan_with(&cli.paths, &options)?;
    Ok(chunks.into_iter().map(Source::File).collect())
}

/// Counts `sources` on `executor` with a progress bar, and writes the report on stdout.
fn count_and_report<E: multiproc::Executor>(
    cli: &Cli,
    executor: &E,
    dispatch: Dispatch,
    sources: Vec<Source>,
) -> Result<(), Failure> {
    let total: u64 = sources.iter().filter_map(Source::len).sum();
    let bar = progress_bar(cli, total);
    let inc = |n| bar.inc(n);
    // Nobody watches a hidden bar: no thread to feed it.
    let progress: Option<&(dyn Fn(u64) + Sync)> = (!bar.is_hidden()).then_some(&inc);
    let counts = count_on(executor, sources, dispatch, progress);
    bar.finish_and_clear();
    let sorted = counts?.into_sorted();
    let mut out = BufWriter::with_capacity(64 << 10, io::stdout().lock());
    match write_report(&mut out, &sorted, cli.format.into(), cli.top).and_then(|()| out.flush()) {
        // A reader that stopped early (`| head`) is no error.
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Failure::Output(e)),
        _ => Ok(()),
    }
}

fn progress_bar(cli: &Cli, total: u64) -> ProgressBar {
    let target = if cli.no_progress {
        ProgressDrawTarget::hidden()
    } else if cli.progress && !io::stderr().is_terminal() {
        ProgressDrawTarget::term_like(Box::new(StderrLines::default()))
    } else {
        // Hidden by indicatif itself unless stderr is a terminal.
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Draws a forced progress bar on a stderr that is not a terminal (a log
/// file, say): a plain line at most once a second, no cursor movements.
#[derive(Debug, Default)]
struct StderrLines {
    last: Mutex<Option<Instant>>,
}

impl StderrLines {
    fn line(&self, s: &str) -> io::Result<()> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if s.is_empty() || last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return Ok(());
        }
        *last = Some(Instant::now());
        writeln!(io::stderr(), "{s}")
    }
}

impl TermLike for StderrLines {
    fn width(&self) -> u16 {
        80
    }

    fn move_cursor_up(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_down(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_right(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_left(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        self.line(s)
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        self.line(s)
    }

    fn clear_line(&self) -> io::Result<()> {
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("4M"), Ok(4 << 20));
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("7b"), Ok(7));
        assert!(parse_size("0").is_err());
        assert!(parse_size("4X").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("30"), Ok(30.0));
        assert_eq!(parse_seconds("0.5"), Ok(0.5));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("soon").is_err());
    }

    #[test]
    fn errors_are_described_with_their_causes_once() {
        let input = Failure::Run(RunError::Input(Error::InvalidUtf8 {
            path: "a.txt".into(),
            offset: 3,
        }));
        assert_eq!(
            describe(&input),
            "a.txt: invalid UTF-8 at byte offset 3 (pass --lossy to replace invalid sequences)"
        );
        let task = Failure::Run(RunError::Executor(multiproc::PoolError::Task {
            index: 1,
            error: multiproc::TaskError::Failed("no such function".into()),
        }));
        assert_eq!(
            describe(&task),
            "the workers failed: task 1 failed: task could not run: no such function"
        );
        let start = Failure::Start(Box::new(multiproc::PoolError::Executor(Box::new(
            io::Error::other("no ranks"),
        ))));
        assert_eq!(describe(&start), "cannot start the workers: no ranks");
        let output = Failure::Output(io::Error::other("disk full"));
        assert_eq!(describe(&output), "cannot write the output: disk full");
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
