//! [`ArrayProxy`]: an array of fixed length kept in a manager.

use std::marker::PhantomData;
use std::ops::Range;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::manager::ManagerError;
use crate::manager::client::ObjRef;
use crate::manager::protocol::Op;
use crate::manager::server::array::ArrayOp;

/// An array in a manager: a sequence whose length is fixed when it is made, shared by every
/// process that holds a proxy to it (Python's `Manager().Array(typecode, sequence)`).
///
/// Python's typecode is the element type `T` here, which may be any serde type. Reading or
/// writing past the end is [`ManagerError::IndexOutOfRange`], as Python's `IndexError`.
///
/// Between processes of one machine, [`multiproc::Array`](crate::Array) in shared memory is
/// far faster for numbers; this one holds any type and reaches other machines.
///
/// ```rust,standalone_crate
/// multiproc::init();
/// let manager = multiproc::Manager::start().unwrap();
/// let a = manager.array([0i64; 4]).unwrap();
/// a.set(1, 10).unwrap();
/// a.set_slice(2, [20, 30]).unwrap();
/// assert_eq!(a.to_vec().unwrap(), [0, 10, 20, 30]);
/// assert_eq!(a.slice(1..3).unwrap(), [10, 20]);
/// assert!(a.set(4, 1).is_err());
/// ```
pub struct ArrayProxy<T> {
    obj: ObjRef,
    _type: PhantomData<fn() -> T>,
}

impl<T> ArrayProxy<T> {
    pub(crate) fn from_ref(obj: ObjRef) -> Self {
        ArrayProxy {
            obj,
            _type: PhantomData,
        }
    }
}

super::proxy_impls!(ArrayProxy<T>);

impl<T: Serialize + DeserializeOwned> ArrayProxy<T> {
    /// The number of elements, fixed when the array was made.
    #[doc(alias = "__len__")]
    pub fn len(&self) -> Result<usize, ManagerError> {
        self.obj.count(Op::Array(ArrayOp::Len))
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        self.len().map(|n| n == 0)
    }

    /// The element at `index`.
    #[doc(alias = "__getitem__")]
    pub fn get(&self, index: usize) -> Result<T, ManagerError> {
        self.obj.value(Op::Array(ArrayOp::Get(index as u64)))
    }

    /// Replaces the element at `index`.
    #[doc(alias = "__setitem__")]
    pub fn set(&self, index: usize, value: T) -> Result<(), ManagerError> {
        let v = self.obj.encode(&value)?;
        self.obj
            .unit(Op::Array(ArrayOp::Set(index as u64, v.payload)))
    }

    /// The elements of `range` (Python's `a[start:end]`), in one call.
    pub fn slice(&self, range: Range<usize>) -> Result<Vec<T>, ManagerError> {
        self.obj.values(Op::Array(ArrayOp::Slice {
            start: range.start as u64,
            end: range.end as u64,
        }))
    }

    /// Replaces the elements from `start` on with `values` (Python's
    /// `a[start:start + len(values)] = values`), in one call; they must fit.
    pub fn set_slice(
        &self,
        start: usize,
        values: impl IntoIterator<Item = T>,
    ) -> Result<(), ManagerError> {
        let mut keep = Vec::new();
        let values = self.obj.encode_all(values, &mut keep)?;
        self.obj.unit(Op::Array(ArrayOp::SetSlice {
            start: start as u64,
            values,
        }))
    }

    /// A local copy of the array (a snapshot).
    #[doc(alias = "tolist")]
    pub fn to_vec(&self) -> Result<Vec<T>, ManagerError> {
        self.obj.values(Op::Array(ArrayOp::Snapshot))
    }
}
