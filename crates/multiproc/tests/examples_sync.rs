//! One test per example of the chapter's synchronization pages, checking what it prints. The
//! order is checked only where it is causal.

mod common;

use common::{assert_before, run_example};

#[test]
fn event() {
    let (out, err, code) = run_example("event", &[]);
    assert_eq!(code, Some(0), "{err}");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "main: event is set",
            "main: waiting before calling Event.set()",
            "wait_for_event: e.is_set()-> True",
            "wait_for_event: starting",
            "wait_for_event_timeout: e.is_set()-> False",
            "wait_for_event_timeout: starting",
        ]
    );
    assert_before(
        &out,
        "wait_for_event_timeout: e.is_set()-> False",
        "main: event is set",
    );
    assert_before(
        &out,
        "main: event is set",
        "wait_for_event: e.is_set()-> True",
    );
    assert_before(
        &out,
        "wait_for_event: starting",
        "wait_for_event: e.is_set()",
    );
}

#[test]
fn lock() {
    let (out, err, code) = run_example("lock", &[]);
    assert_eq!(code, Some(0), "{err}");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    // Whole lines only: nothing interleaved.
    assert_eq!(lines, ["Lock acquired directly", "Lock acquired via with"]);
}

#[test]
fn condition() {
    let (out, err, code) = run_example("condition", &[]);
    assert_eq!(code, Some(0), "{err}");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "Starting s1",
            "Starting stage_2[1]",
            "Starting stage_2[2]",
            "s1 done and ready for stage 2",
            "stage_2[1] running",
            "stage_2[2] running",
        ]
    );
    for i in 1..3 {
        assert_before(
            &out,
            "s1 done and ready for stage 2",
            &format!("stage_2[{i}] running"),
        );
        assert_before(
            &out,
            &format!("Starting stage_2[{i}]"),
            &format!("stage_2[{i}] running"),
        );
    }
}
