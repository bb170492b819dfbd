//! One test per example of the chapter's manager pages, checking what it prints.

mod common;

use common::{assert_before, run_example};

#[test]
fn manager_dict() {
    let (out, err, code) = run_example("manager_dict", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "Results: {0: 0, 1: 2, 2: 4, 3: 6, 4: 8, 5: 10, 6: 12, 7: 14, 8: 16, 9: 18}\n"
    );
}

#[test]
fn namespaces() {
    let (out, err, code) = run_example("namespaces", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "Before event, consumer got: 'Namespace' object has no attribute 'value'\n\
         After event, consumer got: This is the value\n"
    );
}

#[test]
fn namespaces_mutable() {
    let (out, err, code) = run_example("namespaces_mutable", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "Before event, consumer got: []\n\
         After event, consumer got: []\n\
         After reassigning, consumer got: ['This is the value']\n"
    );
}

/// The names in a line `Now running: ['0', '1']`.
fn running(line: &str) -> Vec<String> {
    let list = line
        .strip_prefix("Now running: [")
        .and_then(|l| l.strip_suffix(']'))
        .unwrap_or_else(|| panic!("not a pool line: {line:?}"));
    list.split(", ")
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_matches('\'').to_owned())
        .collect()
}

#[test]
fn semaphore() {
    let (out, err, code) = run_example("semaphore", &[]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    // Ten lines from the workers, ten from the main process.
    assert_eq!(lines.len(), 20, "{out}");
    for line in &lines {
        let names = running(line);
        assert!(names.len() <= 3, "more than three active: {line}");
        for n in &names {
            let i: u32 = n
                .parse()
                .unwrap_or_else(|_| panic!("a worker name: {line}"));
            assert!(i < 10, "{line}");
        }
    }
    // The last join leaves nobody active.
    assert_eq!(lines[19], "Now running: []");
    // Every worker was active once, and saw itself in the pool.
    let mut firsts: Vec<String> = Vec::new();
    for line in &lines {
        for n in running(line) {
            if !firsts.contains(&n) {
                firsts.push(n);
            }
        }
    }
    firsts.sort_unstable();
    let all: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    assert_eq!(firsts, all);
    assert_before(&out, "Now running: [", "Now running: []");
}
