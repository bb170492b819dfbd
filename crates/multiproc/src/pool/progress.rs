//! The opt-in progress bar of `map`, drawn only when stderr is a terminal, and only with the
//! `progress` feature (without it, nothing can ask for one and `Bar` draws nothing).

/// A progress bar that may be hidden.
pub(crate) struct Bar(#[cfg(feature = "progress")] Option<indicatif::ProgressBar>);

#[cfg(feature = "progress")]
impl Bar {
    pub(crate) fn new(wanted: bool, len: u64) -> Bar {
        use std::io::IsTerminal;

        if !wanted || !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = indicatif::ProgressBar::new(len);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40.cyan/blue} {pos}/{len} tasks [{elapsed_precise} < {eta_precise}]",
        ) {
            bar.set_style(style);
        }
        Bar(Some(bar))
    }

    pub(crate) fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

#[cfg(not(feature = "progress"))]
impl Bar {
    pub(crate) fn new(_wanted: bool, _len: u64) -> Bar {
        Bar()
    }

    pub(crate) fn inc(&self, _n: u64) {}

    pub(crate) fn finish(&self) {}
}
