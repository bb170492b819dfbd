//! Named shared memory segments: Python's errors, attaching from a child and from a real
//! Python process, no residue when the creator ends without unlinking (even by SIGKILL, even
//! for a thousand segments and more), and the `track` option of creators and attachers.

use std::path::Path;
use std::time::{Duration, Instant};

use multiproc::{Event, SharedMemory, ShmError};

const LONG: Duration = Duration::from_secs(20);

fn unique(tag: &str) -> String {
    format!("multiproc-test-{tag}-{}", std::process::id())
}

fn segment_exists(name: &str) -> bool {
    Path::new("/dev/shm").join(name).exists()
}

fn wait_gone(name: &str) -> Duration {
    let t0 = Instant::now();
    while segment_exists(name) {
        assert!(t0.elapsed() < Duration::from_secs(5), "{name} still exists");
        std::thread::sleep(Duration::from_millis(10));
    }
    t0.elapsed()
}

/// The segments in /dev/shm whose names start with `prefix` (this test's own).
fn count_with_prefix(prefix: &str) -> usize {
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .count()
}

/// Waits (20 s at most) until no segment starts with `prefix`; panics with how many are left.
fn wait_none_left(prefix: &str) {
    let t0 = Instant::now();
    loop {
        let left = count_with_prefix(prefix);
        if left == 0 {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{left} segments named {prefix}* are left"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Joins `h`, killing it if it runs past a minute.
fn join_bounded<R: serde::de::DeserializeOwned>(h: multiproc::Handle<R>) -> R {
    if h.join_timeout(Duration::from_secs(60)).is_none() {
        let _ = h.kill();
        panic!("{} ran past a minute", h.name());
    }
    h.join().unwrap()
}

const MANY: usize = 1100;

/// Creates `MANY` segments named `prefix-i` and closes them, unlinking none.
fn create_many(prefix: &str) {
    for i in 0..MANY {
        let shm = SharedMemory::create_named(&format!("{prefix}-{i}"), 64).expect("create");
        assert!(shm.tracked());
        shm.close();
    }
}

fn create_many_and_exit(prefix: String) -> usize {
    create_many(&prefix);
    MANY
}

fn create_many_and_linger((prefix, created): (String, Event)) {
    create_many(&prefix);
    created.set();
    std::thread::sleep(LONG);
}

fn attach_and_write(name: String) {
    let shm = SharedMemory::attach(&name).expect("attach");
    shm.write(0, b"from the child");
}

fn create_and_linger((name, created): (String, Event)) {
    let shm = SharedMemory::create_named(&name, 4096).expect("create");
    shm.write(0, b"x");
    created.set();
    std::thread::sleep(LONG);
}

fn create_and_leak(name: String) -> usize {
    // Not unlinked: the tracker removes it once this process has ended.
    SharedMemory::create_named(&name, 100)
        .expect("create")
        .size()
}

#[multiproc::test]
fn python_errors_exists_not_found_bad_size() {
    let name = unique("errors");
    let shm = SharedMemory::create_named(&name, 64).unwrap();
    assert_eq!(shm.name(), name);
    assert!(matches!(
        SharedMemory::create_named(&name, 64),
        Err(ShmError::Exists(n)) if n == name
    ));
    assert!(matches!(
        SharedMemory::create_named(&unique("zero"), 0),
        Err(ShmError::BadSize(0))
    ));
    shm.unlink().unwrap();
    assert!(!segment_exists(&name));
    let e = SharedMemory::attach(&name).unwrap_err();
    assert!(matches!(e, ShmError::NotFound(_)));
    assert_eq!(
        e.to_string(),
        format!("shared memory segment '{name}' does not exist")
    );
    // The mapping outlives the name.
    shm.write(0, b"still mapped");
}

#[multiproc::test]
fn child_attaches_by_name() {
    let shm = SharedMemory::create(64).unwrap();
    multiproc::spawn(attach_and_write, shm.name().to_owned())
        .join()
        .unwrap();
    let mut buf = [0u8; 14];
    shm.read(0, &mut buf);
    assert_eq!(&buf, b"from the child");
    shm.unlink().unwrap();
}

#[multiproc::test]
fn no_residue_after_creator_is_killed() {
    let name = unique("killed");
    let created = Event::new();
    let child = multiproc::spawn(create_and_linger, (name.clone(), created.clone()));
    assert!(created.wait_timeout(LONG), "the child never created {name}");
    assert!(segment_exists(&name));
    // Attached here, it stays readable after its name is removed.
    let shm = SharedMemory::attach(&name).unwrap();
    child.kill().unwrap();
    assert_eq!(child.wait(), -9);
    wait_gone(&name);
    let mut b = [0u8];
    shm.read(0, &mut b);
    assert_eq!(&b, b"x");
}

#[multiproc::test]
fn no_residue_after_creator_exits_without_unlink() {
    let name = unique("leaked");
    let size = multiproc::spawn(create_and_leak, name.clone())
        .join()
        .unwrap();
    assert!(size >= 100);
    wait_gone(&name);
}

#[multiproc::test]
fn segment_travels_to_a_child_by_descriptor() {
    fn write_to(shm: SharedMemory) {
        shm.write(3, &[42]);
    }
    let shm = SharedMemory::create(8).unwrap();
    // Unlinked: no name to attach by, yet the descriptor carries it.
    shm.unlink().unwrap();
    multiproc::spawn(write_to, shm.try_clone().unwrap())
        .join()
        .unwrap();
    let mut b = [0u8];
    shm.read(3, &mut b);
    assert_eq!(b, [42]);
}

#[multiproc::test]
fn python_attaches_to_our_segment() {
    let shm = SharedMemory::create(32).unwrap();
    shm.write(0, b"hello from rust");
    let script = format!(
        "from multiprocessing import shared_memory, resource_tracker\n\
         s = shared_memory.SharedMemory({:?})\n\
         resource_tracker.unregister(s._name, 'shared_memory')\n\
         print(bytes(s.buf[:15]).decode())\n\
         s.buf[0:2] = b'HE'\n\
         s.close()\n",
        shm.name()
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello from rust"
    );
    let mut b = [0u8; 2];
    shm.read(0, &mut b);
    assert_eq!(&b, b"HE");
    shm.unlink().unwrap();
}

/// Registrations past a fixed capacity of 1024 were dropped: 76 of 1100 segments stayed in
/// /dev/shm forever.
#[multiproc::test]
fn no_segment_of_1100_survives_a_normal_exit() {
    let prefix = unique("many-exit");
    let made = join_bounded(multiproc::spawn(create_many_and_exit, prefix.clone()));
    assert_eq!(made, MANY);
    wait_none_left(&prefix);
}

#[multiproc::test]
fn no_segment_of_1100_survives_sigkill() {
    let prefix = unique("many-kill");
    let created = Event::new();
    let child = multiproc::spawn(create_many_and_linger, (prefix.clone(), created.clone()));
    assert!(
        created.wait_timeout(LONG),
        "the child never created its segments"
    );
    assert_eq!(count_with_prefix(&prefix), MANY);
    child.kill().unwrap();
    assert_eq!(child.join_timeout(Duration::from_secs(10)), Some(-9));
    wait_none_left(&prefix);
}

fn create_untracked(name: String) -> bool {
    let shm = SharedMemory::options()
        .track(false)
        .create_named(&name, 32)
        .expect("create");
    shm.write(0, b"kept");
    shm.tracked()
}

#[multiproc::test]
fn an_untracked_segment_outlives_its_creator() {
    let name = unique("untracked");
    assert!(!join_bounded(multiproc::spawn(
        create_untracked,
        name.clone()
    )));
    // Give a tracker, had there been one, time to act.
    std::thread::sleep(Duration::from_millis(300));
    let shm = SharedMemory::attach(&name).expect("still there");
    let mut b = [0u8; 4];
    shm.read(0, &mut b);
    assert_eq!(&b, b"kept");
    shm.unlink().unwrap();
}

fn attach_tracked(name: String) -> bool {
    let shm = SharedMemory::options()
        .track(true)
        .attach(&name)
        .expect("attach");
    shm.tracked()
}

#[multiproc::test]
fn a_tracking_attacher_removes_the_segment_when_it_ends() {
    let name = unique("attach-tracked");
    let shm = SharedMemory::options()
        .track(false)
        .create_named(&name, 16)
        .unwrap();
    assert!(join_bounded(multiproc::spawn(attach_tracked, name.clone())));
    wait_gone(&name);
    // The creator's mapping stays valid.
    shm.write(0, b"ok");
}

fn create_two_and_wait((name, sentinel, created, go): (String, String, Event, Event)) {
    let first = SharedMemory::create_named(&name, 16).expect("create");
    let second = SharedMemory::create_named(&sentinel, 16).expect("create");
    created.set();
    assert!(go.wait_timeout(LONG), "never told to go");
    drop((first, second));
}

#[multiproc::test]
fn a_newer_segment_under_an_unlinked_name_is_left_alone() {
    let (name, sentinel) = (unique("reused-name"), unique("reused-sentinel"));
    let (created, go) = (Event::new(), Event::new());
    let child = multiproc::spawn(
        create_two_and_wait,
        (name.clone(), sentinel.clone(), created.clone(), go.clone()),
    );
    assert!(created.wait_timeout(LONG));
    // Unlinked here, in another process than the creator's, whose tracker still has it; then
    // a newer segment takes the name.
    SharedMemory::attach(&name).unwrap().unlink().unwrap();
    let newer = SharedMemory::options()
        .track(false)
        .create_named(&name, 16)
        .unwrap();
    go.set();
    join_bounded(child);
    // The tracker removes the sentinel after it has looked at the reused name.
    wait_gone(&sentinel);
    assert!(segment_exists(&name));
    newer.unlink().unwrap();
}

/// The pids of the processes whose parent is `parent` and whose name is `comm`.
fn children_named(parent: u32, comm: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let ppid = stat[close + 2..].split(' ').nth(1);
        if &stat[open + 1..close] == comm && ppid == Some(&parent.to_string()) {
            out.push(pid);
        }
    }
    out
}

fn kill_the_tracker_between_two_creates(prefix: String) -> usize {
    let first = SharedMemory::create_named(&format!("{prefix}-1"), 16).expect("create");
    let trackers = children_named(std::process::id(), "multiproc-shm");
    assert_eq!(trackers.len(), 1, "{trackers:?}");
    // SAFETY: a plain kill(2) of a process this test found by its name and parent.
    let r = unsafe { libc::kill(trackers[0], libc::SIGKILL) };
    assert_eq!(r, 0);
    let t0 = Instant::now();
    // Dead once it is a zombie (it stays one until the next create reaps it) or gone.
    while std::fs::read_to_string(format!("/proc/{}/stat", trackers[0]))
        .is_ok_and(|s| !s.contains(") Z "))
    {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the tracker survived SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The next create notices, and a new tracker takes the whole table over.
    let second = SharedMemory::create_named(&format!("{prefix}-2"), 16).expect("create");
    let now = children_named(std::process::id(), "multiproc-shm");
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now[0], trackers[0]);
    drop((first, second));
    2
}

#[multiproc::test]
fn a_killed_tracker_is_replaced_and_forgets_nothing() {
    let prefix = unique("tracker-killed");
    assert_eq!(
        join_bounded(multiproc::spawn(
            kill_the_tracker_between_two_creates,
            prefix.clone()
        )),
        2
    );
    wait_none_left(&prefix);
}

#[multiproc::test]
fn unlinked_segments_travel_by_descriptor_where_python_raises() {
    fn read_it(shm: SharedMemory) -> (Vec<u8>, bool) {
        let mut b = vec![0u8; 5];
        shm.read(0, &mut b);
        // Its name is gone: attaching by name fails, as it would in Python.
        (
            b,
            matches!(SharedMemory::attach(shm.name()), Err(ShmError::NotFound(_))),
        )
    }
    let shm = SharedMemory::create(8).unwrap();
    shm.write(0, b"still");
    shm.unlink().unwrap();
    let (got, not_found) = join_bounded(multiproc::spawn(read_it, shm.try_clone().unwrap()));
    assert_eq!(got, b"still");
    assert!(not_found);
}
