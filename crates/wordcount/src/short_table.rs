//! An open-addressing count table keyed by [`ShortWord`].

use crate::short_word::ShortWord;

/// One entry; an all-zero word marks a free slot (no word packs to zero).
#[derive(Debug, Clone, Copy)]
struct Slot {
    word: ShortWord,
    count: u64,
}

const FREE: Slot = Slot {
    word: ShortWord::NONE,
    count: 0,
};

impl Slot {
    #[inline]
    fn key(&self) -> u128 {
        self.word.key()
    }
}

/// Counts per [`ShortWord`]: linear probing over a power-of-two array kept
/// at most half full, Fibonacci hashing of the packed key. A lookup is one
/// multiplication and, nearly always, one slot read, with no call to
/// `memcmp` or to a general-purpose hasher.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShortTable {
    slots: Vec<Slot>,
    len: usize,
    /// 64 - log2(slots.len()).
    shift: u32,
}

const INITIAL_SLOTS: usize = 1 << 10;

#[inline]
fn hash(key: u128) -> u64 {
    let lo = key as u64;
    let hi = (key >> 64) as u64;
    (lo ^ hi.rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl ShortTable {
    /// Number of words.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds `n` occurrences of `word`.
    #[inline]
    pub(crate) fn add(&mut self, word: ShortWord, n: u64) {
        if self.slots.is_empty() {
            self.resize(INITIAL_SLOTS);
        }
        let key = word.key();
        let mask = self.slots.len() - 1;
        let mut i = (hash(key) >> self.shift) as usize;
        loop {
            let slot = &mut self.slots[i & mask];
            let k = slot.key();
            if k == key {
                slot.count += n;
                return;
            }
            if k == 0 {
                *slot = Slot { word, count: n };
                self.len += 1;
                if self.len * 2 > self.slots.len() {
                    self.resize(self.slots.len() * 2);
                }
                return;
            }
            i += 1;
        }
    }

    /// Adds one occurrence of each of `words`.
    #[inline]
    pub(crate) fn add_each_once(&mut self, words: &[ShortWord]) {
        for &word in words {
            self.add(word, 1);
        }
    }

    /// Occurrences of `word` (0 when absent).
    pub(crate) fn get(&self, word: ShortWord) -> u64 {
        if self.slots.is_empty() {
            return 0;
        }
        let key = word.key();
        let mask = self.slots.len() - 1;
        let mut i = (hash(key) >> self.shift) as usize;
        loop {
            let slot = &self.slots[i & mask];
            let k = slot.key();
            if k == key {
                return slot.count;
            }
            if k == 0 {
                return 0;
            }
            i += 1;
        }
    }

    /// The words and their counts, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&ShortWord, u64)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.key() != 0)
            .map(|s| (&s.word, s.count))
    }

    /// Makes room for `additional` more words without growing.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let needed = (self.len + additional).saturating_mul(2);
        if needed > self.slots.len() {
            self.resize(needed.next_power_of_two().max(INITIAL_SLOTS));
        }
    }

    fn resize(&mut self, new_len: usize) {
        let old = std::mem::replace(&mut self.slots, vec![FREE; new_len]);
        self.shift = 64 - new_len.trailing_zeros();
        let mask = new_len - 1;
        for slot in old.into_iter().filter(|s| s.key() != 0) {
            let mut i = (hash(slot.key()) >> self.shift) as usize;
            while self.slots[i & mask].key() != 0 {
                i += 1;
            }
            self.slots[i & mask] = slot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_grows() {
        let mut t = ShortTable::default();
        assert_eq!(t.get(ShortWord::new("x").expect("short")), 0);
        let words: Vec<String> = (0..5000).map(|i| format!("w{i}")).collect();
        for (i, w) in words.iter().enumerate() {
            t.add(ShortWord::new(w).expect("short"), i as u64 + 1);
        }
        t.add(ShortWord::new("w7").expect("short"), 10);
        assert_eq!(t.len(), 5000);
        assert_eq!(t.get(ShortWord::new("w7").expect("short")), 18);
        assert_eq!(t.get(ShortWord::new("w4999").expect("short")), 5000);
        assert_eq!(t.get(ShortWord::new("nope").expect("short")), 0);
        assert_eq!(t.iter().count(), 5000);
        t.reserve(100_000);
        assert_eq!(t.get(ShortWord::new("w123").expect("short")), 124);
    }
}
