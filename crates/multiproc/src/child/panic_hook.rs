//! How a child reports a panic: `Process <name>:` and the panic, on stderr, as Python prints
//! `Process <name>:` and the traceback.

use std::panic::PanicHookInfo;
use std::sync::Once;

use crate::sys;

/// Prints `Process <name>:` and the panic, straight to descriptor 2 (see
/// [`sys::fd::write_stderr`]: a child started with `fork` must not wait for std's stderr lock).
fn report(info: &PanicHookInfo<'_>) {
    let text = format!("Process {}:\n{info}\n", crate::process::current_name());
    sys::fd::write_stderr(&[text.as_bytes()]);
}

/// In a child that was executed, or forked from the (single-threaded) fork server: makes the
/// report its panic hook.
pub(super) fn install() {
    std::panic::set_hook(Box::new(report));
}

static BEFORE_FORK: Once = Once::new();

/// In a process about to fork with the `fork` method (once per process): a hook that reports
/// as a child's in every process forked from this one, and hands this process's own panics to
/// the hook that was there before.
///
/// So a forked child has its hook without calling `set_hook`, which takes std's process-wide
/// hook lock: another thread of the parent may have held it at the fork (one that was
/// panicking), and the child would wait for it forever. The price: a program that replaces
/// the hook after its first fork gives its own hook to the children it forks later.
pub(crate) fn install_before_fork() {
    BEFORE_FORK.call_once(|| {
        let here = std::process::id();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::process::id() != here && super::is_child() {
                report(info);
            } else {
                previous(info);
            }
        }));
    });
}
