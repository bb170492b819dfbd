//! The server side of sets (Python 3.14's `Manager().set()`). Elements are encoded values,
//! compared by their bytes; they are kept in the order they were added.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::kind::{Cx, Kind, Never, Step};
use super::ordered::OrderedMap;
use crate::codec::Bytes;
use crate::manager::protocol::{Failure, Op, Reply};

/// How a set combines with other elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Algebra {
    Union,
    Intersection,
    Difference,
    SymmetricDifference,
}

/// How a set compares with other elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Relation {
    Subset,
    Superset,
    Disjoint,
}

/// The operations of a set.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum SetOp {
    Len,
    Clear,
    /// Adds an element; whether it was new.
    Add(Bytes),
    /// Removes an element; whether it was there.
    Discard(Bytes),
    Contains(Bytes),
    /// Removes and returns an element (the one added last), if any.
    Pop,
    Items,
    /// The set combined with `others`, as a new set of elements (the set is unchanged).
    Combine(Algebra, Vec<Bytes>),
    /// Combines the set with `others` in place (Python's `update`, `difference_update`, ...).
    CombineUpdate(Algebra, Vec<Bytes>),
    Compare(Relation, Vec<Bytes>),
}

/// A set.
pub(crate) struct SetKind(OrderedMap<Bytes, ()>);

impl SetKind {
    pub(crate) fn new(items: Vec<Bytes>) -> SetKind {
        let mut m = OrderedMap::new();
        for k in items {
            m.insert(k, ());
        }
        SetKind(m)
    }

    fn keys(&self) -> Vec<Bytes> {
        self.0.iter().map(|(k, _)| k.clone()).collect()
    }

    /// The elements of `self` combined with `others`, in order: this set's first.
    fn combined(&self, how: Algebra, others: Vec<Bytes>) -> Vec<Bytes> {
        let other: HashSet<&Bytes> = others.iter().collect();
        let mine = self.0.iter().map(|(k, _)| k);
        let mut out: Vec<Bytes> = match how {
            Algebra::Union => mine.cloned().collect(),
            Algebra::Intersection => mine.filter(|k| other.contains(k)).cloned().collect(),
            Algebra::Difference | Algebra::SymmetricDifference => {
                mine.filter(|k| !other.contains(k)).cloned().collect()
            }
        };
        if matches!(how, Algebra::Union | Algebra::SymmetricDifference) {
            let mut seen = HashSet::new();
            for k in &others {
                if !self.0.contains_key(k) && seen.insert(k) {
                    out.push(k.clone());
                }
            }
        }
        out
    }

    fn apply_op(&mut self, op: SetOp) -> Result<Reply, Failure> {
        let m = &mut self.0;
        Ok(match op {
            SetOp::Len => Reply::Count(m.len() as u64),
            SetOp::Clear => {
                m.clear();
                Reply::Unit
            }
            SetOp::Add(k) => Reply::Bool(m.insert(k, ()).is_none()),
            SetOp::Discard(k) => Reply::Bool(m.remove(&k).is_some()),
            SetOp::Contains(k) => Reply::Bool(m.contains_key(&k)),
            SetOp::Pop => Reply::Keys(m.pop_last().map(|(k, ())| k).into_iter().collect()),
            SetOp::Items => Reply::Keys(self.keys()),
            SetOp::Combine(how, others) => Reply::Keys(self.combined(how, others)),
            SetOp::CombineUpdate(how, others) => {
                let keys = self.combined(how, others);
                *self = SetKind::new(keys);
                Reply::Unit
            }
            SetOp::Compare(how, others) => {
                let other: HashSet<&Bytes> = others.iter().collect();
                Reply::Bool(match how {
                    Relation::Subset => m.iter().all(|(k, _)| other.contains(k)),
                    Relation::Superset => other.iter().all(|k| m.contains_key(k)),
                    Relation::Disjoint => !other.iter().any(|k| m.contains_key(k)),
                })
            }
        })
    }
}

impl Kind for SetKind {
    type Op = SetOp;
    type Waiter = Never;
    type Handed = Never;

    fn name(&self) -> &'static str {
        "set"
    }

    fn op(op: Op) -> Result<SetOp, Op> {
        match op {
            Op::Set(op) => Ok(op),
            op => Err(op),
        }
    }

    fn apply(&mut self, op: SetOp, _: &mut Cx<'_>) -> Step<Self> {
        self.apply_op(op).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::server::kind::testing::call;

    fn b(s: &str) -> Bytes {
        Bytes(s.as_bytes().to_vec())
    }

    fn bs(s: &[&str]) -> Vec<Bytes> {
        s.iter().map(|s| b(s)).collect()
    }

    fn keys(r: Result<Reply, Failure>) -> Vec<Bytes> {
        match r {
            Ok(Reply::Keys(k)) => k,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn add_discard_contains_pop() {
        let mut s = SetKind::new(bs(&["a"]));
        assert!(matches!(
            call(&mut s, 1, SetOp::Add(b("a"))),
            Ok(Reply::Bool(false))
        ));
        assert!(matches!(
            call(&mut s, 1, SetOp::Add(b("b"))),
            Ok(Reply::Bool(true))
        ));
        assert!(matches!(
            call(&mut s, 1, SetOp::Discard(b("z"))),
            Ok(Reply::Bool(false))
        ));
        assert!(matches!(
            call(&mut s, 1, SetOp::Contains(b("a"))),
            Ok(Reply::Bool(true))
        ));
        assert_eq!(keys(call(&mut s, 1, SetOp::Pop)), bs(&["b"]));
        assert_eq!(keys(call(&mut s, 1, SetOp::Pop)), bs(&["a"]));
        assert!(keys(call(&mut s, 1, SetOp::Pop)).is_empty());
    }

    #[test]
    fn algebra_as_python_computes_it() {
        let s = SetKind::new(bs(&["a", "b", "c"]));
        let other = || bs(&["c", "d", "d"]);
        let mut s2 = SetKind::new(s.keys());
        let combine = |s: &mut SetKind, how| keys(call(s, 1, SetOp::Combine(how, other())));
        assert_eq!(combine(&mut s2, Algebra::Union), bs(&["a", "b", "c", "d"]));
        assert_eq!(combine(&mut s2, Algebra::Intersection), bs(&["c"]));
        assert_eq!(combine(&mut s2, Algebra::Difference), bs(&["a", "b"]));
        assert_eq!(
            combine(&mut s2, Algebra::SymmetricDifference),
            bs(&["a", "b", "d"])
        );
        assert_eq!(s2.keys(), s.keys(), "unchanged");
        call(
            &mut s2,
            1,
            SetOp::CombineUpdate(Algebra::SymmetricDifference, other()),
        )
        .unwrap();
        assert_eq!(s2.keys(), bs(&["a", "b", "d"]));
        let cmp = |s: &mut SetKind, how, o: &[&str]| {
            matches!(
                call(s, 1, SetOp::Compare(how, bs(o))),
                Ok(Reply::Bool(true))
            )
        };
        assert!(cmp(&mut s2, Relation::Subset, &["a", "b", "d", "e"]));
        assert!(!cmp(&mut s2, Relation::Subset, &["a"]));
        assert!(cmp(&mut s2, Relation::Superset, &["a", "d"]));
        assert!(cmp(&mut s2, Relation::Disjoint, &["x"]));
        assert!(!cmp(&mut s2, Relation::Disjoint, &["x", "a"]));
    }
}
