//! [`Namespace`]: named attributes kept in a manager.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::manager::ManagerError;
use crate::manager::client::{ObjRef, unexpected};
use crate::manager::protocol::{Op, Reply};
use crate::manager::server::namespace::NamespaceOp;

/// A set of named values in a manager, shared by every process that holds it (Python's
/// `Manager().Namespace()`).
///
/// Each attribute holds any serde value; [`get`](Namespace::get) says which type to read it
/// as. A missing attribute is [`ManagerError::NoAttribute`], whose message names it as
/// Python's does: `'Namespace' object has no attribute 'value'`.
///
/// What `get` returns is a copy: changing a list you got does not change the attribute (set
/// it again), as the chapter's `multiprocessing_namespaces_mutable.py` shows.
///
/// ```rust,standalone_crate
/// multiproc::init();
/// let manager = multiproc::Manager::start().unwrap();
/// let ns = manager.namespace().unwrap();
/// let err = ns.get::<String>("value").unwrap_err();
/// assert_eq!(err.to_string(), "'Namespace' object has no attribute 'value'");
/// ns.set("value", "This is the value").unwrap();
/// assert_eq!(ns.get::<String>("value").unwrap(), "This is the value");
/// ```
pub struct Namespace {
    obj: ObjRef,
}

impl Namespace {
    pub(crate) fn from_ref(obj: ObjRef) -> Self {
        Namespace { obj }
    }

    /// The attribute `name`, read as a `T` (Python's `ns.name`).
    #[doc(alias = "getattr", alias = "__getattr__")]
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, ManagerError> {
        self.obj
            .value(Op::Namespace(NamespaceOp::Get(name.to_owned())))
    }

    /// Sets the attribute `name` (Python's `ns.name = value`).
    #[doc(alias = "setattr", alias = "__setattr__")]
    pub fn set<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<(), ManagerError> {
        let v = self.obj.encode(value)?;
        self.obj
            .unit(Op::Namespace(NamespaceOp::Set(name.to_owned(), v.payload)))
    }

    /// Deletes the attribute `name` (Python's `del ns.name`); [`ManagerError::NoAttribute`] if
    /// there is none.
    #[doc(alias = "delattr", alias = "__delattr__")]
    pub fn delete(&self, name: &str) -> Result<(), ManagerError> {
        self.obj
            .unit(Op::Namespace(NamespaceOp::Delete(name.to_owned())))
    }

    /// Whether the attribute `name` exists (Python's `hasattr`).
    #[doc(alias = "hasattr")]
    pub fn contains(&self, name: &str) -> Result<bool, ManagerError> {
        Ok(self.names()?.iter().any(|n| n == name))
    }

    /// The attributes' names, in the order they were first set.
    #[doc(alias = "dir", alias = "vars")]
    pub fn names(&self) -> Result<Vec<String>, ManagerError> {
        self.obj
            .call(Op::Namespace(NamespaceOp::Names), |r| match r {
                Reply::Names(names) => Ok(names),
                other => Err(unexpected(other)),
            })
    }
}

super::proxy_impls!(Namespace);
