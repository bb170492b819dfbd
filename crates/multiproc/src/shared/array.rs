//! [`Array`] and [`RawArray`]: a fixed-length array of plain data in shared memory.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::Ordering::{Relaxed, Release};
use std::time::{Duration, Instant};

use bytemuck::Pod;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::locking::{self, Held, SharedLock};
use super::mapping::{self, Mapping};
use super::value::data_offset;
use crate::sync::{AcquireResult, AcquireTimeoutError, HolderDied, TryAcquireError};
use crate::sys::fd::deadline_after;

const MAGIC: u32 = mapping::magic(b"ARRY");
const RAW_MAGIC: u32 = mapping::magic(b"ARRR");
/// The lock word ([`Array`] only).
const LOCK: usize = 4;
/// The number of elements (u64).
const LEN: usize = 8;
/// `size_of::<T>()`, checked when an array is received.
const SIZE: usize = 16;
const HEADER: usize = 24;

fn create<T: Pod>(
    magic: u32,
    len: usize,
    init: Option<&[T]>,
    name: &str,
) -> std::io::Result<Mapping> {
    let data = data_offset::<T>(HEADER);
    let bytes = std::mem::size_of::<T>()
        .checked_mul(len)
        .and_then(|b| b.checked_add(data))
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "array too large"))?;
    // memfd memory starts zero-filled.
    let map = Mapping::anonymous(name, bytes)?;
    map.u64_at(LEN).store(len as u64, Relaxed);
    map.u32_at(SIZE)
        .store(std::mem::size_of::<T>() as u32, Relaxed);
    if let Some(values) = init {
        map.write_slice(data, values);
    }
    map.u32_at(0).store(magic, Release);
    Ok(map)
}

fn receive<T: Pod, E: serde::de::Error>(
    map: Mapping,
    kind: &str,
    magic: u32,
) -> Result<(Mapping, usize), E> {
    let data = data_offset::<T>(HEADER);
    let map = mapping::checked(map, kind, magic, data)?;
    let size = map.u32_at(SIZE).load(Relaxed) as usize;
    if size != std::mem::size_of::<T>() {
        return Err(crate::codec::de_error(format!(
            "shared {kind} holds {size}-byte elements, not {}",
            std::any::type_name::<T>()
        )));
    }
    let len = usize::try_from(map.u64_at(LEN).load(Relaxed)).unwrap_or(usize::MAX);
    let fits = size
        .checked_mul(len)
        .and_then(|b| b.checked_add(data))
        .is_some_and(|end| end <= map.len());
    if !fits {
        return Err(crate::codec::de_error(format!(
            "shared {kind} is shorter than its length"
        )));
    }
    Ok((map, len))
}

/// A fixed-length array of plain data `T` in shared memory, with a lock (Python's
/// `multiprocessing.Array`). A new array is zero-filled.
///
/// Element access copies under the lock; a `&mut [T]` into the memory exists only in an
/// [`ArrayGuard`] or [`with_lock`](Array::with_lock), while the lock is held.
///
/// The lock is the array's own, held by a thread; [`new_with_lock`](Array::new_with_lock) and
/// [`from_slice_with_lock`](Array::from_slice_with_lock) add a [`Lock`](crate::Lock) or an
/// [`RLock`](crate::RLock) that the array shares with other values (Python's `lock=`
/// argument), taken first (see [`SharedLock`]).
///
/// ```rust,standalone_crate
/// fn square(a: multiproc::Array<i32>) {
///     a.with_lock(|xs| xs.iter_mut().for_each(|x| *x *= *x));
/// }
///
/// fn main() {
///     let a = multiproc::Array::from_slice(&[1, 2, 3]);
///     multiproc::spawn(square, a.clone()).join().unwrap();
///     assert_eq!(a.to_vec(), [1, 4, 9]);
/// }
/// ```
pub struct Array<T: Pod> {
    map: Arc<Mapping>,
    len: usize,
    shared: Option<SharedLock>,
    _t: PhantomData<T>,
}

impl<T: Pod> Array<T> {
    /// A zero-filled shared array of `len` elements (Python's `Array(typecode, len)`).
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; see [`Array::try_new`].
    pub fn new(len: usize) -> Array<T> {
        Array::try_new(len).expect("cannot create the shared memory of an Array")
    }

    /// A zero-filled shared array, or the operating system's refusal.
    pub fn try_new(len: usize) -> std::io::Result<Array<T>> {
        Ok(Array {
            map: Arc::new(create::<T>(MAGIC, len, None, "multiproc-array")?),
            len,
            shared: None,
            _t: PhantomData,
        })
    }

    /// A shared array holding a copy of `values` (Python's `Array(typecode, sequence)`).
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; see [`Array::try_from_slice`].
    pub fn from_slice(values: &[T]) -> Array<T> {
        Array::try_from_slice(values).expect("cannot create the shared memory of an Array")
    }

    /// A shared array holding a copy of `values`, or the operating system's refusal.
    pub fn try_from_slice(values: &[T]) -> std::io::Result<Array<T>> {
        Ok(Array {
            map: Arc::new(create(
                MAGIC,
                values.len(),
                Some(values),
                "multiproc-array",
            )?),
            len: values.len(),
            shared: None,
            _t: PhantomData,
        })
    }

    /// A zero-filled shared array of `len` elements that also takes `lock` (a
    /// [`Lock`](crate::Lock) or an [`RLock`](crate::RLock), shared with other values) to be
    /// locked (Python's `Array(typecode, len, lock=lock)`). See [`SharedLock`].
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; see [`Array::try_new_with_lock`].
    pub fn new_with_lock(len: usize, lock: impl Into<SharedLock>) -> Array<T> {
        Array::try_new_with_lock(len, lock).expect("cannot create the shared memory of an Array")
    }

    /// A zero-filled shared array that also takes `lock` to be locked, or the operating
    /// system's refusal.
    pub fn try_new_with_lock(len: usize, lock: impl Into<SharedLock>) -> std::io::Result<Array<T>> {
        Ok(Array {
            shared: Some(lock.into()),
            ..Array::try_new(len)?
        })
    }

    /// A shared array holding a copy of `values` that also takes `lock` to be locked
    /// (Python's `Array(typecode, sequence, lock=lock)`).
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; see
    /// [`Array::try_from_slice_with_lock`].
    pub fn from_slice_with_lock(values: &[T], lock: impl Into<SharedLock>) -> Array<T> {
        Array::try_from_slice_with_lock(values, lock)
            .expect("cannot create the shared memory of an Array")
    }

    /// A shared array holding a copy of `values` that also takes `lock` to be locked, or the
    /// operating system's refusal.
    pub fn try_from_slice_with_lock(
        values: &[T],
        lock: impl Into<SharedLock>,
    ) -> std::io::Result<Array<T>> {
        Ok(Array {
            shared: Some(lock.into()),
            ..Array::try_from_slice(values)?
        })
    }

    /// The lock this array shares with others, if it was made with one (Python's
    /// `get_lock()`, for such an array).
    pub fn shared_lock(&self) -> Option<&SharedLock> {
        self.shared.as_ref()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn word(&self) -> &std::sync::atomic::AtomicU32 {
        self.map.u32_at(LOCK)
    }

    fn guard<'a>(&'a self, held: Held<'a>) -> ArrayGuard<'a, T> {
        // SAFETY: the array's own lock at LOCK is held by this thread (`held`, just taken);
        // every safe access to the elements, in every process, takes it first; and the guard
        // that owns this slice releases it only when dropped, after the slice is gone.
        let items = unsafe { self.map.slice_mut::<T>(data_offset::<T>(HEADER), self.len) };
        ArrayGuard { items, _held: held }
    }

    /// Locks the array and gives access to its elements (Python's `with a.get_lock():`).
    ///
    /// # Panics
    /// If this thread holds the array already (a second guard would alias the first).
    #[doc(alias = "get_lock")]
    pub fn lock(&self) -> AcquireResult<ArrayGuard<'_, T>> {
        locking::acquire(self.word(), self.shared.as_ref(), |h| self.guard(h))
    }

    /// Locks the array if its lock is free (and not held by this thread).
    pub fn try_lock(&self) -> Result<ArrayGuard<'_, T>, TryAcquireError<ArrayGuard<'_, T>>> {
        locking::try_acquire(self.word(), self.shared.as_ref(), |h| self.guard(h))
    }

    /// Waits at most `timeout` to lock the array.
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ArrayGuard<'_, T>, AcquireTimeoutError<ArrayGuard<'_, T>>> {
        self.lock_deadline(deadline_after(timeout))
    }

    /// Waits until `deadline` at most to lock the array.
    ///
    /// # Panics
    /// If this thread holds the array already.
    pub fn lock_deadline(
        &self,
        deadline: Instant,
    ) -> Result<ArrayGuard<'_, T>, AcquireTimeoutError<ArrayGuard<'_, T>>> {
        locking::acquire_deadline(self.word(), self.shared.as_ref(), deadline, |h| {
            self.guard(h)
        })
    }

    /// Runs `f` on the elements with the lock held. A holder that died is ignored: plain data
    /// is always valid, if perhaps half updated.
    ///
    /// # Panics
    /// If this thread holds the array already (`f` must not lock it again).
    pub fn with_lock<R>(&self, f: impl FnOnce(&mut [T]) -> R) -> R {
        let mut g = self.lock().unwrap_or_else(HolderDied::into_inner);
        f(&mut g)
    }

    /// A copy of element `index`, or `None` past the end (Python's `a[i]`).
    pub fn get(&self, index: usize) -> Option<T> {
        self.with_lock(|xs| xs.get(index).copied())
    }

    /// Sets element `index` (Python's `a[i] = x`).
    ///
    /// # Panics
    /// If `index` is past the end.
    pub fn set(&self, index: usize, value: T) {
        let len = self.len;
        self.with_lock(|xs| match xs.get_mut(index) {
            Some(x) => *x = value,
            None => panic!("index {index} out of range for a shared array of {len}"),
        })
    }

    /// A copy of all elements (Python's `a[:]`).
    pub fn to_vec(&self) -> Vec<T> {
        self.with_lock(|xs| xs.to_vec())
    }

    /// Copies all elements into `out`.
    ///
    /// # Panics
    /// If `out.len()` is not the array's length.
    pub fn copy_to_slice(&self, out: &mut [T]) {
        self.with_lock(|xs| out.copy_from_slice(xs))
    }

    /// Replaces all elements with `values` (Python's `a[:] = values`).
    ///
    /// # Panics
    /// If `values.len()` is not the array's length.
    pub fn copy_from_slice(&self, values: &[T]) {
        self.with_lock(|xs| xs.copy_from_slice(values))
    }
}

impl<T: Pod> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array {
            map: self.map.clone(),
            len: self.len,
            shared: self.shared.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Array");
        match self.try_lock() {
            Ok(g) => d.field("items", &&*g),
            Err(TryAcquireError::HolderDied(g)) => d.field("items", &&**g.get_ref()),
            Err(_) => d.field("items", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// An array travels with the lock it shares, if any.
impl<T: Pod> Serialize for Array<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&*self.map, &self.shared).serialize(s)
    }
}

impl<'de, T: Pod> Deserialize<'de> for Array<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (map, shared) = <(Mapping, Option<SharedLock>)>::deserialize(d)?;
        let (map, len) = receive::<T, D::Error>(map, "Array", MAGIC)?;
        Ok(Array {
            map: Arc::new(map),
            len,
            shared,
            _t: PhantomData,
        })
    }
}

/// A locked [`Array`]: dereferences to its elements; dropping it unlocks. It stays on the
/// thread that locked it (it is not `Send`).
#[must_use = "the array is unlocked as soon as the guard is dropped"]
pub struct ArrayGuard<'a, T: Pod> {
    items: &'a mut [T],
    _held: Held<'a>,
}

impl<T: Pod> Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.items
    }
}

impl<T: Pod> DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.items
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A fixed-length array of plain data in shared memory, without a lock (Python's
/// `RawArray`, or `Array(..., lock=False)`). A new array is zero-filled.
///
/// Every access is a volatile copy; a read racing with a write in another process may see a
/// mix of old and new elements.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let a = multiproc::RawArray::<u8>::try_new(4)?;
/// a.set(1, 7);
/// assert_eq!(a.to_vec(), [0, 7, 0, 0]);
/// # Ok(()) }
/// ```
pub struct RawArray<T: Pod> {
    map: Arc<Mapping>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Pod> RawArray<T> {
    /// A zero-filled shared array of `len` elements.
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; see [`RawArray::try_new`].
    pub fn new(len: usize) -> RawArray<T> {
        RawArray::try_new(len).expect("cannot create the shared memory of a RawArray")
    }

    /// A zero-filled shared array, or the operating system's refusal.
    pub fn try_new(len: usize) -> std::io::Result<RawArray<T>> {
        Ok(RawArray {
            map: Arc::new(create::<T>(RAW_MAGIC, len, None, "multiproc-raw-array")?),
            len,
            _t: PhantomData,
        })
    }

    /// A shared array holding a copy of `values`.
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; see [`RawArray::try_from_slice`].
    pub fn from_slice(values: &[T]) -> RawArray<T> {
        RawArray::try_from_slice(values).expect("cannot create the shared memory of a RawArray")
    }

    /// A shared array holding a copy of `values`, or the operating system's refusal.
    pub fn try_from_slice(values: &[T]) -> std::io::Result<RawArray<T>> {
        Ok(RawArray {
            map: Arc::new(create(
                RAW_MAGIC,
                values.len(),
                Some(values),
                "multiproc-raw-array",
            )?),
            len: values.len(),
            _t: PhantomData,
        })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn at(&self, index: usize) -> usize {
        data_offset::<T>(HEADER) + index * std::mem::size_of::<T>()
    }

    /// A copy of element `index`, or `None` past the end.
    pub fn get(&self, index: usize) -> Option<T> {
        (index < self.len).then(|| self.map.read(self.at(index)))
    }

    /// Sets element `index`.
    ///
    /// # Panics
    /// If `index` is past the end.
    pub fn set(&self, index: usize, value: T) {
        assert!(
            index < self.len,
            "index {index} out of range for a shared array of {}",
            self.len
        );
        self.map.write(self.at(index), value)
    }

    /// A copy of all elements.
    pub fn to_vec(&self) -> Vec<T> {
        let mut v = vec![T::zeroed(); self.len];
        self.copy_to_slice(&mut v);
        v
    }

    /// Copies all elements into `out`.
    ///
    /// # Panics
    /// If `out.len()` is not the array's length.
    pub fn copy_to_slice(&self, out: &mut [T]) {
        assert_eq!(out.len(), self.len, "slice length differs from the array's");
        self.map.read_slice(self.at(0), out)
    }

    /// Replaces all elements with `values`.
    ///
    /// # Panics
    /// If `values.len()` is not the array's length.
    pub fn copy_from_slice(&self, values: &[T]) {
        assert_eq!(
            values.len(),
            self.len,
            "slice length differs from the array's"
        );
        self.map.write_slice(self.at(0), values)
    }
}

impl<T: Pod> Clone for RawArray<T> {
    fn clone(&self) -> Self {
        RawArray {
            map: self.map.clone(),
            len: self.len,
            _t: PhantomData,
        }
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawArray")
            .field("items", &self.to_vec())
            .finish()
    }
}

impl<T: Pod> Serialize for RawArray<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

impl<'de, T: Pod> Deserialize<'de> for RawArray<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (map, len) = receive::<T, D::Error>(Mapping::deserialize(d)?, "RawArray", RAW_MAGIC)?;
        Ok(RawArray {
            map: Arc::new(map),
            len,
            _t: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    #[test]
    fn zero_filled_and_indexed() {
        let a = Array::<f64>::new(5);
        assert_eq!(a.to_vec(), [0.0; 5]);
        a.set(4, 2.5);
        assert_eq!(a.get(4), Some(2.5));
        assert_eq!(a.get(5), None);
        let mut out = [0.0; 5];
        a.copy_to_slice(&mut out);
        assert_eq!(out, [0.0, 0.0, 0.0, 0.0, 2.5]);
        a.copy_from_slice(&[1.0; 5]);
        assert_eq!(a.lock().unwrap().iter().sum::<f64>(), 5.0);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn set_past_the_end_panics() {
        Array::<u8>::new(2).set(2, 1);
    }

    #[test]
    fn empty_and_large_arrays() {
        let e = Array::<u32>::new(0);
        assert!(e.is_empty() && e.to_vec().is_empty());
        let big = Array::<u64>::new(100_000);
        big.set(99_999, 1);
        let enc = codec::encode(&big).unwrap();
        let b2: Array<u64> = codec::decode(&enc.bytes, enc.fds).unwrap();
        assert_eq!((b2.len(), b2.get(99_999)), (100_000, Some(1)));
    }

    #[test]
    fn kinds_and_sizes_are_checked() {
        let a = Array::from_slice(&[1u16, 2]);
        let enc = codec::encode(&a).unwrap();
        assert!(codec::decode::<Array<u32>>(&enc.bytes, enc.fds).is_err());
        let enc = codec::encode(&a).unwrap();
        assert!(codec::decode::<RawArray<u16>>(&enc.bytes, enc.fds).is_err());
        let r = RawArray::from_slice(&[1u16, 2]);
        let enc = codec::encode(&r).unwrap();
        let r2: RawArray<u16> = codec::decode(&enc.bytes, enc.fds).unwrap();
        r2.set(0, 10);
        assert_eq!(r.to_vec(), [10, 2]);
    }
}
