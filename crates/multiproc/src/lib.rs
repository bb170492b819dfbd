//! Manage operating-system processes the way `std::thread` manages threads: Rust's answer to
//! Python's `multiprocessing`.
//!
//! The tour below follows the multiprocessing chapter of Doug Hellmann's *Python Module of the
//! Week*, ["multiprocessing – Manage processes like threads"][chapter] (Basics, Communication
//! Between Processes, MapReduce): *the chapter* in these docs. Each of its scripts has a
//! counterpart among the crate's examples, under the same name without the `multiprocessing_`
//! prefix.
//!
//! [chapter]: https://pymotw.com/2/multiprocessing/
//!
//! # Hello, process
//!
//! A process runs a function in a child process, like a thread runs one in a thread, and
//! `join` gives back what it returned. Nothing needs to be set up first: the program's `main`
//! runs once, in the parent only.
//!
//! ```rust,standalone_crate
//! fn worker(n: u32) -> u32 {
//!     println!("Worker: {n}");
//!     n * 2
//! }
//!
//! fn main() {
//!     let handles: Vec<_> = (0..3).map(|i| multiproc::spawn(worker, i)).collect();
//!     let doubled: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
//!     assert_eq!(doubled, [0, 2, 4]);
//! }
//! ```
//!
//! Every child runs this same executable. multiproc registers a process constructor that runs
//! before `main`: in a child it runs the child's target and exits, so `main` (and whatever it
//! starts: an async runtime, argument parsing, a banner) never runs there. That is why a plain
//! `main`, a `#[tokio::main]`, plain `#[test]` functions and a library that starts processes
//! for a program that never names multiproc all work as they are. A child sees its parent's
//! `std::env::args()`. ([`init`] and the `#[multiproc::main]` / `#[multiproc::test]`
//! attributes of earlier versions still compile, and do nothing harmful.)
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
//! # Locks and events
//!
//! [`Lock`], [`RLock`], [`Semaphore`], [`Event`], [`Condition`] and [`Barrier`] live in shared
//! memory and are futex-based; they pass to children like any argument. Every blocking call
//! has `try_`, `_timeout` and `_deadline` forms, and a lock whose holder died is reported as
//! [`HolderDied`] to the next acquirer, instead of being held forever.
//!
//! ```rust,standalone_crate
//! use std::time::Duration;
//! use multiproc::{Event, Lock};
//!
//! fn worker((ready, lock): (Event, Lock)) -> bool {
//!     let _guard = lock.acquire().unwrap(); // held until the end of the function
//!     ready.wait_timeout(Duration::from_secs(10))
//! }
//!
//! fn main() {
//!     let (ready, lock) = (Event::new(), Lock::new());
//!     let child = multiproc::spawn(worker, (ready.clone(), lock.clone()));
//!     ready.set();
//!     assert!(child.join().unwrap());
//!     assert!(!lock.locked());
//! }
//! ```
//!
//! # Shared values
//!
//! [`Value`] and [`Array`] hold plain data (`bytemuck::Pod`) in shared memory, with a lock
//! (their own, or also one they share: `new_with_lock`); [`RawValue`] and [`RawArray`]
//! without. No safe API hands out a reference into memory that another process may be
//! writing: values are copied in and out, or borrowed mutably under the lock.
//! [`SharedMemory`] gives named segments that Python can attach to, removed when their creator
//! ends (even by SIGKILL) unless told otherwise ([`SharedMemory::options`]);
//! [`ShareableList`] is Python's list in one; a [`SharedMemoryManager`] keeps segments until
//! it shuts down. See [`shared`].
//!
//! ```rust,standalone_crate
//! use multiproc::{Array, Value};
//!
//! fn worker((total, squares): (Value<u64>, Array<u64>)) {
//!     for i in 0..squares.len() {
//!         squares.set(i, (i * i) as u64);
//!         total.with_lock(|t| *t += (i * i) as u64);
//!     }
//! }
//!
//! fn main() {
//!     let (total, squares) = (Value::new(0u64), Array::<u64>::new(4));
//!     multiproc::spawn(worker, (total.clone(), squares.clone())).join().unwrap();
//!     assert_eq!(total.get(), 14);
//!     assert_eq!(squares.to_vec(), [0, 1, 4, 9]);
//! }
//! ```
//!
//! # Managers
//!
//! A [`Manager`] keeps dicts, lists, arrays, sets, namespaces, queues and locks in a server
//! process, and hands out proxies to them: serializable, cheap to clone, usable from any process
//! that gets one, including programs on other machines that [`Manager::connect`] to a manager
//! [`Manager::serve`]d over TCP with an authkey. Your own types can live there too
//! ([`manager::Shared`]). Every call is bounded by a timeout, so a stopped server is an error,
//! not a hang; an item taken from a manager queue by a process that dies mid-`get` goes back to
//! the queue. See [`manager`].
//!
//! ```rust,standalone_crate
//! use std::time::Duration;
//! use multiproc::manager::{DictProxy, Namespace};
//!
//! fn worker((d, ns, key): (DictProxy<u32, u32>, Namespace, u32)) {
//!     d.set(key, key * 2).unwrap();
//!     ns.set("last", &key).unwrap();
//! }
//!
//! fn main() {
//!     let manager = multiproc::Manager::builder()
//!         .timeout(Duration::from_secs(5)) // no call waits on a silent server longer
//!         .start()
//!         .unwrap();
//!     let (d, ns) = (manager.dict().unwrap(), manager.namespace().unwrap());
//!     multiproc::spawn(worker, (d.clone(), ns.clone(), 21)).join().unwrap();
//!     assert_eq!(d.get(&21).unwrap(), Some(42));
//!     assert_eq!(ns.get::<u32>("last").unwrap(), 21);
//!     let err = ns.get::<u32>("value").unwrap_err();
//!     assert_eq!(err.to_string(), "'Namespace' object has no attribute 'value'");
//! }
//! ```
//!
//! # Pools
//!
//! A [`Pool`] keeps worker processes busy with `map`, `imap`, `apply_async` and friends, and
//! never hangs: a worker that dies fails only its own task and is replaced, no task waits
//! behind a busy or stopped worker while another is free, each task may have its own timeout
//! (also inside a chunk), a failing initializer breaks the pool once instead of restarting
//! workers forever, and dropping the pool terminates it. A task's panic comes back with where it
//! happened ([`TaskPanic`]), and the worker's backtrace when `RUST_BACKTRACE` is set.
//!
//! ```rust,standalone_crate
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! fn checked(x: u64) -> u64 {
//!     assert!(x < 10, "{x} is too big");
//!     x
//! }
//!
//! fn main() {
//!     let pool = multiproc::Pool::new(2).unwrap();
//!     assert_eq!(pool.map(square, 0..5).unwrap(), [0, 1, 4, 9, 16]);
//!     let later = pool.apply_async(square, 12).unwrap();
//!     assert_eq!(later.get().unwrap(), 144);
//!     // A panic says where: "task panicked at src/main.rs:6:5: 12 is too big".
//!     let err = pool.apply(checked, 12).unwrap_err();
//!     let text = err.task_error().unwrap().to_string();
//!     assert!(text.starts_with("task panicked at "), "{text}");
//!     assert!(text.contains(": 12 is too big"), "{text}");
//! }
//! ```
//!
//! # MapReduce
//!
//! [`SimpleMapReduce`] is the chapter's design (map, partition, reduce) on any [`Executor`]:
//! a local pool, or the MPI executor of `multiproc-mpi` to go past one machine. See the
//! [`mapreduce`] module for an example, and the `wordcount` program for the real job.
//!
//! # Start methods
//!
//! Children run this same executable. [`StartMethod::ForkServer`] (the default) forks them
//! from a small server executed once; [`StartMethod::Spawn`] executes `/proc/self/exe` for
//! each; the `unsafe` [`StartMethod::fork`] forks the caller. Choose globally with
//! [`set_start_method`], per context with [`get_context`], or per process with
//! [`Process::start_method`]; a child uses the method it was started with for its own
//! children. [`get_all_start_methods`] lists them, the default first.
//!
//! ```rust,standalone_crate
//! use multiproc::StartMethod;
//!
//! fn method(_: ()) -> String {
//!     multiproc::get_start_method().to_string()
//! }
//!
//! fn main() {
//!     let ctx = multiproc::get_context(StartMethod::Spawn);
//!     assert_eq!(ctx.process(method, ()).start().unwrap().join().unwrap(), "spawn");
//!     assert_eq!(multiproc::get_start_method(), StartMethod::ForkServer);
//! }
//! ```
//!
//! # Async (feature `tokio`)
//!
//! With the `tokio` feature, a tokio service awaits processes, connections, queues, events,
//! locks and pool results instead of blocking a thread on each: `Handle::join_async` and
//! `wait_async`, `Connection::recv_async` and `send_async`, `Queue::get_async` and
//! `put_async`, `Event::wait_async`, `Lock::acquire_async`, `Semaphore::acquire_async`,
//! and `.await` on an [`AsyncResult`]. One thread of a `current_thread` runtime awaits any
//! number of them at once.
//!
//! What waits where: a pidfd or a socket waits on the runtime's reactor; a primitive in
//! shared memory (a futex word) waits through multiproc's futex waker, one thread per 127
//! distinct words (`futex_waitv`) that turns futex wakes into task wakes; a pool result is
//! woken by the pool's scheduler. Each future either loses nothing when dropped (receives,
//! gets, waits, acquires), or its documentation says what dropping loses (`join_async` owns
//! its handle, so dropping it detaches the child, which is still reaped; `put_async` drops
//! its value unput). Starting processes and pools stays a blocking call (a few
//! milliseconds): do it at start-up, or in `spawn_blocking`.
//!
//! ```rust,standalone_crate
//! use multiproc::{Event, Queue};
//!
//! fn worker((jobs, results, done): (Queue<u64>, Queue<u64>, Event)) {
//!     while let Ok(n) = jobs.get() {
//!         if n == 0 {
//!             break;
//!         }
//!         results.put(n * n).unwrap();
//!     }
//!     done.set();
//! }
//!
//! fn cube(x: u64) -> u64 {
//!     x * x * x
//! }
//!
//! # #[cfg(feature = "tokio")]
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let (jobs, results, done) = (Queue::bounded(2), Queue::new(), Event::new());
//!     let child = multiproc::spawn(worker, (jobs.clone(), results.clone(), done.clone()));
//!     let pool = multiproc::Pool::new(2)?;
//!     let cubes = pool.map_async(cube, 1..=3)?;
//!     for n in [1, 2, 3, 0] {
//!         jobs.put_async(n).await?;
//!     }
//!     let mut squares = Vec::new();
//!     for _ in 0..3 {
//!         squares.push(results.get_async().await?);
//!     }
//!     done.wait_async().await;
//!     child.join_async().await?;
//!     assert_eq!(squares, [1, 4, 9]);
//!     assert_eq!(cubes.await?, [1, 8, 27]);
//!     Ok(())
//! }
//! # #[cfg(not(feature = "tokio"))]
//! # fn main() {}
//! ```
//!
//! # Features and platform
//!
//! - **`progress`** (on by default): `progress(true)` in [`MapOptions`], a progress bar for
//!   long maps, drawn with `indicatif`. Without it (`default-features = false`) multiproc
//!   builds without `indicatif` and the console crates under it.
//! - **`tokio`** (off by default): the async API above.
//!
//! multiproc runs on Linux (kernel 5.4 or later, glibc 2.34 or later): it is built on pidfds,
//! futexes, memfd and Unix sockets. On any other target it does not compile, with one error
//! that says so.
//!
//! # Caveats
//!
//! - **What runs where.** In a child, the C runtime and every process constructor of the
//!   program run, as in the parent: constructors of other crates (`ctor`, `inventory`, C
//!   `__attribute__((constructor))`) run once in each child and in the fork server, before the
//!   child's target. `main` never runs in a child, and neither does anything `main` sets up: a
//!   logger it installs, a runtime it builds, a signal handler it registers. A child gets the
//!   parent's arguments and environment, its standard streams, its start method and log level
//!   ([`get_logger`]), and nothing else but its target's argument.
//! - **What `cargo check` cannot catch.** The compiler refuses a target that holds data (a
//!   capturing closure, a `fn` pointer), but not a target that relies on state that only
//!   `main` creates (a global filled in `main`, a logger, a runtime): in a child that state is
//!   missing. Pass what the target needs as its argument. A program whose constructors start
//!   threads makes the fork server refuse to fork (use [`StartMethod::Spawn`]); a program that
//!   loads multiproc from a shared library cannot start processes
//!   ([`ProcessError::EntryNotLinked`]).
//! - **How children end.** A child's target returning (or [`exit`]) runs the child's exit
//!   sequence: its [`atexit`] handlers, its daemons terminated, its other children joined,
//!   Rust's and C's stdout and stderr flushed. A child started with spawn then ends through C's
//!   `exit`, so C `atexit` handlers registered in it run too; a forked child (forkserver,
//!   fork) ends with `_exit`, as Python's do. When a parent exits normally, its daemons get
//!   SIGTERM and, if still running after [`DAEMON_GRACE`], SIGKILL; its other children are
//!   joined, as in Python. When a parent dies without its exit sequence (killed by a signal),
//!   its children get SIGKILL at once, so that none is left behind, unless they were started
//!   with [`Process::outlives_parent`].
//! - **Dropping a [`Handle`]** detaches the child: it keeps running, its result is discarded,
//!   and it is reaped as soon as it ends (a thread waits for detached children).
//! - **Before `main`, std is not all there.** A child's target runs on the main thread before
//!   Rust's `main` wrapper would have run: a stack overflow there ends it with SIGSEGV (exit
//!   code -11) without std's "has overflowed its stack" message, and
//!   `std::thread::current().name()` is `None`. SIGPIPE is ignored, as in `main`.

#![cfg_attr(docsrs, feature(doc_cfg))]
// `unsafe` lives in `sys/` and the shared-memory internals only; each module there that needs
// it allows it by name.
#![deny(unsafe_code)]

// Linux is the one platform: pidfds, futexes, memfd and the rest have no portable stand-in
// here yet. On any other target the crate is this one error instead of one per missing libc
// item: every module below is Linux-only.
#[cfg(not(target_os = "linux"))]
compile_error!(
    "multiproc supports Linux only (kernel 5.4 or later, glibc 2.34 or later): it is built on \
     pidfds, futexes and memfd; its system calls live in src/sys/, where a port would start"
);

/// Keeps each item it is given on Linux only (see the `compile_error!` above).
macro_rules! linux_only {
    ($($item:item)*) => {
        $(
            #[cfg(target_os = "linux")]
            $item
        )*
    };
}

linux_only! {
    mod child;
    pub mod codec;
    pub mod connection;
    mod deadline;
    mod logging;
    pub mod manager;
    pub mod mapreduce;
    pub mod pool;
    mod process;
    pub mod queue;
    #[cfg(feature = "tokio")]
    mod reactor;
    pub mod remote;
    pub mod shared;
    pub mod start;
    pub mod sync;
    mod sys;

    // The crate root's items, by the order of the tour above; each is documented here, with its
    // summary, as well as in its module.

    // Processes.
    #[doc(inline)]
    pub use child::exit::{DAEMON_GRACE, atexit, exit};
    #[doc(inline)]
    pub use process::{
        Handle, Process, ProcessError, ProcessInfo, Run, active_children, authkey, cpu_count,
        current_process, parent_process, set_current_name, spawn,
    };
    // Pipes, connections and queues.
    #[doc(inline)]
    pub use codec::{Bytes, Fd};
    #[doc(inline)]
    pub use connection::{Client, Connection, Listener, pipe};
    #[doc(inline)]
    pub use queue::{JoinableQueue, Queue, SimpleQueue};
    // Locks and events.
    #[doc(inline)]
    pub use sync::{Barrier, BoundedSemaphore, Condition, Event, HolderDied, Lock, RLock, Semaphore};
    // Shared memory.
    #[doc(inline)]
    pub use shared::{
        Array, RawArray, RawValue, ShareableList, SharedMemory, SharedMemoryManager, ShmError, Value,
    };
    // Managers.
    #[doc(inline)]
    pub use manager::Manager;
    // Pools and MapReduce.
    #[doc(inline)]
    pub use mapreduce::SimpleMapReduce;
    #[doc(inline)]
    pub use pool::{
        AsyncResult, Executor, MapOptions, Pool, PoolBuilder, PoolError, TaskError, TaskPanic,
    };
    // Start methods and the entry.
    #[doc(inline)]
    pub use multiproc_macros::{main, test};
    #[doc(inline)]
    pub use start::{
        Context, StartMethod, Target, get_all_start_methods, get_context, get_start_method, init,
        set_start_method,
    };
    // Logging.
    /// The log levels of [`log_to_stderr`] and [`Logger::set_level`] (the `log` crate's).
    #[doc(inline)]
    pub use log::LevelFilter;
    #[doc(inline)]
    pub use logging::{Logger, get_logger, log_to_stderr};

    /// Support for the attribute macros. Not public API.
    #[doc(hidden)]
    pub mod __private {
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
}
