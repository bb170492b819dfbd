//! What a worker counts: a chunk of a file, or a file of the embedded corpus.

use serde::{Deserialize, Serialize};

use crate::corpus::CORPUS;
use crate::counts::Counts;
use crate::error::{Error, IoAction, IoKind, Result};
use crate::long_word::{LongWord, SET_ASIDE_ABOVE};
use crate::map::{count_text, read_chunk};
use crate::plan::Chunk;

/// What a worker counts: a chunk of a file, or one of the files compiled into the binary
/// (which every worker has, since it runs the same executable).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// A byte range of a file.
    File(Chunk),
    /// [`CORPUS`]`[i]`.
    Embedded(usize),
}

impl Source {
    /// Its length in bytes, if known.
    pub fn len(&self) -> Option<u64> {
        match self {
            Source::File(c) => c.len(),
            Source::Embedded(i) => CORPUS.get(*i).map(|f| f.text.len() as u64),
        }
    }

    /// Whether it is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Whether it is an input read once as it comes ([`Chunk::reads_once`]), which the
    /// driver counts itself rather than hand to a worker.
    pub fn reads_once(&self) -> bool {
        matches!(self, Source::File(c) if c.reads_once())
    }
}

/// The embedded corpus as sources.
pub fn embedded_sources() -> Vec<Source> {
    (0..CORPUS.len()).map(Source::Embedded).collect()
}

/// What a worker sends back: the counts of the sources it counted, and the words it set aside
/// (with the position of their source in the input).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Tally {
    pub(crate) counts: Counts,
    pub(crate) set_aside: Vec<(usize, LongWord)>,
}

impl Tally {
    /// Counts `source`, the input's `index`-th, into this tally; a worker (`in_worker`) sets
    /// long words aside.
    pub(crate) fn count(&mut self, index: usize, source: &Source, in_worker: bool) -> Result<()> {
        match source {
            Source::File(chunk) => {
                let limit = in_worker.then_some(SET_ASIDE_ABOVE);
                let words = read_chunk(chunk, &mut self.counts, limit)?;
                self.set_aside.extend(words.into_iter().map(|w| (index, w)));
                Ok(())
            }
            Source::Embedded(i) => {
                let file = CORPUS.get(*i).ok_or_else(|| Error::Io {
                    path: format!("<embedded #{i}>").into(),
                    action: IoAction::Open,
                    kind: IoKind::NotFound,
                    message: "no such embedded file".into(),
                })?;
                self.counts.merge_from(count_text(file.text));
                Ok(())
            }
        }
    }
}
