//! Terminating a process (the chapter's `multiprocessing_terminate.py`).

use std::thread::sleep;
use std::time::Duration;

fn slow_worker(_: ()) {
    println!("Starting worker");
    sleep(Duration::from_millis(100));
    println!("Finished worker");
}

/// Prints the process and whether it is alive, in Python's order: the state first.
fn show<R: serde::de::DeserializeOwned>(label: &str, p: &multiproc::Handle<R>) {
    let state = format!("{p:?}");
    println!(
        "{label}: {state} {}",
        if p.is_alive() { "True" } else { "False" }
    );
}

fn main() {
    let p = multiproc::Process::new(slow_worker, ());
    println!(
        "BEFORE: {p:?} {}",
        if p.is_alive() { "True" } else { "False" }
    );
    let p = p.start().expect("start");
    show("DURING", &p);
    p.terminate().expect("terminate");
    show("TERMINATED", &p);
    p.wait();
    show("JOINED", &p);
}
