//! Logging in Python's `multiprocessing` style, through the [`log`] facade.
//!
//! Nothing is logged until [`log_to_stderr`] is called. Then every record (multiproc's own
//! lifecycle messages and the program's) is printed as `[LEVEL/ProcessName] message`.
//! Children started afterwards inherit the level set by [`log_to_stderr`] or
//! [`Logger::set_level`], and print to stderr too if their parent does. (A logger that `main`
//! installs, such as `env_logger`, is not installed in children, since `main` does not run
//! there.)

#![forbid(unsafe_code)]

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use log::{LevelFilter, Log, Metadata, Record};

static INSTALLED: AtomicBool = AtomicBool::new(false);
static LEVEL: AtomicUsize = AtomicUsize::new(0);
/// Whether the level was ever set here (or inherited), so that children inherit it.
static LEVEL_SET: AtomicBool = AtomicBool::new(false);
static LOGGER: StderrLogger = StderrLogger;

/// Sends log records to stderr as `[LEVEL/ProcessName] message`, at `level` and above
/// (Python's `multiprocessing.log_to_stderr(level)`), and returns the logger.
///
/// If the program already installed another `log` implementation, that one stays and only
/// the level is set.
pub fn log_to_stderr(level: LevelFilter) -> Logger {
    if log::set_logger(&LOGGER).is_ok() {
        INSTALLED.store(true, Ordering::SeqCst);
    }
    let logger = Logger(());
    logger.set_level(level);
    logger
}

/// The logger, to change its level later (Python's `multiprocessing.get_logger()`).
pub fn get_logger() -> Logger {
    Logger(())
}

/// multiproc's view of the `log` facade's level. See [`get_logger`].
#[derive(Debug, Clone, Copy)]
pub struct Logger(());

impl Logger {
    /// Sets the level (Python's `logger.setLevel`). Children started later inherit it.
    pub fn set_level(&self, level: LevelFilter) {
        LEVEL.store(level as usize, Ordering::SeqCst);
        LEVEL_SET.store(true, Ordering::SeqCst);
        log::set_max_level(level);
    }

    /// The current level.
    pub fn level(&self) -> LevelFilter {
        level_from(LEVEL.load(Ordering::SeqCst))
    }
}

fn level_from(n: usize) -> LevelFilter {
    match n {
        1 => LevelFilter::Error,
        2 => LevelFilter::Warn,
        3 => LevelFilter::Info,
        4 => LevelFilter::Debug,
        5 => LevelFilter::Trace,
        _ => LevelFilter::Off,
    }
}

/// What a child inherits of its parent's logging.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Inherited {
    /// The level, if it was set (by `log_to_stderr` or `set_level`).
    level: Option<u8>,
    /// Whether records go to stderr (`log_to_stderr` was called).
    stderr: bool,
}

/// What a child started now inherits.
pub(crate) fn inherited() -> Inherited {
    Inherited {
        level: LEVEL_SET
            .load(Ordering::SeqCst)
            .then(|| LEVEL.load(Ordering::SeqCst) as u8),
        stderr: INSTALLED.load(Ordering::SeqCst),
    }
}

/// In a child: takes up the parent's logging.
pub(crate) fn inherit(from: Inherited) {
    if from.stderr && log::set_logger(&LOGGER).is_ok() {
        INSTALLED.store(true, Ordering::SeqCst);
    }
    if let Some(l) = from.level {
        get_logger().set_level(level_from(l as usize));
    }
}

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= level_from(LEVEL.load(Ordering::Relaxed))
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Error => "ERROR",
            log::Level::Warn => "WARNING",
            log::Level::Info => "INFO",
            log::Level::Debug => "DEBUG",
            log::Level::Trace => "TRACE",
        };
        // One write per record, so lines from several processes do not interleave.
        let line = format!(
            "[{level}/{}] {}\n",
            crate::process::current_name(),
            record.args()
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}
