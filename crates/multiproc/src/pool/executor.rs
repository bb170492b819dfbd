//! [`Executor`]: the one shape of "run this function over these inputs" that the local
//! [`Pool`](super::Pool) and the MPI executor share, so that MapReduce and every `map` caller
//! scale from one machine to a cluster by choosing the executor.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{MapOptions, Pool, PoolError, TaskError};

/// Runs a function over inputs in parallel, somewhere.
pub trait Executor {
    /// How many tasks run at once.
    fn workers(&self) -> usize;

    /// Applies `f` to each input and returns every task's result, in input order. `chunksize`
    /// groups tasks per message (`None`: the executor's default).
    fn map_each<F, A, R>(
        &self,
        f: F,
        inputs: Vec<A>,
        chunksize: Option<usize>,
    ) -> Result<Vec<Result<R, TaskError>>, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static;

    /// Applies `f` to each input and returns the values in input order, or the first failure
    /// once every task has settled.
    fn map<F, A, R>(
        &self,
        f: F,
        inputs: Vec<A>,
        chunksize: Option<usize>,
    ) -> Result<Vec<R>, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        super::first_error(self.map_each(f, inputs, chunksize)?)
    }
}

impl Executor for Pool {
    fn workers(&self) -> usize {
        self.processes()
    }

    fn map_each<F, A, R>(
        &self,
        f: F,
        inputs: Vec<A>,
        chunksize: Option<usize>,
    ) -> Result<Vec<Result<R, TaskError>>, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let mut options = MapOptions::new();
        if let Some(c) = chunksize {
            options = options.chunksize(c);
        }
        Pool::map_each(self, f, inputs, options)
    }
}

impl<T: Executor + ?Sized> Executor for &T {
    fn workers(&self) -> usize {
        (**self).workers()
    }

    fn map_each<F, A, R>(
        &self,
        f: F,
        inputs: Vec<A>,
        chunksize: Option<usize>,
    ) -> Result<Vec<Result<R, TaskError>>, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        (**self).map_each(f, inputs, chunksize)
    }
}
