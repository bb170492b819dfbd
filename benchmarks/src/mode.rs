//! What the harness and the peer programs share: how long a run may take, and the error type
//! of a measurement. The peer programs include this file by path.

/// The error type of a measurement.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a run may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Counts sized so that the whole `--quick` run stays under a minute.
    Quick,
    /// Counts sized for stable figures.
    Full,
}

impl Mode {
    /// `quick` in quick mode, `full` otherwise.
    pub(crate) fn pick<T>(self, full: T, quick: T) -> T {
        match self {
            Mode::Quick => quick,
            Mode::Full => full,
        }
    }
}
