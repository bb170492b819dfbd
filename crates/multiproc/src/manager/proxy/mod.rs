//! The proxies: what user code holds, one type per kind of managed object. Each method is a
//! call to the manager through the proxy's [`ObjRef`](super::client::ObjRef), bounded by the
//! proxy's timeout.

/// `Clone`, `Debug`, `Serialize`, `Deserialize` and the timeout methods for a proxy type
/// holding `obj: ObjRef` and made by `from_ref`.
macro_rules! proxy_impls {
    ($name:ident $(< $($g:ident),+ >)?) => {
        impl $(< $($g),+ >)? Clone for $name $(< $($g),+ >)? {
            fn clone(&self) -> Self {
                Self::from_ref(self.obj.clone())
            }
        }

        impl $(< $($g),+ >)? std::fmt::Debug for $name $(< $($g),+ >)? {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.obj.debug(f, stringify!($name))
            }
        }

        impl $(< $($g),+ >)? serde::Serialize for $name $(< $($g),+ >)? {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serde::Serialize::serialize(&self.obj, s)
            }
        }

        impl<'de $(, $($g),+)?> serde::Deserialize<'de> for $name $(< $($g),+ >)? {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <$crate::manager::client::ObjRef as serde::Deserialize>::deserialize(d)
                    .map(Self::from_ref)
            }
        }

        impl $(< $($g),+ >)? $name $(< $($g),+ >)? {
            /// The bound of each call through this proxy (see
            /// [Deadlines](crate::manager#deadlines)): the manager's timeout unless set here.
            pub fn timeout(&self) -> std::time::Duration {
                self.obj.timeout()
            }

            /// Sets the bound of each call through this proxy. Clones made from now on, and
            /// copies sent to other processes, carry it too.
            pub fn set_timeout(&mut self, timeout: std::time::Duration) {
                self.obj.set_timeout(timeout);
            }

            /// This proxy with another bound for each call (see
            /// [`set_timeout`](Self::set_timeout)).
            #[must_use]
            pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
                self.set_timeout(timeout);
                self
            }
        }
    };
}
pub(crate) use proxy_impls;

pub(crate) mod array;
pub(crate) mod barrier;
pub(crate) mod condition;
pub(crate) mod dict;
pub(crate) mod event;
pub(crate) mod list;
pub(crate) mod lock;
pub(crate) mod namespace;
pub(crate) mod queue;
pub(crate) mod rlock;
pub(crate) mod semaphore;
pub(crate) mod set;
pub(crate) mod shared;
pub(crate) mod value;
