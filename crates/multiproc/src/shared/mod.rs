//! Shared data: [`Value`], [`Array`] (and their lock-free [`RawValue`], [`RawArray`]), named
//! [`SharedMemory`] segments, Python's [`ShareableList`] in one, and the
//! [`SharedMemoryManager`] that keeps segments until it shuts down.
//!
//! Values and arrays live in anonymous memfd mappings: they have no name, so nothing is left
//! behind when every process holding them has ended, whatever the way it ended. Each has a
//! lock of its own, and may share a [`Lock`](crate::Lock) or an [`RLock`](crate::RLock) with
//! other values ([`SharedLock`], Python's `lock=` argument).
//!
//! Named segments live in `/dev/shm`, where Python's `multiprocessing.shared_memory` finds
//! them too. A tracker process removes the ones their creator leaves behind when it ends,
//! however it ends and however many there are; [`ShmOptions::track`] turns that off for a
//! segment meant to outlive its creator, or on for an attacher.
//!
//! No safe API hands out a shared reference into memory that another process may be writing:
//! reads and writes copy, and `&mut` access exists only while a lock is held.

#[allow(unsafe_code)]
pub(crate) mod mapping;

#[allow(unsafe_code)]
mod array;
mod list;
mod locking;
mod manager;
mod shared_memory;
#[allow(unsafe_code)]
mod tracker;
#[allow(unsafe_code)]
mod value;

pub use array::{Array, ArrayGuard, RawArray};
pub use list::{ListItem, ShareableList};
pub use locking::SharedLock;
pub use manager::SharedMemoryManager;
pub use shared_memory::{SharedMemory, ShmError, ShmOptions};
pub use value::{RawValue, Value, ValueGuard};

/// The plain-data bound of [`Value`] and [`Array`] elements: any bit pattern is a valid value
/// and there are no pointers or padding. Derive it with the `bytemuck` crate.
pub use bytemuck::Pod;
