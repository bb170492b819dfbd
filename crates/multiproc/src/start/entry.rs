//! Entry functions: the monomorphised trampolines a child calls to run its target.

use std::os::fd::OwnedFd;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec::{self, Bytes, Fd};
use crate::process::Run;
use crate::sys;

/// A child's way into its target: decode the arguments, run, encode the result.
pub(crate) type Entry = fn(Invocation) -> Outcome;

/// What the child hands its entry function.
#[derive(Debug)]
pub(crate) struct Invocation {
    /// The type tag the parent computed for the entry, checked before anything runs.
    pub(crate) tag: u64,
    pub(crate) args: Vec<u8>,
    pub(crate) fds: Vec<OwnedFd>,
}

/// How the target ended, sent from child to parent.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Outcome {
    /// It returned this encoded value.
    Returned { value: Bytes, fds: Vec<Fd> },
    /// It panicked with this message.
    Panicked(String),
    /// The child could not run it (arguments that do not decode, a result that does not
    /// encode, a target that does not match).
    Failed(String),
}

/// A stable-within-one-build tag for a type: FNV-1a of its name.
pub(crate) fn tag_of<T: ?Sized>() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in std::any::type_name::<T>().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn check<T: ?Sized>(inv: &Invocation) -> Result<(), Outcome> {
    if inv.tag == tag_of::<T>() {
        Ok(())
    } else {
        Err(Outcome::Failed(format!(
            "target mismatch: the child found a different function than {}",
            std::any::type_name::<T>()
        )))
    }
}

fn returned<R: Serialize>(value: &R) -> Outcome {
    match codec::encode(value) {
        Ok(e) => Outcome::Returned {
            value: Bytes(e.bytes),
            fds: e.fds.into_iter().map(Fd::from).collect(),
        },
        Err(e) => Outcome::Failed(format!("the return value could not be sent: {e}")),
    }
}

/// The entry for a function target `F: Fn(A) -> R`.
pub(crate) fn fn_entry<F, A, R>(inv: Invocation) -> Outcome
where
    F: Fn(A) -> R + Copy + 'static,
    A: DeserializeOwned,
    R: Serialize,
{
    if let Err(o) = check::<(F, A, R)>(&inv) {
        return o;
    }
    let target: F = sys::target::conjure::<F>();
    let args: A = match codec::decode(&inv.args, inv.fds) {
        Ok(a) => a,
        Err(e) => return Outcome::Failed(format!("the arguments could not be received: {e}")),
    };
    returned(&target(args))
}

/// The entry for a [`Run`] job.
pub(crate) fn run_entry<T: Run>(inv: Invocation) -> Outcome {
    if let Err(o) = check::<(T, T::Output)>(&inv) {
        return o;
    }
    let job: T = match codec::decode(&inv.args, inv.fds) {
        Ok(j) => j,
        Err(e) => return Outcome::Failed(format!("the process object could not be received: {e}")),
    };
    returned(&job.run())
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// A process target: a function item, or a closure that captures nothing, taking `A` and
/// returning `R`. Such a type has no data, so the child finds the very same function in its own
/// copy of the executable. Every `Fn(A) -> R + Copy + Send + 'static` is one by this blanket
/// implementation; one that has data (a closure with captured state, or a `fn` pointer) is
/// refused at compile time when it is used as a target.
pub trait Target<A, R>: Fn(A) -> R + Copy + Send + 'static {}

impl<F, A, R> Target<A, R> for F where F: Fn(A) -> R + Copy + Send + 'static {}

/// Fails the build if `F` is not a data-less target.
pub(crate) fn assert_target<F>() {
    const {
        assert!(
            std::mem::size_of::<F>() == 0,
            "a process target must be a function item or a closure that captures nothing; this one holds data (a closure with captured state, or a `fn` pointer such as `f as fn(u32) -> u32`): name the function itself, and pass state as the argument"
        )
    };
}
