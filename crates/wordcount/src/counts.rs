//! Word counts: the map step's output and the reduce step.

use std::collections::HashMap;
use std::collections::hash_map;

use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};

use crate::tokenize::WordSink;

/// Word → number of occurrences.
///
/// Serializes as a plain map of strings to integers. The map step counts
/// into one of these directly (map-side combining), so its size is bounded by
/// the vocabulary, not by the input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Counts {
    map: HashMap<String, u64, FxBuildHasher>,
}

impl Counts {
    /// No words.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct words.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no words.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Occurrences of `word` (0 when absent).
    pub fn get(&self, word: &str) -> u64 {
        self.map.get(word).copied().unwrap_or(0)
    }

    /// Adds `n` occurrences of `word`.
    #[inline]
    pub fn add(&mut self, word: &str, n: u64) {
        if let Some(count) = self.map.get_mut(word) {
            *count += n;
        } else {
            self.map.insert(word.to_owned(), n);
        }
    }

    /// Total number of occurrences of all words.
    pub fn total(&self) -> u64 {
        self.map.values().sum()
    }

    /// The words and their counts, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.map.iter().map(|(w, &n)| (w.as_str(), n))
    }

    /// Adds all of `other` into `self` (the reduce step, in place).
    pub fn merge_from(&mut self, other: Counts) {
        if other.map.len() > self.map.len() {
            let smaller = std::mem::replace(self, other);
            self.merge_from(smaller);
            return;
        }
        self.map.reserve(other.map.len());
        for (word, n) in other.map {
            match self.map.entry(word) {
                hash_map::Entry::Occupied(mut e) => *e.get_mut() += n,
                hash_map::Entry::Vacant(e) => {
                    e.insert(n);
                }
            }
        }
    }

    /// The words sorted by count descending, then word ascending (by code
    /// point, as Python compares strings).
    pub fn into_sorted(self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self.map.into_iter().collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

impl WordSink for Counts {
    #[inline]
    fn word(&mut self, word: &str) {
        self.add(word, 1);
    }
}

impl FromIterator<(String, u64)> for Counts {
    fn from_iter<I: IntoIterator<Item = (String, u64)>>(iter: I) -> Self {
        let mut counts = Counts::new();
        for (word, n) in iter {
            match counts.map.entry(word) {
                hash_map::Entry::Occupied(mut e) => *e.get_mut() += n,
                hash_map::Entry::Vacant(e) => {
                    e.insert(n);
                }
            }
        }
        counts
    }
}

impl IntoIterator for Counts {
    type Item = (String, u64);
    type IntoIter = hash_map::IntoIter<String, u64>;

    fn into_iter(self) -> Self::IntoIter {
        self.map.into_iter()
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
        pairs.iter().map(|&(w, n)| (w.to_owned(), n)).collect()
    }

    #[test]
    fn merge_adds() {
        let a = counts(&[("x", 2), ("y", 1)]);
        let b = counts(&[("y", 3), ("z", 1), ("w", 1)]);
        let m = merge(a.clone(), b.clone());
        assert_eq!(m, merge(b, a));
        assert_eq!(m.get("x"), 2);
        assert_eq!(m.get("y"), 4);
        assert_eq!(m.get("q"), 0);
        assert_eq!(m.len(), 4);
        assert_eq!(m.total(), 8);
    }

    #[test]
    fn sorted_by_count_then_word() {
        let c = counts(&[("b", 2), ("a", 2), ("é", 5), ("z", 5), ("c", 1)]);
        let s = sorted(c);
        let expect = [("z", 5), ("é", 5), ("a", 2), ("b", 2), ("c", 1)];
        let expect: Vec<_> = expect.iter().map(|&(w, n)| (w.to_owned(), n)).collect();
        assert_eq!(s, expect);
    }

    #[test]
    fn serializes_as_a_map() {
        let c = counts(&[("word", 3)]);
        assert_eq!(
            serde_json::to_string(&c).expect("serialize"),
            r#"{"word":3}"#
        );
        let back: Counts = serde_json::from_str(r#"{"word":3}"#).expect("deserialize");
        assert_eq!(back, c);
    }
}
