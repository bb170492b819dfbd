//! Ctrl-C during a long `map` ends the program and its workers: no orphan keeps running, and
//! nothing hangs (Python's pool is known to hang on KeyboardInterrupt).
//!
//! It prints each worker's pid, then maps slow tasks; interrupt it with Ctrl-C.

use std::time::Duration;

fn worker_pid(_: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(50));
    std::process::id()
}

fn slow(x: u32) -> u32 {
    std::thread::sleep(Duration::from_secs(60));
    x
}

fn main() -> Result<(), multiproc::PoolError> {
    multiproc::init();
    let pool = multiproc::Pool::new(2)?;
    let mut pids = pool.map_with(worker_pid, 0..8, multiproc::MapOptions::new().chunksize(1))?;
    pids.sort_unstable();
    pids.dedup();
    for pid in pids {
        println!("worker {pid}");
    }
    println!("mapping");
    let _ = pool.map(slow, 0..4)?;
    Ok(())
}
