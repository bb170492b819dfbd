//! The objects a manager server holds, and what each operation does to them.
//!
//! An [`Object`] is its state behind a mutex, with one condition variable that every change
//! that could let a waiter go on notifies. Operations never decode values: they store, move,
//! copy and compare payload bytes. What an operation does to other objects' reference counts
//! is returned in [`Effects`], for the server to apply in the right order.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::ordered::OrderedMap;
use super::protocol::{Create, Failure, Op, Owner, Payload, Reply, Wait};
use super::shared::{ErasedShared, Registry};
use crate::codec::Bytes;

/// How often a blocked operation looks up from its wait, to notice that its client died or
/// that the server is closing.
pub(crate) const WAIT_SLICE: Duration = Duration::from_millis(100);

/// One object: its state and the condition variable its waiters sleep on.
pub(crate) struct Object {
    pub(crate) state: Mutex<State>,
    pub(crate) changed: Condvar,
}

/// An object's state; `dead` once the server dropped it (its last reference went).
pub(crate) struct State {
    pub(crate) dead: bool,
    pub(crate) kind: Kind,
}

pub(crate) struct QueueState {
    items: VecDeque<Payload>,
    maxsize: u64,
    joinable: bool,
    unfinished: u64,
}

pub(crate) struct CondState {
    owner: Option<Owner>,
    count: u32,
    waiters: VecDeque<u64>,
    notified: HashSet<u64>,
    next_ticket: u64,
}

pub(crate) struct BarrierState {
    parties: u32,
    count: u32,
    /// Rounds completed.
    generation: u64,
    /// Rounds broken.
    breaks: u64,
    broken: bool,
}

impl BarrierState {
    /// Ends the current round in failure: its waiters get `BrokenBarrier`.
    fn break_round(&mut self) {
        self.breaks += 1;
        self.count = 0;
        self.broken = true;
    }
}

/// The kinds of objects, with their data.
pub(crate) enum Kind {
    Dict(OrderedMap<Bytes, Payload>),
    List(Vec<Payload>),
    Namespace(OrderedMap<String, Payload>),
    Value(Payload),
    Queue(QueueState),
    Lock(Option<Owner>),
    RLock { owner: Option<Owner>, count: u32 },
    Semaphore { value: u32, bound: Option<u32> },
    Event(bool),
    Condition(CondState),
    Barrier(BarrierState),
    Shared(Box<dyn ErasedShared>),
}

impl Kind {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Kind::Dict(_) => "dict",
            Kind::List(_) => "list",
            Kind::Namespace(_) => "Namespace",
            Kind::Value(_) => "Value",
            Kind::Queue(q) if q.joinable => "JoinableQueue",
            Kind::Queue(_) => "Queue",
            Kind::Lock(_) => "Lock",
            Kind::RLock { .. } => "RLock",
            Kind::Semaphore { bound: None, .. } => "Semaphore",
            Kind::Semaphore { .. } => "BoundedSemaphore",
            Kind::Event(_) => "Event",
            Kind::Condition(_) => "Condition",
            Kind::Barrier(_) => "Barrier",
            Kind::Shared(s) => s.type_name(),
        }
    }

    /// Makes the object that `create` asks for.
    pub(crate) fn create(create: Create, types: &Registry) -> Result<(Kind, Vec<u64>), Failure> {
        let mut hold = Vec::new();
        let kind = match create {
            Create::Dict => Kind::Dict(OrderedMap::new()),
            Create::List(items) => {
                for p in &items {
                    hold.extend_from_slice(&p.refs);
                }
                Kind::List(items)
            }
            Create::Namespace => Kind::Namespace(OrderedMap::new()),
            Create::Value(v) => {
                hold.extend_from_slice(&v.refs);
                Kind::Value(v)
            }
            Create::Queue { maxsize, joinable } => Kind::Queue(QueueState {
                items: VecDeque::new(),
                maxsize,
                joinable,
                unfinished: 0,
            }),
            Create::Lock => Kind::Lock(None),
            Create::RLock => Kind::RLock {
                owner: None,
                count: 0,
            },
            Create::Semaphore { value, bounded } => Kind::Semaphore {
                value,
                bound: bounded.then_some(value),
            },
            Create::Event => Kind::Event(false),
            Create::Condition => Kind::Condition(CondState {
                owner: None,
                count: 0,
                waiters: VecDeque::new(),
                notified: HashSet::new(),
                next_ticket: 0,
            }),
            Create::Barrier { parties } => {
                if parties == 0 {
                    return Err(Failure::Invalid(
                        "a barrier needs at least one party".into(),
                    ));
                }
                Kind::Barrier(BarrierState {
                    parties,
                    count: 0,
                    generation: 0,
                    breaks: 0,
                    broken: false,
                })
            }
            Create::Shared { type_name, init } => Kind::Shared(types.make(&type_name, init)?),
        };
        Ok((kind, hold))
    }

    /// Takes every stored value out (the object is being dropped), returning their references.
    pub(crate) fn drain_refs(&mut self) -> Vec<u64> {
        let mut refs = Vec::new();
        let mut take = |p: Payload| refs.extend(p.refs);
        match self {
            Kind::Dict(m) => m.clear().into_iter().for_each(|(_, p)| take(p)),
            Kind::List(v) => v.drain(..).for_each(take),
            Kind::Namespace(m) => m.clear().into_iter().for_each(|(_, p)| take(p)),
            Kind::Value(p) => take(std::mem::take(p)),
            Kind::Queue(q) => q.items.drain(..).for_each(take),
            _ => {}
        }
        refs
    }

    /// Frees what `owner`'s process held (it died): its locks.
    pub(crate) fn release_link(&mut self, link: u64) -> bool {
        match self {
            Kind::Lock(holder) if holder.is_some_and(|o| o.link == link) => {
                *holder = None;
                true
            }
            Kind::RLock { owner, count } if owner.is_some_and(|o| o.link == link) => {
                *owner = None;
                *count = 0;
                true
            }
            Kind::Condition(c) if c.owner.is_some_and(|o| o.link == link) => {
                c.owner = None;
                c.count = 0;
                true
            }
            _ => false,
        }
    }
}

/// What an operation does to reference counts besides its own object's.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Stored now: one more reference each (applied before the object is unlocked).
    pub(crate) hold: Vec<u64>,
    /// Sent in the reply: one reference each for the caller's process (applied before the
    /// object is unlocked).
    pub(crate) credit: Vec<u64>,
    /// No longer stored: one reference less each (applied after).
    pub(crate) release: Vec<u64>,
    /// The caller's process may now hold a lock in this object.
    pub(crate) locked_by: bool,
}

impl Effects {
    fn store(&mut self, p: &Payload) {
        self.hold.extend_from_slice(&p.refs);
    }

    fn unstore(&mut self, p: &Payload) {
        self.release.extend_from_slice(&p.refs);
    }

    /// A stored payload copied into the reply.
    fn copy(&mut self, p: &Payload) -> Result<Payload, Failure> {
        self.credit.extend_from_slice(&p.refs);
        p.duplicate()
            .map_err(|e| Failure::Invalid(format!("cannot duplicate a descriptor: {e}")))
    }

    /// A stored payload moved into the reply.
    fn moved(&mut self, p: Payload) -> Payload {
        self.credit.extend_from_slice(&p.refs);
        self.release.extend_from_slice(&p.refs);
        p
    }
}

/// Asks whether a blocked operation should give up: its client died or the server is closing.
pub(crate) trait Abandon {
    fn abandoned(&self) -> bool;
}

/// The deadline of a [`Wait`], or `None` for forever; `Some(now)` for [`Wait::Now`].
fn deadline_of(wait: Wait) -> Option<Instant> {
    match wait {
        Wait::Now => Some(Instant::now()),
        Wait::For(d) => Some(crate::sys::fd::deadline_after(d)),
        Wait::Forever => None,
    }
}

enum Waited<'a> {
    Ready(MutexGuard<'a, State>),
    TimedOut(MutexGuard<'a, State>),
    /// The object was dropped, or the caller or the server is going away.
    Gone(Failure),
}

impl Object {
    pub(crate) fn new(kind: Kind) -> Object {
        Object {
            state: Mutex::new(State { dead: false, kind }),
            changed: Condvar::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits, in slices, until `ready(state)` or the deadline; gives up if the object dies or
    /// `abandon` says so.
    fn wait_until<'a>(
        &'a self,
        id: u64,
        mut g: MutexGuard<'a, State>,
        deadline: Option<Instant>,
        abandon: &dyn Abandon,
        mut ready: impl FnMut(&mut State) -> bool,
    ) -> Waited<'a> {
        loop {
            if g.dead {
                return Waited::Gone(Failure::NoSuchObject(id));
            }
            if ready(&mut g) {
                return Waited::Ready(g);
            }
            let now = Instant::now();
            let slice = match deadline {
                Some(d) if d <= now => return Waited::TimedOut(g),
                Some(d) => (d - now).min(WAIT_SLICE),
                None => WAIT_SLICE,
            };
            g = self
                .changed
                .wait_timeout(g, slice)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if abandon.abandoned() {
                return Waited::Gone(Failure::ShuttingDown);
            }
        }
    }

    /// Runs `op`. `hold`/`credit` effects must be applied by the caller while `State` is still
    /// locked, which is why the guard comes back.
    pub(crate) fn apply<'a>(
        &'a self,
        id: u64,
        op: Op,
        abandon: &dyn Abandon,
        fx: &mut Effects,
    ) -> (Reply, Option<MutexGuard<'a, State>>) {
        let g = self.lock();
        if g.dead {
            return (Reply::Error(Failure::NoSuchObject(id)), None);
        }
        match self.apply_locked(id, g, op, abandon, fx) {
            Ok((reply, g)) => (reply, g),
            Err(f) => (Reply::Error(f), None),
        }
    }

    fn apply_locked<'a>(
        &'a self,
        id: u64,
        mut g: MutexGuard<'a, State>,
        op: Op,
        abandon: &dyn Abandon,
        fx: &mut Effects,
    ) -> Result<(Reply, Option<MutexGuard<'a, State>>), Failure> {
        let wrong = |k: &Kind| Failure::WrongKind {
            id,
            kind: k.name().to_owned(),
        };
        // Blocking operations first: they wait on the condition variable.
        match op {
            Op::Put { item, wait } => {
                let Kind::Queue(_) = &g.kind else {
                    return Err(wrong(&g.kind));
                };
                let full = |s: &mut State| match &s.kind {
                    Kind::Queue(q) => q.maxsize == 0 || (q.items.len() as u64) < q.maxsize,
                    _ => true,
                };
                return match self.wait_until(id, g, deadline_of(wait), abandon, full) {
                    Waited::Ready(mut g) => {
                        let Kind::Queue(q) = &mut g.kind else {
                            unreachable!()
                        };
                        fx.store(&item);
                        q.items.push_back(item);
                        q.unfinished += 1;
                        self.changed.notify_all();
                        Ok((Reply::Unit, Some(g)))
                    }
                    Waited::TimedOut(_) => Err(Failure::Full),
                    Waited::Gone(f) => Err(f),
                };
            }
            Op::Take(wait) => {
                let Kind::Queue(_) = &g.kind else {
                    return Err(wrong(&g.kind));
                };
                let some = |s: &mut State| match &s.kind {
                    Kind::Queue(q) => !q.items.is_empty(),
                    _ => true,
                };
                return match self.wait_until(id, g, deadline_of(wait), abandon, some) {
                    Waited::Ready(mut g) => {
                        let Kind::Queue(q) = &mut g.kind else {
                            unreachable!()
                        };
                        let item = q.items.pop_front().expect("queue is not empty");
                        let item = fx.moved(item);
                        self.changed.notify_all();
                        Ok((Reply::Value(Some(item)), Some(g)))
                    }
                    Waited::TimedOut(_) => Err(Failure::Empty),
                    Waited::Gone(f) => Err(f),
                };
            }
            Op::JoinQueue(wait) => {
                let Kind::Queue(_) = &g.kind else {
                    return Err(wrong(&g.kind));
                };
                let done = |s: &mut State| match &s.kind {
                    Kind::Queue(q) => q.unfinished == 0,
                    _ => true,
                };
                return match self.wait_until(id, g, deadline_of(wait), abandon, done) {
                    Waited::Ready(_) => Ok((Reply::Unit, None)),
                    Waited::TimedOut(_) => Ok((Reply::Timeout, None)),
                    Waited::Gone(f) => Err(f),
                };
            }
            Op::Acquire { owner, wait } => self.acquire(id, g, owner, wait, abandon, fx),
            Op::WaitFlag(wait) => {
                let Kind::Event(_) = &g.kind else {
                    return Err(wrong(&g.kind));
                };
                let set = |s: &mut State| matches!(s.kind, Kind::Event(true));
                return match self.wait_until(id, g, deadline_of(wait), abandon, set) {
                    Waited::Ready(_) => Ok((Reply::Bool(true), None)),
                    Waited::TimedOut(_) => Ok((Reply::Bool(false), None)),
                    Waited::Gone(f) => Err(f),
                };
            }
            Op::CondWait { owner, wait } => self.cond_wait(id, g, owner, wait, abandon, fx),
            Op::BarrierWait(wait) => self.barrier_wait(id, g, wait, abandon),
            op => {
                let reply = self.apply_now(id, &mut g, op, fx)?;
                Ok((reply, Some(g)))
            }
        }
    }

    fn acquire<'a>(
        &'a self,
        id: u64,
        g: MutexGuard<'a, State>,
        owner: Owner,
        wait: Wait,
        abandon: &dyn Abandon,
        fx: &mut Effects,
    ) -> Result<(Reply, Option<MutexGuard<'a, State>>), Failure> {
        let free = move |s: &mut State| match &mut s.kind {
            Kind::Lock(h) => h.is_none(),
            Kind::RLock { owner: o, .. } => o.is_none() || *o == Some(owner),
            Kind::Semaphore { value, .. } => *value > 0,
            Kind::Condition(c) => c.owner.is_none() || c.owner == Some(owner),
            _ => true,
        };
        match &g.kind {
            Kind::Lock(_) | Kind::RLock { .. } | Kind::Semaphore { .. } | Kind::Condition(_) => {}
            k => {
                return Err(Failure::WrongKind {
                    id,
                    kind: k.name().to_owned(),
                });
            }
        }
        match self.wait_until(id, g, deadline_of(wait), abandon, free) {
            Waited::Ready(mut g) => {
                match &mut g.kind {
                    Kind::Lock(h) => *h = Some(owner),
                    Kind::RLock { owner: o, count }
                    | Kind::Condition(CondState {
                        owner: o, count, ..
                    }) => {
                        *o = Some(owner);
                        *count += 1;
                    }
                    Kind::Semaphore { value, .. } => *value -= 1,
                    _ => unreachable!(),
                }
                fx.locked_by = !matches!(g.kind, Kind::Semaphore { .. });
                Ok((Reply::Bool(true), Some(g)))
            }
            Waited::TimedOut(_) => Ok((Reply::Timeout, None)),
            Waited::Gone(f) => Err(f),
        }
    }

    fn cond_wait<'a>(
        &'a self,
        id: u64,
        mut g: MutexGuard<'a, State>,
        owner: Owner,
        wait: Wait,
        abandon: &dyn Abandon,
        fx: &mut Effects,
    ) -> Result<(Reply, Option<MutexGuard<'a, State>>), Failure> {
        let Kind::Condition(c) = &mut g.kind else {
            return Err(Failure::WrongKind {
                id,
                kind: g.kind.name().to_owned(),
            });
        };
        if c.owner != Some(owner) {
            return Err(Failure::NotHeld);
        }
        // Release the lock entirely, remember how deep it was held, and queue up.
        let depth = c.count;
        c.owner = None;
        c.count = 0;
        let ticket = c.next_ticket;
        c.next_ticket += 1;
        c.waiters.push_back(ticket);
        self.changed.notify_all();
        let notified = move |s: &mut State| match &s.kind {
            Kind::Condition(c) => c.notified.contains(&ticket),
            _ => true,
        };
        let (mut g, woken) = match self.wait_until(id, g, deadline_of(wait), abandon, notified) {
            Waited::Ready(g) => (g, true),
            Waited::TimedOut(g) => (g, false),
            Waited::Gone(f) => return Err(f),
        };
        if let Kind::Condition(c) = &mut g.kind {
            c.notified.remove(&ticket);
            c.waiters.retain(|t| *t != ticket);
        }
        // Take the lock back, however long that takes (as Python's Condition.wait does).
        let free = move |s: &mut State| match &s.kind {
            Kind::Condition(c) => c.owner.is_none(),
            _ => true,
        };
        match self.wait_until(id, g, None, abandon, free) {
            Waited::Ready(mut g) => {
                if let Kind::Condition(c) = &mut g.kind {
                    c.owner = Some(owner);
                    c.count = depth;
                }
                fx.locked_by = true;
                Ok((Reply::Bool(woken), Some(g)))
            }
            Waited::Gone(f) => Err(f),
            Waited::TimedOut(_) => unreachable!("no deadline"),
        }
    }

    fn barrier_wait<'a>(
        &'a self,
        id: u64,
        mut g: MutexGuard<'a, State>,
        wait: Wait,
        abandon: &dyn Abandon,
    ) -> Result<(Reply, Option<MutexGuard<'a, State>>), Failure> {
        let Kind::Barrier(b) = &mut g.kind else {
            return Err(Failure::WrongKind {
                id,
                kind: g.kind.name().to_owned(),
            });
        };
        if b.broken {
            return Err(Failure::BrokenBarrier);
        }
        let index = b.count;
        b.count += 1;
        if b.count == b.parties {
            b.count = 0;
            b.generation += 1;
            self.changed.notify_all();
            return Ok((Reply::Count(u64::from(index)), None));
        }
        // A round ends in one of two ways: every party arrives (`generation` moves on), or
        // the barrier breaks (`breaks` moves on: an abort, a reset, a timed-out wait).
        let (generation, breaks) = (b.generation, b.breaks);
        let ended = move |s: &mut State| match &s.kind {
            Kind::Barrier(b) => b.generation != generation || b.breaks != breaks,
            _ => true,
        };
        match self.wait_until(id, g, deadline_of(wait), abandon, ended) {
            Waited::Ready(g) => match &g.kind {
                Kind::Barrier(b) if b.breaks == breaks => {
                    Ok((Reply::Count(u64::from(index)), None))
                }
                _ => Err(Failure::BrokenBarrier),
            },
            Waited::TimedOut(mut g) => {
                // A timeout breaks the barrier for every party, as in Python.
                if let Kind::Barrier(b) = &mut g.kind {
                    b.break_round();
                    self.changed.notify_all();
                }
                Err(Failure::BrokenBarrier)
            }
            Waited::Gone(f) => Err(f),
        }
    }

    /// The operations that never wait.
    fn apply_now(
        &self,
        id: u64,
        g: &mut State,
        op: Op,
        fx: &mut Effects,
    ) -> Result<Reply, Failure> {
        let wrong = |k: &Kind| Failure::WrongKind {
            id,
            kind: k.name().to_owned(),
        };
        let reply = match (&mut g.kind, op) {
            // ----- dict -----
            (Kind::Dict(m), Op::Len) => Reply::Count(m.len() as u64),
            (Kind::Dict(m), Op::Clear) => {
                for (_, p) in m.clear() {
                    fx.unstore(&p);
                }
                Reply::Unit
            }
            (Kind::Dict(m), Op::Get(k)) => Reply::Value(m.get(&k).map(|p| fx.copy(p)).transpose()?),
            (Kind::Dict(m), Op::Insert { key, value, old }) => {
                fx.store(&value);
                match m.insert(key, value) {
                    Some(prev) if old => Reply::Value(Some(fx.moved(prev))),
                    Some(prev) => {
                        fx.unstore(&prev);
                        Reply::Unit
                    }
                    None if old => Reply::Value(None),
                    None => Reply::Unit,
                }
            }
            (Kind::Dict(m), Op::Remove(k)) => Reply::Value(m.remove(&k).map(|p| fx.moved(p))),
            (Kind::Dict(m), Op::Contains(k)) => Reply::Bool(m.contains_key(&k)),
            (Kind::Dict(m), Op::Keys) => Reply::Keys(m.iter().map(|(k, _)| k.clone()).collect()),
            (Kind::Dict(m), Op::Values) => Reply::Values(
                m.iter()
                    .map(|(_, p)| fx.copy(p))
                    .collect::<Result<_, _>>()?,
            ),
            (Kind::Dict(m), Op::Items) => Reply::Items(
                m.iter()
                    .map(|(k, p)| Ok((k.clone(), fx.copy(p)?)))
                    .collect::<Result<_, Failure>>()?,
            ),
            (Kind::Dict(m), Op::Update(items)) => {
                for (k, v) in items {
                    fx.store(&v);
                    if let Some(prev) = m.insert(k, v) {
                        fx.unstore(&prev);
                    }
                }
                Reply::Unit
            }
            (Kind::Dict(m), Op::SetDefault(k, v)) => match m.get(&k) {
                Some(p) => Reply::Value(Some(fx.copy(p)?)),
                None => {
                    fx.store(&v);
                    let copy = fx.copy(&v)?;
                    m.insert(k, v);
                    Reply::Value(Some(copy))
                }
            },
            (Kind::Dict(m), Op::PopItem) => match m.pop_last() {
                Some((k, p)) => Reply::Items(vec![(k, fx.moved(p))]),
                None => Reply::Items(Vec::new()),
            },
            // ----- list -----
            (Kind::List(v), Op::Len) => Reply::Count(v.len() as u64),
            (Kind::List(v), Op::Clear) => {
                for p in v.drain(..) {
                    fx.unstore(&p);
                }
                Reply::Unit
            }
            (Kind::List(v), Op::Push(p)) => {
                fx.store(&p);
                v.push(p);
                Reply::Unit
            }
            (Kind::List(v), Op::Extend(items)) => {
                for p in &items {
                    fx.store(p);
                }
                v.extend(items);
                Reply::Unit
            }
            (Kind::List(v), Op::InsertAt(i, p)) => {
                // Python's list.insert clamps the index.
                let i = (i as usize).min(v.len());
                fx.store(&p);
                v.insert(i, p);
                Reply::Unit
            }
            (Kind::List(v), Op::Pop(at)) => {
                let i = match at {
                    Some(i) => i,
                    None if v.is_empty() => return Err(Failure::Empty),
                    None => v.len() as u64 - 1,
                };
                if i >= v.len() as u64 {
                    return Err(Failure::IndexOutOfRange {
                        index: i,
                        len: v.len() as u64,
                    });
                }
                Reply::Value(Some(fx.moved(v.remove(i as usize))))
            }
            (Kind::List(v), Op::RemoveValue(b)) => match v.iter().position(|p| p.bytes == b) {
                Some(i) => {
                    fx.unstore(&v[i]);
                    v.remove(i);
                    Reply::Unit
                }
                None => return Err(Failure::NotInList),
            },
            (Kind::List(v), Op::Index(b)) => match v.iter().position(|p| p.bytes == b) {
                Some(i) => Reply::Count(i as u64),
                None => return Err(Failure::NotInList),
            },
            (Kind::List(v), Op::Count(b)) => {
                Reply::Count(v.iter().filter(|p| p.bytes == b).count() as u64)
            }
            (Kind::List(v), Op::GetAt(i)) => match v.get(i as usize) {
                Some(p) => Reply::Value(Some(fx.copy(p)?)),
                None => {
                    return Err(Failure::IndexOutOfRange {
                        index: i,
                        len: v.len() as u64,
                    });
                }
            },
            (Kind::List(v), Op::SetAt(i, p)) => {
                let len = v.len() as u64;
                match v.get_mut(i as usize) {
                    Some(slot) => {
                        fx.store(&p);
                        let prev = std::mem::replace(slot, p);
                        fx.unstore(&prev);
                        Reply::Unit
                    }
                    None => return Err(Failure::IndexOutOfRange { index: i, len }),
                }
            }
            (Kind::List(v), Op::Reverse) => {
                v.reverse();
                Reply::Unit
            }
            (Kind::List(v), Op::Snapshot) => {
                Reply::Values(v.iter().map(|p| fx.copy(p)).collect::<Result<_, _>>()?)
            }
            // ----- namespace -----
            (Kind::Namespace(m), Op::GetAttr(name)) => match m.get(&name) {
                Some(p) => Reply::Value(Some(fx.copy(p)?)),
                None => return Err(Failure::NoAttribute(name)),
            },
            (Kind::Namespace(m), Op::SetAttr(name, p)) => {
                fx.store(&p);
                if let Some(prev) = m.insert(name, p) {
                    fx.unstore(&prev);
                }
                Reply::Unit
            }
            (Kind::Namespace(m), Op::DelAttr(name)) => match m.remove(&name) {
                Some(prev) => {
                    fx.unstore(&prev);
                    Reply::Unit
                }
                None => return Err(Failure::NoAttribute(name)),
            },
            (Kind::Namespace(m), Op::Attrs) => {
                Reply::Names(m.iter().map(|(k, _)| k.clone()).collect())
            }
            (Kind::Namespace(m), Op::Items) => Reply::Items(
                m.iter()
                    .map(|(k, p)| Ok((Bytes(k.clone().into_bytes()), fx.copy(p)?)))
                    .collect::<Result<_, Failure>>()?,
            ),
            (Kind::Namespace(m), Op::Len) => Reply::Count(m.len() as u64),
            // ----- value -----
            (Kind::Value(v), Op::Load) => Reply::Value(Some(fx.copy(v)?)),
            (Kind::Value(v), Op::Store(p)) => {
                fx.store(&p);
                let prev = std::mem::replace(v, p);
                fx.unstore(&prev);
                Reply::Unit
            }
            (Kind::Value(v), Op::Swap(p)) => {
                fx.store(&p);
                let prev = std::mem::replace(v, p);
                Reply::Value(Some(fx.moved(prev)))
            }
            // ----- queue -----
            (Kind::Queue(q), Op::Len) => Reply::Count(q.items.len() as u64),
            (Kind::Queue(q), Op::MaxSize) => Reply::Count(q.maxsize),
            (Kind::Queue(q), Op::Unfinished) => Reply::Count(q.unfinished),
            (Kind::Queue(q), Op::TaskDone) => {
                if !q.joinable {
                    return Err(wrong(&g.kind));
                }
                if q.unfinished == 0 {
                    return Err(Failure::Invalid("task_done() called too many times".into()));
                }
                q.unfinished -= 1;
                self.changed.notify_all();
                Reply::Unit
            }
            // ----- locks -----
            (Kind::Lock(h), Op::Release { .. }) => {
                if h.take().is_none() {
                    return Err(Failure::NotHeld);
                }
                self.changed.notify_all();
                Reply::Unit
            }
            (Kind::Lock(h), Op::Locked) => Reply::Bool(h.is_some()),
            (
                Kind::RLock { owner: o, count }
                | Kind::Condition(CondState {
                    owner: o, count, ..
                }),
                Op::Release { owner },
            ) => {
                if *o != Some(owner) {
                    return Err(Failure::NotHeld);
                }
                *count -= 1;
                if *count == 0 {
                    *o = None;
                    self.changed.notify_all();
                }
                Reply::Unit
            }
            (Kind::RLock { owner, .. }, Op::Locked) => Reply::Bool(owner.is_some()),
            (Kind::Condition(c), Op::Locked) => Reply::Bool(c.owner.is_some()),
            (Kind::Semaphore { value, bound }, Op::Release { .. }) => {
                if bound.is_some_and(|b| *value >= b) {
                    return Err(Failure::TooManyReleases);
                }
                *value += 1;
                self.changed.notify_all();
                Reply::Unit
            }
            (Kind::Semaphore { value, .. }, Op::SemValue) => Reply::Count(u64::from(*value)),
            // ----- event -----
            (Kind::Event(f), Op::SetFlag) => {
                *f = true;
                self.changed.notify_all();
                Reply::Unit
            }
            (Kind::Event(f), Op::ClearFlag) => {
                *f = false;
                Reply::Unit
            }
            (Kind::Event(f), Op::IsSet) => Reply::Bool(*f),
            // ----- condition -----
            (Kind::Condition(c), Op::Notify(n)) => {
                if c.owner.is_none() {
                    return Err(Failure::NotHeld);
                }
                for _ in 0..n {
                    match c.waiters.pop_front() {
                        Some(t) => {
                            c.notified.insert(t);
                        }
                        None => break,
                    }
                }
                self.changed.notify_all();
                Reply::Unit
            }
            (Kind::Condition(c), Op::NotifyAll) => {
                if c.owner.is_none() {
                    return Err(Failure::NotHeld);
                }
                c.notified.extend(c.waiters.drain(..));
                self.changed.notify_all();
                Reply::Unit
            }
            // ----- barrier -----
            (Kind::Barrier(b), Op::Abort) => {
                b.break_round();
                self.changed.notify_all();
                Reply::Unit
            }
            (Kind::Barrier(b), Op::Reset) => {
                // Waiters of the current round see it broken; the barrier starts afresh.
                b.break_round();
                b.broken = false;
                self.changed.notify_all();
                Reply::Unit
            }
            (Kind::Barrier(b), Op::Parties) => Reply::Count(u64::from(b.parties)),
            (Kind::Barrier(b), Op::NWaiting) => Reply::Count(u64::from(b.count)),
            (Kind::Barrier(b), Op::Broken) => Reply::Bool(b.broken),
            // ----- registered types -----
            (Kind::Shared(s), Op::Method(args)) => {
                let name = s.type_name();
                let fds = args.fds.into_iter().map(Into::into).collect();
                match catch_unwind(AssertUnwindSafe(|| s.call(&args.bytes.0, fds))) {
                    Ok(Ok(p)) => Reply::Value(Some(p)),
                    Ok(Err(message)) => return Err(Failure::Method(message)),
                    Err(panic) => {
                        return Err(Failure::Method(format!(
                            "a method of {name} panicked: {}",
                            crate::start::panic_message(&*panic)
                        )));
                    }
                }
            }
            (k, _) => return Err(wrong(k)),
        };
        Ok(reply)
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Object")
            .field("kind", &self.lock().kind.name())
            .finish()
    }
}
