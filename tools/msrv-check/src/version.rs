//! Rust versions as `rust-version` writes them: `1.88` or `1.88.0`.

use std::fmt;

/// A Rust release, ordered by release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RustVersion {
    major: u32,
    minor: u32,
    patch: u32,
}

impl RustVersion {
    /// `1.minor.0`.
    pub(crate) const fn new(minor: u32) -> RustVersion {
        RustVersion {
            major: 1,
            minor,
            patch: 0,
        }
    }

    /// Parses `1.88` or `1.88.0` (what Cargo accepts in `rust-version`).
    pub(crate) fn parse(text: &str) -> Option<RustVersion> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(RustVersion {
            major,
            minor,
            patch,
        })
    }

    /// The first Rust release that accepts `edition` (Cargo refuses an older `rust-version`
    /// for it, but a dependency may declare an edition and no `rust-version`).
    pub(crate) fn of_edition(edition: &str) -> RustVersion {
        match edition {
            "2018" => RustVersion::new(31),
            "2021" => RustVersion::new(56),
            "2024" => RustVersion::new(85),
            _ => RustVersion::new(0),
        }
    }
}

impl fmt::Display for RustVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.patch == 0 {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RustVersion;

    #[test]
    fn parses_both_forms_and_orders_numerically() {
        let v188 = RustVersion::parse("1.88").unwrap();
        assert_eq!(RustVersion::parse("1.88.0"), Some(v188));
        assert!(RustVersion::parse("1.9").unwrap() < v188);
        assert!(RustVersion::parse("1.88.1").unwrap() > v188);
        assert_eq!(v188.to_string(), "1.88");
        assert_eq!(RustVersion::parse("1.71.1").unwrap().to_string(), "1.71.1");
    }

    #[test]
    fn refuses_what_is_not_a_version() {
        for bad in ["", "1", "1.x", "1.88.0.1", "stable"] {
            assert_eq!(RustVersion::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn editions_have_their_first_release() {
        assert_eq!(RustVersion::of_edition("2024"), RustVersion::new(85));
        assert_eq!(RustVersion::of_edition("2021"), RustVersion::new(56));
        assert!(RustVersion::of_edition("2015") < RustVersion::new(1));
    }
}
