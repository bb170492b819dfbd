//! Word frequencies over files, MapReduce style.
//!
//! This re-creates the "Counting Words in Files" example of the
//! multiprocessing chapter of *Python Module of the Week*, exactly (Python 3
//! semantics, see [`tokenize`]) and fast. The work is split into pure steps
//! on owned, serde-serializable values, so that any executor can run them:
//!
//! 1. [`plan`] walks the inputs and cuts them into [`Chunk`]s, byte ranges
//!    aligned to line boundaries, so a large file is spread over workers;
//! 2. [`count_chunk`] is the map step: it streams one chunk through a bounded
//!    buffer and returns its word [`Counts`] (combined on the map side);
//! 3. [`merge`] is the reduce step, and [`sorted`] orders the result by count
//!    descending, then word ascending.
//!
//! The `wordcount` program runs the map step in worker processes: [`count_on_pool`] on a
//! local [`multiproc::Pool`], [`count_on`] on any [`multiproc::Executor`] (such as the MPI
//! executor). Each task counts a group of consecutive chunks and sends back one table, which
//! this process merges as it arrives. [`count_paths`] runs the same steps on threads of the
//! calling process, for library users who want no processes.
//!
//! ```
//! let counts = wordcount::count_text("The pool maps; the POOL reduces.\n");
//! assert_eq!(counts.get("pool"), 2);
//! assert_eq!(counts.get("the"), 0); // a stop word
//! ```
#![deny(unsafe_code)]

mod chunk;
mod corpus;
mod count;
mod counts;
mod driver;
mod error;
mod executor;
pub mod report;
mod short_table;
mod short_word;
mod tables;
pub mod tokenize;
pub mod unicode;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86;

pub use chunk::{Chunk, DEFAULT_CHUNK_SIZE, PlanOptions, plan, plan_with};
pub use corpus::{CORPUS, EmbeddedFile, corpus_len, count_corpus};
pub use count::{
    DecodeError, READ_BUFFER_SIZE, count_bytes, count_chunk, count_chunk_into, count_text,
};
pub use counts::{Counts, merge, sorted};
pub use driver::{Options, count_chunks, count_paths, default_workers};
pub use error::{Error, IoAction, IoKind, Result};
pub use executor::{RunError, Source, count_on, count_on_pool, embedded_sources, group};
pub use short_word::ShortWord;
pub use tokenize::{STOP_WORDS, Tokenizer, WordSink};
