//! [`Object`]: one managed object, its [`Kind`]'s state behind a mutex, and the one place where
//! operations wait.
//!
//! Every change that could let a waiter go on notifies the object's condition variable. A
//! waiting operation sleeps on it in slices: between two slices it lets go of the object and
//! asks its [`Env`] whether its caller still wants the answer (the caller may be gone, the
//! server closing), which is also when the server tells a patient caller that the operation is
//! still waiting.

use std::any::Any;
use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::kind::{Cx, Done, Effects, End, Kind, Step};
use crate::manager::protocol::{Failure, Op, Reply, Wait};

/// What an operation needs from the server while it runs.
pub(crate) trait Env {
    /// Whether the caller still waits for the answer. Called between slices of a wait, with
    /// the object unlocked; it may tell the caller that the operation is still waiting.
    fn wanted(&mut self) -> bool;

    /// The longest a wait may sleep before [`wanted`](Env::wanted) is asked again.
    fn slice(&self) -> Duration;

    /// Applies `fx` to the server's reference counts; called while the object is locked.
    fn commit(&mut self, id: u64, fx: &mut Effects);
}

/// How an operation ended, for the server to send.
pub(crate) struct Outcome {
    pub(crate) reply: Reply,
    /// What the reply hands over, if anything: the caller must confirm it.
    pub(crate) handed: Option<Box<dyn Any + Send>>,
    /// References that the object no longer stores.
    pub(crate) release: Vec<u64>,
}

impl Outcome {
    pub(crate) fn fail(f: Failure) -> Outcome {
        Outcome {
            reply: Reply::Error(f),
            handed: None,
            release: Vec::new(),
        }
    }
}

/// A managed object with its kind erased, as the server's table holds it.
pub(crate) trait Managed: Send + Sync {
    /// Runs `op`, waiting as it needs.
    fn call(&self, id: u64, op: Op, env: &mut dyn Env) -> Outcome;

    /// Takes back what an undelivered reply handed over; returns references to release.
    fn give_back(
        &self,
        id: u64,
        handed: Box<dyn Any + Send>,
        reply: Reply,
        env: &mut dyn Env,
    ) -> Vec<u64>;

    /// Tells the object that a reply which handed something over was confirmed; returns
    /// references to release.
    fn confirmed(&self, id: u64, handed: Box<dyn Any + Send>, env: &mut dyn Env) -> Vec<u64>;

    /// Marks the object dropped, wakes its waiters, and returns the references it stored.
    fn kill(&self) -> Vec<u64>;

    /// Client process `link` is gone.
    fn process_ended(&self, link: u64, end: End);
}

struct State<K> {
    /// Once the server dropped the object (its last reference went).
    dead: bool,
    kind: K,
}

/// One object: its state and the condition variable its waiters sleep on.
pub(crate) struct Object<K> {
    state: Mutex<State<K>>,
    changed: Condvar,
    name: &'static str,
}

impl<K: Kind> Object<K> {
    /// Settles what a reply handed over (`handed`, if it is this kind's) with `f`, then
    /// wakes the waiters that may go on and commits the effects.
    fn settle(
        &self,
        id: u64,
        handed: Box<dyn Any + Send>,
        env: &mut dyn Env,
        f: impl FnOnce(&mut K, K::Handed, &mut Cx<'_>),
    ) -> Vec<u64> {
        let Ok(handed) = handed.downcast::<K::Handed>() else {
            return Vec::new();
        };
        let mut fx = Effects::default();
        let mut g = self.lock();
        if g.dead {
            return Vec::new();
        }
        let mut cx = Cx::new(&mut fx);
        f(&mut g.kind, *handed, &mut cx);
        self.wake_if(&mut cx);
        env.commit(id, &mut fx);
        drop(g);
        fx.release
    }

    pub(crate) fn new(kind: K) -> Object<K> {
        Object {
            name: kind.name(),
            state: Mutex::new(State { dead: false, kind }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<K>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake_if(&self, cx: &mut Cx<'_>) {
        if cx.take_notify() {
            self.changed.notify_all();
        }
    }

    /// Polls `w` until it is done, its time runs out, the object dies, or its caller is gone.
    fn wait<'a>(
        &'a self,
        mut g: MutexGuard<'a, State<K>>,
        mut w: K::Waiter,
        wait: Wait,
        cx: &mut Cx<'_>,
        env: &mut dyn Env,
    ) -> (Done<K::Handed>, MutexGuard<'a, State<K>>) {
        let deadline = wait.deadline();
        loop {
            if let Some(done) = g.kind.poll(&mut w, deadline.has_passed(), cx) {
                return (done, g);
            }
            self.wake_if(cx);
            let slice = match deadline.remaining() {
                Some(left) if !left.is_zero() => left.min(env.slice()),
                _ => env.slice(),
            };
            g = self
                .changed
                .wait_timeout(g, slice)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            // Ask about the caller with the object unlocked: that may take a system call.
            drop(g);
            let wanted = env.wanted();
            g = self.lock();
            if g.dead {
                return (Done::fail(Failure::NoSuchObject(0)), g);
            }
            if !wanted {
                g.kind.cancel(w, cx);
                self.wake_if(cx);
                return (Done::fail(Failure::ShuttingDown), g);
            }
        }
    }
}

impl<K: Kind> Managed for Object<K> {
    fn call(&self, id: u64, op: Op, env: &mut dyn Env) -> Outcome {
        let op = match K::op(op) {
            Ok(op) => op,
            Err(_) => {
                return Outcome::fail(Failure::WrongKind {
                    id,
                    kind: self.name.to_owned(),
                });
            }
        };
        let mut fx = Effects::default();
        let mut g = self.lock();
        if g.dead {
            return Outcome::fail(Failure::NoSuchObject(id));
        }
        let mut cx = Cx::new(&mut fx);
        let (done, g) = match g.kind.apply(op, &mut cx) {
            Step::Done(d) => (d, g),
            Step::Wait(w, wait) => self.wait(g, w, wait, &mut cx, env),
        };
        self.wake_if(&mut cx);
        let reply = match done.result {
            Ok(reply) => reply,
            Err(Failure::NoSuchObject(_)) => Reply::Error(Failure::NoSuchObject(id)),
            Err(f) => Reply::Error(f),
        };
        // References stored or sent are counted before anyone else can see the object again.
        if !g.dead {
            env.commit(id, &mut fx);
        }
        drop(g);
        Outcome {
            reply,
            handed: done.handed.map(|h| Box::new(h) as Box<dyn Any + Send>),
            release: fx.release,
        }
    }

    fn give_back(
        &self,
        id: u64,
        handed: Box<dyn Any + Send>,
        reply: Reply,
        env: &mut dyn Env,
    ) -> Vec<u64> {
        self.settle(id, handed, env, |kind, handed, cx| {
            kind.give_back(handed, reply, cx);
        })
    }

    fn confirmed(&self, id: u64, handed: Box<dyn Any + Send>, env: &mut dyn Env) -> Vec<u64> {
        self.settle(id, handed, env, |kind, handed, cx| kind.confirmed(handed, cx))
    }

    fn kill(&self) -> Vec<u64> {
        let mut g = self.lock();
        g.dead = true;
        let refs = g.kind.drain_refs();
        self.changed.notify_all();
        refs
    }

    fn process_ended(&self, link: u64, end: End) {
        let mut g = self.lock();
        if g.kind.process_ended(link, end) {
            log::info!(
                target: "multiproc",
                "manager: process {} ended holding a {}",
                end.pid(),
                self.name
            );
            self.changed.notify_all();
        }
    }
}

impl<K> fmt::Debug for Object<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Object").field("kind", &self.name).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::protocol::Payload;
    use crate::manager::server::queue::{QueueKind, QueueOp};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    /// An environment whose caller stays until `gone` is set.
    struct TestEnv {
        gone: Arc<AtomicBool>,
        asked: usize,
    }

    impl Env for TestEnv {
        fn wanted(&mut self) -> bool {
            self.asked += 1;
            !self.gone.load(Ordering::SeqCst)
        }
        fn slice(&self) -> Duration {
            Duration::from_millis(5)
        }
        fn commit(&mut self, _: u64, _: &mut Effects) {}
    }

    fn env() -> TestEnv {
        TestEnv {
            gone: Arc::new(AtomicBool::new(false)),
            asked: 0,
        }
    }

    fn queue() -> Arc<Object<QueueKind>> {
        Arc::new(Object::new(QueueKind::new(0, false)))
    }

    fn get(wait: Wait) -> Op {
        Op::Queue(QueueOp::Get(wait))
    }

    #[test]
    fn a_waiter_is_woken_by_a_change_from_another_thread() {
        let q = queue();
        let putter = {
            let q = q.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                let put = Op::Queue(QueueOp::Put {
                    item: Payload::plain(b"x"),
                    wait: Wait::Now,
                });
                q.call(7, put, &mut env()).reply
            })
        };
        let out = q.call(7, get(Wait::Forever), &mut env());
        assert!(matches!(putter.join().unwrap(), Reply::Unit));
        assert!(matches!(&out.reply, Reply::Value(Some(p)) if p.bytes.0 == b"x"));
        assert!(out.handed.is_some(), "a taken item is handed over");
    }

    #[test]
    fn a_timed_wait_ends_at_its_deadline_and_asks_about_its_caller() {
        let q = queue();
        let mut e = env();
        let t0 = Instant::now();
        let out = q.call(7, get(Wait::For(Duration::from_millis(60))), &mut e);
        assert!(matches!(out.reply, Reply::Error(Failure::Empty)));
        assert!(t0.elapsed() >= Duration::from_millis(60));
        assert!(e.asked >= 2, "asked {} times", e.asked);
    }

    #[test]
    fn a_waiter_whose_caller_is_gone_is_cancelled_and_takes_nothing() {
        let q = queue();
        let mut e = env();
        e.gone.store(true, Ordering::SeqCst);
        let out = q.call(7, get(Wait::Forever), &mut e);
        assert!(matches!(out.reply, Reply::Error(Failure::ShuttingDown)));
        assert!(out.handed.is_none());
    }

    #[test]
    fn an_undelivered_item_goes_back_to_the_front() {
        let q = queue();
        for b in [b"a", b"b"] {
            let put = Op::Queue(QueueOp::Put {
                item: Payload::plain(b),
                wait: Wait::Now,
            });
            q.call(7, put, &mut env());
        }
        let out = q.call(7, get(Wait::Now), &mut env());
        q.give_back(1, out.handed.unwrap(), out.reply, &mut env());
        let again = q.call(7, get(Wait::Now), &mut env());
        assert!(matches!(&again.reply, Reply::Value(Some(p)) if p.bytes.0 == b"a"));
    }

    #[test]
    fn an_operation_of_another_kind_is_refused() {
        let q = queue();
        let out = q.call(3, Op::Method(Payload::default()), &mut env());
        assert!(matches!(
            out.reply,
            Reply::Error(Failure::WrongKind { id: 3, .. })
        ));
    }

    #[test]
    fn a_killed_object_ends_its_waiters() {
        let q = queue();
        let killer = {
            let q = q.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                q.kill()
            })
        };
        let out = q.call(9, get(Wait::Forever), &mut env());
        killer.join().unwrap();
        assert!(matches!(out.reply, Reply::Error(Failure::NoSuchObject(9))));
    }
}
