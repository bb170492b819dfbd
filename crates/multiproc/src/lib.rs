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
pub mod remote;
pub mod shared;
pub mod start;
pub mod sync;
mod sys;

pub use codec::{Bytes, Fd};
pub use connection::Connection;
pub use logging::{Logger, get_logger, log_to_stderr};
pub use mapreduce::SimpleMapReduce;
pub use multiproc_macros::{main, test};
pub use pool::{AsyncResult, Executor, MapOptions, Pool, PoolBuilder, PoolError, TaskError};
pub use process::{
    Handle, Process, ProcessError, ProcessInfo, Run, active_children, authkey, cpu_count,
    current_process, exit, parent_process, set_current_name, spawn,
};
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

    /// A connected pair of connections, for tests written before `pipe()` existed.
    pub fn connection_pair() -> (crate::Connection, crate::Connection) {
        let (a, b) = crate::sys::fd::socketpair().expect("socketpair");
        (
            crate::Connection::from_socket(a, true, true),
            crate::Connection::from_socket(b, true, true),
        )
    }
}
