//! [`Value`] and [`RawValue`]: one plain-data value in shared memory.

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
use crate::sync::{AcquireResult, AcquireTimeoutError, HolderDied, TryAcquireError};
use crate::sys::fd::deadline_after;

const MAGIC: u32 = mapping::magic(b"VALU");
const RAW_MAGIC: u32 = mapping::magic(b"VALR");
/// The lock word ([`Value`] only).
pub(super) const LOCK: usize = 4;
/// `size_of::<T>()`, checked when a value is received.
const SIZE: usize = 8;
const HEADER: usize = 16;

/// Where the data starts for a `T`, after a header of `header` bytes.
pub(super) fn data_offset<T>(header: usize) -> usize {
    let align = std::mem::align_of::<T>();
    // Mappings start on a page, and pages are 4096 bytes or more: a constant check, where
    // asking the system for the page size cost a call on every access.
    assert!(
        align <= 4096,
        "shared values cannot be aligned to more than 4096 bytes"
    );
    header.div_ceil(align) * align
}

fn create<T: Pod>(magic: u32, value: T, name: &str) -> std::io::Result<Mapping> {
    let data = data_offset::<T>(HEADER);
    let map = Mapping::anonymous(name, data + std::mem::size_of::<T>())?;
    map.u32_at(SIZE)
        .store(std::mem::size_of::<T>() as u32, Relaxed);
    map.write(data, value);
    map.u32_at(0).store(magic, Release);
    Ok(map)
}

fn receive<T: Pod, E: serde::de::Error>(
    map: Mapping,
    kind: &str,
    magic: u32,
) -> Result<Mapping, E> {
    let data = data_offset::<T>(HEADER);
    let map = mapping::checked(map, kind, magic, data + std::mem::size_of::<T>())?;
    let size = map.u32_at(SIZE).load(Relaxed) as usize;
    if size != std::mem::size_of::<T>() {
        return Err(crate::codec::de_error(format!(
            "shared {kind} holds {size}-byte values, not {}",
            std::any::type_name::<T>()
        )));
    }
    Ok(map)
}

/// A value of plain data `T` in shared memory, with a lock (Python's
/// `multiprocessing.Value`).
///
/// `T` is any [`Pod`] type: numbers, arrays of them, `#[repr(C)]` structs of them (derive
/// `bytemuck::Pod`). Clone the handle or pass it to a child: every copy is the same value.
///
/// No reference into the shared memory escapes while another process may write it:
/// [`get`](Value::get) and [`set`](Value::set) copy under the lock, and `&mut T` exists only
/// inside a [`ValueGuard`] or [`with_lock`](Value::with_lock), while the lock is held.
///
/// The lock is the value's own, held by a thread; [`new_with_lock`](Value::new_with_lock)
/// adds a [`Lock`](crate::Lock) or an [`RLock`](crate::RLock) that the value shares with
/// others (Python's `lock=` argument), taken first (see [`SharedLock`]).
///
/// ```rust,standalone_crate
/// fn add_one(v: multiproc::Value<u64>) {
///     v.with_lock(|x| *x += 1);
/// }
///
/// fn main() {
///     let v = multiproc::Value::new(41u64);
///     multiproc::spawn(add_one, v.clone()).join().unwrap();
///     assert_eq!(v.get(), 42);
/// }
/// ```
pub struct Value<T: Pod> {
    map: Arc<Mapping>,
    shared: Option<SharedLock>,
    _t: PhantomData<T>,
}

impl<T: Pod> Value<T> {
    /// A shared value, initially `value`.
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; see [`Value::try_new`].
    pub fn new(value: T) -> Value<T> {
        Value::try_new(value).expect("cannot create the shared memory of a Value")
    }

    /// A shared value, initially `value`, or the operating system's refusal.
    pub fn try_new(value: T) -> std::io::Result<Value<T>> {
        Ok(Value {
            map: Arc::new(create(MAGIC, value, "multiproc-value")?),
            shared: None,
            _t: PhantomData,
        })
    }

    /// A shared value, initially `value`, that also takes `lock` (a [`Lock`](crate::Lock) or
    /// an [`RLock`](crate::RLock), shared with other values) to be locked (Python's
    /// `Value(typecode, value, lock=lock)`). See [`SharedLock`].
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; see [`Value::try_new_with_lock`].
    pub fn new_with_lock(value: T, lock: impl Into<SharedLock>) -> Value<T> {
        Value::try_new_with_lock(value, lock).expect("cannot create the shared memory of a Value")
    }

    /// A shared value that also takes `lock` to be locked, or the operating system's refusal.
    pub fn try_new_with_lock(value: T, lock: impl Into<SharedLock>) -> std::io::Result<Value<T>> {
        Ok(Value {
            shared: Some(lock.into()),
            ..Value::try_new(value)?
        })
    }

    /// The lock this value shares with others, if it was made with one (Python's
    /// `get_lock()`, for such a value).
    pub fn shared_lock(&self) -> Option<&SharedLock> {
        self.shared.as_ref()
    }

    fn data(&self) -> usize {
        data_offset::<T>(HEADER)
    }

    fn word(&self) -> &std::sync::atomic::AtomicU32 {
        self.map.u32_at(LOCK)
    }

    fn guard<'a>(&'a self, held: Held<'a>) -> ValueGuard<'a, T> {
        // SAFETY: the value's own lock at LOCK is held by this thread (`held`, just taken);
        // every safe access to the data, in every process, takes it first; and the guard that
        // owns this reference releases it only when dropped, after the reference is gone.
        let value = unsafe { &mut self.map.slice_mut::<T>(self.data(), 1)[0] };
        ValueGuard { value, _held: held }
    }

    /// Locks the value and gives access to it (Python's `with v.get_lock():`).
    ///
    /// # Panics
    /// If this thread holds the value already (a second guard would alias the first).
    #[doc(alias = "get_lock")]
    pub fn lock(&self) -> AcquireResult<ValueGuard<'_, T>> {
        locking::acquire(self.word(), self.shared.as_ref(), |h| self.guard(h))
    }

    /// Locks the value if its lock is free (and not held by this thread).
    pub fn try_lock(&self) -> Result<ValueGuard<'_, T>, TryAcquireError<ValueGuard<'_, T>>> {
        locking::try_acquire(self.word(), self.shared.as_ref(), |h| self.guard(h))
    }

    /// Waits at most `timeout` to lock the value.
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ValueGuard<'_, T>, AcquireTimeoutError<ValueGuard<'_, T>>> {
        self.lock_deadline(deadline_after(timeout))
    }

    /// Waits until `deadline` at most to lock the value.
    ///
    /// # Panics
    /// If this thread holds the value already.
    pub fn lock_deadline(
        &self,
        deadline: Instant,
    ) -> Result<ValueGuard<'_, T>, AcquireTimeoutError<ValueGuard<'_, T>>> {
        locking::acquire_deadline(self.word(), self.shared.as_ref(), deadline, |h| {
            self.guard(h)
        })
    }

    /// Runs `f` on the value with the lock held, and returns what it returns. A holder that
    /// died is ignored: plain data is always valid, if perhaps half updated.
    ///
    /// # Panics
    /// If this thread holds the value already (`f` must not lock it again).
    pub fn with_lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut g = self.lock().unwrap_or_else(HolderDied::into_inner);
        f(&mut g)
    }

    /// A copy of the value, read under the lock (Python's `v.value`).
    #[doc(alias = "value")]
    pub fn get(&self) -> T {
        self.with_lock(|v| *v)
    }

    /// Replaces the value under the lock (Python's `v.value = x`).
    pub fn set(&self, value: T) {
        self.with_lock(|v| *v = value)
    }
}

impl<T: Pod> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value {
            map: self.map.clone(),
            shared: self.shared.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Pod + Default> Default for Value<T> {
    fn default() -> Self {
        Value::new(T::default())
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Value");
        match self.try_lock() {
            Ok(g) => d.field("value", &*g),
            Err(TryAcquireError::HolderDied(g)) => d.field("value", &**g.get_ref()),
            Err(_) => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// A value travels with the lock it shares, if any.
impl<T: Pod> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&*self.map, &self.shared).serialize(s)
    }
}

impl<'de, T: Pod> Deserialize<'de> for Value<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (map, shared) = <(Mapping, Option<SharedLock>)>::deserialize(d)?;
        let map = receive::<T, D::Error>(map, "Value", MAGIC)?;
        Ok(Value {
            map: Arc::new(map),
            shared,
            _t: PhantomData,
        })
    }
}

/// A locked [`Value`]: dereferences to the value; dropping it unlocks. It stays on the thread
/// that locked it (it is not `Send`).
#[must_use = "the value is unlocked as soon as the guard is dropped"]
pub struct ValueGuard<'a, T: Pod> {
    value: &'a mut T,
    _held: Held<'a>,
}

impl<T: Pod> Deref for ValueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T: Pod> DerefMut for ValueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A value of plain data `T` in shared memory, without a lock (Python's `RawValue`, or
/// `Value(..., lock=False)`).
///
/// Every access is a volatile copy. A read that races with a write in another process may see
/// a mix of old and new bytes (still a valid `T`); use [`Value`] when that matters.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let v = multiproc::RawValue::try_new(1.5f64)?;
/// v.set(2.5);
/// assert_eq!(v.get(), 2.5);
/// # Ok(()) }
/// ```
pub struct RawValue<T: Pod> {
    map: Arc<Mapping>,
    _t: PhantomData<T>,
}

impl<T: Pod> RawValue<T> {
    /// A shared value without lock, initially `value`.
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; see [`RawValue::try_new`].
    pub fn new(value: T) -> RawValue<T> {
        RawValue::try_new(value).expect("cannot create the shared memory of a RawValue")
    }

    /// A shared value without lock, or the operating system's refusal.
    pub fn try_new(value: T) -> std::io::Result<RawValue<T>> {
        Ok(RawValue {
            map: Arc::new(create(RAW_MAGIC, value, "multiproc-raw-value")?),
            _t: PhantomData,
        })
    }

    /// A copy of the value.
    pub fn get(&self) -> T {
        self.map.read(data_offset::<T>(HEADER))
    }

    /// Replaces the value.
    pub fn set(&self, value: T) {
        self.map.write(data_offset::<T>(HEADER), value)
    }
}

impl<T: Pod> Clone for RawValue<T> {
    fn clone(&self) -> Self {
        RawValue {
            map: self.map.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawValue")
            .field("value", &self.get())
            .finish()
    }
}

impl<T: Pod> Serialize for RawValue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

impl<'de, T: Pod> Deserialize<'de> for RawValue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = receive::<T, D::Error>(Mapping::deserialize(d)?, "RawValue", RAW_MAGIC)?;
        Ok(RawValue {
            map: Arc::new(map),
            _t: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    #[test]
    fn get_set_and_guard() {
        let v = Value::new([1u32, 2, 3]);
        v.set([4, 5, 6]);
        assert_eq!(v.get(), [4, 5, 6]);
        {
            let mut g = v.lock().unwrap();
            g[0] = 9;
            assert!(matches!(v.try_lock(), Err(TryAcquireError::WouldBlock)));
            assert_eq!(format!("{v:?}"), "Value { value: <locked> }");
        }
        assert_eq!(v.get(), [9, 5, 6]);
    }

    #[test]
    fn wrong_size_does_not_decode() {
        let v = Value::new(7u64);
        let e = codec::encode(&v).unwrap();
        let err = codec::decode::<Value<u32>>(&e.bytes, e.fds).unwrap_err();
        assert!(err.to_string().contains("8-byte"), "{err}");
        let e = codec::encode(&v).unwrap();
        assert!(codec::decode::<RawValue<u64>>(&e.bytes, e.fds).is_err());
        let e = codec::encode(&v).unwrap();
        let same: Value<u64> = codec::decode(&e.bytes, e.fds).unwrap();
        same.set(8);
        assert_eq!(v.get(), 8);
    }

    #[test]
    fn threads_increment_exactly() {
        let v = Value::new(0u64);
        let ts: Vec<_> = (0..4)
            .map(|_| {
                let v = v.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        v.with_lock(|x| *x += 1);
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(v.get(), 40_000);
    }

    #[test]
    #[should_panic(expected = "already holds the lock")]
    fn relocking_a_value_on_the_same_thread_panics_instead_of_hanging() {
        let v = Value::new(1u8);
        v.with_lock(|_| v.get());
    }

    #[test]
    fn a_shared_rlock_lets_its_holder_use_each_value() {
        let lock = crate::RLock::new();
        let (a, b) = (
            Value::new_with_lock(1u32, lock.clone()),
            Value::new_with_lock(2u32, lock.clone()),
        );
        let _g = lock.acquire().unwrap();
        a.with_lock(|x| *x += b.get());
        assert_eq!(a.get(), 3);
        // Another thread waits for the RLock, not only for the value.
        std::thread::scope(|s| {
            s.spawn(|| assert!(matches!(a.try_lock(), Err(TryAcquireError::WouldBlock))));
        });
    }

    #[test]
    fn a_relock_through_a_shared_rlock_panics_and_releases_everything() {
        let lock = crate::RLock::new();
        let v = Value::new_with_lock(0u8, lock.clone());
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            v.with_lock(|_| v.get());
        }));
        assert!(caught.is_err());
        assert!(!lock.locked(), "the shared RLock stayed held");
        std::thread::scope(|s| {
            s.spawn(|| v.set(9));
        });
        assert_eq!(v.get(), 9);
    }

    #[test]
    fn a_value_travels_with_its_lock() {
        let lock = crate::Lock::new();
        let v = Value::new_with_lock(5u16, lock.clone());
        let e = codec::encode(&v).unwrap();
        let w: Value<u16> = codec::decode(&e.bytes, e.fds).unwrap();
        let _held = lock.acquire().unwrap();
        assert!(matches!(w.try_lock(), Err(TryAcquireError::WouldBlock)));
        assert!(matches!(w.shared_lock(), Some(SharedLock::Lock(_))));
    }

    #[test]
    fn raw_value_roundtrip() {
        let v = RawValue::new(3i16);
        let e = codec::encode(&v).unwrap();
        let w: RawValue<i16> = codec::decode(&e.bytes, e.fds).unwrap();
        w.set(-4);
        assert_eq!(v.get(), -4);
    }
}
