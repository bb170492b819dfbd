//! Runs process-creating calls on a thread that lives as long as the process.
//!
//! Linux sends a child its parent-death signal when the *thread* that created it exits, not the
//! process. A child created from a short-lived thread (a test's thread, a worker thread) would be
//! killed when that thread ends. So children and the fork server are created either on the main
//! thread, or on one long-lived thread that this module keeps.

use std::sync::Mutex;
use std::sync::mpsc;

use crate::sys;

type Job = Box<dyn FnOnce() + Send>;

static RUNNER: Mutex<Option<(u32, mpsc::Sender<Job>)>> = Mutex::new(None);

/// Runs `f` on the main thread (if that is where we are) or on the long-lived thread.
pub(crate) fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let pid = std::process::id();
    if sys::proc::gettid() as u32 == pid {
        return f();
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    let sender = {
        let mut guard = RUNNER.lock().unwrap_or_else(|e| e.into_inner());
        match &*guard {
            Some((owner, s)) if *owner == pid => Some(s.clone()),
            _ => {
                let (jtx, jrx) = mpsc::channel::<Job>();
                let spawned = std::thread::Builder::new()
                    .name("multiproc-starter".into())
                    .spawn(move || {
                        for job in jrx {
                            job();
                        }
                    });
                match spawned {
                    Ok(_) => {
                        *guard = Some((pid, jtx.clone()));
                        Some(jtx)
                    }
                    Err(_) => None,
                }
            }
        }
    };
    match sender {
        Some(s) => {
            if let Err(mpsc::SendError(job)) = s.send(job) {
                job();
            }
        }
        None => job(),
    }
    rx.recv()
        .expect("the starter thread runs every job it receives")
}

/// In a `fork` copy: the starter thread is the parent's, and does not exist here. Its channel
/// is leaked, not dropped: dropping the last sender would take the channel's internal lock,
/// which the parent's starter thread may have held at the fork.
pub(super) fn forget() {
    let parents = RUNNER.lock().unwrap_or_else(|e| e.into_inner()).take();
    std::mem::forget(parents);
}

/// Holds the starter's lock while the `fork` start method forks (see `start::fork`).
pub(super) fn hold_for_fork() -> impl Sized {
    RUNNER.lock().unwrap_or_else(|e| e.into_inner())
}
