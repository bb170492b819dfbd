//! Five processes, each printing `Worker` (the chapter's `multiprocessing_simple.py`).

fn worker(_: ()) {
    println!("Worker");
}

fn main() {
    let jobs: Vec<_> = (0..5)
        .map(|_| multiproc::Process::new(worker, ()).start().expect("start"))
        .collect();
    for j in jobs {
        j.join().expect("worker");
    }
}
