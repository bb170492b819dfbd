//! A [`Namespace`] shared through a manager (the chapter's `multiprocessing_namespaces.py`):
//! the producer sets an attribute, and the consumer reads it before and after the event.
//!
//! Before the event the attribute does not exist, and the consumer gets the error Python
//! gives. One change makes the output the same on every run, where Python's relies on timing:
//! the producer waits until the consumer has made its first read.

use multiproc::manager::Namespace;
use multiproc::{Event, Manager, Process};

fn producer((ns, event, first_read): (Namespace, Event, Event)) {
    first_read.wait();
    ns.set("value", "This is the value")
        .expect("set the attribute");
    event.set();
}

fn consumer((ns, event, first_read): (Namespace, Event, Event)) {
    match ns.get::<String>("value") {
        Ok(value) => println!("Before event, consumer got: {value}"),
        Err(err) => println!("Before event, consumer got: {err}"),
    }
    first_read.set();
    event.wait();
    let value: String = ns.get("value").expect("the producer set it");
    println!("After event, consumer got: {value}");
}

fn main() {
    multiproc::init();
    let mgr = Manager::start().expect("start the manager");
    let namespace = mgr.namespace().expect("make a namespace");
    let event = Event::new();
    let first_read = Event::new();
    let args = (namespace, event, first_read);
    let p = Process::new(producer, args.clone());
    let c = Process::new(consumer, args);
    let c = c.start().expect("start the consumer");
    let p = p.start().expect("start the producer");
    c.join().expect("consumer");
    p.join().expect("producer");
}
