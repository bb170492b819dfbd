//! [`SetProxy`]: a set kept in a manager.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::manager::ManagerError;
use crate::manager::client::ObjRef;
use crate::manager::protocol::Op;
use crate::manager::server::set::{Algebra, Relation, SetOp};

/// A set in a manager, shared by every process that holds a proxy to it (Python 3.14's
/// `Manager().set()`).
///
/// Elements are compared by their encoded bytes, as dict keys are, so they are plain data (no
/// handles, no proxies). The combinations ([`union`](Self::union), ...) are computed by the
/// manager and return the elements; the `_update` forms change the set in place, in one call.
///
/// ```rust,standalone_crate
/// multiproc::init();
/// let manager = multiproc::Manager::start().unwrap();
/// let s = manager.set::<String>().unwrap();
/// assert!(s.insert("a".into()).unwrap());
/// assert!(!s.insert("a".into()).unwrap());
/// s.update(["b".to_string(), "c".to_string()]).unwrap();
/// assert!(s.contains("b").unwrap());
/// assert_eq!(s.intersection(["c".to_string(), "z".to_string()]).unwrap(), ["c"]);
/// assert_eq!(s.len().unwrap(), 3);
/// ```
pub struct SetProxy<T> {
    obj: ObjRef,
    _type: PhantomData<fn() -> T>,
}

impl<T> SetProxy<T> {
    pub(crate) fn from_ref(obj: ObjRef) -> Self {
        SetProxy {
            obj,
            _type: PhantomData,
        }
    }
}

super::proxy_impls!(SetProxy<T>);

impl<T: Serialize + DeserializeOwned> SetProxy<T> {
    fn combine(
        &self,
        how: Algebra,
        others: impl IntoIterator<Item = T>,
    ) -> Result<Vec<T>, ManagerError> {
        let others = self.obj.encode_keys(others)?;
        self.obj.keys(Op::Set(SetOp::Combine(how, others)))
    }

    fn combine_update(
        &self,
        how: Algebra,
        others: impl IntoIterator<Item = T>,
    ) -> Result<(), ManagerError> {
        let others = self.obj.encode_keys(others)?;
        self.obj.unit(Op::Set(SetOp::CombineUpdate(how, others)))
    }

    fn compare(
        &self,
        how: Relation,
        others: impl IntoIterator<Item = T>,
    ) -> Result<bool, ManagerError> {
        let others = self.obj.encode_keys(others)?;
        self.obj.flag(Op::Set(SetOp::Compare(how, others)))
    }

    /// Adds `value`; whether it was not there yet (Python's `add`).
    #[doc(alias = "add")]
    pub fn insert(&self, value: T) -> Result<bool, ManagerError> {
        let v = self.obj.encode_key(&value)?;
        self.obj.flag(Op::Set(SetOp::Add(v)))
    }

    /// Removes `value`; whether it was there (Python's `discard`; its `remove` raises when it
    /// was not).
    #[doc(alias = "discard")]
    pub fn remove<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<bool, ManagerError>
    where
        T: std::borrow::Borrow<Q>,
    {
        let v = self.obj.encode_key(value)?;
        self.obj.flag(Op::Set(SetOp::Discard(v)))
    }

    /// Whether `value` is in the set.
    #[doc(alias = "__contains__")]
    pub fn contains<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<bool, ManagerError>
    where
        T: std::borrow::Borrow<Q>,
    {
        let v = self.obj.encode_key(value)?;
        self.obj.flag(Op::Set(SetOp::Contains(v)))
    }

    /// Removes and returns an element (the one added last), or `None` if the set is empty.
    pub fn pop(&self) -> Result<Option<T>, ManagerError> {
        Ok(self.obj.keys(Op::Set(SetOp::Pop))?.into_iter().next())
    }

    /// The number of elements.
    #[doc(alias = "__len__")]
    pub fn len(&self) -> Result<usize, ManagerError> {
        self.obj.count(Op::Set(SetOp::Len))
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        self.len().map(|n| n == 0)
    }

    /// Removes every element.
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.obj.unit(Op::Set(SetOp::Clear))
    }

    /// The elements, in the order they were added (a snapshot; Python's `copy()`).
    #[doc(alias = "copy")]
    pub fn to_vec(&self) -> Result<Vec<T>, ManagerError> {
        self.obj.keys(Op::Set(SetOp::Items))
    }

    /// Adds every element of `others` (Python's `update`, `|=`), in one call.
    #[doc(alias = "__ior__")]
    pub fn update(&self, others: impl IntoIterator<Item = T>) -> Result<(), ManagerError> {
        self.combine_update(Algebra::Union, others)
    }

    /// Keeps only the elements also in `others` (`&=`).
    #[doc(alias = "__iand__")]
    pub fn intersection_update(
        &self,
        others: impl IntoIterator<Item = T>,
    ) -> Result<(), ManagerError> {
        self.combine_update(Algebra::Intersection, others)
    }

    /// Removes the elements of `others` (`-=`).
    #[doc(alias = "__isub__")]
    pub fn difference_update(
        &self,
        others: impl IntoIterator<Item = T>,
    ) -> Result<(), ManagerError> {
        self.combine_update(Algebra::Difference, others)
    }

    /// Keeps the elements in exactly one of the set and `others` (`^=`).
    #[doc(alias = "__ixor__")]
    pub fn symmetric_difference_update(
        &self,
        others: impl IntoIterator<Item = T>,
    ) -> Result<(), ManagerError> {
        self.combine_update(Algebra::SymmetricDifference, others)
    }

    /// The elements of the set and of `others` (`|`); the set is unchanged.
    #[doc(alias = "__or__")]
    pub fn union(&self, others: impl IntoIterator<Item = T>) -> Result<Vec<T>, ManagerError> {
        self.combine(Algebra::Union, others)
    }

    /// The elements of the set that are in `others` (`&`).
    #[doc(alias = "__and__")]
    pub fn intersection(
        &self,
        others: impl IntoIterator<Item = T>,
    ) -> Result<Vec<T>, ManagerError> {
        self.combine(Algebra::Intersection, others)
    }

    /// The elements of the set that are not in `others` (`-`).
    #[doc(alias = "__sub__")]
    pub fn difference(&self, others: impl IntoIterator<Item = T>) -> Result<Vec<T>, ManagerError> {
        self.combine(Algebra::Difference, others)
    }

    /// The elements in exactly one of the set and `others` (`^`).
    #[doc(alias = "__xor__")]
    pub fn symmetric_difference(
        &self,
        others: impl IntoIterator<Item = T>,
    ) -> Result<Vec<T>, ManagerError> {
        self.combine(Algebra::SymmetricDifference, others)
    }

    /// Whether every element of the set is in `others` (`<=`).
    #[doc(alias = "issubset")]
    pub fn is_subset(&self, others: impl IntoIterator<Item = T>) -> Result<bool, ManagerError> {
        self.compare(Relation::Subset, others)
    }

    /// Whether every element of `others` is in the set (`>=`).
    #[doc(alias = "issuperset")]
    pub fn is_superset(&self, others: impl IntoIterator<Item = T>) -> Result<bool, ManagerError> {
        self.compare(Relation::Superset, others)
    }

    /// Whether the set and `others` have no element in common.
    #[doc(alias = "isdisjoint")]
    pub fn is_disjoint(&self, others: impl IntoIterator<Item = T>) -> Result<bool, ManagerError> {
        self.compare(Relation::Disjoint, others)
    }
}
