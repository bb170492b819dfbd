//! Changing the log level through the logger (the chapter's `multiprocessing_get_logger.py`).

fn worker(_: ()) {
    println!("Doing some work");
}

fn main() {
    multiproc::log_to_stderr(multiproc::LevelFilter::Off);
    let logger = multiproc::get_logger();
    logger.set_level(multiproc::LevelFilter::Info);
    let p = multiproc::Process::new(worker, ()).start().expect("start");
    p.join().expect("worker");
}
