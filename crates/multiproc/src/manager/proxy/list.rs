//! [`ListProxy`]: a list kept in a manager.

use std::marker::PhantomData;

use std::cmp::Ordering;
use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::manager::ManagerError;
use crate::manager::client::{ObjRef, unexpected};
use crate::manager::protocol::{Op, Reply};
use crate::manager::server::list::ListOp;

/// A list in a manager, shared by every process that holds a proxy to it (Python's
/// `Manager().list()`).
///
/// Every method is one call to the manager. Values are compared (by [`remove`](Self::remove),
/// [`index`](Self::index), [`count`](Self::count)) by their encoded bytes; [`sort`](Self::sort)
/// orders them by their type's own `Ord` (or any ordering you give). What you get is a copy: to
/// change an element, [`set`](Self::set) it.
///
/// ```rust,standalone_crate
/// multiproc::init();
/// let manager = multiproc::Manager::start().unwrap();
/// let active = manager.list::<String>().unwrap();
/// active.push("0".to_string()).unwrap();
/// active.push("1".to_string()).unwrap();
/// active.remove("0").unwrap();
/// assert_eq!(active.to_vec().unwrap(), ["1"]);
/// ```
pub struct ListProxy<T> {
    obj: ObjRef,
    _type: PhantomData<fn() -> T>,
}

impl<T> ListProxy<T> {
    pub(crate) fn from_ref(obj: ObjRef) -> Self {
        ListProxy {
            obj,
            _type: PhantomData,
        }
    }
}

super::proxy_impls!(ListProxy<T>);

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    fn op(&self, op: ListOp) -> Result<(), ManagerError> {
        self.obj.unit(Op::List(op))
    }

    /// Appends `value`.
    #[doc(alias = "append")]
    pub fn push(&self, value: T) -> Result<(), ManagerError> {
        let v = self.obj.encode(&value)?;
        self.op(ListOp::Push(v.payload))
    }

    /// Appends every value of `values`, in one call.
    pub fn extend(&self, values: impl IntoIterator<Item = T>) -> Result<(), ManagerError> {
        let mut keep = Vec::new();
        let batch = self.obj.encode_all(values, &mut keep)?;
        self.op(ListOp::Extend(batch))
    }

    /// Inserts `value` before position `index` (at the end if `index` is past it, as in
    /// Python).
    pub fn insert(&self, index: usize, value: T) -> Result<(), ManagerError> {
        let v = self.obj.encode(&value)?;
        self.op(ListOp::Insert(index as u64, v.payload))
    }

    /// Removes and returns the last value, or `None` if the list is empty.
    pub fn pop(&self) -> Result<Option<T>, ManagerError> {
        match self.obj.option(Op::List(ListOp::Pop(None))) {
            Err(ManagerError::Empty) => Ok(None),
            other => other,
        }
    }

    /// Removes and returns the value at `index` (Python's `pop(index)`).
    pub fn pop_at(&self, index: usize) -> Result<T, ManagerError> {
        self.obj.value(Op::List(ListOp::Pop(Some(index as u64))))
    }

    /// Removes the first value equal to `value`; [`ManagerError::NotInList`] if there is none.
    pub fn remove<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<(), ManagerError>
    where
        T: std::borrow::Borrow<Q>,
    {
        let v = self.obj.encode_key(value)?;
        self.op(ListOp::Remove(v))
    }

    /// The position of the first value equal to `value`; [`ManagerError::NotInList`] if there
    /// is none.
    pub fn index<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<usize, ManagerError>
    where
        T: std::borrow::Borrow<Q>,
    {
        let v = self.obj.encode_key(value)?;
        self.obj.count(Op::List(ListOp::Index(v)))
    }

    /// Whether a value equal to `value` is in the list.
    #[doc(alias = "__contains__")]
    pub fn contains<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<bool, ManagerError>
    where
        T: std::borrow::Borrow<Q>,
    {
        match self.index(value) {
            Ok(_) => Ok(true),
            Err(ManagerError::NotInList) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// How many values equal `value`.
    pub fn count<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<usize, ManagerError>
    where
        T: std::borrow::Borrow<Q>,
    {
        let v = self.obj.encode_key(value)?;
        self.obj.count(Op::List(ListOp::Count(v)))
    }

    /// The number of values.
    #[doc(alias = "__len__")]
    pub fn len(&self) -> Result<usize, ManagerError> {
        self.obj.count(Op::List(ListOp::Len))
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        self.len().map(|n| n == 0)
    }

    /// The value at `index`, or `None` past the end.
    #[doc(alias = "__getitem__")]
    pub fn get(&self, index: usize) -> Result<Option<T>, ManagerError> {
        match self.obj.option(Op::List(ListOp::Get(index as u64))) {
            Err(ManagerError::IndexOutOfRange { .. }) => Ok(None),
            other => other,
        }
    }

    /// Replaces the value at `index` (Python's `l[index] = value`).
    #[doc(alias = "__setitem__")]
    pub fn set(&self, index: usize, value: T) -> Result<(), ManagerError> {
        let v = self.obj.encode(&value)?;
        self.op(ListOp::Set(index as u64, v.payload))
    }

    /// A local copy of the list (a snapshot).
    #[doc(alias = "snapshot", alias = "copy")]
    pub fn to_vec(&self) -> Result<Vec<T>, ManagerError> {
        self.obj.values(Op::List(ListOp::Snapshot))
    }

    /// Removes every value.
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.op(ListOp::Clear)
    }

    /// Reverses the list in place.
    pub fn reverse(&self) -> Result<(), ManagerError> {
        self.op(ListOp::Reverse)
    }

    /// Sorts the list in place by `T`'s order (Python's `sort()`); stable, as Python's is.
    pub fn sort(&self) -> Result<(), ManagerError>
    where
        T: Ord,
    {
        self.sort_by(T::cmp)
    }

    /// Sorts the list in place by the key `f` gives each value (Python's `sort(key=f)`).
    pub fn sort_by_key<K: Ord>(&self, mut f: impl FnMut(&T) -> K) -> Result<(), ManagerError> {
        self.sort_by(|a, b| f(a).cmp(&f(b)))
    }

    /// Sorts the list in place by `compare`; `sort_by(|a, b| b.cmp(a))` is Python's
    /// `sort(reverse=True)`.
    ///
    /// The values are ordered here, by your code, and the manager puts them in that order only
    /// if the list has not changed meanwhile, so the sort is atomic as Python's is: it is tried
    /// again if another process changed the list, until this proxy's timeout runs out
    /// ([`ManagerError::Timeout`]). Values are moved in the manager, not sent back, so proxies
    /// and handles in them stay as they are.
    pub fn sort_by(&self, mut compare: impl FnMut(&T, &T) -> Ordering) -> Result<(), ManagerError> {
        let give_up = crate::sys::fd::deadline_after(self.obj.timeout());
        loop {
            let (version, values) = self.obj.call(Op::List(ListOp::Versioned), |r| match r {
                Reply::Versioned { version, values } => {
                    Ok((version, self.obj.decode_all::<T>(values)?))
                }
                other => Err(unexpected(other)),
            })?;
            let mut order: Vec<usize> = (0..values.len()).collect();
            order.sort_by(|&a, &b| compare(&values[a], &values[b]));
            let order = order.into_iter().map(|i| i as u64).collect();
            if self
                .obj
                .flag(Op::List(ListOp::Permute { version, order }))?
            {
                return Ok(());
            }
            if Instant::now() >= give_up {
                return Err(ManagerError::Timeout);
            }
        }
    }
}
