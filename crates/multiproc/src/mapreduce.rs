//! [`SimpleMapReduce`]: [the chapter](crate)'s single-server MapReduce, on any [`Executor`].
//!
//! The design is the chapter's: the inputs are *mapped* in parallel to `(key, value)` pairs,
//! the pairs are *partitioned* by key in the calling process (keeping, within a key, the order
//! in which values arrived, and the keys in the order they first appeared), and each key's
//! values are *reduced* in parallel to one output.
//!
//! Beyond the chapter, an optional *combiner* reduces each input's own pairs inside the worker
//! before they travel (map-side combining), which shrinks what crosses process boundaries by
//! orders of magnitude for counting jobs.
//!
//! # Limits
//! Every mapped pair travels to the calling process and the whole partition is held in its
//! memory; the reduce phase then ships every key's values to a worker. This is fine for a
//! chapter-sized corpus and for combined outputs, and it is the reason `wordcount` combines on
//! the map side. The executor decides where tasks run: a local [`Pool`] or the MPI executor.
//!
//! ```rust,standalone_crate
//! use multiproc::SimpleMapReduce;
//!
//! fn words(line: String) -> Vec<(String, u64)> {
//!     line.split_whitespace().map(|w| (w.to_lowercase(), 1)).collect()
//! }
//!
//! fn total((word, counts): (String, Vec<u64>)) -> (String, u64) {
//!     (word, counts.iter().sum())
//! }
//!
//! fn main() {
//!     multiproc::init();
//!     let mr = SimpleMapReduce::new(words, total, Some(2)).unwrap();
//!     let counts = mr.run(vec!["a b".to_owned(), "B c".to_owned()], 1).unwrap();
//!     assert_eq!(counts, [("a".to_owned(), 1), ("b".to_owned(), 2), ("c".to_owned(), 1)]);
//! }
//! ```

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::pool::{Executor, Pool, PoolError};
use crate::sys;

/// A combiner that does nothing: the default of [`SimpleMapReduce`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCombiner;

/// How mapped pairs are combined inside a worker before they travel. Implemented by
/// [`NoCombiner`] and by every zero-sized `Fn((K, Vec<V>)) -> (K, V)`.
pub trait Combine<K, V>: Copy + Send + 'static {
    /// Combines one input's pairs.
    fn combine(self, pairs: Vec<(K, V)>) -> Vec<(K, V)>;
}

impl<K, V> Combine<K, V> for NoCombiner {
    fn combine(self, pairs: Vec<(K, V)>) -> Vec<(K, V)> {
        pairs
    }
}

impl<K, V, F> Combine<K, V> for F
where
    K: Hash + Eq + Clone,
    F: Fn((K, Vec<V>)) -> (K, V) + Copy + Send + 'static,
{
    fn combine(self, pairs: Vec<(K, V)>) -> Vec<(K, V)> {
        partition(pairs).into_iter().map(self).collect()
    }
}

/// Groups values by key, keeping the keys in order of first appearance and, within a key, the
/// values in order of arrival (the chapter's `partition`).
pub fn partition<K: Hash + Eq + Clone, V>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> Vec<(K, Vec<V>)> {
    let mut index: HashMap<K, usize> = HashMap::new();
    let mut groups: Vec<(K, Vec<V>)> = Vec::new();
    for (k, v) in pairs {
        match index.get(&k) {
            Some(&i) => groups[i].1.push(v),
            None => {
                index.insert(k.clone(), groups.len());
                groups.push((k, vec![v]));
            }
        }
    }
    groups
}

/// The map task as it runs in a worker: map, then combine.
fn map_task<M, C, I, K, V>(input: I) -> Vec<(K, V)>
where
    M: Fn(I) -> Vec<(K, V)> + Copy + 'static,
    C: Combine<K, V>,
{
    let map: M = sys::target::conjure::<M>();
    let combine: C = sys::target::conjure::<C>();
    combine.combine(map(input))
}

/// The function types a [`SimpleMapReduce`] is made of (it holds no values of them).
type Fns<M, R, C> = fn() -> (M, R, C);

/// [The chapter](crate)'s `SimpleMapReduce`: map, partition, reduce, on an [`Executor`]. See the
/// [module docs](self).
#[must_use]
pub struct SimpleMapReduce<E, M, R, C = NoCombiner> {
    executor: E,
    _fns: PhantomData<Fns<M, R, C>>,
}

impl<E, M, R, C> std::fmt::Debug for SimpleMapReduce<E, M, R, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimpleMapReduce")
            .field("map", &std::any::type_name::<M>())
            .field("reduce", &std::any::type_name::<R>())
            .field("combine", &std::any::type_name::<C>())
            .finish()
    }
}

impl<M, R> SimpleMapReduce<Pool, M, R, NoCombiner>
where
    M: Copy + Send + 'static,
    R: Copy + Send + 'static,
{
    /// A MapReduce on its own [`Pool`] of `workers` processes (default
    /// [`cpu_count()`](crate::cpu_count)), like the chapter's `SimpleMapReduce(map_func,
    /// reduce_func, num_workers)`.
    pub fn new(map: M, reduce: R, workers: Option<usize>) -> Result<Self, PoolError> {
        let mut builder = Pool::builder();
        if let Some(n) = workers {
            builder = builder.processes(n);
        }
        Ok(SimpleMapReduce::with_executor(
            builder.build()?,
            map,
            reduce,
        ))
    }
}

impl<E, M, R> SimpleMapReduce<E, M, R, NoCombiner>
where
    M: Copy + Send + 'static,
    R: Copy + Send + 'static,
{
    /// A MapReduce on `executor`: a [`Pool`], a `&Pool`, or the MPI executor.
    pub fn with_executor(executor: E, map: M, reduce: R) -> Self {
        let _ = (map, reduce);
        const {
            assert!(
                std::mem::size_of::<M>() == 0 && std::mem::size_of::<R>() == 0,
                "map and reduce functions must not capture state"
            )
        };
        SimpleMapReduce {
            executor,
            _fns: PhantomData,
        }
    }
}

impl<E, M, R, C> SimpleMapReduce<E, M, R, C> {
    /// Adds a combiner, run in the worker on each input's pairs before they travel.
    pub fn combiner<C2: Copy + Send + 'static>(self, combine: C2) -> SimpleMapReduce<E, M, R, C2> {
        let _ = combine;
        const {
            assert!(
                std::mem::size_of::<C2>() == 0,
                "a combiner must not capture state"
            )
        };
        SimpleMapReduce {
            executor: self.executor,
            _fns: PhantomData,
        }
    }

    /// The executor.
    pub fn executor(&self) -> &E {
        &self.executor
    }

    /// Maps `inputs` (`chunksize` per task, as in the chapter's `__call__`), partitions the
    /// pairs, reduces each key, and returns the reduced values in order of the keys' first
    /// appearance.
    pub fn run<I, K, V, O>(&self, inputs: Vec<I>, chunksize: usize) -> Result<Vec<O>, PoolError>
    where
        E: Executor,
        M: Fn(I) -> Vec<(K, V)> + Copy + Send + 'static,
        R: Fn((K, Vec<V>)) -> O + Copy + Send + 'static,
        C: Combine<K, V>,
        I: Serialize + DeserializeOwned + Send + 'static,
        K: Serialize + DeserializeOwned + Hash + Eq + Clone + Send + 'static,
        V: Serialize + DeserializeOwned + Send + 'static,
        O: Serialize + DeserializeOwned + Send + 'static,
    {
        let mapped: Vec<Vec<(K, V)>> =
            self.executor
                .map(map_task::<M, C, I, K, V>, inputs, Some(chunksize.max(1)))?;
        let partitioned = partition(mapped.into_iter().flatten());
        let reduce: R = sys::target::conjure::<R>();
        self.executor.map(reduce, partitioned, None)
    }
}

#[cfg(test)]
mod tests {
    use super::partition;

    #[test]
    fn partition_keeps_arrival_order() {
        let p = partition([("b", 1), ("a", 2), ("b", 3), ("c", 4), ("a", 5)]);
        assert_eq!(p, [("b", vec![1, 3]), ("a", vec![2, 5]), ("c", vec![4])]);
    }
}
