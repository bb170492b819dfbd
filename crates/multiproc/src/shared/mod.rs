//! Shared data: [`Value`], [`Array`] (and their lock-free [`RawValue`], [`RawArray`]), and
//! named [`SharedMemory`] segments.
//!
//! Values and arrays live in anonymous memfd mappings: they have no name, so nothing is left
//! behind when every process holding them has ended, whatever the way it ended. Named
//! segments live in `/dev/shm`, and a tracker removes the ones their creator leaves behind.
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
