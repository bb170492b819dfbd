//! Leaving no trace: descriptors and zombies after many children. Descriptor counts are only
//! meaningful when no other test runs in the process, so this file holds one test.

use multiproc::Process;

fn double(x: u64) -> u64 {
    x * 2
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The pids of this process's children that are zombies.
fn zombie_children() -> Vec<u32> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
        if rest[0] == "Z" && rest[1] == me {
            out.push(pid);
        }
    }
    out
}

#[test]
fn no_descriptor_leak_or_zombie_after_1000_children() {
    // Warm up: the fork server and the starter thread exist from here on.
    Process::new(double, 0).start().unwrap().join().unwrap();
    let before = open_fds();
    for i in 0..1000 {
        assert_eq!(
            Process::new(double, i).start().unwrap().join().unwrap(),
            i * 2
        );
    }
    assert_eq!(open_fds(), before);
    assert!(
        zombie_children().is_empty(),
        "zombies: {:?}",
        zombie_children()
    );
}
