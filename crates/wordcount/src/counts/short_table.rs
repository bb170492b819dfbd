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

/// Table size in bytes from which [`ShortTable::prefetch`] prefetches.
const PREFETCH_ABOVE: usize = 64 << 10;

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
        // Room for all of them first: the table does not grow in the loop,
        // so its address, mask and shift stay in registers.
        self.reserve(words.len());
        let shift = self.shift;
        let slots = &mut self.slots[..];
        let mask = slots.len() - 1;
        let mut added = 0;
        for &word in words {
            let key = word.key();
            let mut i = (hash(key) >> shift) as usize;
            loop {
                let slot = &mut slots[i & mask];
                let k = slot.key();
                if k == key {
                    slot.count += 1;
                    break;
                }
                if k == 0 {
                    *slot = Slot { word, count: 1 };
                    added += 1;
                    break;
                }
                i += 1;
            }
        }
        self.len += added;
    }

    /// Starts loading the home slots of `words` into the cache, when the
    /// table is larger than the L1 cache of most processors: then most
    /// lookups of a text with a large vocabulary miss it, and the loads of a
    /// batch overlap each other and the tokenizing of the next one. A smaller
    /// table is left alone (hashing twice would cost more than it saves).
    #[inline]
    pub(crate) fn prefetch(&self, words: &[ShortWord]) {
        if self.slots.len() * std::mem::size_of::<Slot>() < PREFETCH_ABOVE {
            return;
        }
        let mask = self.slots.len() - 1;
        for &word in words {
            let i = (hash(word.key()) >> self.shift) as usize & mask;
            #[cfg(target_arch = "x86_64")]
            crate::x86::prefetch(&self.slots[i]);
            #[cfg(not(target_arch = "x86_64"))]
            let _ = i;
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

    #[test]
    fn batches_count_like_single_additions() {
        // Enough distinct words for the table to grow past the prefetch
        // threshold, with repeats inside and across batches.
        let words: Vec<ShortWord> = (0..40_000u32)
            .map(|i| ShortWord::new(&format!("w{}", (i * 7919) % 9_000)).expect("short"))
            .collect();
        let mut batched = ShortTable::default();
        let mut single = ShortTable::default();
        for batch in words.chunks(32) {
            batched.prefetch(batch);
            batched.add_each_once(batch);
            for &w in batch {
                single.add(w, 1);
            }
        }
        assert!(batched.slots.len() * std::mem::size_of::<Slot>() > PREFETCH_ABOVE);
        assert_eq!(batched.len(), 9_000);
        assert_eq!(batched.len(), single.len());
        for (w, n) in single.iter() {
            assert_eq!(batched.get(*w), n, "{w}");
        }
        batched.add_each_once(&[]);
        assert_eq!(batched.len(), 9_000);
    }
}
