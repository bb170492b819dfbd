//! The default input: the multiprocessing chapter's own reStructuredText
//! source, compiled into the binary (see `corpus/README.md` for its origin
//! and license).

use crate::counts::{Counts, merge};
use crate::map::count_text;

/// A file of the embedded corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedFile {
    /// The file's name in the chapter's directory.
    pub name: &'static str,
    /// Its text.
    pub text: &'static str,
}

/// The chapter's four files, as the chapter's `glob('*.rst')` finds them
/// (sorted by name).
pub const CORPUS: [EmbeddedFile; 4] = [
    EmbeddedFile {
        name: "basics.rst",
        text: include_str!("../corpus/basics.rst"),
    },
    EmbeddedFile {
        name: "communication.rst",
        text: include_str!("../corpus/communication.rst"),
    },
    EmbeddedFile {
        name: "index.rst",
        text: include_str!("../corpus/index.rst"),
    },
    EmbeddedFile {
        name: "mapreduce.rst",
        text: include_str!("../corpus/mapreduce.rst"),
    },
];

/// Total size of the embedded corpus in bytes.
pub fn corpus_len() -> u64 {
    CORPUS.iter().map(|f| f.text.len() as u64).sum()
}

/// Counts the words of the embedded corpus.
pub fn count_corpus() -> Counts {
    CORPUS
        .iter()
        .map(|f| count_text(f.text))
        .fold(Counts::new(), merge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chapter_counts_process_most() {
        let top = count_corpus().into_sorted();
        assert_eq!(top[0].0, "process");
        assert!(top.iter().all(|(w, _)| w != "the" && w != "py"));
        assert!(corpus_len() > 20_000);
    }
}
