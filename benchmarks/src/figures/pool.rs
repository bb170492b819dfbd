//! `pool.{map_default,map_chunk1,apply_async}`: tasks per second through a pool of
//! `cpu_count()` workers, as `python/bench_pool.py` measures `multiprocessing.Pool`, and
//! procspawn's pool as a peer of `pool.apply_async`.

use std::time::Instant;

use multiproc::{MapOptions, Pool};

use crate::figure::{BoxError, Figure, Mode, PROCSPAWN, Peer, Script};

/// The figures of this group.
pub(super) fn figures() -> Vec<Box<dyn Figure>> {
    vec![
        Box::new(PoolFigure(Kind::MapDefault)),
        Box::new(PoolFigure(Kind::MapChunk1)),
        Box::new(PoolFigure(Kind::ApplyAsync)),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    MapDefault,
    MapChunk1,
    ApplyAsync,
}

/// One way of pushing trivial tasks through a pool.
#[derive(Debug)]
struct PoolFigure(Kind);

fn square(x: u64) -> u64 {
    x * x
}

impl PoolFigure {
    fn count(&self, mode: Mode) -> u64 {
        match self.0 {
            Kind::MapDefault => 200_000,
            Kind::MapChunk1 => mode.pick(100_000, 20_000),
            Kind::ApplyAsync => 20_000,
        }
    }

    fn run(&self, pool: &Pool, n: u64) -> Result<Vec<u64>, BoxError> {
        Ok(match self.0 {
            Kind::MapDefault => pool.map(square, 0..n)?,
            Kind::MapChunk1 => pool.map_with(square, 0..n, MapOptions::new().chunksize(1))?,
            Kind::ApplyAsync => {
                let pending = (0..n)
                    .map(|i| pool.apply_async(square, i))
                    .collect::<Result<Vec<_>, _>>()?;
                pending
                    .into_iter()
                    .map(|r| r.get())
                    .collect::<Result<Vec<_>, _>>()?
            }
        })
    }
}

impl Figure for PoolFigure {
    fn name(&self) -> &'static str {
        match self.0 {
            Kind::MapDefault => "pool.map_default",
            Kind::MapChunk1 => "pool.map_chunk1",
            Kind::ApplyAsync => "pool.apply_async",
        }
    }

    fn description(&self) -> &'static str {
        match self.0 {
            Kind::MapDefault => "map of 200k trivial tasks, default chunksize",
            Kind::MapChunk1 => "map of trivial tasks with chunksize 1",
            Kind::ApplyAsync => "20k apply_async of a trivial task, then get each",
        }
    }

    fn unit(&self) -> &'static str {
        "tasks/s"
    }

    fn higher_is_better(&self) -> bool {
        true
    }

    fn target(&self) -> Option<f64> {
        match self.0 {
            Kind::MapDefault => Some(10e6),
            Kind::MapChunk1 => Some(400e3),
            Kind::ApplyAsync => None,
        }
    }

    fn measure(&self, mode: Mode) -> Result<f64, BoxError> {
        let pool = Pool::new(multiproc::cpu_count())?;
        pool.map(square, 0..100)?;
        let n = self.count(mode);
        let t0 = Instant::now();
        let results = self.run(&pool, n)?;
        let elapsed = t0.elapsed().as_secs_f64();
        if results.len() as u64 != n
            || results
                .iter()
                .enumerate()
                .any(|(i, r)| *r != (i as u64).pow(2))
        {
            return Err("wrong results".into());
        }
        Ok(n as f64 / elapsed)
    }

    fn python(&self) -> Option<Script> {
        Some(Script::new("bench_pool.py"))
    }

    fn peers(&self) -> Vec<Peer> {
        match self.0 {
            Kind::ApplyAsync => vec![Peer::rust(&PROCSPAWN)],
            Kind::MapDefault | Kind::MapChunk1 => Vec::new(),
        }
    }
}
