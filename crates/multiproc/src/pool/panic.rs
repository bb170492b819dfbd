//! Where a task panicked: a panic hook that records the location (and, when asked, the
//! backtrace) of a panic raised while a task runs, so that the task's error says where.
//!
//! The hook is installed once per process and chains to the hook that was there before: a panic
//! outside [`catch`] (in the worker's own code, or in a thread a task started) is reported as it
//! would have been. A panic inside [`catch`] is silent: it becomes the task's error, as a
//! Python exception in a pool task becomes the caller's.

use std::any::Any;
use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::sync::atomic::{AtomicU8, Ordering};

use super::error::TaskPanic;

thread_local! {
    /// Whether this thread is inside `catch`.
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    /// What the hook saw of the latest panic while capturing.
    static SEEN: RefCell<Option<Seen>> = const { RefCell::new(None) };
}

/// What the hook records of a panic.
#[derive(Debug)]
struct Seen {
    message: Option<String>,
    location: Option<String>,
    backtrace: Option<String>,
}

const FROM_ENV: u8 = 0;
const ALWAYS: u8 = 1;
const NEVER: u8 = 2;

/// Whether backtraces are captured: as the environment says (`RUST_BACKTRACE`,
/// `RUST_LIB_BACKTRACE`), or as the process that made the pool said.
static BACKTRACES: AtomicU8 = AtomicU8::new(FROM_ENV);

static HOOK: Once = Once::new();

/// Captures backtraces of task panics (`true`) or never (`false`), whatever this process's
/// environment says: a pool worker follows the environment of the process that built its pool.
pub(crate) fn set_backtraces(on: bool) {
    BACKTRACES.store(if on { ALWAYS } else { NEVER }, Ordering::Relaxed);
}

/// Whether `RUST_BACKTRACE` asks for backtraces in this process.
pub(crate) fn backtraces_wanted() -> bool {
    std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0")
}

fn install() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CAPTURING.with(Cell::get) {
                return previous(info);
            }
            // The latest panic: the one that unwinds now (see `panic_of`).
            let seen = Seen {
                message: payload_str(info.payload()).map(str::to_owned),
                location: info.location().map(ToString::to_string),
                backtrace: capture_backtrace(),
            };
            SEEN.with(|s| *s.borrow_mut() = Some(seen));
        }));
    });
}

fn capture_backtrace() -> Option<String> {
    let bt = match BACKTRACES.load(Ordering::Relaxed) {
        ALWAYS => Backtrace::force_capture(),
        NEVER => return None,
        _ => Backtrace::capture(),
    };
    (bt.status() == BacktraceStatus::Captured).then(|| trim(&bt.to_string()))
}

/// Drops the frames of the panic machinery (and of this hook) above the frame that panicked.
fn trim(bt: &str) -> String {
    let lines: Vec<&str> = bt.lines().collect();
    let is_frame = |l: &str| {
        let t = l.trim_start();
        t.split_once(": ")
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let machinery = |l: &str| {
        [
            "std::backtrace",
            "std::panicking::",
            "core::panicking::",
            "std::panic::",
            "std::thread::local::LocalKey",
            "rust_begin_unwind",
            "__rustc::rust_begin_unwind",
            "std::sys::backtrace::",
            "multiproc::pool::panic::install",
            "multiproc::pool::panic::capture_backtrace",
            "<alloc::boxed::Box<F,A> as core::ops::function::Fn<Args>>::call",
        ]
        .iter()
        .any(|m| l.contains(m))
    };
    // Frames of the machinery come first; the first other frame is the one that panicked.
    let mut cut = 0;
    for (i, l) in lines.iter().enumerate() {
        if !is_frame(l) {
            continue;
        }
        if !machinery(l) {
            cut = i;
            break;
        }
    }
    if cut == 0 {
        return bt.to_owned();
    }
    lines[cut..].join("\n")
}

/// The text of a panic payload, if it is text.
fn payload_str(p: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = p.downcast_ref::<&str>() {
        Some(s)
    } else {
        p.downcast_ref::<String>().map(String::as_str)
    }
}

/// The panic that unwound with payload `p`, with what the hook saw of it.
fn panic_of(p: &(dyn Any + Send)) -> TaskPanic {
    let text = payload_str(p);
    let message = text.unwrap_or("Box<dyn Any>").to_owned();
    match SEEN.with(|s| s.borrow_mut().take()) {
        // The hook's record is this panic's (not that of an earlier one that the task caught
        // itself, followed by a `resume_unwind`, which does not pass through the hook).
        Some(seen) if seen.message.as_deref() == text => {
            TaskPanic::new(message, seen.location, seen.backtrace)
        }
        _ => TaskPanic::new(message, None, None),
    }
}

/// While it lives, panics on this thread are captured rather than reported (see [`catch`]).
#[derive(Debug)]
pub(crate) struct Scope {
    outer: bool,
}

impl Scope {
    /// Starts capturing panics on this thread.
    pub(crate) fn enter() -> Scope {
        install();
        let outer = CAPTURING.with(|c| c.replace(true));
        SEEN.with(|s| s.borrow_mut().take());
        Scope { outer }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        CAPTURING.with(|c| c.set(self.outer));
    }
}

/// Runs `f` with task panics captured. Returns its value, or the panic with its location; also
/// returns what the hook saw of a panic that `f` caught itself (an entry that turns a panic
/// into a value, as process targets do).
pub(crate) fn capture<R>(f: impl FnOnce() -> R) -> (Result<R, TaskPanic>, Option<TaskPanic>) {
    let _scope = Scope::enter();
    let result = catch(f);
    let seen = match result {
        Ok(_) => SEEN.with(|s| s.borrow_mut().take()).map(|s| {
            let message = s.message.unwrap_or_else(|| "Box<dyn Any>".to_owned());
            TaskPanic::new(message, s.location, s.backtrace)
        }),
        Err(_) => None,
    };
    (result, seen)
}

/// Runs `f`, turning a panic into a [`TaskPanic`] that says where it happened. Inside a
/// [`Scope`] this costs what `catch_unwind` costs.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, TaskPanic> {
    if !CAPTURING.with(Cell::get) {
        return capture(f).0;
    }
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_of(p.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_carries_its_location() {
        let line = line!() + 1;
        let p = catch(|| panic!("boom {}", 7)).unwrap_err();
        assert_eq!(p.message(), "boom 7");
        let at = p.location().expect("a location");
        assert!(at.starts_with(&format!("{}:{line}:", file!())), "{at}");
        assert!(
            p.to_string()
                .starts_with(&format!("panicked at {at}: boom 7")),
            "{p}"
        );
    }

    #[test]
    fn no_panic_no_error_and_payloads_of_any_kind() {
        assert_eq!(catch(|| 5).unwrap(), 5);
        let p = catch(|| std::panic::panic_any(42u8)).unwrap_err();
        assert_eq!(p.message(), "Box<dyn Any>");
        assert!(p.location().is_some());
        // resume_unwind does not pass through the hook: the message only.
        let p = catch(|| std::panic::resume_unwind(Box::new("quiet"))).unwrap_err();
        assert_eq!((p.message(), p.location()), ("quiet", None));
        // Not even after a panic that the task caught itself.
        let p = catch(|| {
            let _ = std::panic::catch_unwind(|| panic!("caught"));
            std::panic::resume_unwind(Box::new("resumed"))
        })
        .unwrap_err();
        assert_eq!((p.message(), p.location()), ("resumed", None));
    }

    #[test]
    fn a_panic_caught_inside_is_reported_beside_the_value() {
        let (r, seen) = capture(|| std::panic::catch_unwind(|| panic!("inner")).is_err());
        assert!(r.unwrap());
        let seen = seen.expect("the hook saw it");
        assert_eq!(seen.message(), "inner");
        assert!(seen.location().is_some());
        // Nested captures keep their own panics.
        let (r, seen) = capture(|| catch(|| panic!("nested")).unwrap_err().message().to_owned());
        assert_eq!(r.unwrap(), "nested");
        assert!(seen.is_none());
    }

    #[test]
    fn backtraces_when_asked() {
        set_backtraces(true);
        let p = catch(|| panic!("with a trace")).unwrap_err();
        set_backtraces(false);
        let bt = p.backtrace().expect("a backtrace");
        let first = bt.lines().next().unwrap_or("");
        assert!(first.contains("backtraces_when_asked"), "{bt}");
        assert!(p.to_string().contains("worker backtrace:"), "{p}");
        let q = catch(|| panic!("without")).unwrap_err();
        assert!(q.backtrace().is_none());
    }

    #[test]
    fn trim_cuts_the_machinery_above_the_task() {
        let bt = "   0: std::backtrace::Backtrace::create\n             at /rustc/x/backtrace.rs:1:1\n   1: core::panicking::panic_fmt\n   2: mycrate::task\n             at src/lib.rs:3:4\n   3: std::panic::catch_unwind\n   4: main";
        assert_eq!(
            trim(bt),
            "   2: mycrate::task\n             at src/lib.rs:3:4\n   3: std::panic::catch_unwind\n   4: main"
        );
    }
}
