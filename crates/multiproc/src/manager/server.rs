//! The manager server: the table of objects, reference counts, and a thread per connection.
//!
//! Each accepted connection gets its own thread, which authenticates it, reads its
//! [`Hello`], and then serves it until it closes: calls one after the other on a call
//! connection, reference counting on a control connection. Calls from different connections
//! run at the same time; one object's operations are serialised by its own mutex.
//!
//! A client that dies mid-call costs nothing but its connections: its control connection's end
//! releases every reference and lock its process held, and an operation blocked on its behalf
//! gives up within [`WAIT_SLICE`](super::object::WAIT_SLICE).

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::object::{Abandon, Effects, Kind, Object};
use super::protocol::{Call, Control, Create, Failure, Hello, Reply};
use super::shared::Registry;
use super::transport::{Acceptor, Key};
use crate::Connection;
use crate::connection::Error as ConnError;
use crate::sys::fd::{self as sysfd, Interest, deadline_after};

/// How long an accepted client may take to authenticate and say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// The id of the root namespace, which always exists.
pub(crate) const ROOT: u64 = 0;

struct Entry {
    obj: Arc<Object>,
    refs: u64,
}

#[derive(Default)]
struct LinkEntry {
    refs: HashMap<u64, u64>,
    locks: HashSet<u64>,
    closed: bool,
}

#[derive(Default)]
struct Table {
    objects: HashMap<u64, Entry>,
    links: HashMap<u64, LinkEntry>,
    /// References in transit: nonce to object.
    floating: HashMap<u64, u64>,
    /// Claims that arrived before their hold.
    early: HashSet<u64>,
    next_id: u64,
}

impl Table {
    /// One more reference to `id`, not owned by any process.
    fn incref(&mut self, id: u64) -> bool {
        match self.objects.get_mut(&id) {
            Some(e) => {
                e.refs += 1;
                true
            }
            None => false,
        }
    }

    /// One reference less; the object if that was its last.
    fn decref(&mut self, id: u64) -> Option<Arc<Object>> {
        let e = self.objects.get_mut(&id)?;
        e.refs -= 1;
        if e.refs == 0 && id != ROOT {
            return self.objects.remove(&id).map(|e| e.obj);
        }
        None
    }

    /// One more reference to `id`, owned by process `link`.
    fn credit(&mut self, link: u64, id: u64) {
        let l = self.links.entry(link).or_default();
        if l.closed {
            return;
        }
        if let Some(e) = self.objects.get_mut(&id) {
            e.refs += 1;
            *l.refs.entry(id).or_default() += 1;
        }
    }

    /// An existing reference to `id` (in transit) becomes process `link`'s.
    fn transfer(&mut self, link: u64, id: u64) -> Option<Arc<Object>> {
        let l = self.links.entry(link).or_default();
        if l.closed {
            return self.decref(id);
        }
        if self.objects.contains_key(&id) {
            *l.refs.entry(id).or_default() += 1;
        }
        None
    }

    /// Process `link` gives back one reference to `id`.
    fn debit(&mut self, link: u64, id: u64) -> Option<Arc<Object>> {
        let l = self.links.get_mut(&link)?;
        let n = l.refs.get_mut(&id)?;
        *n -= 1;
        if *n == 0 {
            l.refs.remove(&id);
        }
        self.decref(id)
    }
}

/// A manager server: its objects and its connections.
pub(crate) struct Server {
    /// The server's random identity, which proxies carry.
    pub(crate) id: u64,
    table: Mutex<Table>,
    types: Registry,
    closing: AtomicBool,
    /// Duplicates of the open connections' sockets, to shut them down when closing.
    conns: Mutex<HashMap<u64, OwnedFd>>,
    next_conn: AtomicU64,
    stop: (Mutex<bool>, Condvar),
    wake: (OwnedFd, OwnedFd),
}

/// An operation's view of whether to give up waiting.
struct Caller<'a> {
    server: &'a Server,
    link: u64,
}

impl Abandon for Caller<'_> {
    fn abandoned(&self) -> bool {
        self.server.closing.load(Ordering::Relaxed)
            || self
                .server
                .table()
                .links
                .get(&self.link)
                .is_some_and(|l| l.closed)
    }
}

impl Server {
    pub(crate) fn new(types: Registry) -> std::io::Result<Arc<Server>> {
        let mut table = Table {
            next_id: ROOT + 1,
            ..Table::default()
        };
        table.objects.insert(
            ROOT,
            Entry {
                obj: Arc::new(Object::new(
                    Kind::create(Create::Namespace, &types)
                        .expect("namespace")
                        .0,
                )),
                refs: 1,
            },
        );
        Ok(Arc::new(Server {
            id: super::link::random_u64(),
            table: Mutex::new(table),
            types,
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
                    Ok(()) => server.serve(&conn),
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
                let _ = conn.send(&self.id);
            }
            Hello::Control { link } => {
                self.table().links.entry(link).or_default();
                while let Ok(msg) = conn.recv::<Control>() {
                    self.control(link, msg);
                }
                self.link_closed(link);
            }
            Hello::Calls { link } => self.serve_calls(conn, link),
        }
    }

    fn serve_calls(&self, conn: &Connection, link: u64) {
        loop {
            let call = match conn.recv::<Call>() {
                Ok(c) => c,
                Err(ConnError::Decode(e)) => {
                    let reply = Reply::Error(Failure::Invalid(format!("unreadable call: {e}")));
                    if conn.send(&reply).is_err() {
                        return;
                    }
                    continue;
                }
                Err(_) => return,
            };
            let stop = matches!(call, Call::Shutdown);
            let reply = self.call(link, call);
            if conn.send(&reply).is_err() && !stop {
                return;
            }
            if stop {
                self.request_stop();
            }
        }
    }

    fn call(&self, link: u64, call: Call) -> Reply {
        if self.closing.load(Ordering::Relaxed) {
            return Reply::Error(Failure::ShuttingDown);
        }
        match call {
            Call::Create(create) => match Kind::create(create, &self.types) {
                Ok((kind, hold)) => {
                    let mut t = self.table();
                    let id = t.next_id;
                    t.next_id += 1;
                    t.objects.insert(
                        id,
                        Entry {
                            obj: Arc::new(Object::new(kind)),
                            refs: 0,
                        },
                    );
                    t.credit(link, id);
                    for h in hold {
                        t.incref(h);
                    }
                    if t.objects.get(&id).is_some_and(|e| e.refs == 0) {
                        // The caller's process is gone: nobody will ever use it.
                        t.objects.remove(&id);
                    }
                    Reply::Created(id)
                }
                Err(f) => Reply::Error(f),
            },
            Call::Op { id, op } => {
                let Some(obj) = self.table().objects.get(&id).map(|e| e.obj.clone()) else {
                    return Reply::Error(Failure::NoSuchObject(id));
                };
                let mut fx = Effects::default();
                let caller = Caller { server: self, link };
                let (reply, mut guard) = obj.apply(id, op, &caller, &mut fx);
                if !fx.hold.is_empty() || !fx.credit.is_empty() || fx.locked_by {
                    let mut t = self.table();
                    for h in &fx.hold {
                        t.incref(*h);
                    }
                    for c in &fx.credit {
                        t.credit(link, *c);
                    }
                    if fx.locked_by {
                        let l = t.links.entry(link).or_default();
                        if l.closed {
                            // Its process died while it waited: let the lock go again.
                            if let Some(g) = guard.as_mut() {
                                g.kind.release_link(link);
                                obj.changed.notify_all();
                            }
                        } else {
                            l.locks.insert(id);
                        }
                    }
                }
                drop(guard);
                self.release(fx.release);
                reply
            }
            Call::Root => {
                self.table().credit(link, ROOT);
                Reply::Created(ROOT)
            }
            Call::ObjectCount => Reply::Count(self.object_count() as u64),
            Call::Ping | Call::Shutdown => Reply::Unit,
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
                    if !t.early.remove(&nonce) && t.incref(id) {
                        t.floating.insert(nonce, id);
                    }
                    None
                }
                Control::Claim { nonce, id } => match t.floating.remove(&nonce) {
                    Some(held) => t.transfer(link, held),
                    None => {
                        t.early.insert(nonce);
                        t.credit(link, id);
                        None
                    }
                },
            }
        };
        if let Some(obj) = dead {
            self.drain(obj);
        }
    }

    /// Releases stored references, and whatever objects that frees, transitively.
    fn release(&self, ids: Vec<u64>) {
        let mut work = ids;
        while !work.is_empty() {
            let dead: Vec<Arc<Object>> = {
                let mut t = self.table();
                work.drain(..).filter_map(|id| t.decref(id)).collect()
            };
            for obj in dead {
                work.extend(Self::kill(&obj));
            }
        }
    }

    fn drain(&self, obj: Arc<Object>) {
        let refs = Self::kill(&obj);
        self.release(refs);
    }

    /// Marks a dropped object dead, wakes its waiters, and returns the references it stored.
    fn kill(obj: &Object) -> Vec<u64> {
        let mut g = obj.lock();
        g.dead = true;
        let refs = g.kind.drain_refs();
        obj.changed.notify_all();
        refs
    }

    /// A client process's control connection closed: it held nothing any more.
    fn link_closed(&self, link: u64) {
        let (refs, locks) = {
            let mut t = self.table();
            let l = t.links.entry(link).or_default();
            l.closed = true;
            let refs = std::mem::take(&mut l.refs);
            let locks = std::mem::take(&mut l.locks);
            let locks: Vec<Arc<Object>> = locks
                .into_iter()
                .filter_map(|id| t.objects.get(&id).map(|e| e.obj.clone()))
                .collect();
            (refs, locks)
        };
        for obj in locks {
            let mut g = obj.lock();
            if g.kind.release_link(link) {
                log::info!(target: "multiproc", "manager: a process died holding a {}; released", g.kind.name());
                obj.changed.notify_all();
            }
        }
        let ids = refs
            .into_iter()
            .flat_map(|(id, n)| std::iter::repeat_n(id, n as usize))
            .collect();
        self.release(ids);
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

    /// Stops serving: every connection is shut down, every blocked operation gives up.
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

    const A: u64 = 1;
    const B: u64 = 2;

    fn server() -> Arc<Server> {
        let s = Server::new(Registry::default()).unwrap();
        for link in [A, B] {
            s.table().links.entry(link).or_default();
        }
        s
    }

    fn create(s: &Server, link: u64, c: Create) -> u64 {
        match s.call(link, Call::Create(c)) {
            Reply::Created(id) => id,
            other => panic!("{other:?}"),
        }
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
        assert!(s.table().floating.is_empty() && s.table().early.is_empty());
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
        let op = Op::Insert {
            key: Bytes(vec![0]),
            value,
            old: false,
        };
        assert!(matches!(s.call(A, Call::Op { id: outer, op }), Reply::Unit));
        s.control(A, Control::DecRef(inner));
        assert_eq!(s.object_count(), 3, "the dict holds the list");
        // A reply carrying the stored value credits the caller a reference.
        let Reply::Value(Some(p)) = s.call(
            B,
            Call::Op {
                id: outer,
                op: Op::Get(Bytes(vec![0])),
            },
        ) else {
            panic!("a value")
        };
        assert_eq!(p.refs, [inner]);
        s.control(A, Control::DecRef(outer));
        assert_eq!(s.object_count(), 2, "B's credit keeps the list");
        s.control(B, Control::DecRef(inner));
        assert_eq!(s.object_count(), 1);
    }

    #[test]
    fn a_closed_link_releases_its_references_and_locks() {
        let s = server();
        let lock = create(&s, B, Create::Lock);
        let _ = create(&s, B, Create::Dict);
        let owner = Owner { link: B, thread: 1 };
        let acquire = Op::Acquire {
            owner,
            wait: Wait::Now,
        };
        assert!(matches!(
            s.call(
                B,
                Call::Op {
                    id: lock,
                    op: acquire
                }
            ),
            Reply::Bool(true)
        ));
        s.control(A, Control::IncRef(lock));
        s.link_closed(B);
        assert_eq!(s.object_count(), 2, "A's lock remains, B's dict is gone");
        let locked = s.call(
            A,
            Call::Op {
                id: lock,
                op: Op::Locked,
            },
        );
        assert!(matches!(locked, Reply::Bool(false)), "{locked:?}");
        // Whatever a closed link is credited is dropped at once.
        let _ = create(&s, B, Create::Dict);
        assert_eq!(s.object_count(), 2);
    }
}
