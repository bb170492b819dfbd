//! Synchronizing stages of work with a [`Condition`] (the chapter's
//! `multiprocessing_condition.py`): two processes run stage 2 in parallel, but only after
//! stage 1 is done.
//!
//! Unlike the chapter's version, stage 2 waits for a shared flag with `wait_for`, so it cannot
//! miss the notification when stage 1 finishes before it starts to wait.

use std::time::Duration;

use multiproc::{Condition, Process, Value};

fn stage_1((cond, done): (Condition, Value<u8>)) {
    let name = multiproc::current_process().name().to_owned();
    println!("Starting {name}");
    let g = cond.acquire().expect("holder died");
    println!("{name} done and ready for stage 2");
    done.set(1);
    g.notify_all();
}

fn stage_2((cond, done): (Condition, Value<u8>)) {
    let name = multiproc::current_process().name().to_owned();
    println!("Starting {name}");
    let mut g = cond.acquire().expect("holder died");
    g.wait_for(|| done.get() == 1).expect("holder died");
    println!("{name} running");
}

fn main() {
    multiproc::init();
    let condition = Condition::new();
    let done = Value::new(0u8);
    let s1 = Process::new(stage_1, (condition.clone(), done.clone())).name("s1");
    let s2_clients: Vec<_> = (1..3)
        .map(|i| {
            Process::new(stage_2, (condition.clone(), done.clone())).name(format!("stage_2[{i}]"))
        })
        .collect();
    let mut running = Vec::new();
    for c in s2_clients {
        running.push(c.start().expect("start stage 2"));
        std::thread::sleep(Duration::from_secs(1));
    }
    let s1 = s1.start().expect("start s1");
    s1.join().expect("s1");
    for c in running {
        c.join().expect("stage 2");
    }
}
