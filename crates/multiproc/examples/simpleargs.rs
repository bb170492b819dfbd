//! Each worker gets a number as its argument (the chapter's `multiprocessing_simpleargs.py`).

fn worker(num: u32) {
    println!("Worker: {num}");
}

fn main() {
    let jobs: Vec<_> = (0..5)
        .map(|i| multiproc::Process::new(worker, i).start().expect("start"))
        .collect();
    for j in jobs {
        j.join().expect("worker");
    }
}
