//! [`Run`]: a process defined by a type, in place of subclassing Python's `Process`.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A job that runs in its own process: the Rust counterpart of subclassing Python's
/// `multiprocessing.Process` and overriding `run`.
///
/// The value is sent to the child (so it is a serde type), and `run` is called there. Start it
/// with [`Process::from_run`](crate::Process::from_run); its default name is `<TypeName>-k`.
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Worker;
///
/// impl multiproc::Run for Worker {
///     type Output = ();
///     fn run(self) {
///         println!("In {}", multiproc::current_process().name());
///     }
/// }
/// ```
pub trait Run: Serialize + DeserializeOwned + 'static {
    /// What `run` returns to [`Handle::join`](crate::Handle::join).
    type Output: Serialize + DeserializeOwned + 'static;

    /// The job, run in the child process.
    fn run(self) -> Self::Output;
}
