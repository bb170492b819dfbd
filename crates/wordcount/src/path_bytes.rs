//! Paths through serde as their bytes.
//!
//! A Unix file name is any string of bytes but `/` and NUL; serde's own `PathBuf` impls fail on
//! one that is not UTF-8, so such a file could not be handed to a worker process. Chunks and
//! errors carry their paths with `#[serde(with = "crate::path_bytes")]` instead.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use serde::{Deserializer, Serializer};

pub(crate) fn serialize<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bytes(path.as_os_str().as_bytes())
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<PathBuf, D::Error> {
    let bytes = serde_bytes_buf(deserializer)?;
    Ok(PathBuf::from(OsString::from_vec(bytes)))
}

/// Bytes, from a format that gives them as bytes or as a sequence of numbers (JSON).
fn serde_bytes_buf<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    struct BytesVisitor;

    impl<'de> serde::de::Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("the bytes of a path")
        }

        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }

    deserializer.deserialize_byte_buf(BytesVisitor)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Named {
        #[serde(with = "crate::path_bytes")]
        path: PathBuf,
    }

    #[test]
    fn paths_that_are_not_utf8_round_trip() {
        let path = PathBuf::from(OsString::from_vec(b"dir/caf\xe9.txt".to_vec()));
        let named = Named { path };
        let bytes = multiproc::codec::encode(&named).expect("encode").bytes;
        let back: Named = multiproc::codec::decode(&bytes, Vec::new()).expect("decode");
        assert_eq!(back, named);
        let json = serde_json::to_string(&named).expect("json");
        let back: Named = serde_json::from_str(&json).expect("from json");
        assert_eq!(back, named);
    }
}
