//! The server's table of objects, and the reference counts that keep them alive.
//!
//! An object lives while it has references: a client process's (counted per process, so a
//! process that ends gives all of its back), a stored value's (a proxy kept in a dict), or one
//! in transit (a proxy sent inside a message, held under a nonce until the receiver claims it).
//! The root namespace always lives.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::kind::End;
use super::object::Managed;

/// The id of the root namespace, which always exists.
pub(crate) const ROOT: u64 = 0;

pub(crate) struct Entry {
    pub(crate) obj: Arc<dyn Managed>,
    refs: u64,
}

/// What the server knows of one client process.
#[derive(Default)]
pub(crate) struct LinkEntry {
    /// Its references, per object.
    refs: HashMap<u64, u64>,
    /// Objects in which it acquired a lock, to tell when it ends.
    pub(crate) locks: HashSet<u64>,
    /// How it ended, once its control connection closed.
    pub(crate) ended: Option<End>,
}

impl LinkEntry {
    pub(crate) fn closed(&self) -> bool {
        self.ended.is_some()
    }
}

#[derive(Default)]
pub(crate) struct Table {
    pub(crate) objects: HashMap<u64, Entry>,
    pub(crate) links: HashMap<u64, LinkEntry>,
    /// References in transit: nonce to object.
    floating: HashMap<u64, u64>,
    /// Claims that arrived before their hold.
    early: HashSet<u64>,
    next_id: u64,
}

impl Table {
    /// A table holding the root namespace `root`.
    pub(crate) fn new(root: Arc<dyn Managed>) -> Table {
        let mut t = Table {
            next_id: ROOT + 1,
            ..Table::default()
        };
        t.objects.insert(ROOT, Entry { obj: root, refs: 1 });
        t
    }

    /// Adds `obj`, credited to process `link`, holding a reference to each of `hold`, and returns
    /// its id. If `link` is already gone, nobody could ever use the object: it is not kept.
    pub(crate) fn insert(&mut self, link: u64, obj: Arc<dyn Managed>, hold: &[u64]) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.links.get(&link).is_some_and(LinkEntry::closed) {
            return id;
        }
        self.objects.insert(id, Entry { obj, refs: 0 });
        self.credit(link, id);
        for h in hold {
            self.incref(*h);
        }
        id
    }

    /// The object `id`, if it exists.
    pub(crate) fn get(&self, id: u64) -> Option<Arc<dyn Managed>> {
        self.objects.get(&id).map(|e| e.obj.clone())
    }

    /// One more reference to `id`, not owned by any process.
    pub(crate) fn incref(&mut self, id: u64) -> bool {
        match self.objects.get_mut(&id) {
            Some(e) => {
                e.refs += 1;
                true
            }
            None => false,
        }
    }

    /// One reference less; the object if that was its last.
    pub(crate) fn decref(&mut self, id: u64) -> Option<Arc<dyn Managed>> {
        let e = self.objects.get_mut(&id)?;
        e.refs -= 1;
        if e.refs == 0 && id != ROOT {
            return self.objects.remove(&id).map(|e| e.obj);
        }
        None
    }

    /// One more reference to `id`, owned by process `link` (none if it is gone).
    pub(crate) fn credit(&mut self, link: u64, id: u64) {
        let l = self.links.entry(link).or_default();
        if l.closed() {
            return;
        }
        if let Some(e) = self.objects.get_mut(&id) {
            e.refs += 1;
            *l.refs.entry(id).or_default() += 1;
        }
    }

    /// An existing reference to `id` (in transit) becomes process `link`'s.
    fn transfer(&mut self, link: u64, id: u64) -> Option<Arc<dyn Managed>> {
        let l = self.links.entry(link).or_default();
        if l.closed() {
            return self.decref(id);
        }
        if self.objects.contains_key(&id) {
            *l.refs.entry(id).or_default() += 1;
        }
        None
    }

    /// Process `link` gives back one reference to `id`.
    pub(crate) fn debit(&mut self, link: u64, id: u64) -> Option<Arc<dyn Managed>> {
        let l = self.links.get_mut(&link)?;
        let n = l.refs.get_mut(&id)?;
        *n -= 1;
        if *n == 0 {
            l.refs.remove(&id);
        }
        self.decref(id)
    }

    /// A proxy left process `link` under `nonce`: keeps `id` alive until it is claimed.
    pub(crate) fn hold(&mut self, nonce: u64, id: u64) {
        if !self.early.remove(&nonce) && self.incref(id) {
            self.floating.insert(nonce, id);
        }
    }

    /// A proxy that left under `nonce` arrived in process `link`.
    pub(crate) fn claim(&mut self, link: u64, nonce: u64, id: u64) -> Option<Arc<dyn Managed>> {
        match self.floating.remove(&nonce) {
            Some(held) => self.transfer(link, held),
            None => {
                self.early.insert(nonce);
                self.credit(link, id);
                None
            }
        }
    }

    /// Process `link` ended as `end`: returns the references it held (one entry per reference)
    /// and the objects in which it acquired locks.
    pub(crate) fn close_link(&mut self, link: u64, end: End) -> (Vec<u64>, Vec<Arc<dyn Managed>>) {
        let l = self.links.entry(link).or_default();
        l.ended = Some(end);
        let refs = std::mem::take(&mut l.refs);
        let locks = std::mem::take(&mut l.locks);
        let locks = locks.into_iter().filter_map(|id| self.get(id)).collect();
        let refs = refs
            .into_iter()
            .flat_map(|(id, n)| std::iter::repeat_n(id, n as usize))
            .collect();
        (refs, locks)
    }

    /// Whether nothing is in transit (for tests).
    #[cfg(test)]
    pub(crate) fn settled(&self) -> bool {
        self.floating.is_empty() && self.early.is_empty()
    }
}
