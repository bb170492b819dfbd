//! Queues between real processes: bounds and timeouts, order, counts, joinable tasks, many
//! producers and consumers, and a consumer killed mid-stream.

mod common;

use common::{JoinWithin, STUCK};
use std::collections::HashSet;
use std::time::{Duration, Instant};

use multiproc::queue::{GetTimeoutError, PutError, PutTimeoutError, TryGetError, TryPutError};
use multiproc::{JoinableQueue, Process, Queue, SimpleQueue};
use serde::{Deserialize, Serialize, Serializer};

const LONG: Duration = Duration::from_secs(30);

#[test]
fn bounded_queue_full_fails_at_once_then_after_the_timeout() {
    let q = Queue::<u32>::bounded(6);
    for i in 0..6 {
        q.put(i).unwrap();
    }
    assert!(q.is_full());
    assert_eq!(q.capacity(), Some(6));
    let t0 = Instant::now();
    assert!(matches!(q.try_put(6), Err(TryPutError::Full(6))));
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    let t0 = Instant::now();
    let err = q.put_timeout(7, Duration::from_millis(100)).unwrap_err();
    let waited = t0.elapsed();
    assert!(matches!(err, PutTimeoutError::Timeout(7)));
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(q.get().unwrap(), 0);
    q.try_put(6).unwrap();
}

#[test]
fn empty_queue_get_fails_after_the_timeout() {
    let q = Queue::<String>::new();
    assert!(matches!(q.try_get(), Err(TryGetError::Empty)));
    let t0 = Instant::now();
    assert!(matches!(
        q.get_timeout(Duration::from_millis(100)),
        Err(GetTimeoutError::Timeout)
    ));
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[test]
fn qsize_goes_up_and_down() {
    let q = Queue::<u8>::new();
    let mut sizes = vec![q.len()];
    for v in [1, 2] {
        q.put(v).unwrap();
        sizes.push(q.len());
    }
    for _ in 0..2 {
        q.get().unwrap();
        sizes.push(q.len());
    }
    assert_eq!(sizes, [0, 1, 2, 1, 0]);
}

/// A value whose encoding fails.
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this value refuses to be encoded",
        ))
    }
}

impl<'de> Deserialize<'de> for Unencodable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unencodable)
    }
}

#[derive(Serialize, Deserialize)]
enum Item {
    Good(u32),
    Bad(Unencodable),
}

#[test]
fn unencodable_value_fails_at_put_and_the_queue_stays_usable() {
    let q = Queue::<Item>::new();
    q.put(Item::Good(1)).unwrap();
    match q.put(Item::Bad(Unencodable)) {
        Err(PutError::Encode { value, error }) => {
            assert!(matches!(value, Item::Bad(_)));
            assert!(error.type_name.ends_with("Item"), "{error}");
        }
        other => panic!("expected an encode error, got {:?}", other.map(|_| ())),
    }
    q.put(Item::Good(2)).unwrap();
    assert_eq!(q.len(), 2);
    assert!(matches!(q.get().unwrap(), Item::Good(1)));
    assert!(matches!(q.get().unwrap(), Item::Good(2)));
}

#[test]
fn use_after_close_is_an_error() {
    let q = SimpleQueue::<u8>::new();
    q.put(1).unwrap();
    q.close();
    assert!(matches!(q.put(2), Err(PutError::Closed(2))));
    assert!(matches!(q.try_get(), Err(TryGetError::Closed)));
}

fn produce(args: (Queue<u64>, u64, u64)) {
    let (q, from, n) = args;
    for i in from..from + n {
        q.put(i).unwrap();
    }
}

#[multiproc::test]
fn order_is_kept_from_one_producer() {
    let q = Queue::<u64>::new();
    let p = Process::new(produce, (q.clone(), 0, 20_000))
        .start()
        .unwrap();
    for i in 0..20_000 {
        assert_eq!(q.get_timeout(LONG).unwrap(), i);
    }
    p.join_within(STUCK).unwrap();
    assert!(q.is_empty());
}

fn put_and_exit(q: Queue<Vec<u8>>) {
    q.put(vec![42; 1 << 20]).unwrap();
    multiproc::exit(0);
}

#[multiproc::test]
fn value_put_just_before_exit_is_not_lost() {
    let q = Queue::<Vec<u8>>::new();
    let p = Process::new(put_and_exit, q.clone()).start().unwrap();
    assert_eq!(p.join_timeout(LONG), Some(0));
    let v = q.get_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(v.len(), 1 << 20);
    assert!(v.iter().all(|b| *b == 42));
}

fn fill_bounded(q: Queue<u32>) -> Duration {
    let t0 = Instant::now();
    for i in 0..10 {
        q.put(i).unwrap();
    }
    t0.elapsed()
}

#[multiproc::test]
fn bounded_put_waits_for_a_consumer_in_another_process() {
    let q = Queue::<u32>::bounded(2);
    let p = Process::new(fill_bounded, q.clone()).start().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(q.len() <= 2);
    for i in 0..10 {
        assert_eq!(q.get_timeout(LONG).unwrap(), i);
    }
    let blocked = p.join_within(STUCK).unwrap();
    assert!(blocked >= Duration::from_millis(150), "{blocked:?}");
}

fn joinable_worker(args: (JoinableQueue<Option<u32>>, Queue<u32>)) {
    let (tasks, results) = args;
    while let Some(n) = tasks.get().unwrap() {
        results.put(n * n).unwrap();
        tasks.task_done().unwrap();
    }
    tasks.task_done().unwrap();
}

#[multiproc::test]
fn joinable_queue_with_four_workers() {
    let tasks = JoinableQueue::<Option<u32>>::new();
    let results = Queue::<u32>::new();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            Process::new(joinable_worker, (tasks.clone(), results.clone()))
                .start()
                .unwrap()
        })
        .collect();
    for n in 0..100 {
        tasks.put(Some(n)).unwrap();
    }
    for _ in &workers {
        tasks.put(None).unwrap();
    }
    assert!(tasks.join_timeout(LONG), "tasks not done");
    assert_eq!(tasks.unfinished_tasks(), 0);
    let mut squares: Vec<u32> = (0..100).map(|_| results.try_get().unwrap()).collect();
    squares.sort_unstable();
    assert_eq!(squares, (0..100).map(|n| n * n).collect::<Vec<_>>());
    for w in workers {
        w.join_within(STUCK).unwrap();
    }
    assert!(tasks.task_done().is_err());
}

/// (producer, sequence) packed in one u64; `u64::MAX` stops a consumer.
const STOP: u64 = u64::MAX;

fn many_producer(args: (Queue<u64>, u64, u64)) {
    let (q, p, n) = args;
    for i in 0..n {
        q.put(p << 32 | i).unwrap();
    }
}

fn many_consumer(q: Queue<u64>) -> Vec<u64> {
    let mut got = Vec::new();
    loop {
        match q.get_timeout(LONG).unwrap() {
            STOP => return got,
            v => got.push(v),
        }
    }
}

#[multiproc::test]
fn eight_producers_eight_consumers_each_message_once() {
    const PER_PRODUCER: u64 = 100_000;
    let q = Queue::<u64>::new();
    let consumers: Vec<_> = (0..8)
        .map(|_| Process::new(many_consumer, q.clone()).start().unwrap())
        .collect();
    let producers: Vec<_> = (0..8)
        .map(|p| {
            Process::new(many_producer, (q.clone(), p, PER_PRODUCER))
                .start()
                .unwrap()
        })
        .collect();
    for p in producers {
        assert_eq!(p.join_timeout(LONG), Some(0));
    }
    for _ in 0..8 {
        q.put(STOP).unwrap();
    }
    let mut seen = HashSet::new();
    for c in consumers {
        for v in c.join_within(STUCK).unwrap() {
            assert!(seen.insert(v), "{v:#x} delivered twice");
        }
    }
    assert_eq!(seen.len() as u64, 8 * PER_PRODUCER);
    for p in 0..8u64 {
        for i in 0..PER_PRODUCER {
            assert!(seen.contains(&(p << 32 | i)));
        }
    }
}

/// Items with a body large enough that a consumer spends much of its time copying them out
/// (under the queue's consumer lock), where a kill hurts most.
type Bulky = (u64, multiproc::Bytes);

fn bulky_producer(args: (Queue<Bulky>, u64)) {
    let (q, n) = args;
    for i in 0..n {
        q.put((i, multiproc::Bytes(vec![i as u8; 16 << 10])))
            .unwrap();
    }
}

fn victim_consumer(args: (Queue<Bulky>, Queue<u64>)) {
    let (q, taken) = args;
    loop {
        let (i, _body) = q.get().unwrap();
        taken.put(i).unwrap();
    }
}

#[multiproc::test]
fn consumer_killed_mid_stream_does_not_wedge_the_queue() {
    const N: u64 = 5_000;
    let q = Queue::<Bulky>::new();
    let taken = Queue::<u64>::new();
    let victim = Process::new(victim_consumer, (q.clone(), taken.clone()))
        .start()
        .unwrap();
    let producer = Process::new(bulky_producer, (q.clone(), N))
        .start()
        .unwrap();
    // Let the victim take part of the stream, then kill it wherever it is.
    let t0 = Instant::now();
    while taken.len() < 100 && t0.elapsed() < LONG {
        std::thread::sleep(Duration::from_millis(1));
    }
    victim.kill().unwrap();
    assert_eq!(victim.join_timeout(LONG), Some(-9));
    assert_eq!(producer.join_timeout(LONG), Some(0));
    // The rest is still delivered, to us; only an item the victim had already taken (got but
    // not yet reported) can be gone.
    let mut seen: HashSet<u64> = HashSet::new();
    while let Ok(i) = taken.try_get() {
        seen.insert(i);
    }
    let by_victim = seen.len();
    while let Ok((i, body)) = q.get_timeout(Duration::from_millis(500)) {
        assert!(body.0.iter().all(|b| *b == i as u8));
        assert!(seen.insert(i), "{i} delivered twice");
    }
    let lost = N - seen.len() as u64;
    assert!(lost <= 1, "lost {lost} items (the victim took {by_victim})");
    // And the queue still works both ways.
    q.put((7, multiproc::Bytes(Vec::new()))).unwrap();
    assert_eq!(q.get_timeout(LONG).unwrap().0, 7);
}

fn simple_echo(args: (SimpleQueue<String>, SimpleQueue<String>)) {
    let (inbox, outbox) = args;
    let s = inbox.get().unwrap();
    outbox.put(s.to_uppercase()).unwrap();
}

#[multiproc::test]
fn simple_queues_pass_as_arguments() {
    let (a, b) = (SimpleQueue::<String>::new(), SimpleQueue::<String>::new());
    let p = Process::new(simple_echo, (a.clone(), b.clone()))
        .start()
        .unwrap();
    a.put("shout".into()).unwrap();
    assert_eq!(b.get().unwrap(), "SHOUT");
    p.join_within(STUCK).unwrap();
    assert!(a.is_empty() && b.is_empty());
}

/// Unlike Python, items may hold handles: a lock, an event, a connection and another queue
/// travel through a queue to another process, which uses them.
fn use_handles(
    q: Queue<(
        multiproc::Lock,
        multiproc::Event,
        multiproc::Connection,
        Queue<u32>,
    )>,
) -> bool {
    let (lock, event, conn, inner) = q.get_timeout(Duration::from_secs(30)).expect("an item");
    let held = lock.try_acquire().is_err(); // the parent holds it
    event.set();
    conn.send(&"through a queue".to_string()).expect("send");
    inner.put(7).expect("put");
    held
}

#[multiproc::test]
fn handles_travel_through_queues() {
    let q = Queue::new();
    let (lock, event, inner) = (
        multiproc::Lock::new(),
        multiproc::Event::new(),
        Queue::<u32>::new(),
    );
    let (here, there) = multiproc::pipe(true);
    let guard = lock.acquire().unwrap();
    let child = Process::new(use_handles, q.clone()).start().unwrap();
    q.put((lock.clone(), event.clone(), there, inner.clone()))
        .unwrap();
    assert!(event.wait_timeout(Duration::from_secs(30)));
    assert_eq!(
        here.recv_timeout::<String>(Duration::from_secs(30))
            .unwrap(),
        "through a queue"
    );
    assert_eq!(inner.get_timeout(Duration::from_secs(30)).unwrap(), 7);
    assert!(
        child.join_within(STUCK).unwrap(),
        "the child saw the lock held"
    );
    drop(guard);
}

/// Many items holding descriptors, interleaved with plain ones, from several producers:
/// each consumer gets the descriptors of the item it took.
fn put_files((q, n, tag): (Queue<(u32, Option<multiproc::Fd>)>, u32, u32)) {
    for i in 0..n {
        let item = if i % 3 == 0 {
            let mut f = tempfile::tempfile().unwrap();
            std::io::Write::write_all(&mut f, format!("{tag}:{i}").as_bytes()).unwrap();
            (tag * 1000 + i, Some(multiproc::Fd::from(f)))
        } else {
            (tag * 1000 + i, None)
        };
        q.put(item).unwrap();
    }
}

#[multiproc::test]
fn descriptors_follow_their_items() {
    use std::io::{Read, Seek};
    let q = Queue::new();
    let producers: Vec<_> = (1..=3)
        .map(|t| Process::new(put_files, (q.clone(), 60, t)).start().unwrap())
        .collect();
    for _ in 0..180 {
        let (id, fd) = q.get_timeout(Duration::from_secs(30)).unwrap();
        let (tag, i) = (id / 1000, id % 1000);
        assert_eq!(fd.is_some(), i % 3 == 0, "item {id}");
        if let Some(fd) = fd {
            let mut f = std::fs::File::from(fd);
            f.rewind().unwrap();
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            assert_eq!(s, format!("{tag}:{i}"));
        }
    }
    for p in producers {
        p.join_within(STUCK).unwrap();
    }
}
