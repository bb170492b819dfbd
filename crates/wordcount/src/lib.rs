//! Word frequencies over files, MapReduce style.
//!
//! This re-creates the "Counting Words in Files" example of the
//! multiprocessing chapter of *Python Module of the Week*, exactly (Python 3
//! semantics, see [`tokenize`]) and fast. The work is split into pure steps
//! on owned, serde-serializable values, so that any executor can run them:
//!
//! 1. [`plan`] walks the inputs and cuts them into [`Chunk`]s, byte ranges
//!    aligned to line boundaries, so a large file is spread over workers.
//!    Each chunk of a regular file carries the [`Stamp`] (identity, size,
//!    times) the plan saw; the last chunk of a file reads to its end,
//!    whatever its size says;
//! 2. [`count_chunk`] is the map step: it streams one chunk through a bounded
//!    buffer and returns its word [`Counts`] (combined on the map side),
//!    checking that the file is the one planned and did not change while it
//!    was read ([`Error::Changed`]);
//! 3. [`merge`] is the reduce step, and [`sorted`] orders the result by count
//!    descending, then word ascending.
//!
//! [`count_on`] is the driver that runs them on any [`multiproc::Executor`]:
//! a local [`multiproc::Pool`] of worker processes (what the `wordcount`
//! program runs), the MPI executor's ranks, or [`Threads`] of this process
//! ([`count_paths`]). Workers claim sources one at a time from a list in
//! shared memory ([`Dispatch::Claim`]), or get groups of them where memory
//! cannot be shared ([`Dispatch::Groups`]), and send back one table per task.
//! Inputs that can be read only once (pipes, `/proc` files) are counted by
//! the driver itself, and so are words too long to send between processes,
//! which workers set aside and the driver reads back from their files.
//!
//! ```
//! let counts = wordcount::count_text("The pool maps; the POOL reduces.\n");
//! assert_eq!(counts.get("pool"), 2);
//! assert_eq!(counts.get("the"), 0); // a stop word
//! ```
#![deny(unsafe_code)]

mod claim;
mod corpus;
mod counts;
mod decode;
mod driver;
mod error;
mod long_word;
mod map;
mod path_bytes;
mod plan;
pub mod report;
mod short_word;
mod source;
mod stamp;
mod threads;
pub mod tokenize;
pub mod unicode;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86;

pub use corpus::{CORPUS, EmbeddedFile, corpus_len, count_corpus};
pub use counts::{Counts, merge, sorted};
pub use decode::{DecodeError, count_bytes};
pub use driver::{Dispatch, Options, RunError, count_on, count_paths, default_workers};
pub use error::{Error, IoAction, IoKind, Result};
pub use map::{READ_BUFFER_SIZE, count_chunk, count_chunk_into, count_text};
pub use plan::{Chunk, DEFAULT_CHUNK_SIZE, PlanOptions, plan, plan_with};
pub use short_word::ShortWord;
pub use source::{Source, embedded_sources};
pub use stamp::{Change, Stamp};
pub use threads::Threads;
pub use tokenize::{STOP_WORDS, Tokenizer, WordSink};
