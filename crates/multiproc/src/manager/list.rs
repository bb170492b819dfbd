//! [`ListProxy`]: a list kept in a manager.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ManagerError;
use super::link::{ObjRef, unexpected};
use super::protocol::{Op, Reply};

/// A list in a manager, shared by every process that holds a proxy to it (Python's
/// `Manager().list()`).
///
/// Every method is one call to the manager. Values are compared (by [`remove`](Self::remove),
/// [`index`](Self::index), [`count`](Self::count)) by their encoded bytes. What you get is a
/// copy: to change an element, [`set`](Self::set) it.
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

fn unit(reply: Reply) -> Result<(), ManagerError> {
    match reply {
        Reply::Unit => Ok(()),
        other => Err(unexpected(other)),
    }
}

fn count(reply: Reply) -> Result<usize, ManagerError> {
    match reply {
        Reply::Count(n) => Ok(n as usize),
        other => Err(unexpected(other)),
    }
}

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    /// Appends `value`.
    #[doc(alias = "append")]
    pub fn push(&self, value: T) -> Result<(), ManagerError> {
        let v = self.obj.encode(&value)?;
        unit(self.obj.call(Op::Push(v.payload))?)
    }

    /// Appends every value of `values`, in one call.
    pub fn extend(&self, values: impl IntoIterator<Item = T>) -> Result<(), ManagerError> {
        let mut keep = Vec::new();
        let mut batch = Vec::new();
        for v in values {
            let v = self.obj.encode(&v)?;
            keep.extend(v.keep);
            batch.push(v.payload);
        }
        unit(self.obj.call(Op::Extend(batch))?)
    }

    /// Inserts `value` before position `index` (at the end if `index` is past it, as in
    /// Python).
    pub fn insert(&self, index: usize, value: T) -> Result<(), ManagerError> {
        let v = self.obj.encode(&value)?;
        unit(self.obj.call(Op::InsertAt(index as u64, v.payload))?)
    }

    /// Removes and returns the last value, or `None` if the list is empty.
    pub fn pop(&self) -> Result<Option<T>, ManagerError> {
        match self.obj.call(Op::Pop(None)) {
            Ok(reply) => self.obj.decode_option(reply),
            Err(ManagerError::Empty) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes and returns the value at `index` (Python's `pop(index)`).
    pub fn pop_at(&self, index: usize) -> Result<T, ManagerError> {
        let reply = self.obj.call(Op::Pop(Some(index as u64)))?;
        self.obj.decode_value(reply)
    }

    /// Removes the first value equal to `value`; [`ManagerError::NotInList`] if there is none.
    pub fn remove<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<(), ManagerError>
    where
        T: std::borrow::Borrow<Q>,
    {
        let v = self.obj.encode_key(value)?;
        unit(self.obj.call(Op::RemoveValue(v))?)
    }

    /// The position of the first value equal to `value`; [`ManagerError::NotInList`] if there
    /// is none.
    pub fn index<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<usize, ManagerError>
    where
        T: std::borrow::Borrow<Q>,
    {
        let v = self.obj.encode_key(value)?;
        count(self.obj.call(Op::Index(v))?)
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
        count(self.obj.call(Op::Count(v))?)
    }

    /// The number of values.
    #[doc(alias = "__len__")]
    pub fn len(&self) -> Result<usize, ManagerError> {
        count(self.obj.call(Op::Len)?)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        self.len().map(|n| n == 0)
    }

    /// The value at `index`, or `None` past the end.
    #[doc(alias = "__getitem__")]
    pub fn get(&self, index: usize) -> Result<Option<T>, ManagerError> {
        match self.obj.call(Op::GetAt(index as u64)) {
            Ok(reply) => self.obj.decode_option(reply),
            Err(ManagerError::IndexOutOfRange { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the value at `index` (Python's `l[index] = value`).
    #[doc(alias = "__setitem__")]
    pub fn set(&self, index: usize, value: T) -> Result<(), ManagerError> {
        let v = self.obj.encode(&value)?;
        unit(self.obj.call(Op::SetAt(index as u64, v.payload))?)
    }

    /// A local copy of the list (a snapshot).
    #[doc(alias = "snapshot", alias = "copy")]
    pub fn to_vec(&self) -> Result<Vec<T>, ManagerError> {
        let reply = self.obj.call(Op::Snapshot)?;
        self.obj.decode_values(reply)
    }

    /// Removes every value.
    pub fn clear(&self) -> Result<(), ManagerError> {
        unit(self.obj.call(Op::Clear)?)
    }

    /// Reverses the list in place.
    pub fn reverse(&self) -> Result<(), ManagerError> {
        unit(self.obj.call(Op::Reverse)?)
    }
}
