//! Serves a manager to other programs, on this machine or others (the server half of
//! Python's "Using a remote manager"): it publishes a queue of jobs and a dict for the results
//! in the manager's root namespace, and serves until a client asks it to stop.
//!
//! ```text
//! cargo run -p multiproc --example manager_server -- --address 127.0.0.1:50000 --authkey secret
//! cargo run -p multiproc --example manager_client -- --address 127.0.0.1:50000 --authkey secret
//! cargo run -p multiproc --example manager_client -- --address 127.0.0.1:50000 --authkey secret --shutdown
//! ```
//!
//! The address is `HOST:PORT` for TCP (port 0 picks a free one), a path for a Unix socket, or
//! `@name` for an abstract one. It prints `serving on ADDRESS` once clients can connect, and
//! `results: N` when it stops.

use std::io::Write;
use std::process::ExitCode;

use multiproc::Manager;
use multiproc::connection::Address;
use multiproc::manager::{DictProxy, ManagerError, QueueProxy};

fn parse() -> Result<(Address, String, u64), String> {
    let mut args = std::env::args().skip(1);
    let (mut address, mut authkey, mut jobs) = (None, None, 100);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--address" => address = Some(value("--address")?.parse().map_err(|e| format!("{e}"))?),
            "--authkey" => authkey = Some(value("--authkey")?),
            "--jobs" => {
                jobs = value("--jobs")?
                    .parse()
                    .map_err(|e| format!("--jobs: {e}"))?
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((
        address.ok_or("--address HOST:PORT|PATH is required")?,
        authkey.ok_or("--authkey KEY is required")?,
        jobs,
    ))
}

fn serve(address: Address, authkey: &str, jobs: u64) -> Result<(), ManagerError> {
    let manager = Manager::serve(address, authkey)?;
    let queue: QueueProxy<u64> = manager.queue()?;
    for job in 0..jobs {
        queue.put(job)?;
    }
    let results: DictProxy<u64, u64> = manager.dict()?;
    let root = manager.root()?;
    root.set("jobs", &queue)?;
    root.set("results", &results)?;
    println!("serving on {}", manager.address());
    let _ = std::io::stdout().flush();
    // Until a client calls shutdown(); the proxies made here keep working until then.
    let served = manager.serve_forever();
    println!("results: {}", results.len().unwrap_or(0));
    served
}

fn main() -> ExitCode {
    multiproc::init();
    let (address, authkey, jobs) = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("manager_server: {e}");
            eprintln!("usage: manager_server --address HOST:PORT|PATH --authkey KEY [--jobs N]");
            return ExitCode::from(2);
        }
    };
    match serve(address, &authkey, jobs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("manager_server: {e}");
            ExitCode::FAILURE
        }
    }
}
