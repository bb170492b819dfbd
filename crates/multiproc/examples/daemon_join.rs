//! Joining a daemon waits for it (the chapter's `multiprocessing_daemon_join.py`).

use std::thread::sleep;
use std::time::Duration;

fn daemon(_: ()) {
    let name = multiproc::current_process().name().to_owned();
    println!("Starting: {name}");
    sleep(Duration::from_secs(2));
    println!("Exiting : {name}");
}

fn non_daemon(_: ()) {
    let name = multiproc::current_process().name().to_owned();
    println!("Starting: {name}");
    println!("Exiting : {name}");
}

fn main() {
    let d = multiproc::Process::new(daemon, ())
        .name("daemon")
        .daemon(true);
    let n = multiproc::Process::new(non_daemon, ())
        .name("non-daemon")
        .daemon(false);
    let d = d.start().expect("start");
    sleep(Duration::from_secs(1));
    let n = n.start().expect("start");
    d.join().expect("daemon");
    n.join().expect("non-daemon");
}
