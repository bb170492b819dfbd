//! Manage operating-system processes the way `std::thread` manages threads: Rust's answer to
//! Python's `multiprocessing`.
//!
//! # Hello, process
//!
//! A program calls [`init`] first thing in `main`. In a child, `init` runs the child's job
//! and never returns; in the main program it returns at once.
//!
//! ```rust,standalone_crate
//! fn worker(n: u32) -> u32 {
//!     println!("Worker: {n}");
//!     n * 2
//! }
//!
//! fn main() {
//!     multiproc::init();
//!     let handles: Vec<_> = (0..3).map(|i| multiproc::spawn(worker, i)).collect();
//!     let doubled: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
//!     assert_eq!(doubled, [0, 2, 4]);
//! }
//! ```
//!
//! A target is a function item, or a closure that captures nothing; what it needs travels as
//! its argument, which (like its return value) is any serde type. [`Process`] is the builder
//! (name, daemon, start method); [`Handle`] is what `start` returns: `join`, `join_timeout`,
//! `exitcode`, `terminate`, `kill`, `is_alive`.
//!
//! # Pipes and queues
//!
//! A [`pipe`] is a pair of [`Connection`]s; a [`Queue`] is shared by any number of producer
//! and consumer processes. Both travel to a child as (part of) its argument, and carry any
//! serde type.
//!
//! ```rust,standalone_crate
//! use multiproc::{Connection, Queue};
//!
//! fn worker(args: (Connection, Queue<u64>)) {
//!     let (conn, results) = args;
//!     while let Ok(n) = conn.recv::<u64>() {
//!         results.put(n * n).unwrap();
//!     }
//! }
//!
//! fn main() {
//!     multiproc::init();
//!     let (here, there) = multiproc::pipe(true);
//!     let results = Queue::new();
//!     let child = multiproc::spawn(worker, (there, results.clone()));
//!     for n in 1..=3u64 {
//!         here.send(&n).unwrap();
//!     }
//!     drop(here); // the worker sees the end of the stream and returns
//!     child.join().unwrap();
//!     let squares: Vec<u64> = (0..3).map(|_| results.get().unwrap()).collect();
//!     assert_eq!(squares, [1, 4, 9]);
//! }
//! ```
//!
//! [`Listener`] and [`Client`] connect unrelated programs, with CPython's wire format and
//! authkey handshake, so a Python program can be either end. [`JoinableQueue`] counts
//! unfinished tasks; [`SimpleQueue`] is the plain queue. See [`connection`] and [`queue`].
//!
//! # Start methods
//!
//! Children run this same executable. [`StartMethod::ForkServer`] (the default) forks them
//! from a small server executed once; [`StartMethod::Spawn`] executes `/proc/self/exe` for
//! each; the `unsafe` [`StartMethod::fork`] forks the caller. Choose globally with
//! [`set_start_method`], per context with [`get_context`], or per process with
//! [`Process::start_method`].

#![doc(html_no_source)]

pub mod codec;
pub mod connection;
mod logging;
pub mod mapreduce;
pub mod pool;
mod process;
pub mod queue;
pub mod remote;
pub mod shared;
pub mod start;
pub mod sync;
mod sys;

pub use codec::{Bytes, Fd};
pub use connection::{Client, Connection, Listener, pipe};
pub use logging::{Logger, get_logger, log_to_stderr};
pub use mapreduce::SimpleMapReduce;
pub use multiproc_macros::{main, test};
pub use pool::{AsyncResult, Executor, MapOptions, Pool, PoolBuilder, PoolError, TaskError};
pub use process::{
    Handle, Process, ProcessError, ProcessInfo, Run, active_children, authkey, cpu_count,
    current_process, exit, parent_process, set_current_name, spawn,
};
pub use queue::{JoinableQueue, Queue, SimpleQueue};
pub use shared::{Array, RawArray, RawValue, SharedMemory, ShmError, Value};
pub use start::{Context, StartMethod, get_context, get_start_method, init, set_start_method};
pub use sync::{Barrier, BoundedSemaphore, Condition, Event, HolderDied, Lock, RLock, Semaphore};

/// Re-exported for users of the attribute macros and of log levels.
pub use log::LevelFilter;

#[doc(hidden)]
pub mod __private {
    //! Support for the attribute macros. Not public API.

    /// The first statement of a `#[multiproc::test]`.
    pub fn enter_test(module_path: &str, name: &str) {
        crate::start::enter_test(module_path, name);
    }

    /// Fuzz entry: arbitrary bytes through the connection frame decoder.
    pub fn fuzz_frames(data: &[u8]) {
        crate::connection::frame::exercise(data);
    }

    /// Fuzz entry: arbitrary peer messages through the authkey handshake's parsers.
    pub fn fuzz_handshake(data: &[u8]) {
        crate::connection::auth::exercise(data);
    }
}
