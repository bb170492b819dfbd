//! Controlling access to a resource with a [`Lock`] (the chapter's `multiprocessing_lock.py`):
//! two processes write to standard output, one at a time.

use std::io::Write;

use multiproc::{Lock, Process};

fn worker_with(lock: Lock) {
    // Python's `with lock:` is a guard.
    let _guard = lock.acquire().expect("holder died");
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(b"Lock acquired via with\n");
    let _ = out.flush();
}

fn worker_no_with(lock: Lock) {
    // Python's `lock.acquire()` ... `lock.release()`, without a guard.
    std::mem::forget(lock.acquire().expect("holder died"));
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(b"Lock acquired directly\n");
    let _ = out.flush();
    lock.release().expect("held");
}

fn main() {
    multiproc::init();
    let lock = Lock::new();
    let w = Process::new(worker_with, lock.clone())
        .start()
        .expect("start");
    let nw = Process::new(worker_no_with, lock.clone())
        .start()
        .expect("start");
    w.join().expect("worker_with");
    nw.join().expect("worker_no_with");
}
