//! SharedMemoryManager: segments made through it, in any process, outlive their maker until
//! the manager shuts down; shutdown (or dropping the manager) unlinks every one; a shut-down
//! manager makes no more; and the segments of a manager whose process is killed go too.

use std::path::Path;
use std::time::{Duration, Instant};

use multiproc::shared::{ListItem, ShareableList, SharedMemoryManager};
use multiproc::{Event, SharedMemory, ShmError};

const LONG: Duration = Duration::from_secs(20);

fn exists(name: &str) -> bool {
    Path::new("/dev/shm").join(name).exists()
}

fn wait_gone(name: &str) {
    let t0 = Instant::now();
    while exists(name) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{name} still exists"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn join_bounded<R: serde::de::DeserializeOwned>(h: multiproc::Handle<R>) -> R {
    if h.join_timeout(Duration::from_secs(60)).is_none() {
        let _ = h.kill();
        panic!("{} ran past a minute", h.name());
    }
    h.join().unwrap()
}

/// Makes a segment and a list through the manager, and returns their names.
fn make_two(smm: SharedMemoryManager) -> (String, String) {
    let shm = smm.shared_memory(64).expect("shared_memory");
    shm.write(0, b"from the child");
    let list = smm.shareable_list([10, 20]).expect("shareable_list");
    (shm.name().to_owned(), list.name().to_owned())
}

#[multiproc::test]
fn segments_made_in_a_child_outlive_it_until_shutdown() {
    let smm = SharedMemoryManager::start().unwrap();
    let (seg, list) = join_bounded(multiproc::spawn(make_two, smm.clone()));
    // The child has ended; its segments stay.
    std::thread::sleep(Duration::from_millis(300));
    let shm = SharedMemory::attach(&seg).unwrap();
    let mut b = [0u8; 14];
    shm.read(0, &mut b);
    assert_eq!(&b, b"from the child");
    assert_eq!(
        ShareableList::attach(&list).unwrap().to_vec().unwrap(),
        [ListItem::Int(10), ListItem::Int(20)]
    );
    let mine = smm.shared_memory(8).unwrap();
    assert_eq!(smm.shutdown(), 3);
    for name in [&seg, &list, &mine.name().to_owned()] {
        assert!(!exists(name), "{name} survived the shutdown");
    }
    assert!(smm.is_shut_down());
}

#[multiproc::test]
fn dropping_the_manager_unlinks_what_it_made() {
    let smm = SharedMemoryManager::start().unwrap();
    let client = smm.clone();
    let a = client.shared_memory(16).unwrap();
    let b = smm.shareable_list(["x"]).unwrap();
    drop(client);
    assert!(
        exists(a.name()) && exists(b.name()),
        "a client's drop shut it down"
    );
    drop(smm);
    assert!(!exists(a.name()) && !exists(b.name()));
}

#[multiproc::test]
fn a_segment_unlinked_early_is_not_counted_at_shutdown() {
    let smm = SharedMemoryManager::start().unwrap();
    let a = smm.shared_memory(16).unwrap();
    a.unlink().unwrap();
    assert_eq!(smm.shutdown(), 0);
}

fn make_after_shutdown(smm: SharedMemoryManager) -> bool {
    matches!(smm.shared_memory(8), Err(ShmError::ManagerShutDown))
}

#[multiproc::test]
fn a_shut_down_manager_makes_nothing_anywhere() {
    let smm = SharedMemoryManager::start().unwrap();
    let client = smm.clone();
    smm.shutdown();
    assert!(matches!(
        client.shareable_list([1]),
        Err(ShmError::ManagerShutDown)
    ));
    assert!(join_bounded(multiproc::spawn(make_after_shutdown, client)));
}

fn start_make_and_linger((names, made): (multiproc::Queue<String>, Event)) {
    let smm = SharedMemoryManager::start().unwrap();
    for _ in 0..3 {
        names
            .put(smm.shared_memory(32).unwrap().name().to_owned())
            .unwrap();
    }
    made.set();
    std::thread::sleep(LONG);
    drop(smm);
}

#[multiproc::test]
fn the_segments_of_a_killed_managers_process_are_removed() {
    let (names, made) = (multiproc::Queue::new(), Event::new());
    let child = multiproc::spawn(start_make_and_linger, (names.clone(), made.clone()));
    assert!(made.wait_timeout(LONG), "the child made nothing");
    let names: Vec<String> = (0..3).map(|_| names.get_timeout(LONG).unwrap()).collect();
    assert!(names.iter().all(|n| exists(n)));
    child.kill().unwrap();
    assert_eq!(child.join_timeout(Duration::from_secs(10)), Some(-9));
    for n in &names {
        wait_gone(n);
    }
}
