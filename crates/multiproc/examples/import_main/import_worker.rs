//! The worker function, defined apart from the program that starts it.

/// Prints `Worker`.
pub(crate) fn worker(_: ()) {
    println!("Worker");
}
