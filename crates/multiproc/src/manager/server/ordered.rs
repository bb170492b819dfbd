//! [`OrderedMap`]: a hash map that remembers insertion order, as Python's `dict` does, with
//! constant-time removal.
//!
//! Entries live in a vector in insertion order; a removed entry leaves a hole that later
//! compaction closes, so removal does not shift the entries after it. The index maps each key
//! to its slot.

use std::collections::HashMap;
use std::hash::Hash;

#[derive(Debug)]
pub(crate) struct OrderedMap<K, V> {
    slots: Vec<Option<(K, V)>>,
    index: HashMap<K, usize>,
}

impl<K: Hash + Eq + Clone, V> OrderedMap<K, V> {
    pub(crate) fn new() -> Self {
        OrderedMap {
            slots: Vec::new(),
            index: HashMap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.index
            .get(key)
            .and_then(|&i| self.slots[i].as_ref())
            .map(|(_, v)| v)
    }

    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.index.contains_key(key)
    }

    /// Inserts or replaces; a replaced value keeps its position (as in Python) and is returned.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(&i) = self.index.get(&key) {
            let slot = self.slots[i].as_mut().expect("indexed slot is full");
            return Some(std::mem::replace(&mut slot.1, value));
        }
        self.index.insert(key.clone(), self.slots.len());
        self.slots.push(Some((key, value)));
        None
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.index.remove(key)?;
        let (_, v) = self.slots[i].take().expect("indexed slot is full");
        self.compact_if_sparse();
        Some(v)
    }

    /// Removes and returns the last inserted entry (Python's `popitem()`).
    pub(crate) fn pop_last(&mut self) -> Option<(K, V)> {
        while let Some(slot) = self.slots.pop() {
            if let Some((k, v)) = slot {
                self.index.remove(&k);
                return Some((k, v));
            }
        }
        None
    }

    pub(crate) fn clear(&mut self) -> Vec<(K, V)> {
        self.index.clear();
        self.slots.drain(..).flatten().collect()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots.iter().flatten().map(|(k, v)| (k, v))
    }

    fn compact_if_sparse(&mut self) {
        let holes = self.slots.len() - self.index.len();
        if holes > 16 && holes * 2 > self.slots.len() {
            self.slots.retain(Option::is_some);
            for (i, (k, _)) in self.slots.iter().flatten().enumerate() {
                *self.index.get_mut(k).expect("key is indexed") = i;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_insertion_order_through_removals_and_compaction() {
        let mut m = OrderedMap::new();
        for i in 0..100u32 {
            assert_eq!(m.insert(i, i * 2), None);
        }
        for i in (0..100).filter(|i| i % 3 != 0) {
            assert_eq!(m.remove(&i), Some(i * 2));
        }
        assert_eq!(m.insert(3, 7), Some(6), "a replaced value keeps its place");
        m.insert(1000, 1);
        let keys: Vec<u32> = m.iter().map(|(k, _)| *k).collect();
        let mut want: Vec<u32> = (0..100).filter(|i| i % 3 == 0).collect();
        want.push(1000);
        assert_eq!(keys, want);
        assert_eq!(m.len(), want.len());
        assert_eq!(m.get(&3), Some(&7));
        assert!(m.contains_key(&99));
        assert!(!m.contains_key(&98));
        assert_eq!(m.pop_last(), Some((1000, 1)));
        assert_eq!(m.pop_last(), Some((99, 198)));
        assert_eq!(m.clear().len(), want.len() - 2);
        assert_eq!(m.len(), 0);
        assert_eq!(m.pop_last(), None);
    }
}
