//! Who this process is: its name, identity, parent and authentication key.

use std::borrow::Cow;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::child::Boot;

struct Me {
    name: Cow<'static, str>,
    identity: Vec<u32>,
    daemon: bool,
    parent: Option<(u32, String)>,
    authkey: Option<Vec<u8>>,
}

static ME: RwLock<Me> = RwLock::new(Me {
    name: Cow::Borrowed("MainProcess"),
    identity: Vec::new(),
    daemon: false,
    parent: None,
    authkey: None,
});

/// Children started so far from this process (Python's `_process_counter`).
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A description of a process: the current one, its parent, or a child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub(crate) name: String,
    pub(crate) pid: u32,
    pub(crate) daemon: bool,
    pub(crate) identity: Vec<u32>,
}

impl ProcessInfo {
    /// The process's name (`MainProcess`, `Process-1`, `Process-2:1`, or the one it was given).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its operating-system process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether it is a daemon (terminated when its parent exits).
    pub fn daemon(&self) -> bool {
        self.daemon
    }

    /// Its position in the process tree: `[]` for the main process, `[2, 1]` for the first
    /// child of the second child (Python's `_identity`).
    pub fn identity(&self) -> &[u32] {
        &self.identity
    }
}

/// The process this code runs in (Python's `multiprocessing.current_process()`).
///
/// ```
/// assert_eq!(multiproc::current_process().name(), "MainProcess");
/// assert_eq!(multiproc::current_process().pid(), std::process::id());
/// ```
pub fn current_process() -> crate::ProcessInfo {
    let me = ME.read().unwrap_or_else(|e| e.into_inner());
    ProcessInfo {
        name: me.name.to_string(),
        pid: std::process::id(),
        daemon: me.daemon,
        identity: me.identity.clone(),
    }
}

/// Renames the current process (Python's `current_process().name = ...`); the OS process
/// name follows.
pub fn set_current_name(name: &str) {
    ME.write().unwrap_or_else(|e| e.into_inner()).name = Cow::Owned(name.to_owned());
    crate::sys::proc::set_process_name(name);
}

/// The process that started this one, or `None` in the main process (Python's
/// `multiprocessing.parent_process()`).
pub fn parent_process() -> Option<crate::ProcessInfo> {
    let me = ME.read().unwrap_or_else(|e| e.into_inner());
    let (pid, name) = me.parent.clone()?;
    let identity = me.identity[..me.identity.len().saturating_sub(1)].to_vec();
    Some(ProcessInfo {
        name,
        pid,
        daemon: false,
        identity,
    })
}

/// The number of CPUs this process may run on: affinity- and cgroup-aware, unlike Python's
/// `os.cpu_count()`.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The current process's name.
pub(crate) fn name() -> String {
    ME.read()
        .unwrap_or_else(|e| e.into_inner())
        .name
        .to_string()
}

/// Allocates the identity and default name of a new child: `<kind>-<identity>`.
pub(crate) fn next_child(kind: &str) -> (Vec<u32>, String) {
    let k = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
    let mut identity = ME
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .identity
        .clone();
    identity.push(k);
    let digits: Vec<String> = identity.iter().map(u32::to_string).collect();
    let name = format!("{kind}-{}", digits.join(":"));
    (identity, name)
}

/// The authentication key of this process: random in the main process (made on first use),
/// inherited by children (Python's `current_process().authkey`).
pub fn authkey() -> Vec<u8> {
    if let Some(k) = &ME.read().unwrap_or_else(|e| e.into_inner()).authkey {
        return k.clone();
    }
    let mut me = ME.write().unwrap_or_else(|e| e.into_inner());
    me.authkey.get_or_insert_with(random_key).clone()
}

fn random_key() -> Vec<u8> {
    let mut key = vec![0u8; 32];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut key))
        .is_err()
    {
        // Without an entropy source, fall back to something unique to this process.
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        key[..seed.len().min(32)].copy_from_slice(&seed.as_bytes()[..seed.len().min(32)]);
    }
    key
}

/// Becomes the child described by `boot`.
pub(crate) fn become_child(boot: &Boot) {
    let mut me = ME.write().unwrap_or_else(|e| e.into_inner());
    *me = Me {
        name: Cow::Owned(boot.identity.name.clone()),
        identity: boot.identity.position.clone(),
        daemon: boot.identity.daemon,
        parent: Some((boot.parent_pid, boot.parent_name.clone())),
        authkey: Some(boot.authkey.0.clone()),
    };
    COUNTER.store(0, Ordering::Relaxed);
}
