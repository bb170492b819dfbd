//! The manager server: the table of objects, a thread per connection, and the kinds of objects
//! it holds (one module each, each implementing [`Kind`](kind::Kind)).
//!
//! Each accepted connection gets its own thread, which authenticates it, reads its
//! [`Hello`], and then serves it until it closes: calls one after the other on a call
//! connection, reference counting on a control connection. Calls from different connections
//! run at the same time; one object's operations are serialised by its own mutex.
//!
//! # Clients that go away
//!
//! An operation that waits for its caller (a get on an empty queue) checks between slices
//! ([`WAIT_SLICE`]) that the caller's call connection is still open, and gives up when it is
//! not: no thread goes on waiting, or taking items, for a client that is gone. An answer that
//! hands something over is only final once the caller confirms it; an answer that cannot be
//! delivered or is not confirmed gives the item back to the front of its queue, the lock back.
//!
//! A client process's control connection tells how it ended: with a goodbye (it dropped its
//! last proxy), or without (it was killed or crashed; for a client of this machine, the server
//! also checks that its process is really gone). Its references go either way; the locks it
//! held are handed over or left to their next acquirer (see [`lock`]).

pub(crate) mod array;
pub(crate) mod barrier;
pub(crate) mod condition;
pub(crate) mod dict;
pub(crate) mod event;
pub(crate) mod kind;
pub(crate) mod list;
pub(crate) mod lock;
pub(crate) mod namespace;
pub(crate) mod object;
mod ordered;
pub(crate) mod queue;
pub(crate) mod set;
pub(crate) mod shared;
mod table;
pub(crate) mod value;

use std::any::Any;
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::protocol::{Call, Control, Create, Failure, Hello, Reply, Request, Response};
use super::transport::{Acceptor, Key};
use crate::Connection;
use crate::connection::Error as ConnError;
use crate::sys::fd::{self as sysfd, Interest, deadline_after};
use kind::{Effects, End};
use object::{Env, Managed, Object};
pub(crate) use shared::Registry;
pub use shared::{TypeRegistry, Types};
pub(crate) use table::ROOT;
use table::Table;

/// How long an accepted client may take to authenticate and say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a waiting operation looks up from its wait, to notice that its caller is gone or
/// that the server is closing.
pub(crate) const WAIT_SLICE: Duration = Duration::from_millis(100);

/// How long, after a local client's control connection ends without a goodbye, the server
/// waits for its process to be gone before it counts the process as alive.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Makes the object that `create` asks for, and the references its initial values hold.
fn make(create: Create, types: &Registry) -> Result<(Arc<dyn Managed>, Vec<u64>), Failure> {
    fn obj<K: kind::Kind>(k: K) -> Arc<dyn Managed> {
        Arc::new(Object::new(k))
    }
    let mut hold = Vec::new();
    let made = match create {
        Create::Dict => obj(dict::DictKind::new()),
        Create::List(items) => {
            hold.extend(items.iter().flat_map(|p| p.refs.iter().copied()));
            obj(list::ListKind::new(items))
        }
        Create::Namespace => obj(namespace::NamespaceKind::new()),
        Create::Value(v) => {
            hold.extend_from_slice(&v.refs);
            obj(value::ValueKind::new(v))
        }
        Create::Array(items) => {
            hold.extend(items.iter().flat_map(|p| p.refs.iter().copied()));
            obj(array::ArrayKind::new(items))
        }
        Create::Set(items) => obj(set::SetKind::new(items)),
        Create::Queue { maxsize, joinable } => obj(queue::QueueKind::new(maxsize, joinable)),
        Create::Lock => obj(lock::LockKind::lock()),
        Create::RLock => obj(lock::LockKind::rlock()),
        Create::Semaphore { value, bounded } => obj(lock::SemaphoreKind::new(value, bounded)),
        Create::Event => obj(event::EventKind::default()),
        Create::Condition => obj(condition::ConditionKind::new()),
        Create::Barrier { parties } => obj(barrier::BarrierKind::new(parties)?),
        Create::Shared { type_name, init } => {
            obj(shared::SharedKind::new(types.make(&type_name, init)?))
        }
    };
    Ok((made, hold))
}

/// A manager server: its objects and its connections.
pub(crate) struct Server {
    /// The server's random identity, which proxies carry.
    pub(crate) id: u64,
    table: Mutex<Table>,
    types: Registry,
    /// Whether clients connect from this machine (a Unix socket), so their processes can be
    /// watched.
    local: bool,
    closing: AtomicBool,
    /// Duplicates of the open connections' sockets, to shut them down when closing.
    conns: Mutex<HashMap<u64, OwnedFd>>,
    next_conn: AtomicU64,
    stop: (Mutex<bool>, Condvar),
    wake: (OwnedFd, OwnedFd),
}

/// What the answer to a call hands over, to take back if it is not delivered.
struct Handback {
    obj: Arc<dyn Managed>,
    id: u64,
    handed: Box<dyn Any + Send>,
}

/// A call's answer.
struct Answer {
    reply: Reply,
    handed: Option<Handback>,
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        Answer {
            reply,
            handed: None,
        }
    }
}

/// The environment of one call: its caller, and the connection the answer goes to.
struct CallEnv<'a> {
    server: &'a Server,
    link: u64,
    conn: Option<&'a Connection>,
    patience: Duration,
    /// When the caller last heard from the server.
    spoke: Instant,
    /// An object in which the caller acquired a lock after its process had ended.
    late_lock: Option<u64>,
}

impl<'a> CallEnv<'a> {
    fn new(
        server: &'a Server,
        link: u64,
        conn: Option<&'a Connection>,
        patience: Duration,
    ) -> Self {
        CallEnv {
            server,
            link,
            conn,
            patience,
            spoke: Instant::now(),
            late_lock: None,
        }
    }

    /// How often a waiting operation tells its caller that it still waits: well within the
    /// caller's patience.
    fn keepalive(&self) -> Duration {
        (self.patience / 3).max(Duration::from_millis(1))
    }
}

impl Env for CallEnv<'_> {
    fn wanted(&mut self) -> bool {
        if self.server.closing.load(Ordering::Relaxed) {
            return false;
        }
        if self
            .server
            .table()
            .links
            .get(&self.link)
            .is_some_and(|l| l.closed())
        {
            return false;
        }
        let Some(conn) = self.conn else {
            return true;
        };
        // The caller sends nothing while it waits for its answer: anything readable is the end
        // of its connection.
        if conn.ready_now() {
            return false;
        }
        if self.spoke.elapsed() >= self.keepalive() {
            self.spoke = Instant::now();
            let deadline = deadline_after(self.patience);
            if conn.send_deadline(&Response::Waiting, deadline).is_err() {
                return false;
            }
        }
        true
    }

    fn slice(&self) -> Duration {
        WAIT_SLICE.min(self.keepalive())
    }

    fn commit(&mut self, id: u64, fx: &mut Effects) {
        if fx.hold.is_empty() && fx.credit.is_empty() && !fx.locked {
            return;
        }
        let mut t = self.server.table();
        for h in &fx.hold {
            t.incref(*h);
        }
        for c in &fx.credit {
            t.credit(self.link, *c);
        }
        if fx.locked {
            // (The entry may not exist yet: the process's control connection, served by
            // another thread, may not have said hello when its first call is served.)
            let l = t.links.entry(self.link).or_default();
            if l.closed() {
                self.late_lock = Some(id);
            } else {
                l.locks.insert(id);
            }
        }
    }
}

impl Server {
    /// A server for the registered `types`; `local` if its clients reach it through a Unix
    /// socket (so that it can watch their processes).
    pub(crate) fn new(types: Registry, local: bool) -> std::io::Result<Arc<Server>> {
        let root: Arc<dyn Managed> = Arc::new(Object::new(namespace::NamespaceKind::new()));
        Ok(Arc::new(Server {
            id: super::client::random_u64(),
            table: Mutex::new(Table::new(root)),
            types,
            local,
            closing: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            stop: (Mutex::new(false), Condvar::new()),
            wake: sysfd::socketpair()?,
        }))
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Accepts connections until the server is closed or `owner` (the connection to the
    /// process that started this server) says stop or closes.
    ///
    /// With an owner (a server process), a client's stop request ends it too; without one,
    /// only [`close`](Server::close) does, and [`wait_stop`](Server::wait_stop) tells the
    /// program that runs it about the request.
    pub(crate) fn run(self: &Arc<Self>, acceptor: Acceptor, owner: Option<Connection>) {
        loop {
            if self.closing.load(Ordering::Relaxed) || (owner.is_some() && self.stop_requested()) {
                break;
            }
            let mut set = vec![
                (acceptor.as_fd(), Interest::Read),
                (self.wake.0.as_fd(), Interest::Read),
            ];
            if let Some(o) = &owner {
                set.push((o.as_fd(), Interest::Read));
            }
            let ready = match sysfd::poll(&set, None) {
                Ok(r) => r,
                Err(e) => {
                    log::error!(target: "multiproc", "manager: poll failed: {e}");
                    break;
                }
            };
            if ready.get(2).copied().unwrap_or(false) {
                // The owner sends nothing but a stop request; either that or its end means stop.
                if let Some(o) = &owner {
                    match o.try_recv::<()>() {
                        Err(ConnError::Timeout) => {}
                        _ => break,
                    }
                }
            }
            if ready[0] {
                loop {
                    match acceptor.accept() {
                        Ok(Some(conn)) => self.spawn_connection(acceptor.key(), conn),
                        Ok(None) => break,
                        Err(e) => {
                            log::warn!(target: "multiproc", "manager: accept failed: {e}");
                            break;
                        }
                    }
                }
            }
        }
        self.close();
        // The listener goes now (a Unix socket's file with it), not when the last
        // connection ends.
        drop(acceptor);
    }

    fn spawn_connection(self: &Arc<Self>, key: &Key, mut conn: Connection) {
        let n = self.next_conn.fetch_add(1, Ordering::Relaxed);
        if let Ok(dup) = conn.as_fd().try_clone_to_owned() {
            self.conns
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(n, dup);
        }
        let server = self.clone();
        let key = key.clone();
        let spawned = std::thread::Builder::new()
            .name("manager-connection".into())
            .spawn(move || {
                let deadline = deadline_after(HELLO_TIMEOUT);
                match key.authenticate(&mut conn, deadline) {
                    // Only this thread reads it from now on.
                    Ok(()) => server.serve(&conn.into_private()),
                    Err(e) => log::info!(target: "multiproc", "manager: a client failed to authenticate: {e}"),
                }
                server.conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&n);
            });
        if let Err(e) = spawned {
            log::error!(target: "multiproc", "manager: cannot start a connection thread: {e}");
            self.conns
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&n);
        }
    }

    /// Serves one authenticated connection until it closes.
    fn serve(&self, conn: &Connection) {
        let hello = match conn.recv_deadline::<Hello>(deadline_after(HELLO_TIMEOUT)) {
            Ok(h) => h,
            Err(e) => {
                log::info!(target: "multiproc", "manager: a client said no hello: {e}");
                return;
            }
        };
        match hello {
            Hello::Probe => {
                let _ = conn.send_deadline(&self.id, deadline_after(HELLO_TIMEOUT));
            }
            Hello::Control { link, pid } => self.serve_control(conn, link, pid),
            Hello::Calls { link } => self.serve_calls(conn, link),
        }
    }

    fn serve_control(&self, conn: &Connection, link: u64, pid: u32) {
        // A process of this machine can be watched, to tell a death from a lost connection.
        let process = if self.local {
            crate::sys::proc::pidfd_open(pid as i32).ok()
        } else {
            None
        };
        self.table().links.entry(link).or_default();
        let mut bye = false;
        loop {
            match conn.recv::<Control>() {
                Ok(Control::Bye) => bye = true,
                Ok(msg) => self.control(link, msg),
                Err(_) => break,
            }
        }
        let end = if bye || process.as_ref().is_some_and(|p| Self::outlives(p.as_fd())) {
            End::InOrder { pid }
        } else {
            End::Died { pid }
        };
        self.link_closed(link, end);
    }

    /// Whether the process behind `pidfd` is still running a little while after its control
    /// connection ended (a process that is exiting closes its sockets before it is gone).
    fn outlives(pidfd: std::os::fd::BorrowedFd<'_>) -> bool {
        let deadline = deadline_after(EXIT_GRACE);
        !matches!(sysfd::poll(&[(pidfd, Interest::Read)], Some(deadline)), Ok(r) if r[0])
    }

    fn serve_calls(&self, conn: &Connection, link: u64) {
        loop {
            let (call, patience) = match conn.recv::<Request<Call>>() {
                Ok(Request::Call { call, patience_ms }) => {
                    (call, Duration::from_millis(patience_ms))
                }
                Ok(Request::Ack | Request::Decline) => {
                    log::info!(target: "multiproc", "manager: a confirmation came for nothing");
                    return;
                }
                Err(ConnError::Decode(e)) => {
                    let reply = Reply::Error(Failure::Invalid(format!("unreadable call: {e}")));
                    let deadline = deadline_after(HELLO_TIMEOUT);
                    if conn
                        .send_deadline(&Response::Reply(reply), deadline)
                        .is_err()
                    {
                        return;
                    }
                    continue;
                }
                Err(_) => return,
            };
            let stop = matches!(call, Call::Shutdown);
            let mut env = CallEnv::new(self, link, Some(conn), patience);
            let answer = self.call(&mut env, call);
            let delivered = self.deliver(conn, link, answer, patience);
            if stop {
                self.request_stop();
            }
            if !delivered {
                return;
            }
        }
    }

    /// Sends `answer`; one that hands something over waits for the caller's confirmation, and
    /// takes it back if the answer is not delivered, not confirmed or declined (answering a
    /// decline once it is back). Whether the connection can go on.
    fn deliver(&self, conn: &Connection, link: u64, answer: Answer, patience: Duration) -> bool {
        let deadline = deadline_after(patience);
        let Some(back) = answer.handed else {
            return conn
                .send_deadline(&Response::Reply(answer.reply), deadline)
                .is_ok();
        };
        let response = Response::Handed(answer.reply);
        // The caller confirms as soon as it has the answer; a caller that stopped after reading
        // it still has it, so there is no limit on this wait: only the caller's end.
        let word = match conn.send_deadline(&response, deadline) {
            Ok(()) => conn.recv::<Request<Call>>().ok(),
            Err(_) => None,
        };
        let mut env = CallEnv::new(self, link, None, patience);
        let release = if let Some(Request::Ack) = word {
            back.obj.confirmed(back.id, back.handed, &mut env)
        } else {
            let Response::Handed(reply) = response else {
                unreachable!("made above")
            };
            log::debug!(target: "multiproc", "manager: an answer was not taken; taking it back");
            back.obj.give_back(back.id, back.handed, reply, &mut env)
        };
        self.release(release);
        match word {
            Some(Request::Ack) => true,
            Some(Request::Decline) => conn
                .send_deadline(&Response::Reply(Reply::Unit), deadline_after(patience))
                .is_ok(),
            _ => false,
        }
    }

    fn call(&self, env: &mut CallEnv<'_>, call: Call) -> Answer {
        if self.closing.load(Ordering::Relaxed) {
            return Reply::Error(Failure::ShuttingDown).into();
        }
        let link = env.link;
        match call {
            Call::Create(create) => match make(create, &self.types) {
                Ok((obj, hold)) => Reply::Created(self.table().insert(link, obj, &hold)).into(),
                Err(f) => Reply::Error(f).into(),
            },
            Call::Op { id, op } => {
                let Some(obj) = self.table().get(id) else {
                    return Reply::Error(Failure::NoSuchObject(id)).into();
                };
                let out = obj.call(id, op, env);
                if env.late_lock.take().is_some() {
                    // Its process ended while it waited: tell the lock, as for any other.
                    let end = self.table().links.get(&link).and_then(|l| l.ended);
                    if let Some(end) = end {
                        obj.process_ended(link, end);
                    }
                }
                self.release(out.release);
                Answer {
                    reply: out.reply,
                    handed: out.handed.map(|handed| Handback { obj, id, handed }),
                }
            }
            Call::Root => {
                self.table().credit(link, ROOT);
                Reply::Created(ROOT).into()
            }
            Call::ObjectCount => Reply::Count(self.object_count() as u64).into(),
            Call::Ping | Call::Shutdown => Reply::Unit.into(),
        }
    }

    fn control(&self, link: u64, msg: Control) {
        let dead = {
            let mut t = self.table();
            match msg {
                Control::IncRef(id) => {
                    t.credit(link, id);
                    None
                }
                Control::DecRef(id) => t.debit(link, id),
                Control::Hold { nonce, id } => {
                    t.hold(nonce, id);
                    None
                }
                Control::Claim { nonce, id } => t.claim(link, nonce, id),
                Control::Bye => None,
            }
        };
        if let Some(obj) = dead {
            let refs = obj.kill();
            self.release(refs);
        }
    }

    /// Releases stored references, and whatever objects that frees, transitively.
    fn release(&self, ids: Vec<u64>) {
        let mut work = ids;
        while !work.is_empty() {
            let dead: Vec<Arc<dyn Managed>> = {
                let mut t = self.table();
                work.drain(..).filter_map(|id| t.decref(id)).collect()
            };
            for obj in dead {
                work.extend(obj.kill());
            }
        }
    }

    /// A client process's control connection closed: it holds no references any more, and its
    /// locks learn how it ended.
    fn link_closed(&self, link: u64, end: End) {
        let (refs, locks) = self.table().close_link(link, end);
        if end.died() {
            log::info!(target: "multiproc", "manager: client process {} died", end.pid());
        }
        for obj in locks {
            obj.process_ended(link, end);
        }
        self.release(refs);
    }

    /// A client asked the server to stop: wakes [`run`](Server::run) and
    /// [`wait_stop`](Server::wait_stop).
    pub(crate) fn request_stop(&self) {
        *self.stop.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.stop.1.notify_all();
        self.wake();
    }

    fn stop_requested(&self) -> bool {
        *self.stop.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) {
        let _ = sysfd::send_with_fds(self.wake.1.as_fd(), &[std::io::IoSlice::new(&[1])], &[]);
    }

    /// Blocks until a stop is requested.
    pub(crate) fn wait_stop(&self) {
        let mut stopped = self.stop.0.lock().unwrap_or_else(|e| e.into_inner());
        while !*stopped {
            stopped = self.stop.1.wait(stopped).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Stops serving: every connection is shut down, every waiting operation gives up.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.request_stop();
        let conns: Vec<OwnedFd> = self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, fd)| fd)
            .collect();
        for fd in conns {
            let _ = sysfd::shutdown(fd.as_fd());
        }
    }

    /// How many objects the server holds (the root namespace included).
    pub(crate) fn object_count(&self) -> usize {
        self.table().objects.len()
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("id", &format_args!("{:016x}", self.id))
            .field("objects", &self.object_count())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Bytes;
    use crate::manager::protocol::{Op, Owner, Payload, Wait};
    use dict::DictOp;
    use list::ListOp;
    use lock::LockOp;

    const A: u64 = 1;
    const B: u64 = 2;

    fn server() -> Arc<Server> {
        let s = Server::new(Registry::default(), false).unwrap();
        for link in [A, B] {
            s.table().links.entry(link).or_default();
        }
        s
    }

    fn call(s: &Server, link: u64, c: Call) -> Answer {
        let mut env = CallEnv::new(s, link, None, Duration::from_secs(10));
        s.call(&mut env, c)
    }

    fn create(s: &Server, link: u64, c: Create) -> u64 {
        match call(s, link, Call::Create(c)).reply {
            Reply::Created(id) => id,
            other => panic!("{other:?}"),
        }
    }

    /// Runs `op` as a call whose answer was delivered: what it hands over is confirmed.
    fn op(s: &Server, link: u64, id: u64, op: Op) -> Reply {
        let answer = call(s, link, Call::Op { id, op });
        if let Some(back) = answer.handed {
            let mut env = CallEnv::new(s, link, None, Duration::from_secs(1));
            let release = back.obj.confirmed(back.id, back.handed, &mut env);
            s.release(release);
        }
        answer.reply
    }

    #[test]
    fn a_claim_may_come_before_its_hold() {
        let s = server();
        let id = create(&s, A, Create::Dict);
        assert_eq!(s.object_count(), 2);
        s.control(B, Control::Claim { nonce: 7, id });
        s.control(A, Control::Hold { nonce: 7, id });
        s.control(A, Control::DecRef(id));
        assert_eq!(s.object_count(), 2, "B holds it");
        s.control(B, Control::DecRef(id));
        assert_eq!(s.object_count(), 1);
        assert!(s.table().settled());
    }

    #[test]
    fn a_hold_keeps_the_object_until_claimed() {
        let s = server();
        let id = create(&s, A, Create::Dict);
        s.control(A, Control::Hold { nonce: 9, id });
        s.control(A, Control::DecRef(id));
        assert_eq!(s.object_count(), 2, "in transit");
        s.control(B, Control::Claim { nonce: 9, id });
        s.control(B, Control::DecRef(id));
        assert_eq!(s.object_count(), 1);
    }

    #[test]
    fn stored_proxies_keep_their_objects_and_die_with_the_store() {
        let s = server();
        let outer = create(&s, A, Create::Dict);
        let inner = create(&s, A, Create::List(Vec::new()));
        let value = Payload {
            bytes: Bytes(vec![1]),
            fds: Vec::new(),
            refs: vec![inner],
        };
        let insert = DictOp::Insert {
            key: Bytes(vec![0]),
            value,
            old: false,
        };
        assert!(matches!(op(&s, A, outer, Op::Dict(insert)), Reply::Unit));
        s.control(A, Control::DecRef(inner));
        assert_eq!(s.object_count(), 3, "the dict holds the list");
        // A reply carrying the stored value credits the caller a reference.
        let Reply::Value(Some(p)) = op(&s, B, outer, Op::Dict(DictOp::Get(Bytes(vec![0])))) else {
            panic!("a value")
        };
        assert_eq!(p.refs, [inner]);
        s.control(A, Control::DecRef(outer));
        assert_eq!(s.object_count(), 2, "B's credit keeps the list");
        s.control(B, Control::DecRef(inner));
        assert_eq!(s.object_count(), 1);
    }

    fn acquire(s: &Server, link: u64, lock: u64) -> Reply {
        let owner = Owner { link, thread: 1 };
        op(
            s,
            link,
            lock,
            Op::Lock(LockOp::Acquire {
                owner,
                wait: Wait::Now,
            }),
        )
    }

    #[test]
    fn a_closed_link_releases_its_references_and_its_locks_learn_how_it_ended() {
        let s = server();
        let lock = create(&s, B, Create::Lock);
        let _ = create(&s, B, Create::Dict);
        assert!(matches!(acquire(&s, B, lock), Reply::Acquired(None)));
        s.control(A, Control::IncRef(lock));
        s.link_closed(B, End::Died { pid: 4242 });
        assert_eq!(s.object_count(), 2, "A's lock remains, B's dict is gone");
        assert!(matches!(
            op(&s, A, lock, Op::Lock(LockOp::Locked)),
            Reply::Bool(true)
        ));
        assert!(
            matches!(acquire(&s, A, lock), Reply::Acquired(Some(4242))),
            "taken over from the dead holder"
        );
        // Whatever a closed link is credited is dropped at once.
        let _ = create(&s, B, Create::Dict);
        assert_eq!(s.object_count(), 2);
    }

    #[test]
    fn regression_a_lock_taken_before_its_process_said_hello_learns_of_its_death() {
        let s = server();
        let lock = create(&s, A, Create::Lock);
        // Process 3's first call is served before its control connection's hello.
        assert!(matches!(acquire(&s, 3, lock), Reply::Acquired(None)));
        s.link_closed(3, End::Died { pid: 33 });
        assert!(matches!(acquire(&s, A, lock), Reply::Acquired(Some(33))));
    }

    #[test]
    fn a_lock_of_a_process_that_ended_in_order_is_handed_over() {
        let s = server();
        let lock = create(&s, A, Create::Lock);
        s.control(B, Control::IncRef(lock));
        assert!(matches!(acquire(&s, A, lock), Reply::Acquired(None)));
        s.link_closed(A, End::InOrder { pid: 1 });
        assert!(matches!(acquire(&s, B, lock), Reply::Timeout), "still held");
        let release = LockOp::Release {
            owner: Owner { link: B, thread: 9 },
        };
        assert!(matches!(op(&s, B, lock, Op::Lock(release)), Reply::Unit));
        assert!(matches!(acquire(&s, B, lock), Reply::Acquired(None)));
    }

    #[test]
    fn an_answer_handing_something_over_carries_it() {
        let s = server();
        let q = create(
            &s,
            A,
            Create::Queue {
                maxsize: 0,
                joinable: false,
            },
        );
        let put = queue::QueueOp::Put {
            item: Payload::plain(b"i"),
            wait: Wait::Now,
        };
        assert!(matches!(op(&s, A, q, Op::Queue(put)), Reply::Unit));
        let answer = call(
            &s,
            A,
            Call::Op {
                id: q,
                op: Op::Queue(queue::QueueOp::Get(Wait::Now)),
            },
        );
        assert!(answer.handed.is_some());
        let back = answer.handed.unwrap();
        let mut env = CallEnv::new(&s, A, None, Duration::from_secs(1));
        back.obj
            .give_back(back.id, back.handed, answer.reply, &mut env);
        let len = op(&s, A, q, Op::Queue(queue::QueueOp::Len));
        assert!(matches!(len, Reply::Count(1)), "given back");
        let list = create(&s, A, Create::List(Vec::new()));
        assert!(
            call(
                &s,
                A,
                Call::Op {
                    id: list,
                    op: Op::List(ListOp::Len)
                }
            )
            .handed
            .is_none()
        );
    }
}
