//! Signalling between processes with an [`Event`] (the chapter's `multiprocessing_event.py`).
//!
//! One child blocks until the event is set; the other gives up after 2 seconds and finds it
//! not set. Two changes make the output the same on every run, where Python's relies on
//! timing: the main process sets the event only once the timed wait has ended, and a lock
//! shared by the processes orders the "set" line before the woken child's line.

use std::io::Write;
use std::time::Duration;

use multiproc::{Event, Lock, Process};

/// Python prints booleans capitalised.
fn py(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

fn say(out: &Lock, line: &str) {
    let _g = out.acquire().expect("print lock");
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

fn wait_for_event((e, out): (Event, Lock)) {
    say(&out, "wait_for_event: starting");
    e.wait();
    say(
        &out,
        &format!("wait_for_event: e.is_set()-> {}", py(e.is_set())),
    );
}

fn wait_for_event_timeout((e, t, out): (Event, f64, Lock)) {
    say(&out, "wait_for_event_timeout: starting");
    // As in the chapter, what the wait returns is not printed: is_set() is, after it.
    let _ = e.wait_timeout(Duration::from_secs_f64(t));
    say(
        &out,
        &format!("wait_for_event_timeout: e.is_set()-> {}", py(e.is_set())),
    );
}

fn main() {
    multiproc::init();
    let e = Event::new();
    let out = Lock::new();
    let w1 = Process::new(wait_for_event, (e.clone(), out.clone()))
        .name("block")
        .start()
        .expect("start block");
    let w2 = Process::new(wait_for_event_timeout, (e.clone(), 2.0, out.clone()))
        .name("nonblock")
        .start()
        .expect("start nonblock");
    say(&out, "main: waiting before calling Event.set()");
    std::thread::sleep(Duration::from_secs(3));
    w2.join().expect("nonblock");
    {
        let _g = out.acquire().expect("print lock");
        e.set();
        println!("main: event is set");
    }
    w1.join().expect("block");
}
