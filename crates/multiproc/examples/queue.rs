//! A user type goes through a queue to a worker, which calls a method on it (the chapter's
//! `multiprocessing_queue.py`).

use multiproc::{Process, Queue};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct MyFancyClass {
    name: String,
}

impl MyFancyClass {
    fn do_something(&self) {
        let proc_name = multiproc::current_process().name().to_owned();
        println!("Doing something fancy in {proc_name} for {}!", self.name);
    }
}

fn worker(q: Queue<MyFancyClass>) {
    let obj = q.get().expect("get");
    obj.do_something();
}

fn main() {
    multiproc::init();
    let queue = Queue::new();

    let p = Process::new(worker, queue.clone()).start().expect("start");

    queue
        .put(MyFancyClass {
            name: "Fancy Dan".into(),
        })
        .expect("put");

    // Wait for the worker to finish.
    queue.close();
    queue.join_thread().expect("closed");
    p.join().expect("worker");
}
