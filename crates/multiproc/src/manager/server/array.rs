//! The server side of arrays: lists of a fixed length (Python's `Manager().Array`).

use serde::{Deserialize, Serialize};

use super::kind::{Cx, immediate_kind};
use crate::manager::protocol::{Failure, Payload, Reply};

/// The operations of an array.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ArrayOp {
    Len,
    Get(u64),
    Set(u64, Payload),
    /// The values of `start..end`.
    Slice {
        start: u64,
        end: u64,
    },
    /// Replaces the values from `start` on with these; they must fit.
    SetSlice {
        start: u64,
        values: Vec<Payload>,
    },
    Snapshot,
}

/// An array: its length is fixed when it is made.
pub(crate) struct ArrayKind(Vec<Payload>);

impl ArrayKind {
    pub(crate) fn new(items: Vec<Payload>) -> ArrayKind {
        ArrayKind(items)
    }

    fn out_of_range(&self, index: u64) -> Failure {
        Failure::IndexOutOfRange {
            index,
            len: self.0.len() as u64,
        }
    }

    fn apply_op(&mut self, op: ArrayOp, cx: &mut Cx<'_>) -> Result<Reply, Failure> {
        let len = self.0.len() as u64;
        Ok(match op {
            ArrayOp::Len => Reply::Count(len),
            ArrayOp::Get(i) => match self.0.get(i as usize) {
                Some(p) => Reply::Value(Some(cx.copy(p)?)),
                None => return Err(self.out_of_range(i)),
            },
            ArrayOp::Set(i, p) => {
                let Some(slot) = self.0.get_mut(i as usize) else {
                    return Err(self.out_of_range(i));
                };
                cx.store(&p);
                cx.unstore(&std::mem::replace(slot, p));
                Reply::Unit
            }
            ArrayOp::Slice { start, end } => {
                if start > end || end > len {
                    return Err(self.out_of_range(end.max(start)));
                }
                Reply::Values(cx.copy_all(&self.0[start as usize..end as usize])?)
            }
            ArrayOp::SetSlice { start, values } => {
                let end = start.saturating_add(values.len() as u64);
                if end > len {
                    return Err(Failure::Invalid(format!(
                        "{} values from index {start} do not fit in an array of {len}",
                        values.len()
                    )));
                }
                for (slot, p) in self.0[start as usize..end as usize].iter_mut().zip(values) {
                    cx.store(&p);
                    cx.unstore(&std::mem::replace(slot, p));
                }
                Reply::Unit
            }
            ArrayOp::Snapshot => Reply::Values(cx.copy_all(&self.0)?),
        })
    }
}

immediate_kind!(ArrayKind, ArrayOp, Array, "Array", |this| {
    this.0.iter_mut().flat_map(|p| std::mem::take(&mut p.refs)).collect()
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::server::kind::testing::call;

    fn bytes(r: Result<Reply, Failure>) -> Vec<Vec<u8>> {
        match r {
            Ok(Reply::Values(v)) => v.into_iter().map(|p| p.bytes.0).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fixed_length_with_slices() {
        let mut a = ArrayKind::new((0..4u8).map(|i| Payload::plain(&[i])).collect());
        call(&mut a, 1, ArrayOp::Set(1, Payload::plain(&[9]))).unwrap();
        assert!(matches!(
            call(&mut a, 1, ArrayOp::Set(4, Payload::plain(&[9]))).unwrap_err(),
            Failure::IndexOutOfRange { index: 4, len: 4 }
        ));
        let values = vec![Payload::plain(&[7]), Payload::plain(&[8])];
        call(&mut a, 1, ArrayOp::SetSlice { start: 2, values }).unwrap();
        assert_eq!(
            bytes(call(&mut a, 1, ArrayOp::Snapshot)),
            [[0], [9], [7], [8]]
        );
        assert_eq!(
            bytes(call(&mut a, 1, ArrayOp::Slice { start: 1, end: 3 })),
            [[9], [7]]
        );
        let too_many = vec![Payload::plain(&[1]), Payload::plain(&[1])];
        assert!(
            call(
                &mut a,
                1,
                ArrayOp::SetSlice {
                    start: 3,
                    values: too_many
                }
            )
            .is_err()
        );
        assert!(call(&mut a, 1, ArrayOp::Slice { start: 3, end: 5 }).is_err());
        assert!(matches!(call(&mut a, 1, ArrayOp::Len), Ok(Reply::Count(4))));
    }
}
