//! Pipes and connections between real processes: typed and bytes messages, connections as
//! arguments and inside messages, `wait` over connections and sentinels, closed peers, one end
//! read by several processes, and what bad headers cost.

mod common;

use std::time::{Duration, Instant};

use common::JoinWithin;
use multiproc::connection::{Address, Client, Error, Listener, Waitable, pipe, wait};
use multiproc::{Connection, Event, HolderDied, Lock, Manager, Process, StartMethod};
use serde::{Deserialize, Serialize};

const LONG: Duration = Duration::from_secs(30);

fn echo_upper(conn: Connection) {
    while let Ok(s) = conn.recv::<String>() {
        conn.send(&s.to_uppercase()).unwrap();
    }
}

#[multiproc::test]
fn connection_travels_as_an_argument() {
    let _watchdog = common::watchdog();
    let (here, there) = pipe(true);
    let child = Process::new(echo_upper, there).start().unwrap();
    for word in ["one", "two", "three"] {
        here.send(word).unwrap();
        assert_eq!(
            here.recv_timeout::<String>(LONG).unwrap(),
            word.to_uppercase()
        );
    }
    drop(here);
    assert_eq!(child.wait_within(LONG), 0);
}

fn receive_a_connection(conn: Connection) -> u32 {
    let inner: Connection = conn.recv().unwrap();
    let n: u32 = inner.recv().unwrap();
    inner.send(&(n + 1)).unwrap();
    n
}

#[multiproc::test]
fn connection_travels_through_a_connection() {
    let _watchdog = common::watchdog();
    let (here, there) = pipe(true);
    let child = Process::new(receive_a_connection, there).start().unwrap();
    let (mine, theirs) = pipe(true);
    here.send(&theirs).unwrap();
    drop(theirs);
    mine.send(&41u32).unwrap();
    assert_eq!(mine.recv_timeout::<u32>(LONG).unwrap(), 42);
    assert_eq!(child.join_within(LONG).unwrap(), 41);
}

fn send_after(args: (Connection, u64)) {
    let (conn, ms) = args;
    std::thread::sleep(Duration::from_millis(ms));
    conn.send_bytes(format!("after {ms} ms").as_bytes())
        .unwrap();
}

#[multiproc::test]
fn wait_returns_the_ready_subset() {
    let _watchdog = common::watchdog();
    let mut readers = Vec::new();
    let mut children = Vec::new();
    for ms in [0u64, 500] {
        let (r, w) = pipe(false);
        children.push(Process::new(send_after, (w, ms)).start().unwrap());
        readers.push(r);
    }
    let ready = wait(&readers, Some(LONG)).unwrap();
    assert_eq!(ready.len(), 1);
    assert!(std::ptr::eq(ready[0], &readers[0]));
    assert_eq!(ready[0].recv_bytes().unwrap(), b"after 0 ms");
    // The other is not ready yet; the first is, for its end of stream, once its writer exits.
    assert!(
        wait(&readers[1..], Some(Duration::from_millis(50)))
            .unwrap()
            .is_empty()
    );
    let ready = wait(&readers[1..], Some(LONG)).unwrap();
    assert!(std::ptr::eq(ready[0], &readers[1]));
    assert_eq!(ready[0].recv_bytes().unwrap(), b"after 500 ms");
    children[0].wait_within(LONG);
    assert!(matches!(
        readers[0].try_recv_bytes(),
        Err(Error::Disconnected)
    ));
    for c in children {
        c.join_within(LONG).unwrap();
    }
}

fn nap(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[multiproc::test]
fn wait_mixes_connections_and_sentinels() {
    let _watchdog = common::watchdog();
    let (a, b) = pipe(true);
    let child = Process::new(nap, 100).start().unwrap();
    let objects: [&dyn Waitable; 2] = [&a, &child];
    let t0 = Instant::now();
    let ready = wait(objects, Some(LONG)).unwrap();
    assert_eq!(ready.len(), 1);
    assert!(std::ptr::addr_eq(ready[0], &child));
    assert!(t0.elapsed() >= Duration::from_millis(90));
    b.send(&1u8).unwrap();
    let sentinel = child.sentinel();
    let objects: [&dyn Waitable; 2] = [&a, &sentinel];
    assert_eq!(wait(objects, Some(Duration::ZERO)).unwrap().len(), 2);
    child.join_within(LONG).unwrap();
}

#[test]
fn wait_times_out_empty_handed() {
    let _watchdog = common::watchdog();
    let (a, _b) = pipe(true);
    let t0 = Instant::now();
    assert!(
        wait(&[&a], Some(Duration::from_millis(100)))
            .unwrap()
            .is_empty()
    );
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(100) && waited < Duration::from_secs(5));
}

fn send_and_exit(conn: Connection) {
    conn.send(&"last words").unwrap();
}

#[multiproc::test]
fn peer_that_exits_is_disconnected_after_its_last_message() {
    let _watchdog = common::watchdog();
    let (here, there) = pipe(true);
    let child = Process::new(send_and_exit, there).start().unwrap();
    assert_eq!(child.wait_within(LONG), 0);
    assert_eq!(here.recv_timeout::<String>(LONG).unwrap(), "last words");
    assert!(matches!(here.recv::<String>(), Err(Error::Disconnected)));
    assert!(matches!(here.send(&1u8), Err(Error::Disconnected)));
}

fn big_echo(conn: Connection) {
    let mut buf = vec![0u8; 8 << 20];
    let n = conn.recv_bytes_into(&mut buf, 0).unwrap();
    conn.send_bytes(&buf[..n]).unwrap();
}

#[multiproc::test]
fn large_bytes_messages_round_trip_between_processes() {
    let _watchdog = common::watchdog();
    let (here, there) = pipe(true);
    let child = Process::new(big_echo, there).start().unwrap();
    let msg: Vec<u8> = (0..6u32 << 20).map(|i| (i * 7) as u8).collect();
    here.send_bytes(&msg).unwrap();
    assert!(here.recv_bytes_timeout(LONG).unwrap() == msg);
    child.join_within(LONG).unwrap();
}

#[test]
fn one_way_pipe_refuses_the_wrong_direction() {
    let _watchdog = common::watchdog();
    let (r, w) = pipe(false);
    assert!(!r.writable() && r.readable() && w.writable() && !w.readable());
    assert!(matches!(r.send(&1u8), Err(Error::NotWritable)));
    assert!(matches!(w.recv::<u8>(), Err(Error::NotReadable)));
}

#[test]
fn max_frame_size_closes_the_connection_without_allocating() {
    let _watchdog = common::watchdog();
    let (a, mut b) = pipe(true);
    b.set_max_frame_size(1 << 10);
    a.send_bytes(&[0u8; 2048]).unwrap();
    match b.recv_bytes() {
        Err(Error::FrameTooLarge { size, max }) => assert_eq!((size, max), (2048, 1024)),
        other => panic!("{other:?}"),
    }
    // The connection is closed both ways.
    assert!(matches!(b.recv_bytes(), Err(Error::Broken(_))));
    assert!(matches!(
        a.recv_bytes_timeout(Duration::from_secs(5)),
        Err(Error::Disconnected)
    ));
}

// ----- one end shared by several processes (DESIGN.md decision 14) -----

fn receive_one_then_exit(conn: Connection) -> u64 {
    conn.recv_timeout::<u64>(LONG).unwrap()
}

fn poll_then_exit(conn: Connection) -> bool {
    conn.poll(LONG).unwrap()
}

/// The failure this pins: a receive (or a poll) read past its message into a buffer of its own
/// process, which died with that process, and the next reader waited for nothing.
fn a_reader_that_exits_takes_only_its_own_message(method: StartMethod) {
    let (reader, writer) = pipe(false);
    writer.send(&1u64).unwrap();
    writer.send(&2u64).unwrap();
    let first = Process::new(receive_one_then_exit, reader.try_clone().unwrap())
        .start_method(method)
        .start()
        .unwrap();
    assert_eq!(first.join_within(LONG).unwrap(), 1);
    // A poll reads nothing either.
    let poller = Process::new(poll_then_exit, reader.try_clone().unwrap())
        .start_method(method)
        .start()
        .unwrap();
    assert!(poller.join_within(LONG).unwrap());
    let second = Process::new(receive_one_then_exit, reader.try_clone().unwrap())
        .start_method(method)
        .start()
        .unwrap();
    assert_eq!(second.join_within(LONG).unwrap(), 2);
    // Nothing was duplicated: the end is empty now.
    assert!(matches!(reader.try_recv::<u64>(), Err(Error::Timeout)));
}

#[multiproc::test]
fn a_reader_that_exits_takes_only_its_own_message_forkserver() {
    let _watchdog = common::watchdog();
    a_reader_that_exits_takes_only_its_own_message(StartMethod::ForkServer);
}

#[multiproc::test]
fn a_reader_that_exits_takes_only_its_own_message_spawn() {
    let _watchdog = common::watchdog();
    a_reader_that_exits_takes_only_its_own_message(StartMethod::Spawn);
}

#[test]
fn a_reader_that_exits_takes_only_its_own_message_fork() {
    common::alone(
        "a_reader_that_exits_takes_only_its_own_message_fork",
        || {
            // SAFETY: this test runs alone in a process of its own (`common::alone`), whose only
            // other thread, the harness's main thread, waits for it and holds no lock.
            a_reader_that_exits_takes_only_its_own_message(unsafe { StartMethod::fork() });
        },
    );
}

/// How a reader receives.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
enum Receive {
    Typed,
    Bytes,
    BytesInto,
}

/// Message `id`'s payload: sizes from empty to larger than a socket's buffer.
fn payload(id: u64) -> Vec<u8> {
    if id == STOP {
        return Vec::new();
    }
    const SIZES: [usize; 7] = [0, 7, 100, 4000, 70_000, 150_000, 300_000];
    let len = SIZES[id as usize % SIZES.len()];
    (0..len).map(|i| (id as usize * 31 + i) as u8).collect()
}

#[derive(Serialize, Deserialize)]
struct Reader {
    conn: Connection,
    turn: Lock,
    how: Receive,
    /// Leave after this many messages (after a look with `poll`), while more are coming.
    leave_after: Option<usize>,
    /// Set by the reader that leaves once it has left; the others start reading then, so that
    /// the one that leaves always finds more coming (an unfair lock could otherwise let the
    /// others drain the stream before its last turn).
    left: Event,
}

/// The id of the message that tells a reader to stop. (Not the end of the stream: children
/// started with `fork` hold the writer's end too.)
const STOP: u64 = u64::MAX;

/// Receives in turns with the other readers until told to stop (or it is time to leave),
/// checking every payload, and returns the ids it got.
fn read_in_turns(r: Reader) -> Vec<u64> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 512 * 1024];
    if r.leave_after.is_none() {
        assert!(
            r.left.wait_timeout(LONG),
            "the reader that leaves never left"
        );
    }
    loop {
        let _turn = r.turn.acquire().unwrap_or_else(HolderDied::into_inner);
        if r.leave_after == Some(got.len()) {
            assert!(r.conn.poll(LONG).unwrap());
            r.left.set();
            return got;
        }
        let message = match r.how {
            Receive::Typed => r.conn.recv_timeout::<(u64, Vec<u8>)>(LONG),
            Receive::Bytes => r.conn.recv_bytes_timeout(LONG).map(split_id),
            Receive::BytesInto => r
                .conn
                .recv_bytes_into_timeout(&mut buf, 0, LONG)
                .map(|n| split_id(buf[..n].to_vec())),
        };
        match message {
            Ok((STOP, _)) => return got,
            Ok((id, body)) => {
                assert!(body == payload(id), "message {id} came back damaged");
                got.push(id);
            }
            Err(e) => panic!("reader {}: {e}", multiproc::current_process().name()),
        }
    }
}

fn split_id(mut m: Vec<u8>) -> (u64, Vec<u8>) {
    let body = m.split_off(8);
    (u64::from_le_bytes(m.try_into().unwrap()), body)
}

/// Three processes read one end while the writer writes: one reads a few messages, looks at the
/// next with `poll` and leaves, then the other two read the rest in turns. Every message is
/// received once, whole.
fn three_readers_lose_and_duplicate_nothing(method: StartMethod, how: Receive) {
    const N: u64 = 120;
    let (reader, writer) = pipe(false);
    let turn = Lock::new();
    let left = Event::new();
    let readers: Vec<_> = [Some(5), None, None]
        .into_iter()
        .map(|leave_after| {
            let r = Reader {
                conn: reader.try_clone().unwrap(),
                turn: turn.clone(),
                how,
                leave_after,
                left: left.clone(),
            };
            Process::new(read_in_turns, r)
                .start_method(method)
                .start()
                .unwrap()
        })
        .collect();
    drop(reader);
    // Two readers stay to the end.
    for id in (0..N).chain([STOP, STOP]) {
        match how {
            Receive::Typed => writer.send(&(id, payload(id))).unwrap(),
            Receive::Bytes | Receive::BytesInto => {
                writer
                    .send_bytes(&[&id.to_le_bytes()[..], &payload(id)].concat())
                    .unwrap();
            }
        }
    }
    drop(writer);
    let mut all = Vec::new();
    for (k, h) in readers.into_iter().enumerate() {
        let got = h.join_within(LONG).unwrap();
        if k == 0 {
            assert_eq!(got.len(), 5, "the reader that leaves took {got:?}");
        }
        all.extend(got);
    }
    all.sort_unstable();
    assert_eq!(all, (0..N).collect::<Vec<_>>());
}

#[multiproc::test]
fn three_readers_lose_and_duplicate_nothing_typed_forkserver() {
    let _watchdog = common::watchdog();
    three_readers_lose_and_duplicate_nothing(StartMethod::ForkServer, Receive::Typed);
}

#[multiproc::test]
fn three_readers_lose_and_duplicate_nothing_bytes_spawn() {
    let _watchdog = common::watchdog();
    three_readers_lose_and_duplicate_nothing(StartMethod::Spawn, Receive::Bytes);
}

#[test]
fn three_readers_lose_and_duplicate_nothing_bytes_into_fork() {
    common::alone(
        "three_readers_lose_and_duplicate_nothing_bytes_into_fork",
        || {
            // SAFETY: as in `a_reader_that_exits_takes_only_its_own_message_fork`.
            three_readers_lose_and_duplicate_nothing(
                unsafe { StartMethod::fork() },
                Receive::BytesInto,
            );
        },
    );
}

// ----- what a header costs: memory grows with the bytes that arrive -----

/// The peak resident memory of process `pid` ("self" for this one), in KiB.
fn peak_rss_kib(pid: &str) -> u64 {
    let v = common::proc_status_field(pid, "VmHWM");
    v.trim_end_matches("kB").trim().parse().unwrap()
}

/// Growth of peak memory that a receive may cost for the few megabytes these tests send (the
/// failures they pin committed the gigabytes the header announced).
const GROWTH_KIB: u64 = 48 << 10;

/// Bytes sent after a huge header, before the sender hangs up.
const SENT: usize = 3 << 20;

/// A header announcing 2 GiB - 1 bytes, and one (the long form) announcing 4 GiB.
const HUGE_HEADERS: [&[u8]; 2] = [
    &[0x7f, 0xff, 0xff, 0xff],
    &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 0],
];

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
enum ReceivePath {
    Typed,
    Bytes,
    BytesInto,
    Poll,
}

/// Receives once by `path`, and reports the outcome and how much the peak memory grew.
fn receive_under_a_huge_header((conn, path): (Connection, ReceivePath)) -> (String, u64) {
    let before = peak_rss_kib("self");
    let outcome = match path {
        ReceivePath::Typed => format!("{:?}", conn.recv_timeout::<Vec<u8>>(LONG).map(|v| v.len())),
        ReceivePath::Bytes => format!("{:?}", conn.recv_bytes_timeout(LONG).map(|v| v.len())),
        ReceivePath::BytesInto => {
            let mut buf = [0u8; 4096];
            format!("{:?}", conn.recv_bytes_into_timeout(&mut buf, 0, LONG))
        }
        ReceivePath::Poll => format!("{:?}", conn.poll(LONG)),
    };
    (outcome, peak_rss_kib("self").saturating_sub(before))
}

/// Writes `bytes` raw on `conn`'s socket, then hangs up; a receiver that refused the stream
/// makes the writes fail, which is fine.
fn send_raw_and_hang_up(conn: Connection, bytes: &[&[u8]]) {
    use std::io::Write;
    let mut raw = std::fs::File::from(
        std::os::fd::AsFd::as_fd(&conn)
            .try_clone_to_owned()
            .unwrap(),
    );
    drop(conn);
    for b in bytes {
        if raw.write_all(b).is_err() {
            return;
        }
    }
}

#[multiproc::test]
fn huge_headers_cost_only_the_bytes_that_arrive_on_every_receive_path() {
    let _watchdog = common::watchdog();
    let filler = vec![0x5au8; SENT];
    for header in HUGE_HEADERS {
        for path in [
            ReceivePath::Typed,
            ReceivePath::Bytes,
            ReceivePath::BytesInto,
            ReceivePath::Poll,
        ] {
            let (here, mut there) = pipe(true);
            there.set_max_frame_size(u64::MAX);
            let child = Process::new(receive_under_a_huge_header, (there, path))
                .start()
                .unwrap();
            // A poll reads nothing, so the socket takes only what its buffer holds.
            let sent = if matches!(path, ReceivePath::Poll) {
                100_000
            } else {
                SENT
            };
            send_raw_and_hang_up(here, &[header, &filler[..sent]]);
            let (outcome, growth) = child.join_within(LONG).unwrap();
            let expected = match path {
                ReceivePath::Poll => "Ok(true)",
                _ => "Err(Truncated)",
            };
            assert_eq!(outcome, expected, "{path:?} after {header:?}");
            assert!(
                growth < GROWTH_KIB,
                "{path:?} after {header:?}: peak memory grew by {growth} KiB"
            );
        }
    }
}

#[multiproc::test]
fn headers_over_the_limit_are_refused_before_any_memory_on_every_receive_path() {
    let _watchdog = common::watchdog();
    for path in [
        ReceivePath::Typed,
        ReceivePath::Bytes,
        ReceivePath::BytesInto,
    ] {
        let (here, there) = pipe(true);
        assert_eq!(
            there.max_frame_size(),
            multiproc::connection::DEFAULT_MAX_FRAME
        );
        let child = Process::new(receive_under_a_huge_header, (there, path))
            .start()
            .unwrap();
        // 8 GiB.
        send_raw_and_hang_up(
            here,
            &[&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 0, 0, 0, 0], &[1]],
        );
        let (outcome, growth) = child.join_within(LONG).unwrap();
        assert!(
            outcome.starts_with("Err(FrameTooLarge"),
            "{path:?}: {outcome}"
        );
        assert!(
            growth < GROWTH_KIB,
            "{path:?}: peak memory grew by {growth} KiB"
        );
    }
}

/// A fresh abstract socket address.
fn abstract_address(what: &str) -> Address {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Address::Abstract(format!("multiproc-test-{what}-{}-{n}", std::process::id()).into_bytes())
}

fn connect_raw(address: &Address) -> std::os::unix::net::UnixStream {
    use std::os::linux::net::SocketAddrExt;
    let Address::Abstract(name) = address else {
        panic!("{address}")
    };
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).unwrap();
    std::os::unix::net::UnixStream::connect_addr(&addr).unwrap()
}

/// Listens with an authkey, says so on `ready`, and accepts one client.
fn accept_under_a_huge_header((ready, address): (Connection, Address)) -> (String, u64) {
    let listener = Listener::builder(address).authkey(b"key").bind().unwrap();
    ready.send(&()).unwrap();
    let before = peak_rss_kib("self");
    let outcome = format!("{:?}", listener.accept_timeout(LONG).map(drop));
    (outcome, peak_rss_kib("self").saturating_sub(before))
}

/// Connects with an authkey to `address`.
fn connect_under_a_huge_header(address: Address) -> (String, u64) {
    let before = peak_rss_kib("self");
    let outcome = format!(
        "{:?}",
        Client::new(address)
            .authkey(b"key")
            .connect_timeout(LONG)
            .map(drop)
    );
    (outcome, peak_rss_kib("self").saturating_sub(before))
}

#[multiproc::test]
fn huge_headers_in_the_handshake_are_refused_on_both_sides() {
    let _watchdog = common::watchdog();
    use std::io::{Read, Write};
    let filler = vec![0u8; SENT];
    for header in HUGE_HEADERS {
        // Our listener, and a client that answers the challenge with a huge header.
        let address = abstract_address("handshake");
        let (ready, there) = pipe(true);
        let server = Process::new(accept_under_a_huge_header, (there, address.clone()))
            .start()
            .unwrap();
        ready.recv_timeout::<()>(LONG).unwrap();
        let mut raw = connect_raw(&address);
        let mut len = [0u8; 4];
        raw.read_exact(&mut len).unwrap();
        let mut challenge = vec![0u8; u32::from_be_bytes(len) as usize];
        raw.read_exact(&mut challenge).unwrap();
        assert!(challenge.starts_with(b"#CHALLENGE#"));
        let _ = raw.write_all(header).and_then(|()| raw.write_all(&filler));
        drop(raw);
        let (outcome, growth) = server.join_within(LONG).unwrap();
        assert!(outcome.contains("Authentication"), "{outcome}");
        assert!(
            growth < GROWTH_KIB,
            "listener: peak memory grew by {growth} KiB"
        );

        // Our client, and a listener that challenges with a huge header.
        let address = abstract_address("handshake");
        let raw_listener = {
            use std::os::linux::net::SocketAddrExt;
            let Address::Abstract(name) = &address else {
                unreachable!()
            };
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).unwrap();
            std::os::unix::net::UnixListener::bind_addr(&addr).unwrap()
        };
        let client = Process::new(connect_under_a_huge_header, address)
            .start()
            .unwrap();
        let (mut raw, _) = raw_listener.accept().unwrap();
        let _ = raw.write_all(header).and_then(|()| raw.write_all(&filler));
        drop(raw);
        let (outcome, growth) = client.join_within(LONG).unwrap();
        assert!(outcome.contains("Authentication"), "{outcome}");
        assert!(
            growth < GROWTH_KIB,
            "client: peak memory grew by {growth} KiB"
        );
    }
}

/// The failure this pins: after a correct handshake, a 4-byte header made a manager server
/// commit the gigabyte it announced, on each connection.
#[multiproc::test]
fn a_huge_header_costs_a_manager_server_only_the_bytes_that_arrive() {
    let _watchdog = common::watchdog();
    let manager = Manager::start().unwrap();
    let pid = manager.pid().unwrap().to_string();
    let before = peak_rss_kib(&pid);
    let conn = Client::new(manager.address().clone())
        .authkey(multiproc::authkey())
        .connect_timeout(LONG)
        .unwrap();
    // 1 GiB - 1 bytes announced, 3 MiB sent. The writes return once the server has read
    // nearly all of it.
    send_raw_and_hang_up(conn, &[&[0x3f, 0xff, 0xff, 0xff], &vec![0u8; SENT]]);
    let growth = peak_rss_kib(&pid).saturating_sub(before);
    assert!(
        growth < GROWTH_KIB,
        "the server's peak memory grew by {growth} KiB"
    );
    // It still serves.
    let list = manager.list::<u32>().unwrap();
    list.push(7).unwrap();
    assert_eq!(list.len().unwrap(), 1);
    manager.shutdown().unwrap();
}
