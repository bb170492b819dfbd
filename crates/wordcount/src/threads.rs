//! [`Threads`]: an [`Executor`] on threads of the calling process, for library use without
//! worker processes.

use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::thread;

use multiproc::{Executor, PoolError, TaskError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Runs tasks on `workers` threads of this process, each taking the next input as soon as it
/// is free. Nothing is encoded: inputs and results move between threads. A task that panics
/// fails alone, with [`TaskError::Panicked`].
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
                let result = catch_unwind(AssertUnwindSafe(|| f(input)))
                    .map_err(|p| TaskError::Panicked(panic_message(p.as_ref())));
                done.push((i, result));
            }
        };
        let workers = self.workers.get().min(n);
        let mut results: Vec<Option<Result<R, TaskError>>> = (0..n).map(|_| None).collect();
        thread::scope(|s| {
            let handles: Vec<_> = (0..workers).map(|_| s.spawn(move || work(f))).collect();
            for h in handles {
                // A panic is caught around each task; one here is a bug of this loop.
                for (i, r) in h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)) {
                    results[i] = Some(r);
                }
            }
        });
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or(Err(TaskError::Cancelled)))
            .collect())
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked_half(x: u32) -> u32 {
        assert!(x.is_multiple_of(2), "{x} is odd");
        x / 2
    }

    #[test]
    fn results_keep_input_order_and_a_panic_fails_its_task_only() {
        let threads = Threads::new(NonZeroUsize::new(3).expect("3"));
        let inputs: Vec<u32> = (0..100).map(|i| i * 2).collect();
        let halves = threads.map(checked_half, inputs, None).expect("all even");
        assert_eq!(halves, (0..100).collect::<Vec<_>>());
        let each = threads
            .map_each(checked_half, vec![2, 3, 4], None)
            .expect("the call itself succeeds");
        assert_eq!(each[0], Ok(1));
        assert_eq!(each[1], Err(TaskError::Panicked("3 is odd".to_owned())));
        assert_eq!(each[2], Ok(2));
        assert!(
            threads
                .map_each(checked_half, Vec::new(), None)
                .expect("empty")
                .is_empty()
        );
    }
}
