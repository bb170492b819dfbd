//! [`Identity`]: who a child is, from the `Process` that describes it to the child itself.

use serde::{Deserialize, Serialize};

/// A process's identity: made by [`Process`](crate::Process), kept by the parent's view of the
/// child, and sent to the child in its bootstrap message, where it becomes
/// [`current_process()`](crate::current_process).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Identity {
    /// `Process-k` by default, or the name it was given.
    pub(crate) name: String,
    /// `Process`, or the type name of a [`Run`](crate::Run) job.
    pub(crate) kind: String,
    /// Terminated (rather than joined) when its parent exits.
    pub(crate) daemon: bool,
    /// Neither killed with its parent nor waited for at its parent's exit.
    pub(crate) outlives_parent: bool,
    /// Its position in the process tree (Python's `_identity`): `[2, 1]` for the first child
    /// of the second child.
    pub(crate) position: Vec<u32>,
}

impl Identity {
    /// The public description of a process with this identity and `pid`.
    pub(crate) fn info(&self, pid: u32) -> super::ProcessInfo {
        super::ProcessInfo {
            name: self.name.clone(),
            pid,
            daemon: self.daemon,
            identity: self.position.clone(),
        }
    }
}
