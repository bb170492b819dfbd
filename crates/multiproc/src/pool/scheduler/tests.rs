//! The scheduler's rules, with mock workers and a clock the tests move by hand.

use std::collections::HashMap;
use std::sync::mpsc::Receiver;

use super::*;
use crate::codec::{self, Bytes};
use crate::pool::job::tests::{job_of, values};
use crate::pool::task::ItemReply;

/// A worker that does nothing by itself: the test claims, runs and answers for it.
#[derive(Debug, Default)]
struct Mock {
    name: String,
    board: HashMap<u32, Fate>,
    /// Sequence numbers sent to it, in order, with their task counts.
    sent: Vec<(u32, usize)>,
    killed: bool,
    refuse_encoding: bool,
}

impl Worker for Mock {
    fn send(&mut self, seq: u32, job: &Job) -> Result<(), SendError> {
        if self.refuse_encoding {
            return Err(SendError::Encode("cannot encode".into()));
        }
        self.board.insert(seq, Fate::Queued);
        self.sent.push((seq, job.n));
        Ok(())
    }

    fn revoke(&mut self, seq: u32) -> bool {
        if self.board.get(&seq) == Some(&Fate::Queued) {
            self.board.insert(seq, Fate::Revoked);
            true
        } else {
            false
        }
    }

    fn fate(&self, seq: u32) -> Fate {
        self.board.get(&seq).copied().unwrap_or(Fate::Unknown)
    }

    fn kill(&mut self) {
        self.killed = true;
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[derive(Debug, Default)]
struct MockSpawn {
    spawned: usize,
    fail: bool,
}

impl Spawn for MockSpawn {
    type Worker = Mock;
    type Error = String;

    fn spawn(&mut self) -> Result<Mock, String> {
        if self.fail {
            return Err("no more processes".into());
        }
        self.spawned += 1;
        Ok(Mock {
            name: format!("PoolWorker-{}", self.spawned),
            ..Mock::default()
        })
    }
}

type Sched = Scheduler<MockSpawn>;

fn t(ms: u64) -> Instant {
    thread_local! { static T0: Instant = Instant::now(); }
    T0.with(|t0| *t0 + Duration::from_millis(ms))
}

fn config(size: usize) -> Config {
    Config {
        size,
        max_tasks: None,
        initializer: false,
    }
}

/// A scheduler of `size` workers that all said `Ready` at time 0.
fn ready(size: usize) -> Sched {
    let mut s = Sched::new(MockSpawn::default(), config(size), t(0)).unwrap();
    for i in 0..size {
        s.message(i, FromWorker::Ready, t(0));
    }
    s
}

fn mock(s: &Sched, i: usize) -> &Mock {
    &s.slots[i].worker
}

fn mock_mut(s: &mut Sched, i: usize) -> &mut Mock {
    &mut s.slots[i].worker
}

/// The sequence numbers sent to worker `i`.
fn seqs(s: &Sched, i: usize) -> Vec<u32> {
    mock(s, i).sent.iter().map(|&(q, _)| q).collect()
}

fn claim(s: &mut Sched, i: usize, seq: u32) {
    let w = mock_mut(s, i);
    assert_eq!(w.board.get(&seq), Some(&Fate::Queued), "seq {seq} on {i}");
    w.board.insert(seq, Fate::Running(0));
}

fn set_fate(s: &mut Sched, i: usize, seq: u32, fate: Fate) {
    mock_mut(s, i).board.insert(seq, fate);
}

fn encoded(vs: &[u32]) -> Bytes {
    Bytes(codec::encode(vs).unwrap().bytes)
}

/// Worker `i` runs chunk `seq` (claims it) and answers it with `vs`.
fn answer(s: &mut Sched, i: usize, seq: u32, vs: &[u32], now: Instant) {
    if mock(s, i).fate(seq) == Fate::Queued {
        claim(s, i, seq);
    }
    set_fate(s, i, seq, Fate::Done);
    let reply = ChunkReply::Values {
        bytes: encoded(vs),
        fds: Vec::new(),
    };
    s.message(i, FromWorker::Done { seq, reply }, now);
}

/// A worker's report of a task that returned `v`.
fn ok_item(v: u32) -> ItemReply {
    Ok((Bytes(codec::encode(&v).unwrap().bytes), Vec::new()))
}

fn item_msg(seq: u32, index: u32, v: u32) -> FromWorker {
    FromWorker::Item {
        seq,
        index,
        result: ok_item(v),
    }
}

fn submit(s: &mut Sched, items: &[u32], timeout: Option<Duration>) -> Receiver<Outcome> {
    let (job, rx) = job_of(items, timeout);
    s.submit(job);
    rx
}

fn outcome(rx: &Receiver<Outcome>, n: usize) -> Vec<Result<u32, TaskError>> {
    values(rx.try_recv().expect("the job is settled"), n)
}

#[test]
fn an_idle_worker_is_chosen_first() {
    let mut s = ready(3);
    let _a = submit(&mut s, &[1], None);
    s.dispatch(t(1));
    claim(&mut s, 0, 0);
    let _b = submit(&mut s, &[2], None);
    let _c = submit(&mut s, &[3], None);
    s.dispatch(t(2));
    assert_eq!(
        [seqs(&s, 0).len(), seqs(&s, 1).len(), seqs(&s, 2).len()],
        [1, 1, 1]
    );
}

#[test]
fn pipelining_stops_at_the_limits() {
    let mut s = ready(1);
    let rxs: Vec<_> = (0..40).map(|i| submit(&mut s, &[i], None)).collect();
    s.dispatch(t(1));
    assert_eq!(seqs(&s, 0).len(), MAX_IN_FLIGHT);
    // Answers make room, in order.
    answer(&mut s, 0, 0, &[0], t(2));
    s.dispatch(t(2));
    assert_eq!(seqs(&s, 0).len(), MAX_IN_FLIGHT + 1);
    assert_eq!(outcome(&rxs[0], 1), [Ok(0)]);

    // Big chunks: one at a time beyond the first, within the byte budget.
    let mut s = ready(1);
    let big: Vec<u32> = (0..20_000).collect();
    let _r: Vec<_> = (0..4).map(|_| submit(&mut s, &big, None)).collect();
    s.dispatch(t(1));
    let len = s.slots[0].sent[0].len;
    assert!(len > MAX_QUEUED_BYTES / 2, "{len}");
    assert_eq!(seqs(&s, 0).len(), 1 + MAX_QUEUED_BYTES / len);
}

/// The head-of-line case: a slow task, then quick ones, on two workers.
#[test]
fn quick_tasks_do_not_wait_behind_a_slow_one() {
    let mut s = ready(2);
    let slow = submit(&mut s, &[1000], None);
    s.dispatch(t(1));
    assert_eq!(seqs(&s, 0), [0]);
    claim(&mut s, 0, 0);
    let quick: Vec<_> = (0..12).map(|i| submit(&mut s, &[i], None)).collect();
    s.dispatch(t(2));
    // Some went behind the slow task (pipelining), some to the other worker.
    assert!(seqs(&s, 0).len() > 1);
    // Worker 1 answers everything it gets, as fast as it can; worker 0 stays in its task.
    // When worker 1 is free, the scheduler says when to look again, and the clock goes there.
    let mut now = t(3);
    for _ in 0..100 {
        let mine: Vec<u32> = s.slots[1]
            .sent
            .iter()
            .filter(|c| c.live())
            .map(|c| c.seq)
            .collect();
        if mine.is_empty() {
            match s.steal_check(now) {
                Some(at) => {
                    assert!(at > now && at <= now + STALLED_AFTER, "{at:?}");
                    now = at;
                    s.dispatch(now);
                    continue;
                }
                None => break,
            }
        }
        for seq in mine {
            answer(&mut s, 1, seq, &[7], now);
        }
        now += Duration::from_millis(1);
        s.dispatch(now);
    }
    assert!(now < t(100), "the quick tasks moved soon");
    for (i, rx) in quick.iter().enumerate() {
        assert_eq!(outcome(rx, 1), [Ok(7)], "quick task {i} waited");
    }
    assert!(slow.try_recv().is_err(), "the slow task still runs");
    // What worker 0 held and did not start was taken back from it.
    let taken_back = s.slots[0].sent.iter().filter(|c| !c.live()).count();
    assert_eq!(taken_back, seqs(&s, 0).len() - 1);
    // It answers the slow task, then skips the others when it gets to them.
    answer(&mut s, 0, 0, &[1000], now);
    assert_eq!(outcome(&slow, 1), [Ok(1000)]);
    for seq in seqs(&s, 0).into_iter().skip(1) {
        assert_eq!(mock(&s, 0).fate(seq), Fate::Revoked);
        s.message(0, FromWorker::Skipped { seq }, now);
    }
    assert!(!mock(&s, 0).killed);
    for (i, sl) in s.slots.iter().enumerate() {
        let left: Vec<(u32, bool)> = sl.sent.iter().map(|c| (c.seq, c.live())).collect();
        assert!(left.is_empty(), "worker {i} still holds {left:?}");
    }
}

/// While there is more work than free room, a worker silent in a long task is the last to get
/// more.
#[test]
fn a_busy_worker_gets_work_only_when_the_others_are_full() {
    let mut s = ready(2);
    let _slow = submit(&mut s, &[0], None);
    s.dispatch(t(0));
    claim(&mut s, 0, 0);
    let _rxs: Vec<_> = (0..(MAX_IN_FLIGHT as u32 + 3))
        .map(|i| submit(&mut s, &[i], None))
        .collect();
    s.dispatch(t(10));
    assert_eq!(seqs(&s, 1).len(), MAX_IN_FLIGHT);
    assert_eq!(seqs(&s, 0).len(), 1 + 3);
}

/// A stopped worker (SIGSTOP) never claims what it holds: all of it moves at once.
#[test]
fn a_stopped_worker_loses_everything_it_has_not_started() {
    let mut s = ready(2);
    let rxs: Vec<_> = (0..10).map(|i| submit(&mut s, &[i], None)).collect();
    s.dispatch(t(1));
    let held = seqs(&s, 0).len();
    assert!(held >= 4, "{held}");
    // Worker 1 answers its own share; worker 0 is silent for longer than the stall bound.
    let later = 1 + STALLED_AFTER.as_millis() as u64 + 5;
    for seq in seqs(&s, 1) {
        answer(&mut s, 1, seq, &[5], t(later));
    }
    s.dispatch(t(later));
    assert!(
        s.slots[0].sent.iter().all(|c| !c.live()),
        "everything moved"
    );
    let moved: Vec<u32> = s.slots[1].sent.iter().map(|c| c.seq).collect();
    assert_eq!(moved.len(), held);
    for seq in moved {
        answer(&mut s, 1, seq, &[5], t(later + 1));
    }
    for rx in &rxs {
        assert_eq!(outcome(rx, 1), [Ok(5)]);
    }
}

/// A worker that answers steadily keeps what is queued to it; the scheduler only plans a look.
#[test]
fn a_worker_that_makes_progress_keeps_its_pipeline() {
    let mut s = ready(2);
    let _rxs: Vec<_> = (0..10).map(|i| submit(&mut s, &[i], None)).collect();
    s.dispatch(t(0));
    claim(&mut s, 0, 0);
    for seq in seqs(&s, 1) {
        answer(&mut s, 1, seq, &[1], t(2));
    }
    answer(&mut s, 0, 0, &[1], t(2));
    s.dispatch(t(3));
    assert_eq!(s.slots[1].sent.len(), 0, "nothing moved to the free worker");
    assert_eq!(s.steal_check(t(3)), Some(t(2) + BUSY_AFTER));
    // Silent past that, half of what waits behind its running chunk moves.
    claim(&mut s, 0, 1);
    let waiting = s.slots[0].live() - 1;
    s.dispatch(t(2) + BUSY_AFTER);
    assert_eq!(s.slots[1].live(), waiting.div_ceil(2));
    // Nothing more to look for once everything it holds is claimed and it is stalled.
    for c in s.slots[0]
        .sent
        .iter()
        .filter(|c| c.live())
        .map(|c| c.seq)
        .collect::<Vec<_>>()
    {
        if mock(&s, 0).fate(c) == Fate::Queued {
            claim(&mut s, 0, c);
        }
    }
    for seq in s.slots[1].sent.iter().map(|c| c.seq).collect::<Vec<_>>() {
        answer(&mut s, 1, seq, &[1], t(40));
    }
    s.dispatch(t(40));
    assert_eq!(s.steal_check(t(40)), None);
}

#[test]
fn a_claimed_chunk_is_never_taken_back() {
    let mut s = ready(2);
    let _rxs: Vec<_> = (0..6).map(|i| submit(&mut s, &[i], None)).collect();
    s.dispatch(t(1));
    // Worker 0 claims everything it holds just before worker 1 is free.
    for seq in seqs(&s, 0) {
        claim(&mut s, 0, seq);
    }
    for seq in seqs(&s, 1) {
        answer(&mut s, 1, seq, &[1], t(100));
    }
    s.dispatch(t(100));
    assert!(s.slots[0].sent.iter().all(Sent::live));
    assert_eq!(s.slots[1].sent.len(), 0);
}

#[test]
fn a_timeout_is_measured_from_the_tasks_own_start_and_fails_it_alone() {
    let mut s = ready(2);
    let limit = Duration::from_millis(1000);
    let rx = submit(&mut s, &[10, 11, 12, 13], Some(limit));
    s.dispatch(t(0));
    assert_eq!(seqs(&s, 0), [0]);
    claim(&mut s, 0, 0);
    s.message(0, FromWorker::Started { seq: 0 }, t(10));
    assert_eq!(s.deadline(), Some(t(1010)));
    // Tasks 0 and 1 take 400 ms each: the chunk is past one timeout, no task is.
    set_fate(&mut s, 0, 0, Fate::Running(1));
    s.message(0, item_msg(0, 0, 100), t(410));
    set_fate(&mut s, 0, 0, Fate::Running(2));
    s.message(0, item_msg(0, 1, 101), t(810));
    s.tick(t(1200));
    assert!(!mock(&s, 0).killed, "task 2 started at 810 ms");
    assert_eq!(s.deadline(), Some(t(1810)));
    s.tick(t(1811));
    assert!(mock(&s, 0).killed);
    assert!(rx.try_recv().is_err(), "task 3 has not run yet");
    s.exited(0, -9, t(1820));
    // Task 3 runs elsewhere, alone, still under the timeout.
    s.dispatch(t(1820));
    let w = s
        .slots
        .iter()
        .position(|sl| sl.sent.iter().any(Sent::live))
        .unwrap();
    let seq = s.slots[w].sent[0].seq;
    assert_eq!(mock(&s, w).sent.last().unwrap().1, 1);
    claim(&mut s, w, seq);
    s.message(w, FromWorker::Started { seq }, t(1830));
    set_fate(&mut s, w, seq, Fate::Done);
    s.message(w, item_msg(seq, 0, 103), t(1840));
    assert_eq!(
        outcome(&rx, 4),
        [Ok(100), Ok(101), Err(TaskError::Timeout(limit)), Ok(103)]
    );
    // The killed worker was replaced.
    assert_eq!(s.slots.len(), 2);
}

#[test]
fn a_single_task_timeout_is_reported_at_once() {
    let mut s = ready(1);
    let limit = Duration::from_millis(100);
    let rx = submit(&mut s, &[1], Some(limit));
    s.dispatch(t(0));
    claim(&mut s, 0, 0);
    s.message(0, FromWorker::Started { seq: 0 }, t(1));
    s.tick(t(102));
    assert_eq!(outcome(&rx, 1), [Err(TaskError::Timeout(limit))]);
    assert!(s.slots[0].killed);
    assert!(!s.slots[0].usable());
}

#[test]
fn a_task_that_started_after_the_last_look_gets_its_full_time() {
    let mut s = ready(1);
    let _rx = submit(&mut s, &[1, 2], Some(Duration::from_millis(100)));
    s.dispatch(t(0));
    claim(&mut s, 0, 0);
    s.message(0, FromWorker::Started { seq: 0 }, t(0));
    // Task 1 started without the scheduler seeing it yet (its result for task 0 is late).
    set_fate(&mut s, 0, 0, Fate::Running(1));
    s.tick(t(100));
    assert!(!mock(&s, 0).killed);
    assert_eq!(s.deadline(), Some(t(200)));
    s.tick(t(200));
    assert!(mock(&s, 0).killed);
}

#[test]
fn a_death_fails_the_running_task_only() {
    let mut s = ready(1);
    let rx = submit(&mut s, &[0, 1, 2, 3], None);
    let queued = submit(&mut s, &[4, 5], None);
    s.dispatch(t(0));
    assert_eq!(seqs(&s, 0), [0, 1]);
    claim(&mut s, 0, 0);
    set_fate(&mut s, 0, 0, Fate::Running(2));
    s.exited(0, -11, t(5));
    assert_eq!(s.slots.len(), 1, "replaced");
    assert_eq!(s.spawner.spawned, 2);
    s.message(0, FromWorker::Ready, t(6));
    s.dispatch(t(6));
    // The rest of the first chunk (tasks 0, 1 and 3: 0 and 1 finished, but their results
    // died with the worker) and the untouched second chunk.
    assert_eq!(
        mock(&s, 0).sent.iter().map(|&(_, n)| n).collect::<Vec<_>>(),
        [3, 2]
    );
    let reply = ChunkReply::Items(vec![ok_item(0), ok_item(1), ok_item(3)]);
    claim(&mut s, 0, 0);
    s.message(0, FromWorker::Done { seq: 0, reply }, t(7));
    answer(&mut s, 0, 1, &[4, 5], t(8));
    let died = TaskError::WorkerDied {
        worker: "PoolWorker-1".into(),
        exitcode: -11,
    };
    assert_eq!(outcome(&rx, 4), [Ok(0), Ok(1), Err(died), Ok(3)]);
    assert_eq!(outcome(&queued, 2), [Ok(4), Ok(5)]);
}

/// A chunk whose workers keep dying before they start it (it cannot be delivered) fails after
/// a few tries instead of killing workers forever; a death explained by another task's crash
/// does not count against it.
#[test]
fn a_chunk_that_kills_its_workers_unstarted_fails_after_a_few() {
    let mut s = ready(1);
    let crasher = submit(&mut s, &[2], None);
    let rx = submit(&mut s, &[1], None);
    s.dispatch(t(0));
    // The worker dies running the other chunk: explained.
    claim(&mut s, 0, 0);
    s.exited(0, -11, t(1));
    assert!(matches!(
        &outcome(&crasher, 1)[0],
        Err(TaskError::WorkerDied { .. })
    ));
    let mut deaths = 0;
    for k in 0..10 {
        s.message(0, FromWorker::Ready, t(2 + k));
        s.dispatch(t(2 + k));
        if s.slots[0].sent.is_empty() {
            break;
        }
        s.exited(0, -9, t(2 + k));
        deaths += 1;
    }
    assert_eq!(deaths, MAX_UNEXPLAINED_DEATHS as usize);
    match &outcome(&rx, 1)[0] {
        Err(TaskError::WorkerDied { exitcode: -9, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_worker_killed_for_a_timeout_blames_nobody_else() {
    let mut s = ready(1);
    let limit = Duration::from_millis(50);
    let first = submit(&mut s, &[1], Some(limit));
    let second = submit(&mut s, &[2], Some(limit));
    s.dispatch(t(0));
    claim(&mut s, 0, 0);
    s.message(0, FromWorker::Started { seq: 0 }, t(0));
    s.tick(t(60));
    assert_eq!(outcome(&first, 1), [Err(TaskError::Timeout(limit))]);
    // Before the kill landed, the worker went on to the next chunk.
    claim(&mut s, 0, 1);
    s.exited(0, -9, t(61));
    s.message(0, FromWorker::Ready, t(62));
    s.dispatch(t(62));
    assert_eq!(
        seqs(&s, 0),
        [0],
        "the second chunk runs again, on the new worker"
    );
    claim(&mut s, 0, 0);
    s.message(0, FromWorker::Started { seq: 0 }, t(63));
    s.message(0, item_msg(0, 0, 2), t(64));
    assert_eq!(outcome(&second, 1), [Ok(2)]);
}

#[test]
fn an_initializer_panic_breaks_the_pool_once() {
    let mut s = Sched::new(
        MockSpawn::default(),
        Config {
            initializer: true,
            ..config(2)
        },
        t(0),
    )
    .unwrap();
    let rx = submit(&mut s, &[1, 2, 3], None);
    s.dispatch(t(0));
    s.message(
        0,
        FromWorker::InitFailed("panicked at src/init.rs:3:5: no".into()),
        t(1),
    );
    s.exited(0, 1, t(1));
    let expected = TaskError::Initializer("panicked at src/init.rs:3:5: no".into());
    assert_eq!(outcome(&rx, 3), vec![Err(expected.clone()); 3]);
    assert_eq!(s.spawner.spawned, 2, "no worker replaces it");
    let later = submit(&mut s, &[4], None);
    assert_eq!(outcome(&later, 1), [Err(expected)]);
    // The other worker dies the same way: still no restart.
    s.exited(0, 1, t(2));
    assert_eq!(s.spawner.spawned, 2);
    assert!(s.slots.is_empty());
}

/// A pool broken while a healthy worker still runs: what that worker held fails too when it
/// dies, rather than wait for a worker that will never be started.
#[test]
fn a_broken_pool_leaves_nothing_waiting() {
    let mut s = Sched::new(
        MockSpawn::default(),
        Config {
            initializer: true,
            ..config(2)
        },
        t(0),
    )
    .unwrap();
    s.message(1, FromWorker::Ready, t(0));
    let running = submit(&mut s, &[1], None);
    let queued = submit(&mut s, &[2], None);
    s.dispatch(t(0));
    assert_eq!(seqs(&s, 1).len() + seqs(&s, 0).len(), 2);
    let w = if seqs(&s, 1).is_empty() { 0 } else { 1 };
    claim(&mut s, w, 0);
    s.message(0, FromWorker::InitFailed("panicked: no".into()), t(1));
    s.exited(0, 1, t(1));
    let w = s.slots.len() - 1;
    s.exited(w, -9, t(2));
    assert!(s.slots.is_empty());
    assert!(s.pending.is_empty());
    for rx in [&running, &queued] {
        assert!(rx.try_recv().is_ok(), "settled");
    }
}

#[test]
fn deaths_in_the_initializer_are_bounded() {
    let mut s = Sched::new(
        MockSpawn::default(),
        Config {
            initializer: true,
            ..config(1)
        },
        t(0),
    )
    .unwrap();
    let rx = submit(&mut s, &[1], None);
    for k in 0..10 {
        if s.slots.is_empty() {
            break;
        }
        s.dispatch(t(k));
        s.exited(0, -6, t(k));
    }
    assert_eq!(s.spawner.spawned, MAX_START_FAILURES as usize);
    match &outcome(&rx, 1)[0] {
        Err(TaskError::Initializer(m)) => assert!(m.contains("SIGABRT"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_worker_that_becomes_ready_resets_the_count() {
    let mut s = Sched::new(MockSpawn::default(), config(2), t(0)).unwrap();
    for k in 0..(3 * MAX_START_FAILURES as u64) {
        // One worker dies before it is ready, the other becomes ready.
        s.exited(0, -9, t(k));
        let last = s.slots.len() - 1;
        s.message(last, FromWorker::Ready, t(k));
    }
    assert!(s.broken.is_none());
    let _rx = submit(&mut s, &[1], None);
    s.dispatch(t(100));
}

#[test]
fn a_pool_that_cannot_start_workers_fails_its_tasks() {
    let mut s = ready(1);
    s.spawner.fail = true;
    let rx = submit(&mut s, &[1], None);
    s.dispatch(t(1));
    claim(&mut s, 0, 0);
    s.exited(0, -9, t(2));
    match &outcome(&rx, 1)[0] {
        Err(TaskError::WorkerDied { .. }) => {}
        other => panic!("{other:?}"),
    }
    let rx = submit(&mut s, &[2], None);
    assert!(matches!(&outcome(&rx, 1)[0], Err(TaskError::Failed(m)) if m.contains("cannot start")));
}

#[test]
fn max_tasks_retires_workers_and_a_taken_back_chunk_does_not_count() {
    let max = |m| Config {
        max_tasks: Some(m),
        ..config(1)
    };
    let mut s = Sched::new(MockSpawn::default(), max(2), t(0)).unwrap();
    s.message(0, FromWorker::Ready, t(0));
    let rxs: Vec<_> = (0..3).map(|i| submit(&mut s, &[i], None)).collect();
    s.dispatch(t(0));
    assert_eq!(seqs(&s, 0).len(), 2);
    assert!(s.slots[0].retiring);
    answer(&mut s, 0, 0, &[0], t(1));
    answer(&mut s, 0, 1, &[1], t(1));
    s.dispatch(t(1));
    assert_eq!(seqs(&s, 0).len(), 2, "a retiring worker takes nothing more");
    s.exited(0, 0, t(2));
    assert_eq!(s.spawner.spawned, 2, "a retired worker is replaced");
    s.message(0, FromWorker::Ready, t(2));
    s.dispatch(t(2));
    answer(&mut s, 0, 0, &[2], t(3));
    assert_eq!(outcome(&rxs[2], 1), [Ok(2)]);

    // Two workers of three chunks each; worker 0 holds three, worker 1 two.
    let mut s = Sched::new(MockSpawn::default(), Config { size: 2, ..max(3) }, t(0)).unwrap();
    s.message(0, FromWorker::Ready, t(0));
    s.message(1, FromWorker::Ready, t(0));
    let _rxs: Vec<_> = (0..5).map(|i| submit(&mut s, &[i], None)).collect();
    s.dispatch(t(0));
    assert_eq!((seqs(&s, 0).len(), seqs(&s, 1).len()), (3, 2));
    assert!(s.slots[0].retiring && !s.slots[1].retiring);
    // Worker 0 is stuck in its first chunk; worker 1 finishes and takes the other two.
    claim(&mut s, 0, 0);
    answer(&mut s, 1, 0, &[0], t(30));
    answer(&mut s, 1, 1, &[0], t(30));
    s.dispatch(t(30));
    assert_eq!(s.slots[0].runs, 1, "taken-back chunks leave its budget");
    assert!(!s.slots[0].retiring);
    assert_eq!(s.slots[1].runs, 3);
    assert!(s.slots[1].retiring);
    // The second one waits for a free worker, not behind worker 0 again.
    assert_eq!(s.pending.len(), 1);
}

#[test]
fn cancel_takes_back_what_has_not_started() {
    let mut s = ready(1);
    let flagged = |s: &mut Sched, v: u32| {
        let (mut job, rx) = job_of(&[v], None);
        let flag = Arc::new(AtomicBool::new(false));
        job.cancelled = Some(flag.clone());
        s.submit(job);
        (flag, rx)
    };
    let (running, _r1) = flagged(&mut s, 1);
    let (queued, r2) = flagged(&mut s, 2);
    s.dispatch(t(0));
    let (pending, r3) = flagged(&mut s, 3);
    claim(&mut s, 0, 0);
    assert!(!s.cancel(&running));
    assert!(s.cancel(&queued));
    assert_eq!(outcome(&r2, 1), [Err(TaskError::Cancelled)]);
    assert_eq!(mock(&s, 0).fate(1), Fate::Revoked);
    assert!(s.cancel(&pending));
    assert_eq!(outcome(&r3, 1), [Err(TaskError::Cancelled)]);
    assert!(!s.cancel(&Arc::new(AtomicBool::new(false))));
}

#[test]
fn terminate_fails_everything_and_close_waits_for_the_work() {
    let mut s = ready(1);
    let a = submit(&mut s, &[1], None);
    s.close();
    assert!(!s.drained());
    s.dispatch(t(0));
    assert!(!s.drained());
    answer(&mut s, 0, 0, &[1], t(1));
    assert!(s.drained());
    assert_eq!(outcome(&a, 1), [Ok(1)]);

    let mut s = ready(2);
    let b = submit(&mut s, &[1, 2], Some(Duration::from_secs(1)));
    let c: Vec<_> = (0..40).map(|i| submit(&mut s, &[i], None)).collect();
    s.dispatch(t(0));
    claim(&mut s, 0, 0);
    s.message(0, FromWorker::Started { seq: 0 }, t(1));
    s.message(0, item_msg(0, 0, 9), t(2));
    s.terminate();
    assert_eq!(outcome(&b, 2), [Ok(9), Err(TaskError::Terminated)]);
    for rx in &c {
        assert_eq!(outcome(rx, 1), [Err(TaskError::Terminated)]);
    }
    assert!(mock(&s, 0).killed && mock(&s, 1).killed);
}

#[test]
fn a_chunk_that_cannot_be_encoded_fails_alone() {
    let mut s = ready(1);
    mock_mut(&mut s, 0).refuse_encoding = true;
    let rx = submit(&mut s, &[1], None);
    s.dispatch(t(0));
    assert!(matches!(&outcome(&rx, 1)[0], Err(TaskError::Failed(m)) if m == "cannot encode"));
}

#[test]
fn a_message_out_of_order_kills_the_worker() {
    let mut s = ready(1);
    let _rx = submit(&mut s, &[1], None);
    s.dispatch(t(0));
    s.message(0, FromWorker::Skipped { seq: 5 }, t(1));
    assert!(mock(&s, 0).killed);
}
