//! [`Threads`]: an [`Executor`] on threads of the calling process, for library use without
//! worker processes.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::thread;

use multiproc::{Executor, PoolError, TaskError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Runs tasks on `workers` threads of this process, each taking the next input as soon as it
/// is free. Nothing is encoded: inputs and results move between threads.
///
/// A task that panics is not a task error here: the threads share this process, so, as with
/// [`std::thread::scope`], `map_each` panics with the task's payload once every thread has
/// stopped (the other threads finish the inputs left).
///
/// ```
/// use multiproc::Executor;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let threads = wordcount::Threads::new(std::num::NonZeroUsize::new(2).unwrap());
/// assert_eq!(threads.map(square, vec![1, 2, 3], None).unwrap(), [1, 4, 9]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threads {
    workers: NonZeroUsize,
}

impl Threads {
    /// An executor of `workers` threads.
    pub fn new(workers: NonZeroUsize) -> Threads {
        Threads { workers }
    }
}

impl Executor for Threads {
    fn workers(&self) -> usize {
        self.workers.get()
    }

    fn map_each<F, A, R>(
        &self,
        f: F,
        inputs: Vec<A>,
        _chunksize: Option<usize>,
    ) -> Result<Vec<Result<R, TaskError>>, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let n = inputs.len();
        let next = Mutex::new(inputs.into_iter().enumerate());
        // `f` is copied into each thread: it is `Send`, not necessarily `Sync`.
        let work = |f: F| {
            let mut done = Vec::new();
            loop {
                let Some((i, input)) = next.lock().unwrap_or_else(|p| p.into_inner()).next() else {
                    return done;
                };
                done.push((i, f(input)));
            }
        };
        let workers = self.workers.get().min(n);
        let mut results: Vec<Option<R>> = (0..n).map(|_| None).collect();
        let mut panic = None;
        thread::scope(|s| {
            let handles: Vec<_> = (0..workers).map(|_| s.spawn(move || work(f))).collect();
            for h in handles {
                match h.join() {
                    Ok(done) => {
                        for (i, r) in done {
                            results[i] = Some(r);
                        }
                    }
                    Err(p) => {
                        panic.get_or_insert(p);
                    }
                }
            }
        });
        if let Some(p) = panic {
            std::panic::resume_unwind(p);
        }
        Ok(results
            .into_iter()
            .map(|r| r.ok_or(TaskError::Cancelled))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked_half(x: u32) -> u32 {
        assert!(x.is_multiple_of(2), "{x} is odd");
        x / 2
    }

    #[test]
    fn results_keep_input_order_and_a_panic_is_raised_after_all_threads_stop() {
        let threads = Threads::new(NonZeroUsize::new(3).expect("3"));
        let inputs: Vec<u32> = (0..100).map(|i| i * 2).collect();
        let halves = threads.map(checked_half, inputs, None).expect("all even");
        assert_eq!(halves, (0..100).collect::<Vec<_>>());
        assert!(
            threads
                .map_each(checked_half, Vec::new(), None)
                .expect("empty")
                .is_empty()
        );
        let panicked =
            std::panic::catch_unwind(|| threads.map_each(checked_half, vec![2, 3, 4], None))
                .expect_err("3 is odd");
        assert_eq!(
            panicked.downcast_ref::<String>().map(String::as_str),
            Some("3 is odd")
        );
    }
}
