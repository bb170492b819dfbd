//! The server side of values.

use serde::{Deserialize, Serialize};

use super::kind::{Cx, immediate_kind};
use crate::manager::protocol::{Failure, Payload, Reply};

/// The operations of a value.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ValueOp {
    Load,
    Store(Payload),
    /// Stores a value; the reply carries the one it replaces.
    Swap(Payload),
}

/// One value.
pub(crate) struct ValueKind(Payload);

impl ValueKind {
    pub(crate) fn new(p: Payload) -> ValueKind {
        ValueKind(p)
    }

    fn apply_op(&mut self, op: ValueOp, cx: &mut Cx<'_>) -> Result<Reply, Failure> {
        Ok(match op {
            ValueOp::Load => Reply::Value(Some(cx.copy(&self.0)?)),
            ValueOp::Store(p) => {
                cx.store(&p);
                let prev = std::mem::replace(&mut self.0, p);
                cx.unstore(&prev);
                Reply::Unit
            }
            ValueOp::Swap(p) => {
                cx.store(&p);
                let prev = std::mem::replace(&mut self.0, p);
                Reply::Value(Some(cx.moved(prev)))
            }
        })
    }
}

immediate_kind!(ValueKind, ValueOp, Value, "Value", |this| {
    std::mem::take(&mut this.0.refs)
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::server::kind::testing::call;

    #[test]
    fn swap_returns_the_old_value() {
        let mut v = ValueKind::new(Payload::plain(b"1"));
        assert!(
            matches!(call(&mut v, 1, ValueOp::Swap(Payload::plain(b"2"))), Ok(Reply::Value(Some(p))) if p.bytes.0 == b"1")
        );
        assert!(
            matches!(call(&mut v, 1, ValueOp::Load), Ok(Reply::Value(Some(p))) if p.bytes.0 == b"2")
        );
    }
}
