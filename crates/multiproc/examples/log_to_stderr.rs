//! Logging the library's lifecycle to stderr (the chapter's `multiprocessing_log_to_stderr.py`).

fn worker(_: ()) {
    println!("Doing some work");
}

fn main() {
    multiproc::log_to_stderr(multiproc::LevelFilter::Debug);
    let p = multiproc::Process::new(worker, ()).start().expect("start");
    p.join().expect("worker");
}
