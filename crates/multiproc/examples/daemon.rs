//! A daemon process is terminated when the main program exits (the chapter's
//! `multiprocessing_daemon.py`): its `Exiting` line never prints.

use std::thread::sleep;
use std::time::Duration;

fn daemon(_: ()) {
    let p = multiproc::current_process();
    println!("Starting: {} {}", p.name(), p.pid());
    sleep(Duration::from_secs(2));
    println!("Exiting : {} {}", p.name(), p.pid());
}

fn non_daemon(_: ()) {
    let p = multiproc::current_process();
    println!("Starting: {} {}", p.name(), p.pid());
    println!("Exiting : {} {}", p.name(), p.pid());
}

fn main() {
    let d = multiproc::Process::new(daemon, ())
        .name("daemon")
        .daemon(true);
    let n = multiproc::Process::new(non_daemon, ())
        .name("non-daemon")
        .daemon(false);
    let _d = d.start().expect("start");
    sleep(Duration::from_secs(1));
    let _n = n.start().expect("start");
}
