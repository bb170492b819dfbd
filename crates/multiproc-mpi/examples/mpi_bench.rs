//! Benchmark: the MPI executor against the local pool, in the same run, round by round.
//!
//! ```text
//! mpirun -np 3 mpi_bench [--quick] [--rounds N] [FIGURE...]
//! mpi_bench --spawn 2 [--quick] [--rounds N] [FIGURE...]
//! ```
//!
//! Figures: `mpi.map` (trivial tasks, default chunks: tasks per second), `mpi.map_chunk1`
//! (one task per message: tasks per second) and `mpi.wordcount` (the MapReduce word count
//! with a combiner over a generated corpus: MB per second). The local pool has as many
//! processes as there are worker ranks. Prints one JSON line per figure and executor (the
//! median of the rounds, with min and max), then a table.

use std::time::Instant;

use multiproc::{Executor, Pool, SimpleMapReduce};

fn inc(x: u64) -> u64 {
    x.wrapping_add(1)
}

fn file_to_words(path: String) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .map(|w| (w.to_lowercase(), 1))
        .collect()
}

fn count_words((word, counts): (String, Vec<u64>)) -> (String, u64) {
    (word, counts.iter().sum())
}

/// Writes `files` files of about `bytes` bytes each, words drawn from a fixed vocabulary.
fn corpus(dir: &std::path::Path, files: usize, bytes: usize) -> (Vec<String>, usize) {
    let vocabulary: Vec<String> = (0..5000u32)
        .map(|i| {
            let mut w = String::new();
            let mut k = i.wrapping_mul(2_654_435_761) | 1;
            for _ in 0..(3 + i % 7) {
                w.push(char::from(b'a' + (k % 26) as u8));
                k /= 26;
                if k == 0 {
                    k = i + 7;
                }
            }
            w
        })
        .collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut paths = Vec::new();
    let mut total = 0;
    for f in 0..files {
        let mut text = String::with_capacity(bytes + 64);
        let mut line = 0;
        while text.len() < bytes {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Zipf-like: small indices far more often.
            let r = (state >> 11) as f64 / (1u64 << 53) as f64;
            let i = ((vocabulary.len() as f64).powf(r) as usize).min(vocabulary.len()) - 1;
            text.push_str(&vocabulary[i]);
            line += 1;
            text.push(if line % 12 == 0 { '\n' } else { ' ' });
        }
        let path = dir.join(format!("part-{f:03}.txt"));
        std::fs::write(&path, &text).expect("write the corpus");
        total += text.len();
        paths.push(path.display().to_string());
    }
    (paths, total)
}

struct Figure {
    name: &'static str,
    unit: &'static str,
    mpi: Vec<f64>,
    pool: Vec<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn json(f: &Figure, imp: &str, v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "{{\"figure\":\"{}\",\"impl\":\"{imp}\",\"value\":{:.1},\"unit\":\"{}\",\"rounds\":{},\"min\":{min:.1},\"max\":{max:.1}}}",
        f.name,
        median(v),
        f.unit,
        v.len()
    )
}

fn main() {
    let mpi = multiproc_mpi::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let rounds = value("--rounds").unwrap_or(if quick { 3 } else { 7 });
    let spawn = value("--spawn").unwrap_or(2);
    let wanted: Vec<&String> = args.iter().filter(|a| a.starts_with("mpi.")).collect();
    let runs = |name: &str| wanted.is_empty() || wanted.iter().any(|w| *w == name);

    let executor = mpi.executor_or_spawn(spawn).unwrap_or_else(|e| {
        eprintln!("mpi_bench: {e}");
        std::process::exit(2);
    });
    let workers = executor.workers();
    let pool = Pool::new(workers).expect("a local pool");
    eprintln!(
        "mpi_bench: {workers} worker ranks ({}), local pool of {workers}, {rounds} rounds",
        if executor.under_mpirun() {
            "mpirun"
        } else {
            "spawned"
        }
    );

    let mut figures = Vec::new();

    let n_map: u64 = if quick { 100_000 } else { 1_000_000 };
    if runs("mpi.map") {
        let mut f = Figure {
            name: "mpi.map",
            unit: "tasks/s",
            mpi: vec![],
            pool: vec![],
        };
        let inputs: Vec<u64> = (0..n_map).collect();
        for _ in 0..rounds {
            let t = Instant::now();
            let out = executor.map(inc, inputs.clone(), None).expect("mpi map");
            f.mpi.push(n_map as f64 / t.elapsed().as_secs_f64());
            assert_eq!(out[7], 8);
            let t = Instant::now();
            let out = Executor::map(&pool, inc, inputs.clone(), None).expect("pool map");
            f.pool.push(n_map as f64 / t.elapsed().as_secs_f64());
            assert_eq!(out[7], 8);
        }
        figures.push(f);
    }

    let n_chunk1: u64 = if quick { 2_000 } else { 20_000 };
    if runs("mpi.map_chunk1") {
        let mut f = Figure {
            name: "mpi.map_chunk1",
            unit: "tasks/s",
            mpi: vec![],
            pool: vec![],
        };
        let inputs: Vec<u64> = (0..n_chunk1).collect();
        for _ in 0..rounds {
            let t = Instant::now();
            executor.map(inc, inputs.clone(), Some(1)).expect("mpi map");
            f.mpi.push(n_chunk1 as f64 / t.elapsed().as_secs_f64());
            let t = Instant::now();
            Executor::map(&pool, inc, inputs.clone(), Some(1)).expect("pool map");
            f.pool.push(n_chunk1 as f64 / t.elapsed().as_secs_f64());
        }
        figures.push(f);
    }

    if runs("mpi.wordcount") {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (files, bytes) = if quick {
            corpus(dir.path(), 16, 256 << 10)
        } else {
            corpus(dir.path(), 32, 1 << 20)
        };
        let mb = bytes as f64 / 1e6;
        let mut f = Figure {
            name: "mpi.wordcount",
            unit: "MB/s",
            mpi: vec![],
            pool: vec![],
        };
        let mut last = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let mr = SimpleMapReduce::with_executor(&executor, file_to_words, count_words)
                .combiner(count_words);
            let t = Instant::now();
            let mut a = mr.run(files.clone(), 1).expect("mpi wordcount");
            f.mpi.push(mb / t.elapsed().as_secs_f64());
            let mr = SimpleMapReduce::with_executor(&pool, file_to_words, count_words)
                .combiner(count_words);
            let t = Instant::now();
            let mut b = mr.run(files.clone(), 1).expect("pool wordcount");
            f.pool.push(mb / t.elapsed().as_secs_f64());
            a.sort();
            b.sort();
            last = (a, b);
        }
        assert!(last.0 == last.1, "the MPI and local counts differ");
        eprintln!(
            "mpi_bench: wordcount over {} files, {mb:.1} MB, {} distinct words: equal on both",
            files.len(),
            last.0.len()
        );
        figures.push(f);
    }

    for f in &figures {
        println!("{}", json(f, "multiproc-mpi", &f.mpi));
        println!("{}", json(f, "multiproc-pool", &f.pool));
    }
    eprintln!(
        "\n{:<16} {:>14} {:>14} {:>8}  unit",
        "figure", "mpi", "local pool", "mpi/pool"
    );
    for f in &figures {
        let (m, p) = (median(&f.mpi), median(&f.pool));
        eprintln!(
            "{:<16} {m:>14.1} {p:>14.1} {:>8.2}  {}",
            f.name,
            m / p,
            f.unit
        );
    }
}
