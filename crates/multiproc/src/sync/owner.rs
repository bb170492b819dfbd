//! Who owns a lock, in one 32-bit word, and whether that owner still lives.
//!
//! An *owner word* packs a process or thread id (22 bits: Linux never hands out ids of
//! 2^22 or more) with a 9-bit tag derived from the owner's start time, read from
//! `/proc/<id>/stat`. Bit 31 is left for callers (a "waiters" flag). The tag is what makes a
//! recycled id harmless: when an owner dies and the kernel gives its id to a new process or
//! thread, the newcomer's start time almost surely (511 times out of 512) gives another tag,
//! so the owner is still seen as dead.
//!
//! This process's and each thread's words are computed once and cached. A `fork` resets the
//! cache in the child, whose id differs from its parent's.

use std::cell::Cell;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::sys::task;

/// Bits of an owner word that hold the id.
pub(crate) const ID_MASK: u32 = (1 << 22) - 1;
/// Bits of an owner word that hold the id and the start-time tag.
pub(crate) const OWNER_MASK: u32 = (1 << 31) - 1;
/// The bit of an owner word that callers may use for themselves.
pub(crate) const FLAG_BIT: u32 = 1 << 31;

static PROCESS_WORD: AtomicU32 = AtomicU32::new(0);
static AT_FORK: Once = Once::new();

thread_local! {
    static THREAD_WORD: Cell<u32> = const { Cell::new(0) };
}

/// Runs in the child of a fork: only an atomic store and a thread-local cell, which is safe
/// there whatever other threads were doing.
extern "C" fn reset_in_child() {
    PROCESS_WORD.store(0, Ordering::Relaxed);
    // `try_with`: never panic in an atfork handler.
    let _ = THREAD_WORD.try_with(|w| w.set(0));
}

fn register_at_fork() {
    AT_FORK.call_once(|| {
        if let Err(e) = task::at_fork_in_child(reset_in_child) {
            // Without the hook a forked child would lock in its parent's name; the fork start
            // method is the only way to get one, and it is documented as unsafe.
            log::warn!(target: "multiproc", "cannot register the lock owner's fork hook: {e}");
        }
    });
}

/// The owner word of this process (its pid and start-time tag). Never 0.
#[inline]
pub(crate) fn process_word() -> u32 {
    let w = PROCESS_WORD.load(Ordering::Relaxed);
    if w != 0 { w } else { init_process_word() }
}

#[cold]
fn init_process_word() -> u32 {
    register_at_fork();
    let pid = std::process::id() as i32;
    let w = word_for(pid, start_time(pid).unwrap_or(0));
    PROCESS_WORD.store(w, Ordering::Relaxed);
    w
}

/// The owner word of the calling thread (its tid and start-time tag). Never 0.
#[inline]
pub(crate) fn thread_word() -> u32 {
    let w = THREAD_WORD.with(Cell::get);
    if w != 0 { w } else { init_thread_word() }
}

#[cold]
fn init_thread_word() -> u32 {
    register_at_fork();
    let tid = crate::sys::proc::gettid();
    let w = word_for(tid, start_time(tid).unwrap_or(0));
    THREAD_WORD.with(|c| c.set(w));
    w
}

/// The id (pid or tid) held in an owner word.
pub(crate) fn id_of(word: u32) -> u32 {
    word & ID_MASK
}

fn word_for(id: i32, start: u64) -> u32 {
    debug_assert!(id > 0 && (id as u32) <= ID_MASK);
    (id as u32 & ID_MASK) | (tag(start) << 22)
}

/// A 9-bit digest of a start time.
fn tag(start: u64) -> u32 {
    (start.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 55) as u32
}

fn start_time(id: i32) -> Option<u64> {
    task::stat(id).ok().flatten().map(|s| s.start)
}

/// Whether the process or thread that wrote `word` (see [`process_word`], [`thread_word`])
/// still runs. A zombie (ended, not yet reaped) counts as dead; so does a process that now
/// holds the id under another start time.
pub(crate) fn is_alive(word: u32) -> bool {
    let id = id_of(word) as i32;
    if id == 0 {
        return false;
    }
    match task::stat(id) {
        Ok(None) => false,
        Ok(Some(s)) => !s.ended() && word_for(id, s.start) == word & OWNER_MASK,
        // No readable /proc: fall back to asking whether the id exists.
        Err(_) => task::exists(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_words_are_alive_and_distinct_per_thread() {
        let p = process_word();
        assert_eq!(id_of(p), std::process::id());
        assert!(is_alive(p));
        assert_eq!(p & FLAG_BIT, 0);
        let t = std::thread::spawn(|| {
            let w = thread_word();
            assert!(is_alive(w));
            w
        })
        .join()
        .unwrap();
        assert_ne!(t, thread_word());
        // The thread has ended: its tid no longer runs.
        assert!(!is_alive(t));
    }

    #[test]
    fn a_wrong_tag_is_dead() {
        let p = process_word();
        let other_tag = p ^ (1 << 22);
        assert!(!is_alive(other_tag));
    }

    #[test]
    fn unknown_ids_are_dead() {
        assert!(!is_alive(0));
        assert!(!is_alive(ID_MASK));
    }
}
