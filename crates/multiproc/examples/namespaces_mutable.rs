//! Updates to a mutable value in a [`Namespace`] do not propagate (the chapter's
//! `multiprocessing_namespaces_mutable.py`): the producer changes the list it got, and the
//! consumer sees `[]` before and after. Reassigning the attribute does propagate, which the
//! last line shows.
//!
//! The events order the reads and writes, so the output is the same on every run.

use multiproc::manager::Namespace;
use multiproc::{Event, Manager, Process};

type Args = (Namespace, Event, Event, Event);

/// `['a', 'b']`, as Python prints a list of strings.
fn py_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", inner.join(", "))
}

fn read(ns: &Namespace) -> String {
    py_list(&ns.get::<Vec<String>>("my_list").expect("my_list"))
}

fn producer((ns, event, seen, reassigned): Args) {
    // DOES NOT UPDATE GLOBAL VALUE: the list is a copy.
    let mut my_list: Vec<String> = ns.get("my_list").expect("my_list");
    my_list.push("This is the value".into());
    event.set();
    // Reassigning the attribute does.
    seen.wait();
    ns.set("my_list", &my_list).expect("reassign my_list");
    reassigned.set();
}

fn consumer((ns, event, seen, reassigned): Args) {
    println!("Before event, consumer got: {}", read(&ns));
    event.wait();
    println!("After event, consumer got: {}", read(&ns));
    seen.set();
    reassigned.wait();
    println!("After reassigning, consumer got: {}", read(&ns));
}

fn main() {
    multiproc::init();
    let mgr = Manager::start().expect("start the manager");
    let namespace = mgr.namespace().expect("make a namespace");
    namespace
        .set("my_list", &Vec::<String>::new())
        .expect("set my_list");
    let args: Args = (namespace, Event::new(), Event::new(), Event::new());
    let p = Process::new(producer, args.clone());
    let c = Process::new(consumer, args);
    let c = c.start().expect("start the consumer");
    let p = p.start().expect("start the producer");
    c.join().expect("consumer");
    p.join().expect("producer");
}
