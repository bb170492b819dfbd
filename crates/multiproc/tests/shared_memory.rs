//! Named shared memory segments: Python's errors, attaching from a child and from a real
//! Python process, and no residue when the creator ends without unlinking, even by SIGKILL.

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
