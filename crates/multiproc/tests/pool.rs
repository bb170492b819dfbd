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

// ----- fair dispatch: no task waits behind a busy or stopped worker -----

/// Sends `signal` (`STOP`, `CONT`, ...) to `pid`.
fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Writes this worker's pid to `path`, then sleeps `ms`.
fn announce_and_sleep((path, ms): (String, u64)) -> u32 {
    std::fs::write(&path, std::process::id().to_string()).unwrap();
    std::thread::sleep(Duration::from_millis(ms));
    std::process::id()
}

/// Waits (at most 20 s) for `path` to hold a pid.
fn read_pid(path: &std::path::Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "no pid in {}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Quick tasks submitted after a slow or stopped one, as `apply_async` and as a `map`: all
/// must finish within `bound` (generous: they take microseconds).
fn quick_tasks_finish(pool: &Pool, bound: Duration) {
    let t0 = Instant::now();
    let pending: Vec<_> = (0..12u64)
        .map(|i| pool.apply_async(square, i).unwrap())
        .collect();
    for (i, r) in pending.into_iter().enumerate() {
        assert_eq!(
            r.get_timeout(bound).unwrap(),
            (i as u64).pow(2),
            "quick task {i}"
        );
    }
    let m = pool
        .map_async_with(
            square,
            0..40,
            MapOptions::new().chunksize(1),
            |_| {},
            |_| {},
        )
        .unwrap();
    assert_eq!(m.get_timeout(bound).unwrap(), sequential(40));
    assert!(t0.elapsed() < bound, "{:?}", t0.elapsed());
}

/// Regression: quick tasks pipelined behind a slow one waited for it while the other worker
/// sat idle.
#[multiproc::test]
fn quick_tasks_do_not_wait_behind_a_slow_task() {
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.map(square, 0..4).unwrap(), sequential(4));
    let slow = pool.apply_async(sleep_ms, 30_000).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    quick_tasks_finish(&pool, Duration::from_secs(10));
    assert!(!slow.ready(), "the slow task still runs");
    pool.terminate();
}

/// The results of quick tasks that ran just before a slow one, in the same worker, come back
/// while the slow one runs (the worker batches replies, but never holds them long).
#[multiproc::test]
fn results_do_not_wait_behind_a_slow_task_in_the_same_worker() {
    let pool = Pool::new(1).unwrap();
    assert_eq!(pool.apply(square, 2).unwrap(), 4);
    let quick: Vec<_> = (0..20u64)
        .map(|i| pool.apply_async(square, i).unwrap())
        .collect();
    let slow = pool.apply_async(sleep_ms, 30_000).unwrap();
    for (i, r) in quick.iter().enumerate() {
        assert_eq!(
            r.get_timeout(Duration::from_secs(10)).unwrap(),
            (i as u64).pow(2)
        );
    }
    assert!(!slow.ready());
    pool.terminate();
}

/// Regression: work queued on a worker that was stopped (SIGSTOP) never ran.
#[multiproc::test]
fn quick_tasks_do_not_wait_behind_a_stopped_worker() {
    let dir = tempfile::tempdir().unwrap();
    let pool = Pool::new(2).unwrap();
    // A worker stopped in the middle of a task.
    let path = dir.path().join("busy");
    let busy = pool
        .apply_async(announce_and_sleep, (path.display().to_string(), 300))
        .unwrap();
    let stopped = read_pid(&path);
    signal(stopped, "STOP");
    quick_tasks_finish(&pool, Duration::from_secs(10));
    assert!(!busy.ready(), "its task waits for it");
    signal(stopped, "CONT");
    assert_eq!(busy.get_timeout(Duration::from_secs(20)).unwrap(), stopped);

    // A worker stopped while idle: what is sent to it moves to the other one.
    signal(stopped, "STOP");
    quick_tasks_finish(&pool, Duration::from_secs(10));
    signal(stopped, "CONT");
    assert_eq!(pool.map(square, 0..10).unwrap(), sequential(10));
    pool.close();
    assert!(pool.join_timeout(Duration::from_secs(20)));
}

// ----- a task's timeout is its own, also inside a chunk -----

/// Appends `x` to the file at `path` (one line per run), then sleeps `ms`.
fn logged_sleep((path, x, ms): (String, u64, u64)) -> u64 {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .unwrap();
    // One write, so that lines from several workers never interleave.
    f.write_all(format!("{x}\n").as_bytes()).unwrap();
    drop(f);
    std::thread::sleep(Duration::from_millis(ms));
    x
}

/// How many times each input ran, by the log of `logged_sleep`.
fn runs(path: &std::path::Path) -> std::collections::BTreeMap<u64, usize> {
    let mut runs = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        *runs.entry(line.parse().unwrap()).or_default() += 1;
    }
    runs
}

/// Regression: with `chunksize(8).timeout(1 s)` and one sleeping task, the whole chunk failed,
/// tasks that never ran included, after 8 s.
#[multiproc::test]
fn a_timeout_in_a_chunk_fails_that_task_alone_at_about_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pool = Pool::new(2).unwrap();
    for (k, chunksize) in [Some(8), None].into_iter().enumerate() {
        let path = dir.path().join(format!("runs-{k}"));
        let log = path.display().to_string();
        // 16 tasks: the third sleeps far past the timeout.
        let inputs: Vec<(String, u64, u64)> = (0..16)
            .map(|x| (log.clone(), x, if x == 2 { 60_000 } else { 20 }))
            .collect();
        let mut options = MapOptions::new().timeout(Duration::from_secs(1));
        if let Some(c) = chunksize {
            options = options.chunksize(c);
        }
        let t0 = Instant::now();
        let results = pool.map_each(logged_sleep, inputs, options).unwrap();
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(6),
            "{chunksize:?}: {took:?}"
        );
        for (x, r) in results.iter().enumerate() {
            if x == 2 {
                assert_eq!(
                    r,
                    &Err(TaskError::Timeout(Duration::from_secs(1))),
                    "{chunksize:?}"
                );
            } else {
                assert_eq!(r, &Ok(x as u64), "{chunksize:?}");
            }
        }
        // Every task ran once: those before the slow one kept their results, those after it
        // ran elsewhere.
        let runs = runs(&path);
        assert_eq!(runs.len(), 16, "{runs:?}");
        assert!(runs.values().all(|&n| n == 1), "{chunksize:?}: {runs:?}");
    }
    assert_eq!(pool.map(square, 0..10).unwrap(), sequential(10));
}

/// A timeout applies to each task of an `imap` too, and to `map_async`.
#[multiproc::test]
fn timeouts_of_lazy_and_async_maps() {
    let pool = Pool::new(2).unwrap();
    let options = MapOptions::new()
        .chunksize(3)
        .timeout(Duration::from_millis(800));
    let got: Vec<Result<u64, PoolError>> = pool
        .try_imap(
            sleep_ms,
            [10u64, 30_000, 10, 10].map(Ok::<u64, String>),
            options.clone(),
            true,
        )
        .collect();
    assert_eq!(got.len(), 4);
    assert!(matches!(
        got[1],
        Err(PoolError::Task {
            index: 1,
            error: TaskError::Timeout(_)
        })
    ));
    assert_eq!(got[3].as_ref().unwrap(), &10);
    let r = pool
        .map_async_with(sleep_ms, [10u64, 30_000, 10], options, |_| {}, |_| {})
        .unwrap();
    match r.get_timeout(Duration::from_secs(20)) {
        Err(PoolError::Task {
            index: 1,
            error: TaskError::Timeout(_),
        }) => {}
        other => panic!("{other:?}"),
    }
}

// ----- a failing initializer breaks the pool once -----

/// Records this worker's start in the file at `path`, then aborts.
fn aborting_init(path: String) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .unwrap();
    f.write_all(format!("{}\n", std::process::id()).as_bytes())
        .unwrap();
    drop(f);
    std::process::abort();
}

/// Regression: an initializer that aborts, with the pool idle, restarted workers thousands of
/// times a second.
#[multiproc::test]
fn an_aborting_initializer_starts_a_bounded_number_of_workers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("starts");
    let pool = Pool::builder()
        .processes(2)
        .initializer(aborting_init, path.display().to_string())
        .build()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let starts = runs_of_init(&path);
    let bound = 2 + multiproc::pool::MAX_INITIALIZER_FAILURES as usize;
    assert!((1..=bound).contains(&starts), "{starts} worker starts");
    match pool.map(square, 0..4) {
        Err(PoolError::Task {
            error: TaskError::Initializer(m),
            ..
        }) => assert!(m.contains("SIGABRT"), "{m}"),
        other => panic!("{other:?}"),
    }
    match pool.apply(square, 1) {
        Err(PoolError::Task {
            error: TaskError::Initializer(_),
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(runs_of_init(&path), starts, "no worker started since");
}

fn runs_of_init(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .count()
}

// ----- errors say where -----

#[multiproc::test]
fn a_task_panic_says_where() {
    let pool = Pool::new(1).unwrap();
    let err = pool.apply(panics_on_3, 3).unwrap_err();
    let Some(TaskError::Panicked(p)) = err.task_error() else {
        panic!("{err:?}");
    };
    assert_eq!(p.message(), "three is not allowed");
    let at = p.location().expect("a location");
    assert!(at.starts_with(&format!("{}:", file!())), "{at}");
    let text = err.task_error().unwrap().to_string();
    assert!(
        text.starts_with(&format!("task panicked at {at}: three is not allowed")),
        "{text}"
    );
    if std::env::var_os("RUST_BACKTRACE").is_none_or(|v| v == "0") {
        assert!(p.backtrace().is_none());
    }
    // The error callback gets the same error.
    let (tx, rx) = std::sync::mpsc::channel();
    let r = pool
        .apply_async_with(
            panics_on_3,
            3,
            |_| {},
            move |e| tx.send(e.task_error().map(ToString::to_string)).unwrap(),
        )
        .unwrap();
    assert!(r.wait_timeout(Duration::from_secs(20)));
    assert_eq!(rx.try_recv().unwrap(), Some(text.clone()));
    // And a map's.
    match pool.map_with(panics_on_3, 0..6, MapOptions::new().chunksize(2)) {
        Err(PoolError::Task { index: 3, error }) => assert_eq!(error.to_string(), text),
        other => panic!("{other:?}"),
    }
}

/// With `RUST_BACKTRACE` set in the process that builds the pool, a task panic carries the
/// worker's backtrace. (Re-runs this test in a fresh test process with the variable set.)
#[multiproc::test]
fn a_task_panic_carries_the_worker_backtrace_when_rust_backtrace_is_set() {
    if std::env::var_os("MULTIPROC_POOL_TEST_BACKTRACE").is_none() {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "a_task_panic_carries_the_worker_backtrace_when_rust_backtrace_is_set",
            "--test-threads=1",
        ])
        .env("RUST_BACKTRACE", "1")
        .env("MULTIPROC_POOL_TEST_BACKTRACE", "1");
        let out = common::run_bounded(cmd, Duration::from_secs(120));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let pool = Pool::new(1).unwrap();
    let err = pool.apply(panics_on_3, 3).unwrap_err();
    let Some(TaskError::Panicked(p)) = err.task_error() else {
        panic!("{err:?}");
    };
    let bt = p.backtrace().expect("a backtrace");
    assert!(bt.contains("panics_on_3"), "{bt}");
    assert!(
        err.task_error()
            .unwrap()
            .to_string()
            .contains("worker backtrace:"),
        "{err}"
    );
}

#[multiproc::test]
fn a_panicking_initializer_says_where() {
    let pool = Pool::builder()
        .processes(1)
        .initializer(bad_init, ())
        .build()
        .unwrap();
    match pool.apply(square, 2) {
        Err(PoolError::Task {
            error: TaskError::Initializer(m),
            ..
        }) => {
            assert!(m.contains(file!()), "{m}");
            assert!(m.contains("initializer refuses"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

// ----- the smaller items -----

#[multiproc::test]
fn zero_processes_tasks_per_child_or_chunk_size_are_errors() {
    assert!(matches!(Pool::new(0), Err(PoolError::InvalidArgument(_))));
    assert!(matches!(
        Pool::builder().processes(1).max_tasks_per_child(0).build(),
        Err(PoolError::InvalidArgument(_))
    ));
    let pool = Pool::new(1).unwrap();
    let zero = MapOptions::new().chunksize(0);
    assert!(matches!(
        pool.map_with(square, 0..3, zero.clone()),
        Err(PoolError::InvalidArgument(_))
    ));
    assert!(matches!(
        pool.map_async_with(square, 0..3, zero.clone(), |_| {}, |_| {}),
        Err(PoolError::InvalidArgument(_))
    ));
    let mut it = pool.try_imap(square, (0..3u64).map(Ok::<u64, String>), zero, true);
    assert!(matches!(
        it.next(),
        Some(Err(PoolError::InvalidArgument(_)))
    ));
    assert!(it.next().is_none());
    // Empty inputs are still fine.
    assert!(pool.map(square, Vec::<u64>::new()).unwrap().is_empty());
}

#[multiproc::test]
fn map_async_calls_back_with_the_values_or_the_first_error() {
    let pool = Pool::new(2).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (ok, err) = (tx.clone(), tx.clone());
    let r = pool
        .map_async_with(
            square,
            0..10,
            MapOptions::new().chunksize(3),
            move |v: &Vec<u64>| ok.send(format!("ok {v:?}")).unwrap(),
            move |e: &PoolError| err.send(format!("err {e}")).unwrap(),
        )
        .unwrap();
    assert_eq!(r.get().unwrap(), sequential(10));
    assert_eq!(rx.try_recv().unwrap(), format!("ok {:?}", sequential(10)));

    let (ok, err) = (tx.clone(), tx.clone());
    let r = pool
        .map_async_with(
            panics_on_3,
            0..10,
            MapOptions::new(),
            move |_| ok.send("ok".into()).unwrap(),
            move |e| {
                let where_ = e.task_error().map(ToString::to_string).unwrap_or_default();
                err.send(format!("err {e}: {where_}")).unwrap()
            },
        )
        .unwrap();
    assert!(matches!(r.get(), Err(PoolError::Task { index: 3, .. })));
    let got = rx.try_recv().unwrap();
    assert!(
        got.starts_with("err task 3 failed: task panicked at "),
        "{got}"
    );
    assert!(got.contains(file!()), "{got}");

    let (ok, err) = (tx.clone(), tx);
    let r = pool
        .starmap_async_with(
            add,
            vec![(1, 2), (3, 4)],
            MapOptions::new(),
            move |v: &Vec<u64>| ok.send(format!("ok {v:?}")).unwrap(),
            move |e: &PoolError| err.send(format!("err {e}")).unwrap(),
        )
        .unwrap();
    assert_eq!(r.get().unwrap(), [3, 7]);
    assert_eq!(rx.try_recv().unwrap(), "ok [3, 7]");
    // The empty map calls back too.
    let (tx, rx) = std::sync::mpsc::channel();
    let r = pool
        .map_async_with(
            square,
            Vec::<u64>::new(),
            MapOptions::new(),
            move |v: &Vec<u64>| tx.send(v.len()).unwrap(),
            |_| {},
        )
        .unwrap();
    assert!(r.get().unwrap().is_empty());
    assert_eq!(rx.try_recv().unwrap(), 0);
}

#[multiproc::test]
fn cancel_takes_back_a_queued_task_but_not_a_running_one() {
    let pool = Pool::new(1).unwrap();
    let running = pool.submit(sleep_ms, 500).unwrap();
    let queued: Vec<_> = (0..5).map(|i| pool.submit(square, i).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    assert!(!running.cancel(), "it runs");
    for q in &queued {
        assert!(q.cancel());
        assert!(matches!(
            q.get(),
            Err(PoolError::Task {
                error: TaskError::Cancelled,
                ..
            })
        ));
    }
    assert_eq!(running.get().unwrap(), 500);
    assert!(!running.cancel(), "it finished");
    assert_eq!(pool.map(square, 0..5).unwrap(), sequential(5));
}

/// A process that starts a pool with the `fork` start method, uses it (retiring workers, so
/// that some are forked from the pool's thread) and measures `close(); join()`.
fn fork_pool_close_join(processes: usize) -> (Vec<u64>, u64) {
    // SAFETY: this process is a child started for this test and has one thread when the pool
    // forks its first workers. Later workers are forked from the pool's thread while this
    // thread waits on a channel or a join, holding no lock.
    let fork = unsafe { multiproc::StartMethod::fork() };
    let pool = Pool::builder()
        .processes(processes)
        .start_method(fork)
        .max_tasks_per_child(3)
        .build()
        .unwrap();
    let values = pool
        .map_with(square, 0..20, MapOptions::new().chunksize(1))
        .unwrap();
    let t0 = Instant::now();
    pool.close();
    pool.join();
    (values, t0.elapsed().as_millis() as u64)
}

/// Regression: under the `fork` start method, `close(); join()` on an idle pool took 10 s per
/// worker and then killed them: forked workers held copies of the other workers' sockets, so
/// none of them saw its socket end.
#[multiproc::test]
fn close_then_join_under_fork_is_prompt() {
    let child = multiproc::Process::new(fork_pool_close_join, 3)
        .start()
        .unwrap();
    let code = child.join_timeout(Duration::from_secs(60));
    if code.is_none() {
        let _ = child.kill();
    }
    assert_eq!(code, Some(0));
    let (values, ms) = child.join().unwrap();
    assert_eq!(values, sequential(20));
    assert!(ms < 3_000, "close and join took {ms} ms");
}

/// Closures that capture nothing are tasks too, their argument types inferred.
#[multiproc::test]
fn closures_are_tasks() {
    let pool = Pool::new(1).unwrap();
    assert_eq!(pool.map(|x| x * 3, 0..4u64).unwrap(), [0, 3, 6, 9]);
    assert_eq!(pool.apply(|(a, b): (u64, u64)| a + b, (2, 3)).unwrap(), 5);
}
