//! Encoding of values that cross process boundaries.
//!
//! Every payload is a serde value encoded with [postcard], a compact binary format: the
//! smallest encoding of every message shape we measured, and the fastest maintained serde format
//! on most of them (`benchmarks/RESULTS.md`, "Codec"). Raw bytes
//! bypass serde entirely (`Connection::send_bytes`).
//!
//! Descriptors travel out of band. When a value that holds a handle (a [`Fd`], a `Connection`, a
//! `Lock`, a `Queue`, ...) is encoded, the handle's descriptors are collected beside the bytes and
//! the bytes only record their positions; the transport sends them with `SCM_RIGHTS`, and decoding
//! puts them back. Encoding such a value with any other serde format is an error, not a silent
//! copy of a number that means nothing in another process.
//!
//! [postcard]: https://docs.rs/postcard

mod fd;

pub use fd::Fd;

use std::cell::RefCell;
use std::os::fd::{BorrowedFd, OwnedFd};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value that could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {type_name}: {reason}")]
#[non_exhaustive]
pub struct EncodeError {
    /// The Rust type that was being encoded.
    pub type_name: &'static str,
    /// What went wrong.
    pub reason: String,
}

/// Bytes that could not be decoded as the expected type.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode {type_name}: {reason}")]
#[non_exhaustive]
pub struct DecodeError {
    /// The Rust type that was expected.
    pub type_name: &'static str,
    /// What went wrong.
    pub reason: String,
}

/// An encoded value: its bytes and the descriptors that travel beside them.
#[derive(Debug, Default)]
pub struct Encoded {
    /// The serde bytes.
    pub bytes: Vec<u8>,
    /// Descriptors referenced from the bytes, in order.
    pub fds: Vec<OwnedFd>,
}

thread_local! {
    static OUTGOING: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
    static INCOMING: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
    /// Why our own handle (de)serialization failed: postcard keeps no text of custom errors.
    static REASON: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records `reason` for the error being returned, and makes the serde error for it.
fn fail<E: std::fmt::Display, T>(reason: String, make: impl FnOnce(String) -> E) -> Result<T, E> {
    REASON.with(|r| *r.borrow_mut() = Some(reason.clone()));
    Err(make(reason))
}

/// A custom error for a handle's `Deserialize` impl whose text survives postcard (which keeps
/// none of its own for custom errors).
pub(crate) fn de_error<E: serde::de::Error>(reason: String) -> E {
    REASON.with(|r| *r.borrow_mut() = Some(reason.clone()));
    E::custom(reason)
}

/// The reason recorded by [`fail`], or the format's own message.
fn reason(e: &postcard::Error) -> String {
    REASON
        .with(|r| r.borrow_mut().take())
        .unwrap_or_else(|| e.to_string())
}

/// Encodes `value`, collecting the descriptors of any handles it holds.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Encoded, EncodeError> {
    let mut bytes = Vec::new();
    encode_into(value, &mut bytes).map(|fds| Encoded { bytes, fds })
}

/// Encodes `value` by appending to `buf`; returns the descriptors of any handles it holds.
pub fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    buf: &mut Vec<u8>,
) -> Result<Vec<OwnedFd>, EncodeError> {
    let outer = OUTGOING.with(|o| o.borrow_mut().replace(Vec::new()));
    let result = postcard::to_io(value, &mut *buf);
    let fds = OUTGOING
        .with(|o| std::mem::replace(&mut *o.borrow_mut(), outer))
        .unwrap_or_default();
    match result {
        Ok(_) => Ok(fds),
        Err(e) => Err(EncodeError {
            type_name: std::any::type_name::<T>(),
            reason: reason(&e),
        }),
    }
}

/// Decodes a `T` from `bytes`, handing it the descriptors that travelled with them.
///
/// Descriptors that the value does not claim are closed.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<T, DecodeError> {
    let outer = INCOMING.with(|i| i.borrow_mut().replace(fds.into_iter().map(Some).collect()));
    let result = postcard::from_bytes::<T>(bytes);
    INCOMING.with(|i| *i.borrow_mut() = outer);
    result.map_err(|e| DecodeError {
        type_name: std::any::type_name::<T>(),
        reason: reason(&e),
    })
}

/// Serializes a handle's descriptor: a duplicate goes out of band, its position into the bytes.
///
/// For `Serialize` impls of handle types. Fails outside [`encode`].
pub(crate) fn serialize_fd<S: Serializer>(
    fd: BorrowedFd<'_>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::Error;
    let dup = fd
        .try_clone_to_owned()
        .map_err(|e| S::Error::custom(format!("cannot duplicate descriptor: {e}")))?;
    let index = OUTGOING.with(|o| {
        o.borrow_mut().as_mut().map(|v| {
            v.push(dup);
            v.len() - 1
        })
    });
    match index {
        Some(i) => (i as u32).serialize(serializer),
        None => fail(
            "a handle holding a descriptor can only be encoded by multiproc's codec (multiproc::codec::encode)".into(),
            S::Error::custom,
        ),
    }
}

/// Deserializes a handle's descriptor (the counterpart of [`serialize_fd`]).
pub(crate) fn deserialize_fd<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<OwnedFd, D::Error> {
    use serde::de::Error;
    let index = u32::deserialize(deserializer)? as usize;
    let fd = INCOMING.with(|i| {
        let mut slot = i.borrow_mut();
        let fds = slot.as_mut()?;
        fds.get_mut(index)?.take()
    });
    match fd {
        Some(fd) => Ok(fd),
        None => fail(
            format!("descriptor #{index} is missing from the message"),
            D::Error::custom,
        ),
    }
}

/// Raw bytes that encode as one byte string rather than element by element: the fast path for
/// binary payloads inside typed messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Bytes, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element()? {
                    v.push(b);
                }
                Ok(Bytes(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Msg {
        a: u32,
        s: String,
        v: Vec<i64>,
    }

    #[test]
    fn roundtrip_plain_value() {
        let m = Msg {
            a: 7,
            s: "hé".into(),
            v: vec![-1, 2],
        };
        let e = encode(&m).unwrap();
        assert!(e.fds.is_empty());
        assert_eq!(decode::<Msg>(&e.bytes, e.fds).unwrap(), m);
    }

    #[test]
    fn descriptors_travel_out_of_band() {
        let mut f = tempfile::tempfile().unwrap();
        let e = encode(&(1u8, Fd::from(f.try_clone().unwrap()))).unwrap();
        assert_eq!(e.fds.len(), 1);
        let (_, fd): (u8, Fd) = decode(&e.bytes, e.fds).unwrap();
        std::fs::File::from(fd).write_all(b"via fd").unwrap();
        let mut s = String::new();
        f.rewind().unwrap();
        f.read_to_string(&mut s).unwrap();
        assert_eq!(s, "via fd");
    }

    #[test]
    fn handle_outside_codec_is_an_error() {
        let f = tempfile::tempfile().unwrap();
        let err = serde_json::to_string(&Fd::from(f)).unwrap_err();
        assert!(err.to_string().contains("multiproc's codec"), "{err}");
    }

    #[test]
    fn missing_descriptor_is_a_decode_error() {
        let f = tempfile::tempfile().unwrap();
        let e = encode(&Fd::from(f)).unwrap();
        let err = decode::<Fd>(&e.bytes, Vec::new()).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn truncated_bytes_are_a_decode_error() {
        let e = encode(&Msg {
            a: 1,
            s: "abc".into(),
            v: vec![1, 2, 3],
        })
        .unwrap();
        assert!(decode::<Msg>(&e.bytes[..e.bytes.len() - 2], Vec::new()).is_err());
    }
}
