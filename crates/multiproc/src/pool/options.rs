//! [`MapOptions`]: chunk size, per-task timeout and progress bar of one `map`-like call.

use std::time::Duration;

use super::PoolError;

/// Options of one `map`-like call: chunk size, per-task timeout and a progress bar.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct MapOptions {
    pub(crate) chunksize: Option<usize>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) progress: bool,
}

impl MapOptions {
    /// The defaults: Python's chunk size rule, the pool's task timeout, no progress bar.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tasks per chunk (at least 1: a call with 0 fails with [`PoolError::InvalidArgument`],
    /// as Python raises `ValueError`). The default follows Python: `ceil(len / (4 *
    /// processes))` for `map`, 1 for `imap`.
    ///
    /// A chunk goes to one worker as one message; its tasks still time out, fail and are
    /// re-run one by one.
    pub fn chunksize(mut self, n: usize) -> Self {
        self.chunksize = Some(n);
        self
    }

    /// A timeout for each task of this call, overriding the pool's default. It is measured
    /// from the task's own start, also inside a chunk.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Shows a progress bar on stderr (only when stderr is a terminal).
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// The chunk size, checked: `default` when none was given.
    pub(crate) fn chunksize_or(&self, default: usize) -> Result<usize, PoolError> {
        match self.chunksize {
            Some(0) => Err(PoolError::InvalidArgument(
                "chunksize must be at least 1, not 0".into(),
            )),
            Some(n) => Ok(n),
            None => Ok(default.max(1)),
        }
    }
}
