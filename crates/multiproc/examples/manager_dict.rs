//! A dict shared through a [`Manager`] (the chapter's `multiprocessing_manager_dict.py`): ten
//! processes each set one key, and the main process prints the result.
//!
//! The children may set their keys in any order, and a dict keeps insertion order, so the
//! entries are printed sorted by key, which is the order Python's run showed.

use multiproc::manager::DictProxy;
use multiproc::{Manager, Process};

fn worker((d, key, value): (DictProxy<u32, u32>, u32, u32)) {
    d.set(key, value).expect("set a key");
}

/// `{0: 0, 1: 2}`, as Python prints a dict.
fn py_dict(items: &[(u32, u32)]) -> String {
    let inner: Vec<String> = items.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn main() {
    multiproc::init();
    let mgr = Manager::start().expect("start the manager");
    let d = mgr.dict().expect("make a dict");
    let jobs: Vec<_> = (0..10)
        .map(|i| Process::new(worker, (d.clone(), i, i * 2)))
        .collect();
    let started: Vec<_> = jobs
        .into_iter()
        .map(|j| j.start().expect("start"))
        .collect();
    for j in started {
        j.join().expect("worker");
    }
    let mut items = d.items().expect("read the dict");
    items.sort_unstable();
    println!("Results: {}", py_dict(&items));
}
