//! [`Spinner`]: looks for the next message on a connection for a few microseconds before
//! sleeping, when messages on it have lately come that fast.
//!
//! A call to a manager is a round trip. When client and server both sleep between messages,
//! each message costs a wake-up (tens of microseconds on a virtual machine); when both look for
//! it instead, a round trip costs a few microseconds. Each end keeps a moving average of how
//! long its waits took, sleeping included, and spins for up to twice that, if that is short.
//! Once one end spins, the other's waits shorten, and both settle on spinning. When waits are
//! long (a blocking call, a busy machine, many clients per core) the average says so and
//! nobody spins. Spinning yields the processor between looks, so a peer that needs this core
//! gets it.

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::Connection;
use crate::connection::Error as ConnError;

/// Waits longer than this on average are not worth spinning for.
const WORTH: Duration = Duration::from_micros(60);
/// The least a spin lasts when it is worth it.
const MIN_SPIN: Duration = Duration::from_micros(5);
/// The most a spin lasts.
const MAX_SPIN: Duration = Duration::from_micros(100);
/// Longer waits count as this long, so one long wait does not stop spinning for long.
const CAP: Duration = Duration::from_millis(1);

/// What one end of a connection has learned about the waits on it.
#[derive(Debug, Default)]
pub(crate) struct Spinner {
    avg_ns: u64,
}

fn multicore() -> bool {
    static CPUS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| crate::process::cpu_count() >= 2)
}

impl Spinner {
    /// Receives the next message, spinning first if that has lately paid.
    pub(crate) fn recv<T: DeserializeOwned>(
        &mut self,
        conn: &Connection,
        deadline: Option<Instant>,
    ) -> Result<T, ConnError> {
        let start = Instant::now();
        let avg = Duration::from_nanos(self.avg_ns);
        if multicore() && avg <= WORTH {
            let budget = (avg * 2).clamp(MIN_SPIN, MAX_SPIN);
            while !conn.poll(Duration::ZERO).unwrap_or(true) {
                if start.elapsed() >= budget {
                    break;
                }
                std::thread::yield_now();
            }
        }
        let result = match deadline {
            None => conn.recv(),
            Some(d) => conn.recv_deadline(d),
        };
        let took = start.elapsed().min(CAP).as_nanos() as u64;
        self.avg_ns = (self.avg_ns * 3 + took) / 4;
        result
    }
}
