//! [`Deadline`]: when a wait on another process gives up.
//!
//! Every blocking operation of the crate comes in four forms (`x`, `try_x`, `x_timeout`,
//! `x_deadline`), and all four funnel into one internal function. That function takes a
//! `Deadline`: never (the blocking form), now (the `try_` form), or an instant (the other two).

use std::time::{Duration, Instant};

use crate::sys::fd::deadline_after;

/// When a wait gives up: never, or at an instant, which may already have passed (a `try_`
/// operation waits until now).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// A wait without a bound.
    pub(crate) const NEVER: Deadline = Deadline(None);

    /// No waiting at all: only what is possible now.
    pub(crate) fn now() -> Deadline {
        Deadline(Some(Instant::now()))
    }

    /// Gives up at `instant`.
    pub(crate) fn at(instant: Instant) -> Deadline {
        Deadline(Some(instant))
    }

    /// Gives up `timeout` from now (a timeout too large for the clock is as good as never).
    pub(crate) fn after(timeout: Duration) -> Deadline {
        Deadline(Some(deadline_after(timeout)))
    }

    /// The instant, or `None` for no bound (what `poll`-like system calls take).
    pub(crate) fn instant(self) -> Option<Instant> {
        self.0
    }

    /// Whether this wait has no bound.
    pub(crate) fn is_never(self) -> bool {
        self.0.is_none()
    }

    /// Whether the deadline has passed.
    pub(crate) fn has_passed(self) -> bool {
        self.0.is_some_and(|d| Instant::now() >= d)
    }

    /// The time left (zero once passed), or `None` for no bound.
    pub(crate) fn remaining(self) -> Option<Duration> {
        self.0.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The earlier of two deadlines.
    pub(crate) fn earlier(self, other: Deadline) -> Deadline {
        match (self.0, other.0) {
            (Some(a), Some(b)) => Deadline(Some(a.min(b))),
            (Some(_), None) => self,
            (None, _) => other,
        }
    }
}

impl From<Instant> for Deadline {
    fn from(instant: Instant) -> Deadline {
        Deadline::at(instant)
    }
}

impl From<Option<Instant>> for Deadline {
    /// `None` is no bound.
    fn from(instant: Option<Instant>) -> Deadline {
        Deadline(instant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_is_unbounded_and_later_than_any_instant() {
        let soon = Deadline::after(Duration::from_millis(10));
        assert!(Deadline::NEVER.is_never() && !Deadline::NEVER.has_passed());
        assert_eq!(Deadline::NEVER.remaining(), None);
        assert_eq!(Deadline::NEVER.earlier(soon), soon);
        assert_eq!(soon.earlier(Deadline::NEVER), soon);
        assert_eq!(Deadline::NEVER.earlier(Deadline::NEVER), Deadline::NEVER);
    }

    #[test]
    fn an_instant_passes() {
        let now = Deadline::now();
        assert!(now.has_passed());
        assert_eq!(now.remaining(), Some(Duration::ZERO));
        let later = Deadline::after(Duration::from_secs(60));
        assert!(!later.has_passed());
        assert!(later.remaining().unwrap() > Duration::from_secs(50));
        assert_eq!(later.earlier(now), now);
        assert_eq!(Deadline::from(now.instant()), now);
    }

    #[test]
    fn a_huge_timeout_saturates() {
        let d = Deadline::after(Duration::MAX);
        assert!(!d.is_never() && !d.has_passed());
    }
}
