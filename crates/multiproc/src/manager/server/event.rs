//! The server side of events.

use serde::{Deserialize, Serialize};

use super::kind::{Cx, Done, Kind, Step};
use crate::manager::protocol::{Op, Reply, Wait};

/// The operations of an event.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum EventOp {
    Set,
    Clear,
    IsSet,
    /// Waits until the flag is set, as `wait` says; the reply says whether it is.
    Wait(Wait),
}

/// An event: one flag.
#[derive(Debug, Default)]
pub(crate) struct EventKind {
    flag: bool,
}

impl Kind for EventKind {
    type Op = EventOp;
    type Waiter = ();
    type Handed = super::kind::Never;

    fn name(&self) -> &'static str {
        "Event"
    }

    fn op(op: Op) -> Result<EventOp, Op> {
        match op {
            Op::Event(op) => Ok(op),
            op => Err(op),
        }
    }

    fn apply(&mut self, op: EventOp, cx: &mut Cx<'_>) -> Step<Self> {
        match op {
            EventOp::Set => {
                self.flag = true;
                cx.notify();
                Step::reply(Reply::Unit)
            }
            EventOp::Clear => {
                self.flag = false;
                Step::reply(Reply::Unit)
            }
            EventOp::IsSet => Step::reply(Reply::Bool(self.flag)),
            EventOp::Wait(wait) => Step::Wait((), wait),
        }
    }

    fn poll(&mut self, (): &mut (), expired: bool, _: &mut Cx<'_>) -> Option<Done<Self::Handed>> {
        (self.flag || expired).then(|| Done::reply(Reply::Bool(self.flag)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::server::kind::testing::{call, poll, start};

    #[test]
    fn a_wait_ends_when_the_flag_is_set_or_its_time_is_up() {
        let mut e = EventKind::default();
        assert!(matches!(
            call(&mut e, 1, EventOp::Wait(Wait::Now)),
            Ok(Reply::Bool(false))
        ));
        start(&mut e, 1, EventOp::Wait(Wait::Forever));
        assert!(poll(&mut e, 1, &mut (), false).is_none());
        call(&mut e, 2, EventOp::Set).unwrap();
        assert!(matches!(
            poll(&mut e, 1, &mut (), false).unwrap().result,
            Ok(Reply::Bool(true))
        ));
        call(&mut e, 2, EventOp::Clear).unwrap();
        assert!(matches!(
            call(&mut e, 1, EventOp::IsSet),
            Ok(Reply::Bool(false))
        ));
    }
}
