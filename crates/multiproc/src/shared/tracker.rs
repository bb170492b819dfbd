//! The shared-memory tracker: it removes the named segments that a process created and did not
//! unlink once that process has ended, however it ended (Python's resource tracker), and the
//! segments of a [`SharedMemoryManager`](super::SharedMemoryManager) at its shutdown.
//!
//! # Layout
//!
//! Each process that tracks a segment gets a *table*: a growable memfd mapping (see
//! [`Mapping::growable`]) with a one-page header and then one slot per segment. A slot is
//! `[state: u32][manager: u32][next free: u64][dev: u64][ino: u64][len: u8][name: 255 bytes]`;
//! its state is `LIVE` while it names a segment to remove, and is written last, so a slot is
//! either complete or ignored. Slots of unlinked segments go on a free list and are reused.
//! The table has no fixed capacity: its file grows as slots are needed, inside a reservation of
//! address space (1 GiB: 3.7 million segments at once) past which a registration fails, and so
//! does the `create` that asked for it.
//!
//! # Who writes
//!
//! The process that owns the table, for the segments it creates (or attaches with `track`);
//! and, through a manager's handle, any process that creates a segment for a manager that the
//! owner started (those slots carry the manager's id). Every change to the table is made under
//! its lock, the crate's robust lock ([`raw_lock`]), so a writer killed halfway does not wedge
//! the others; what it leaves half done is at worst a slot that is never reused.
//!
//! # The end
//!
//! When the table is made, a watcher process is forked ([`Watcher`]) that keeps the mapping.
//! When the owner ends, the watcher *closes* the table and unlinks every live slot's segment
//! whose name still denotes the same file (device and inode): a newer segment that reuses the
//! name is left alone. It cannot take the lock (it may not allocate, and the holder may be the
//! process that just died), so closing and registering meet on two sequentially consistent
//! words instead: a writer publishes its slot and then reads `closed`, the watcher sets
//! `closed` and then reads the slots. Either the watcher sees the slot, or the writer sees
//! `closed` and removes its segment itself, failing its `create`.
//!
//! If the watcher is killed while its owner runs, the owner's next registration notices and
//! forks a new one over the same table: nothing registered is lost.

use std::collections::HashMap;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::mapping::Mapping;
use crate::codec::{self, Fd};
use crate::sync::{owner, raw_lock};
use crate::sys::watcher::{self, Watcher};

/// Where named segments live.
pub(crate) const SHM_DIR: &[u8] = b"/dev/shm/";

/// The longest segment name (a file name in [`SHM_DIR`]).
pub(crate) const NAME_MAX: usize = 255;

const MAGIC: u64 = u64::from_le_bytes(*b"mpshmtab");
const HEADER: usize = 4096;
// Header fields (byte offsets).
const H_MAGIC: usize = 0;
const H_LOCK: usize = 8;
/// Set by the watcher when it sweeps: the owner has ended.
const H_CLOSED: usize = 12;
/// How many slots the file holds.
const H_SLOTS: usize = 16;
/// How many slots were ever handed out (they are the first ones).
const H_USED: usize = 24;
/// The first free slot plus one; 0 when none is free.
const H_FREE: usize = 32;
/// The last manager id handed out.
const H_MANAGERS: usize = 40;

const SLOT: usize = 288;
// Slot fields (byte offsets in a slot).
const S_STATE: usize = 0;
const S_MANAGER: usize = 4;
const S_NEXT: usize = 8;
const S_DEV: usize = 16;
const S_INO: usize = 24;
const S_LEN: usize = 32;
const S_NAME: usize = 33;
const _: () = assert!(S_NAME + NAME_MAX == SLOT);

/// The state of a slot that names a segment to remove.
const LIVE: u32 = u32::from_le_bytes(*b"live");
const FREE: u32 = 0;

/// The file grows by this much at a time.
const GROW: usize = 64 << 10;
/// The address space reserved for a table.
const MAP_LEN: usize = 1 << 30;
/// The least reservation tried when a larger one is refused.
const MIN_MAP_LEN: usize = 16 << 20;
/// How many removed segments the watcher names on stderr before it only counts them.
const NAMED_AT_END: u64 = 8;

/// A named segment as the tracker knows it: its name in [`SHM_DIR`], and the device and inode
/// of the file it names.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segment<'a> {
    pub(crate) name: &'a str,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
}

/// Whose a slot is: the owner's own (removed at its end), or a manager's (removed at the
/// manager's shutdown, or at the owner's end).
pub(crate) const OWN: u32 = 0;

/// A tracker table, mapped in this process.
#[derive(Debug)]
pub(crate) struct Table {
    map: Mapping,
}

fn slot_at(slot: u64) -> usize {
    HEADER + slot as usize * SLOT
}

/// The path of segment `name` in `buf`, NUL-terminated (`buf` must hold
/// `SHM_DIR.len() + NAME_MAX + 1` bytes and `name` at most [`NAME_MAX`]).
fn path_in<'b>(buf: &'b mut [u8], name: &[u8]) -> Option<&'b CStr> {
    let end = SHM_DIR.len() + name.len();
    buf.get_mut(..SHM_DIR.len())?.copy_from_slice(SHM_DIR);
    buf.get_mut(SHM_DIR.len()..end)?.copy_from_slice(name);
    *buf.get_mut(end)? = 0;
    CStr::from_bytes_until_nul(&buf[..=end]).ok()
}

impl Table {
    /// A new, empty table.
    fn create() -> io::Result<Table> {
        let mut map_len = MAP_LEN;
        let map = loop {
            match Mapping::growable("multiproc-shm-tracker", HEADER, map_len) {
                Ok(m) => break m,
                Err(e) if map_len / 2 >= MIN_MAP_LEN => {
                    log::debug!(target: "multiproc", "tracker reservation of {map_len} bytes refused ({e}); trying half");
                    map_len /= 2;
                }
                Err(e) => return Err(e),
            }
        };
        map.u64_at(H_MAGIC).store(MAGIC, Release);
        Ok(Table { map })
    }

    /// Maps a table made by another process, from its memfd and mapping length.
    pub(crate) fn attach(fd: OwnedFd, map_len: u64) -> io::Result<Table> {
        let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
        let map_len = usize::try_from(map_len)
            .ok()
            .filter(|n| (HEADER + SLOT..=MAP_LEN).contains(n))
            .ok_or_else(|| bad("not a shared memory tracker's length"))?;
        let map = Mapping::attach_growable(fd, map_len)?;
        if map.file_len()? < HEADER || map.u64_at(H_MAGIC).load(Acquire) != MAGIC {
            return Err(bad("the descriptor is not a shared memory tracker's table"));
        }
        Ok(Table { map })
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.map.as_fd()
    }

    fn map_len(&self) -> u64 {
        self.map.len() as u64
    }

    fn h32(&self, off: usize) -> &AtomicU32 {
        self.map.u32_at(off)
    }

    fn h64(&self, off: usize) -> &AtomicU64 {
        self.map.u64_at(off)
    }

    /// How many slots fit in the mapping.
    fn capacity(&self) -> u64 {
        ((self.map.len() - HEADER) / SLOT) as u64
    }

    /// How many slots may hold anything: handed out, inside the file, inside the mapping.
    fn used(&self) -> u64 {
        let used = self.h64(H_USED).load(SeqCst);
        used.min(self.h64(H_SLOTS).load(SeqCst))
            .min(self.capacity())
    }

    /// Whether the owner has ended (and its watcher swept the table).
    pub(crate) fn is_closed(&self) -> bool {
        self.h32(H_CLOSED).load(SeqCst) != 0
    }

    /// A new manager id (never [`OWN`]).
    pub(crate) fn new_manager(&self) -> u32 {
        self.h32(H_MANAGERS)
            .fetch_add(1, SeqCst)
            .wrapping_add(1)
            .max(1)
    }

    fn lock(&self) -> Held<'_> {
        let word = self.h32(H_LOCK);
        if let Some(raw_lock::Taken::HolderDied(pid)) =
            raw_lock::lock(word, owner::thread_word(), None)
        {
            // What it left half done is at worst a slot that is never reused.
            log::debug!(target: "multiproc", "process {pid} died while changing a shared memory tracker table");
        }
        Held(word)
    }

    /// Registers `seg` for removal at the owner's end, or at the shutdown of manager
    /// `manager` ([`OWN`] for none), and returns its slot. `refuse()` is asked under the
    /// table's lock, where a manager's shutdown cannot overtake it: `Some(why)` refuses.
    ///
    /// If this fails, the segment is not tracked; if it fails because the owner has ended,
    /// the caller must remove the segment itself.
    pub(crate) fn register(
        &self,
        seg: Segment<'_>,
        manager: u32,
        refuse: impl FnOnce() -> Option<&'static str>,
    ) -> io::Result<u64> {
        let name = seg.name.as_bytes();
        if name.is_empty() || name.len() > NAME_MAX {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        let held = self.lock();
        if self.is_closed() {
            return Err(owner_ended());
        }
        if let Some(why) = refuse() {
            return Err(io::Error::other(why));
        }
        let slot = self.take_slot()?;
        let at = slot_at(slot);
        self.map.u32_at(at + S_MANAGER).store(manager, Relaxed);
        self.map.u64_at(at + S_DEV).store(seg.dev, Relaxed);
        self.map.u64_at(at + S_INO).store(seg.ino, Relaxed);
        self.map.write::<u8>(at + S_LEN, name.len() as u8);
        self.map.write_slice(at + S_NAME, name);
        self.map.u32_at(at + S_STATE).store(LIVE, SeqCst);
        drop(held);
        if self.is_closed() {
            // The watcher may have swept before it saw the slot.
            self.unregister(slot, seg);
            return Err(owner_ended());
        }
        Ok(slot)
    }

    /// A free slot, or a new one (growing the file). Under the lock.
    fn take_slot(&self) -> io::Result<u64> {
        let used = self.h64(H_USED).load(Relaxed);
        let free = self.h64(H_FREE).load(Relaxed);
        if free != 0 && free <= used {
            let slot = free - 1;
            let next = self.map.u64_at(slot_at(slot) + S_NEXT).load(Relaxed);
            self.h64(H_FREE).store(next, Relaxed);
            return Ok(slot);
        }
        // An empty list, or one that a writer who died left broken: start afresh (the slots
        // it held are lost, nothing else).
        self.h64(H_FREE).store(0, Relaxed);
        let slots = self.h64(H_SLOTS).load(Relaxed);
        if used >= slots {
            let cap = self.capacity();
            if slots >= cap {
                return Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!("a process can track at most {cap} shared memory segments at once"),
                ));
            }
            let want = (slot_at(slots + 1))
                .next_multiple_of(GROW)
                .min(self.map.len());
            self.map.set_file_len(want)?;
            self.h64(H_SLOTS)
                .store(((want - HEADER) / SLOT) as u64, SeqCst);
        }
        self.h64(H_USED).store(used + 1, SeqCst);
        Ok(used)
    }

    /// Whether the slot at `at` names `seg`.
    fn holds(&self, at: usize, seg: Segment<'_>) -> bool {
        let name = seg.name.as_bytes();
        let mut buf = [0u8; NAME_MAX];
        let len = usize::from(self.map.read::<u8>(at + S_LEN));
        if len != name.len() || len > NAME_MAX {
            return false;
        }
        self.map.read_slice(at + S_NAME, &mut buf[..len]);
        self.map.u64_at(at + S_DEV).load(Relaxed) == seg.dev
            && self.map.u64_at(at + S_INO).load(Relaxed) == seg.ino
            && buf[..len] == *name
    }

    /// Whether `slot` is live and names `seg`.
    fn names(&self, slot: u64, seg: Segment<'_>) -> bool {
        let _held = self.lock();
        slot < self.used()
            && self.map.u32_at(slot_at(slot) + S_STATE).load(Relaxed) == LIVE
            && self.holds(slot_at(slot), seg)
    }

    /// Frees `slot` if it still names `seg`: the segment needs no removal any more.
    pub(crate) fn unregister(&self, slot: u64, seg: Segment<'_>) {
        let _held = self.lock();
        if slot >= self.used() {
            return;
        }
        let at = slot_at(slot);
        if self.map.u32_at(at + S_STATE).load(Relaxed) == LIVE && self.holds(at, seg) {
            self.free(slot);
        }
    }

    /// Marks `slot` free and puts it on the free list. Under the lock.
    fn free(&self, slot: u64) {
        let at = slot_at(slot);
        self.map.u32_at(at + S_STATE).store(FREE, SeqCst);
        let head = self.h64(H_FREE).load(Relaxed);
        self.map.u64_at(at + S_NEXT).store(head, Relaxed);
        self.h64(H_FREE).store(slot + 1, Relaxed);
    }

    /// Unlinks every live segment of manager `manager` and frees its slots. Returns how many
    /// segments it unlinked (a segment already unlinked by someone else is not counted).
    pub(crate) fn sweep_manager(&self, manager: u32) -> usize {
        let _held = self.lock();
        let mut removed = 0;
        for slot in 0..self.used() {
            let at = slot_at(slot);
            if self.map.u32_at(at + S_STATE).load(Relaxed) == LIVE
                && self.map.u32_at(at + S_MANAGER).load(Relaxed) == manager
            {
                let mut path = [0u8; SHM_DIR.len() + NAME_MAX + 1];
                if self.remove_segment(at, &mut path).is_some() {
                    removed += 1;
                }
                self.free(slot);
            }
        }
        removed
    }

    /// Unlinks the segment that the slot at `at` names, if its name still denotes the same
    /// file. Returns its name (in `path`) if it did. Allocation-free and panic-free: every
    /// offset is inside the mapping, and `path` has room for any name.
    fn remove_segment<'p>(&self, at: usize, path: &'p mut [u8]) -> Option<&'p [u8]> {
        let len = usize::from(self.map.read::<u8>(at + S_LEN)).min(NAME_MAX);
        let mut name = [0u8; NAME_MAX];
        self.map.read_slice(at + S_NAME, &mut name[..len]);
        let dev = self.map.u64_at(at + S_DEV).load(Relaxed);
        let ino = self.map.u64_at(at + S_INO).load(Relaxed);
        let c = path_in(path, &name[..len])?;
        let name_len = c.to_bytes().len().saturating_sub(SHM_DIR.len());
        if watcher::unlink_if_same(c, dev, ino) {
            Some(&path[SHM_DIR.len()..SHM_DIR.len() + name_len])
        } else {
            None
        }
    }

    /// The watcher's routine, once the owner has ended: closes the table and unlinks every
    /// live segment, naming the first few on stderr (as Python's resource tracker warns of
    /// leaked segments), then counting the rest.
    ///
    /// It runs in a forked child, so it keeps the promise of [`Watcher::start`]: no
    /// allocation, no lock, no panic (every offset it touches is inside the mapping).
    fn sweep_at_end(&self) {
        self.h32(H_CLOSED).store(1, SeqCst);
        let mut removed = 0u64;
        for slot in 0..self.used() {
            let at = slot_at(slot);
            if self.map.u32_at(at + S_STATE).load(SeqCst) != LIVE {
                continue;
            }
            let mut path = [0u8; SHM_DIR.len() + NAME_MAX + 1];
            if let Some(name) = self.remove_segment(at, &mut path) {
                removed += 1;
                if removed <= NAMED_AT_END {
                    watcher::write_stderr(&[
                        b"multiproc: removed leaked shared memory segment '",
                        name,
                        b"'\n",
                    ]);
                }
            }
        }
        if removed > NAMED_AT_END {
            let mut digits = [0u8; 20];
            watcher::write_stderr(&[
                b"multiproc: removed ",
                decimal(removed - NAMED_AT_END, &mut digits),
                b" more leaked shared memory segments\n",
            ]);
        }
    }
}

/// `n` in decimal, written into `buf` without allocating.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

fn owner_ended() -> io::Error {
    io::Error::other("the process that tracks it has ended")
}

/// A borrowed descriptor that serializes out of band.
struct FdOut<'a>(BorrowedFd<'a>);

impl Serialize for FdOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        codec::serialize_fd(self.0, s)
    }
}

/// A table travels as its memfd and mapping length.
impl Serialize for Table {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (FdOut(self.fd()), self.map_len()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Table {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (fd, map_len) = <(Fd, u64)>::deserialize(d)?;
        Table::attach(fd.into(), map_len).map_err(|e| {
            codec::de_error(format!("cannot map a shared memory tracker's table: {e}"))
        })
    }
}

/// A held table lock, released on drop.
struct Held<'a>(&'a AtomicU32);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        raw_lock::unlock(self.0);
    }
}

/// Where a segment is registered: its table and slot.
#[derive(Debug)]
pub(crate) struct Registration {
    table: Arc<Table>,
    slot: u64,
}

impl Registration {
    pub(crate) fn new(table: Arc<Table>, slot: u64) -> Registration {
        Registration { table, slot }
    }
}

/// This process's tracker: its table, its watcher, and the slots of the segments it tracks
/// for itself (by device and inode).
#[derive(Debug)]
struct Tracker {
    pid: u32,
    table: Arc<Table>,
    watcher: Watcher,
    own: HashMap<(u64, u64), u64>,
}

/// This process's tracker. A child forked without `exec` finds its parent's here, and starts
/// its own: the segments it creates are removed when it ends.
static TRACKER: Mutex<Option<Tracker>> = Mutex::new(None);

fn start_watcher(table: &Arc<Table>) -> io::Result<Watcher> {
    let table = Arc::clone(table);
    let at_end = move || table.sweep_at_end();
    // SAFETY: `sweep_at_end` allocates nothing, takes no lock and cannot panic (see there);
    // the table it reads was mapped before the fork, and the closure that holds it lives
    // until `start` returns.
    unsafe { Watcher::start(&at_end) }
}

/// Runs `f` on this process's tracker, starting it (or a new watcher, if someone killed the
/// old one) first.
fn with_tracker<R>(f: impl FnOnce(&mut Tracker) -> io::Result<R>) -> io::Result<R> {
    let mut guard = TRACKER.lock().unwrap_or_else(PoisonError::into_inner);
    let me = std::process::id();
    match guard.as_mut() {
        Some(t) if t.pid == me => {
            if !t.watcher.is_alive() {
                log::warn!(target: "multiproc", "the shared memory tracker process has ended; starting another");
                t.watcher = start_watcher(&t.table)?;
            }
        }
        _ => {
            let table = Arc::new(Table::create()?);
            let watcher = start_watcher(&table)?;
            *guard = Some(Tracker {
                pid: me,
                table,
                watcher,
                own: HashMap::new(),
            });
        }
    }
    f(guard.as_mut().expect("started above"))
}

/// Registers `seg` for removal when this process ends.
pub(crate) fn track(seg: Segment<'_>) -> io::Result<Registration> {
    with_tracker(|t| {
        // Another handle of this process may have registered it already. (An inode number
        // can come back for a newer file once the old one is gone: the slot must still name
        // this segment.)
        let slot = match t.own.get(&(seg.dev, seg.ino)) {
            Some(&slot) if t.table.names(slot, seg) => slot,
            _ => {
                let slot = t.table.register(seg, OWN, || None)?;
                t.own.insert((seg.dev, seg.ino), slot);
                slot
            }
        };
        Ok(Registration::new(t.table.clone(), slot))
    })
}

/// This process's table, for a manager that it starts.
pub(crate) fn own_table() -> io::Result<Arc<Table>> {
    with_tracker(|t| Ok(t.table.clone()))
}

/// `seg` was unlinked: forgets its registration `reg` (if the handle had one), and this
/// process's own registration of it (whichever handle made it).
pub(crate) fn untrack(reg: Option<&Registration>, seg: Segment<'_>) {
    if let Some(reg) = reg {
        reg.table.unregister(reg.slot, seg);
    }
    let mut guard = TRACKER.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(t) = guard.as_mut().filter(|t| t.pid == std::process::id())
        && let Some(slot) = t.own.remove(&(seg.dev, seg.ino))
    {
        t.table.unregister(slot, seg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(name: &str) -> Segment<'_> {
        Segment {
            name,
            dev: 1,
            ino: name.len() as u64,
        }
    }

    #[test]
    fn slots_are_reused_and_the_file_grows_past_a_page() {
        let t = Table::create().unwrap();
        let names: Vec<String> = (0..100).map(|i| format!("x{i:03}")).collect();
        let slots: Vec<u64> = names
            .iter()
            .map(|n| t.register(seg(n), OWN, || None).unwrap())
            .collect();
        assert_eq!(slots, (0..100).collect::<Vec<_>>());
        assert!(t.map.file_len().unwrap() > HEADER + 14 * SLOT);
        t.unregister(7, seg(&names[7]));
        // Another name does not free a slot.
        t.unregister(8, seg(&names[9]));
        assert_eq!(t.register(seg("again"), OWN, || None).unwrap(), 7);
        assert_eq!(t.register(seg("new"), OWN, || None).unwrap(), 100);
    }

    #[test]
    fn a_refusal_or_a_closed_table_registers_nothing() {
        let t = Table::create().unwrap();
        let e = t.register(seg("a"), 3, || Some("shut down")).unwrap_err();
        assert_eq!(e.to_string(), "shut down");
        t.h32(H_CLOSED).store(1, SeqCst);
        assert!(t.register(seg("a"), OWN, || None).is_err());
        assert_eq!(t.h64(H_USED).load(SeqCst), 0);
    }

    #[test]
    fn a_full_reservation_is_a_clear_error() {
        let t = Table::create().unwrap();
        // Pretend every slot but one is taken.
        let cap = t.capacity();
        t.h64(H_USED).store(cap - 1, SeqCst);
        t.h64(H_SLOTS).store(cap - 1, SeqCst);
        t.register(seg("last"), OWN, || None).unwrap();
        let e = t.register(seg("one too many"), OWN, || None).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("at most {cap} shared memory segments")),
            "{e}"
        );
    }

    #[test]
    fn travels_to_another_mapping() {
        let t = Table::create().unwrap();
        let other = Table::attach(t.fd().try_clone_to_owned().unwrap(), t.map_len()).unwrap();
        let slot = other.register(seg("shared"), 5, || None).unwrap();
        assert!(t.holds(slot_at(slot), seg("shared")));
        assert_ne!(t.new_manager(), other.new_manager());
        let f = tempfile::tempfile().unwrap();
        assert!(Table::attach(f.into(), t.map_len()).is_err());
    }

    #[test]
    fn decimal_without_allocation() {
        let mut b = [0; 20];
        assert_eq!(decimal(0, &mut b), b"0");
        assert_eq!(decimal(1092, &mut b), b"1092");
        assert_eq!(decimal(u64::MAX, &mut b), b"18446744073709551615");
    }

    #[test]
    fn paths_have_room_for_the_longest_name() {
        let mut buf = [0u8; SHM_DIR.len() + NAME_MAX + 1];
        let long = [b'a'; NAME_MAX];
        let p = path_in(&mut buf, &long).unwrap();
        assert_eq!(p.to_bytes().len(), SHM_DIR.len() + NAME_MAX);
    }
}
