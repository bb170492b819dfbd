//! Pipes and connections between real processes: typed and bytes messages, connections as
//! arguments and inside messages, `wait` over connections and sentinels, closed peers.

use std::time::{Duration, Instant};

use multiproc::connection::{Error, Waitable, pipe, wait};
use multiproc::{Connection, Process};

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
