//! [`ValueProxy`]: one value kept in a manager.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::manager::ManagerError;
use crate::manager::client::ObjRef;
use crate::manager::protocol::Op;
use crate::manager::server::value::ValueOp;

/// One value of any serde type in a manager (Python's `Manager().Value(typecode, value)`).
///
/// For plain numbers that many processes update, [`multiproc::Value`](crate::Value) in shared
/// memory is much faster; this one holds any type, and reaches other machines.
///
/// ```rust,standalone_crate
/// multiproc::init();
/// let manager = multiproc::Manager::start().unwrap();
/// let v = manager.value(String::from("before")).unwrap();
/// assert_eq!(v.swap("after".into()).unwrap(), "before");
/// assert_eq!(v.get().unwrap(), "after");
/// ```
pub struct ValueProxy<T> {
    obj: ObjRef,
    _type: PhantomData<fn() -> T>,
}

impl<T> ValueProxy<T> {
    pub(crate) fn from_ref(obj: ObjRef) -> Self {
        ValueProxy {
            obj,
            _type: PhantomData,
        }
    }
}

super::proxy_impls!(ValueProxy<T>);

impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    /// The value (Python's `v.value`).
    pub fn get(&self) -> Result<T, ManagerError> {
        self.obj.value(Op::Value(ValueOp::Load))
    }

    /// Replaces the value (Python's `v.value = x`).
    pub fn set(&self, value: T) -> Result<(), ManagerError> {
        let v = self.obj.encode(&value)?;
        self.obj.unit(Op::Value(ValueOp::Store(v.payload)))
    }

    /// Replaces the value and returns the one it had, in one call.
    pub fn swap(&self, value: T) -> Result<T, ManagerError> {
        let v = self.obj.encode(&value)?;
        self.obj.value(Op::Value(ValueOp::Swap(v.payload)))
    }
}
