//! What every peer program shares with the harness's other external implementations: it is
//! run as `PROGRAM FIGURE [--quick]` and prints one JSON line `{"value": ..., "unit": ...}`,
//! or `{"unavailable": REASON}` when the crate cannot run here at all; `PROGRAM --list`
//! prints the figures it offers, one a line.
//!
//! Every wait in a peer program is bounded by the harness, which kills the program's process
//! group (its children included) once a round runs past its time limit.

use std::fmt;
use std::time::Duration;

/// A measured value and its unit, which must be the figure's unit in the harness.
pub(crate) type Measured = Result<(f64, &'static str), BoxError>;

#[path = "../src/mode.rs"]
mod mode;
pub(crate) use mode::{BoxError, Mode};

/// One figure that a peer offers, and how to measure one round of it.
#[derive(Debug)]
pub(crate) struct Offer {
    /// The harness's name of the figure, for example `pipe.rtt_small`.
    pub(crate) figure: &'static str,
    pub(crate) measure: fn(Mode) -> Measured,
}

/// Whether a crate can run here at all, checked before a measurement.
#[derive(Debug)]
pub(crate) enum Availability {
    Ready,
    /// It cannot, for this reason (reported to the harness, which says so and goes on).
    Unavailable(String),
}

/// Why a peer program failed; `main` returning it prints `Error: ` and the text.
pub(crate) struct Failure(pub(crate) String);

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Runs the figure named on the command line, or lists the offered ones. `probe`, if any,
/// runs first.
pub(crate) fn run(
    peer: &str,
    offers: &[Offer],
    probe: Option<fn() -> Result<Availability, BoxError>>,
) -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (figure, mode) = match args.as_slice() {
        ["--list"] => {
            for offer in offers {
                println!("{}", offer.figure);
            }
            return Ok(());
        }
        [figure] => (*figure, Mode::Full),
        [figure, "--quick"] => (*figure, Mode::Quick),
        _ => {
            return Err(Failure(format!(
                "usage: peer-{peer} FIGURE [--quick] | --list"
            )));
        }
    };
    let offer = offers.iter().find(|o| o.figure == figure).ok_or_else(|| {
        Failure(format!(
            "{peer} has no counterpart of {figure:?} (`--list` shows the figures it offers)"
        ))
    })?;
    let failed = |e: BoxError| Failure(format!("{figure}: {e}"));
    if let Some(probe) = probe
        && let Availability::Unavailable(why) = probe().map_err(failed)?
    {
        println!("{}", serde_json::json!({ "unavailable": why }));
        return Ok(());
    }
    let (value, unit) = (offer.measure)(mode).map_err(failed)?;
    println!("{}", serde_json::json!({ "value": value, "unit": unit }));
    Ok(())
}

/// `elapsed` per operation, in milliseconds.
pub(crate) fn ms_per(elapsed: Duration, n: u64) -> f64 {
    elapsed.as_secs_f64() * 1e3 / n as f64
}

/// `elapsed` per operation, in microseconds.
pub(crate) fn us_per(elapsed: Duration, n: u64) -> f64 {
    elapsed.as_secs_f64() * 1e6 / n as f64
}

/// `bytes` over `elapsed`, in MB/s (10^6 bytes per second).
pub(crate) fn mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

/// `n` over `elapsed`, per second.
pub(crate) fn per_s(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

/// One mebibyte: the payload of the `*.1mib` figures.
pub(crate) const MIB: usize = 1 << 20;
