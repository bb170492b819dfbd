//! The server side of lists.

use serde::{Deserialize, Serialize};

use super::kind::{Cx, Kind, Never, Step};
use crate::codec::Bytes;
use crate::manager::protocol::{Failure, Op, Payload, Reply};

/// The operations of a list. Values to compare are encoded values, compared by their bytes.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ListOp {
    Len,
    Clear,
    Push(Payload),
    Extend(Vec<Payload>),
    Insert(u64, Payload),
    /// Removes the value at the index, or the last.
    Pop(Option<u64>),
    /// Removes the first value equal to this one.
    Remove(Bytes),
    Index(Bytes),
    Count(Bytes),
    Get(u64),
    Set(u64, Payload),
    Reverse,
    Snapshot,
    /// The values and the list's version, for a reordering.
    Versioned,
    /// Puts the values in the order given (a permutation of the indices) if the list is still
    /// at `version`, and says whether it did: how a proxy sorts the list by its own ordering,
    /// atomically.
    Permute {
        version: u64,
        order: Vec<u64>,
    },
}

/// A list, and a version that every change moves on.
pub(crate) struct ListKind {
    items: Vec<Payload>,
    version: u64,
}

impl ListKind {
    pub(crate) fn new(items: Vec<Payload>) -> ListKind {
        ListKind { items, version: 0 }
    }

    fn out_of_range(&self, index: u64) -> Failure {
        Failure::IndexOutOfRange {
            index,
            len: self.items.len() as u64,
        }
    }

    fn apply_op(&mut self, op: ListOp, cx: &mut Cx<'_>) -> Result<Reply, Failure> {
        Ok(match op {
            ListOp::Len => Reply::Count(self.items.len() as u64),
            ListOp::Index(b) => match self.items.iter().position(|p| p.bytes == b) {
                Some(i) => Reply::Count(i as u64),
                None => return Err(Failure::NotInList),
            },
            ListOp::Count(b) => {
                Reply::Count(self.items.iter().filter(|p| p.bytes == b).count() as u64)
            }
            ListOp::Get(i) => match self.items.get(i as usize) {
                Some(p) => Reply::Value(Some(cx.copy(p)?)),
                None => return Err(self.out_of_range(i)),
            },
            ListOp::Snapshot => Reply::Values(cx.copy_all(self.items.iter())?),
            ListOp::Versioned => Reply::Versioned {
                version: self.version,
                values: cx.copy_all(self.items.iter())?,
            },
            ListOp::Clear => {
                for p in self.items.drain(..) {
                    cx.unstore(&p);
                }
                Reply::Unit
            }
            ListOp::Push(p) => {
                cx.store(&p);
                self.items.push(p);
                Reply::Unit
            }
            ListOp::Extend(items) => {
                for p in &items {
                    cx.store(p);
                }
                self.items.extend(items);
                Reply::Unit
            }
            ListOp::Insert(i, p) => {
                // Python's list.insert clamps the index.
                let i = (i as usize).min(self.items.len());
                cx.store(&p);
                self.items.insert(i, p);
                Reply::Unit
            }
            ListOp::Pop(at) => {
                let i = match at {
                    Some(i) => i,
                    None if self.items.is_empty() => return Err(Failure::Empty),
                    None => self.items.len() as u64 - 1,
                };
                if i >= self.items.len() as u64 {
                    return Err(self.out_of_range(i));
                }
                Reply::Value(Some(cx.moved(self.items.remove(i as usize))))
            }
            ListOp::Remove(b) => match self.items.iter().position(|p| p.bytes == b) {
                Some(i) => {
                    cx.unstore(&self.items.remove(i));
                    Reply::Unit
                }
                None => return Err(Failure::NotInList),
            },
            ListOp::Set(i, p) => {
                let Some(slot) = self.items.get_mut(i as usize) else {
                    return Err(self.out_of_range(i));
                };
                cx.store(&p);
                let prev = std::mem::replace(slot, p);
                cx.unstore(&prev);
                Reply::Unit
            }
            ListOp::Reverse => {
                self.items.reverse();
                Reply::Unit
            }
            ListOp::Permute { version, order } => {
                if version != self.version {
                    return Ok(Reply::Bool(false));
                }
                self.permute(&order)?;
                Reply::Bool(true)
            }
        })
    }

    fn permute(&mut self, order: &[u64]) -> Result<(), Failure> {
        let n = self.items.len();
        let mut seen = vec![false; n];
        let valid = order.len() == n
            && order
                .iter()
                .all(|&i| (i as usize) < n && !std::mem::replace(&mut seen[i as usize], true));
        if !valid {
            return Err(Failure::Invalid(
                "a reordering must name every index of the list once".into(),
            ));
        }
        let mut slots: Vec<Option<Payload>> = self.items.drain(..).map(Some).collect();
        self.items = order
            .iter()
            .map(|&i| slots[i as usize].take().expect("each index once"))
            .collect();
        Ok(())
    }
}

impl Kind for ListKind {
    type Op = ListOp;
    type Waiter = Never;
    type Handed = Never;

    fn name(&self) -> &'static str {
        "list"
    }

    fn op(op: Op) -> Result<ListOp, Op> {
        match op {
            Op::List(op) => Ok(op),
            op => Err(op),
        }
    }

    fn apply(&mut self, op: ListOp, cx: &mut Cx<'_>) -> Step<Self> {
        let reads = matches!(
            op,
            ListOp::Len
                | ListOp::Index(_)
                | ListOp::Count(_)
                | ListOp::Get(_)
                | ListOp::Snapshot
                | ListOp::Versioned
        );
        let result = self.apply_op(op, cx);
        // (A reordering refused for an old version changed nothing.)
        if !reads
            && result
                .as_ref()
                .is_ok_and(|r| !matches!(r, Reply::Bool(false)))
        {
            self.version += 1;
        }
        result.into()
    }

    fn drain_refs(&mut self) -> Vec<u64> {
        self.items.drain(..).flat_map(|p| p.refs).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::server::kind::testing::call;

    fn list(values: &[&[u8]]) -> ListKind {
        ListKind::new(values.iter().map(|v| Payload::plain(v)).collect())
    }

    fn values(l: &ListKind) -> Vec<Vec<u8>> {
        l.items.iter().map(|p| p.bytes.0.clone()).collect()
    }

    #[test]
    fn python_list_operations() {
        let mut l = list(&[b"a", b"b", b"a"]);
        call(&mut l, 1, ListOp::Insert(99, Payload::plain(b"z"))).unwrap();
        assert_eq!(values(&l), [b"a", b"b", b"a", b"z"], "insert clamps");
        assert!(matches!(
            call(&mut l, 1, ListOp::Count(Bytes(b"a".to_vec()))),
            Ok(Reply::Count(2))
        ));
        call(&mut l, 1, ListOp::Remove(Bytes(b"a".to_vec()))).unwrap();
        assert_eq!(values(&l), [b"b", b"a", b"z"]);
        assert_eq!(
            call(&mut l, 1, ListOp::Index(Bytes(b"q".to_vec()))).unwrap_err(),
            Failure::NotInList
        );
        assert!(matches!(
            call(&mut l, 1, ListOp::Get(3)).unwrap_err(),
            Failure::IndexOutOfRange { index: 3, len: 3 }
        ));
        call(&mut l, 1, ListOp::Reverse).unwrap();
        assert_eq!(values(&l), [b"z", b"a", b"b"]);
        call(&mut l, 1, ListOp::Clear).unwrap();
        assert_eq!(
            call(&mut l, 1, ListOp::Pop(None)).unwrap_err(),
            Failure::Empty
        );
    }

    #[test]
    fn a_permutation_applies_only_to_the_version_it_was_made_for() {
        let mut l = list(&[b"c", b"a", b"b"]);
        let Ok(Reply::Versioned { version, .. }) = call(&mut l, 1, ListOp::Versioned) else {
            panic!()
        };
        let permute = |order| ListOp::Permute { version, order };
        assert!(matches!(
            call(&mut l, 1, permute(vec![1, 2, 0])),
            Ok(Reply::Bool(true))
        ));
        assert_eq!(values(&l), [b"a", b"b", b"c"]);
        assert!(
            matches!(
                call(&mut l, 1, permute(vec![0, 1, 2])),
                Ok(Reply::Bool(false))
            ),
            "the list moved on"
        );
        let Ok(Reply::Versioned { version, .. }) = call(&mut l, 1, ListOp::Versioned) else {
            panic!()
        };
        for bad in [vec![0, 1], vec![0, 0, 1], vec![0, 1, 3]] {
            assert!(matches!(
                call(
                    &mut l,
                    1,
                    ListOp::Permute {
                        version,
                        order: bad
                    }
                ),
                Err(Failure::Invalid(_))
            ));
        }
        assert_eq!(
            values(&l),
            [b"a", b"b", b"c"],
            "unchanged by refused orders"
        );
    }
}
