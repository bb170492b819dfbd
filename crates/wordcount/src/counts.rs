//! Word counts: the map step's output and the reduce step.

mod short_table;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use self::short_table::ShortTable;
use crate::short_word::ShortWord;
use crate::tokenize::WordSink;

/// Word → number of occurrences.
///
/// The map step counts into one of these directly (map-side combining), so
/// its size is bounded by the vocabulary, not by the input. Words of up to
/// 16 bytes, most words of most texts, live in a table of inline keys
/// ([`ShortWord`]); the others in a hash map of strings. Serializes as a
/// plain map of strings to integers.
#[derive(Clone, Default)]
pub struct Counts {
    short: ShortTable,
    long: HashMap<String, u64>,
}

impl Counts {
    /// No words.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct words.
    pub fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    /// Whether there are no words.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Occurrences of `word` (0 when absent).
    pub fn get(&self, word: &str) -> u64 {
        match ShortWord::new(word) {
            Some(w) => self.short.get(w),
            None => self.long.get(word).copied().unwrap_or(0),
        }
    }

    /// Adds `n` occurrences of `word` (nothing when `n` is 0).
    #[inline]
    pub fn add(&mut self, word: &str, n: u64) {
        if n == 0 {
            return;
        }
        match ShortWord::new(word) {
            Some(w) => self.short.add(w, n),
            None => {
                if let Some(count) = self.long.get_mut(word) {
                    *count += n;
                } else {
                    self.long.insert(word.to_owned(), n);
                }
            }
        }
    }

    /// Adds `n` occurrences of `word`, keeping the string itself when the
    /// word is new (for a long word, no copy is made).
    pub fn add_owned(&mut self, word: String, n: u64) {
        if n == 0 {
            return;
        }
        match ShortWord::new(&word) {
            Some(w) => self.short.add(w, n),
            None => *self.long.entry(word).or_insert(0) += n,
        }
    }

    /// Adds `n` occurrences of a short word (nothing when `n` is 0).
    #[inline]
    pub fn add_short(&mut self, word: ShortWord, n: u64) {
        if n != 0 {
            self.short.add(word, n);
        }
    }

    /// Total number of occurrences of all words.
    pub fn total(&self) -> u64 {
        self.iter().map(|(_, n)| n).sum()
    }

    /// The words and their counts, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        let short = self.short.iter().map(|(w, n)| (w.as_str(), n));
        let long = self.long.iter().map(|(w, &n)| (w.as_str(), n));
        short.chain(long)
    }

    /// Adds all of `other` into `self` (the reduce step, in place).
    pub fn merge_from(&mut self, mut other: Counts) {
        if other.len() > self.len() {
            std::mem::swap(self, &mut other);
        }
        self.short.reserve(other.short.len());
        for (&word, n) in other.short.iter() {
            self.short.add(word, n);
        }
        self.long.reserve(other.long.len());
        for (word, n) in other.long {
            match self.long.entry(word) {
                Entry::Occupied(mut e) => *e.get_mut() += n,
                Entry::Vacant(e) => {
                    e.insert(n);
                }
            }
        }
    }

    /// The words sorted by count descending, then word ascending (by code
    /// point, as Python compares strings).
    pub fn into_sorted(self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = Vec::with_capacity(self.len());
        v.extend(self.short.iter().map(|(w, n)| (w.as_str().to_owned(), n)));
        v.extend(self.long);
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

impl WordSink for Counts {
    #[inline]
    fn word(&mut self, word: &str) {
        self.add(word, 1);
    }

    fn owned_word(&mut self, word: String) {
        self.add_owned(word, 1);
    }

    #[inline]
    fn short_word(&mut self, word: ShortWord) {
        self.short.add(word, 1);
    }

    #[inline]
    fn short_words(&mut self, words: &[ShortWord]) {
        self.short.add_each_once(words);
    }

    #[inline]
    fn prefetch_short_words(&mut self, words: &[ShortWord]) {
        self.short.prefetch(words);
    }
}

impl PartialEq for Counts {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(w, n)| other.get(w) == n)
    }
}

impl Eq for Counts {}

impl fmt::Debug for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<S: AsRef<str>> FromIterator<(S, u64)> for Counts {
    fn from_iter<I: IntoIterator<Item = (S, u64)>>(iter: I) -> Self {
        let mut counts = Counts::new();
        counts.extend(iter);
        counts
    }
}

impl<S: AsRef<str>> Extend<(S, u64)> for Counts {
    fn extend<I: IntoIterator<Item = (S, u64)>>(&mut self, iter: I) {
        for (word, n) in iter {
            self.add(word.as_ref(), n);
        }
    }
}

impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The length up front: compact binary formats (multiproc's codec) need it.
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (word, count) in self.iter() {
            map.serialize_entry(word, &count)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountsVisitor;

        impl<'de> Visitor<'de> for CountsVisitor {
            type Value = Counts;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of words to counts")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Counts, A::Error> {
                let mut counts = Counts::new();
                // The full size first: entries arrive in the sender's table order, and
                // growing a table while inserting in hash order clusters its probes.
                counts.short.reserve(map.size_hint().unwrap_or(0));
                let mut word = String::new();
                while map.next_key_seed(WordInto(&mut word))?.is_some() {
                    let n: u64 = map.next_value()?;
                    counts.add(&word, n);
                }
                Ok(counts)
            }
        }

        deserializer.deserialize_map(CountsVisitor)
    }
}

/// Deserializes a word into a reused buffer: no allocation per word.
struct WordInto<'a>(&'a mut String);

impl<'de> serde::de::DeserializeSeed<'de> for WordInto<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for WordInto<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a word")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.0.clear();
        self.0.push_str(v);
        Ok(())
    }
}

/// The reduce step: the sum of two counts.
pub fn merge(mut a: Counts, b: Counts) -> Counts {
    a.merge_from(b);
    a
}

/// The final ordering: by count descending, then word ascending.
pub fn sorted(counts: Counts) -> Vec<(String, u64)> {
    counts.into_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> Counts {
        pairs.iter().copied().collect()
    }

    #[test]
    fn merge_adds() {
        let long = "incomprehensibilities";
        let a = counts(&[("x", 2), ("y", 1), (long, 1), ("é", 1)]);
        let b = counts(&[("y", 3), ("z", 1), ("w", 1), (long, 2)]);
        let m = merge(a.clone(), b.clone());
        assert_eq!(m, merge(b, a));
        assert_eq!(m.get("x"), 2);
        assert_eq!(m.get("y"), 4);
        assert_eq!(m.get(long), 3);
        assert_eq!(m.get("é"), 1);
        assert_eq!(m.get("q"), 0);
        assert_eq!(m.len(), 6);
        assert_eq!(m.total(), 12);
    }

    #[test]
    fn short_and_long_words_are_one_map() {
        let mut c = Counts::new();
        c.add("word", 1);
        c.add_short(ShortWord::new("word").expect("short"), 2);
        c.word("word");
        c.add("", 1);
        c.add("zero", 0);
        c.add_owned("word".to_owned(), 1);
        c.add_owned("incomprehensibilities".to_owned(), 2);
        c.owned_word("incomprehensibilities".to_owned());
        c.add_owned("never".to_owned(), 0);
        assert_eq!(c.get("incomprehensibilities"), 3);
        assert_eq!(c.get("never"), 0);
        c.add("incomprehensibilities", 1);
        assert_eq!(c.get("incomprehensibilities"), 4);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get("word"), 5);
        assert_eq!(c.get(""), 1);
        assert_eq!(c.get("zero"), 0);
        assert_ne!(c, Counts::new());
    }

    #[test]
    fn sorted_by_count_then_word() {
        let c = counts(&[("b", 2), ("a", 2), ("é", 5), ("z", 5), ("c", 1)]);
        let expect = [("z", 5), ("é", 5), ("a", 2), ("b", 2), ("c", 1)];
        let expect: Vec<_> = expect.iter().map(|&(w, n)| (w.to_owned(), n)).collect();
        assert_eq!(sorted(c), expect);
    }

    #[test]
    fn serializes_as_a_map() {
        let c = counts(&[("word", 3)]);
        assert_eq!(
            serde_json::to_string(&c).expect("serialize"),
            r#"{"word":3}"#
        );
        let c = counts(&[("word", 3), ("ünïcode", 1), ("x", 2)]);
        let json = serde_json::to_string(&c).expect("serialize");
        let back: Counts = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, c);
        assert_eq!(format!("{:?}", counts(&[("a", 1)])), r#"{"a": 1}"#);
    }
}
