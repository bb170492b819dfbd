//! ShareableList: CPython's layout, checked against a real `python3` attaching by name both
//! ways, and one list shared between processes.

mod common;

use std::process::Command;
use std::time::Duration;

use multiproc::shared::{ListItem, ShareableList};
use multiproc::{SharedMemory, ShmError};

fn unique(tag: &str) -> String {
    format!("multiproc-test-list-{tag}-{}", std::process::id())
}

/// Runs `script` with python3 (bounded to a minute) and returns its standard output; the
/// segment it attaches to is taken off Python's resource tracker, so that Python's exit does
/// not unlink it.
fn python(script: &str) -> String {
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script]).env("PYTHONIOENCODING", "utf-8");
    let out = common::run_bounded(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "python3 failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const ATTACH: &str = "from multiprocessing import shared_memory, resource_tracker\n\
                      def attach(name):\n    \
                          sl = shared_memory.ShareableList(name=name)\n    \
                          resource_tracker.unregister(sl.shm._name, 'shared_memory')\n    \
                          return sl\n";

#[multiproc::test]
fn python_reads_and_writes_our_list() {
    let list = ShareableList::new([
        ListItem::from(-7),
        2.5.into(),
        true.into(),
        "héllo".into(),
        ListItem::from(&b"raw"[..]),
        ListItem::None,
        "sixteen bytes!!!".into(),
    ])
    .unwrap();
    let out = python(&format!(
        "{ATTACH}sl = attach({name:?})\n\
         print(repr(list(sl)))\n\
         print(sl.format)\n\
         sl[0] = 123456789012\n\
         sl[1] = 'py'\n\
         sl[3] = 'été'\n\
         sl[5] = 3.25\n\
         sl[6] = b'twenty-four bytes long!!'\n\
         sl.shm.close()\n",
        name = list.name()
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "[-7, 2.5, True, 'héllo', b'raw', None, 'sixteen bytes!!!']",
            "qdxxxxxxx?8s8sxxxxxx?x24s",
        ]
    );
    assert_eq!(
        list.to_vec().unwrap(),
        [
            ListItem::Int(123_456_789_012),
            ListItem::from("py"),
            ListItem::Bool(true),
            ListItem::from("été"),
            ListItem::from(&b"raw"[..]),
            ListItem::Float(3.25),
            ListItem::from(&b"twenty-four bytes long!!"[..]),
        ]
    );
    list.unlink().unwrap();
}

#[multiproc::test]
fn we_read_and_write_a_list_python_made() {
    let name = unique("from-python");
    python(&format!(
        "{ATTACH}sl = shared_memory.ShareableList([1, -2.0, False, 'abc', b'xyz', None, 'x' * 9], name={name:?})\n\
         resource_tracker.unregister(sl.shm._name, 'shared_memory')\n\
         sl.shm.close()\n"
    ));
    let list = ShareableList::attach(&name).unwrap();
    assert_eq!(list.format().unwrap(), "qdxxxxxxx?8s8sxxxxxx?x16s");
    assert_eq!(
        list.to_vec().unwrap(),
        [
            ListItem::Int(1),
            ListItem::Float(-2.0),
            ListItem::Bool(false),
            ListItem::from("abc"),
            ListItem::from(&b"xyz"[..]),
            ListItem::None,
            ListItem::from("x".repeat(9)),
        ]
    );
    list.set(0, "eight by").unwrap();
    list.set(2, ListItem::None).unwrap();
    list.set(5, true).unwrap();
    list.set(6, "sixteen bytes ok").unwrap();
    assert!(matches!(
        list.set(3, "nine byte"),
        Err(ShmError::ItemTooLarge { index: 3, .. })
    ));
    let out = python(&format!(
        "{ATTACH}sl = attach({name:?})\nprint(repr(list(sl)))\nsl.shm.close()\n"
    ));
    assert_eq!(
        out.trim(),
        "['eight by', -2.0, None, 'abc', b'xyz', True, 'sixteen bytes ok']"
    );
    list.unlink().unwrap();
}

fn double_in_place((list, by_name): (ShareableList, String)) -> usize {
    let named = ShareableList::attach(&by_name).expect("attach by name");
    for i in 0..list.len() {
        let v = named.get(i).unwrap().as_int().expect("an int");
        list.set(i, v * 2).unwrap();
    }
    named.len()
}

#[multiproc::test]
fn a_child_changes_the_list_by_descriptor_and_by_name() {
    let list = ShareableList::new([1, 2, 3]).unwrap();
    // One handle travels by descriptor; the child also attaches by name.
    let handle = ShareableList::from_shared_memory(list.shm().try_clone().unwrap()).unwrap();
    let child = multiproc::spawn(double_in_place, (handle, list.name().to_owned()));
    assert_eq!(child.join().unwrap(), 3);
    assert_eq!(
        list.to_vec().unwrap(),
        [ListItem::Int(2), ListItem::Int(4), ListItem::Int(6)]
    );
    list.unlink().unwrap();
}

#[multiproc::test]
fn an_untracked_list_outlives_its_creator() {
    fn make(name: String) -> bool {
        let list = SharedMemory::options()
            .track(false)
            .create_named_list(&name, ["stays"])
            .unwrap();
        list.shm().tracked()
    }
    let name = unique("untracked");
    assert!(!multiproc::spawn(make, name.clone()).join().unwrap());
    std::thread::sleep(Duration::from_millis(300));
    let list = ShareableList::attach(&name).unwrap();
    assert_eq!(list.get(0).unwrap(), ListItem::from("stays"));
    list.unlink().unwrap();
}
