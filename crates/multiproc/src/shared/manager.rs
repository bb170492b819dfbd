//! [`SharedMemoryManager`]: segments that outlive the process that created them, until the
//! manager shuts down (Python's `multiprocessing.managers.SharedMemoryManager`).

use std::fmt;
use std::io;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::list::{ListItem, ShareableList};
use super::shared_memory::{Keeper, SharedMemory, ShmError};
use super::tracker::{self, Registration, Segment, Table};
use crate::sync::Event;

/// Creates [`SharedMemory`] segments and [`ShareableList`]s, in any process that holds a handle
/// to it, and unlinks every one of them when it shuts down (Python's `SharedMemoryManager`).
///
/// A segment made by a manager does not belong to the process that made it: it stays when
/// that process ends, until the manager's [`shutdown`](SharedMemoryManager::shutdown), which
/// happens at the latest when the handle that [`start`](SharedMemoryManager::start) returned is
/// dropped. If the process that started the manager ends without dropping it (`exit`, a
/// panic that aborts, SIGKILL), its tracker unlinks them all the same.
///
/// Clones, and handles sent to other processes (as an argument, through a queue or a
/// connection), are *clients*: they create segments for the manager, and may shut it down,
/// but dropping them does nothing. Unlike Python's, this manager needs no server process: its
/// record of segments lives in shared memory, in the tracker table of the process that
/// started it.
///
/// ```rust,standalone_crate
/// use multiproc::shared::{ListItem, SharedMemoryManager, ShareableList};
///
/// fn worker(smm: SharedMemoryManager) -> String {
///     // Made by the child, it outlives the child: the manager removes it.
///     let list = smm.shareable_list([1, 2, 3]).unwrap();
///     list.name().to_owned()
/// }
///
/// fn main() {
///     let smm = SharedMemoryManager::start().unwrap();
///     let name = multiproc::spawn(worker, smm.clone()).join().unwrap();
///     let list = ShareableList::attach(&name).unwrap();
///     assert_eq!(list.get(2).unwrap(), ListItem::Int(3));
///     assert_eq!(smm.shutdown(), 1);
///     assert!(ShareableList::attach(&name).is_err());
/// }
/// ```
pub struct SharedMemoryManager {
    table: Arc<Table>,
    id: u32,
    shut: Event,
    owner: bool,
}

impl SharedMemoryManager {
    /// Starts a manager in this process (Python's `SharedMemoryManager()` and `start()`).
    pub fn start() -> io::Result<SharedMemoryManager> {
        let table = tracker::own_table()?;
        let id = table.new_manager();
        Ok(SharedMemoryManager {
            table,
            id,
            shut: Event::try_new()?,
            owner: true,
        })
    }

    /// Creates a segment of `size` bytes for the manager (Python's `smm.SharedMemory(size)`).
    #[doc(alias = "SharedMemory")]
    pub fn shared_memory(&self, size: usize) -> Result<SharedMemory, ShmError> {
        SharedMemory::create_in(None, size, Keeper::Manager(self))
    }

    /// Creates a [`ShareableList`] holding `items` for the manager (Python's
    /// `smm.ShareableList(sequence)`).
    #[doc(alias = "ShareableList")]
    pub fn shareable_list<I>(&self, items: I) -> Result<ShareableList, ShmError>
    where
        I: IntoIterator,
        I::Item: Into<ListItem>,
    {
        ShareableList::create_in(None, items, Keeper::Manager(self))
    }

    /// Registers a new segment with the manager.
    pub(super) fn register(&self, seg: Segment<'_>) -> Result<Registration, ShmError> {
        let refuse = || {
            self.shut
                .is_set()
                .then_some("the shared memory manager has shut down")
        };
        match self.table.register(seg, self.id, refuse) {
            Ok(slot) => Ok(Registration::new(self.table.clone(), slot)),
            Err(_) if self.is_shut_down() => Err(ShmError::ManagerShutDown),
            Err(source) => Err(ShmError::Track {
                name: seg.name.to_owned(),
                source,
            }),
        }
    }

    /// Unlinks every segment the manager created that is still there, and creates no more
    /// (Python's `shutdown()`). Returns how many it unlinked. Any handle may call it; the one
    /// [`start`](SharedMemoryManager::start) returned calls it when dropped.
    pub fn shutdown(&self) -> usize {
        self.shut.set();
        self.table.sweep_manager(self.id)
    }

    /// Whether the manager has shut down (or the process that started it has ended).
    pub fn is_shut_down(&self) -> bool {
        self.shut.is_set() || self.table.is_closed()
    }
}

impl Clone for SharedMemoryManager {
    /// A client handle: it creates segments for the same manager, and dropping it does not
    /// shut the manager down.
    fn clone(&self) -> Self {
        SharedMemoryManager {
            table: self.table.clone(),
            id: self.id,
            shut: self.shut.clone(),
            owner: false,
        }
    }
}

impl Drop for SharedMemoryManager {
    fn drop(&mut self) {
        if self.owner && !self.shut.is_set() {
            let n = self.shutdown();
            log::debug!(target: "multiproc", "shared memory manager shut down: {n} segments unlinked");
        }
    }
}

impl fmt::Debug for SharedMemoryManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemoryManager")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}

#[derive(Serialize)]
struct WireOut<'a> {
    table: &'a Table,
    id: u32,
    shut: &'a Event,
}

#[derive(Deserialize)]
struct WireIn {
    table: Table,
    id: u32,
    shut: Event,
}

impl Serialize for SharedMemoryManager {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WireOut {
            table: &self.table,
            id: self.id,
            shut: &self.shut,
        }
        .serialize(s)
    }
}

/// A manager passed to another process arrives as a client handle (see the type's
/// documentation).
impl<'de> Deserialize<'de> for SharedMemoryManager {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WireIn::deserialize(d)?;
        Ok(SharedMemoryManager {
            table: Arc::new(w.table),
            id: w.id,
            shut: w.shut,
            owner: false,
        })
    }
}
