//! Registered types: your own type, kept in the manager server and called through a
//! [`SharedProxy`] (Python's `BaseManager.register`).

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::os::fd::OwnedFd;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ManagerError;
use super::link::ObjRef;
use super::protocol::{Failure, Op, Payload};
use crate::codec;

/// A type whose instances live in a manager server, where every process that holds a
/// [`SharedProxy`] to one can call it (Python's `BaseManager.register(typeid, callable)`).
///
/// Its methods are the variants of [`Call`](Shared::Call): a proxy sends one, the server
/// runs [`call`](Shared::call) on the instance, and the reply (or the error message) comes
/// back. Calls to one instance run one at a time. An error, or a panic, in `call` reaches the
/// caller as [`ManagerError::Remote`] with its message; the server goes on.
///
/// Register the type on the [`ManagerBuilder`](super::ManagerBuilder) that starts or serves the
/// manager; clients then make instances with [`Manager::create`](super::Manager::create). The
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

/// A [`Shared`] instance with its types erased, as the server holds it.
pub(crate) trait ErasedShared: Send {
    fn type_name(&self) -> &'static str;
    fn call(&mut self, bytes: &[u8], fds: Vec<OwnedFd>) -> Result<Payload, String>;
}

struct Erased<T>(T);

impl<T: Shared> ErasedShared for Erased<T> {
    fn type_name(&self) -> &'static str {
        short_name(std::any::type_name::<T>())
    }

    fn call(&mut self, bytes: &[u8], fds: Vec<OwnedFd>) -> Result<Payload, String> {
        let call: T::Call = codec::decode(bytes, fds).map_err(|e| e.to_string())?;
        let reply = self.0.call(call)?;
        let e = codec::encode(&reply).map_err(|e| e.to_string())?;
        Ok(Payload {
            bytes: codec::Bytes(e.bytes),
            fds: e.fds.into_iter().map(Into::into).collect(),
            refs: Vec::new(),
        })
    }
}

fn short_name(full: &'static str) -> &'static str {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

type Maker = fn(Payload) -> Result<Box<dyn ErasedShared>, Failure>;

fn make<T: Shared>(init: Payload) -> Result<Box<dyn ErasedShared>, Failure> {
    let fds = init.fds.into_iter().map(Into::into).collect();
    let init: T::Init = codec::decode(&init.bytes.0, fds).map_err(|e| {
        Failure::Method(format!(
            "cannot make a {}: {e}",
            short_name(std::any::type_name::<T>())
        ))
    })?;
    let value = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || T::new(init)))
        .map_err(|p| {
            Failure::Method(format!(
                "making a {} panicked: {}",
                short_name(std::any::type_name::<T>()),
                crate::start::panic_message(&*p)
            ))
        })?;
    Ok(Box::new(Erased(value.map_err(Failure::Method)?)))
}

/// The types a server can make, by type name. Filled by [`Types`]; not for direct use.
#[doc(hidden)]
#[derive(Default)]
pub struct TypeRegistry {
    makers: HashMap<&'static str, Maker>,
}

impl TypeRegistry {
    /// Adds `T`.
    pub(crate) fn add<T: Shared>(&mut self) {
        self.makers.insert(std::any::type_name::<T>(), make::<T>);
    }

    /// Makes an instance of the type named `type_name`.
    pub(crate) fn make(
        &self,
        type_name: &str,
        init: Payload,
    ) -> Result<Box<dyn ErasedShared>, Failure> {
        match self.makers.get(type_name) {
            Some(make) => make(init),
            None => Err(Failure::UnknownType(type_name.to_owned())),
        }
    }
}

impl fmt::Debug for TypeRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.makers.keys()).finish()
    }
}

pub(crate) type Registry = TypeRegistry;

/// A list of [`Shared`] types, built by
/// [`ManagerBuilder::register`](super::ManagerBuilder::register): `()` is none, `(T, R)` is `T`
/// and the types of `R`.
pub trait Types: Send + 'static {
    /// Adds the types to `registry`.
    #[doc(hidden)]
    fn register(registry: &mut TypeRegistry);
}

impl Types for () {
    fn register(_: &mut TypeRegistry) {}
}

impl<T: Shared, R: Types> Types for (T, R) {
    fn register(registry: &mut TypeRegistry) {
        registry.add::<T>();
        R::register(registry);
    }
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
        let reply = self.obj.call(Op::Method(args.payload))?;
        self.obj.decode_value(reply)
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
