//! Registered types: your own type, kept in the manager server and called through a
//! [`SharedProxy`] (Python's `BaseManager.register`).

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::manager::ManagerError;
use crate::manager::client::ObjRef;
use crate::manager::protocol::Op;

/// A type whose instances live in a manager server, where every process that holds a
/// [`SharedProxy`] to one can call it (Python's `BaseManager.register(typeid, callable)`).
///
/// Its methods are the variants of [`Call`](Shared::Call): a proxy sends one, the server
/// runs [`call`](Shared::call) on the instance, and the reply (or the error message) comes
/// back. Calls to one instance run one at a time. An error, or a panic, in `call` reaches the
/// caller as [`ManagerError::Remote`] with its message; the server goes on.
///
/// Register the type on the [`ManagerBuilder`](crate::manager::ManagerBuilder) that starts or serves the
/// manager; clients then make instances with [`Manager::create`](crate::manager::Manager::create). The
/// server finds the type by its Rust type name, so a client in another program must use the
/// same type (from a shared crate).
///
/// ```rust,standalone_crate
/// use multiproc::manager::{Manager, Shared};
/// use serde::{Deserialize, Serialize};
///
/// struct Counter(i64);
///
/// #[derive(Serialize, Deserialize)]
/// enum CounterCall {
///     Add(i64),
///     Get,
/// }
///
/// impl Shared for Counter {
///     type Init = i64;
///     type Call = CounterCall;
///     type Reply = i64;
///
///     fn new(start: i64) -> Result<Self, String> {
///         Ok(Counter(start))
///     }
///
///     fn call(&mut self, call: CounterCall) -> Result<i64, String> {
///         match call {
///             CounterCall::Add(n) if n < 0 => Err(format!("cannot add {n}")),
///             CounterCall::Add(n) => {
///                 self.0 += n;
///                 Ok(self.0)
///             }
///             CounterCall::Get => Ok(self.0),
///         }
///     }
/// }
///
/// fn main() {
///     multiproc::init();
///     let manager = Manager::builder().register::<Counter>().start().unwrap();
///     let counter = manager.create::<Counter>(10).unwrap();
///     assert_eq!(counter.call(CounterCall::Add(5)).unwrap(), 15);
///     let err = counter.call(CounterCall::Add(-1)).unwrap_err();
///     assert_eq!(err.to_string(), "cannot add -1");
/// }
/// ```
pub trait Shared: Send + 'static {
    /// What [`new`](Shared::new) takes.
    type Init: Serialize + DeserializeOwned;
    /// A call: usually an enum with a variant per method.
    type Call: Serialize + DeserializeOwned;
    /// What a call returns.
    type Reply: Serialize + DeserializeOwned;

    /// Makes an instance, in the server.
    fn new(init: Self::Init) -> Result<Self, String>
    where
        Self: Sized;

    /// Runs one call, in the server.
    fn call(&mut self, call: Self::Call) -> Result<Self::Reply, String>;
}

/// A proxy for an instance of a registered [`Shared`] type in a manager server.
///
/// Cheap to clone (the clones call the same instance); serializable, so it can be passed to a
/// child or sent through a queue, and the receiving process calls the same instance.
pub struct SharedProxy<T: Shared> {
    pub(crate) obj: ObjRef,
    _type: PhantomData<fn() -> T>,
}

impl<T: Shared> SharedProxy<T> {
    /// The bound of each call through this proxy (see
    /// [Deadlines](crate::manager#deadlines)). A method that runs longer in the server than
    /// this needs a longer one.
    pub fn timeout(&self) -> std::time::Duration {
        self.obj.timeout()
    }

    /// Sets the bound of each call through this proxy.
    pub fn set_timeout(&mut self, timeout: std::time::Duration) {
        self.obj.set_timeout(timeout);
    }

    /// This proxy with another bound for each call.
    #[must_use]
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.set_timeout(timeout);
        self
    }

    pub(crate) fn new(obj: ObjRef) -> Self {
        SharedProxy {
            obj,
            _type: PhantomData,
        }
    }

    /// Runs `call` on the instance, in the server, and returns its reply. An error returned
    /// (or a panic) in [`Shared::call`] comes back as [`ManagerError::Remote`].
    pub fn call(&self, call: T::Call) -> Result<T::Reply, ManagerError> {
        let args = self.obj.encode(&call)?;
        self.obj.value(Op::Method(args.payload))
    }
}

impl<T: Shared> Clone for SharedProxy<T> {
    fn clone(&self) -> Self {
        SharedProxy::new(self.obj.clone())
    }
}

impl<T: Shared> fmt::Debug for SharedProxy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.obj
            .debug(f, &format!("SharedProxy<{}>", std::any::type_name::<T>()))
    }
}

impl<T: Shared> Serialize for SharedProxy<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.obj.serialize(s)
    }
}

impl<'de, T: Shared> Deserialize<'de> for SharedProxy<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ObjRef::deserialize(d).map(SharedProxy::new)
    }
}
