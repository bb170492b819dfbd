//! Process pools: results, laziness, async results, worker lifetimes, and the failures that
//! make Python's pool hang (crashes, timeouts, unencodable values), which here fail one task.

mod common;

use std::time::{Duration, Instant};

use multiproc::{MapOptions, Pool, PoolError, TaskError};

fn square(x: u64) -> u64 {
    x * x
}

fn add(pair: (u64, u64)) -> u64 {
    pair.0 + pair.1
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn pid_of(_: u64) -> u32 {
    std::process::id()
}

fn panics_on_3(x: u64) -> u64 {
    assert!(x != 3, "three is not allowed");
    x
}

/// Kills its own worker in the way named by `how` when `x == 3`.
fn crashes_on_3((x, how): (u64, String)) -> u64 {
    if x == 3 {
        match how.as_str() {
            "exit" => multiproc::exit(7),
            "abort" => std::process::abort(),
            signal => {
                // Twice: std's stack-overflow handler takes the first asynchronous SIGSEGV and
                // restores the default action, which the second one then meets.
                for _ in 0..2 {
                    let _ = std::process::Command::new("kill")
                        .args([format!("-{signal}"), std::process::id().to_string()])
                        .status();
                    std::thread::sleep(Duration::from_millis(200));
                }
                std::thread::sleep(Duration::from_secs(30));
            }
        }
    }
    x
}

fn sequential(n: u64) -> Vec<u64> {
    (0..n).map(square).collect()
}

#[multiproc::test]
fn map_starmap_imap_match_sequential() {
    let pool = Pool::new(3).unwrap();
    for (n, chunksize) in [(10u64, None), (100, Some(20)), (1000, Some(100))] {
        let mut options = MapOptions::new();
        if let Some(c) = chunksize {
            options = options.chunksize(c);
        }
        let expected = sequential(n);
        assert_eq!(
            pool.map_with(square, 0..n, options.clone()).unwrap(),
            expected
        );
        let pairs: Vec<(u64, u64)> = (0..n).map(|i| (i, i)).collect();
        assert_eq!(
            pool.starmap(add, pairs).unwrap(),
            (0..n).map(|i| 2 * i).collect::<Vec<_>>()
        );
        let ordered: Vec<u64> = pool.imap(square, 0..n).map(Result::unwrap).collect();
        assert_eq!(ordered, expected);
        let mut unordered: Vec<u64> = pool
            .imap_unordered(square, 0..n)
            .map(Result::unwrap)
            .collect();
        unordered.sort_unstable();
        assert_eq!(unordered, expected);
    }
}

#[multiproc::test]
fn empty_input_returns_at_once() {
    let pool = Pool::new(2).unwrap();
    let t0 = Instant::now();
    assert!(pool.map(square, Vec::<u64>::new()).unwrap().is_empty());
    assert_eq!(pool.imap(square, Vec::<u64>::new()).count(), 0);
    assert!(
        pool.map_async(square, Vec::<u64>::new())
            .unwrap()
            .get()
            .unwrap()
            .is_empty()
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[multiproc::test]
fn apply_and_async_results() {
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.apply(square, 7).unwrap(), 49);
    let slow = pool.apply_async(sleep_ms, 1500).unwrap();
    let t0 = Instant::now();
    assert!(matches!(
        slow.get_timeout(Duration::from_millis(100)),
        Err(PoolError::Timeout)
    ));
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert!(!slow.ready());
    assert_eq!(slow.successful(), None);
    // The pool stays usable meanwhile, and the slow result can still be taken.
    assert_eq!(pool.apply(square, 3).unwrap(), 9);
    assert_eq!(slow.get().unwrap(), 1500);
    assert_eq!(slow.successful(), Some(true));
    let m = pool.map_async(square, 0..20).unwrap();
    assert!(m.wait_timeout(Duration::from_secs(30)));
    assert_eq!(m.get().unwrap(), sequential(20));
    assert_eq!(
        pool.starmap_async(add, vec![(1, 2), (3, 4)])
            .unwrap()
            .get()
            .unwrap(),
        [3, 7]
    );
}

#[multiproc::test]
fn callbacks_run() {
    let pool = Pool::new(2).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx2 = tx.clone();
    let ok = pool
        .apply_async_with(
            square,
            5,
            move |v| tx.send(format!("ok {v}")).unwrap(),
            |_| {},
        )
        .unwrap();
    let err = pool
        .apply_async_with(
            panics_on_3,
            3,
            |_| {},
            move |e| tx2.send(format!("err {e}")).unwrap(),
        )
        .unwrap();
    ok.wait();
    err.wait();
    let mut got: Vec<String> = rx.try_iter().collect();
    got.sort();
    assert_eq!(got, ["err task 0 failed", "ok 25"]);
}

#[multiproc::test]
fn panicking_task_fails_alone_with_its_message() {
    let pool = Pool::new(2).unwrap();
    let results = pool
        .map_each(
            panics_on_3,
            (0..10).collect(),
            MapOptions::new().chunksize(4),
        )
        .unwrap();
    for (i, r) in results.iter().enumerate() {
        if i == 3 {
            assert!(
                matches!(r, Err(TaskError::Panicked(p)) if p.message().contains("three is not allowed")),
                "{r:?}"
            );
        } else {
            assert_eq!(r.as_ref().unwrap(), &(i as u64));
        }
    }
    match pool.map(panics_on_3, 0..10) {
        Err(PoolError::Task {
            index: 3,
            error: TaskError::Panicked(_),
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[multiproc::test]
fn dying_worker_fails_only_its_task() {
    let pool = Pool::new(2).unwrap();
    for (how, exitcode) in [("exit", 7), ("abort", -6), ("SEGV", -11), ("KILL", -9)] {
        let inputs: Vec<(u64, String)> = (0..12).map(|i| (i, how.to_owned())).collect();
        let t0 = Instant::now();
        let results = pool
            .map_each(crashes_on_3, inputs, MapOptions::new().chunksize(4))
            .unwrap();
        assert!(t0.elapsed() < Duration::from_secs(30));
        for (i, r) in results.iter().enumerate() {
            if i == 3 {
                match r {
                    Err(TaskError::WorkerDied { exitcode: c, .. }) => {
                        assert_eq!(*c, exitcode, "{how}")
                    }
                    other => panic!("{how}: {other:?}"),
                }
            } else {
                assert_eq!(r.as_ref().unwrap(), &(i as u64), "{how}");
            }
        }
    }
    // The pool is whole again.
    assert_eq!(pool.map(square, 0..10).unwrap(), sequential(10));
}

#[multiproc::test]
fn task_timeout_kills_and_replaces_the_worker() {
    let pool = Pool::builder()
        .processes(2)
        .task_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let results = pool
        .map_each(
            sleep_ms,
            vec![10, 20_000, 30, 40],
            MapOptions::new().chunksize(1),
        )
        .unwrap();
    assert_eq!(results[0], Ok(10));
    assert!(
        matches!(results[1], Err(TaskError::Timeout(_))),
        "{:?}",
        results[1]
    );
    assert_eq!(results[2], Ok(30));
    assert_eq!(results[3], Ok(40));
    assert_eq!(pool.map(square, 0..10).unwrap(), sequential(10));
}

#[derive(Debug)]
struct Poison(u64);

impl serde::Serialize for Poison {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 == 3 {
            Err(serde::ser::Error::custom("cannot encode 3"))
        } else {
            s.serialize_u64(self.0)
        }
    }
}

impl<'de> serde::Deserialize<'de> for Poison {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        if v == 105 {
            panic!("decoding 105 crashes");
        }
        Ok(Poison(v))
    }
}

fn to_poison(x: u64) -> Poison {
    Poison(x)
}

fn from_poison(p: Poison) -> u64 {
    p.0
}

#[multiproc::test]
fn crash_matrix_never_hangs() {
    let pool = Pool::new(2).unwrap();
    // A result that cannot be encoded fails that task only.
    let results = pool
        .map_each(to_poison, (0..8).collect(), MapOptions::new().chunksize(3))
        .unwrap();
    for (i, r) in results.iter().enumerate() {
        match (i, r) {
            (3, Err(TaskError::Failed(m))) => assert!(m.contains("could not be sent"), "{m}"),
            (3, other) => panic!("{other:?}"),
            (_, Ok(p)) => assert_eq!(p.0, i as u64),
            (_, other) => panic!("{i}: {other:?}"),
        }
    }
    // An argument whose decoding panics in the worker fails its chunk, not the pool.
    let inputs: Vec<Poison> = [0, 1, 2, 105, 4, 5].into_iter().map(Poison).collect();
    let results = pool
        .map_each(from_poison, inputs, MapOptions::new().chunksize(2))
        .unwrap();
    let failures: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_err())
        .map(|(i, _)| i)
        .collect();
    // The chunk holding 105 cannot be decoded in the worker; the other chunks are unaffected.
    assert_eq!(failures, [2, 3], "{results:?}");
    assert!(
        matches!(&results[3], Err(TaskError::Panicked(p)) if p.message().contains("105")),
        "{results:?}"
    );
    // An argument that cannot be encoded is an error at submission.
    assert!(matches!(
        pool.map(from_poison, vec![Poison(1), Poison(3)]),
        Err(PoolError::Encode(_))
    ));
    // A worker that exits mid-task: see `dying_worker_fails_only_its_task`.
    assert_eq!(pool.map(square, 0..4).unwrap(), sequential(4));
}

#[multiproc::test]
fn failing_input_iterator_ends_imap_with_the_error() {
    let pool = Pool::new(2).unwrap();
    let input = (0u64..10).map(|i| {
        if i == 3 {
            Err(format!("bad input {i}"))
        } else {
            Ok(i)
        }
    });
    let got: Vec<Result<u64, PoolError>> = pool
        .try_imap(square, input, MapOptions::new(), true)
        .collect();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(
        got[..3]
            .iter()
            .map(|r| *r.as_ref().unwrap())
            .collect::<Vec<_>>(),
        [0, 1, 4]
    );
    assert!(
        matches!(&got[3], Err(PoolError::Input(m)) if m == "bad input 3"),
        "{:?}",
        got[3]
    );
}

#[multiproc::test]
fn imap_is_lazy_over_an_endless_input() {
    let pool = Pool::new(2).unwrap();
    let first: Vec<u64> = pool
        .imap(square, 0u64..)
        .take(50)
        .map(Result::unwrap)
        .collect();
    assert_eq!(first, sequential(50));
}

#[multiproc::test]
fn max_tasks_per_child_changes_the_pids() {
    let pool = Pool::builder()
        .processes(2)
        .max_tasks_per_child(10)
        .build()
        .unwrap();
    let pids = pool
        .map_with(pid_of, 0..100, MapOptions::new().chunksize(1))
        .unwrap();
    let distinct: std::collections::HashSet<u32> = pids.into_iter().collect();
    assert!(
        distinct.len() >= 10,
        "only {} distinct workers",
        distinct.len()
    );
}

#[multiproc::test]
fn terminate_with_many_pending_tasks_is_prompt() {
    let pool = Pool::new(2).unwrap();
    let pending = pool.map_async(sleep_ms, vec![1000u64; 10_000]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    pool.terminate();
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(matches!(
        pending.get(),
        Err(PoolError::Task {
            error: TaskError::Terminated,
            ..
        })
    ));
    assert!(matches!(pool.map(square, 0..3), Err(PoolError::Closed)));
}

#[multiproc::test]
fn close_then_join_finishes_the_work() {
    let pool = Pool::new(2).unwrap();
    let r = pool.map_async(sleep_ms, vec![50u64; 8]).unwrap();
    pool.close();
    assert!(matches!(pool.apply(square, 1), Err(PoolError::Closed)));
    assert!(pool.join_timeout(Duration::from_secs(30)));
    assert_eq!(r.get().unwrap(), vec![50; 8]);
}

#[multiproc::test]
fn dropping_the_pool_terminates_its_workers() {
    let pool = Pool::new(3).unwrap();
    let pids: std::collections::HashSet<u32> = pool
        .map_with(pid_of, 0..30, MapOptions::new().chunksize(1))
        .unwrap()
        .into_iter()
        .collect();
    let pending = pool.apply_async(sleep_ms, 30_000).unwrap();
    drop(pool);
    assert!(pending.get_timeout(Duration::from_secs(10)).is_err());
    let running: Vec<u32> = multiproc::active_children()
        .iter()
        .map(|c| c.pid())
        .collect();
    assert!(
        pids.iter().all(|p| !running.contains(p)),
        "workers {pids:?} still running"
    );
}

#[multiproc::test]
fn submit_and_cancel() {
    let pool = Pool::new(1).unwrap();
    let busy = pool.submit(sleep_ms, 500).unwrap();
    let queued = pool.submit(square, 4).unwrap();
    assert!(queued.cancel());
    assert!(matches!(
        queued.get(),
        Err(PoolError::Task {
            error: TaskError::Cancelled,
            ..
        })
    ));
    assert_eq!(busy.get().unwrap(), 500);
}

fn bad_init(_: ()) {
    panic!("initializer refuses");
}

#[multiproc::test]
fn failing_initializer_breaks_the_pool_instead_of_looping() {
    let pool = Pool::builder()
        .processes(2)
        .initializer(bad_init, ())
        .build()
        .unwrap();
    let t0 = Instant::now();
    match pool.map(square, 0..4) {
        Err(PoolError::Task {
            error: TaskError::Initializer(m),
            ..
        }) => assert!(m.contains("refuses"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(10));
}

#[multiproc::test]
fn fifty_workers_on_a_small_machine() {
    let pool = Pool::new(50).unwrap();
    assert_eq!(
        pool.map_with(square, 0..500, MapOptions::new().chunksize(1))
            .unwrap(),
        sequential(500)
    );
    pool.close();
    pool.join();
}

#[multiproc::test]
fn executor_trait_is_the_pool() {
    use multiproc::Executor;
    fn run<E: Executor>(e: &E) -> Vec<u64> {
        e.map(square, (0..10).collect(), None).unwrap()
    }
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.workers(), 2);
    assert_eq!(run(&pool), sequential(10));
}

/// Regression: replies of finished one-task chunks are held by the worker while the next runs;
/// a crash in that next task must not be blamed on them.
#[multiproc::test]
fn crash_among_batched_one_task_chunks_is_blamed_exactly() {
    let pool = Pool::new(2).unwrap();
    for how in ["exit", "KILL"] {
        let inputs: Vec<(u64, String)> = (0..40).map(|i| (i, how.to_owned())).collect();
        let results = pool
            .map_each(crashes_on_3, inputs, MapOptions::new().chunksize(1))
            .unwrap();
        for (i, r) in results.iter().enumerate() {
            if i == 3 {
                assert!(
                    matches!(r, Err(TaskError::WorkerDied { .. })),
                    "{how}: {r:?}"
                );
            } else {
                assert_eq!(r.as_ref().unwrap(), &(i as u64), "{how}: task {i}");
            }
        }
    }
}

/// Regression: a batched reply must not make a finished task look like it is still running
/// and time out.
#[multiproc::test]
fn quick_tasks_under_a_timeout_never_time_out() {
    let pool = Pool::builder()
        .processes(2)
        .task_timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    let results = pool
        .map_with(sleep_ms, vec![400u64; 12], MapOptions::new().chunksize(1))
        .unwrap();
    assert_eq!(results, vec![400; 12]);
}

/// A process that starts a pool and exits while it is alive (`exit` runs no destructors).
fn exits_with_a_live_pool(code: i32) {
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.apply(square, 3).unwrap(), 9);
    std::mem::forget(pool);
    multiproc::exit(code);
}

/// Regression: exiting while a pool was alive hung in the exit sequence, which joined the
/// pool's workers while they waited for work. They are daemons now, as in Python, and are
/// terminated instead.
#[multiproc::test]
fn exit_with_a_live_pool_does_not_hang() {
    let child = multiproc::Process::new(exits_with_a_live_pool, 3)
        .start()
        .unwrap();
    let code = child.join_timeout(Duration::from_secs(20));
    if code.is_none() {
        let _ = child.kill();
    }
    assert_eq!(code, Some(3));
}
