//! Controlling concurrent access to a resource with a [`Semaphore`] (the chapter's
//! `multiprocessing_semaphore.py`): ten workers, never more than three active at once.
//!
//! The `ActivePool` records who is active in a list kept in a [`Manager`], guarded by a
//! [`Lock`]. Each worker prints the pool when it becomes active, and the main process prints
//! it after joining each worker; the last line is `Now running: []`. Which names appear
//! together depends on timing, as in Python.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use multiproc::manager::ListProxy;
use multiproc::{Lock, Manager, Process, Semaphore};
use serde::{Deserialize, Serialize};

/// The names of the active workers.
#[derive(Clone, Serialize, Deserialize)]
struct ActivePool {
    active: ListProxy<String>,
    lock: Lock,
}

impl ActivePool {
    fn new(mgr: &Manager) -> ActivePool {
        ActivePool {
            active: mgr.list().expect("make a list"),
            lock: Lock::new(),
        }
    }

    fn make_active(&self, name: String) {
        let _g = self.lock.acquire().expect("holder died");
        self.active.push(name).expect("append");
    }

    fn make_inactive(&self, name: &str) {
        let _g = self.lock.acquire().expect("holder died");
        self.active.remove(name).expect("remove");
    }
}

impl fmt::Display for ActivePool {
    /// `['0', '1', '2']`, as Python prints the list.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _g = self.lock.acquire().expect("holder died");
        let names = self.active.to_vec().map_err(|_| fmt::Error)?;
        let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
        write!(f, "[{}]", quoted.join(", "))
    }
}

/// A pause of up to half a second (Python's `time.sleep(random.random())`, shortened).
fn random_pause() -> Duration {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    Duration::from_millis(h.finish() % 500)
}

fn worker((s, pool): (Semaphore, ActivePool)) {
    let name = multiproc::current_process().name().to_owned();
    let _slot = s.acquire();
    pool.make_active(name.clone());
    println!("Now running: {pool}");
    std::thread::sleep(random_pause());
    pool.make_inactive(&name);
}

fn main() {
    multiproc::init();
    let mgr = Manager::start().expect("start the manager");
    let pool = ActivePool::new(&mgr);
    let s = Semaphore::new(3);
    let jobs: Vec<_> = (0..10)
        .map(|i| {
            Process::new(worker, (s.clone(), pool.clone()))
                .name(i.to_string())
                .start()
                .expect("start")
        })
        .collect();
    for j in jobs {
        j.join().expect("worker");
        println!("Now running: {pool}");
    }
}
