//! The server side of namespaces.

use serde::{Deserialize, Serialize};

use super::kind::{Cx, immediate_kind};
use super::ordered::OrderedMap;
use crate::codec::Bytes;
use crate::manager::protocol::{Failure, Payload, Reply};

/// The operations of a namespace.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum NamespaceOp {
    Get(String),
    Set(String, Payload),
    Delete(String),
    Names,
    /// Every attribute, its name as the key.
    Items,
    Len,
}

/// A namespace: named values, in the order they were first set.
pub(crate) struct NamespaceKind(OrderedMap<String, Payload>);

impl NamespaceKind {
    pub(crate) fn new() -> NamespaceKind {
        NamespaceKind(OrderedMap::new())
    }

    fn apply_op(&mut self, op: NamespaceOp, cx: &mut Cx<'_>) -> Result<Reply, Failure> {
        let m = &mut self.0;
        Ok(match op {
            NamespaceOp::Get(name) => match m.get(&name) {
                Some(p) => Reply::Value(Some(cx.copy(p)?)),
                None => return Err(Failure::NoAttribute(name)),
            },
            NamespaceOp::Set(name, p) => {
                cx.store(&p);
                if let Some(prev) = m.insert(name, p) {
                    cx.unstore(&prev);
                }
                Reply::Unit
            }
            NamespaceOp::Delete(name) => match m.remove(&name) {
                Some(prev) => {
                    cx.unstore(&prev);
                    Reply::Unit
                }
                None => return Err(Failure::NoAttribute(name)),
            },
            NamespaceOp::Names => Reply::Names(m.iter().map(|(k, _)| k.clone()).collect()),
            NamespaceOp::Items => Reply::Items(
                m.iter()
                    .map(|(k, p)| Ok((Bytes(k.clone().into_bytes()), cx.copy(p)?)))
                    .collect::<Result<_, Failure>>()?,
            ),
            NamespaceOp::Len => Reply::Count(m.len() as u64),
        })
    }
}

immediate_kind!(NamespaceKind, NamespaceOp, Namespace, "Namespace", |this| {
    this.0.clear().into_iter().flat_map(|(_, p)| p.refs).collect()
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::server::kind::testing::call;

    #[test]
    fn a_missing_attribute_is_named() {
        let mut ns = NamespaceKind::new();
        assert_eq!(
            call(&mut ns, 1, NamespaceOp::Get("value".into())).unwrap_err(),
            Failure::NoAttribute("value".into())
        );
        call(
            &mut ns,
            1,
            NamespaceOp::Set("b".into(), Payload::plain(b"1")),
        )
        .unwrap();
        call(
            &mut ns,
            1,
            NamespaceOp::Set("a".into(), Payload::plain(b"2")),
        )
        .unwrap();
        assert!(
            matches!(call(&mut ns, 1, NamespaceOp::Names), Ok(Reply::Names(n)) if n == ["b", "a"])
        );
        call(&mut ns, 1, NamespaceOp::Delete("b".into())).unwrap();
        assert!(call(&mut ns, 1, NamespaceOp::Delete("b".into())).is_err());
        assert!(matches!(
            call(&mut ns, 1, NamespaceOp::Len),
            Ok(Reply::Count(1))
        ));
    }
}
