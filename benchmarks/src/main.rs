//! `multiproc-bench`: measures multiproc's figures and the same figures for Python's
//! `multiprocessing`, the Rust crates that do the same job (procspawn, ipc-channel,
//! crossmist) and C or other peers, on this machine, in one run, alternating.
//!
//! ```text
//! cargo run --release -p multiproc-bench -- [FIGURE|PREFIX ...] [--quick] [--rounds N]
//!                                           [--list] [--json-only] [--python PATH]
//! ```
//!
//! For each selected figure it runs every implementation once per round, in turn (ours,
//! Python's, the peers; then again), and reports the median of the rounds. It prints one JSON
//! line per figure and implementation,
//! `{"figure":…,"impl":"multiproc"|"python"|…,"value":…,"unit":…,"rounds":…,"min":…,"max":…}`,
//! then a table with the speedups. Figures live in `src/figures/`, one module per group; the
//! Rust peers' programs in `peers/`.

mod external;
mod figure;
mod figures;
mod mode;
mod report;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use external::{CBuilder, RustBuilder, Unavailable};
use figure::{BoxError, Figure, Mode, PeerKind, RUST_PEERS};
use report::{Line, Row};

/// Compare multiproc with Python's multiprocessing, figure by figure.
#[derive(Debug, Parser)]
#[command(name = "multiproc-bench", version)]
struct Args {
    /// Figures to run: full names (start_join.spawn) or group prefixes (start_join). All if
    /// none are given.
    figures: Vec<String>,

    /// Smaller counts and fewer rounds: the whole run takes under a minute.
    #[arg(long)]
    quick: bool,

    /// Rounds per figure (default: 3 with --quick, 7 otherwise).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: Option<u32>,

    /// List the figures and exit (as JSON lines with --json-only).
    #[arg(long)]
    list: bool,

    /// Print only the JSON lines (no table, no progress on stderr).
    #[arg(long)]
    json_only: bool,

    /// The Python interpreter to compare with.
    #[arg(long, default_value = "python3")]
    python: PathBuf,
}

fn main() -> ExitCode {
    multiproc::init();
    let args = Args::parse();
    let all = figures::all();
    if args.list {
        list(&all, args.json_only);
        return ExitCode::SUCCESS;
    }
    let selected = match select(&all, &args.figures) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("multiproc-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let mode = if args.quick { Mode::Quick } else { Mode::Full };
    let rounds = args.rounds.unwrap_or(mode.pick(7, 3)) as usize;
    let mut bench = Bench {
        mode,
        rounds,
        quiet: args.json_only,
        python: match external::python_version(&args.python) {
            Ok(version) => {
                if !args.json_only {
                    eprintln!("comparing with {version} ({})", args.python.display());
                }
                Some(args.python.clone())
            }
            Err(e) => {
                eprintln!("notice: skipping the Python side: {e}");
                None
            }
        },
        c: CBuilder::default(),
        rust: RustBuilder::default(),
        failed: false,
    };
    let mut rows = Vec::new();
    for figure in selected {
        rows.push(bench.run(figure));
    }
    if !args.json_only {
        println!();
        print!("{}", report::table(&rows));
    }
    if bench.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The Rust peers that have no counterpart of `figure`, and why.
fn not_offered(figure: &dyn Figure) -> Vec<(&'static str, &'static str)> {
    RUST_PEERS
        .iter()
        .filter_map(|p| p.lacks(figure.name()).map(|why| (p.name, why)))
        .collect()
}

fn list(all: &[Box<dyn Figure>], json: bool) {
    for f in all {
        let mut impls = vec!["multiproc"];
        if f.python().is_some() {
            impls.push("python");
        }
        let peers = f.peers();
        impls.extend(peers.iter().map(|p| p.name));
        if json {
            let line = serde_json::json!({
                "figure": f.name(),
                "unit": f.unit(),
                "higher_is_better": f.higher_is_better(),
                "impls": impls,
                "not_offered": not_offered(&**f)
                    .into_iter()
                    .collect::<std::collections::BTreeMap<_, _>>(),
            });
            println!("{line}");
            continue;
        }
        let target = f
            .target()
            .map(|t| {
                format!(
                    ", target {} {t}",
                    if f.higher_is_better() { "≥" } else { "≤" }
                )
            })
            .unwrap_or_default();
        println!(
            "{:<24} {} ({} is better{target}; {}): {}",
            f.name(),
            f.unit(),
            if f.higher_is_better() {
                "higher"
            } else {
                "lower"
            },
            impls.join(", "),
            f.description()
        );
    }
}

/// The figures named by `patterns` (full names or group prefixes, `*` allowed at the end), in
/// registry order; all of them if `patterns` is empty.
fn select<'a>(
    all: &'a [Box<dyn Figure>],
    patterns: &[String],
) -> Result<Vec<&'a dyn Figure>, String> {
    if patterns.is_empty() {
        return Ok(all.iter().map(|f| &**f).collect());
    }
    for p in patterns {
        if !all.iter().any(|f| matches(f.name(), p)) {
            let names: Vec<_> = all.iter().map(|f| f.name()).collect();
            return Err(format!(
                "no figure matches {p:?}; the figures are: {}",
                names.join(", ")
            ));
        }
    }
    Ok(all
        .iter()
        .filter(|f| patterns.iter().any(|p| matches(f.name(), p)))
        .map(|f| &**f)
        .collect())
}

fn matches(name: &str, pattern: &str) -> bool {
    let prefix = pattern.trim_end_matches('*').trim_end_matches('.');
    name == pattern
        || name
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.'))
        || (pattern.ends_with('*') && name.starts_with(pattern.trim_end_matches('*')))
}

/// The run's settings and state.
#[derive(Debug)]
struct Bench {
    mode: Mode,
    rounds: usize,
    quiet: bool,
    python: Option<PathBuf>,
    c: CBuilder,
    rust: RustBuilder,
    failed: bool,
}

/// How to run one implementation of a figure for one round.
enum Runner<'a> {
    Ours(&'a dyn Figure),
    External { program: PathBuf, args: Vec<String> },
    Custom(fn(Mode) -> Result<f64, BoxError>),
}

impl Bench {
    /// The time an external implementation may take for one round before it is killed.
    fn limit(&self) -> Duration {
        Duration::from_secs(match self.mode {
            Mode::Quick => 60,
            Mode::Full => 600,
        })
    }

    /// The implementations of `figure` that can run here.
    fn runners<'a>(&mut self, figure: &'a dyn Figure) -> Vec<(String, Runner<'a>)> {
        let mode = self.mode;
        let python_script = |python: &PathBuf, script: &figure::Script| Runner::External {
            program: python.clone(),
            args: std::iter::once(
                external::python_dir()
                    .join(script.file)
                    .display()
                    .to_string(),
            )
            .chain(external::standard_args(figure.name(), mode, &script.args))
            .collect(),
        };
        let mut runners = vec![("multiproc".to_owned(), Runner::Ours(figure))];
        if let (Some(python), Some(script)) = (&self.python, figure.python()) {
            runners.push(("python".to_owned(), python_script(python, &script)));
        }
        for peer in figure.peers() {
            let runner = match &peer.kind {
                PeerKind::C { program, source } => match self.c.binary(program, source) {
                    Ok(bin) => Runner::External {
                        program: bin,
                        args: external::standard_args(figure.name(), mode, &[]),
                    },
                    Err(e) => {
                        eprintln!("notice: skipping peer {:?}: {e}", peer.name);
                        continue;
                    }
                },
                PeerKind::Python(script) => match &self.python {
                    Some(python) => python_script(python, script),
                    None => continue,
                },
                PeerKind::Custom(f) => Runner::Custom(*f),
                PeerKind::Rust(rust) => match self.rust.binary(rust.program, self.quiet) {
                    Ok(bin) => Runner::External {
                        program: bin,
                        args: external::standard_args(figure.name(), mode, &[]),
                    },
                    Err(e) => {
                        eprintln!("notice: skipping peer {:?}: {e}", peer.name);
                        continue;
                    }
                },
            };
            runners.push((peer.name.to_owned(), runner));
        }
        runners
    }

    fn run_once(&self, figure: &dyn Figure, runner: &Runner<'_>) -> Result<f64, BoxError> {
        let value = match runner {
            Runner::Ours(f) => f.measure(self.mode)?,
            Runner::External { program, args } => {
                external::measure(program, args, figure.unit(), self.limit())?
            }
            Runner::Custom(f) => f(self.mode)?,
        };
        if value.is_finite() && value > 0.0 {
            Ok(value)
        } else {
            Err(format!("measured {value}, not a positive number").into())
        }
    }

    /// Runs every implementation of `figure` for all rounds, alternating; prints the lines.
    fn run(&mut self, figure: &dyn Figure) -> Row {
        let runners = self.runners(figure);
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); runners.len()];
        let mut broken = vec![false; runners.len()];
        let mut unavailable = vec![false; runners.len()];
        if !self.quiet {
            let names: Vec<_> = runners.iter().map(|(n, _)| n.as_str()).collect();
            let lacking: Vec<_> = not_offered(figure)
                .into_iter()
                .map(|(peer, why)| format!("{peer}: {why}"))
                .collect();
            let lacking = if lacking.is_empty() {
                String::new()
            } else {
                format!(" (not offered by {})", lacking.join("; "))
            };
            eprintln!(
                "{}: {} rounds of {}{lacking}",
                figure.name(),
                self.rounds,
                names.join(", ")
            );
        }
        for _ in 0..self.rounds {
            for (i, (name, runner)) in runners.iter().enumerate() {
                if broken[i] {
                    continue;
                }
                match self.run_once(figure, runner) {
                    Ok(v) => samples[i].push(v),
                    Err(e) if e.is::<Unavailable>() => {
                        eprintln!("notice: {} ({name}): {e}", figure.name());
                        broken[i] = true;
                        unavailable[i] = true;
                    }
                    Err(e) => {
                        eprintln!("error: {} ({name}): {e}", figure.name());
                        broken[i] = true;
                        self.failed = true;
                    }
                }
            }
        }
        let mut row = Row {
            figure: figure.name().to_owned(),
            unit: figure.unit().to_owned(),
            higher_is_better: figure.higher_is_better(),
            ours: None,
            python: None,
            target: figure.target(),
            others: Vec::new(),
            rust: Vec::new(),
        };
        for (((name, _), samples), unavailable) in runners.iter().zip(&samples).zip(unavailable) {
            let is_rust = RUST_PEERS.iter().any(|p| p.name == name);
            if samples.is_empty() {
                if unavailable && is_rust {
                    row.rust.push((name.clone(), None));
                }
                continue;
            }
            let line = Line::new(figure.name(), name, figure.unit(), samples);
            println!("{}", line.to_json());
            match name.as_str() {
                "multiproc" => row.ours = Some(line.value),
                "python" => row.python = Some(line.value),
                _ if is_rust => row.rust.push((name.clone(), Some(line.value))),
                _ => row.others.push((name.clone(), line.value)),
            }
        }
        let _ = std::io::stdout().flush();
        row
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn selection_by_name_and_prefix() {
        assert!(matches("start_join.spawn", "start_join.spawn"));
        assert!(matches("start_join.spawn", "start_join"));
        assert!(matches("start_join.spawn", "start_join."));
        assert!(matches("start_join.spawn", "start_join.*"));
        assert!(matches("start_join.spawn", "start_join.sp*"));
        assert!(!matches("start_join.spawn", "start"));
        assert!(!matches("start_join.spawn", "start_join.fork"));
        assert!(!matches("pool.map_chunk1", "pool.map"));
    }
}
