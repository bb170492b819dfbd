//! Short ASCII words packed into 16 bytes: the key of the counting fast path.

use std::fmt;

/// A word of 1 to 16 bytes of UTF-8, none of them NUL, stored inline and
/// zero-padded: comparing or hashing one is a couple of integer operations,
/// and counting one allocates nothing. Most words of most texts are such
/// words (up to 16 ASCII letters, or 8 Greek or Cyrillic ones);
/// [`Counts`](crate::Counts) keeps them in a table of its own.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShortWord {
    bytes: [u8; 16],
}

impl ShortWord {
    /// The longest word that fits, in bytes.
    pub const MAX_LEN: usize = 16;

    /// No word: all bytes zero (marks free slots of a table).
    pub(crate) const NONE: ShortWord = ShortWord { bytes: [0; 16] };

    /// `word` packed, when it has 1 to 16 bytes, none of them NUL.
    #[inline]
    pub fn new(word: &str) -> Option<Self> {
        let b = word.as_bytes();
        if b.is_empty() || b.len() > Self::MAX_LEN || b.contains(&0) {
            return None;
        }
        let mut bytes = [0u8; 16];
        bytes[..b.len()].copy_from_slice(b);
        Some(ShortWord { bytes })
    }

    /// Packs a little-endian key of ASCII letters: bytes `0..len` letters,
    /// the others zero, `len >= 1`.
    #[inline]
    pub(crate) fn from_ascii_key(key: u128) -> Self {
        debug_assert!(key != 0 && key & 0x8080_8080_8080_8080_8080_8080_8080_8080 == 0);
        ShortWord {
            bytes: key.to_le_bytes(),
        }
    }

    /// The packed bytes as one integer (the first byte lowest).
    #[inline]
    pub(crate) fn key(self) -> u128 {
        u128::from_le_bytes(self.bytes)
    }

    /// The word.
    pub fn as_str(&self) -> &str {
        let len = (128 - self.key().leading_zeros()).div_ceil(8) as usize;
        // Valid UTF-8 by construction (and NUL-free, so the padding is not
        // part of it).
        std::str::from_utf8(&self.bytes[..len]).unwrap_or_default()
    }
}

impl fmt::Debug for ShortWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ShortWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_short_ascii_words_only() {
        for w in [
            "a",
            "process",
            "sixteen_letters_",
            "Mixed Case 1",
            "café",
            "ςοςοςοςο",
        ] {
            assert_eq!(ShortWord::new(w).map(|s| s.to_string()), Some(w.to_owned()));
        }
        for w in ["", "seventeen_letters", "ςοςοςοςοσ", "nul\0"] {
            assert_eq!(ShortWord::new(w), None, "{w:?}");
        }
        let w = ShortWord::new("ab").expect("short");
        assert_eq!(w.key(), 0x6261);
        assert_eq!(ShortWord::from_ascii_key(0x6261), w);
        assert_eq!(format!("{w:?}"), "\"ab\"");
    }
}
