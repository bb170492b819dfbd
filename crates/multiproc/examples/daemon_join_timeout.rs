//! `join` with a timeout returns while the daemon still runs (the chapter's
//! `multiprocessing_daemon_join_timeout.py`).

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
    let n = n.start().expect("start");
    // As in the chapter, the timed join's answer is not printed: is_alive() is, after it.
    let _ = d.join_timeout(Duration::from_secs(1));
    println!(
        "d.is_alive() {}",
        if d.is_alive() { "True" } else { "False" }
    );
    n.join().expect("non-daemon");
}
