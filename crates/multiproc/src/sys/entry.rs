//! The process constructor that catches multiproc's children before `main`.
//!
//! Before it calls `main`, glibc calls every function of the executable's `.init_array` with
//! `(argc, argv, envp)`: first the entries with a priority (sections `.init_array.N`, in
//! increasing `N`), then the others in link order. Rust's standard library saves the arguments
//! from one of them (priority 99), which is how `std::env::args()` works before `main`.
//!
//! multiproc adds one entry, at priority 101. In every process it records that it ran (the first
//! start checks this, see [`constructor_ran`]) and hands over to the child bootstrap, which
//! looks for a boot marker. In the main program there is none and the entry returns at once. In
//! a child (or the fork server) the bootstrap first runs every constructor that comes after this
//! one, with the same arguments, exactly as glibc would have, so a child starts with everything
//! that other crates register from their constructors; then it runs the child's job and exits,
//! and `main` never runs.
//!
//! This is a hand-written `.init_array` entry, as the standard library writes its own, rather
//! than one made by the `ctor` crate: a `ctor` constructor takes no arguments and its entry has
//! no address the constructor can name, so it could neither find the constructors that follow
//! it nor call them with `argc`/`argv`/`envp`; the unprioritised ones (C constructors,
//! `inventory` registrations) would then never run in a child.
//!
//! The entry lives in this file together with [`RAN`], which [`constructor_ran`] reads: any
//! program that starts a process refers to this object file, so the linker keeps it, and the
//! `.init_array` section with it.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};

/// The signature glibc calls `.init_array` functions with.
type InitFn = unsafe extern "C" fn(c_int, *const *const c_char, *const *const c_char);

/// Set by the constructor in every process where it ran.
static RAN: AtomicBool = AtomicBool::new(false);

// SAFETY: `.init_array` holds pointers to functions that the C runtime calls once, before
// `main`, with (argc, argv, envp); `ENTRY` is exactly such a pointer, to a function of that
// signature which never unwinds (it catches panics).
#[used]
#[unsafe(link_section = ".init_array.00101")]
static ENTRY: InitFn = entry;

unsafe extern "C" {
    // Defined by the linker (GNU ld and lld) around the executable's `.init_array`.
    static __init_array_start: InitFn;
    static __init_array_end: InitFn;
}

/// The constructors that the C runtime has not called yet when ours runs, and the arguments it
/// calls them with.
#[derive(Debug)]
pub(crate) struct LaterConstructors {
    argc: c_int,
    argv: *const *const c_char,
    envp: *const *const c_char,
}

impl LaterConstructors {
    /// Calls, in order, every `.init_array` function after ours, as the C runtime would have.
    /// Call it at most once, and only in a process that will never return from our constructor
    /// (a child or the fork server), so that none of them runs twice.
    pub(crate) fn run(self) {
        let start = &raw const __init_array_start;
        let end = &raw const __init_array_end;
        let len = (end as usize).saturating_sub(start as usize) / size_of::<InitFn>();
        let ours = entry as InitFn as usize;
        // SAFETY: the linker defines both symbols around the `.init_array` array of this
        // executable, so `start..start + len` are initialised function pointers (relocated by
        // the time constructors run).
        let table = unsafe { std::slice::from_raw_parts(start, len) };
        let Some(at) = table.iter().position(|f| *f as usize == ours) else {
            return;
        };
        for f in &table[at + 1..] {
            // Neither a null nor a -1 marker is a function (old `.ctors` layouts use both).
            if matches!(*f as usize, 0 | usize::MAX) {
                continue;
            }
            // SAFETY: this is the call the C runtime makes for each `.init_array` entry, with
            // the arguments it gave us; each runs once, since this process never returns to
            // the C runtime's loop (see above).
            unsafe { f(self.argc, self.argv, self.envp) };
        }
    }
}

/// The constructor. It must not unwind into the C runtime, so everything runs under
/// `catch_unwind`; a child whose bootstrap panicked exits with code 1.
unsafe extern "C" fn entry(argc: c_int, argv: *const *const c_char, envp: *const *const c_char) {
    RAN.store(true, Ordering::SeqCst);
    let later = LaterConstructors { argc, argv, envp };
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // The one call from this layer up: the constructor is the process's entry point, and
        // the bootstrap decides whether this process is a child.
        crate::child::enter(later)
    }));
    if caught.is_err() && crate::child::is_child() {
        super::proc::exit_immediately(1);
    }
}

/// Whether the constructor ran in this process.
pub(crate) fn constructor_ran() -> bool {
    RAN.load(Ordering::SeqCst)
}

/// Whether this process runs in secure-execution mode (`AT_SECURE`: a setuid or setgid
/// program, or one with file capabilities). Its environment comes from a less privileged
/// user, so a boot marker found there must not be trusted.
pub(crate) fn secure_execution() -> bool {
    // SAFETY: getauxval reads the auxiliary vector; it has no preconditions.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// Whether multiproc's code is part of the main executable (and not of a shared library that
/// the program loaded). Children run `/proc/self/exe`, so only then do they contain multiproc.
/// When the loader cannot tell (a static executable), the answer is yes.
pub(crate) fn in_main_executable() -> bool {
    // SAFETY: getauxval has no preconditions; AT_ENTRY is the main executable's entry point.
    let main_entry = unsafe { libc::getauxval(libc::AT_ENTRY) } as *const c_void;
    let ours = (&raw const RAN).cast::<c_void>();
    match (object_base(main_entry), object_base(ours)) {
        (Some(main), Some(us)) => main == us,
        _ => true,
    }
}

/// The load address of the object (executable or shared library) that holds `addr`.
fn object_base(addr: *const c_void) -> Option<usize> {
    // SAFETY: an all-zero Dl_info is valid (null pointers); dladdr fills it.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables; `info` is valid for writes.
    let found = unsafe { libc::dladdr(addr, &mut info) };
    (found != 0 && !info.dli_fbase.is_null()).then_some(info.dli_fbase as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constructor_ran_in_this_test_binary() {
        assert!(constructor_ran());
    }

    #[test]
    fn this_test_binary_is_the_main_executable() {
        assert!(in_main_executable());
    }

    #[test]
    fn a_test_binary_is_not_secure_execution() {
        assert!(!secure_execution());
    }
}
