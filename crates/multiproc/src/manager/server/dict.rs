//! The server side of dicts.

use serde::{Deserialize, Serialize};

use super::kind::{Cx, immediate_kind};
use super::ordered::OrderedMap;
use crate::codec::Bytes;
use crate::manager::protocol::{Failure, Payload, Reply};

/// The operations of a dict. Keys are encoded keys; they are compared by their bytes.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum DictOp {
    Len,
    Clear,
    Get(Bytes),
    /// Sets `key`; with `old`, the reply carries the value replaced.
    Insert {
        key: Bytes,
        value: Payload,
        old: bool,
    },
    Remove(Bytes),
    Contains(Bytes),
    Keys,
    Values,
    Items,
    Update(Vec<(Bytes, Payload)>),
    SetDefault(Bytes, Payload),
    PopItem,
}

/// A dict: entries in insertion order, as Python keeps them.
pub(crate) struct DictKind(OrderedMap<Bytes, Payload>);

impl DictKind {
    pub(crate) fn new() -> DictKind {
        DictKind(OrderedMap::new())
    }

    fn apply_op(&mut self, op: DictOp, cx: &mut Cx<'_>) -> Result<Reply, Failure> {
        let m = &mut self.0;
        Ok(match op {
            DictOp::Len => Reply::Count(m.len() as u64),
            DictOp::Clear => {
                for (_, p) in m.clear() {
                    cx.unstore(&p);
                }
                Reply::Unit
            }
            DictOp::Get(k) => Reply::Value(m.get(&k).map(|p| cx.copy(p)).transpose()?),
            DictOp::Insert { key, value, old } => {
                cx.store(&value);
                match m.insert(key, value) {
                    Some(prev) if old => Reply::Value(Some(cx.moved(prev))),
                    Some(prev) => {
                        cx.unstore(&prev);
                        Reply::Unit
                    }
                    None if old => Reply::Value(None),
                    None => Reply::Unit,
                }
            }
            DictOp::Remove(k) => Reply::Value(m.remove(&k).map(|p| cx.moved(p))),
            DictOp::Contains(k) => Reply::Bool(m.contains_key(&k)),
            DictOp::Keys => Reply::Keys(m.iter().map(|(k, _)| k.clone()).collect()),
            DictOp::Values => Reply::Values(cx.copy_all(m.iter().map(|(_, p)| p))?),
            DictOp::Items => Reply::Items(
                m.iter()
                    .map(|(k, p)| Ok((k.clone(), cx.copy(p)?)))
                    .collect::<Result<_, Failure>>()?,
            ),
            DictOp::Update(items) => {
                for (k, v) in items {
                    cx.store(&v);
                    if let Some(prev) = m.insert(k, v) {
                        cx.unstore(&prev);
                    }
                }
                Reply::Unit
            }
            DictOp::SetDefault(k, v) => match m.get(&k) {
                Some(p) => Reply::Value(Some(cx.copy(p)?)),
                None => {
                    cx.store(&v);
                    let copy = cx.copy(&v)?;
                    m.insert(k, v);
                    Reply::Value(Some(copy))
                }
            },
            DictOp::PopItem => match m.pop_last() {
                Some((k, p)) => Reply::Items(vec![(k, cx.moved(p))]),
                None => Reply::Items(Vec::new()),
            },
        })
    }
}

immediate_kind!(DictKind, DictOp, Dict, "dict", |this| {
    this.0.clear().into_iter().flat_map(|(_, p)| p.refs).collect()
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::server::kind::{Cx, Kind};
    use crate::manager::server::kind::testing::call;

    fn key(k: &str) -> Bytes {
        Bytes(k.as_bytes().to_vec())
    }

    fn insert(d: &mut DictKind, k: &str, v: &[u8], old: bool) -> Reply {
        let op = DictOp::Insert {
            key: key(k),
            value: Payload::plain(v),
            old,
        };
        call(d, 1, op).unwrap()
    }

    #[test]
    fn entries_keep_insertion_order_and_replacements_keep_their_place() {
        let mut d = DictKind::new();
        insert(&mut d, "b", b"1", false);
        insert(&mut d, "a", b"2", false);
        assert!(
            matches!(insert(&mut d, "b", b"3", true), Reply::Value(Some(p)) if p.bytes.0 == b"1")
        );
        let Ok(Reply::Keys(keys)) = call(&mut d, 1, DictOp::Keys) else {
            panic!()
        };
        assert_eq!(keys, [key("b"), key("a")]);
        assert!(matches!(
            call(&mut d, 1, DictOp::PopItem),
            Ok(Reply::Items(i)) if i[0].0 == key("a")
        ));
        assert!(matches!(call(&mut d, 1, DictOp::Len), Ok(Reply::Count(1))));
    }

    #[test]
    fn setdefault_keeps_an_existing_value() {
        let mut d = DictKind::new();
        let sd = |v: &[u8]| DictOp::SetDefault(key("k"), Payload::plain(v));
        assert!(
            matches!(call(&mut d, 1, sd(b"1")), Ok(Reply::Value(Some(p))) if p.bytes.0 == b"1")
        );
        assert!(
            matches!(call(&mut d, 1, sd(b"2")), Ok(Reply::Value(Some(p))) if p.bytes.0 == b"1")
        );
    }

    #[test]
    fn stored_proxies_are_held_and_released() {
        let mut d = DictKind::new();
        let value = Payload {
            refs: vec![42],
            ..Payload::plain(b"p")
        };
        let op = DictOp::Insert {
            key: key("k"),
            value,
            old: false,
        };
        let (_, fx, _) = Cx::test(1, |cx| d.apply(op, cx));
        assert_eq!(fx.hold, [42]);
        let (_, fx, _) = Cx::test(1, |cx| d.apply(DictOp::Get(key("k")), cx));
        assert_eq!(fx.credit, [42], "a copy in a reply credits the caller");
        let (_, fx, _) = Cx::test(1, |cx| d.apply(DictOp::Remove(key("k")), cx));
        assert_eq!((fx.credit, fx.release), (vec![42], vec![42]), "moved out");
        assert!(d.drain_refs().is_empty());
    }
}
