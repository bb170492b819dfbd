//! [`DictProxy`]: a dictionary kept in a manager.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::manager::ManagerError;
use crate::manager::client::{ObjRef, unexpected};
use crate::manager::protocol::{Op, Payload, Reply};
use crate::manager::server::dict::DictOp;

/// A dictionary in a manager, shared by every process that holds a proxy to it (Python's
/// `Manager().dict()`).
///
/// Every method is a call to the manager: it sees, and makes, the latest state. Entries keep
/// their insertion order, as in a Python dict. Keys are compared by their encoded bytes, so
/// two keys are the same key when they serialize the same way.
///
/// Values are copies: changing a value you got does not change the dict (set it again), as
/// in Python. To share a mutable value, store a proxy: a dict of dict proxies updates the inner
/// dicts in place.
///
/// ```rust,standalone_crate
/// fn worker((d, key): (multiproc::manager::DictProxy<u32, u32>, u32)) {
///     d.set(key, key * 2).unwrap();
/// }
///
/// fn main() {
///     multiproc::init();
///     let manager = multiproc::Manager::start().unwrap();
///     let d = manager.dict().unwrap();
///     let jobs: Vec<_> = (0..3).map(|i| multiproc::spawn(worker, (d.clone(), i))).collect();
///     for j in jobs {
///         j.join().unwrap();
///     }
///     let mut items = d.items().unwrap();
///     items.sort();
///     assert_eq!(items, [(0, 0), (1, 2), (2, 4)]);
/// }
/// ```
pub struct DictProxy<K, V> {
    obj: ObjRef,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> DictProxy<K, V> {
    pub(crate) fn from_ref(obj: ObjRef) -> Self {
        DictProxy {
            obj,
            _types: PhantomData,
        }
    }
}

super::proxy_impls!(DictProxy<K, V>);

impl<K, V> DictProxy<K, V>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    fn entries(
        &self,
        items: Vec<(crate::codec::Bytes, Payload)>,
    ) -> Result<Vec<(K, V)>, ManagerError> {
        let (keys, values): (Vec<_>, Vec<_>) = items.into_iter().unzip();
        let values: Vec<V> = self.obj.decode_all(values)?;
        keys.iter()
            .map(|k| self.obj.decode_key(k))
            .zip(values)
            .map(|(k, v)| Ok((k?, v)))
            .collect()
    }

    /// The value of `key`, if it is in the dict.
    #[doc(alias = "__getitem__")]
    pub fn get<Q>(&self, key: &Q) -> Result<Option<V>, ManagerError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let key = self.obj.encode_key(key)?;
        self.obj.option(Op::Dict(DictOp::Get(key)))
    }

    /// Sets `key` to `value` and returns the value it replaces, as `HashMap::insert` does.
    pub fn insert(&self, key: K, value: V) -> Result<Option<V>, ManagerError> {
        let key = self.obj.encode_key(&key)?;
        let value = self.obj.encode(&value)?;
        self.obj.option(Op::Dict(DictOp::Insert {
            key,
            value: value.payload,
            old: true,
        }))
    }

    /// Sets `key` to `value` (Python's `d[key] = value`). Cheaper than
    /// [`insert`](DictProxy::insert): the replaced value does not travel back.
    #[doc(alias = "__setitem__")]
    pub fn set(&self, key: K, value: V) -> Result<(), ManagerError> {
        let key = self.obj.encode_key(&key)?;
        let value = self.obj.encode(&value)?;
        self.obj.unit(Op::Dict(DictOp::Insert {
            key,
            value: value.payload,
            old: false,
        }))
    }

    /// Removes `key` and returns its value, if it was there.
    #[doc(alias = "pop", alias = "__delitem__")]
    pub fn remove<Q>(&self, key: &Q) -> Result<Option<V>, ManagerError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let key = self.obj.encode_key(key)?;
        self.obj.option(Op::Dict(DictOp::Remove(key)))
    }

    /// Whether `key` is in the dict.
    #[doc(alias = "__contains__")]
    pub fn contains_key<Q>(&self, key: &Q) -> Result<bool, ManagerError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let key = self.obj.encode_key(key)?;
        self.obj.flag(Op::Dict(DictOp::Contains(key)))
    }

    /// The number of entries.
    #[doc(alias = "__len__")]
    pub fn len(&self) -> Result<usize, ManagerError> {
        self.obj.count(Op::Dict(DictOp::Len))
    }

    /// Whether the dict is empty.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        self.len().map(|n| n == 0)
    }

    /// The keys, in insertion order (a snapshot).
    pub fn keys(&self) -> Result<Vec<K>, ManagerError> {
        self.obj.keys(Op::Dict(DictOp::Keys))
    }

    /// The values, in insertion order (a snapshot).
    pub fn values(&self) -> Result<Vec<V>, ManagerError> {
        self.obj.values(Op::Dict(DictOp::Values))
    }

    /// The entries, in insertion order (a snapshot).
    pub fn items(&self) -> Result<Vec<(K, V)>, ManagerError> {
        self.obj.call(Op::Dict(DictOp::Items), |r| match r {
            Reply::Items(items) => self.entries(items),
            other => Err(unexpected(other)),
        })
    }

    /// A local copy of the dict (Python's `d.copy()`); [`items`](DictProxy::items) keeps the
    /// order.
    pub fn copy(&self) -> Result<HashMap<K, V>, ManagerError>
    where
        K: Eq + Hash,
    {
        Ok(self.items()?.into_iter().collect())
    }

    /// Sets every entry of `items`, in one call.
    pub fn update(&self, items: impl IntoIterator<Item = (K, V)>) -> Result<(), ManagerError> {
        let mut keep = Vec::new();
        let mut batch = Vec::new();
        for (k, v) in items {
            let k = self.obj.encode_key(&k)?;
            let v = self.obj.encode(&v)?;
            keep.extend(v.keep);
            batch.push((k, v.payload));
        }
        self.obj.unit(Op::Dict(DictOp::Update(batch)))
    }

    /// Removes every entry.
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.obj.unit(Op::Dict(DictOp::Clear))
    }

    /// The value of `key`; if there is none, sets it to `default` first (Python's
    /// `setdefault`), in one call.
    pub fn setdefault(&self, key: K, default: V) -> Result<V, ManagerError> {
        let key = self.obj.encode_key(&key)?;
        let value = self.obj.encode(&default)?;
        self.obj
            .value(Op::Dict(DictOp::SetDefault(key, value.payload)))
    }

    /// Removes and returns the last inserted entry, if any (Python's `popitem`).
    #[doc(alias = "popitem")]
    pub fn pop_item(&self) -> Result<Option<(K, V)>, ManagerError> {
        self.obj.call(Op::Dict(DictOp::PopItem), |r| match r {
            Reply::Items(items) => Ok(self.entries(items)?.into_iter().next()),
            other => Err(unexpected(other)),
        })
    }
}
