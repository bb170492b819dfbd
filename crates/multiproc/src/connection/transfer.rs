//! Connections travel between processes: `Serialize`/`Deserialize` for [`Connection`], which
//! send a duplicate of the socket out of band (see [`crate::codec`]).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Connection;
use super::stream::Readers;
use crate::codec;

#[derive(Serialize, Deserialize)]
struct Wire {
    fd: codec::Fd,
    readable: bool,
    writable: bool,
    max_frame: u64,
    /// The end is a private channel of the library (see [`Connection::private`]).
    private: bool,
}

impl Serialize for Connection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        if self.stream.has_buffered() {
            return Err(S::Error::custom(
                "cannot send a connection that holds part of a message",
            ));
        }
        let fd = std::os::fd::AsFd::as_fd(self)
            .try_clone_to_owned()
            .map_err(S::Error::custom)?;
        Wire {
            fd: fd.into(),
            readable: self.readable,
            writable: self.writable,
            max_frame: self.max_frame,
            private: self.stream.readers() == Readers::Single,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        let mut c = if w.private {
            Connection::private(w.fd.into())
        } else {
            Connection::from_socket(w.fd.into(), w.readable, w.writable)
        };
        c.max_frame = w.max_frame;
        Ok(c)
    }
}
