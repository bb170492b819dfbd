//! Naming processes (the chapter's `multiprocessing_names.py`). The unnamed worker is
//! `Process-3`: names are counted when a process is created, not when it starts.

use std::thread::sleep;
use std::time::Duration;

fn worker(_: ()) {
    let name = multiproc::current_process().name().to_owned();
    println!("{name} Starting");
    sleep(Duration::from_secs(2));
    println!("{name} Exiting");
}

fn my_service(_: ()) {
    let name = multiproc::current_process().name().to_owned();
    println!("{name} Starting");
    sleep(Duration::from_secs(3));
    println!("{name} Exiting");
}

fn main() {
    let service = multiproc::Process::new(my_service, ()).name("my_service");
    let worker_1 = multiproc::Process::new(worker, ()).name("worker 1");
    let worker_2 = multiproc::Process::new(worker, ()); // default name
    let _w1 = worker_1.start().expect("start");
    let _w2 = worker_2.start().expect("start");
    let _s = service.start().expect("start");
    // Non-daemon processes are joined when main returns.
}
