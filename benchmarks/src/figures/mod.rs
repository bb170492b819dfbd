//! The figures: one module per group, each contributing its figures to [`all`].
//!
//! The Python side of every planned figure is already in `benchmarks/python/`; a figure is
//! registered here once its multiproc side exists.

mod pool;
mod start_join;
mod sync;
mod wordcount;

use crate::figure::Figure;

/// Every registered figure, in the order they are run and reported.
pub(crate) fn all() -> Vec<Box<dyn Figure>> {
    let mut figures: Vec<Box<dyn Figure>> = Vec::new();
    figures.extend(start_join::figures());
    figures.extend(pool::figures());
    figures.extend(sync::figures());
    figures.extend(wordcount::figures());
    figures
}
