//! The server side of registered types: each [`Shared`] type the builder registered, made by
//! its type name and called with its own encoded calls.

use std::collections::HashMap;
use std::fmt;
use std::os::fd::OwnedFd;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::kind::{Cx, Kind, Never, Step};
use crate::codec;
use crate::manager::Shared;
use crate::manager::protocol::{Failure, Op, Payload, Reply};

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
/// [`ManagerBuilder::register`](crate::manager::ManagerBuilder::register): `()` is none, `(T, R)` is `T`
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

/// An instance of a registered type, as a managed kind: its operation is a call of a method.
pub(crate) struct SharedKind(Box<dyn ErasedShared>);

impl SharedKind {
    pub(crate) fn new(inner: Box<dyn ErasedShared>) -> SharedKind {
        SharedKind(inner)
    }
}

impl Kind for SharedKind {
    type Op = Payload;
    type Waiter = Never;
    type Handed = Never;

    fn name(&self) -> &'static str {
        self.0.type_name()
    }

    fn op(op: Op) -> Result<Payload, Op> {
        match op {
            Op::Method(args) => Ok(args),
            op => Err(op),
        }
    }

    fn apply(&mut self, args: Payload, _: &mut Cx<'_>) -> Step<Self> {
        let name = self.0.type_name();
        let fds = args.fds.into_iter().map(Into::into).collect();
        match catch_unwind(AssertUnwindSafe(|| self.0.call(&args.bytes.0, fds))) {
            Ok(Ok(p)) => Step::reply(Reply::Value(Some(p))),
            Ok(Err(message)) => Step::fail(Failure::Method(message)),
            Err(panic) => Step::fail(Failure::Method(format!(
                "a method of {name} panicked: {}",
                crate::start::panic_message(&*panic)
            ))),
        }
    }
}
