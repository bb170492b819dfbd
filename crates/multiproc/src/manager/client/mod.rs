//! The client side: this process's [`Link`] to each manager it uses, and the [`ObjRef`] that
//! every proxy holds.

mod link;
mod objref;

pub(crate) use link::{Endpoint, Link};
pub(crate) use objref::{ObjRef, encode_for, unexpected, wait_until};

use std::sync::atomic::{AtomicU64, Ordering};

/// A random 64-bit number (not for cryptography).
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}
