//! Target identity: a function in this binary named by its offset from a fixed anchor.
//!
//! A child runs the very same executable as its parent (`/proc/self/exe`, or a fork of it), so
//! the distance between any function and [`ANCHOR`] is the same in both, whatever address the
//! loader chose. The parent sends the offset of a monomorphised entry function; the child adds it
//! back to its own anchor.

/// The fixed base that offsets are measured from.
static ANCHOR: u8 = 0;

fn anchor() -> usize {
    std::ptr::addr_of!(ANCHOR) as usize
}

mod sealed {
    pub(crate) trait Sealed {}
}

/// A function-pointer type whose values may be named by offset: plain `fn` pointers of the
/// shapes the crate's entries have (one argument; three with a borrowed byte slice in the
/// middle; or those three and a borrowed observer, as the pool's task entry). Only `fn` pointer
/// types implement it, which `offset_of` relies on.
pub(crate) trait EntryPoint: Copy + sealed::Sealed {}

impl<A, R> sealed::Sealed for fn(A) -> R {}
impl<A, R> EntryPoint for fn(A) -> R {}
impl<A, C, R> sealed::Sealed for for<'a> fn(A, &'a [u8], C) -> R {}
impl<A, C, R> EntryPoint for for<'a> fn(A, &'a [u8], C) -> R {}
impl<A, C, W: ?Sized, R> sealed::Sealed for for<'a, 'b> fn(A, &'a [u8], C, &'b mut W) -> R {}
impl<A, C, W: ?Sized, R> EntryPoint for for<'a, 'b> fn(A, &'a [u8], C, &'b mut W) -> R {}

/// The offset of `entry` from the anchor.
pub(crate) fn offset_of<E: EntryPoint>(entry: E) -> i64 {
    const { assert!(std::mem::size_of::<E>() == std::mem::size_of::<usize>()) };
    // SAFETY: every EntryPoint is a plain `fn` pointer type (sealed above), which has the size
    // (checked) and representation of an address.
    let addr: usize = unsafe { std::mem::transmute_copy(&entry) };
    addr.wrapping_sub(anchor()) as i64
}

/// The entry function at `offset` from the anchor.
///
/// # Safety
/// `offset` must have been produced by [`offset_of`] for the same type `E`, in a process
/// running the same executable file (same build).
pub(crate) unsafe fn entry_at<E: EntryPoint>(offset: i64) -> E {
    let addr = anchor().wrapping_add(offset as usize);
    // SAFETY: the caller guarantees that `addr` is the address of a function of type `E` in
    // this executable; `E` is a fn pointer type of the size of an address (see `offset_of`).
    unsafe { std::mem::transmute_copy::<usize, E>(&addr) }
}

/// The entry function that the parent named by `offset`.
///
/// The offset arrives over a private socket from the parent, which runs the same executable:
/// `start` only ever creates children by executing `/proc/self/exe` or by forking, and the
/// parent computed it with `offset_of::<E>` for the same `E` (the message types that carry
/// offsets are distinct per entry type).
pub(crate) fn entry_from_parent<E: EntryPoint>(offset: i64) -> E {
    // SAFETY: see above: same executable, same entry type, which is `entry_at`'s contract.
    unsafe { entry_at::<E>(offset) }
}

/// Makes a value of a zero-sized `Copy` function type: a function item or a closure that captures
/// nothing. Such a type has no bytes and no invariant, so its one value needs no data to exist.
pub(crate) fn conjure<F: Copy>() -> F {
    const {
        assert!(
            std::mem::size_of::<F>() == 0,
            "a process target must be a function item or a closure that captures nothing; this one holds data (a closure with captured state, or a `fn` pointer): name the function itself, and pass state as the argument"
        )
    };
    // SAFETY: F is zero-sized (checked at compile time above) and Copy. The only zero-sized Copy
    // types that implement Fn on stable Rust are function items and closures without captures
    // (or capturing only zero-sized Copy values), which are inhabited and have no validity
    // invariant beyond their (empty) bytes.
    unsafe { std::mem::zeroed::<F>() }
}
