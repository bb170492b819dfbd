//! Pipes and connections between real processes: typed and bytes messages, connections as
//! arguments and inside messages, `wait` over connections and sentinels, closed peers, one end
//! read by several processes, and what bad headers cost.

use std::time::{Duration, Instant};

use multiproc::connection::{Error, Waitable, pipe, wait};
use multiproc::{Connection, HolderDied, Lock, Process, StartMethod};
use serde::{Deserialize, Serialize};

const LONG: Duration = Duration::from_secs(30);

fn echo_upper(conn: Connection) {
    while let Ok(s) = conn.recv::<String>() {
        conn.send(&s.to_uppercase()).unwrap();
    }
}

#[multiproc::test]
fn connection_travels_as_an_argument() {
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
    assert_eq!(child.join_timeout(LONG), Some(0));
}

fn receive_a_connection(conn: Connection) -> u32 {
    let inner: Connection = conn.recv().unwrap();
    let n: u32 = inner.recv().unwrap();
    inner.send(&(n + 1)).unwrap();
    n
}

#[multiproc::test]
fn connection_travels_through_a_connection() {
    let (here, there) = pipe(true);
    let child = Process::new(receive_a_connection, there).start().unwrap();
    let (mine, theirs) = pipe(true);
    here.send(&theirs).unwrap();
    drop(theirs);
    mine.send(&41u32).unwrap();
    assert_eq!(mine.recv_timeout::<u32>(LONG).unwrap(), 42);
    assert_eq!(child.join().unwrap(), 41);
}

fn send_after(args: (Connection, u64)) {
    let (conn, ms) = args;
    std::thread::sleep(Duration::from_millis(ms));
    conn.send_bytes(format!("after {ms} ms").as_bytes())
        .unwrap();
}

#[multiproc::test]
fn wait_returns_the_ready_subset() {
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
    assert!(children[0].join_timeout(LONG).is_some());
    assert!(matches!(
        readers[0].try_recv_bytes(),
        Err(Error::Disconnected)
    ));
    for c in children {
        c.join().unwrap();
    }
}

fn nap(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[multiproc::test]
fn wait_mixes_connections_and_sentinels() {
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
    child.join().unwrap();
}

#[test]
fn wait_times_out_empty_handed() {
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
    let (here, there) = pipe(true);
    let child = Process::new(send_and_exit, there).start().unwrap();
    assert_eq!(child.join_timeout(LONG), Some(0));
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
    let (here, there) = pipe(true);
    let child = Process::new(big_echo, there).start().unwrap();
    let msg: Vec<u8> = (0..6u32 << 20).map(|i| (i * 7) as u8).collect();
    here.send_bytes(&msg).unwrap();
    assert!(here.recv_bytes_timeout(LONG).unwrap() == msg);
    child.join().unwrap();
}

#[test]
fn one_way_pipe_refuses_the_wrong_direction() {
    let (r, w) = pipe(false);
    assert!(!r.writable() && r.readable() && w.writable() && !w.readable());
    assert!(matches!(r.send(&1u8), Err(Error::NotWritable)));
    assert!(matches!(w.recv::<u8>(), Err(Error::NotReadable)));
}

#[test]
fn max_frame_size_closes_the_connection_without_allocating() {
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
    assert_eq!(first.join().unwrap(), 1);
    // A poll reads nothing either.
    let poller = Process::new(poll_then_exit, reader.try_clone().unwrap())
        .start_method(method)
        .start()
        .unwrap();
    assert!(poller.join().unwrap());
    let second = Process::new(receive_one_then_exit, reader.try_clone().unwrap())
        .start_method(method)
        .start()
        .unwrap();
    assert_eq!(second.join().unwrap(), 2);
    // Nothing was duplicated: the end is empty now.
    assert!(matches!(reader.try_recv::<u64>(), Err(Error::Timeout)));
}

#[multiproc::test]
fn a_reader_that_exits_takes_only_its_own_message_forkserver() {
    a_reader_that_exits_takes_only_its_own_message(StartMethod::ForkServer);
}

#[multiproc::test]
fn a_reader_that_exits_takes_only_its_own_message_spawn() {
    a_reader_that_exits_takes_only_its_own_message(StartMethod::Spawn);
}

#[multiproc::test]
fn a_reader_that_exits_takes_only_its_own_message_fork() {
    // SAFETY: `#[multiproc::test]` runs this test alone in a fresh process; no other thread
    // holds a lock the child needs (it runs the bootstrap, then a receive).
    a_reader_that_exits_takes_only_its_own_message(unsafe { StartMethod::fork() });
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
}

/// The id of the message that tells a reader to stop. (Not the end of the stream: children
/// started with `fork` hold the writer's end too.)
const STOP: u64 = u64::MAX;

/// Receives in turns with the other readers until told to stop (or it is time to leave),
/// checking every payload, and returns the ids it got.
fn read_in_turns(r: Reader) -> Vec<u64> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 512 * 1024];
    loop {
        let _turn = r.turn.acquire().unwrap_or_else(HolderDied::into_inner);
        if r.leave_after == Some(got.len()) {
            assert!(r.conn.poll(LONG).unwrap());
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

/// Three processes read one end in turns while the writer writes; one leaves part way. Every
/// message is received once, whole.
fn three_readers_lose_and_duplicate_nothing(method: StartMethod, how: Receive) {
    const N: u64 = 120;
    let (reader, writer) = pipe(false);
    let turn = Lock::new();
    let readers: Vec<_> = [Some(5), None, None]
        .into_iter()
        .map(|leave_after| {
            let r = Reader {
                conn: reader.try_clone().unwrap(),
                turn: turn.clone(),
                how,
                leave_after,
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
        assert!(h.join_timeout(LONG).is_some(), "reader {k} is stuck");
        let got = h.join().unwrap();
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
    three_readers_lose_and_duplicate_nothing(StartMethod::ForkServer, Receive::Typed);
}

#[multiproc::test]
fn three_readers_lose_and_duplicate_nothing_bytes_spawn() {
    three_readers_lose_and_duplicate_nothing(StartMethod::Spawn, Receive::Bytes);
}

#[multiproc::test]
fn three_readers_lose_and_duplicate_nothing_bytes_into_fork() {
    // SAFETY: as in `a_reader_that_exits_takes_only_its_own_message_fork`.
    three_readers_lose_and_duplicate_nothing(unsafe { StartMethod::fork() }, Receive::BytesInto);
}
