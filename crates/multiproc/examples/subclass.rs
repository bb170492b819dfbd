//! A process defined by a type implementing `Run`, in place of a `Process` subclass (the
//! chapter's `multiprocessing_subclass.py`). Default names are `Worker-k`.

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Worker;

impl multiproc::Run for Worker {
    type Output = ();

    fn run(self) {
        println!("In {}", multiproc::current_process().name());
    }
}

fn main() {
    let jobs: Vec<_> = (0..5)
        .map(|_| multiproc::Process::from_run(Worker).start().expect("start"))
        .collect();
    for j in jobs {
        j.join().expect("worker");
    }
}
