//! The target lives in another module (the chapter's `multiprocessing_import_main.py`, with
//! `multiprocessing_import_worker.py` as `import_worker.rs`).

mod import_worker;

fn main() {
    let jobs: Vec<_> = (0..5)
        .map(|_| {
            multiproc::Process::new(import_worker::worker, ())
                .start()
                .expect("start")
        })
        .collect();
    for j in jobs {
        j.join().expect("worker");
    }
}
