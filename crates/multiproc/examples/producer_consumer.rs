//! Consumers take tasks from a joinable queue and put results on another; one poison pill
//! per consumer stops them (the chapter's `multiprocessing_producer_consumer.py`).

use std::fmt;
use std::time::Duration;

use multiproc::{JoinableQueue, Process, Queue, Run};
use serde::{Deserialize, Serialize};

/// A process type, in place of a `Process` subclass: its processes are `Consumer-1`, ...
#[derive(Serialize, Deserialize)]
struct Consumer {
    task_queue: JoinableQueue<Option<Task>>,
    result_queue: Queue<String>,
}

impl Run for Consumer {
    type Output = ();

    fn run(self) {
        let proc_name = multiproc::current_process().name().to_owned();
        loop {
            let Some(next_task) = self.task_queue.get().expect("get") else {
                // Poison pill means shutdown.
                println!("{proc_name}: Exiting");
                self.task_queue.task_done().expect("task_done");
                break;
            };
            println!("{proc_name}: {next_task}");
            let answer = next_task.call();
            self.task_queue.task_done().expect("task_done");
            self.result_queue.put(answer).expect("put");
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Task {
    a: u64,
    b: u64,
}

impl Task {
    fn call(&self) -> String {
        std::thread::sleep(Duration::from_millis(100)); // pretend to take time to do the work
        format!("{} * {} = {}", self.a, self.b, self.a * self.b)
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} * {}", self.a, self.b)
    }
}

fn main() {
    multiproc::init();
    // Establish communication queues.
    let tasks = JoinableQueue::new();
    let results = Queue::new();

    // Start consumers.
    let num_consumers = multiproc::cpu_count() * 2;
    println!("Creating {num_consumers} consumers");
    let consumers: Vec<_> = (0..num_consumers)
        .map(|_| {
            Process::from_run(Consumer {
                task_queue: tasks.clone(),
                result_queue: results.clone(),
            })
            .start()
            .expect("start")
        })
        .collect();

    // Enqueue jobs.
    let num_jobs = 10;
    for i in 0..num_jobs {
        tasks.put(Some(Task { a: i, b: i })).expect("put");
    }

    // Add a poison pill for each consumer.
    for _ in 0..num_consumers {
        tasks.put(None).expect("put");
    }

    // Wait for all of the tasks to finish.
    tasks.join();

    // Start printing results.
    for _ in 0..num_jobs {
        let result = results.get().expect("get");
        println!("Result: {result}");
    }
    for c in consumers {
        c.join().expect("consumer");
    }
}
