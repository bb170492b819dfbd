//! Processes: lifecycle, exit codes, names, joins with timeouts, nesting, and leaving no trace.

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use multiproc::{Process, ProcessError, StartMethod};

fn sleeper(ms: u64) {
    sleep(Duration::from_millis(ms));
}

fn double(x: u64) -> u64 {
    x * 2
}

fn exits(code: i32) {
    multiproc::exit(code);
}

fn panics(msg: String) {
    panic!("{msg}");
}

/// The pids of this process's children that are zombies.
fn zombie_children() -> Vec<u32> {
    let me = std::process::id();
    children_of(me)
        .into_iter()
        .filter(|(_, state, _)| *state == 'Z')
        .map(|(p, _, _)| p)
        .collect()
}

/// (pid, state, comm) of every child of `parent`, from /proc.
fn children_of(parent: u32) -> Vec<(u32, char, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_owned();
        let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
        let state = rest[0].chars().next().unwrap_or('?');
        if rest[1].parse::<u32>().ok() == Some(parent) {
            out.push((pid, state, comm));
        }
    }
    out
}

#[test]
fn before_start_not_alive_and_no_exitcode() {
    let p = Process::new(sleeper, 10);
    assert!(!p.is_alive());
    assert_eq!(p.exitcode(), None);
    assert!(format!("{p:?}").ends_with(", initial)>"), "{p:?}");
    let name = p.get_name().to_owned();
    assert!(
        !multiproc::active_children()
            .iter()
            .any(|c| c.name() == name)
    );
}

#[test]
fn join_returns_the_value() {
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let h = Process::new(double, 21)
            .start_method(method)
            .start()
            .unwrap();
        assert_eq!(h.join().unwrap(), 42, "{method}");
    }
}

#[test]
fn closure_without_captures_is_a_target() {
    let h = multiproc::spawn(|s: String| s.to_uppercase(), "abc".to_owned());
    assert_eq!(h.join().unwrap(), "ABC");
}

#[test]
fn exit_codes_follow_python() {
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let ok = Process::new(sleeper, 0)
            .start_method(method)
            .start()
            .unwrap();
        let eight = Process::new(exits, 8).start_method(method).start().unwrap();
        let zero = Process::new(exits, 0).start_method(method).start().unwrap();
        let boom = Process::new(panics, "boom".to_owned())
            .start_method(method)
            .start()
            .unwrap();
        assert_eq!(ok.wait(), 0);
        assert_eq!(eight.wait(), 8);
        assert_eq!(zero.wait(), 0);
        assert_eq!(boom.wait(), 1);
        assert!(ok.join().is_ok());
        match eight.join() {
            Err(ProcessError::Exited { code: 8, .. }) => {}
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            zero.join(),
            Err(ProcessError::Exited { code: 0, .. })
        ));
        match boom.join() {
            Err(e @ ProcessError::Panicked { .. }) => {
                assert_eq!(e.exitcode(), Some(1));
                assert!(e.to_string().contains("boom"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn terminate_gives_minus_15_and_kill_minus_9() {
    let t = Process::new(sleeper, 30_000).start().unwrap();
    let k = Process::new(sleeper, 30_000).start().unwrap();
    assert!(t.is_alive());
    t.terminate().unwrap();
    k.kill().unwrap();
    assert_eq!(t.wait(), -15);
    assert_eq!(k.wait(), -9);
    assert!(format!("{t:?}").contains("stopped[SIGTERM]"), "{t:?}");
    assert!(matches!(
        k.join(),
        Err(ProcessError::Signaled { signal: 9, .. })
    ));
    // Terminating a process that has ended is harmless.
    t.terminate().unwrap();
}

#[test]
fn join_timeout_zero_returns_at_once() {
    let h = Process::new(sleeper, 30_000).start().unwrap();
    let t0 = Instant::now();
    assert_eq!(h.join_timeout(Duration::ZERO), None);
    assert!(t0.elapsed() < Duration::from_secs(1));
    h.kill().unwrap();
    assert_eq!(h.wait(), -9);
}

#[test]
fn join_timeout_waits_and_can_repeat() {
    let h = Process::new(sleeper, 30_000).start().unwrap();
    let t0 = Instant::now();
    assert_eq!(h.join_timeout(Duration::from_millis(500)), None);
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert!(h.is_alive());
    assert_eq!(h.join_timeout(Duration::from_millis(50)), None);
    h.terminate().unwrap();
    assert_eq!(h.join_timeout(Duration::from_secs(10)), Some(-15));
    assert_eq!(h.join_timeout(Duration::ZERO), Some(-15));
}

fn report_parent(_: ()) -> (String, u32, Vec<u32>) {
    let parent = multiproc::parent_process().expect("a child has a parent");
    (
        parent.name().to_owned(),
        parent.pid(),
        multiproc::current_process().identity().to_vec(),
    )
}

#[test]
fn parent_process_in_child() {
    assert!(multiproc::parent_process().is_none());
    let h = Process::new(report_parent, ()).start().unwrap();
    let (name, pid, identity) = h.join().unwrap();
    assert_eq!(name, "MainProcess");
    assert_eq!(pid, std::process::id());
    assert_eq!(identity.len(), 1);
}

fn nested(depth: u32) -> Vec<String> {
    let me = multiproc::current_process().name().to_owned();
    if depth == 0 {
        return vec![me];
    }
    let first = Process::new(nested, depth - 1)
        .start()
        .unwrap()
        .join()
        .unwrap();
    let second = Process::new(nested, depth - 1)
        .start()
        .unwrap()
        .join()
        .unwrap();
    let mut out = vec![me];
    out.extend(first);
    out.extend(second);
    out
}

#[test]
fn two_level_nesting_names_like_python() {
    let h = Process::new(nested, 2).name("top").start().unwrap();
    let names = h.join().unwrap();
    // top starts Process-<k>:1 and :2, each of which starts two of its own.
    assert_eq!(names.len(), 7);
    assert_eq!(names[0], "top");
    let k = names[1]
        .strip_prefix("Process-")
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        &names[1..],
        [
            format!("Process-{k}:1"),
            format!("Process-{k}:1:1"),
            format!("Process-{k}:1:2"),
            format!("Process-{k}:2"),
            format!("Process-{k}:2:1"),
            format!("Process-{k}:2:2"),
        ]
    );
}

#[test]
fn hundred_short_children_exit_zero() {
    let hs: Vec<_> = (0..100)
        .map(|i| Process::new(double, i).start().unwrap())
        .collect();
    let values: Vec<u64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(values, (0..100).map(|i| i * 2).collect::<Vec<_>>());
}

#[test]
fn hundred_sleepers_terminated() {
    let hs: Vec<_> = (0..100)
        .map(|_| Process::new(sleeper, 60_000).start().unwrap())
        .collect();
    for h in &hs {
        h.terminate().unwrap();
    }
    for h in &hs {
        assert_eq!(h.join_timeout(Duration::from_secs(30)), Some(-15));
    }
}

#[test]
fn dropped_handles_leave_no_zombies() {
    for _ in 0..5 {
        drop(Process::new(sleeper, 0).start().unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive = multiproc::active_children();
        if alive.is_empty() && zombie_children().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "children left: {alive:?}, zombies {:?}",
            zombie_children()
        );
        sleep(Duration::from_millis(20));
    }
}

#[test]
fn active_children_lists_running_ones() {
    let h = Process::new(sleeper, 30_000)
        .name("listed")
        .start()
        .unwrap();
    assert!(
        multiproc::active_children()
            .iter()
            .any(|c| c.name() == "listed" && c.pid() == h.pid())
    );
    h.kill().unwrap();
    h.wait();
    assert!(
        !multiproc::active_children()
            .iter()
            .any(|c| c.name() == "listed")
    );
}

/// SIGKILL through the `kill` command, keeping these tests free of unsafe code.
fn unsafe_free_kill(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}

#[test]
fn fork_server_restarts_after_being_killed() {
    Process::new(double, 1).start().unwrap().join().unwrap();
    let server = children_of(std::process::id())
        .into_iter()
        .find(|(_, _, comm)| comm == "mp-forkserver")
        .map(|(pid, _, _)| pid)
        .expect("a fork server runs");
    unsafe_free_kill(server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{server}/cmdline")).exists()
        && std::fs::read_to_string(format!("/proc/{server}/stat"))
            .is_ok_and(|s| !s.contains(") Z "))
    {
        assert!(Instant::now() < deadline);
        sleep(Duration::from_millis(10));
    }
    assert_eq!(Process::new(double, 5).start().unwrap().join().unwrap(), 10);
}

fn comm_of_self(_: ()) -> String {
    std::fs::read_to_string("/proc/self/comm")
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn os_process_name_is_set() {
    let h = Process::new(comm_of_self, ())
        .name("short-name")
        .start()
        .unwrap();
    assert_eq!(h.join().unwrap(), "short-name");
}

#[derive(Debug)]
struct Unencodable;

impl serde::Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this value refuses to be encoded",
        ))
    }
}

impl<'de> serde::Deserialize<'de> for Unencodable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unencodable)
    }
}

fn takes_unencodable(_: Unencodable) {}

#[test]
fn unencodable_argument_fails_at_start() {
    let before = multiproc::active_children().len();
    let err = Process::new(takes_unencodable, Unencodable)
        .start()
        .unwrap_err();
    assert!(matches!(err, ProcessError::Encode(_)), "{err:?}");
    assert_eq!(multiproc::active_children().len(), before);
}

fn returns_unencodable(_: ()) -> Unencodable {
    Unencodable
}

#[test]
fn unencodable_return_value_is_an_error_at_join() {
    let err = Process::new(returns_unencodable, ())
        .start()
        .unwrap()
        .join()
        .unwrap_err();
    assert!(matches!(err, ProcessError::Failed { .. }), "{err:?}");
    assert_eq!(err.exitcode(), Some(1));
}

fn write_to(fd: multiproc::Fd) {
    use std::io::Write;
    let mut f = std::fs::File::from(fd);
    f.write_all(b"written by the child").unwrap();
}

#[test]
fn open_file_passes_to_a_child() {
    use std::io::{Read, Seek};
    let mut file = tempfile::tempfile().unwrap();
    let fd = multiproc::Fd::from(file.try_clone().unwrap());
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let h = Process::new(write_to, fd.try_clone().unwrap())
            .start_method(method)
            .start()
            .unwrap();
        h.join().unwrap();
    }
    let mut s = String::new();
    file.rewind().unwrap();
    file.read_to_string(&mut s).unwrap();
    assert_eq!(s, "written by the childwritten by the child");
}

fn start_daemon_grandchild(_: ()) -> u32 {
    let d = Process::new(sleeper, 60_000).daemon(true).start().unwrap();
    let pid = d.pid();
    std::mem::forget(d);
    pid
}

fn start_grandchild_and_report(tx: multiproc::Connection) {
    let d = Process::new(sleeper, 60_000).daemon(true).start().unwrap();
    let n = Process::new(sleeper, 60_000).start().unwrap();
    tx.send(&(d.pid(), n.pid())).unwrap();
    sleep(Duration::from_secs(60));
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[test]
fn daemon_is_terminated_when_its_parent_returns() {
    let h = Process::new(start_daemon_grandchild, ()).start().unwrap();
    let grandchild = h.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(grandchild) {
        assert!(
            Instant::now() < deadline,
            "daemon {grandchild} outlived its parent"
        );
        sleep(Duration::from_millis(20));
    }
}

#[test]
fn children_die_when_their_parent_is_killed() {
    let (rx, tx) = common::connection_pair();
    let h = Process::new(start_grandchild_and_report, tx)
        .start()
        .unwrap();
    let (daemon, non_daemon): (u32, u32) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(alive(daemon) && alive(non_daemon));
    h.kill().unwrap();
    assert_eq!(h.wait(), -9);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(daemon) || alive(non_daemon) {
        assert!(Instant::now() < deadline, "orphans left behind");
        sleep(Duration::from_millis(20));
    }
}

#[test]
fn fork_method_runs_targets() {
    // SAFETY: this test's thread is the only one that starts processes while it runs; the
    // other test threads of this binary do not hold locks the child needs (the child only
    // runs the bootstrap, then `double`).
    let fork = unsafe { StartMethod::fork() };
    let h = Process::new(double, 4).start_method(fork).start().unwrap();
    assert_eq!(h.join().unwrap(), 8);
}

#[test]
fn context_and_global_method() {
    let ctx = multiproc::get_context(StartMethod::Spawn);
    assert_eq!(ctx.process(double, 3).start().unwrap().join().unwrap(), 6);
    assert_eq!(multiproc::get_start_method(), StartMethod::ForkServer);
    assert_eq!("spawn".parse::<StartMethod>().unwrap(), StartMethod::Spawn);
    assert!("fork".parse::<StartMethod>().is_err());
}

#[test]
fn cpu_count_is_positive() {
    assert!(multiproc::cpu_count() >= 1);
}

/// The descriptors open in this process (without the one that lists them).
fn my_fds(_: ()) -> Vec<String> {
    let dir = std::fs::read_dir("/proc/self/fd").unwrap();
    let mut fds: Vec<(String, String)> = dir
        .flatten()
        .map(|e| {
            let target = std::fs::read_link(e.path())
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            (e.file_name().to_string_lossy().into_owned(), target)
        })
        .collect();
    // Not the descriptor of the listing itself.
    fds.retain(|(_, t)| !t.starts_with("/proc/"));
    fds.into_iter()
        .map(|(n, t)| format!("{n} -> {t}"))
        .collect()
}

/// A child started by executing the binary (spawn, and the fork server behind forkserver)
/// keeps only its standard streams and its bootstrap socket, whatever its parent had open
/// without close-on-exec (here, for example, cargo's jobserver pipes).
#[test]
fn children_hold_only_their_own_descriptors() {
    for method in [StartMethod::Spawn, StartMethod::ForkServer] {
        let fds = Process::new(my_fds, ())
            .start_method(method)
            .start()
            .unwrap()
            .join()
            .unwrap();
        let others: Vec<&String> = fds
            .iter()
            .filter(|f| !["0 ", "1 ", "2 "].iter().any(|s| f.starts_with(s)))
            .collect();
        assert!(
            others.len() <= 1,
            "{method}: unexpected descriptors {fds:?}"
        );
        assert!(
            others.iter().all(|f| f.contains("socket:")),
            "{method}: {fds:?}"
        );
    }
}

fn method_and_grandchild_method(_: ()) -> (String, String, bool) {
    let mine = multiproc::get_start_method().name().to_owned();
    let theirs = Process::new(report_method, ())
        .start()
        .unwrap()
        .join()
        .unwrap();
    let fork_server = children_of(std::process::id())
        .iter()
        .any(|(_, _, comm)| comm == "mp-forkserver");
    (mine, theirs, fork_server)
}

fn report_method(_: ()) -> String {
    multiproc::get_start_method().name().to_owned()
}

/// Regression: a child started from `get_context(m)` reported the parent's global default and
/// used it for its own children.
#[test]
fn context_method_is_the_childs_own_default() {
    let ctx = multiproc::get_context(StartMethod::Spawn);
    let (mine, theirs, fork_server) = ctx
        .process(method_and_grandchild_method, ())
        .start()
        .unwrap()
        .join()
        .unwrap();
    assert_eq!((mine.as_str(), theirs.as_str()), ("spawn", "spawn"));
    assert!(!fork_server, "a spawn child started a fork server");
    let (mine, theirs, fork_server) = Process::new(method_and_grandchild_method, ())
        .start_method(StartMethod::ForkServer)
        .start()
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(
        (mine.as_str(), theirs.as_str()),
        ("forkserver", "forkserver")
    );
    assert!(fork_server);
    // The parent's own default is unchanged.
    assert_eq!(multiproc::get_start_method(), StartMethod::ForkServer);
}

#[test]
fn all_start_methods_default_first() {
    assert_eq!(
        multiproc::get_all_start_methods(),
        ["forkserver", "spawn", "fork"]
    );
}

#[test]
fn interrupt_sends_sigint() {
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let h = Process::new(sleeper, 30_000)
            .start_method(method)
            .start()
            .unwrap();
        h.interrupt().unwrap();
        assert_eq!(
            h.join_timeout(Duration::from_secs(30)),
            Some(-2),
            "{method}"
        );
        assert!(matches!(
            h.join(),
            Err(ProcessError::Signaled { signal: 2, .. })
        ));
    }
}

fn registers_atexit((tx, code): (multiproc::Connection, Option<i32>)) {
    let tx = std::sync::Arc::new(tx);
    let tx2 = tx.clone();
    multiproc::atexit(move || tx.send(&"first registered").unwrap());
    multiproc::atexit(move || tx2.send(&"last registered").unwrap());
    if let Some(code) = code {
        multiproc::exit(code);
    }
}

/// `atexit` handlers registered in a child run when its target returns (or it calls `exit`),
/// latest first, as Python's do.
#[test]
fn atexit_handlers_run_when_the_target_returns() {
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        for code in [None, Some(4)] {
            let (rx, tx) = common::connection_pair();
            let h = Process::new(registers_atexit, (tx, code))
                .start_method(method)
                .start()
                .unwrap();
            assert_eq!(
                h.join_timeout(Duration::from_secs(30)),
                Some(code.unwrap_or(0))
            );
            let got: Vec<String> = (0..2)
                .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
                .collect();
            assert_eq!(got, ["last registered", "first registered"], "{method}");
        }
    }
}

/// Regression: a dropped handle's child stayed a zombie until the next library call. Here no
/// multiproc call follows the drop, and the child is reaped soon after it ends.
#[test]
fn dropped_handle_is_reaped_without_further_calls() {
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let h = Process::new(sleeper, 200)
            .start_method(method)
            .start()
            .unwrap();
        let pid = h.pid();
        drop(h);
        let deadline = Instant::now() + Duration::from_secs(10);
        // Reaped: the pid is gone from /proc (or, reused, no longer our child).
        while children_of(std::process::id())
            .iter()
            .any(|(p, _, _)| *p == pid)
        {
            assert!(
                Instant::now() < deadline,
                "{method}: child {pid} was not reaped"
            );
            sleep(Duration::from_millis(20));
        }
    }
}

fn ignore_sigterm() {
    // SAFETY: installing SIG_IGN runs no code of ours in a signal handler.
    unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
}

fn stubborn_sleeper(ms: u64) {
    ignore_sigterm();
    sleep(Duration::from_millis(ms));
}

fn start_stubborn_daemon(_: ()) -> u32 {
    let d = Process::new(stubborn_sleeper, 60_000)
        .daemon(true)
        .start()
        .unwrap();
    // Let it ignore SIGTERM before this process exits and terminates it.
    sleep(Duration::from_millis(300));
    d.pid()
}

/// A daemon that ignores SIGTERM delays its parent's exit by the grace period at most, then
/// is killed.
#[test]
fn daemon_ignoring_sigterm_is_killed_after_the_grace_period() {
    let t0 = Instant::now();
    let h = Process::new(start_stubborn_daemon, ()).start().unwrap();
    assert_eq!(h.join_timeout(Duration::from_secs(60)), Some(0));
    let took = t0.elapsed();
    assert!(
        took >= multiproc::DAEMON_GRACE / 2 && took < Duration::from_secs(60),
        "{took:?}"
    );
    let daemon = h.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(daemon) {
        assert!(Instant::now() < deadline, "daemon {daemon} escaped");
        sleep(Duration::from_millis(20));
    }
}

fn start_stubborn_grandchildren((tx, outlive): (multiproc::Connection, bool)) {
    let daemon = Process::new(stubborn_sleeper, 60_000)
        .daemon(true)
        .start()
        .unwrap();
    let other = Process::new(stubborn_sleeper, 60_000)
        .outlives_parent(outlive)
        .start()
        .unwrap();
    sleep(Duration::from_millis(300));
    tx.send(&(daemon.pid(), other.pid())).unwrap();
    sleep(Duration::from_secs(60));
}

/// Regression: a child that ignored SIGTERM outlived a parent that was SIGKILLed.
#[test]
fn children_ignoring_sigterm_die_with_a_killed_parent() {
    let (rx, tx) = common::connection_pair();
    let h = Process::new(start_stubborn_grandchildren, (tx, false))
        .start()
        .unwrap();
    let (daemon, other): (u32, u32) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(alive(daemon) && alive(other));
    h.kill().unwrap();
    assert_eq!(h.wait(), -9);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(daemon) || alive(other) {
        assert!(
            Instant::now() < deadline,
            "a child escaped its killed parent"
        );
        sleep(Duration::from_millis(20));
    }
}

/// `outlives_parent(true)` lets a child outlive its parent on purpose.
#[test]
fn outlives_parent_keeps_a_child_alive_after_its_parent_dies() {
    let (rx, tx) = common::connection_pair();
    let h = Process::new(start_stubborn_grandchildren, (tx, true))
        .start()
        .unwrap();
    let (daemon, survivor): (u32, u32) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    h.kill().unwrap();
    assert_eq!(h.wait(), -9);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(daemon) {
        assert!(Instant::now() < deadline, "the daemon escaped");
        sleep(Duration::from_millis(20));
    }
    sleep(Duration::from_millis(300));
    let outlived = alive(survivor);
    unsafe_free_kill(survivor);
    assert!(outlived, "the child that was to outlive its parent died");
}

fn set_level_and_report(_: ()) -> String {
    multiproc::get_logger().level().to_string()
}

/// Regression: `get_logger().set_level(l)` was inherited only after `log_to_stderr`.
#[test]
fn logger_level_is_inherited() {
    // No logger is installed in this test binary, so the level only moves the facade's filter.
    multiproc::get_logger().set_level(multiproc::LevelFilter::Debug);
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let level = Process::new(set_level_and_report, ())
            .start_method(method)
            .start()
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(level, "DEBUG", "{method}");
    }
}

fn report_args(_: ()) -> Vec<String> {
    std::env::args().collect()
}

/// A child sees its parent's arguments, and it never runs the test harness (this test's
/// binary), whatever the arguments.
#[test]
fn child_sees_the_parents_arguments() {
    let mine: Vec<String> = std::env::args().collect();
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let theirs = Process::new(report_args, ())
            .start_method(method)
            .start()
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(theirs, mine, "{method}");
    }
}

/// `#[multiproc::test]` and `init()` are no longer needed, and stay harmless: called any number
/// of times, in a test made with the attribute, they change nothing.
#[multiproc::test]
fn attribute_and_init_are_harmless() {
    multiproc::init();
    multiproc::init();
    assert_eq!(multiproc::spawn(double, 5).join().unwrap(), 10);
    assert!(multiproc::parent_process().is_none());
}
