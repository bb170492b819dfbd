//! Target identity: a function in this binary named by its offset from a fixed anchor.
//!
//! A child runs the very same executable as its parent (`/proc/self/exe`, or a fork of it), so
//! the distance between any function and [`ANCHOR`] is the same in both, whatever address the
//! loader chose. The parent sends the offset of a monomorphised entry function; the child adds it
//! back to its own anchor.

use crate::start::Entry;

/// The fixed base that offsets are measured from.
static ANCHOR: u8 = 0;

fn anchor() -> usize {
    std::ptr::addr_of!(ANCHOR) as usize
}

/// The offset of `entry` from the anchor.
pub(crate) fn offset_of(entry: Entry) -> i64 {
    (entry as usize).wrapping_sub(anchor()) as i64
}

/// The entry function at `offset` from the anchor.
///
/// # Safety
/// `offset` must have been produced by [`offset_of`] in a process running the same executable
/// file (same build), so that the address is the start of a function of type [`Entry`].
pub(crate) unsafe fn entry_at(offset: i64) -> Entry {
    let addr = anchor().wrapping_add(offset as usize);
    // SAFETY: the caller guarantees that `addr` is the address of an `Entry` in this executable.
    unsafe { std::mem::transmute::<usize, Entry>(addr) }
}

/// Makes a value of a zero-sized `Copy` function type: a function item or a closure that captures
/// nothing. Such a type has no bytes and no invariant, so its one value needs no data to exist.
pub(crate) fn conjure<F: Copy>() -> F {
    const {
        assert!(
            std::mem::size_of::<F>() == 0,
            "a process target must not capture state: pass what it needs as its argument"
        )
    };
    // SAFETY: F is zero-sized (checked at compile time above) and Copy. The only zero-sized Copy
    // types that implement Fn on stable Rust are function items and closures without captures
    // (or capturing only zero-sized Copy values), which are inhabited and have no validity
    // invariant beyond their (empty) bytes.
    unsafe { std::mem::zeroed::<F>() }
}

/// The entry function that the parent named by `offset`.
///
/// The offset arrives over the private bootstrap socket from the parent, which runs the same
/// executable: `start` only ever creates children by executing `/proc/self/exe` or by forking.
pub(crate) fn entry_from_parent(offset: i64) -> Entry {
    // SAFETY: the parent computed `offset` with `offset_of` in the same executable file (see
    // above), which is the contract of `entry_at`.
    unsafe { entry_at(offset) }
}
